"""cmp.transport: HTTP(S) as ``openssl cmp`` 3.0 does it, files, in-process.

HTTP runs against the real ``openssl cmp -port 0`` mock server and against
local servers that misbehave on purpose (tests/local_servers.py).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest
from local_servers import (
    Connection,
    TlsPki,
    answer_each,
    local_proxy,
    local_server,
    make_tls_pki,
)
from openssl_harness import CapturedMessages, MockServerFactory, body_kind

from cmp.errors import CMPError
from cmp.message import PKIMessage
from cmp.transport import (
    DEFAULT_MAX_RESPONSE_SIZE,
    AsyncHTTPTransport,
    FileTransport,
    HTTPTransport,
    InProcessTransport,
    ServerAddress,
    TLSConfig,
    TransportError,
    TransportTimeout,
    parse_server,
    select_proxy,
)

BODY = b"0\x03\x02\x01\x00"  # any bytes: transports do not decode what they carry


@pytest.fixture
def genm(captured_messages: CapturedMessages) -> bytes:
    """A PBM-protected genm as openssl cmp wrote it (the mock server answers any genm)."""
    return captured_messages["pbm"]["genm"][0]


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy variables of the machine running the tests must not leak in."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


def raises_one_line(exc_info: pytest.ExceptionInfo[BaseException], *words: str) -> None:
    text = str(exc_info.value)
    assert "\n" not in text
    for word in words:
        assert word.lower() in text.lower(), text


# ---------------------------------------------------------------------------
# -server, -path
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("127.0.0.1", ServerAddress("127.0.0.1", 80, "/", False)),
        ("127.0.0.1:8080", ServerAddress("127.0.0.1", 8080, "/", False)),
        ("http://ca.example:8080/pkix/", ServerAddress("ca.example", 8080, "/pkix/", False)),
        ("https://ca.example/pkix", ServerAddress("ca.example", 443, "/pkix", True)),
        ("user:pw@ca.example/p", ServerAddress("ca.example", 80, "/p", False)),
        ("ca.example/a/b?x=1#frag", ServerAddress("ca.example", 80, "/a/b?x=1", False)),
        ("[::1]:8080/cmp", ServerAddress("::1", 8080, "/cmp", False)),
        ("HTTP://CA.example", ServerAddress("ca.example", 80, "/", False)),
    ],
)
def test_server_url_forms_of_the_man_page(server: str, expected: ServerAddress) -> None:
    assert parse_server(server) == expected


def test_server_default_port_is_443_with_tls() -> None:
    # The man page: "In this case [-tls_used] the default port is 443, else 80".
    assert parse_server("ca.example", tls=True) == ServerAddress("ca.example", 443, "/", True)


def test_path_option_overrides_url_path_and_query() -> None:
    assert parse_server("ca.example/a?x=1", path="pkix/").path == "/pkix/"
    assert parse_server("ca.example/a", path="/b").path == "/b"


def test_server_url_renders_ipv6_in_brackets() -> None:
    address = parse_server("[::1]:8080/cmp")
    assert address.url == "http://[::1]:8080/cmp"
    assert address.host_header == "[::1]:8080"
    assert parse_server("ca.example").host_header == "ca.example"


@pytest.mark.parametrize("server", ["ftp://ca.example", "ca.example:port", "http://:80/", "h:0"])
def test_bad_server_url_is_a_value_error(server: str) -> None:
    with pytest.raises(ValueError, match="server"):
        parse_server(server)


# ---------------------------------------------------------------------------
# -proxy, -no_proxy and the environment
# ---------------------------------------------------------------------------


def test_proxy_from_http_proxy_then_HTTP_PROXY() -> None:
    env = {"http_proxy": "proxy.lower:3128", "HTTP_PROXY": "proxy.upper:3128"}
    assert select_proxy("ca", tls=False, environ=env) == ("proxy.lower", 3128)
    assert select_proxy("ca", tls=False, environ={"HTTP_PROXY": "p:1"}) == ("p", 1)


def test_proxy_with_tls_from_https_proxy_then_HTTPS_PROXY() -> None:
    env = {"http_proxy": "plain:1", "https_proxy": "secure:2", "HTTPS_PROXY": "upper:3"}
    assert select_proxy("ca", tls=True, environ=env) == ("secure", 2)
    assert select_proxy("ca", tls=True, environ={"HTTPS_PROXY": "upper:3"}) == ("upper", 3)
    assert select_proxy("ca", tls=True, environ={"http_proxy": "plain:1"}) is None


def test_proxy_option_overrides_environment_and_empty_means_none() -> None:
    env = {"http_proxy": "env:1"}
    assert select_proxy("ca", tls=False, proxy="opt:2", environ=env) == ("opt", 2)
    assert select_proxy("ca", tls=False, proxy="", environ=env) is None
    # A lower-case variable that is set but empty is not passed over for the upper-case one.
    assert select_proxy("ca", tls=False, environ={"http_proxy": "", "HTTP_PROXY": "u:1"}) is None


def test_proxy_url_keeps_only_host_and_port() -> None:
    assert select_proxy("ca", tls=False, proxy="http://u:p@proxy/path?q") == ("proxy", 80)
    assert select_proxy("ca", tls=False, proxy="https://proxy") == ("proxy", 443)
    assert select_proxy("ca", tls=False, proxy="[::1]:3128") == ("::1", 3128)


def test_no_proxy_matches_whole_items_separated_by_commas_or_whitespace() -> None:
    proxy = "p:1"
    assert select_proxy("ca.example", tls=False, proxy=proxy, no_proxy="x, ca.example y") is None
    assert select_proxy("ca.example", tls=False, proxy=proxy, no_proxy=["ca.example"]) is None
    # No suffix or wildcard matching: OpenSSL compares whole names.
    for no_proxy in ("example", ".example", "sub.ca.example", "ca.example:80", "*"):
        assert select_proxy("ca.example", tls=False, proxy=proxy, no_proxy=no_proxy) == ("p", 1)


def test_no_proxy_from_no_proxy_then_NO_PROXY() -> None:
    env = {"http_proxy": "p:1", "no_proxy": "a", "NO_PROXY": "b"}
    assert select_proxy("a", tls=False, environ=env) is None
    assert select_proxy("b", tls=False, environ=env) == ("p", 1)
    assert select_proxy("b", tls=False, environ={"http_proxy": "p:1", "NO_PROXY": "b"}) is None


def test_trust_env_false_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "env-proxy:3128")
    assert HTTPTransport("ca.example").proxy_url == "http://env-proxy:3128"
    assert HTTPTransport("ca.example", trust_env=False).proxy_url is None
    monkeypatch.setenv("no_proxy", "ca.example")
    assert HTTPTransport("ca.example").proxy_url is None


def test_forward_proxy_gets_absolute_form_request() -> None:
    with local_server(answer_each(BODY)) as server, local_proxy() as proxy:
        with HTTPTransport(server.address + "/cmp", proxy=proxy.url) as transport:
            assert transport.exchange(BODY, timeout=5) == BODY
        assert proxy.request_lines == [f"POST http://{server.address}/cmp HTTP/1.1"]
        assert server.requests[0].target == "/cmp"


def test_proxy_from_environment_is_used_unless_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with local_server(answer_each(BODY)) as server, local_proxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        with HTTPTransport(server.url) as transport:
            assert transport.exchange(BODY, timeout=5) == BODY
        assert len(proxy.request_lines) == 1
        monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
        with HTTPTransport(server.url) as transport:
            assert transport.exchange(BODY, timeout=5) == BODY
        assert len(proxy.request_lines) == 1
        assert server.connections == 2


def test_async_forward_proxy_and_tunnel(tls_pki: TlsPki) -> None:
    with local_server(answer_each(BODY)) as plain, local_proxy() as proxy:
        with local_server(answer_each(BODY), tls_pki.server_context()) as secure:

            async def main() -> None:
                async with AsyncHTTPTransport(plain.address, proxy=proxy.url) as transport:
                    assert await transport.aexchange(BODY, timeout=5) == BODY
                tls = TLSConfig(trusted=[tls_pki.ca], host="localhost")
                async with AsyncHTTPTransport(
                    secure.address, tls=tls, proxy=proxy.url
                ) as transport:
                    assert await transport.aexchange(BODY, timeout=5) == BODY

            asyncio.run(main())
    assert proxy.request_lines == [
        f"POST http://{plain.address}/ HTTP/1.1",
        f"CONNECT {secure.address} HTTP/1.1",
    ]


def test_proxy_refusing_the_tunnel(tls_pki: TlsPki) -> None:
    refuse = answer_each(b"go away", status="403 Forbidden", content_type="text/plain")
    with local_server(refuse) as proxy:
        tls = TLSConfig(trusted=[tls_pki.ca])
        with pytest.raises(TransportError) as exc_info:
            HTTPTransport("ca.example", tls=tls, proxy=proxy.url).exchange(BODY, timeout=5)
    raises_one_line(exc_info, "refused the tunnel to ca.example:443", "HTTP 403 Forbidden")


def test_unreachable_proxy_is_named_in_the_error() -> None:
    with pytest.raises(TransportError) as exc_info:
        HTTPTransport("ca.example", proxy="127.0.0.1:1").exchange(BODY, timeout=5)
    raises_one_line(exc_info, "proxy http://127.0.0.1:1", "refused")


# ---------------------------------------------------------------------------
# HTTP against openssl cmp's mock server
# ---------------------------------------------------------------------------


def test_http_exchange_with_openssl_mock_server(
    openssl_mock_server: MockServerFactory, genm: bytes
) -> None:
    server = openssl_mock_server()
    with HTTPTransport(server.address) as transport:
        assert body_kind(transport.exchange(genm, timeout=10)) == "genp"
        assert body_kind(transport.exchange(genm, timeout=10)) == "genp"


def test_keep_alive_2_is_satisfied_by_openssl_mock_server(
    openssl_mock_server: MockServerFactory, genm: bytes
) -> None:
    # It answers "HTTP/1.0 200 OK" with "Connection: keep-alive": granted, as OpenSSL judges.
    server = openssl_mock_server()
    with HTTPTransport(server.url, keep_alive=2) as transport:
        assert body_kind(transport.exchange(genm, timeout=10)) == "genp"


def test_async_http_exchange_with_openssl_mock_server(
    openssl_mock_server: MockServerFactory, genm: bytes
) -> None:
    server = openssl_mock_server()

    async def main() -> list[bytes]:
        async with AsyncHTTPTransport(server.url) as transport:
            return await asyncio.gather(*(transport.aexchange(genm, 20) for _ in range(20)))

    assert [body_kind(r) for r in asyncio.run(main())] == ["genp"] * 20


# ---------------------------------------------------------------------------
# HTTP requests as sent
# ---------------------------------------------------------------------------


def test_request_is_post_of_pkixcmp_to_the_path() -> None:
    with local_server(answer_each(BODY)) as server:
        with HTTPTransport(f"user@{server.address}/a/b?x=1#f") as transport:
            transport.exchange(b"request", timeout=5)
    request = server.requests[0]
    assert (request.method, request.target) == ("POST", "/a/b?x=1")
    assert request.headers["content-type"] == "application/pkixcmp"
    assert request.headers["host"] == server.address
    assert request.headers["pragma"] == "no-cache"
    assert request.body == b"request"


def test_keep_alive_1_reuses_the_connection() -> None:
    with local_server(answer_each(BODY)) as server:
        with HTTPTransport(server.url) as transport:
            for _ in range(3):
                assert transport.exchange(BODY, timeout=5) == BODY
    assert server.connections == 1
    assert "connection" not in server.requests[0].headers


def test_keep_alive_0_closes_each_connection() -> None:
    with local_server(answer_each(BODY)) as server:
        with HTTPTransport(server.url, keep_alive=0) as transport:
            for _ in range(3):
                assert transport.exchange(BODY, timeout=5) == BODY
    assert server.connections == 3
    assert server.requests[0].headers["connection"] == "close"


@pytest.mark.parametrize(
    ("version", "headers"),
    [("HTTP/1.1", ("Connection: close",)), ("HTTP/1.0", ())],
)
def test_keep_alive_2_fails_when_server_does_not_keep_connection(
    version: str, headers: tuple[str, ...]
) -> None:
    with local_server(answer_each(BODY, version=version, headers=headers)) as server:
        with pytest.raises(TransportError) as exc_info:
            HTTPTransport(server.url, keep_alive=2).exchange(BODY, timeout=5)
    raises_one_line(exc_info, "keep_alive=2")
    # keep_alive=1 only prefers persistence.
    with local_server(answer_each(BODY, version=version, headers=headers)) as server:
        assert HTTPTransport(server.url, keep_alive=1).exchange(BODY, timeout=5) == BODY


def test_session_keeps_an_http_1_0_keep_alive_connection_for_itself() -> None:
    # As openssl cmp 3.0's mock server answers: kept for the transaction, not pooled.
    handler = answer_each(BODY, version="HTTP/1.0", headers=("Connection: keep-alive",))
    with local_server(handler) as server, HTTPTransport(server.url) as transport:
        with transport.session() as session:
            assert session.exchange(BODY, timeout=5) == BODY
            assert session.exchange(BODY, timeout=5) == BODY
        assert server.connections == 1
        assert transport.exchange(BODY, timeout=5) == BODY
        assert server.connections == 2


def test_async_session_keeps_its_connection() -> None:
    handler = answer_each(BODY, version="HTTP/1.0", headers=("Connection: keep-alive",))
    with local_server(handler) as server:

        async def main() -> None:
            async with AsyncHTTPTransport(server.url) as transport:
                async with transport.asession() as session:
                    for _ in range(3):
                        assert await session.aexchange(BODY, timeout=5) == BODY

        asyncio.run(main())
    assert server.connections == 1


def first_then_hang_up(conn: Connection) -> None:
    """Answers the first request of a connection; closes on the next one unanswered."""
    if conn.read_request() is None:
        return
    conn.respond(BODY)
    conn.read_request()


def test_request_on_a_pooled_connection_the_server_dropped_is_sent_again() -> None:
    with local_server(first_then_hang_up) as server, HTTPTransport(server.url) as transport:
        assert transport.exchange(BODY, timeout=5) == BODY
        assert transport.exchange(BODY, timeout=5) == BODY
    assert server.connections == 2
    assert len(server.requests) == 3


def test_async_request_on_a_dropped_connection_is_sent_again() -> None:
    with local_server(first_then_hang_up) as server:

        async def main() -> None:
            async with AsyncHTTPTransport(server.url) as transport:
                for _ in range(2):
                    assert await transport.aexchange(BODY, timeout=5) == BODY

        asyncio.run(main())
    assert server.connections == 2


def test_max_connections_bounds_sessions_in_use() -> None:
    with local_server(answer_each(BODY)) as server:
        with HTTPTransport(server.url, max_connections=1) as transport:
            with transport.session() as holder:
                holder.exchange(BODY, timeout=5)
                with pytest.raises(TransportTimeout) as exc_info:
                    transport.exchange(BODY, timeout=0.3)
            raises_one_line(exc_info, "no free connection", "max_connections")
            assert transport.exchange(BODY, timeout=5) == BODY


def test_keep_alive_must_be_0_1_or_2() -> None:
    with pytest.raises(ValueError, match="keep_alive"):
        HTTPTransport("ca.example", keep_alive=3)


# ---------------------------------------------------------------------------
# HTTP responses refused, as OpenSSL 3.0 refuses them
# ---------------------------------------------------------------------------


def exchange_with(handler: object, **options: object) -> TransportError:
    with local_server(handler) as server:  # type: ignore[arg-type]
        with pytest.raises(TransportError) as exc_info:
            HTTPTransport(server.url, **options).exchange(BODY, timeout=5)  # type: ignore[arg-type]
    assert "\n" not in str(exc_info.value)
    return exc_info.value


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "application/pkixcmp; charset=binary",
        "application/pkix-cmp",
        "application/octet-stream",
    ],
)
def test_response_content_type_must_be_exactly_pkixcmp(content_type: str) -> None:
    error = exchange_with(answer_each(BODY, content_type=content_type))
    assert "Content-Type" in str(error) and repr(content_type) in str(error)


def test_response_without_content_type_is_refused() -> None:
    error = exchange_with(answer_each(BODY, content_type=None))
    assert "no Content-Type" in str(error)


def test_response_content_type_compares_case_insensitively() -> None:
    with local_server(answer_each(BODY, content_type="Application/PKIXCMP")) as server:
        assert HTTPTransport(server.url).exchange(BODY, timeout=5) == BODY


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("404 Not Found", ("HTTP 404 Not Found", "http://127.0.0.1")),
        ("500 Internal Server Error", ("HTTP 500 Internal Server Error", "database is down")),
        ("204 No Content", ("HTTP 204",)),
    ],
)
def test_non_200_status_is_an_error_with_status_and_reason(
    status: str, words: tuple[str, ...]
) -> None:
    error = exchange_with(
        answer_each(b"database is down\nmore", status=status, content_type="text/plain")
    )
    for word in words:
        assert word in str(error)


def test_redirect_is_not_followed() -> None:
    with local_server(answer_each(BODY)) as target:
        redirect = answer_each(
            b"", status="302 Found", headers=(f"Location: {target.url}",), content_type=None
        )
        error = exchange_with(redirect)
        assert target.requests == []
    assert "HTTP 302 Found" in str(error) and "not followed" in str(error)
    assert target.url in str(error)


def test_body_over_content_length_limit_is_refused_before_reading() -> None:
    def huge(conn: Connection) -> None:
        conn.read_request()
        conn.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
            b"Content-Length: 10000000000\r\n\r\n0\x84"
        )
        conn.stop.wait(5)

    started = time.monotonic()
    error = exchange_with(huge)
    assert time.monotonic() - started < 2
    assert "10000000000 bytes" in str(error) and str(DEFAULT_MAX_RESPONSE_SIZE) in str(error)


def test_chunked_body_over_limit_is_refused() -> None:
    def streaming(conn: Connection) -> None:
        conn.read_request()
        conn.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/pkixcmp\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 4096
        for _ in range(100):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    error = exchange_with(streaming, max_response_size=10000)
    assert "max_response_size 10000" in str(error)


def test_empty_body_is_refused() -> None:
    assert "empty body" in str(exchange_with(answer_each(b"")))


def test_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    with pytest.raises(TransportError) as exc_info:
        HTTPTransport(f"127.0.0.1:{port}").exchange(BODY, timeout=5)
    raises_one_line(exc_info, f"cannot connect to 127.0.0.1:{port}", "connection refused")


def test_server_closing_without_response() -> None:
    def hang_up(conn: Connection) -> None:
        conn.read_request()

    assert "closed the connection" in str(exchange_with(hang_up))


def test_garbage_response_is_an_http_error() -> None:
    def garbage(conn: Connection) -> None:
        conn.read_request()
        conn.send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    error = exchange_with(garbage)
    assert "http://127.0.0.1" in str(error)


# ---------------------------------------------------------------------------
# Timeouts: the whole round trip, not each read
# ---------------------------------------------------------------------------


def silent(conn: Connection) -> None:
    conn.read_request()
    conn.stop.wait(10)


def trickle(conn: Connection) -> None:
    """Answers one header byte every 50 ms: no single read ever times out."""
    conn.read_request()
    conn.send(b"HTTP/1.1 200 OK\r\n")
    for _ in range(400):
        if conn.stop.wait(0.05):
            return
        conn.send(b"X")


@pytest.mark.parametrize("handler", [silent, trickle], ids=["silent", "trickle"])
def test_msg_timeout_bounds_the_round_trip(handler: object) -> None:
    with local_server(handler) as server:  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(TransportTimeout) as exc_info:
            HTTPTransport(server.url).exchange(BODY, timeout=0.5)
        elapsed = time.monotonic() - started
    assert 0.45 < elapsed < 1.5
    raises_one_line(exc_info, "no complete response", "within 0.5 s")


@pytest.mark.parametrize("handler", [silent, trickle], ids=["silent", "trickle"])
def test_async_msg_timeout_bounds_the_round_trip(handler: object) -> None:
    with local_server(handler) as server:  # type: ignore[arg-type]

        async def main() -> None:
            async with AsyncHTTPTransport(server.url) as transport:
                await transport.aexchange(BODY, timeout=0.5)

        started = time.monotonic()
        with pytest.raises(TransportTimeout):
            asyncio.run(main())
        assert 0.45 < time.monotonic() - started < 1.5


def test_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # A listener whose backlog is full leaves further connects hanging.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                fillers.append(s)
            started = time.monotonic()
            with pytest.raises(TransportTimeout):
                HTTPTransport(f"127.0.0.1:{port}").exchange(BODY, timeout=0.5)
            assert time.monotonic() - started < 1.5
        finally:
            for s in fillers:
                s.close()


def test_timeout_leaves_no_deadline_behind() -> None:
    with local_server(silent) as slow, local_server(answer_each(BODY)) as fast:
        with pytest.raises(TransportTimeout):
            HTTPTransport(slow.url).exchange(BODY, timeout=0.2)
        with HTTPTransport(fast.url) as transport:
            assert transport.exchange(BODY, timeout=None) == BODY


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return make_tls_pki(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_tls_pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return make_tls_pki(tmp_path_factory.mktemp("tls-other"), server_names=("cmp.example",))


def test_tls_with_tls_trusted(tls_pki: TlsPki) -> None:
    with local_server(answer_each(BODY), tls_pki.server_context()) as server:
        for host in ("127.0.0.1", "localhost"):
            tls = TLSConfig(trusted=[tls_pki.ca])
            with HTTPTransport(f"{host}:{server.port}", tls=tls) as transport:
                assert transport.url.startswith("https://")
                assert transport.exchange(BODY, timeout=5) == BODY


def test_tls_with_wrong_ca_fails(tls_pki: TlsPki, other_tls_pki: TlsPki) -> None:
    with local_server(answer_each(BODY), tls_pki.server_context()) as server:
        with pytest.raises(TransportError) as exc_info:
            tls = TLSConfig(trusted=[other_tls_pki.ca])
            HTTPTransport(server.address, tls=tls).exchange(BODY, timeout=5)
    raises_one_line(exc_info, "TLS handshake", "certificate verify failed")
    assert server.requests == []


def test_tls_hostname_is_checked_against_server_or_tls_host(other_tls_pki: TlsPki) -> None:
    # The certificate names only cmp.example.
    trusted = [other_tls_pki.ca]
    with local_server(answer_each(BODY), other_tls_pki.server_context()) as server:
        with pytest.raises(TransportError) as exc_info:
            HTTPTransport(server.address, tls=TLSConfig(trusted=trusted)).exchange(BODY, timeout=5)
        raises_one_line(exc_info, "certificate verify failed", "127.0.0.1")
        tls = TLSConfig(trusted=trusted, host="cmp.example")
        assert HTTPTransport(server.address, tls=tls).exchange(BODY, timeout=5) == BODY
        tls = TLSConfig(trusted=trusted, host="other.example")
        with pytest.raises(TransportError, match="certificate verify failed"):
            HTTPTransport(server.address, tls=tls).exchange(BODY, timeout=5)
    assert len(server.requests) == 1


def test_https_url_without_tls_options_uses_system_trust(tls_pki: TlsPki) -> None:
    with local_server(answer_each(BODY), tls_pki.server_context()) as server:
        with pytest.raises(TransportError, match="certificate verify failed"):
            HTTPTransport(server.url).exchange(BODY, timeout=5)


def test_tls_without_verification_as_openssl_without_tls_trusted(tls_pki: TlsPki) -> None:
    with local_server(answer_each(BODY), tls_pki.server_context()) as server:
        tls = TLSConfig(verify=False)
        assert HTTPTransport(server.address, tls=tls).exchange(BODY, timeout=5) == BODY


def test_tls_client_certificate(tls_pki: TlsPki) -> None:
    context = tls_pki.server_context(require_client_cert=True)
    with local_server(answer_each(BODY), context) as server:
        tls = TLSConfig(trusted=[tls_pki.ca], cert=tls_pki.client, key=tls_pki.client_key)
        assert HTTPTransport(server.address, tls=tls).exchange(BODY, timeout=5) == BODY
        with pytest.raises(TransportError):
            tls = TLSConfig(trusted=[tls_pki.ca])
            HTTPTransport(server.address, tls=tls).exchange(BODY, timeout=5)
    assert len(server.requests) == 1


def test_tls_through_proxy_tunnel_checks_tls_host(other_tls_pki: TlsPki) -> None:
    with (
        local_server(answer_each(BODY), other_tls_pki.server_context()) as server,
        local_proxy() as proxy,
    ):
        tls = TLSConfig(trusted=[other_tls_pki.ca], host="cmp.example")
        with HTTPTransport(server.address, tls=tls, proxy=proxy.url) as transport:
            assert transport.exchange(BODY, timeout=5) == BODY
        assert proxy.request_lines == [f"CONNECT {server.address} HTTP/1.1"]


def test_async_tls(tls_pki: TlsPki, other_tls_pki: TlsPki) -> None:
    with local_server(answer_each(BODY), tls_pki.server_context()) as server:

        async def main(tls: TLSConfig) -> bytes:
            async with AsyncHTTPTransport(server.address, tls=tls) as transport:
                return await transport.aexchange(BODY, timeout=5)

        assert asyncio.run(main(TLSConfig(trusted=[tls_pki.ca]))) == BODY
        with pytest.raises(TransportError, match="certificate verify failed"):
            asyncio.run(main(TLSConfig(trusted=[other_tls_pki.ca])))


def test_tls_config_needs_cert_and_key_together(tls_pki: TlsPki) -> None:
    with pytest.raises(ValueError, match="missing tls_key"):
        TLSConfig(cert=tls_pki.client)
    with pytest.raises(ValueError, match="missing tls_cert"):
        TLSConfig(key=tls_pki.client_key)
    with pytest.raises(ValueError, match="tls_trusted"):
        TLSConfig(trusted=[tls_pki.ca], verify=False)


def test_tls_key_must_match_cert(tls_pki: TlsPki) -> None:
    tls = TLSConfig(cert=tls_pki.client, key=tls_pki.server_key)
    with pytest.raises(ValueError, match="tls_cert/tls_key"):
        tls.ssl_context()


# ---------------------------------------------------------------------------
# Files: -reqout, -rspout, -reqin, -rspin
# ---------------------------------------------------------------------------


class Recorder(InProcessTransport):
    """An in-process 'server' answering b'rsp:' + request, keeping what it got."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        super().__init__(self._handle)

    def _handle(self, request: bytes) -> bytes:
        self.received.append(request)
        return b"rsp:" + request


def test_reqout_rspout_write_each_message_in_turn(tmp_path: Path) -> None:
    reqout = [tmp_path / "req1.der", tmp_path / "req2.der"]
    rspout = [tmp_path / "rsp1.der", tmp_path / "rsp2.der"]
    files = FileTransport(Recorder(), reqout=reqout, rspout=rspout)
    files.exchange(b"one")
    files.exchange(b"two")
    assert [p.read_bytes() for p in reqout] == [b"one", b"two"]
    assert [p.read_bytes() for p in rspout] == [b"rsp:one", b"rsp:two"]


def test_messages_beyond_the_reqout_names_are_not_written(tmp_path: Path) -> None:
    # As openssl cmp 3.0: an exhausted list is as if the option had not been given.
    files = FileTransport(Recorder(), reqout=tmp_path / "only.der")
    files.exchange(b"one")
    files.exchange(b"two")
    assert (tmp_path / "only.der").read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["only.der"]


def test_rspin_replays_responses_without_server(tmp_path: Path) -> None:
    (tmp_path / "a.der").write_bytes(b"first")
    (tmp_path / "b.der").write_bytes(b"second")
    files = FileTransport(rspin=[tmp_path / "a.der", tmp_path / "b.der"])
    first = files.transfer(b"req")
    assert (first.response, first.sent, first.replayed) == (b"first", b"req", True)
    assert files.exchange(b"req2") == b"second"
    with pytest.raises(TransportError) as exc_info:
        files.exchange(b"req3")
    raises_one_line(exc_info, "rspin", "no server")


def test_rspin_falls_back_to_the_server_when_used_up(tmp_path: Path) -> None:
    (tmp_path / "a.der").write_bytes(b"from file")
    server = Recorder()
    files = FileTransport(server, rspin=tmp_path / "a.der", reqin=tmp_path / "never-read.der")
    assert files.exchange(b"one") == b"from file"
    assert server.received == []
    with pytest.raises(TransportError, match="never-read"):
        # reqin is read only once no rspin file is left, as in OpenSSL.
        files.exchange(b"two")


def test_rspin_files_of_openssl_drive_no_server(tmp_path: Path, genm: bytes) -> None:
    rsp = tmp_path / "genp.der"
    with FileTransport(rspin=[rsp]) as files:
        rsp.write_bytes(genm)
        assert files.exchange(b"anything") == genm


def test_reqout_rspout_over_http_to_openssl(
    openssl_mock_server: MockServerFactory, genm: bytes, tmp_path: Path
) -> None:
    server = openssl_mock_server()
    with FileTransport(
        HTTPTransport(server.url), reqout=tmp_path / "req.der", rspout=tmp_path / "rsp.der"
    ) as files:
        response = files.exchange(genm, timeout=10)
    assert (tmp_path / "req.der").read_bytes() == genm
    assert (tmp_path / "rsp.der").read_bytes() == response
    assert body_kind(response) == "genp"


def test_reqin_sends_the_file_instead(tmp_path: Path) -> None:
    (tmp_path / "in.der").write_bytes(b"from reqin")
    server = Recorder()
    files = FileTransport(server, reqin=tmp_path / "in.der", reqout=tmp_path / "out.der")
    exchange = files.transfer(b"built")
    assert server.received == [b"from reqin"]
    assert (exchange.sent, exchange.replayed) == (b"from reqin", True)
    # -reqout saves what the transaction built, as OpenSSL does.
    assert (tmp_path / "out.der").read_bytes() == b"built"
    assert files.transfer(b"built again").replayed is False
    assert server.received[-1] == b"built again"


def test_reqin_new_tid_gives_the_transactions_id_and_reprotects(
    tmp_path: Path, captured_messages: CapturedMessages
) -> None:
    old, built = captured_messages["pbm"]["ir"][0], captured_messages["pbm"]["genm"][0]
    (tmp_path / "in.der").write_bytes(old)
    reprotected: list[PKIMessage] = []

    def reprotect(message: PKIMessage) -> PKIMessage:
        reprotected.append(message)
        return message.with_protection(b"new protection")

    server = Recorder()
    files = FileTransport(
        server, reqin=tmp_path / "in.der", reqin_new_tid=True, reprotect=reprotect
    )
    files.exchange(built)
    sent = PKIMessage.from_der(server.received[0])
    original = PKIMessage.from_der(old)
    assert (
        sent.transaction_id == PKIMessage.from_der(built).transaction_id != original.transaction_id
    )
    assert sent.body == original.body and sent.header.sender_nonce == original.header.sender_nonce
    assert sent.protection == b"new protection"
    assert len(reprotected) == 1


def test_reqin_new_tid_without_credentials_fails_for_protected_request(
    tmp_path: Path, captured_messages: CapturedMessages
) -> None:
    (tmp_path / "in.der").write_bytes(captured_messages["pbm"]["ir"][0])
    files = FileTransport(Recorder(), reqin=tmp_path / "in.der", reqin_new_tid=True)
    with pytest.raises(TransportError, match="reqin_new_tid"):
        files.exchange(captured_messages["pbm"]["genm"][0])


def test_unreadable_rspin_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError) as exc_info:
        FileTransport(rspin=tmp_path / "missing.der").exchange(b"x")
    raises_one_line(exc_info, "rspin", "missing.der")
    (tmp_path / "big.der").write_bytes(b"x" * 101)
    with pytest.raises(TransportError, match="larger than 100 bytes"):
        FileTransport(rspin=tmp_path / "big.der", max_size=100).exchange(b"x")


def test_file_transport_async(tmp_path: Path) -> None:
    (tmp_path / "a.der").write_bytes(b"from file")

    async def main() -> list[bytes]:
        async with FileTransport(
            Recorder(), rspin=tmp_path / "a.der", rspout=[tmp_path / "o1", tmp_path / "o2"]
        ) as files:
            return [await files.aexchange(b"one"), await files.aexchange(b"two")]

    assert asyncio.run(main()) == [b"from file", b"rsp:two"]
    assert (tmp_path / "o2").read_bytes() == b"rsp:two"


def test_file_transport_over_sync_transport_in_async_client_fails(tmp_path: Path) -> None:
    with local_server(answer_each(BODY)) as server:
        files = FileTransport(HTTPTransport(server.url))
        with pytest.raises(TransportError, match="async transport"):
            asyncio.run(files.aexchange(b"x"))


# ---------------------------------------------------------------------------
# In-process
# ---------------------------------------------------------------------------


def test_in_process_transport_calls_the_handler() -> None:
    assert InProcessTransport(lambda r: r[::-1]).exchange(b"abc") == b"cba"


def test_in_process_transport_awaits_async_handlers() -> None:
    async def handler(request: bytes) -> bytes:
        await asyncio.sleep(0)
        return request.upper()

    transport = InProcessTransport(handler)
    assert asyncio.run(transport.aexchange(b"abc")) == b"ABC"
    with pytest.raises(TypeError, match="AsyncClient"):
        transport.exchange(b"abc")


def test_in_process_transport_wants_bytes_back() -> None:
    with pytest.raises(TypeError, match="not bytes"):
        InProcessTransport(lambda r: "text").exchange(b"abc")  # type: ignore[arg-type,return-value]


def test_in_process_sessions_leave_a_subclass_open_between_transactions() -> None:
    # A transaction's session is closed after it; the transport is not.
    class Counting(InProcessTransport):
        closed = aclosed = 0

        def close(self) -> None:
            self.closed += 1

        async def aclose(self) -> None:
            self.aclosed += 1

    transport = Counting(lambda r: r)
    for _ in range(2):
        with transport.session() as session:
            assert session.exchange(b"x") == b"x"

    async def run() -> None:
        async with transport.asession() as session:
            assert await session.aexchange(b"y") == b"y"

    asyncio.run(run())
    assert (transport.closed, transport.aclosed) == (0, 0)
    plain = InProcessTransport(lambda r: r)
    assert plain.session() is plain and plain.asession() is plain  # nothing to close


def test_transport_errors_are_cmp_errors() -> None:
    assert issubclass(TransportTimeout, TransportError)
    assert issubclass(TransportError, CMPError)
    assert not issubclass(TransportError, OSError)


def test_sync_transport_works_from_several_threads() -> None:
    with local_server(answer_each(BODY)) as server, HTTPTransport(server.url) as transport:
        results: list[bytes] = []

        def work() -> None:
            for _ in range(5):
                results.append(transport.exchange(BODY, timeout=5))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [BODY] * 20
    assert server.connections <= 4
