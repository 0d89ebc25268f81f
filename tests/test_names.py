"""Names, GeneralNames and Extensions between DER and ``cryptography`` (cmp.names).

``cryptography`` writes these structures but cannot read a bare Name or bare
Extensions; cmp.names does, and must give back exactly what cryptography
wrote: the same attributes with the same string types (PrintableString stays
PrintableString), the same GeneralName, the same extensions.
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from cmp import DecodeError
from cmp import asn1 as A
from cmp.asn1 import CertTemplate, GeneralName
from cmp.names import (
    extensions_from_der,
    general_name_from_cryptography,
    general_name_to_cryptography,
    name_from_der,
)

Attr = x509.NameAttribute
RDN = x509.RelativeDistinguishedName


def tlv(tag: int, content: bytes) -> bytes:
    assert len(content) < 0x80
    return bytes([tag, len(content)]) + content


def types_of(name: x509.Name) -> list[list[Any]]:
    return [sorted((a.oid.dotted_string, a._type) for a in rdn) for rdn in name.rdns]


NAMES = {
    "defaults": x509.Name(
        [
            Attr(NameOID.COUNTRY_NAME, "DE"),  # PrintableString by default
            Attr(NameOID.ORGANIZATION_NAME, "cmpkit"),  # UTF8String by default
            Attr(NameOID.COMMON_NAME, "Grüße ✓"),
        ]
    ),
    "printable": x509.Name(
        [
            Attr(NameOID.COUNTRY_NAME, "FI", _type=_ASN1Type.PrintableString),
            Attr(NameOID.ORGANIZATION_NAME, "Nokia", _type=_ASN1Type.PrintableString),
            Attr(NameOID.COMMON_NAME, "Test CA", _type=_ASN1Type.PrintableString),
        ]
    ),
    "multi-valued rdn": x509.Name(
        [
            RDN([Attr(NameOID.COUNTRY_NAME, "US")]),
            RDN(
                [
                    Attr(NameOID.COMMON_NAME, "Alice", _type=_ASN1Type.PrintableString),
                    Attr(NameOID.USER_ID, "alice"),
                    Attr(NameOID.SERIAL_NUMBER, "1234", _type=_ASN1Type.PrintableString),
                ]
            ),
            RDN([Attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "a"), Attr(NameOID.TITLE, "b")]),
        ]
    ),
    "ia5": x509.Name(
        [
            Attr(NameOID.DOMAIN_COMPONENT, "com"),  # IA5String by default
            Attr(NameOID.DOMAIN_COMPONENT, "example"),
            Attr(NameOID.EMAIL_ADDRESS, "ca@example.com"),  # IA5String by default
        ]
    ),
    "wide strings": x509.Name(
        [
            Attr(NameOID.COMMON_NAME, "BMP Ünïcödé", _type=_ASN1Type.BMPString),
            Attr(NameOID.ORGANIZATION_NAME, "Universal 🦀", _type=_ASN1Type.UniversalString),
        ]
    ),
    "other string types": x509.Name(
        [
            Attr(NameOID.COMMON_NAME, "teletex", _type=_ASN1Type.T61String),
            Attr(NameOID.SERIAL_NUMBER, "0123456789", _type=_ASN1Type.NumericString),
            Attr(NameOID.PSEUDONYM, "visible", _type=_ASN1Type.VisibleString),
        ]
    ),
    "unique identifier bit string": x509.Name(
        [
            Attr(NameOID.COMMON_NAME, "x"),
            Attr(NameOID.X500_UNIQUE_IDENTIFIER, b"\x00\x01\x02", _type=_ASN1Type.BitString),
        ]
    ),
    "unknown attribute type": x509.Name([Attr(ObjectIdentifier("1.2.3.4.5"), "private")]),
    "repeated attributes": x509.Name(
        [
            Attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "one"),
            Attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "one"),
            Attr(NameOID.ORGANIZATIONAL_UNIT_NAME, "two"),
        ]
    ),
    "null dn": x509.Name([]),
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_name_from_der_gives_back_the_name_with_its_string_types(name: x509.Name) -> None:
    der = name.public_bytes()
    parsed = name_from_der(der)
    assert parsed == name
    assert types_of(parsed) == types_of(name)
    assert parsed.public_bytes() == der


def test_name_from_der_matches_cryptography_reading_a_certificate() -> None:
    """The subject of a certificate parsed by cryptography, and the same DER by cmp.names."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    for name in NAMES.values():
        if not name.rdns:
            continue
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        parsed = name_from_der(cert.subject.public_bytes())
        assert parsed == cert.subject
        assert types_of(parsed) == types_of(cert.subject)


def test_directory_general_name_and_template_names_use_name_from_der() -> None:
    name = NAMES["multi-valued rdn"]
    assert GeneralName.directory_name(name).to_cryptography() == x509.DirectoryName(name)
    template = CertTemplate(subject=name.public_bytes(), issuer=NAMES["printable"].public_bytes())
    assert template.subject_name() == name
    assert types_of(template.issuer_name()) == types_of(NAMES["printable"])


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x31\x00",  # a SET, not a SEQUENCE
        b"\x30\x02\x31\x00",  # an empty RDN (SET SIZE (1..MAX))
        b"\x30\x03\x02\x01\x00",  # an INTEGER where an RDN belongs
        tlv(
            0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55\x04\x03") + tlv(0x30, b"")))
        ),  # SEQUENCE value
        tlv(
            0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55\x04\x03") + tlv(0x0C, b"\xff\xfe")))
        ),  # not UTF-8
        tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55\x04\x03") + tlv(0x1E, b"\x00")))),  # odd BMP
        tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55\x04\x03")))),  # no value
        NAMES["defaults"].public_bytes() + b"\x00",  # trailing data
    ],
    ids=[
        "empty",
        "set",
        "empty rdn",
        "integer rdn",
        "sequence value",
        "bad utf8",
        "odd bmp",
        "no value",
        "trailing data",
    ],
)
def test_malformed_name_is_a_decode_error(der: bytes) -> None:
    with pytest.raises(DecodeError):
        name_from_der(der)


@pytest.mark.parametrize(
    "value",
    [tlv(0x8C, b"abc"), tlv(0x4C, b"abc"), tlv(0x2C, tlv(0x04, b"abc"))],
    ids=["context", "application", "constructed"],
)
def test_attribute_value_of_non_universal_primitive_type_is_a_decode_error(value: bytes) -> None:
    der = tlv(0x30, tlv(0x31, tlv(0x30, tlv(0x06, b"\x55\x04\x03") + value)))
    with pytest.raises(DecodeError):
        name_from_der(der)


# --- GeneralName ------------------------------------------------------------------------

GENERAL_NAMES = {
    "dNSName": x509.DNSName("cmp.example.com"),
    "dNSName wildcard": x509.DNSName("*.example.com"),
    "rfc822Name": x509.RFC822Name("ca@example.com"),
    "uniformResourceIdentifier": x509.UniformResourceIdentifier("https://ca.example/cmp/p"),
    "iPAddress v4": x509.IPAddress(ipaddress.IPv4Address("192.0.2.1")),
    "iPAddress v6": x509.IPAddress(ipaddress.IPv6Address("2001:db8::1")),
    "iPAddress v4 network": x509.IPAddress(ipaddress.IPv4Network("10.0.0.0/8")),
    "iPAddress v6 network": x509.IPAddress(ipaddress.IPv6Network("2001:db8::/32")),
    "iPAddress v4 host network": x509.IPAddress(ipaddress.IPv4Network("192.0.2.7/32")),
    "registeredID": x509.RegisteredID(ObjectIdentifier("1.3.6.1.4.1.99999.1")),
    "directoryName": x509.DirectoryName(NAMES["multi-valued rdn"]),
    "directoryName null dn": x509.DirectoryName(x509.Name([])),
    "otherName utf8": x509.OtherName(ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x03a@b"),
    "otherName sequence": x509.OtherName(
        ObjectIdentifier("1.3.6.1.5.5.7.8.4"), b"\x30\x08\x06\x03\x2a\x03\x04\x04\x01\x00"
    ),
}
EXPECTED_KIND = {
    x509.DNSName: "dNSName",
    x509.RFC822Name: "rfc822Name",
    x509.UniformResourceIdentifier: "uniformResourceIdentifier",
    x509.IPAddress: "iPAddress",
    x509.RegisteredID: "registeredID",
    x509.DirectoryName: "directoryName",
    x509.OtherName: "otherName",
}


@pytest.mark.parametrize("gn", GENERAL_NAMES.values(), ids=GENERAL_NAMES.keys())
def test_general_name_round_trips_through_cryptography(gn: x509.GeneralName) -> None:
    ours = general_name_from_cryptography(gn)
    assert ours.kind == EXPECTED_KIND[type(gn)]
    assert general_name_to_cryptography(ours) == gn
    assert GeneralName.from_cryptography(gn).to_cryptography() == gn


@pytest.mark.parametrize("gn", GENERAL_NAMES.values(), ids=GENERAL_NAMES.keys())
def test_general_name_encodes_as_cryptography_does(gn: x509.GeneralName) -> None:
    """The DER of GeneralNames from the codec equals cryptography's SubjectAltName value."""
    der = x509.SubjectAlternativeName([gn]).public_bytes()
    ours = general_name_from_cryptography(gn)
    assert A.encode("GeneralNames", (ours,)) == der
    assert A.decode("GeneralNames", der) == (ours,)


def test_ip_address_octets() -> None:
    """RFC 5280 §4.2.1.6: four or sixteen octets, twice that for address and mask."""
    v4 = general_name_from_cryptography(GENERAL_NAMES["iPAddress v4"])
    assert v4 == GeneralName("iPAddress", bytes([192, 0, 2, 1]))
    net = general_name_from_cryptography(GENERAL_NAMES["iPAddress v4 network"])
    assert net == GeneralName("iPAddress", bytes([10, 0, 0, 0, 255, 0, 0, 0]))
    assert len(general_name_from_cryptography(GENERAL_NAMES["iPAddress v6 network"]).value) == 32


@pytest.mark.parametrize(
    "gn",
    [
        GeneralName("x400Address", b"\x30\x00"),
        GeneralName("ediPartyName", b"\x30\x00"),
        GeneralName("iPAddress", b"\x01\x02\x03"),
        GeneralName("iPAddress", b""),
        GeneralName("directoryName", b"\x31\x00"),
        GeneralName("otherName", b"\x30\x05\x06\x03\x2a\x03\x04"),  # no [0] value
    ],
    ids=["x400Address", "ediPartyName", "ip 3 bytes", "ip empty", "not a name", "no value"],
)
def test_general_name_without_cryptography_equivalent_is_a_decode_error(gn: GeneralName) -> None:
    with pytest.raises(DecodeError):
        general_name_to_cryptography(gn)


@pytest.mark.parametrize(
    "octets",
    [bytes([10, 0, 0, 0, 255, 0, 255, 0]), bytes(16) + bytes([0x0F] + [0xFF] * 15)],
    ids=["v4", "v6"],
)
def test_ip_network_with_non_contiguous_mask_is_a_decode_error(octets: bytes) -> None:
    with pytest.raises(DecodeError):
        general_name_to_cryptography(GeneralName("iPAddress", octets))


def test_unsupported_cryptography_general_name_is_a_type_error() -> None:
    class Unknown(x509.GeneralName):
        @property
        def value(self) -> str:
            return "?"

    with pytest.raises(TypeError):
        general_name_from_cryptography(Unknown())


# --- Extensions -------------------------------------------------------------------------


def extensions_der(cert: x509.Certificate) -> bytes:
    """The DER of Extensions, sliced from the TBSCertificate cryptography wrote."""
    tbs = cert.tbs_certificate_bytes
    pos = 2 + (tbs[1] & 0x7F if tbs[1] & 0x80 else 0)
    while pos < len(tbs):
        tag, first = tbs[pos], tbs[pos + 1]
        count = first & 0x7F if first & 0x80 else 0
        length = int.from_bytes(tbs[pos + 2 : pos + 2 + count], "big") if count else first
        content = pos + 2 + count
        if tag == 0xA3:
            return tbs[content : content + length]
        pos = content + length
    raise AssertionError("certificate without extensions")


@pytest.fixture(scope="module")
def cert_with_extensions() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(NAMES["defaults"])
        .issuer_name(NAMES["printable"])
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, True, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(list(GENERAL_NAMES.values())), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(ObjectIdentifier("2.5.29.32.0"), ["https://cps"])]
            ),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.7"), b"\x04\x02hi"),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def test_extensions_from_der_gives_back_what_cryptography_wrote(
    cert_with_extensions: x509.Certificate,
) -> None:
    parsed = extensions_from_der(extensions_der(cert_with_extensions))
    assert list(parsed) == list(cert_with_extensions.extensions)
    san = parsed.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == list(GENERAL_NAMES.values())
    assert parsed.get_extension_for_class(x509.BasicConstraints).critical


def test_cert_template_extension_list(cert_with_extensions: x509.Certificate) -> None:
    der = extensions_der(cert_with_extensions)
    template = A.decode("CertTemplate", A.encode("CertTemplate", CertTemplate(extensions=der)))
    assert template.extensions == der
    assert list(template.extension_list()) == list(cert_with_extensions.extensions)


def test_single_extension_made_by_cryptography() -> None:
    value = x509.BasicConstraints(ca=True, path_length=0)
    ext = tlv(0x30, tlv(0x06, b"\x55\x1d\x13") + b"\x01\x01\xff" + tlv(0x04, value.public_bytes()))
    (parsed,) = extensions_from_der(tlv(0x30, ext))
    assert parsed == x509.Extension(value.oid, True, value)


@pytest.mark.parametrize(
    "der",
    [b"", b"\x04\x00", b"\x30\x03\x02\x01\x00", b"\x30\x05\x30\x03\x06\x01\x00"],
    ids=["empty input", "octet string", "integer element", "no extnValue"],
)
def test_malformed_extensions_are_a_decode_error(der: bytes) -> None:
    with pytest.raises(DecodeError):
        extensions_from_der(der)


def test_duplicate_extensions_are_a_decode_error() -> None:
    ext = tlv(0x30, tlv(0x06, b"\x55\x1d\x13") + tlv(0x04, b"\x30\x00"))
    with pytest.raises(DecodeError):
        extensions_from_der(tlv(0x30, ext + ext))
