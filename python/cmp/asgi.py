"""The mock CA over HTTP (RFC 9811): an ASGI app around
:meth:`cmp.server.MockServer.handle`, and :func:`serve` running it with uvicorn.

The app takes ``POST`` requests on the paths ``openssl cmp -port`` answers
(``/`` and ``/pkix/``; leading and repeated slashes do not count) or a
configured one, reads its head and then at most ``max_body_size`` bytes of
body, each within ``read_timeout`` seconds, and answers
``application/pkixcmp`` (any bytes, any Content-Type: as ``openssl cmp
-port``, and undecodable ones get a CMP error message). The CMP work runs in
a thread pool, so many clients are served at once; HTTP/1.1 connections are
kept alive, and so are HTTP/1.0 ones that ask for it (``openssl cmp`` does).
Where no PKIMessage can answer, the status says why and the connection is
closed: 400 (not HTTP), 404 (path), 405 (method), 408 (too slow), 413 (body
too large), 431 (head too large), 503 (``max_msgs`` reached).

:func:`serve` prints ``ACCEPT <host>:<port> PID=<pid>`` first on stdout, as
``openssl cmp -port`` does for test harnesses, and returns 0 after SIGTERM,
SIGINT or ``max_msgs`` requests, once the requests under way are answered.
:class:`BackgroundServer` runs the same in a thread for tests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Generator, Sequence
from typing import IO, Any, Callable

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from cmp.server import MockServer, MockServerConfig, MockServerConfigError

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_PATHS",
    "DEFAULT_READ_TIMEOUT",
    "BackgroundServer",
    "CMPApp",
    "run_from_options",
    "serve",
]

CONTENT_TYPE = "application/pkixcmp"
"""The media type of CMP over HTTP, both ways (RFC 9811 §3.4)."""
DEFAULT_PATHS = ("", "pkix/")
"""The paths ``openssl cmp -port`` serves (after leading slashes)."""
DEFAULT_MAX_BODY_SIZE = 1 << 20
"""Largest request body read, in bytes: far above any CMP message in practice."""
DEFAULT_READ_TIMEOUT = 10.0
"""Seconds a client has to send its whole request body."""
DEFAULT_KEEP_ALIVE_TIMEOUT = 30.0
"""Seconds an idle kept-alive connection stays open."""

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def normalize_path(path: str) -> str:
    """A request path as OpenSSL's HTTP server compares it: without leading
    slashes, runs of slashes as one (``//pkix///`` is ``pkix/``)."""
    parts = path.split("/")
    text = "/".join(p for p in parts[:-1] if p)
    if parts[-1]:
        text = f"{text}/{parts[-1]}" if text else parts[-1]
    elif text:
        text += "/"
    return text


class _TooSlow(Exception):
    pass


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    pass


class CMPApp:
    """ASGI application serving one :class:`~cmp.server.MockServer`.

    ``paths`` are the accepted request paths (compared after
    :func:`normalize_path`); ``max_msgs`` (default: the server's
    ``config.max_msgs``, 0 = no limit) counts POST requests, after which
    ``on_max_msgs`` is called once and further requests get 503.
    """

    def __init__(
        self,
        server: MockServer,
        *,
        paths: Sequence[str] = DEFAULT_PATHS,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_msgs: int | None = None,
        on_max_msgs: Callable[[], None] | None = None,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        self.server = server
        self.paths = frozenset(normalize_path(p) for p in paths)
        self.max_body_size = max_body_size
        self.read_timeout = read_timeout
        self.max_msgs = server.config.max_msgs if max_msgs is None else max_msgs
        self.on_max_msgs = on_max_msgs
        self._executor = executor
        self._count = 0
        self._lock = threading.Lock()

    @property
    def requests_counted(self) -> int:
        return self._count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _status(send, 405, [(b"allow", b"POST")])
            return
        if not self._admit():
            await _status(send, 503)
            return
        try:
            await self._serve(scope, receive, send)
        finally:
            self._counted()

    def _admit(self) -> bool:
        with self._lock:
            if self.max_msgs and self._count >= self.max_msgs:
                return False
            self._count += 1
            return True

    def _counted(self) -> None:
        if self.max_msgs and self._count >= self.max_msgs and self.on_max_msgs is not None:
            callback, self.on_max_msgs = self.on_max_msgs, None
            callback()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("query_string") or normalize_path(scope["path"]) not in self.paths:
            await _status(send, 404)
            return
        headers = dict(scope["headers"])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            await _status(send, 400)
            return
        if declared > self.max_body_size:
            await _status(send, 413)
            return
        try:
            body = await asyncio.wait_for(self._read_body(receive), self.read_timeout)
        except (asyncio.TimeoutError, _TooSlow):
            await _status(send, 408)
            return
        except _TooLarge:
            await _status(send, 413)
            return
        except _Gone:
            return
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(self._executor, self.server.handle, body)
        response_headers = [
            (b"content-type", CONTENT_TYPE.encode()),
            (b"content-length", str(len(answer)).encode()),
            (b"cache-control", b"no-cache"),
        ]
        if _asks_keep_alive(headers):
            # HTTP/1.0 closes by default: say that this connection stays open.
            response_headers.append((b"connection", b"keep-alive"))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": answer})

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _asks_keep_alive(headers: dict[bytes, bytes]) -> bool:
    tokens = headers.get(b"connection", b"").lower().split(b",")
    return b"keep-alive" in (t.strip() for t in tokens)


async def _status(send: Send, status: int, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    # The request body is left unread (in part, or as declared): close the
    # connection rather than drain whatever the client still sends.
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"0"), (b"connection", b"close"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


# --- running it -------------------------------------------------------------------------

_MAX_HEAD = 64 * 1024
_LINGER = 2.0
"""Seconds a refused connection is drained before it is closed."""
_KEEP_ALIVE_HEADER = re.compile(rb"\r\nconnection:[^\r\n]*keep-alive", re.IGNORECASE)


def _as_http11(head: bytes) -> bytes:
    """An HTTP/1.0 request head that asks for keep-alive, as HTTP/1.1."""
    end = head.find(b"\r\n")
    line = head[:end]
    if not line.endswith(b" HTTP/1.0") or not _KEEP_ALIVE_HEADER.search(head, end):
        return head
    return line[: -len(b"1.0")] + b"1.1" + head[end:]


class _KeepAliveH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that keeps HTTP/1.0 connections open on request,
    and bounds the time and size of request heads.

    ``openssl cmp`` sends HTTP/1.0 with ``Connection: keep-alive`` and, with
    ``-keep_alive 2``, fails when the server closes; h11 (and uvicorn) close
    every HTTP/1.0 connection. So a request head that asks for keep-alive is
    handed to h11 as HTTP/1.1, which for a request with Content-Length means
    the same; the app answers ``Connection: keep-alive``.

    uvicorn waits for a request head without limit on a new connection (and
    on a kept-alive one once its first byte came): a client that sends nothing,
    or its head a byte at a time, would hold its connection for ever. A head
    must be complete ``read_timeout`` seconds (the app's) after the connection
    opened or its first byte arrived, else the answer is 408 and the
    connection is closed; a head over 64 KiB gets 431.
    """

    _head = b""
    _head_timer: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # The listening socket comes from socket.create_server (proto 0), so
        # asyncio leaves Nagle's algorithm on: each response would wait for
        # the client's delayed ACK (~40 ms). CMP is request/response.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered and closing: dropped
        if self.conn.their_state is not h11.IDLE or (not self._head and not data):
            super().data_received(data)
            return
        head = self._head + data
        end = head.find(b"\r\n\r\n", max(0, len(self._head) - 3))
        if end < 0 and len(head) < _MAX_HEAD:
            self._head = head  # wait for the whole head of the request
            self._unset_keepalive_if_required()  # the head timer takes over
            self._start_head_timer()
            return
        self._head = b""
        if end < 0 or end + 4 > _MAX_HEAD:
            self._refuse(431)
            return
        super().data_received(_as_http11(head))
        if self.conn.their_state is not h11.IDLE:  # a request began: the app times its body
            self._stop_head_timer()

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            timeout = getattr(self.config.app, "read_timeout", DEFAULT_READ_TIMEOUT)
            self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE:
            self._refuse(408)

    def _refuse(self, status: int) -> None:
        """Answers ``status`` to a request h11 has not seen, and closes. What
        the client still sends is read and dropped for a moment first: closing
        with unread data would reset the connection, and with it the answer."""
        if self.transport.is_closing() or self._refused:
            return
        self._refused, self._head = True, b""
        self._stop_head_timer()
        reason = STATUS_PHRASES[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-length: 0\r\nconnection: close\r\n\r\n" % (status, reason)
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(_LINGER, self.transport.close)
        else:
            self.transport.close()


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGTERM/SIGINT ends :meth:`run` normally
    (uvicorn re-raises the signal after its graceful shutdown)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket; ``::`` listens on IPv6 and IPv4 (as ``openssl cmp
    -port``), falling back to IPv4 where the host has no IPv6."""
    host = host.strip("[]")
    if host in ("::", ""):
        try:
            sock = socket.create_server(
                ("::", port), family=socket.AF_INET6, backlog=1024, dualstack_ipv6=True
            )
        except (OSError, ValueError):
            sock = socket.create_server(("0.0.0.0", port), backlog=1024)
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family, backlog=1024)
    sock.setblocking(False)
    return sock


def _display(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return (f"[{host}]" if ":" in host else host), port


def _uvicorn_server(app: CMPApp, keep_alive_timeout: float) -> _Server:
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=int(keep_alive_timeout),
        timeout_graceful_shutdown=10,
        backlog=1024,
        http=_KeepAliveH11Protocol,
    )
    server = _Server(config)
    app.on_max_msgs = app.on_max_msgs or (lambda: setattr(server, "should_exit", True))
    return server


def serve(
    server: MockServer,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    paths: Sequence[str] = DEFAULT_PATHS,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
    stdout: IO[str] | None = None,
) -> int:
    """Serves ``server`` over HTTP on ``host:port`` (0: a free port) until
    SIGTERM, SIGINT or ``config.max_msgs`` requests; returns 0.

    The first line written to ``stdout`` is ``ACCEPT <host>:<port> PID=<pid>``
    with the port actually bound (flushed at once). Call it from the main
    thread for the signals to be caught.
    """
    app = CMPApp(server, paths=paths, max_body_size=max_body_size, read_timeout=read_timeout)
    sock = _bind(host, port)
    shown, bound = _display(sock)
    out = sys.stdout if stdout is None else stdout
    print(f"ACCEPT {shown}:{bound} PID={os.getpid()}", file=out, flush=True)
    uv = _uvicorn_server(app, keep_alive_timeout)
    try:
        uv.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def run_from_options(config: MockServerConfig, port: int, host: str = "::") -> int:
    """``cmpkit -port``: the mock server of ``config`` on ``host:port`` (by
    default every address, IPv6 and IPv4, as ``openssl cmp -port``); returns
    the exit status (1 when the options make no working server, said on stderr)."""
    try:
        server = MockServer(config)
    except MockServerConfigError as e:
        print(f"CMP error: {e}", file=sys.stderr)
        return 1
    return serve(server, host, port)


class BackgroundServer:
    """A :class:`~cmp.server.MockServer` served over HTTP in a daemon thread.

    ``with MockServer(cfg).start_background() as srv: ... srv.url ...``;
    :meth:`stop` shuts it down (also on leaving the ``with`` block).
    """

    def __init__(
        self,
        server: MockServer,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        paths: Sequence[str] = DEFAULT_PATHS,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT,
        start_timeout: float = 10.0,
    ) -> None:
        self.server = server
        self.app = CMPApp(
            server, paths=paths, max_body_size=max_body_size, read_timeout=read_timeout
        )
        self._sock = _bind(host, port)
        self.host, self.port = _display(self._sock)
        self._uvicorn = _uvicorn_server(self.app, keep_alive_timeout)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cmpkit-mock-ca", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + start_timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mock server did not start: {self._error!r}")
            time.sleep(0.005)

    def _run(self) -> None:
        try:
            asyncio.run(self._uvicorn.serve(sockets=[self._sock]))
        except BaseException as e:  # reported by __init__ or stop()
            self._error = e
        finally:
            self._sock.close()

    @property
    def url(self) -> str:
        """``http://host:port/``, the URL to POST CMP requests to."""
        host = {"0.0.0.0": "127.0.0.1", "[::]": "127.0.0.1"}.get(self.host, self.host)
        return f"http://{host}:{self.port}/"

    @property
    def address(self) -> str:
        """``host:port`` as ``openssl cmp -server`` takes it."""
        return self.url[len("http://") : -1]

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the server to stop by itself (``max_msgs``); True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops serving: requests under way are answered first."""
        self._uvicorn.should_exit = True
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
