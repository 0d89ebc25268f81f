"""The pieces of ``cmpkit``'s own options for many transactions: the
``-batch_file`` format, the ``-progress`` bar and the ``-stats`` report.

A batch file holds one enrollment a line: the subject in OpenSSL's
``/type0=value0/type1=value1`` syntax (as ``-subject``), then optional
``name=value`` fields::

    # comment lines and blank lines are skipped
    /CN=host1.example.com
    /CN=host2.example.com   newkey=keys/host2.key  certout=certs/host2.pem
    "/CN=John Smith/O=Example Ltd"  sans=john.example.com,10.0.0.7  chainout=john.chain.pem

Fields are separated by white space; double quotes (anywhere in a field, as in
a shell, but with no escapes: backslashes stay as they are, for the DN
syntax) keep white space in. The fields are

- ``newkey=FILE``: the key to certify; when the file does not exist, a new EC
  P-256 key is generated and written there together with the certificate
  (readable by the owner only, encrypted with ``-newkeypass`` when given);
- ``certout=FILE``, ``chainout=FILE``: where the certificate and its chain go;
- ``sans=NAMES``: the Subject Alternative Names, as ``-sans`` takes them;
- ``subject=DN``: the subject, for those who prefer to name it.

A field a line leaves out comes from the command line: ``-newkey``,
``-certout``, ``-chainout`` (in which ``{n}`` stands for the line number and
``{cn}`` for the subject's common name, made safe as a file name) and
``-sans``; without ``-newkey`` the key is that of ``-key`` or ``-csr``, as
for a single enrollment. Paths are relative to the current directory. The
whole file is read and checked before anything is sent: a malformed line is
one error naming the file and line number, as is an output file two lines
would write.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from cryptography import x509
from cryptography.x509.oid import NameOID

from cmp.batch import BatchStats
from cmp.dn import parse_dn
from cmp.errors import CMPError
from cmp.requests import parse_sans

__all__ = [
    "BATCH_FIELDS",
    "BatchDefaults",
    "BatchFileError",
    "BatchLine",
    "ProgressBar",
    "has_placeholder",
    "parse_batch_line",
    "plural",
    "read_batch_file",
    "split_fields",
    "stats_report",
]

BATCH_FIELDS = ("subject", "newkey", "certout", "chainout", "sans")
"""The ``name=`` fields a batch file line may have."""

_FIELD = re.compile(r"^([a-z]+)=")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BatchFileError(CMPError):
    """A batch file cannot be used: the one-line reason, with file and line."""


@dataclass(frozen=True)
class BatchDefaults:
    """What the command line gives the lines that leave a field out:
    ``-newkey``, ``-certout``, ``-chainout`` (templates with ``{n}`` and
    ``{cn}``), and whether ``-key`` or ``-csr`` has a key to certify."""

    newkey: str | None = None
    certout: str | None = None
    chainout: str | None = None
    have_key: bool = False


@dataclass(frozen=True)
class BatchLine:
    """One enrollment of a batch file.

    ``newkey`` None means the command line's key (``-newkey`` without
    placeholders, ``-key``, ``-csr``); ``sans`` None means ``-sans``.
    """

    number: int
    subject: x509.Name
    subject_text: str
    newkey: str | None
    certout: str
    chainout: str | None = None
    sans: tuple[x509.GeneralName, ...] | None = None
    sans_critical: bool = False


def split_fields(text: str) -> list[str]:
    """The white-space separated fields of a line; ``"..."`` keeps white
    space in and may appear anywhere in a field; nothing is escaped.
    Raises ValueError for a quote left open."""
    fields: list[str] = []
    current: list[str] = []
    in_field = quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            in_field = True
        elif char.isspace() and not quoted:
            if in_field:
                fields.append("".join(current))
                current, in_field = [], False
        else:
            current.append(char)
            in_field = True
    if quoted:
        raise ValueError("a double quote is not closed")
    if in_field:
        fields.append("".join(current))
    return fields


def _common_name(subject: x509.Name) -> str | None:
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[-1].value
    text = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return _UNSAFE.sub("_", text).strip("._") or "_"


def _expand(template: str, number: int, subject: x509.Name, option: str) -> str:
    path = template.replace("{n}", str(number))
    if "{cn}" in path:
        cn = _common_name(subject)
        if cn is None:
            raise ValueError(f"-{option} uses {{cn}} but the subject has no CN")
        path = path.replace("{cn}", cn)
    return path


def has_placeholder(text: str | None) -> bool:
    """Whether an option value is a template for batch lines (``{n}``, ``{cn}``)."""
    return text is not None and ("{n}" in text or "{cn}" in text)


def parse_batch_line(
    text: str,
    number: int,
    defaults: BatchDefaults,
    *,
    warn: Callable[[str], None] | None = None,
) -> BatchLine | None:
    """The enrollment of one line (``number`` counts from 1), or None for
    a blank or comment line. Raises ValueError with the reason."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    given: dict[str, str] = {}
    for position, field in enumerate(split_fields(stripped)):
        match = _FIELD.match(field)
        if match is None:
            if position == 0 and field.startswith("/"):
                given["subject"] = field
                continue
            raise ValueError(
                f"expected name=value, not {field!r}"
                if position
                else f"expected the subject (/type0=value0/...), not {field!r}"
            )
        name = match.group(1)
        if name not in BATCH_FIELDS:
            raise ValueError(f"unknown field '{name}=' (known: {', '.join(BATCH_FIELDS)})")
        if name in given:
            raise ValueError(f"field '{name}=' given twice")
        given[name] = field[match.end() :]
    if "subject" not in given:
        raise ValueError("no subject")
    subject = parse_dn(given["subject"], desc="subject", warn=warn)
    newkey = given.get("newkey")
    template = defaults.newkey
    if newkey is None and template is not None and has_placeholder(template):
        newkey = _expand(template, number, subject, "newkey")
    if newkey == "":
        raise ValueError("empty newkey=")
    if newkey is None and defaults.newkey is None and not defaults.have_key:
        raise ValueError("no newkey= and no -newkey, -key or -csr for the key to certify")
    certout = given.get("certout")
    if certout is None and defaults.certout is not None:
        certout = _expand(defaults.certout, number, subject, "certout")
    if not certout:
        raise ValueError("no certout= and no -certout for the certificate")
    chainout = given.get("chainout")
    if chainout is None and defaults.chainout is not None:
        chainout = _expand(defaults.chainout, number, subject, "chainout")
    sans: tuple[x509.GeneralName, ...] | None = None
    critical = False
    if "sans" in given:
        names, critical = parse_sans(given["sans"])
        sans = tuple(names)
    return BatchLine(
        number, subject, given["subject"], newkey, certout, chainout or None, sans, critical
    )


def read_batch_file(
    path: str, defaults: BatchDefaults, *, warn: Callable[[str], None] | None = None
) -> list[BatchLine]:
    """Every enrollment of the batch file ``path`` (UTF-8), checked: raises
    :class:`BatchFileError` for the first malformed line, and for an output
    file (certout, chainout, a key to generate) that two lines would write."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise BatchFileError(f"cannot read batch file '{path}': {exc.strerror or exc}") from None
    lines: list[BatchLine] = []
    writers: dict[str, tuple[int, str]] = {}  # output path -> (line, field)
    for number, raw in enumerate(data.splitlines(), 1):
        where = f"batch file '{path}' line {number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BatchFileError(f"{where}: not UTF-8 text") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        try:
            line = parse_batch_line(text, number, defaults, warn=warn)
        except (CMPError, ValueError) as exc:
            raise BatchFileError(f"{where}: {' '.join(str(exc).split())}") from None
        if line is None:
            continue
        outputs = [("certout", line.certout), ("chainout", line.chainout)]
        if line.newkey is not None and not os.path.exists(line.newkey):
            outputs.append(("newkey", line.newkey))
        for field, output in outputs:
            if output is None:
                continue
            key = os.path.normpath(os.path.abspath(output))
            earlier = writers.get(key)
            if earlier is not None:
                raise BatchFileError(
                    f"{where}: {field} '{output}' is also the {earlier[1]} of line {earlier[0]}"
                )
            writers[key] = (number, field)
        lines.append(line)
    return lines


# --- the progress bar --------------------------------------------------------------------------


class ProgressBar:
    """One line on a terminal, redrawn in place (``\\r``) at most every
    ``interval`` seconds: a bar, done/total, the rate, failures, the time left.

    :meth:`clear` takes it off the line before something else is written
    there (the next :meth:`update` draws it again); :meth:`close` ends it.
    Thread-safe.
    """

    def __init__(
        self,
        stream: TextIO,
        total: int | None,
        *,
        width: int = 24,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._total = total
        self._width = width
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._shown = False
        self._drawn_at = -float("inf")
        self._last = ""

    def render(self, done: int, failed: int, elapsed: float) -> str:
        """The text of the bar for these figures."""
        rate = done / elapsed if elapsed > 0 else 0.0
        parts: list[str] = []
        if self._total:
            filled = min(self._width, self._width * done // self._total)
            parts.append("[" + "#" * filled + "." * (self._width - filled) + "]")
            parts.append(f"{done}/{self._total} {100 * done // self._total:3d}%")
        else:
            parts.append(f"{done} done")
        parts.append(f"{rate:.1f}/s")
        if failed:
            parts.append(f"{failed} failed")
        if self._total and rate > 0 and done < self._total:
            left = int((self._total - done) / rate + 0.5)
            parts.append(f"eta {left // 60}:{left % 60:02d}")
        return " ".join(parts)

    def update(self, done: int, failed: int, elapsed: float, *, force: bool = False) -> None:
        """Draw the bar for these figures (unless drawn a moment ago)."""
        now = self._clock()
        with self._lock:
            if self._shown and not force and now - self._drawn_at < self._interval:
                return
            self._last = self.render(done, failed, elapsed)
            self._stream.write("\r" + self._last + "\x1b[K")
            self._stream.flush()
            self._shown = True
            self._drawn_at = now

    def clear(self) -> None:
        """Take the bar off its line."""
        with self._lock:
            if self._shown:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
                self._shown = False

    def close(self) -> None:
        """Leave the last figures on their line and end it."""
        with self._lock:
            if self._shown:
                self._stream.write("\n")
            elif self._last:
                self._stream.write("\r" + self._last + "\x1b[K\n")
            self._stream.flush()
            self._shown = False


# --- statistics ----------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.2f} ms"


def plural(noun: str, count: int) -> str:
    """``noun`` (a plural in -s) as the count needs it."""
    return noun.removesuffix("s") if count == 1 else noun


def stats_report(stats: BatchStats, what: str = "transactions") -> list[str]:
    """The ``-stats`` lines: count and throughput, latency percentiles,
    failures by kind (the exception's class)."""
    lines = [
        f"{stats.count} {plural(what, stats.count)} ({stats.ok} ok, {stats.failed} failed)"
        f" in {stats.elapsed:.2f} s: {stats.throughput:.1f}/s"
    ]
    if stats.samples:
        lines.append(
            f"latency p50 {_ms(stats.p50)}, p90 {_ms(stats.p90)}, p99 {_ms(stats.p99)},"
            f" max {_ms(stats.latency_max)} (min {_ms(stats.latency_min)},"
            f" mean {_ms(stats.latency_mean)})"
        )
    if stats.errors:
        kinds = sorted(stats.errors.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("failed: " + ", ".join(f"{count} {name}" for name, count in kinds))
    return lines
