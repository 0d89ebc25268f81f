"""Names, general names and extensions between DER and ``cryptography``.

``cryptography`` builds these objects but does not load them from bare DER;
the native core parses the Name, and extensions are read through a minimal
certificate wrapper, so that no DER is interpreted by hand in Python."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from cmp import _native, certinfo
from cmp.asn1 import GeneralName
from cmp.errors import DecodeError

__all__ = [
    "extensions_from_der",
    "general_name_from_cryptography",
    "general_name_to_cryptography",
    "name_from_der",
]

_TEXT_CODECS = {
    _ASN1Type.BMPString.value: "utf-16-be",
    _ASN1Type.UniversalString.value: "utf-32-be",
}
_KNOWN_TYPES = {t.value: t for t in _ASN1Type}


def _attribute(oid: str, tag: int, value: bytes) -> x509.NameAttribute[str | bytes]:
    asn1_type = _KNOWN_TYPES.get(tag)
    if asn1_type is None:
        raise DecodeError(f"Name attribute {oid} has unsupported value type (tag {tag})")
    if asn1_type is _ASN1Type.BitString:
        # cryptography allows a BIT STRING value for x500UniqueIdentifier only.
        if oid != NameOID.X500_UNIQUE_IDENTIFIER.dotted_string:
            raise DecodeError(f"Name attribute {oid} has a BIT STRING value")
        return x509.NameAttribute(ObjectIdentifier(oid), value, _type=asn1_type)
    text = value.decode(_TEXT_CODECS.get(tag, "utf-8"))
    return x509.NameAttribute(ObjectIdentifier(oid), text, _type=asn1_type)


def name_from_der(der: bytes) -> x509.Name:
    """The ``cryptography`` Name of a DER Name (value string types kept); the
    same object for the same bytes while :mod:`cmp.certinfo` holds it."""
    return certinfo.load_name(der, _parse_name)


def _parse_name(der: bytes) -> x509.Name:
    try:
        return x509.Name(
            [
                x509.RelativeDistinguishedName([_attribute(*atv) for atv in rdn])
                for rdn in _native.parse_name(der)
            ]
        )
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, DecodeError):
            raise
        raise DecodeError(f"unusable Name: {e}") from None


_SIMPLE = {
    "rfc822Name": x509.RFC822Name,
    "dNSName": x509.DNSName,
    "uniformResourceIdentifier": x509.UniformResourceIdentifier,
}


def general_name_to_cryptography(gn: GeneralName) -> x509.GeneralName:
    """A :class:`cmp.asn1.GeneralName` as a ``cryptography`` GeneralName."""
    if gn.kind in _SIMPLE:
        return _SIMPLE[gn.kind]._init_without_validation(gn.value)  # type: ignore[attr-defined,no-any-return]
    if gn.kind == "directoryName":
        return x509.DirectoryName(name_from_der(gn.value))
    if gn.kind == "registeredID":
        return x509.RegisteredID(ObjectIdentifier(gn.value))
    if gn.kind == "iPAddress":
        ip: (
            ipaddress.IPv4Address
            | ipaddress.IPv6Address
            | ipaddress.IPv4Network
            | ipaddress.IPv6Network
        )
        if len(gn.value) in (4, 16):
            ip = ipaddress.ip_address(gn.value)
        elif len(gn.value) in (8, 32):
            half = len(gn.value) // 2
            addr = ipaddress.ip_address(gn.value[:half])
            mask = int.from_bytes(gn.value[half:], "big")
            prefix = bin(mask).count("1")
            if mask != ((1 << prefix) - 1) << (half * 8 - prefix):
                raise DecodeError("iPAddress network mask is not contiguous")
            try:
                ip = ipaddress.ip_network(f"{addr}/{prefix}")
            except ValueError:  # strict=False would clear them: another name
                raise DecodeError("iPAddress network has bits set outside its mask") from None
        else:
            raise DecodeError(f"iPAddress of {len(gn.value)} bytes")
        return x509.IPAddress(ip)
    if gn.kind == "otherName":
        oid, value = _native.parse_other_name(gn.value)
        return x509.OtherName(ObjectIdentifier(oid), value)
    raise DecodeError(f"GeneralName {gn.kind} has no cryptography equivalent")


def general_name_from_cryptography(gn: x509.GeneralName) -> GeneralName:
    """A ``cryptography`` GeneralName as a :class:`cmp.asn1.GeneralName`."""
    if isinstance(gn, x509.DirectoryName):
        return GeneralName("directoryName", gn.value.public_bytes())
    if isinstance(gn, x509.RFC822Name):
        return GeneralName("rfc822Name", gn.value)
    if isinstance(gn, x509.DNSName):
        return GeneralName("dNSName", gn.value)
    if isinstance(gn, x509.UniformResourceIdentifier):
        return GeneralName("uniformResourceIdentifier", gn.value)
    if isinstance(gn, x509.RegisteredID):
        return GeneralName("registeredID", gn.value.dotted_string)
    if isinstance(gn, x509.IPAddress):
        v = gn.value
        if isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return GeneralName("iPAddress", v.network_address.packed + v.netmask.packed)
        return GeneralName("iPAddress", v.packed)
    if isinstance(gn, x509.OtherName):
        return GeneralName(
            "otherName", _native.encode_other_name(gn.type_id.dotted_string, gn.value)
        )
    raise TypeError(f"unsupported GeneralName {type(gn).__name__}")


def extensions_from_der(der: bytes) -> x509.Extensions:
    """Extensions ::= SEQUENCE OF Extension, as ``cryptography`` Extensions."""
    try:
        cert = x509.load_der_x509_certificate(_native.certificate_with_extensions(der))
        return cert.extensions
    except certinfo.PARSE_ERRORS as e:  # a KeyError for an unknown TLS feature, ...
        raise DecodeError(f"unusable Extensions: {type(e).__name__}: {e}") from None
