"""The PKIMessage DER codec (RFC 9810 §5.1) against what OpenSSL sends and parses.

- Every message OpenSSL wrote (the conformance vectors, and one of every body
  kind captured from ``openssl cmp -use_mock_srv`` in both protection modes)
  re-encodes byte for byte, from its bytes and from its decoded values.
- The decoded values are the ones the harness configured or openssl sent.
- A message of every body kind built from the ``cmp.asn1`` dataclasses is
  parsed by ``openssl asn1parse``, decoded back to equal values, and parsed
  and re-encoded identically by OpenSSL's own CMP decoder (``d2i_OSSL_CMP_MSG``
  / ``i2d_OSSL_CMP_MSG`` from libcrypto via ctypes).
- Malformed input raises :class:`cmp.DecodeError` (with an offset for
  structural faults, an ASN.1 path for schema faults), never anything else.

The DER of the protected part is checked with the small TLV walker below, not
with cmpkit's own code.
"""

from __future__ import annotations

import copy as copy_module
import ctypes
import ctypes.util
import dataclasses
import datetime
import hashlib
import pickle
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from openssl_harness import CAPTURED_KINDS, PROTECTIONS, CapturedMessages, Pki

import cmp
from cmp import BODY_TYPES, DecodeError, EncodeError, PKIMessage, _native
from cmp import asn1 as A
from cmp.asn1 import (
    AlgorithmIdentifier,
    AttributeTypeAndValue,
    BitString,
    CAKeyUpdAnnContent,
    CAKeyUpdContent,
    CertId,
    CertifiedKeyPair,
    CertOrEncCert,
    CertRepMessage,
    CertReqMsg,
    CertReqTemplateContent,
    CertRequest,
    CertResponse,
    CertStatus,
    CertTemplate,
    Challenge,
    CRLSource,
    CRLStatus,
    EncryptedKey,
    EncryptedValue,
    ErrorMsgContent,
    FailInfo,
    GeneralName,
    InfoTypeAndValue,
    KemCiphertextInfo,
    KeyRecRepContent,
    OptionalValidity,
    PKIArchiveOptions,
    PKIBody,
    PKIHeader,
    PKIPublicationInfo,
    PKIStatus,
    PKIStatusInfo,
    PKMACValue,
    PollRepEntry,
    PollReqEntry,
    POPOPrivKey,
    POPOSigningKey,
    POPOSigningKeyInput,
    POPOSigningKeyInputAuthInfo,
    ProofOfPossession,
    RevAnnContent,
    RevDetails,
    RevRepContent,
    RootCaKeyUpdateContent,
    SinglePubInfo,
)
from cmp.itav import NAME_BY_OID, OID_BY_NAME, make_itav

UTC = datetime.timezone.utc
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo

# OIDs used in the built messages.
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
SHA256 = "2.16.840.1.101.3.4.2.1"
HMAC_SHA256 = "1.2.840.113549.2.9"
AES128_CBC = "2.16.840.1.101.3.4.1.2"
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
PASSWORD_BASED_MAC = "1.2.840.113533.7.66.13"
ID_REG_CTRL = "1.3.6.1.5.5.7.5.1."
ID_REG_INFO = "1.3.6.1.5.5.7.5.2."


# ---------------------------------------------------------------------------
# A small DER walker and writer of our own (independent of cmpkit)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tlv:
    """``der[start:end]`` is the whole element, ``der[content:end]`` its contents."""

    tag: int  # the (single) identifier octet
    start: int
    content: int
    end: int


def read_tlv(der: bytes, pos: int = 0) -> Tlv:
    tag = der[pos]
    assert tag & 0x1F != 0x1F, "no high tag numbers in CMP"
    first = der[pos + 1]
    content = pos + 2
    length = first
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(der[content : content + count], "big")
        content += count
    end = content + length
    assert end <= len(der), "element overruns its input"
    return Tlv(tag, pos, content, end)


def children(der: bytes, parent: Tlv) -> list[Tlv]:
    items, pos = [], parent.content
    while pos < parent.end:
        items.append(read_tlv(der, pos))
        pos = items[-1].end
    assert pos == parent.end
    return items


def tlv(tag: int, content: bytes) -> bytes:
    """The DER element with identifier octet ``tag`` and ``content``."""
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def message_elements(der: bytes) -> list[Tlv]:
    """header, body, then [0] protection / [1] extraCerts when present."""
    top = read_tlv(der)
    assert top.tag == 0x30 and top.end == len(der)
    return children(der, top)


def protected_part_by_hand(der: bytes) -> bytes:
    """ProtectedPart ::= SEQUENCE { header, body } sliced from a PKIMessage."""
    header, body = message_elements(der)[:2]
    return seq(der[header.start : body.end])


# ---------------------------------------------------------------------------
# OpenSSL's own CMP decoder, through libcrypto
# ---------------------------------------------------------------------------


class LibCrypto:
    """``d2i_OSSL_CMP_MSG`` and ``i2d_OSSL_CMP_MSG`` of the system's libcrypto."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.d2i_OSSL_CMP_MSG.restype = ctypes.c_void_p
        lib.d2i_OSSL_CMP_MSG.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_long,
        ]  # fmt: skip
        lib.i2d_OSSL_CMP_MSG.restype = ctypes.c_int
        lib.i2d_OSSL_CMP_MSG.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.OSSL_CMP_MSG_free.argtypes = [ctypes.c_void_p]
        lib.OSSL_CMP_MSG_get_bodytype.argtypes = [ctypes.c_void_p]
        lib.OSSL_CMP_MSG_get_bodytype.restype = ctypes.c_int
        lib.ERR_clear_error.argtypes = []
        lib.OpenSSL_version.restype = ctypes.c_char_p
        lib.OpenSSL_version.argtypes = [ctypes.c_int]
        self.version = lib.OpenSSL_version(0).decode()

    def reencode(self, der: bytes) -> tuple[int, bytes]:
        """(body type number, i2d of the decoded message); AssertionError when
        OpenSSL rejects ``der`` or does not consume all of it."""
        buf = ctypes.create_string_buffer(der, len(der))
        start = ctypes.addressof(buf)
        cursor = ctypes.c_void_p(start)
        msg = self.lib.d2i_OSSL_CMP_MSG(None, ctypes.byref(cursor), len(der))
        if not msg:
            self.lib.ERR_clear_error()
            raise AssertionError(f"{self.version}: d2i_OSSL_CMP_MSG rejected the message")
        try:
            assert cursor.value - start == len(der), "OpenSSL did not consume the whole message"
            size = self.lib.i2d_OSSL_CMP_MSG(msg, None)
            assert size > 0, "i2d_OSSL_CMP_MSG failed"
            out = ctypes.create_string_buffer(size)
            out_cursor = ctypes.c_void_p(ctypes.addressof(out))
            assert self.lib.i2d_OSSL_CMP_MSG(msg, ctypes.byref(out_cursor)) == size
            return self.lib.OSSL_CMP_MSG_get_bodytype(msg), out.raw
        finally:
            self.lib.OSSL_CMP_MSG_free(msg)


@pytest.fixture(scope="session")
def libcrypto() -> LibCrypto:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if hasattr(lib, "d2i_OSSL_CMP_MSG"):
            return LibCrypto(lib)
    pytest.skip("no libcrypto with CMP support (OpenSSL >= 3.0) to load")


@pytest.fixture(scope="session")
def openssl_cli() -> str:
    found = shutil.which("openssl")
    if found is None:
        pytest.skip("openssl not found on PATH")
    return found


# ---------------------------------------------------------------------------
# 1. Byte-exact round trips of what OpenSSL sent
# ---------------------------------------------------------------------------

#: Vectors whose extraCerts is an EMPTY SEQUENCE (OpenSSL sends that although
#: the RFC says SIZE (1..MAX)): ``extra_certs`` is ``EMPTY_EXTRA_CERTS``, and
#: the message rebuilt from its values has the empty SEQUENCE again.
EMPTY_EXTRA_CERTS = {"protect_data/IR_protected.der", "vfy_data/IR_protected.der"}


def conformance_vectors(conformance_dir: Path) -> list[tuple[str, bytes]]:
    root = conformance_dir / "vectors"
    found = sorted((str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*.der"))
    assert found, f"no .der files under {root}"
    return found


def assert_round_trips(der: bytes, label: str) -> PKIMessage:
    msg = PKIMessage.from_der(der)
    assert msg.to_der() == der, label
    assert msg.protected_part() == protected_part_by_hand(der), label
    rebuilt = PKIMessage(msg.header, msg.body, msg.protection, msg.extra_certs)
    assert (msg.extra_certs is cmp.message.EMPTY_EXTRA_CERTS) == (label in EMPTY_EXTRA_CERTS)
    assert rebuilt.to_der() == der, label
    assert rebuilt.protected_part() == msg.protected_part(), label
    return msg


def test_conformance_vectors_round_trip_byte_exact(conformance_dir: Path) -> None:
    kinds = {}
    for name, der in conformance_vectors(conformance_dir):
        if name == "msg_data/pkcs10.der":
            continue
        kinds[name] = assert_round_trips(der, name).body_type
    assert kinds["protect_data/IP_PBM.der"] == "ip"
    assert kinds["protect_data/GENM_protected_Ed.der"] == "genm"
    assert kinds["server_data/CR_protected_PBM_1234.der"] == "cr"
    assert set(kinds.values()) >= {"ir", "ip", "cr", "genm"}


def test_decoding_at_once_gives_what_lazy_decoding_gives(some_messages: dict[str, bytes]) -> None:
    # PKIMessage.decode validates and converts in one pass over the bytes.
    for name, der in some_messages.items():
        lazy, eager = PKIMessage.from_der(der), PKIMessage.decode(der)
        assert eager.body_type == lazy.body_type, name
        assert eager.protected_part() == lazy.protected_part() == _native.protected_part_of(der)
        assert (eager.header, eager.body) == (lazy.header, lazy.body), name
        assert (eager.protection, eager.extra_certs) == (lazy.protection, lazy.extra_certs)
        assert eager.to_der() == der and eager == lazy
        for n in (0, 1, len(der) // 2, len(der) - 1):
            with pytest.raises(DecodeError):
                PKIMessage.decode(der[:n])
    with pytest.raises(TypeError):
        PKIMessage.decode("not bytes")  # type: ignore[arg-type]


def test_conformance_csr_is_not_a_pkimessage(conformance_dir: Path) -> None:
    csr = (conformance_dir / "vectors" / "msg_data" / "pkcs10.der").read_bytes()
    x509.load_der_x509_csr(csr)  # it is a fine CSR ...
    with pytest.raises(DecodeError) as info:
        PKIMessage.from_der(csr)  # ... but no PKIMessage
    assert "PKIHeader" in info.value.path


def test_empty_extra_certs_sequence_openssl_sends_round_trips_through_values(
    conformance_dir: Path,
) -> None:
    for name in EMPTY_EXTRA_CERTS:
        der = (conformance_dir / "vectors" / name).read_bytes()
        assert der.endswith(b"\xa1\x02\x30\x00")
        msg = PKIMessage.from_der(der)
        assert msg.to_der() == der
        assert msg.extra_certs == () and msg.extra_certs is cmp.message.EMPTY_EXTRA_CERTS
        rebuilt = PKIMessage(msg.header, msg.body, msg.protection, msg.extra_certs).to_der()
        assert rebuilt == der
        # An empty tuple, the default, leaves extraCerts out.
        plain = PKIMessage(msg.header, msg.body, msg.protection, ()).to_der()
        assert plain == seq(b"".join(der[e.start : e.end] for e in message_elements(der)[:-1]))


@pytest.mark.parametrize("protection", PROTECTIONS)
@pytest.mark.parametrize("kind", CAPTURED_KINDS)
def test_openssl_message_round_trips_byte_exact(
    captured_messages: CapturedMessages, protection: str, kind: str
) -> None:
    messages = captured_messages[protection][kind]
    assert messages
    for i, der in enumerate(messages):
        msg = assert_round_trips(der, f"{protection} {kind} #{i}")
        assert msg.body_type == kind
        assert msg.body.kind == kind
        assert msg.protection is not None
        # Signature protection comes with the signer's certificate.
        assert len(msg.extra_certs) == (1 if protection == "sig" else 0)


def test_openssl_messages_are_reencoded_identically_by_openssl_too(
    captured_messages: CapturedMessages, libcrypto: LibCrypto
) -> None:
    """Sanity check of the ctypes helper used for the built messages below."""
    for protection in PROTECTIONS:
        for kind in CAPTURED_KINDS:
            der = captured_messages[protection][kind][0]
            body_type, again = libcrypto.reencode(der)
            assert BODY_TYPES[body_type] == kind
            assert again == der


# ---------------------------------------------------------------------------
# 2. Decoded values are what OpenSSL sent
# ---------------------------------------------------------------------------


def decoded(captured: CapturedMessages, protection: str, kind: str, i: int = 0) -> PKIMessage:
    return PKIMessage.from_der(captured[protection][kind][i])


def single(messages: list[PKIMessage]) -> PKIMessage:
    assert len(messages) == 1, messages
    return messages[0]


def ip_with_status(captured: CapturedMessages, protection: str, status: int) -> PKIMessage:
    ips = [PKIMessage.from_der(d) for d in captured[protection]["ip"]]
    return single([m for m in ips if m.body.value.response[0].status.status == status])


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_pvno_is_cmp2000(captured_messages: CapturedMessages, protection: str) -> None:
    for kind in CAPTURED_KINDS:
        assert decoded(captured_messages, protection, kind).header.pvno == 2


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_transaction_id_and_nonces_chain_through_the_ir_transaction(
    captured_messages: CapturedMessages, protection: str
) -> None:
    """RFC 9810 §5.1.1: one transactionID, each recipNonce echoes the peer's senderNonce."""
    chain = [decoded(captured_messages, protection, k) for k in ("ir", "ip", "certConf", "pkiconf")]
    tid = chain[0].transaction_id
    assert tid is not None and len(tid) == 16
    assert all(m.transaction_id == tid for m in chain)
    assert chain[0].recip_nonce is None
    for request, response in zip(chain, chain[1:]):
        assert request.sender_nonce is not None and len(request.sender_nonce) == 16
        assert response.recip_nonce == request.sender_nonce
        assert response.sender_nonce != request.sender_nonce


def test_pbm_protection_alg_and_sender_kid(captured_messages: CapturedMessages, pki: Pki) -> None:
    ir = decoded(captured_messages, "pbm", "ir").header
    assert ir.protection_alg is not None
    assert ir.protection_alg.algorithm == PASSWORD_BASED_MAC
    params = A.decode("PBMParameter", ir.protection_alg.parameters)
    assert params.owf.algorithm == SHA256 and params.iteration_count > 0
    assert ir.sender_kid == pki.ref.encode()
    ip = decoded(captured_messages, "pbm", "ip").header
    assert ip.sender_kid == pki.srv_ref.encode()


def test_signature_sender_kid_is_the_client_key_identifier(
    captured_messages: CapturedMessages, pki: Pki
) -> None:
    ir = decoded(captured_messages, "sig", "ir")
    assert ir.header.protection_alg == AlgorithmIdentifier(ECDSA_SHA256)
    ski = pki.client.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ir.header.sender_kid == ski.value.digest
    assert ir.extra_certs == (pki.client.cert.public_bytes(DER),)
    assert ir.extra_certificates() == [pki.client.cert]


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_header_general_names_convert_to_cryptography(
    captured_messages: CapturedMessages, pki: Pki, protection: str
) -> None:
    ir = decoded(captured_messages, protection, "ir").header
    ip = decoded(captured_messages, protection, "ip").header
    if protection == "pbm":  # sender from -subject, recipient from -recipient
        client, server = pki.enrolled.cert.subject, pki.server.cert.subject
        assert ir.recipient.to_cryptography() == x509.DirectoryName(server)
    else:  # sender from -cert, recipient its issuer
        client, server = pki.client.cert.subject, pki.server.cert.subject
        assert ir.recipient.to_cryptography() == x509.DirectoryName(pki.root.cert.subject)
    assert ir.sender.to_cryptography() == x509.DirectoryName(client)
    assert ip.sender.to_cryptography() == x509.DirectoryName(server)
    assert ip.recipient.to_cryptography() == x509.DirectoryName(client)
    assert GeneralName.from_cryptography(ir.sender.to_cryptography()) == ir.sender


@pytest.mark.parametrize("protection", PROTECTIONS)
@pytest.mark.parametrize("kind", ["ir", "cr"])
def test_request_template_carries_subject_and_new_public_key(
    captured_messages: CapturedMessages, pki: Pki, protection: str, kind: str
) -> None:
    (req,) = decoded(captured_messages, protection, kind).body.value
    template = req.cert_req.cert_template
    assert req.cert_req.cert_req_id == 0
    assert template.subject_name() == pki.enrolled.cert.subject
    assert template.public_key == pki.new_key.public_key().public_bytes(DER, SPKI)
    assert template.public_key_object() == pki.new_key.public_key()
    assert template.extension_list() is None  # openssl sends none without -sans etc.
    assert req.popo is not None and req.popo.kind == "signature"
    assert req.popo.value.algorithm_identifier == AlgorithmIdentifier(ECDSA_SHA256)


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_kur_carries_old_cert_id_control(
    captured_messages: CapturedMessages, pki: Pki, protection: str
) -> None:
    (req,) = decoded(captured_messages, protection, "kur").body.value
    (control,) = req.cert_req.controls
    assert control.attr_type == ID_REG_CTRL + "5"  # id-regCtrl-oldCertID
    old = A.decode("CertId", control.value)
    assert old.serial_number == pki.enrolled.cert.serial_number
    assert old.issuer.to_cryptography() == x509.DirectoryName(pki.enrolled.cert.issuer)


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_ip_carries_the_issued_certificate_and_ca_pubs(
    captured_messages: CapturedMessages, pki: Pki, protection: str
) -> None:
    ip = decoded(captured_messages, protection, "ip")
    (response,) = ip.body.value.response
    assert response.status == PKIStatusInfo(PKIStatus.accepted)
    assert response.certificate() == pki.enrolled.cert
    assert response.certified_key_pair.cert_or_enc_cert.value == pki.enrolled.cert.public_bytes(DER)
    assert ip.body.value.ca_pubs == (pki.root.cert.public_bytes(DER),)
    assert ip.status_info() == response.status


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_rejection_ip_has_status_rejection_and_fail_info_bad_request(
    captured_messages: CapturedMessages, protection: str
) -> None:
    ip = ip_with_status(captured_messages, protection, PKIStatus.rejection)
    (response,) = ip.body.value.response
    assert response.status.fail_info == FailInfo.badRequest
    assert response.status.fail_info_names == ["badRequest"]
    assert response.status.status_string == ("cmpkit test rejection",)
    assert response.certified_key_pair is None and response.certificate() is None


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_waiting_ip_has_no_certificate_and_poll_rep_has_check_after(
    captured_messages: CapturedMessages, protection: str
) -> None:
    ip = ip_with_status(captured_messages, protection, PKIStatus.waiting)
    assert ip.body.value.response[0].certified_key_pair is None
    assert decoded(captured_messages, protection, "pollReq").body.value == (PollReqEntry(0),)
    (entry,) = decoded(captured_messages, protection, "pollRep").body.value
    assert entry == PollRepEntry(cert_req_id=0, check_after=0)  # -check_after 0


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_error_body_carries_pki_status_info(
    captured_messages: CapturedMessages, protection: str
) -> None:
    error = decoded(captured_messages, protection, "error")
    content = error.body.value
    assert isinstance(content, ErrorMsgContent)
    assert content.pki_status_info.status == PKIStatus.rejection
    assert content.pki_status_info.fail_info == FailInfo.badRequest
    assert content.pki_status_info.status_string
    assert content.error_details and all(isinstance(s, str) for s in content.error_details)
    assert error.status_info() == content.pki_status_info


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_rr_template_names_the_revoked_certificate(
    captured_messages: CapturedMessages, pki: Pki, protection: str
) -> None:
    (details,) = decoded(captured_messages, protection, "rr").body.value
    template = details.cert_details
    assert template.serial_number == pki.enrolled.cert.serial_number
    assert template.issuer_name() == pki.enrolled.cert.issuer
    from cmp.names import extensions_from_der

    (reason,) = extensions_from_der(details.crl_entry_details)
    assert reason.oid == x509.oid.CRLEntryExtensionOID.CRL_REASON
    # Read through a certificate wrapper, a CRL entry extension stays unparsed:
    # ENUMERATED superseded (4), from -revreason 4.
    assert reason.value == x509.UnrecognizedExtension(reason.oid, b"\x0a\x01\x04")


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_rp_acknowledges_the_revoked_certificate(
    captured_messages: CapturedMessages, pki: Pki, protection: str
) -> None:
    rp = decoded(captured_messages, protection, "rp")
    content = rp.body.value
    assert content.status == (PKIStatusInfo(PKIStatus.accepted),)
    (cert_id,) = content.rev_certs
    assert cert_id.serial_number == pki.enrolled.cert.serial_number
    assert cert_id.issuer.to_cryptography() == x509.DirectoryName(pki.enrolled.cert.issuer)
    assert rp.status_info() == PKIStatusInfo(PKIStatus.accepted)


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_genm_and_genp_itavs_decode_by_info_type(
    captured_messages: CapturedMessages, protection: str
) -> None:
    plain = decoded(captured_messages, protection, "genm", 0)
    assert plain.body.value == ()  # openssl 3.0 sends an empty genm without -infotype
    for kind in ("genm", "genp"):
        (itav,) = decoded(captured_messages, protection, kind, 1).body.value
        assert NAME_BY_OID[itav.info_type] == "signKeyPairTypes"
        if itav.info_value is None:  # the 3.0 mock server echoes the request's ITAV
            assert itav.decoded() is None
        else:
            assert all(isinstance(a, AlgorithmIdentifier) for a in itav.decoded())


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_cert_conf_hash_is_the_sha256_of_the_issued_certificate(
    captured_messages: CapturedMessages, pki: Pki, protection: str
) -> None:
    """RFC 9810 §5.3.18: certHash over the certificate with the hash of its
    signature algorithm (ecdsa-with-SHA256 here)."""
    (status,) = decoded(captured_messages, protection, "certConf").body.value
    assert status.cert_hash == hashlib.sha256(pki.enrolled.cert.public_bytes(DER)).digest()
    assert status.cert_req_id == 0
    assert status.status_info in (None, PKIStatusInfo(PKIStatus.accepted))
    assert status.hash_alg is None
    assert decoded(captured_messages, protection, "pkiconf").body == PKIBody("pkiconf", None)


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_p10cr_body_is_the_csr_der(
    captured_messages: CapturedMessages, pki: Pki, protection: str
) -> None:
    body = decoded(captured_messages, protection, "p10cr").body
    assert body == PKIBody("p10cr", pki.csr.public_bytes(DER))


# ---------------------------------------------------------------------------
# 3. Every body kind built from values
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """DER of real certificates, a CSR, a CRL and extensions made with cryptography."""

    cert: bytes
    root: bytes
    server: bytes
    csr: bytes
    crl: bytes
    spki: bytes
    client_name: bytes
    server_name: bytes
    root_name: bytes
    serial: int
    extensions: bytes
    crl_entry_details: bytes


def extensions_of(cert: x509.Certificate) -> bytes:
    """The DER Extensions of a certificate, sliced from its TBSCertificate."""
    tbs = cert.tbs_certificate_bytes
    (explicit,) = [t for t in children(tbs, read_tlv(tbs)) if t.tag == 0xA3]
    inner = read_tlv(tbs, explicit.content)
    return tbs[inner.start : inner.end]


@pytest.fixture(scope="session")
def material(pki: Pki) -> Material:
    now = datetime.datetime(2026, 5, 1, 12, tzinfo=UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.root.cert.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(pki.enrolled.cert.serial_number)
            .revocation_date(now)
            .build()
        )
        .sign(pki.root.key, hashes.SHA256())
    )
    reason = x509.CRLReason(x509.ReasonFlags.key_compromise).public_bytes()
    crl_reason_oid = b"\x06\x03\x55\x1d\x15"  # 2.5.29.21 id-ce-cRLReasons
    return Material(
        cert=pki.enrolled.cert.public_bytes(DER),
        root=pki.root.cert.public_bytes(DER),
        server=pki.server.cert.public_bytes(DER),
        csr=pki.csr.public_bytes(DER),
        crl=crl.public_bytes(DER),
        spki=pki.new_key.public_key().public_bytes(DER, SPKI),
        client_name=pki.enrolled.cert.subject.public_bytes(),
        server_name=pki.server.cert.subject.public_bytes(),
        root_name=pki.root.cert.subject.public_bytes(),
        serial=pki.enrolled.cert.serial_number,
        extensions=extensions_of(pki.enrolled.cert),
        crl_entry_details=seq(seq(crl_reason_oid, tlv(0x04, reason))),
    )


def utf8(text: str) -> bytes:
    return tlv(0x0C, text.encode())


def header(m: Material) -> PKIHeader:
    return PKIHeader(
        pvno=2,
        sender=GeneralName("directoryName", m.client_name),
        recipient=GeneralName("directoryName", m.server_name),
        message_time=datetime.datetime(2026, 5, 1, 12, 30, 15, tzinfo=UTC),
        protection_alg=AlgorithmIdentifier(ECDSA_SHA256),
        sender_kid=bytes(range(20)),
        recip_kid=None,
        transaction_id=bytes(range(16)),
        sender_nonce=bytes(range(16, 32)),
        recip_nonce=bytes(range(32, 48)),
        free_text=("cmpkit codec test", "zweite Zeile ✓"),
        general_info=(InfoTypeAndValue(OID_BY_NAME["implicitConfirm"], b"\x05\x00"),),
    )


def template(m: Material) -> CertTemplate:
    return CertTemplate(
        version=2,
        serial_number=m.serial,
        signing_alg=AlgorithmIdentifier(ECDSA_SHA256),
        issuer=m.root_name,
        validity=OptionalValidity(
            datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2060, 1, 1, tzinfo=UTC)
        ),
        subject=m.client_name,
        public_key=m.spki,
        issuer_uid=BitString(b"\x01\x80", 7),
        subject_uid=BitString(b"\xaa"),
        extensions=m.extensions,
    )


def mac(value: bytes = b"\x11" * 32) -> PKMACValue:
    return PKMACValue(AlgorithmIdentifier(HMAC_SHA256, b"\x05\x00"), value)


def encrypted_value() -> EncryptedValue:
    return EncryptedValue(
        intended_alg=AlgorithmIdentifier(EC_PUBLIC_KEY),
        symm_alg=AlgorithmIdentifier(AES128_CBC, tlv(0x04, bytes(16))),
        enc_symm_key=b"\x42" * 32,
        key_alg=AlgorithmIdentifier(RSA_ENCRYPTION, b"\x05\x00"),
        value_hint=b"hint",
        enc_value=b"\x99" * 48,
    )


def cert_id(m: Material) -> CertId:
    return CertId(GeneralName("directoryName", m.root_name), m.serial)


def cert_req_msgs(m: Material, kind: str) -> tuple[CertReqMsg, ...]:
    full = CertReqMsg(
        cert_req=CertRequest(
            cert_req_id=0,
            cert_template=template(m),
            controls=(
                AttributeTypeAndValue(ID_REG_CTRL + "1", utf8("reg token")),
                AttributeTypeAndValue(ID_REG_CTRL + "2", utf8("authenticator")),
                AttributeTypeAndValue(
                    ID_REG_CTRL + "3",
                    A.encode(
                        "PKIPublicationInfo",
                        PKIPublicationInfo(
                            1,
                            (
                                SinglePubInfo(
                                    2, GeneralName("uniformResourceIdentifier", "http://x/")
                                ),
                            ),
                        ),
                    ),
                ),
                AttributeTypeAndValue(
                    ID_REG_CTRL + "4",
                    A.encode("PKIArchiveOptions", PKIArchiveOptions("archiveRemGenPrivKey", True)),
                ),
                AttributeTypeAndValue(ID_REG_CTRL + "5", A.encode("CertId", cert_id(m))),
                AttributeTypeAndValue(ID_REG_CTRL + "6", m.spki),
            ),
        ),
        popo=ProofOfPossession(
            "signature",
            POPOSigningKey(
                POPOSigningKeyInput(
                    POPOSigningKeyInputAuthInfo(
                        "sender", GeneralName("directoryName", m.client_name)
                    ),
                    m.spki,
                ),
                AlgorithmIdentifier(ECDSA_SHA256),
                b"\x30\x06\x02\x01\x01\x02\x01\x01",
            ),
        ),
        reg_info=(
            AttributeTypeAndValue(ID_REG_INFO + "1", utf8("%name?value%")),
            AttributeTypeAndValue(
                ID_REG_INFO + "2",
                A.encode("CertRequest", CertRequest(7, CertTemplate(subject=m.client_name))),
            ),
        ),
    )

    def plain(req_id: int, popo: ProofOfPossession | None) -> CertReqMsg:
        return CertReqMsg(
            CertRequest(req_id, CertTemplate(subject=m.client_name, public_key=m.spki)), popo
        )

    if kind == "ir":
        return (full,)
    if kind == "cr":  # every POPOPrivKey alternative OpenSSL 3.0 parses
        return (
            plain(0, ProofOfPossession("raVerified", None)),
            plain(
                1,
                ProofOfPossession(
                    "keyEncipherment", POPOPrivKey("thisMessage", BitString(b"\x01\x02"))
                ),
            ),
            plain(2, ProofOfPossession("keyEncipherment", POPOPrivKey("subsequentMessage", 0))),
            plain(
                3, ProofOfPossession("keyAgreement", POPOPrivKey("dhMAC", BitString(b"\xf0", 4)))
            ),
            plain(4, ProofOfPossession("keyAgreement", POPOPrivKey("agreeMAC", mac()))),
            plain(
                5,
                ProofOfPossession(
                    "signature",
                    POPOSigningKey(
                        POPOSigningKeyInput(
                            POPOSigningKeyInputAuthInfo("publicKeyMAC", mac()), m.spki
                        ),
                        AlgorithmIdentifier(ECDSA_SHA256),
                        b"\x01" * 64,
                    ),
                ),
            ),
        )
    if kind == "kur":
        old = AttributeTypeAndValue(ID_REG_CTRL + "5", A.encode("CertId", cert_id(m)))
        msg = plain(
            0,
            ProofOfPossession(
                "signature", POPOSigningKey(None, AlgorithmIdentifier(ECDSA_SHA256), b"\x02" * 70)
            ),
        )
        return (CertReqMsg(CertRequest(0, msg.cert_req.cert_template, (old,)), msg.popo),)
    return (plain(0, None), plain(-1, ProofOfPossession("raVerified", None)))  # krr, ccr


def cert_rep(m: Material, kind: str) -> CertRepMessage:
    issued = CertifiedKeyPair(CertOrEncCert("certificate", m.cert))
    if kind == "ip":
        return CertRepMessage(
            (m.root,), (CertResponse(0, PKIStatusInfo(PKIStatus.accepted), issued),)
        )
    if kind == "cp":
        published = CertifiedKeyPair(
            CertOrEncCert("certificate", m.cert),
            publication_info=PKIPublicationInfo(
                1,
                (
                    SinglePubInfo(1, GeneralName("directoryName", m.root_name)),
                    SinglePubInfo(
                        3, GeneralName("uniformResourceIdentifier", "ldap://ldap.example/")
                    ),
                ),
            ),
        )
        rejected = PKIStatusInfo(
            PKIStatus.rejection, ("bad request", "bad POP"), FailInfo.badRequest | FailInfo.badPOP
        )
        return CertRepMessage(
            None,
            (
                CertResponse(0, PKIStatusInfo(PKIStatus.grantedWithMods, ("modified",)), published),
                CertResponse(1, rejected, None, b"rsp info"),
            ),
        )
    if kind == "kup":
        encrypted = CertifiedKeyPair(
            CertOrEncCert("encryptedCert", EncryptedKey("encryptedValue", encrypted_value())),
            private_key=EncryptedKey("encryptedValue", encrypted_value()),
        )
        return CertRepMessage((m.root, m.server), (CertResponse(0, PKIStatusInfo(0), encrypted),))
    # ccp: waiting, no certificate; a response with an empty status string list is not DER-able
    return CertRepMessage(None, (CertResponse(2**64, PKIStatusInfo(PKIStatus.waiting)),))


def itavs(m: Material, side: str) -> tuple[InfoTypeAndValue, ...]:
    if side == "genm":
        return (
            make_itav("signKeyPairTypes"),
            make_itav("caCerts"),
            make_itav("keyPairParamReq", EC_PUBLIC_KEY),
            make_itav("certProfile", ("profile1",)),
            InfoTypeAndValue("1.2.3.4.5", tlv(0x04, b"private")),
        )
    now = datetime.datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    return (
        make_itav("caProtEncCert", m.server),
        make_itav(
            "signKeyPairTypes",
            (AlgorithmIdentifier(ECDSA_SHA256), AlgorithmIdentifier("1.3.101.112")),
        ),
        make_itav("encKeyPairTypes", (AlgorithmIdentifier(RSA_ENCRYPTION, b"\x05\x00"),)),
        make_itav("preferredSymmAlg", AlgorithmIdentifier(AES128_CBC)),
        make_itav("caKeyUpdateInfo", CAKeyUpdAnnContent(m.root, m.server, m.cert)),
        make_itav("currentCRL", m.crl),
        make_itav("unsupportedOIDs", ("1.2.3", "2.999.1")),
        make_itav(
            "keyPairParamRep",
            AlgorithmIdentifier(EC_PUBLIC_KEY, b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07"),
        ),
        make_itav("revPassphrase", EncryptedKey("encryptedValue", encrypted_value())),
        InfoTypeAndValue(OID_BY_NAME["implicitConfirm"], b"\x05\x00"),
        make_itav("confirmWaitTime", now),
        make_itav("suppLangTags", ("en", "de")),
        make_itav("caCerts", (m.root, m.server)),
        make_itav("rootCaCert", m.root),
        make_itav("certProfile", ("profile1", "profile2")),
        make_itav("crls", (m.crl,)),
    )


def bodies(m: Material) -> dict[str, list[PKIBody]]:
    """At least one body of every kind, with the features OpenSSL 3.0 knows."""
    rev_ann = RevAnnContent(
        PKIStatus.revocationWarning,
        cert_id(m),
        datetime.datetime(2026, 6, 1, tzinfo=UTC),
        datetime.datetime(2026, 4, 1, 8, 9, 10, tzinfo=UTC),
        m.extensions,
    )
    krp = KeyRecRepContent(
        PKIStatusInfo(PKIStatus.accepted),
        new_sig_cert=m.cert,
        ca_certs=(m.root,),
        key_pair_hist=(
            CertifiedKeyPair(
                CertOrEncCert("certificate", m.cert),
                private_key=EncryptedKey("encryptedValue", encrypted_value()),
            ),
        ),
    )
    hash_of_cert = hashlib.sha256(m.cert).digest()
    built = {
        **{k: [PKIBody(k, cert_req_msgs(m, k))] for k in ("ir", "cr", "kur", "krr", "ccr")},
        **{k: [PKIBody(k, cert_rep(m, k))] for k in ("ip", "cp", "kup", "ccp")},
        "p10cr": [PKIBody("p10cr", m.csr)],
        "popdecc": [
            PKIBody(
                "popdecc",
                (
                    Challenge(
                        AlgorithmIdentifier(SHA256), hashlib.sha256(b"rand").digest(), b"\x01" * 16
                    ),
                    Challenge(None, b"", b"challenge"),
                ),
            )
        ],
        "popdecr": [PKIBody("popdecr", (1, 0, -1, 2**70))],
        "krp": [PKIBody("krp", krp), PKIBody("krp", KeyRecRepContent(PKIStatusInfo(2, None, 0)))],
        "rr": [
            PKIBody(
                "rr",
                (
                    RevDetails(
                        CertTemplate(serial_number=m.serial, issuer=m.root_name),
                        m.crl_entry_details,
                    ),
                    RevDetails(CertTemplate(subject=m.client_name)),
                ),
            )
        ],
        "rp": [
            PKIBody(
                "rp",
                RevRepContent(
                    (
                        PKIStatusInfo(PKIStatus.accepted),
                        PKIStatusInfo(2, None, FailInfo.certRevoked),
                    ),
                    (cert_id(m),),
                    (m.crl,),
                ),
            )
        ],
        "ckuann": [
            PKIBody(
                "ckuann",
                CAKeyUpdContent("cAKeyUpdAnnV2", CAKeyUpdAnnContent(m.root, m.server, m.cert)),
            )
        ],
        "cann": [PKIBody("cann", m.cert)],
        "rann": [
            PKIBody("rann", rev_ann),
            PKIBody(
                "rann",
                RevAnnContent(0, cert_id(m), rev_ann.will_be_revoked_at, rev_ann.bad_since_date),
            ),
        ],
        "crlann": [PKIBody("crlann", (m.crl, m.crl))],
        "pkiconf": [PKIBody("pkiconf", None)],
        "genm": [PKIBody("genm", itavs(m, "genm")), PKIBody("genm", ())],
        "genp": [PKIBody("genp", itavs(m, "genp"))],
        "error": [
            # client side: a bare rejection
            PKIBody(
                "error",
                ErrorMsgContent(PKIStatusInfo(PKIStatus.rejection, None, FailInfo.badRequest)),
            ),
            # server side: every field, the highest failInfo bit
            PKIBody(
                "error",
                ErrorMsgContent(
                    PKIStatusInfo(
                        PKIStatus.rejection,
                        ("system failure",),
                        FailInfo.systemFailure | FailInfo.duplicateCertReq | FailInfo.badAlg,
                    ),
                    -42,
                    ("detail one", "detail two"),
                ),
            ),
        ],
        "certConf": [
            PKIBody("certConf", (CertStatus(hash_of_cert, 0),)),
            PKIBody(
                "certConf",
                (
                    CertStatus(hash_of_cert, 0, PKIStatusInfo(PKIStatus.accepted)),
                    CertStatus(
                        b"\x00" * 32,
                        1,
                        PKIStatusInfo(PKIStatus.rejection, ("no",), FailInfo.badCertTemplate),
                    ),
                ),
            ),
        ],
        "pollReq": [PKIBody("pollReq", (PollReqEntry(0), PollReqEntry(1)))],
        "pollRep": [
            PKIBody("pollRep", (PollRepEntry(0, 10, ("please wait",)), PollRepEntry(1, 3600)))
        ],
    }
    inner = [
        message(m, PKIBody("ir", cert_req_msgs(m, "ir"))),
        message(m, PKIBody("genm", ()), None),
    ]
    built["nested"] = [PKIBody("nested", tuple(inner))]
    return built


def rfc9810_bodies(m: Material) -> dict[str, list[PKIBody]]:
    """What OpenSSL 3.0 cannot parse: the alternatives RFC 9480/9810 added, and
    a SinglePubInfo without its OPTIONAL pubLocation (OpenSSL 3.0 declares
    pubLocation mandatory)."""
    envelope = seq(  # EnvelopedData-shaped: version, recipientInfos, encryptedContentInfo
        b"\x02\x01\x02",
        tlv(0x31, b""),
        seq(
            b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01",
            seq(b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x01\x02"),
        ),
    )
    plain = CertTemplate(subject=m.client_name)
    return {
        "ir": [
            PKIBody(
                "ir",
                (
                    CertReqMsg(
                        CertRequest(0, plain),
                        ProofOfPossession("keyEncipherment", POPOPrivKey("encryptedKey", envelope)),
                    ),
                ),
            )
        ],
        "cp": [
            PKIBody(
                "cp",
                CertRepMessage(
                    None,
                    (
                        CertResponse(
                            0,
                            PKIStatusInfo(0),
                            CertifiedKeyPair(
                                CertOrEncCert("certificate", m.cert),
                                publication_info=PKIPublicationInfo(1, (SinglePubInfo(0),)),
                            ),
                        ),
                    ),
                ),
            )
        ],
        "ip": [
            PKIBody(
                "ip",
                CertRepMessage(
                    None,
                    (
                        CertResponse(
                            0,
                            PKIStatusInfo(0),
                            CertifiedKeyPair(
                                CertOrEncCert(
                                    "encryptedCert", EncryptedKey("envelopedData", envelope)
                                ),
                                EncryptedKey("envelopedData", envelope),
                            ),
                        ),
                    ),
                ),
            )
        ],
        "popdecc": [PKIBody("popdecc", (Challenge(None, b"w", b"c", envelope),))],
        "ckuann": [
            PKIBody(
                "ckuann",
                CAKeyUpdContent("cAKeyUpdAnnV3", RootCaKeyUpdateContent(m.cert, m.root, m.server)),
            ),
            PKIBody("ckuann", CAKeyUpdContent("cAKeyUpdAnnV3", RootCaKeyUpdateContent(m.cert))),
        ],
        "certConf": [
            PKIBody(
                "certConf",
                (CertStatus(b"\x01" * 64, 0, None, AlgorithmIdentifier("2.16.840.1.101.3.4.2.3")),),
            )
        ],
        "genp": [
            PKIBody(
                "genp",
                (
                    make_itav("rootCaKeyUpdate", RootCaKeyUpdateContent(m.cert, None, m.root)),
                    make_itav(
                        "certReqTemplate",
                        CertReqTemplateContent(
                            template(m), (AttributeTypeAndValue("1.2.3", b"\x05\x00"),)
                        ),
                    ),
                    make_itav(
                        "crlStatusList",
                        (
                            CRLStatus(
                                CRLSource("issuer", (GeneralName("directoryName", m.root_name),)),
                                datetime.datetime(2026, 5, 1, tzinfo=UTC),
                            ),
                            CRLStatus(CRLSource("dpn", b"\xa0\x06\x86\x04ldap")),
                        ),
                    ),
                    make_itav(
                        "KemCiphertextInfo",
                        KemCiphertextInfo(AlgorithmIdentifier("1.2.3.4"), b"ct"),
                    ),
                    make_itav("origPKIMessage", (message(m, PKIBody("pkiconf", None)),)),
                ),
            )
        ],
    }


def message(
    m: Material, body: PKIBody, protection: bytes | None = b"\x30\x06\x02\x01\x01\x02\x01\x02"
) -> PKIMessage:
    return PKIMessage(header(m), body, protection, (m.cert, m.root) if protection else ())


def labelled(table: dict[str, list[PKIBody]]) -> list[tuple[str, int]]:
    return [(k, i) for k, v in table.items() for i in range(len(v))]


# Collected from a throw-away Material so that the ids are known before any fixture runs.
OPENSSL_CASES = [
    ("ir", 0), ("ip", 0), ("cr", 0), ("cp", 0), ("p10cr", 0), ("popdecc", 0), ("popdecr", 0),
    ("kur", 0), ("kup", 0), ("krr", 0), ("krp", 0), ("krp", 1), ("rr", 0), ("rp", 0),
    ("ccr", 0), ("ccp", 0), ("ckuann", 0), ("cann", 0), ("rann", 0), ("rann", 1), ("crlann", 0),
    ("pkiconf", 0), ("nested", 0), ("genm", 0), ("genm", 1), ("genp", 0), ("error", 0),
    ("error", 1), ("certConf", 0), ("certConf", 1), ("pollReq", 0), ("pollRep", 0),
]  # fmt: skip
RFC9810_CASES = [
    ("ir", 0), ("cp", 0), ("ip", 0), ("popdecc", 0), ("ckuann", 0), ("ckuann", 1), ("certConf", 0),
    ("genp", 0),
]  # fmt: skip


def case_id(case: tuple[str, int]) -> str:
    return f"{case[0]}-{case[1]}"


@pytest.fixture(scope="session")
def built(material: Material) -> dict[str, list[PKIBody]]:
    table = bodies(material)
    assert sorted(labelled(table)) == sorted(OPENSSL_CASES)
    assert set(table) == set(BODY_TYPES)
    return table


@pytest.fixture(scope="session")
def built_rfc9810(material: Material) -> dict[str, list[PKIBody]]:
    table = rfc9810_bodies(material)
    assert sorted(labelled(table)) == sorted(RFC9810_CASES)
    return table


def assert_decodes_to_values(msg: PKIMessage) -> bytes:
    der = msg.to_der()
    again = PKIMessage.from_der(der)
    assert again.body_type == msg.body.kind
    assert again.header == msg.header
    assert again.body == msg.body
    assert again.protection == msg.protection
    assert again.extra_certs == msg.extra_certs
    assert again.to_der() == der
    assert PKIMessage(again.header, again.body, again.protection, again.extra_certs).to_der() == der
    assert again.protected_part() == msg.protected_part() == protected_part_by_hand(der)
    assert again == msg and hash(again) == hash(msg)
    return der


def asn1parse(openssl: str, der: bytes, tmp_path: Path) -> str:
    path = tmp_path / "msg.der"
    path.write_bytes(der)
    done = subprocess.run(
        [openssl, "asn1parse", "-inform", "DER", "-in", str(path)],
        capture_output=True, text=True, errors="replace", timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "error" not in done.stdout.lower() + done.stderr.lower()
    return done.stdout


@pytest.mark.parametrize("case", OPENSSL_CASES, ids=case_id)
def test_built_message_decodes_back_to_its_values(
    built: dict[str, list[PKIBody]], material: Material, case: tuple[str, int]
) -> None:
    kind, i = case
    assert_decodes_to_values(message(material, built[kind][i]))
    assert_decodes_to_values(message(material, built[kind][i], None))


@pytest.mark.parametrize("case", OPENSSL_CASES, ids=case_id)
def test_built_message_is_parsed_by_openssl_asn1parse(
    built: dict[str, list[PKIBody]], material: Material, openssl_cli: str, tmp_path: Path,
    case: tuple[str, int],
) -> None:  # fmt: skip
    kind, i = case
    out = asn1parse(openssl_cli, message(material, built[kind][i]).to_der(), tmp_path)
    assert f"cont [ {BODY_TYPES.index(kind)} ]" in out


@pytest.mark.parametrize("case", OPENSSL_CASES, ids=case_id)
def test_built_message_is_reencoded_identically_by_openssl_cmp_decoder(
    built: dict[str, list[PKIBody]], material: Material, libcrypto: LibCrypto,
    case: tuple[str, int],
) -> None:  # fmt: skip
    kind, i = case
    for msg in (message(material, built[kind][i]), message(material, built[kind][i], None)):
        der = msg.to_der()
        body_type, again = libcrypto.reencode(der)
        assert BODY_TYPES[body_type] == kind
        assert again == der


@pytest.mark.parametrize("case", RFC9810_CASES, ids=case_id)
def test_rfc9810_alternative_round_trips_and_is_parsed_by_asn1parse(
    built_rfc9810: dict[str, list[PKIBody]], material: Material, openssl_cli: str,
    tmp_path: Path, case: tuple[str, int],
) -> None:  # fmt: skip
    kind, i = case
    der = assert_decodes_to_values(message(material, built_rfc9810[kind][i]))
    asn1parse(openssl_cli, der, tmp_path)


def test_built_genp_itavs_decode_to_the_values_they_were_made_from(
    built: dict[str, list[PKIBody]], built_rfc9810: dict[str, list[PKIBody]], material: Material
) -> None:
    m = material
    expected = {
        "caProtEncCert": m.server,
        "signKeyPairTypes": (AlgorithmIdentifier(ECDSA_SHA256), AlgorithmIdentifier("1.3.101.112")),
        "preferredSymmAlg": AlgorithmIdentifier(AES128_CBC),
        "caKeyUpdateInfo": CAKeyUpdAnnContent(m.root, m.server, m.cert),
        "currentCRL": m.crl,
        "unsupportedOIDs": ("1.2.3", "2.999.1"),
        "revPassphrase": EncryptedKey("encryptedValue", encrypted_value()),
        "implicitConfirm": None,
        "confirmWaitTime": datetime.datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC),
        "suppLangTags": ("en", "de"),
        "caCerts": (m.root, m.server),
        "rootCaCert": m.root,
        "crls": (m.crl,),
        "rootCaKeyUpdate": RootCaKeyUpdateContent(m.cert, None, m.root),
        "KemCiphertextInfo": KemCiphertextInfo(AlgorithmIdentifier("1.2.3.4"), b"ct"),
    }
    der = message(
        m, PKIBody("genp", built["genp"][0].value + built_rfc9810["genp"][0].value)
    ).to_der()
    got = {NAME_BY_OID[i.info_type]: i.decoded() for i in PKIMessage.from_der(der).body.value}
    for name, value in expected.items():
        assert got[name] == value, name
    (orig,) = got["origPKIMessage"]
    assert orig.body_type == "pkiconf" and orig.header == header(m)
    assert got["certReqTemplate"].cert_template == template(m)


def test_built_template_accessors_return_cryptography_objects(material: Material, pki: Pki) -> None:
    t = template(material)
    assert t.subject_name() == pki.enrolled.cert.subject
    assert t.issuer_name() == pki.root.cert.subject
    assert t.public_key_object() == pki.new_key.public_key()
    assert list(t.extension_list()) == list(pki.enrolled.cert.extensions)
    assert CertTemplate().subject_name() is None and CertTemplate().extension_list() is None


def test_nested_messages_decode_lazily_to_pkimessages(
    built: dict[str, list[PKIBody]], material: Material
) -> None:
    der = message(material, built["nested"][0]).to_der()
    inner = PKIMessage.from_der(der).body.value
    assert [m.body_type for m in inner] == ["ir", "genm"]
    assert all(isinstance(m, PKIMessage) for m in inner)
    assert inner[0].body == built["nested"][0].value[0].body
    assert inner[1].protection is None and inner[1].extra_certs == ()


def test_body_types_are_in_rfc_tag_order() -> None:
    """RFC 9810 §5.1.2: PKIBody alternative [n] is BODY_TYPES[n]."""
    from openssl_harness import BODY_KINDS

    assert BODY_TYPES == tuple(BODY_KINDS[n] for n in range(27))


def test_invalid_nested_message_is_a_decode_error_at_its_index(
    captured_messages: CapturedMessages,
) -> None:
    h = pkiconf_header(captured_messages)
    ok = seq(h, tlv(0xB3, b"\x05\x00"))
    der = seq(h, tlv(0xB4, seq(ok, seq(b"\x02\x01\x02"))))
    with pytest.raises(DecodeError) as info:
        PKIMessage.from_der(der)
    assert info.value.path == "PKIMessage > PKIMessage::body > PKIBody::Nested > [1]"


def test_with_protection_keeps_the_protected_part(material: Material) -> None:
    unprotected = message(material, PKIBody("pollReq", (PollReqEntry(0),)), None)
    part = unprotected.protected_part()
    protected = unprotected.with_protection(b"\x01\x02", [material.cert])
    der = protected.to_der()
    assert protected.protected_part() == part == protected_part_by_hand(der)
    again = PKIMessage.from_der(der)
    assert again.protection == b"\x01\x02" and again.extra_certs == (material.cert,)
    assert again.header == unprotected.header and again.body == unprotected.body


def test_decoded_and_built_messages_pickle(
    captured_messages: CapturedMessages, material: Material
) -> None:
    import pickle

    for msg in (
        PKIMessage.from_der(captured_messages["sig"]["ip"][0]),
        message(material, PKIBody("pkiconf", None)),
    ):
        again = pickle.loads(pickle.dumps(msg))
        assert again == msg and again.to_der() == msg.to_der()


def test_message_time_keeps_microseconds(material: Material) -> None:
    """messageTime is a GeneralizedTime, which may carry fractions of a second."""
    when = datetime.datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    h = PKIHeader(2, GeneralName("dNSName", "a"), GeneralName("dNSName", "b"), message_time=when)
    der = PKIMessage(h, PKIBody("pkiconf", None)).to_der()
    assert b"20260501123015.123456Z" in der
    assert PKIMessage.from_der(der).header.message_time == when


def test_time_uses_utctime_until_2049_and_generalizedtime_after(material: Material) -> None:
    """RFC 5280 §4.1.2.5, for the Time of CertTemplate validity."""
    validity = OptionalValidity(
        datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime.datetime(2050, 1, 1, tzinfo=UTC),
    )
    der = A.encode("OptionalValidity", validity)
    assert b"\x17\x0d491231235959Z" in der and b"\x18\x0f20500101000000Z" in der
    assert A.decode("OptionalValidity", der) == validity


def test_fail_info_bits_are_encoded_in_rfc_order() -> None:
    """badAlg is bit 0 (the first bit of the first octet); trailing zero bits are dropped."""
    si = A.encode("PKIStatusInfo", PKIStatusInfo(2, None, FailInfo.badAlg))
    assert si.endswith(b"\x03\x02\x07\x80")
    si = A.encode("PKIStatusInfo", PKIStatusInfo(2, None, FailInfo.badRequest))
    assert si.endswith(b"\x03\x02\x05\x20")
    si = A.encode("PKIStatusInfo", PKIStatusInfo(2, None, FailInfo.duplicateCertReq))
    assert si.endswith(b"\x03\x05\x05\x00\x00\x00\x20")
    si = A.encode("PKIStatusInfo", PKIStatusInfo(2, None, 0))
    assert si.endswith(b"\x03\x01\x00")


@pytest.mark.parametrize(
    "body, field",
    [
        (PKIBody("bogus", None), "unknown alternative"),
        (PKIBody("ir", (CertReqMsg(CertRequest("0", CertTemplate())),)), "CertRequest.cert_req_id"),
        (PKIBody("cann", b"\x04\x00"), "SEQUENCE"),
        (PKIBody("genm", (InfoTypeAndValue("not an oid"),)), "InfoTypeAndValue.info_type"),
        (PKIBody("error", ErrorMsgContent(PKIStatusInfo(2**64))), "PKIStatusInfo.status"),
        (PKIBody("error", ErrorMsgContent(PKIStatusInfo(2, None, -1))), "fail_info"),
        (PKIBody("pollRep", [PollRepEntry(0, 1, "not a tuple")]), "PollRepEntry.reason"),
    ],
)
def test_unencodable_values_raise_encode_error_naming_the_field(body: PKIBody, field: str) -> None:
    h = PKIHeader(2, GeneralName("dNSName", "a"), GeneralName("dNSName", "b"))
    with pytest.raises(EncodeError, match=field) as info:
        PKIMessage(h, body).to_der()
    assert isinstance(info.value, cmp.CMPError) and isinstance(info.value, ValueError)


def test_non_ascii_ia5string_is_an_encode_error() -> None:
    h = PKIHeader(2, GeneralName("dNSName", "bücher.example"), GeneralName("dNSName", "b"))
    with pytest.raises(EncodeError, match="IA5String"):
        PKIMessage(h, PKIBody("pkiconf", None)).to_der()


# ---------------------------------------------------------------------------
# 5. Malformed input never crashes
# ---------------------------------------------------------------------------


def decodes_fully_or_raises_decode_error(der: bytes) -> PKIMessage | None:
    """Either a message whose every field decodes and that re-encodes to ``der``
    (from its bytes and from its values), or DecodeError; nothing else."""
    try:
        msg = PKIMessage.from_der(der)
    except DecodeError as e:
        assert e.offset is not None or e.path, e
        return None
    assert msg.to_der() == der
    assert msg.protected_part() == protected_part_by_hand(der)
    rebuilt = PKIMessage(msg.header, msg.body, msg.protection, msg.extra_certs).to_der()
    assert rebuilt == der
    return msg


@pytest.fixture(scope="session")
def some_messages(captured_messages: CapturedMessages) -> dict[str, bytes]:
    return {
        f"{p}-{k}": captured_messages[p][k][0]
        for p in PROTECTIONS
        for k in ("ir", "ip", "genp", "certConf", "pollRep", "rr", "rp", "p10cr", "kur", "error")
    }


@pytest.mark.parametrize("name", ["pbm-ir", "sig-ip", "pbm-certConf", "sig-genp", "pbm-rp"])
def test_every_truncation_is_a_decode_error(some_messages: dict[str, bytes], name: str) -> None:
    der = some_messages[name]
    for n in range(len(der)):
        with pytest.raises(DecodeError) as info:
            PKIMessage.from_der(der[:n])
        assert info.value.offset is not None  # a structural fault, found before the schema


@pytest.mark.parametrize(
    "name",
    [
        "pbm-ir", "pbm-ip", "pbm-genp", "pbm-certConf", "pbm-pollRep", "pbm-rr", "pbm-rp",
        "pbm-p10cr", "pbm-kur", "sig-ir",
        "pbm-error",
    ],
)  # fmt: skip
def test_every_single_bit_flip_decodes_consistently_or_is_a_decode_error(
    some_messages: dict[str, bytes], name: str
) -> None:
    der = some_messages[name]
    rejected = 0
    for bit in range(len(der) * 8):
        flipped = bytearray(der)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        if decodes_fully_or_raises_decode_error(bytes(flipped)) is None:
            rejected += 1
    assert rejected > len(der)  # most flips are caught (tags, lengths, OIDs, ...)


@pytest.mark.parametrize("fail_info", ["03020120", "03020500", "0303000400", "03020000"])
def test_fail_info_with_trailing_zero_bits_is_not_der(fail_info: str) -> None:
    """DER of a named bit list has no trailing 0 bits (X.690 11.2.2): 03 02 05 20
    is badRequest; 03 02 01 20 and 03 02 05 00 are BER only."""
    bits = bytes.fromhex(fail_info)
    with pytest.raises(DecodeError):
        A.decode("PKIStatusInfo", seq(b"\x02\x01\x02", bits))


def test_time_before_2050_as_generalized_time_is_accepted_and_normalised() -> None:
    """RFC 5280 §4.1.2.5 wants UTCTime through 2049. Like OpenSSL, the decoder
    accepts a GeneralizedTime there (the message itself re-encodes byte-exact
    from its bytes); a value rebuilt from Python re-encodes canonically."""
    der = seq(tlv(0xA0, tlv(0x18, b"20300101000000Z")))
    value = A.decode("OptionalValidity", der)
    assert value.not_before == datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    assert A.encode("OptionalValidity", value) == seq(tlv(0xA0, tlv(0x17, b"300101000000Z")))


@pytest.mark.parametrize("fraction", ["1234567", "12345678", "123456789", "0000001", "9"])
def test_generalized_time_finer_than_microseconds_re_encodes_to_its_digits(
    fraction: str,
) -> None:
    """DER lets a GeneralizedTime carry any number of fractional digits
    (X.690 11.7.3, no trailing zeros), and OpenSSL takes them. A datetime
    holds microseconds; the nanoseconds past them are kept in a PreciseDatetime."""
    der = tlv(0x18, f"20260101000000.{fraction}Z".encode())
    value = A.decode("GeneralizedTime", der)
    nanos = int(fraction.ljust(9, "0"))
    assert value.microsecond == nanos // 1000
    assert isinstance(value, A.PreciseDatetime) == (nanos % 1000 != 0)
    assert getattr(value, "nanosecond", 0) == nanos % 1000
    assert A.encode("GeneralizedTime", value) == der


def test_precise_datetime_is_a_datetime_that_keeps_its_nanoseconds() -> None:
    utc = datetime.timezone.utc
    value = A.PreciseDatetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=utc, nanosecond=789)
    assert value == datetime.datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=utc)
    assert repr(value).endswith("123456, tzinfo=datetime.timezone.utc, nanosecond=789)")
    for copy in (pickle.loads(pickle.dumps(value)), copy_module.deepcopy(value)):
        assert type(copy) is A.PreciseDatetime and copy.nanosecond == 789
    # In another time zone it is the same instant, to the nanosecond.
    elsewhere = A.PreciseDatetime(
        2026, 1, 1, 1, 0, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)),
        nanosecond=789,
    )  # fmt: skip
    expected = tlv(0x18, b"20260101000000.123456789Z")
    assert A.encode("GeneralizedTime", elsewhere) == expected
    # Arithmetic works to the microsecond, as on any datetime.
    later = value + datetime.timedelta(seconds=1)
    assert A.encode("GeneralizedTime", later) == tlv(0x18, b"20260101000001.123456Z")
    with pytest.raises(ValueError, match="nanosecond"):
        A.PreciseDatetime(2026, 1, 1, nanosecond=1000)


def test_generalized_time_with_more_than_nine_fractional_digits_is_a_decode_error() -> None:
    """Valid DER that the core does not read (the ``asn1`` crate stops at
    nanoseconds): refused with the place, never truncated."""
    with pytest.raises(DecodeError):
        A.decode("GeneralizedTime", tlv(0x18, b"20260101000000.1234567891Z"))


@pytest.mark.parametrize(
    ("type_name", "der", "path"),
    [
        ("GeneralizedTime", tlv(0x18, b"00000101000000Z"), "GeneralizedTime"),
        ("Time", tlv(0x18, b"00001231235959Z"), "Time"),
        ("OptionalValidity", seq(tlv(0xA1, tlv(0x18, b"00000101000000Z"))), "not_after"),
        (
            "PKIHeader",
            seq(b"\x02\x01\x02", tlv(0xA4, seq()), tlv(0xA4, seq()),
                tlv(0xA0, tlv(0x18, b"00000101000000.5Z"))),
            "message_time",
        ),
    ],
)  # fmt: skip
def test_time_of_year_0_is_a_decode_error_naming_the_field(
    type_name: str, der: bytes, path: str
) -> None:
    """Four digits can say year 0000, which no datetime holds (they start at
    year 1): refused while decoding, with the ASN.1 path, not a ValueError later."""
    with pytest.raises(DecodeError) as info:
        A.decode(type_name, der)
    assert path in info.value.path
    one = der.replace(b"0000", b"0001", 1)
    assert A.encode(type_name, A.decode(type_name, one)) == one


def pkiconf_header(captured: CapturedMessages) -> bytes:
    der = captured["pbm"]["pkiconf"][0]
    h = message_elements(der)[0]
    return der[h.start : h.end]


def nest(header_der: bytes, inner: bytes, levels: int) -> bytes:
    for _ in range(levels):
        inner = seq(header_der, tlv(0xB4, seq(inner)))
    return inner


def test_nested_within_limits_decodes_to_the_innermost_message(
    captured_messages: CapturedMessages,
) -> None:
    h = pkiconf_header(captured_messages)
    der = nest(h, seq(h, tlv(0xB3, b"\x05\x00")), 5)
    msg = decodes_fully_or_raises_decode_error(der)
    assert msg is not None
    for _ in range(5):
        assert msg.body_type == "nested"
        (msg,) = msg.body.value
    assert msg.body_type == "pkiconf"


def test_nested_100_deep_is_a_decode_error_naming_the_depth_limit(
    captured_messages: CapturedMessages,
) -> None:
    h = pkiconf_header(captured_messages)
    der = nest(h, seq(h, tlv(0xB3, b"\x05\x00")), 100)
    with pytest.raises(DecodeError, match=r"nesting deeper than 64 levels") as info:
        PKIMessage.from_der(der)
    assert info.value.offset is not None and 0 < info.value.offset < len(der)


def test_raised_depth_limit_never_crashes_the_interpreter(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from cmp import PKIMessage, DecodeError, LimitError, _native
        try:
            _native.set_limits(1 << 30, 10**6)
        except (ValueError, LimitError):
            raise SystemExit(0)  # refusing such a limit is fine too
        der = b""
        for _ in range(100000):
            n = len(der)
            length = bytes([n]) if n < 128 else bytes([0x80 | 3]) + n.to_bytes(3, "big")
            der = b"\\x30" + length + der
        try:
            PKIMessage.from_der(der)
        except DecodeError:
            pass
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]


def test_decode_error_is_a_cmp_error_and_a_value_error() -> None:
    assert issubclass(DecodeError, cmp.CMPError)
    assert issubclass(DecodeError, ValueError)
    assert issubclass(EncodeError, cmp.CMPError) and issubclass(EncodeError, ValueError)


@pytest.mark.parametrize(
    "der, offset, reason",
    [
        (b"", 0, "empty"),
        (b"\x30", 1, "truncated"),
        (b"\x30\x80\x02\x01\x02\x00\x00", 1, "indefinite length"),
        (b"\x30\x81\x05\x02\x01\x02\x05\x00", 1, "not minimally encoded"),
        (b"\x30\x82\x00\x05\x02\x01\x02\x05\x00", 1, "not minimally encoded"),
        (b"\x30\x85\x00\x00\x00\x00\x05", 1, "longer than 4 bytes"),
        (b"\x30\x84\xff\xff\xff\xff\x02\x01\x02", 1, "runs past the end"),
        (b"\x30\x03\x02\x01\x02\x00", 5, "trailing data"),
        (b"\x30\x04\x02\x01\x02", 1, "runs past the end"),
        (b"\x30\x03\x02\x02\x02", 3, "runs past the end"),
        (b"\x1f\x80\x01\x00", 1, "tag number"),
    ],
)
def test_structural_faults_have_an_offset(der: bytes, offset: int, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason) as info:
        PKIMessage.from_der(der)
    assert info.value.offset == offset


def test_indefinite_length_of_a_real_message_is_rejected_at_offset_1(
    captured_messages: CapturedMessages,
) -> None:
    der = captured_messages["pbm"]["ir"][0]
    top = read_tlv(der)
    ber = b"\x30\x80" + der[top.content :] + b"\x00\x00"
    with pytest.raises(DecodeError, match="indefinite") as info:
        PKIMessage.from_der(ber)
    assert info.value.offset == 1


def test_non_minimal_length_of_a_real_message_is_rejected(
    captured_messages: CapturedMessages,
) -> None:
    der = captured_messages["pbm"]["pkiconf"][0]
    assert der[1] == 0x82  # 0x100 <= length < 0x10000: one more length octet is one too many
    longer = b"\x30\x83\x00" + der[2:]
    with pytest.raises(DecodeError, match="not minimally encoded") as info:
        PKIMessage.from_der(longer)
    assert info.value.offset == 1


def test_trailing_data_is_rejected_at_its_offset(captured_messages: CapturedMessages) -> None:
    der = captured_messages["sig"]["ip"][0]
    with pytest.raises(DecodeError, match="trailing data") as info:
        PKIMessage.from_der(der + b"\x00")
    assert info.value.offset == len(der)


def test_wrong_outer_tag_is_a_schema_fault(captured_messages: CapturedMessages) -> None:
    der = captured_messages["pbm"]["ir"][0]
    with pytest.raises(DecodeError, match="unexpected tag") as info:
        PKIMessage.from_der(b"\x31" + der[1:])  # SET instead of SEQUENCE
    assert info.value.path == "PKIMessage"


def test_unknown_body_tag_27_is_a_schema_fault_at_the_body(
    captured_messages: CapturedMessages,
) -> None:
    der = bytearray(captured_messages["pbm"]["genm"][0])
    body = message_elements(bytes(der))[1]
    assert der[body.start] == 0xA0 | 21
    der[body.start] = 0xA0 | 27
    with pytest.raises(DecodeError) as info:
        PKIMessage.from_der(bytes(der))
    assert info.value.path == "PKIMessage > PKIMessage::body"
    assert info.value.offset is None


def test_schema_fault_path_names_the_failing_element(captured_messages: CapturedMessages) -> None:
    der = bytearray(captured_messages["pbm"]["ir"][0])
    pvno = children(bytes(der), message_elements(bytes(der))[0])[0]
    assert der[pvno.start : pvno.end] == b"\x02\x01\x02"
    der[pvno.start] = 0x01  # BOOLEAN where the INTEGER pvno belongs
    with pytest.raises(DecodeError) as info:
        PKIMessage.from_der(bytes(der))
    assert info.value.path == "PKIMessage > PKIMessage::header > PKIHeader::pvno"
    assert "PKIHeader::pvno" in str(info.value)


def test_schema_fault_path_goes_into_the_body(captured_messages: CapturedMessages) -> None:
    der = captured_messages["pbm"]["ir"][0]
    body = message_elements(der)[1]
    subject = der.index(b"\xa5", body.content)  # CertTemplate subject [5]
    broken = der[:subject] + b"\xa6" + der[subject + 1 :]  # now a publicKey [6] that is no SPKI
    with pytest.raises(DecodeError) as info:
        PKIMessage.from_der(broken)
    assert "CertRequest::cert_template" in info.value.path and "PKIBody::Ir" in info.value.path


@pytest.mark.parametrize("value", ["not bytes", None, 3.5, object()])
def test_non_bytes_input_is_a_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        PKIMessage.from_der(value)


def test_int_input_is_a_type_error_not_a_buffer_of_zeros() -> None:
    with pytest.raises(TypeError):
        PKIMessage.from_der(5)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_bytes_like_input_is_accepted(captured_messages: CapturedMessages, wrap: Any) -> None:
    der = captured_messages["pbm"]["genp"][0]
    assert PKIMessage.from_der(wrap(der)).to_der() == der


@pytest.fixture
def restore_limits() -> Iterator[tuple[int, int, int]]:
    saved = _native.get_limits()
    yield saved
    _native.set_limits(*saved)


def test_default_limits(restore_limits: tuple[int, int, int]) -> None:
    assert restore_limits == (16 * 1024 * 1024, 64, 1000)


def test_set_limits_lowers_the_size_limit(
    captured_messages: CapturedMessages, restore_limits: tuple[int, int, int]
) -> None:
    der = captured_messages["sig"]["ip"][0]
    _native.set_limits(len(der), restore_limits[1])
    assert PKIMessage.from_der(der).body_type == "ip"
    _native.set_limits(len(der) - 1, restore_limits[1])
    assert _native.get_limits() == (len(der) - 1, restore_limits[1], restore_limits[2])
    with pytest.raises(DecodeError, match="exceeds the limit") as info:
        PKIMessage.from_der(der)
    assert info.value.offset == 0


def test_set_limits_lowers_the_depth_limit(
    captured_messages: CapturedMessages, restore_limits: tuple[int, int, int]
) -> None:
    h = pkiconf_header(captured_messages)
    der = nest(h, seq(h, tlv(0xB3, b"\x05\x00")), 2)
    assert PKIMessage.from_der(der).body_type == "nested"
    _native.set_limits(restore_limits[0], 8)
    with pytest.raises(DecodeError, match="nesting deeper than 8 levels"):
        PKIMessage.from_der(der)
    _native.set_limits(*restore_limits)
    assert PKIMessage.from_der(der).body_type == "nested"


def test_limits_also_guard_asn1_decode(restore_limits: tuple[int, int, int]) -> None:
    der = A.encode("PKIFreeText", ("x" * 100,))
    _native.set_limits(50, 64)
    with pytest.raises(DecodeError, match="exceeds the limit"):
        A.decode("PKIFreeText", der)


def _msg(body: bytes, *rest: bytes, header_extra: bytes = b"") -> bytes:
    """A PKIMessage with a minimal header (pvno 2, empty directoryNames)."""
    header = seq(b"\x02\x01\x02", tlv(0xA4, seq()), tlv(0xA4, seq()), header_extra)
    return seq(header, body, *rest)


_EMPTY = seq()
_STATUS = seq(b"\x02\x01\x00")
_PKICONF = tlv(0xB3, b"\x05\x00")

#: Every SEQUENCE SIZE (1..MAX) OF of CMP and CRMF, empty, in a message (and
#: where it lands in the values). OpenSSL's d2i_OSSL_CMP_MSG takes each of
#: them and i2d_OSSL_CMP_MSG writes it back as it was.
EMPTY_SIZE_ONE_LISTS = {
    "extraCerts": _msg(_PKICONF, tlv(0xA1, _EMPTY)),
    "generalInfo": _msg(_PKICONF, header_extra=tlv(0xA8, _EMPTY)),
    "freeText": _msg(_PKICONF, header_extra=tlv(0xA7, _EMPTY)),
    "ir": _msg(tlv(0xA0, _EMPTY)),
    "controls": _msg(tlv(0xA0, seq(seq(seq(b"\x02\x01\x00", _EMPTY, _EMPTY))))),
    "regInfo": _msg(tlv(0xA0, seq(seq(seq(b"\x02\x01\x00", _EMPTY), _EMPTY)))),
    "caPubs": _msg(tlv(0xA1, seq(tlv(0xA1, _EMPTY), _EMPTY))),
    "rp status": _msg(tlv(0xAC, seq(_EMPTY))),
    "rp revCerts": _msg(tlv(0xAC, seq(seq(_STATUS), tlv(0xA0, _EMPTY)))),
    "rp crls": _msg(tlv(0xAC, seq(seq(_STATUS), tlv(0xA1, _EMPTY)))),
    "statusString": _msg(tlv(0xB7, seq(seq(b"\x02\x01\x00", _EMPTY)))),
    "errorDetails": _msg(tlv(0xB7, seq(_STATUS, _EMPTY))),
    "krp caCerts": _msg(tlv(0xAA, seq(_STATUS, tlv(0xA1, _EMPTY)))),
    "krp keyPairHist": _msg(tlv(0xAA, seq(_STATUS, tlv(0xA2, _EMPTY)))),
    "pollRep reason": _msg(tlv(0xBA, seq(seq(b"\x02\x01\x00", b"\x02\x01\x01", _EMPTY)))),
    "nested": _msg(tlv(0xB4, _EMPTY)),
    "nested extraCerts": _msg(tlv(0xB4, seq(_msg(_PKICONF, tlv(0xA1, _EMPTY))))),
}


@pytest.mark.parametrize("where", list(EMPTY_SIZE_ONE_LISTS))
def test_empty_size_one_sequence_decodes_to_an_empty_tuple_and_back_like_openssl(
    where: str, libcrypto: LibCrypto
) -> None:
    """RFC 9810 says SIZE (1..MAX) for these lists, but OpenSSL sends an empty
    extraCerts and its own decoder takes and writes back every one of them
    empty: cmpkit decodes each to ``()`` (absent stays ``None``) and encodes
    ``()`` as the empty SEQUENCE, so the values re-encode to the bytes."""
    der = EMPTY_SIZE_ONE_LISTS[where]
    assert libcrypto.reencode(der)[1] == der
    msg = decodes_fully_or_raises_decode_error(der)
    assert msg is not None
    values = [msg.header, msg.body.value, msg.extra_certs]
    if msg.body.kind == "nested":
        values += [msg.body.value[0].extra_certs] if msg.body.value else []
    assert () in [v for v in _values_in(values) if isinstance(v, tuple)]


def _values_in(values: list[Any]) -> Iterator[Any]:
    """The values and every field of the dataclasses among them, recursively."""
    for value in values:
        yield value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _values_in([getattr(value, f.name) for f in dataclasses.fields(value)])
        elif isinstance(value, tuple):
            yield from _values_in(list(value))


def test_empty_list_built_from_values_is_encoded_as_an_empty_sequence() -> None:
    h = PKIHeader(2, GeneralName("dNSName", "a"), GeneralName("dNSName", "b"), free_text=())
    der = PKIMessage(h, PKIBody("ir", ())).to_der()
    assert tlv(0xA7, _EMPTY) in der and der.endswith(tlv(0xA0, _EMPTY))
    assert PKIMessage.from_der(der).header.free_text == ()
    absent = PKIMessage(PKIHeader(2, h.sender, h.recipient), PKIBody("ir", ())).to_der()
    assert b"\xa7" not in absent  # None leaves the OPTIONAL list out


def test_directory_name_from_cryptography_name() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    assert GeneralName.directory_name(name) == GeneralName("directoryName", name.public_bytes())


def test_asn1_classes_are_plain_dataclasses_the_decoder_may_fill_directly() -> None:
    # rust/convert.rs makes decoded values with object.__new__ and the instance
    # __dict__ when a class is a plain dataclass (an __init__ that only stores
    # the fields: cmp._frozen's, or the generated one; nothing run after it);
    # it calls the class otherwise. Every class here should be plain.
    import dataclasses as dc

    import cmp.asn1 as asn1_module
    from cmp._frozen import FAST_INIT_FILENAME

    classes = [
        c for c in vars(asn1_module).values()
        if isinstance(c, type) and dc.is_dataclass(c) and c.__module__ == "cmp.asn1"
    ]  # fmt: skip
    assert len(classes) > 40
    for cls in classes:
        assert cls.__dataclass_params__.init, cls  # type: ignore[attr-defined]
        assert cls.__init__.__code__.co_filename == FAST_INIT_FILENAME, cls
        assert not hasattr(cls, "__post_init__"), cls
        assert "__slots__" not in vars(cls), cls


def test_object_identifiers_convert_alike_past_the_native_oid_memory() -> None:
    # The core remembers converted OIDs (512 each way, then starts over):
    # more than that, seen twice, still give the same DER and back, and a
    # string that is no OID is refused every time.
    oids = [f"1.3.6.1.4.1.99999.{i}.{i * 7919}" for i in range(1300)]
    for _ in range(2):
        for oid in oids:
            der = A.encode("AlgorithmIdentifier", A.AlgorithmIdentifier(oid, None))
            assert der == _reference_algorithm_identifier(oid)
            assert A.decode("AlgorithmIdentifier", der).algorithm == oid
    long_oid = "1.2." + ".".join(["123456789"] * 14)  # a string too long to be remembered
    der = A.encode("AlgorithmIdentifier", A.AlgorithmIdentifier(long_oid, None))
    assert A.decode("AlgorithmIdentifier", der).algorithm == long_oid
    for _ in range(2):
        with pytest.raises(EncodeError):
            A.encode("AlgorithmIdentifier", A.AlgorithmIdentifier("1.2.x", None))


def _reference_algorithm_identifier(oid: str) -> bytes:
    """SEQUENCE { OBJECT IDENTIFIER } with the OID encoded by pyasn1."""
    from pyasn1.codec.der import encoder
    from pyasn1.type import univ

    der: bytes = encoder.encode(univ.ObjectIdentifier(oid))
    return bytes([0x30, len(der)]) + der


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 70_000])
def test_der_element_frames_content_as_der(size: int) -> None:
    content = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    der = _native.der_element(0xA0, content)
    # X.690 8.1.3: the short form below 128, else the fewest length octets
    octets = b"" if size < 0x80 else size.to_bytes((size.bit_length() + 7) // 8, "big")
    length = bytes([size]) if size < 0x80 else bytes([0x80 | len(octets)]) + octets
    assert der == b"\xa0" + length + content
    assert _native.der_header(der, 0) == (0xA0, 1 + len(length), len(der))


def test_der_element_refuses_a_high_tag_number_form() -> None:
    for identifier in (0x1F, 0x3F, 0xBF, 0xFF):
        with pytest.raises(ValueError, match="high-tag-number"):
            _native.der_element(identifier, b"")
