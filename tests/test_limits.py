"""Limits before work, each with its default: how many elements one SEQUENCE
OF in a decoded message may have (certificates, requests, ITAVs, ...), the
RSA key sizes a response's signer may have, how long a client polls, and how
many PBM/PBKDF2 iterations a response may ask for. Every test runs
in-process against cmpkit's own mock server; nothing needs ``openssl``."""

from __future__ import annotations

import dataclasses
import datetime
import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from inprocess_pki import ir_request as ir
from inprocess_pki import mock_server as mock
from inprocess_pki import pbm_config as pbm
from inprocess_pki import sig_config as sig
from openssl_harness import Pki

from cmp import _native
from cmp import asn1 as A
from cmp.algorithms import PASSWORD_BASED_MAC, PBMAC1
from cmp.asn1 import (
    AlgorithmIdentifier,
    CertRepMessage,
    CertResponse,
    CertStatus,
    ErrorMsgContent,
    GeneralName,
    InfoTypeAndValue,
    PBKDF2Params,
    PBMAC1Params,
    PBMParameter,
    PKIBody,
    PKIHeader,
    PKIStatus,
    PKIStatusInfo,
    PollRepEntry,
    PollReqEntry,
    RevRepContent,
)
from cmp.client import Client
from cmp.errors import DecodeError, DecodeLimitError, LimitError, ProtectionError
from cmp.headers import name_of, request_header
from cmp.headers import response_header as make_response_header
from cmp.message import DecodeLimits, PKIMessage, decode_limits, set_decode_limits
from cmp.protection import protect_pbm
from cmp.requests import RevokeRequest, enroll_body, rr_body
from cmp.server import MockServer
from cmp.status import ServerError
from cmp.transaction import (
    Send,
    TotalTimeoutError,
    Transaction,
    TransactionConfig,
    Wait,
)
from cmp.transport import InProcessTransport

_DER = serialization.Encoding.DER

# --- set-up -------------------------------------------------------------------------------------


Tamper = Callable[[PKIMessage], PKIMessage]


def client(server: MockServer, config: TransactionConfig, tamper: Tamper | None = None) -> Client:
    """A client talking to ``server`` in-process, ``tamper`` applied to each
    response; a client that does not stop fails the test after 1000 requests."""
    calls = 0

    def handle(request: bytes) -> bytes:
        nonlocal calls
        calls += 1
        assert calls <= 1000, "the client does not stop"
        response = server.handle(request)
        return response if tamper is None else tamper(PKIMessage.from_der(response)).to_der()

    return Client(transport=InProcessTransport(handle), config=config)


@pytest.fixture
def restore_decode_limits() -> Iterator[DecodeLimits]:
    saved = decode_limits()
    yield saved
    set_decode_limits(**saved._asdict())


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(_DER)


# --- elements per SEQUENCE OF ---------------------------------------------------------------


def test_default_decode_limits() -> None:
    # 16 MiB, 64 levels, and a thousand elements in one SEQUENCE OF: more
    # than any CMP list carries (a CA bundle in a genp has ~150 certificates).
    assert decode_limits() == DecodeLimits(16 * 1024 * 1024, 64, 1000)


def _header(pki: Pki, **changes: Any) -> PKIHeader:
    header = request_header(
        sender=pki.enrolled.cert.subject,
        recipient=pki.server.cert.subject,
        transaction_id=os.urandom(16),
        recip_nonce=os.urandom(16),
    )
    return dataclasses.replace(header, **changes)


def _cert_response() -> CertResponse:
    return CertResponse(0, PKIStatusInfo(PKIStatus.accepted))


ITAV = InfoTypeAndValue("1.3.6.1.5.5.7.4.17")  # id-it-caCerts, no value

#: Each list of a message: how to make a message whose list has ``n`` elements.
LISTS: dict[str, Callable[[Pki, int], PKIMessage]] = {
    "extraCerts": lambda pki, n: PKIMessage(
        _header(pki), PKIBody("pkiconf", None), None, [der(pki.root.cert)] * n
    ),
    "caPubs": lambda pki, n: PKIMessage(
        _header(pki),
        PKIBody("ip", CertRepMessage((der(pki.root.cert),) * n, (_cert_response(),))),
    ),
    "CertRepMessage.response": lambda pki, n: PKIMessage(
        _header(pki), PKIBody("ip", CertRepMessage(None, (_cert_response(),) * n))
    ),
    "CertReqMessages": lambda pki, n: PKIMessage(
        _header(pki),
        PKIBody("ir", enroll_body(ir(pki), client_key=None, client_cert=None).value * n),
    ),
    "RevReqContent": lambda pki, n: PKIMessage(
        _header(pki), PKIBody("rr", rr_body(RevokeRequest(pki.enrolled.cert)).value * n)
    ),
    "RevRepContent.status": lambda pki, n: PKIMessage(
        _header(pki), PKIBody("rp", RevRepContent((PKIStatusInfo(PKIStatus.accepted),) * n))
    ),
    "GenMsgContent": lambda pki, n: PKIMessage(_header(pki), PKIBody("genm", (ITAV,) * n)),
    "GenRepContent": lambda pki, n: PKIMessage(_header(pki), PKIBody("genp", (ITAV,) * n)),
    "generalInfo": lambda pki, n: PKIMessage(
        _header(pki, general_info=(ITAV,) * n), PKIBody("pkiconf", None)
    ),
    "freeText": lambda pki, n: PKIMessage(
        _header(pki, free_text=("x",) * n), PKIBody("pkiconf", None)
    ),
    "statusString": lambda pki, n: PKIMessage(
        _header(pki),
        PKIBody("error", ErrorMsgContent(PKIStatusInfo(PKIStatus.rejection, ("x",) * n))),
    ),
    "CertConfirmContent": lambda pki, n: PKIMessage(
        _header(pki), PKIBody("certConf", (CertStatus(b"\x00" * 32, 0),) * n)
    ),
    "PollReqContent": lambda pki, n: PKIMessage(
        _header(pki), PKIBody("pollReq", (PollReqEntry(0),) * n)
    ),
    "PollRepContent": lambda pki, n: PKIMessage(
        _header(pki), PKIBody("pollRep", (PollRepEntry(0, 1),) * n)
    ),
    "PKIMessages (nested)": lambda pki, n: PKIMessage(
        _header(pki), PKIBody("nested", (PKIMessage(_header(pki), PKIBody("pkiconf", None)),) * n)
    ),
}


@pytest.mark.parametrize("where", sorted(LISTS))
def test_too_many_elements_in_a_list_is_a_limit_error(
    pki: Pki, where: str, restore_decode_limits: DecodeLimits
) -> None:
    make = LISTS[where]
    at_limit, over = make(pki, 4).to_der(), make(pki, 5).to_der()
    set_decode_limits(max_elements=4)
    msg = PKIMessage.from_der(at_limit)
    _ = msg.header, msg.body, msg.extra_certs  # decodes in full
    with pytest.raises(LimitError, match="more than 4 elements") as info:
        PKIMessage.from_der(over)
    # Also a DecodeError (what a server answers badRequest to), naming the list.
    assert isinstance(info.value, DecodeLimitError) and isinstance(info.value, DecodeError)
    assert info.value.path is not None and info.value.path.startswith("PKIMessage")


def test_element_limit_also_guards_itav_values(
    pki: Pki, restore_decode_limits: DecodeLimits
) -> None:
    # The caCerts of a genp (RFC 9483 §4.3.1) are decoded from the ITAV's value.
    value = A.encode("Certificates", (der(pki.root.cert),) * 5)
    set_decode_limits(max_elements=4)
    with pytest.raises(DecodeLimitError, match="Certificates"):
        InfoTypeAndValue("1.3.6.1.5.5.7.4.17", value).decoded()
    set_decode_limits(max_elements=5)
    assert len(InfoTypeAndValue("1.3.6.1.5.5.7.4.17", value).decoded()) == 5


def test_default_element_limit_refuses_1001_extra_certs(
    pki: Pki, restore_decode_limits: DecodeLimits
) -> None:
    make = LISTS["extraCerts"]
    assert len(PKIMessage.from_der(make(pki, 1000).to_der()).extra_certs) == 1000
    with pytest.raises(DecodeLimitError, match=r"more than 1000 elements .*extra_certs"):
        PKIMessage.from_der(make(pki, 1001).to_der())
    set_decode_limits(max_elements=1001)
    assert len(PKIMessage.from_der(make(pki, 1001).to_der()).extra_certs) == 1001


def _junk_requests(pki: Pki, n: int) -> bytes:
    """An ir whose CertReqMessages holds ``n`` empty SEQUENCEs (no CertReqMsg)."""
    header = A.encode("PKIHeader", _header(pki))
    content = b"\x30\x00" * n
    seq = b"\x30" + _length(len(content)) + content
    body = b"\xa0" + _length(len(seq)) + seq
    inner = header + body
    return b"\x30" + _length(len(inner)) + inner


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def test_elements_are_counted_before_any_is_parsed(
    pki: Pki, restore_decode_limits: DecodeLimits
) -> None:
    # 4 malformed requests: a schema error; 5: the limit, found before the
    # first of them is looked at.
    set_decode_limits(max_elements=4)
    with pytest.raises(DecodeError, match="malformed") as info:
        PKIMessage.from_der(_junk_requests(pki, 4))
    assert not isinstance(info.value, LimitError)
    with pytest.raises(DecodeLimitError):
        PKIMessage.from_der(_junk_requests(pki, 5))


def test_a_million_elements_are_refused_by_the_check_before_any_is_converted(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 MB of empty SEQUENCEs: one Python object each would take seconds and
    # hundreds of MB. The native check refuses the message; nothing of it is
    # ever turned into Python objects.
    checked: list[type[BaseException]] = []
    check_message = _native.check_message

    def check(der: bytes) -> str:
        try:
            return check_message(der)
        except BaseException as exc:
            checked.append(type(exc))
            raise

    monkeypatch.setattr(_native, "check_message", check)
    for name in ("decode_message", "decode_as"):
        monkeypatch.setattr(_native, name, _must_not_be_called(name))
    with pytest.raises(DecodeLimitError, match="more than 1000 elements") as info:
        PKIMessage.from_der(_junk_requests(pki, 1_000_000))
    assert checked == [DecodeLimitError]
    assert info.value.path == "PKIMessage > PKIMessage::body > PKIBody::Ir"


def _must_not_be_called(name: str) -> Callable[..., Any]:
    def called(*args: object) -> Any:
        pytest.fail(f"_native.{name} was called")

    return called


def test_names_with_too_many_rdns_are_refused(
    pki: Pki, restore_decode_limits: DecodeLimits
) -> None:
    many = x509.Name([x509.RelativeDistinguishedName([_cn(str(i))]) for i in range(5)])
    wide = x509.Name([x509.RelativeDistinguishedName([_cn(str(i)) for i in range(5)])])
    messages = [
        PKIMessage(_header(pki, sender=GeneralName.directory_name(n)), PKIBody("pkiconf", None))
        for n in (many, wide)
    ]
    set_decode_limits(max_elements=4)
    for msg in messages:
        with pytest.raises(DecodeLimitError):
            name_of(PKIMessage.from_der(msg.to_der()).header.sender)
    set_decode_limits(max_elements=5)
    for msg, name in zip(messages, (many, wide)):
        assert name_of(PKIMessage.from_der(msg.to_der()).header.sender) == name


def _cn(value: str) -> x509.NameAttribute[str]:
    return x509.NameAttribute(x509.NameOID.COMMON_NAME, value)


def test_set_decode_limits_validates_and_returns_the_old_ones(
    restore_decode_limits: DecodeLimits,
) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        set_decode_limits(max_elements=0)
    old = set_decode_limits(max_elements=7)
    assert old == restore_decode_limits
    assert decode_limits() == restore_decode_limits._replace(max_elements=7)


def test_client_refuses_a_response_with_too_many_certificates(
    pki: Pki, restore_decode_limits: DecodeLimits
) -> None:
    set_decode_limits(max_elements=3)
    server = mock(
        pki, rsp_extracerts=[pki.root.cert, pki.server.cert, pki.client.cert, pki.client_rsa.cert]
    )
    tx = Transaction(ir(pki), pbm(pki))
    response = server.handle(tx.start().message.to_der())
    with pytest.raises(DecodeLimitError):
        tx.receive(response)
    assert tx.state == "failed"


def test_server_answers_too_many_requests_with_an_error(
    pki: Pki, restore_decode_limits: DecodeLimits
) -> None:
    set_decode_limits(max_elements=2)
    request = LISTS["CertReqMessages"](pki, 3)
    answer = PKIMessage.from_der(
        mock(pki).handle(protect_pbm(request, pki.secret, ref=pki.ref).to_der())
    )
    assert answer.body_type == "error"
    assert answer.body.value.pki_status_info.status == PKIStatus.rejection


# --- RSA key sizes of a response's signer ------------------------------------------------------


def _rsa_key(bits: int) -> rsa.RSAPublicKey:
    """A public RSA key of ``bits`` bits (a random odd modulus: never used to verify)."""
    n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    return rsa.RSAPublicNumbers(65537, n).public_key()


def _signer_with_key(pki: Pki, key: rsa.RSAPublicKey, ski: bytes) -> x509.Certificate:
    """A certificate for the server's name with ``key``, issued by the test root,
    whose subject key identifier is ``ski``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(pki.server.cert.subject)
        .issuer_name(pki.root.cert.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
        .sign(pki.root.key, hashes.SHA256())
    )


def _signed_by_rsa_key(pki: Pki, bits: int) -> Tamper:
    """Responses claimed to be signed (sha256WithRSAEncryption) by a certificate
    with an RSA key of ``bits`` bits, sent in extraCerts; the signature is junk."""
    ski = os.urandom(20)
    cert = _signer_with_key(pki, _rsa_key(bits), ski)
    alg = AlgorithmIdentifier("1.2.840.113549.1.1.11", None)

    def tamper(msg: PKIMessage) -> PKIMessage:
        header = dataclasses.replace(msg.header, protection_alg=alg, sender_kid=ski)
        return PKIMessage(header, msg.body).with_protection(os.urandom(bits // 8), [der(cert)])

    return tamper


@pytest.mark.parametrize(
    ("bits", "reason"),
    [(16385, "larger than the maximum of 16384 bits"), (65536, "larger than the maximum"),
     (768, "smaller than the minimum of 1024 bits")],
)  # fmt: skip
def test_rsa_signer_key_size_is_checked_before_verifying(pki: Pki, bits: int, reason: str) -> None:
    with client(mock(pki), sig(pki), _signed_by_rsa_key(pki, bits)) as c:
        with pytest.raises(ProtectionError, match=f"RSA key of {bits} bits is {reason}"):
            c.run(ir(pki))


def test_rsa_signer_key_size_limits_are_configurable(pki: Pki) -> None:
    config = sig(pki, min_rsa_bits=512)
    with client(mock(pki), config, _signed_by_rsa_key(pki, 768)) as c:
        with pytest.raises(ProtectionError) as info:
            c.run(ir(pki))
    # Past cmpkit's check, the (junk) signature itself is what fails.
    assert "RSA key of" not in str(info.value)
    assert "signature" in str(info.value)


def test_rsa_signer_within_limits_is_accepted(pki: Pki) -> None:
    # The RSA client certificate of the test PKI (2048 bits) as server signer.
    server = mock(pki, srv_cert=pki.client_rsa.cert, srv_key=pki.client_rsa.key)
    config = sig(pki, expect_sender=pki.client_rsa.cert.subject)
    with client(server, config) as c:
        assert c.run(ir(pki)).cert == pki.enrolled.cert


# --- polling ----------------------------------------------------------------------------------


class FakeTime:
    """A monotonic clock, and a sleep that only moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr("cmp.client.time.sleep", fake.sleep)
    return fake


@pytest.mark.parametrize("check_after", [2**31 - 1, 2**63 - 1])
def test_polling_ends_although_the_server_always_answers_waiting(
    pki: Pki, fake_time: FakeTime, check_after: int
) -> None:
    # OpenSSL polls forever without -total_timeout; cmpkit caps each wait at
    # max_check_after (1 h) and the whole polling at max_poll_time (1 day).
    server = mock(pki, poll_count=10**9, check_after=check_after)
    with client(server, pbm(pki, clock=fake_time.clock)) as c:
        with pytest.raises(TotalTimeoutError, match="max_poll_time of 86400 s"):
            c.run(ir(pki))
    assert fake_time.slept and max(fake_time.slept) == 3600
    assert sum(fake_time.slept) == 86400
    assert len(fake_time.slept) == 24


def test_total_timeout_bounds_polling_instead(pki: Pki, fake_time: FakeTime) -> None:
    server = mock(pki, poll_count=10**9, check_after=2**31 - 1)
    config = pbm(pki, clock=fake_time.clock, total_timeout=100, max_poll_time=10)
    with client(server, config) as c:
        with pytest.raises(TotalTimeoutError, match="total_timeout of 100 s"):
            c.run(ir(pki))
    # As OpenSSL: each wait ends 5 s (a round trip) before the deadline.
    assert fake_time.slept == [95.0]


def test_max_poll_time_zero_polls_as_long_as_openssl(pki: Pki, fake_time: FakeTime) -> None:
    server = mock(pki, poll_count=40, check_after=2**31 - 1)
    config = pbm(pki, clock=fake_time.clock, max_poll_time=0)
    with client(server, config) as c:
        assert c.run(ir(pki)).cert == pki.enrolled.cert
    assert fake_time.slept == [3600.0] * 39


def test_polling_ends_when_the_server_keeps_answering_waiting_without_pollrep(pki: Pki) -> None:
    # Every pollReq answered with another "waiting" ip: no checkAfter, no
    # wait; each round trip takes a (fake) second until max_poll_time is up.
    fake = FakeTime()
    server = mock(pki, poll_count=10**9)

    def handle(request: bytes) -> bytes:
        fake.now += 1
        assert fake.now < 2000, "the client does not stop"
        answer = PKIMessage.from_der(server.handle(request))
        if answer.body_type == "pollRep":
            waiting = CertResponse(0, PKIStatusInfo(PKIStatus.waiting))
            body = PKIBody("ip", CertRepMessage(None, (waiting,)))
            answer = protect_pbm(PKIMessage(answer.header, body), pki.secret, ref=pki.srv_ref)
        return answer.to_der()

    config = pbm(pki, clock=fake.clock, max_poll_time=60)
    with Client(transport=InProcessTransport(handle), config=config) as c:
        with pytest.raises(TotalTimeoutError, match="max_poll_time of 60 s"):
            c.run(ir(pki))
    assert 60 <= fake.now - 1000 <= 62


def test_waits_are_capped_in_the_state_machine(pki: Pki) -> None:
    tx = Transaction(ir(pki), pbm(pki, max_check_after=30))
    request = tx.start().message
    header = make_response_header(request.header, pki.server.cert.subject)
    waiting = PKIBody(
        "ip", CertRepMessage(None, (CertResponse(0, PKIStatusInfo(PKIStatus.waiting)),))
    )
    poll = tx.receive(
        protect_pbm(PKIMessage(header, waiting), pki.secret, ref=pki.srv_ref).to_der()
    )
    assert isinstance(poll, Send)
    header = make_response_header(poll.message.header, pki.server.cert.subject)
    rep = PKIBody("pollRep", (PollRepEntry(0, 2**63 - 1),))
    wait = tx.receive(protect_pbm(PKIMessage(header, rep), pki.secret, ref=pki.srv_ref).to_der())
    assert isinstance(wait, Wait) and wait.seconds == 30


def test_negative_time_limits_are_refused() -> None:
    for name in ("total_timeout", "max_check_after", "max_poll_time"):
        with pytest.raises(ValueError, match=name):
            options: dict[str, Any] = {name: -1}
            TransactionConfig(secret=b"x", **options)


# --- iteration counts of MAC-protected responses -----------------------------------------------


def _pbm_params(iterations: int) -> AlgorithmIdentifier:
    params = PBMParameter(
        os.urandom(16),
        AlgorithmIdentifier("2.16.840.1.101.3.4.2.1"),  # SHA-256
        iterations,
        AlgorithmIdentifier("1.3.6.1.5.5.8.1.2"),  # HMAC-SHA1
    )
    return AlgorithmIdentifier(PASSWORD_BASED_MAC, A.encode("PBMParameter", params))


def _pbmac1_params(iterations: int) -> AlgorithmIdentifier:
    hmac_sha256 = AlgorithmIdentifier("1.2.840.113549.2.9", b"\x05\x00")
    kdf = PBKDF2Params(A.PBKDF2Salt("specified", os.urandom(16)), iterations, 32, hmac_sha256)
    params = PBMAC1Params(
        AlgorithmIdentifier("1.2.840.113549.1.5.12", A.encode("PBKDF2Params", kdf)), hmac_sha256
    )
    return AlgorithmIdentifier(PBMAC1, A.encode("PBMAC1Params", params))


def _with_mac_params(alg: AlgorithmIdentifier) -> Tamper:
    def tamper(msg: PKIMessage) -> PKIMessage:
        header = dataclasses.replace(msg.header, protection_alg=alg)
        return PKIMessage(header, msg.body).with_protection(os.urandom(20))

    return tamper


@pytest.fixture
def no_2_to_31_hashing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test if a PBM key or PBKDF2 is asked for 2^31 iterations
    (minutes of hashing, or a refusal that comes too late): the protection
    check refuses the count first. The names of such calls, to assert empty."""
    calls: list[str] = []

    def guard(name: str, position: int) -> None:
        derive = getattr(_native, name)

        def guarded(*args: Any) -> Any:
            if args[position] >= 2**31:
                calls.append(name)
                pytest.fail(f"_native.{name} asked for {args[position]} iterations")
            return derive(*args)

        monkeypatch.setattr(_native, name, guarded)

    guard("pbm_key", 2)  # (secret, salt, iterations, owf, min, max)
    guard("pbkdf2_hmac", 3)  # (prf, password, salt, iterations, key_len, min, max)
    return calls


@pytest.mark.parametrize("make_params", [_pbm_params, _pbmac1_params], ids=["PBM", "PBMAC1"])
def test_mac_response_with_2_to_31_iterations_is_refused_before_hashing(
    pki: Pki, make_params: Callable[[int], AlgorithmIdentifier], no_2_to_31_hashing: list[str]
) -> None:
    # 2^31 rounds of SHA-256 would take minutes: refused before the first one.
    for allowed in (False, True):
        with client(
            mock(pki), pbm(pki, unprotected_errors=allowed), _with_mac_params(make_params(2**31))
        ) as c:
            with pytest.raises(ProtectionError, match="2147483648 is outside"):
                c.run(ir(pki))
    assert no_2_to_31_hashing == []


def test_rejection_with_2_to_31_iterations_passes_without_hashing_only_as_unprotected_error(
    pki: Pki, no_2_to_31_hashing: list[str]
) -> None:
    with client(mock(pki, pkistatus=PKIStatus.rejection), pbm(pki, unprotected_errors=True),
                _with_mac_params(_pbm_params(2**31))) as c:  # fmt: skip
        with pytest.raises(ServerError):
            c.run(ir(pki))
    assert no_2_to_31_hashing == []


def test_iteration_limit_is_configurable(pki: Pki) -> None:
    tamper = _with_mac_params(_pbm_params(5000))
    with client(mock(pki), pbm(pki, max_pbm_iterations=4999), tamper) as c:
        with pytest.raises(ProtectionError, match=r"5000 is outside 100\.\.4999"):
            c.run(ir(pki))
    with client(mock(pki), pbm(pki), tamper) as c:  # computed: the junk MAC is what fails
        with pytest.raises(ProtectionError, match="does not match"):
            c.run(ir(pki))


@pytest.mark.parametrize("make_params", [_pbm_params, _pbmac1_params], ids=["PBM", "PBMAC1"])
def test_server_refuses_request_with_2_to_31_iterations_before_hashing(
    pki: Pki, make_params: Callable[[int], AlgorithmIdentifier], no_2_to_31_hashing: list[str]
) -> None:
    tx = Transaction(ir(pki), pbm(pki))
    request = _with_mac_params(make_params(2**31))(tx.start().message)
    answer = PKIMessage.from_der(mock(pki).handle(request.to_der()))
    assert answer.body_type == "error"
    assert no_2_to_31_hashing == []


# --- RSA key sizes wherever a signature is verified ---------------------------------------


def _rsa_public_key(bits: int) -> rsa.RSAPublicKey:
    # A modulus of exactly ``bits`` bits (odd, no key behind it): enough to be refused.
    return rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | 1).public_key()


@pytest.mark.parametrize("bits", [16385, 65536])
def test_verify_signature_refuses_rsa_keys_above_the_maximum(bits: int) -> None:
    from cmp.algorithms import SignatureScheme
    from cmp.protection import verify_signature

    scheme = SignatureScheme(name="sha256WithRSAEncryption", key_type="rsa", digest="sha256")
    with pytest.raises(ValueError, match=f"RSA key of {bits} bits is larger than .* 16384"):
        verify_signature(_rsa_public_key(bits), scheme, b"\x00" * (bits // 8), b"data")
