"""How CMP messages travel: HTTP(S) (RFC 9811), files, and in-process.

A transport takes the DER of one request and returns the DER of its response;
it knows nothing of CMP beyond the media type. :class:`cmp.Client` and
:class:`cmp.AsyncClient` drive transactions over them, as ``httpx.Client``
drives requests over its transports:

- :class:`HTTPTransport` / :class:`AsyncHTTPTransport` POST
  ``application/pkixcmp`` over a connection pool (keep-alive, proxies, TLS with
  client authentication), with the checks and defaults of ``openssl cmp``
  3.0's message transfer and TLS options;
- :class:`FileTransport` is ``-reqout``/``-rspout``/``-reqin``/``-rspin``: it
  writes, substitutes or replays messages around another transport (or none);
- :class:`InProcessTransport` hands the request straight to a handler such as
  ``cmp.server.MockServer.handle``: no sockets.

A client runs each transaction in a :meth:`~BaseTransport.session`: over HTTP
the messages of one transaction share one connection, as with ``openssl
cmp``, whose mock server keeps a transaction's state with its (HTTP/1.0
keep-alive) connection and serves one connection at a time. Connections that
stay open under HTTP/1.1 are pooled across transactions.

HTTP/1.1 is spoken with h11 (the protocol engine under httpx), over sockets
this module manages itself: ``timeout`` bounds a whole round trip (connect,
proxy tunnel, TLS handshake, request, response), as OpenSSL's
``-msg_timeout`` does, not each read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import os
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, Union
from urllib.parse import urlsplit

import h11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from cmp._frozen import fast_init
from cmp.errors import CMPError

if TYPE_CHECKING:
    from cmp.message import PKIMessage

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_KEEPALIVE_EXPIRY",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "AsyncBaseTransport",
    "AsyncHTTPTransport",
    "BaseTransport",
    "Exchange",
    "FileTransport",
    "HTTPTransport",
    "InProcessTransport",
    "ServerAddress",
    "TLSConfig",
    "TransportError",
    "TransportTimeout",
    "parse_server",
    "select_proxy",
]

CONTENT_TYPE = "application/pkixcmp"
"""The media type of CMP over HTTP (RFC 9811 §3.4), for requests and responses."""

DEFAULT_MAX_RESPONSE_SIZE = 100 * 1024
"""Largest response body accepted: OpenSSL's ``OSSL_HTTP_DEFAULT_MAX_RESP_LEN``."""

DEFAULT_MAX_CONNECTIONS = 100
"""Connections a transport uses at once at most; more sessions wait for one."""

DEFAULT_KEEPALIVE_EXPIRY = 4.0
"""Seconds an idle pooled connection is kept: below the 5 s after which common
servers (uvicorn, nginx's default is longer) close idle connections, so that a
request is not sent on a connection the server is just closing."""

PathLike = Union[str, "os.PathLike[str]"]
_T = TypeVar("_T")


class TransportError(CMPError):
    """A message could not be exchanged: connection, HTTP, TLS, proxy or file trouble.

    The message is one line naming the server (or file) and what went wrong.
    """


class TransportTimeout(TransportError):
    """An exchange, or the whole transaction, took longer than its timeout."""


# ---------------------------------------------------------------------------
# Transport interfaces
# ---------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True)
class Exchange:
    """One request-response exchange as it happened.

    ``sent`` is the request actually sent and ``response`` the response;
    ``replayed`` is true when one of them is not what the transaction built or
    expects to answer it (``-reqin``, ``-rspin``): the transaction then takes
    over the response's transactionID and recipNonce before checking it, as
    ``openssl cmp`` does.
    """

    response: bytes
    sent: bytes
    replayed: bool = False


class BaseTransport:
    """A synchronous transport: one request in, one response out.

    Implement :meth:`exchange` (and :meth:`close`); :meth:`session` and
    :meth:`transfer` have defaults built on it.
    """

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        """Send the DER ``request`` and return the DER response.

        ``timeout`` bounds the whole round trip in seconds (``None``: no bound).
        Raises :class:`TransportError` (:class:`TransportTimeout` on timeout).
        """
        raise NotImplementedError

    def transfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        """:meth:`exchange`, saying what was actually sent and received."""
        return Exchange(self.exchange(request, timeout), request)

    def session(self) -> BaseTransport:
        """A transport for the messages of one transaction, closed after it.

        HTTP sessions keep one connection for the whole transaction.
        """
        return _Session(self)

    def close(self) -> None:
        """Release connections and other resources."""

    def __enter__(self) -> BaseTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Session(BaseTransport):
    """The default session: the transport itself, closed with it, not before."""

    def __init__(self, transport: BaseTransport) -> None:
        self._transport = transport

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return self._transport.exchange(request, timeout)

    def transfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        return self._transport.transfer(request, timeout)


class AsyncBaseTransport:
    """An asynchronous transport: one request in, one response out."""

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        """The awaitable form of :meth:`BaseTransport.exchange`."""
        raise NotImplementedError

    async def atransfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        """The awaitable form of :meth:`BaseTransport.transfer`."""
        return Exchange(await self.aexchange(request, timeout), request)

    def asession(self) -> AsyncBaseTransport:
        """The asynchronous form of :meth:`BaseTransport.session`."""
        return _AsyncSession(self)

    async def aclose(self) -> None:
        """Release connections and other resources."""

    async def __aenter__(self) -> AsyncBaseTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _AsyncSession(AsyncBaseTransport):
    def __init__(self, transport: AsyncBaseTransport) -> None:
        self._transport = transport

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return await self._transport.aexchange(request, timeout)

    async def atransfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        return await self._transport.atransfer(request, timeout)


# ---------------------------------------------------------------------------
# Server and proxy addresses, as openssl cmp reads them
# ---------------------------------------------------------------------------

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class ServerAddress:
    """Where requests go: ``host`` (no brackets around IPv6), ``port``, ``path``
    (with any query, always starting with ``/``), and whether TLS is used."""

    host: str
    port: int
    path: str
    tls: bool

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.authority}{self.path}"

    @property
    def host_header(self) -> str:
        """The Host header: the port only where it is not the scheme's default."""
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _split_url(text: str, option: str) -> tuple[str, str, int | None, str, str]:
    """``[scheme://][userinfo@]host[:port][/path][?query][#fragment]`` into
    (scheme, host, port, path, query); userinfo and fragment are dropped."""
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else ""
    if scheme not in ("", "http", "https"):
        raise ValueError(f"{option} {text!r}: unsupported scheme {scheme!r} (http or https)")
    parts = urlsplit(text if match else "http://" + text)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{option} {text!r}: invalid port") from None
    host = parts.hostname
    if not host:
        raise ValueError(f"{option} {text!r}: no host")
    if port == 0:
        raise ValueError(f"{option} {text!r}: invalid port 0")
    return scheme, host, port, parts.path, parts.query


def parse_server(server: str, *, tls: bool = False, path: str | None = None) -> ServerAddress:
    """Read ``server`` as ``openssl cmp -server`` does.

    ``https://`` selects TLS (so does ``tls``); the port defaults to 443 with
    TLS, else 80. Userinfo and fragment are ignored, a query stays part of the
    path, and ``path`` (``-path``) replaces the URL's path and query. A missing
    leading ``/`` is added, as OpenSSL adds it to the request line.
    """
    scheme, host, port, url_path, query = _split_url(server.strip(), "server")
    use_tls = tls or scheme == "https"
    if path is None:
        path = url_path + ("?" + query if query else "")
    if not path.startswith("/"):
        path = "/" + path
    return ServerAddress(host, port or (443 if use_tls else 80), path, use_tls)


def _no_proxy_applies(host: str, no_proxy: str | Sequence[str]) -> bool:
    # OpenSSL matches the server name as a whole item of the list (items
    # separated by commas and/or whitespace): no domain suffixes, no wildcards.
    items = re.split(r"[,\s]+", no_proxy) if isinstance(no_proxy, str) else list(no_proxy)
    bracketed = f"[{host}]"
    return any(item in (host, bracketed) for item in items if item)


def select_proxy(
    host: str,
    *,
    tls: bool,
    proxy: str | None = None,
    no_proxy: str | Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, int] | None:
    """The HTTP proxy (host, port) to reach ``host`` through, or ``None``.

    As ``openssl cmp -proxy/-no_proxy``: ``proxy`` defaults to ``http_proxy``,
    else ``HTTP_PROXY`` (``https_proxy``, else ``HTTPS_PROXY`` with TLS);
    ``no_proxy`` to ``no_proxy``, else ``NO_PROXY``. An empty proxy means none.
    In the proxy URL only host and port count (default 80, or 443 for
    ``https://``): the proxy is always spoken to in plain HTTP, TLS to the
    server going through a CONNECT tunnel.
    """
    env = os.environ if environ is None else environ
    if proxy is None:
        lower, upper = ("https_proxy", "HTTPS_PROXY") if tls else ("http_proxy", "HTTP_PROXY")
        proxy = env.get(lower)
        if proxy is None:
            proxy = env.get(upper)
    if not proxy:
        return None
    if no_proxy is None:
        no_proxy = env.get("no_proxy")
        if no_proxy is None:
            no_proxy = env.get("NO_PROXY")
    if no_proxy and _no_proxy_applies(host, no_proxy):
        return None
    scheme, proxy_host, port, _, _ = _split_url(proxy.strip(), "proxy")
    return proxy_host, port or (443 if scheme == "https" else 80)


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------


def _pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class TLSConfig:
    """TLS to the CMP server: ``openssl cmp``'s TLS connection options.

    - ``trusted`` (``-tls_trusted``): the only trust anchors for the server's
      certificate, with its name checked against ``host`` (``-tls_host``) or
      else the server's host name or IP address. Without ``trusted`` the
      system's trust store is used, with the same name check.
    - ``verify=False`` does not authenticate the server at the TLS level, what
      ``openssl cmp -tls_used`` does when ``-tls_trusted`` is absent (the CMP
      messages' own protection still authenticates the server's answers).
    - ``cert`` and ``key`` (``-tls_cert``/``-tls_key``; a ``-tls_keypass`` is
      applied when the key is loaded) authenticate the client, sending
      ``chain`` (further certificates of the ``-tls_cert`` source and
      ``-untrusted``) and ``extra`` (``-tls_extra``) with it.
    """

    trusted: Sequence[x509.Certificate] | None = None
    verify: bool = True
    cert: x509.Certificate | None = None
    key: CertificateIssuerPrivateKeyTypes | None = None
    chain: Sequence[x509.Certificate] = ()
    extra: Sequence[x509.Certificate] = ()
    host: str | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            missing = "tls_key" if self.key is None else "tls_cert"
            raise ValueError(f"missing {missing}: tls_cert and tls_key go together")
        if self.trusted is not None and not self.verify:
            raise ValueError("tls_trusted given with verify=False")
        if self.trusted is not None and len(self.trusted) == 0:
            raise ValueError("tls_trusted holds no certificate")

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSLContext for these options (hostname checked iff verifying)."""
        if not self.verify:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.trusted is not None:
            context = ssl.create_default_context(cadata=_pem(self.trusted).decode("ascii"))
        else:
            context = ssl.create_default_context()
        if self.cert is not None and self.key is not None:
            _load_client_credentials(context, self.cert, self.key, [*self.chain, *self.extra])
        return context


def _load_client_credentials(
    context: ssl.SSLContext,
    cert: x509.Certificate,
    key: CertificateIssuerPrivateKeyTypes,
    chain: Sequence[x509.Certificate],
) -> None:
    # The ssl module loads client credentials from files only. They go to a
    # private temporary directory, the key encrypted under a random one-time
    # password, and are deleted as soon as OpenSSL has read them.
    sent = [cert] + [c for i, c in enumerate(chain) if c != cert and c not in chain[:i]]
    password = secrets.token_urlsafe(32).encode("ascii")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with tempfile.TemporaryDirectory(prefix="cmpkit-tls-") as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(_pem(sent))
        key_file.write_bytes(key_pem)
        try:
            context.load_cert_chain(cert_file, key_file, password=password)
        except ssl.SSLError as exc:
            raise ValueError(f"tls_cert/tls_key cannot be used: {_ssl_reason(exc)}") from None


def _ssl_reason(exc: BaseException) -> str:
    """An ssl error in words, without ``[SSL: CODE]`` and ``(_ssl.c:NNN)``."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(exc)) or type(exc).__name__


# ---------------------------------------------------------------------------
# HTTP: settings and the protocol, sans I/O
# ---------------------------------------------------------------------------

_MAX_HEAD_SIZE = 16 * 1024  # bytes of status line and headers accepted
_READ_SIZE = 65536
_ERROR_DETAIL_BYTES = 1024  # of a non-200 response's body, read for the error message


class _Timeout(Exception):
    """A deadline passed during ``phase`` (pool, connect, response)."""

    def __init__(self, phase: str) -> None:
        super().__init__(phase)
        self.phase = phase


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _remaining(deadline: float | None, phase: str) -> float | None:
    """Seconds left before ``deadline`` (``None``: no deadline); raises when none are."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Timeout(phase)
    return left


def _ascii_host(host: str) -> str:
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        return host.encode("idna").decode("ascii")
    return host


@dataclass(frozen=True)
class _HTTPSettings:
    """Everything an HTTP transport derives from its options, once."""

    address: ServerAddress
    proxy: tuple[str, int] | None
    keep_alive: int
    max_response_size: int
    ssl_context: ssl.SSLContext | None
    tls_name: str
    target: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        server: str,
        *,
        path: str | None,
        tls: TLSConfig | None,
        proxy: str | None,
        no_proxy: str | Sequence[str] | None,
        trust_env: bool,
        keep_alive: int,
        max_response_size: int,
    ) -> _HTTPSettings:
        if keep_alive not in (0, 1, 2):
            raise ValueError(f"keep_alive must be 0, 1 or 2, not {keep_alive!r}")
        if max_response_size <= 0:
            raise ValueError("max_response_size must be positive")
        address = parse_server(server, tls=tls is not None, path=path)
        if address.tls and tls is None:
            tls = TLSConfig()  # https:// given: authenticate the server the usual way
        hop = select_proxy(
            address.host,
            tls=address.tls,
            proxy=proxy,
            no_proxy=no_proxy,
            environ=None if trust_env else {},
        )
        # Through a proxy, plain HTTP requests name the whole URL; TLS goes
        # through a CONNECT tunnel and asks for the path only.
        target = address.url if hop is not None and not address.tls else address.path
        headers = [
            ("Host", _ascii_host(address.host_header)),
            ("Content-Type", CONTENT_TYPE),
            ("Pragma", "no-cache"),  # as openssl cmp sends it
            ("Cache-Control", "no-cache"),
        ]
        if keep_alive == 0:
            headers.append(("Connection", "close"))
        return cls(
            address=address,
            proxy=hop,
            keep_alive=keep_alive,
            max_response_size=max_response_size,
            ssl_context=tls.ssl_context() if tls is not None else None,
            tls_name=_ascii_host((tls.host if tls is not None else None) or address.host),
            target=target,
            headers=tuple(headers),
        )

    @property
    def first_hop(self) -> tuple[str, int]:
        return self.proxy if self.proxy is not None else (self.address.host, self.address.port)

    @property
    def tunnel(self) -> bool:
        return self.proxy is not None and self.ssl_context is not None

    @property
    def proxy_url(self) -> str | None:
        if self.proxy is None:
            return None
        host, port = self.proxy
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def timeout_error(self, phase: str, timeout: float | None) -> TransportTimeout:
        within = f" within {timeout:g} s" if timeout is not None else ""
        where = self.address.authority
        if phase == "pool":
            return TransportTimeout(f"no free connection to {where}{within} (max_connections)")
        if phase == "connect":
            via = f" via proxy {self.proxy_url}" if self.proxy else ""
            return TransportTimeout(f"cannot connect to {where}{via}{within}")
        return TransportTimeout(f"no complete response from {self.address.url}{within}")

    def connect_error(self, exc: BaseException) -> TransportError:
        where = self.address.authority
        if isinstance(exc, ssl.SSLError):
            return TransportError(f"TLS handshake with {where} failed: {_ssl_reason(exc)}")
        if isinstance(exc, TransportError):
            return exc
        if self.proxy is not None:
            return TransportError(
                f"cannot connect to {where} via proxy {self.proxy_url}: {_os_reason(exc)}"
            )
        return TransportError(f"cannot connect to {where}: {_os_reason(exc)}")

    def exchange_error(self, exc: BaseException) -> TransportError:
        if isinstance(exc, _NoResponse):
            return TransportError(str(exc))
        if isinstance(exc, TransportError):
            return exc
        return TransportError(f"exchange with {self.address.url} failed: {_os_reason(exc)}")


def _os_reason(exc: BaseException) -> str:
    """The OS error's words ("connection refused"), else the message."""
    if isinstance(exc, ssl.SSLError):
        return _ssl_reason(exc)
    if isinstance(exc, socket.gaierror):  # its errno is no errno: use its own words
        text = str(exc.strerror or exc)
        return "cannot resolve the host name: " + text[0].lower() + text[1:]
    if isinstance(exc, OSError) and (exc.errno or exc.strerror):
        text = os.strerror(exc.errno) if exc.errno else str(exc.strerror)
        return text[0].lower() + text[1:]
    return str(exc) or type(exc).__name__


def _header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [v.decode("latin-1").strip() for k, v in headers if k.lower() == name]


class _NoResponse(TransportError):
    """The server closed the connection before sending any byte of a response."""


class _HTTPExchange:
    """One POST and its response on a connection, as bytes in and out (h11).

    The response is checked as OpenSSL 3.0 checks it: status 200 (no
    redirects), Content-Type exactly ``application/pkixcmp`` (any case, no
    parameters), a size limit, and with ``keep_alive=2`` a persistent
    connection.
    """

    def __init__(self, settings: _HTTPSettings, request: bytes) -> None:
        self._s = settings
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD_SIZE)
        headers = [*settings.headers, ("Content-Length", str(len(request)))]
        self.outgoing = (
            self._h11.send(h11.Request(method="POST", target=settings.target, headers=headers))
            + self._h11.send(h11.Data(data=request))
            + self._h11.send(h11.EndOfMessage())
        )
        self.received_any = False
        self.keep = False  # the connection may carry the session's next message
        self.persistent = False  # ... and other sessions' messages (HTTP/1.1)
        self._status = 0
        self._reason = ""
        self._headers: list[tuple[bytes, bytes]] = []
        self._granted = False
        self._body = bytearray()
        self._limit = settings.max_response_size

    def feed(self, data: bytes) -> bytes | None:
        """Takes what the server sent (``b""`` at its end); returns the
        response body once complete, else ``None``; raises on a bad response."""
        url = self._s.address.url
        if not data and not self.received_any:
            raise _NoResponse(f"{url} closed the connection without a response")
        self.received_any = True
        self._h11.receive_data(data)
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if not data:
                    raise TransportError(
                        f"{url} closed the connection before the response was complete"
                    ) from None
                raise TransportError(f"bad HTTP response from {url}: {exc}") from None
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Response):
                self._head(event)
            elif isinstance(event, h11.Data):
                if not self._data(bytes(event.data)):
                    return self._result()
            elif isinstance(event, h11.EndOfMessage):
                self._end()
                return self._result()
            elif isinstance(event, h11.ConnectionClosed):
                raise TransportError(f"{url} closed the connection without a complete response")
            # InformationalResponse (1xx) and anything else: read on.

    def _head(self, response: h11.Response) -> None:
        self._status = response.status_code
        self._reason = response.reason.decode("latin-1")
        self._headers = list(response.headers)
        self._granted = self._kept_alive(response.http_version)
        if self._status != 200:
            self._limit = _ERROR_DETAIL_BYTES
            return
        url = self._s.address.url
        types = _header_values(self._headers, b"content-type")
        if not types:
            raise TransportError(
                f"response from {url} has no Content-Type ({CONTENT_TYPE} expected)"
            )
        for value in types:
            if value.lower() != CONTENT_TYPE:
                raise TransportError(
                    f"response from {url} has Content-Type {value!r}, not {CONTENT_TYPE}"
                )
        for value in _header_values(self._headers, b"content-length"):
            if int(value) > self._limit:  # h11 has checked that it is a number
                raise TransportError(
                    f"response from {url} is {int(value)} bytes,"
                    f" over max_response_size {self._limit}"
                )
        if self._s.keep_alive == 2 and not self._granted:
            raise TransportError(
                f"{url} does not keep the connection open (keep_alive=2 requires it)"
            )

    def _kept_alive(self, http_version: bytes) -> bool:
        # As OpenSSL: persistent by default above HTTP/1.0, then the
        # Connection header decides.
        alive = http_version != b"1.0"
        for value in _header_values(self._headers, b"connection"):
            tokens = {t.strip().lower() for t in value.split(",")}
            if "keep-alive" in tokens:
                alive = True
            if "close" in tokens:
                alive = False
        return alive

    def _data(self, chunk: bytes) -> bool:
        """Collects body bytes; ``False`` once enough of an error body is read."""
        if self._status != 200:
            self._body += chunk[: self._limit - len(self._body)]
            return len(self._body) < self._limit
        self._body += chunk
        if len(self._body) > self._limit:
            raise TransportError(
                f"response from {self._s.address.url} exceeds max_response_size {self._limit} bytes"
            )
        return True

    def _end(self) -> None:
        leftover, closed = self._h11.trailing_data
        self.keep = (
            self._status == 200
            and self._s.keep_alive != 0
            and self._granted
            and not leftover
            and not closed
        )
        # HTTP/1.1 (h11 ready for another request) may serve other sessions;
        # an HTTP/1.0 keep-alive connection only this transaction, as OpenSSL uses it.
        self.persistent = self.keep and self._h11.their_state is h11.DONE

    def _result(self) -> bytes:
        if self._status != 200:
            raise TransportError(self._status_message())
        if not self._body:
            raise TransportError(f"response from {self._s.address.url} has an empty body")
        return bytes(self._body)

    def _status_message(self) -> str:
        text = f"HTTP {self._status} {self._reason}".rstrip() + f" from {self._s.address.url}"
        if 300 <= self._status < 400:
            location = _header_values(self._headers, b"location")
            target = f" to {location[0]}" if location else ""
            return text + f" (redirect{target} not followed for CMP)"
        types = _header_values(self._headers, b"content-type")
        if self._body and types and types[0].lower().startswith("text/"):
            lines = self._body.decode("utf-8", "replace").strip().splitlines()
            if lines:
                return text + ": " + lines[0][:200]
        return text


class _Tunnel:
    """``CONNECT host:port`` to the proxy, as bytes in and out (h11)."""

    def __init__(self, settings: _HTTPSettings) -> None:
        self._s = settings
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD_SIZE)
        authority = settings.address.authority
        request = h11.Request(method="CONNECT", target=authority, headers=[("Host", authority)])
        self.outgoing = self._h11.send(request) + self._h11.send(h11.EndOfMessage())

    def feed(self, data: bytes) -> bool:
        """Takes the proxy's bytes; ``True`` once the tunnel is open."""
        proxy = self._s.proxy_url
        if not data:
            raise TransportError(f"proxy {proxy} closed the connection instead of a tunnel")
        self._h11.receive_data(data)
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise TransportError(f"bad HTTP response from proxy {proxy}: {exc}") from None
            if event is h11.NEED_DATA:
                return False
            if isinstance(event, h11.Response):
                if not 200 <= event.status_code < 300:
                    reason = event.reason.decode("latin-1")
                    raise TransportError(
                        f"proxy {proxy} refused the tunnel to {self._s.address.authority}:"
                        f" HTTP {event.status_code} {reason}".rstrip()
                    )
                if self._h11.trailing_data[0]:
                    raise TransportError(f"proxy {proxy} sent data before the tunnel was open")
                return True


# ---------------------------------------------------------------------------
# HTTP: synchronous I/O
# ---------------------------------------------------------------------------


class _SyncConnection:
    """A socket (maybe TLS) to the server; every operation held to a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.used = 0
        self.persistent = False
        self.idle_since = 0.0

    def send(self, data: bytes, deadline: float | None) -> None:
        self.sock.settimeout(_remaining(deadline, "response"))
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise _Timeout("response") from None

    def recv(self, deadline: float | None) -> bytes:
        # One recv() returns as soon as any data is there; for TLS, CPython
        # holds the whole record read to the socket timeout.
        self.sock.settimeout(_remaining(deadline, "response"))
        try:
            return self.sock.recv(_READ_SIZE)
        except socket.timeout:
            raise _Timeout("response") from None

    def dropped(self) -> bool:
        """Whether the server closed (or spoke on) this idle connection."""
        try:
            self.sock.setblocking(False)
            try:
                if isinstance(self.sock, ssl.SSLSocket):
                    self.sock.recv(1)  # also takes in TLS 1.3 session tickets
                else:
                    self.sock.recv(1, socket.MSG_PEEK)
            finally:
                self.sock.setblocking(True)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError:
            return True
        return True  # end of stream, or bytes nobody asked for

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _open_sync(s: _HTTPSettings, deadline: float | None) -> _SyncConnection:
    try:
        sock = socket.create_connection(s.first_hop, timeout=_remaining(deadline, "connect"))
    except socket.timeout:
        raise _Timeout("connect") from None
    except OSError as exc:
        raise s.connect_error(exc) from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if s.tunnel:
            tunnel = _Tunnel(s)
            sock.settimeout(_remaining(deadline, "connect"))
            sock.sendall(tunnel.outgoing)
            while not tunnel.feed(sock.recv(_READ_SIZE)):
                sock.settimeout(_remaining(deadline, "connect"))
        if s.ssl_context is not None:
            sock.settimeout(_remaining(deadline, "connect"))
            sock = s.ssl_context.wrap_socket(sock, server_hostname=s.tls_name)
    except socket.timeout:
        sock.close()
        raise _Timeout("connect") from None
    except (OSError, TransportError) as exc:
        sock.close()
        raise s.connect_error(exc) from None
    except BaseException:
        sock.close()
        raise
    return _SyncConnection(sock)


class _SyncPool:
    """Idle persistent connections, and a bound on connections in use."""

    def __init__(self, max_connections: int | None, keepalive_expiry: float | None) -> None:
        if max_connections is not None and max_connections <= 0:
            raise ValueError("max_connections must be positive, or None for no bound")
        self._slots = threading.Semaphore(max_connections) if max_connections else None
        self._expiry = keepalive_expiry
        self._idle: list[_SyncConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, deadline: float | None) -> None:
        if self._slots is not None and not self._slots.acquire(
            timeout=_remaining(deadline, "pool")
        ):
            raise _Timeout("pool")

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def take(self) -> _SyncConnection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()
            expired = self._expiry is not None and (
                time.monotonic() - conn.idle_since > self._expiry
            )
            if not expired and not conn.dropped():
                return conn
            conn.close()

    def put(self, conn: _SyncConnection) -> None:
        conn.idle_since = time.monotonic()
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _HTTPSession(BaseTransport):
    """The messages of one transaction over one connection (while it lasts)."""

    def __init__(self, settings: _HTTPSettings, pool: _SyncPool) -> None:
        self._s = settings
        self._pool = pool
        self._conn: _SyncConnection | None = None
        self._slot = False

    def _connection(self, deadline: float | None) -> _SyncConnection:
        if self._conn is not None:
            if not self._conn.dropped():
                return self._conn
            self._drop()
        if not self._slot:
            self._pool.acquire(deadline)
            self._slot = True
        self._conn = self._pool.take() or _open_sync(self._s, deadline)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        deadline = _deadline(timeout)
        try:
            return self._exchange(request, deadline)
        except _Timeout as exc:
            self._drop()
            raise self._s.timeout_error(exc.phase, timeout) from None
        except BaseException:
            self._drop()
            raise

    def _exchange(self, request: bytes, deadline: float | None) -> bytes:
        retried = False
        while True:
            conn = self._connection(deadline)
            exchange = _HTTPExchange(self._s, request)
            try:
                conn.send(exchange.outgoing, deadline)
                body = exchange.feed(conn.recv(deadline))
                while body is None:
                    body = exchange.feed(conn.recv(deadline))
            except (OSError, _NoResponse) as exc:
                # A connection used before may have been closed by the server
                # just as we sent: nothing was answered, so send it once more
                # on a new connection.
                self._drop()
                if conn.used and not exchange.received_any and not retried:
                    retried = True
                    continue
                raise self._s.exchange_error(exc) from None
            conn.used += 1
            conn.persistent = exchange.persistent
            if not exchange.keep:
                self._drop()
            return body

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if conn.persistent:
                self._pool.put(conn)
            else:
                conn.close()
        if self._slot:
            self._slot = False
            self._pool.release()


class _HTTPOptions:
    """The options both HTTP transports take (see :class:`HTTPTransport`)."""

    def __init__(
        self,
        server: str,
        *,
        path: str | None = None,
        tls: TLSConfig | None = None,
        proxy: str | None = None,
        no_proxy: str | Sequence[str] | None = None,
        trust_env: bool = True,
        keep_alive: int = 1,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        self._settings = _HTTPSettings.build(
            server,
            path=path,
            tls=tls,
            proxy=proxy,
            no_proxy=no_proxy,
            trust_env=trust_env,
            keep_alive=keep_alive,
            max_response_size=max_response_size,
        )

    @property
    def url(self) -> str:
        """The URL requests are POSTed to."""
        return self._settings.address.url

    @property
    def address(self) -> ServerAddress:
        return self._settings.address

    @property
    def proxy_url(self) -> str | None:
        """The proxy in use (after ``no_proxy`` and the environment), or ``None``."""
        return self._settings.proxy_url

    def __repr__(self) -> str:
        via = f" via {self.proxy_url}" if self.proxy_url else ""
        return f"<{type(self).__name__} {self.url}{via}>"


class HTTPTransport(_HTTPOptions, BaseTransport):
    """CMP over HTTP(S) (RFC 9811) as ``openssl cmp`` 3.0 speaks it.

    ``server`` is ``-server``'s ``[http[s]://][userinfo@]host[:port][/path]
    [?query]`` and ``path`` is ``-path`` (:func:`parse_server`); ``tls`` (a
    :class:`TLSConfig`) is ``-tls_used`` with the other TLS options (an
    ``https://`` server without ``tls`` gets ``TLSConfig()``); ``proxy`` and
    ``no_proxy`` fall back to the environment as :func:`select_proxy` says,
    unless ``trust_env`` is false.

    ``keep_alive`` is ``-keep_alive``: 0 closes the connection after each
    response (``Connection: close``), 1 keeps it where the server agrees, 2
    fails where it does not. A :meth:`session` keeps its connection for the
    whole transaction; HTTP/1.1 connections then go back to a pool, kept
    ``keepalive_expiry`` seconds. At most ``max_connections`` are in use at
    once. Responses must be ``200`` with Content-Type
    ``application/pkixcmp`` and at most ``max_response_size`` bytes;
    redirects are not followed. Thread-safe.
    """

    def __init__(
        self,
        server: str,
        *,
        path: str | None = None,
        tls: TLSConfig | None = None,
        proxy: str | None = None,
        no_proxy: str | Sequence[str] | None = None,
        trust_env: bool = True,
        keep_alive: int = 1,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        super().__init__(
            server,
            path=path,
            tls=tls,
            proxy=proxy,
            no_proxy=no_proxy,
            trust_env=trust_env,
            keep_alive=keep_alive,
            max_response_size=max_response_size,
        )
        self._pool = _SyncPool(max_connections, keepalive_expiry)

    def session(self) -> BaseTransport:
        return _HTTPSession(self._settings, self._pool)

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        with self.session() as session:
            return session.exchange(request, timeout)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> HTTPTransport:
        return self


# ---------------------------------------------------------------------------
# HTTP: asyncio
# ---------------------------------------------------------------------------


class _AsyncConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = 0
        self.persistent = False
        self.idle_since = 0.0

    def dropped(self) -> bool:
        return self.reader.at_eof() or self.writer.is_closing()

    def close(self) -> None:
        try:
            self.writer.close()
        except (OSError, RuntimeError):  # RuntimeError: its event loop is closed
            pass


async def _within(awaitable: Awaitable[_T], deadline: float | None, phase: str) -> _T:
    """Awaits ``awaitable`` until ``deadline`` at the latest."""
    if deadline is None:
        return await awaitable
    try:
        left = _remaining(deadline, phase)
    except _Timeout:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise
    try:
        return await asyncio.wait_for(awaitable, left)
    except asyncio.TimeoutError:
        raise _Timeout(phase) from None


async def _tunnel_socket(s: _HTTPSettings) -> socket.socket:
    """A socket to the proxy with a CONNECT tunnel to the server open."""
    loop = asyncio.get_running_loop()
    host, port = s.first_hop
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            tunnel = _Tunnel(s)
            await loop.sock_sendall(sock, tunnel.outgoing)
            while not tunnel.feed(await loop.sock_recv(sock, _READ_SIZE)):
                pass
            return sock
        except OSError as exc:
            sock.close()
            error = exc
        except BaseException:
            sock.close()
            raise
    raise error


async def _open_async(s: _HTTPSettings) -> _AsyncConnection:
    try:
        if s.tunnel:
            sock = await _tunnel_socket(s)
            reader, writer = await asyncio.open_connection(
                sock=sock, ssl=s.ssl_context, server_hostname=s.tls_name
            )
        else:
            host, port = s.first_hop
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=s.ssl_context,
                server_hostname=s.tls_name if s.ssl_context is not None else None,
            )
    except (OSError, TransportError) as exc:
        raise s.connect_error(exc) from None
    return _AsyncConnection(reader, writer)


class _AsyncPool:
    """The asyncio form of :class:`_SyncPool` (one event loop at a time)."""

    def __init__(self, max_connections: int | None, keepalive_expiry: float | None) -> None:
        if max_connections is not None and max_connections <= 0:
            raise ValueError("max_connections must be positive, or None for no bound")
        self._max = max_connections
        self._slots: asyncio.Semaphore | None = None  # made in the running loop
        self._expiry = keepalive_expiry
        self._idle: list[_AsyncConnection] = []
        self._closed = False

    async def acquire(self, deadline: float | None) -> None:
        if self._max is None:
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        await _within(self._slots.acquire(), deadline, "pool")

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def take(self) -> _AsyncConnection | None:
        while self._idle:
            conn = self._idle.pop()
            expired = self._expiry is not None and (
                time.monotonic() - conn.idle_since > self._expiry
            )
            if not expired and not conn.dropped():
                return conn
            conn.close()
        return None

    def put(self, conn: _AsyncConnection) -> None:
        if self._closed:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


async def _round_trip(conn: _AsyncConnection, exchange: _HTTPExchange) -> bytes:
    conn.writer.write(exchange.outgoing)
    await conn.writer.drain()
    body = exchange.feed(await conn.reader.read(_READ_SIZE))
    while body is None:
        body = exchange.feed(await conn.reader.read(_READ_SIZE))
    return body


class _AsyncHTTPSession(AsyncBaseTransport):
    """The asyncio form of :class:`_HTTPSession`."""

    def __init__(self, settings: _HTTPSettings, pool: _AsyncPool) -> None:
        self._s = settings
        self._pool = pool
        self._conn: _AsyncConnection | None = None
        self._slot = False

    async def _connection(self, deadline: float | None) -> _AsyncConnection:
        if self._conn is not None:
            if not self._conn.dropped():
                return self._conn
            self._drop()
        if not self._slot:
            await self._pool.acquire(deadline)
            self._slot = True
        conn = self._pool.take()
        if conn is None:
            conn = await _within(_open_async(self._s), deadline, "connect")
        self._conn = conn
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        deadline = _deadline(timeout)
        try:
            return await self._exchange(request, deadline)
        except _Timeout as exc:
            self._drop()
            raise self._s.timeout_error(exc.phase, timeout) from None
        except BaseException:
            self._drop()
            raise

    async def _exchange(self, request: bytes, deadline: float | None) -> bytes:
        retried = False
        while True:
            conn = await self._connection(deadline)
            exchange = _HTTPExchange(self._s, request)
            try:
                body = await _within(_round_trip(conn, exchange), deadline, "response")
            except (OSError, _NoResponse) as exc:
                self._drop()
                if conn.used and not exchange.received_any and not retried:
                    retried = True
                    continue
                raise self._s.exchange_error(exc) from None
            conn.used += 1
            conn.persistent = exchange.persistent
            if not exchange.keep:
                self._drop()
            return body

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if conn.persistent:
                self._pool.put(conn)
            else:
                conn.close()
        if self._slot:
            self._slot = False
            self._pool.release()


class AsyncHTTPTransport(_HTTPOptions, AsyncBaseTransport):
    """The asyncio form of :class:`HTTPTransport`, same options.

    Concurrent sessions (transactions) each hold their own connection, taken
    from the pool or opened, at most ``max_connections`` at once. Use it from
    one event loop.
    """

    def __init__(
        self,
        server: str,
        *,
        path: str | None = None,
        tls: TLSConfig | None = None,
        proxy: str | None = None,
        no_proxy: str | Sequence[str] | None = None,
        trust_env: bool = True,
        keep_alive: int = 1,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        keepalive_expiry: float | None = DEFAULT_KEEPALIVE_EXPIRY,
    ) -> None:
        super().__init__(
            server,
            path=path,
            tls=tls,
            proxy=proxy,
            no_proxy=no_proxy,
            trust_env=trust_env,
            keep_alive=keep_alive,
            max_response_size=max_response_size,
        )
        self._pool = _AsyncPool(max_connections, keepalive_expiry)

    def asession(self) -> AsyncBaseTransport:
        return _AsyncHTTPSession(self._settings, self._pool)

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        async with self.asession() as session:
            return await session.aexchange(request, timeout)

    async def aclose(self) -> None:
        self._pool.close()

    async def __aenter__(self) -> AsyncHTTPTransport:
        return self


# ---------------------------------------------------------------------------
# In-process
# ---------------------------------------------------------------------------

Handler = Callable[[bytes], Union[bytes, Awaitable[bytes]]]


class InProcessTransport(BaseTransport, AsyncBaseTransport):
    """Hands each request to ``handler(request) -> response`` in this process.

    ``handler`` is typically ``cmp.server.MockServer(...).handle``; with
    :class:`AsyncClient` it may also be a coroutine function. The call is not
    interrupted, so ``timeout`` does not apply.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        response = self._handler(request)
        if type(response) is bytes:  # the usual answer: no awaitable checks
            return response
        if inspect.isawaitable(response):
            if inspect.iscoroutine(response):
                response.close()
            raise TypeError("InProcessTransport: an async handler needs AsyncClient")
        return _as_bytes(response)

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        response = self._handler(request)
        if type(response) is bytes:
            return response
        if inspect.isawaitable(response):
            response = await response
        return _as_bytes(response)

    def session(self) -> BaseTransport:
        # Nothing to keep per transaction: no wrapper, unless a subclass has
        # something to close (the wrapper keeps it open between transactions).
        if type(self).close is BaseTransport.close:
            return self
        return super().session()

    def asession(self) -> AsyncBaseTransport:
        if type(self).aclose is AsyncBaseTransport.aclose:
            return self
        return super().asession()

    def __enter__(self) -> InProcessTransport:
        return self

    async def __aenter__(self) -> InProcessTransport:
        return self


def _as_bytes(response: object) -> bytes:
    if isinstance(response, (bytes, bytearray, memoryview)):
        return bytes(response)
    raise TypeError(f"InProcessTransport: handler returned {type(response).__name__}, not bytes")


# ---------------------------------------------------------------------------
# Files: -reqout, -rspout, -reqin, -rspin
# ---------------------------------------------------------------------------

Reprotect = Callable[["PKIMessage"], "PKIMessage"]
"""Protects a message again as the client protects its own (``-reqin_new_tid``)."""


class _FileList:
    """File names consumed one per message, as OpenSSL walks its lists."""

    def __init__(self, paths: PathLike | Sequence[PathLike]) -> None:
        items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        self.paths = [Path(p) for p in items]
        self.used = 0

    def __bool__(self) -> bool:
        return self.used < len(self.paths)

    def take(self) -> Path:
        path = self.paths[self.used]
        self.used += 1
        return path


def _read_message(path: Path, option: str, max_size: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(max_size + 1)
    except OSError as exc:
        raise TransportError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > max_size:
        raise TransportError(f"{option}: {path} is larger than {max_size} bytes")
    if not data:
        raise TransportError(f"{option}: {path} is empty")
    return data


def _write_message(path: Path, option: str, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise TransportError(f"{option}: cannot write {path}: {exc.strerror or exc}") from None


class FileTransport(BaseTransport, AsyncBaseTransport):
    """``openssl cmp``'s ``-reqout``, ``-rspout``, ``-reqin`` and ``-rspin``
    around another transport, or none.

    Each option takes file names, one per message, used in order over this
    transport's lifetime. For every exchange, as ``openssl cmp`` 3.0 does:

    1. the request the transaction built goes to the next ``reqout`` file;
    2. the response is read from the next ``rspin`` file, if one is left;
    3. else the next ``reqin`` file, if one is left, is sent instead of the
       built request, to ``transport``, with the built request's recipNonce
       (after the first request) and, with ``reqin_new_tid``, its
       transactionID; when that changes a protected message, ``reprotect``
       protects it again. Without a ``transport`` that is an error;
    4. the response goes to the next ``rspout`` file.

    A list that runs out is as if it had not been given: further messages are
    not written, requests are the transaction's own, responses come from
    ``transport``. Files hold DER; at most ``max_size`` bytes are read.
    """

    def __init__(
        self,
        transport: BaseTransport | AsyncBaseTransport | None = None,
        *,
        reqout: PathLike | Sequence[PathLike] = (),
        rspout: PathLike | Sequence[PathLike] = (),
        reqin: PathLike | Sequence[PathLike] = (),
        rspin: PathLike | Sequence[PathLike] = (),
        reqin_new_tid: bool = False,
        reprotect: Reprotect | None = None,
        max_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self.transport = transport
        self._reqout = _FileList(reqout)
        self._rspout = _FileList(rspout)
        self._reqin = _FileList(reqin)
        self._rspin = _FileList(rspin)
        self._reqin_new_tid = reqin_new_tid
        self._reprotect = reprotect
        self._max_size = max_size
        self._lock = threading.Lock()

    def _before(self, request: bytes) -> tuple[bytes, bytes | None, bool]:
        """Steps 1 to 3 up to the sending: (request to send, response from a file, replayed)."""
        with self._lock:
            if self._reqout:
                _write_message(self._reqout.take(), "reqout", request)
            if self._rspin:
                return request, _read_message(self._rspin.take(), "rspin", self._max_size), True
            if self._reqin:
                sent = _read_message(self._reqin.take(), "reqin", self._max_size)
                return self._adapt(sent, request), None, True
            return request, None, False

    def _adapt(self, message: bytes, built: bytes) -> bytes:
        # As openssl cmp does (OSSL_CMP_MSG_update_transactionID() with
        # -reqin_new_tid, and since 3.0.9 OSSL_CMP_MSG_update_recipNonce()):
        # a request read from -reqin takes the transaction's transactionID
        # (-reqin_new_tid) and, after the first request, its recipNonce (the
        # senderNonce of the last response, which the built request carries),
        # so that the server's checks pass; it is protected again where it
        # was protected.
        from cmp.message import PKIMessage

        try:
            own = PKIMessage.from_der(built).header
        except CMPError:
            own = None  # not a PKIMessage of ours: nothing to take over
        if own is None or (not self._reqin_new_tid and own.recip_nonce is None):
            return message
        try:
            original = PKIMessage.from_der(message)
            header = original.header
            if self._reqin_new_tid:
                header = dataclasses.replace(header, transaction_id=own.transaction_id)
            if own.recip_nonce is not None:
                header = dataclasses.replace(header, recip_nonce=own.recip_nonce)
        except CMPError as exc:
            raise TransportError(f"reqin: cannot adapt the request read: {exc}") from None
        if header == original.header:
            return message
        updated = PKIMessage(header, original.body, None, original.extra_certs)
        if header.protection_alg is None:
            return updated.to_der()
        if self._reprotect is None:
            what = "-reqin_new_tid" if self._reqin_new_tid else "-reqin"
            raise TransportError(f"{what}: no credentials to protect the request again")
        return self._reprotect(updated).to_der()

    def _after(self, response: bytes) -> None:
        with self._lock:
            if self._rspout:
                _write_message(self._rspout.take(), "rspout", response)

    def _no_server(self) -> TransportError:
        if self._rspin.paths:
            return TransportError(
                f"rspin: all {len(self._rspin.paths)} file(s) used and no server to ask"
            )
        return TransportError("FileTransport: no rspin file and no server to ask")

    def session(self) -> BaseTransport:
        return _FileSession(self)

    def asession(self) -> AsyncBaseTransport:
        return _AsyncFileSession(self)

    def transfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        with self.session() as session:
            return session.transfer(request, timeout)

    async def atransfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        async with self.asession() as session:
            return await session.atransfer(request, timeout)

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return self.transfer(request, timeout).response

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return (await self.atransfer(request, timeout)).response

    def close(self) -> None:
        if isinstance(self.transport, BaseTransport):
            self.transport.close()

    async def aclose(self) -> None:
        if isinstance(self.transport, AsyncBaseTransport):
            await self.transport.aclose()

    def __enter__(self) -> FileTransport:
        return self

    async def __aenter__(self) -> FileTransport:
        return self


class _FileSession(BaseTransport):
    """A transaction through a :class:`FileTransport`: the file lists are
    shared, the server connection (opened when first needed) is its own."""

    def __init__(self, files: FileTransport) -> None:
        self._files = files
        self._inner: BaseTransport | None = None

    def transfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        files = self._files
        sent, response, replayed = files._before(request)
        if response is None:
            if self._inner is None:
                if not isinstance(files.transport, BaseTransport):
                    raise files._no_server()
                self._inner = files.transport.session()
            response = self._inner.exchange(sent, timeout)
        files._after(response)
        return Exchange(response, sent, replayed)

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return self.transfer(request, timeout).response

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None


class _AsyncFileSession(AsyncBaseTransport):
    def __init__(self, files: FileTransport) -> None:
        self._files = files
        self._inner: AsyncBaseTransport | None = None

    async def atransfer(self, request: bytes, timeout: float | None = None) -> Exchange:
        files = self._files
        sent, response, replayed = files._before(request)
        if response is None:
            if self._inner is None:
                if isinstance(files.transport, AsyncBaseTransport):
                    self._inner = files.transport.asession()
                elif isinstance(files.transport, BaseTransport):
                    raise TransportError("FileTransport: AsyncClient needs an async transport")
                else:
                    raise files._no_server()
            response = await self._inner.aexchange(sent, timeout)
        files._after(response)
        return Exchange(response, sent, replayed)

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return (await self.atransfer(request, timeout)).response

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
            self._inner = None
