"""Pass phrase sources, as ``openssl-passphrase-options(1)`` defines them.

A source is ``pass:PHRASE``, ``env:VAR``, ``file:PATH`` (the first line),
``fd:NUMBER`` (the first line read from that file descriptor) or ``stdin``.
As in OpenSSL, a line is cut at its first ``\\n`` (a ``\\r`` stays) and at
most 1023 bytes are read. When the same ``file:``, ``fd:`` or ``stdin``
source is given for both of a pair (``-passin``/``-passout`` style), the
first gets the first line and the second the second line:
:func:`read_passphrase_pair`.

``openssl cmp`` resolves each of its pass phrase options on its own
(``-keypass``, ``-newkeypass``, ``-secret``, ...) and, when a source is not
valid, warns and takes the argument itself as the pass phrase (its
conformance tests rely on ``-keypass 12345`` working):
:class:`PassphraseSource`. With ``-batch`` nothing prompts: a pass phrase
that is needed but not given is an error.

No pass phrase, and no part of an argument that might be one, appears in any
message or exception raised here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import BinaryIO, Callable

from cmp.errors import CMPError

__all__ = [
    "PASS_MAX",
    "PassphraseError",
    "PassphraseSource",
    "is_source",
    "read_passphrase",
    "read_passphrase_pair",
]

#: OpenSSL reads a pass phrase line into a 1024-byte buffer: at most 1023
#: bytes of one line are kept.
PASS_MAX = 1023

_PREFIXES = ("pass:", "env:", "file:", "fd:")
_INVALID_SOURCE = "Invalid pass phrase source: expected pass:, env:, file:, fd: or stdin"


class PassphraseError(CMPError, ValueError):
    """A pass phrase source is not valid, cannot be read, or a pass phrase
    is needed where none may be asked for. Never contains the pass phrase."""


def is_source(text: str) -> bool:
    """Whether ``text`` has the form of a pass phrase source."""
    return text == "stdin" or text.startswith(_PREFIXES)


def _atoi(text: str) -> int:
    """C ``atoi()``: leading whitespace, a sign, then digits; 0 if none."""
    text = text.lstrip(" \t\n\v\f\r")
    sign = -1 if text[:1] == "-" else 1
    if text[:1] in "+-":
        text = text[1:]
    digits = ""
    for char in text:
        if not char.isdigit() or not char.isascii():
            break
        digits += char
    return sign * int(digits) if digits else 0


class _LineSource:
    """Lines of a file, a file descriptor or standard input, read one at a
    time so that a second use can get the second line."""

    def __init__(self, source: str, stdin: BinaryIO | None) -> None:
        self.description = source.split(":", 1)[0]
        self._file: BinaryIO | None = None
        self._fd: int | None = None
        self._own = False
        if source.startswith("file:"):
            path = source[5:]
            try:
                self._file = open(path, "rb")
            except OSError as exc:
                raise PassphraseError(f"Can't open file {path}: {exc.strerror}") from None
            self._own = True
        elif source.startswith("fd:"):
            number = _atoi(source[3:])
            if number < 0:
                raise PassphraseError(f"Can't access file descriptor {source[3:]}")
            self._fd = number
        else:
            stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
            if stream is None:
                raise PassphraseError("Error reading pass phrase from stdin: no standard input")
            self._file = stream

    def readline(self) -> bytes:
        """The next line without its ``\\n``, at most :data:`PASS_MAX` bytes."""
        try:
            if self._file is not None:
                line = self._file.readline(PASS_MAX)
            else:
                line = self._read_fd_line()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or "read error"
            raise PassphraseError(
                f"Error reading pass phrase from {self.description}: {reason}"
            ) from None
        if not line:
            raise PassphraseError(f"Error reading pass phrase from {self.description}: no data")
        return line.split(b"\n", 1)[0]

    def _read_fd_line(self) -> bytes:
        # Byte by byte, so that nothing after the line is taken from the fd.
        assert self._fd is not None
        data = bytearray()
        while len(data) < PASS_MAX:
            byte = os.read(self._fd, 1)
            if not byte:
                break
            data += byte
            if byte == b"\n":
                break
        return bytes(data)

    def close(self) -> None:
        if self._own and self._file is not None:
            self._file.close()


def _read_direct(source: str, environ: Mapping[str, str] | None) -> bytes | None:
    """``pass:`` and ``env:``, which need no reader; ``None`` for others."""
    if source.startswith("pass:"):
        return os.fsencode(source[5:])
    if source.startswith("env:"):
        name = source[4:]
        env = os.environ if environ is None else environ
        value = env.get(name)
        if value is None:
            raise PassphraseError(f"No environment variable {name}")
        return os.fsencode(value)
    if source == "stdin" or source.startswith(("file:", "fd:")):
        return None
    raise PassphraseError(_INVALID_SOURCE)


def read_passphrase(
    source: str,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
) -> bytes:
    """The pass phrase a source gives. ``environ`` replaces ``os.environ``
    for ``env:``; ``stdin`` replaces ``sys.stdin.buffer``. Raises
    :class:`PassphraseError`."""
    direct = _read_direct(source, environ)
    if direct is not None:
        return direct
    reader = _LineSource(source, stdin)
    try:
        return reader.readline()
    finally:
        reader.close()


def read_passphrase_pair(
    first: str | None,
    second: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
) -> tuple[bytes | None, bytes | None]:
    """Two pass phrases, as OpenSSL's ``app_passwd()`` reads ``-passin`` and
    ``-passout``: when both name the same ``file:``, ``fd:`` or ``stdin``
    source, the first line goes to the first and the second line to the
    second. A source that is ``None`` gives ``None``."""
    if first is None or second is None or first != second:
        return (
            None if first is None else read_passphrase(first, environ=environ, stdin=stdin),
            None if second is None else read_passphrase(second, environ=environ, stdin=stdin),
        )
    direct = _read_direct(first, environ)
    if direct is not None:
        return direct, direct
    reader = _LineSource(first, stdin)
    try:
        return reader.readline(), reader.readline()
    finally:
        reader.close()


def _prompt_terminal(description: str) -> bytes:
    import getpass

    try:
        return os.fsencode(getpass.getpass(f"Enter pass phrase for {description}:"))
    except EOFError:
        raise PassphraseError(f"no pass phrase entered for {description}") from None


class PassphraseSource:
    """One pass phrase option of ``openssl cmp`` (``-keypass``, ``-secret``,
    ...), resolved when first needed and then kept.

    ``spec`` is the option's argument, ``None`` when not given; then
    :meth:`get` prompts on the terminal, or with ``batch`` raises
    :class:`PassphraseError`. An argument that is not a valid source, or a
    source that cannot be read, is used as the pass phrase itself after a
    warning, as ``openssl cmp`` does (``plain_fallback=False`` turns that
    into an error).
    """

    def __init__(
        self,
        spec: str | None,
        description: str,
        *,
        batch: bool = False,
        plain_fallback: bool = True,
        warn: Callable[[str], None] | None = None,
        prompt: Callable[[str], bytes] | None = None,
        environ: Mapping[str, str] | None = None,
        stdin: BinaryIO | None = None,
    ) -> None:
        self.spec = spec
        self.description = description
        self.batch = batch
        self.plain_fallback = plain_fallback
        self._warn = warn
        self._prompt = prompt or _prompt_terminal
        self._environ = environ
        self._stdin = stdin
        self._value: bytes | None = None

    def __repr__(self) -> str:
        # Never show the argument: it may be the pass phrase itself.
        state = "given" if self.spec is not None else "not given"
        return f"PassphraseSource({self.description!r}, {state})"

    @property
    def given(self) -> bool:
        """Whether a source was given for this option."""
        return self.spec is not None

    def get(self) -> bytes:
        """The pass phrase. Raises :class:`PassphraseError`."""
        if self._value is None:
            self._value = self._resolve()
        return self._value

    def _resolve(self) -> bytes:
        if self.spec is None:
            if self.batch:
                raise PassphraseError(
                    f"no pass phrase given for {self.description}, and -batch forbids prompting"
                )
            return self._prompt(self.description)
        try:
            return read_passphrase(self.spec, environ=self._environ, stdin=self._stdin)
        except PassphraseError as exc:
            if not self.plain_fallback:
                raise PassphraseError(f"{exc} (for {self.description})") from None
            if self._warn is not None:
                # The argument is the pass phrase now: the warning names the kind of
                # source only, not the path or variable name that are part of it.
                self._warn(
                    f"{_fallback_reason(self.spec)} (for {self.description}); using the"
                    " argument itself as pass phrase (better precede it with 'pass:')"
                )
            return os.fsencode(self.spec)


def _fallback_reason(spec: str) -> str:
    """Why ``spec`` is not used as a source, without any part of it."""
    if not is_source(spec):
        return _INVALID_SOURCE
    kind = "stdin" if spec == "stdin" else spec.split(":", 1)[0] + ":"
    return f"Cannot read a pass phrase from the {kind} source given"
