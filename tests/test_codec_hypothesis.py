"""Properties of the PKIMessage codec over random values and random bytes.

- Any message built from values (every body kind, every CHOICE alternative,
  see :mod:`strategies`) decodes back to equal header, body, protection and
  extraCerts, and re-encodes to the same bytes.
- The infoTypes cmpkit knows decode back to the values they were made from.
- Random bytes, random DER trees and random mutations of real OpenSSL
  messages either decode or raise :class:`cmp.DecodeError`; nothing else.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openssl_harness import CapturedMessages
from strategies import BODY_STRATEGIES, der_elements, pki_messages, tlv, typed_itavs

from cmp import BODY_TYPES, DecodeError, PKIMessage
from cmp import asn1 as A

# Sized so that the whole file runs in well under 20 s.
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
THOROUGH = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_all_fields(der: bytes) -> PKIMessage | None:
    """The message with every field decoded, or None on DecodeError (nothing else
    may escape); a decoded message re-encodes to exactly ``der``."""
    try:
        msg = PKIMessage.from_der(der)
        header, body, protection, extra = msg.header, msg.body, msg.protection, msg.extra_certs
        part = msg.protected_part()
    except DecodeError as e:
        assert e.offset is not None or e.path
        return None
    assert msg.body_type == body.kind
    assert isinstance(header, A.PKIHeader)
    assert protection is None or isinstance(protection, bytes)
    assert all(isinstance(c, bytes) for c in extra)
    assert part.startswith(b"\x30") and msg.to_der() == der
    return msg


def assert_round_trip(msg: PKIMessage) -> None:
    der = msg.to_der()
    again = PKIMessage.from_der(der)
    assert again.body_type == msg.body.kind
    assert again.header == msg.header
    assert again.body == msg.body
    assert again.protection == msg.protection
    assert again.extra_certs == msg.extra_certs
    assert again.to_der() == der
    rebuilt = PKIMessage(again.header, again.body, again.protection, again.extra_certs)
    assert rebuilt.to_der() == der
    assert again.protected_part() == msg.protected_part()


MESSAGES_OF_KIND = {kind: pki_messages(body) for kind, body in BODY_STRATEGIES.items()}


@pytest.mark.parametrize("kind", BODY_TYPES)
@FAST
@given(data=st.data())
def test_message_of_every_body_kind_round_trips_through_der(kind: str, data: Any) -> None:
    assert_round_trip(data.draw(MESSAGES_OF_KIND[kind], label="message"))


@THOROUGH
@given(msg=pki_messages())
def test_any_message_round_trips_through_der(msg: PKIMessage) -> None:
    assert_round_trip(msg)


@THOROUGH
@given(item=typed_itavs())
def test_known_info_type_values_decode_to_what_they_were_made_from(item: Any) -> None:
    _, value, itav = item
    assert itav.decoded() == value
    again = A.decode("InfoTypeAndValue", A.encode("InfoTypeAndValue", itav))
    assert again == itav and again.decoded() == value


@THOROUGH
@given(der=st.binary(max_size=300))
def test_random_bytes_decode_or_raise_decode_error(der: bytes) -> None:
    decode_all_fields(der)


@THOROUGH
@given(der=der_elements(4))
def test_random_der_trees_decode_or_raise_decode_error(der: bytes) -> None:
    decode_all_fields(der)
    decode_all_fields(tlv(0x30, der + der))


@THOROUGH
@given(data=st.data())
def test_random_mutations_of_openssl_messages_decode_or_raise_decode_error(
    captured_messages: CapturedMessages, data: Any
) -> None:
    protection = data.draw(st.sampled_from(["pbm", "sig"]))
    kind = data.draw(st.sampled_from(sorted(captured_messages[protection])))
    der = bytearray(data.draw(st.sampled_from(captured_messages[protection][kind])))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(der) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if action == "set":
            der[at] = data.draw(st.integers(0, 255))
        elif action == "insert":
            der[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif len(der) > 1:
            del der[at : at + data.draw(st.integers(1, 4))]
    decode_all_fields(bytes(der))


@THOROUGH
@given(data=st.data())
def test_splicing_der_elements_into_openssl_messages_decodes_or_raises_decode_error(
    captured_messages: CapturedMessages, data: Any
) -> None:
    """A random well-formed element in place of a random element of a real
    message: the structure stays DER, so the schema parser has to judge it."""
    der = data.draw(
        st.sampled_from(captured_messages["sig"]["ip"] + captured_messages["pbm"]["ir"])
    )
    starts = [i for i in range(len(der)) if der[i] in (0x02, 0x04, 0x06, 0x0C, 0x30, 0xA0, 0xA1)]
    start = data.draw(st.sampled_from(starts))
    try:
        end = _element_end(der, start)
    except ValueError:
        return
    replacement = data.draw(der_elements(2))
    spliced = der[:start] + replacement + der[end:]
    decode_all_fields(_fix_outer_length(spliced))


def _element_end(der: bytes, pos: int) -> int:
    if pos + 1 >= len(der):
        raise ValueError
    first = der[pos + 1]
    content = pos + 2
    length = first
    if first & 0x80:
        count = first & 0x7F
        if not 0 < count <= 3:
            raise ValueError
        length = int.from_bytes(der[content : content + count], "big")
        content += count
    if content + length > len(der):
        raise ValueError
    return content + length


def _fix_outer_length(der: bytes) -> bytes:
    """Re-frames the outer SEQUENCE; inner lengths stay as they were (and may lie)."""
    first = der[1]
    header = 2 + (first & 0x7F if first & 0x80 else 0)
    return tlv(0x30, der[header:])
