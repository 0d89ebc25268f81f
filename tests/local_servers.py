"""Small local servers for transport tests: an HTTP(S) server whose every byte
the test decides, and an HTTP proxy (forwarding and CONNECT).

Both run in daemon threads on 127.0.0.1, record what they received, and stop
(closing every connection) when their ``with`` block ends.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IO_TIMEOUT = 10.0
"""Seconds a test server waits on a socket before giving up on it."""


@dataclass
class Request:
    """One HTTP request as the server read it (header names in lower case)."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes


class Connection:
    """The server side of one accepted connection."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self._buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self._buffer += data
        return bool(data)

    def read_request(self) -> Request | None:
        """The next request on this connection, or ``None`` when the peer closed it."""
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                return None
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            if not self._fill():
                return None
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Request(method, target, version, headers, body)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def respond(
        self,
        body: bytes,
        *,
        status: str = "200 OK",
        content_type: str | None = "application/pkixcmp",
        version: str = "HTTP/1.1",
        headers: tuple[str, ...] = (),
    ) -> None:
        lines = [f"{version} {status}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        lines.extend(headers)
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


Handler = Callable[[Connection], None]


@dataclass
class LocalServer:
    """A running server: ``url``, the requests it read, connections it accepted."""

    port: int
    tls: bool
    requests: list[Request] = field(default_factory=list)
    connections: int = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def _serve_forever(
    listener: socket.socket,
    stop: threading.Event,
    on_connection: Callable[[socket.socket], None],
) -> None:
    threads = []
    listener.settimeout(0.05)  # accept() wakes up to notice ``stop``
    while not stop.is_set():
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            continue
        except OSError:
            break
        sock.settimeout(None)
        thread = threading.Thread(target=on_connection, args=(sock,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=2)


@contextmanager
def _listening(
    on_connection: Callable[[socket.socket], None],
) -> Iterator[tuple[int, threading.Event]]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    open_sockets: list[socket.socket] = []

    def tracked(sock: socket.socket) -> None:
        open_sockets.append(sock)
        sock.settimeout(IO_TIMEOUT)
        try:
            on_connection(sock)
        except OSError:
            pass
        finally:
            sock.close()

    thread = threading.Thread(target=_serve_forever, args=(listener, stop, tracked), daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], stop
    finally:
        stop.set()
        for sock in list(open_sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thread.join(timeout=5)
        listener.close()


@contextmanager
def local_server(
    handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> Iterator[LocalServer]:
    """Serve ``handler(connection)`` for every connection (TLS with ``ssl_context``).

    The handler reads requests with :meth:`Connection.read_request` (which also
    records them in ``server.requests``) and writes whatever bytes it likes.
    """
    server = LocalServer(0, ssl_context is not None)

    def on_connection(sock: socket.socket) -> None:
        server.connections += 1
        if ssl_context is not None:
            try:
                sock = ssl_context.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                return
        conn = Connection(sock, stop)
        original = conn.read_request

        def recording() -> Request | None:
            request = original()
            if request is not None:
                server.requests.append(request)
            return request

        conn.read_request = recording  # type: ignore[method-assign]
        handler(conn)

    with _listening(on_connection) as (port, stop):
        server.port = port
        yield server


def answer_each(body: bytes, **respond_args: object) -> Handler:
    """A handler answering every request on the connection with ``body``."""

    def handler(conn: Connection) -> None:
        while conn.read_request() is not None:
            conn.respond(body, **respond_args)  # type: ignore[arg-type]

    return handler


# ---------------------------------------------------------------------------
# Proxy
# ---------------------------------------------------------------------------


@dataclass
class LocalProxy:
    """A running proxy and the request lines it was sent (``CONNECT h:p ...``)."""

    port: int
    request_lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:  # one side is done: end the tunnel both ways
            for end in (src, dst):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join(timeout=IO_TIMEOUT)


@contextmanager
def local_proxy() -> Iterator[LocalProxy]:
    """An HTTP proxy: CONNECT tunnels, and absolute-form requests forwarded."""
    proxy = LocalProxy(0)

    def on_connection(sock: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                return
            head += data
        head, rest = head.split(b"\r\n\r\n", 1)
        first, *header_lines = head.decode("latin-1").split("\r\n")
        proxy.request_lines.append(first)
        method, target, version = first.split(" ", 2)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=IO_TIMEOUT)
            sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            rest_of_url = target.split("://", 1)[1]
            authority, _, path = rest_of_url.partition("/")
            host, _, port = authority.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=IO_TIMEOUT)
            origin_form = f"{method} /{path} {version}\r\n" + "".join(
                line + "\r\n" for line in header_lines
            )
            upstream.sendall(origin_form.encode("latin-1") + b"\r\n" + rest)
        with upstream:
            _pipe(sock, upstream)

    with _listening(on_connection) as (port, _):
        proxy.port = port
        yield proxy


# ---------------------------------------------------------------------------
# A TLS PKI
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsPki:
    """A CA, a server certificate issued by it, and a client certificate."""

    ca: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    server: x509.Certificate
    server_key: ec.EllipticCurvePrivateKey
    client: x509.Certificate
    client_key: ec.EllipticCurvePrivateKey
    dir: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert = self.dir / "server.pem"
        key = self.dir / "server.key"
        context.load_cert_chain(cert, key)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=_pem(self.ca))
        return context


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    sans: list[x509.GeneralName] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, signing_key = (name, key) if issuer is None else (issuer[0].subject, issuer[1])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
            critical=False,
        )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def make_tls_pki(directory: Path, server_names: tuple[str, ...] = ("localhost",)) -> TlsPki:
    """A fresh CA and server (SANs ``server_names`` + IP 127.0.0.1) and client certificates."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("cmpkit test TLS CA", ca_key, None)
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    if "localhost" in server_names:
        sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = _issue(
        "cmpkit test TLS server", server_key, (ca, ca_key), sans=sans,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )  # fmt: skip
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _issue(
        "cmpkit test TLS client", client_key, (ca, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    (directory / "server.pem").write_text(_pem(server) + _pem(ca))
    (directory / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsPki(ca, ca_key, server, server_key, client, client_key, directory)
