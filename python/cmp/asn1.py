"""The ASN.1 types of CMP (RFC 9810), CRMF (RFC 4211) and the PKIX pieces
they use, as frozen dataclasses: the Python side of the Rust schema.

Rules (the native core converts both ways by them):

- a SEQUENCE is the class of the same name, fields in ASN.1 order, in
  snake_case; OPTIONAL fields are ``None`` when absent;
- a CHOICE is its class with ``kind`` (the RFC's name of the alternative) and
  ``value``;
- SEQUENCE OF is a ``tuple``; INTEGER ``int``; BOOLEAN ``bool``; NULL
  ``None``; OCTET STRING ``bytes``; UTF8String/IA5String ``str``; OBJECT
  IDENTIFIER the dotted ``str``; GeneralizedTime/Time a UTC ``datetime``
  (a :class:`PreciseDatetime` for a GeneralizedTime finer than microseconds);
- a SEQUENCE OF that is present but empty is ``()`` and encodes back as an
  empty SEQUENCE, also where the RFC says SIZE (1..MAX): OpenSSL sends and
  accepts such lists (an empty extraCerts), and decoded values re-encode to
  their bytes;
- BIT STRINGs that carry octets (signatures, MACs, PKIProtection) are
  ``bytes``; PKIFailureInfo is an ``int`` bit mask (:class:`FailInfo`); any
  other BIT STRING is :class:`BitString`;
- certificates, names, public keys, extensions, CSRs, CRLs and CMS structures
  stay DER ``bytes``; the accessors turn them into ``cryptography`` objects.
"""

from __future__ import annotations

import copyreg
import datetime
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cmp import _native
from cmp._frozen import fast_init

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = [
    "AlgorithmIdentifier",
    "AttributeTypeAndValue",
    "BitString",
    "CAKeyUpdAnnContent",
    "CAKeyUpdContent",
    "CRLSource",
    "CRLStatus",
    "CertConfirmContent",
    "CertId",
    "CertOrEncCert",
    "CertRepMessage",
    "CertReqMsg",
    "CertReqTemplateContent",
    "CertRequest",
    "CertResponse",
    "CertStatus",
    "CertTemplate",
    "CertifiedKeyPair",
    "Challenge",
    "DHBMParameter",
    "EncryptedKey",
    "EncryptedValue",
    "ErrorMsgContent",
    "Extension",
    "FailInfo",
    "GeneralName",
    "InfoTypeAndValue",
    "KemBMParameter",
    "KemCiphertextInfo",
    "KeyRecRepContent",
    "OptionalValidity",
    "PBKDF2Params",
    "PBKDF2Salt",
    "PBMAC1Params",
    "PBMParameter",
    "PKIArchiveOptions",
    "PKIBody",
    "PKIHeader",
    "PKIPublicationInfo",
    "PKIStatus",
    "PKIStatusInfo",
    "PKMACValue",
    "POPOPrivKey",
    "POPOSigningKey",
    "POPOSigningKeyInput",
    "POPOSigningKeyInputAuthInfo",
    "PollRepEntry",
    "PollReqEntry",
    "PreciseDatetime",
    "ProofOfPossession",
    "ProtectedPart",
    "RevAnnContent",
    "RevDetails",
    "RevRepContent",
    "RootCaKeyUpdateContent",
    "RsassaPssParams",
    "SinglePubInfo",
    "decode",
    "encode",
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


class PreciseDatetime(datetime.datetime):
    """A ``datetime`` that also keeps the nanoseconds past its microseconds:
    a GeneralizedTime (messageTime, RevAnnContent) may carry more fractional
    digits than ``datetime`` does (DER allows any number; the core reads up
    to nine), and its value must encode back to the very digits. Decoding
    makes one only for a time with a seventh to ninth fractional digit.
    Comparison, hashing and arithmetic are those of ``datetime`` (to the
    microsecond); what arithmetic or ``replace`` returns has ``nanosecond`` 0.
    """

    __slots__ = ("_nanosecond",)
    _nanosecond: int

    def __new__(cls, *args: Any, nanosecond: int = 0, **kwargs: Any) -> PreciseDatetime:
        if not 0 <= nanosecond <= 999:
            raise ValueError(f"nanosecond must be in 0..999, not {nanosecond}")
        self = super().__new__(cls, *args, **kwargs)
        self._nanosecond = nanosecond
        return self

    @property
    def nanosecond(self) -> int:
        """Nanoseconds past ``microsecond`` (0..999)."""
        return self._nanosecond

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, nanosecond={self._nanosecond})"

    def __reduce_ex__(self, protocol: Any) -> Any:
        fields = (self.year, self.month, self.day, self.hour, self.minute, self.second)
        args = (*fields, self.microsecond, self.tzinfo)
        kwargs = {"fold": self.fold, "nanosecond": self._nanosecond}
        return copyreg.__newobj_ex__, (type(self), args, kwargs)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class BitString:
    """A BIT STRING with no fixed meaning: octets plus the unused bits of the last."""

    data: bytes
    unused_bits: int = 0


@dataclass(frozen=True)
class AlgorithmIdentifier:
    """RFC 5280 AlgorithmIdentifier; ``parameters`` is the DER of the parameters."""

    algorithm: str
    parameters: bytes | None = None


@dataclass(frozen=True)
class Extension:
    """RFC 5280 Extension; ``extn_value`` is the DER of the extension's value."""

    extn_id: str
    critical: bool = False
    extn_value: bytes = b""


@dataclass(frozen=True)
class RsassaPssParams:
    """RFC 4055 RSASSA-PSS-params; ``None`` means the DEFAULT (SHA-1, MGF1
    with SHA-1, salt length 20, trailer field 1)."""

    hash_algorithm: AlgorithmIdentifier | None = None
    mask_gen_algorithm: AlgorithmIdentifier | None = None
    salt_length: int | None = None
    trailer_field: int | None = None


@dataclass(frozen=True)
class GeneralName:
    """RFC 5280 GeneralName. ``value`` is ``str`` for rfc822Name, dNSName,
    uniformResourceIdentifier and registeredID (dotted OID), ``bytes``
    otherwise (the DER of the Name for directoryName, the octets of
    iPAddress, the DER SEQUENCE for otherName, x400Address, ediPartyName)."""

    kind: str
    value: Any

    @classmethod
    def directory_name(cls, name: x509.Name) -> GeneralName:
        from cmp.certinfo import name_der

        return cls("directoryName", name_der(name))

    @classmethod
    def from_cryptography(cls, gn: x509.GeneralName) -> GeneralName:
        from cmp.names import general_name_from_cryptography

        return general_name_from_cryptography(gn)

    def to_cryptography(self) -> x509.GeneralName:
        from cmp.names import general_name_to_cryptography

        return general_name_to_cryptography(self)


# --- CRMF ------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionalValidity:
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None


@dataclass(frozen=True)
class AttributeTypeAndValue:
    """A control or regInfo entry: ``value`` is the DER of the value."""

    attr_type: str
    value: bytes


@dataclass(frozen=True)
class CertTemplate:
    version: int | None = None
    serial_number: int | None = None
    signing_alg: AlgorithmIdentifier | None = None
    issuer: bytes | None = None
    validity: OptionalValidity | None = None
    subject: bytes | None = None
    public_key: bytes | None = None
    issuer_uid: BitString | None = None
    subject_uid: BitString | None = None
    extensions: bytes | None = None

    def subject_name(self) -> x509.Name | None:
        from cmp.names import name_from_der

        return None if self.subject is None else name_from_der(self.subject)

    def issuer_name(self) -> x509.Name | None:
        from cmp.names import name_from_der

        return None if self.issuer is None else name_from_der(self.issuer)

    def public_key_object(self) -> PublicKeyTypes | None:
        """The template's public key; raises :class:`cmp.DecodeError` for a
        malformed SubjectPublicKeyInfo, :class:`cmp.UnsupportedAlgorithm` for
        a key type ``cryptography`` does not know."""
        from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        from cmp.errors import DecodeError, UnsupportedAlgorithm

        if self.public_key is None:
            return None
        try:
            return load_der_public_key(self.public_key)
        except _CryptoUnsupported as e:
            raise UnsupportedAlgorithm(f"template public key: {e}") from None
        except ValueError as e:
            raise DecodeError(f"template public key is malformed: {e}") from None

    def extension_list(self) -> x509.Extensions | None:
        from cmp.names import extensions_from_der

        return None if self.extensions is None else extensions_from_der(self.extensions)


@dataclass(frozen=True)
class CertRequest:
    cert_req_id: int
    cert_template: CertTemplate
    controls: tuple[AttributeTypeAndValue, ...] | None = None


@dataclass(frozen=True)
class PKMACValue:
    alg_id: AlgorithmIdentifier
    value: bytes


@dataclass(frozen=True)
class POPOSigningKeyInputAuthInfo:
    """kind ``sender`` (GeneralName) or ``publicKeyMAC`` (PKMACValue)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class POPOSigningKeyInput:
    auth_info: POPOSigningKeyInputAuthInfo
    public_key: bytes


@dataclass(frozen=True)
class POPOSigningKey:
    poposk_input: POPOSigningKeyInput | None
    algorithm_identifier: AlgorithmIdentifier
    signature: bytes


@dataclass(frozen=True)
class POPOPrivKey:
    """kind ``thisMessage``, ``subsequentMessage`` (int), ``dhMAC``,
    ``agreeMAC`` (PKMACValue) or ``encryptedKey`` (EnvelopedData DER)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class ProofOfPossession:
    """kind ``raVerified`` (None), ``signature`` (POPOSigningKey),
    ``keyEncipherment`` or ``keyAgreement`` (POPOPrivKey)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class CertReqMsg:
    cert_req: CertRequest
    popo: ProofOfPossession | None = None
    reg_info: tuple[AttributeTypeAndValue, ...] | None = None


@dataclass(frozen=True)
class PBMParameter:
    salt: bytes
    owf: AlgorithmIdentifier
    iteration_count: int
    mac: AlgorithmIdentifier


@dataclass(frozen=True)
class EncryptedValue:
    intended_alg: AlgorithmIdentifier | None
    symm_alg: AlgorithmIdentifier | None
    enc_symm_key: bytes | None
    key_alg: AlgorithmIdentifier | None
    value_hint: bytes | None
    enc_value: bytes


@dataclass(frozen=True)
class EncryptedKey:
    """kind ``encryptedValue`` (EncryptedValue) or ``envelopedData`` (DER)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class SinglePubInfo:
    pub_method: int
    pub_location: GeneralName | None = None


@dataclass(frozen=True)
class PKIPublicationInfo:
    action: int
    pub_infos: tuple[SinglePubInfo, ...] | None = None


@dataclass(frozen=True)
class PKIArchiveOptions:
    """kind ``encryptedPrivKey``, ``keyGenParameters`` or ``archiveRemGenPrivKey``."""

    kind: str
    value: Any


@dataclass(frozen=True)
class CertId:
    issuer: GeneralName
    serial_number: int


# --- CMP -------------------------------------------------------------------------


@dataclass(frozen=True)
class InfoTypeAndValue:
    """``info_value`` is the DER of the value (``None`` when absent);
    :meth:`decoded` decodes the infoTypes cmpkit knows."""

    info_type: str
    info_value: bytes | None = None

    def decoded(self) -> Any:
        from cmp.itav import decode_itav_value

        return decode_itav_value(self)


@dataclass(frozen=True)
class PKIHeader:
    pvno: int
    sender: GeneralName
    recipient: GeneralName
    message_time: datetime.datetime | None = None
    protection_alg: AlgorithmIdentifier | None = None
    sender_kid: bytes | None = None
    recip_kid: bytes | None = None
    transaction_id: bytes | None = None
    sender_nonce: bytes | None = None
    recip_nonce: bytes | None = None
    free_text: tuple[str, ...] | None = None
    general_info: tuple[InfoTypeAndValue, ...] | None = None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class PKIStatusInfo:
    status: int
    status_string: tuple[str, ...] | None = None
    fail_info: int | None = None

    @property
    def fail_info_names(self) -> list[str]:
        return FailInfo.names_of(self.fail_info or 0)


@dataclass(frozen=True)
class CertOrEncCert:
    """kind ``certificate`` (DER) or ``encryptedCert`` (EncryptedKey)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class CertifiedKeyPair:
    cert_or_enc_cert: CertOrEncCert
    private_key: EncryptedKey | None = None
    publication_info: PKIPublicationInfo | None = None


@dataclass(frozen=True)
class CertResponse:
    cert_req_id: int
    status: PKIStatusInfo
    certified_key_pair: CertifiedKeyPair | None = None
    rsp_info: bytes | None = None

    def certificate(self) -> x509.Certificate | None:
        """The issued certificate, if it came in the clear; raises
        :class:`cmp.DecodeError` when it is not a valid certificate."""
        ckp = self.certified_key_pair
        if ckp is None or ckp.cert_or_enc_cert.kind != "certificate":
            return None
        from cryptography.x509 import InvalidVersion, load_der_x509_certificate

        from cmp.errors import DecodeError

        try:
            return load_der_x509_certificate(ckp.cert_or_enc_cert.value)
        except (ValueError, InvalidVersion) as e:  # the core keeps it as raw DER
            raise DecodeError(f"the certificate is not valid: {e}") from None


@dataclass(frozen=True)
class CertRepMessage:
    ca_pubs: tuple[bytes, ...] | None
    response: tuple[CertResponse, ...]


@dataclass(frozen=True)
class Challenge:
    owf: AlgorithmIdentifier | None
    witness: bytes
    challenge: bytes
    encrypted_rand: bytes | None = None


@dataclass(frozen=True)
class KeyRecRepContent:
    status: PKIStatusInfo
    new_sig_cert: bytes | None = None
    ca_certs: tuple[bytes, ...] | None = None
    key_pair_hist: tuple[CertifiedKeyPair, ...] | None = None


@dataclass(frozen=True)
class RevDetails:
    cert_details: CertTemplate
    crl_entry_details: bytes | None = None


@dataclass(frozen=True)
class RevRepContent:
    status: tuple[PKIStatusInfo, ...]
    rev_certs: tuple[CertId, ...] | None = None
    crls: tuple[bytes, ...] | None = None


@dataclass(frozen=True)
class CAKeyUpdAnnContent:
    old_with_new: bytes
    new_with_old: bytes
    new_with_new: bytes


@dataclass(frozen=True)
class RootCaKeyUpdateContent:
    new_with_new: bytes
    new_with_old: bytes | None = None
    old_with_new: bytes | None = None


@dataclass(frozen=True)
class CAKeyUpdContent:
    """kind ``cAKeyUpdAnnV2`` (CAKeyUpdAnnContent) or ``cAKeyUpdAnnV3``
    (RootCaKeyUpdateContent)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class RevAnnContent:
    status: int
    cert_id: CertId
    will_be_revoked_at: datetime.datetime
    bad_since_date: datetime.datetime
    crl_details: bytes | None = None


@dataclass(frozen=True)
class ErrorMsgContent:
    pki_status_info: PKIStatusInfo
    error_code: int | None = None
    error_details: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CertStatus:
    cert_hash: bytes
    cert_req_id: int
    status_info: PKIStatusInfo | None = None
    hash_alg: AlgorithmIdentifier | None = None


CertConfirmContent = tuple[CertStatus, ...]


@dataclass(frozen=True)
class PollReqEntry:
    cert_req_id: int


@dataclass(frozen=True)
class PollRepEntry:
    cert_req_id: int
    check_after: int
    reason: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ProtectedPart:
    header: PKIHeader
    body: PKIBody


@dataclass(frozen=True)
class CertReqTemplateContent:
    cert_template: CertTemplate
    key_spec: tuple[AttributeTypeAndValue, ...] | None = None


@dataclass(frozen=True)
class CRLSource:
    """kind ``dpn`` (DistributionPointName DER) or ``issuer`` (GeneralNames)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class CRLStatus:
    source: CRLSource
    this_update: datetime.datetime | None = None


@dataclass(frozen=True)
class KemCiphertextInfo:
    kem: AlgorithmIdentifier
    ct: bytes


@dataclass(frozen=True)
class PBMAC1Params:
    key_derivation_func: AlgorithmIdentifier
    message_auth_scheme: AlgorithmIdentifier


@dataclass(frozen=True)
class PBKDF2Salt:
    """kind ``specified`` (bytes) or ``otherSource`` (AlgorithmIdentifier)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class PBKDF2Params:
    salt: PBKDF2Salt
    iteration_count: int
    key_length: int | None = None
    prf: AlgorithmIdentifier | None = None


@dataclass(frozen=True)
class DHBMParameter:
    owf: AlgorithmIdentifier
    mac: AlgorithmIdentifier


@dataclass(frozen=True)
class KemBMParameter:
    kdf: AlgorithmIdentifier
    kem_context: bytes | None
    len: int
    mac: AlgorithmIdentifier


# Every value class above is built by the hundred per transaction.
for _cls in list(globals().values()):
    if isinstance(_cls, type) and _cls.__module__ == __name__:
        fast_init(_cls)
del _cls
