"""Test infrastructure for interop with the real ``openssl cmp`` (OpenSSL >= 3.0).

Three things live here, none of them tied to pytest (``conftest.py`` wraps them in
fixtures):

* :func:`make_pki` generates, at test time, a small PKI with ``cryptography`` and
  writes it as PEM files: a root CA, the mock server's CMP signer, EC and RSA
  client credentials, the key and certificate the mock server "enrolls", and a
  PKCS#10 CSR for that key. Nothing is checked in.
* :func:`capture_openssl_messages` runs ``openssl cmp -use_mock_srv`` (client and
  mock server in one process, no sockets) with ``-reqout``/``-rspout`` and returns
  the DER of every message kind, keyed by its RFC 9810 PKIBody name.
* :func:`start_openssl_mock_server` runs ``openssl cmp -port 0`` as an HTTP mock
  CA for our client to talk to.

The body kind of each captured file is read from the message itself with the
few lines of DER walking in :func:`body_kind`; cmpkit's own decoder is never
used here, so these tests stay independent of it.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
Protection = Literal["pbm", "sig"]

PROTECTIONS: tuple[Protection, ...] = ("pbm", "sig")
"""The two ways the captured messages are protected: password-based MAC, signature."""

DEFAULT_TIMEOUT = 30.0
"""Seconds any single ``openssl`` run may take before it is killed."""

OPENSSL_ENV_VAR = "CMPKIT_OPENSSL"
"""Environment variable naming the ``openssl`` binary to use instead of the one on PATH."""

# RFC 9810 section 5.1.2: the PKIBody CHOICE alternatives, by context tag number.
BODY_KINDS: dict[int, str] = {
    0: "ir",
    1: "ip",
    2: "cr",
    3: "cp",
    4: "p10cr",
    5: "popdecc",
    6: "popdecr",
    7: "kur",
    8: "kup",
    9: "krr",
    10: "krp",
    11: "rr",
    12: "rp",
    13: "ccr",
    14: "ccp",
    15: "ckuann",
    16: "cann",
    17: "rann",
    18: "crlann",
    19: "pkiconf",
    20: "nested",
    21: "genm",
    22: "genp",
    23: "error",
    24: "certConf",
    25: "pollReq",
    26: "pollRep",
}

CAPTURED_KINDS: tuple[str, ...] = (
    "ir",
    "ip",
    "cr",
    "cp",
    "kur",
    "kup",
    "p10cr",
    "rr",
    "rp",
    "genm",
    "genp",
    "certConf",
    "pkiconf",
    "error",
    "pollReq",
    "pollRep",
)
"""Every body kind :func:`capture_openssl_messages` returns, in each protection mode."""


class OpensslError(RuntimeError):
    """An ``openssl`` run failed, timed out, or did not produce what was expected."""

    def __init__(
        self, message: str, args: Sequence[str], stdout: str = "", stderr: str = ""
    ) -> None:
        self.cmd = list(args)
        self.stdout = stdout
        self.stderr = stderr
        detail = [message, "command: " + _shell_line(args)]
        if stderr.strip():
            detail.append("stderr:\n" + stderr.strip())
        if stdout.strip():
            # openssl cmp logs its CMP-level diagnostics to stdout.
            detail.append(
                "stdout (last 40 lines):\n" + "\n".join(stdout.strip().splitlines()[-40:])
            )
        super().__init__("\n".join(detail))


# ---------------------------------------------------------------------------
# Locating openssl
# ---------------------------------------------------------------------------


def find_openssl() -> str | None:
    """Return the ``openssl`` binary to test against: ``$CMPKIT_OPENSSL``, else PATH."""
    configured = os.environ.get(OPENSSL_ENV_VAR)
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    return shutil.which("openssl")


def openssl_version(openssl: str) -> tuple[int, int, int]:
    """Return the (major, minor, patch) version that ``openssl version`` reports."""
    out = subprocess.run(
        [openssl, "version"], capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, check=True
    ).stdout
    match = re.search(r"\b(\d+)\.(\d+)\.(\d+)", out)
    if match is None:
        raise OpensslError(f"cannot parse the version in {out!r}", [openssl, "version"], out)
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def _resolve(openssl: str | None) -> str:
    found = openssl or find_openssl()
    if found is None:
        raise OpensslError("openssl not found (set $CMPKIT_OPENSSL or put it on PATH)", [])
    return found


def _shell_line(args: Sequence[str]) -> str:
    return " ".join(a if a and re.fullmatch(r"[\w@%+=:,./-]+", a) else repr(a) for a in args)


# ---------------------------------------------------------------------------
# The test PKI
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """A certificate and its private key, as objects and as PEM files."""

    cert: x509.Certificate
    key: PrivateKey
    cert_path: Path
    key_path: Path

    @property
    def subject_arg(self) -> str:
        """The subject DN in ``openssl cmp``'s ``/type0=value0/...`` syntax."""
        return openssl_dn(self.cert.subject)


@dataclass(frozen=True)
class Pki:
    """The credentials of one test session, all under ``dir``.

    ``server`` is the mock server's CMP signer (``-srv_cert/-srv_key``);
    ``enrolled`` is the certificate the mock server hands out (``-rsp_cert``)
    together with ``new_key``, the key the client enrolls (``-newkey``), so
    that OpenSSL's check that the new certificate matches the requested key
    passes. ``csr`` is a PKCS#10 request for the same key. ``secret``/``ref``
    are the pre-shared PBM secret and the client's senderKID.
    """

    dir: Path
    root: Credential
    server: Credential
    client_ec: Credential
    client_rsa: Credential
    enrolled: Credential
    csr: x509.CertificateSigningRequest
    csr_path: Path
    secret: bytes = b"cmpkit-test-secret"
    ref: str = "cmpkit-client-ref"
    srv_ref: str = "cmpkit-server-ref"

    @property
    def new_key(self) -> PrivateKey:
        return self.enrolled.key

    @property
    def new_key_path(self) -> Path:
        return self.enrolled.key_path

    @property
    def client(self) -> Credential:
        """The default client credential for signature protection (EC P-256)."""
        return self.client_ec

    @property
    def secret_arg(self) -> str:
        """The PBM secret as an OpenSSL pass phrase source."""
        return "pass:" + self.secret.decode()


_NAME_ABBREVIATIONS: dict[x509.ObjectIdentifier, str] = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COUNTRY_NAME: "C",
}


def openssl_dn(name: x509.Name) -> str:
    """Format ``name`` as ``openssl cmp`` expects DNs: ``/O=cmpkit/CN=Test`` (no escaping)."""
    parts = []
    for rdn in name.rdns:
        avas = [f"{_NAME_ABBREVIATIONS[a.oid]}={a.value!s}" for a in rdn]
        parts.append("+".join(avas))
    return "/" + "/".join(parts)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cmpkit tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: x509.Certificate | None,
    signing_key: PrivateKey,
    *,
    ca: bool,
    client: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name = subject if issuer is None else issuer.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key())
        builder = builder.add_extension(aki, critical=False)
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
    else:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
    builder = builder.add_extension(usage, critical=True)
    if client:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


def _write_credential(
    directory: Path, stem: str, cert: x509.Certificate, key: PrivateKey
) -> Credential:
    cert_path = directory / f"{stem}.crt.pem"
    key_path = directory / f"{stem}.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return Credential(cert, key, cert_path, key_path)


def make_pki(directory: Path) -> Pki:
    """Generate the test PKI under ``directory`` (created if needed) and return it."""
    directory.mkdir(parents=True, exist_ok=True)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_cert = _issue(_name("cmpkit Test Root CA"), root_key.public_key(), None, root_key, ca=True)
    root = _write_credential(directory, "root", root_cert, root_key)

    def leaf(stem: str, common_name: str, key: PrivateKey, *, client: bool) -> Credential:
        cert = _issue(
            _name(common_name), key.public_key(), root_cert, root_key, ca=False, client=client
        )
        return _write_credential(directory, stem, cert, key)

    server = leaf(
        "server", "cmpkit Test CMP Server", ec.generate_private_key(ec.SECP256R1()), client=False
    )
    client_ec = leaf(
        "client-ec", "cmpkit Test Client EC", ec.generate_private_key(ec.SECP256R1()), client=True
    )
    client_rsa = leaf(
        "client-rsa",
        "cmpkit Test Client RSA",
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        client=True,
    )
    new_key = ec.generate_private_key(ec.SECP256R1())
    enrolled = leaf("enrolled", "cmpkit Test Enrolled", new_key, client=True)

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(enrolled.cert.subject)
        .sign(new_key, hashes.SHA256())
    )
    csr_path = directory / "enrolled.csr.pem"
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))

    return Pki(
        dir=directory,
        root=root,
        server=server,
        client_ec=client_ec,
        client_rsa=client_rsa,
        enrolled=enrolled,
        csr=csr,
        csr_path=csr_path,
    )


# ---------------------------------------------------------------------------
# Just enough DER to tell messages apart
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tlv:
    """One DER tag-length-value: ``der[start:end]`` is the whole TLV."""

    tag_class: int  # 0 universal, 1 application, 2 context-specific, 3 private
    constructed: bool
    tag_number: int
    start: int
    content_start: int
    end: int


def read_tlv(der: bytes, offset: int = 0) -> Tlv:
    """Read the DER TLV at ``offset``; raise ``ValueError`` if it is malformed or overruns."""
    pos = offset
    if pos >= len(der):
        raise ValueError(f"no TLV at offset {offset}: input has {len(der)} bytes")
    first = der[pos]
    pos += 1
    number = first & 0x1F
    if number == 0x1F:  # high tag number form, base 128
        number = 0
        while True:
            if pos >= len(der):
                raise ValueError(f"truncated tag at offset {offset}")
            byte = der[pos]
            pos += 1
            number = (number << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
    if pos >= len(der):
        raise ValueError(f"truncated length at offset {offset}")
    length = der[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(der):
            raise ValueError(f"bad length octets at offset {offset}")
        length = int.from_bytes(der[pos : pos + count], "big")
        if length < 0x80 or der[pos] == 0:
            raise ValueError(f"non-minimal DER length at offset {offset}")
        pos += count
    end = pos + length
    if end > len(der):
        raise ValueError(f"TLV at offset {offset} claims {length} bytes, {len(der) - pos} left")
    return Tlv(first >> 6, bool(first & 0x20), number, offset, pos, end)


def children(der: bytes, parent: Tlv) -> list[Tlv]:
    """The TLVs directly inside the constructed ``parent``."""
    items = []
    pos = parent.content_start
    while pos < parent.end:
        item = read_tlv(der, pos)
        if item.end > parent.end:
            raise ValueError(f"TLV at offset {pos} overruns its parent")
        items.append(item)
        pos = item.end
    return items


@dataclass(frozen=True)
class MessageParts:
    """The top-level pieces of a DER PKIMessage, as TLVs into the same bytes.

    PKIMessage ::= SEQUENCE { header PKIHeader, body PKIBody,
        protection [0] PKIProtection OPTIONAL, extraCerts [1] ... OPTIONAL }
    """

    header: Tlv
    body: Tlv
    protection: Tlv | None
    extra_certs: Tlv | None


def message_parts(der: bytes) -> MessageParts:
    """Split a DER PKIMessage into header, body, protection and extraCerts."""
    message = read_tlv(der)
    if message.tag_class != 0 or message.tag_number != 16 or message.end != len(der):
        raise ValueError("not a single DER SEQUENCE")
    items = children(der, message)
    if len(items) < 2:
        raise ValueError("PKIMessage lacks header or body")
    optional = {t.tag_number: t for t in items[2:] if t.tag_class == 2}
    return MessageParts(items[0], items[1], optional.get(0), optional.get(1))


def body_kind(der: bytes) -> str:
    """Return the PKIBody kind (``"ir"``, ``"pollRep"``, ...) of a DER PKIMessage.

    PKIMessage ::= SEQUENCE { header PKIHeader, body PKIBody, ... } and PKIBody
    is a CHOICE of ``[n] EXPLICIT`` alternatives, so the body's tag number is
    the kind.
    """
    body = message_parts(der).body
    if body.tag_class != 2 or body.tag_number not in BODY_KINDS:
        raise ValueError(f"unexpected PKIBody tag class {body.tag_class} number {body.tag_number}")
    return BODY_KINDS[body.tag_number]


# ---------------------------------------------------------------------------
# Running openssl cmp
# ---------------------------------------------------------------------------


def run_openssl_cmp(
    args: Sequence[str],
    cwd: Path | str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    check: bool = True,
    openssl: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``openssl cmp <args>`` with no standard input and return the finished process.

    ``-config ""`` is added unless ``args`` has its own ``-config`` so that the
    host's ``openssl.cnf`` cannot change the run. With ``check`` (the default)
    a non-zero exit raises :class:`OpensslError` carrying openssl's output; a
    run longer than ``timeout`` seconds is killed and raises too.
    """
    cmd = [_resolve(openssl), "cmp"]
    if "-config" not in args:
        cmd += ["-config", ""]
    cmd += list(args)
    try:
        done = subprocess.run(
            cmd,
            cwd=cwd,
            check=False,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise OpensslError(
            f"openssl cmp did not finish within {timeout} s",
            cmd,
            _text(exc.stdout),
            _text(exc.stderr),
        ) from None
    if check and done.returncode != 0:
        raise OpensslError(
            f"openssl cmp exited with status {done.returncode}", cmd, done.stdout, done.stderr
        )
    return done


def _text(output: bytes | str | None) -> str:
    if output is None:
        return ""
    return output if isinstance(output, str) else output.decode(errors="replace")


# ---------------------------------------------------------------------------
# Capturing one message of every kind
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureStep:
    """One ``openssl cmp -use_mock_srv`` run and the body kinds it must produce."""

    name: str
    args: tuple[str, ...]
    requests: tuple[str, ...]
    responses: tuple[str, ...]
    succeeds: bool = True


def capture_steps(pki: Pki) -> tuple[CaptureStep, ...]:
    """The transactions that together produce every kind in :data:`CAPTURED_KINDS`.

    The first step that produces a kind gives that kind's first (plainest)
    example; later steps add variants (a waiting ``ip``, a rejection ``ip``).
    """
    newkey = ("-newkey", str(pki.new_key_path), "-subject", pki.enrolled.subject_arg)
    certout = ("-certout", "enrolled.crt.pem")
    oldcert = ("-oldcert", str(pki.enrolled.cert_path))
    enroll = ("certConf",), ("pkiconf",)
    rejection = ("-pkistatus", "2", "-failure", "2", "-statusstring", "cmpkit test rejection")
    return (
        CaptureStep(
            "ir", ("-cmd", "ir", *newkey, *certout), ("ir", *enroll[0]), ("ip", *enroll[1])
        ),
        CaptureStep(
            "cr", ("-cmd", "cr", *newkey, *certout), ("cr", *enroll[0]), ("cp", *enroll[1])
        ),
        # The 3.0 mock server accepts a kur only for the certificate it hands
        # out itself (-rsp_cert); it answers "wrong certid" otherwise.
        CaptureStep(
            "kur",
            ("-cmd", "kur", "-newkey", str(pki.new_key_path), *oldcert, *certout),
            ("kur", *enroll[0]),
            ("kup", *enroll[1]),
        ),
        CaptureStep(
            "p10cr",
            ("-cmd", "p10cr", "-csr", str(pki.csr_path), *certout),
            ("p10cr", *enroll[0]),
            ("cp", *enroll[1]),
        ),
        # Likewise rr is accepted only for the -rsp_cert certificate.
        CaptureStep("rr", ("-cmd", "rr", *oldcert, "-revreason", "4"), ("rr",), ("rp",)),
        CaptureStep("genm", ("-cmd", "genm"), ("genm",), ("genp",)),
        CaptureStep(
            "genm-infotype",
            ("-cmd", "genm", "-infotype", "signKeyPairTypes"),
            ("genm",),
            ("genp",),
        ),
        # ir answered with ip(waiting), then pollReq/pollRep until the ip with the cert.
        CaptureStep(
            "polling",
            ("-cmd", "ir", *newkey, *certout, "-poll_count", "2", "-check_after", "0"),
            ("ir", "pollReq", "certConf"),
            ("ip", "pollRep", "pkiconf"),
        ),
        CaptureStep(
            "error",
            ("-cmd", "ir", *newkey, *certout, "-send_error"),
            ("ir",),
            ("error",),
            succeeds=False,
        ),
        # An ip carrying status rejection with failInfo badRequest (bit 2).
        CaptureStep(
            "rejection",
            ("-cmd", "ir", *newkey, *certout, *rejection),
            ("ir",),
            ("ip",),
            succeeds=False,
        ),
    )


def protection_args(
    pki: Pki, protection: Protection, client: Credential | None = None
) -> list[str]:
    """Client and in-process mock server options for one protection mode.

    PBM: both sides share ``pki.secret`` (a secret on the server takes
    precedence over its certificate). Signature: the client signs with
    ``client`` (default EC P-256) and trusts the root for the server's
    signatures; the server signs with ``pki.server`` and trusts the root for
    the client's.
    """
    server = [
        "-srv_cert", str(pki.server.cert_path),
        "-srv_key", str(pki.server.key_path),
        "-srv_trusted", str(pki.root.cert_path),
        "-rsp_cert", str(pki.enrolled.cert_path),
        "-rsp_capubs", str(pki.root.cert_path),
    ]  # fmt: skip
    if protection == "pbm":
        return [
            "-ref", pki.ref,
            "-secret", pki.secret_arg,
            "-recipient", pki.server.subject_arg,
            "-srv_ref", pki.srv_ref,
            "-srv_secret", pki.secret_arg,
            *server,
        ]  # fmt: skip
    if protection == "sig":
        signer = client or pki.client
        return [
            "-cert", str(signer.cert_path),
            "-key", str(signer.key_path),
            "-trusted", str(pki.root.cert_path),
            *server,
        ]  # fmt: skip
    raise ValueError(f"unknown protection {protection!r}")


_MAX_FILES = 8  # more message files than any step writes; unused names stay unwritten


def _run_step(
    step: CaptureStep,
    common: Sequence[str],
    workdir: Path,
    timeout: float,
    openssl: str | None,
) -> tuple[list[bytes], list[bytes], list[str]]:
    stepdir = workdir / step.name
    stepdir.mkdir(parents=True, exist_ok=True)
    # Names relative to the step's folder (openssl runs there), in message order.
    req_names = [f"req{i}.der" for i in range(_MAX_FILES)]
    rsp_names = [f"rsp{i}.der" for i in range(_MAX_FILES)]
    args = [
        "-batch",
        "-use_mock_srv",
        *common,
        *step.args,
        "-reqout", ",".join(req_names),
        "-rspout", ",".join(rsp_names),
    ]  # fmt: skip
    done = run_openssl_cmp(args, stepdir, timeout, check=step.succeeds, openssl=openssl)
    cmd = list(done.args)
    if not step.succeeds and done.returncode == 0:
        raise OpensslError(
            f"step {step.name!r} was expected to fail", cmd, done.stdout, done.stderr
        )
    requests = [(stepdir / n).read_bytes() for n in req_names if (stepdir / n).exists()]
    responses = [(stepdir / n).read_bytes() for n in rsp_names if (stepdir / n).exists()]
    for label, blobs, expected in (
        ("requests", requests, step.requests),
        ("responses", responses, step.responses),
    ):
        try:
            kinds = [body_kind(b) for b in blobs]
        except ValueError as exc:
            raise OpensslError(f"step {step.name!r} wrote a malformed message: {exc}", cmd) from exc
        missing = [k for k in expected if k not in kinds]
        if missing:
            raise OpensslError(
                f"step {step.name!r}: {label} {kinds} lack {missing}", cmd, done.stdout, done.stderr
            )
    return requests, responses, cmd


@dataclass
class CapturedMessages:
    """DER messages written by ``openssl cmp``, per protection mode and body kind.

    ``captured["pbm"]["ir"]`` is a list of DER ``ir`` messages protected with
    PBM under ``secret``; ``captured["sig"]`` holds the signature-protected
    ones. The first message of each list comes from the plainest transaction
    for that kind. ``commands`` records the command line of every step.
    """

    pbm: dict[str, list[bytes]]
    sig: dict[str, list[bytes]]
    secret: bytes
    ref: str
    commands: dict[str, list[list[str]]] = field(default_factory=dict)

    def __getitem__(self, protection: str) -> dict[str, list[bytes]]:
        if protection == "pbm":
            return self.pbm
        if protection == "sig":
            return self.sig
        raise KeyError(protection)


def capture_openssl_messages(
    pki: Pki,
    workdir: Path,
    protection: Protection = "pbm",
    *,
    client: Credential | None = None,
    openssl: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    commands: list[list[str]] | None = None,
) -> dict[str, list[bytes]]:
    """Run every :func:`capture_steps` transaction and return its messages by body kind.

    Each transaction is one ``openssl cmp -use_mock_srv`` run (client and mock
    server in one process) writing its requests with ``-reqout`` and its
    responses with ``-rspout``. The PBM secret is ``pki.secret`` and the
    client's senderKID ``pki.ref``. Command lines are appended to ``commands``
    when given.
    """
    common = protection_args(pki, protection, client)
    messages: dict[str, list[bytes]] = {}
    for step in capture_steps(pki):
        requests, responses, cmd = _run_step(step, common, workdir / protection, timeout, openssl)
        if commands is not None:
            commands.append(cmd)
        for blob in (*requests, *responses):
            messages.setdefault(body_kind(blob), []).append(blob)
    return messages


def capture_all_openssl_messages(
    pki: Pki,
    workdir: Path,
    *,
    openssl: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> CapturedMessages:
    """Capture every kind in both protection modes (see :func:`capture_openssl_messages`)."""
    commands: dict[str, list[list[str]]] = {p: [] for p in PROTECTIONS}
    by_protection = {
        p: capture_openssl_messages(
            pki, workdir, p, openssl=openssl, timeout=timeout, commands=commands[p]
        )
        for p in PROTECTIONS
    }
    return CapturedMessages(
        by_protection["pbm"], by_protection["sig"], pki.secret, pki.ref, commands
    )


# ---------------------------------------------------------------------------
# openssl cmp as an HTTP mock server
# ---------------------------------------------------------------------------

_ACCEPT_LINE = re.compile(r"ACCEPT (?P<host>\S+):(?P<port>\d+) PID=(?P<pid>\d+)")


@dataclass
class OpensslServer:
    """A running ``openssl cmp -port 0`` mock server."""

    process: subprocess.Popen[bytes]
    port: int
    pid: int
    args: list[str]
    stderr_path: Path
    _stdout_lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The URL to POST CMP requests to (the server answers on any path)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def address(self) -> str:
        """``host:port`` as ``openssl cmp -server`` takes it."""
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the server wrote so far (its request log goes to stderr)."""
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return "".join(self._stdout_lines) + err

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the server; kill it if it is still there after ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


class MockServerFactory(Protocol):
    """Starts an ``openssl cmp`` HTTP mock server that is stopped at the end of the test."""

    def __call__(self, extra_args: Sequence[str] = ()) -> OpensslServer: ...


def mock_server_args(pki: Pki) -> list[str]:
    """The default ``openssl cmp -port 0`` options: PBM and signatures both accepted."""
    return [
        "-port", "0",
        "-srv_ref", pki.srv_ref,
        "-srv_secret", pki.secret_arg,
        "-srv_cert", str(pki.server.cert_path),
        "-srv_key", str(pki.server.key_path),
        "-srv_trusted", str(pki.root.cert_path),
        "-rsp_cert", str(pki.enrolled.cert_path),
        "-rsp_capubs", str(pki.root.cert_path),
    ]  # fmt: skip


def _drain(stream: IO[bytes], lines: list[str], ready: threading.Event) -> None:
    # Reads stdout for the server's whole life so that a full pipe never blocks
    # it; ``ready`` is set at the ACCEPT line, or at end of output (it died).
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        lines.append(line)
        if _ACCEPT_LINE.match(line):
            ready.set()
    ready.set()


@contextmanager
def start_openssl_mock_server(
    pki: Pki,
    workdir: Path,
    extra_args: Sequence[str] = (),
    *,
    openssl: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[OpensslServer]:
    """Run ``openssl cmp -port 0 ...`` (:func:`mock_server_args` + ``extra_args``) until exit.

    Waits up to ``timeout`` seconds for the ``ACCEPT <host>:<port> PID=<pid>``
    line the server prints first, then yields the server. On exit the process
    gets SIGTERM, then SIGKILL if it lingers.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [_resolve(openssl), "cmp", "-config", "", *mock_server_args(pki), *extra_args]
    stderr_path = workdir / "openssl-mock-server.stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
        )
    assert process.stdout is not None
    lines: list[str] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=_drain, args=(process.stdout, lines, ready), name="openssl-mock-stdout", daemon=True
    )
    reader.start()
    server: OpensslServer | None = None
    try:
        if not ready.wait(timeout):
            raise OpensslError(
                f"no ACCEPT line within {timeout} s", cmd, "".join(lines), _read(stderr_path)
            )
        match = next((m for m in map(_ACCEPT_LINE.match, list(lines)) if m), None)
        if match is None:  # stdout ended without ACCEPT: openssl is exiting
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                pass
            raise OpensslError(
                f"mock server did not start (exit status {process.returncode})",
                cmd,
                "".join(lines),
                _read(stderr_path),
            )
        server = OpensslServer(
            process, int(match["port"]), int(match["pid"]), cmd, stderr_path, lines
        )
        yield server
    finally:
        if server is not None:
            server.stop()
        elif process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        process.stdout.close()


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
