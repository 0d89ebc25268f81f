"""cmpkit's ASN.1 schema checked against an independent one: pyasn1 with the
RFC 9810 (CMP), RFC 4211 (CRMF) and RFC 5280 modules of pyasn1-alt-modules.

- cmpkit → pyasn1: messages built from cmpkit values (the strategies of
  :mod:`strategies`: every body kind, every CHOICE alternative, header fields
  present and absent, pvno 2 and 3), and the values of the infoTypes cmpkit
  knows, encode to DER that pyasn1 decodes with the RFC schema to the same
  fields, and that pyasn1's DER encoder re-encodes to the very same bytes.
  The DER that cmpkit keeps whole (certificates, names, keys, ...) is drawn
  from :data:`PKI`, DER of the right RFC type, as pyasn1 parses it.
- pyasn1 → cmpkit: tables of messages and values built with pyasn1 (every
  body type; the alternatives of PKIBody, ProofOfPossession, POPOPrivKey,
  CertOrEncCert, EncryptedKey, CAKeyUpdContent and every GeneralName kind;
  optional fields present and absent; empty and absent lists) decode with
  cmpkit to the values put in and encode back from those values to the very
  same bytes.

Both directions also compare the two decodings field by field (:func:`assert_same`).

Where pyasn1 or pyasn1-alt-modules do not follow the RFCs, the test works
around them, each at the place named:

- pyasn1's DER encoder writes -2**(8k-1) (-128, -2**63) one octet too long,
  against X.690 §8.3.2 (pyasn1 issue #117): :class:`MinimalIntegerEncoder`.
- pyasn1's DER encoder of GeneralizedTime refuses more than three fractional
  digits and deletes every zero among them (``.050Z`` becomes ``.5Z``),
  against X.690 §11.7 (pyasn1 PR #115): :class:`VerbatimGeneralizedTimeEncoder`.
- pyasn1's DER encoder leaves out an OPTIONAL component whose contents are
  empty (``omitEmptyOptionals`` of its CER/DER SEQUENCE encoder; it cannot
  tell an absent all-OPTIONAL SEQUENCE from a present empty one): an empty
  OptionalValidity or an empty Name in an OPTIONAL place would vanish, so
  :func:`with_valid_der` draws neither (the empty Name is tested where it is
  required, as the sender of the header).
- pyasn1 refuses to encode an empty SEQUENCE SIZE (1..MAX) OF (an empty
  extraCerts, as OpenSSL sends): cmpkit accepts and re-encodes those on
  purpose (test_codec's ``test_empty_size_one_sequence_decodes_to_an_empty_
  tuple_and_back_like_openssl``); the strategies draw such lists with at
  least one element, so they are left out here.
- pyasn1's ``UTCTime.asDateTime`` reads years 50..68 as 2050..2068 (RFC 5280
  §4.1.2.5.1: 1950..1968): :func:`_same_time` reads UTCTime itself.
- ``rfc9810.KeyRecRepContent`` is RFC 4210's, whose CertifiedKeyPair has
  EncryptedValue where RFC 9810 has EncryptedKey: :class:`FixedKeyRecRepContent`.
- ``rfc9810`` declares ``nested`` as SEQUENCE OF ANY (its recursion hack sets
  an attribute pyasn1 does not read): :func:`assert_same` decodes the inner
  messages itself.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Any, Callable, NamedTuple

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import BODY_STRATEGIES, pki_messages, tlv, typed_itavs

from cmp import BODY_TYPES, PKIMessage
from cmp import asn1 as A
from cmp.itav import make_itav
from cmp.message import EMPTY_EXTRA_CERTS

pytest.importorskip("pyasn1", minversion="0.6", reason="needs pyasn1 >= 0.6 (the test extra)")
pytest.importorskip(
    "pyasn1_alt_modules",
    minversion="0.4",
    reason="needs pyasn1-alt-modules >= 0.4 (the test extra)",
)

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from pyasn1.codec.ber import encoder as ber_encoder
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import char, namedtype, tag, univ, useful
from pyasn1_alt_modules import rfc4211, rfc5280, rfc5652

try:
    from pyasn1_alt_modules import rfc9810 as CMP
except ImportError:  # pyasn1-alt-modules before RFC 9810: its predecessor, RFC 9480
    CMP = pytest.importorskip(
        "pyasn1_alt_modules.rfc9480", reason="pyasn1-alt-modules has neither rfc9810 nor rfc9480"
    )

#: Whether the schema has RFC 9810's additions (Challenge.encryptedRand,
#: CAKeyUpdContent with cAKeyUpdAnnV3); cases that need them skip without.
HAS_RFC9810 = CMP.__name__.endswith("rfc9810")
NEEDS_RFC9810 = "pyasn1-alt-modules has no rfc9810 module (RFC 9810 additions)"

# Sized for the whole module to run in well under 20 s on two cores.
CROSS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the pyasn1 side: schema fixes and codec -----------------------------------------


def _context(n: int) -> tag.Tag:
    return tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, n)


class FixedKeyRecRepContent(univ.Sequence):
    """RFC 9810 Appendix F KeyRecRepContent. pyasn1-alt-modules' rfc9810 takes
    rfc4210.KeyRecRepContent, whose keyPairHist holds RFC 4210's
    CertifiedKeyPair (EncryptedValue only): RFC 9810 §5.3.4 changed it to
    EncryptedKey, so an envelopedData there would not decode."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("status", CMP.PKIStatusInfo()),
        namedtype.OptionalNamedType(
            "newSigCert", CMP.CMPCertificate().subtype(explicitTag=_context(0))
        ),
        namedtype.OptionalNamedType(
            "caCerts",
            univ.SequenceOf(componentType=CMP.CMPCertificate()).subtype(explicitTag=_context(1)),
        ),
        namedtype.OptionalNamedType(
            "keyPairHist",
            univ.SequenceOf(componentType=CMP.CertifiedKeyPair()).subtype(explicitTag=_context(2)),
        ),
    )


def _replaced(types: namedtype.NamedTypes, name: str, asn1: Any) -> namedtype.NamedTypes:
    return namedtype.NamedTypes(
        *(namedtype.NamedType(name, asn1) if t.name == name else t for t in types.namedTypes)
    )


class FixedPKIBody(CMP.PKIBody):
    """The module's PKIBody with :class:`FixedKeyRecRepContent`."""

    componentType = _replaced(
        CMP.PKIBody.componentType,
        "krp",
        FixedKeyRecRepContent().subtype(explicitTag=_context(10)),
    )


class FixedPKIMessage(CMP.PKIMessage):
    """The module's PKIMessage with :class:`FixedPKIBody`."""

    componentType = _replaced(CMP.PKIMessage.componentType, "body", FixedPKIBody())


_GENERALIZED_TIME = re.compile(
    r"(?P<date>\d{14})(?:\.(?P<fraction>\d*[1-9]))?Z"  # X.690 §11.7: Z, no trailing zeros
)


class VerbatimGeneralizedTimeEncoder(ber_encoder.OctetStringEncoder):
    """Writes a GeneralizedTime as it is, after checking it has the DER form
    of X.690 §11.7 (seconds, ``Z``, a fraction without trailing zeros).
    pyasn1's own DER encoder (``TimeEncoderMixIn`` of ``pyasn1.codec.cer.
    encoder``, 0.6.x) refuses more than three fractional digits, which
    messageTime carries (RFC 9810 §5.1.1 does not limit them), and deletes
    every zero among the first three: ``.050Z`` becomes ``.5Z``."""

    def encodeValue(self, value: Any, asn1Spec: Any, encodeFun: Any, **options: Any) -> Any:
        text = str(value if asn1Spec is None else asn1Spec.clone(value))
        assert _GENERALIZED_TIME.fullmatch(text), f"not a DER GeneralizedTime: {text!r}"
        return super().encodeValue(value, asn1Spec, encodeFun, **options)


class MinimalIntegerEncoder(ber_encoder.IntegerEncoder):
    """pyasn1's INTEGER encoder (``IntegerEncoder`` of ``pyasn1.codec.ber.
    encoder``, 0.6.x) writes -2**(8k-1) in one octet too many (-128 as
    ``ff 80``), against X.690 §8.3.2: first nine bits all ones. This one
    writes those minimally and leaves every other integer to pyasn1."""

    def encodeValue(self, value: Any, asn1Spec: Any, encodeFun: Any, **options: Any) -> Any:
        n = int(value if asn1Spec is None else asn1Spec.clone(value))
        if n < 0 and (-n) & (-n - 1) == 0 and (-n).bit_length() % 8 == 0:
            return n.to_bytes((-n).bit_length() // 8, "big", signed=True), False, True
        return super().encodeValue(value, asn1Spec, encodeFun, **options)


_ENCODER = der_encoder.Encoder(
    {
        **der_encoder.TAG_MAP,
        univ.Integer.tagSet: MinimalIntegerEncoder(),
        useful.GeneralizedTime.tagSet: VerbatimGeneralizedTimeEncoder(),
    },
    {
        **der_encoder.TYPE_MAP,
        univ.Integer.typeId: MinimalIntegerEncoder(),
        useful.GeneralizedTime.typeId: VerbatimGeneralizedTimeEncoder(),
    },
)


def pyasn1_encode(value: Any) -> bytes:
    """pyasn1's DER encoding (GeneralizedTime written as it is, see above)."""
    return bytes(_ENCODER(value))


def pyasn1_decode(der: bytes, spec: Any = None) -> Any:
    """pyasn1's decoding of ``der`` as ``spec`` (a PKIMessage by default); no bytes may be left."""
    value, rest = der_decoder.decode(der, asn1Spec=FixedPKIMessage() if spec is None else spec)
    assert rest == b"", f"{len(rest)} bytes after the {type(spec).__name__}"
    return value


# --- valid DER for the parts cmpkit keeps as DER ----------------------------------------


def _oid(dotted: str) -> bytes:
    return pyasn1_encode(univ.ObjectIdentifier(dotted))


def _alg(dotted: str, parameters: bytes = b"") -> bytes:
    return tlv(0x30, _oid(dotted) + parameters)


def _utf8(text: str) -> bytes:
    return tlv(0x0C, text.encode())


class Pki(NamedTuple):
    """DER of each RFC type that cmpkit keeps opaque, valid for pyasn1."""

    certificates: tuple[bytes, ...]
    names: tuple[bytes, ...]
    public_keys: tuple[bytes, ...]
    extensions: tuple[bytes, ...]
    csrs: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    enveloped_data: tuple[bytes, ...]
    other_names: tuple[bytes, ...]
    or_addresses: tuple[bytes, ...]
    edi_party_names: tuple[bytes, ...]
    distribution_point_names: tuple[bytes, ...]


def _make_pki() -> Pki:
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    keys = [ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()]
    names = [
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cmpkit cross-check")]),
        x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cmpkit"),
            ]
        ),
    ]
    when = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    certs, csrs, crls = [], [], []
    for key, name in zip(keys, names):
        hash_alg = hashes.SHA256() if isinstance(key, ec.EllipticCurvePrivateKey) else None
        cert = (
            x509.CertificateBuilder(name, name, key.public_key(), 7, when, when.replace(year=2050))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hash_alg)
        )
        certs.append(cert.public_bytes(der))
        csr = x509.CertificateSigningRequestBuilder(name).sign(key, hash_alg)
        csrs.append(csr.public_bytes(der))
        crl = (
            x509.CertificateRevocationListBuilder(name, when, when.replace(month=2))
            .add_revoked_certificate(x509.RevokedCertificateBuilder(9, when).build())
            .sign(key, hash_alg)
        )
        crls.append(crl.public_bytes(der))
    basic_constraints = tlv(0x30, _oid("2.5.29.19") + b"\x01\x01\xff" + tlv(0x04, b"\x30\x00"))
    key_id = tlv(0x30, _oid("2.5.29.14") + tlv(0x04, tlv(0x04, bytes(range(20)))))
    # EnvelopedData (RFC 5652 §6.1): one KeyTransRecipientInfo by subjectKeyIdentifier.
    ktri = tlv(
        0x30,
        b"\x02\x01\x02"
        + tlv(0x80, bytes(range(8)))
        + _alg("1.2.840.113549.1.1.1", b"\x05\x00")
        + tlv(0x04, b"wrapped key"),
    )
    content = tlv(
        0x30,
        _oid("1.2.840.113549.1.7.1")
        + _alg("2.16.840.1.101.3.4.1.2", tlv(0x04, bytes(16)))
        + tlv(0x80, b"ciphertext"),
    )
    return Pki(
        certificates=tuple(certs),
        names=tuple(n.public_bytes() for n in names),
        public_keys=tuple(k.public_key().public_bytes(der, spki) for k in keys),
        extensions=(tlv(0x30, basic_constraints), tlv(0x30, key_id + basic_constraints)),
        csrs=tuple(csrs),
        crls=tuple(crls),
        enveloped_data=(tlv(0x30, b"\x02\x01\x02" + tlv(0x31, ktri) + content),),
        # AnotherName with an SmtpUTF8Mailbox (RFC 9598)
        other_names=(tlv(0x30, _oid("1.3.6.1.5.5.7.8.9") + tlv(0xA0, _utf8("ü@example"))),),
        # ORAddress: empty built-in standard attributes; one with a country name
        or_addresses=(tlv(0x30, b"\x30\x00"), tlv(0x30, tlv(0x30, tlv(0x61, b"\x13\x02DE")))),
        # EDIPartyName with and without nameAssigner
        edi_party_names=(
            tlv(0x30, tlv(0xA1, _utf8("party"))),
            tlv(0x30, tlv(0xA0, _utf8("assigner")) + tlv(0xA1, _utf8("party"))),
        ),
        # DistributionPointName: fullName [0] GeneralNames (a URI), a relative name [1] RDN
        distribution_point_names=(
            tlv(0xA0, tlv(0x86, b"http://crl.example/ca.crl")),
            tlv(0xA1, tlv(0x30, _oid("2.5.4.3") + _utf8("crl"))),
        ),
    )


PKI = _make_pki()

#: The RFC type of each kind of DER in :data:`PKI`.
PKI_TYPES: dict[str, Any] = {
    "certificates": rfc5280.Certificate(),
    "names": rfc5280.Name(),
    "public_keys": rfc5280.SubjectPublicKeyInfo(),
    "extensions": rfc5280.Extensions(),
    "csrs": CMP.CertificationRequest(),
    "crls": rfc5280.CertificateList(),
    "enveloped_data": rfc5652.EnvelopedData(),
    "other_names": rfc5280.AnotherName(),
    "or_addresses": rfc5280.ORAddress(),
    "edi_party_names": rfc5280.EDIPartyName(),
    "distribution_point_names": rfc5280.DistributionPointName(),
}


def _pool(kind: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from(getattr(PKI, kind))


#: The fields that cmpkit keeps as DER, by (class, field) or (CHOICE class,
#: alternative), and the kind of DER of :data:`PKI` their RFC type is. The
#: strategies of :mod:`strategies` put any DER SEQUENCE there, which cmpkit
#: accepts (it does not parse them) but pyasn1 does not.
OPAQUE: dict[tuple[type, str], str] = {
    (A.GeneralName, "otherName"): "other_names",
    (A.GeneralName, "x400Address"): "or_addresses",
    (A.GeneralName, "directoryName"): "names",
    (A.GeneralName, "ediPartyName"): "edi_party_names",
    (A.CertTemplate, "issuer"): "names",
    (A.CertTemplate, "subject"): "names",
    (A.CertTemplate, "public_key"): "public_keys",
    (A.CertTemplate, "extensions"): "extensions",
    (A.POPOSigningKeyInput, "public_key"): "public_keys",
    (A.POPOPrivKey, "encryptedKey"): "enveloped_data",
    (A.EncryptedKey, "envelopedData"): "enveloped_data",
    (A.CertOrEncCert, "certificate"): "certificates",
    (A.CertRepMessage, "ca_pubs"): "certificates",
    (A.Challenge, "encrypted_rand"): "enveloped_data",
    (A.KeyRecRepContent, "new_sig_cert"): "certificates",
    (A.KeyRecRepContent, "ca_certs"): "certificates",
    (A.RevDetails, "crl_entry_details"): "extensions",
    (A.RevRepContent, "crls"): "crls",
    (A.CAKeyUpdAnnContent, "old_with_new"): "certificates",
    (A.CAKeyUpdAnnContent, "new_with_old"): "certificates",
    (A.CAKeyUpdAnnContent, "new_with_new"): "certificates",
    (A.RootCaKeyUpdateContent, "new_with_new"): "certificates",
    (A.RootCaKeyUpdateContent, "new_with_old"): "certificates",
    (A.RootCaKeyUpdateContent, "old_with_new"): "certificates",
    (A.RevAnnContent, "crl_details"): "extensions",
    (A.PKIBody, "p10cr"): "csrs",
    (A.PKIBody, "cann"): "certificates",
    (A.PKIBody, "crlann"): "crls",
    (A.CRLSource, "dpn"): "distribution_point_names",
}

#: The infoTypes whose value cmpkit keeps as DER (or a tuple of DER), and the
#: kind of DER of :data:`PKI` their RFC type is.
OPAQUE_INFO_VALUES = {
    "caProtEncCert": "certificates",
    "currentCRL": "crls",
    "caCerts": "certificates",
    "rootCaCert": "certificates",
    "crls": "crls",
}

Draw = Callable[[st.SearchStrategy[Any]], Any]


def _valid_opaque(kind: str, value: Any, draw: Draw) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(draw(_pool(kind)) for _ in value)
    return draw(_pool(kind))


def _is_choice(cls: type) -> bool:
    return [f.name for f in dataclasses.fields(cls)] == ["kind", "value"]


def with_valid_der(value: Any, draw: Draw) -> Any:
    """``value`` with the DER of every :data:`OPAQUE` field drawn from :data:`PKI`."""
    if isinstance(value, PKIMessage):
        return PKIMessage(
            with_valid_der(value.header, draw),
            with_valid_der(value.body, draw),
            value.protection,
            _valid_opaque("certificates", value.extra_certs, draw),
        )
    if isinstance(value, tuple):
        return tuple(with_valid_der(v, draw) for v in value)
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    cls = type(value)
    if _is_choice(cls):
        if not HAS_RFC9810 and cls is A.CAKeyUpdContent and value.kind == "cAKeyUpdAnnV3":
            certs = [draw(_pool("certificates")) for _ in range(3)]
            return cls("cAKeyUpdAnnV2", A.CAKeyUpdAnnContent(*certs))
        kind = OPAQUE.get((cls, value.kind))
        inner = with_valid_der(value.value, draw) if kind is None else None
        return cls(value.kind, _valid_opaque(kind, value.value, draw) if kind else inner)
    fields = {}
    for field in dataclasses.fields(value):
        v = getattr(value, field.name)
        kind = OPAQUE.get((cls, field.name))
        fields[field.name] = (
            with_valid_der(v, draw) if kind is None else _valid_opaque(kind, v, draw)
        )
    if cls is A.OptionalValidity and value == A.OptionalValidity():
        # Neither time: pyasn1 cannot keep that apart from no validity (see
        # the module's docstring), and RFC 4211 §5 says at least one MUST be
        # present. cmpkit round-trips it like any other value.
        return None
    if not HAS_RFC9810 and cls is A.Challenge:
        fields["encrypted_rand"] = None
    return cls(**fields)


# --- comparing pyasn1's decoding with cmpkit's ------------------------------------------

#: pyasn1 component names whose snake_case is not the cmpkit field name.
FIELD_NAMES = {"pKIStatusInfo": "pki_status_info", "type": "attr_type"}


def field_name(asn1_name: str) -> str:
    """The cmpkit field of an RFC component name (``senderKID`` → ``sender_kid``)."""
    if asn1_name in FIELD_NAMES:
        return FIELD_NAMES[asn1_name]
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", asn1_name).lower()


def _tag_octet(t: tag.Tag) -> int:
    assert t.tagId < 31
    return int(t.tagClass) | int(t.tagFormat) | t.tagId


def _explicit_tags(spec: Any) -> list[tag.Tag]:
    """The tags of ``spec`` that wrap its encoding (outermost last): all of a
    CHOICE's, all but the (maybe implicitly replaced) first of any other type."""
    tags = list(spec.tagSet.superTags)
    return tags if isinstance(spec, univ.Choice) else tags[1:]


def tagged_der(der: bytes, spec: Any) -> bytes:
    """The DER SEQUENCE ``der`` as the (maybe tagged) type ``spec`` of a slot."""
    if not isinstance(spec, univ.Choice) and spec.tagSet.superTags[0].tagClass:
        der = bytes([_tag_octet(spec.tagSet.superTags[0])]) + der[1:]  # IMPLICIT
    for t in _explicit_tags(spec):
        der = tlv(_tag_octet(t), der)
    return der


def untagged_der(value: Any) -> bytes:
    """pyasn1's DER of ``value`` without the tags of its slot: what cmpkit
    keeps of it (a SEQUENCE-based type, or a CHOICE as its alternative)."""
    der = pyasn1_encode(value)
    for _ in _explicit_tags(value):
        der = _contents(der)  # an EXPLICIT tag's contents: one TLV
    if isinstance(value, univ.Choice):
        return der
    return b"\x30" + der[1:]  # an IMPLICIT tag replaced the SEQUENCE's


def _contents(der: bytes) -> bytes:
    length = der[1]
    header = 2 + (length & 0x7F if length & 0x80 else 0)
    return der[header:]


def _generalized_time(text: str) -> tuple[datetime.datetime, int]:
    """(the UTC datetime to the microsecond, the nanoseconds beyond) of a DER GeneralizedTime."""
    match = _GENERALIZED_TIME.fullmatch(text)
    assert match, f"not a DER GeneralizedTime: {text!r}"
    fraction = (match["fraction"] or "").ljust(9, "0")
    assert len(fraction) == 9, f"more than nanoseconds: {text!r}"
    when = datetime.datetime.strptime(match["date"], "%Y%m%d%H%M%S")
    return when.replace(microsecond=int(fraction[:6]), tzinfo=datetime.timezone.utc), int(
        fraction[6:]
    )


def _same_time(asn1: Any, value: datetime.datetime, path: str) -> None:
    if isinstance(asn1, useful.GeneralizedTime):
        when, nanos = _generalized_time(str(asn1))
        assert (when, nanos) == (value, getattr(value, "nanosecond", 0)), path
        return
    # RFC 5280 §4.1.2.5 Time: UTCTime for 1950..2049, else GeneralizedTime;
    # whole seconds and Z in both
    text = str(asn1.getComponent())
    if asn1.getName() == "utcTime":
        assert re.fullmatch(r"\d{12}Z", text), path
        # Not pyasn1's asDateTime: it reads 50..68 as 2050..2068 (strptime's
        # %y), where RFC 5280 §4.1.2.5.1 has 1950..1968.
        year = int(text[:2]) + (1900 if int(text[:2]) >= 50 else 2000)
        text = f"{year}{text[2:]}"
        assert 1950 <= year <= 2049, path
    else:
        assert re.fullmatch(r"\d{14}Z", text) and not 1950 <= int(text[:4]) <= 2049, path
    when = datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    assert when == value, path


def _bits(asn1: univ.BitString) -> tuple[bytes, int]:
    bits = list(asn1)
    unused = -len(bits) % 8
    padded = "".join(map(str, bits)) + "0" * unused
    return bytes(int(padded[i : i + 8], 2) for i in range(0, len(padded), 8)), unused


CONSTRUCTED = (univ.Sequence, univ.SequenceOf, univ.SetOf, univ.Choice)


def assert_same(asn1: Any, value: Any, path: str = "PKIMessage") -> None:
    """pyasn1's decoding ``asn1`` and cmpkit's value ``value`` of the same DER
    say the same, field by field (``path`` names where, for the message)."""
    if isinstance(value, PKIMessage):
        if isinstance(asn1, univ.Any):  # a nested message: ANY to pyasn1
            assert value.to_der() == asn1.asOctets(), path
            asn1 = pyasn1_decode(asn1.asOctets())
        _same_sequence(asn1, value, path)
    elif isinstance(asn1, univ.Any):
        assert asn1.asOctets() == value, path
    elif isinstance(value, bytes) and isinstance(asn1, CONSTRUCTED):
        assert untagged_der(asn1) == value, path  # kept as DER by cmpkit
    elif isinstance(asn1, (useful.GeneralizedTime, rfc5280.Time)):
        _same_time(asn1, value, path)
    elif isinstance(value, A.CAKeyUpdContent) and not isinstance(asn1, univ.Choice):
        assert value.kind == "cAKeyUpdAnnV2", path  # RFC 9480's ckuann: no CHOICE yet
        _same_sequence(asn1, value.value, path)
    elif isinstance(asn1, univ.Choice):
        assert asn1.getName() == value.kind, path
        assert_same(asn1.getComponent(), value.value, f"{path}.{value.kind}")
    elif isinstance(asn1, (univ.SequenceOf, univ.SetOf)):
        assert isinstance(value, tuple) and len(asn1) == len(value), path
        for i, (a, v) in enumerate(zip(asn1, value)):
            assert_same(a, v, f"{path}[{i}]")
    elif isinstance(asn1, univ.Sequence):
        _same_sequence(asn1, value, path)
    elif isinstance(asn1, univ.BitString):
        data, unused = _bits(asn1)
        if isinstance(value, bytes):  # signatures, MACs, protection: octets
            assert (data, unused) == (value, 0), path
        elif isinstance(value, int):  # PKIFailureInfo: bit n is 1 << n
            assert sum(bit << n for n, bit in enumerate(asn1)) == value, path
            assert list(asn1)[-1:] in ([], [1]), f"{path}: trailing 0 bits (X.690 §11.2.2)"
        else:
            assert A.BitString(data, unused) == value, path
    elif isinstance(asn1, univ.Null):  # before OctetString, its base class in pyasn1
        assert value is None, path
    elif isinstance(asn1, char.AbstractCharacterString):
        assert str(asn1) == value, path
    elif isinstance(asn1, univ.OctetString):
        assert asn1.asOctets() == value, path
    elif isinstance(asn1, univ.ObjectIdentifier):
        assert str(asn1) == value, path
    elif isinstance(asn1, univ.Boolean):
        assert bool(asn1) is value, path
    elif isinstance(asn1, univ.Integer):
        assert int(asn1) == value and not isinstance(value, bool), path
    else:
        raise AssertionError(f"{path}: no comparison for {type(asn1).__name__}")


def _same_sequence(asn1: Any, value: Any, path: str) -> None:
    names = [t.name for t in asn1.componentType.namedTypes]
    if dataclasses.is_dataclass(value):
        fields = [f.name for f in dataclasses.fields(value)]
        assert [field_name(n) for n in names] == fields[: len(names)], path
        # what RFC 9480's schema lacks (encryptedRand, added at the end) is absent
        assert all(getattr(value, f) is None for f in fields[len(names) :]), path
    for name in names:
        field = field_name(name)
        component = asn1.getComponentByName(name, default=None, instantiate=False)
        mine = getattr(value, field)
        if component is None:  # absent: None, or () for extraCerts
            assert mine is None or (mine == () and mine is not EMPTY_EXTRA_CERTS), f"{path}.{field}"
        else:
            assert_same(component, mine, f"{path}.{field}")


# --- cmpkit → pyasn1 ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PKI_TYPES))
def test_der_drawn_for_the_fields_cmpkit_keeps_whole_is_what_pyasn1_makes_of_it(kind: str) -> None:
    for der in getattr(PKI, kind):
        assert pyasn1_encode(pyasn1_decode(der, PKI_TYPES[kind])) == der


def test_every_field_cmpkit_keeps_whole_is_a_field_or_alternative_of_its_class() -> None:
    for (cls, name), kind in OPAQUE.items():
        assert kind in PKI_TYPES
        assert _is_choice(cls) or name in [f.name for f in dataclasses.fields(cls)], name


MESSAGES_OF_KIND = {kind: pki_messages(body) for kind, body in BODY_STRATEGIES.items()}


def assert_pyasn1_agrees(msg: PKIMessage) -> None:
    """cmpkit's DER of ``msg`` decodes with pyasn1 to the same fields and
    re-encodes with pyasn1 to the same bytes."""
    der = msg.to_der()
    decoded = pyasn1_decode(der)
    assert_same(decoded, msg)  # first: pyasn1's encoder fills in absent components
    assert pyasn1_encode(decoded) == der
    if msg.body.kind == "nested":
        for inner in decoded["body"]["nested"]:
            assert pyasn1_encode(pyasn1_decode(inner.asOctets())) == inner.asOctets()


# No empty SEQUENCE SIZE (1..MAX) OF is drawn (an empty extraCerts, as OpenSSL
# sends it): cmpkit round-trips those on purpose, pyasn1 refuses to encode
# them (see the module docstring). extra_certs=() leaves extraCerts out.


@pytest.mark.parametrize("kind", BODY_TYPES)
@CROSS
@given(data=st.data())
def test_message_built_by_cmpkit_is_der_that_pyasn1_decodes_to_the_same_fields(
    kind: str, data: Any
) -> None:
    msg = with_valid_der(data.draw(MESSAGES_OF_KIND[kind], label="message"), data.draw)
    pvno = data.draw(st.sampled_from([2, 3]), label="pvno")
    msg = PKIMessage(
        dataclasses.replace(msg.header, pvno=pvno), msg.body, msg.protection, msg.extra_certs
    )
    assert_pyasn1_agrees(msg)


def _full_header(pvno: int) -> A.PKIHeader:
    when = A.PreciseDatetime(2025, 3, 4, 5, 6, 7, 80900, datetime.timezone.utc, nanosecond=10)
    return A.PKIHeader(
        pvno=pvno,
        sender=A.GeneralName("directoryName", PKI.names[0]),
        recipient=A.GeneralName("uniformResourceIdentifier", "http://ca.example/pkix/"),
        message_time=when,
        protection_alg=A.AlgorithmIdentifier("1.2.840.113533.7.66.13", b"\x30\x00"),
        sender_kid=b"sender kid",
        recip_kid=b"recip kid",
        transaction_id=bytes(range(16)),
        sender_nonce=bytes(range(16, 32)),
        recip_nonce=bytes(range(32, 48)),
        free_text=("hello", "wörld"),
        general_info=(
            A.InfoTypeAndValue("1.3.6.1.5.5.7.4.13", b"\x05\x00"),
            A.InfoTypeAndValue("1.3.6.1.5.5.7.4.16"),
        ),
    )


@pytest.mark.parametrize("pvno", [2, 3])
@pytest.mark.parametrize("fields", ["all", "none"])
def test_header_with_every_optional_field_present_or_absent_agrees_with_pyasn1(
    pvno: int, fields: str
) -> None:
    header = _full_header(pvno)
    if fields == "none":
        header = A.PKIHeader(pvno, A.GeneralName("directoryName", b"\x30\x00"), header.recipient)
    body = A.PKIBody("pollReq", (A.PollReqEntry(0),))
    assert_pyasn1_agrees(PKIMessage(header, body, b"\x01" * 20, PKI.certificates))


@CROSS
@given(item=typed_itavs(), data=st.data())
def test_info_type_value_built_by_cmpkit_is_der_that_pyasn1_decodes_to_the_same_fields(
    item: tuple[str, Any, A.InfoTypeAndValue], data: Any
) -> None:
    name, value, itav = item
    spec = CMP.cmpInfoTypeAndValueMap.get(univ.ObjectIdentifier(itav.info_type))
    assume(spec is not None)  # KemCiphertextInfo came with RFC 9810
    if name in OPAQUE_INFO_VALUES:
        value = _valid_opaque(OPAQUE_INFO_VALUES[name], value, data.draw)
    else:
        value = with_valid_der(value, data.draw)
    der = make_itav(name, value).info_value
    decoded = pyasn1_decode(der, spec)
    assert_same(decoded, value, name)
    assert pyasn1_encode(decoded) == der


# --- pyasn1 → cmpkit ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Der:
    """A value given as its DER without the tags of its place (a certificate,
    a name, ...; a CHOICE as its alternative): :func:`build` tags it as the
    place says."""

    der: bytes


@dataclasses.dataclass(frozen=True)
class Bits:
    """A BIT STRING value, as ``"0101..."``."""

    bits: str

    @classmethod
    def of(cls, data: bytes) -> Bits:
        return cls("".join(f"{b:08b}" for b in data))


def _slot(spec: Any, name: str) -> Any:
    return spec.componentType[name].asn1Object


# pyasn1 0.6 turns the sizeSpec of a clone (Controls, CertReqMessages) into a
# subtypeSpec that no longer compares equal to its schema's: values go in
# with their tags checked, not their constraints.
_LOOSE = {"matchConstraints": False}


def build(spec: Any, value: Any) -> Any:
    """The pyasn1 value of type ``spec`` that ``value`` describes: a dict for a
    SEQUENCE (RFC component names) or a CHOICE (one alternative), a list for
    SEQUENCE OF, :class:`Der`, :class:`Bits`, ``None`` for NULL, else the
    Python value of a simple type (GeneralizedTime and UTCTime as text)."""
    if isinstance(value, Der):
        decoded = pyasn1_decode(tagged_der(value.der, spec), spec)
        assert untagged_der(decoded) == value.der, "the DER is not what pyasn1 makes of it"
        return decoded
    if isinstance(spec, univ.Choice):
        ((name, inner),) = value.items()
        result = spec.clone()
        result.setComponentByName(name, build(_slot(spec, name), inner), **_LOOSE)
        return result
    if isinstance(spec, univ.Sequence):
        result = spec.clone()
        for name, inner in value.items():
            result.setComponentByName(name, build(_slot(spec, name), inner), **_LOOSE)
        return result
    if isinstance(spec, univ.SequenceOf):
        result = spec.clone()
        result.clear()
        for i, inner in enumerate(value):
            result.setComponentByPosition(i, build(spec.componentType, inner), **_LOOSE)
        return result
    if isinstance(value, Bits):
        return spec.clone(binValue=value.bits)
    if value is None:
        return spec.clone("")
    return spec.clone(value)


class Case(NamedTuple):
    """A message built with pyasn1 and what cmpkit must read in it: ``expect``
    maps paths in the decoded :class:`cmp.PKIMessage` to values."""

    id: str
    body: dict[str, Any]
    expect: dict[str, Any]
    header: dict[str, Any] | None = None
    protection: Bits | None = None
    extra_certs: list[Der] | None = None
    needs_rfc9810: bool = False


_PATH = re.compile(r"\.(\w+)(\(\))?|\[(-?\d+)\]")


def resolve(obj: Any, path: str) -> Any:
    """``obj`` followed along ``path``: ``attribute``, ``.method()`` and ``[index]`` steps."""
    path, end = f".{path}", 0
    for match in _PATH.finditer(path):
        assert match.start() == end, f"bad path {path!r}"
        attribute, call, index = match.groups()
        obj = getattr(obj, attribute) if attribute else obj[int(index)]
        obj = obj() if call else obj
        end = match.end()
    assert end == len(path), f"bad path {path!r}"
    return obj


# Values used on both sides: the pyasn1 description and what cmpkit decodes it to.
NAME, NAME2 = PKI.names
CERT, CERT2 = PKI.certificates
SPKI = PKI.public_keys[0]
EXTS = PKI.extensions[1]
CRL = PKI.crls[0]
ENVELOPED = PKI.enveloped_data[0]
SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
PBM = "1.2.840.113533.7.66.13"
HMAC_SHA1 = "1.3.6.1.5.5.8.1.2"

DIRECTORY_NAME = {"directoryName": Der(NAME)}
DIRECTORY_NAME_PY = A.GeneralName("directoryName", NAME)
ALG = {"algorithm": ECDSA_SHA256}
ALG_PY = A.AlgorithmIdentifier(ECDSA_SHA256)
ALG_NULL = {"algorithm": SHA256, "parameters": b"\x05\x00"}
ALG_NULL_PY = A.AlgorithmIdentifier(SHA256, b"\x05\x00")
PBM_PARAMS = pyasn1_encode(
    build(
        rfc4211.PBMParameter(),
        {"salt": b"salt", "owf": ALG_NULL, "iterationCount": 500, "mac": {"algorithm": HMAC_SHA1}},
    )
)
PBM_ALG = {"algorithm": PBM, "parameters": PBM_PARAMS}
ACCEPTED = {"status": 0}
REJECTED = {"status": 2, "statusString": ["no", "wäy"], "failInfo": Bits("0100000001")}
REJECTED_PY = A.PKIStatusInfo(2, ("no", "wäy"), A.FailInfo.badMessageCheck | A.FailInfo.badPOP)
MAC = {"algId": PBM_ALG, "value": Bits.of(b"mac!")}
MAC_PY = A.PKMACValue(A.AlgorithmIdentifier(PBM, PBM_PARAMS), b"mac!")
ENCRYPTED_VALUE = {
    "intendedAlg": ALG,
    "symmAlg": {"algorithm": "2.16.840.1.101.3.4.1.2", "parameters": b"\x04\x02iv"},
    "encSymmKey": Bits.of(b"key"),
    "keyAlg": ALG_NULL,
    "valueHint": b"hint",
    "encValue": Bits.of(b"encrypted"),
}
ENCRYPTED_VALUE_PY = A.EncryptedValue(
    ALG_PY,
    A.AlgorithmIdentifier("2.16.840.1.101.3.4.1.2", b"\x04\x02iv"),
    b"key",
    ALG_NULL_PY,
    b"hint",
    b"encrypted",
)
FULL_TEMPLATE = {
    "version": 2,
    "serialNumber": 2**70,
    "signingAlg": ALG,
    "issuer": Der(NAME2),
    "validity": {
        "notBefore": {"utcTime": "250101000000Z"},
        "notAfter": {"generalTime": "20500101000000Z"},
    },
    "subject": Der(NAME),
    "publicKey": Der(SPKI),
    "issuerUID": Bits("101"),
    "subjectUID": Bits.of(b"uid"),
    "extensions": Der(EXTS),
}
UTC = datetime.timezone.utc
FULL_TEMPLATE_PY = A.CertTemplate(
    version=2,
    serial_number=2**70,
    signing_alg=ALG_PY,
    issuer=NAME2,
    validity=A.OptionalValidity(
        datetime.datetime(2025, 1, 1, tzinfo=UTC), datetime.datetime(2050, 1, 1, tzinfo=UTC)
    ),
    subject=NAME,
    public_key=SPKI,
    issuer_uid=A.BitString(b"\xa0", 5),
    subject_uid=A.BitString(b"uid"),
    extensions=EXTS,
)
CERT_REQ = {"certReqId": 0, "certTemplate": {"subject": Der(NAME)}}


def _req(popo: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"certReq": CERT_REQ, **({"popo": popo} if popo else {}), **fields}


def _priv_key_popos(kind: str) -> list[dict[str, Any]]:
    """A CertReqMsg for each POPOPrivKey alternative under ``kind``."""
    return [
        _req({kind: {"thisMessage": Bits("0110")}}),
        _req({kind: {"subsequentMessage": 1}}),
        _req({kind: {"dhMAC": Bits.of(b"dh")}}),
        _req({kind: {"agreeMAC": MAC}}),
        _req({kind: {"encryptedKey": Der(ENVELOPED)}}),
    ]


def _priv_key_popos_py(kind: str) -> tuple[A.ProofOfPossession, ...]:
    k = A.POPOPrivKey
    return tuple(
        A.ProofOfPossession(kind, v)
        for v in (
            k("thisMessage", A.BitString(b"\x60", 4)),
            k("subsequentMessage", 1),
            k("dhMAC", A.BitString(b"dh")),
            k("agreeMAC", MAC_PY),
            k("encryptedKey", ENVELOPED),
        )
    )


CERT_RESPONSE = {
    "certReqId": 0,
    "status": ACCEPTED,
    "certifiedKeyPair": {
        "certOrEncCert": {"certificate": Der(CERT)},
        "privateKey": {"envelopedData": Der(ENVELOPED)},
        "publicationInfo": {
            "action": 1,
            "pubInfos": [
                {"pubMethod": 2, "pubLocation": {"uniformResourceIdentifier": "http://x/"}}
            ],
        },
    },
    "rspInfo": b"info",
}

#: A GeneralName of each kind: pyasn1 description, cmpkit value.
GENERAL_NAMES: dict[str, tuple[Any, A.GeneralName]] = {
    "otherName": (Der(PKI.other_names[0]), A.GeneralName("otherName", PKI.other_names[0])),
    "rfc822Name": ("ca@example.com", A.GeneralName("rfc822Name", "ca@example.com")),
    "dNSName": ("ca.example.com", A.GeneralName("dNSName", "ca.example.com")),
    "x400Address": (Der(PKI.or_addresses[1]), A.GeneralName("x400Address", PKI.or_addresses[1])),
    "directoryName": (Der(NAME), DIRECTORY_NAME_PY),
    "ediPartyName": (
        Der(PKI.edi_party_names[1]),
        A.GeneralName("ediPartyName", PKI.edi_party_names[1]),
    ),
    "uniformResourceIdentifier": (
        "http://ca/",
        A.GeneralName("uniformResourceIdentifier", "http://ca/"),
    ),
    "iPAddress": (bytes([192, 0, 2, 1]), A.GeneralName("iPAddress", bytes([192, 0, 2, 1]))),
    "registeredID": ("1.2.3.4", A.GeneralName("registeredID", "1.2.3.4")),
}

#: The header of every case unless it gives one: the minimum, with an empty
#: Name as sender (what a client without a certificate sends).
MINIMAL_HEADER = {
    "pvno": 2,
    "sender": {"directoryName": Der(b"\x30\x00")},
    "recipient": DIRECTORY_NAME,
}
FULL_HEADER = {
    "pvno": 3,
    "sender": {"rfc822Name": "me@example.com"},
    "recipient": {"dNSName": "ca.example.com"},
    "messageTime": "20250304050607.0809Z",
    "protectionAlg": PBM_ALG,
    "senderKID": b"skid",
    "recipKID": b"rkid",
    "transactionID": bytes(range(16)),
    "senderNonce": bytes(range(16, 32)),
    "recipNonce": bytes(range(32, 48)),
    "freeText": ["free", "text"],
    "generalInfo": [
        {"infoType": "1.3.6.1.5.5.7.4.13", "infoValue": b"\x05\x00"},  # implicitConfirm
        {"infoType": "1.3.6.1.5.5.7.4.16"},  # suppLangTags, no value
    ],
}
FULL_HEADER_PY = A.PKIHeader(
    pvno=3,
    sender=A.GeneralName("rfc822Name", "me@example.com"),
    recipient=A.GeneralName("dNSName", "ca.example.com"),
    message_time=datetime.datetime(2025, 3, 4, 5, 6, 7, 80900, tzinfo=UTC),
    protection_alg=A.AlgorithmIdentifier(PBM, PBM_PARAMS),
    sender_kid=b"skid",
    recip_kid=b"rkid",
    transaction_id=bytes(range(16)),
    sender_nonce=bytes(range(16, 32)),
    recip_nonce=bytes(range(32, 48)),
    free_text=("free", "text"),
    general_info=(
        A.InfoTypeAndValue("1.3.6.1.5.5.7.4.13", b"\x05\x00"),
        A.InfoTypeAndValue("1.3.6.1.5.5.7.4.16"),
    ),
)

#: RFC 9480's ckuann is this CAKeyUpdAnnContent, RFC 9810's its cAKeyUpdAnnV2.
CA_KEY_UPD_ANN = {"oldWithNew": Der(CERT), "newWithOld": Der(CERT2), "newWithNew": Der(CERT)}

CASES = [
    Case(
        "ir-signature-pop-with-sender-full-template-controls-reginfo",
        {
            "ir": [
                {
                    "certReq": {
                        "certReqId": 0,
                        "certTemplate": FULL_TEMPLATE,
                        "controls": [{"type": "1.3.6.1.5.5.7.5.1.1", "value": b"\x0c\x05token"}],
                    },
                    "popo": {
                        "signature": {
                            "poposkInput": {
                                "authInfo": {"sender": DIRECTORY_NAME},
                                "publicKey": Der(SPKI),
                            },
                            "algorithmIdentifier": ALG,
                            "signature": Bits.of(b"sig"),
                        }
                    },
                    "regInfo": [{"type": "1.3.6.1.5.5.7.5.2.1", "value": b"\x0c\x03a?b"}],
                }
            ]
        },
        {
            "body.value[0].cert_req.cert_template": FULL_TEMPLATE_PY,
            "body.value[0].cert_req.controls": (
                A.AttributeTypeAndValue("1.3.6.1.5.5.7.5.1.1", b"\x0c\x05token"),
            ),
            "body.value[0].popo": A.ProofOfPossession(
                "signature",
                A.POPOSigningKey(
                    A.POPOSigningKeyInput(
                        A.POPOSigningKeyInputAuthInfo("sender", DIRECTORY_NAME_PY), SPKI
                    ),
                    ALG_PY,
                    b"sig",
                ),
            ),
            "body.value[0].reg_info[0].value": b"\x0c\x03a?b",
        },
    ),
    Case(
        "cr-raverified-empty-template-no-controls",
        {"cr": [{"certReq": {"certReqId": 5, "certTemplate": {}}, "popo": {"raVerified": None}}]},
        {
            "body.value[0].cert_req": A.CertRequest(5, A.CertTemplate()),
            "body.value[0].popo": A.ProofOfPossession("raVerified", None),
            "body.value[0].reg_info": None,
        },
    ),
    Case(
        "kur-keyencipherment-every-popoprivkey-and-publickeymac",
        {
            "kur": [
                *_priv_key_popos("keyEncipherment"),
                _req(
                    {
                        "signature": {
                            "poposkInput": {
                                "authInfo": {"publicKeyMAC": MAC},
                                "publicKey": Der(SPKI),
                            },
                            "algorithmIdentifier": ALG,
                            "signature": Bits.of(b"sig"),
                        }
                    }
                ),
            ]
        },
        {
            **{
                f"body.value[{i}].popo": popo
                for i, popo in enumerate(_priv_key_popos_py("keyEncipherment"))
            },
            "body.value[5].popo.value.poposk_input.auth_info": A.POPOSigningKeyInputAuthInfo(
                "publicKeyMAC", MAC_PY
            ),
        },
    ),
    Case(
        "krr-keyagreement-every-popoprivkey",
        {"krr": _priv_key_popos("keyAgreement")},
        {
            f"body.value[{i}].popo": popo
            for i, popo in enumerate(_priv_key_popos_py("keyAgreement"))
        },
    ),
    Case(
        "ccr-signature-pop-without-input-no-popo",
        {
            "ccr": [
                _req({"signature": {"algorithmIdentifier": ALG_NULL, "signature": Bits.of(b"s")}}),
                _req(),
            ]
        },
        {
            "body.value[0].popo": A.ProofOfPossession(
                "signature", A.POPOSigningKey(None, ALG_NULL_PY, b"s")
            ),
            "body.value[1].popo": None,
        },
    ),
    Case(
        "ip-capubs-certificate-envelopeddata-publicationinfo",
        {"ip": {"caPubs": [Der(CERT), Der(CERT2)], "response": [CERT_RESPONSE]}},
        {
            "body.value.ca_pubs": (CERT, CERT2),
            "body.value.response[0]": A.CertResponse(
                0,
                A.PKIStatusInfo(0),
                A.CertifiedKeyPair(
                    A.CertOrEncCert("certificate", CERT),
                    A.EncryptedKey("envelopedData", ENVELOPED),
                    A.PKIPublicationInfo(
                        1,
                        (
                            A.SinglePubInfo(
                                2, A.GeneralName("uniformResourceIdentifier", "http://x/")
                            ),
                        ),
                    ),
                ),
                b"info",
            ),
        },
        header=FULL_HEADER,
    ),
    Case(
        "cp-rejection-with-status-string-and-failinfo",
        {"cp": {"response": [{"certReqId": -1, "status": REJECTED}]}},
        {
            "body.value": A.CertRepMessage(None, (A.CertResponse(-1, REJECTED_PY),)),
            "body.value.response[0].status.fail_info_names": ["badMessageCheck", "badPOP"],
        },
    ),
    Case(
        "kup-encryptedcert-encryptedvalue-privatekey-encryptedvalue",
        {
            "kup": {
                "response": [
                    {
                        "certReqId": 1,
                        "status": {"status": 1},
                        "certifiedKeyPair": {
                            "certOrEncCert": {"encryptedCert": {"encryptedValue": ENCRYPTED_VALUE}},
                            "privateKey": {"encryptedValue": {"encValue": Bits.of(b"k")}},
                        },
                    }
                ]
            }
        },
        {
            "body.value.response[0].certified_key_pair": A.CertifiedKeyPair(
                A.CertOrEncCert(
                    "encryptedCert", A.EncryptedKey("encryptedValue", ENCRYPTED_VALUE_PY)
                ),
                A.EncryptedKey(
                    "encryptedValue", A.EncryptedValue(None, None, None, None, None, b"k")
                ),
            ),
        },
    ),
    Case(
        "ccp-encryptedcert-envelopeddata",
        {
            "ccp": {
                "response": [
                    {
                        "certReqId": 0,
                        "status": ACCEPTED,
                        "certifiedKeyPair": {
                            "certOrEncCert": {"encryptedCert": {"envelopedData": Der(ENVELOPED)}}
                        },
                    }
                ]
            }
        },
        {
            "body.value.response[0].certified_key_pair.cert_or_enc_cert": A.CertOrEncCert(
                "encryptedCert", A.EncryptedKey("envelopedData", ENVELOPED)
            ),
        },
    ),
    Case(
        "ccp-empty-response-list",
        {"ccp": {"response": []}},
        {"body.value": A.CertRepMessage(None, ())},
    ),
    Case("p10cr", {"p10cr": Der(PKI.csrs[0])}, {"body.value": PKI.csrs[0]}),
    Case(
        "popdecc-with-and-without-owf",
        {
            "popdecc": [
                {"owf": ALG_NULL, "witness": b"w", "challenge": b"c"},
                {"witness": b"", "challenge": b"c2"},
            ]
        },
        {
            "body.value": (
                A.Challenge(ALG_NULL_PY, b"w", b"c"),
                A.Challenge(None, b"", b"c2"),
            )
        },
    ),
    Case(
        "popdecc-encryptedrand",
        {"popdecc": [{"witness": b"w", "challenge": b"", "encryptedRand": Der(ENVELOPED)}]},
        {"body.value[0]": A.Challenge(None, b"w", b"", ENVELOPED)},
        needs_rfc9810=True,
    ),
    Case(
        "popdecr",
        {"popdecr": [0, -1, 2**80]},
        {"body.value": (0, -1, 2**80)},
    ),
    Case(
        "krp-every-field-keypairhist-envelopeddata",
        {
            "krp": {
                "status": ACCEPTED,
                "newSigCert": Der(CERT),
                "caCerts": [Der(CERT2)],
                "keyPairHist": [
                    {
                        "certOrEncCert": {"certificate": Der(CERT)},
                        "privateKey": {"envelopedData": Der(ENVELOPED)},
                    }
                ],
            }
        },
        {
            "body.value": A.KeyRecRepContent(
                A.PKIStatusInfo(0),
                CERT,
                (CERT2,),
                (
                    A.CertifiedKeyPair(
                        A.CertOrEncCert("certificate", CERT),
                        A.EncryptedKey("envelopedData", ENVELOPED),
                    ),
                ),
            )
        },
    ),
    Case(
        "krp-status-only",
        {"krp": {"status": REJECTED}},
        {"body.value": A.KeyRecRepContent(REJECTED_PY)},
    ),
    Case(
        "rr-with-and-without-crlentrydetails",
        {
            "rr": [
                {
                    "certDetails": {"serialNumber": 7, "issuer": Der(NAME)},
                    "crlEntryDetails": Der(PKI.extensions[0]),
                },
                {"certDetails": {"serialNumber": 8}},
            ]
        },
        {
            "body.value": (
                A.RevDetails(A.CertTemplate(serial_number=7, issuer=NAME), PKI.extensions[0]),
                A.RevDetails(A.CertTemplate(serial_number=8)),
            )
        },
    ),
    Case(
        "rp-every-field",
        {
            "rp": {
                "status": [ACCEPTED, REJECTED],
                "revCerts": [{"issuer": DIRECTORY_NAME, "serialNumber": 7}],
                "crls": [Der(CRL)],
            }
        },
        {
            "body.value": A.RevRepContent(
                (A.PKIStatusInfo(0), REJECTED_PY), (A.CertId(DIRECTORY_NAME_PY, 7),), (CRL,)
            )
        },
    ),
    Case(
        "ckuann-v2",
        {"ckuann": {"cAKeyUpdAnnV2": CA_KEY_UPD_ANN} if HAS_RFC9810 else CA_KEY_UPD_ANN},
        {"body.value": A.CAKeyUpdContent("cAKeyUpdAnnV2", A.CAKeyUpdAnnContent(CERT, CERT2, CERT))},
    ),
    Case(
        "ckuann-v3-every-field",
        {
            "ckuann": {
                "cAKeyUpdAnnV3": {
                    "newWithNew": Der(CERT),
                    "newWithOld": Der(CERT2),
                    "oldWithNew": Der(CERT),
                }
            }
        },
        {
            "body.value": A.CAKeyUpdContent(
                "cAKeyUpdAnnV3", A.RootCaKeyUpdateContent(CERT, CERT2, CERT)
            )
        },
        needs_rfc9810=True,
    ),
    Case(
        "ckuann-v3-newwithnew-only",
        {"ckuann": {"cAKeyUpdAnnV3": {"newWithNew": Der(CERT2)}}},
        {"body.value": A.CAKeyUpdContent("cAKeyUpdAnnV3", A.RootCaKeyUpdateContent(CERT2))},
        needs_rfc9810=True,
    ),
    Case("cann", {"cann": Der(CERT)}, {"body.value": CERT}),
    Case(
        "rann-fractional-times-crldetails",
        {
            "rann": {
                "status": 5,
                "certId": {"issuer": {"registeredID": "1.2.3"}, "serialNumber": 2**64},
                "willBeRevokedAt": "20250101000000.5Z",
                "badSinceDate": "19491231235959.000001Z",
                "crlDetails": Der(EXTS),
            }
        },
        {
            "body.value": A.RevAnnContent(
                5,
                A.CertId(A.GeneralName("registeredID", "1.2.3"), 2**64),
                datetime.datetime(2025, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
                datetime.datetime(1949, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
                EXTS,
            )
        },
    ),
    Case(
        "rann-nanoseconds",
        {
            "rann": {
                "status": 0,
                "certId": {"issuer": DIRECTORY_NAME, "serialNumber": 1},
                "willBeRevokedAt": "99991231235959.123456789Z",
                "badSinceDate": "00010101000000Z",
            }
        },
        {
            "body.value.will_be_revoked_at": A.PreciseDatetime(
                9999, 12, 31, 23, 59, 59, 123456, UTC, nanosecond=789
            ),
            "body.value.will_be_revoked_at.nanosecond": 789,
            "body.value.bad_since_date": datetime.datetime(1, 1, 1, tzinfo=UTC),
            "body.value.crl_details": None,
        },
    ),
    Case("crlann", {"crlann": [Der(CRL), Der(PKI.crls[1])]}, {"body.value": (CRL, PKI.crls[1])}),
    Case("crlann-empty", {"crlann": []}, {"body.value": ()}),
    Case(
        "pkiconf-full-header",
        {"pkiconf": None},
        {"body.value": None, "header": FULL_HEADER_PY},
        header=FULL_HEADER,
    ),
    Case(
        "genm-itavs-with-and-without-value",
        {
            "genm": [
                {"infoType": "1.3.6.1.5.5.7.4.17"},  # caCerts request: no value
                {"infoType": "1.3.6.1.5.5.7.4.21", "infoValue": b"\x30\x06\x0c\x04prof"},
            ]
        },
        {
            "body.value": (
                A.InfoTypeAndValue("1.3.6.1.5.5.7.4.17"),
                A.InfoTypeAndValue("1.3.6.1.5.5.7.4.21", b"\x30\x06\x0c\x04prof"),
            ),
            "body.value[1].decoded()": ("prof",),
        },
    ),
    Case("genm-empty", {"genm": []}, {"body.value": ()}),
    Case(
        "genp-cacerts",
        {"genp": [{"infoType": "1.3.6.1.5.5.7.4.17", "infoValue": tlv(0x30, CERT + CERT2)}]},
        {"body.value[0].decoded()": (CERT, CERT2)},
    ),
    Case(
        "error-every-field",
        {"error": {"pKIStatusInfo": REJECTED, "errorCode": -5, "errorDetails": ["details"]}},
        {"body.value": A.ErrorMsgContent(REJECTED_PY, -5, ("details",))},
    ),
    Case(
        "error-status-only",
        {"error": {"pKIStatusInfo": {"status": 2, "failInfo": Bits("")}}},
        {"body.value": A.ErrorMsgContent(A.PKIStatusInfo(2, None, 0))},
    ),
    Case(
        "certconf-with-and-without-statusinfo-hashalg",
        {
            "certConf": [
                {
                    "certHash": b"h" * 32,
                    "certReqId": 0,
                    "statusInfo": REJECTED,
                    "hashAlg": ALG_NULL,
                },
                {"certHash": b"", "certReqId": 2**63},
            ]
        },
        {
            "body.value": (
                A.CertStatus(b"h" * 32, 0, REJECTED_PY, ALG_NULL_PY),
                A.CertStatus(b"", 2**63),
            )
        },
    ),
    Case("certconf-empty", {"certConf": []}, {"body.value": ()}),
    Case(
        "pollreq",
        {"pollReq": [{"certReqId": 0}, {"certReqId": -(2**70)}]},
        {"body.value": (A.PollReqEntry(0), A.PollReqEntry(-(2**70)))},
    ),
    Case(
        "pollrep-with-and-without-reason",
        {
            "pollRep": [
                {"certReqId": 0, "checkAfter": 60, "reason": ["busy"]},
                {"certReqId": 1, "checkAfter": 0},
            ]
        },
        {"body.value": (A.PollRepEntry(0, 60, ("busy",)), A.PollRepEntry(1, 0))},
    ),
    Case(
        "protection-and-extracerts",
        {"pkiconf": None},
        {"protection": b"\x00" * 20, "extra_certs": (CERT, CERT2)},
        protection=Bits.of(b"\x00" * 20),
        extra_certs=[Der(CERT), Der(CERT2)],
    ),
    *(
        Case(
            f"sender-and-recipient-{kind}",
            {"pollReq": [{"certReqId": 0}]},
            {"header.sender": gn, "header.recipient": gn},
            header={"pvno": 2, "sender": {kind: description}, "recipient": {kind: description}},
        )
        for kind, (description, gn) in GENERAL_NAMES.items()
    ),
    *(
        Case(
            f"pubinfo-location-{kind}",
            {
                "ip": {
                    "response": [
                        {
                            "certReqId": 0,
                            "status": ACCEPTED,
                            "certifiedKeyPair": {
                                "certOrEncCert": {"certificate": Der(CERT)},
                                "publicationInfo": {
                                    "action": 0,
                                    "pubInfos": [
                                        {"pubMethod": 0, "pubLocation": {kind: description}},
                                        {"pubMethod": 1},
                                    ],
                                },
                            },
                        }
                    ]
                }
            },
            {
                "body.value.response[0].certified_key_pair.publication_info.pub_infos": (
                    A.SinglePubInfo(0, gn),
                    A.SinglePubInfo(1),
                )
            },
        )
        for kind, (description, gn) in GENERAL_NAMES.items()
    ),
]


def _nested_case() -> Case:
    """nested holding two messages built by pyasn1 (the first ir and error cases)."""
    ir, error = (next(c for c in CASES if c.id.startswith(p)) for p in ("ir-", "error-every"))
    inner = [pyasn1_encode(_pyasn1_message(c)) for c in (ir, error)]
    return Case(
        "nested-two-messages",
        {"nested": inner},
        {
            "body.value[0].body.kind": "ir",
            "body.value[0].body.value[0].cert_req.cert_template": FULL_TEMPLATE_PY,
            "body.value[1].body": A.PKIBody(
                "error", A.ErrorMsgContent(REJECTED_PY, -5, ("details",))
            ),
            "body.value[1].to_der()": inner[1],
        },
    )


def _pyasn1_message(case: Case) -> Any:
    message: dict[str, Any] = {"header": case.header or MINIMAL_HEADER, "body": case.body}
    if case.protection is not None:
        message["protection"] = case.protection
    if case.extra_certs is not None:
        message["extraCerts"] = case.extra_certs
    return build(FixedPKIMessage(), message)


CASES.append(_nested_case())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_message_built_by_pyasn1_decodes_with_cmpkit_to_the_values_put_in(case: Case) -> None:
    if case.needs_rfc9810 and not HAS_RFC9810:
        pytest.skip(NEEDS_RFC9810)
    der = pyasn1_encode(_pyasn1_message(case))
    for decode in (PKIMessage.from_der, PKIMessage.decode):
        msg = decode(der)
        assert msg.body_type == next(iter(case.body))
        for path, expected in case.expect.items():
            assert resolve(msg, path) == expected, path
        assert_same(pyasn1_decode(der), msg)
        assert msg.to_der() == der
        rebuilt = PKIMessage(msg.header, msg.body, msg.protection, msg.extra_certs)
        assert rebuilt.to_der() == der


class TypeCase(NamedTuple):
    """A value of one of the other types of RFC 9810 and RFC 4211 (MAC
    parameters, controls, infoType values) built with pyasn1, and the cmpkit
    value it must decode to with :func:`cmp.asn1.decode`."""

    id: str
    type_name: str
    spec: Any
    value: Any
    expected: Any
    needs_rfc9810: bool = False


def _type_cases() -> list[TypeCase]:
    hmac_sha256 = {"algorithm": "1.2.840.113549.2.9"}
    hmac_sha256_py = A.AlgorithmIdentifier("1.2.840.113549.2.9")
    uri_dpn = PKI.distribution_point_names[0]
    return [
        TypeCase(
            "pbmparameter",
            "PBMParameter",
            rfc4211.PBMParameter(),
            {"salt": b"salt", "owf": ALG_NULL, "iterationCount": 500, "mac": hmac_sha256},
            A.PBMParameter(b"salt", ALG_NULL_PY, 500, hmac_sha256_py),
        ),
        TypeCase(
            "dhbmparameter",
            "DHBMParameter",
            CMP.DHBMParameter(),
            {"owf": ALG_NULL, "mac": hmac_sha256},
            A.DHBMParameter(ALG_NULL_PY, hmac_sha256_py),
        ),
        *(
            TypeCase(
                f"kembmparameter-{label}",
                "KemBMParameter",
                getattr(CMP, "KemBMParameter", univ.Sequence)(),
                {"kdf": ALG, **context, "len": 32, "mac": hmac_sha256},
                A.KemBMParameter(ALG_PY, context_py, 32, hmac_sha256_py),
                needs_rfc9810=True,
            )
            for label, context, context_py in [
                ("with-context", {"kemContext": b"ctx"}, b"ctx"),
                ("without-context", {}, None),
            ]
        ),
        TypeCase(
            "pkiarchiveoptions-encryptedprivkey-envelopeddata",
            "PKIArchiveOptions",
            rfc4211.PKIArchiveOptions(),
            {"encryptedPrivKey": {"envelopedData": Der(ENVELOPED)}},
            A.PKIArchiveOptions("encryptedPrivKey", A.EncryptedKey("envelopedData", ENVELOPED)),
        ),
        TypeCase(
            "pkiarchiveoptions-encryptedprivkey-encryptedvalue",
            "PKIArchiveOptions",
            rfc4211.PKIArchiveOptions(),
            {"encryptedPrivKey": {"encryptedValue": ENCRYPTED_VALUE}},
            A.PKIArchiveOptions(
                "encryptedPrivKey", A.EncryptedKey("encryptedValue", ENCRYPTED_VALUE_PY)
            ),
        ),
        TypeCase(
            "pkiarchiveoptions-keygenparameters",
            "PKIArchiveOptions",
            rfc4211.PKIArchiveOptions(),
            {"keyGenParameters": b"params"},
            A.PKIArchiveOptions("keyGenParameters", b"params"),
        ),
        TypeCase(
            "pkiarchiveoptions-archiveremgenprivkey",
            "PKIArchiveOptions",
            rfc4211.PKIArchiveOptions(),
            {"archiveRemGenPrivKey": True},
            A.PKIArchiveOptions("archiveRemGenPrivKey", True),
        ),
        TypeCase(
            "certreqtemplatecontent",
            "CertReqTemplateContent",
            CMP.CertReqTemplateContent(),
            {
                "certTemplate": FULL_TEMPLATE,
                "keySpec": [
                    {"type": "1.3.6.1.5.5.7.5.1.11", "value": tlv(0x30, _oid(ECDSA_SHA256))}
                ],
            },
            A.CertReqTemplateContent(
                FULL_TEMPLATE_PY,
                (A.AttributeTypeAndValue("1.3.6.1.5.5.7.5.1.11", tlv(0x30, _oid(ECDSA_SHA256))),),
            ),
        ),
        TypeCase(
            "crlstatus-dpn-with-thisupdate",
            "CRLStatus",
            CMP.CRLStatus(),
            {"source": {"dpn": Der(uri_dpn)}, "thisUpdate": {"utcTime": "250101000000Z"}},
            A.CRLStatus(A.CRLSource("dpn", uri_dpn), datetime.datetime(2025, 1, 1, tzinfo=UTC)),
        ),
        TypeCase(
            "crlstatus-issuer",
            "CRLStatus",
            CMP.CRLStatus(),
            {"source": {"issuer": [DIRECTORY_NAME, {"dNSName": "ca"}]}},
            A.CRLStatus(A.CRLSource("issuer", (DIRECTORY_NAME_PY, A.GeneralName("dNSName", "ca")))),
        ),
        TypeCase(
            "kemciphertextinfo",
            "KemCiphertextInfo",
            getattr(CMP, "KemCiphertextInfo", univ.Sequence)(),
            {"kem": ALG, "ct": b"ciphertext"},
            A.KemCiphertextInfo(ALG_PY, b"ciphertext"),
            needs_rfc9810=True,
        ),
    ]


TYPE_CASES = _type_cases()


@pytest.mark.parametrize("case", TYPE_CASES, ids=[c.id for c in TYPE_CASES])
def test_value_built_by_pyasn1_decodes_with_cmpkit_to_the_value_put_in(case: TypeCase) -> None:
    if case.needs_rfc9810 and not HAS_RFC9810:
        pytest.skip(NEEDS_RFC9810)
    der = pyasn1_encode(build(case.spec, case.value))
    value = A.decode(case.type_name, der)
    assert value == case.expected
    assert_same(pyasn1_decode(der, case.spec), value, case.type_name)
    assert A.encode(case.type_name, value) == der


def test_generalized_time_before_2050_in_a_template_is_read_and_rewritten_as_utctime() -> None:
    """The one place the two codecs part: DER lets a Time hold a GeneralizedTime
    for any year, and pyasn1 keeps the alternative; cmpkit reads the same
    instant, keeps the message's bytes, and writes a value rebuilt from Python
    as RFC 5280 §4.1.2.5 wants it (UTCTime through 2049), like OpenSSL."""
    validity = {"notBefore": {"generalTime": "20300101000000Z"}}
    body = {"cr": [{"certReq": {"certReqId": 0, "certTemplate": {"validity": validity}}}]}
    der = pyasn1_encode(_pyasn1_message(Case("", body, {})))
    msg = PKIMessage.from_der(der)
    template = msg.body.value[0].cert_req.cert_template
    assert template.validity == A.OptionalValidity(datetime.datetime(2030, 1, 1, tzinfo=UTC))
    assert msg.to_der() == der
    rebuilt = pyasn1_decode(PKIMessage(msg.header, msg.body).to_der())
    assert_same(rebuilt, msg)
    not_before = rebuilt["body"]["cr"][0]["certReq"]["certTemplate"]["validity"]["notBefore"]
    assert (not_before.getName(), str(not_before.getComponent())) == ("utcTime", "300101000000Z")
