"""Fuzz cmpkit's Python entry points.

    python -m fuzz.python.run --target all --inputs 100000 --seed 1
    python fuzz/python/run.py --target message --inputs 20000 --engine atheris
    python -m fuzz.python.run --target server --replay fuzz/python/findings/server/X.bin

``--inputs`` is per target. The ``mutation`` engine (the default) is ours,
deterministic for ``--seed``; ``atheris`` (``pip install atheris``) runs the
same harnesses coverage-guided, one process per target, with our mutators
as its custom mutator. Prints per target the inputs, the exceptions by
class, the slowest input and the findings (written to
``fuzz/python/findings/<target>/``); exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import pkgutil
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``fuzz.python`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fuzz.python.driver import FINDINGS_DIR, Runner, Stats, Target, fuzz, minimize, signature_of

#: Target name -> module (each has ``make_target()``).
TARGETS: dict[str, str] = {
    "message": "fuzz.python.target_message",
    "protection": "fuzz.python.target_protection",
    "server": "fuzz.python.target_server",
    "config": "fuzz.python.target_config",
    "dn": "fuzz.python.target_dn",
    "names": "fuzz.python.target_names",
    "passphrase": "fuzz.python.target_passphrase",
}


def load_target(name: str) -> Target:
    module = importlib.import_module(TARGETS[name])
    target: Target = module.make_target()
    return target


def replay(name: str, paths: Sequence[Path], *, findings_dir: Path | None = None) -> Stats:
    """Runs saved inputs on a fresh target, printing each one's outcome."""
    target = load_target(name)
    runner = Runner(target, findings_dir=findings_dir, log=None)
    try:
        for path in paths:
            seen = runner.execute(path.read_bytes())
            if seen is None:
                assert runner.last is not None
                known = "" if runner.last.known is None else f" (known: {runner.last.known})"
                outcome = f"FINDING {runner.last.signature}{known}"
            else:
                outcome = ", ".join(sorted(k for k in seen if k[0] != "~")) or "ok"
            print(f"{path}: {outcome}")
    finally:
        runner.close()
    for finding in runner.stats.findings.values():
        print(finding.detail)
    return runner.stats


def _progress(stats: Stats) -> None:
    print(
        f"   .. {stats.target}: {stats.inputs:,} inputs, {stats.seconds:.0f} s,"
        f" {stats.finding_count} finding(s)",
        flush=True,
    )


def run_mutation(name: str, args: argparse.Namespace) -> Stats:
    target = load_target(name)
    runner = Runner(target, findings_dir=args.findings, slow=args.slow, timeout=args.timeout)
    try:
        return fuzz(
            target,
            inputs=args.inputs,
            seed=args.seed,
            seconds=args.seconds,
            runner=runner,
            progress=_progress if args.progress else None,
        )
    finally:
        runner.close()


# --- atheris ----------------------------------------------------------------------------


def run_atheris_child(name: str, args: argparse.Namespace) -> int:
    """In the child process: instrument cmpkit, then let libFuzzer drive."""
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports(include=["cmp"]):
        # Every module now: those cmpkit imports lazily would escape instrumentation.
        import cmp

        for module in pkgutil.iter_modules(cmp.__path__, "cmp."):
            if module.name != "cmp.__main__":
                importlib.import_module(module.name)
        target = load_target(name)
    # libFuzzer owns SIGALRM (-timeout); we time inputs ourselves for ``Slow``.
    runner = Runner(target, findings_dir=args.findings, slow=args.slow, timeout=None)
    seeds = target.seeds()
    work = Path(args.atheris_dir) / name
    seed_dir, corpus_dir = work / "seeds", work / "corpus"
    seed_dir.mkdir(parents=True, exist_ok=True)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(seeds):
        (seed_dir / f"seed-{i:05d}").write_bytes(data)
    started = time.monotonic()

    def finish() -> None:
        runner.stats.seconds = time.monotonic() - started  # wall time, libFuzzer included
        runner.close()
        _report([runner.stats], args)
        sys.stdout.flush()
        os._exit(_status([runner.stats], args.allow_known))

    def test_one(data: bytes) -> None:
        runner.execute(data)
        if runner.stats.inputs >= args.inputs or (
            args.seconds is not None and time.monotonic() - started > args.seconds
        ):
            finish()
        if args.progress and runner.stats.inputs % 10_000 == 0:
            runner.stats.seconds = time.monotonic() - started
            _progress(runner.stats)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.randrange(5) == 0:
            return bytes(atheris.Mutate(data, max_size))
        return target.mutate(data, rng, seeds)[:max_size]

    argv = [
        sys.argv[0],
        f"-seed={args.seed}",
        f"-timeout={int(args.timeout or 10)}",
        "-rss_limit_mb=2048",
        "-max_len=16384",
        f"-artifact_prefix={runner.findings_dir or work}/",
        str(corpus_dir),
        str(seed_dir),
    ]
    atheris.Setup(argv, test_one, custom_mutator=custom_mutator)
    atheris.Fuzz()
    finish()
    return 0


def run_atheris(names: Sequence[str], args: argparse.Namespace) -> int:
    """One libFuzzer process per target, one after the other."""
    status = 0
    for name in names:
        cmd = [sys.executable, "-m", "fuzz.python.run", "--atheris-child", name]
        cmd += ["--inputs", str(args.inputs), "--seed", str(args.seed)]
        cmd += ["--slow", str(args.slow), "--timeout", str(args.timeout or 10)]
        cmd += ["--findings", str(args.findings), "--atheris-dir", args.atheris_dir]
        if args.seconds is not None:
            cmd += ["--seconds", str(args.seconds)]
        if args.json:
            cmd += ["--json", f"{args.json}.{name}"]
        if args.progress:
            cmd.append("--progress")
        if args.verbose:
            cmd.append("--verbose")
        if args.allow_known:
            cmd.append("--allow-known")
        root = Path(__file__).resolve().parents[2]
        log = Path(args.atheris_dir) / f"{name}.libfuzzer.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as stderr:  # libFuzzer's own lines
            result = subprocess.run(cmd, cwd=root, stderr=stderr, check=False)
        status |= result.returncode != 0
        coverage = [line for line in log.read_text().splitlines() if " cov: " in line]
        if coverage:
            print(f"   libFuzzer: {coverage[-1].split(' cov: ', 1)[1].split(' exec/s')[0]}")
            if args.json:
                data = json.loads(Path(f"{args.json}.{name}").read_text())
                data["libfuzzer"] = coverage[-1]
                Path(f"{args.json}.{name}").write_text(json.dumps(data, indent=2) + "\n")
        print(f"   libFuzzer log: {log}", flush=True)
    return status


# --- the command ------------------------------------------------------------------------


def _report(all_stats: Sequence[Stats], args: argparse.Namespace) -> None:
    """The summary of each target (already printed by the mutation engine),
    the total, and the JSON file."""
    if args.engine == "atheris" or args.atheris_child:
        for stats in all_stats:
            print(stats.summary(verbose=args.verbose))
    total = sum(s.inputs for s in all_stats)
    seconds = sum(s.seconds for s in all_stats)
    findings = sum(s.finding_count for s in all_stats)
    new = sum(s.new_finding_count for s in all_stats)
    if len(all_stats) > 1:
        print(
            f"== total: {total:,} inputs in {seconds:.1f} s, {findings:,} finding(s),"
            f" {findings - new:,} of them known issues"
        )
    if args.json:
        data: dict[str, Any] = {
            "seed": args.seed,
            "engine": args.engine,
            "targets": [s.as_dict() for s in all_stats],
            "total_inputs": total,
            "total_seconds": round(seconds, 1),
            "findings": findings,
            "new_findings": new,
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")


def _status(all_stats: Sequence[Stats], allow_known: bool) -> int:
    if allow_known:
        return 1 if any(s.new_finding_count for s in all_stats) else 0
    return 1 if any(s.finding_count for s in all_stats) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fuzz.python.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--target", default="all", help="all, or a comma list of: " + ", ".join(TARGETS)
    )
    parser.add_argument("--inputs", type=int, default=1000, help="inputs per target")
    parser.add_argument("--seconds", type=float, default=None, help="time limit per target")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("mutation", "atheris"), default="mutation")
    parser.add_argument("--slow", type=float, default=2.0, help="an input slower is a finding")
    parser.add_argument("--timeout", type=float, default=10.0, help="an input is interrupted")
    parser.add_argument("--findings", type=Path, default=FINDINGS_DIR)
    parser.add_argument("--json", help="write the statistics here as JSON")
    parser.add_argument("--progress", action="store_true", help="a line every 10,000 inputs")
    parser.add_argument("--verbose", "-v", action="store_true", help="outcomes by step")
    parser.add_argument(
        "--allow-known",
        action="store_true",
        help="exit 0 when every finding is a known issue (fuzz/python/known.py)",
    )
    parser.add_argument("--replay", type=Path, nargs="+", help="run these saved inputs")
    parser.add_argument("--minimize", type=Path, help="shrink this saved input (to X.min.bin)")
    parser.add_argument(
        "--atheris-dir", default=os.path.join(tempfile.gettempdir(), "cmpkit-pyfuzz")
    )
    parser.add_argument("--atheris-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # What the mock server logs (refusals at INFO, aborted transactions at
    # WARNING) is noise here; the server target reads its ERRORs itself.
    cmp_log = logging.getLogger("cmp")
    cmp_log.addHandler(logging.NullHandler())
    cmp_log.propagate = False

    if args.atheris_child:
        return run_atheris_child(args.atheris_child, args)
    names = list(TARGETS) if args.target == "all" else args.target.split(",")
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    if args.replay or args.minimize:
        if len(names) != 1:
            parser.error("--replay and --minimize need one --target")
        if args.minimize:
            return _minimize(names[0], args.minimize)
        stats = replay(names[0], args.replay)
        return _status([stats], args.allow_known)
    if args.engine == "atheris":
        return run_atheris(names, args)
    all_stats = []
    for name in names:
        stats = run_mutation(name, args)
        print(stats.summary(verbose=args.verbose), flush=True)
        all_stats.append(stats)
    _report(all_stats, args)
    return _status(all_stats, args.allow_known)


def _minimize(name: str, path: Path) -> int:
    target = load_target(name)
    data = path.read_bytes()
    signature = signature_of(target, data)
    if signature is None:
        print(f"{path}: no finding on a fresh target")
        return 1
    small = minimize(target, data)
    out = path.with_suffix(".min.bin")
    out.write_bytes(small)
    print(f"{path}: {signature}\n{len(data)} -> {len(small)} bytes: {out}\n{small.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
