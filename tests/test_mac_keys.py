"""Derived MAC keys: each side of a transaction derives its PBM/PBKDF2 key once
(cmp._mac remembers it; the client and the mock server use one salt per
transaction), with the same MACs and the same limits as deriving afresh."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cmp import _mac, _native
from cmp.asn1 import PBMParameter, PKIBody, decode
from cmp.client import Client
from cmp.dn import parse_dn
from cmp.headers import request_header
from cmp.message import PKIMessage
from cmp.protection import protect_pbm, verify
from cmp.requests import EnrollRequest
from cmp.server import MockServer, MockServerConfig
from cmp.transaction import TransactionConfig
from cmp.transport import InProcessTransport

SECRET = b"derived-key-secret"


def test_remembered_key_gives_the_mac_of_a_fresh_derivation() -> None:
    fresh = _native.pbm(SECRET, b"salt-0001", 777, "sha256", "hmac-sha1", b"data")
    first = _mac.password_based_mac(SECRET, b"salt-0001", 777, "sha256", "hmac-sha1", b"data")
    again = _mac.password_based_mac(SECRET, b"salt-0001", 777, "sha256", "hmac-sha1", b"data")
    assert first == again == fresh
    other = _mac.password_based_mac(SECRET, b"salt-0001", 777, "sha256", "hmac-sha1", b"other")
    assert other == _native.pbm(SECRET, b"salt-0001", 777, "sha256", "hmac-sha1", b"other")


@pytest.mark.parametrize(
    "change",
    [
        {"secret": b"another secret"},
        {"salt": b"salt-0002"},
        {"iterations": 778},
        {"owf": "sha512"},
    ],
)
def test_any_change_of_the_key_inputs_changes_the_mac(change: dict[str, Any]) -> None:
    base: dict[str, Any] = {"secret": SECRET, "salt": b"salt-0001", "iterations": 777}
    base["owf"] = "sha256"
    mac = _mac.password_based_mac(**base, mac="hmac-sha1", data=b"data")
    changed = {**base, **change}
    other = _mac.password_based_mac(**changed, mac="hmac-sha1", data=b"data")
    assert other != mac
    assert other == _native.pbm(
        changed["secret"], changed["salt"], changed["iterations"], changed["owf"], "hmac-sha1",
        b"data",
    )  # fmt: skip


def test_limits_hold_for_a_remembered_key() -> None:
    _mac.password_based_mac(SECRET, b"salt-lim1", 5000, "sha256", "hmac-sha1", b"x")
    with pytest.raises(ValueError, match="iteration"):
        _mac.password_based_mac(
            SECRET, b"salt-lim1", 5000, "sha256", "hmac-sha1", b"x", max_iterations=4999
        )


def test_a_mac_that_is_no_hmac_is_refused_even_with_a_remembered_key() -> None:
    _mac.password_based_mac(SECRET, b"salt-mac1", 500, "sha256", "hmac-sha1", b"x")
    with pytest.raises(ValueError, match="unknown MAC algorithm"):
        _mac.password_based_mac(SECRET, b"salt-mac1", 500, "sha256", "sha1", b"x")


def test_pbmac1_remembers_its_pbkdf2_key() -> None:
    args = ("hmac-sha256", "hmac-sha256", SECRET, b"pbmac1-salt", 1000, 32)
    fresh = _native.pbmac1(*args, b"data")
    assert _mac.pbmac1(*args, b"data") == _mac.pbmac1(*args, b"data") == fresh


def test_derived_keys_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_mac, "MAX_DERIVED_KEYS", 4)
    for i in range(12):
        _mac.password_based_mac(SECRET, b"salt-%04d" % i, 100, "sha256", "hmac-sha1", b"x")
    assert len(_mac._keys) <= 4


def _salt(message: PKIMessage) -> bytes:
    alg = message.header.protection_alg
    assert alg is not None
    params: PBMParameter = decode("PBMParameter", alg.parameters)
    return params.salt


def test_one_salt_per_transaction_on_each_side() -> None:
    server = MockServer(MockServerConfig.generate(secret=SECRET))
    seen: list[tuple[PKIMessage, PKIMessage]] = []

    def handle(request: bytes) -> bytes:
        response = server.handle(request)
        seen.append((PKIMessage.from_der(request), PKIMessage.from_der(response)))
        return response

    config = TransactionConfig(secret=SECRET, ref=b"keys", trusted=[server.config.srv_cert])
    client = Client(transport=InProcessTransport(handle), config=config)
    request = EnrollRequest(
        new_key=ec.generate_private_key(ec.SECP256R1()), subject=parse_dn("/CN=k")
    )
    for _ in range(2):
        client.run(request)
    assert [(q.body_type, r.body_type) for q, r in seen] == [
        ("ir", "ip"),
        ("certConf", "pkiconf"),
    ] * 2
    for q, r in seen:
        verify(q, secret=SECRET)
        verify(r, secret=SECRET)
    first, second = seen[:2], seen[2:]
    for exchange in (first, second):
        assert _salt(exchange[0][0]) == _salt(exchange[1][0])  # the client's requests
        assert _salt(exchange[0][1]) == _salt(exchange[1][1])  # the server's answers
    assert _salt(first[0][0]) != _salt(second[0][0])
    assert _salt(first[0][1]) != _salt(second[0][1])
    assert _salt(first[0][0]) != _salt(first[0][1])


def test_protect_pbm_without_a_salt_draws_a_new_one() -> None:
    first, second = protect_pbm(_genm(), SECRET, ref=b"r"), protect_pbm(_genm(), SECRET, ref=b"r")
    assert _salt(first) != _salt(second)
    assert len(_salt(first)) == 16


def _genm() -> PKIMessage:
    header = request_header(sender=None, recipient=None, transaction_id=b"t" * 16)
    return PKIMessage(header, PKIBody("genm", ()))


def test_derived_key_table_holds_no_secret() -> None:
    secret = b"a secret that must not be kept"
    _mac.password_based_mac(secret, b"salt-tag1", 600, "sha256", "hmac-sha1", b"x")
    _mac.pbmac1("hmac-sha256", "hmac-sha256", secret, b"salt-tag2", 700, 32, b"x")
    for what in _mac._keys:
        assert secret not in what
        assert all(secret not in part for part in what if isinstance(part, bytes))
