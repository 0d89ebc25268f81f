"""The EXAMPLES of openssl-cmp(1) (OpenSSL 3.0) replayed against local stand-ins.

The man page's examples talk to two servers that do not exist here: the Insta
Demo CA (``pki.certificate.fi:8700``, reached through the demonstration
sections of OpenSSL's ``apps/openssl.cnf``) and "a CMP server on the local
TCP port 80 under ``/pkix/``". :func:`stand_in_ca` makes a CA with the
distinguished name each example expects; :func:`mock_ca` serves it with
cmpkit's mock CA in its real-issuing mode, with the reference value and
pre-shared secret the example uses, so that enrollment, update and
revocation follow each other as they would against a real CA.

:func:`insta_sections` and :func:`custom_sections` write the configuration
sections the examples rely on, pointed at that local server instead of the
remote one; :class:`Shell` runs the examples' command lines in a directory
of its own with ``OPENSSL_CONF`` exported, either with ``cmpkit`` or with
``openssl cmp``, so that both clients can replay the same page side by side.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cmp.algorithms import PASSWORD_BASED_MAC, PBMAC1
from cmp.asgi import BackgroundServer
from cmp.message import PKIMessage
from cmp.server import MockServer, MockServerConfig

RUN_TIMEOUT = 30.0
"""Seconds any single command of an example may take."""

INSTA_CA_DN = "/C=FI/O=Insta Demo/CN=Insta Demo CA"
"""The Insta Demo CA's name, the ``recipient`` of OpenSSL's ``[insta]`` section."""
INSTA_REF, INSTA_SECRET = "3078", "insta"
"""The Insta Demo CA's reference value and pre-shared secret (man page, ``[insta]``)."""

CMP_SERVER_DN = "/CN=CMPserver"
"""The ``-recipient`` of the ``/pkix/`` examples."""
PKIX_REF, PKIX_SECRET = "1234", "1234-5678"
"""Reference value and secret of the ``/pkix/`` command-line examples."""
CUSTOM_SECRET = "1234-5678-1234-567"
"""The secret of the ``[init]`` section of "Using a custom configuration file"
(not the one of the command-line examples it claims to abbreviate)."""

_NAME_OIDS = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME}


def name(dn: str) -> x509.Name:
    """``/C=FI/O=Insta Demo/CN=...`` (OpenSSL's slash syntax, no escapes) as a Name."""
    attributes = []
    for part in dn.strip("/").split("/"):
        key, _, value = part.partition("=")
        attributes.append(x509.NameAttribute(_NAME_OIDS[key], value))
    return x509.Name(attributes)


# ---------------------------------------------------------------------------
# The stand-in CAs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StandInCa:
    """A self-signed CA certificate with its key; ``pem`` is the certificate as PEM."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def stand_in_ca(dn: str, *, digital_signature: bool = True) -> StandInCa:
    """A fresh RSA CA named ``dn`` that signs CMP messages as well as certificates.

    ``digital_signature=False`` leaves digitalSignature out of its keyUsage,
    as in the Insta Demo CA's certificate (OpenSSL's ``[signature]`` section
    says so, and ``[insta]`` sets ``ignore_keyusage`` for it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = name(dn)
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return StandInCa(cert, key)


class RecordingMockServer(MockServer):
    """The mock CA, noting the body type and protection of every request:
    ``("ir", "mac")``, ``("certConf", "signature")``, ..."""

    def __init__(self, config: MockServerConfig) -> None:
        super().__init__(config)
        self._seen: list[tuple[str, str]] = []
        self._seen_lock = threading.Lock()

    def handle_message(self, msg: PKIMessage) -> PKIMessage:
        alg = msg.header.protection_alg
        if alg is None:
            protection = "none"
        elif alg.algorithm in (PASSWORD_BASED_MAC, PBMAC1):
            protection = "mac"
        else:
            protection = "signature"
        with self._seen_lock:
            self._seen.append((msg.body_type, protection))
        return super().handle_message(msg)

    def take_seen(self) -> list[tuple[str, str]]:
        """The requests noted since the last call."""
        with self._seen_lock:
            seen, self._seen = self._seen, []
        return seen


@dataclass
class RunningCa:
    """A mock CA being served: ``address`` (``host:port``) and what it received."""

    http: BackgroundServer
    handler: RecordingMockServer

    @property
    def address(self) -> str:
        return self.http.address

    def take_seen(self) -> list[tuple[str, str]]:
        """The requests received since the last call: (body type, protection)."""
        return self.handler.take_seen()


@contextmanager
def mock_ca(ca: StandInCa, *, ref: str, secret: str) -> Iterator[RunningCa]:
    """cmpkit's mock CA on 127.0.0.1 (a free port, paths ``/`` and ``/pkix/``),
    really issuing what is requested, signed by ``ca``.

    It answers MAC-protected requests with ``ref``/``secret`` and signed ones
    with ``ca``'s key; it trusts ``ca`` for clients' signatures, sends it as
    caPubs of every ip and in the extraCerts, updates and revokes only the
    certificates it issued."""
    config = MockServerConfig(
        srv_ref=ref,
        srv_secret=secret,
        srv_cert=ca.cert,
        srv_key=ca.key,
        srv_trusted=[ca.cert],
        rsp_capubs=[ca.cert],
        issue=True,
    )
    handler = RecordingMockServer(config)
    http = handler.start_background()
    try:
        yield RunningCa(http, handler)
    finally:
        http.stop()


# ---------------------------------------------------------------------------
# The configuration file
# ---------------------------------------------------------------------------


def insta_sections(server: str) -> str:
    """The demonstration sections of OpenSSL 3.0's ``apps/openssl.cnf`` the man
    page uses ([insta], [pbm], [signature], [ir], [cr], [kur], [rr], [v3_req]),
    with every key kept, but ``server`` the local stand-in for
    ``pki.certificate.fi:8700``.

    The trust anchor is ``insta.ca.crt`` in the working directory, as the man
    page names it (the shipped file says ``apps/insta.ca.crt``, its place in
    OpenSSL's source tree)."""
    return f"""\
# The Insta Demo CA, stood in for by a local mock CA.
[insta]
# how to reach it (really pki.certificate.fi:8700)
server = {server}
# proxy = http://192.168.1.1:8080 # where the network needs one
# tls_use = 0
path = pkix/

# how the CA authenticates itself
recipient = "{INSTA_CA_DN}" # could be srvcert or issuer instead
ignore_keyusage = 1 # the CA certificate lacks digitalSignature
unprotected_errors = 1 # the CA may send its errors unprotected
extracertsout = insta.extracerts.pem

# how the client authenticates itself
ref = {INSTA_REF} # the user's identification
secret = pass:{INSTA_SECRET} # shared by client and server

# the operation, overridden by -cmd or a later section
cmd = ir

# what is enrolled
subject = "/CN=openssl-cmp-test"
newkey = insta.priv.pem
out_trusted = insta.ca.crt # without keyUsage digitalSignature
certout = insta.cert.pem

# MAC-based protection (what [insta] does anyway)
[pbm]
ref = $insta::ref
secret = $insta::secret

# signature-based protection with a certificate from the CA
[signature]
trusted = $insta::out_trusted
secret = # no MAC
key = $insta::newkey
cert = $insta::certout

[ir]
cmd = ir

[cr]
cmd = cr

[kur]
# updating the certificate enrolled before
cmd = kur
oldcert = $insta::certout

[rr]
# revoking the certificate enrolled before
cmd = rr
oldcert = $insta::certout

[ v3_req ]
# extensions for a certificate request
basicConstraints = CA:FALSE
keyUsage = nonRepudiation, digitalSignature, keyEncipherment
"""


def custom_sections(server: str) -> str:
    """The [cmp] and [init] sections of "Using a custom configuration file",
    ``server`` being the local stand-in for ``127.0.0.1`` (port 80)."""
    return f"""\
[cmp]
server = {server}
path = pkix/
trusted = capubs.pem
cert = cl_cert.pem
key = cl_key.pem
newkey = cl_key.pem
certout = cl_cert.pem

[init]
recipient = "{CMP_SERVER_DN}"
trusted =
cert =
key =
ref = {PKIX_REF}
secret = pass:{CUSTOM_SECRET}
subject = "/CN=MyName"
cacertsout = capubs.pem
"""


# ---------------------------------------------------------------------------
# Running the examples
# ---------------------------------------------------------------------------

CMPKIT = (sys.executable, "-m", "cmp")
"""``cmpkit`` without relying on the console script being on PATH."""


@dataclass
class Shell:
    """A terminal in ``cwd`` with ``OPENSSL_CONF`` exported, whose ``openssl cmp``
    is ``cmp`` (cmpkit or the real one); ``openssl`` itself (for ``genrsa``)
    is always the real one."""

    label: str
    cwd: Path
    cmp: tuple[str, ...]
    openssl: str
    openssl_conf: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            env.pop(var, None)
        env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
        env["OPENSSL_CONF"] = str(self.openssl_conf)
        return env

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=self.cwd,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )

    def genrsa(self, out: str) -> None:
        """``openssl genrsa -out <out>`` (2048-bit RSA, OpenSSL's default)."""
        done = self.run(self.openssl, "genrsa", "-out", out)
        assert done.returncode == 0, describe(done)

    def cmp_(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``openssl cmp <args>`` with this shell's CMP client."""
        return self.run(*self.cmp, *args)

    def cp(self, src: str, dst: str) -> None:
        shutil.copyfile(self.cwd / src, self.cwd / dst)

    def path(self, name: str) -> Path:
        return self.cwd / name

    def certs(self, name: str) -> list[x509.Certificate]:
        """The certificates in the PEM file ``name`` (none if it is missing or empty)."""
        path = self.cwd / name
        data = path.read_bytes() if path.exists() else b""
        return x509.load_pem_x509_certificates(data) if data.strip() else []

    def public_key_der(self, key_file: str) -> bytes:
        key = serialization.load_pem_private_key((self.cwd / key_file).read_bytes(), None)
        return key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def shells(tmp: Path, openssl_bin: str, openssl_conf: Path) -> tuple[Shell, Shell]:
    """A ``cmpkit`` shell and an ``openssl cmp`` shell, each in a fresh directory of ``tmp``."""
    made = []
    for label, cmp in (("cmpkit", CMPKIT), ("openssl", (openssl_bin, "cmp"))):
        cwd = tmp / label
        cwd.mkdir()
        made.append(Shell(label, cwd, tuple(cmp), openssl_bin, openssl_conf))
    return made[0], made[1]


def public_key_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def describe(done: subprocess.CompletedProcess[str]) -> str:
    """The command, its exit status and its output, for assertion messages."""
    out = "\n".join(done.stdout.strip().splitlines()[-15:])
    err = "\n".join(done.stderr.strip().splitlines()[-15:])
    return f"$ {' '.join(map(str, done.args))}\nexit {done.returncode}\n{out}\n{err}"
