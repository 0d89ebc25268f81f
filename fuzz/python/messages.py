"""What the message, protection and server targets share: the seed
messages, DER tokens, and a walk over a decoded message that touches every
accessor of ``cmp.PKIMessage`` and of the ``cmp.asn1`` dataclasses.

The contract the walk checks: once ``PKIMessage.from_der`` has accepted the
bytes, the structural accessors (header, body, protection, extraCerts,
ProtectedPart, DER, status) never raise; accessors that interpret DER kept
raw (certificates, names, public keys, extensions, infoValues) may raise
only :class:`cmp.CMPError` subclasses (a ``DecodeError`` naming what was
wrong), never ``cryptography``'s or Python's own exceptions.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cmp import BODY_TYPES, CMPError, PKIMessage
from cmp import asn1 as A
from cmp.status import format_status_info
from fuzz.python.driver import Seen, check, expect
from fuzz.python.mutate import mutate_der

REPO = Path(__file__).resolve().parents[2]
RUST_SEEDS = REPO / "fuzz" / "seeds" / "pkimessage"

MAX_SIZE = 16384

_OIDS = (
    b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b",
    b"\x2a\x86\x48\xce\x3d\x04\x03\x02",
    b"\x2b\x65\x70",
    b"\x2b\x65\x71",
    b"\x2a\x86\x48\x86\xf6\x7d\x07\x42\x0d",
    b"\x2a\x86\x48\x86\xf7\x0d\x01\x05\x0e",
    b"\x2a\x86\x48\x86\xf7\x0d\x01\x05\x0c",
    b"\x2a\x86\x48\x86\xf7\x0d\x02\x09",
    b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a",
    b"\x2b\x06\x01\x05\x05\x07\x04\x0d",
    b"\x2b\x06\x01\x05\x05\x07\x04\x0f",
    b"\x2b\x06\x01\x05\x05\x07\x04\x11",
    b"\x2b\x06\x01\x05\x05\x07\x04\x16",
    b"\x2b\x06\x01\x05\x05\x07\x05\x01\x05",
    b"\x55\x04\x03",
    b"\x55\x04\x06",
    b"\x55\x1d\x0e",
    b"\x55\x1d\x0f",
    b"\x55\x1d\x11",
)
TOKENS: tuple[bytes, ...] = (
    *(b"\x06" + bytes([len(oid)]) + oid for oid in _OIDS),
    b"\x30\x00",
    b"\x31\x00",
    b"\x05\x00",
    b"\xa0\x00",
    b"\x02\x01\x00",
    b"\x02\x01\x02",
    b"\x02\x01\x03",
    b"\x04\x00",
    b"\x03\x01\x00",
    b"\x03\x02\x07\x80",
    b"\x0c\x00",
    b"\x18\x0f20240101000000Z",
    b"\x17\x0d240101000000Z",
)


def seed_messages() -> list[bytes]:
    """The committed seeds of the Rust ``pkimessage`` target (fuzz/seed.py)."""
    return [p.read_bytes() for p in sorted(RUST_SEEDS.iterdir()) if p.is_file()]


def mutate_message(data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    return mutate_der(data, rng, MAX_SIZE, others, TOKENS)


def mutate_with_selector(data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    """For inputs ``selector byte + DER``: the DER mutated, the selector now and then."""
    if not data:
        return bytes([rng.randrange(256)])
    selector, der = data[:1], data[1:]
    if rng.randrange(8) == 0:
        selector = bytes([rng.randrange(256)])
    else:
        der = mutate_der(der, rng, MAX_SIZE, [o[1:] for o in others[:64]], TOKENS)
    return selector + der


def _element_end(der: bytes, pos: int) -> tuple[int, int]:
    """(start of contents, end) of the element at ``pos`` of valid DER."""
    length = der[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    return start, start + length


def protected_part_of(der: bytes) -> bytes:
    """ProtectedPart ::= SEQUENCE { header, body } sliced from a PKIMessage."""
    start, _ = _element_end(der, 0)
    _, header_end = _element_end(der, start)
    _, body_end = _element_end(der, header_end)
    content = der[start:body_end]
    n = len(content)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)])
        + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return b"\x30" + length + content


# --- touching every accessor ------------------------------------------------------------

_INTERPRETING = CMPError  # what accessors of raw DER may raise


def _walk(value: Any, seen: Seen[str], depth: int) -> None:
    if depth > 12:
        return
    if isinstance(value, PKIMessage):
        if depth < 8:
            touch_message(value, seen, depth + 1)
        return
    if isinstance(value, (tuple, list)):
        for item in value:
            _walk(item, seen, depth + 1)
        return
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return
    if isinstance(value, A.CertTemplate):
        for method in ("subject_name", "issuer_name", "public_key_object", "extension_list"):
            expect(seen, f"CertTemplate.{method}", _INTERPRETING, getattr(value, method))
    elif isinstance(value, A.CertResponse):
        expect(seen, "CertResponse.certificate", _INTERPRETING, value.certificate)
    elif isinstance(value, A.GeneralName):
        expect(seen, f"GeneralName.{value.kind}", _INTERPRETING, value.to_cryptography)
    elif isinstance(value, A.InfoTypeAndValue):
        decoded = expect(seen, "InfoTypeAndValue.decoded", _INTERPRETING, value.decoded)
        _walk(decoded, seen, depth + 1)
    elif isinstance(value, A.PKIStatusInfo):
        value.fail_info_names
        format_status_info(value)
    for f in dataclasses.fields(value):
        _walk(getattr(value, f.name), seen, depth + 1)


def touch_message(msg: PKIMessage, seen: Seen[str], depth: int = 0) -> None:
    """Reads every accessor of a message ``from_der`` accepted, recursing
    into nested messages; raises :class:`PropertyFailed` for a broken rule."""
    kind = msg.body_type
    check(kind in BODY_TYPES, f"body_type {kind!r} is not a PKIBody alternative")
    header, body = msg.header, msg.body
    check(isinstance(header, A.PKIHeader), f"header is a {type(header).__name__}")
    check(isinstance(body, A.PKIBody) and body.kind == kind, "body.kind != body_type")
    protection, extra = msg.protection, msg.extra_certs
    check(protection is None or isinstance(protection, bytes), "protection is not bytes")
    check(isinstance(extra, tuple), "extra_certs is not a tuple")
    check(msg.transaction_id == header.transaction_id, "transaction_id accessor")
    check(msg.sender_nonce == header.sender_nonce, "sender_nonce accessor")
    check(msg.recip_nonce == header.recip_nonce, "recip_nonce accessor")
    der = msg.to_der()
    check(msg.protected_part() == protected_part_of(der), "protected_part is not the slice")
    msg.status_info()
    repr(msg)
    hash(msg)
    check(pickle.loads(pickle.dumps(msg)) == msg, "pickle round trip")
    expect(seen, "extra_certificates", _INTERPRETING, msg.extra_certificates)
    # encode(decode(der)) == der: the values re-encode to the very bytes.
    rebuilt = PKIMessage(header, body, protection, extra)
    again = expect(seen, "re-encode", (), rebuilt.to_der)
    check(again == der, f"re-encoding the decoded values gives other bytes\n(a {kind})")
    _walk(header, seen, depth)
    _walk(body, seen, depth)
    seen[f"~kind={kind}"] += 1
