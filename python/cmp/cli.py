"""The ``cmpkit`` command: ``openssl cmp``'s command line, options and config
files, in front of cmpkit's client and mock server.

Arguments are parsed as OpenSSL's ``opt_next()`` parses them, driven by
:data:`cmp.options.OPTIONS` (and cmpkit's own :data:`cmp.options.EXTENSIONS`,
which ``-help`` lists under a heading of their own): single-dash long options
(``--name`` works too), ``-name=value``, ``-h`` for ``-help``, numbers in C
syntax, and the first argument not starting with ``-`` ends the options (and
is an error). Click is the entry point; it hands the raw arguments over
untouched.

Order of work, as in apps/cmp.c: parse the command line (``-help`` stops
there), read the config file (``-config``, else ``$OPENSSL_CONF``) and the
``-section`` sections, let the command line override them, check the options
against each other, then :func:`run`. Every option error is one line on
stderr and exit status 1, before any file is read for credentials and before
any network activity. No protocol logic lives here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import click

from cmp.config import ConfigError, ConfigFile, load_config, merge_options
from cmp.options import (
    EXTENSION_GROUP,
    EXTENSIONS,
    GROUPS,
    OPTIONS,
    ArgKind,
    OptionError,
    OptionSpec,
    OptionValue,
    check_int_range,
    normalize_format,
    parse_cli_int,
)

__all__ = [
    "PROG",
    "ParsedArgs",
    "build_options",
    "check_options",
    "cli_main",
    "format_help",
    "main",
    "parse_command_line",
    "run",
]

PROG = "cmpkit"

# OpenSSL's logging levels (-verbosity).
LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG = 3, 4, 6, 7

# OpenSSL's opt_help() aligns help texts at the widest "-name arg" below this.
_MAX_HELP_WIDTH = 30


@dataclass
class ParsedArgs:
    """The command line after parsing: the options given, with typed
    values, in the order first given; whether ``-help`` was asked for; and
    warnings to show once the verbosity is known."""

    values: dict[str, OptionValue] = field(default_factory=dict)
    help: bool = False
    warnings: list[str] = field(default_factory=list)


class Log:
    """Messages filtered by ``-verbosity`` like OpenSSL's: errors and
    warnings on stderr, information on stdout."""

    def __init__(self, verbosity: int = LOG_INFO, stream: TextIO | None = None) -> None:
        self.verbosity = verbosity
        self._stream = stream

    def _write(self, level: int, label: str, message: str) -> None:
        if level <= self.verbosity:
            # As openssl cmp: information on stdout, warnings and errors on stderr.
            default = sys.stdout if level >= LOG_INFO else sys.stderr
            stream = self._stream if self._stream is not None else default
            # Option errors name the program, as openssl's "cmp: ..." does;
            # the rest carries OpenSSL's "CMP warning: ", "CMP info: ", ...
            prefix = f"CMP {label}" if label else f"{PROG}: "
            stream.write(f"{prefix}{message}\n")

    def error(self, message: str) -> None:
        # Unlike OpenSSL's CMP_err(), shown at every verbosity: a failing
        # command always says why.
        self._write(min(LOG_ERR, self.verbosity), "", message)

    def warn(self, message: str) -> None:
        self._write(LOG_WARNING, "warning: ", message)

    def info(self, message: str) -> None:
        self._write(LOG_INFO, "info: ", message)

    def debug(self, message: str) -> None:
        self._write(LOG_DEBUG, "debug: ", message)


# -- parsing ----------------------------------------------------------------


def _typed_value(spec: OptionSpec, text: str, parsed: ParsedArgs) -> OptionValue:
    """Check and convert one option argument as OpenSSL does while parsing."""
    if spec.kind is ArgKind.INT:
        return parse_cli_int(spec, text)
    if text == "" and spec.empty_resets:
        parsed.warnings.append(f"{spec.flag} option argument is empty string, resetting option")
        return None
    if text.startswith("-") and spec.empty_resets:
        parsed.warnings.append(f"{spec.flag} option argument starts with hyphen")
    if spec.multiple:
        earlier = parsed.values.get(spec.name)
        return (earlier if isinstance(earlier, tuple) else ()) + (text,)
    return text


def parse_command_line(argv: Sequence[str]) -> ParsedArgs:
    """Parse the arguments (without the program name) like OpenSSL's
    ``opt_next()``. Stops at ``-help``. Raises :class:`OptionError` with
    OpenSSL's wording for an unknown option, a missing or superfluous
    argument, a malformed or out-of-range number, or an extra argument."""
    parsed = ParsedArgs()
    index = 0
    while index < len(argv):
        arg = argv[index]
        if not arg.startswith("-"):
            break
        index += 1
        if arg == "--":
            break
        name = arg[2:] if arg.startswith("--") else arg[1:]
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        if name == "h":
            name = "help"
        spec = OPTIONS.get(name) or EXTENSIONS.get(name)
        if spec is None:
            raise OptionError(f"Unknown option: -{name}")
        if spec.kind is ArgKind.FLAG:
            if value is not None:
                raise OptionError(f"Option -{name} does not take a value")
            if name == "help":
                parsed.help = True
                return parsed
            parsed.values[name] = True
            continue
        if value is None:
            if index >= len(argv):
                raise OptionError(f"Option -{name} needs a value")
            value = argv[index]
            index += 1
        parsed.values[name] = _typed_value(spec, value, parsed)
    if index < len(argv):
        raise OptionError(f"Extra argument: {argv[index]!r}")
    return parsed


# -- help ------------------------------------------------------------------


def _option_head(spec: OptionSpec) -> str:
    return f" -{spec.name}" + (f" {spec.metavar}" if spec.takes_value else "")


def format_help(prog: str = PROG, *, extensions: bool | None = None) -> str:
    """The option summary, laid out as ``openssl cmp -help`` lays it out;
    then, with ``extensions`` (default: unless ``prog`` is OpenSSL's
    ``cmp``), cmpkit's own options under a heading of their own."""
    if extensions is None:
        extensions = prog != "cmp"
    width = 0
    for spec in OPTIONS.values():
        size = len(_option_head(spec))
        if width < size < _MAX_HELP_WIDTH:
            width = size
    lines = [f"Usage: {prog} [options]", "Valid options are:"]
    for group in GROUPS:
        if group:
            lines += ["", f"{group} options:"]
        lines += _help_lines([s for s in OPTIONS.values() if s.group == group], width)
    if extensions:
        lines += ["", f"{EXTENSION_GROUP}s (options not in openssl cmp):"]
        lines += _help_lines(list(EXTENSIONS.values()), width)
    return "\n".join(lines) + "\n"


def _help_lines(specs: Sequence[OptionSpec], width: int) -> list[str]:
    lines: list[str] = []
    for spec in specs:
        head = _option_head(spec)
        if len(head) >= _MAX_HELP_WIDTH or len(head) > width:
            lines.append(head)
            head = ""
        lines.append(f"{head:<{width}}  {spec.help[0]}")
        lines += [f"{'':<{width}}  {more}" for more in spec.help[1:]]
    return lines


# -- config and merging -----------------------------------------------------


def build_options(
    parsed: ParsedArgs,
    *,
    environ: Mapping[str, str] | None = None,
    log: Log | None = None,
    info: Callable[[str], None] | None = None,
) -> dict[str, OptionValue]:
    """Read the config file the command line (or ``OPENSSL_CONF``) names and
    merge its sections with the command line. ``-config ""`` reads none; a
    file named by ``OPENSSL_CONF`` that does not exist is skipped, as OpenSSL
    skips its default file. ``info`` receives which file and sections were
    read (default: ``log.info``). Raises :class:`ConfigError`."""
    env = os.environ if environ is None else environ
    log = log if log is not None else Log()
    explicit = parsed.values.get("config")
    path = explicit if isinstance(explicit, str) else env.get("OPENSSL_CONF")
    sections_arg = parsed.values.get("section", OPTIONS["section"].default)
    sections = sections_arg if isinstance(sections_arg, str) else "cmp"
    config: ConfigFile | None = None
    if path and (explicit is not None or os.path.exists(path)):
        config = load_config(path, environ=environ)
    # OpenSSL's options merge with the config file; cmpkit's own come from
    # the command line only.
    given = {name: value for name, value in parsed.values.items() if name in OPTIONS}
    options = merge_options(config, sections, given, warn=log.warn)
    for name, spec in EXTENSIONS.items():
        options[name] = parsed.values.get(name, spec.default)
    if explicit is not None and config is None:
        options["config"] = explicit
    verbosity = options["verbosity"]
    if isinstance(verbosity, int):
        log.verbosity = verbosity
    info = info if info is not None else log.info
    if config is not None:
        info(f"using section(s) '{sections}' of OpenSSL configuration file '{config.path}'")
        if sections == "cmp" and not config.has_section("cmp"):
            info(
                f"no [cmp] section found in config file '{config.path}';"
                " will thus use just [default] and unnamed section if present"
            )
    return options


# -- consistency checks ----------------------------------------------------

_TLS_OPTIONS = ("tls_cert", "tls_key", "tls_keypass", "tls_extra", "tls_trusted", "tls_host")
_MOCK_RANGES = ("pkistatus", "failure", "failurebits")
_PROVIDERS_BUILT_IN = ("default", "base", "legacy")


def _valid_numeric_oid(text: str) -> bool:
    arcs = text.split(".")
    if len(arcs) < 2 or not all(arc.isascii() and arc.isdigit() for arc in arcs):
        return False
    first, second = int(arcs[0]), int(arcs[1])
    return first <= 2 and (first == 2 or second < 40)


def _check_geninfo(text: str) -> None:
    # apps/cmp.c of 3.0 takes exactly <numeric OID>:int:<decimal integer>.
    oid, colon, rest = text.partition(":")
    if not colon or not _valid_numeric_oid(oid):
        raise OptionError("cannot parse OID in -geninfo option")
    if rest[:4].lower() != "int:":
        raise OptionError("missing 'int:' in -geninfo option")
    number = rest[4:]
    digits = number[1:] if number[:1] in "+-" else number
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise OptionError("cannot parse int in -geninfo option")


def _check_choices(options: dict[str, OptionValue]) -> None:
    if options["certform"] is None:  # unset by an empty value: OpenSSL keeps PEM
        options["certform"] = OPTIONS["certform"].default
    for name in ("certform", "keyform"):
        value = options[name]
        if isinstance(value, str):
            options[name] = normalize_format(OPTIONS[name], value)
    for name in ("purpose", "verify_name"):
        value = options[name]
        if isinstance(value, str) and value not in OPTIONS[name].choices:
            raise OptionError(f"Invalid {name.replace('_', ' ')} {value!r} for option -{name}")


def _check_unsupported(options: dict[str, OptionValue], log: Log) -> None:
    """Options of OpenSSL's own machinery: refused where ignoring them would
    do something else than asked, otherwise explained and ignored."""
    if options["engine"] is not None or options["keyform"] == "ENGINE":
        raise OptionError(
            "OpenSSL engines (-engine, -keyform ENGINE) are not available in cmpkit;"
            " give keys as PEM, DER or PKCS#12 files"
        )
    providers = options["provider"]
    if isinstance(providers, tuple):
        for provider in providers:
            if provider not in _PROVIDERS_BUILT_IN:
                log.warn(f"ignoring -provider {provider}: cmpkit uses cryptography's own OpenSSL")
    for name in ("provider-path", "propquery"):
        if options[name] is not None:
            log.warn(f"ignoring -{name}: cmpkit does not load OpenSSL providers")
    if options["rand"] is not None:
        log.debug("ignoring -rand: cmpkit seeds from the operating system's random source")
    if options["writerand"] is not None:
        log.warn("ignoring -writerand: cmpkit keeps no random state file")


def check_options(options: dict[str, OptionValue], log: Log | None = None) -> None:
    """Check the merged options against each other as ``openssl cmp`` does
    before doing anything, and normalise them: formats to ``PEM``/``DER``/
    ``P12``, options OpenSSL ignores in a combination set to their default
    (with a warning). Raises :class:`OptionError` for the first problem."""
    log = log if log is not None else Log()
    _check_choices(options)
    _check_unsupported(options, log)
    tls_given = [name for name in _TLS_OPTIONS if options[name] is not None]
    if tls_given and not options["tls_used"]:
        log.warn("ignoring TLS option(s) since -tls_used is not given")
    if options["port"] is not None:
        if options["tls_used"]:
            raise OptionError("-tls_used option not supported with -port option")
        if options["use_mock_srv"] or options["server"] is not None:
            raise OptionError("The -port option excludes -server and -use_mock_srv")
        if options["rspin"] is not None or options["rspout"] is not None:
            raise OptionError("The -port option does not support -rspin and -rspout")
    if options["server"] is not None and options["use_mock_srv"]:
        raise OptionError("cannot use both -server and -use_mock_srv options")
    if options["use_mock_srv"] or options["port"] is not None:
        for name in _MOCK_RANGES:
            value = options[name]
            if isinstance(value, int):
                check_int_range(OPTIONS[name], value)
    if options["port"] is not None:
        for name in ("batch_file", "concurrency"):
            if options.get(name) is not None:
                log.warn(f"ignoring -{name} since -port is given")
                options[name] = None
        return  # acting as mock server: no client options needed
    if options["tls_used"] and (options["use_mock_srv"] or options["server"] is None):
        log.warn("ignoring -tls_used option since -use_mock_srv is given or -server is not given")
        options["tls_used"] = False
    # OpenSSL 3.0.9 and later: the server (or mock server) answers the
    # requests left once the -rspin files have run out.
    if options["rspin"] is not None:
        for name in ("server", "use_mock_srv"):
            if options[name] not in (None, False):
                log.warn(f"-{name} option is not used if enough filenames given for -rspin")
    if options["server"] is None and options["rspin"] is None and not options["use_mock_srv"]:
        raise OptionError("missing -server or -use_mock_srv or -rspin option")
    command = options["cmd"]
    if command is None:
        raise OptionError("no cmp command to execute")
    if command not in OPTIONS["cmd"].choices:
        raise OptionError(f"unknown cmp command '{command}'")
    if options["policies"] is not None and options["policy_oids"] is not None:
        raise OptionError("cannot have policies both via -policies and via -policy_oids")
    geninfo = options["geninfo"]
    if isinstance(geninfo, str):
        _check_geninfo(geninfo)
    _check_extensions(options, log)


_ENROLL_COMMANDS = ("ir", "cr", "kur", "p10cr")
_MESSAGE_FILES = ("reqin", "reqout", "rspin", "rspout")


def _check_extensions(options: dict[str, OptionValue], log: Log) -> None:
    """cmpkit's ``-batch_file`` and ``-concurrency`` against the rest: many
    transactions at once run over the network (or the in-process mock
    server), for enrollments only."""
    batch_file = options.get("batch_file")
    concurrency = options.get("concurrency")
    repeat = options["repeat"]
    command = options["cmd"]
    many = isinstance(repeat, int) and repeat > 1
    if batch_file is not None:
        if command not in ("ir", "cr"):
            raise OptionError(f"-batch_file works with -cmd ir and cr, not '{command}'")
        if many:
            raise OptionError("-batch_file cannot be combined with -repeat")
        if options["subject"] is not None:
            log.warn("ignoring -subject since -batch_file gives the subject of each enrollment")
            options["subject"] = None
        together = "-batch_file"
    elif isinstance(concurrency, int) and concurrency > 1 and many:
        if command not in _ENROLL_COMMANDS:
            raise OptionError(
                "-repeat with -concurrency above 1 works with the enrollment commands"
                f" ir, cr, kur and p10cr, not '{command}'"
            )
        together = "-repeat with -concurrency above 1"
    else:
        if concurrency is not None and not many:
            log.warn("ignoring -concurrency since neither -batch_file nor -repeat is given")
        return
    for name in _MESSAGE_FILES:
        if options[name] is not None:
            raise OptionError(f"-{name} cannot be used with {together}")


# -- running -----------------------------------------------------------------


def run(options: dict[str, OptionValue]) -> int:
    """Carry out what the checked options ask for (:func:`cmp.cli_run.run`);
    the exit status. Imported here, not at the top, so that ``-help`` and
    option errors stay fast."""
    from cmp.cli_run import run as run_options

    return run_options(options)


def cli_main(argv: Sequence[str], *, environ: Mapping[str, str] | None = None) -> int:
    """The whole command for the given arguments (without the program name);
    the exit status: 0 on success and for ``-help``, 1 on any error."""
    if not argv:
        sys.stderr.write(format_help())
        return 1
    log = Log()
    try:
        parsed = parse_command_line(argv)
    except OptionError as exc:
        log.error(f"{exc} (use -help for a summary)")
        return 1
    if parsed.help:
        sys.stderr.write(format_help())
        return 0
    verbosity = parsed.values.get("verbosity")
    if isinstance(verbosity, int):
        log.verbosity = verbosity
    notes: list[str] = []  # shown once the options are known to be good
    try:
        options = build_options(parsed, environ=environ, log=log, info=notes.append)
        for warning in parsed.warnings:
            log.warn(warning)
        check_options(options, log)
    except (OptionError, ConfigError) as exc:
        log.error(str(exc))
        return 1
    for note in notes:
        log.info(note)
    return run(options)


class _RawArgsCommand(click.Command):
    """A click command that passes its arguments on unparsed: ``openssl
    cmp``'s single-dash long options are parsed by :func:`parse_command_line`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["cmpkit.argv"] = list(args)
        return []


def _invoke() -> None:
    ctx = click.get_current_context()
    ctx.exit(cli_main(ctx.meta["cmpkit.argv"]))


#: The console script ``cmpkit`` (and ``python -m cmp``).
main = _RawArgsCommand(
    PROG,
    callback=_invoke,
    add_help_option=False,
    help="Drop-in replacement for `openssl cmp`; run `cmpkit -help` for the options.",
)
