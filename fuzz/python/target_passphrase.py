"""Pass phrase sources (``openssl-passphrase-options(1)``):
``cmp.passphrase.read_passphrase``, ``read_passphrase_pair`` and
``PassphraseSource`` on mutated source arguments.

Input: the argument's bytes, read as command-line arguments are (UTF-8
with surrogate escapes); seeds are the lines of seeds/passphrase/samples.txt
(``@SANDBOX@`` stands for seeds/passphrase/files). ``stdin`` reads a
buffer, ``env:`` a fixed environment; ``file:`` is read only for paths in
that directory or that do not exist, and ``fd:`` only parsed (``_atoi``,
checked against C's ``atoi``), so that no fuzzed argument reads a real
file descriptor or device.

Allowed: :class:`cmp.passphrase.PassphraseError`. A finding: any other
exception; a pass phrase longer than ``PASS_MAX`` bytes or holding a
newline; ``PassphraseSource`` (falling back to the argument) raising; and
the argument of an invalid source showing up in the warning (the module
promises that no part of a possible pass phrase appears in a message).
"""

from __future__ import annotations

import io
import os
import random
import re
from collections.abc import Sequence

from cmp.passphrase import (
    _INVALID_SOURCE,
    PASS_MAX,
    PassphraseError,
    PassphraseSource,
    _atoi,
    is_source,
    read_passphrase,
    read_passphrase_pair,
)
from fuzz.python.driver import FAILED, SEEDS_DIR, Seen, Target, check, expect, read_lines
from fuzz.python.mutate import mutate_text

SANDBOX = (SEEDS_DIR / "passphrase" / "files").resolve()
ENVIRON = {"CMPKIT_FUZZ_PASS": "from-env", "EMPTY": "", "LONG": "x" * 3000}
STDIN = b"stdin line one\r\nline two\nline three"
MAX_SIZE = 512

TOKENS: tuple[bytes, ...] = (
    b"pass:",
    b"env:",
    b"file:",
    b"fd:",
    b"stdin",
    b":",
    b"CMPKIT_FUZZ_PASS",
    b"LONG",
    b"EMPTY",
    b"-",
    b"+",
    b" ",
    b"\t",
    b"\n",
    b"\x00",
    b"0",
    b"9999999999999999999999",
    "é".encode(),
    b"\xff",
    b"/",
    b"..",
)

#: What the fallback warnings say whatever the argument.
_TEMPLATE = (
    f"{_INVALID_SOURCE} Cannot read a pass phrase from the stdin env: file: fd: source given"
    " (for fuzz); using the argument itself as pass phrase (better precede it with 'pass:')"
)

_ATOI = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]*)")


def seeds() -> list[bytes]:
    return [
        line.replace(b"@SANDBOX@", os.fsencode(SANDBOX))
        for line in read_lines(SEEDS_DIR / "passphrase" / "samples.txt")
    ]


def mutate(data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    return mutate_text(data, rng, MAX_SIZE, others, TOKENS)


def _reference_atoi(text: str) -> int:
    match = _ATOI.match(text)
    assert match is not None
    sign, digits = match.groups()
    return (-1 if sign == "-" else 1) * int(digits) if digits else 0


def _safe(source: str) -> bool:
    """Whether reading ``source`` touches nothing outside the sandbox."""
    if source.startswith("fd:"):
        return False
    if source.startswith("file:"):
        path = source[5:]
        try:
            real = os.path.realpath(path)
        except (ValueError, OSError):  # a NUL in the path, say
            return False
        inside = os.path.commonpath([real, str(SANDBOX)]) == str(SANDBOX)
        return inside or not os.path.lexists(path)
    return True


def _check_phrase(phrase: bytes) -> None:
    check(isinstance(phrase, bytes), "a pass phrase that is not bytes")


def run(data: bytes, seen: Seen[str]) -> None:
    source = data.decode("utf-8", "surrogateescape")
    is_source(source)
    if source.startswith("fd:"):
        check(_atoi(source[3:]) == _reference_atoi(source[3:]), "_atoi differs from C atoi")
        seen["fd"] += 1
        return
    if not _safe(source):
        seen["skipped"] += 1
        return
    stdin = io.BytesIO(STDIN)
    phrase = expect(
        seen,
        "read_passphrase",
        PassphraseError,
        read_passphrase,
        source,
        environ=ENVIRON,
        stdin=stdin,
    )
    if phrase is not FAILED:
        _check_phrase(phrase)
        if not source.startswith(("pass:", "env:")):  # read from a line
            check(len(phrase) <= PASS_MAX and b"\n" not in phrase, "more than one line read")
        seen["read"] += 1
    pair = expect(
        seen, "read_passphrase_pair", PassphraseError,
        read_passphrase_pair, source, source, environ=ENVIRON, stdin=io.BytesIO(STDIN),
    )  # fmt: skip
    if pair is not FAILED and not source.startswith(("pass:", "env:")):
        check(pair[0] != pair[1] or pair[0] == b"", "the pair's second line is its first")
    warnings: list[str] = []
    option = PassphraseSource(
        source, "fuzz", batch=True, warn=warnings.append, environ=ENVIRON, stdin=io.BytesIO(STDIN)
    )
    _check_phrase(option.get())  # falls back to the argument: never raises
    # The argument is the pass phrase now: no part of it may be shown (but
    # what the message says anyway, like "file:").
    secret_part = source.split(":", 1)[1] if ":" in source else source
    if warnings and len(secret_part) >= 4 and secret_part not in _TEMPLATE:
        for warning in warnings:
            check(secret_part not in warning, "the warning shows the argument used as pass phrase")


def make_target() -> Target:
    return Target(
        name="passphrase",
        doc="read_passphrase, read_passphrase_pair, PassphraseSource",
        seeds=seeds,
        run=run,
        mutate=mutate,
    )
