"""End-to-end enrollment (ir + certConf): cmpkit beside ``openssl cmp``, in-process and over HTTP.

Run from anywhere: ``python benches/bench_enroll.py`` (``--quick`` for a
short smoke run). Every figure is measured in this run; see benches/README.md.

1. In-process, PBM and EC P-256 signatures: cmpkit's client against cmpkit's
   mock CA in this Python process, beside ``openssl cmp -use_mock_srv
   -repeat N`` (the whole process timed and divided by N; its start-up cost,
   ``-repeat 1``, is printed too).
2. Over loopback HTTP: cmpkit's ``enroll_many`` against cmpkit's ``-port``
   server (a subprocess), beside ``openssl cmp`` against ``openssl cmp
   -port`` (N client processes one after the other, a few in parallel, and
   ``-repeat N``); and cmpkit's client against OpenSSL's server beside
   OpenSSL's own client.
3. Memory: a long in-process batch, RSS printed at intervals.
4. Where the time of one in-process transaction goes (cProfile, by module).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import importlib
import os
import pstats
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from _reference import REPO_ROOT, Report, Row, Unavailable, X, describe_machine

# Targets printed beside the figures (never asserted).
TARGET_IN_PROCESS = 2.0  # cmpkit in-process at least this many times openssl -use_mock_srv
TARGET_HTTP = 20.0  # cmpkit over HTTP more than this many times the openssl pair
TARGET_CLIENT_VS_OPENSSL = 1.0  # cmpkit client ≥ openssl client, against openssl -port

ACCEPT_LINE = re.compile(r"ACCEPT\s+\S*:(?P<port>\d+)\s+PID=(?P<pid>\d+)")
PROTECTIONS = ("pbm", "sig")
LABEL = {"pbm": "PBM", "sig": "EC P-256 signature"}


@dataclass(frozen=True)
class Plan:
    """How many transactions each measurement runs."""

    in_process: int  # transactions per round, in-process (cmpkit and -repeat)
    rounds: int  # the median round is reported
    http: int  # transactions per round over HTTP, cmpkit client
    openssl_processes: int  # sequential openssl client processes
    openssl_parallel: int  # openssl client processes run at once
    concurrency: int  # enroll_many in-process
    http_concurrency: int  # enroll_many over HTTP
    memory: int  # transactions of the memory batch
    profile: int  # transactions profiled

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(200, 1, 300, 10, 4, 32, 64, 2_000, 100)
        return cls(2_000, 5, 3_000, 50, 4, 32, 64, 100_000, 1_000)


# --------------------------------------------------------------------------
# Credentials: the test suite's PKI, written as PEM files for openssl


def load_harness() -> Any:
    tests_dir = REPO_ROOT / "tests"
    sys.path.insert(0, str(tests_dir))
    try:
        return importlib.import_module("openssl_harness")
    except ImportError as e:
        raise Unavailable(f"tests/openssl_harness.py cannot be imported: {e}") from e
    finally:
        sys.path.remove(str(tests_dir))


def find_openssl() -> str:
    openssl = shutil.which(os.environ.get("CMPKIT_OPENSSL", "openssl"))
    if openssl is None:
        raise Unavailable("no `openssl` on PATH")
    return openssl


class Setup:
    """The PKI, both sides' options for each protection, and cmpkit's objects."""

    def __init__(self, workdir: Path) -> None:
        self.harness = load_harness()
        self.workdir = workdir
        self.pki = self.harness.make_pki(workdir / "pki")
        self.subject = self.pki.enrolled.cert.subject

    # --- openssl ----------------------------------------------------------

    def openssl_client_args(self, protection: str) -> list[str]:
        """Client options of ``openssl cmp`` (no server side)."""
        pki = self.pki
        common = [
            "-cmd", "ir",
            "-newkey", str(pki.new_key_path),
            "-subject", pki.enrolled.subject_arg,
            "-certout", "enrolled.out.pem",  # openssl refuses to run without
        ]  # fmt: skip
        if protection == "pbm":
            return [
                *common,
                "-ref", pki.ref,
                "-secret", pki.secret_arg,
                "-recipient", pki.server.subject_arg,
            ]  # fmt: skip
        return [
            *common,
            "-cert", str(pki.client.cert_path),
            "-key", str(pki.client.key_path),
            "-trusted", str(pki.root.cert_path),
        ]  # fmt: skip

    def openssl_server_args(self) -> list[str]:
        """Mock server options, PBM and signatures both accepted."""
        return list(self.harness.mock_server_args(self.pki)[2:])  # without "-port 0"

    # --- cmpkit -----------------------------------------------------------

    def server_config(self) -> Any:
        from cmp.server import MockServerConfig

        pki = self.pki
        return MockServerConfig(
            srv_ref=pki.srv_ref,
            srv_secret=pki.secret,
            srv_cert=pki.server.cert,
            srv_key=pki.server.key,
            srv_trusted=[pki.root.cert],
            rsp_cert=pki.enrolled.cert,
            rsp_capubs=[pki.root.cert],
        )

    def client_config(self, protection: str) -> Any:
        from cmp.transaction import TransactionConfig

        pki = self.pki
        if protection == "pbm":
            return TransactionConfig(
                secret=pki.secret, ref=pki.ref, recipient=pki.server.cert.subject
            )
        return TransactionConfig(cert=pki.client.cert, key=pki.client.key, trusted=[pki.root.cert])

    def request(self) -> Any:
        from cmp.requests import EnrollRequest

        return EnrollRequest(new_key=self.pki.new_key, subject=self.subject)


# --------------------------------------------------------------------------
# Timing


def median_rate(rounds: int, run_round: Callable[[], tuple[int, float]]) -> float:
    """Median over ``rounds`` of seconds per transaction; ``run_round`` gives
    (transactions, seconds)."""
    samples = []
    for _ in range(rounds):
        n, seconds = run_round()
        samples.append(seconds / n)
    return statistics.median(samples)


def us(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e6


def per_second(seconds_per_tx: float | None) -> str:
    return "n/a" if not seconds_per_tx else f"{1 / seconds_per_tx:,.0f} tx/s"


def run_openssl(args: Sequence[str], cwd: Path, timeout: float = 600) -> float:
    """Seconds one ``openssl cmp`` process took, start to exit; it must succeed."""
    cmd = [find_openssl(), "cmp", "-config", "", "-batch", *args]
    env = dict(os.environ)
    env.pop("OPENSSL_CONF", None)
    start = time.perf_counter()
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = " ".join(done.stderr.decode(errors="replace").strip().splitlines()[-2:])
        raise Unavailable(f"openssl cmp exited {done.returncode}: {tail}")
    return elapsed


# --------------------------------------------------------------------------
# 1. In-process


def cmpkit_sync_round(setup: Setup, protection: str, n: int) -> Callable[[], tuple[int, float]]:
    from cmp.client import Client
    from cmp.server import MockServer
    from cmp.transport import InProcessTransport

    server = MockServer(setup.server_config())
    client = Client(
        transport=InProcessTransport(server.handle), config=setup.client_config(protection)
    )
    request = setup.request()
    for _ in range(20):  # warm-up: caches, lazily loaded providers
        client.run(request)

    def one_round() -> tuple[int, float]:
        run = client.run
        start = time.perf_counter()
        for _ in range(n):
            run(request)
        return n, time.perf_counter() - start

    return one_round


def cmpkit_batch_round(
    setup: Setup, protection: str, n: int, concurrency: int
) -> Callable[[], tuple[int, float]]:
    from cmp.batch import enroll_many
    from cmp.client import AsyncClient
    from cmp.server import MockServer
    from cmp.transport import InProcessTransport

    server = MockServer(setup.server_config())
    config = setup.client_config(protection)
    request = setup.request()

    async def batch(count: int) -> tuple[int, float]:
        client = AsyncClient(transport=InProcessTransport(server.handle), config=config)
        start = time.perf_counter()
        failed = 0
        async for item in enroll_many(client, [request] * count, concurrency=concurrency):
            failed += item.error is not None
        elapsed = time.perf_counter() - start
        if failed:
            raise Unavailable(f"{failed} of {count} in-process transactions failed")
        return count, elapsed

    asyncio.run(batch(20))
    return lambda: asyncio.run(batch(n))


def openssl_repeat_round(setup: Setup, protection: str, n: int) -> Callable[[], tuple[int, float]]:
    args = [
        "-use_mock_srv",
        "-repeat", str(n),
        *setup.openssl_client_args(protection),
        *setup.openssl_server_args(),
    ]  # fmt: skip
    if protection == "sig":  # the mock server answers with signatures only
        args = _without(args, "-srv_secret", "-srv_ref")
    cwd = setup.workdir

    def one_round() -> tuple[int, float]:
        return n, run_openssl(args, cwd)

    return one_round


def _without(args: list[str], *options: str) -> list[str]:
    out: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in options:
            skip = True
            continue
        out.append(a)
    return out


def interleaved(
    rounds: int, parties: dict[str, Callable[[], tuple[int, float]]]
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Median seconds per transaction of each party, their rounds taken in
    turn (A B C A B C ...) so that a change in the machine's load hits all
    alike; and why each party that failed did (it then counts as None)."""
    samples: dict[str, list[float]] = {name: [] for name in parties}
    failed: dict[str, str] = {}
    for _ in range(rounds):
        for name, one_round in parties.items():
            if name in failed:
                continue
            try:
                n, seconds = one_round()
            except Exception as e:  # report, never crash the bench
                failed[name] = f"{type(e).__name__}: {e}"
                continue
            samples[name].append(seconds / n)
    figures = {
        name: statistics.median(v) if v and name not in failed else None
        for name, v in samples.items()
    }
    return figures, failed


def bench_in_process(setup: Setup, plan: Plan, report: Report, targets: list[Target]) -> None:
    reference = f"openssl cmp -use_mock_srv -repeat {plan.in_process:,}"
    batch = f"cmpkit enroll_many, concurrency {plan.concurrency}"
    sync = "cmpkit Client, sequential"
    for protection in PROTECTIONS:
        label = f"ir+certConf, {LABEL[protection]}"
        parties: dict[str, Callable[[], tuple[int, float]]] = {
            "openssl -repeat 1": openssl_repeat_round(setup, protection, 1),
            reference: openssl_repeat_round(setup, protection, plan.in_process),
        }
        makers: list[tuple[str, Callable[[], Callable[[], tuple[int, float]]]]] = [
            (sync, lambda: cmpkit_sync_round(setup, protection, plan.in_process)),
            (
                batch,
                lambda: cmpkit_batch_round(setup, protection, plan.in_process, plan.concurrency),
            ),
        ]
        for what, make in makers:
            try:
                parties[what] = make()
            except Exception as e:  # report, never crash the bench
                report.note(f"{what} ({protection}): not available ({type(e).__name__}: {e})")
        figures, failed = interleaved(plan.rounds, parties)
        for what, why in failed.items():
            report.note(f"{what} ({protection}): not available ({why})")
        startup = figures.get("openssl -repeat 1")
        openssl_s = figures.get(reference)
        if startup is not None:
            report.note(
                f"openssl -use_mock_srv, {LABEL[protection]}: -repeat 1 takes "
                f"{startup * 1000:.1f} ms (start-up + 1 transaction); -repeat "
                f"{plan.in_process:,}: {per_second(openssl_s)} (start-up not subtracted)"
            )
        for what in (sync, batch):
            ours = figures.get(what)
            report.note(f"{what}, {LABEL[protection]}: {per_second(ours)}")
            report.add(Row(label, f"in-process: {what}", us(ours), reference, us(openssl_s)))
            targets.append(
                Target(
                    f"in-process {LABEL[protection]}, {what}",
                    f"≥ {TARGET_IN_PROCESS:g}{X} openssl -use_mock_srv",
                    ours,
                    openssl_s,
                    TARGET_IN_PROCESS,
                    strict=False,
                )
            )


# --------------------------------------------------------------------------
# 2. Over loopback HTTP

_CMPKIT_SERVER = """
import sys
from pathlib import Path
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cmp.asgi import run_from_options
from cmp.server import MockServerConfig

d, ref, secret = Path(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
if sys.argv[4] == "nodelay":
    # The fix proposed for cmp.asgi: asyncio leaves Nagle on for sockets made by
    # socket.create_server (proto 0), so each response's body waits for the
    # client's delayed ACK of its head (~40 ms a round trip).
    import socket
    from cmp import asgi

    made = asgi._KeepAliveH11Protocol.connection_made

    def connection_made(self, transport):
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        made(self, transport)

    asgi._KeepAliveH11Protocol.connection_made = connection_made
cert = lambda n: x509.load_pem_x509_certificate((d / n).read_bytes())
root = cert("root.crt.pem")
config = MockServerConfig(
    srv_ref=ref,
    srv_secret=secret,
    srv_cert=cert("server.crt.pem"),
    srv_key=load_pem_private_key((d / "server.key.pem").read_bytes(), None),
    srv_trusted=[root],
    rsp_cert=cert("enrolled.crt.pem"),
    rsp_capubs=[root],
)
sys.exit(run_from_options(config, 0, "127.0.0.1"))
"""


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def serving(cmd: Sequence[str], cwd: Path, name: str) -> Iterator[Served]:
    """Run a server printing ``ACCEPT host:port PID=n``; SIGTERM it afterwards."""
    env = dict(os.environ)
    env.pop("OPENSSL_CONF", None)
    log = (cwd / f"{name}.stderr.log").open("wb")
    process = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
    )
    assert process.stdout is not None
    found: list[int] = []
    ready = threading.Event()

    def drain() -> None:  # read stdout for the server's whole life: a full pipe blocks it
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            match = ACCEPT_LINE.search(raw.decode(errors="replace"))
            if match and not found:
                found.append(int(match["port"]))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ready.wait(30)
        if not found:
            raise Unavailable(f"{name} did not start (see {log.name})")
        yield Served(process, found[0])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(5)
        log.close()


def cmpkit_server(setup: Setup, nodelay: bool = False) -> Any:
    pki = setup.pki
    cmd = [
        sys.executable,
        "-c",
        _CMPKIT_SERVER,
        str(pki.dir),
        pki.srv_ref,
        pki.secret.decode(),
        "nodelay" if nodelay else "as-is",
    ]
    return serving(cmd, setup.workdir, "cmpkit-server")


def openssl_server(setup: Setup) -> Any:
    cmd = [find_openssl(), "cmp", "-config", "", "-port", "0", *setup.openssl_server_args()]
    return serving(cmd, setup.workdir, "openssl-server")


def cmpkit_http_rate(
    setup: Setup, protection: str, url: str, n: int, rounds: int, concurrency: int
) -> float:
    from cmp.batch import enroll_many
    from cmp.client import AsyncClient

    config = setup.client_config(protection)
    request = setup.request()

    async def main() -> list[tuple[int, float]]:
        samples = []
        async with AsyncClient(url, config=config, trust_env=False) as client:
            for count in [min(n, 50), *([n] * rounds)]:  # the first is warm-up
                start = time.perf_counter()
                failed: list[BaseException] = []
                async for item in enroll_many(client, [request] * count, concurrency=concurrency):
                    if item.error is not None:
                        failed.append(item.error)
                elapsed = time.perf_counter() - start
                if failed:
                    raise Unavailable(f"{len(failed)} of {count} failed, first: {failed[0]!r}")
                samples.append((count, elapsed))
        return samples[1:]

    return statistics.median(s / c for c, s in asyncio.run(main()))


def openssl_client_rate(
    setup: Setup, protection: str, address: str, processes: int, parallel: int
) -> float:
    """Seconds per transaction of ``processes`` openssl clients, ``parallel`` at once."""
    args = ["-server", address, *setup.openssl_client_args(protection)]
    cwd = setup.workdir
    errors: list[Unavailable] = []

    def worker(count: int) -> None:
        try:
            for _ in range(count):
                run_openssl(args, cwd, timeout=60)
        except Unavailable as e:
            errors.append(e)

    shares = [processes // parallel + (i < processes % parallel) for i in range(parallel)]
    threads = [threading.Thread(target=worker, args=(k,)) for k in shares if k]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed / processes


def openssl_client_repeat_rate(setup: Setup, protection: str, address: str, n: int) -> float:
    args = ["-server", address, "-repeat", str(n), *setup.openssl_client_args(protection)]
    return run_openssl(args, setup.workdir) / n


def cmpkit_sync_http_rate(setup: Setup, protection: str, url: str, n: int, rounds: int) -> float:
    """Seconds per transaction of cmpkit's sync Client, one transaction after the other."""
    from cmp.client import Client

    request = setup.request()
    with Client(url, config=setup.client_config(protection), trust_env=False) as client:
        for _ in range(10):
            client.run(request)

        def one_round() -> tuple[int, float]:
            start = time.perf_counter()
            for _ in range(n):
                client.run(request)
            return n, time.perf_counter() - start

        return median_rate(rounds, one_round)


def bench_http(setup: Setup, plan: Plan, report: Report, targets: list[Target]) -> None:
    conc = plan.http_concurrency
    procs = plan.openssl_processes
    for protection in PROTECTIONS:
        label = f"ir+certConf, {LABEL[protection]}"
        fig: dict[str, float | None] = dict.fromkeys(
            (
                "seq",
                "par",
                "rep",
                "ours",
                "ours_nodelay",
                "ours_vs_o",
                "sync_vs_o",
                "sync_own",
                "sync_own_nodelay",
            )
        )

        def attempt(key: str, what: str, measure: Callable[[], float]) -> None:
            try:
                fig[key] = measure()
            except Exception as e:  # report, never crash the bench
                report.note(f"{what} ({protection}): not available ({type(e).__name__}: {e})")

        try:
            with openssl_server(setup) as srv:
                attempt(
                    "seq",
                    "openssl pair",
                    lambda: openssl_client_rate(setup, protection, srv.address, procs, 1),
                )
                attempt(
                    "par",
                    "openssl pair, parallel",
                    lambda: openssl_client_rate(
                        setup, protection, srv.address, procs, plan.openssl_parallel
                    ),
                )
                attempt(
                    "rep",
                    "openssl pair, -repeat",
                    lambda: openssl_client_repeat_rate(setup, protection, srv.address, procs),
                )
                attempt(
                    "ours_vs_o",
                    "cmpkit enroll_many → openssl -port",
                    lambda: cmpkit_http_rate(
                        setup, protection, srv.url, max(4 * procs, 200), plan.rounds, conc
                    ),
                )
                attempt(
                    "sync_vs_o",
                    "cmpkit Client → openssl -port",
                    lambda: cmpkit_sync_http_rate(setup, protection, srv.url, procs, plan.rounds),
                )
        except Unavailable as e:
            report.note(f"openssl -port ({protection}): not available ({e})")
        for suffix, nodelay in (("", False), ("_nodelay", True)):
            try:
                with cmpkit_server(setup, nodelay) as srv:
                    attempt(
                        "ours" + suffix,
                        "cmpkit enroll_many → cmpkit -port",
                        lambda: cmpkit_http_rate(
                            setup, protection, srv.url, plan.http, plan.rounds, conc
                        ),
                    )
                    attempt(
                        "sync_own" + suffix,
                        "cmpkit Client → cmpkit -port",
                        lambda: cmpkit_sync_http_rate(
                            setup, protection, srv.url, procs, plan.rounds
                        ),
                    )
            except Unavailable as e:
                report.note(f"cmpkit -port ({protection}): not available ({e})")

        pair = "openssl cmp → openssl -port"
        ours = f"HTTP: cmpkit enroll_many (c={conc}) → cmpkit -port"
        ours_nd = f"{ours} + TCP_NODELAY"
        to_openssl = f"HTTP: cmpkit enroll_many (c={conc}) → openssl -port"
        rows = (
            (ours, "ours", f"{pair}, {procs} processes in turn", "seq"),
            (ours_nd, "ours_nodelay", f"{pair}, {procs} processes in turn", "seq"),
            (ours, "ours", f"{pair}, {plan.openssl_parallel} processes at once", "par"),
            (ours, "ours", f"{pair}, one process -repeat {procs}", "rep"),
            (to_openssl, "ours_vs_o", f"{pair}, one process -repeat {procs}", "rep"),
            ("HTTP: cmpkit Client, in turn → openssl -port", "sync_vs_o",
             f"{pair}, one process -repeat {procs}", "rep"),
            ("HTTP: cmpkit Client, in turn → cmpkit -port", "sync_own",
             f"{pair}, one process -repeat {procs}", "rep"),
            ("HTTP: cmpkit Client, in turn → cmpkit -port + TCP_NODELAY", "sync_own_nodelay",
             f"{pair}, one process -repeat {procs}", "rep"),
        )  # fmt: skip
        for message, ours_key, reference, ref_key in rows:
            report.add(Row(label, message, us(fig[ours_key]), reference, us(fig[ref_key])))
        for what, key in (
            ("cmpkit → cmpkit -port (as shipped)", "ours"),
            ("cmpkit → cmpkit -port + TCP_NODELAY on accepted sockets", "ours_nodelay"),
            ("cmpkit enroll_many → openssl -port", "ours_vs_o"),
            ("cmpkit Client, in turn → openssl -port", "sync_vs_o"),
            ("cmpkit Client, in turn → cmpkit -port (as shipped)", "sync_own"),
            ("cmpkit Client, in turn → cmpkit -port + TCP_NODELAY", "sync_own_nodelay"),
            ("openssl → openssl -port, processes in turn", "seq"),
            (f"openssl → openssl -port, {plan.openssl_parallel} processes at once", "par"),
            ("openssl → openssl -port, one process -repeat", "rep"),
        ):
            report.note(f"HTTP {LABEL[protection]}: {what}: {per_second(fig[key])}")
        for what, key in (("as shipped", "ours"), ("+ TCP_NODELAY", "ours_nodelay")):
            targets.append(
                Target(
                    f"HTTP {LABEL[protection]}, cmpkit pair ({what}) vs openssl pair",
                    f"> {TARGET_HTTP:g}{X} (processes in turn)",
                    fig[key],
                    fig["seq"],
                    TARGET_HTTP,
                    strict=True,
                )
            )
        for what, key in (("enroll_many", "ours_vs_o"), ("Client, in turn", "sync_vs_o")):
            targets.append(
                Target(
                    f"HTTP {LABEL[protection]}, against openssl -port: cmpkit {what} vs "
                    "openssl's client",
                    f"≥ {TARGET_CLIENT_VS_OPENSSL:g}{X} (openssl at its best, -repeat)",
                    fig[key],
                    fig["rep"],
                    TARGET_CLIENT_VS_OPENSSL,
                    strict=False,
                )
            )


# --------------------------------------------------------------------------
# 3. Memory over a long batch


def rss_kib() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in KiB: VmRSS and VmHWM of
    /proc/self/status, else getrusage's ru_maxrss for both."""
    fields: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return fields.get("VmRSS", peak), fields.get("VmHWM", peak)


def bench_memory(setup: Setup, plan: Plan) -> list[str]:
    from cmp.batch import BatchStats, enroll_many
    from cmp.client import AsyncClient
    from cmp.server import MockServer
    from cmp.transport import InProcessTransport

    server = MockServer(setup.server_config())
    config = setup.client_config("pbm")
    request = setup.request()
    total = plan.memory
    every = max(1, total // 10)
    lines: list[str] = []

    def requests() -> Iterator[Any]:  # lazily: never a list of `total` requests
        for _ in range(total):
            yield request

    def show(done: int, stats: BatchStats | None) -> None:
        current, peak = rss_kib()
        rate = f"{stats.throughput:8,.0f} tx/s" if stats is not None else " " * 13
        lines.append(
            f"  {done:>9,} done  RSS {current / 1024:7.1f} MiB  peak {peak / 1024:7.1f} MiB  "
            f"{rate}  open server transactions {server.open_transactions}"
        )
        print(lines[-1], flush=True)

    async def main() -> BatchStats:
        stats = BatchStats()
        transport = InProcessTransport(server.handle)
        async with AsyncClient(transport=transport, config=config) as client:
            show(0, None)
            batch = enroll_many(client, requests(), concurrency=plan.concurrency, stats=stats)
            async for _ in batch:
                if stats.count % every == 0:
                    show(stats.count, stats)
        return stats

    print(
        f"\nmemory: {total:,} in-process PBM transactions through enroll_many "
        f"(concurrency {plan.concurrency}), requests from a generator",
        flush=True,
    )
    stats = asyncio.run(main())
    lines.append(f"  {stats.summary()}")
    print(lines[-1])
    return lines


# --------------------------------------------------------------------------
# 4. Where the time goes

_CATEGORIES = (
    ("cmpkit native (cmp._native: DER, PBM)", ("cmp._native",)),
    ("cryptography (signatures, X.509, path validation)", ("cryptography",)),
    ("asyncio", ("asyncio",)),
)


def _category(key: tuple[str, int, str]) -> str:
    filename, _, name = key
    text = f"{filename} {name}"
    for label, needles in _CATEGORIES:
        if any(n in text for n in needles):
            return label
    if "/cmp/" in filename:
        return "cmpkit Python glue (cmp/*.py)"
    return "Python stdlib and builtins"


def bench_profile(setup: Setup, plan: Plan, top: int = 12) -> None:
    from cmp.client import Client
    from cmp.server import MockServer
    from cmp.transport import InProcessTransport

    n = plan.profile
    for protection in PROTECTIONS:
        server = MockServer(setup.server_config())
        client = Client(
            transport=InProcessTransport(server.handle), config=setup.client_config(protection)
        )
        request = setup.request()
        for _ in range(20):
            client.run(request)
        start = time.perf_counter()
        for _ in range(n):
            client.run(request)
        plain = (time.perf_counter() - start) / n
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n):
            client.run(request)
        profiler.disable()
        stats: Any = getattr(
            pstats.Stats(profiler), "stats"
        )  # {key: (cc, nc, tottime, cumtime, callers)}
        total = sum(v[2] for v in stats.values())
        by_category: dict[str, float] = {}
        for key, value in stats.items():
            cat = _category(key)
            by_category[cat] = by_category.get(cat, 0.0) + value[2]
        print(
            f"\nprofile, in-process {LABEL[protection]} (sync Client, {n:,} transactions): "
            f"{plain * 1e6:,.0f} µs per transaction unprofiled, "
            f"{total / n * 1e6:,.0f} µs under cProfile"
        )
        print("  share of profiled time, and µs per transaction scaled to the unprofiled time:")
        for cat, t in sorted(by_category.items(), key=lambda kv: -kv[1]):
            share = t / total
            print(f"    {share * 100:5.1f} %  {share * plain * 1e6:7.0f} µs  {cat}")
        print(f"  top {top} functions by own time (µs per transaction under cProfile, calls):")
        ranked = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
        for (filename, line, name), (_, calls, tottime, _, _) in ranked:
            where = name if filename == "~" else f"{_short(filename)}:{line} {name}"
            print(f"    {tottime / n * 1e6:7.1f} µs  {calls / n:5.1f}{X}  {where}")


def _short(filename: str) -> str:
    for marker in ("/python/cmp/", "/site-packages/", "/lib/python3"):
        i = filename.find(marker)
        if i >= 0:
            return filename[i + 1 :]
    return filename


# --------------------------------------------------------------------------
# Targets


@dataclass
class Target:
    what: str
    goal: str
    ours_s: float | None  # seconds per transaction
    reference_s: float | None
    factor: float
    strict: bool  # "more than" rather than "at least"

    def line(self) -> str:
        if not self.ours_s or not self.reference_s:
            return f"  {self.what}: {self.goal}: n/a"
        ratio = self.reference_s / self.ours_s
        met = ratio > self.factor if self.strict else ratio >= self.factor
        return f"  {self.what}: {self.goal}: {ratio:.2f}{X} — {'met' if met else 'NOT met'}"


def load_average() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def run(args: argparse.Namespace) -> int:
    quick = args.quick
    plan = Plan.for_mode(quick)
    for name in ("memory", "concurrency", "http_concurrency"):
        if getattr(args, name) is not None:
            plan = dataclasses.replace(plan, **{name: getattr(args, name)})
    sections = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = sections - set(SECTIONS)
    if unknown:
        print(
            f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}"
        )
        return 2
    print(f"cmpkit enrollment benchmark{' (quick)' if quick else ''}: {describe_machine()}")
    print(f"load average at start: {load_average()} (other work on the machine moves the figures)")
    print(
        f"in-process: median of {plan.rounds} round(s) of {plan.in_process:,} transactions, "
        f"enroll_many concurrency {plan.concurrency}; HTTP: {plan.http:,} transactions per "
        f"round (cmpkit, concurrency {plan.http_concurrency}), "
        f"{plan.openssl_processes} openssl client processes"
    )
    report = Report(
        "Enrollment (µs per transaction; ratio = reference/ours, > 1 means cmpkit is faster)"
    )
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="cmpkit-bench-enroll-") as tmp:
        try:
            setup = Setup(Path(tmp))
            find_openssl()
        except Unavailable as e:
            print(f"cannot set up: {e}")
            return 0
        if "in-process" in sections:
            bench_in_process(setup, plan, report, targets)
        if "http" in sections:
            bench_http(setup, plan, report, targets)
        if report.rows:
            report.print()
        if "memory" in sections:
            bench_memory(setup, plan)
        if "profile" in sections:
            bench_profile(setup, plan)
    if targets:
        print("\ntargets (printed, not asserted):")
        for t in targets:
            print(t.line())
    print(f"\nload average at end: {load_average()}")
    return 0


SECTIONS = ("in-process", "http", "memory", "profile")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short smoke run (less precise)")
    p.add_argument(
        "--memory", type=int, help="transactions of the memory batch (100,000; quick: 2,000)"
    )
    p.add_argument("--concurrency", type=int, help="enroll_many concurrency in-process (32)")
    p.add_argument("--http-concurrency", type=int, help="enroll_many concurrency over HTTP (64)")
    p.add_argument("--only", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
