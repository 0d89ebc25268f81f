"""OpenSSL config files (``config(5)``) and how ``openssl cmp`` reads its
options from them.

:func:`parse_config` / :func:`load_config` read the syntax OpenSSL 3.0 reads:
``[section]`` headers (keys before the first header are in section
``default``, so the unnamed section and ``[default]`` are one), ``key = value``
lines, ``#`` comments, ``"..."``/``'...'`` quotes, backslash escapes, line
continuation with a trailing backslash, ``$var``/``${var}``/``$(var)``,
``$section::var``, ``${section::var}`` and ``$ENV::NAME`` expanded while
reading, ``section::key = value``, ``.include`` and ``.pragma`` (``dollarid``,
``abspath``, ``includedir``).

:func:`merge_options` then gives every option its value with apps/cmp.c's
rules: the sections named by ``-section`` are searched from the last to the
first, a section lacking a key falls back to ``[default]`` *before* an earlier
section is asked (OpenSSL's ``NCONF_get_string()``), an empty value unsets the
option, numbers and flags (``0``/``1``) that are not numbers count as not
given, unknown keys are ignored, and the command line overrides the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable

from cmp.errors import CMPError
from cmp.options import (
    OPTIONS,
    ArgKind,
    OptionError,
    OptionSpec,
    OptionValue,
    parse_config_int,
    split_list,
)

__all__ = [
    "DEFAULT_SECTION",
    "ConfigEntry",
    "ConfigError",
    "ConfigFile",
    "load_config",
    "merge_options",
    "parse_config",
    "split_sections",
]

#: The section keys before any ``[section]`` line belong to; also the
#: fallback of every lookup.
DEFAULT_SECTION = "default"
#: The section ``openssl cmp`` reads when no ``-section`` is given.
CMP_SECTION = "cmp"
#: OpenSSL's limit on a value's length after variable expansion.
MAX_VALUE_LENGTH = 65536
#: OpenSSL keeps this many characters of a ``-section`` name.
SECTION_NAME_MAX = 40
#: Nesting limit of ``.include`` (OpenSSL has none and loops on a cycle).
MAX_INCLUDE_DEPTH = 16

_WS = " \t\r\n"
_ESC = "\\"
_QUOTES = "\"'"
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ALNUM_PUNCT = _ALNUM | frozenset("!.%&*+,/;?@^~|-")


class ConfigError(CMPError, ValueError):
    """A config file cannot be read or has a syntax error, or one of its
    values is invalid for the option it sets. ``str()`` is one line naming
    the file and, where known, the line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.reason = message
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f'config file "{path}"' + (f" line {line}" if line is not None else "") + ": "
        super().__init__(where + message)


@dataclass(frozen=True)
class ConfigEntry:
    """One ``key = value`` as stored: the value after quote, escape and
    variable processing, and where it was written."""

    value: str
    path: str
    line: int


class ConfigFile:
    """A parsed OpenSSL config file: sections of ``key = value`` entries.

    Lookups follow ``NCONF_get_string()``: the named section, then for
    section ``ENV`` the environment, then section ``default``.
    """

    def __init__(
        self,
        path: str,
        sections: dict[str, dict[str, ConfigEntry]],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self._sections = sections
        self._environ = environ

    def __repr__(self) -> str:
        return f"ConfigFile({self.path!r}, sections={list(self._sections)!r})"

    @property
    def section_names(self) -> list[str]:
        """The sections in the order they first appear (``default`` first)."""
        return list(self._sections)

    def has_section(self, name: str) -> bool:
        """Whether a ``[name]`` section exists (``default`` always does)."""
        return name in self._sections

    def section(self, name: str) -> dict[str, str] | None:
        """The keys and values of one section, without any fallback, in file
        order; ``None`` if there is no such section. This is what
        ``-reqexts`` and ``-policies`` refer to."""
        entries = self._sections.get(name)
        if entries is None:
            return None
        return {key: entry.value for key, entry in entries.items()}

    def get_entry(self, section: str | None, key: str) -> ConfigEntry | None:
        """The entry for ``key`` in ``section`` with OpenSSL's fallbacks."""
        return _lookup(self._sections, section, key, self._environ)

    def get(self, section: str | None, key: str) -> str | None:
        """The value of ``key`` in ``section`` with OpenSSL's fallbacks:
        the section itself, the environment for section ``ENV``, then
        section ``default``; ``None`` if none has it."""
        entry = self.get_entry(section, key)
        return None if entry is None else entry.value


def _lookup(
    sections: Mapping[str, Mapping[str, ConfigEntry]],
    section: str | None,
    key: str,
    environ: Mapping[str, str] | None,
) -> ConfigEntry | None:
    if section is not None:
        found = sections.get(section, {}).get(key)
        if found is not None:
            return found
        if section == "ENV":
            env = os.environ if environ is None else environ
            if key in env:
                return ConfigEntry(env[key], "<environment>", 0)
    return sections.get(DEFAULT_SECTION, {}).get(key)


def _eat_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _trim_ws(text: str) -> str:
    end = len(text)
    while end > 0 and text[end - 1] in _WS:
        end -= 1
    return text[:end]


class _Parser:
    """The state of reading one config file and the files it includes."""

    def __init__(self, path: str, environ: Mapping[str, str] | None) -> None:
        self.top_path = path
        self.environ = environ
        self.sections: dict[str, dict[str, ConfigEntry]] = {DEFAULT_SECTION: {}}
        self.section = DEFAULT_SECTION
        self.dollarid = False
        self.abspath = False
        self.includedir: str | None = None
        self.path = path
        self.line = 0

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, line=self.line)

    # -- lines -------------------------------------------------------------

    def feed(self, text: str, path: str, depth: int) -> None:
        """Read the text of one file, line by line."""
        saved = self.path, self.line
        self.path = path
        pending = ""
        physical = text.split("\n")
        if physical and physical[-1] == "":
            physical.pop()
        for number, raw in enumerate(physical, start=1):
            self.line = number
            pending += raw.rstrip("\r\n")
            # A trailing backslash joins the next line, unless escaped itself.
            if pending.endswith(_ESC) and (len(pending) < 2 or pending[-2] != _ESC):
                pending = pending[:-1]
                continue
            self.logical_line(pending, depth)
            pending = ""
        if pending:
            self.logical_line(pending, depth)
        self.path, self.line = saved

    def logical_line(self, text: str, depth: int) -> None:
        nul = text.find("\0")
        if nul >= 0:
            text = text[:nul]
        text = self.strip_comment(text)
        pos = _eat_ws(text, 0)
        if pos == len(text):
            return
        if text[pos] == "[":
            self.section_line(text, pos + 1)
        else:
            self.key_line(text, pos, depth)

    @staticmethod
    def strip_comment(text: str) -> str:
        """Cut the line at the first ``#`` outside quotes and escapes."""
        pos = 0
        while pos < len(text):
            char = text[pos]
            if char == "#":
                return text[:pos]
            if char in _QUOTES:
                pos += 1
                while pos < len(text) and text[pos] != char:
                    if text[pos] == _ESC:
                        pos += 1
                    pos += 1
                pos += 1
            elif char == _ESC:
                pos += 2
            else:
                pos += 1
        return text

    def eat_name(self, text: str, pos: int) -> int:
        """Skip the characters a key or section name may have."""
        while pos < len(text):
            char = text[pos]
            if char == _ESC:
                pos += 2 if pos + 1 < len(text) else 1
            elif char in _ALNUM_PUNCT or (self.dollarid and char == "$"):
                pos += 1
            else:
                break
        return min(pos, len(text))

    def section_line(self, text: str, pos: int) -> None:
        start = _eat_ws(text, pos)
        scan = start
        while True:
            end = self.eat_name(text, scan)
            after = _eat_ws(text, end)
            if after < len(text) and text[after] == "]":
                break
            # Whitespace inside a section name is kept: "[a b]" is "a b".
            if after < len(text) and scan != after:
                scan = after
                continue
            raise self.error("missing close square bracket")
        name = self.expand(text[start:end], None)
        self.section = name
        self.sections.setdefault(name, {})

    def key_line(self, text: str, pos: int, depth: int) -> None:
        name_start = pos
        end = self.eat_name(text, pos)
        target = self.section
        if text[end : end + 2] == "::":
            target = text[name_start:end]
            name_start = end + 2
            end = self.eat_name(text, name_start)
        name = text[name_start:end]
        after = _eat_ws(text, end)
        has_equal = after < len(text) and text[after] == "="
        if name.startswith(".pragma") and (after != name_start + 7 or has_equal):
            self.pragma(text[after + 1 if has_equal else after :])
            return
        if name.startswith(".include") and (after != name_start + 8 or has_equal):
            self.include(text[after + 1 if has_equal else after :], target, depth)
            return
        if not has_equal:
            # Name the key, not the rest of the line: it may hold a secret.
            raise self.error(f"missing equal sign after '{name}'" if name else "missing equal sign")
        value = self.expand(_trim_ws(text[_eat_ws(text, after + 1) :]), target)
        entries = self.sections.setdefault(target, {})
        # A repeated key moves to its last position, as in OpenSSL (the order
        # of extension sections depends on it).
        entries.pop(name, None)
        entries[name] = ConfigEntry(value, self.path, self.line)

    # -- directives ----------------------------------------------------------

    def pragma(self, text: str) -> None:
        text = _trim_ws(text[_eat_ws(text, 0) :])
        keyword, colon, value = text.partition(":")
        if not colon or not keyword or not value:
            raise self.error(f"invalid pragma '{text}'")
        keyword = _trim_ws(keyword)
        value = value[_eat_ws(value, 0) :]
        if keyword in ("dollarid", "abspath"):
            if value in ("on", "true"):
                flag = True
            elif value in ("off", "false"):
                flag = False
            else:
                raise self.error(f"invalid pragma value '{value}' for '{keyword}'")
            if keyword == "dollarid":
                self.dollarid = flag
            else:
                self.abspath = flag
        elif keyword == "includedir":
            self.includedir = value
        # OpenSSL ignores unknown pragmas.

    def include(self, text: str, section: str, depth: int) -> None:
        target = self.expand(_trim_ws(text[_eat_ws(text, 0) :]), section)
        env = os.environ if self.environ is None else self.environ
        include_dir = env.get("OPENSSL_CONF_INCLUDE") or self.includedir
        if include_dir and not os.path.isabs(target):
            target = os.path.join(include_dir, target)
        if self.abspath and not os.path.isabs(target):
            raise self.error(f"relative path '{target}' in .include with abspath on")
        if depth >= MAX_INCLUDE_DEPTH:
            raise self.error(f"includes nested deeper than {MAX_INCLUDE_DEPTH} at '{target}'")
        if os.path.isdir(target):
            names = sorted(
                name
                for name in os.listdir(target)
                if name.lower().endswith((".cnf", ".conf"))
                and os.path.isfile(os.path.join(target, name))
            )
            for name in names:
                self.include_file(os.path.join(target, name), depth)
        elif os.path.exists(target):
            self.include_file(target, depth)
        # A missing include file is not an error for OpenSSL.

    def include_file(self, path: str, depth: int) -> None:
        try:
            text = _read_text(path)
        except OSError as exc:
            raise self.error(f"cannot read included file '{path}': {exc.strerror}") from None
        self.feed(text, path, depth + 1)

    # -- values --------------------------------------------------------------

    def expand(self, text: str, section: str | None) -> str:
        """OpenSSL's ``str_copy()``: quotes, escapes and ``$`` variables."""
        out: list[str] = []
        size = 0
        pos = 0
        while pos < len(text):
            char = text[pos]
            if char in _QUOTES:
                pos += 1
                while pos < len(text) and text[pos] != char:
                    if text[pos] == _ESC:
                        pos += 1
                        if pos >= len(text):
                            break
                    out.append(text[pos])
                    pos += 1
                pos += 1
            elif char == _ESC:
                if pos + 1 >= len(text):
                    break
                escaped = text[pos + 1]
                out.append({"r": "\r", "n": "\n", "b": "\b", "t": "\t"}.get(escaped, escaped))
                pos += 2
            elif char == "$" and (not self.dollarid or text[pos + 1 : pos + 2] in ("{", "(")):
                value, pos = self.variable(text, pos + 1, section)
                size += len(value)
                if size + len(text) > MAX_VALUE_LENGTH:
                    raise self.error("variable expansion too long")
                out.append(value)
            else:
                out.append(char)
                pos += 1
        return "".join(out)

    def variable(self, text: str, pos: int, section: str | None) -> tuple[str, int]:
        """Expand the variable after a ``$``; return its value and where the
        text continues."""
        close = {"{": "}", "(": ")"}.get(text[pos : pos + 1])
        if close:
            pos += 1
        start = pos
        while pos < len(text) and text[pos] in _ALNUM:
            pos += 1
        lookup_section = section
        name = text[start:pos]
        if text[pos : pos + 2] == "::":
            lookup_section = name
            start = pos + 2
            pos = start
            while pos < len(text) and text[pos] in _ALNUM:
                pos += 1
            name = text[start:pos]
        if close:
            if text[pos : pos + 1] != close:
                raise self.error(f"no closing '{close}' in reference to variable '{name}'")
            pos += 1
        entry = _lookup(self.sections, lookup_section, name, self.environ)
        if entry is None:
            shown = f"{lookup_section}::{name}" if lookup_section != section else name
            raise self.error(f"variable '{shown}' has no value")
        return entry.value, pos


def _read_text(path: str) -> str:
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "surrogateescape")


def parse_config(
    text: str, path: str = "<string>", *, environ: Mapping[str, str] | None = None
) -> ConfigFile:
    """Parse config file text. ``path`` names it in errors and is where
    relative ``.include`` paths are *not* resolved from (OpenSSL resolves them
    from the working directory). ``environ`` replaces ``os.environ`` for
    ``$ENV::NAME`` and ``OPENSSL_CONF_INCLUDE``. Raises :class:`ConfigError`."""
    parser = _Parser(path, environ)
    parser.feed(text, path, 0)
    return ConfigFile(path, parser.sections, environ)


def load_config(path: str, *, environ: Mapping[str, str] | None = None) -> ConfigFile:
    """Read and parse the config file at ``path``. Raises :class:`ConfigError`."""
    try:
        text = _read_text(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f'cannot read config file "{path}": {reason}') from None
    return parse_config(text, path, environ=environ)


def split_sections(names: str, *, warn: Callable[[str], None] | None = None) -> list[str]:
    """The section names of a ``-section`` argument, first to last: separated
    by commas and/or whitespace, ``default`` for an empty argument, each cut to
    OpenSSL's 40 characters (with a warning)."""
    result = []
    for name in split_list(names) or [DEFAULT_SECTION]:
        if len(name) > SECTION_NAME_MAX:
            if warn is not None:
                warn(
                    f"using only first {SECTION_NAME_MAX} characters of section name"
                    f' starting with "{name[:SECTION_NAME_MAX]}"'
                )
            name = name[:SECTION_NAME_MAX]
        result.append(name)
    return result


# Groups whose options OpenSSL passes on to opt_provider()/opt_verify() from
# config files; an empty value is passed on as is instead of unsetting.
_PASS_THROUGH_GROUPS = ("Provider", "Validation")


def _from_config(
    spec: OptionSpec, entry: ConfigEntry, warn: Callable[[str], None] | None
) -> tuple[bool, OptionValue]:
    """The value a config entry gives an option, and whether it counts as
    given at all (OpenSSL skips empty and non-numeric numbers)."""
    text = entry.value
    if spec.kind in (ArgKind.FLAG, ArgKind.INT):
        try:
            number = parse_config_int(spec, text)
        except OptionError as exc:
            raise ConfigError(str(exc), path=entry.path, line=entry.line) from None
        if number is None:
            if text != "" and warn is not None:
                warn(
                    f'config file "{entry.path}" line {entry.line}: ignoring value "{text}"'
                    f" of {spec.flag}, which is not a number"
                )
            return False, None
        return True, (number != 0) if spec.kind is ArgKind.FLAG else number
    if spec.multiple:
        return True, (text,)
    if text == "" and spec.group not in _PASS_THROUGH_GROUPS:
        return True, None
    return True, text


def _lookup_sections(config: ConfigFile, sections: list[str], key: str) -> ConfigEntry | None:
    # OpenSSL's conf_get_string(): the last section first; each lookup falls
    # back to [default] before the next (earlier) section is tried.
    for section in reversed(sections):
        entry = config.get_entry(section, key)
        if entry is not None:
            return entry
    return None


def merge_options(
    config: ConfigFile | None,
    sections: str,
    cli_args: Mapping[str, OptionValue],
    *,
    warn: Callable[[str], None] | None = None,
) -> dict[str, OptionValue]:
    """Every option's value (all names of :data:`~cmp.options.OPTIONS` but
    ``help``): its default, overridden by the config file sections named in
    ``sections`` (a ``-section`` argument), overridden by ``cli_args`` (the
    options given on the command line, already parsed). Options that may be
    given several times collect the config value and then the command-line
    values.

    Every section named must exist, except the default ``cmp``, for which
    OpenSSL falls back to ``[default]`` alone. Raises :class:`ConfigError`
    naming the file and line of a bad value; ``warn`` receives messages about
    values that are ignored.
    """
    result: dict[str, OptionValue] = {
        name: spec.default for name, spec in OPTIONS.items() if name != "help"
    }
    if config is not None:
        names = split_sections(sections, warn=warn)
        if sections != CMP_SECTION:
            for name in names:
                if not config.has_section(name):
                    raise ConfigError(f"no [{name}] section found in config file '{config.path}'")
        for name, spec in OPTIONS.items():
            if not spec.in_config:
                continue
            entry = _lookup_sections(config, names, name)
            if entry is None:
                continue
            given, value = _from_config(spec, entry, warn)
            if given:
                result[name] = value
        result["config"] = config.path
    for name, value in cli_args.items():
        spec = OPTIONS[name]
        if name == "help":
            continue
        if spec.multiple:
            earlier = result[name]
            collected = earlier if isinstance(earlier, tuple) else ()
            added = value if isinstance(value, tuple) else ()
            result[name] = collected + added
        else:
            result[name] = value
    result["section"] = sections
    return result
