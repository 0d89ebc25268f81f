"""cmp.client: Client and AsyncClient drive transactions over transports.

Against the real ``openssl cmp -port 0`` mock server over HTTP, through
``-rspin``/``-reqout`` files, in-process, and against local servers that
stall, for the timeouts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from inprocess_pki import mock_server
from inprocess_pki import pbm_config as pbm
from inprocess_pki import sig_config as sig
from local_servers import Connection, local_server
from openssl_harness import CapturedMessages, MockServerFactory, OpensslServer, Pki, body_kind

from cmp.client import AsyncClient, Client
from cmp.itav import OID_BY_NAME
from cmp.message import PKIMessage
from cmp.requests import EnrollRequest, GeneralRequest, RevokeRequest
from cmp.status import ServerError
from cmp.transaction import TotalTimeoutError, Transaction, TransactionConfig, TransactionResult
from cmp.transport import (
    AsyncBaseTransport,
    AsyncHTTPTransport,
    BaseTransport,
    FileTransport,
    HTTPTransport,
    InProcessTransport,
    TransportError,
    TransportTimeout,
)


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


CONFIGS = {"pbm": pbm, "sig": sig}


@pytest.fixture(params=sorted(CONFIGS))
def config(request: pytest.FixtureRequest, pki: Pki) -> TransactionConfig:
    return CONFIGS[request.param](pki)


@pytest.fixture
def server(openssl_mock_server: MockServerFactory) -> OpensslServer:
    return openssl_mock_server()


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


# ---------------------------------------------------------------------------
# Every command against OpenSSL's mock server, sync and async
# ---------------------------------------------------------------------------

Command = Callable[[Any, Pki], Any]

COMMANDS: dict[str, tuple[Command, list[str]]] = {
    "ir": (lambda c, p: c.enroll(p.new_key, subject=p.enrolled.cert.subject), ["ir", "certConf"]),
    "cr": (lambda c, p: c.certify(p.new_key, subject=p.enrolled.cert.subject), ["cr", "certConf"]),
    "kur": (lambda c, p: c.key_update(p.new_key, oldcert=p.enrolled.cert), ["kur", "certConf"]),
    "p10cr": (lambda c, p: c.p10cr(p.csr), ["p10cr", "certConf"]),
    "rr": (lambda c, p: c.revoke(p.enrolled.cert, reason=4), ["rr"]),
    "genm": (lambda c, p: c.general_message(), ["genm"]),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_client_runs_every_command_over_http(
    command: str, pki: Pki, server: OpensslServer, config: TransactionConfig
) -> None:
    call, sent = COMMANDS[command]
    with Client(server.address, config=config) as client:
        result: TransactionResult = call(client, pki)
    assert [m.body_type for m in result.sent] == sent
    if sent[-1] == "certConf":
        assert result.cert == pki.enrolled.cert


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_async_client_runs_every_command_over_http(
    command: str, pki: Pki, server: OpensslServer, config: TransactionConfig
) -> None:
    call, sent = COMMANDS[command]

    async def main() -> TransactionResult:
        async with AsyncClient(server.url, config=config) as client:
            return await call(client, pki)  # type: ignore[no-any-return]

    result = run(main())
    assert [m.body_type for m in result.sent] == sent


def test_a_transaction_keeps_its_connection(pki: Pki, server: OpensslServer) -> None:
    # OpenSSL's mock server keeps a transaction with its HTTP/1.0 keep-alive
    # connection: certConf must come on the connection the ir came on.
    with Client(server.url, config=pbm(pki), keep_alive=2) as client:
        for _ in range(3):
            assert client.enroll(pki.new_key, subject=pki.enrolled.cert.subject).cert


def test_keep_alive_0_opens_a_connection_per_message(pki: Pki, server: OpensslServer) -> None:
    with Client(server.url, config=pbm(pki), keep_alive=0) as client:
        result = client.enroll(pki.new_key, subject=pki.enrolled.cert.subject)
    assert result.cert == pki.enrolled.cert
    assert server.log().count("Received request") == 2


def test_async_client_runs_transactions_concurrently_over_one_pool(
    pki: Pki, server: OpensslServer
) -> None:
    async def main() -> list[TransactionResult]:
        async with AsyncClient(server.url, config=pbm(pki)) as client:
            return await asyncio.gather(
                *(client.enroll(pki.new_key, subject=pki.enrolled.cert.subject) for _ in range(20))
            )

    results = run(main())
    assert [r.cert for r in results] == [pki.enrolled.cert] * 20
    ids = {r.sent[0].transaction_id for r in results}
    assert len(ids) == 20


def test_sync_and_async_clients_send_the_same_messages(pki: Pki, server: OpensslServer) -> None:
    request = EnrollRequest("ir", new_key=pki.new_key, subject=pki.enrolled.cert.subject)
    with Client(server.url, config=pbm(pki)) as client:
        sync_result = client.run(request)

    async def main() -> TransactionResult:
        async with AsyncClient(server.url, config=pbm(pki)) as client:
            return await client.run(request)

    async_result = run(main())
    for a, b in zip(sync_result.messages, async_result.messages):
        assert a.body_type == b.body_type
        assert a.header.sender == b.header.sender and a.header.recipient == b.header.recipient


def test_server_rejection_raises_server_error(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-pkistatus", "2", "-failure", "2", "-statusstring", "no"])
    with Client(server.url, config=pbm(pki)) as client:
        with pytest.raises(ServerError, match="badRequest"):
            client.enroll(pki.new_key, subject=pki.enrolled.cert.subject)


def test_general_message_by_infotype(pki: Pki, server: OpensslServer) -> None:
    with Client(server.url, config=pbm(pki)) as client:
        result = client.general_message(infotypes=["signKeyPairTypes"])
    assert result.sent[0].body.value[0].info_type == OID_BY_NAME["signKeyPairTypes"]
    with pytest.raises(ValueError, match="not both"):
        client.general_message(result.genp_itavs, infotypes=["caCerts"])


# ---------------------------------------------------------------------------
# Polling and timeouts
# ---------------------------------------------------------------------------


def test_polling_waits_check_after(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    # ip "waiting", then one pollRep saying "check after 1 s".
    server = openssl_mock_server(["-poll_count", "2", "-check_after", "1"])
    started = time.monotonic()
    with Client(server.url, config=pbm(pki)) as client:
        result = client.enroll(pki.new_key, subject=pki.enrolled.cert.subject)
    assert time.monotonic() - started >= 1.0
    assert [m.body_type for m in result.received] == ["ip", "pollRep", "ip", "pkiconf"]


def test_async_polling_waits_check_after(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-poll_count", "2", "-check_after", "0"])

    async def main() -> TransactionResult:
        async with AsyncClient(server.url, config=pbm(pki)) as client:
            return await client.enroll(pki.new_key, subject=pki.enrolled.cert.subject)

    result = run(main())
    assert [m.body_type for m in result.sent] == ["ir", "pollReq", "pollReq", "certConf"]


def test_total_timeout_ends_polling(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-poll_count", "5", "-check_after", "10"])
    with Client(server.url, config=pbm(pki, total_timeout=3)) as client:
        started = time.monotonic()
        with pytest.raises(TotalTimeoutError):
            client.enroll(pki.new_key, subject=pki.enrolled.cert.subject)
    assert time.monotonic() - started < 3


def silent(conn: Connection) -> None:
    conn.read_request()
    conn.stop.wait(10)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_msg_timeout_bounds_each_round_trip(pki: Pki, kind: str) -> None:
    with local_server(silent) as server:
        started = time.monotonic()
        with pytest.raises(TransportTimeout, match=r"within 0\.3 s"):
            if kind == "sync":
                with Client(server.url, config=pbm(pki), msg_timeout=0.3) as client:
                    client.general_message()
            else:

                async def main() -> None:
                    async with AsyncClient(server.url, config=pbm(pki), msg_timeout=0.3) as c:
                        await c.general_message()

                run(main())
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_total_timeout_bounds_the_round_trip_too(pki: Pki, kind: str) -> None:
    config = pbm(pki, total_timeout=0.4)
    with local_server(silent) as server:
        started = time.monotonic()
        with pytest.raises(TotalTimeoutError, match=r"total_timeout of 0\.4 s"):
            if kind == "sync":
                with Client(server.url, config=config, msg_timeout=30) as client:
                    client.general_message()
            else:

                async def main() -> None:
                    async with AsyncClient(server.url, config=config, msg_timeout=30) as c:
                        await c.general_message()

                run(main())
    assert time.monotonic() - started < 1.5


def test_msg_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="msg_timeout"):
        Client("ca.example", msg_timeout=0)


# ---------------------------------------------------------------------------
# Files: -reqout/-rspout over HTTP, -rspin without a server
# ---------------------------------------------------------------------------


def test_reqout_rspout_save_the_transaction(
    pki: Pki, server: OpensslServer, tmp_path: Path
) -> None:
    reqout = [tmp_path / "req1.der", tmp_path / "req2.der"]
    rspout = [tmp_path / "rsp1.der", tmp_path / "rsp2.der"]
    files = FileTransport(HTTPTransport(server.url), reqout=reqout, rspout=rspout)
    with Client(transport=files, config=pbm(pki)) as client:
        result = client.enroll(pki.new_key, subject=pki.enrolled.cert.subject)
    assert [body_kind(p.read_bytes()) for p in reqout] == ["ir", "certConf"]
    assert [body_kind(p.read_bytes()) for p in rspout] == ["ip", "pkiconf"]
    assert [p.read_bytes() for p in rspout] == [m.to_der() for m in result.received]


def write_responses(tmp_path: Path, *messages: bytes) -> list[Path]:
    paths = []
    for i, der in enumerate(messages):
        path = tmp_path / f"rsp{i}.der"
        path.write_bytes(der)
        paths.append(path)
    return paths


def test_rspin_replays_openssl_responses_without_server(
    pki: Pki, captured_messages: CapturedMessages, tmp_path: Path
) -> None:
    # The ip and pkiconf openssl cmp received in its own ir transaction.
    pbm_messages = captured_messages["pbm"]
    rspin = write_responses(tmp_path, pbm_messages["ip"][0], pbm_messages["pkiconf"][0])
    reqout = [tmp_path / "req1.der", tmp_path / "req2.der"]
    with Client(transport=FileTransport(rspin=rspin, reqout=reqout), config=pbm(pki)) as client:
        result = client.enroll(pki.new_key, subject=pki.enrolled.cert.subject)
    assert result.cert == pki.enrolled.cert
    assert [body_kind(p.read_bytes()) for p in reqout] == ["ir", "certConf"]
    # As openssl cmp: the certConf continues the replayed transaction.
    certconf = PKIMessage.from_der(reqout[1].read_bytes())
    ip = PKIMessage.from_der(pbm_messages["ip"][0])
    assert certconf.transaction_id == ip.transaction_id
    assert certconf.recip_nonce == ip.sender_nonce


def test_async_rspin_replays_genp(
    pki: Pki, captured_messages: CapturedMessages, tmp_path: Path
) -> None:
    rspin = write_responses(tmp_path, captured_messages["pbm"]["genp"][0])

    async def main() -> TransactionResult:
        async with AsyncClient(transport=FileTransport(rspin=rspin), config=pbm(pki)) as client:
            return await client.general_message()

    assert run(main()).received[0].body_type == "genp"


def test_rspin_used_up_falls_back_to_the_server(
    pki: Pki, captured_messages: CapturedMessages, server: OpensslServer, tmp_path: Path
) -> None:
    rspin = write_responses(tmp_path, captured_messages["pbm"]["genp"][0])
    files = FileTransport(HTTPTransport(server.url), rspin=rspin)
    with Client(transport=files, config=pbm(pki)) as client:
        client.general_message()  # from the file
        client.general_message()  # from the server
    assert server.log().count("Received request") == 1


def test_rspin_without_enough_files_fails(
    pki: Pki, captured_messages: CapturedMessages, tmp_path: Path
) -> None:
    rspin = write_responses(tmp_path, captured_messages["pbm"]["ip"][0])
    with Client(transport=FileTransport(rspin=rspin), config=pbm(pki)) as client:
        with pytest.raises(TransportError, match="rspin: all 1 file"):
            client.enroll(pki.new_key, subject=pki.enrolled.cert.subject)


def test_reqin_sends_openssls_request(
    pki: Pki, captured_messages: CapturedMessages, server: OpensslServer, tmp_path: Path
) -> None:
    reqin = tmp_path / "genm.der"
    reqin.write_bytes(captured_messages["pbm"]["genm"][0])
    files = FileTransport(HTTPTransport(server.url), reqin=reqin)
    with Client(transport=files, config=pbm(pki)) as client:
        result = client.general_message(infotypes=["signKeyPairTypes"])
    assert result.received[0].body_type == "genp"


# ---------------------------------------------------------------------------
# In-process
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_client_runs_every_command_in_process(
    command: str, pki: Pki, config: TransactionConfig
) -> None:
    call, sent = COMMANDS[command]
    with Client(transport=InProcessTransport(mock_server(pki).handle), config=config) as client:
        result: TransactionResult = call(client, pki)
    assert [m.body_type for m in result.sent] == sent


def test_async_client_in_process_concurrently(pki: Pki) -> None:
    server = mock_server(pki)

    async def handler(request: bytes) -> bytes:
        return server.handle(request)

    async def main() -> list[TransactionResult]:
        transport = InProcessTransport(handler)
        async with AsyncClient(transport=transport, config=pbm(pki)) as client:
            return await asyncio.gather(
                *(client.enroll(pki.new_key, subject=pki.enrolled.cert.subject) for _ in range(20))
            )

    assert [r.cert for r in run(main())] == [pki.enrolled.cert] * 20
    assert server.open_transactions == 0


# ---------------------------------------------------------------------------
# The client's own rules
# ---------------------------------------------------------------------------


class Closing(BaseTransport):
    def __init__(self) -> None:
        self.closed = False

    def exchange(self, request: bytes, timeout: float | None = None) -> bytes:
        raise TransportError("no server here")

    def close(self) -> None:
        self.closed = True


def test_client_closes_its_transport() -> None:
    transport = Closing()
    with Client(transport=transport):
        pass
    assert transport.closed


def test_transport_error_fails_the_transaction(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    failed: list[BaseException] = []

    class Recording(Transaction):
        def fail(self, exc: BaseException) -> None:
            failed.append(exc)
            super().fail(exc)

    monkeypatch.setattr("cmp.client.Transaction", Recording)
    with Client(transport=Closing(), config=pbm(pki)) as client:
        with pytest.raises(TransportError, match="no server here"):
            client.general_message()
    assert len(failed) == 1 and isinstance(failed[0], TransportError)


def test_client_needs_a_server_or_a_transport_of_its_kind() -> None:
    with pytest.raises(ValueError, match="server"):
        Client()
    with pytest.raises(ValueError, match="not both"):
        Client("ca.example", transport=Closing())
    with pytest.raises(TypeError, match="synchronous"):
        Client(transport=AsyncHTTPTransport("ca.example"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="asynchronous"):
        AsyncClient(transport=Closing())  # type: ignore[arg-type]
    assert isinstance(AsyncClient("ca.example").transport, AsyncBaseTransport)


def test_run_needs_a_config() -> None:
    with Client(transport=Closing()) as client:
        with pytest.raises(ValueError, match="TransactionConfig"):
            client.run(GeneralRequest())


def test_config_per_call_overrides_the_clients(pki: Pki, server: OpensslServer) -> None:
    wrong = TransactionConfig(secret=b"wrong secret", ref=pki.ref)
    with Client(server.url, config=wrong) as client:
        result = client.run(RevokeRequest(cert=pki.enrolled.cert), config=pbm(pki))
    assert result.rev_status is not None
