"""``cmpkit`` end to end: the command run as a program against the real
``openssl cmp -port 0`` mock server, and where it matters side by side with
``openssl cmp`` as the client, whose output files must be the same."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from openssl_harness import MockServerFactory, OpensslServer, Pki, body_kind, openssl_dn

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OPENSSL_CONF", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        env.pop(name, None)
    return env


def cmpkit(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``cmpkit -config "" <args>`` with no standard input."""
    return subprocess.run(
        [sys.executable, "-m", "cmp", "-config", "", *map(str, args)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(),
    )


def openssl(
    openssl_bin: str, *args: str | Path, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [openssl_bin, "cmp", "-config", "", *map(str, args)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(),
    )


def pbm(pki: Pki, server: OpensslServer) -> list[str]:
    """Client options for PBM protection (the mock server's secret)."""
    return [
        "-server", server.address,
        "-ref", pki.ref, "-secret", pki.secret_arg,
        "-recipient", openssl_dn(pki.server.cert.subject),
    ]  # fmt: skip


def signature(pki: Pki, server: OpensslServer) -> list[str]:
    """Client options for signature protection, the server authenticated by the root."""
    return [
        "-server", server.address,
        "-cert", str(pki.client.cert_path), "-key", str(pki.client.key_path),
        "-trusted", str(pki.root.cert_path),
    ]  # fmt: skip


def enroll(pki: Pki, cmd: str = "ir") -> list[str]:
    return ["-cmd", cmd, "-newkey", str(pki.new_key_path), "-subject", pki.enrolled.subject_arg]


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def only_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed run."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CMP error: ")
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The client's working directory (the mock server runs beside it)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def certs_in(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    return x509.load_pem_x509_certificates(data) if data else []


# --- enrollment ---------------------------------------------------------------------------


def test_ir_with_pbm_writes_the_enrolled_certificate(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server()
    result = cmpkit(*pbm(pki, server), *enroll(pki), "-certout", "out.pem", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (work / "out.pem").read_bytes() == pki.enrolled.cert.public_bytes(PEM)
    assert result.stderr == ""
    for line in ("sending IR", "received IP", "sending CERTCONF", "received PKICONF"):
        assert f"CMP info: {line}\n" in result.stdout
    assert "saving to file 'out.pem'" in result.stdout


@pytest.mark.parametrize("certform", ["PEM", "DER"])
def test_signature_ir_writes_the_same_files_as_openssl(
    openssl_bin: str,
    openssl_mock_server: MockServerFactory,
    pki: Pki,
    work: Path,
    certform: str,
) -> None:
    # -certout holds the certificate only (3.0), -chainout its chain,
    # -extracertsout the extraCerts of the ip, -cacertsout its caPubs.
    server = openssl_mock_server(["-rsp_extracerts", str(pki.client_rsa.cert_path)])
    outputs = {}
    for client in ("cmpkit", "openssl"):
        out = work / client
        out.mkdir()
        args = [
            *signature(pki, server), *enroll(pki), "-certform", certform,
            "-certout", "cert", "-chainout", "chain",
            "-extracertsout", "extra", "-cacertsout", "ca",
        ]  # fmt: skip
        if client == "cmpkit":
            result = cmpkit(*args, cwd=out)
        else:
            result = openssl(openssl_bin, *args, cwd=out)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs[client] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert outputs["cmpkit"] == outputs["openssl"]
    encoding = PEM if certform == "PEM" else DER
    assert outputs["cmpkit"]["cert"] == pki.enrolled.cert.public_bytes(encoding)
    assert outputs["cmpkit"]["ca"] == pki.root.cert.public_bytes(encoding)
    assert len(outputs["cmpkit"]["extra"]) > len(outputs["cmpkit"]["cert"])


def test_kur_with_the_enrolled_certificate(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    # The 3.0 mock server updates only its -rsp_cert; the client signs with it.
    server = openssl_mock_server()
    result = cmpkit(
        "-server", server.address, "-cmd", "kur",
        "-cert", pki.enrolled.cert_path, "-key", pki.new_key_path,
        "-trusted", pki.root.cert_path, "-certout", "updated.pem",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert certs_in(work / "updated.pem") == [pki.enrolled.cert]


def test_p10cr_sends_the_csr(openssl_mock_server: MockServerFactory, pki: Pki, work: Path) -> None:
    server = openssl_mock_server()
    result = cmpkit(
        *pbm(pki, server), "-cmd", "p10cr", "-csr", pki.csr_path, "-certout", "p10.pem",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert certs_in(work / "p10.pem") == [pki.enrolled.cert]


def test_repeat_runs_the_transaction_again(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server()
    result = cmpkit(
        *pbm(pki, server), *enroll(pki), "-certout", "out.pem", "-repeat", "3", cwd=work
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("CMP info: sending IR\n") == 3


def test_use_mock_srv_enrolls_in_process(pki: Pki, work: Path) -> None:
    result = cmpkit(
        "-use_mock_srv",
        "-srv_ref", pki.srv_ref, "-srv_secret", pki.secret_arg,
        "-srv_cert", pki.server.cert_path, "-srv_key", pki.server.key_path,
        "-rsp_cert", pki.enrolled.cert_path,
        "-ref", pki.ref, "-secret", pki.secret_arg,
        *enroll(pki), "-certout", "out.pem",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "will contact mock server" in result.stdout
    assert certs_in(work / "out.pem") == [pki.enrolled.cert]


def test_use_mock_srv_without_credentials_enrolls_from_a_generated_ca(work: Path) -> None:
    # No prepared files: the mock CA is generated, the key to certify too.
    result = cmpkit(
        "-use_mock_srv", "-cmd", "ir", "-subject", "/CN=demo",
        "-newkey", "demo.key", "-certout", "demo.pem", "-cacertsout", "ca.pem",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert (work / "demo.key").stat().st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key((work / "demo.key").read_bytes(), None)
    (cert,) = certs_in(work / "demo.pem")
    (ca,) = certs_in(work / "ca.pem")
    assert cert.subject == x509.Name.from_rfc4514_string("CN=demo")
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(ca)
    # An existing -newkey is used as it is, never overwritten.
    before = (work / "demo.key").read_bytes()
    result = cmpkit(
        "-use_mock_srv", "-cmd", "cr", "-subject", "/CN=demo",
        "-newkey", "demo.key", "-certout", "again.pem", cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (work / "demo.key").read_bytes() == before
    assert certs_in(work / "again.pem")[0].public_key() == key.public_key()


# --- rr and genm --------------------------------------------------------------------------


def test_rr_revokes(openssl_mock_server: MockServerFactory, pki: Pki, work: Path) -> None:
    server = openssl_mock_server()
    result = cmpkit(
        *pbm(pki, server), "-cmd", "rr", "-oldcert", pki.enrolled.cert_path, "-revreason", "4",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CMP info: sending RR\nCMP info: received RP\n" in result.stdout


@pytest.mark.parametrize("cmd", ["rr", "genm"])
def test_rr_and_genm_write_the_same_files_as_openssl(
    openssl_bin: str, openssl_mock_server: MockServerFactory, pki: Pki, work: Path, cmd: str
) -> None:
    server = openssl_mock_server()
    args = [
        *signature(pki, server), "-cmd", cmd, "-oldcert", str(pki.enrolled.cert_path),
        "-extracertsout", "extra", "-cacertsout", "ca", "-chainout", "chain",
        "-certout", "cert",
    ]  # fmt: skip
    outputs = {}
    for client in ("cmpkit", "openssl"):
        out = work / client
        out.mkdir()
        if client == "cmpkit":
            result = cmpkit(*args, cwd=out)
        else:
            result = openssl(openssl_bin, *args, cwd=out)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs[client] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert outputs["cmpkit"] == outputs["openssl"]
    assert outputs["cmpkit"]["extra"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert "cert" not in outputs["cmpkit"]


def _genp_lines(stdout: str) -> list[str]:
    # openssl 3.0 puts "function:file:line:" before some log lines.
    lines = [re.sub(r"^\w+:[^:]*\.c:\d+:", "", line) for line in stdout.splitlines()]
    return [line for line in lines if "genp contains" in line]


@pytest.mark.parametrize("infotype", [None, "signKeyPairTypes"])
def test_genm_prints_what_the_genp_contains_as_openssl(
    openssl_bin: str,
    openssl_mock_server: MockServerFactory,
    pki: Pki,
    work: Path,
    infotype: str | None,
) -> None:
    server = openssl_mock_server()
    args = [*pbm(pki, server), "-cmd", "genm"]
    if infotype is not None:
        args += ["-infotype", infotype]
    ours = cmpkit(*args, cwd=work)
    theirs = openssl(openssl_bin, *args, cwd=work)
    assert ours.returncode == theirs.returncode == 0, ours.stdout + ours.stderr
    expected = (
        ["CMP info: genp contains no ITAV"]
        if infotype is None
        else [f"CMP info: genp contains ITAV of type: id-it-{infotype}"]
    )
    assert _genp_lines(ours.stdout) == _genp_lines(theirs.stdout) == expected


# --- failures -------------------------------------------------------------------------------


def test_server_error_is_one_line_and_leaves_no_file(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server(["-send_error"])
    result = cmpkit(
        *pbm(pki, server), *enroll(pki), "-certout", "out.pem", "-cacertsout", "ca.pem",
        cwd=work,
    )  # fmt: skip
    assert only_error(result).startswith("CMP error: received error: PKIStatus: rejection")
    assert list(work.iterdir()) == []


def test_rejection_keeps_an_earlier_output_file_as_it_was(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server(["-pkistatus", "2", "-failure", "2", "-statusstring", "no"])
    (work / "out.pem").write_text("earlier\n")
    result = cmpkit(*pbm(pki, server), *enroll(pki), "-certout", "out.pem", cwd=work)
    line = only_error(result)
    assert "PKIStatus: rejection; PKIFailureInfo: badRequest" in line and '"no"' in line
    assert [p.name for p in work.iterdir()] == ["out.pem"]
    assert (work / "out.pem").read_text() == "earlier\n"


def test_wrong_secret_fails_on_the_protection_of_the_answer(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server()
    args = pbm(pki, server)
    args[args.index("-secret") + 1] = "pass:wrong"
    result = cmpkit(*args, *enroll(pki), "-certout", "out.pem", cwd=work)
    assert "PBM" in only_error(result)
    assert not (work / "out.pem").exists()


def test_outputs_are_written_all_or_none(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server()
    result = cmpkit(
        *pbm(pki, server), *enroll(pki),
        "-cacertsout", "ca.pem", "-certout", work / "missing" / "out.pem",
        cwd=work,
    )  # fmt: skip
    assert "could not open file" in only_error(result)
    assert list(work.iterdir()) == []


def test_binary_pass_phrase_file_is_a_wrong_pass_phrase(pki: Pki, work: Path) -> None:
    (work / "random.bin").write_bytes(bytes(range(256)) * 4)
    p12 = work / "client.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"client",
            pki.client.key,
            pki.client.cert,
            None,
            serialization.BestAvailableEncryption(b"12345"),
        )
    )
    result = cmpkit(
        "-server", "127.0.0.1:1", "-cert", pki.client.cert_path, "-key", p12,
        "-keypass", "file:random.bin", "-trusted", pki.root.cert_path,
        *enroll(pki), "-certout", "out.pem",
        cwd=work,
    )  # fmt: skip
    assert "wrong pass phrase" in only_error(result)


def test_unreachable_server_fails_quickly(pki: Pki, work: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    result = cmpkit(
        "-server", f"127.0.0.1:{port}", "-ref", pki.ref, "-secret", pki.secret_arg,
        "-recipient", "/CN=CA", *enroll(pki), "-certout", "out.pem",
        cwd=work,
    )  # fmt: skip
    assert time.monotonic() - started < 10
    line = only_error(result)
    assert f"127.0.0.1:{port}" in line and "connect" in line
    assert not (work / "out.pem").exists()


def test_missing_credential_file_is_named(pki: Pki, work: Path) -> None:
    result = cmpkit(
        "-server", "127.0.0.1:1", "-cert", "nosuch.pem", "-key", pki.client.key_path,
        "-trusted", pki.root.cert_path, *enroll(pki), "-certout", "out.pem",
        cwd=work,
    )  # fmt: skip
    assert "'nosuch.pem'" in only_error(result)


def test_option_errors_come_before_any_network_activity(work: Path) -> None:
    result = cmpkit("-server", "127.0.0.1:1", "-cmd", "ir", "-days", "x", cwd=work)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "-days" in result.stderr


# --- message files -------------------------------------------------------------------------


def test_reqout_rspout_then_rspin_replays_without_a_server(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server()
    result = cmpkit(
        *pbm(pki, server), *enroll(pki), "-certout", "first.pem",
        "-reqout", "ir.der certConf.der", "-rspout", "ip.der,pkiConf.der",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {name: body_kind((work / name).read_bytes()) for name in
             ("ir.der", "certConf.der", "ip.der", "pkiConf.der")}  # fmt: skip
    assert kinds == {
        "ir.der": "ir", "certConf.der": "certConf", "ip.der": "ip", "pkiConf.der": "pkiconf"
    }  # fmt: skip
    server.stop()

    replay = pbm(pki, server)[2:]  # no -server: the responses come from the files
    result = cmpkit(
        *replay, *enroll(pki), "-certout", "replayed.pem", "-rspin", "ip.der pkiConf.der",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (work / "replayed.pem").read_bytes() == (work / "first.pem").read_bytes()


@pytest.mark.parametrize("new_tid", [False, True])
def test_reqin_sends_recorded_requests_again(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path, new_tid: bool
) -> None:
    # As openssl cmp >= 3.0.9, the recorded certConf gets the recipNonce the
    # server expects (and with -reqin_new_tid the transaction's ID), and is
    # protected again.
    server = openssl_mock_server()
    args = [*pbm(pki, server), *enroll(pki), "-certout", "out.pem"]
    result = cmpkit(*args, "-reqout", "ir.der certConf.der", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    extra = ["-reqin_new_tid"] if new_tid else []
    result = cmpkit(*args, "-reqin", "ir.der certConf.der", *extra, cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rspin_running_out_without_a_server_is_an_error(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server()
    result = cmpkit(
        *pbm(pki, server), *enroll(pki), "-certout", "x.pem", "-rspout", "ip.der", cwd=work
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = cmpkit(
        *pbm(pki, server)[2:], *enroll(pki), "-certout", "y.pem", "-rspin", "ip.der",
        cwd=work,
    )  # fmt: skip
    assert "rspin" in only_error(result)
    assert not (work / "y.pem").exists()


# --- verbosity ------------------------------------------------------------------------------


def test_verbosity_3_prints_errors_only(
    openssl_mock_server: MockServerFactory, pki: Pki, work: Path
) -> None:
    server = openssl_mock_server()
    result = cmpkit(
        *pbm(pki, server), *enroll(pki), "-certout", "out.pem", "-verbosity", "3", cwd=work
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    result = cmpkit(
        "-server", server.address, "-secret", "pass:wrong", "-ref", pki.ref,
        "-recipient", "/CN=CA", *enroll(pki), "-certout", "out.pem", "-verbosity", "3",
        cwd=work,
    )  # fmt: skip
    only_error(result)
    assert result.stdout == ""


def test_trace_verbosity_still_ends_with_the_error_line(pki: Pki, work: Path) -> None:
    result = cmpkit(
        "-server", "127.0.0.1:1", "-ref", "x", "-secret", "pass:x", "-recipient", "/CN=CA",
        *enroll(pki), "-certout", "out.pem", "-verbosity", "8",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 1
    assert error_lines(result)[-1].startswith("CMP error: ")
