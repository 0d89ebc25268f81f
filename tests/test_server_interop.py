"""The real ``openssl cmp`` client against cmpkit's mock CA over HTTP.

Each case runs the same client command against cmpkit's server and against
OpenSSL's own mock server (``openssl cmp -port 0``) with the same options,
and requires the same exit status and the same CMP-level output (what was
received, the statuses and errors openssl reports). The last test runs
OpenSSL's conformance matrix (csv-3.0) with ``openssl cmp`` as client.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from openssl_harness import MockServerFactory, Pki, run_openssl_cmp
from test_server import server_config

from cmp.asgi import BackgroundServer
from cmp.credentials import load_cert
from cmp.server import MockServer, MockServerConfig

OurServerFactory = Callable[..., BackgroundServer]


@pytest.fixture
def our_server() -> Iterator[OurServerFactory]:
    """Starts cmpkit mock servers on free ports; all are stopped after the test."""
    started: list[BackgroundServer] = []

    def start(config: MockServerConfig, **options: Any) -> BackgroundServer:
        running = MockServer(config).start_background(**options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def pbm_args(pki: Pki) -> list[str]:
    return ["-ref", pki.ref, "-secret", pki.secret_arg, "-recipient", pki.server.subject_arg]


def sig_args(pki: Pki) -> list[str]:
    return [
        "-cert", str(pki.client.cert_path),
        "-key", str(pki.client.key_path),
        "-trusted", str(pki.root.cert_path),
    ]  # fmt: skip


def newkey_args(pki: Pki) -> list[str]:
    return ["-newkey", str(pki.new_key_path), "-subject", pki.enrolled.subject_arg]


_LOCATION = re.compile(r"^\S*?:\.\./\S+?:\d+:")  # "func:../apps/cmp.c:123:" prefixes
_ADDRESS = re.compile(r"127\.0\.0\.1:\d+")


def cmp_lines(output: str, workdir: Path) -> list[str]:
    """The lines of ``openssl cmp`` output that say what the server answered."""
    lines = []
    for line in output.splitlines():
        if not re.search(r"CMP (info|error|warning)|PKIStatus|received", line):
            continue
        line = _LOCATION.sub("", line)
        line = _ADDRESS.sub("SERVER", line).replace(str(workdir), "DIR")
        lines.append(line.strip())
    return lines


@dataclass
class Case:
    """One client command, and the server options both servers get."""

    name: str
    client: Callable[[Pki], list[str]]
    server_args: Sequence[str] = ()
    server_options: dict[str, Any] = field(default_factory=dict)
    succeeds: bool = True


def _enroll(cmd: str, protection: Callable[[Pki], list[str]], *extra: str) -> Callable[..., Any]:
    def args(pki: Pki) -> list[str]:
        return ["-cmd", cmd, *protection(pki), *newkey_args(pki), *extra]

    return args


def _p10cr(protection: Callable[[Pki], list[str]]) -> Callable[[Pki], list[str]]:
    return lambda pki: ["-cmd", "p10cr", *protection(pki), "-csr", str(pki.csr_path)]


def _kur(protection: Callable[[Pki], list[str]]) -> Callable[[Pki], list[str]]:
    return lambda pki: [
        "-cmd", "kur", *protection(pki),
        "-newkey", str(pki.new_key_path),
        "-oldcert", str(pki.enrolled.cert_path),
    ]  # fmt: skip


def _rr(protection: Callable[[Pki], list[str]]) -> Callable[[Pki], list[str]]:
    return lambda pki: [
        "-cmd", "rr", *protection(pki), "-oldcert", str(pki.enrolled.cert_path), "-revreason", "4"
    ]  # fmt: skip


def _genm(protection: Callable[[Pki], list[str]], *extra: str) -> Callable[[Pki], list[str]]:
    return lambda pki: ["-cmd", "genm", *protection(pki), *extra]


REJECTION = ("-pkistatus", "2", "-failure", "2", "-statusstring", "cmpkit test rejection")
REJECTED = {"pkistatus": 2, "failure": 2, "statusstring": "cmpkit test rejection"}

CASES = [
    *(
        case
        for label, prot in (("pbm", pbm_args), ("sig", sig_args))
        for case in (
            Case(f"ir-{label}", _enroll("ir", prot)),
            Case(f"cr-{label}", _enroll("cr", prot)),
            Case(f"p10cr-{label}", _p10cr(prot)),
            Case(f"kur-{label}", _kur(prot)),
            Case(f"rr-{label}", _rr(prot)),
            Case(f"genm-{label}", _genm(prot)),
            Case(f"genm-infotype-{label}", _genm(prot, "-infotype", "signKeyPairTypes")),
        )
    ),
    Case(
        "polling",
        _enroll("ir", pbm_args),
        ["-poll_count", "2", "-check_after", "1"],
        {"poll_count": 2, "check_after": 1},
    ),
    Case(
        "implicit-confirm-granted",
        _enroll("ir", pbm_args, "-implicit_confirm"),
        ["-grant_implicitconf"],
        {"grant_implicitconf": True},
    ),
    Case("implicit-confirm-not-granted", _enroll("ir", pbm_args, "-implicit_confirm")),
    Case(
        "pkistatus-failure-statusstring",
        _enroll("ir", pbm_args),
        REJECTION,
        REJECTED,
        succeeds=False,
    ),
    Case(
        "failurebits",
        _enroll("ir", sig_args),
        ["-pkistatus", "2", "-failurebits", "513"],
        {"pkistatus": 2, "failurebits": 513},
        succeeds=False,
    ),
    Case(
        "rr-rejected",
        _rr(pbm_args),
        REJECTION,
        REJECTED,
        succeeds=False,
    ),
    Case("send-error", _enroll("ir", pbm_args), ["-send_error"], {"send_error": True}, False),
    Case("send-error-genm", _genm(sig_args), ["-send_error"], {"send_error": True}, False),
    Case(
        "send-unprotected",
        _enroll("ir", pbm_args),
        ["-send_unprotected"],
        {"send_unprotected": True},
        succeeds=False,
    ),
    Case(
        "send-unprot-err-refused-by-client",
        _enroll("ir", pbm_args),
        ["-send_unprot_err", *REJECTION],
        {"send_unprot_err": True, **REJECTED},
        succeeds=False,
    ),
    Case(
        "send-unprot-err-with-unprotected-errors",
        _enroll("ir", pbm_args, "-unprotected_errors"),
        ["-send_unprot_err", *REJECTION],
        {"send_unprot_err": True, **REJECTED},
        succeeds=False,
    ),
    Case(
        "send-error-unprot-err-with-unprotected-errors",
        _enroll("ir", pbm_args, "-unprotected_errors"),
        ["-send_unprot_err", "-send_error"],
        {"send_unprot_err": True, "send_error": True},
        succeeds=False,
    ),
    # failInfo badRequest as OpenSSL 3.0 (cmpkit's default is RFC 9810's badMessageCheck)
    Case(
        "unprotected-request-refused",
        _enroll("ir", sig_args, "-unprotected_requests"),
        server_options={"fail_info_style": "openssl"},
        succeeds=False,
    ),
    Case(
        "unprotected-request-accepted",
        _enroll("ir", sig_args, "-unprotected_requests"),
        ["-accept_unprotected"],
        {"accept_unprotected": True},
    ),
    Case("raverified-refused", _enroll("ir", pbm_args, "-popo", "0"), succeeds=False),
    Case(
        "raverified-accepted",
        _enroll("ir", pbm_args, "-popo", "0"),
        ["-accept_raverified"],
        {"accept_raverified": True},
    ),
    Case("wrong-secret", lambda pki: ["-cmd", "genm", *pbm_args(pki)[:2], "-secret", "pass:x",
                                      "-recipient", pki.server.subject_arg], succeeds=False),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_openssl_client_gets_what_openssl_mock_server_gives(
    case: Case,
    pki: Pki,
    openssl_bin: str,
    openssl_mock_server: MockServerFactory,
    our_server: OurServerFactory,
    tmp_path: Path,
) -> None:
    ours = our_server(server_config(pki, **case.server_options))
    theirs = openssl_mock_server(case.server_args)
    runs = {}
    for label, address in (("cmpkit", ours.address), ("openssl", theirs.address)):
        workdir = tmp_path / label
        workdir.mkdir()
        args = ["-server", address, *case.client(pki), "-certout", str(workdir / "cert.pem")]
        done = run_openssl_cmp(args, workdir, check=False, openssl=openssl_bin)
        runs[label] = (done.returncode, cmp_lines(done.stdout + done.stderr, workdir), done)
    (our_rc, our_lines, our_run), (their_rc, their_lines, _) = runs["cmpkit"], runs["openssl"]
    assert (our_rc == 0) == case.succeeds, our_run.stdout + our_run.stderr
    assert our_rc == their_rc
    assert our_lines == their_lines
    their_cert, our_cert = tmp_path / "openssl" / "cert.pem", tmp_path / "cmpkit" / "cert.pem"
    assert our_cert.exists() == their_cert.exists()
    if their_cert.exists():
        assert our_cert.read_bytes() == their_cert.read_bytes()


def test_openssl_client_enrolls_with_really_issued_certificate(
    pki: Pki, openssl_bin: str, our_server: OurServerFactory, tmp_path: Path
) -> None:
    config = MockServerConfig.generate(secret=pki.secret, ref=pki.srv_ref)
    assert config.srv_cert is not None
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(config.srv_cert.public_bytes(Encoding.PEM))
    running = our_server(config)
    certout = tmp_path / "issued.pem"
    args = [
        "-server", running.address, "-cmd", "ir", *pbm_args(pki), *newkey_args(pki),
        "-certout", str(certout), "-out_trusted", str(ca_path),
    ]  # fmt: skip
    run_openssl_cmp(args, tmp_path, openssl=openssl_bin)
    issued = load_cert(str(certout))
    assert issued.issuer == config.srv_cert.subject
    assert issued.subject == pki.enrolled.cert.subject
    assert issued.public_key() == pki.new_key.public_key()
    update = [
        "-server", running.address, "-cmd", "kur", *pbm_args(pki), "-oldcert", str(certout),
        "-newkey", str(pki.new_key_path), "-certout", str(tmp_path / "updated.pem"),
        "-out_trusted", str(ca_path),
    ]  # fmt: skip
    run_openssl_cmp(update, tmp_path, openssl=openssl_bin)
    revoke = ["-server", running.address, "-cmd", "rr", *pbm_args(pki), "-oldcert", str(certout)]
    run_openssl_cmp(revoke, tmp_path, openssl=openssl_bin)


# OpenSSL's conformance matrix against `cmpkit -config server.cnf` runs in
# tests/test_conformance.py (the shared runner in tests/conformance.py).
