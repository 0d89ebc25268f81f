"""cmpkit's own options for many transactions: ``-batch_file``, ``-concurrency``,
``-stats`` and ``-progress``; and plain ``-repeat`` kept as ``openssl cmp`` has it.

End to end, ``cmpkit`` runs as a program against its in-process mock CA
(``-use_mock_srv`` without credentials generates one that issues what is
asked) and against cmpkit's mock CA over HTTP, started in this process.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from openssl_harness import Pki
from test_cli_run import _env, cmpkit

from cmp.batch import BatchStats
from cmp.cli import (
    Log,
    build_options,
    check_options,
    cli_main,
    format_help,
    parse_command_line,
)
from cmp.cli_batch import (
    BatchDefaults,
    BatchFileError,
    ProgressBar,
    parse_batch_line,
    read_batch_file,
    split_fields,
    stats_report,
)
from cmp.options import EXTENSIONS, OPTIONS
from cmp.server import MockServer, MockServerConfig

PEM = serialization.Encoding.PEM
SECRET = "batch-test-secret"
STATS = re.compile(
    r"^CMP stats: (?P<count>\d+) (?:enrollment|transaction)s? \((?P<ok>\d+) ok,"
    r" (?P<failed>\d+) failed\) in [\d.]+ s: (?P<rate>[\d.]+)/s$",
    re.MULTILINE,
)
LATENCY = re.compile(
    r"^CMP stats: latency p50 (?P<p50>[\d.]+) ms, p90 (?P<p90>[\d.]+) ms,"
    r" p99 (?P<p99>[\d.]+) ms, max (?P<max>[\d.]+) ms \(min (?P<min>[\d.]+) ms,"
    r" mean [\d.]+ ms\)$",
    re.MULTILINE,
)


def openssl(openssl_bin: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [openssl_bin, "cmp", "-config", "", *map(str, args)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_env(),
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def write_batch(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def only_cert(path: Path) -> x509.Certificate:
    (cert,) = x509.load_pem_x509_certificates(path.read_bytes())
    return cert


def cn(cert: x509.Certificate) -> str:
    (attr,) = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attr.value)


def stats_of(stdout: str) -> dict[str, float]:
    """The figures of the ``CMP stats:`` lines (milliseconds for latencies)."""
    counts = STATS.search(stdout)
    latency = LATENCY.search(stdout)
    assert counts is not None and latency is not None, stdout
    figures = {k: float(v) for k, v in counts.groupdict().items()}
    figures.update({k: float(v) for k, v in latency.groupdict().items()})
    return figures


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("CMP error: ")]


def mock_srv_with_pki(pki: Pki) -> list[str]:
    """``-use_mock_srv`` with the test PKI's credentials (as OpenSSL needs them)."""
    return [
        "-use_mock_srv",
        "-srv_ref", pki.srv_ref, "-srv_secret", pki.secret_arg,
        "-srv_cert", str(pki.server.cert_path), "-srv_key", str(pki.server.key_path),
        "-srv_trusted", str(pki.root.cert_path),
        "-rsp_cert", str(pki.enrolled.cert_path), "-rsp_capubs", str(pki.root.cert_path),
        "-ref", pki.ref, "-secret", pki.secret_arg,
        "-cmd", "ir", "-newkey", str(pki.new_key_path), "-subject", pki.enrolled.subject_arg,
    ]  # fmt: skip


# --- the batch file format ----------------------------------------------------------------------


def test_fields_split_at_white_space_and_quotes_keep_it() -> None:
    assert split_fields('  "/CN=John Smith/O=A\\/B"  certout="my certs/j.pem"\tsans=a,b ') == [
        "/CN=John Smith/O=A\\/B",
        "certout=my certs/j.pem",
        "sans=a,b",
    ]
    assert split_fields('""') == [""]
    with pytest.raises(ValueError, match="not closed"):
        split_fields('"/CN=open')


def test_a_line_names_subject_key_and_output_files() -> None:
    line = parse_batch_line(
        "/CN=host1/O=Acme newkey=k.pem certout=c.pem chainout=ch.pem sans=h1.example,10.0.0.1",
        7,
        BatchDefaults(),
    )
    assert line is not None
    assert line.number == 7
    assert line.subject == x509.Name.from_rfc4514_string("O=Acme,CN=host1")
    assert (line.newkey, line.certout, line.chainout) == ("k.pem", "c.pem", "ch.pem")
    assert line.sans is not None and len(line.sans) == 2


def test_missing_fields_come_from_the_command_line_with_placeholders() -> None:
    defaults = BatchDefaults(newkey="keys/{cn}.key", certout="certs/{n}-{cn}.pem")
    line = parse_batch_line('"/O=Acme/CN=web server:1"', 3, defaults)
    assert line is not None
    assert (line.newkey, line.certout) == ("keys/web_server_1.key", "certs/3-web_server_1.pem")
    # -newkey without a placeholder is one key for every line, loaded once.
    line = parse_batch_line("/CN=x", 4, BatchDefaults(newkey="one.key", certout="{n}.pem"))
    assert line is not None and line.newkey is None and line.certout == "4.pem"


@pytest.mark.parametrize("text", ["", "   ", "# a comment", "  # indented comment"])
def test_blank_and_comment_lines_are_skipped(text: str) -> None:
    assert parse_batch_line(text, 1, BatchDefaults()) is None


@pytest.mark.parametrize(
    ("text", "defaults", "reason"),
    [
        ("CN=x certout=c", BatchDefaults(have_key=True), "expected the subject"),
        ("/CN=x c.pem", BatchDefaults(have_key=True), "expected name=value, not 'c.pem'"),
        ("/CN=x color=red certout=c", BatchDefaults(have_key=True), "unknown field 'color='"),
        ("/CN=x certout=a certout=b", BatchDefaults(have_key=True), "given twice"),
        ("newkey=k certout=c", BatchDefaults(), "no subject"),
        ("/CN=x newkey=k", BatchDefaults(), "no certout= and no -certout"),
        ("/CN=x certout=c", BatchDefaults(), "no newkey= and no -newkey, -key or -csr"),
        ("/O=x", BatchDefaults(certout="{cn}.pem", have_key=True), "subject has no CN"),
        ("/CN=x/junk certout=c", BatchDefaults(have_key=True), "junk"),
        ('"/CN=x certout=c', BatchDefaults(have_key=True), "not closed"),
    ],
)
def test_malformed_lines_say_why(text: str, defaults: BatchDefaults, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_batch_line(text, 1, defaults)


def test_the_file_is_checked_whole_with_line_numbers(tmp_path: Path) -> None:
    batch = write_batch(tmp_path / "b.txt", ["# head", "/CN=a certout=a.pem", "", "/CN=b"])
    lines = read_batch_file(str(batch), BatchDefaults(certout="{cn}.pem", have_key=True))
    assert [(line.number, line.certout) for line in lines] == [(2, "a.pem"), (4, "b.pem")]
    write_batch(batch, ["/CN=a", "/CN=b", "/CN=a"])
    with pytest.raises(BatchFileError) as info:
        read_batch_file(str(batch), BatchDefaults(certout="{cn}.pem", have_key=True))
    assert (
        str(info.value)
        == f"batch file '{batch}' line 3: certout 'a.pem' is also the certout of line 1"
    )
    # A key to be generated may not be shared either; an existing one may.
    write_batch(batch, ["/CN=a newkey=k.pem", "/CN=b newkey=k.pem"])
    with pytest.raises(
        BatchFileError, match=r"line 2: newkey 'k\.pem' is also the newkey of line 1"
    ):
        read_batch_file(str(batch), BatchDefaults(certout="{n}.pem"))
    (tmp_path / "shared.pem").write_text("")
    write_batch(
        batch, [f"/CN=a newkey={tmp_path}/shared.pem", f"/CN=b newkey={tmp_path}/shared.pem"]
    )
    assert len(read_batch_file(str(batch), BatchDefaults(certout="{n}.pem"))) == 2
    batch.write_bytes(b"/CN=a\n/CN=\xff\n")
    with pytest.raises(BatchFileError, match="line 2: not UTF-8"):
        read_batch_file(str(batch), BatchDefaults(certout="{n}.pem", have_key=True))


# --- statistics and progress -----------------------------------------------------------------


def test_stats_report_counts_percentiles_and_failures_by_kind() -> None:
    ticks = itertools.count()
    stats = BatchStats(clock=lambda: float(next(ticks)))
    for ms in range(1, 101):
        stats.record_outcome(None, ms / 1000)
    stats.record_outcome(TimeoutError(), 0.5)
    stats.record_outcome(ValueError())  # failed before it was sent: no latency
    count, latency, failed = stats_report(stats, "enrollments")
    assert count == "102 enrollments (100 ok, 2 failed) in 102.00 s: 1.0/s"
    p50, p90, p99 = (float(x) for x in re.findall(r"p\d\d ([\d.]+) ms", latency))
    assert 50.5 < p50 < 51.5 and 90.5 < p90 < 91.5 and 99.5 < p99 < 100.5  # within 0.5 %
    assert latency.endswith(", max 500.00 ms (min 1.00 ms, mean 54.95 ms)")
    assert failed == "failed: 1 TimeoutError, 1 ValueError"
    one = BatchStats()
    one.record_outcome(None, 0.001)
    assert stats_report(one)[0].startswith("1 transaction (1 ok, 0 failed)")


def test_progress_bar_redraws_one_line_and_clears_for_messages() -> None:
    out = io.StringIO()
    now = [0.0]
    bar = ProgressBar(out, 20, width=10, clock=lambda: now[0])
    bar.update(5, 1, 1.0)
    assert out.getvalue() == "\r[##........] 5/20  25% 5.0/s 1 failed eta 0:03\x1b[K"
    bar.update(6, 1, 1.1)  # too soon: not drawn
    assert out.getvalue().count("\r") == 1
    bar.clear()
    assert out.getvalue().endswith("\r\x1b[K")
    now[0] = 0.05
    bar.update(20, 1, 2.0)  # drawn again at once after a clear
    bar.close()
    assert out.getvalue().endswith("\r[##########] 20/20 100% 10.0/s 1 failed\x1b[K\n")


# --- options --------------------------------------------------------------------------------------


def test_extensions_are_listed_apart_from_openssls_options() -> None:
    assert not set(EXTENSIONS) & set(OPTIONS)
    ours = format_help()
    assert "\ncmpkit extensions (options not in openssl cmp):\n -batch_file infile " in ours
    for name in ("batch_file", "concurrency", "stats", "progress"):
        assert f"\n -{name} " in ours
        assert f"\n -{name} " not in format_help("cmp")  # OpenSSL's own list
    assert ours.startswith(format_help("cmpkit", extensions=False))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["-cmd", "kur", "-batch_file", "b.txt"],
            "-batch_file works with -cmd ir and cr, not 'kur'",
        ),
        (["-cmd", "ir", "-batch_file", "b.txt", "-repeat", "2"], "cannot be combined with -repeat"),
        (["-cmd", "ir", "-batch_file", "b.txt", "-rspout", "r.der"], "-rspout cannot be used"),
        (["-cmd", "genm", "-repeat", "3", "-concurrency", "2"], "not 'genm'"),
        (["-cmd", "ir", "-repeat", "3", "-concurrency", "2", "-reqout", "r"], "-reqout cannot"),
        (["-cmd", "ir", "-concurrency", "0"], 'Non-positive number "0" for option -concurrency'),
    ],
)
def test_option_conflicts_are_one_line_before_anything_is_done(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli_main(["-config", "", "-server", "127.0.0.1:1", *argv]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("cmpkit: ") and message in err


def test_extensions_are_command_line_only(tmp_path: Path) -> None:
    config = tmp_path / "c.cnf"
    config.write_text("[cmp]\nbatch_file = b.txt\nconcurrency = 0\nrepeat = 3\n")
    options = build_options(parse_command_line(["-config", str(config), "-progress"]))
    assert options["repeat"] == 3
    assert (options["batch_file"], options["concurrency"]) == (None, None)
    assert (options["progress"], options["stats"]) == (True, False)


def test_the_mock_server_ignores_them() -> None:
    stream = io.StringIO()
    options = build_options(
        parse_command_line(["-config", "", "-port", "0", "-batch_file", "b.txt"]), log=Log()
    )
    check_options(options, Log(stream=stream))
    assert options["batch_file"] is None
    assert stream.getvalue() == "CMP warning: ignoring -batch_file since -port is given\n"


# --- batches against the generated mock CA ------------------------------------------------------


def test_batch_of_20_enrolls_each_subject_with_its_own_key(work: Path) -> None:
    subjects = [f"/O=Acme/CN=device {i}" for i in range(1, 21)]
    batch = write_batch(work / "devices.txt", ["# twenty devices", *[f'"{s}"' for s in subjects]])
    (work / "keys").mkdir()
    (work / "certs").mkdir()
    result = cmpkit(
        "-use_mock_srv", "-cmd", "ir", "-batch_file", batch,
        "-newkey", "keys/{n}.key", "-certout", "certs/{cn}.pem", "-cacertsout", "ca.pem",
        "-concurrency", "4",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert "\r" not in result.stderr  # no progress bar: stderr is not a terminal
    ca = only_cert(work / "ca.pem")
    for number, subject in enumerate(subjects, 2):
        name = subject.rsplit("=", 1)[1].replace(" ", "_")
        cert = only_cert(work / "certs" / f"{name}.pem")
        key_path = work / "keys" / f"{number}.key"
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert cert.subject == x509.Name.from_rfc4514_string(f"CN={name.replace('_', ' ')},O=Acme")
        assert cert.public_key() == key.public_key()
        assert key_path.stat().st_mode & 0o777 == 0o600
        cert.verify_directly_issued_by(ca)
        assert (
            f"CMP info: line {number}: saved the certificate to 'certs/{name}.pem'" in result.stdout
        )
    assert len({only_cert(p).serial_number for p in (work / "certs").iterdir()}) == 20
    figures = stats_of(result.stdout)
    assert (figures["count"], figures["ok"], figures["failed"]) == (20, 20, 0)
    assert figures["rate"] > 0
    assert (
        0 < figures["min"] <= figures["p50"] <= figures["p90"] <= figures["p99"] <= figures["max"]
    )
    # Messages are DEBUG when side by side; the mock server's INFO too.
    assert "sending IR" not in result.stdout and "issued certificate" not in result.stdout


def test_failed_lines_do_not_stop_the_batch_and_leave_no_files(work: Path) -> None:
    (work / "broken.key").write_text("not a key\n")
    batch = write_batch(
        work / "b.txt",
        ["/CN=one", "/CN=two newkey=broken.key", "/CN=three newkey=broken.key/k.pem", "/CN=four"],
    )
    result = cmpkit(
        "-use_mock_srv", "-cmd", "cr", "-batch_file", batch,
        "-newkey", "{cn}.key", "-certout", "{cn}.pem",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 1
    assert error_lines(result) == [
        "CMP error: line 2 (/CN=two): cannot load new private key for cert to be enrolled"
        " from 'broken.key': not a PEM, DER or PKCS#12 private key file",
        "CMP error: line 3 (/CN=three): cannot create the folder of 'broken.key/k.pem':"
        " File exists",
        "CMP error: 2 of 4 enrollments failed",
    ]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in work.iterdir()) == [
        "b.txt", "broken.key", "four.key", "four.pem", "one.key", "one.pem",
    ]  # fmt: skip
    figures = stats_of(result.stdout)
    assert (figures["count"], figures["ok"], figures["failed"]) == (4, 2, 2)
    assert "CMP stats: failed: 1 CredentialError, 1 RunError" in result.stdout


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["/CN=ok", "/CN=x bogus"], "line 2: expected name=value, not 'bogus'"),
        (["/CN=ok", "", "CN=x"], "line 3: expected the subject (/type0=value0/...), not 'CN=x'"),
        (["/CN=a", "/CN=a"], "line 2: certout 'a.pem' is also the certout of line 1"),
        (["/CN=x/bad"], "line 1: Missing '=' after RDN type string 'bad' in subject name"),
    ],
)
def test_a_malformed_batch_file_is_one_error_before_anything_is_sent(
    work: Path, lines: list[str], expected: str
) -> None:
    batch = write_batch(work / "b.txt", lines)
    result = cmpkit(
        "-server", "127.0.0.1:1", "-ref", "r", "-secret", "pass:s", "-recipient", "/CN=CA",
        "-cmd", "ir", "-batch_file", batch, "-newkey", "{cn}.key", "-certout", "{cn}.pem",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert error_lines(result) == result.stderr.splitlines()
    (line,) = error_lines(result)
    assert line.startswith(f"CMP error: batch file '{batch}' {expected}"), line
    assert [p.name for p in work.iterdir()] == ["b.txt"]


def test_progress_bar_is_drawn_on_request(work: Path) -> None:
    batch = write_batch(work / "b.txt", [f"/CN=p{i}" for i in range(20)])
    result = subprocess.run(
        [
            sys.executable, "-m", "cmp", "-config", "", "-use_mock_srv", "-cmd", "ir",
            "-batch_file", batch, "-newkey", "{cn}.key", "-certout", "{cn}.pem",
            "-progress", "-verbosity", "4",
        ],
        cwd=work, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, env=_env(),
        check=False,
    )  # fmt: skip
    stderr = result.stderr.decode()  # as written: "\r" stays "\r"
    assert result.returncode == 0, stderr
    assert stderr.startswith("\r[")
    assert "\r[########################] 20/20 100% " in stderr
    assert stderr.endswith("\x1b[K\n") and stderr.count("\n") == 1
    assert result.stdout.decode().startswith("CMP stats: 20 enrollments (20 ok, 0 failed)")


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``cmpkit`` with stderr on a pseudo-terminal: the exit status and
    what it wrote there."""
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "cmp", "-config", "", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            env=_env(),
        )
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other side is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        status = process.wait(60)
    finally:
        os.close(master)
    return status, b"".join(chunks).decode()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_bar_is_automatic_on_a_terminal(work: Path) -> None:
    batch = write_batch(work / "b.txt", [f"/CN=t{i}" for i in range(10)])
    common = ["-use_mock_srv", "-cmd", "ir", "-batch_file", str(batch), "-newkey", "{cn}.key"]
    status, shown = _run_on_a_terminal([*common, "-certout", "{cn}.pem"], work)
    assert status == 0
    assert "\r[########################] 10/10 100%" in shown
    # Not at -verbosity 3 (errors only).
    status, shown = _run_on_a_terminal([*common, "-certout", "q{cn}.pem", "-verbosity", "3"], work)
    assert status == 0 and shown == ""


# --- over HTTP ---------------------------------------------------------------------------------


class _Refusing(MockServer):
    """A mock CA that answers requests for a subject with "reject" in it with an error."""

    def __init__(self, config: MockServerConfig) -> None:
        super().__init__(config)
        self._refuse = MockServer(dataclasses.replace(config, send_error=True))

    def handle(self, request: bytes) -> bytes:
        if b"reject" in request:
            return self._refuse.handle(request)
        return super().handle(request)


@pytest.fixture(scope="module")
def http_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """cmpkit's mock CA over HTTP: its URL and its certificate's file."""
    config = MockServerConfig.generate(secret=SECRET.encode())
    assert config.srv_cert is not None
    ca_path = tmp_path_factory.mktemp("http-ca") / "ca.pem"
    ca_path.write_bytes(config.srv_cert.public_bytes(PEM))
    with _Refusing(config).start_background(port=0) as running:
        yield running.url, ca_path


def test_batch_over_http_reports_the_lines_the_ca_rejects(
    work: Path, http_ca: tuple[str, Path]
) -> None:
    url, ca_path = http_ca
    names = [f"reject-{i}" if i in (5, 13) else f"host-{i}" for i in range(1, 21)]
    batch = write_batch(work / "b.txt", [f"/CN={name} sans={name}.example" for name in names])
    result = cmpkit(
        "-server", url, "-ref", "batch", "-secret", f"pass:{SECRET}", "-srvcert", ca_path,
        "-cmd", "ir", "-batch_file", batch, "-newkey", "{cn}.key", "-certout", "{cn}.pem",
        "-chainout", "{cn}.chain.pem", "-concurrency", "6",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 1
    errors = error_lines(result)
    assert len(errors) == 3
    for error, number in zip(errors, (5, 13)):
        assert error.startswith(
            f"CMP error: line {number} (/CN=reject-{number}): received error: PKIStatus: rejection"
        ), error
    assert errors[2] == "CMP error: 2 of 20 enrollments failed"
    ca = only_cert(ca_path)
    for name in names:
        if name.startswith("reject"):
            assert not any(p.name.startswith(name) for p in work.iterdir())
            continue
        cert = only_cert(work / f"{name}.pem")
        assert cn(cert) == name
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [f"{name}.example"]
        cert.verify_directly_issued_by(ca)
        key = serialization.load_pem_private_key((work / f"{name}.key").read_bytes(), None)
        assert cert.public_key() == key.public_key()
        assert (work / f"{name}.chain.pem").exists()
    figures = stats_of(result.stdout)
    assert (figures["count"], figures["ok"], figures["failed"]) == (20, 18, 2)
    assert figures["p50"] <= figures["p90"] <= figures["p99"] <= figures["max"]
    assert "CMP stats: failed: 2 ServerError" in result.stdout


def test_concurrent_repeat_over_http(work: Path, http_ca: tuple[str, Path]) -> None:
    url, ca_path = http_ca
    key = ec.generate_private_key(ec.SECP256R1())
    (work / "same.key").write_bytes(
        key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    result = cmpkit(
        "-server", url, "-ref", "batch", "-secret", f"pass:{SECRET}", "-srvcert", ca_path,
        "-cmd", "ir", "-subject", "/CN=same", "-newkey", "same.key", "-certout", "same.pem",
        "-repeat", "12", "-concurrency", "4",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("saving to file 'same.pem'") == 12
    figures = stats_of(result.stdout)
    assert (figures["count"], figures["ok"], figures["failed"]) == (12, 12, 0)
    assert only_cert(work / "same.pem").public_key() == key.public_key()


# --- -repeat as in OpenSSL ------------------------------------------------------------------------


def _outputs(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


@pytest.mark.parametrize("extra", [[], ["-send_error"]], ids=["accepted", "rejected"])
def test_repeat_5_does_what_openssl_does(
    openssl_bin: str, pki: Pki, work: Path, extra: list[str]
) -> None:
    # Sequential; each time the same files are written; the first failure ends it.
    args = [*mock_srv_with_pki(pki), *extra, "-certout", "out.pem", "-cacertsout", "ca.pem"]
    runs = {}
    logs = {}
    for client in ("cmpkit", "openssl"):
        directory = work / client
        directory.mkdir()
        if client == "cmpkit":
            result = cmpkit(*args, "-repeat", "5", cwd=directory)
        else:
            result = openssl(openssl_bin, *args, "-repeat", "5", cwd=directory)
        log = logs[client] = result.stdout + result.stderr
        runs[client] = (
            result.returncode,
            log.count("CMP info: sending IR"),
            log.count("saving to file 'out.pem'"),
            _outputs(directory),
        )
    assert runs["cmpkit"] == runs["openssl"]
    expected = (1, 1, 0) if extra else (0, 5, 5)
    assert runs["cmpkit"][:3] == expected
    assert "CMP stats" not in logs["cmpkit"]


def test_repeat_with_concurrency_writes_what_plain_repeat_writes(pki: Pki, work: Path) -> None:
    args = [*mock_srv_with_pki(pki), "-certout", "out.pem", "-cacertsout", "ca.pem"]
    (work / "plain").mkdir()
    (work / "side").mkdir()
    plain = cmpkit(*args, "-repeat", "5", "-stats", cwd=work / "plain")
    side = cmpkit(*args, "-repeat", "5", "-concurrency", "3", cwd=work / "side")
    assert plain.returncode == side.returncode == 0, side.stdout + side.stderr
    assert _outputs(work / "plain") == _outputs(work / "side")
    for result in (plain, side):
        figures = stats_of(result.stdout)
        assert (figures["count"], figures["ok"]) == (5, 5)
        assert result.stdout.count("saving to file 'out.pem'") == 5
    assert plain.stdout.count("CMP info: sending IR") == 5  # OpenSSL's log as it is
    assert "CMP info: sending IR" not in side.stdout  # side by side: DEBUG


def test_repeat_with_concurrency_goes_on_after_failures(pki: Pki, work: Path) -> None:
    result = cmpkit(
        *mock_srv_with_pki(pki), "-send_error", "-certout", "out.pem",
        "-repeat", "4", "-concurrency", "2",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 1
    errors = error_lines(result)
    assert [e.split(":")[1] for e in errors[:4]] == [f" transaction {n}" for n in range(1, 5)]
    assert errors[4] == "CMP error: 4 of 4 transactions failed"
    assert list(work.iterdir()) == []
    assert "CMP stats: failed: 4 ServerError" in result.stdout


def test_stats_of_a_single_transaction(work: Path) -> None:
    result = cmpkit(
        "-use_mock_srv", "-cmd", "ir", "-subject", "/CN=one", "-newkey", "one.key",
        "-certout", "one.pem", "-stats", "-verbosity", "3",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CMP stats: 1 transaction (1 ok, 0 failed) in ")
    assert stats_of(result.stdout)["count"] == 1


def test_missing_output_folders_are_created_before_enrolling(work: Path) -> None:
    batch = write_batch(work / "b.txt", ["/CN=one", "/CN=two certout=deep/er/two.pem"])
    result = cmpkit(
        "-use_mock_srv", "-cmd", "ir", "-batch_file", batch,
        "-newkey", "keys/{cn}.key", "-certout", "certs/{cn}.pem",
        cwd=work,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for cert, key in [("certs/one.pem", "keys/one.key"), ("deep/er/two.pem", "keys/two.key")]:
        private = serialization.load_pem_private_key((work / key).read_bytes(), None)
        assert only_cert(work / cert).public_key() == private.public_key()


def test_output_modes_follow_the_umask_the_run_started_with(work: Path) -> None:
    batch = write_batch(work / "b.txt", ["/CN=one", "/CN=two"])
    result = subprocess.run(
        [sys.executable, "-m", "cmp", "-config", "",
         "-use_mock_srv", "-cmd", "ir", "-batch_file", str(batch), "-concurrency", "2",
         "-newkey", "keys/{cn}.key", "-certout", "certs/{cn}.pem", "-cacertsout", "ca.pem"],
        cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120, check=False, env=_env(), umask=0o027,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    modes = {p: (work / p).stat().st_mode & 0o777 for p in ("keys", "certs", "ca.pem")}
    assert modes == {"keys": 0o750, "certs": 0o750, "ca.pem": 0o640}
    for name in ("one", "two"):
        assert (work / "keys" / f"{name}.key").stat().st_mode & 0o777 == 0o600
        assert (work / "certs" / f"{name}.pem").stat().st_mode & 0o777 == 0o640


def test_a_batch_never_sets_the_umask_while_its_threads_write(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Setting it, even back at once, would leave the other threads, for an
    # instant, creating folders and files with no umask at all.
    from cmp import cli_run

    def umask(mask: int) -> int:
        raise AssertionError(f"os.umask({mask:#o}) called while running")

    monkeypatch.setattr(os, "umask", umask)
    monkeypatch.chdir(work)
    batch = write_batch(work / "b.txt", ["/CN=one", "/CN=two", "/CN=three"])
    status = cli_main([
        "-config", "", "-use_mock_srv", "-cmd", "ir", "-batch_file", str(batch),
        "-concurrency", "3", "-newkey", "keys/{cn}.key", "-certout", "certs/{cn}.pem",
        "-chainout", "chains/{cn}.pem", "-cacertsout", "ca.pem",
    ])  # fmt: skip
    assert status == 0
    assert (work / "ca.pem").stat().st_mode & 0o777 == 0o666 & ~cli_run._UMASK
    for name in ("one", "two", "three"):
        assert (work / "keys" / f"{name}.key").stat().st_mode & 0o777 == 0o600
        for folder in ("certs", "chains"):
            assert (work / folder / f"{name}.pem").stat().st_mode & 0o777 == 0o666 & ~cli_run._UMASK


def test_batch_lines_load_their_keys_outside_the_event_loop(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key file's pass phrase derivation may take long: in the batch's event
    # loop it would stall every transaction in flight.
    import asyncio

    from cmp import cli_run

    in_loop: list[bool] = []
    real = cli_run._line_key

    def line_key(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            in_loop.append(True)
        except RuntimeError:
            in_loop.append(False)
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_run, "_line_key", line_key)
    monkeypatch.chdir(work)
    batch = write_batch(work / "b.txt", ["/CN=one", "/CN=two", "/CN=three"])
    status = cli_main([
        "-config", "", "-use_mock_srv", "-cmd", "ir", "-batch_file", str(batch),
        "-concurrency", "3", "-newkey", "{cn}.key", "-certout", "{cn}.pem",
    ])  # fmt: skip
    assert status == 0
    assert in_loop == [False, False, False]
