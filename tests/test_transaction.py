"""The sans-I/O transaction (cmp.transaction) against the real OpenSSL mock
server (``openssl cmp -port 0``), and against responses made up here to break
one rule at a time."""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from inprocess_pki import ir_request as ir
from inprocess_pki import pbm_config, sig_config
from openssl_harness import MockServerFactory, OpensslServer, Pki, message_parts
from transaction_driver import drive, post

from cmp.asn1 import (
    CertifiedKeyPair,
    CertOrEncCert,
    CertRepMessage,
    CertResponse,
    ErrorMsgContent,
    FailInfo,
    GeneralName,
    PKIBody,
    PKIStatus,
    PKIStatusInfo,
    PollRepEntry,
    RevRepContent,
)
from cmp.dn import parse_dn
from cmp.errors import ProtectionError
from cmp.headers import IMPLICIT_CONFIRM, has_implicit_confirm, name_of, parse_geninfo
from cmp.headers import response_header as make_response_header
from cmp.itav import OID_BY_NAME, make_itav
from cmp.message import PKIMessage
from cmp.protection import protect_pbm, protect_signature
from cmp.transaction import (
    CertificateRejected,
    Done,
    EnrollRequest,
    GeneralRequest,
    ResponseError,
    RevokeRequest,
    Send,
    ServerError,
    TotalTimeoutError,
    Transaction,
    TransactionConfig,
    TransactionStateError,
    Wait,
)
from cmp.verify import VerificationError

# --- configurations -------------------------------------------------------------------------


CONFIGS: dict[str, Callable[..., TransactionConfig]] = {"pbm": pbm_config, "sig": sig_config}


@pytest.fixture(params=sorted(CONFIGS))
def config_for(request: pytest.FixtureRequest) -> Callable[..., TransactionConfig]:
    """Each way of protecting: ``config_for(pki, **options)``."""
    return CONFIGS[request.param]


@pytest.fixture
def server(openssl_mock_server: MockServerFactory) -> OpensslServer:
    return openssl_mock_server()


def kinds(messages: Any) -> list[str]:
    return [m.body_type for m in messages]


# --- every command against OpenSSL ----------------------------------------------------------


def test_ir_enrolls_and_confirms(pki: Pki, server: OpensslServer, config_for: Any) -> None:
    result = drive(Transaction(ir(pki), config_for(pki)), server.url).result
    assert result.cert == pki.enrolled.cert
    assert kinds(result.messages) == ["ir", "ip", "certConf", "pkiconf"]
    assert result.status == PKIStatusInfo(PKIStatus.accepted)
    assert result.ca_pubs == (pki.root.cert,)
    assert not result.implicit_confirm_granted


def test_cr_enrolls(pki: Pki, server: OpensslServer, config_for: Any) -> None:
    request = EnrollRequest("cr", new_key=pki.new_key, subject=pki.enrolled.cert.subject)
    result = drive(Transaction(request, config_for(pki)), server.url).result
    assert kinds(result.messages) == ["cr", "cp", "certConf", "pkiconf"]
    assert result.cert == pki.enrolled.cert


def test_kur_updates_oldcert(pki: Pki, server: OpensslServer, config_for: Any) -> None:
    request = EnrollRequest("kur", new_key=pki.new_key, oldcert=pki.enrolled.cert)
    result = drive(Transaction(request, config_for(pki)), server.url).result
    assert kinds(result.messages) == ["kur", "kup", "certConf", "pkiconf"]
    assert result.cert == pki.enrolled.cert


def test_kur_defaults_to_the_client_certificate(pki: Pki, server: OpensslServer) -> None:
    # The enrolled credential signs its own renewal; no oldcert, no new key.
    config = TransactionConfig(
        cert=pki.enrolled.cert, key=pki.enrolled.key, trusted=[pki.root.cert]
    )
    result = drive(Transaction(EnrollRequest("kur"), config), server.url).result
    assert result.cert == pki.enrolled.cert
    (msg,) = result.sent[0].body.value
    assert msg.cert_req.controls is not None  # oldCertID of the client certificate


def test_p10cr_uses_cert_req_id_minus_one(pki: Pki, server: OpensslServer, config_for: Any) -> None:
    request = EnrollRequest("p10cr", csr=pki.csr)
    result = drive(Transaction(request, config_for(pki)), server.url).result
    assert kinds(result.messages) == ["p10cr", "cp", "certConf", "pkiconf"]
    assert result.cert == pki.enrolled.cert
    assert result.sent[1].body.value[0].cert_req_id == -1


def test_ir_from_csr(pki: Pki, server: OpensslServer) -> None:
    request = EnrollRequest("ir", csr=pki.csr, new_key=pki.new_key)
    result = drive(Transaction(request, pbm_config(pki)), server.url).result
    assert result.cert == pki.enrolled.cert
    template = result.sent[0].body.value[0].cert_req.cert_template
    assert template.subject_name() == pki.csr.subject


def test_rr_revokes(pki: Pki, server: OpensslServer, config_for: Any) -> None:
    request = RevokeRequest(pki.enrolled.cert, reason=1)
    result = drive(Transaction(request, config_for(pki)), server.url).result
    assert kinds(result.messages) == ["rr", "rp"]
    assert result.rev_status is not None
    assert result.rev_status.status == PKIStatus.accepted
    assert result.cert is None


def test_genm_without_infotypes(pki: Pki, server: OpensslServer, config_for: Any) -> None:
    result = drive(Transaction(GeneralRequest(), config_for(pki)), server.url).result
    assert kinds(result.messages) == ["genm", "genp"]
    assert result.genp_itavs == ()


def test_genm_returns_genp_itavs(pki: Pki, server: OpensslServer) -> None:
    request = GeneralRequest.for_infotypes("signKeyPairTypes")
    result = drive(Transaction(request, pbm_config(pki)), server.url).result
    assert [i.info_type for i in result.genp_itavs] == [OID_BY_NAME["signKeyPairTypes"]]


def test_signature_with_rsa_client(pki: Pki, server: OpensslServer) -> None:
    config = TransactionConfig(
        cert=pki.client_rsa.cert, key=pki.client_rsa.key, trusted=[pki.root.cert]
    )
    assert drive(Transaction(ir(pki), config), server.url).result.cert == pki.enrolled.cert


def test_signature_with_rsa_pss_client(pki: Pki, server: OpensslServer) -> None:
    config = TransactionConfig(
        cert=pki.client_rsa.cert, key=pki.client_rsa.key, trusted=[pki.root.cert], pss=True
    )
    assert drive(Transaction(ir(pki), config), server.url).result.cert == pki.enrolled.cert


def test_pbm_with_other_digest_and_mac(pki: Pki, server: OpensslServer) -> None:
    config = pbm_config(pki, digest="sha512", mac="hmacWithSHA256", pbm_iterations=1000)
    result = drive(Transaction(ir(pki), config), server.url).result
    assert result.cert == pki.enrolled.cert


def test_unprotected_requests_accepted_by_server(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-accept_unprotected"])
    # The server signs its answers: the root is needed to check them.
    config = TransactionConfig(
        unprotected_requests=True, recipient=pki.server.cert.subject, trusted=[pki.root.cert]
    )
    result = drive(Transaction(ir(pki), config), server.url).result
    assert result.sent[0].protection is None
    assert result.cert == pki.enrolled.cert


# --- headers and protection of our requests ------------------------------------------------


def test_pbm_request_header_as_openssl(pki: Pki, server: OpensslServer) -> None:
    result = drive(Transaction(ir(pki), pbm_config(pki)), server.url).result
    first, conf = result.sent[0].header, result.sent[1].header
    # Without -cert the sender is -subject; recipient is -recipient; senderKID is -ref.
    assert name_of(first.sender) == pki.enrolled.cert.subject
    assert name_of(first.recipient) == pki.server.cert.subject
    assert first.sender_kid == pki.ref.encode()
    assert first.pvno == 2 and first.recip_nonce is None
    assert len(first.transaction_id or b"") == 16 and len(first.sender_nonce or b"") == 16
    # Later requests: same transactionID, the server's senderNonce as recipNonce.
    assert conf.transaction_id == first.transaction_id
    assert conf.recip_nonce == result.received[0].header.sender_nonce
    assert conf.sender_nonce != first.sender_nonce


def test_signed_request_header_and_extracerts(pki: Pki, server: OpensslServer) -> None:
    result = drive(Transaction(ir(pki), sig_config(pki)), server.url).result
    first = result.sent[0]
    assert name_of(first.header.sender) == pki.client.cert.subject
    assert name_of(first.header.recipient) == pki.client.cert.issuer
    ski = pki.client.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert first.header.sender_kid == ski.value.digest
    assert first.extra_certificates()[0] == pki.client.cert


def test_own_trusted_validates_own_chain(pki: Pki, server: OpensslServer) -> None:
    config = sig_config(pki, own_trusted=[pki.root.cert])
    assert drive(Transaction(ir(pki), config), server.url).result.cert == pki.enrolled.cert
    bad = sig_config(pki, own_trusted=[pki.server.cert])
    with pytest.raises(VerificationError):
        Transaction(ir(pki), bad).start()


def test_geninfo_goes_in_every_request(pki: Pki, server: OpensslServer) -> None:
    config = pbm_config(pki, geninfo=parse_geninfo("1.2.3.4:int:7"), free_text=["hi"])
    result = drive(Transaction(ir(pki), config), server.url).result
    for message in result.sent:
        assert message.header.general_info is not None
        assert message.header.general_info[-1].info_type == "1.2.3.4"
        assert message.header.free_text == ("hi",)


# --- confirmation -----------------------------------------------------------------------------


def test_implicit_confirm_granted_skips_certconf(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-grant_implicitconf"])
    result = drive(Transaction(ir(pki), pbm_config(pki, implicit_confirm=True)), server.url).result
    assert kinds(result.messages) == ["ir", "ip"]
    assert result.implicit_confirm_granted
    assert has_implicit_confirm(result.sent[0].header)


def test_implicit_confirm_requested_but_not_granted_confirms(
    pki: Pki, server: OpensslServer
) -> None:
    result = drive(Transaction(ir(pki), pbm_config(pki, implicit_confirm=True)), server.url).result
    assert kinds(result.messages) == ["ir", "ip", "certConf", "pkiconf"]
    assert not result.implicit_confirm_granted


def test_implicit_confirm_not_requested_is_not_asked_for(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-grant_implicitconf"])
    result = drive(Transaction(ir(pki), pbm_config(pki)), server.url).result
    assert kinds(result.messages) == ["ir", "ip", "certConf", "pkiconf"]
    assert result.sent[0].header.general_info is None


def test_disable_confirm_sends_no_certconf(pki: Pki, server: OpensslServer) -> None:
    result = drive(Transaction(ir(pki), pbm_config(pki, disable_confirm=True)), server.url).result
    assert kinds(result.messages) == ["ir", "ip"]


def test_key_mismatch_rejects_certificate_in_certconf(pki: Pki, server: OpensslServer) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    request = EnrollRequest("ir", new_key=other_key, subject=pki.enrolled.cert.subject)
    tx = Transaction(request, pbm_config(pki))
    with pytest.raises(CertificateRejected, match="does not match our enrollment key") as info:
        drive(tx, server.url)
    assert kinds(tx.sent) == ["ir", "certConf"] and kinds(tx.received) == ["ip", "pkiconf"]
    (status,) = tx.sent[1].body.value
    assert status.status_info.status == PKIStatus.rejection
    assert status.status_info.fail_info == FailInfo.incorrectData
    assert "does not match" in status.status_info.status_string[0]
    assert info.value.cert == pki.enrolled.cert
    assert "certificate rejected by client" in server.log()


def test_out_trusted_validates_new_certificate(pki: Pki, server: OpensslServer) -> None:
    config = pbm_config(pki, out_trusted=[pki.root.cert])
    result = drive(Transaction(ir(pki), config), server.url).result
    assert result.cert == pki.enrolled.cert
    assert result.chain == ()  # the root is self-signed: not part of the chain


def test_out_trusted_failure_rejects_certificate(pki: Pki, server: OpensslServer) -> None:
    config = pbm_config(pki, out_trusted=[pki.client_rsa.cert])
    tx = Transaction(ir(pki), config)
    with pytest.raises(CertificateRejected, match="failed to validate newly enrolled cert"):
        drive(tx, server.url)
    assert tx.sent[-1].body.value[0].status_info.status == PKIStatus.rejection


def test_certconf_callback_decides(pki: Pki, server: OpensslServer) -> None:
    seen: list[x509.Certificate] = []

    def reject(cert: x509.Certificate, fail_info: int, text: str | None) -> tuple[int, str | None]:
        seen.append(cert)
        return int(FailInfo.badCertTemplate), None

    tx = Transaction(ir(pki), pbm_config(pki, certconf_cb=reject))
    with pytest.raises(CertificateRejected, match="CMP client did not accept it"):
        drive(tx, server.url)
    assert seen == [pki.enrolled.cert]


# --- polling -----------------------------------------------------------------------------------


def test_polling_waits_check_after(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-poll_count", "2", "-check_after", "1"])
    driven = drive(Transaction(ir(pki), pbm_config(pki)), server.url)
    assert driven.waits == [1.0]
    assert kinds(driven.result.messages) == [
        "ir", "ip", "pollReq", "pollRep", "pollReq", "ip", "certConf", "pkiconf",
    ]  # fmt: skip
    assert driven.result.cert == pki.enrolled.cert
    assert driven.result.sent[1].body.value[0].cert_req_id == 0


def test_polling_p10cr(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-poll_count", "2", "-check_after", "0"])
    driven = drive(Transaction(EnrollRequest("p10cr", csr=pki.csr), pbm_config(pki)), server.url)
    assert driven.result.cert == pki.enrolled.cert
    polls = [m for m in driven.result.sent if m.body_type == "pollReq"]
    assert polls and all(m.body.value[0].cert_req_id == -1 for m in polls)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wait_is_bounded_by_total_timeout(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-poll_count", "3", "-check_after", "30"])
    clock = FakeClock()
    config = pbm_config(pki, total_timeout=20, clock=clock)
    driven = drive(Transaction(ir(pki), config), server.url, sleep=lambda s: None)
    # 20 s in all, 5 s kept for the last round trip (as OpenSSL): wait 15 s.
    assert driven.waits == [15.0, 15.0]


def test_total_timeout_exceeded_while_polling(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-poll_count", "4", "-check_after", "2"])
    clock = FakeClock()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    tx = Transaction(ir(pki), pbm_config(pki, total_timeout=8, clock=clock))
    with pytest.raises(TotalTimeoutError):
        drive(tx, server.url, sleep=sleep)
    assert waits == [2.0, 1.0]  # the second wait ends 5 s before the deadline
    assert tx.state == "failed"


def test_max_check_after_caps_each_wait(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-poll_count", "2", "-check_after", "60"])
    driven = drive(Transaction(ir(pki), pbm_config(pki, max_check_after=0.5)), server.url)
    assert driven.waits == [0.5]


# --- negative answers -----------------------------------------------------------------------


def test_error_body_raises_server_error(
    pki: Pki, openssl_mock_server: MockServerFactory, config_for: Any
) -> None:
    server = openssl_mock_server(["-send_error"])
    with pytest.raises(ServerError) as info:
        drive(Transaction(ir(pki), config_for(pki)), server.url)
    e = info.value
    assert e.body_type == "error"
    assert e.status == PKIStatus.rejection
    assert e.fail_info_names == ["badRequest"]
    assert str(e).startswith(
        'received error: PKIStatus: rejection; PKIFailureInfo: badRequest; StatusString: "'
    )
    assert e.error_details


def test_rejection_status_raises_server_error(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-pkistatus", "2", "-failure", "2", "-statusstring", "no way"])
    tx = Transaction(ir(pki), pbm_config(pki))
    with pytest.raises(ServerError) as info:
        drive(tx, server.url)
    assert str(info.value) == (
        "request rejected by server: PKIStatus: rejection; PKIFailureInfo: badRequest;"
        ' StatusString: "no way"'
    )
    assert info.value.body_type == "ip"
    assert info.value.status_strings == ("no way",)
    assert kinds(tx.sent) == ["ir"]


def test_rr_rejection_raises_server_error(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-pkistatus", "2", "-failurebits", "1024"])
    with pytest.raises(ServerError) as info:
        drive(Transaction(RevokeRequest(pki.enrolled.cert), pbm_config(pki)), server.url)
    assert info.value.body_type == "rp"
    assert info.value.fail_info_names == ["certRevoked"]


def test_granted_with_mods_is_accepted(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-pkistatus", "1"])
    result = drive(Transaction(ir(pki), pbm_config(pki)), server.url).result
    assert result.status is not None and result.status.status == PKIStatus.grantedWithMods


def test_key_update_warning_only_for_kur(pki: Pki, openssl_mock_server: MockServerFactory) -> None:
    server = openssl_mock_server(["-pkistatus", "6"])
    with pytest.raises(ServerError, match="unexpected keyUpdateWarning"):
        drive(Transaction(ir(pki), pbm_config(pki)), server.url)
    kur = EnrollRequest("kur", new_key=pki.new_key, oldcert=pki.enrolled.cert)
    assert drive(Transaction(kur, pbm_config(pki)), server.url).result.cert == pki.enrolled.cert


@pytest.mark.parametrize(
    ("popo", "reason"),
    [(-1, "popo missing"), (0, "raverified not accepted"), (2, "unsupported popo")],
)
def test_popo_refused_by_openssl(pki: Pki, server: OpensslServer, popo: int, reason: str) -> None:
    with pytest.raises(ServerError, match=reason) as info:
        drive(Transaction(ir(pki, popo=popo), pbm_config(pki)), server.url)
    assert info.value.fail_info_names == ["badPOP"]


def test_popo_raverified_accepted_when_server_allows(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-accept_raverified"])
    result = drive(Transaction(ir(pki, popo=0), pbm_config(pki)), server.url).result
    assert result.cert == pki.enrolled.cert


# --- responses that must be refused ------------------------------------------------------------


def _flip_last_protection_byte(_: PKIMessage, data: bytes) -> bytes:
    protection = message_parts(data).protection
    assert protection is not None
    flipped = bytearray(data)
    flipped[protection.end - 1] ^= 0x01
    return bytes(flipped)


def test_flipped_protection_byte_is_refused(
    pki: Pki, server: OpensslServer, config_for: Any
) -> None:
    tx = Transaction(ir(pki), config_for(pki))
    with pytest.raises(ProtectionError):
        drive(tx, server.url, tamper=_flip_last_protection_byte)
    assert tx.state == "failed"
    assert isinstance(tx.error, ProtectionError)
    assert kinds(tx.messages) == ["ir", "ip"]
    with pytest.raises(TransactionStateError):
        tx.receive(b"")


def test_response_to_another_transaction_is_refused(pki: Pki, server: OpensslServer) -> None:
    first, second = Transaction(ir(pki), pbm_config(pki)), Transaction(ir(pki), pbm_config(pki))
    answer = post(server.url, first.start().message)
    second.start()
    with pytest.raises(ResponseError, match="transactionID"):
        second.receive(answer)


def test_unprotected_error_refused_without_unprotected_errors(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-send_error", "-send_unprot_err"])
    with pytest.raises(ProtectionError, match="not protected"):
        drive(Transaction(ir(pki), pbm_config(pki)), server.url)


def test_unprotected_error_accepted_with_unprotected_errors(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-send_error", "-send_unprot_err"])
    with pytest.raises(ServerError, match="received error"):
        drive(Transaction(ir(pki), pbm_config(pki, unprotected_errors=True)), server.url)


def test_unprotected_rejection_accepted_with_unprotected_errors(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-pkistatus", "2", "-send_unprot_err"])
    with pytest.raises(ServerError, match="request rejected by server"):
        drive(Transaction(ir(pki), pbm_config(pki, unprotected_errors=True)), server.url)


def test_unprotected_positive_answer_is_refused_even_with_unprotected_errors(
    pki: Pki, openssl_mock_server: MockServerFactory
) -> None:
    server = openssl_mock_server(["-send_unprotected"])
    with pytest.raises(ProtectionError, match="ip response is not protected"):
        drive(Transaction(ir(pki), pbm_config(pki, unprotected_errors=True)), server.url)


def test_signed_response_needs_trust(pki: Pki, server: OpensslServer) -> None:
    config = TransactionConfig(cert=pki.client.cert, key=pki.client.key)
    with pytest.raises(ProtectionError, match="neither srvcert nor trusted"):
        drive(Transaction(ir(pki), config), server.url)


def test_pinned_srvcert(pki: Pki, server: OpensslServer) -> None:
    config = TransactionConfig(cert=pki.client.cert, key=pki.client.key, srvcert=pki.server.cert)
    result = drive(Transaction(ir(pki), config), server.url).result
    assert name_of(result.sent[0].header.recipient) == pki.server.cert.subject
    assert result.cert == pki.enrolled.cert


def test_wrong_srvcert_is_refused(pki: Pki, server: OpensslServer) -> None:
    config = TransactionConfig(
        cert=pki.client.cert, key=pki.client.key, srvcert=pki.client_rsa.cert,
        recipient=pki.server.cert.subject,
    )  # fmt: skip
    with pytest.raises(ResponseError, match="expected sender"):
        drive(Transaction(ir(pki), config), server.url)
    pinned = dataclasses.replace(config, expect_sender=pki.server.cert.subject)
    with pytest.raises(ProtectionError):
        drive(Transaction(ir(pki), pinned), server.url)


def test_expect_sender_mismatch_is_refused(pki: Pki, server: OpensslServer) -> None:
    config = pbm_config(pki, expect_sender=parse_dn("/CN=someone else"))
    with pytest.raises(ResponseError, match="expected sender"):
        drive(Transaction(ir(pki), config), server.url)


def test_expect_sender_match(pki: Pki, server: OpensslServer) -> None:
    config = sig_config(pki, expect_sender=parse_dn("/O=CMPKIT TESTS/CN=cmpkit test cmp server"))
    assert drive(Transaction(GeneralRequest(), config), server.url).result.genp_itavs == ()


def _resign_as_impostor(pki: Pki) -> Callable[[PKIMessage, bytes], bytes]:
    """Re-signs responses with a self-made certificate bearing the server's name."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.server.cert.subject)
        .issuer_name(pki.server.cert.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )

    def tamper(_: PKIMessage, data: bytes) -> bytes:
        msg = PKIMessage.from_der(data)
        unsigned = PKIMessage(msg.header, msg.body)
        return protect_signature(unsigned, key, cert).to_der()

    return tamper


def test_wrong_signer_is_refused(pki: Pki, server: OpensslServer) -> None:
    tx = Transaction(ir(pki), sig_config(pki))
    with pytest.raises(ProtectionError, match="no suitable sender certificate"):
        drive(tx, server.url, tamper=_resign_as_impostor(pki))


def test_received_extracerts_and_capubs(pki: Pki, server: OpensslServer) -> None:
    result = drive(Transaction(ir(pki), sig_config(pki)), server.url).result
    assert pki.server.cert in result.extra_certs
    assert result.ca_pubs == (pki.root.cert,)


# --- made-up responses: one broken rule each -----------------------------------------------------


def _answer(
    pki: Pki,
    request: PKIMessage,
    body: PKIBody,
    *,
    protect: bool = True,
    **header_changes: Any,
) -> bytes:
    """A PBM-protected answer to ``request`` as the server would build it,
    with ``header_changes`` applied before protecting."""
    header = make_response_header(request.header, pki.server.cert.subject)
    header = dataclasses.replace(header, **header_changes)
    message = PKIMessage(header, body)
    if protect:
        message = protect_pbm(message, pki.secret, ref=pki.srv_ref)
    return message.to_der()


def _ip(pki: Pki, *, status: int = PKIStatus.accepted, rid: int = 0, count: int = 1) -> PKIBody:
    cert = pki.enrolled.cert.public_bytes(serialization.Encoding.DER)
    response = CertResponse(
        rid,
        PKIStatusInfo(status),
        CertifiedKeyPair(CertOrEncCert("certificate", cert))
        if status != PKIStatus.waiting
        else None,
    )
    return PKIBody("ip", CertRepMessage(None, (response,) * count))


def _started(pki: Pki, request: Any = None, **options: Any) -> tuple[Transaction, PKIMessage]:
    tx = Transaction(request or ir(pki), pbm_config(pki, **options))
    return tx, tx.start().message


def test_made_up_answer_is_accepted(pki: Pki) -> None:
    tx, request = _started(pki)
    event = tx.receive(_answer(pki, request, _ip(pki)))
    assert isinstance(event, Send) and event.message.body_type == "certConf"
    done = tx.receive(_answer(pki, event.message, PKIBody("pkiconf", None)))
    assert isinstance(done, Done) and done.result.cert == pki.enrolled.cert


def test_adopt_ids_accepts_a_replayed_response(pki: Pki) -> None:
    # -rspin: a response from another transaction, read from a file.
    _, other_request = _started(pki)
    replayed = PKIMessage.from_der(_answer(pki, other_request, _ip(pki)))
    tx, _ = _started(pki)
    tx.adopt_ids(replayed.transaction_id, replayed.recip_nonce)
    conf = tx.receive(replayed.to_der())
    assert isinstance(conf, Send)
    assert conf.message.header.transaction_id == replayed.transaction_id
    assert conf.message.header.recip_nonce == replayed.sender_nonce


def test_wrong_recip_nonce_is_refused(pki: Pki) -> None:
    tx, request = _started(pki)
    with pytest.raises(ResponseError, match="recipNonce"):
        tx.receive(_answer(pki, request, _ip(pki), recip_nonce=os.urandom(16)))


def test_missing_recip_nonce_is_refused(pki: Pki) -> None:
    tx, request = _started(pki)
    with pytest.raises(ResponseError, match="recipNonce"):
        tx.receive(_answer(pki, request, _ip(pki), recip_nonce=None))


def test_wrong_transaction_id_is_refused(pki: Pki) -> None:
    tx, request = _started(pki)
    with pytest.raises(ResponseError, match="transactionID"):
        tx.receive(_answer(pki, request, _ip(pki), transaction_id=os.urandom(16)))


@pytest.mark.parametrize("pvno", [1, 4])
def test_unknown_pvno_is_refused(pki: Pki, pvno: int) -> None:
    tx, request = _started(pki)
    with pytest.raises(ResponseError, match="pvno"):
        tx.receive(_answer(pki, request, _ip(pki), pvno=pvno))


def test_pvno_3_answer_is_accepted(pki: Pki) -> None:
    tx, request = _started(pki)
    event = tx.receive(_answer(pki, request, _ip(pki), pvno=3))
    assert isinstance(event, Send)


def test_sender_must_be_a_directory_name(pki: Pki) -> None:
    tx, request = _started(pki)
    sender = GeneralName("dNSName", "ca.example")
    with pytest.raises(ResponseError, match="directoryName"):
        tx.receive(_answer(pki, request, _ip(pki), sender=sender))


def test_unexpected_body_type_is_refused(pki: Pki) -> None:
    tx, request = _started(pki)
    with pytest.raises(ResponseError, match="unexpected genp"):
        tx.receive(_answer(pki, request, PKIBody("genp", ())))


def test_wrong_cert_req_id_is_refused(pki: Pki) -> None:
    tx, request = _started(pki)
    with pytest.raises(ResponseError, match="certReqId 5"):
        tx.receive(_answer(pki, request, _ip(pki, rid=5)))


def test_several_responses_are_refused(pki: Pki) -> None:
    tx, request = _started(pki)
    with pytest.raises(ResponseError, match="2 responses"):
        tx.receive(_answer(pki, request, _ip(pki, count=2)))


def test_poll_rep_for_other_request_is_refused(pki: Pki) -> None:
    tx, request = _started(pki)
    poll = tx.receive(_answer(pki, request, _ip(pki, status=PKIStatus.waiting)))
    assert isinstance(poll, Send) and poll.message.body_type == "pollReq"
    with pytest.raises(ResponseError, match="certReqId 3 in pollRep"):
        tx.receive(_answer(pki, poll.message, PKIBody("pollRep", (PollRepEntry(3, 1),))))


def test_negative_check_after_is_refused(pki: Pki) -> None:
    tx, request = _started(pki)
    poll = tx.receive(_answer(pki, request, _ip(pki, status=PKIStatus.waiting)))
    assert isinstance(poll, Send)
    with pytest.raises(ResponseError, match="negative"):
        tx.receive(_answer(pki, poll.message, PKIBody("pollRep", (PollRepEntry(0, -1),))))


def test_poll_rep_gives_wait_with_poll_req(pki: Pki) -> None:
    tx, request = _started(pki)
    poll = tx.receive(_answer(pki, request, _ip(pki, status=PKIStatus.waiting)))
    assert isinstance(poll, Send)
    wait = tx.receive(_answer(pki, poll.message, PKIBody("pollRep", (PollRepEntry(0, 7),))))
    assert isinstance(wait, Wait) and wait.seconds == 7
    assert wait.message.body_type == "pollReq"
    assert tx.state == "polling"


def test_unprotected_pkiconf_passes_only_with_unprotected_errors(pki: Pki) -> None:
    for allowed in (False, True):
        tx, request = _started(pki, unprotected_errors=allowed)
        conf = tx.receive(_answer(pki, request, _ip(pki)))
        assert isinstance(conf, Send)
        answer = _answer(pki, conf.message, PKIBody("pkiconf", None), protect=False)
        if allowed:
            assert isinstance(tx.receive(answer), Done)
        else:
            with pytest.raises(ProtectionError):
                tx.receive(answer)


def test_unprotected_rp_rejection_with_unprotected_errors(pki: Pki) -> None:
    tx, request = _started(pki, RevokeRequest(pki.enrolled.cert), unprotected_errors=True)
    rejection = PKIStatusInfo(PKIStatus.rejection, ("no",), int(FailInfo.badCertId))
    body = PKIBody("rp", RevRepContent((rejection,)))
    with pytest.raises(ServerError, match="badCertId"):
        tx.receive(_answer(pki, request, body, protect=False))


def test_rp_with_wrong_cert_id_is_refused(pki: Pki) -> None:
    from cmp.asn1 import CertId

    tx, request = _started(pki, RevokeRequest(pki.enrolled.cert))
    cert_id = CertId(GeneralName.directory_name(pki.enrolled.cert.issuer), 12345)
    body = PKIBody("rp", RevRepContent((PKIStatusInfo(PKIStatus.accepted),), (cert_id,)))
    with pytest.raises(ResponseError, match="serial number"):
        tx.receive(_answer(pki, request, body))


def test_error_body_details(pki: Pki) -> None:
    tx, request = _started(pki)
    error = ErrorMsgContent(
        PKIStatusInfo(PKIStatus.rejection, ("a", "b"), int(FailInfo.badAlg | FailInfo.badTime)),
        0x1D00009E,
        ("detail",),
    )
    with pytest.raises(ServerError) as info:
        tx.receive(_answer(pki, request, PKIBody("error", error)))
    assert str(info.value) == (
        "received error: PKIStatus: rejection; PKIFailureInfo: badAlg, badTime;"
        ' StatusStrings: "a", "b"; errorCode: 1D00009E; errorDetails: detail'
    )


def test_garbage_is_a_decode_error(pki: Pki) -> None:
    from cmp.errors import DecodeError

    tx, _ = _started(pki)
    with pytest.raises(DecodeError):
        tx.receive(b"\x30\x03\x02\x01")
    assert tx.state == "failed"


# --- driving rules ------------------------------------------------------------------------------


def test_receive_before_start_is_refused(pki: Pki) -> None:
    with pytest.raises(TransactionStateError):
        Transaction(ir(pki), pbm_config(pki)).receive(b"")


def test_start_twice_is_refused(pki: Pki) -> None:
    tx = Transaction(ir(pki), pbm_config(pki))
    tx.start()
    with pytest.raises(TransactionStateError):
        tx.start()


def test_fail_ends_the_transaction(pki: Pki) -> None:
    tx = Transaction(ir(pki), pbm_config(pki))
    tx.start()
    tx.fail(TimeoutError("transport gave up"))
    assert tx.state == "failed"
    with pytest.raises(TransactionStateError):
        tx.receive(b"")


def test_receive_after_done_is_refused(pki: Pki, server: OpensslServer) -> None:
    tx = Transaction(GeneralRequest(), pbm_config(pki))
    drive(tx, server.url)
    assert tx.state == "done"
    with pytest.raises(TransactionStateError):
        tx.receive(b"")


def test_no_credentials_is_refused(pki: Pki) -> None:
    with pytest.raises(ProtectionError, match="no way to protect"):
        Transaction(ir(pki), TransactionConfig())


def test_remaining_time(pki: Pki) -> None:
    clock = FakeClock()
    tx = Transaction(ir(pki), pbm_config(pki, total_timeout=10, clock=clock))
    assert tx.remaining() is None
    tx.start()
    clock.now += 4
    assert tx.remaining() == 6
    assert tx.deadline == 1010


def test_implicit_confirm_itav_in_made_up_answer(pki: Pki) -> None:
    tx, request = _started(pki, implicit_confirm=True)
    answer = _answer(pki, request, _ip(pki), general_info=(make_itav("implicitConfirm"),))
    done = tx.receive(answer)
    assert isinstance(done, Done) and done.result.implicit_confirm_granted
    assert request.header.general_info is not None
    assert request.header.general_info[0].info_type == IMPLICIT_CONFIRM
