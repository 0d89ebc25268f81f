"""OpenSSL's CMP conformance matrix (``test/recipes/80-test_cmp_http.t``), runnable
against any client and server that speak ``openssl cmp``'s command line.

The data lives outside the repository, in ``../shared/conformance/openssl``
(see the README there); nothing of it is copied into the project. A run:

1. copies ``mock/`` to a scratch folder named ``Mock`` together with the
   chosen set's ``server.cnf`` and ``test.cnf``;
2. starts the server there (``<server> -config server.cnf``) and reads the
   port from the ``ACCEPT <host>:<port> PID=<pid>`` line it prints;
3. reads the harness keys (``ca_dn``, ``server_port``, ``pbm_ref``, ...) from
   section ``[Mock]`` of ``test.cnf``, then from each aspect's section;
4. turns every CSV line of the aspects, in OpenSSL's order, into one client
   invocation as OpenSSL's Perl harness does (substitutions, ``-no_proxy``,
   ``-proxy ""``, ``-certout``, ``-config``/``-section``; cells split on
   commas, empty cells dropped, ``BLANK`` dropped, a cell of four double quotes an
   empty argument) and runs it inside ``Mock`` with no standard input;
5. compares the exit status with the expected column: ``1`` = success
   (exit 0), ``0`` = failure (non-zero).

The harness keys are read with the same line patterns as the Perl harness
(not with cmpkit's config parser: the runner judges cmpkit and must not
depend on it). A key that is empty becomes an empty argument, as in OpenSSL,
so that e.g. ``-ref,_PBM_REF`` with ``pbm_ref =`` stays ``-ref ""``.

Run it directly to see every row::

    python tests/conformance.py --client cmpkit            # vs openssl's server
    python tests/conformance.py --client "openssl cmp" -v  # the reference
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ASPECTS",
    "DEFAULT_CONFORMANCE_DIR",
    "MatrixResult",
    "Row",
    "RowResult",
    "ServerError",
    "load_rows",
    "mock_server",
    "prepare_mock_dir",
    "read_harness_keys",
    "run_matrix",
    "run_row",
]

DEFAULT_CONFORMANCE_DIR = (
    Path(__file__).resolve().parent.parent.parent / "shared" / "conformance" / "openssl"
)
"""``<repo>/../shared/conformance/openssl``: beside the repository, never inside."""

ASPECTS: tuple[str, ...] = ("connection", "verification", "credentials", "commands", "enrollment")
"""The aspects in the order they run; later ones read files earlier ones wrote."""

SERVER_NAME = "Mock"
"""The server configuration: the scratch folder's name and the section of ``test.cnf``."""

HARNESS_KEYS: tuple[str, ...] = (
    "ca_dn",
    "server_dn",
    "server_host",
    "server_port",
    "server_tls",
    "server_path",
    "server_cert",
    "kur_port",
    "pbm_port",
    "pbm_ref",
    "pbm_secret",
    "column",
    "sleep",
)

EMPTY_CELL = '""""'
"""A CSV cell that stands for one empty argument (a shell's ``""``)."""

_PORT_KEYS = ("server_tls", "kur_port", "pbm_port")  # may say $server_port
_SUBSTITUTIONS: tuple[tuple[str, str], ...] = (
    ("_CA_DN", "ca_dn"),
    ("_SERVER_DN", "server_dn"),
    ("_SERVER_HOST", "server_host"),
    ("_SERVER_PORT", "server_port"),
    ("_SERVER_TLS", "server_tls"),
    ("_SERVER_PATH", "server_path"),
    ("_SERVER_CERT", "server_cert"),
    ("_KUR_PORT", "kur_port"),
    ("_PBM_PORT", "pbm_port"),
    ("_PBM_REF", "pbm_ref"),
    ("_PBM_SECRET", "pbm_secret"),
)
_ACCEPT_LINE = re.compile(r"^ACCEPT\s.*:(?P<port>\d+) PID=(?P<pid>\d+)\s*$")
_ENROLL_CMD = re.compile(r",\s*-cmd\s*,\s*(ir|cr|p10cr|kur)\s*,")


class ServerError(RuntimeError):
    """The server under test did not start (no ACCEPT line in time)."""


# --- harness keys ----------------------------------------------------------------------------


def _key_pattern(key: str) -> re.Pattern[str]:
    if key == "server_host":  # its value may be followed by a comment
        return re.compile(rf"^\s*{key}\s*=\s*(\S*)\s*(#.*)?$")
    return re.compile(rf"^\s*{key}\s*=\s*(.*?)\s*$")


_KEY_PATTERNS = {key: _key_pattern(key) for key in HARNESS_KEYS}
_SECTION_HEAD = re.compile(r"\[\s*(.*?)\s*\]")


def read_harness_keys(test_cnf: Path, section: str, keys: dict[str, str]) -> dict[str, str]:
    """``keys`` updated with the harness keys set in ``[section]`` of
    ``test_cnf``. An empty value becomes :data:`EMPTY_CELL`."""
    updated = dict(keys)
    active = False
    for line in test_cnf.read_text().splitlines():
        head = _SECTION_HEAD.search(line)
        if head is not None and line.lstrip().startswith("["):
            active = head.group(1) == section
            continue
        if not active:
            continue
        for key, pattern in _KEY_PATTERNS.items():
            match = pattern.match(line)
            if match is not None:
                updated[key] = match.group(1) or EMPTY_CELL
    return updated


def _resolve_ports(keys: dict[str, str], port: int) -> dict[str, str]:
    resolved = dict(keys)
    resolved["server_port"] = str(port)
    for key in _PORT_KEYS:
        value = resolved.get(key, "$server_port")
        resolved[key] = str(port) if value in ("$server_port", "${server_port}", "0") else value
    return resolved


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a CSV table turned into a client invocation."""

    aspect: str
    line: int
    title: str
    expect_success: bool
    args: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.aspect}:{self.line} {self.title}"

    def command_line(self, client: Sequence[str]) -> str:
        return shlex.join([*client, *self.args])


def _cells(line: str) -> list[str]:
    cells = [c.strip() for c in line.split(",") if c.strip()]
    return ["" if c == EMPTY_CELL else c for c in cells]


def load_rows(
    csv_path: Path,
    aspect: str,
    keys: dict[str, str],
    result_dir: Path,
    *,
    test_cnf: str = f"../{SERVER_NAME}/test.cnf",
) -> list[Row]:
    """The rows of one aspect's CSV table, as OpenSSL's harness builds them."""
    rows: list[Row] = []
    column = int(keys.get("column", "0") or 0)
    for number, raw in enumerate(csv_path.read_text().splitlines(), start=1):
        line = raw.rstrip("\r")
        for placeholder, key in _SUBSTITUTIONS:
            line = line.replace(placeholder, keys[key])
        line = line.replace("_RESULT_DIR", str(result_dir))
        if keys.get("server_tls") == "0" and re.search(r",\s*-tls_used\s*,", line):
            continue
        extra: list[str] = []
        if not re.search(r",\s*-no_proxy\s*,", line) and keys["server_host"] == "127.0.0.1":
            extra += ["-no_proxy", "127.0.0.1"]
        if not re.search(r",\s*-proxy\s*,", line):
            extra += ["-proxy", EMPTY_CELL]
        if aspect != "commands" or _ENROLL_CMD.search(line):
            extra += ["-certout", f"{result_dir}/test.cert.pem"]
        config = ["-config", test_cnf, "-section", f"{SERVER_NAME} {aspect}"]
        line = line.replace("-section,,", ",".join([*config, *extra]) + ",", 1)
        cells = _cells(line)
        if len(cells) <= max(column, 1) or cells[column] not in ("0", "1"):
            continue
        args = [c for c in cells[2:] if c != "BLANK"]
        if "-server" not in args:
            args = ["-server", f"127.0.0.1:{keys['server_port']}", *args]
        rows.append(Row(aspect, number, cells[1], cells[column] == "1", tuple(args)))
    return rows


# --- running -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowResult:
    """What one row's client run gave."""

    row: Row
    returncode: int | None  # None: killed after the row timeout
    seconds: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Whether the exit status is the expected one."""
        if self.returncode is None:
            return False
        return (self.returncode == 0) == self.row.expect_success

    @property
    def reason(self) -> str:
        """A one-line account: the timeout, or the last error line printed."""
        if self.returncode is None:
            return f"timed out after {self.seconds:.1f} s"
        chosen = ""
        for text in (self.stderr, self.stdout):  # an error line, on stderr first
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            errors = [ln for ln in lines if "error" in ln.lower()]
            chosen = errors[-1] if errors else chosen or (lines[-1] if lines else "")
            if errors:
                break
        return f"exit {self.returncode}: {chosen}"[:300]


@dataclass
class MatrixResult:
    """Every row's result, in the order run."""

    client: tuple[str, ...]
    server: tuple[str, ...]
    csv_set: str
    client_name: str = ""
    server_name: str = ""
    results: list[RowResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def failures(self) -> list[RowResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> str:
        client = self.client_name or " ".join(self.client)
        server = self.server_name or " ".join(self.server)
        return (
            f"conformance {self.csv_set} {client} client vs {server} server:"
            f" {self.passed}/{self.total} rows as expected ({self.seconds:.0f} s)"
        )

    def report(self) -> str:
        """The summary and one line per row not as expected."""
        lines = [self.summary()]
        for r in self.failures:
            want = "success" if r.row.expect_success else "failure"
            lines.append(f"  {r.row.name!r}: expected {want}, {r.reason}")
        return "\n".join(lines)


def prepare_mock_dir(conformance_dir: Path, csv_set: str, scratch: Path) -> Path:
    """``scratch/Mock``: a fresh copy of ``mock/`` with the set's config files."""
    mock_dir = scratch / SERVER_NAME
    if mock_dir.exists():
        shutil.rmtree(mock_dir)
    shutil.copytree(conformance_dir / "mock", mock_dir)
    for name in ("server.cnf", "test.cnf"):
        shutil.copy(conformance_dir / csv_set / name, mock_dir / name)
    return mock_dir


def _client_env(env: dict[str, str] | None) -> dict[str, str]:
    base = dict(os.environ if env is None else env)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "OPENSSL_CONF"):
        base.pop(name, None)
    return base


@contextmanager
def mock_server(
    command: Sequence[str],
    mock_dir: Path,
    *,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> Iterator[int]:
    """Run ``<command> -config server.cnf`` in ``mock_dir``; yields its port.

    Its output goes to ``server.log`` beside it (never into a pipe that
    could fill up). The server is killed on exit.
    """
    log_path = mock_dir.parent / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "-config", "server.cnf"],
            cwd=mock_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_client_env(env),
            start_new_session=True,
        )
    try:
        port = _await_accept(process, log_path, timeout)
        yield port
    finally:
        _stop(process)


def _await_accept(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_path.read_text(errors="replace").splitlines():
            match = _ACCEPT_LINE.match(line)
            if match is not None:
                return int(match["port"])
        if process.poll() is not None:
            break
        time.sleep(0.05)
    output = log_path.read_text(errors="replace")[-2000:]
    raise ServerError(
        f"server {process.args!r} gave no ACCEPT line (exit status {process.poll()}):\n{output}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(5)
    except (subprocess.TimeoutExpired, ProcessLookupError, PermissionError):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait(5)


def run_row(
    row: Row,
    client: Sequence[str],
    mock_dir: Path,
    *,
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> RowResult:
    """Run the client for one row inside ``mock_dir`` with no standard input."""
    start = time.monotonic()
    process = subprocess.Popen(
        [*client, *row.args],
        cwd=mock_dir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_client_env(env),
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _stop(process)
        out, err = process.communicate()
        code = None
    return RowResult(
        row,
        code,
        time.monotonic() - start,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
    )


def run_matrix(
    client: Sequence[str],
    scratch: Path,
    *,
    server: Sequence[str] = ("openssl", "cmp"),
    conformance_dir: Path = DEFAULT_CONFORMANCE_DIR,
    csv_set: str = "csv-3.0",
    aspects: Sequence[str] = ASPECTS,
    row_timeout: float = 30.0,
    env: dict[str, str] | None = None,
    select: Callable[[Row], bool] | None = None,
    on_result: Callable[[RowResult], None] | None = None,
    client_name: str = "",
    server_name: str = "",
) -> MatrixResult:
    """Run the matrix with ``client`` (e.g. ``["openssl", "cmp"]`` or
    ``["cmpkit"]``) against ``server`` started in ``scratch/Mock``.

    ``select`` picks rows to run (all by default; rows left out are not
    counted); ``on_result`` sees each result as it comes. ``client_name``
    and ``server_name`` are how the summary calls them (default: the
    commands, ``openssl`` for an ``.../openssl cmp`` command).
    """
    started = time.monotonic()
    scratch.mkdir(parents=True, exist_ok=True)
    mock_dir = prepare_mock_dir(conformance_dir, csv_set, scratch)
    result_dir = scratch / "results"
    if result_dir.exists():
        shutil.rmtree(result_dir)
    result_dir.mkdir()
    test_cnf = mock_dir / "test.cnf"
    matrix = MatrixResult(
        tuple(client),
        tuple(server),
        csv_set,
        client_name or _display_name(client),
        server_name or _display_name(server),
    )
    with mock_server(server, mock_dir, env=env) as port:
        base = _resolve_ports(read_harness_keys(test_cnf, SERVER_NAME, {}), port)
        for aspect in aspects:
            keys = _resolve_ports(read_harness_keys(test_cnf, aspect, base), port)
            csv_path = conformance_dir / csv_set / f"test_{aspect}.csv"
            for row in load_rows(csv_path, aspect, keys, result_dir):
                if select is not None and not select(row):
                    continue
                result = run_row(row, client, mock_dir, timeout=row_timeout, env=env)
                matrix.results.append(result)
                if on_result is not None:
                    on_result(result)
                pause = float(keys.get("sleep", "0") or 0)
                if pause > 0:
                    time.sleep(pause)
    matrix.seconds = time.monotonic() - started
    return matrix


def _display_name(command: Sequence[str]) -> str:
    if len(command) >= 2 and Path(command[0]).name == "openssl" and command[1] == "cmp":
        return "openssl"
    if tuple(command[1:3]) == ("-m", "cmp"):
        return "cmpkit"
    return Path(command[0]).name if len(command) == 1 else " ".join(command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", default="openssl cmp", help="client command (shell words)")
    parser.add_argument("--server", default="openssl cmp", help="server command (shell words)")
    parser.add_argument("--set", default="csv-3.0", dest="csv_set")
    parser.add_argument("--aspect", action="append", help="aspects to run (default: all)")
    parser.add_argument("--grep", help="only rows whose title contains this")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/cmpkit-conformance"))
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--data", type=Path, default=DEFAULT_CONFORMANCE_DIR)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every row")
    parser.add_argument("--show", action="store_true", help="print output of failing rows")
    ns = parser.parse_args(argv)
    client = shlex.split(ns.client)

    def show(result: RowResult) -> None:
        if ns.verbose or not result.ok:
            mark = "ok  " if result.ok else "FAIL"
            print(f"{mark} {result.row.name} ({result.seconds:.1f} s): {result.reason}", flush=True)
        if ns.show and not result.ok:
            print("     $ " + result.row.command_line(client))
            for text in (result.stdout, result.stderr):
                for ln in text.strip().splitlines()[-15:]:
                    print("     | " + ln)

    matrix = run_matrix(
        client,
        ns.scratch,
        server=shlex.split(ns.server),
        conformance_dir=ns.data,
        csv_set=ns.csv_set,
        aspects=ns.aspect or ASPECTS,
        row_timeout=ns.timeout,
        select=(lambda row: ns.grep in row.title) if ns.grep else None,
        on_result=show,
    )
    print(matrix.summary())
    return 0 if not matrix.failures else 1


if __name__ == "__main__":
    sys.exit(main())
