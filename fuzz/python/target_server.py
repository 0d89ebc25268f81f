"""The mock server's sans-I/O handler: ``MockServer.handle(bytes)``.

Input: a selector byte, then the request's DER (seeds/server/ holds
requests of every kind, protected as in the protection corpus). The
selector picks

- bits 0-1: the server: OpenSSL's defaults (0); issuing real certificates
  and accepting unprotected requests and raVerified, implicit confirmation,
  pvno 3 (1); polling twice, OpenSSL's failInfo, unprotected errors (2);
  answering every request with an error, unprotected (3);
- bits 2-3: the request as it is (0), or its decoded header and body
  protected anew: PBM with the server's secret (1), signed by a client
  certificate the server trusts (2), PBMAC1 (3);
- bit 4: steer the request into a transaction the server has open (its
  transactionID, and the server's last senderNonce as recipNonce), so that
  certConf, pollReq and error reach a transaction; bits 5-7 choose which.
  Without bit 4, bits 5-7 all set give the request a transactionID not
  used before (else the seeds' fixed ones meet "transactionID in use").

The contract (``handle``'s docstring): never raise, always answer a
PKIMessage. Checked besides: the answer decodes completely, is a response
(ip, cp, kup, rp, genp, error, pkiconf, pollRep), echoes the transactionID
of a request that has one, and verifies (with the server's secret or
certificate) when it is protected; the handler did not fall back to its
"internal error" answer (a bug it caught, logged at ERROR); open
transactions stay within ``max_transactions``.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from functools import cache
from pathlib import Path
from typing import Any

from cmp import (
    CMPError,
    DecodeError,
    EncodeError,
    LimitError,
    PKIMessage,
    ProtectionError,
    protection,
)
from cmp.server import _MAX_ISSUED, MockServer, MockServerConfig
from fuzz.python.driver import FAILED, SEEDS_DIR, PropertyFailed, Seen, Target, check, expect
from fuzz.python.messages import mutate_with_selector, touch_message
from fuzz.python.pki import REF, SECRET, credential

MAX_TRANSACTIONS = 64
_RESPONSES = frozenset({"ip", "cp", "kup", "rp", "genp", "error", "pkiconf", "pollRep"})


def _configs() -> list[MockServerConfig]:
    srv, root = credential("server"), credential("root")
    base: dict[str, Any] = {
        "srv_ref": REF,
        "srv_secret": SECRET,
        "srv_cert": srv.cert,
        "srv_key": srv.key,
        "srv_trusted": [root.cert],
        "rsp_cert": credential("enrolled").cert,
        "rsp_capubs": [root.cert],
        "rsp_extracerts": [root.cert],
        "max_transactions": MAX_TRANSACTIONS,
    }
    return [
        MockServerConfig(**base),
        MockServerConfig(
            **base,
            issue=True,
            accept_unprotected=True,
            accept_raverified=True,
            grant_implicitconf=True,
            pvnos=(2, 3),
        ),
        MockServerConfig(
            **base,
            poll_count=2,
            check_after=0,
            accept_unprotected=True,
            fail_info_style="openssl",
            send_unprot_err=True,
            pkistatus=1,
            failure=3,
            statusstring="fuzz",
        ),
        MockServerConfig(
            **base,
            send_error=True,
            send_unprotected=True,
            accept_unprot_err=True,
            pkistatus=2,
            failurebits=(1 << 27) - 1,
        ),
    ]


class _Capture(logging.Handler):
    """Keeps what the server logs at ERROR; with a traceback, that is a bug
    it caught and answered with its "internal error" message."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _State:
    def __init__(self) -> None:
        self.capture = _Capture()
        self.servers: list[MockServer] = []
        self.fresh_tids = 0
        self.reset()

    def reset(self) -> None:
        self.servers = [MockServer(cfg) for cfg in _configs()]


@cache
def _state() -> _State:
    return _State()


def seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted(Path(SEEDS_DIR / "server").glob("*.bin"))]


def _steer(server: MockServer, msg: PKIMessage, pick: int) -> PKIMessage:
    with server._lock:
        open_ = list(server._transactions.values())
    if not open_:
        return msg
    txn = open_[pick % len(open_)]
    header = dataclasses.replace(msg.header, transaction_id=txn.tid, recip_nonce=txn.sender_nonce)
    return PKIMessage(header, msg.body, msg.protection, msg.extra_certs)


def _protect(msg: PKIMessage, how: int) -> PKIMessage:
    plain = PKIMessage(msg.header, msg.body, None, msg.extra_certs)
    if how == 1:
        return protection.protect_pbm(plain, SECRET, ref=REF, iterations=100)
    if how == 3:
        return protection.protect_pbmac1(plain, SECRET, ref=REF, iterations=1)
    client = credential("client-ec")
    return protection.protect_signature(plain, client.key, client.cert)


def _prepare(
    state: _State, server: MockServer, der: bytes, selector: int, seen: Seen[str]
) -> bytes:
    """The request as the selector asks: steered, protected anew."""
    how, steer, fresh = (selector >> 2) & 3, selector & 0x10, selector & 0xF0 == 0xE0
    if not how and not steer and not fresh:
        return der
    msg = expect(seen, "prepare:from_der", (DecodeError, LimitError), PKIMessage.from_der, der)
    if msg is FAILED:
        return der
    if steer:
        msg = _steer(server, msg, selector >> 5)
    elif fresh:
        state.fresh_tids += 1
        tid = b"fuzz" + state.fresh_tids.to_bytes(12, "big")
        header = dataclasses.replace(msg.header, transaction_id=tid)
        msg = PKIMessage(header, msg.body, msg.protection, msg.extra_certs)
    if how:
        # EncodeError: values the decoder accepts and the encoder refuses,
        # a finding of the message target; here the request goes as it is.
        msg = expect(seen, "prepare:protect", (ProtectionError, EncodeError), _protect, msg, how)
        if msg is FAILED:
            return der
    out = expect(seen, "prepare:to_der", EncodeError, msg.to_der)
    return der if out is FAILED else out


def _internal_error(record: logging.LogRecord) -> PropertyFailed:
    """The finding for a bug the handler caught: named by the exception and
    the line of server.py it came through (what its owner has to change)."""
    assert record.exc_info is not None and record.exc_info[1] is not None
    exc = record.exc_info[1]
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.endswith("/cmp/server.py")]
    where = f" via server.py:{ours[-1].lineno}" if ours else ""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return PropertyFailed(
        f"the server answered 'internal error': {type(exc).__name__}{where}\n{text}"
    )


def run(data: bytes, seen: Seen[str]) -> None:
    if not data:
        return
    state = _state()
    selector, der = data[0], data[1:]
    server = state.servers[selector & 3]
    request = _prepare(state, server, der, selector, seen)
    state.capture.records.clear()
    log = logging.getLogger("cmp")
    log.addHandler(state.capture)
    try:
        response = server.handle(request)  # must never raise
    finally:
        log.removeHandler(state.capture)
    for record in state.capture.records:  # log.exception: a bug it caught
        if record.exc_info is not None:
            raise _internal_error(record)
    check(isinstance(response, bytes), "handle() did not return bytes")
    try:
        rsp = PKIMessage.from_der(response)
        touch_message(rsp, seen)
    except (DecodeError, LimitError) as e:
        raise PropertyFailed(f"the response does not decode\n{e}") from None
    check(rsp.body_type in _RESPONSES, f"the server answered with a {rsp.body_type}")
    seen[f"response={rsp.body_type}"] += 1
    if rsp.body_type == "error":
        strings = rsp.body.value.pki_status_info.status_string or ("",)
        seen[f"error={strings[0][:60]}"] += 1
    try:
        req_header = PKIMessage.from_der(request).header
    except (CMPError, ValueError):  # handle() answers these as undecodable
        req_header = None
    if req_header is not None and req_header.transaction_id is not None:
        check(
            rsp.header.transaction_id == req_header.transaction_id,
            "the response has another transactionID than the request",
        )
    if rsp.header.protection_alg is not None:
        try:
            protection.verify(rsp, secret=SECRET, cert=server.config.srv_cert)
        except ProtectionError as e:
            raise PropertyFailed(f"the server's response does not verify\n{e}") from None
        seen["response=protected"] += 1
    check(server.open_transactions <= MAX_TRANSACTIONS, "more open transactions than allowed")
    check(len(server._issued) <= _MAX_ISSUED, "more issued certificates kept than allowed")


def make_target() -> Target:
    return Target(
        name="server",
        doc="MockServer.handle: always a decodable, verifiable response",
        seeds=seeds,
        run=run,
        mutate=mutate_with_selector,
        reset=lambda: _state().reset(),
    )
