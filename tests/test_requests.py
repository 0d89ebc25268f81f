"""Request bodies and headers as OpenSSL builds them: cmp.requests, cmp.headers."""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID
from openssl_harness import CapturedMessages, Pki

from cmp.asn1 import (
    CertId,
    CertRequest,
    GeneralName,
    InfoTypeAndValue,
    PKIBody,
    PKIStatus,
    decode,
    encode,
)
from cmp.dn import NULL_DN, parse_dn
from cmp.headers import (
    IMPLICIT_CONFIRM,
    has_implicit_confirm,
    name_of,
    new_nonce,
    new_transaction_id,
    parse_geninfo,
    pvno_for_body,
    recipient_name,
    request_header,
    response_header,
    sender_name,
)
from cmp.itav import OID_BY_NAME
from cmp.message import PKIMessage
from cmp.names import extensions_from_der
from cmp.requests import (
    CERT_REQ_ID_NONE,
    OLD_CERT_ID,
    EnrollRequest,
    GeneralRequest,
    RequestError,
    RevokeRequest,
    cert_conf_body,
    cert_template,
    crl_reason_extensions,
    enroll_body,
    genm_body,
    p10cr_body,
    parse_sans,
    policies_from_oids,
    poll_req_body,
    public_key_der,
    rr_body,
)

SUBJECT = parse_dn("/O=cmpkit tests/CN=requests")
OTHER = parse_dn("/CN=other")


def _exts(template: Any) -> x509.Extensions:
    return extensions_from_der(template.extensions)


def _san(*names: str) -> x509.Extension[x509.SubjectAlternativeName]:
    value = x509.SubjectAlternativeName([x509.DNSName(n) for n in names])
    return x509.Extension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, False, value)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def refcert(pki: Pki) -> x509.Certificate:
    """A reference certificate with SANs, issued by the test root."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(parse_dn("/O=cmpkit tests/CN=reference"))
        .issuer_name(pki.root.cert.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(4242)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ref.example")]), critical=False)
        .sign(pki.root.key, hashes.SHA256())
    )


# --- CertTemplate ------------------------------------------------------------------------------


def test_template_has_subject_and_public_key(key: ec.EllipticCurvePrivateKey) -> None:
    t = cert_template(EnrollRequest("ir", new_key=key, subject=SUBJECT))
    assert t.subject_name() == SUBJECT
    assert t.public_key == public_key_der(key)
    assert t.issuer is None and t.validity is None and t.extensions is None


def test_template_key_is_encoded_once_per_request(
    key: ec.EllipticCurvePrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request run again and again (-repeat) encodes its new key once; another
    # request, or the client's own key when there is no new_key, is encoded anew.
    import cmp.requests as requests_module

    calls: list[object] = []

    def counting(k: Any) -> bytes:
        calls.append(k)
        return public_key_der(k)

    monkeypatch.setattr(requests_module, "public_key_der", counting)
    request = EnrollRequest("ir", new_key=key, subject=SUBJECT)
    first, second = cert_template(request), cert_template(request)
    assert first.public_key == second.public_key == public_key_der(key)
    assert calls == [key]
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = cert_template(EnrollRequest("ir", new_key=other_key, subject=SUBJECT))
    assert other.public_key == public_key_der(other_key) != first.public_key
    own = cert_template(EnrollRequest("ir", subject=SUBJECT), client_key=other_key)
    assert own.public_key == public_key_der(other_key)
    assert calls == [key, other_key, other_key]


def test_null_dn_subject_leaves_subject_out(key: ec.EllipticCurvePrivateKey) -> None:
    t = cert_template(EnrollRequest("ir", new_key=key, subject=NULL_DN), client_cert=None)
    assert t.subject is None


def test_days_request_validity_from_now(key: ec.EllipticCurvePrivateKey) -> None:
    now = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    t = cert_template(EnrollRequest("ir", new_key=key, subject=SUBJECT, days=10), now=now)
    assert t.validity is not None
    assert t.validity.not_before == now
    assert t.validity.not_after == now + datetime.timedelta(days=10)


def test_kur_takes_subject_issuer_and_sans_from_oldcert(
    key: ec.EllipticCurvePrivateKey, refcert: x509.Certificate
) -> None:
    t = cert_template(EnrollRequest("kur", new_key=key, oldcert=refcert))
    assert t.subject_name() == refcert.subject
    assert t.issuer_name() == refcert.issuer
    san = _exts(t).get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["ref.example"]
    assert not san.critical


def test_ir_takes_no_default_subject_when_sans_are_given(
    key: ec.EllipticCurvePrivateKey, refcert: x509.Certificate
) -> None:
    request = EnrollRequest("ir", new_key=key, oldcert=refcert, sans=[x509.DNSName("a.example")])
    t = cert_template(request)
    assert t.subject is None
    san = _exts(t).get_extension_for_class(x509.SubjectAlternativeName)
    # RFC 5280 §4.2.1.6: without a subject the SANs are critical.
    assert san.critical
    assert san.value.get_values_for_type(x509.DNSName) == ["a.example"]


def test_san_nodefault_keeps_oldcert_sans_out(
    key: ec.EllipticCurvePrivateKey, refcert: x509.Certificate
) -> None:
    t = cert_template(EnrollRequest("cr", new_key=key, oldcert=refcert, san_nodefault=True))
    assert t.extensions is None
    assert t.subject_name() == refcert.subject


def test_client_cert_is_the_default_reference(
    key: ec.EllipticCurvePrivateKey, refcert: x509.Certificate
) -> None:
    t = cert_template(EnrollRequest("kur", new_key=key), client_cert=refcert)
    assert t.subject_name() == refcert.subject


def test_kur_needs_a_reference_certificate(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(RequestError, match="kur needs"):
        cert_template(EnrollRequest("kur", new_key=key))


def test_issuer_null_dn_leaves_issuer_out(
    key: ec.EllipticCurvePrivateKey, refcert: x509.Certificate
) -> None:
    t = cert_template(EnrollRequest("kur", new_key=key, oldcert=refcert, issuer=NULL_DN))
    assert t.issuer is None
    t = cert_template(EnrollRequest("kur", new_key=key, oldcert=refcert, issuer=OTHER))
    assert t.issuer_name() == OTHER


def test_reqexts_override_csr_extensions(key: ec.EllipticCurvePrivateKey) -> None:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(SUBJECT)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("csr.example")]), False)
        .sign(key, hashes.SHA256())
    )
    reqexts = [_san("reqexts.example")]
    t = cert_template(EnrollRequest("cr", csr=csr, reqexts=reqexts, popo=0))
    exts = _exts(t)
    assert [e.oid for e in exts] == [
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ]
    san = exts.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["reqexts.example"]
    # The CSR gives the key; its subject is left out of a cr as soon as SANs
    # are requested (OpenSSL's HAS_SAN rule), here through reqexts.
    assert t.public_key == public_key_der(key)
    assert t.subject is None
    assert cert_template(EnrollRequest("cr", csr=csr, popo=0)).subject_name() == SUBJECT


def test_sans_cannot_be_combined_with_a_san_in_reqexts(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(RequestError, match="subjectAltName"):
        EnrollRequest("ir", new_key=key, sans=[x509.DNSName("a")], reqexts=[_san("b")])


def test_policies_become_certificate_policies(key: ec.EllipticCurvePrivateKey) -> None:
    policies = policies_from_oids(["1.2.3.4", "2.5.29.32.0"])
    request = EnrollRequest(
        "ir", new_key=key, subject=SUBJECT, policies=policies, policies_critical=True
    )
    ext = _exts(cert_template(request)).get_extension_for_class(x509.CertificatePolicies)
    assert ext.critical
    assert [p.policy_identifier.dotted_string for p in ext.value] == ["1.2.3.4", "2.5.29.32.0"]


def test_new_key_defaults_to_client_key(key: ec.EllipticCurvePrivateKey) -> None:
    t = cert_template(EnrollRequest("ir", subject=SUBJECT), client_key=key)
    assert t.public_key == public_key_der(key)


@pytest.mark.parametrize(
    ("spec", "expected", "critical"),
    [
        ("a.example", [x509.DNSName("a.example")], False),
        (
            "192.0.2.1, ::1",
            [
                x509.IPAddress(ipaddress.ip_address("192.0.2.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ],
            False,
        ),
        (
            "https://x.example/p critical",
            [x509.UniformResourceIdentifier("https://x.example/p")],
            True,
        ),
        ("me@x.example", [x509.RFC822Name("me@x.example")], False),
    ],
)
def test_parse_sans_like_openssl(spec: str, expected: list[Any], critical: bool) -> None:
    assert parse_sans(spec) == (expected, critical)


# --- POPO -----------------------------------------------------------------------------------


def _signature_verifies(msg: Any, public_key: Any) -> None:
    """RFC 4211 §4.1: the signature is over the DER of the CertRequest."""
    popo = msg.popo
    assert popo.kind == "signature" and popo.value.poposk_input is None
    data = encode("CertRequest", msg.cert_req)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        assert popo.value.algorithm_identifier.algorithm == "1.2.840.10045.4.3.2"
        public_key.verify(popo.value.signature, data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(public_key, rsa.RSAPublicKey):
        from cryptography.hazmat.primitives.asymmetric import padding

        public_key.verify(popo.value.signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        public_key.verify(popo.value.signature, data)


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ed25519.Ed25519PrivateKey.generate,
    ],
)
def test_signature_popo_signs_der_of_cert_request(make_key: Any) -> None:
    new_key = make_key()
    body = enroll_body(EnrollRequest("ir", new_key=new_key, subject=SUBJECT))
    (msg,) = body.value
    assert msg.cert_req.cert_req_id == 0
    _signature_verifies(msg, new_key.public_key())


def test_signature_popo_needs_a_private_key(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(RequestError, match="private key"):
        enroll_body(EnrollRequest("ir", new_key=key.public_key(), subject=SUBJECT))


def test_popo_raverified_none_and_keyenc(key: ec.EllipticCurvePrivateKey) -> None:
    def popo(n: int) -> Any:
        return enroll_body(EnrollRequest("ir", new_key=key, subject=SUBJECT, popo=n)).value[0].popo

    assert popo(-1) is None
    assert popo(0).kind == "raVerified"
    keyenc = popo(2)
    assert keyenc.kind == "keyEncipherment"
    assert (keyenc.value.kind, keyenc.value.value) == ("subsequentMessage", 0)


def test_public_new_key_allows_popo_raverified(key: ec.EllipticCurvePrivateKey) -> None:
    body = enroll_body(EnrollRequest("cr", new_key=key.public_key(), subject=SUBJECT, popo=0))
    assert body.kind == "cr"


def test_kur_carries_old_cert_id(
    key: ec.EllipticCurvePrivateKey, refcert: x509.Certificate
) -> None:
    body = enroll_body(EnrollRequest("kur", new_key=key, oldcert=refcert))
    (control,) = body.value[0].cert_req.controls
    assert control.attr_type == OLD_CERT_ID
    cert_id: CertId = decode("CertId", control.value)
    assert name_of(cert_id.issuer) == refcert.issuer
    assert cert_id.serial_number == refcert.serial_number


def test_ir_request_has_no_controls(
    key: ec.EllipticCurvePrivateKey, refcert: x509.Certificate
) -> None:
    body = enroll_body(EnrollRequest("ir", new_key=key, oldcert=refcert))
    assert body.value[0].cert_req.controls is None


def test_our_kur_has_the_shape_of_openssls(captured_messages: CapturedMessages, pki: Pki) -> None:
    theirs = PKIMessage.from_der(captured_messages["pbm"]["kur"][0]).body.value[0]
    ours = enroll_body(EnrollRequest("kur", new_key=pki.new_key, oldcert=pki.enrolled.cert)).value[
        0
    ]
    assert ours.cert_req.controls == theirs.cert_req.controls
    assert ours.cert_req.cert_template == theirs.cert_req.cert_template
    assert ours.popo.value.algorithm_identifier == theirs.popo.value.algorithm_identifier


def test_our_ir_template_is_openssls(captured_messages: CapturedMessages, pki: Pki) -> None:
    theirs = PKIMessage.from_der(captured_messages["pbm"]["ir"][0]).body.value[0]
    ours = enroll_body(
        EnrollRequest("ir", new_key=pki.new_key, subject=pki.enrolled.cert.subject)
    ).value[0]
    assert ours.cert_req == theirs.cert_req


def test_p10cr_carries_the_csr(pki: Pki) -> None:
    body = enroll_body(EnrollRequest("p10cr", csr=pki.csr))
    assert body == p10cr_body(pki.csr)
    assert body.value == pki.csr.public_bytes(serialization.Encoding.DER)


def test_enroll_request_validation(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(RequestError):
        EnrollRequest("xx")
    with pytest.raises(RequestError):
        EnrollRequest("ir", popo=3)
    with pytest.raises(RequestError):
        EnrollRequest("p10cr")
    with pytest.raises(RequestError):
        EnrollRequest("ir", days=-1)


# --- rr, genm, certConf, pollReq --------------------------------------------------------------


def test_rr_names_issuer_and_serial_with_crl_reason(refcert: x509.Certificate) -> None:
    (details,) = rr_body(RevokeRequest(refcert, reason=4)).value
    assert details.cert_details.serial_number == refcert.serial_number
    assert details.cert_details.issuer_name() == refcert.issuer
    (reason,) = extensions_from_der(details.crl_entry_details)
    assert reason.oid == x509.oid.CRLEntryExtensionOID.CRL_REASON
    assert reason.value.public_bytes() == b"\x0a\x01\x04"  # ENUMERATED superseded (4)
    assert not reason.critical


def test_rr_matches_openssl(captured_messages: CapturedMessages, pki: Pki) -> None:
    theirs = PKIMessage.from_der(captured_messages["pbm"]["rr"][0]).body
    assert rr_body(RevokeRequest(pki.enrolled.cert, reason=4)) == theirs


def test_rr_without_reason_has_no_entry_details(refcert: x509.Certificate) -> None:
    (details,) = rr_body(RevokeRequest(refcert)).value
    assert details.crl_entry_details is None


@pytest.mark.parametrize("reason", [-2, 7, 11])
def test_crl_reason_must_be_0_to_10_but_not_7(refcert: x509.Certificate, reason: int) -> None:
    with pytest.raises(RequestError, match="not 7"):
        RevokeRequest(refcert, reason=reason)


@pytest.mark.parametrize("reason", [0, 1, 6, 8, 10])
def test_crl_reason_encodes_as_enumerated(reason: int) -> None:
    ext = extensions_from_der(crl_reason_extensions(reason))[0]
    assert ext.oid == x509.oid.CRLEntryExtensionOID.CRL_REASON
    assert ext.value.public_bytes() == bytes([0x0A, 0x01, reason])


def test_rr_by_csr_names_subject_and_key(pki: Pki) -> None:
    (details,) = rr_body(RevokeRequest(csr=pki.csr)).value
    assert details.cert_details.subject_name() == pki.csr.subject
    assert details.cert_details.public_key == public_key_der(pki.csr.public_key())
    assert details.cert_details.serial_number is None


def test_rr_by_issuer_and_serial() -> None:
    (details,) = rr_body(RevokeRequest(issuer=OTHER, serial=7)).value
    assert details.cert_details.issuer_name() == OTHER
    assert details.cert_details.serial_number == 7


def test_rr_needs_a_certificate() -> None:
    with pytest.raises(RequestError):
        RevokeRequest()


def test_genm_with_infotypes_by_name() -> None:
    request = GeneralRequest.for_infotypes("signKeyPairTypes", "caCerts")
    body = genm_body(request.itavs)
    assert [i.info_type for i in body.value] == [
        OID_BY_NAME["signKeyPairTypes"],
        OID_BY_NAME["caCerts"],
    ]
    assert all(i.info_value is None for i in body.value)
    assert genm_body() == PKIBody("genm", ())


def test_certconf_accepts_with_status_accepted(pki: Pki) -> None:
    (status,) = cert_conf_body(pki.enrolled.cert).value
    assert status.cert_req_id == 0
    assert status.status_info.status == PKIStatus.accepted
    assert status.status_info.status_string is None


def test_certconf_rejects_with_reason(pki: Pki) -> None:
    (status,) = cert_conf_body(pki.enrolled.cert, -1, fail_info=1 << 7, text="bad key").value
    assert status.cert_req_id == CERT_REQ_ID_NONE
    assert status.status_info.status == PKIStatus.rejection
    assert status.status_info.fail_info_names == ["incorrectData"]
    assert status.status_info.status_string == ("bad key",)


def test_certconf_matches_openssl(captured_messages: CapturedMessages, pki: Pki) -> None:
    theirs = PKIMessage.from_der(captured_messages["pbm"]["certConf"][0]).body
    assert cert_conf_body(pki.enrolled.cert) == theirs


def test_pollreq_names_the_request() -> None:
    assert poll_req_body(0).value[0].cert_req_id == 0


# --- headers ------------------------------------------------------------------------------------


def test_sender_is_cert_then_oldcert_then_csr_then_subject(pki: Pki) -> None:
    assert sender_name(cert=pki.client.cert, oldcert=pki.enrolled.cert) == pki.client.cert.subject
    assert sender_name(oldcert=pki.enrolled.cert, subject=OTHER) == pki.enrolled.cert.subject
    assert sender_name(csr=pki.csr, subject=OTHER) == pki.csr.subject
    assert sender_name(subject=OTHER) == OTHER
    assert sender_name() == NULL_DN


def test_recipient_order_as_openssl(pki: Pki) -> None:
    assert recipient_name(recipient=OTHER, srvcert=pki.server.cert) == OTHER
    assert recipient_name(srvcert=pki.server.cert, issuer=OTHER) == pki.server.cert.subject
    assert recipient_name(issuer=OTHER, oldcert=pki.enrolled.cert) == OTHER
    assert recipient_name(oldcert=pki.enrolled.cert, cert=pki.client_rsa.cert) == (
        pki.enrolled.cert.issuer
    )
    assert recipient_name(cert=pki.client.cert) == pki.client.cert.issuer
    assert recipient_name() == NULL_DN


def test_request_header_fresh_128_bit_ids() -> None:
    tid = new_transaction_id()
    h = request_header(sender=SUBJECT, recipient=None, transaction_id=tid)
    assert len(tid) == 16 and len(h.sender_nonce or b"") == 16
    assert h.pvno == 2
    assert h.transaction_id == tid
    assert h.recip_nonce is None
    assert name_of(h.recipient) == NULL_DN
    assert h.message_time is not None and h.message_time.microsecond == 0
    assert new_nonce() != new_nonce()


def test_request_header_implicit_confirm_and_geninfo() -> None:
    geninfo = parse_geninfo("1.2.3:int:5")
    h = request_header(
        sender=SUBJECT,
        recipient=OTHER,
        transaction_id=b"t" * 16,
        implicit_confirm=True,
        general_info=geninfo,
        free_text=["hello"],
    )
    assert h.general_info is not None
    assert h.general_info[0] == InfoTypeAndValue(IMPLICIT_CONFIRM, b"\x05\x00")
    assert h.general_info[1] == InfoTypeAndValue("1.2.3", b"\x02\x01\x05")
    assert has_implicit_confirm(h)
    assert h.free_text == ("hello",)


def test_parse_geninfo_forms() -> None:
    assert parse_geninfo("1.2.3:int:-1, 1.2.4:str:ab") == [
        InfoTypeAndValue("1.2.3", b"\x02\x01\xff"),
        InfoTypeAndValue("1.2.4", b"\x0c\x02ab"),
    ]
    for bad in ("1.2.3", "x:int:1", "1.2.3:int:x", "1.2.3:bool:1"):
        with pytest.raises(ValueError):
            parse_geninfo(bad)


def test_response_header_answers_the_request() -> None:
    req = request_header(sender=SUBJECT, recipient=OTHER, transaction_id=b"t" * 16)
    rsp = response_header(req, OTHER, implicit_confirm=True)
    assert rsp.transaction_id == req.transaction_id
    assert rsp.recip_nonce == req.sender_nonce
    assert rsp.sender_nonce not in (None, req.sender_nonce)
    assert rsp.recipient == req.sender
    assert name_of(rsp.sender) == OTHER
    assert has_implicit_confirm(rsp)
    assert rsp.pvno == 2


def test_response_header_keeps_pvno_3() -> None:
    req = request_header(sender=SUBJECT, recipient=OTHER, transaction_id=b"t" * 16, pvno=3)
    assert response_header(req, OTHER).pvno == 3


def test_pvno_is_2_for_plain_bodies(key: ec.EllipticCurvePrivateKey) -> None:
    assert pvno_for_body(enroll_body(EnrollRequest("ir", new_key=key, subject=SUBJECT))) == 2
    assert pvno_for_body(genm_body()) == 2


def test_request_header_encodes(key: ec.EllipticCurvePrivateKey) -> None:
    h = request_header(
        sender=SUBJECT, recipient=GeneralName.directory_name(OTHER), transaction_id=b"t" * 16
    )
    msg = PKIMessage(h, genm_body())
    again = PKIMessage.from_der(msg.to_der())
    assert again.header == h


def test_cert_request_type_is_exported() -> None:
    assert CertRequest.__name__ == "CertRequest"
    assert NameOID.COMMON_NAME
