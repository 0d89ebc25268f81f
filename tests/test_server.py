"""The mock CA's handler (``cmp.server``) and its HTTP front (``cmp.asgi``).

Requests are built here with cmpkit's own request, header and protection
code, or taken from ``openssl cmp`` (``captured_messages``), and tampered
with where a rule is about refusing them. The interop with the real
``openssl cmp`` client is in ``test_server_interop.py``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from inprocess_pki import server_config
from openssl_harness import Pki

from cmp import algorithms, protection
from cmp.asgi import CMPApp, normalize_path
from cmp.asn1 import (
    ErrorMsgContent,
    FailInfo,
    GeneralName,
    OptionalValidity,
    PKIBody,
    PKIStatus,
    PKIStatusInfo,
    POPOSigningKey,
    POPOSigningKeyInput,
    POPOSigningKeyInputAuthInfo,
    ProofOfPossession,
    decode,
    encode,
)
from cmp.headers import IMPLICIT_CONFIRM, has_implicit_confirm, new_transaction_id, request_header
from cmp.message import PKIMessage
from cmp.requests import (
    EnrollRequest,
    RevokeRequest,
    cert_conf_body,
    enroll_body,
    genm_body,
    poll_req_body,
    rr_body,
    sign,
)
from cmp.server import MockServer, MockServerConfig, MockServerConfigError

_DER = Encoding.DER

# --- building requests -------------------------------------------------------------------


@dataclasses.dataclass
class Requester:
    """Builds requests as a client would: PBM with ``secret`` (senderKID
    ``ref``), else signed with ``key``/``cert``."""

    secret: bytes | None = None
    ref: bytes | None = None
    key: Any = None
    cert: x509.Certificate | None = None
    sender: x509.Name | None = None
    recipient: x509.Name | None = None

    def message(
        self,
        body: PKIBody,
        *,
        tid: bytes | None = None,
        recip_nonce: bytes | None = None,
        implicit: bool = False,
        protect: bool = True,
        **header: Any,
    ) -> PKIMessage:
        sender = self.sender if self.sender is not None else getattr(self.cert, "subject", None)
        hdr = request_header(
            sender=sender,
            recipient=self.recipient,
            transaction_id=tid or new_transaction_id(),
            recip_nonce=recip_nonce,
            implicit_confirm=implicit,
        )
        if header:
            hdr = dataclasses.replace(hdr, **header)
        msg = PKIMessage(hdr, body)
        if not protect:
            return msg
        if self.secret is not None:
            return protection.protect_pbm(msg, self.secret, ref=self.ref)
        assert self.cert is not None
        return protection.protect_signature(msg, self.key, self.cert)

    def follow(self, rsp: PKIMessage, body: PKIBody, **kw: Any) -> PKIMessage:
        """The next request of the transaction ``rsp`` answered."""
        return self.message(
            body, tid=rsp.header.transaction_id, recip_nonce=rsp.header.sender_nonce, **kw
        )


def pbm_client(pki: Pki) -> Requester:
    return Requester(
        secret=pki.secret,
        ref=pki.ref.encode(),
        sender=pki.enrolled.cert.subject,
        recipient=pki.server.cert.subject,
    )


def sig_client(pki: Pki) -> Requester:
    return Requester(key=pki.client.key, cert=pki.client.cert, recipient=pki.server.cert.subject)


def ir_body(pki: Pki, cmd: str = "ir", **kw: Any) -> PKIBody:
    request = EnrollRequest(cmd=cmd, new_key=pki.new_key, subject=pki.enrolled.cert.subject, **kw)
    return enroll_body(request)


def answer(server: MockServer, request: PKIMessage | bytes) -> PKIMessage:
    der = request if isinstance(request, bytes) else request.to_der()
    return PKIMessage.from_der(server.handle(der))


def error_of(rsp: PKIMessage) -> ErrorMsgContent:
    assert rsp.body_type == "error", rsp.body
    content: ErrorMsgContent = rsp.body.value
    return content


def first_response(rsp: PKIMessage) -> Any:
    return rsp.body.value.response[0]


@pytest.fixture
def server(pki: Pki) -> MockServer:
    return MockServer(server_config(pki))


# --- requests answered ------------------------------------------------------------------


def test_ir_is_answered_with_ip_carrying_rsp_cert_and_capubs(pki: Pki, server: MockServer) -> None:
    client = pbm_client(pki)
    req = client.message(ir_body(pki))
    rsp = answer(server, req)
    assert rsp.body_type == "ip"
    response = first_response(rsp)
    assert response.status == PKIStatusInfo(PKIStatus.accepted)
    assert response.certificate() == pki.enrolled.cert
    assert rsp.body.value.ca_pubs == (pki.root.cert.public_bytes(_DER),)


def test_response_header_answers_the_request(pki: Pki, server: MockServer) -> None:
    req = pbm_client(pki).message(ir_body(pki))
    hdr = answer(server, req).header
    assert hdr.transaction_id == req.header.transaction_id
    assert hdr.recip_nonce == req.header.sender_nonce
    assert hdr.sender_nonce is not None and hdr.sender_nonce != req.header.sender_nonce
    assert hdr.sender == GeneralName.directory_name(pki.server.cert.subject)
    assert hdr.recipient == req.header.sender
    assert hdr.pvno == 2


def test_mac_protected_request_gets_mac_protected_answer_with_srv_ref(
    pki: Pki, server: MockServer
) -> None:
    rsp = answer(server, pbm_client(pki).message(ir_body(pki)))
    protection.verify(rsp, secret=pki.secret)
    assert rsp.header.sender_kid == pki.srv_ref.encode()


def test_signed_request_gets_signed_answer_with_signer_first_in_extracerts(
    pki: Pki, server: MockServer
) -> None:
    rsp = answer(server, sig_client(pki).message(ir_body(pki)))
    assert rsp.body_type == "ip"
    protection.verify(rsp, cert=pki.server.cert)
    assert rsp.extra_certificates()[0] == pki.server.cert


def test_captured_openssl_requests_are_answered(
    pki: Pki, server: MockServer, captured_messages: Any
) -> None:
    for mode in ("pbm", "sig"):
        for kind, reply in (("ir", "ip"), ("cr", "cp"), ("p10cr", "cp"), ("kur", "kup")):
            rsp = answer(server, captured_messages[mode][kind][0])
            assert rsp.body_type == reply, (mode, kind, rsp.body)
            assert first_response(rsp).status.status == PKIStatus.accepted
        assert answer(server, captured_messages[mode]["rr"][0]).body_type == "rp"
        assert answer(server, captured_messages[mode]["genm"][0]).body_type == "genp"


def test_certconf_with_hash_of_the_sent_cert_is_answered_with_pkiconf(
    pki: Pki, server: MockServer
) -> None:
    client = pbm_client(pki)
    ip = answer(server, client.message(ir_body(pki)))
    conf = answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert)))
    assert conf.body_type == "pkiconf"
    assert server.open_transactions == 0


def test_certconf_hash_must_match_the_sent_cert(pki: Pki, server: MockServer) -> None:
    client = pbm_client(pki)
    ip = answer(server, client.message(ir_body(pki)))
    rsp = answer(server, client.follow(ip, cert_conf_body(pki.root.cert)))
    assert error_of(rsp).pki_status_info.status_string == ("certhash unmatched",)


def test_certconf_of_unknown_transaction_is_refused(
    pki: Pki, server: MockServer, captured_messages: Any
) -> None:
    rsp = answer(server, captured_messages["pbm"]["certConf"][0])
    content = error_of(rsp)
    assert content.pki_status_info.status_string == ("unexpected pkibody",)
    assert content.error_code == (58 << 23) | 133  # OpenSSL's CMP_R_UNEXPECTED_PKIBODY
    assert content.error_details is not None and content.error_details[:2] == (
        "CMP routines",
        "unexpected pkibody",
    )


def test_certconf_with_wrong_recipnonce_is_refused_with_badRecipientNonce(
    pki: Pki, server: MockServer
) -> None:
    client = pbm_client(pki)
    ip = answer(server, client.message(ir_body(pki)))
    bad = client.message(
        cert_conf_body(pki.enrolled.cert), tid=ip.header.transaction_id, recip_nonce=b"\0" * 16
    )
    info = error_of(answer(server, bad)).pki_status_info
    assert info.fail_info == FailInfo.badRecipientNonce
    assert info.status_string == ("recipnonce unmatched",)


def test_certconf_with_wrong_cert_req_id_is_refused(pki: Pki, server: MockServer) -> None:
    client = pbm_client(pki)
    ip = answer(server, client.message(ir_body(pki)))
    rsp = answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert, 7)))
    assert error_of(rsp).pki_status_info.status_string == ("bad request id",)


def test_rr_for_rsp_cert_is_answered_with_rp(pki: Pki, server: MockServer) -> None:
    rsp = answer(server, pbm_client(pki).message(rr_body(RevokeRequest(pki.enrolled.cert, 1))))
    assert rsp.body_type == "rp"
    assert rsp.body.value.status == (PKIStatusInfo(PKIStatus.accepted),)
    cert_id = rsp.body.value.rev_certs[0]
    assert cert_id.serial_number == pki.enrolled.cert.serial_number


def test_rr_for_another_cert_is_refused(pki: Pki, server: MockServer) -> None:
    rsp = answer(server, pbm_client(pki).message(rr_body(RevokeRequest(pki.client.cert))))
    content = error_of(rsp)
    assert content.error_details == (
        "CMP routines",
        "request not accepted",
        "wrong certificate to revoke",
    )


def test_kur_only_for_the_cert_it_issued(pki: Pki, server: MockServer) -> None:
    client = pbm_client(pki)
    ok = answer(server, client.message(ir_body(pki, "kur", oldcert=pki.enrolled.cert)))
    assert ok.body_type == "kup"
    bad = answer(server, client.message(ir_body(pki, "kur", oldcert=pki.client.cert)))
    assert error_of(bad).pki_status_info.status_string == ("wrong certid",)


def test_genm_is_echoed_in_genp_as_openssl_3_0_does(pki: Pki, server: MockServer) -> None:
    from cmp.itav import make_itav

    itavs = (make_itav("signKeyPairTypes"),)
    rsp = answer(server, pbm_client(pki).message(genm_body(itavs)))
    assert rsp.body == PKIBody("genp", itavs)


def test_error_message_is_acknowledged_with_pkiconf(pki: Pki, server: MockServer) -> None:
    body = PKIBody("error", ErrorMsgContent(PKIStatusInfo(2, ("bye",), 4), 7, ("detail",)))
    assert answer(server, pbm_client(pki).message(body)).body_type == "pkiconf"


# --- protection and header checks -----------------------------------------------------


def test_bad_mac_gives_error_with_badMessageCheck(pki: Pki, server: MockServer) -> None:
    der = bytearray(pbm_client(pki).message(ir_body(pki)).to_der())
    der[-3] ^= 1  # inside the protection BIT STRING
    rsp = answer(server, bytes(der))
    info = error_of(rsp).pki_status_info
    assert info.fail_info == FailInfo.badMessageCheck
    assert info.status_string == ("wrong pbm value",)
    protection.verify(rsp, secret=pki.secret)  # errors are protected too


def test_openssl_fail_info_style_is_always_badRequest(pki: Pki) -> None:
    server = MockServer(server_config(pki, fail_info_style="openssl"))
    der = bytearray(pbm_client(pki).message(ir_body(pki)).to_der())
    der[-3] ^= 1
    assert error_of(answer(server, bytes(der))).pki_status_info.fail_info == FailInfo.badRequest


def test_wrong_secret_is_refused(pki: Pki, server: MockServer) -> None:
    client = dataclasses.replace(pbm_client(pki), secret=b"not the secret")
    rsp = answer(server, client.message(ir_body(pki)))
    assert error_of(rsp).pki_status_info.status_string == ("wrong pbm value",)


def test_missing_protection_is_refused_unless_accept_unprotected(pki: Pki) -> None:
    req = pbm_client(pki).message(ir_body(pki), protect=False)
    rsp = answer(MockServer(server_config(pki)), req)
    assert error_of(rsp).pki_status_info.status_string == ("missing protection",)
    assert answer(MockServer(server_config(pki, accept_unprotected=True)), req).body_type == "ip"


def test_unprotected_error_accepted_only_with_accept_unprot_err(pki: Pki) -> None:
    body = PKIBody("error", ErrorMsgContent(PKIStatusInfo(2)))
    req = pbm_client(pki).message(body, protect=False)
    assert answer(MockServer(server_config(pki)), req).body_type == "error"
    lenient = MockServer(server_config(pki, accept_unprot_err=True))
    assert answer(lenient, req).body_type == "pkiconf"


def test_signature_by_untrusted_signer_is_refused(pki: Pki) -> None:
    server = MockServer(server_config(pki, srv_trusted=[pki.server.cert]))
    rsp = answer(server, sig_client(pki).message(ir_body(pki)))
    content = error_of(rsp)
    assert content.pki_status_info.status_string == ("no suitable sender cert",)
    assert content.error_details is not None
    assert content.error_details[2].startswith("for msg sender name = /O=cmpkit tests/CN=")


def test_pvno_3_is_refused_as_by_openssl_3_0_unless_enabled(pki: Pki) -> None:
    req = pbm_client(pki).message(ir_body(pki), pvno=3)
    rsp = answer(MockServer(server_config(pki)), req)
    assert error_of(rsp).pki_status_info.fail_info == FailInfo.unsupportedVersion
    assert rsp.header.pvno == 2
    modern = answer(MockServer(server_config(pki, pvnos=(2, 3))), req)
    assert modern.body_type == "ip" and modern.header.pvno == 3


def test_sender_must_be_a_directory_name(pki: Pki, server: MockServer) -> None:
    sender = GeneralName("uniformResourceIdentifier", "http://client.example")
    rsp = answer(server, pbm_client(pki).message(genm_body(), sender=sender))
    assert error_of(rsp).pki_status_info.status_string == ("sender generalname type not supported",)


def test_undecodable_input_gets_badDataFormat_error(pki: Pki, server: MockServer) -> None:
    rsp = answer(server, b"\x30\x03\x02\x01\x00")
    assert error_of(rsp).pki_status_info.fail_info == FailInfo.badDataFormat
    assert answer(server, b"").body_type == "error"


def test_error_for_broken_body_answers_the_salvaged_header(pki: Pki, server: MockServer) -> None:
    req = pbm_client(pki).message(genm_body())
    rsp = answer(server, _with_bad_body(req))
    assert error_of(rsp).pki_status_info.fail_info == FailInfo.badDataFormat
    assert rsp.header.transaction_id == req.header.transaction_id
    assert rsp.header.recip_nonce == req.header.sender_nonce


def _with_bad_body(msg: PKIMessage) -> bytes:
    """``msg``'s header followed by a body of an unknown CHOICE tag [30]."""
    from cmp.asn1 import encode

    header = encode("PKIHeader", msg.header)
    content = header + b"\xbe\x02\x05\x00"
    return b"\x30" + _length(len(content)) + content


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


# --- proof of possession -------------------------------------------------------------------


def _with_popo(body: PKIBody, popo: ProofOfPossession | None) -> PKIBody:
    crm = body.value[0]
    return PKIBody(body.kind, (dataclasses.replace(crm, popo=popo),))


def test_bad_popo_signature_gives_rejection_badPOP(pki: Pki, server: MockServer) -> None:
    body = ir_body(pki)
    popo = body.value[0].popo
    forged = dataclasses.replace(popo.value, signature=bytes(len(popo.value.signature)))
    rsp = answer(
        server, pbm_client(pki).message(_with_popo(body, ProofOfPossession("signature", forged)))
    )
    response = first_response(rsp)
    assert response.status.status == PKIStatus.rejection
    assert response.status.fail_info == FailInfo.badPOP
    assert response.certified_key_pair is None


def test_raverified_needs_accept_raverified(pki: Pki) -> None:
    body = ir_body(pki, popo=0)
    req = pbm_client(pki).message(body)
    status = first_response(answer(MockServer(server_config(pki)), req)).status
    assert status.status_string == ("popo raverified not accepted",)
    assert status.fail_info == FailInfo.badPOP
    ok = answer(MockServer(server_config(pki, accept_raverified=True)), req)
    assert first_response(ok).status.status == PKIStatus.accepted


def test_missing_popo_is_rejected(pki: Pki, server: MockServer) -> None:
    rsp = answer(server, pbm_client(pki).message(ir_body(pki, popo=-1)))
    assert first_response(rsp).status.status_string == ("popo missing",)


def _generalized_times(der: bytes) -> bytes:
    """``der`` with every UTCTime written as a GeneralizedTime (valid DER for
    a CRMF Time, which the decoded datetime re-encodes as a UTCTime)."""
    out, pos = bytearray(), 0
    while pos < len(der):
        tag, length, start = der[pos], der[pos + 1], pos + 2
        if length & 0x80:
            count = length & 0x7F
            length, start = int.from_bytes(der[start : start + count], "big"), start + count
        content = der[start : start + length]
        if tag == 0x17:
            tag, content = 0x18, b"20" + content
        elif tag & 0x20:  # constructed
            content = _generalized_times(content)
        out += bytes([tag]) + _length(len(content)) + content
        pos = start + length
    return bytes(out)


def test_popo_signature_is_verified_over_the_received_cert_request(pki: Pki) -> None:
    # RFC 4211 §4.1: the signature is over the DER of the CertRequest as
    # sent. Re-encoding the decoded values gives other bytes here.
    crm = ir_body(pki).value[0]
    validity = OptionalValidity(datetime.datetime(2030, 1, 2, tzinfo=datetime.timezone.utc))
    template = dataclasses.replace(crm.cert_req.cert_template, validity=validity)
    cert_req = dataclasses.replace(crm.cert_req, cert_template=template)
    received = _generalized_times(encode("CertRequest", cert_req))
    assert encode("CertRequest", decode("CertRequest", received)) != received
    alg = algorithms.signature_algorithm_for_key(pki.new_key, "sha256")
    signature = sign(pki.new_key, alg, received)
    popo = ProofOfPossession("signature", POPOSigningKey(None, alg, signature))
    body = PKIBody("ir", (dataclasses.replace(crm, cert_req=cert_req, popo=popo),))
    server = MockServer(server_config(pki, accept_unprotected=True))
    request = _generalized_times(pbm_client(pki).message(body, protect=False).to_der())
    status = first_response(answer(server, request)).status
    assert status.status == PKIStatus.accepted, status


def test_popo_signature_over_poposk_input_is_verified(pki: Pki, server: MockServer) -> None:
    # RFC 4211 §4.1: without a subject in the template, the signature is over
    # poposkInput (its DER as a SEQUENCE, not as the [0] it is sent with).
    crm = ir_body(pki).value[0]
    template = dataclasses.replace(crm.cert_req.cert_template, subject=None)
    sender = GeneralName.directory_name(pki.enrolled.cert.subject)
    poposk_input = POPOSigningKeyInput(
        POPOSigningKeyInputAuthInfo("sender", sender), template.public_key
    )
    alg = algorithms.signature_algorithm_for_key(pki.new_key, "sha256")
    signed = sign(pki.new_key, alg, encode("POPOSigningKeyInput", poposk_input))
    cert_req = dataclasses.replace(crm.cert_req, cert_template=template)

    def status_with(signature: bytes) -> PKIStatusInfo:
        popo = ProofOfPossession("signature", POPOSigningKey(poposk_input, alg, signature))
        body = PKIBody("ir", (dataclasses.replace(crm, cert_req=cert_req, popo=popo),))
        status: PKIStatusInfo = first_response(answer(server, pbm_client(pki).message(body))).status
        return status

    assert status_with(signed).status == PKIStatus.accepted
    forged = status_with(bytes(len(signed)))
    assert forged.status == PKIStatus.rejection and forged.fail_info == FailInfo.badPOP


# --- configured answers --------------------------------------------------------------------


def test_pkistatus_failure_and_statusstring_go_into_ip(pki: Pki) -> None:
    config = server_config(pki, pkistatus=2, failure=2, statusstring="no way")
    rsp = answer(MockServer(config), pbm_client(pki).message(ir_body(pki)))
    status = first_response(rsp).status
    assert status == PKIStatusInfo(PKIStatus.rejection, ("no way",), FailInfo.badRequest)
    assert first_response(rsp).certified_key_pair is None


def test_failurebits_override_failure(pki: Pki) -> None:
    config = server_config(pki, pkistatus=2, failure=2, failurebits=0b11)
    server = MockServer(config)
    assert "-failurebits overrides -failure" in server.warnings
    rsp = answer(server, pbm_client(pki).message(ir_body(pki)))
    assert first_response(rsp).status.fail_info == 0b11


def test_send_error_answers_with_error_processing_message(pki: Pki) -> None:
    server = MockServer(server_config(pki, send_error=True))
    for body in (ir_body(pki), genm_body(), rr_body(RevokeRequest(pki.enrolled.cert))):
        content = error_of(answer(server, pbm_client(pki).message(body)))
        assert content.pki_status_info.status_string == ("error processing message",)
        assert content.error_code == (58 << 23) | 158


def test_send_unprotected_sends_everything_unprotected(pki: Pki) -> None:
    server = MockServer(server_config(pki, send_unprotected=True))
    rsp = answer(server, pbm_client(pki).message(ir_body(pki)))
    assert rsp.body_type == "ip" and rsp.protection is None
    assert rsp.header.protection_alg is None


def test_send_unprot_err_sends_rejections_and_errors_unprotected(pki: Pki) -> None:
    server = MockServer(server_config(pki, send_unprot_err=True, pkistatus=2))
    ip = answer(server, pbm_client(pki).message(ir_body(pki)))
    assert ip.protection is None
    error = answer(server, pbm_client(pki).message(ir_body(pki), protect=False))
    assert error.body_type == "error" and error.protection is None
    accepted = MockServer(server_config(pki, send_unprot_err=True))
    assert answer(accepted, pbm_client(pki).message(ir_body(pki))).protection is not None


def test_implicit_confirm_granted_only_when_configured(pki: Pki) -> None:
    client = pbm_client(pki)
    plain = MockServer(server_config(pki))
    rsp = answer(plain, client.message(ir_body(pki), implicit=True))
    assert not has_implicit_confirm(rsp.header)
    assert plain.open_transactions == 1
    granting = MockServer(server_config(pki, grant_implicitconf=True))
    rsp = answer(granting, client.message(ir_body(pki), implicit=True))
    assert has_implicit_confirm(rsp.header)
    assert rsp.header.general_info is not None
    assert rsp.header.general_info[0].info_type == IMPLICIT_CONFIRM
    assert granting.open_transactions == 0  # nothing left to confirm
    late = answer(granting, client.follow(rsp, cert_conf_body(pki.enrolled.cert)))
    assert late.body_type == "error"


def test_polling_waits_poll_count_times_then_delivers(pki: Pki) -> None:
    server = MockServer(server_config(pki, poll_count=2, check_after=5))
    client = pbm_client(pki)
    rsp = answer(server, client.message(ir_body(pki)))
    assert first_response(rsp).status.status == PKIStatus.waiting
    assert first_response(rsp).certified_key_pair is None
    rsp = answer(server, client.follow(rsp, poll_req_body()))
    assert rsp.body_type == "pollRep"
    assert rsp.body.value[0].check_after == 5
    rsp = answer(server, client.follow(rsp, poll_req_body()))
    assert rsp.body_type == "ip"
    assert first_response(rsp).certificate() == pki.enrolled.cert
    assert answer(server, client.follow(rsp, cert_conf_body(pki.enrolled.cert))).body_type == (
        "pkiconf"
    )


def test_pollreq_outside_polling_is_refused(pki: Pki, server: MockServer) -> None:
    client = pbm_client(pki)
    ip = answer(server, client.message(ir_body(pki)))
    rsp = answer(server, client.follow(ip, poll_req_body()))
    assert error_of(rsp).pki_status_info.status_string == ("unexpected pkibody",)


# --- state and concurrency -----------------------------------------------------------------


def test_open_transactions_are_bounded(pki: Pki) -> None:
    server = MockServer(server_config(pki, max_transactions=2))
    client = pbm_client(pki)
    first = answer(server, client.message(ir_body(pki)))
    for _ in range(2):
        answer(server, client.message(ir_body(pki)))
    assert server.open_transactions == 2
    evicted = answer(server, client.follow(first, cert_conf_body(pki.enrolled.cert)))
    assert evicted.body_type == "error"


def test_idle_transactions_expire(pki: Pki) -> None:
    server = MockServer(server_config(pki, transaction_timeout=0.0))
    client = pbm_client(pki)
    ip = answer(server, client.message(ir_body(pki)))
    time.sleep(0.01)
    assert answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert))).body_type == (
        "error"
    )


def test_concurrent_transactions_do_not_mix(pki: Pki, server: MockServer) -> None:
    client = pbm_client(pki)

    def enroll(_: int) -> str:
        ip = answer(server, client.message(ir_body(pki)))
        return answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert))).body_type

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert set(pool.map(enroll, range(64))) == {"pkiconf"}
    assert server.open_transactions == 0
    assert server.messages_handled == 128


# --- issuing for real ----------------------------------------------------------------------


def test_issue_mode_certifies_the_requested_key_and_subject(pki: Pki) -> None:
    server = MockServer(server_config(pki, issue=True))
    client = pbm_client(pki)
    ip = answer(server, client.message(ir_body(pki)))
    cert = first_response(ip).certificate()
    assert cert != pki.enrolled.cert
    assert cert.public_key() == pki.new_key.public_key()
    assert cert.subject == pki.enrolled.cert.subject
    assert cert.issuer == pki.server.cert.subject
    cert.verify_directly_issued_by(pki.server.cert)
    assert answer(server, client.follow(ip, cert_conf_body(cert))).body_type == "pkiconf"
    kup = answer(server, client.message(ir_body(pki, "kur", oldcert=cert)))
    assert kup.body_type == "kup"
    rp = answer(server, client.message(rr_body(RevokeRequest(cert))))
    assert rp.body_type == "rp"


def test_generated_mock_ca_issues_in_one_line() -> None:
    config = MockServerConfig.generate(secret="pw")
    server = MockServer(config)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name.from_rfc4514_string("CN=device 1")
    client = Requester(secret=b"pw", ref=b"x", sender=subject)
    body = enroll_body(EnrollRequest(new_key=key, subject=subject))
    cert = first_response(answer(server, client.message(body))).certificate()
    assert cert.subject == subject
    assert config.srv_cert is not None
    cert.verify_directly_issued_by(config.srv_cert)


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"srv_cert": None, "srv_ref": None}, "must give -srv_ref for mock server"),
        ({"srv_secret": None, "srv_cert": None}, "mock server credentials must be given"),
        ({"srv_secret": None, "srv_key": None}, "must give both -srv_cert and -srv_key"),
        ({"failure": 27}, "-failure out of range, should be >= 0 and <= 26"),
        ({"failurebits": 1 << 27}, "-failurebits out of range"),
        ({"poll_count": -1}, "-poll_count must be non-negative"),
    ],
)
def test_config_errors_say_what_openssl_says(
    pki: Pki, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(MockServerConfigError, match=message):
        MockServer(server_config(pki, **options))


def test_config_warnings_say_what_openssl_says(pki: Pki) -> None:
    server = MockServer(server_config(pki, srv_trusted=(), rsp_cert=None))
    assert server.warnings == [
        "mock server will not be able to handle signature-protected requests"
        " since -srv_trusted is not given",
        "no -rsp_cert given for mock server",
    ]


# --- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "normal"),
    [
        ("/", ""),
        ("/pkix/", "pkix/"),
        ("/pkix////", "pkix/"),
        ("//pkix/", "pkix/"),
        ("/a//b", "a/b"),
    ],
)
def test_paths_compare_as_openssl_does(path: str, normal: str) -> None:
    assert normalize_path(path) == normal


@pytest.fixture
def http_server(server: MockServer) -> Iterator[Any]:
    with server.start_background(max_body_size=4096, read_timeout=1.0) as running:
        yield running


def test_http_post_answers_application_pkixcmp(pki: Pki, http_server: Any) -> None:
    req = pbm_client(pki).message(genm_body())
    with httpx.Client() as client:
        for path in ("", "pkix/", "pkix////"):
            r = client.post(http_server.url + path, content=req.to_der())
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/pkixcmp"
            assert PKIMessage.from_der(r.content).body_type == "genp"


def test_http_refusals_use_4xx(pki: Pki, http_server: Any) -> None:
    with httpx.Client() as client:
        assert client.get(http_server.url).status_code == 405
        assert client.post(http_server.url + "publicweb/cmp/example", content=b"x").status_code == (
            404
        )
        assert client.post(http_server.url + "?x=1", content=b"x").status_code == 404
        assert client.post(http_server.url, content=b"x" * 5000).status_code == 413


def test_http_slow_body_times_out_with_408(http_server: Any) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        reply = sock.recv(1024)
    assert reply.startswith(b"HTTP/1.1 408")


def test_http_1_0_keep_alive_is_honoured(pki: Pki, http_server: Any) -> None:
    import socket

    der = pbm_client(pki).message(genm_body()).to_der()
    head = (
        f"POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
        f"Content-Type: application/pkixcmp\r\nContent-Length: {len(der)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=5) as sock:
        for _ in range(2):  # the second request goes over the same connection
            sock.sendall(head + der)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head_part, body = data.split(b"\r\n\r\n", 1)
            assert b"connection: keep-alive" in head_part.lower()
            length = int(head_part.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += sock.recv(65536)
            assert PKIMessage.from_der(body).body_type == "genp"


def test_http_server_stops_after_max_msgs(pki: Pki) -> None:
    server = MockServer(server_config(pki, max_msgs=2))
    running = server.start_background()
    req = pbm_client(pki).message(genm_body()).to_der()
    with httpx.Client() as client:
        for _ in range(2):
            assert client.post(running.url, content=req).status_code == 200
    assert running.wait(10)


def test_app_counts_only_posts(pki: Pki, server: MockServer) -> None:
    app = CMPApp(server)
    assert app.requests_counted == 0


def _serve_script(pki: Pki, max_msgs: int) -> str:
    return (
        "import sys\n"
        "from cmp.credentials import load_cert, load_key\n"
        "from cmp.server import MockServerConfig\n"
        "from cmp.asgi import run_from_options\n"
        f"cfg = MockServerConfig(srv_ref='r', srv_secret='s', max_msgs={max_msgs},\n"
        f"    rsp_cert=load_cert({str(pki.enrolled.cert_path)!r}))\n"
        "sys.exit(run_from_options(cfg, 0, '127.0.0.1'))\n"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_accept_first_and_stops_cleanly_on_signal(pki: Pki, sig: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _serve_script(pki, 0)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("ACCEPT 127.0.0.1:") and f"PID={proc.pid}" in first
        port = int(first.split(":")[1].split()[0])
        r = httpx.post(f"http://127.0.0.1:{port}/", content=b"junk")
        assert PKIMessage.from_der(r.content).body_type == "error"
        proc.send_signal(sig)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_exits_0_after_max_msgs(pki: Pki, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _serve_script(pki, 1)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().split(":")[1].split()[0])
        httpx.post(f"http://127.0.0.1:{port}/", content=b"junk")
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_issued_certificates_are_currently_valid(pki: Pki) -> None:
    server = MockServer(server_config(pki, issue=True, issued_days=2))
    ip = answer(server, pbm_client(pki).message(ir_body(pki)))
    cert = first_response(ip).certificate()
    now = datetime.datetime.now(datetime.timezone.utc)
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - now <= datetime.timedelta(days=2)


# --- load ------------------------------------------------------------------------------------


def test_load_50_clients_valid_and_malformed_for_a_bounded_time(pki: Pki) -> None:
    """50 concurrent clients for a few seconds, a third of their requests
    malformed: every valid transaction completes, every malformed request
    gets an error answer, and the server stays up."""
    server = MockServer(server_config(pki))
    client = pbm_client(pki)
    body = ir_body(pki)
    deadline = time.monotonic() + 4.0

    def worker(n: int) -> tuple[int, int]:
        done = refused = 0
        with httpx.Client(timeout=30) as http:
            i = 0
            while time.monotonic() < deadline:
                i += 1
                if (n + i) % 3 == 0:
                    junk = os.urandom(40) if i % 2 else b"\x30\x82\xff\xff" + os.urandom(8)
                    rsp = PKIMessage.from_der(http.post(running.url, content=junk).content)
                    assert rsp.body_type == "error"
                    refused += 1
                    continue
                ip = PKIMessage.from_der(
                    http.post(running.url, content=client.message(body).to_der()).content
                )
                assert ip.body_type == "ip", ip.body
                conf = client.follow(ip, cert_conf_body(pki.enrolled.cert))
                rsp = PKIMessage.from_der(http.post(running.url, content=conf.to_der()).content)
                assert rsp.body_type == "pkiconf", rsp.body
                done += 1
        return done, refused

    with server.start_background() as running:
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            results = list(pool.map(worker, range(50)))
        assert running.running
        final = httpx.post(running.url, content=client.message(genm_body()).to_der())
        assert PKIMessage.from_der(final.content).body_type == "genp"
    assert sum(d for d, _ in results) > 0 and sum(r for _, r in results) > 0
    assert server.open_transactions == 0
