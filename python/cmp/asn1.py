"""The ASN.1 types of CMP (RFC 9810), CRMF (RFC 4211) and the PKIX pieces
they use, as frozen dataclasses: the Python side of the Rust schema.

Rules (the native core converts both ways by them):

- a SEQUENCE is the class of the same name, fields in ASN.1 order, in
  snake_case; OPTIONAL fields are ``None`` when absent;
- a CHOICE is its class with ``kind`` (the RFC's name of the alternative) and
  ``value``;
- SEQUENCE OF is a ``tuple``; INTEGER ``int``; BOOLEAN ``bool``; NULL
  ``None``; OCTET STRING ``bytes``; UTF8String/IA5String ``str``; OBJECT
  IDENTIFIER the dotted ``str``; GeneralizedTime/Time a UTC ``datetime``;
- BIT STRINGs that carry octets (signatures, MACs, PKIProtection) are
  ``bytes``; PKIFailureInfo is an ``int`` bit mask (:class:`FailInfo`); any
  other BIT STRING is :class:`BitString`;
- certificates, names, public keys, extensions, CSRs, CRLs and CMS structures
  stay DER ``bytes``; the accessors turn them into ``cryptography`` objects.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Tuple

from cmp import _native

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = [
    "AlgorithmIdentifier", "AttributeTypeAndValue", "BitString", "CAKeyUpdAnnContent",
    "CAKeyUpdContent", "CertConfirmContent", "CertId", "CertOrEncCert", "CertRepMessage",
    "CertReqMsg", "CertReqTemplateContent", "CertRequest", "CertResponse", "CertStatus",
    "CertTemplate", "CertifiedKeyPair", "Challenge", "CRLSource", "CRLStatus",
    "DHBMParameter", "EncryptedKey", "EncryptedValue", "ErrorMsgContent", "FailInfo",
    "GeneralName", "InfoTypeAndValue", "KemBMParameter", "KemCiphertextInfo",
    "KeyRecRepContent", "OptionalValidity", "PBKDF2Params", "PBKDF2Salt", "PBMAC1Params",
    "PBMParameter", "PKIArchiveOptions", "PKIBody", "PKIHeader", "PKIPublicationInfo",
    "PKIStatus", "PKIStatusInfo", "PKMACValue", "POPOPrivKey", "POPOSigningKey",
    "POPOSigningKeyInput", "POPOSigningKeyInputAuthInfo", "PollRepEntry", "PollReqEntry",
    "ProofOfPossession", "ProtectedPart", "RevAnnContent", "RevDetails", "RevRepContent",
    "RootCaKeyUpdateContent", "SinglePubInfo", "decode", "encode",
]


def decode(type_name: str, der: bytes) -> Any:
    """Decodes ``der`` as the ASN.1 type named ``type_name`` (e.g.
    ``"PBMParameter"``, ``"CertTemplate"``, ``"PKIFreeText"``)."""
    return _native.decode_as(type_name, der)


def encode(type_name: str, value: Any) -> bytes:
    """Encodes ``value`` as the ASN.1 type named ``type_name`` (DER)."""
    from cmp.errors import EncodeError

    try:
        return _native.encode_as(type_name, value)
    except (TypeError, ValueError) as e:
        raise EncodeError(str(e)) from None


_frozen = dataclass(frozen=True)


# --- enumerations --------------------------------------------------------------


class PKIStatus(enum.IntEnum):
    """RFC 9810 §5.2.3 PKIStatus."""

    accepted = 0
    grantedWithMods = 1
    rejection = 2
    waiting = 3
    revocationWarning = 4
    revocationNotification = 5
    keyUpdateWarning = 6


class FailInfo(enum.IntFlag):
    """RFC 9810 §5.2.3 PKIFailureInfo: bit ``n`` of the BIT STRING is ``1 << n``."""

    badAlg = 1 << 0
    badMessageCheck = 1 << 1
    badRequest = 1 << 2
    badTime = 1 << 3
    badCertId = 1 << 4
    badDataFormat = 1 << 5
    wrongAuthority = 1 << 6
    incorrectData = 1 << 7
    missingTimeStamp = 1 << 8
    badPOP = 1 << 9
    certRevoked = 1 << 10
    certConfirmed = 1 << 11
    wrongIntegrity = 1 << 12
    badRecipientNonce = 1 << 13
    timeNotAvailable = 1 << 14
    unacceptedPolicy = 1 << 15
    unacceptedExtension = 1 << 16
    addInfoNotAvailable = 1 << 17
    badSenderNonce = 1 << 18
    badCertTemplate = 1 << 19
    signerNotTrusted = 1 << 20
    transactionIdInUse = 1 << 21
    unsupportedVersion = 1 << 22
    notAuthorized = 1 << 23
    systemUnavail = 1 << 24
    systemFailure = 1 << 25
    duplicateCertReq = 1 << 26

    @classmethod
    def names_of(cls, mask: int) -> list[str]:
        """The RFC names of the bits set in ``mask``, lowest bit first
        (unknown bits as ``bit<n>``)."""
        return [
            cls(1 << n).name or f"bit{n}" if (1 << n) in cls._value2member_map_ else f"bit{n}"
            for n in range(mask.bit_length())
            if mask >> n & 1
        ]


# --- PKIX ------------------------------------------------------------------------


@_frozen
class BitString:
    """A BIT STRING with no fixed meaning: octets plus the unused bits of the last."""

    data: bytes
    unused_bits: int = 0


@_frozen
class AlgorithmIdentifier:
    """RFC 5280 AlgorithmIdentifier; ``parameters`` is the DER of the parameters."""

    algorithm: str
    parameters: Optional[bytes] = None


@_frozen
class GeneralName:
    """RFC 5280 GeneralName. ``value`` is ``str`` for rfc822Name, dNSName,
    uniformResourceIdentifier and registeredID (dotted OID), ``bytes``
    otherwise (the DER of the Name for directoryName, the octets of
    iPAddress, the DER SEQUENCE for otherName, x400Address, ediPartyName)."""

    kind: str
    value: Any

    @classmethod
    def directory_name(cls, name: x509.Name) -> GeneralName:
        return cls("directoryName", name.public_bytes())

    @classmethod
    def from_cryptography(cls, gn: x509.GeneralName) -> GeneralName:
        from cmp.names import general_name_from_cryptography

        return general_name_from_cryptography(gn)

    def to_cryptography(self) -> x509.GeneralName:
        from cmp.names import general_name_to_cryptography

        return general_name_to_cryptography(self)


# --- CRMF ------------------------------------------------------------------------


@_frozen
class OptionalValidity:
    not_before: Optional[datetime.datetime] = None
    not_after: Optional[datetime.datetime] = None


@_frozen
class AttributeTypeAndValue:
    """A control or regInfo entry: ``value`` is the DER of the value."""

    attr_type: str
    value: bytes


@_frozen
class CertTemplate:
    version: Optional[int] = None
    serial_number: Optional[int] = None
    signing_alg: Optional[AlgorithmIdentifier] = None
    issuer: Optional[bytes] = None
    validity: Optional[OptionalValidity] = None
    subject: Optional[bytes] = None
    public_key: Optional[bytes] = None
    issuer_uid: Optional[BitString] = None
    subject_uid: Optional[BitString] = None
    extensions: Optional[bytes] = None

    def subject_name(self) -> Optional[x509.Name]:
        from cmp.names import name_from_der

        return None if self.subject is None else name_from_der(self.subject)

    def issuer_name(self) -> Optional[x509.Name]:
        from cmp.names import name_from_der

        return None if self.issuer is None else name_from_der(self.issuer)

    def public_key_object(self) -> Optional[PublicKeyTypes]:
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        return None if self.public_key is None else load_der_public_key(self.public_key)

    def extension_list(self) -> Optional[x509.Extensions]:
        from cmp.names import extensions_from_der

        return None if self.extensions is None else extensions_from_der(self.extensions)


@_frozen
class CertRequest:
    cert_req_id: int
    cert_template: CertTemplate
    controls: Optional[Tuple[AttributeTypeAndValue, ...]] = None


@_frozen
class PKMACValue:
    alg_id: AlgorithmIdentifier
    value: bytes


@_frozen
class POPOSigningKeyInputAuthInfo:
    """kind ``sender`` (GeneralName) or ``publicKeyMAC`` (PKMACValue)."""

    kind: str
    value: Any


@_frozen
class POPOSigningKeyInput:
    auth_info: POPOSigningKeyInputAuthInfo
    public_key: bytes


@_frozen
class POPOSigningKey:
    poposk_input: Optional[POPOSigningKeyInput]
    algorithm_identifier: AlgorithmIdentifier
    signature: bytes


@_frozen
class POPOPrivKey:
    """kind ``thisMessage``, ``subsequentMessage`` (int), ``dhMAC``,
    ``agreeMAC`` (PKMACValue) or ``encryptedKey`` (EnvelopedData DER)."""

    kind: str
    value: Any


@_frozen
class ProofOfPossession:
    """kind ``raVerified`` (None), ``signature`` (POPOSigningKey),
    ``keyEncipherment`` or ``keyAgreement`` (POPOPrivKey)."""

    kind: str
    value: Any


@_frozen
class CertReqMsg:
    cert_req: CertRequest
    popo: Optional[ProofOfPossession] = None
    reg_info: Optional[Tuple[AttributeTypeAndValue, ...]] = None


@_frozen
class PBMParameter:
    salt: bytes
    owf: AlgorithmIdentifier
    iteration_count: int
    mac: AlgorithmIdentifier


@_frozen
class EncryptedValue:
    intended_alg: Optional[AlgorithmIdentifier]
    symm_alg: Optional[AlgorithmIdentifier]
    enc_symm_key: Optional[bytes]
    key_alg: Optional[AlgorithmIdentifier]
    value_hint: Optional[bytes]
    enc_value: bytes


@_frozen
class EncryptedKey:
    """kind ``encryptedValue`` (EncryptedValue) or ``envelopedData`` (DER)."""

    kind: str
    value: Any


@_frozen
class SinglePubInfo:
    pub_method: int
    pub_location: Optional[GeneralName] = None


@_frozen
class PKIPublicationInfo:
    action: int
    pub_infos: Optional[Tuple[SinglePubInfo, ...]] = None


@_frozen
class PKIArchiveOptions:
    """kind ``encryptedPrivKey``, ``keyGenParameters`` or ``archiveRemGenPrivKey``."""

    kind: str
    value: Any


@_frozen
class CertId:
    issuer: GeneralName
    serial_number: int


# --- CMP -------------------------------------------------------------------------


@_frozen
class InfoTypeAndValue:
    """``info_value`` is the DER of the value (``None`` when absent);
    :meth:`decoded` decodes the infoTypes cmpkit knows."""

    info_type: str
    info_value: Optional[bytes] = None

    def decoded(self) -> Any:
        from cmp.itav import decode_itav_value

        return decode_itav_value(self)


@_frozen
class PKIHeader:
    pvno: int
    sender: GeneralName
    recipient: GeneralName
    message_time: Optional[datetime.datetime] = None
    protection_alg: Optional[AlgorithmIdentifier] = None
    sender_kid: Optional[bytes] = None
    recip_kid: Optional[bytes] = None
    transaction_id: Optional[bytes] = None
    sender_nonce: Optional[bytes] = None
    recip_nonce: Optional[bytes] = None
    free_text: Optional[Tuple[str, ...]] = None
    general_info: Optional[Tuple[InfoTypeAndValue, ...]] = None


@_frozen
class PKIBody:
    """``kind`` is the RFC's name of the body (``ir``, ``ip``, ``certConf``,
    ``pollRep``, ...); ``value`` its content: a tuple of CertReqMsg for
    ir/cr/kur/krr/ccr, CertRepMessage for ip/cp/kup/ccp, the CSR's DER for
    p10cr, a tuple of RevDetails for rr, RevRepContent for rp, a tuple of
    InfoTypeAndValue for genm/genp, ErrorMsgContent for error, a tuple of
    CertStatus for certConf, of PollReqEntry/PollRepEntry for
    pollReq/pollRep, ``None`` for pkiconf, a tuple of PKIMessage for nested."""

    kind: str
    value: Any


@_frozen
class PKIStatusInfo:
    status: int
    status_string: Optional[Tuple[str, ...]] = None
    fail_info: Optional[int] = None

    @property
    def fail_info_names(self) -> list[str]:
        return FailInfo.names_of(self.fail_info or 0)


@_frozen
class CertOrEncCert:
    """kind ``certificate`` (DER) or ``encryptedCert`` (EncryptedKey)."""

    kind: str
    value: Any


@_frozen
class CertifiedKeyPair:
    cert_or_enc_cert: CertOrEncCert
    private_key: Optional[EncryptedKey] = None
    publication_info: Optional[PKIPublicationInfo] = None


@_frozen
class CertResponse:
    cert_req_id: int
    status: PKIStatusInfo
    certified_key_pair: Optional[CertifiedKeyPair] = None
    rsp_info: Optional[bytes] = None

    def certificate(self) -> Optional[x509.Certificate]:
        """The issued certificate, if it came in the clear."""
        ckp = self.certified_key_pair
        if ckp is None or ckp.cert_or_enc_cert.kind != "certificate":
            return None
        from cryptography.x509 import load_der_x509_certificate

        return load_der_x509_certificate(ckp.cert_or_enc_cert.value)


@_frozen
class CertRepMessage:
    ca_pubs: Optional[Tuple[bytes, ...]]
    response: Tuple[CertResponse, ...]


@_frozen
class Challenge:
    owf: Optional[AlgorithmIdentifier]
    witness: bytes
    challenge: bytes
    encrypted_rand: Optional[bytes] = None


@_frozen
class KeyRecRepContent:
    status: PKIStatusInfo
    new_sig_cert: Optional[bytes] = None
    ca_certs: Optional[Tuple[bytes, ...]] = None
    key_pair_hist: Optional[Tuple[CertifiedKeyPair, ...]] = None


@_frozen
class RevDetails:
    cert_details: CertTemplate
    crl_entry_details: Optional[bytes] = None


@_frozen
class RevRepContent:
    status: Tuple[PKIStatusInfo, ...]
    rev_certs: Optional[Tuple[CertId, ...]] = None
    crls: Optional[Tuple[bytes, ...]] = None


@_frozen
class CAKeyUpdAnnContent:
    old_with_new: bytes
    new_with_old: bytes
    new_with_new: bytes


@_frozen
class RootCaKeyUpdateContent:
    new_with_new: bytes
    new_with_old: Optional[bytes] = None
    old_with_new: Optional[bytes] = None


@_frozen
class CAKeyUpdContent:
    """kind ``cAKeyUpdAnnV2`` (CAKeyUpdAnnContent) or ``cAKeyUpdAnnV3``
    (RootCaKeyUpdateContent)."""

    kind: str
    value: Any


@_frozen
class RevAnnContent:
    status: int
    cert_id: CertId
    will_be_revoked_at: datetime.datetime
    bad_since_date: datetime.datetime
    crl_details: Optional[bytes] = None


@_frozen
class ErrorMsgContent:
    pki_status_info: PKIStatusInfo
    error_code: Optional[int] = None
    error_details: Optional[Tuple[str, ...]] = None


@_frozen
class CertStatus:
    cert_hash: bytes
    cert_req_id: int
    status_info: Optional[PKIStatusInfo] = None
    hash_alg: Optional[AlgorithmIdentifier] = None


CertConfirmContent = Tuple[CertStatus, ...]


@_frozen
class PollReqEntry:
    cert_req_id: int


@_frozen
class PollRepEntry:
    cert_req_id: int
    check_after: int
    reason: Optional[Tuple[str, ...]] = None


@_frozen
class ProtectedPart:
    header: PKIHeader
    body: PKIBody


@_frozen
class CertReqTemplateContent:
    cert_template: CertTemplate
    key_spec: Optional[Tuple[AttributeTypeAndValue, ...]] = None


@_frozen
class CRLSource:
    """kind ``dpn`` (DistributionPointName DER) or ``issuer`` (GeneralNames)."""

    kind: str
    value: Any


@_frozen
class CRLStatus:
    source: CRLSource
    this_update: Optional[datetime.datetime] = None


@_frozen
class KemCiphertextInfo:
    kem: AlgorithmIdentifier
    ct: bytes


@_frozen
class PBMAC1Params:
    key_derivation_func: AlgorithmIdentifier
    message_auth_scheme: AlgorithmIdentifier


@_frozen
class PBKDF2Salt:
    """kind ``specified`` (bytes) or ``otherSource`` (AlgorithmIdentifier)."""

    kind: str
    value: Any


@_frozen
class PBKDF2Params:
    salt: PBKDF2Salt
    iteration_count: int
    key_length: Optional[int] = None
    prf: Optional[AlgorithmIdentifier] = None


@_frozen
class DHBMParameter:
    owf: AlgorithmIdentifier
    mac: AlgorithmIdentifier


@_frozen
class KemBMParameter:
    kdf: AlgorithmIdentifier
    kem_context: Optional[bytes]
    len: int
    mac: AlgorithmIdentifier
