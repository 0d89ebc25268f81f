"""Carrying out a checked ``cmpkit`` command line: ``openssl cmp``'s actions.

:func:`run` takes the merged option dictionary that :mod:`cmp.cli` built and
turns it into objects and calls, in the order ``openssl cmp`` 3.0 sets up its
context (apps/cmp.c): the transfer (HTTP(S), the ``-reqin``/``-reqout``/
``-rspin``/``-rspout`` files, or the in-process mock server), server
authentication, client credentials and protection, then the request. It
runs the transaction ``-repeat`` times with :class:`cmp.Client` and writes
what came back (``-certout``, ``-chainout``, ``-extracertsout``,
``-cacertsout``) or prints it (genm). ``-port`` serves the mock CA instead.

cmpkit's own options for many transactions (see :mod:`cmp.cli_batch`):
``-batch_file`` enrolls one subject a line, ``-concurrency`` above 1 runs
``-repeat``'s transactions side by side; both through :mod:`cmp.batch` with
an :class:`~cmp.client.AsyncClient`. A failed item is one error line at the
end and does not stop the others; each item's files are written together as
they come; the exit status is 1 if any item failed. ``-stats`` (always on for
these) prints throughput and latency percentiles, ``-progress`` (on by itself
on a terminal) a progress bar on stderr. Plain ``-repeat`` stays OpenSSL's:
one transaction after the other, stopping at the first failure.

One addition to OpenSSL: ``-use_mock_srv`` given none of the mock server's
credentials runs a freshly generated mock CA that issues what is asked, with
a secret it shares with the client, and ``-newkey`` may then name a file
that does not exist yet, for a new key to be generated into: an enrollment
that needs no prepared files (``openssl cmp`` refuses to start without them).

No protocol logic lives here: requests, protection and checks are the
transaction's. Every failure is one line on stderr and exit status 1; output
files are written all together at the end of a successful transaction, each
through a temporary file renamed into place, so that a failure never leaves
a half-written or partial set of outputs behind.

Messages follow OpenSSL's levels and prefixes (``CMP error:``, ``CMP
warning:``, ``CMP info:``, ``CMP debug:``): errors and warnings go to
stderr, information (including what a genp contained) to stdout, where
``openssl cmp`` prints its log. ``-verbosity 8`` adds a traceback to an
unexpected error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import queue
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from cmp import algorithms
from cmp.asn1 import PKIStatus
from cmp.batch import BatchItem, BatchStats, enroll_many_sync
from cmp.cli_batch import (
    BatchDefaults,
    BatchLine,
    ProgressBar,
    has_placeholder,
    plural,
    read_batch_file,
    stats_report,
)
from cmp.client import AsyncClient, Client
from cmp.config import ConfigFile, load_config
from cmp.credentials import (
    CredentialError,
    load_cert,
    load_cert_and_chain,
    load_cert_sources,
    load_csr,
    load_key,
    load_public_key,
    split_sources,
)
from cmp.dn import oneline, parse_dn
from cmp.errors import CMPError
from cmp.headers import parse_geninfo
from cmp.itav import NAME_BY_OID, OID_BY_NAME
from cmp.message import PKIMessage
from cmp.options import OptionValue, split_list
from cmp.passphrase import PassphraseSource
from cmp.requests import (
    EnrollRequest,
    GeneralRequest,
    Request,
    RevokeRequest,
    parse_sans,
    policies_from_oids,
)
from cmp.transaction import TransactionConfig, TransactionResult, protect_request
from cmp.transport import (
    AsyncBaseTransport,
    AsyncHTTPTransport,
    BaseTransport,
    Exchange,
    FileTransport,
    HTTPTransport,
    InProcessTransport,
    TLSConfig,
    parse_server,
    select_proxy,
)
from cmp.verify import UNSUPPORTED_VERIFY_OPTIONS, VerifyOptions

if TYPE_CHECKING:
    from cmp.server import MockServer, MockServerConfig

__all__ = ["RunError", "RunLog", "run"]

LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_NOTE, LOG_INFO, LOG_DEBUG, LOG_TRACE = (
    range(9)
)
_ENROLL = ("ir", "cr", "kur")
_DEFAULT_MSG_TIMEOUT = 120.0  # OpenSSL's default per message round trip
_NEWKEY_DESC = "new private key for cert to be enrolled"

_T = TypeVar("_T")


def _read_umask() -> int:
    """The process's umask, read once, on import, before cmpkit starts a
    thread: setting it and back while a batch's threads create folders and
    files would have them made, for an instant, under the wrong mask."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # no /proc: set and back; if it races, too strict, not lax
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # the mode of the certificates written is 0666 less this


class RunError(CMPError):
    """A command cannot be carried out as given: the one-line reason."""


class RunLog:
    """Messages by OpenSSL's ``-verbosity`` levels, with its prefixes."""

    def __init__(
        self,
        verbosity: int = LOG_INFO,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.verbosity = verbosity
        self._out = out
        self._err = err
        self.before_write: Callable[[], None] | None = None
        """Called before each message (a progress bar clears its line)."""

    def _write(self, level: int, label: str, message: str, to_err: bool) -> None:
        if level > self.verbosity:
            return
        if self.before_write is not None:
            self.before_write()
        stream = (self._err or sys.stderr) if to_err else (self._out or sys.stdout)
        stream.write(f"CMP {label}: {message}\n")
        stream.flush()

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def error(self, message: str) -> None:
        # Shown at every verbosity: a failing command always says why.
        self._write(min(LOG_ERR, self.verbosity), "error", message, True)

    def warn(self, message: str) -> None:
        self._write(LOG_WARNING, "warning", message, True)

    def info(self, message: str) -> None:
        self._write(LOG_INFO, "info", message, False)

    def debug(self, message: str) -> None:
        self._write(LOG_DEBUG, "debug", message, False)

    def stats(self, message: str) -> None:
        # Asked for (-stats, -batch_file, ...): shown at every verbosity.
        self._write(self.verbosity, "stats", message, False)


# --- entry ----------------------------------------------------------------------------------


def run(options: dict[str, OptionValue], *, log: RunLog | None = None) -> int:
    """Carry out the checked options; the exit status (0 success, 1 failure)."""
    verbosity = options.get("verbosity")
    if log is None:
        log = RunLog(verbosity if isinstance(verbosity, int) else LOG_INFO)
    try:
        ctx = _Context(options, log)
        if options.get("port") is not None:
            return _serve(ctx)
        return _client(ctx)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 1
    except (CMPError, ValueError, OSError) as exc:
        _fail(log, _one_line(exc))
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        _fail(log, f"internal error: {type(exc).__name__}: {_one_line(exc)}")
    return 1


def _fail(log: RunLog, message: str) -> None:
    """The error line; at ``-verbosity 8`` (TRACE) the traceback before it."""
    if log.verbosity >= LOG_TRACE:
        traceback.print_exc()
    log.error(message)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror}: '{exc.filename}'"
    return " ".join(text.split())


# --- options and credentials --------------------------------------------------------------


@dataclass(frozen=True)
class _Demo:
    """The mock CA ``-use_mock_srv`` generates when given no credentials of
    its own: its certificate and the secret it shares with the client."""

    ca: x509.Certificate
    secret: bytes = field(repr=False)  # never in a repr


_MOCK_CREDENTIALS = ("srv_cert", "srv_key", "srv_secret", "srv_ref", "rsp_cert")
_DEMO_REF = "cmpkit-demo"


@dataclass
class _Context:
    """The options with typed access, and loading of what they name."""

    options: dict[str, OptionValue]
    log: RunLog
    demo: _Demo | None = None
    _passes: dict[str, PassphraseSource] = field(default_factory=dict)
    _config: ConfigFile | None = None

    def text(self, name: str) -> str | None:
        value = self.options.get(name)
        return value if isinstance(value, str) else None

    def flag(self, name: str) -> bool:
        return self.options.get(name) is True

    def number(self, name: str) -> int | None:
        value = self.options.get(name)
        return None if isinstance(value, bool) or not isinstance(value, int) else value

    def count(self, name: str, default: int) -> int:
        value = self.number(name)
        return default if value is None else value

    @property
    def batch(self) -> bool:
        return self.flag("batch")

    @property
    def concurrent(self) -> bool:
        """Whether the transactions run as a batch (cmpkit's -batch_file, or
        -repeat with -concurrency above 1) rather than one after the other."""
        if self.text("batch_file") is not None:
            return True
        return self.count("repeat", 1) > 1 and self.count("concurrency", 1) > 1

    @property
    def keyform(self) -> str | None:
        return self.text("keyform")

    def passphrase(self, name: str, desc: str) -> PassphraseSource:
        """The pass phrase option ``name`` (resolved once, when first needed)."""
        source = self._passes.get(name)
        if source is None:
            source = PassphraseSource(self.text(name), desc, batch=self.batch, warn=self.log.warn)
            self._passes[name] = source
        return source

    def _with_pass(self, pass_option: str, desc: str, load: Callable[[bytes | None], _T]) -> _T:
        """``load(password)``: with the pass phrase when given; else without,
        prompting (unless ``-batch``) when the file turns out to need one."""
        source = self.passphrase(pass_option, desc)
        if source.given:
            return load(source.get())
        try:
            return load(None)
        except CredentialError as exc:
            if self.batch or "pass phrase" not in exc.reason or not sys.stdin.isatty():
                raise
        return load(source.get())

    def key(self, name: str, pass_option: str, desc: str) -> PrivateKeyTypes | None:
        path = self.text(name)
        if path is None:
            return None
        return self._with_pass(
            pass_option,
            desc,
            lambda pw: load_key(path, password=pw, format=self.keyform, desc=desc),
        )

    def cert(self, name: str, pass_option: str, desc: str) -> x509.Certificate | None:
        path = self.text(name)
        if path is None:
            return None
        return self._with_pass(
            pass_option, desc, lambda pw: load_cert(path, password=pw, desc=desc)
        )

    def cert_and_chain(
        self, name: str, pass_option: str, desc: str
    ) -> tuple[x509.Certificate | None, list[x509.Certificate]]:
        path = self.text(name)
        if path is None:
            return None, []
        return self._with_pass(
            pass_option, desc, lambda pw: load_cert_and_chain(path, password=pw, desc=desc)
        )

    def certs(self, name: str, desc: str) -> list[x509.Certificate] | None:
        """The certificates of a multi-source option, with ``-otherpass``."""
        arg = self.text(name)
        if arg is None:
            return None
        return self._with_pass(
            "otherpass",
            "certificate files of others",
            lambda pw: load_cert_sources(arg, password=pw, desc=desc),
        )

    def name(self, option: str, desc: str) -> x509.Name | None:
        text = self.text(option)
        if text is None:
            return None
        return parse_dn(text, desc=desc, warn=self.log.warn)

    def config_file(self) -> ConfigFile:
        """The OpenSSL config file the options came from (for -reqexts, -policies)."""
        if self._config is None:
            path = self.text("config")
            if not path:
                raise RunError("no config file given, which -reqexts and -policies need")
            self._config = load_config(path)
        return self._config


def _verify_options(ctx: _Context, *, for_new_cert: bool = False) -> VerifyOptions:
    """OpenSSL's verification options (``vpm``). For newly enrolled
    certificates OpenSSL keeps only the time, partial-chain and policy
    flags: no -attime, no revocation or strictness checks."""
    attime = ctx.number("attime")
    if for_new_cert:
        return VerifyOptions(
            no_check_time=ctx.flag("no_check_time"),
            partial_chain=ctx.flag("partial_chain"),
            verify_depth=ctx.number("verify_depth"),
            purpose=ctx.text("purpose"),
        )
    return VerifyOptions(
        attime=None
        if attime is None
        else datetime.datetime.fromtimestamp(attime, datetime.timezone.utc),
        no_check_time=ctx.flag("no_check_time"),
        partial_chain=ctx.flag("partial_chain"),
        verify_depth=ctx.number("verify_depth"),
        x509_strict=ctx.flag("x509_strict"),
        ignore_critical=ctx.flag("ignore_critical"),
        check_ss_sig=ctx.flag("check_ss_sig"),
        crl_check=ctx.flag("crl_check"),
        crl_check_all=ctx.flag("crl_check_all"),
        purpose=ctx.text("purpose"),
    )


def _warn_unsupported_verify_options(ctx: _Context) -> None:
    for name in sorted(UNSUPPORTED_VERIFY_OPTIONS):
        value = ctx.options.get(name)
        if value not in (None, False, ()):
            ctx.log.warn(f"ignoring -{name}: not supported by cmpkit's certificate validation")


# --- the mock server --------------------------------------------------------------------------


def _mock_server_config(ctx: _Context) -> MockServerConfig:
    """The mock server options (-srv_*, -rsp_*, ...) as a MockServerConfig.

    ``-use_mock_srv`` without any of the mock server's credentials (no
    -srv_cert, -srv_key, -srv_secret, -srv_ref, -rsp_cert) gets a freshly
    generated mock CA that really issues certificates, sharing a secret with
    the client: a complete enrollment needs no prepared files. (OpenSSL
    refuses to start its mock server without credentials.)"""
    from cmp.server import MockServerConfig

    behaviour = _mock_behaviour(ctx)
    if ctx.flag("use_mock_srv") and all(ctx.text(n) is None for n in _MOCK_CREDENTIALS):
        client = ctx.passphrase("secret", "PBMAC")
        shared = client.get() if client.given else os.urandom(16)
        config = MockServerConfig.generate(secret=shared, **behaviour)
        assert config.srv_cert is not None
        ctx.demo = _Demo(config.srv_cert, shared)
        ctx.log.info(
            "no mock server credentials given: using a newly generated mock CA"
            f" '{oneline(config.srv_cert.subject)}' that issues the certificates requested"
        )
        return config
    secret = ctx.passphrase("srv_secret", "mock server secret")
    return MockServerConfig(
        srv_ref=ctx.text("srv_ref"),
        srv_secret=secret.get() if secret.given else None,
        srv_cert=ctx.cert("srv_cert", "srv_keypass", "certificate of the mock server"),
        srv_key=ctx.key("srv_key", "srv_keypass", "private key of the mock server"),
        srv_trusted=ctx.certs("srv_trusted", "trusted certificates for the mock server") or (),
        srv_untrusted=ctx.certs("srv_untrusted", "untrusted certificates for the mock server")
        or (),
        rsp_cert=ctx.cert("rsp_cert", "keypass", "certificate to be returned by the mock server"),
        rsp_extracerts=ctx.certs("rsp_extracerts", "extraCerts for the mock server") or (),
        rsp_capubs=ctx.certs("rsp_capubs", "caPubs for the mock server") or (),
        **behaviour,
    )


def _mock_behaviour(ctx: _Context) -> dict[str, Any]:
    """The mock server options that say how it answers."""
    return dict(
        poll_count=ctx.count("poll_count", 0),
        check_after=ctx.count("check_after", 1),
        grant_implicitconf=ctx.flag("grant_implicitconf"),
        pkistatus=ctx.count("pkistatus", 0),
        failure=ctx.number("failure"),
        failurebits=ctx.count("failurebits", 0),
        statusstring=ctx.text("statusstring"),
        send_error=ctx.flag("send_error"),
        send_unprotected=ctx.flag("send_unprotected"),
        send_unprot_err=ctx.flag("send_unprot_err"),
        accept_unprotected=ctx.flag("accept_unprotected"),
        accept_unprot_err=ctx.flag("accept_unprot_err"),
        accept_raverified=ctx.flag("accept_raverified"),
        max_msgs=ctx.count("max_msgs", 0),
        verify_options=_verify_options(ctx),
    )


def _mock_server(ctx: _Context) -> MockServer:
    """The mock server of the options; its log (and warnings) at -verbosity."""
    from cmp.server import MockServer, MockServerConfigError

    _log_server(ctx.log, quiet=ctx.concurrent)
    try:
        return MockServer(_mock_server_config(ctx))
    except MockServerConfigError as exc:
        raise RunError(str(exc)) from None


def _serve(ctx: _Context) -> int:
    """``-port``: the mock CA over HTTP until terminated (or ``-max_msgs``)."""
    text = ctx.text("port") or ""
    port = int(text) if text.isascii() and text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise RunError(f"-port {text!r}: not a port number (0 .. 65535)")
    server = _mock_server(ctx)
    from cmp.asgi import serve

    return serve(server, "::", port)


def _log_server(log: RunLog, *, quiet: bool = False) -> None:
    """The mock server's log (logger ``cmp``) on stderr at ``-verbosity``;
    ``quiet`` (many transactions at once) keeps its information for DEBUG."""
    import logging

    levels = {
        logging.DEBUG: "debug",
        logging.INFO: "info",
        logging.WARNING: "warning",
        logging.ERROR: "error",
        logging.CRITICAL: "error",
    }

    class Formatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            label = levels.get(record.levelno, record.levelname.lower())
            return f"CMP {label}: {record.getMessage()}"

    logger = logging.getLogger("cmp")
    if logger.handlers:
        return

    class Handler(logging.Handler):  # as RunLog: warnings and errors on stderr
        def emit(self, record: logging.LogRecord) -> None:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()

    handler = Handler()
    handler.setFormatter(Formatter())
    logger.addHandler(handler)
    logger.propagate = False
    if log.verbosity >= LOG_DEBUG:
        logger.setLevel(logging.DEBUG)
    elif log.verbosity >= LOG_INFO and not quiet:
        logger.setLevel(logging.INFO)
    elif log.verbosity >= LOG_WARNING:
        logger.setLevel(logging.WARNING)
    else:
        logger.setLevel(logging.ERROR)


# --- the client ---------------------------------------------------------------------------------


def _client(ctx: _Context) -> int:
    lines = _batch_lines(ctx)  # checked before anything is loaded or sent
    plan = _Plan.build(ctx)
    if lines is not None:
        return _run_batch_file(ctx, plan, lines)
    if ctx.concurrent:
        return _run_concurrent_repeat(ctx, plan)
    return _run_repeat(ctx, plan)


def _run_repeat(ctx: _Context, plan: _Plan) -> int:
    """OpenSSL's ``-repeat``: the transaction again and again, each writing
    its files, stopping at the first failure (with cmpkit's ``-stats`` and
    ``-progress`` if asked for)."""
    repeat = ctx.count("repeat", 1)
    stats = BatchStats()
    bar = _progress_bar(ctx, repeat, automatic=False)
    clock = time.perf_counter
    try:
        with Client(
            transport=plan.transport, config=plan.config, msg_timeout=plan.msg_timeout
        ) as client:
            for _ in range(repeat):
                begin = clock()
                try:
                    result = client.run(plan.request())
                    _report(ctx, plan.cmd, result)
                except Exception as exc:
                    stats.record_outcome(exc, clock() - begin)
                    raise
                stats.record_outcome(None, clock() - begin)
                if bar is not None:
                    bar.update(stats.count, stats.failed, stats.elapsed)
    finally:
        _finish(ctx, bar, stats, "transactions", show_stats=ctx.flag("stats"))
    return 0


@dataclass
class _Plan:
    """Everything a client run needs, built from the options: the transport
    (for many transactions at once also a maker of asynchronous ones)."""

    cmd: str
    transport: BaseTransport
    config: TransactionConfig
    msg_timeout: float | None
    request: Callable[[], Request]
    make_async: Callable[[], AsyncBaseTransport] | None = None

    @classmethod
    def build(cls, ctx: _Context) -> _Plan:
        cmd = ctx.text("cmd") or ""
        infotype = _infotype(ctx)
        _warn_unsupported_verify_options(ctx)
        transport, make_async, server_name = _transport(ctx)
        if server_name is not None:
            only = " only if -rspin argument gives too few filenames" if ctx.text("rspin") else ""
            ctx.log.info(f"will contact {server_name}{only}")
        verification = _verification(ctx)
        msg_timeout, total_timeout = _timeouts(ctx)
        protection = _protection(ctx)
        request = _request(ctx, cmd, infotype, protection)
        config = _transaction_config(ctx, verification, protection, total_timeout)
        transport = _files(ctx, transport, config)
        if transport is None:
            raise RunError("missing -server or -use_mock_srv option, or too few -rspin files")
        logged = _LoggedTransport(transport, ctx.log)
        if not ctx.concurrent or make_async is None:
            return cls(cmd, logged, config, msg_timeout, request)
        maker = make_async  # each message at DEBUG: side by side, INFO would be a jumble
        return cls(
            cmd,
            logged,
            config,
            msg_timeout,
            request,
            lambda: _AsyncLoggedTransport(maker(), ctx.log),
        )


def _infotype(ctx: _Context) -> str | None:
    name = ctx.text("infotype")
    if name is None:
        return None
    bare = name[6:] if name.startswith("id-it-") else name
    if bare not in OID_BY_NAME:
        raise RunError(f"unknown OID name in -infotype option: {name!r}")
    if ctx.text("cmd") != "genm":
        ctx.log.warn("-infotype option is ignored for commands other than 'genm'")
    return bare


def _transport(
    ctx: _Context,
) -> tuple[BaseTransport | None, Callable[[], AsyncBaseTransport] | None, str | None]:
    """The network (or in-process) transport; None when only files are used.
    Also a maker of its asynchronous form, and the URL to announce."""
    if ctx.flag("use_mock_srv"):
        in_process = InProcessTransport(_mock_server(ctx).handle)
        return in_process, lambda: in_process, "mock server"
    server = ctx.text("server")
    if server is None:
        return None, None, None
    tls_used = ctx.flag("tls_used")
    try:
        address = parse_server(server, tls=tls_used, path=ctx.text("path"))
    except ValueError as exc:
        raise RunError(f"cannot parse -server URL {server!r}: {exc}") from None
    if server.lower().startswith("https://") and not tls_used:
        raise RunError("missing -tls_used option since -server URL indicates https")
    proxy, no_proxy = ctx.text("proxy"), ctx.text("no_proxy")
    try:
        via = select_proxy(address.host, tls=address.tls, proxy=proxy, no_proxy=no_proxy)
    except ValueError as exc:
        raise RunError(f"cannot parse -proxy URL: {exc}") from None
    tls = _tls(ctx) if tls_used else None
    settings: dict[str, Any] = dict(
        path=ctx.text("path"),
        tls=tls,
        proxy=proxy,
        no_proxy=no_proxy,
        keep_alive=ctx.count("keep_alive", 1),
    )
    try:
        transport = HTTPTransport(server, **settings)
    except ValueError as exc:
        raise RunError(_one_line(exc)) from None
    shown = address.url + ("" if via is None else f" via {via[0]}:{via[1]}")
    # -concurrency bounds the connections in use.
    return transport, lambda: AsyncHTTPTransport(server, max_connections=None, **settings), shown


def _tls(ctx: _Context) -> TLSConfig:
    trusted = ctx.certs("tls_trusted", "trusted certificates for the TLS server")
    cert, chain = ctx.cert_and_chain("tls_cert", "tls_keypass", "TLS client certificate")
    key = ctx.key("tls_key", "tls_keypass", "TLS client private key")
    extra = ctx.certs("tls_extra", "extra certificates for TLS") or []
    untrusted = ctx.certs("untrusted", "untrusted certificates") or []
    try:
        return TLSConfig(
            trusted=trusted,
            verify=trusted is not None,
            cert=cert,
            key=key,  # type: ignore[arg-type]
            chain=[*chain, *untrusted],
            extra=extra,
            host=ctx.text("tls_host"),
        )
    except ValueError as exc:
        raise RunError(_one_line(exc)) from None


@dataclass
class _Verification:
    untrusted: list[x509.Certificate]
    srvcert: x509.Certificate | None
    trusted: list[x509.Certificate]
    out_trusted: list[x509.Certificate] | None
    recipient: x509.Name | None
    expect_sender: x509.Name | None


def _verification(ctx: _Context) -> _Verification:
    """Server authentication and the checks of new certificates
    (OpenSSL's ``setup_verification_ctx()``)."""
    untrusted = ctx.certs("untrusted", "untrusted certificates") or []
    recipient_given = ctx.text("recipient") is not None
    srvcert = None
    trusted: list[x509.Certificate] = []
    if ctx.text("srvcert") is not None:
        if ctx.text("trusted") is not None:
            ctx.log.warn("-trusted option is ignored since -srvcert option is present")
        if recipient_given:
            ctx.log.warn("-recipient option is ignored since -srvcert option is present")
            recipient_given = False
        srvcert = ctx.cert("srvcert", "otherpass", "directly trusted CMP server certificate")
    elif ctx.text("trusted") is not None:
        trusted = ctx.certs("trusted", "certs trusted by client") or []
    out_trusted = ctx.certs("out_trusted", "trusted certs for verifying newly enrolled cert")
    recipient = ctx.name("recipient", "recipient") if recipient_given else None
    if recipient is None and srvcert is None and ctx.demo is not None:
        recipient = ctx.demo.ca.subject
    expect_sender = ctx.name("expect_sender", "expected sender")
    return _Verification(untrusted, srvcert, trusted, out_trusted, recipient, expect_sender)


def _timeouts(ctx: _Context) -> tuple[float | None, float]:
    msg = ctx.number("msg_timeout")
    total = ctx.number("total_timeout")
    if total is not None and total > 0 and msg is not None and 0 < total < msg:
        ctx.log.warn(f"-msg_timeout {msg} ignored since -total_timeout {total} is less")
        msg = 0
    msg_timeout: float | None
    if msg is None:
        msg_timeout = _DEFAULT_MSG_TIMEOUT
    else:
        msg_timeout = None if msg == 0 else float(msg)
    return msg_timeout, float(total or 0)


@dataclass
class _Protection:
    secret: bytes | None = field(repr=False)  # never in a repr
    ref: bytes | None
    cert: x509.Certificate | None
    key: PrivateKeyTypes | None
    chain: list[x509.Certificate]
    own_trusted: list[x509.Certificate] | None
    extracerts: list[x509.Certificate]
    digest: str
    mac: str


def _protection(ctx: _Context) -> _Protection:
    """Client credentials and message protection (``setup_protection_ctx()``)."""
    secret_opt, key_opt, cert_opt = ctx.text("secret"), ctx.text("key"), ctx.text("cert")
    ref = ctx.text("ref")
    unprotected = ctx.flag("unprotected_requests")
    demo = ctx.demo is not None and secret_opt is None and key_opt is None and not unprotected
    if demo and ref is None and cert_opt is None and ctx.text("subject") is None:
        ref = _DEMO_REF
    if not unprotected and secret_opt is None and key_opt is None and not demo:
        raise RunError("must give -key or -secret unless -unprotected_requests is used")
    # A -batch_file gives each request its subject, which is then the sender.
    has_subject = ctx.text("subject") is not None or ctx.text("batch_file") is not None
    if ref is None and cert_opt is None and not has_subject:
        raise RunError("must give -ref if no -cert and no -subject given")
    if secret_opt is None and (cert_opt is None) != (key_opt is None):
        raise RunError("must give both -cert and -key options or neither")
    # With the generated mock CA, the secret it shares with the client.
    secret = ctx.demo.secret if demo and ctx.demo is not None else None
    if secret_opt is not None:
        secret = ctx.passphrase("secret", "PBMAC").get()
        if cert_opt is not None or key_opt is not None:
            ctx.log.warn("-cert and -key not used for protection since -secret is given")
    key = ctx.key("key", "keypass", "private key for CMP client certificate")
    if secret is None and ctx.text("srvcert") is None and ctx.text("trusted") is None:
        ctx.log.warn("will not authenticate server due to missing -secret, -trusted, or -srvcert")
    cert, chain = ctx.cert_and_chain(
        "cert", "keypass", "CMP client certificate (optionally with chain)"
    )
    own_trusted = None
    if ctx.text("own_trusted") is not None:
        if cert is None:
            ctx.log.warn("-own_trusted option is ignored without -cert")
        else:
            own_trusted = ctx.certs("own_trusted", "trusted certs for verifying own CMP signer")
    extracerts = ctx.certs("extracerts", "extra certificates for CMP") or []
    digest = ctx.text("digest") or "sha256"
    try:
        algorithms.digest(digest)
    except CMPError:
        raise RunError(f"digest algorithm name not recognized: {digest!r}") from None
    mac = ctx.text("mac") or "hmac-sha1"
    try:
        algorithms.hmac(mac)
    except CMPError:
        raise RunError(f"MAC algorithm name not recognized: {mac!r}") from None
    return _Protection(
        secret,
        None if ref is None else os.fsencode(ref),
        cert,
        key,
        chain,
        own_trusted,
        extracerts,
        digest,
        mac,
    )


def _transaction_config(
    ctx: _Context, ver: _Verification, prot: _Protection, total_timeout: float
) -> TransactionConfig:
    geninfo = ctx.text("geninfo")
    try:
        return TransactionConfig(
            secret=prot.secret,
            ref=prot.ref,
            cert=prot.cert,
            key=prot.key,
            extracerts=prot.extracerts,
            untrusted=[*ver.untrusted, *prot.chain],
            own_trusted=prot.own_trusted,
            unprotected_requests=ctx.flag("unprotected_requests"),
            digest=prot.digest,
            mac=prot.mac,
            srvcert=ver.srvcert,
            trusted=ver.trusted,
            expect_sender=ver.expect_sender,
            ignore_keyusage=ctx.flag("ignore_keyusage"),
            unprotected_errors=ctx.flag("unprotected_errors"),
            verify_options=_verify_options(ctx),
            implicit_confirm=ctx.flag("implicit_confirm"),
            disable_confirm=ctx.flag("disable_confirm"),
            out_trusted=ver.out_trusted,
            out_verify_options=_verify_options(ctx, for_new_cert=True),
            recipient=ver.recipient,
            geninfo=parse_geninfo(geninfo) if geninfo is not None else (),
            total_timeout=total_timeout,
        )
    except ValueError as exc:
        raise RunError(_one_line(exc)) from None


# --- the request -------------------------------------------------------------------------------


def _request(
    ctx: _Context, cmd: str, infotype: str | None, prot: _Protection
) -> Callable[[], Request]:
    """The request of ``-cmd`` (``setup_request_ctx()``), as a factory: each
    ``-repeat`` gets a fresh one."""
    log = ctx.log
    enroll = cmd in _ENROLL
    # With -batch_file the lines give subjects, keys and output files.
    lines = ctx.text("batch_file") is not None
    ref_or_cert = ctx.text("ref") is not None or prot.cert is not None
    subject = issuer = None
    if ctx.text("subject") is None and cmd not in ("rr", "genm") and not lines:
        if not any(ctx.text(n) for n in ("csr", "oldcert", "cert")):
            log.warn("no -subject given; no -csr or -oldcert or -cert available for fallback")
    if enroll:
        newkey = ctx.text("newkey")
        if newkey is None and prot.key is None and ctx.text("csr") is None and not lines:
            raise RunError("missing -newkey (or -key) to be certified and no -csr given")
        if ctx.text("certout") is None and not lines:
            raise RunError("-certout not given, nowhere to save newly enrolled certificate")
        subject = ctx.name("subject", "subject")
        issuer = ctx.name("issuer", "issuer")
    else:
        ignored = "option is ignored for commands other than 'ir', 'cr', and 'kur'"
        if ctx.text("subject") is not None:
            if not ref_or_cert:
                subject = ctx.name("subject", "subject")  # the sender
            else:
                log.warn(f"-subject {ignored} since -ref or -cert is given")
        for name in ("issuer", "reqexts", "sans", "policies", "policy_oids"):
            if ctx.text(name) is not None:
                log.warn(f"-{name} {ignored}")
        if ctx.flag("san_nodefault"):
            log.warn(f"-san_nodefault {ignored}")
    if cmd == "kur":
        if ctx.text("oldcert") is None and prot.cert is None and ctx.text("csr") is None:
            raise RunError("missing -oldcert for certificate to be updated and no -csr given")
    if cmd == "rr":
        if ctx.text("oldcert") is None and ctx.text("csr") is None:
            raise RunError("missing -oldcert for certificate to be revoked and no -csr given")
        if ctx.text("oldcert") is not None and ctx.text("csr") is not None:
            log.warn("ignoring -csr since certificate to be revoked is given")
    if cmd == "p10cr" and ctx.text("csr") is None:
        raise RunError("missing PKCS#10 CSR for p10cr")
    named = ("recipient", "srvcert", "issuer", "oldcert", "cert")
    if not any(ctx.text(n) for n in named) and ctx.demo is None:
        log.warn(
            "missing -recipient, -srvcert, -issuer, -oldcert or -cert;"
            ' recipient will be set to "NULL-DN"'
        )
    new_key = None if lines and has_placeholder(ctx.text("newkey")) else _new_key(ctx, cmd)
    csr = None
    if ctx.text("csr") is not None:
        if cmd == "genm":
            log.warn("-csr option is ignored for command 'genm'")
        else:
            csr = load_csr(ctx.text("csr") or "")
    reqexts = _reqexts(ctx, csr) if enroll else None
    sans: list[x509.GeneralName] = []
    sans_critical = False
    if enroll and ctx.text("sans") is not None:
        if any(e.oid == x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME for e in reqexts or ()):
            raise RunError("cannot have Subject Alternative Names both via -reqexts and via -sans")
        sans, sans_critical = parse_sans(ctx.text("sans") or "")
    if ctx.flag("san_nodefault") and ctx.text("sans") is not None:
        log.warn("-opt_san_nodefault has no effect when -sans is used")
    policies = _policy_oids(ctx) if enroll else None
    oldcert = None
    if ctx.text("oldcert") is not None:
        if cmd == "genm":
            log.warn("-oldcert option is ignored for command 'genm'")
        else:
            desc = {
                "kur": "certificate to be updated",
                "rr": "certificate to be revoked",
            }.get(cmd, "reference certificate (oldcert)")
            oldcert = ctx.cert("oldcert", "keypass", desc)
            if cmd == "kur" and ctx.text("subject") is not None:
                log.warn(
                    f"given -subject '{ctx.text('subject')}' overrides the subject of "
                    f"'{ctx.text('oldcert')}' for KUR"
                )
    popo = ctx.number("popo")
    days = ctx.count("days", 0)
    reason = ctx.count("revreason", -1)
    if cmd in ("ir", "cr", "kur", "p10cr"):
        fields: dict[str, Any] = {
            "cmd": cmd,
            "new_key": new_key,
            "subject": subject,
            "issuer": issuer,
            "days": days,
            "reqexts": reqexts,
            "sans": tuple(sans),
            "sans_critical": sans_critical,
            "san_nodefault": ctx.flag("san_nodefault"),
            "policies": policies,
            "policies_critical": ctx.flag("policy_oids_critical"),
            "csr": csr,
            "oldcert": oldcert,
        }
        if popo is not None:
            fields["popo"] = popo
        try:
            enroll_request = EnrollRequest(**fields)
        except ValueError as exc:
            raise RunError(_one_line(exc)) from None
        return lambda: enroll_request
    if cmd == "rr":
        revoke = RevokeRequest(
            cert=oldcert,
            reason=reason,
            csr=None if oldcert is not None else csr,
        )
        return lambda: revoke
    general = (
        GeneralRequest.for_infotypes(infotype, subject=subject)
        if infotype is not None
        else GeneralRequest((), subject=subject)
    )
    return lambda: general


def _new_key(ctx: _Context, cmd: str) -> PrivateKeyTypes | PublicKeyTypes | None:
    """``-newkey``: a private key, else (as OpenSSL falls back) a public one."""
    path = ctx.text("newkey")
    if cmd == "genm":
        return None  # OpenSSL 3.0 says nothing of these for genm
    if cmd in ("p10cr", "rr"):
        ignored = "option is ignored for 'p10cr' and 'rr' commands"
        if ctx.text("newkeypass") is not None:
            ctx.log.warn(f"-newkeypass {ignored}")
        if path is not None:
            ctx.log.warn(f"-newkey {ignored}")
        if ctx.count("days", 0):
            ctx.log.warn(f"-days {ignored}")
        if ctx.number("popo") is not None:
            ctx.log.warn(f"-popo {ignored}")
        return None
    if path is None:
        return None
    if ctx.demo is not None and not os.path.exists(path):
        return _generate_key(ctx, path)

    def password() -> bytes | None:
        source = ctx.passphrase("newkeypass", _NEWKEY_DESC)
        return source.get() if source.given else None

    return _private_or_public_key(
        path, ctx.keyform, lambda: ctx.key("newkey", "newkeypass", _NEWKEY_DESC), password
    )


def _private_or_public_key(
    path: str,
    keyform: str | None,
    private: Callable[[], PrivateKeyTypes | None],
    password: Callable[[], bytes | None],
) -> PrivateKeyTypes | PublicKeyTypes | None:
    """The new key in ``path``: the private key ``private`` loads, else (as
    OpenSSL falls back) a public key, loaded with ``password()``; a wrong pass
    phrase, or a file holding neither, is the private key's error."""
    try:
        return private()
    except CredentialError as first:
        if "pass phrase" in first.reason:
            raise
        try:
            return load_public_key(
                path,
                password=password(),
                format=keyform,
                desc="fallback public key for cert to be enrolled",
            )
        except CredentialError:
            raise first from None


def _generate_key(ctx: _Context, path: str) -> PrivateKeyTypes:
    """With the generated mock CA: a new EC P-256 key for ``-newkey`` naming
    a file that does not exist yet, saved there (PKCS#8 PEM, encrypted with
    ``-newkeypass`` when given, readable by the owner only)."""
    source = ctx.passphrase("newkeypass", "new private key")
    key, pem = _new_ec_key(source.get() if source.given else None)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    except OSError as exc:
        raise RunError(f"cannot save the new key to '{path}': {exc.strerror or exc}") from None
    ctx.log.info(f"generated a new EC P-256 key for the mock CA to certify, saved to '{path}'")
    return key


def _new_ec_key(password: bytes | None) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A new EC P-256 key and its PKCS#8 PEM (encrypted with ``password``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if password is not None:
        encryption = serialization.BestAvailableEncryption(password)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return key, pem


def _reqexts(
    ctx: _Context, csr: x509.CertificateSigningRequest | None
) -> list[x509.Extension[x509.ExtensionType]] | None:
    """The extensions of the ``-reqexts`` and then the ``-policies`` config
    section; a later one replaces an earlier one of the same type, as
    OpenSSL's ``X509V3_CTX_REPLACE``. The CSR, if any, is the request that
    values such as ``email:copy`` refer to."""
    sections = [(n, ctx.text(n)) for n in ("reqexts", "policies")]
    if all(section is None for _, section in sections):
        return None
    try:
        from cmp import x509v3
    except ImportError:
        names = " and ".join(f"-{n}" for n, s in sections if s is not None)
        raise RunError(
            f"{names} cannot be used: cmpkit's X.509v3 config sections (cmp.x509v3)"
            " are not available"
        ) from None
    config = ctx.config_file()
    extra: dict[str, Any] = {}
    if csr is not None:
        extra = {"subject": csr.subject, "public_key": csr.public_key()}
    exts: list[x509.Extension[x509.ExtensionType]] = []
    for option, section in sections:
        if section is None:
            continue
        what = "certificate request extension" if option == "reqexts" else "policy"
        try:
            if option == "reqexts":
                found = x509v3.extensions_from_section(config, section, **extra)
            else:
                found = x509v3.policies_from_section(config, section, **extra)
        except (CMPError, ValueError) as exc:
            raise RunError(f"cannot load {what} section '{section}': {_one_line(exc)}") from None
        for ext in found:
            exts = [e for e in exts if e.oid != ext.oid]
            exts.append(ext)
    return exts


def _policy_oids(ctx: _Context) -> x509.CertificatePolicies | None:
    text = ctx.text("policy_oids")
    if ctx.flag("policy_oids_critical") and text is None:
        ctx.log.warn("-opt_policy_oids_critical has no effect unless -policy_oids is given")
    if text is None:
        return None
    oids = split_list(text)
    for oid in oids:
        try:
            x509.ObjectIdentifier(oid)
        except ValueError:
            raise RunError(f"unknown policy OID '{oid}'") from None
    return policies_from_oids(oids)


# --- files instead of (or beside) a server ------------------------------------------------------


def _files(
    ctx: _Context, transport: BaseTransport | None, config: TransactionConfig
) -> BaseTransport | None:
    """``-reqin``/``-reqout``/``-rspin``/``-rspout`` around the transport."""
    names = {n: ctx.text(n) for n in ("reqin", "reqout", "rspin", "rspout")}
    if ctx.flag("reqin_new_tid") and names["reqin"] is None:
        ctx.log.warn("-reqin_new_tid is ignored since -reqin is not present")
    if names["reqin"] is not None and names["rspin"] is not None:
        ctx.log.warn("-reqin is ignored since -rspin is present")
        names["reqin"] = None
    if all(value is None for value in names.values()):
        return transport

    def files(name: str) -> list[str]:
        value = names[name]
        return [] if value is None else split_sources(value)

    return FileTransport(
        transport,
        reqout=files("reqout"),
        rspout=files("rspout"),
        reqin=files("reqin"),
        rspin=files("rspin"),
        reqin_new_tid=ctx.flag("reqin_new_tid"),
        reprotect=lambda message: protect_request(message, config),
    )


class _LoggedTransport(BaseTransport):
    """Says what is sent and received, as ``openssl cmp`` does at INFO."""

    def __init__(self, inner: BaseTransport, log: RunLog) -> None:
        self._inner = inner
        self._log = log

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return self.transfer(request, timeout).response

    def transfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        with self.session() as session:
            return session.transfer(request, timeout)

    def session(self) -> BaseTransport:
        return _LoggedSession(self._inner.session(), self._log)

    def close(self) -> None:
        self._inner.close()


class _LoggedSession(BaseTransport):
    def __init__(self, session: BaseTransport, log: RunLog) -> None:
        self._session = session
        self._log = log

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return self.transfer(request, timeout).response

    def transfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        self._log.info(f"sending {_kind(request)}")
        exchange = self._session.transfer(request, timeout)
        self._log.info(f"received {_kind(exchange.response)}")
        return exchange

    def close(self) -> None:
        self._session.close()


class _AsyncLoggedTransport(AsyncBaseTransport):
    """The asynchronous transport of many transactions at once; says what is
    sent and received at DEBUG (side by side, at INFO it would be a jumble)."""

    def __init__(self, inner: AsyncBaseTransport, log: RunLog) -> None:
        self._inner = inner
        self._log = log

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return (await self.atransfer(request, timeout)).response

    async def atransfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        async with self.asession() as session:
            return await session.atransfer(request, timeout)

    def asession(self) -> AsyncBaseTransport:
        return _AsyncLoggedSession(self._inner.asession(), self._log)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncLoggedSession(AsyncBaseTransport):
    def __init__(self, session: AsyncBaseTransport, log: RunLog) -> None:
        self._session = session
        self._log = log

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return (await self.atransfer(request, timeout)).response

    async def atransfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        debug = self._log.verbosity >= LOG_DEBUG  # decode only to say so
        if debug:
            self._log.debug(f"sending {_kind(request)}")
        exchange = await self._session.atransfer(request, timeout)
        if debug:
            self._log.debug(f"received {_kind(exchange.response)}")
        return exchange

    async def aclose(self) -> None:
        await self._session.aclose()


def _kind(der: bytes) -> str:
    try:
        return PKIMessage.from_der(der).body_type.upper()
    except (CMPError, ValueError):
        return "an undecodable message"


# --- many transactions at once (cmpkit's -batch_file and -concurrency) ---------------------------

_DEFAULT_BATCH_CONCURRENCY = 8


def _batch_lines(ctx: _Context) -> list[BatchLine] | None:
    """The enrollments of ``-batch_file``, all checked (None without it)."""
    path = ctx.text("batch_file")
    if path is None:
        return None
    defaults = BatchDefaults(
        newkey=ctx.text("newkey"),
        certout=ctx.text("certout"),
        chainout=ctx.text("chainout"),
        have_key=ctx.text("key") is not None or ctx.text("csr") is not None,
    )
    return read_batch_file(path, defaults, warn=ctx.log.warn)


@dataclass(frozen=True)
class _Job:
    """One transaction of many: ``order`` sorts the failures, ``label`` names
    it in them; ``request`` to run and ``save`` for its result, or the
    ``error`` that keeps it from being run."""

    order: int
    label: str
    request: EnrollRequest | None
    save: Callable[[TransactionResult], None]
    error: Exception | None = None


def _run_batch_file(ctx: _Context, plan: _Plan, lines: list[BatchLine]) -> int:
    """``-batch_file``: an enrollment per line, ``-concurrency`` at once."""
    if not lines:
        ctx.log.warn(f"batch file '{ctx.text('batch_file')}' holds no enrollment")
        return 0

    def shared(last: TransactionResult) -> None:
        # The same for every line: written once, from the last one.
        outputs = _Outputs(ctx.text("certform") or "PEM", ctx.log)
        outputs.add(ctx.text("extracertsout"), last.extra_certs, "extra")
        outputs.add(ctx.text("cacertsout"), last.ca_pubs, "CA")
        outputs.commit()

    jobs = _line_jobs(ctx, plan, lines)
    return _run_many(ctx, plan, jobs, len(lines), "enrollments", at_end=shared, off_loop=True)


def _run_concurrent_repeat(ctx: _Context, plan: _Plan) -> int:
    """``-repeat`` with ``-concurrency`` above 1: the same enrollment, side by side."""
    repeat = ctx.count("repeat", 1)
    request = plan.request()
    if not isinstance(request, EnrollRequest):  # the options were checked for this
        raise RunError("-concurrency above 1 works with the enrollment commands only")

    def save(result: TransactionResult) -> None:
        _report(ctx, plan.cmd, result)

    jobs = (_Job(n, f"transaction {n}", request, save) for n in range(1, repeat + 1))
    return _run_many(ctx, plan, jobs, repeat, "transactions")


def _line_jobs(ctx: _Context, plan: _Plan, lines: list[BatchLine]) -> Iterator[_Job]:
    """The job of each batch line, made as the batch takes them (in its
    thread): a key loaded or generated, the request, how to save it."""
    base = plan.request()
    if not isinstance(base, EnrollRequest):
        raise RunError("-batch_file works with the enrollment commands only")
    source = ctx.passphrase("newkeypass", "new private key")
    password = source.get() if source.given else None  # asked here, not in the batch
    certform = ctx.text("certform") or "PEM"

    def job(line: BatchLine) -> _Job:
        label = f"line {line.number} ({line.subject_text})"
        try:
            _make_parents(line.newkey, line.certout, line.chainout)  # before anything is sent
            key, pem = _line_key(ctx, line.newkey, password)
            fields: dict[str, Any] = {"subject": line.subject}
            if key is not None:
                fields["new_key"] = key
            if line.sans is not None:
                fields["sans"] = line.sans
                fields["sans_critical"] = line.sans_critical
            request = dataclasses.replace(base, **fields)
        except (CMPError, ValueError, OSError) as exc:
            return _Job(line.number, label, None, _ignore, exc)

        def save(result: TransactionResult) -> None:
            if result.cert is None:
                raise RunError("no certificate received")
            outputs = _Outputs(certform, ctx.log, announce=False)
            if pem is not None and line.newkey is not None:
                outputs.add_key(line.newkey, pem)
            outputs.add(line.certout, [result.cert], "enrolled")
            outputs.add(line.chainout, result.chain, "chain")
            outputs.commit()
            new = "" if pem is None else f", its new key to '{line.newkey}'"
            ctx.log.info(f"line {line.number}: saved the certificate to '{line.certout}'{new}")

        return _Job(line.number, label, request, save)

    return (job(line) for line in lines)


def _make_parents(*paths: str | None) -> None:
    """Creates the missing folders of a batch line's output files, so that a
    certificate enrolled is never lost for want of a folder (``keys/{cn}.key``)."""
    for path in paths:
        parent = os.path.dirname(path) if path else ""
        if parent:
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as e:
                raise RunError(f"cannot create the folder of '{path}': {e.strerror}") from None


def _ignore(result: TransactionResult) -> None:
    """The ``save`` of a job that never runs."""


def _line_key(
    ctx: _Context, path: str | None, password: bytes | None
) -> tuple[PrivateKeyTypes | PublicKeyTypes | None, bytes | None]:
    """The key of a batch line's ``newkey`` (None: the command line's), and
    its PEM when it does not exist yet and was generated: a new EC P-256 key,
    to be written with the certificate."""
    if path is None:
        return None, None
    if not os.path.exists(path):
        return _new_ec_key(password)
    key = _private_or_public_key(
        path,
        ctx.keyform,
        lambda: load_key(path, password=password, format=ctx.keyform, desc=_NEWKEY_DESC),
        lambda: password,
    )
    return key, None


def _run_many(
    ctx: _Context,
    plan: _Plan,
    jobs: Iterable[_Job],
    total: int,
    what: str,
    *,
    at_end: Callable[[TransactionResult], None] | None = None,
    off_loop: bool = False,
) -> int:
    """Run the jobs through :func:`cmp.batch.enroll_many_sync`, at most
    ``-concurrency`` at once, saving each result as it comes, then ``at_end``
    with the last successful one; then the statistics and one error line per
    failure. The exit status: 1 if any failed. With ``off_loop`` each job is
    made in a worker thread: a batch line loads or makes its key (a pass
    phrase's key derivation takes a while), which in the batch's event loop
    would stall every transaction in flight."""
    log = ctx.log
    maker = plan.make_async
    if maker is None:
        raise RunError("many transactions at once need -server or -use_mock_srv")
    stats = BatchStats()
    bar = _progress_bar(ctx, total, automatic=True)
    pending: dict[int, _Job] = {}  # by the batch's index: filled in its thread
    unsent: queue.SimpleQueue[_Job] = queue.SimpleQueue()  # failed before being sent
    failures: list[tuple[int, str]] = []
    last: TransactionResult | None = None

    def requests() -> Iterator[EnrollRequest]:
        index = 0
        for job in jobs:
            if job.request is None:
                unsent.put(job)
                continue
            pending[index] = job
            index += 1
            yield job.request

    async def requests_off_loop() -> AsyncIterator[EnrollRequest]:
        made = requests()
        while (request := await asyncio.to_thread(next, made, None)) is not None:
            yield request

    def failed(job: _Job, error: BaseException) -> None:
        failures.append((job.order, f"{job.label}: {_one_line(error)}"))

    def take_unsent() -> None:
        while not unsent.empty():
            job = unsent.get()
            stats.record_outcome(job.error)
            failed(job, job.error or RunError("not sent"))

    def client() -> AsyncClient:
        return AsyncClient(transport=maker(), config=plan.config, msg_timeout=plan.msg_timeout)

    concurrency = ctx.count("concurrency", _DEFAULT_BATCH_CONCURRENCY)
    stats.start()
    try:
        source = requests_off_loop() if off_loop else requests()
        for item in enroll_many_sync(client, source, concurrency=concurrency):
            take_unsent()
            job = pending.pop(item.index)
            item = _saved(item, job)
            stats.record(item)
            if item.error is not None:
                failed(job, item.error)
            else:
                last = item.result
            if bar is not None:
                bar.update(stats.count, stats.failed, stats.elapsed)
        take_unsent()
        if at_end is not None and last is not None:
            at_end(last)
    finally:
        plan.transport.close()  # the synchronous one, not used here
        _finish(ctx, bar, stats, what, show_stats=True)
        for _, line in sorted(failures):
            log.error(line)
    if stats.failed:
        log.error(f"{stats.failed} of {stats.count} {plural(what, stats.count)} failed")
        return 1
    return 0


def _saved(item: BatchItem, job: _Job) -> BatchItem:
    """The item once its result is saved; a failure to save makes it a failed one."""
    if item.result is None:
        return item
    try:
        job.save(item.result)
    except (CMPError, ValueError, OSError) as exc:
        return dataclasses.replace(item, result=None, error=exc)
    return item


def _progress_bar(ctx: _Context, total: int, *, automatic: bool) -> ProgressBar | None:
    """``-progress``'s bar on stderr; ``automatic``: also without it when
    stderr is a terminal and the verbosity is between WARN and INFO."""
    stream = ctx.log.err
    if not ctx.flag("progress"):
        if not automatic or not LOG_WARNING <= ctx.log.verbosity <= LOG_INFO:
            return None
        try:
            if not stream.isatty():
                return None
        except ValueError:  # closed
            return None
    bar = ProgressBar(stream, total)
    ctx.log.before_write = bar.clear
    return bar


def _finish(
    ctx: _Context, bar: ProgressBar | None, stats: BatchStats, what: str, *, show_stats: bool
) -> None:
    """The progress bar's last state, then (``show_stats``) the statistics."""
    if bar is not None:
        bar.update(stats.count, stats.failed, stats.elapsed, force=True)
        ctx.log.before_write = None
        bar.close()
    if show_stats:
        for line in stats_report(stats, what):
            ctx.log.stats(line)


# --- results ------------------------------------------------------------------------------------


def _report(ctx: _Context, cmd: str, result: TransactionResult) -> None:
    """Print a genp's contents; write the certificate files."""
    if cmd == "genm":
        _print_itavs(ctx.log, result.genp_itavs)
    if cmd == "rr" and result.rev_status is not None:
        status = result.rev_status.status
        name = PKIStatus(status).name if status in PKIStatus._value2member_map_ else str(status)
        ctx.log.info(f"revocation accepted (PKIStatus={name})")
    outputs = _Outputs(ctx.text("certform") or "PEM", ctx.log)
    outputs.add(ctx.text("extracertsout"), result.extra_certs, "extra")
    outputs.add(ctx.text("cacertsout"), result.ca_pubs, "CA")
    if result.cert is not None:
        outputs.add(ctx.text("certout"), [result.cert], "enrolled")
    outputs.add(ctx.text("chainout"), result.chain, "chain")  # empty for rr and genm
    outputs.commit()


def _print_itavs(log: RunLog, itavs: Sequence[Any]) -> None:
    if not itavs:
        log.info("genp contains no ITAV")
        return
    for itav in itavs:
        name = NAME_BY_OID.get(itav.info_type)
        log.info(f"genp contains ITAV of type: {'id-it-' + name if name else itav.info_type}")


class _Outputs:
    """Certificate files written together: each to a temporary file beside
    it first, then all renamed into place; on any error none is changed.
    ``announce``: say so for each file (``openssl cmp`` does)."""

    def __init__(self, certform: str, log: RunLog, *, announce: bool = True) -> None:
        self._der = certform == "DER"
        self._log = log
        self._announce = announce
        self._files: list[tuple[str, bytes, bool]] = []

    def add(self, path: str | None, certs: Sequence[x509.Certificate], desc: str) -> None:
        if path is None:
            return
        if self._announce:
            self._log.info(f"received {len(certs)} {desc} certificate(s), saving to file '{path}'")
        if len(certs) > 1 and self._der:
            self._log.warn("saving more than one certificate in non-PEM format")
        encoding = serialization.Encoding.DER if self._der else serialization.Encoding.PEM
        self._files.append((path, b"".join(c.public_bytes(encoding) for c in certs), False))

    def add_key(self, path: str, pem: bytes) -> None:
        """A private key, readable by the owner only."""
        self._files.append((path, pem, True))

    def commit(self) -> None:
        temps: list[tuple[str, str]] = []
        try:
            for path, data, private in self._files:
                temps.append((_write_temp(path, data, private=private), path))
            for temp, path in temps:
                os.replace(temp, path)
            temps = []
        finally:
            for temp, _ in temps:
                try:
                    os.unlink(temp)
                except OSError:
                    pass


def _write_temp(path: str, data: bytes, *, private: bool = False) -> str:
    """``data`` in a new temporary file beside ``path``: mode 0666 less the
    umask (as :func:`open` would make it), or (``private``) 0600 as made."""
    directory, base = os.path.split(os.path.abspath(path))
    if os.path.isdir(path):
        raise RunError(f"could not open file '{path}' for writing: is a directory")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise RunError(f"could not open file '{path}' for writing: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if not private:
            os.chmod(temp, 0o666 & ~_UMASK)
    except OSError as exc:
        os.unlink(temp)
        what = "the key" if private else "certificates"
        raise RunError(f"cannot write {what} to file '{path}': {exc.strerror}") from None
    return temp
