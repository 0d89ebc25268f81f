"""Every example of openssl-cmp(1)'s EXAMPLES section (OpenSSL 3.0) with
``cmpkit`` in place of ``openssl cmp``, and the same with ``openssl cmp``.

The page is followed as a user would, in one terminal per client, in its
order: ``export OPENSSL_CONF=.../openssl.cnf``, ``openssl genrsa -out ...``,
the Insta Demo CA examples (enroll, enroll again with signature protection,
by cr, update, revoke, cr with ``-reqexts v3_req``), then the ``/pkix/``
command lines (ir, kur with a new key and ``cp cl_key_new.pem cl_key.pem``,
genm) and the custom configuration file ([cmp] and [init] added to the same
file). The remote servers are stood in for by cmpkit's mock CA in its
real-issuing mode on 127.0.0.1 (see :mod:`man_examples`): the Insta Demo CA
(ref 3078, secret ``insta``, CA ``/C=FI/O=Insta Demo/CN=Insta Demo CA``,
whose certificate lacks digitalSignature as the real one does) and the
``/CN=CMPserver`` behind ``127.0.0.1:80/pkix/`` (ref 1234, secret
``1234-5678``; a second server with the same CA takes the custom file's
``1234-5678-1234-567``).

The words lost in our copy of the man page are OpenSSL 3.0's: ``-server
127.0.0.1:80/pkix/`` (``127.0.0.1/pkix/`` for genm, ``server = 127.0.0.1``
in [cmp]), here with the stand-in's port; ``-trusted insta.ca.crt``; the
[cmp] and [init] headings. ``-proxy http://192.168.1.1:8080`` is a fragment,
not a command, and is not run; ``openssl x509 -noout -text -in
insta.cert.pem`` ("it can be viewed") is.

Why not ``cmpkit -port 0``: like ``openssl cmp -port``, it hands out one
``-rsp_cert`` and accepts a kur only for that very certificate, so the
``/pkix/`` update to a new key cannot succeed against it with either client
(the kup would carry the old key, which both clients reject); the
real-issuing mode is not reachable from its options. The last test runs the
Insta enrollment, update and revocation against ``cmpkit -port 0`` as well.

Both clients replay the page against the same servers, each in a directory
of its own; every example is then checked three ways: the exit status
(cmpkit's must be openssl's and the page's), the files it leaves (what the
page says it produces, and the same set of files as openssl), and the CMP
messages it prints (openssl's, less the ``function:file:line:`` prefix).
"""

from __future__ import annotations

import datetime
import re
import shlex
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from man_examples import (
    CMP_SERVER_DN,
    CMPKIT,
    CUSTOM_SECRET,
    INSTA_CA_DN,
    INSTA_REF,
    INSTA_SECRET,
    PKIX_REF,
    PKIX_SECRET,
    RUN_TIMEOUT,
    Shell,
    StandInCa,
    custom_sections,
    describe,
    insta_sections,
    mock_ca,
    name,
    public_key_der,
    shells,
    stand_in_ca,
)

Files = dict[str, bytes]


@dataclass
class Run:
    """One client's run of one example: the result, its directory's files
    just before and just after the ``openssl cmp`` line, the requests sent."""

    result: subprocess.CompletedProcess[str]
    before: Files
    after: Files
    requests: list[tuple[str, str]]
    """What the stand-in servers received: (body type, "mac"/"signature"/"none")."""

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


@dataclass
class Site:
    """The stand-in CAs and every example's runs, by example name and client."""

    insta: StandInCa
    cmpserver: StandInCa
    runs: dict[str, dict[str, Run]] = field(default_factory=dict)


Check = Callable[[Site, Run], None]


@dataclass(frozen=True)
class Example:
    """One ``openssl cmp`` line of the page, the other commands the page has
    the user run before and after it (``openssl genrsa -out <file>``, ``cp``),
    and what it must leave behind.

    ``line`` may name ``{insta}``, ``{pkix}`` and ``{custom}``: the stand-in
    servers' ``host:port``."""

    name: str
    line: str
    check: Check
    status: int = 0
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()

    def args(self, **servers: str) -> list[str]:
        """The arguments after ``openssl cmp``, with the servers filled in."""
        words = shlex.split(self.line.format(**servers))
        assert words[:2] == ["openssl", "cmp"], self.line
        return words[2:]


# ---------------------------------------------------------------------------
# What the examples leave behind
# ---------------------------------------------------------------------------


def _certs(files: Files, file: str) -> list[x509.Certificate]:
    assert file in files, f"{file} was not written"
    return x509.load_pem_x509_certificates(files[file]) if files[file].strip() else []


def _public_key_of(files: Files, key_file: str) -> bytes:
    key = serialization.load_pem_private_key(files[key_file], None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


_KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def enrolled(
    certout: str,
    key_file: str,
    subject: str,
    ca: str,
    key_usage: frozenset[str] | None = None,
) -> Check:
    """``certout`` now holds one new certificate for ``key_file``'s key, named
    ``subject``, issued by the stand-in ``ca`` ("insta" or "cmpserver");
    with ``key_usage``, exactly those keyUsage bits, else no keyUsage."""

    def check(site: Site, run: Run) -> None:
        issuer: StandInCa = getattr(site, ca)
        certs = _certs(run.after, certout)
        assert len(certs) == 1, f"{certout} holds {len(certs)} certificates"
        cert = certs[0]
        assert cert.subject == name(subject)
        assert cert.issuer == issuer.cert.subject
        cert.verify_directly_issued_by(issuer.cert)
        assert public_key_der(cert) == _public_key_of(run.after, key_file), (
            f"{certout} is not for the key in {key_file}"
        )
        assert run.before.get(certout) != run.after[certout], f"{certout} was not renewed"
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            bits = None
        else:
            bits = frozenset(n for n in _KEY_USAGE_BITS if getattr(usage, n))
        assert bits == key_usage

    return check


def holds_ca(file: str, ca: str) -> Check:
    """``file`` holds the stand-in ``ca``'s certificate and nothing else."""

    def check(site: Site, run: Run) -> None:
        assert _certs(run.after, file) == [getattr(site, ca).cert]

    return check


def unchanged(*files: str) -> Check:
    """``files`` are as they were (``*``: every file)."""

    def check(site: Site, run: Run) -> None:
        for file in sorted(set(run.before) | set(run.after)) if files == ("*",) else files:
            assert run.after.get(file) == run.before.get(file), f"{file} changed"

    return check


def sends(*bodies: str, protection: str = "mac") -> Check:
    """The client sent these requests, in this order, all so protected
    (``"mac"``: PBM, as with ``secret``; ``"signature"``: with ``cert``/``key``)."""

    def check(site: Site, run: Run) -> None:
        assert run.requests == [(body, protection) for body in bodies]

    return check


def prints(text: str) -> Check:
    def check(site: Site, run: Run) -> None:
        assert text in run.output

    return check


def all_of(*checks: Check) -> Check:
    def check(site: Site, run: Run) -> None:
        for each in checks:
            each(site, run)

    return check


V3_REQ_KEY_USAGE = frozenset({"content_commitment", "digital_signature", "key_encipherment"})
"""[v3_req]'s keyUsage: nonRepudiation (content_commitment), digitalSignature, keyEncipherment."""


def insta_enrolled(
    body: str, protection: str = "mac", key_usage: frozenset[str] | None = None
) -> Check:
    return all_of(
        sends(body, "certConf", protection=protection),
        enrolled("insta.cert.pem", "insta.priv.pem", "/CN=openssl-cmp-test", "insta", key_usage),
        holds_ca("insta.extracerts.pem", "insta"),
    )


def pkix_enrolled(body: str, key_file: str, protection: str = "mac") -> Check:
    return all_of(
        sends(body, "certConf", protection=protection),
        enrolled("cl_cert.pem", key_file, "/CN=MyName", "cmpserver"),
    )


# The page's command lines, as printed but for the server's address: {insta},
# {pkix} and {custom} are the stand-ins' host:port (the page's 127.0.0.1:80).
EXAMPLES: tuple[Example, ...] = (
    # --- Simple examples using the default OpenSSL configuration file -----
    Example(
        "insta",
        "openssl cmp -section insta",
        insta_enrolled("ir"),
        before=("openssl genrsa -out insta.priv.pem",),
        after=("openssl x509 -noout -text -in insta.cert.pem",),  # "It can be viewed"
    ),
    Example(
        "insta-signature",
        "openssl cmp -section insta,signature",
        insta_enrolled("ir", "signature"),
    ),
    Example("insta-cmd-cr", "openssl cmp -section insta -cmd cr", insta_enrolled("cr")),
    Example("insta-cr", "openssl cmp -section insta,cr", insta_enrolled("cr")),
    # [insta] names insta.priv.pem as newkey: the update certifies the same key anew.
    Example("insta-kur", "openssl cmp -section insta,kur", insta_enrolled("kur")),
    Example(
        "insta-kur-signature",
        "openssl cmp -section insta,kur,signature",
        insta_enrolled("kur", "signature"),
    ),
    Example(
        "insta-rr",
        "openssl cmp -section insta,rr -trusted insta.ca.crt",
        all_of(sends("rr"), unchanged("insta.cert.pem", "insta.priv.pem")),
    ),
    # The page offers both revocations as alternatives; here the second
    # revokes the same certificate again, which the mock CA accepts.
    Example(
        "insta-rr-signature",
        "openssl cmp -section insta,rr,signature",
        all_of(sends("rr", protection="signature"), unchanged("insta.cert.pem")),
    ),
    Example(
        "insta-cr-reqexts",
        "openssl cmp -section insta,cr -reqexts v3_req",
        insta_enrolled("cr", key_usage=V3_REQ_KEY_USAGE),
    ),
    # --- Certificate enrollment, update, general message (no [cmp] yet) ----
    Example(
        "pkix-ir",
        'openssl cmp -cmd ir -server {pkix}/pkix/ -recipient "/CN=CMPserver"'
        " -ref 1234 -secret pass:1234-5678"
        ' -newkey cl_key.pem -subject "/CN=MyName"'
        " -cacertsout capubs.pem -certout cl_cert.pem",
        all_of(pkix_enrolled("ir", "cl_key.pem"), holds_ca("capubs.pem", "cmpserver")),
        before=("openssl genrsa -out cl_key.pem",),
    ),
    Example(
        "pkix-kur",
        "openssl cmp -cmd kur -server {pkix}/pkix/"
        " -trusted capubs.pem"
        " -cert cl_cert.pem -key cl_key.pem"
        " -newkey cl_key_new.pem -certout cl_cert.pem",
        pkix_enrolled("kur", "cl_key_new.pem", "signature"),
        before=("openssl genrsa -out cl_key_new.pem",),
        after=("cp cl_key_new.pem cl_key.pem",),
    ),
    Example(
        "pkix-genm",
        'openssl cmp -cmd genm -server {pkix}/pkix/ -recipient "/CN=CMPserver"'
        " -ref 1234 -secret pass:1234-5678",
        # The mock CA's genp echoes the genm's (no) InfoTypeAndValues.
        all_of(sends("genm"), unchanged("*"), prints("genp contains no ITAV")),
    ),
    # --- Using a custom configuration file ([cmp], [init] added) -----------
    # Neither [cmp] nor [init] sets cmd, so OpenSSL 3.0 refuses this line
    # of the page: "no cmp command to execute", exit 1, nothing sent or written.
    Example(
        "custom-init",
        "openssl cmp -section cmp,init",
        all_of(sends(), unchanged("*"), prints("no cmp command to execute")),
        status=1,
    ),
    # ... what it stands for, with the -cmd ir it lacks:
    Example(
        "custom-init-ir",
        "openssl cmp -section cmp,init -cmd ir",
        all_of(pkix_enrolled("ir", "cl_key.pem"), holds_ca("capubs.pem", "cmpserver")),
    ),
    Example(
        "custom-kur",
        "openssl cmp -cmd kur -newkey cl_key_new.pem",
        pkix_enrolled("kur", "cl_key_new.pem", "signature"),
        before=("openssl genrsa -out cl_key_new.pem",),
        after=("cp cl_key_new.pem cl_key.pem",),
    ),
    # -cacertsout of [init] applies to genm as well: OpenSSL 3.0 writes the
    # genp's 0 caPubs, an empty capubs.pem (the same-files check compares).
    Example(
        "custom-genm",
        "openssl cmp -section cmp,init -cmd genm",
        all_of(
            sends("genm"),
            unchanged("cl_cert.pem", "cl_key.pem"),
            prints("genp contains no ITAV"),
        ),
    ),
)

SAME_BYTES = ("capubs.pem", "insta.extracerts.pem", "insta.ca.crt")
"""Files whose contents do not depend on the client's keys: byte for byte openssl's."""


# ---------------------------------------------------------------------------
# Replaying the page
# ---------------------------------------------------------------------------


def _snapshot(shell: Shell) -> Files:
    return {p.name: p.read_bytes() for p in shell.cwd.iterdir() if p.is_file()}


def _do(shell: Shell, line: str) -> None:
    """Another command of the page: ``openssl <genrsa|x509> ...`` or ``cp <src> <dst>``."""
    words = shlex.split(line)
    if words[0] == "openssl" and words[1] != "cmp":
        done = shell.run(shell.openssl, *words[1:])
        assert done.returncode == 0, f"{shell.label}:\n{describe(done)}"
    elif words[0] == "cp" and len(words) == 3:
        shell.cp(words[1], words[2])
    else:
        raise ValueError(line)


@pytest.fixture(scope="module")
def site(openssl_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The whole page replayed by both clients against the stand-in servers."""
    tmp = tmp_path_factory.mktemp("man-examples")
    done = Site(
        insta=stand_in_ca(INSTA_CA_DN, digital_signature=False),
        cmpserver=stand_in_ca(CMP_SERVER_DN),
    )
    conf = tmp / "openssl.cnf"
    with ExitStack() as stack:
        servers = {
            "insta": stack.enter_context(mock_ca(done.insta, ref=INSTA_REF, secret=INSTA_SECRET)),
            "pkix": stack.enter_context(mock_ca(done.cmpserver, ref=PKIX_REF, secret=PKIX_SECRET)),
            "custom": stack.enter_context(
                mock_ca(done.cmpserver, ref=PKIX_REF, secret=CUSTOM_SECRET)
            ),
        }
        addresses = {label: server.address for label, server in servers.items()}
        conf.write_text(insta_sections(addresses["insta"]))
        clients = shells(tmp, openssl_bin, conf)
        for shell in clients:  # the Insta Demo CA's certificate, as the page assumes
            (shell.cwd / "insta.ca.crt").write_bytes(done.insta.pem)
        for example in EXAMPLES:
            if example.name.startswith("custom") and "[cmp]" not in conf.read_text():
                # "After including in the configuration file the following sections"
                with conf.open("a") as handle:
                    handle.write("\n" + custom_sections(addresses["custom"]))
            args = example.args(**addresses)
            done.runs[example.name] = {}
            for shell in clients:
                for action in example.before:
                    _do(shell, action)
                before = _snapshot(shell)
                result = shell.cmp_(*args)
                requests = [r for ca in servers.values() for r in ca.take_seen()]
                done.runs[example.name][shell.label] = Run(
                    result, before, _snapshot(shell), requests
                )
                for action in example.after:
                    _do(shell, action)
    return done


def by_name(examples: Sequence[Example], xfail: dict[str, str] | None = None) -> list[object]:
    marks = xfail or {}
    return [
        pytest.param(
            e,
            id=e.name,
            marks=[pytest.mark.xfail(strict=True, reason=marks[e.name])] if e.name in marks else [],
        )
        for e in examples
    ]


@pytest.mark.parametrize("example", by_name(EXAMPLES))
def test_exit_status_is_the_pages_and_openssls(site: Site, example: Example) -> None:
    runs = site.runs[example.name]
    assert runs["openssl"].result.returncode == example.status, describe(runs["openssl"].result)
    assert runs["cmpkit"].result.returncode == example.status, describe(runs["cmpkit"].result)


@pytest.mark.parametrize("example", by_name(EXAMPLES))
def test_files_are_what_the_page_says_and_openssl_leaves(site: Site, example: Example) -> None:
    runs = site.runs[example.name]
    # The page's promise holds for openssl (else the replay itself is wrong) ...
    example.check(site, runs["openssl"])
    # ... and for cmpkit,
    example.check(site, runs["cmpkit"])
    # which leaves the same files, no more (no temporary files), no fewer.
    ours, theirs = runs["cmpkit"].after, runs["openssl"].after
    assert sorted(ours) == sorted(theirs)
    for file in SAME_BYTES:
        assert ours.get(file) == theirs.get(file), f"{file} differs from openssl's"


_PREFIX = re.compile(r"^(?:\S+:\S+:\d+:)?(?=CMP (?:info|warning|error|debug): )")


def cmp_messages(result: subprocess.CompletedProcess[str]) -> Counter[str]:
    """The ``CMP <level>: ...`` lines of both streams, without openssl's
    ``function:file:line:`` prefix, as a multiset (the streams interleave)."""
    lines = (result.stdout + result.stderr).splitlines()
    stripped = (_PREFIX.sub("", line) for line in lines)
    return Counter(line for line in stripped if line.startswith("CMP "))


MESSAGE_DIFFERENCES: dict[str, str] = {}  # none left: cmpkit prints what openssl prints


@pytest.mark.parametrize(
    "example", by_name([e for e in EXAMPLES if e.status == 0], MESSAGE_DIFFERENCES)
)
def test_cmp_messages_are_openssls(site: Site, example: Example) -> None:
    runs = site.runs[example.name]
    ours, theirs = cmp_messages(runs["cmpkit"].result), cmp_messages(runs["openssl"].result)
    assert theirs, describe(runs["openssl"].result)  # not a vacuous comparison
    assert ours == theirs, (
        f"only cmpkit: {sorted((ours - theirs).elements())}\n"
        f"only openssl: {sorted((theirs - ours).elements())}"
    )


# ---------------------------------------------------------------------------
# The same Insta examples against `cmpkit -port 0`, OpenSSL's mock server mode
# ---------------------------------------------------------------------------

_ACCEPT = re.compile(r"ACCEPT \S+:(\d+) PID=\d+")


@contextmanager
def cmpkit_port(args: Sequence[str], cwd: Path) -> Iterator[int]:
    """``cmpkit -config "" -port 0 <args>`` in ``cwd``; yields the port it listens on."""
    process = subprocess.Popen(
        [*CMPKIT, "-config", "", "-port", "0", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        found: list[int] = []
        ready = threading.Event()

        def drain() -> None:  # read all along so that a full pipe never blocks it
            assert process.stdout is not None
            for line in process.stdout:
                match = _ACCEPT.match(line)
                if match and not found:
                    found.append(int(match[1]))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        ready.wait(RUN_TIMEOUT)
        assert found, f"cmpkit -port 0 did not start (exit {process.poll()})"
        yield found[0]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_insta_enroll_update_revoke_against_cmpkit_port(openssl_bin: str, tmp_path: Path) -> None:
    """``openssl cmp -section insta``, ``insta,kur``, ``insta,rr -trusted
    insta.ca.crt`` against ``cmpkit -port 0`` standing in for the Insta Demo
    CA as OpenSSL's mock server does: handing out ``-rsp_cert``, a certificate
    made here for the client's insta.priv.pem, and updating and revoking only
    that one. (The ``/pkix/`` kur with a new key needs a CA that really
    issues, which ``-port`` does not offer: see the replay above.)"""
    ca = stand_in_ca(INSTA_CA_DN, digital_signature=False)
    conf = tmp_path / "openssl.cnf"
    cmpkit, openssl = shells(tmp_path, openssl_bin, conf)
    cmpkit.genrsa("insta.priv.pem")
    # one key for both clients: the mock hands out one certificate
    (openssl.cwd / "insta.priv.pem").write_bytes((cmpkit.cwd / "insta.priv.pem").read_bytes())
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    rsp_cert = _issue_for(ca, cmpkit.public_key_der("insta.priv.pem"), "/CN=openssl-cmp-test")
    (server_dir / "ca.crt").write_bytes(ca.pem)
    (server_dir / "ca.key").write_bytes(
        ca.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (server_dir / "rsp.crt").write_bytes(rsp_cert.public_bytes(serialization.Encoding.PEM))
    server_args = (
        "-srv_ref", INSTA_REF, "-srv_secret", f"pass:{INSTA_SECRET}",
        "-srv_cert", "ca.crt", "-srv_key", "ca.key", "-srv_trusted", "ca.crt",
        "-rsp_cert", "rsp.crt", "-rsp_extracerts", "ca.crt",
    )  # fmt: skip
    with cmpkit_port(server_args, server_dir) as port:
        conf.write_text(insta_sections(f"127.0.0.1:{port}"))
        for shell in (cmpkit, openssl):
            (shell.cwd / "insta.ca.crt").write_bytes(ca.pem)
        for args, extracerts in (
            (("-section", "insta"), [ca.cert]),
            (("-section", "insta,kur"), [ca.cert]),
            (("-section", "insta,rr", "-trusted", "insta.ca.crt"), []),  # a MACed rp: none
        ):
            for shell in (cmpkit, openssl):
                done = shell.cmp_(*args)
                assert done.returncode == 0, f"{shell.label}:\n{describe(done)}"
                assert shell.certs("insta.cert.pem") == [rsp_cert]
                assert shell.certs("insta.extracerts.pem") == extracerts


def _issue_for(ca: StandInCa, public_key_der: bytes, subject: str) -> x509.Certificate:
    """What the mock hands out: a certificate of ``ca`` for the given key."""
    key = serialization.load_der_public_key(public_key_der)
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(ca.cert.subject)
        .public_key(key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)  # type: ignore[arg-type]
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
        .sign(ca.key, hashes.SHA256())
    )
