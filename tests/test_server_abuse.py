"""The mock CA under abuse: slow clients, oversized bodies, garbage, replayed
messages, reused transactionIDs, certConf for unknown transactions, floods, a
full transaction table and bad protection.

The server answers with a CMP error message (or an HTTP 4xx status where no
PKIMessage can answer), keeps its state consistent, and goes on serving the
valid clients: every test runs its abuse against cmpkit's HTTP server
(uvicorn on 127.0.0.1, a free port) or, where the rule is about the handler's
state, against the sans-I/O :class:`~cmp.server.MockServer`, and then (or
meanwhile) a valid enrollment that must end with the certificate.

Every wait is bounded (``WAIT``) and generous: CI machines are small.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import random
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, Callable

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from inprocess_pki import sig_config
from openssl_harness import Pki, read_tlv
from test_client import pbm, sig
from test_security import only, run
from test_server import (
    Requester,
    answer,
    error_of,
    ir_body,
    pbm_client,
    server_config,
    sig_client,
)

from cmp import protection
from cmp.asgi import BackgroundServer
from cmp.asn1 import FailInfo, PKIBody, PKIStatus
from cmp.client import Client
from cmp.errors import ProtectionError
from cmp.message import PKIMessage
from cmp.requests import cert_conf_body, genm_body, poll_req_body
from cmp.server import MockServer, MockServerConfig
from cmp.transaction import TransactionConfig
from cmp.transport import InProcessTransport
from cmp.verify import ChainValidator

READ_TIMEOUT = 3.0
"""The HTTP server's read_timeout here: short, so that slow clients are cut soon."""
SLOW_READ_TIMEOUT = 8.0
"""The read_timeout of the slow-client test: long, so that its valid clients
are served while the slow ones are still connected, on a loaded machine too."""
MAX_BODY = 8192
"""The HTTP server's max_body_size here: a signed ir with extraCerts fits."""
WAIT = 20.0
"""Bound of every single wait in this file."""

_DER = Encoding.DER


@pytest.fixture
def server(pki: Pki) -> MockServer:
    return MockServer(server_config(pki))


@pytest.fixture
def http(server: MockServer) -> Iterator[BackgroundServer]:
    with server.start_background(max_body_size=MAX_BODY, read_timeout=READ_TIMEOUT) as running:
        yield running


# --- valid clients ---------------------------------------------------------------------------


def enroll_over_http(
    running: BackgroundServer, pki: Pki, config: TransactionConfig | None = None
) -> x509.Certificate:
    """A whole ir + certConf transaction by cmpkit's client; its certificate."""
    config = config or pbm(pki)
    with Client(running.address, config=config, msg_timeout=WAIT, trust_env=False) as client:
        cert = client.enroll(pki.new_key, subject=pki.enrolled.cert.subject).cert
    assert cert is not None
    return cert


def enroll_in_process(
    server: MockServer, pki: Pki, config: TransactionConfig | None = None
) -> x509.Certificate:
    with Client(transport=InProcessTransport(server.handle), config=config or pbm(pki)) as client:
        cert = client.enroll(pki.new_key, subject=pki.enrolled.cert.subject).cert
    assert cert is not None
    return cert


# --- raw HTTP --------------------------------------------------------------------------------


def request_head(length: int | None = None, *extra: str, method: str = "POST") -> bytes:
    lines = [f"{method} / HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/pkixcmp"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def raw_exchange(port: int, data: bytes) -> bytes:
    """Sends ``data`` on a new connection and returns all the server sends
    until it closes the connection (which it must, within ``WAIT``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(data)
        reply = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return reply
            except socket.timeout:
                raise AssertionError(f"connection still open after {WAIT} s: {reply!r}") from None
            if not chunk:
                return reply
            reply += chunk


def status_of(reply: bytes) -> int:
    assert reply.startswith(b"HTTP/1.1 "), reply[:80]
    return int(reply.split(b" ", 2)[1])


def slow_client(
    port: int,
    prefix: bytes,
    trickle: bytes,
    interval: float = 0.1,
    connected: threading.Semaphore | None = None,
) -> tuple[bytes, float]:
    """A slowloris: sends ``prefix``, then ``trickle`` a byte every ``interval``
    seconds, then nothing, until the server closes the connection. Returns
    what the server sent and the seconds the connection was open; releases
    ``connected`` once ``prefix`` is sent."""
    start = time.monotonic()
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(prefix)
        if connected is not None:
            connected.release()
        pending = list(trickle)
        while time.monotonic() - start < WAIT:
            readable, _, _ = select.select([sock], [], [], interval)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                reply += chunk
            elif pending:
                try:
                    sock.send(bytes([pending.pop(0)]))
                except OSError:  # closed by the server: read what it said
                    pending.clear()
    return reply, time.monotonic() - start


# --- 1. slow clients -------------------------------------------------------------------------


def test_slow_client_does_not_block_valid_clients(pki: Pki, server: MockServer) -> None:
    """Connections that send nothing, their head or their body a byte at a
    time, or start a second request slowly on a kept-alive connection, are
    held open by their clients; the valid clients complete meanwhile, and each
    slow one gets 408 and is closed after the read timeout."""
    genm = pbm_client(pki).message(genm_body()).to_der()
    head = request_head(300)
    slow = {
        "silent": (b"", b""),
        "head byte by byte": (b"", head),
        "body byte by byte": (head, b"\x30" * 300),
        "second head byte by byte": (request_head(len(genm)) + genm, head),
    }
    kinds = list(slow) * 3
    connected = threading.Semaphore(0)
    with server.start_background(max_body_size=MAX_BODY, read_timeout=SLOW_READ_TIMEOUT) as http:
        with concurrent.futures.ThreadPoolExecutor(len(kinds)) as pool:
            futures = [
                pool.submit(slow_client, http.port, *slow[kind], connected=connected)
                for kind in kinds
            ]
            for _ in kinds:
                assert connected.acquire(timeout=WAIT), "a slow client could not connect"
            certs = [enroll_over_http(http, pki), enroll_over_http(http, pki, sig(pki))]
            assert not any(f.done() for f in futures), "the valid clients were not served meanwhile"
            results = [f.result(timeout=2 * WAIT) for f in futures]
        assert certs == [pki.enrolled.cert] * 2
        for kind, (reply, seconds) in zip(kinds, results):
            if kind == "second head byte by byte":  # the first request was answered
                assert status_of(reply) == 200, kind
                reply = reply[reply.index(b"HTTP/1.1 ", 1) :]
            assert status_of(reply) == 408, (kind, reply)
            assert b"connection: close" in reply.lower(), kind
            # Cut by the read timeout (not before half of it) and closed (before WAIT).
            assert SLOW_READ_TIMEOUT / 2 <= seconds < WAIT, (kind, seconds)
        assert server.messages_handled == 4 + 3  # two transactions, three genm
        assert server.open_transactions == 0
        assert enroll_over_http(http, pki) == pki.enrolled.cert


# --- 2. oversized bodies ---------------------------------------------------------------------


def test_oversized_body_gets_413_without_being_read(
    pki: Pki, server: MockServer, http: BackgroundServer
) -> None:
    """A declared Content-Length above max_body_size is answered 413 at once,
    before any body byte (not 100 Continue); a chunked body is cut with 413 as
    it grows past the limit; both connections are closed. The limit itself
    is accepted."""
    started = time.monotonic()
    reply = raw_exchange(http.port, request_head(10**9))
    assert status_of(reply) == 413
    assert time.monotonic() - started < READ_TIMEOUT  # not waiting for the body
    reply = raw_exchange(http.port, request_head(MAX_BODY + 1, "Expect: 100-continue"))
    assert status_of(reply) == 413 and b"100 Continue" not in reply
    chunk = b"400\r\n" + b"\x30" * 0x400 + b"\r\n"
    chunked = request_head(None, "Transfer-Encoding: chunked") + chunk * (MAX_BODY // 0x400 + 1)
    reply = raw_exchange(http.port, chunked)
    assert status_of(reply) == 413
    assert b"connection: close" in reply.lower()
    assert server.messages_handled == 0

    at_limit = httpx.post(http.url, content=b"\x30" * MAX_BODY, timeout=WAIT)
    assert at_limit.status_code == 200
    assert PKIMessage.from_der(at_limit.content).body_type == "error"
    assert enroll_over_http(http, pki) == pki.enrolled.cert


# --- 3. garbage ------------------------------------------------------------------------------


def _nested_sequences(depth: int) -> bytes:
    der = b""
    for _ in range(depth):
        n = len(der)
        length = bytes([n]) if n < 0x80 else b"\x82" + n.to_bytes(2, "big")
        der = b"\x30" + length + der
    return der


def _content(der: bytes) -> bytes:
    """The content octets of the outer TLV."""
    tlv = read_tlv(der)
    return der[tlv.content_start : tlv.end]


GARBAGE: dict[str, Callable[[Pki, bytes], bytes]] = {
    "random bytes": lambda pki, ir: random.Random(7).randbytes(300),
    "empty body": lambda pki, ir: b"",
    "truncated ir": lambda pki, ir: ir[: len(ir) // 2],
    "ir with trailing bytes": lambda pki, ir: ir + b"\x00\x00",
    "ir with a huge length": lambda pki, ir: b"\x30\x84\x7f\xff\xff\xff" + _content(ir),
    "ir in BER, indefinite length": lambda pki, ir: b"\x30\x80" + _content(ir) + b"\x00\x00",
    "a certificate": lambda pki, ir: pki.root.cert.public_bytes(_DER),
    "ASN.1 NULL": lambda pki, ir: b"\x05\x00",
    "1000 nested SEQUENCEs": lambda pki, ir: _nested_sequences(1000),
    "HTML": lambda pki, ir: b"<html><body>hello</body></html>",
}

HEADER_INTACT = {"truncated ir", "ir with trailing bytes", "ir with a huge length"}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_gets_a_protected_cmp_error_with_badDataFormat(
    pki: Pki, server: MockServer, http: BackgroundServer, kind: str
) -> None:
    """Bytes that are no PKIMessage, whatever their Content-Type, are answered
    with an error message (rejection, badDataFormat) that the client can
    authenticate; where the header can be read, the answer matches it."""
    ir = pbm_client(pki).message(ir_body(pki))
    payload = GARBAGE[kind](pki, ir.to_der())
    assert len(payload) <= MAX_BODY
    for content_type in ("application/pkixcmp", "text/html"):
        r = httpx.post(
            http.url, content=payload, headers={"content-type": content_type}, timeout=WAIT
        )
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/pkixcmp"
        rsp = PKIMessage.from_der(r.content)
        info = error_of(rsp).pki_status_info
        assert info.status == PKIStatus.rejection
        assert info.fail_info == FailInfo.badDataFormat
        protection.verify(rsp, secret=pki.secret)
        if kind in HEADER_INTACT:  # the answer is to the header
            assert rsp.header.transaction_id == ir.header.transaction_id
            assert rsp.header.recip_nonce == ir.header.sender_nonce
    assert server.messages_handled == 2
    assert server.open_transactions == 0
    assert enroll_over_http(http, pki) == pki.enrolled.cert


def test_response_kinds_sent_to_the_server_get_a_cmp_error(
    pki: Pki, server: MockServer, http: BackgroundServer
) -> None:
    """Well-formed, protected PKIMessages that no client sends (ip, pkiconf)
    get an error message naming the unexpected body, and open nothing."""
    client = pbm_client(pki)
    ip = answer(MockServer(server_config(pki)), client.message(ir_body(pki)))
    for body in (ip.body, PKIBody("pkiconf", None)):
        r = httpx.post(http.url, content=client.message(body).to_der(), timeout=WAIT)
        info = error_of(PKIMessage.from_der(r.content)).pki_status_info
        assert info.status == PKIStatus.rejection
        assert info.status_string == ("unexpected pkibody",)
        assert info.fail_info == FailInfo.badRequest
    assert server.open_transactions == 0
    assert enroll_over_http(http, pki) == pki.enrolled.cert


def test_requests_without_a_cmp_message_get_4xx_and_are_closed(
    pki: Pki, server: MockServer, http: BackgroundServer
) -> None:
    """Other methods (405, Allow: POST), other paths and queries (404), bytes
    that are no HTTP (400) and an oversized head (431) never reach the CMP
    handler; the connection is closed after the answer."""
    ir = pbm_client(pki).message(ir_body(pki)).to_der()
    cases = [
        (request_head(len(ir), method="GET") + ir, 405),
        (request_head(len(ir), method="PUT") + ir, 405),
        (request_head(None, method="DELETE"), 405),
        (request_head(None, method="OPTIONS"), 405),
        (request_head(len(ir)).replace(b"POST / ", b"POST /cmp/other ") + ir, 404),
        (request_head(len(ir)).replace(b"POST / ", b"POST /pkix/x ") + ir, 404),
        (request_head(len(ir)).replace(b"POST / ", b"POST /?a=b ") + ir, 404),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n\r\n", 400),
        (request_head(-1), 400),
        (request_head(None, "X-Junk: " + "a" * 70_000), 431),
        (b"\r\n\r\n", 400),
    ]
    for data, expected in cases:
        reply = raw_exchange(http.port, data)
        assert status_of(reply) == expected, data[:40]
        assert b"connection: close" in reply.lower(), data[:40]
        if expected == 405:
            assert b"allow: POST" in reply
    assert server.messages_handled == 0
    assert enroll_over_http(http, pki) == pki.enrolled.cert


def test_content_type_is_not_checked_as_by_openssl(pki: Pki, http: BackgroundServer) -> None:
    """``openssl cmp -port`` answers a PKIMessage whatever its Content-Type
    (or none): so does cmpkit, and a client that gets it wrong still enrolls."""
    client = pbm_client(pki)
    with httpx.Client(timeout=WAIT) as web:
        ir = client.message(ir_body(pki)).to_der()
        ip = PKIMessage.from_der(
            web.post(http.url, content=ir, headers={"content-type": "text/plain"}).content
        )
        assert ip.body_type == "ip"
        conf = client.follow(ip, cert_conf_body(pki.enrolled.cert)).to_der()
        request = web.build_request("POST", http.url, content=conf)
        assert "content-type" not in request.headers  # httpx sets none for bytes
        assert PKIMessage.from_der(web.send(request).content).body_type == "pkiconf"


# --- 4. replays -----------------------------------------------------------------------------


def test_replayed_ir_is_refused_and_the_original_transaction_completes(
    pki: Pki, server: MockServer
) -> None:
    """The same ir bytes again, while its transaction is open, get
    transactionIdInUse (RFC 9810 §5.1.1) and change nothing; the first client
    confirms its certificate; the certConf replayed after pkiConf is refused
    as it belongs to no open transaction."""
    client = pbm_client(pki)
    ir = client.message(ir_body(pki))
    ip = answer(server, ir)
    assert ip.body_type == "ip"
    tid = ir.header.transaction_id
    assert tid is not None
    txn = server._transactions[tid]
    nonce = txn.sender_nonce

    replay = answer(server, ir.to_der())
    info = error_of(replay).pki_status_info
    assert info.status == PKIStatus.rejection
    assert info.fail_info == FailInfo.transactionIdInUse
    assert replay.header.transaction_id == tid
    assert replay.header.recip_nonce == ir.header.sender_nonce
    assert server._transactions == {tid: txn} and txn.sender_nonce == nonce

    conf = client.follow(ip, cert_conf_body(pki.enrolled.cert))
    assert answer(server, conf).body_type == "pkiconf"
    again = answer(server, conf.to_der())
    assert error_of(again).pki_status_info.status_string == ("unexpected pkibody",)
    assert server.open_transactions == 0
    assert enroll_in_process(server, pki) == pki.enrolled.cert


def test_replayed_pollreq_is_refused_and_polling_goes_on(pki: Pki) -> None:
    """A pollReq sent again after it was answered carries a stale recipNonce:
    badRecipientNonce, and the polling transaction goes on undisturbed."""
    server = MockServer(server_config(pki, poll_count=2, check_after=0))
    client = pbm_client(pki)
    waiting = answer(server, client.message(ir_body(pki)))
    assert waiting.body_type == "ip"
    assert waiting.body.value.response[0].status.status == PKIStatus.waiting
    poll = client.follow(waiting, poll_req_body())
    rep = answer(server, poll)
    assert rep.body_type == "pollRep"

    stale = answer(server, poll.to_der())
    assert error_of(stale).pki_status_info.fail_info == FailInfo.badRecipientNonce
    ip = answer(server, client.follow(rep, poll_req_body()))
    assert ip.body_type == "ip"
    assert ip.body.value.response[0].certificate() == pki.enrolled.cert
    assert answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert))).body_type == (
        "pkiconf"
    )
    assert server.open_transactions == 0


# --- 5. reused transactionIDs ----------------------------------------------------------------


def test_transaction_id_reused_by_another_client_is_refused(pki: Pki, server: MockServer) -> None:
    """Another client starting a transaction with the transactionID of an open
    one gets transactionIdInUse; its certConf for it, not knowing the nonce,
    gets badRecipientNonce; the original transaction is unaffected."""
    owner, other = pbm_client(pki), sig_client(pki)
    ip = answer(server, owner.message(ir_body(pki)))
    tid = ip.header.transaction_id
    assert tid is not None
    txn = server._transactions[tid]
    before = (txn.sender_nonce, txn.touched, list(txn.untrusted))

    for body in (ir_body(pki), ir_body(pki, "cr"), ir_body(pki, "p10cr", csr=pki.csr)):
        rsp = answer(server, other.message(body, tid=tid))
        assert error_of(rsp).pki_status_info.fail_info == FailInfo.transactionIdInUse
    forged = other.message(cert_conf_body(pki.enrolled.cert), tid=tid, recip_nonce=bytes(16))
    assert error_of(answer(server, forged)).pki_status_info.fail_info == FailInfo.badRecipientNonce
    # a single request-response exchange with that ID is answered, as ever
    assert answer(server, other.message(genm_body(), tid=tid)).body_type == "genp"

    assert server._transactions == {tid: txn}
    assert (txn.sender_nonce, txn.touched, list(txn.untrusted)) == before
    assert answer(server, owner.follow(ip, cert_conf_body(pki.enrolled.cert))).body_type == (
        "pkiconf"
    )
    assert enroll_in_process(server, pki, sig(pki)) == pki.enrolled.cert


def test_concurrent_irs_with_one_transaction_id_open_it_once(pki: Pki, server: MockServer) -> None:
    """Many irs with the same transactionID at the same moment: exactly one
    opens the transaction, the others get transactionIdInUse, and the one
    that got the ip completes."""
    tid = b"\x42" * 16
    clients = [pbm_client(pki) if i % 2 else sig_client(pki) for i in range(8)]
    requests = [c.message(ir_body(pki), tid=tid).to_der() for c in clients]
    start = threading.Barrier(len(requests))

    def send(der: bytes) -> PKIMessage:
        start.wait(WAIT)
        return answer(server, der)

    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(send, requests, timeout=WAIT))
    kinds = Counter(a.body_type for a in answers)
    assert kinds == {"ip": 1, "error": len(requests) - 1}
    for a in answers:
        if a.body_type == "error":
            assert error_of(a).pki_status_info.fail_info == FailInfo.transactionIdInUse
    winner = next(i for i, a in enumerate(answers) if a.body_type == "ip")
    conf = clients[winner].follow(answers[winner], cert_conf_body(pki.enrolled.cert))
    assert answer(server, conf).body_type == "pkiconf"
    assert server.open_transactions == 0


# --- 6. messages for unknown transactions ----------------------------------------------------


@pytest.mark.parametrize("body", ["certConf", "pollReq"])
def test_followup_for_unknown_transaction_is_refused_and_creates_no_state(
    pki: Pki, server: MockServer, body: str
) -> None:
    """certConf and pollReq that belong to no open transaction (unknown or
    missing transactionID) get an error answering their header, and leave
    nothing behind: following up on that error is refused the same way."""
    make = {"certConf": lambda: cert_conf_body(pki.enrolled.cert), "pollReq": poll_req_body}[body]
    client = pbm_client(pki)
    for msg in (client.message(make()), client.message(make(), transaction_id=None)):
        rsp = answer(server, msg)
        content = error_of(rsp)
        assert content.pki_status_info.status == PKIStatus.rejection
        assert content.pki_status_info.status_string == ("unexpected pkibody",)
        assert rsp.header.recip_nonce == msg.header.sender_nonce
        if msg.header.transaction_id is not None:
            assert rsp.header.transaction_id == msg.header.transaction_id
        assert server.open_transactions == 0
        again = answer(server, client.follow(rsp, make()))
        assert error_of(again).pki_status_info.status_string == ("unexpected pkibody",)
        assert server.open_transactions == 0
    assert enroll_in_process(server, pki) == pki.enrolled.cert


# --- 7. floods --------------------------------------------------------------------------------

FLOOD = {  # job kind: how many of the 200
    "enroll": 60,  # ir + certConf by cmpkit's client (PBM or signature)
    "enroll with a replayed ir": 10,  # ir, the same ir again, certConf
    "abandoned ir": 10,  # an ip never confirmed: stays open
    "random bytes": 20,
    "truncated ir": 20,
    "unprotected ir": 20,
    "ir with a wrong secret": 20,
    "certConf of no transaction": 20,
    "GET": 10,
    "oversized": 10,
}
FLOOD_THREADS = 20


def test_concurrent_flood_does_not_stop_valid_clients(pki: Pki) -> None:
    """200 requests from 20 threads, valid and abusive mixed: every valid
    transaction completes, every abusive request gets its error or 4xx, the
    table never outgrows max_transactions and afterwards holds exactly the
    abandoned transactions; a fresh enrollment still works."""
    server = MockServer(server_config(pki, max_transactions=32))
    jobs = [kind for kind, count in FLOOD.items() for _ in range(count)]
    assert len(jobs) == 200
    random.Random(3).shuffle(jobs)
    abandoned: list[bytes] = []
    peak = 0
    flooding = threading.Event()

    def watch() -> None:
        nonlocal peak
        while flooding.is_set():
            peak = max(peak, server.open_transactions)
            time.sleep(0.002)

    def worker(n: int) -> Counter[str]:
        done: Counter[str] = Counter()
        requester, config = (pbm_client(pki), pbm(pki)) if n % 2 else (sig_client(pki), sig(pki))
        forger = Requester(secret=b"not the secret", ref=b"x", sender=pki.enrolled.cert.subject)
        with httpx.Client(timeout=WAIT) as web:

            def post(der: bytes) -> PKIMessage:
                r = web.post(running.url, content=der)
                assert r.status_code == 200, r
                return PKIMessage.from_der(r.content)

            def refused(der: bytes) -> FailInfo:
                return FailInfo(error_of(post(der)).pki_status_info.fail_info or 0)

            for kind in jobs[n::FLOOD_THREADS]:
                if kind == "enroll":
                    assert enroll_over_http(running, pki, config) == pki.enrolled.cert
                elif kind == "enroll with a replayed ir":
                    ir = requester.message(ir_body(pki)).to_der()
                    ip = post(ir)
                    assert refused(ir) == FailInfo.transactionIdInUse
                    conf = requester.follow(ip, cert_conf_body(pki.enrolled.cert))
                    assert post(conf.to_der()).body_type == "pkiconf"
                elif kind == "abandoned ir":
                    ip = post(requester.message(ir_body(pki)).to_der())
                    assert ip.body_type == "ip" and ip.header.transaction_id is not None
                    abandoned.append(ip.header.transaction_id)
                elif kind == "random bytes":
                    assert refused(random.Random(n).randbytes(256)) == FailInfo.badDataFormat
                elif kind == "truncated ir":
                    ir = requester.message(ir_body(pki)).to_der()
                    assert refused(ir[:-20]) == FailInfo.badDataFormat
                elif kind == "unprotected ir":
                    der = requester.message(ir_body(pki), protect=False).to_der()
                    assert refused(der) == FailInfo.badMessageCheck
                elif kind == "ir with a wrong secret":
                    assert refused(forger.message(ir_body(pki)).to_der()) == (
                        FailInfo.badMessageCheck
                    )
                elif kind == "certConf of no transaction":
                    der = requester.message(cert_conf_body(pki.enrolled.cert)).to_der()
                    assert refused(der) == FailInfo.badRequest
                elif kind == "GET":
                    assert web.get(running.url).status_code == 405
                elif kind == "oversized":
                    assert status_of(raw_exchange(running.port, request_head(10**9))) == 413
                done[kind] += 1
        return done

    with server.start_background(max_body_size=MAX_BODY, read_timeout=READ_TIMEOUT) as running:
        flooding.set()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(FLOOD_THREADS) as pool:
                results = list(pool.map(worker, range(FLOOD_THREADS), timeout=3 * WAIT))
        finally:
            flooding.clear()
            watcher.join(WAIT)
        assert sum(results, Counter()) == Counter(FLOOD)
        assert running.running
        assert peak <= server.config.max_transactions
        # the garbage left nothing behind; the abandoned transactions are all there
        assert sorted(server._transactions) == sorted(abandoned)
        handled = 2 * 60 + 3 * 10 + 10 + 5 * 20  # GET and oversized never reach it
        assert server.messages_handled == handled
        assert enroll_over_http(running, pki) == pki.enrolled.cert
        assert server.open_transactions == len(abandoned)


# --- 8. a full transaction table ---------------------------------------------------------------


def test_full_transaction_table_drops_the_oldest_and_valid_clients_complete(pki: Pki) -> None:
    """More transactions opened than max_transactions, none confirmed: the
    table stays at the bound by dropping the least recently answered ones
    (their certConf is refused), and a valid client still completes."""
    server = MockServer(server_config(pki, max_transactions=4))
    client = pbm_client(pki)
    ips = [answer(server, client.message(ir_body(pki))) for _ in range(10)]
    assert {ip.body_type for ip in ips} == {"ip"}
    assert list(server._transactions) == [ip.header.transaction_id for ip in ips[-4:]]

    assert enroll_in_process(server, pki) == pki.enrolled.cert  # its ir dropped one more
    assert list(server._transactions) == [ip.header.transaction_id for ip in ips[-3:]]
    dropped = answer(server, client.follow(ips[-4], cert_conf_body(pki.enrolled.cert)))
    assert error_of(dropped).pki_status_info.status_string == ("unexpected pkibody",)
    kept = answer(server, client.follow(ips[-1], cert_conf_body(pki.enrolled.cert)))
    assert kept.body_type == "pkiconf"
    assert server.open_transactions == 2


# --- 9. bad protection ------------------------------------------------------------------------


BAD_PROTECTION = ["wrong secret", "flipped MAC bit", "unprotected", "untrusted signer"]


def forge(pki: Pki, kind: str, body: PKIBody, **header: Any) -> PKIMessage:
    """A request from ``pbm_client(pki)`` (or a signer the server does not
    trust) whose protection does not verify in the way ``kind`` says."""
    if kind == "wrong secret":
        return dataclasses.replace(pbm_client(pki), secret=b"guessed").message(body, **header)
    if kind == "flipped MAC bit":
        good = pbm_client(pki).message(body, **header)
        assert good.protection is not None
        return good.with_protection(good.protection[:-1] + bytes([good.protection[-1] ^ 1]))
    if kind == "unprotected":
        return pbm_client(pki).message(body, protect=False, **header)
    assert kind == "untrusted signer"  # its certificate is issued by a CA not trusted
    foreign = MockServerConfig.generate(common_name="Foreign CA")
    signer = Requester(
        key=foreign.srv_key, cert=foreign.srv_cert, recipient=pki.server.cert.subject
    )
    return signer.message(body, **header)


@pytest.mark.parametrize("kind", BAD_PROTECTION)
def test_bad_protection_is_refused_without_touching_the_transaction(
    pki: Pki, server: MockServer, kind: str
) -> None:
    """A certConf for an open transaction, right recipNonce and certHash, but
    whose protection does not verify gets badMessageCheck and changes nothing
    (the transaction stays open, expects the same nonce, has not taken up the
    message's certificates); the real client then confirms. An ir protected
    the same way opens nothing."""
    client = pbm_client(pki)
    ip = answer(server, client.message(ir_body(pki)))
    tid = ip.header.transaction_id
    assert tid is not None
    txn = server._transactions[tid]
    before = (txn.sender_nonce, txn.touched, list(txn.untrusted))

    body = cert_conf_body(pki.enrolled.cert)
    forged = forge(pki, kind, body, tid=tid, recip_nonce=ip.header.sender_nonce)
    for request in (forged, forge(pki, kind, ir_body(pki))):
        info = error_of(answer(server, request)).pki_status_info
        assert info.status == PKIStatus.rejection
        assert info.fail_info == FailInfo.badMessageCheck
        assert server._transactions == {tid: txn}
        assert (txn.sender_nonce, txn.touched, list(txn.untrusted)) == before

    assert answer(server, client.follow(ip, body)).body_type == "pkiconf"
    assert server.open_transactions == 0
    assert enroll_in_process(server, pki) == pki.enrolled.cert


# --- a flood of would-be signers in the extraCerts -----------------------------------------------


def _copies_of_the_signer(pki: Pki, count: int, signer: Any = None) -> list[bytes]:
    """Self-signed certificates with the name, key and key identifier of
    ``signer`` (the client's credential by default): each matches the sender
    and senderKID and verifies the signature, and none has a path to a
    trust anchor."""
    signer = pki.client if signer is None else signer
    cert = signer.cert
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    now = datetime.datetime.now(datetime.timezone.utc)
    return [
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.subject)
        .public_key(signer.key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(ski, critical=False)
        .sign(signer.key, hashes.SHA256())
        .public_bytes(Encoding.DER)
        for serial in range(1000, 1000 + count)
    ]


@pytest.fixture
def paths_validated(monkeypatch: pytest.MonkeyPatch) -> list[x509.Certificate]:
    seen: list[x509.Certificate] = []
    original = ChainValidator.validate

    def counting(self: ChainValidator, cert: x509.Certificate, untrusted: Any = ()) -> Any:
        seen.append(cert)
        return original(self, cert, untrusted)

    monkeypatch.setattr(ChainValidator, "validate", counting)
    return seen


def test_many_would_be_signers_cost_a_bounded_number_of_path_validations(
    pki: Pki, server: MockServer, paths_validated: list[x509.Certificate]
) -> None:
    signed = sig_client(pki).message(ir_body(pki))
    assert signed.protection is not None
    forged = signed.with_protection(signed.protection, _copies_of_the_signer(pki, 60))
    info = error_of(answer(server, forged)).pki_status_info
    assert info.status_string == ("no suitable sender cert",)
    assert len(paths_validated) == 8


def test_the_signer_after_a_few_copies_is_still_found(
    pki: Pki, server: MockServer, paths_validated: list[x509.Certificate]
) -> None:
    signed = sig_client(pki).message(ir_body(pki))
    assert signed.protection is not None
    real = pki.client.cert.public_bytes(Encoding.DER)
    shuffled = signed.with_protection(signed.protection, [*_copies_of_the_signer(pki, 3), real])
    assert answer(server, shuffled).body_type == "ip"
    assert len(paths_validated) == 4 and paths_validated[-1] == pki.client.cert


def test_a_response_with_many_would_be_signers_is_refused_after_a_bounded_search(
    pki: Pki, server: MockServer, paths_validated: list[x509.Certificate]
) -> None:
    # The client's side of the same: a server (or a man in the middle) sending
    # copies of its certificate in place of the real one.
    copies = _copies_of_the_signer(pki, 60, pki.server)

    def flood(msg: PKIMessage) -> PKIMessage:
        assert msg.protection is not None
        return msg.with_protection(msg.protection, copies)

    with pytest.raises(ProtectionError, match="more than 8 certificates verify"):
        run(pki, server, sig_config(pki), only(["ip"], flood))
    assert sum(c.subject == pki.server.cert.subject for c in paths_validated) == 8
