"""The shared driver of the Python fuzz targets.

A :class:`Target` is one entry point: its seeds (in its own input format),
a mutator, and ``run(data, seen)``, which feeds one input to the entry point,
catches the exceptions its contract allows (counting them in ``seen`` as
``step:Class``) and lets everything else escape. The :class:`Runner` runs
inputs under a time bound and turns what escapes into findings:

- any exception that is not allowed (its class names the finding), including
  ``BaseException`` subclasses such as pyo3's ``PanicException``;
- :class:`PropertyFailed`, a broken property (a round trip, a response that
  does not decode, state that is not bounded);
- ``Hang``: an input still running after ``timeout`` seconds (interrupted by
  SIGALRM), ``Slow``: one that took more than ``slow`` seconds.

Each finding's input is written to ``findings/<target>/`` with its traceback;
:func:`fuzz` is the mutation engine (deterministic for a seed), and
``run.py`` also drives the same targets with atheris.
"""

from __future__ import annotations

import collections
import hashlib
import os
import random
import re
import signal
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from fuzz.python.mutate import Node, _parent, _paths, parse_der, write_der

__all__ = [
    "FAILED",
    "FINDINGS_DIR",
    "Finding",
    "PropertyFailed",
    "Runner",
    "Stats",
    "Target",
    "check",
    "expect",
    "fuzz",
    "minimize",
    "signature_of",
]

FUZZ_PYTHON = Path(__file__).resolve().parent
SEEDS_DIR = FUZZ_PYTHON / "seeds"
FINDINGS_DIR = FUZZ_PYTHON / "findings"

Seen = collections.Counter  # "step:Class" -> count; keys starting with "~" only steer the engine


class PropertyFailed(AssertionError):
    """A property of the entry point does not hold for this input."""


class InputTimeout(BaseException):
    """Raised by SIGALRM in an input that runs too long (not an Exception, so
    that no ``except Exception`` in the code under test swallows it)."""


class _Failed:
    def __repr__(self) -> str:
        return "FAILED"


#: What :func:`expect` returns when the call raised an allowed exception.
FAILED: Any = _Failed()

_T = TypeVar("_T")


def expect(
    seen: Seen[str],
    step: str,
    allowed: type[BaseException] | tuple[type[BaseException], ...],
    fn: Callable[..., _T],
    *args: Any,
    **kwargs: Any,
) -> _T | Any:
    """``fn(*args, **kwargs)``, or :data:`FAILED` when it raised one of
    ``allowed`` (counted as ``step:Class``); anything else escapes.
    (Other outcomes are counted as ``step=value``, or a bare word.)"""
    try:
        return fn(*args, **kwargs)
    except allowed as e:
        seen[f"{step}:{type(e).__name__}"] += 1
        # The shape of the message steers the mutation engine.
        seen["~" + step + ":" + _shape(str(e))] += 1
        return FAILED


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\d+")


def _shape(message: str) -> str:
    """An error message without what it quotes and without numbers."""
    return _QUOTED.sub("#", message)[:100]


def check(condition: object, message: str) -> None:
    """Raises :class:`PropertyFailed` with ``message`` unless ``condition``."""
    if not condition:
        raise PropertyFailed(message)


@dataclass
class Target:
    """One fuzzed entry point."""

    name: str
    doc: str
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes, Seen[str]], None]
    mutate: Callable[[bytes, random.Random, Sequence[bytes]], bytes]
    reset: Callable[[], None] = lambda: None
    """Forget state kept between inputs (the mock server's transactions)."""


@dataclass
class Finding:
    kind: str
    signature: str
    count: int
    path: Path | None
    detail: str
    known: str | None = None
    """The owner, for a finding of fuzz/python/known.py."""


@dataclass
class Stats:
    target: str
    inputs: int = 0
    seconds: float = 0.0
    """Wall time of the run (mutation and bookkeeping included)."""
    run_seconds: float = 0.0
    """Time spent in the entry points."""
    seen: Seen[str] = field(default_factory=collections.Counter)
    findings: dict[str, Finding] = field(default_factory=dict)
    slowest: tuple[float, bytes] = (0.0, b"")
    pool: int = 0

    @property
    def finding_count(self) -> int:
        return sum(f.count for f in self.findings.values())

    @property
    def new_finding_count(self) -> int:
        """Findings that are not known issues (fuzz/python/known.py)."""
        return sum(f.count for f in self.findings.values() if f.known is None)

    def exceptions_by_class(self) -> Seen[str]:
        by_class: Seen[str] = collections.Counter()
        for key, n in self.seen.items():
            if ":" in key and "=" not in key and not key.startswith("~"):
                by_class[key.rsplit(":", 1)[1]] += n
        return by_class

    def outcomes(self) -> dict[str, int]:
        return {k: n for k, n in sorted(self.seen.items()) if not k.startswith("~")}

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "inputs": self.inputs,
            "seconds": round(self.seconds, 1),
            "run_seconds": round(self.run_seconds, 1),
            "exceptions_by_class": dict(self.exceptions_by_class().most_common()),
            "outcomes": self.outcomes(),
            "findings": {
                s: {
                    "kind": f.kind,
                    "count": f.count,
                    "known": f.known,
                    "path": str(f.path) if f.path else None,
                }
                for s, f in self.findings.items()
            },
            "slowest_seconds": round(self.slowest[0], 4),
            "slowest_sha1": hashlib.sha1(self.slowest[1]).hexdigest(),
            "slowest_size": len(self.slowest[1]),
            "pool": self.pool,
        }

    def summary(self, verbose: bool = False) -> str:
        rate = self.inputs / self.seconds if self.seconds else 0.0
        lines = [
            f"== {self.target}: {self.inputs:,} inputs in {self.seconds:.1f} s"
            f" ({rate:,.0f}/s; {self.run_seconds:.1f} s in the entry points),"
            f" {self.finding_count} finding(s)"
        ]
        by_class = self.exceptions_by_class()
        if by_class:
            lines.append(
                "   exceptions by class: "
                + ", ".join(f"{c} {n:,}" for c, n in by_class.most_common())
            )
        warned = {k.split("=", 1)[1]: n for k, n in self.seen.items() if k.startswith("warning=")}
        if warned:
            lines.append("   warnings: " + ", ".join(f"{c} {n:,}" for c, n in warned.items()))
        if verbose:
            for key, n in self.outcomes().items():
                lines.append(f"     {key}: {n:,}")
        seconds, data = self.slowest
        lines.append(
            f"   slowest input: {seconds * 1000:.1f} ms, {len(data)} bytes,"
            f" sha1 {hashlib.sha1(data).hexdigest()[:16]}"
        )
        for f in self.findings.values():
            where = f" -> {f.path}" if f.path else ""
            label = "FINDING" if f.known is None else f"KNOWN ({f.known})"
            lines.append(f"   {label} x{f.count}: {f.signature}{where}")
        return "\n".join(lines)


def _signature(kind: str, exc: BaseException | None) -> str:
    """Where a finding comes from: its kind and the innermost frame in cmpkit
    (or the innermost frame), so that one bug is saved once."""
    if exc is None:
        return kind
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/cmp/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    if isinstance(exc, PropertyFailed):  # the first line says which property
        return f"{kind}: {str(exc).splitlines()[0][:100]}"
    return f"{kind} at {where}"


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise InputTimeout()


class Runner:
    """Runs inputs of one target, counting outcomes and keeping findings."""

    def __init__(
        self,
        target: Target,
        *,
        findings_dir: Path | None = FINDINGS_DIR,
        slow: float = 2.0,
        timeout: float | None = 10.0,
        log: Callable[[str], None] | None = print,
    ) -> None:
        self.target = target
        self.stats = Stats(target.name)
        self.findings_dir = None if findings_dir is None else findings_dir / target.name
        self.slow = slow
        self.timeout = timeout
        self.log = log
        self._inflight: int | None = None
        self.last: Finding | None = None
        """The finding of the last input that gave one."""
        if self.findings_dir is not None:
            self.findings_dir.mkdir(parents=True, exist_ok=True)
            # The input being run, for a hang that nothing can interrupt
            # (a loop in native code): whatever kills the process, it is here.
            path = self.findings_dir / f".inflight-{os.getpid()}.bin"
            self._inflight = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            self._inflight_path = path
        self._old_alarm: Any = None
        if timeout is not None:
            self._old_alarm = signal.signal(signal.SIGALRM, _on_alarm)

    def close(self) -> None:
        if self._inflight is not None:
            os.close(self._inflight)
            self._inflight_path.unlink(missing_ok=True)
            self._inflight = None
        if self.timeout is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old_alarm or signal.SIG_DFL)
            self.timeout = None

    def execute(self, data: bytes) -> Seen[str] | None:
        """Runs one input; returns what it saw, or ``None`` for a finding."""
        if self._inflight is not None:
            os.ftruncate(self._inflight, 0)
            os.pwrite(self._inflight, data, 0)
        seen: Seen[str] = collections.Counter()
        kind: str | None = None
        exc: BaseException | None = None
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if self.timeout is not None:
                signal.setitimer(signal.ITIMER_REAL, self.timeout)
            try:
                self.target.run(data, seen)
            except InputTimeout as e:
                kind, exc = "Hang", e
            except (KeyboardInterrupt, SystemExit) as e:
                if isinstance(e, KeyboardInterrupt):
                    raise
                kind, exc = "SystemExit", e
            except BaseException as e:  # anything else that escapes is a finding
                kind, exc = type(e).__name__, e
            finally:
                if self.timeout is not None:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - start
        for w in caught:
            seen[f"warning={w.category.__name__}"] += 1
        self.stats.inputs += 1
        self.stats.run_seconds += elapsed
        self.stats.seen.update(seen)
        if elapsed > self.stats.slowest[0]:
            self.stats.slowest = (elapsed, data)
        if kind is None and elapsed > self.slow:
            kind = "Slow"
            exc = None
        if kind is None:
            return seen
        self._record(kind, exc, data, elapsed)
        return None

    def _record(self, kind: str, exc: BaseException | None, data: bytes, elapsed: float) -> None:
        from fuzz.python.known import known_issue

        sig = _signature(kind, exc)
        known = known_issue(self.target.name, sig, data)
        key = sig if known is None else f"{sig} [known]"
        found = self.stats.findings.get(key)
        if found is not None:
            found.count += 1
            self.last = found
            return
        if exc is None:
            detail = f"{kind}: {elapsed:.2f} s"
        else:
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        path = None
        if self.findings_dir is not None:
            digest = hashlib.sha1(data).hexdigest()[:16]
            path = self.findings_dir / f"{kind}-{digest}.bin"
            path.write_bytes(data)
            path.with_suffix(".txt").write_text(
                f"target: {self.target.name}\nsignature: {sig}\nelapsed: {elapsed:.3f} s\n"
                f"replay: python -m fuzz.python.run --target {self.target.name}"
                f" --replay {path}\n\n{detail}"
            )
        owner = None if known is None else known.owner
        self.last = self.stats.findings[key] = Finding(kind, sig, 1, path, detail, owner)
        if self.log is not None:
            label = "!!" if known is None else f"!! known ({owner}):"
            self.log(f"{label} {self.target.name}: {sig}" + (f" -> {path}" if path else ""))


def _outcome_key(seen: Seen[str]) -> frozenset[str]:
    return frozenset(seen)


def fuzz(
    target: Target,
    *,
    inputs: int,
    seed: int = 1,
    seconds: float | None = None,
    runner: Runner | None = None,
    pool_size: int = 4096,
    reset_every: int = 5000,
    progress: Callable[[Stats], None] | None = None,
    extra_seeds: Iterable[bytes] = (),
    max_seeds: int | None = None,
) -> Stats:
    """The mutation engine: every seed once (``max_seeds`` of them, if
    given), then mutants of the pool until ``inputs`` inputs (or
    ``seconds``) have run. A mutant that shows an
    outcome not seen before (new steps, exception classes or message shapes)
    joins the pool, so the engine drifts towards inputs that get further.
    Deterministic for ``seed``, up to state the target keeps (nonces)."""
    own = runner is None
    run = runner or Runner(target)
    rng = random.Random(f"{seed}:{target.name}")
    seeds = [*target.seeds(), *extra_seeds]
    pool: list[bytes] = list(seeds)
    fixed = len(pool)  # the seeds stay in the pool
    if max_seeds is not None and len(seeds) > max_seeds:  # a short run: some of them
        seeds = rng.sample(seeds, max_seeds)
    known: set[frozenset[str]] = set()
    started = time.monotonic()
    deadline = None if seconds is None else started + seconds
    try:
        for data in seeds:
            if run.stats.inputs >= inputs:
                break
            seen = run.execute(data)
            if seen is not None:
                known.add(_outcome_key(seen))
        while run.stats.inputs < inputs:
            if deadline is not None and time.monotonic() > deadline:
                break
            if reset_every and run.stats.inputs % reset_every == 0:
                target.reset()
            parent = rng.choice(pool)
            data = target.mutate(parent, rng, pool)
            seen = run.execute(data)
            if seen is not None:
                key = _outcome_key(seen)
                if key not in known:
                    known.add(key)
                    if len(pool) < max(pool_size, fixed + 1):
                        pool.append(data)
                    else:
                        pool[fixed + rng.randrange(len(pool) - fixed)] = data
            if progress is not None and run.stats.inputs % 10_000 == 0:
                run.stats.seconds = time.monotonic() - started
                progress(run.stats)
    finally:
        run.stats.seconds = time.monotonic() - started
        if own:
            run.close()
    run.stats.pool = len(pool)
    return run.stats


def read_lines(path: Path) -> list[bytes]:
    """The non-empty lines of a sample file, as bytes."""
    return [line for line in path.read_bytes().split(b"\n") if line]


# --- minimizing a finding ----------------------------------------------------------------


def signature_of(target: Target, data: bytes) -> str | None:
    """The signature of the finding ``data`` gives on a fresh target, if any."""
    target.reset()
    try:
        target.run(data, collections.Counter())
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        return _signature(type(e).__name__, e)
    return None


def _shrink_tree(nodes: list[Node], keep: Callable[[list[Node]], bool]) -> bool:
    """One pass over the tree: drop an element, or replace one by its only
    child, or halve primitive contents, wherever the finding stays."""
    changed = False
    all_paths: list[tuple[int, ...]] = []
    _paths(nodes, (), all_paths)
    for path in reversed(all_paths):  # deepest last-first, so paths stay valid
        lst, i = _parent(nodes, path) if _valid(nodes, path) else (None, 0)
        if lst is None or i >= len(lst):
            continue
        node = lst[i]
        candidates: list[Node | None] = [None]
        if node.children is not None and len(node.children) == 1:
            candidates.append(node.children[0])
        if node.children is None and len(node.data) > 1:
            candidates.append(Node(node.tag, node.data[: len(node.data) // 2]))
        for candidate in candidates:
            trial = lst[:i] + ([] if candidate is None else [candidate]) + lst[i + 1 :]
            saved = lst[:]
            lst[:] = trial
            if keep(nodes):
                changed = True
                break
            lst[:] = saved
    return changed


def _valid(nodes: list[Node], path: tuple[int, ...]) -> bool:
    lst: list[Node] | None = nodes
    for i in path[:-1]:
        if lst is None or i >= len(lst):
            return False
        lst = lst[i].children
    return lst is not None and path[-1] < len(lst)


def minimize(target: Target, data: bytes, *, max_tries: int = 5000) -> bytes:
    """A smaller input with the same finding (same signature): DER elements
    dropped, unwrapped or shortened where the input is DER (after a
    selector byte, for targets that have one), then bytes cut away."""
    signature = signature_of(target, data)
    if signature is None:
        return data
    tries = 0

    def same(candidate: bytes) -> bool:
        nonlocal tries
        tries += 1
        return tries <= max_tries and signature_of(target, candidate) == signature

    best = data
    # DER, or a selector byte and DER: whichever reads as one SEQUENCE.
    for prefix_len in (0, 1):
        prefix, tree = best[:prefix_len], parse_der(best[prefix_len:])
        if not tree or len(tree) != 1 or tree[0].tag != b"\x30":
            continue

        def keep(t: list[Node], prefix: bytes = prefix) -> bool:
            return same(prefix + write_der(t))

        while _shrink_tree(tree, keep):
            pass
        if same(prefix + write_der(tree)):
            best = prefix + write_der(tree)
        break
    chunk = max(1, len(best) // 2)
    while chunk >= 1 and tries < max_tries:  # then plain byte deletion
        pos, cut = 0, False
        while pos < len(best):
            candidate = best[:pos] + best[pos + chunk :]
            if candidate and same(candidate):
                best, cut = candidate, True
            else:
                pos += chunk
        if not cut:
            chunk //= 2
    return best
