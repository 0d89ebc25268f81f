"""X.509v3 extensions from an OpenSSL config section, in the syntax of
``x509v3_config(5)``, as ``openssl cmp -reqexts`` and ``-policies`` read it.

Every ``name = [critical,]value`` line of the section becomes one
``cryptography`` :class:`~cryptography.x509.Extension`, built the way
OpenSSL 3.0's ``X509V3_EXT_add_nconf_sk()`` builds it: the same list syntax
(``a:b, c``), the same ``@section`` and ``name.N`` forms, the same defaults and
string types, so that the DER equals what ``openssl req -reqexts`` requests.
Typed values (``x509.BasicConstraints``, ``x509.SubjectAlternativeName``, ...)
are returned wherever cryptography encodes them as OpenSSL does; otherwise
(``DER:``, ``ASN1:``, user notices, a few odd values OpenSSL accepts) the
value is an :class:`~cryptography.x509.UnrecognizedExtension` holding
OpenSSL's DER.

Supported: basicConstraints, keyUsage, extendedKeyUsage, subjectKeyIdentifier,
authorityKeyIdentifier, subjectAltName, issuerAltName, authorityInfoAccess,
subjectInfoAccess, crlDistributionPoints, freshestCRL, certificatePolicies,
policyConstraints, policyMappings, inhibitAnyPolicy, nameConstraints,
tlsfeature, noCheck, nsCertType and the Netscape string extensions, and any
extension given as ``DER:<hex>`` or ``ASN1:<generic>`` (primitive types,
SEQUENCE and SET; not the EXPLICIT/IMPLICIT/*WRAP modifiers).

Deliberate differences from OpenSSL 3.0, each where OpenSSL writes invalid
or garbled DER or cryptography cannot express the value: ``none`` for
subjectKeyIdentifier/authorityKeyIdentifier leaves the extension out (OpenSSL
writes an empty one); non-ASCII text is refused where OpenSSL copies UTF-8
into an IA5String/VisibleString or reads it as Latin-1; ``BMP:`` notice text
is UTF-16 (OpenSSL copies the bytes); noticeNumbers need an organization;
the CRL reason ``unused``, name-constraint masks that are not a prefix, and
email addresses cryptography rejects are refused.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional, Union

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtensionOID, NameOID

from cmp import _native
from cmp.config import ConfigFile
from cmp.dn import attribute_oid
from cmp.errors import CMPError

__all__ = [
    "X509v3ConfigError",
    "extensions_from_section",
    "object_identifier",
    "policies_from_section",
]

Extension = x509.Extension[x509.ExtensionType]
#: One item of a multi-valued extension: ``name:value`` or a bare ``name``.
_Pair = tuple[str, Optional[str]]


class X509v3ConfigError(CMPError, ValueError):
    """An extension section cannot be turned into extensions: an unknown
    extension name, a malformed value, a missing section. ``str()`` is one
    line naming the option, the section, the line (key and value) and the
    problem; the parts are also attributes."""

    def __init__(
        self,
        problem: str,
        *,
        desc: str,
        section: str,
        key: str | None = None,
        value: str | None = None,
    ) -> None:
        self.problem = problem
        self.desc = desc
        self.section = section
        self.key = key
        self.value = value
        where = f"{desc} section [{_show(section)}]"
        if key is not None:
            where += f", {_show(key)} = {_show(value or '')}"
        super().__init__(f"{where}: {problem}")


class _Invalid(Exception):
    """A problem found while reading one line; becomes an X509v3ConfigError."""


def _show(text: str) -> str:
    """``text`` on one line: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@contextmanager
def _inside(section: str) -> Iterator[None]:
    """Prefix problems found while reading a referenced section with its name."""
    try:
        yield
    except _Invalid as exc:
        raise _Invalid(f"[{_show(section)}] {exc}") from None


@dataclass(frozen=True)
class _Context:
    """What OpenSSL's X509V3_CTX holds: the config database, and the data some
    values copy (``hash``, ``email:copy``, ``keyid``, ``issuer:copy``)."""

    config: ConfigFile
    public_key: CertificatePublicKeyTypes | None
    subject: x509.Name | None
    issuer_certificate: x509.Certificate | None

    def section(self, name: str) -> list[tuple[str, str]]:
        entries = self.config.section(name)
        if entries is None:
            raise _Invalid(f"section [{_show(name)}] not found")
        return list(entries.items())


# --- lexical pieces ------------------------------------------------------------------------------

_SPACE = " \t\n\v\f\r"  # ossl_isspace()


def _strip(text: str) -> str | None:
    stripped = text.strip(_SPACE)
    return stripped or None


def _parse_list(line: str) -> list[_Pair]:
    """``X509V3_parse_list()``: ``name[:value]`` items separated by commas,
    white space around names and values dropped; a value runs to the next
    comma (colons included)."""
    for stop in "\r\n":
        cut = line.find(stop)
        if cut >= 0:
            line = line[:cut]
    pairs: list[_Pair] = []
    name: str | None = None
    start = 0
    for pos, char in enumerate(line):
        if name is None and char in ":,":
            item = _strip(line[start:pos])
            if item is None:
                raise _Invalid(f"empty name in list '{_show(line)}'")
            if char == ":":
                name = item
            else:
                pairs.append((item, None))
            start = pos + 1
        elif name is not None and char == ",":
            value = _strip(line[start:pos])
            if value is None:
                raise _Invalid(f"empty value for '{name}' in list '{_show(line)}'")
            pairs.append((name, value))
            name = None
            start = pos + 1
    tail = _strip(line[start:])
    if tail is None:
        missing = "name" if name is None else f"value for '{name}'"
        raise _Invalid(f"empty {missing} in list '{_show(line)}'")
    pairs.append((tail, None) if name is None else (name, tail))
    return pairs


def _name_is(name: str, base: str) -> bool:
    """``ossl_v3_name_cmp()``: ``base`` itself or ``base.<anything>``."""
    return name == base or name.startswith(base + ".")


_TRUE = frozenset({"TRUE", "true", "Y", "y", "YES", "yes"})
_FALSE = frozenset({"FALSE", "false", "N", "n", "NO", "no"})


def _boolean(name: str, value: str | None) -> bool:
    """``X509V3_get_value_bool()``."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Invalid(f"{name}: '{_show(value or '')}' is not a boolean (TRUE/FALSE, YES/NO, Y/N)")


_INTEGER = re.compile(r"(-?)(?:0[xX](-?)([0-9a-fA-F]+)|(-?)([0-9]+))")


def _integer(name: str, value: str | None) -> int:
    """``s2i_ASN1_INTEGER()``: decimal or ``0x`` hex, optionally negative."""
    match = _INTEGER.fullmatch(value or "")
    if match is None:
        raise _Invalid(f"{name}: '{_show(value or '')}' is not an integer")
    sign, hex_sign, hex_digits, dec_sign, dec_digits = match.groups()
    magnitude = int(hex_digits, 16) if hex_digits is not None else int(dec_digits)
    return -magnitude if sign or hex_sign or dec_sign else magnitude


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _hex(text: str) -> bytes:
    """``OPENSSL_hexstr2buf()``: pairs of hex digits, ``:`` allowed between pairs."""
    out = bytearray()
    pos = 0
    while pos < len(text):
        if text[pos] == ":":
            pos += 1
            continue
        pair = text[pos : pos + 2]
        if len(pair) < 2:
            raise _Invalid(f"odd number of hex digits in '{_show(text)}'")
        if not set(pair) <= _HEX_DIGITS:
            raise _Invalid(f"illegal hex digit in '{_show(text)}'")
        out.append(int(pair, 16))
        pos += 2
    if not out:
        raise _Invalid("empty hex string")
    return bytes(out)


def _raw(value: str) -> bytes:
    """The bytes of a config value as they were in the file."""
    return value.encode("utf-8", "surrogateescape")


def _ascii(what: str, value: str) -> str:
    """Values OpenSSL copies byte for byte into IA5String or VisibleString:
    refused when not ASCII, where OpenSSL would write invalid DER."""
    if not value.isascii():
        raise _Invalid(f"{what}: '{_show(value)}' is not ASCII")
    return value


# --- object names --------------------------------------------------------------------------------

# OpenSSL's short name, long name and OID (crypto/objects/objects.txt) of the
# objects that extension values name: extensions, extended key usages, access
# methods, policy qualifiers and otherName types. Attribute types come from
# cmp.dn; any other object can be given as a dotted OID.
_OBJECTS: tuple[tuple[str, str, str], ...] = (
    ("subjectDirectoryAttributes", "X509v3 Subject Directory Attributes", "2.5.29.9"),
    ("subjectKeyIdentifier", "X509v3 Subject Key Identifier", "2.5.29.14"),
    ("keyUsage", "X509v3 Key Usage", "2.5.29.15"),
    ("privateKeyUsagePeriod", "X509v3 Private Key Usage Period", "2.5.29.16"),
    ("subjectAltName", "X509v3 Subject Alternative Name", "2.5.29.17"),
    ("issuerAltName", "X509v3 Issuer Alternative Name", "2.5.29.18"),
    ("basicConstraints", "X509v3 Basic Constraints", "2.5.29.19"),
    ("crlNumber", "X509v3 CRL Number", "2.5.29.20"),
    ("CRLReason", "X509v3 CRL Reason Code", "2.5.29.21"),
    ("invalidityDate", "Invalidity Date", "2.5.29.24"),
    ("deltaCRL", "X509v3 Delta CRL Indicator", "2.5.29.27"),
    ("issuingDistributionPoint", "X509v3 Issuing Distribution Point", "2.5.29.28"),
    ("certificateIssuer", "X509v3 Certificate Issuer", "2.5.29.29"),
    ("nameConstraints", "X509v3 Name Constraints", "2.5.29.30"),
    ("crlDistributionPoints", "X509v3 CRL Distribution Points", "2.5.29.31"),
    ("certificatePolicies", "X509v3 Certificate Policies", "2.5.29.32"),
    ("anyPolicy", "X509v3 Any Policy", "2.5.29.32.0"),
    ("policyMappings", "X509v3 Policy Mappings", "2.5.29.33"),
    ("authorityKeyIdentifier", "X509v3 Authority Key Identifier", "2.5.29.35"),
    ("policyConstraints", "X509v3 Policy Constraints", "2.5.29.36"),
    ("extendedKeyUsage", "X509v3 Extended Key Usage", "2.5.29.37"),
    ("anyExtendedKeyUsage", "Any Extended Key Usage", "2.5.29.37.0"),
    ("freshestCRL", "X509v3 Freshest CRL", "2.5.29.46"),
    ("inhibitAnyPolicy", "X509v3 Inhibit Any Policy", "2.5.29.54"),
    ("targetInformation", "X509v3 AC Targeting", "2.5.29.55"),
    ("noRevAvail", "X509v3 No Revocation Available", "2.5.29.56"),
    ("authorityInfoAccess", "Authority Information Access", "1.3.6.1.5.5.7.1.1"),
    ("subjectInfoAccess", "Subject Information Access", "1.3.6.1.5.5.7.1.11"),
    ("proxyCertInfo", "Proxy Certificate Information", "1.3.6.1.5.5.7.1.14"),
    ("tlsfeature", "TLS Feature", "1.3.6.1.5.5.7.1.24"),
    ("id-qt-cps", "Policy Qualifier CPS", "1.3.6.1.5.5.7.2.1"),
    ("id-qt-unotice", "Policy Qualifier User Notice", "1.3.6.1.5.5.7.2.2"),
    ("serverAuth", "TLS Web Server Authentication", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "TLS Web Client Authentication", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "Code Signing", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "E-mail Protection", "1.3.6.1.5.5.7.3.4"),
    ("ipsecEndSystem", "IPSec End System", "1.3.6.1.5.5.7.3.5"),
    ("ipsecTunnel", "IPSec Tunnel", "1.3.6.1.5.5.7.3.6"),
    ("ipsecUser", "IPSec User", "1.3.6.1.5.5.7.3.7"),
    ("timeStamping", "Time Stamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "OCSP Signing", "1.3.6.1.5.5.7.3.9"),
    ("DVCS", "dvcs", "1.3.6.1.5.5.7.3.10"),
    ("ipsecIKE", "ipsec Internet Key Exchange", "1.3.6.1.5.5.7.3.17"),
    ("secureShellClient", "SSH Client", "1.3.6.1.5.5.7.3.21"),
    ("secureShellServer", "SSH Server", "1.3.6.1.5.5.7.3.22"),
    ("cmcCA", "CMC Certificate Authority", "1.3.6.1.5.5.7.3.27"),
    ("cmcRA", "CMC Registration Authority", "1.3.6.1.5.5.7.3.28"),
    ("id-on-permanentIdentifier", "Permanent Identifier", "1.3.6.1.5.5.7.8.3"),
    ("id-on-xmppAddr", "XmppAddr", "1.3.6.1.5.5.7.8.5"),
    ("id-on-dnsSRV", "SRVName", "1.3.6.1.5.5.7.8.7"),
    ("id-on-SmtpUTF8Mailbox", "Smtp UTF8 Mailbox", "1.3.6.1.5.5.7.8.9"),
    ("OCSP", "OCSP", "1.3.6.1.5.5.7.48.1"),
    ("noCheck", "OCSP No Check", "1.3.6.1.5.5.7.48.1.5"),
    ("caIssuers", "CA Issuers", "1.3.6.1.5.5.7.48.2"),
    ("ad_timestamping", "AD Time Stamping", "1.3.6.1.5.5.7.48.3"),
    ("AD_DVCS", "ad dvcs", "1.3.6.1.5.5.7.48.4"),
    ("caRepository", "CA Repository", "1.3.6.1.5.5.7.48.5"),
    ("msCodeInd", "Microsoft Individual Code Signing", "1.3.6.1.4.1.311.2.1.21"),
    ("msCodeCom", "Microsoft Commercial Code Signing", "1.3.6.1.4.1.311.2.1.22"),
    ("msCTLSign", "Microsoft Trust List Signing", "1.3.6.1.4.1.311.10.3.1"),
    ("msSGC", "Microsoft Server Gated Crypto", "1.3.6.1.4.1.311.10.3.3"),
    ("msEFS", "Microsoft Encrypted File System", "1.3.6.1.4.1.311.10.3.4"),
    ("msSmartcardLogin", "Microsoft Smartcard Login", "1.3.6.1.4.1.311.20.2.2"),
    ("msUPN", "Microsoft User Principal Name", "1.3.6.1.4.1.311.20.2.3"),
    ("ct_precert_scts", "CT Precertificate SCTs", "1.3.6.1.4.1.11129.2.4.2"),
    ("ct_precert_poison", "CT Precertificate Poison", "1.3.6.1.4.1.11129.2.4.3"),
    ("nsCertType", "Netscape Cert Type", "2.16.840.1.113730.1.1"),
    ("nsBaseUrl", "Netscape Base Url", "2.16.840.1.113730.1.2"),
    ("nsRevocationUrl", "Netscape Revocation Url", "2.16.840.1.113730.1.3"),
    ("nsCaRevocationUrl", "Netscape CA Revocation Url", "2.16.840.1.113730.1.4"),
    ("nsRenewalUrl", "Netscape Renewal Url", "2.16.840.1.113730.1.7"),
    ("nsCaPolicyUrl", "Netscape CA Policy Url", "2.16.840.1.113730.1.8"),
    ("nsSslServerName", "Netscape SSL Server Name", "2.16.840.1.113730.1.12"),
    ("nsComment", "Netscape Comment", "2.16.840.1.113730.1.13"),
    ("nsSGC", "Netscape Server Gated Crypto", "2.16.840.1.113730.4.1"),
)

# OBJ_txt2obj(): short names first, then long names.
_OBJECT_BY_NAME: dict[str, str] = {ln: oid for _, ln, oid in _OBJECTS}
_OBJECT_BY_NAME.update({sn: oid for sn, _, oid in _OBJECTS})


def object_identifier(text: str) -> x509.ObjectIdentifier | None:
    """The OID ``text`` names as OpenSSL's ``OBJ_txt2obj(text, 0)`` resolves
    it: a short or long name this module knows (extensions, extended key
    usages, access methods, policy qualifiers, otherName types, name
    attributes) or a dotted OID; ``None`` when it names nothing."""
    dotted = _OBJECT_BY_NAME.get(text)
    if dotted is not None:
        return x509.ObjectIdentifier(dotted)
    return attribute_oid(text)


def _object(what: str, text: str | None) -> x509.ObjectIdentifier:
    oid = object_identifier(text or "")
    if oid is None:
        raise _Invalid(
            f"{what}: unknown object name '{_show(text or '')}' (give it as a dotted OID)"
        )
    return oid


# --- DER for the values cryptography cannot express as OpenSSL encodes them ----------------------


def _der(tag: int, content: bytes) -> bytes:
    """The element with identifier octet ``tag`` around ``content`` (framed by the native core)."""
    return _native.der_element(tag, content)


def _der_integer(value: int, tag: int = 0x02) -> bytes:
    """An INTEGER, or with ``tag`` an IMPLICIT-tagged one (same content)."""
    der = _native.encode_as("INTEGER", value)
    return der if tag == 0x02 else bytes((tag,)) + der[1:]


def _der_oid(oid: x509.ObjectIdentifier) -> bytes:
    return _native.encode_as("ObjectIdentifier", oid.dotted_string)


def _der_named_bits(bits: set[int]) -> bytes:
    """A BIT STRING with named bits: trailing zero bits left out (X.690 11.2.2)."""
    if not bits:
        return _der(0x03, b"\x00")
    top = max(bits)
    data = bytearray(top // 8 + 1)
    for bit in bits:
        data[bit // 8] |= 0x80 >> (bit % 8)
    return _der(0x03, bytes([7 - top % 8]) + bytes(data))


def _der_sequence(items: Sequence[bytes]) -> bytes:
    return _der(0x30, b"".join(items))


def _unrecognized(oid: x509.ObjectIdentifier, der: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(oid, der)


# --- names ---------------------------------------------------------------------------------------

_PRINTABLE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")

# OpenSSL's ASN1_STRING_TABLE (crypto/asn1/a_strnid.c): the string type and
# size bounds of the attributes it lists; any other attribute is a UTF8String
# of any size (the default string mask "utf8only").
_ATTRIBUTE_STRINGS: dict[str, tuple[_ASN1Type, int, int]] = {
    NameOID.COMMON_NAME.dotted_string: (_ASN1Type.UTF8String, 1, 64),
    NameOID.COUNTRY_NAME.dotted_string: (_ASN1Type.PrintableString, 2, 2),
    NameOID.LOCALITY_NAME.dotted_string: (_ASN1Type.UTF8String, 1, 128),
    NameOID.STATE_OR_PROVINCE_NAME.dotted_string: (_ASN1Type.UTF8String, 1, 128),
    NameOID.ORGANIZATION_NAME.dotted_string: (_ASN1Type.UTF8String, 1, 64),
    NameOID.ORGANIZATIONAL_UNIT_NAME.dotted_string: (_ASN1Type.UTF8String, 1, 64),
    NameOID.EMAIL_ADDRESS.dotted_string: (_ASN1Type.IA5String, 1, 128),
    NameOID.GIVEN_NAME.dotted_string: (_ASN1Type.UTF8String, 1, 32768),
    NameOID.SURNAME.dotted_string: (_ASN1Type.UTF8String, 1, 32768),
    NameOID.INITIALS.dotted_string: (_ASN1Type.UTF8String, 1, 32768),
    "2.5.4.41": (_ASN1Type.UTF8String, 1, 32768),  # name
    NameOID.SERIAL_NUMBER.dotted_string: (_ASN1Type.PrintableString, 1, 64),
    NameOID.DN_QUALIFIER.dotted_string: (_ASN1Type.PrintableString, 0, -1),
    NameOID.DOMAIN_COMPONENT.dotted_string: (_ASN1Type.IA5String, 1, -1),
    NameOID.JURISDICTION_COUNTRY_NAME.dotted_string: (_ASN1Type.PrintableString, 2, 2),
    "1.2.840.113549.1.9.2": (_ASN1Type.UTF8String, 1, -1),  # unstructuredName
    "1.2.840.113549.1.9.8": (_ASN1Type.UTF8String, 1, -1),  # unstructuredAddress
}


def _name_attribute(key: str, oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    """One attribute of a ``dirName`` section, typed as OpenSSL's
    ``X509_NAME_add_entry_by_txt(..., MBSTRING_ASC, ...)`` types it. OpenSSL
    reads the bytes as Latin-1 there; non-ASCII values are refused instead
    of being garbled."""
    string_type, low, high = _ATTRIBUTE_STRINGS.get(
        oid.dotted_string, (_ASN1Type.UTF8String, 0, -1)
    )
    if not value.isascii():
        raise _Invalid(f"{key}: '{_show(value)}' is not ASCII (OpenSSL reads it as Latin-1)")
    if len(value) < low:
        raise _Invalid(f"{key}: '{_show(value)}' is shorter than {low} characters")
    if 0 <= high < len(value):
        raise _Invalid(f"{key}: value is longer than {high} characters")
    if string_type is _ASN1Type.PrintableString and not set(value) <= _PRINTABLE:
        raise _Invalid(f"{key}: '{_show(value)}' has characters a PrintableString cannot hold")
    return x509.NameAttribute(oid, value, _type=string_type)


def _attributes_from_section(
    ctx: _Context, section: str
) -> list[tuple[x509.NameAttribute[str], bool]]:
    """``X509V3_NAME_from_section()``: ``type = value`` lines; anything up to a
    first ``.``, ``:`` or ``,`` of the type is dropped (so ``1.OU`` is ``OU``)
    and a leading ``+`` adds the attribute to the previous RDN. Returns each
    attribute with whether it joins the previous RDN."""
    result: list[tuple[x509.NameAttribute[str], bool]] = []
    with _inside(section):
        for key, value in ctx.section(section):
            type_name = key
            for pos, char in enumerate(key):
                if char in ".:,":
                    if pos + 1 < len(key):
                        type_name = key[pos + 1 :]
                    break
            joins = type_name.startswith("+")
            if joins:
                type_name = type_name[1:]
            oid = _object(key, type_name)
            result.append((_name_attribute(key, oid, value), joins and bool(result)))
    return result


def _name_from_section(ctx: _Context, section: str) -> x509.Name:
    rdns: list[list[x509.NameAttribute[str]]] = []
    for attribute, joins in _attributes_from_section(ctx, section):
        if joins:
            rdns[-1].append(attribute)
        else:
            rdns.append([attribute])
    try:
        return x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])
    except ValueError as exc:  # the same attribute twice in one RDN
        raise _Invalid(f"[{_show(section)}] {exc}") from None


# --- IP addresses --------------------------------------------------------------------------------

_IPV4 = re.compile(r"\s*([+-]?\d+)\.\s*([+-]?\d+)\.\s*([+-]?\d+)\.\s*([+-]?\d+)(?:\s.*)?", re.S)


def _ip_bytes(text: str) -> bytes | None:
    """``ossl_a2i_ipadd()``: IPv6 when there is a ``:``, else dotted IPv4."""
    if ":" in text:
        if "%" in text:
            return None
        try:
            return ipaddress.IPv6Address(text).packed
        except ValueError:
            return None
    match = _IPV4.fullmatch(text)
    if match is None:
        return None
    parts = [int(part) for part in match.groups()]
    if not all(0 <= part <= 255 for part in parts):
        return None
    return bytes(parts)


def _ip_address(name: str, value: str) -> x509.IPAddress:
    packed = _ip_bytes(value)
    if packed is None:
        raise _Invalid(f"{name}: '{_show(value)}' is not an IPv4 or IPv6 address")
    return x509.IPAddress(ipaddress.ip_address(packed))


def _ip_network(name: str, value: str) -> x509.IPAddress:
    """``a2i_IPADDRESS_NC()``: ``address/mask`` with the mask written as an
    address. Only contiguous masks without host bits are accepted (OpenSSL
    takes any bytes)."""
    address, slash, mask = value.partition("/")
    packed, packed_mask = _ip_bytes(address), _ip_bytes(mask)
    if not slash or packed is None or packed_mask is None or len(packed) != len(packed_mask):
        raise _Invalid(f"{name}: '{_show(value)}' is not an address/mask pair")
    bits = int.from_bytes(packed_mask, "big")
    width = len(packed_mask) * 8
    prefix = bin(bits).count("1")
    if bits != ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1):
        raise _Invalid(f"{name}: mask '{_show(mask)}' is not contiguous")
    try:
        network = ipaddress.ip_network((packed, prefix))
    except ValueError:
        raise _Invalid(f"{name}: '{_show(value)}' has host bits set") from None
    return x509.IPAddress(network)


# --- the generic ASN.1 syntax (ASN1_generate_nconf) ----------------------------------------------

_ASN1_TYPES: dict[str, int] = {
    "BOOL": 0x01, "BOOLEAN": 0x01, "NULL": 0x05, "INT": 0x02, "INTEGER": 0x02,
    "ENUM": 0x0A, "ENUMERATED": 0x0A, "OID": 0x06, "OBJECT": 0x06,
    "UTCTIME": 0x17, "UTC": 0x17, "GENERALIZEDTIME": 0x18, "GENTIME": 0x18,
    "OCT": 0x04, "OCTETSTRING": 0x04, "BITSTR": 0x03, "BITSTRING": 0x03,
    "UNIVERSALSTRING": 0x1C, "UNIV": 0x1C, "IA5": 0x16, "IA5STRING": 0x16,
    "UTF8": 0x0C, "UTF8STRING": 0x0C, "BMP": 0x1E, "BMPSTRING": 0x1E,
    "VISIBLESTRING": 0x1A, "VISIBLE": 0x1A, "PRINTABLESTRING": 0x13, "PRINTABLE": 0x13,
    "T61": 0x14, "T61STRING": 0x14, "TELETEXSTRING": 0x14,
    "GENERALSTRING": 0x1B, "GENSTR": 0x1B, "NUMERIC": 0x12, "NUMERICSTRING": 0x12,
    "SEQUENCE": 0x30, "SEQ": 0x30, "SET": 0x31,
}  # fmt: skip
_ASN1_UNSUPPORTED = frozenset(
    {"EXP", "EXPLICIT", "IMP", "IMPLICIT", "OCTWRAP", "SEQWRAP", "SETWRAP", "BITWRAP"}
)
_ASN1_FORMATS = ("ASCII", "UTF8", "HEX", "BITLIST")
#: ASN1_GEN_SEQ_MAX_DEPTH
_ASN1_MAX_DEPTH = 50
_UTC_TIME = re.compile(r"\d{10}(\d{2})?(Z|[+-]\d{4})")
_GENERALIZED_TIME = re.compile(r"\d{12}(\d{2}(\.\d+)?)?(Z|[+-]\d{4})?")


def _asn1_generate(ctx: _Context, text: str, depth: int = 0) -> bytes:
    """The DER of ``ASN1_generate_v3(text)``: ``[FORMAT:f,]TYPE[:value]``
    where the value runs to the end of the text. Primitive types, SEQUENCE
    and SET (from a section) are supported; the tagging modifiers
    (EXPLICIT, IMPLICIT, *WRAP) are not: give such values as ``DER:``."""
    form = "ASCII"
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
        comma = text.find(",", pos)
        element = text[pos : len(text) if comma < 0 else comma].rstrip(_SPACE)
        if not element:
            raise _Invalid(f"ASN1 '{_show(text)}': empty element")
        colon = element.find(":")
        tag_name = element if colon < 0 else element[:colon]
        value = None if colon < 0 else text[pos + colon + 1 :]
        key = tag_name.upper()
        if key in _ASN1_TYPES:
            if value is None and pos + len(element) < len(text):
                raise _Invalid(f"ASN1 '{_show(text)}': {tag_name} without a value")
            return _asn1_value(ctx, tag_name, _ASN1_TYPES[key], value, form, depth)
        if key in ("FORM", "FORMAT"):
            form = next((f for f in _ASN1_FORMATS if (value or "").startswith(f)), "")
            if not form:
                raise _Invalid(f"ASN1 '{_show(text)}': unknown format (ASCII, UTF8, HEX, BITLIST)")
        elif key in _ASN1_UNSUPPORTED:
            raise _Invalid(
                f"ASN1 modifier {tag_name} is not supported by cmpkit; give the value as DER:<hex>"
            )
        else:
            raise _Invalid(f"ASN1 '{_show(text)}': unknown type '{_show(tag_name)}'")
        if comma < 0:
            raise _Invalid(f"ASN1 '{_show(text)}': no type given")
        pos = comma + 1


def _asn1_value(
    ctx: _Context, name: str, tag: int, value: str | None, form: str, depth: int
) -> bytes:
    text = value or ""
    if tag in (0x30, 0x31):
        if depth >= _ASN1_MAX_DEPTH:
            raise _Invalid(f"ASN1 {name}: nested deeper than {_ASN1_MAX_DEPTH}")
        items: list[bytes] = []
        if value is not None:
            with _inside(value):
                items = [_asn1_generate(ctx, v, depth + 1) for _, v in ctx.section(value)]
        # DER orders a SET OF by the encodings of its elements.
        return _der(tag, b"".join(sorted(items) if tag == 0x31 else items))
    if tag == 0x05:
        if text:
            raise _Invalid(f"ASN1 NULL takes no value, not '{_show(text)}'")
        return _der(tag, b"")
    if tag in (0x01, 0x02, 0x0A, 0x06, 0x17, 0x18) and form != "ASCII":
        raise _Invalid(f"ASN1 {name}: format must be ASCII")
    if tag == 0x01:
        return _der(tag, b"\xff" if _boolean(name, text) else b"\x00")
    if tag in (0x02, 0x0A):
        return _der_integer(_integer(name, text), tag)
    if tag == 0x06:
        return _der_oid(_object(name, text))
    if tag in (0x17, 0x18):
        return _der(tag, _asn1_time(name, tag, text))
    if tag in (0x03, 0x04):
        return _asn1_bits_or_octets(name, tag, text, form)
    return _der(tag, _asn1_string(name, tag, text, form))


def _asn1_time(name: str, tag: int, text: str) -> bytes:
    """``ASN1_TIME_check()``, for the usual forms: the digits must make a date."""
    pattern, year_digits = (_UTC_TIME, 2) if tag == 0x17 else (_GENERALIZED_TIME, 4)
    if pattern.fullmatch(text) is None:
        raise _Invalid(f"ASN1 {name}: '{_show(text)}' is not a valid time")
    digits = text[: year_digits + 8]
    try:
        datetime.datetime.strptime(("20" if year_digits == 2 else "") + digits, "%Y%m%d%H%M")
    except ValueError:
        raise _Invalid(f"ASN1 {name}: '{_show(text)}' is not a valid time") from None
    return text.encode("ascii")


def _asn1_bits_or_octets(name: str, tag: int, text: str, form: str) -> bytes:
    if form == "HEX":
        data = _hex(text)
    elif form == "ASCII":
        data = _raw(text)
    elif form == "BITLIST" and tag == 0x03:
        bits: set[int] = set()
        for item in text.split(","):
            item = item.strip(_SPACE)
            if not (item.isascii() and item.isdigit()):
                raise _Invalid(f"ASN1 {name}: '{_show(item)}' is not a bit number")
            bits.add(int(item))
        return _der_named_bits(bits)
    else:
        raise _Invalid(f"ASN1 {name}: format {form} is not allowed")
    return _der(tag, b"\x00" + data if tag == 0x03 else data)


def _asn1_string(name: str, tag: int, text: str, form: str) -> bytes:
    """``ASN1_mbstring_copy()`` into one string type. With the ASCII format
    OpenSSL reads the bytes as Latin-1; non-ASCII input is refused there
    (use ``FORMAT:UTF8``)."""
    if form == "UTF8":
        try:
            chars = _raw(text).decode("utf-8")
        except UnicodeDecodeError:
            raise _Invalid(f"ASN1 {name}: value is not valid UTF-8") from None
    elif form == "ASCII":
        if not text.isascii():
            raise _Invalid(f"ASN1 {name}: '{_show(text)}' is not ASCII; use FORMAT:UTF8")
        chars = text
    else:
        raise _Invalid(f"ASN1 {name}: format {form} is not allowed for strings")
    allowed: Callable[[str], bool] = {
        0x12: lambda c: (c.isdigit() and c.isascii()) or c == " ",
        0x13: lambda c: c in _PRINTABLE,
        0x16: lambda c: c.isascii(),
        0x14: lambda c: ord(c) <= 0xFF,
        0x1E: lambda c: ord(c) <= 0xFFFF,
    }.get(tag, lambda c: not 0xD800 <= ord(c) <= 0xDFFF)
    if not all(allowed(c) for c in chars):
        raise _Invalid(f"ASN1 {name}: '{_show(text)}' has characters a {name} cannot hold")
    if tag == 0x14:
        return chars.encode("latin-1")
    if tag == 0x1E:
        return chars.encode("utf-16-be")
    if tag == 0x1C:
        return chars.encode("utf-32-be")
    return chars.encode("utf-8")


# --- general names -------------------------------------------------------------------------------

_GENERAL_NAME_TYPES = ("email", "URI", "DNS", "RID", "IP", "dirName", "otherName")


def _general_name(
    ctx: _Context, name: str, value: str | None, *, nc: bool = False
) -> x509.GeneralName:
    """``v2i_GENERAL_NAME_ex()``: ``type:value`` (``type.N = value`` in a
    section). email, URI and DNS are IA5Strings and must be ASCII; ``nc``
    reads IP as address/mask (name constraints)."""
    if value is None:
        raise _Invalid(f"'{_show(name)}' needs a value ({_show(name)}:value)")
    kind = next((k for k in _GENERAL_NAME_TYPES if _name_is(name, k)), None)
    if kind is None:
        raise _Invalid(
            f"{_show(name)}: unsupported general name type; expected email, URI, DNS, RID,"
            " IP, dirName or otherName, each optionally with a .N suffix"
        )
    if kind in ("email", "URI", "DNS"):
        text = _ascii(name, value)
        try:
            if kind == "email":
                return x509.RFC822Name(text)
            if kind == "URI":
                return x509.UniformResourceIdentifier(text)
            return x509.DNSName(text)
        except ValueError as exc:
            raise _Invalid(f"{name}: '{_show(value)}': {exc}") from None
    if kind == "RID":
        return x509.RegisteredID(_object(name, value))
    if kind == "IP":
        return _ip_network(name, value) if nc else _ip_address(name, value)
    if kind == "dirName":
        return x509.DirectoryName(_name_from_section(ctx, value))
    type_text, semicolon, generic = value.partition(";")
    if not semicolon:
        raise _Invalid(f"{name}: '{_show(value)}' is not OID;TYPE:value")
    return x509.OtherName(_object(name, type_text), _asn1_generate(ctx, generic))


def _general_names(ctx: _Context, pairs: Sequence[_Pair]) -> list[x509.GeneralName]:
    return [_general_name(ctx, name, value) for name, value in pairs]


def _general_names_from(ctx: _Context, text: str) -> list[x509.GeneralName]:
    """``gnames_from_sectname()``: ``@section`` or a ``type:value, ...`` list."""
    if text.startswith("@"):
        with _inside(text[1:]):
            return _general_names(ctx, ctx.section(text[1:]))
    return _general_names(ctx, _parse_list(text))


def _copy_email(ctx: _Context) -> list[x509.GeneralName]:
    """``email:copy``: the subject's emailAddress attributes."""
    if ctx.subject is None:
        raise _Invalid("email:copy needs the subject name (no subject details)")
    return [
        x509.RFC822Name(str(attribute.value))
        for attribute in ctx.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    ]


def _alt_names(ctx: _Context, pairs: Sequence[_Pair], copy_kind: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for name, value in pairs:
        if copy_kind == "email" and _name_is(name, "email") and value in ("copy", "move"):
            if value == "move":
                raise _Invalid("email:move is not supported: it would change the subject")
            names.extend(_copy_email(ctx))
        elif copy_kind == "issuer" and _name_is(name, "issuer") and value == "copy":
            names.extend(_copy_issuer(ctx))
        else:
            names.append(_general_name(ctx, name, value))
    return names


def _copy_issuer(ctx: _Context) -> list[x509.GeneralName]:
    """``issuer:copy``: the subjectAltName entries of the issuer certificate."""
    if ctx.issuer_certificate is None:
        raise _Invalid("issuer:copy needs the issuer certificate (no issuer details)")
    try:
        sans = ctx.issuer_certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
    except x509.ExtensionNotFound:
        return []
    return list(sans.value)


# --- the extensions ------------------------------------------------------------------------------

_Value = Union[x509.ExtensionType, None]


def _basic_constraints(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    ca = False
    pathlen: int | None = None
    for name, value in pairs:
        if name == "CA":
            ca = _boolean(name, value)
        elif name == "pathlen":
            pathlen = _integer(name, value)
        else:
            raise _Invalid(f"unknown field '{_show(name)}' (expected CA or pathlen)")
    if pathlen is None or (ca and 0 <= pathlen < 1 << 63):
        return x509.BasicConstraints(ca, pathlen)
    # OpenSSL also writes a pathlen for CA:FALSE, and negative ones.
    der = _der_sequence([_der(0x01, b"\xff")] * ca + [_der_integer(pathlen)])
    return _unrecognized(ExtensionOID.BASIC_CONSTRAINTS, der)


_KEY_USAGE_BITS: tuple[tuple[str, str], ...] = (
    ("digitalSignature", "Digital Signature"),
    ("nonRepudiation", "Non Repudiation"),
    ("keyEncipherment", "Key Encipherment"),
    ("dataEncipherment", "Data Encipherment"),
    ("keyAgreement", "Key Agreement"),
    ("keyCertSign", "Certificate Sign"),
    ("cRLSign", "CRL Sign"),
    ("encipherOnly", "Encipher Only"),
    ("decipherOnly", "Decipher Only"),
)
_NS_CERT_TYPE_BITS: tuple[tuple[str, str], ...] = (
    ("client", "SSL Client"),
    ("server", "SSL Server"),
    ("email", "S/MIME"),
    ("objsign", "Object Signing"),
    ("reserved", "Unused"),
    ("sslCA", "SSL CA"),
    ("emailCA", "S/MIME CA"),
    ("objCA", "Object Signing CA"),
)


def _bits(pairs: Sequence[_Pair], table: Sequence[tuple[str, str]]) -> set[int]:
    """``v2i_ASN1_BIT_STRING()``: each name (short or long) sets its bit."""
    bits: set[int] = set()
    for name, _ in pairs:
        bit = next((i for i, names in enumerate(table) if name in names), None)
        if bit is None:
            known = ", ".join(short for short, _ in table)
            raise _Invalid(f"unknown bit name '{_show(name)}' (expected one of {known})")
        bits.add(bit)
    return bits


def _key_usage(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    bits = _bits(pairs, _KEY_USAGE_BITS)
    flags = [i in bits for i in range(9)]
    if flags[4] or not (flags[7] or flags[8]):
        return x509.KeyUsage(*flags)
    # encipherOnly/decipherOnly without keyAgreement: cryptography refuses it.
    return _unrecognized(ExtensionOID.KEY_USAGE, _der_named_bits(bits))


def _ns_cert_type(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    return _unrecognized(_NS_CERT_TYPE, _der_named_bits(_bits(pairs, _NS_CERT_TYPE_BITS)))


def _extended_key_usage(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    return x509.ExtendedKeyUsage([_object(name, value or name) for name, value in pairs])


def _subject_key_identifier(ctx: _Context, value: str) -> _Value:
    """``hash`` (RFC 5280 method 1, needs ``public_key``), ``none`` (no
    extension: OpenSSL 3.0 writes an empty one instead) or hex bytes."""
    if value == "none":
        return None
    if value == "hash":
        if ctx.public_key is None:
            raise _Invalid("hash needs the subject's public key (no subject details)")
        return x509.SubjectKeyIdentifier.from_public_key(ctx.public_key)
    return x509.SubjectKeyIdentifier(_hex(value))


def _authority_key_identifier(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    """``keyid[:always]``, ``issuer[:always]`` from ``issuer_certificate`` as
    ``v2i_AUTHORITY_KEYID()`` takes them for a certificate that issuer signs:
    keyid copies its subjectKeyIdentifier (required unless issuer is also
    given), issuer its issuer name and serial number (when always, or when
    there is no key identifier). ``none``: no extension (OpenSSL 3.0 writes
    an empty one instead)."""
    if len(pairs) == 1 and pairs[0][0] == "none":
        return None
    keyid = issuer = 0
    for name, option in pairs:
        if option is not None and option != "always":
            raise _Invalid(f"unknown option '{_show(option)}' of {_show(name)} (expected always)")
        level = 2 if option is not None else 1
        if name == "keyid" and not keyid:
            keyid = level
        elif name == "issuer" and not issuer:
            issuer = level
        else:
            raise _Invalid(f"unexpected value '{_show(name)}' (expected keyid, issuer or none)")
    certificate = ctx.issuer_certificate
    if certificate is None:
        raise _Invalid("needs the issuer certificate (no issuer certificate)")
    key_id: bytes | None = None
    if keyid:
        try:
            key_id = certificate.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value.digest
        except x509.ExtensionNotFound:
            # keyid:always, or keyid with no issuer to fall back to.
            if keyid == 2 or not issuer:
                raise _Invalid("the issuer certificate has no subjectKeyIdentifier") from None
    if issuer == 2 or (issuer == 1 and key_id is None):
        return x509.AuthorityKeyIdentifier(
            key_id, [x509.DirectoryName(certificate.issuer)], certificate.serial_number
        )
    return x509.AuthorityKeyIdentifier(key_id, None, None)


def _subject_alt_name(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    return x509.SubjectAlternativeName(_alt_names(ctx, pairs, "email"))


def _issuer_alt_name(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    return x509.IssuerAlternativeName(_alt_names(ctx, pairs, "issuer"))


def _access_descriptions(ctx: _Context, pairs: Sequence[_Pair]) -> list[x509.AccessDescription]:
    """``method;type:location``, e.g. ``OCSP;URI:http://ocsp.example/``."""
    result = []
    for name, value in pairs:
        method, semicolon, kind = name.partition(";")
        if not semicolon:
            raise _Invalid(f"'{_show(name)}' is not method;type (e.g. OCSP;URI:http://...)")
        location = _general_name(ctx, kind, value)
        result.append(x509.AccessDescription(_object(name, method), location))
    return result


def _authority_info_access(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    return x509.AuthorityInformationAccess(_access_descriptions(ctx, pairs))


def _subject_info_access(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    return x509.SubjectInformationAccess(_access_descriptions(ctx, pairs))


_REASONS: dict[str, x509.ReasonFlags] = {
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "CACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "AACompromise": x509.ReasonFlags.aa_compromise,
}


def _distribution_point(ctx: _Context, section: str) -> x509.DistributionPoint:
    """``crldp_from_section()``: fullname, relativename, reasons, CRLissuer;
    other keys are ignored, as OpenSSL ignores them."""
    full_name: list[x509.GeneralName] | None = None
    relative_name: x509.RelativeDistinguishedName | None = None
    reasons: frozenset[x509.ReasonFlags] | None = None
    crl_issuer: list[x509.GeneralName] | None = None
    with _inside(section):
        for name, value in ctx.section(section):
            if name.startswith("fullname") or name == "relativename":
                if full_name is not None or relative_name is not None:
                    raise _Invalid(f"{name}: the distribution point name is already set")
                if name == "relativename":
                    relative_name = _relative_name(ctx, value)
                else:
                    full_name = _general_names_from(ctx, value)
            elif name == "reasons":
                reasons = frozenset(_reason(item) for item, _ in _parse_list(value))
            elif name == "CRLissuer":
                crl_issuer = _general_names_from(ctx, value)
        try:
            return x509.DistributionPoint(full_name, relative_name, reasons, crl_issuer)
        except ValueError as exc:
            raise _Invalid(str(exc)) from None


def _reason(name: str) -> x509.ReasonFlags:
    reason = _REASONS.get(name)
    if reason is None:
        # OpenSSL also takes "unused" (bit 0), which is no reason at all.
        raise _Invalid(f"unknown reason '{_show(name)}' (expected one of {', '.join(_REASONS)})")
    return reason


def _relative_name(ctx: _Context, section: str) -> x509.RelativeDistinguishedName:
    attributes = _attributes_from_section(ctx, section)
    if not attributes:
        raise _Invalid(f"relativename: section [{_show(section)}] is empty")
    if not all(joins for _, joins in attributes[1:]):
        raise _Invalid(f"relativename: [{_show(section)}] must be one RDN (use +type = value)")
    try:
        return x509.RelativeDistinguishedName([attribute for attribute, _ in attributes])
    except ValueError as exc:
        raise _Invalid(f"relativename: {exc}") from None


def _distribution_points(ctx: _Context, pairs: Sequence[_Pair]) -> list[x509.DistributionPoint]:
    """``v2i_crld()``: each ``type:value`` is a distribution point with that
    full name; each bare name is a section describing one."""
    points = []
    for name, value in pairs:
        if value is None:
            points.append(_distribution_point(ctx, name))
        else:
            points.append(
                x509.DistributionPoint([_general_name(ctx, name, value)], None, None, None)
            )
    return points


def _crl_distribution_points(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    return x509.CRLDistributionPoints(_distribution_points(ctx, pairs))


def _freshest_crl(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    return x509.FreshestCRL(_distribution_points(ctx, pairs))


@dataclass(frozen=True)
class _Notice:
    """A UserNotice as OpenSSL encodes it: (tag, content) strings."""

    organization: tuple[int, bytes] | None
    numbers: tuple[int, ...] | None
    text: tuple[int, bytes] | None

    def der(self) -> bytes:
        parts = []
        if self.numbers is not None and self.organization is not None:
            numbers = _der_sequence([_der_integer(n) for n in self.numbers])
            parts.append(_der_sequence([_der(*self.organization), numbers]))
        if self.text is not None:
            parts.append(_der(*self.text))
        return _der_sequence(parts)


_Qualifier = Union[str, _Notice]
_CPS_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.2.1")
_UNOTICE_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.2.2")
_VISIBLE, _UTF8, _BMP, _IA5 = 0x1A, 0x0C, 0x1E, 0x16
_DISPLAY_TEXT_TAGS = {
    "UTF8": _UTF8, "UTF8String": _UTF8, "BMP": _BMP, "BMPSTRING": _BMP,
    "VISIBLE": _VISIBLE, "VISIBLESTRING": _VISIBLE,
}  # fmt: skip


def _certificate_policies(ctx: _Context, value: str) -> _Value:
    """``r2i_certpol()``: policy OIDs and ``@section``s, ``ia5org`` switching
    the organization of later user notices to IA5String."""
    policies: list[tuple[x509.ObjectIdentifier, list[_Qualifier] | None]] = []
    ia5org = False
    for name, item_value in _parse_list(value):
        if item_value is not None:
            raise _Invalid(f"'{_show(name)}:{_show(item_value)}' is not a policy OID or @section")
        if name == "ia5org":
            ia5org = True
        elif name.startswith("@"):
            with _inside(name[1:]):
                policies.append(_policy_section(ctx, ctx.section(name[1:]), ia5org))
        else:
            policies.append((_object("policy", name), None))
    if all(q is None or all(isinstance(x, str) for x in q) for _, q in policies):
        return x509.CertificatePolicies(
            [
                x509.PolicyInformation(oid, None if q is None else [str(x) for x in q])
                for oid, q in policies
            ]
        )
    # cryptography writes user notice texts as UTF8String; OpenSSL as
    # VisibleString unless told otherwise.
    return _unrecognized(
        ExtensionOID.CERTIFICATE_POLICIES,
        _der_sequence([_policy_information_der(oid, q) for oid, q in policies]),
    )


def _policy_information_der(
    oid: x509.ObjectIdentifier, qualifiers: list[_Qualifier] | None
) -> bytes:
    items = [_der_oid(oid)]
    if qualifiers is not None:
        infos = [
            _der_sequence([_der_oid(_CPS_OID), _der(_IA5, q.encode("ascii"))])
            if isinstance(q, str)
            else _der_sequence([_der_oid(_UNOTICE_OID), q.der()])
            for q in qualifiers
        ]
        items.append(_der_sequence(infos))
    return _der_sequence(items)


def _policy_section(
    ctx: _Context, entries: list[tuple[str, str]], ia5org: bool
) -> tuple[x509.ObjectIdentifier, list[_Qualifier] | None]:
    """``policy_section()``: policyIdentifier, CPS.N, userNotice.N = @section."""
    oid: x509.ObjectIdentifier | None = None
    qualifiers: list[_Qualifier] | None = None
    for name, value in entries:
        if name == "policyIdentifier":
            oid = _object(name, value)
        elif _name_is(name, "CPS"):
            qualifiers = [*(qualifiers or []), _ascii(name, value)]
        elif _name_is(name, "userNotice"):
            if not value.startswith("@"):
                raise _Invalid(f"{name}: expected a section name (@section)")
            with _inside(value[1:]):
                notice = _notice_section(ctx.section(value[1:]), ia5org)
            qualifiers = [*(qualifiers or []), notice]
        else:
            raise _Invalid(
                f"unknown key '{_show(name)}' (expected policyIdentifier, CPS.N, userNotice.N)"
            )
    if oid is None:
        raise _Invalid("no policyIdentifier")
    return oid, qualifiers


def _notice_section(entries: list[tuple[str, str]], ia5org: bool) -> _Notice:
    """``notice_section()``: explicitText ([UTF8:|BMP:|VISIBLE:]text),
    organization, noticeNumbers. OpenSSL 3.0 copies BMP text bytes without
    converting them and writes a broken organization when only noticeNumbers
    is given; here BMP text is UTF-16 and numbers need an organization."""
    organization: tuple[int, bytes] | None = None
    numbers: tuple[int, ...] | None = None
    text: tuple[int, bytes] | None = None
    for name, value in entries:
        if name == "explicitText":
            tag = _VISIBLE
            prefix, colon, rest = value.partition(":")
            if colon and prefix in _DISPLAY_TEXT_TAGS:
                tag, value = _DISPLAY_TEXT_TAGS[prefix], rest
            text = (tag, _display_text(name, tag, value))
        elif name == "organization":
            organization = (_IA5 if ia5org else _VISIBLE, _ascii(name, value).encode("ascii"))
        elif name == "noticeNumbers":
            numbers = (*(numbers or ()), *(_integer(name, n) for n, _ in _parse_list(value)))
        else:
            raise _Invalid(
                f"unknown key '{_show(name)}' (expected explicitText, organization, noticeNumbers)"
            )
    if numbers is not None and organization is None:
        raise _Invalid("noticeNumbers needs an organization")
    if organization is not None and numbers is None:
        numbers = ()
    return _Notice(organization, numbers, text)


def _display_text(name: str, tag: int, value: str) -> bytes:
    if tag == _VISIBLE:
        return _ascii(name, value).encode("ascii")
    try:
        return _raw(value).decode("utf-8").encode("utf-16-be" if tag == _BMP else "utf-8")
    except UnicodeError:
        raise _Invalid(f"{name}: '{_show(value)}' is not valid UTF-8 (or not BMP)") from None


def _policy_constraints(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    fields: dict[str, int] = {}
    for name, value in pairs:
        if name not in ("requireExplicitPolicy", "inhibitPolicyMapping"):
            raise _Invalid(
                f"unknown field '{_show(name)}'"
                " (expected requireExplicitPolicy or inhibitPolicyMapping)"
            )
        fields[name] = _integer(name, value)
    if not fields:
        raise _Invalid("empty policyConstraints")
    require, inhibit = fields.get("requireExplicitPolicy"), fields.get("inhibitPolicyMapping")
    if all(v is None or 0 <= v < 1 << 63 for v in (require, inhibit)):
        return x509.PolicyConstraints(require, inhibit)
    parts = [_der_integer(v, 0x80 | i) for i, v in enumerate((require, inhibit)) if v is not None]
    return _unrecognized(ExtensionOID.POLICY_CONSTRAINTS, _der_sequence(parts))


def _policy_mappings(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    """``issuerDomainPolicy:subjectDomainPolicy`` pairs (RFC 5280 4.2.1.5)."""
    mappings = []
    for name, value in pairs:
        if value is None:
            raise _Invalid(f"'{_show(name)}' is not issuerPolicy:subjectPolicy")
        mappings.append(
            _der_sequence([_der_oid(_object(name, name)), _der_oid(_object(name, value))])
        )
    return _unrecognized(ExtensionOID.POLICY_MAPPINGS, _der_sequence(mappings))


def _inhibit_any_policy(ctx: _Context, value: str) -> _Value:
    skip = _integer("inhibitAnyPolicy", value)
    if 0 <= skip < 1 << 63:
        return x509.InhibitAnyPolicy(skip)
    return _unrecognized(ExtensionOID.INHIBIT_ANY_POLICY, _der_integer(skip))


def _name_constraints(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    """``permitted;type:value`` / ``excluded;type:value``; IP as address/mask."""
    permitted: list[x509.GeneralName] = []
    excluded: list[x509.GeneralName] = []
    for name, value in pairs:
        if name.startswith("permitted") and len(name) > 9:
            permitted.append(_general_name(ctx, name[10:], value, nc=True))
        elif name.startswith("excluded") and len(name) > 8:
            excluded.append(_general_name(ctx, name[9:], value, nc=True))
        else:
            raise _Invalid(f"'{_show(name)}' is not permitted;type or excluded;type")
    return x509.NameConstraints(permitted or None, excluded or None)


_TLS_FEATURES = {"status_request": 5, "status_request_v2": 17}


def _tls_feature(ctx: _Context, pairs: Sequence[_Pair]) -> _Value:
    numbers = []
    for name, value in pairs:
        item = value if value is not None else name
        number = _TLS_FEATURES.get(item.lower())
        if number is None:
            if not re.fullmatch(r"[+-]?\d+", item) or not 0 <= int(item) <= 65535:
                raise _Invalid(f"'{_show(item)}' is not a TLS extension name or number 0..65535")
            number = int(item)
        numbers.append(number)
    known = {f.value: f for f in x509.TLSFeatureType}
    if all(n in known for n in numbers):
        return x509.TLSFeature([known[n] for n in numbers])
    return _unrecognized(
        ExtensionOID.TLS_FEATURE, _der_sequence([_der_integer(n) for n in numbers])
    )


def _ocsp_no_check(ctx: _Context, value: str) -> _Value:
    return x509.OCSPNoCheck()  # the value is ignored, as OpenSSL ignores it


def _ia5_extension(name: str) -> _Spec:
    """The Netscape string extensions: the value as an IA5String."""
    oid = x509.ObjectIdentifier(_OBJECT_BY_NAME[name])

    def build(ctx: _Context, value: str) -> _Value:
        return _unrecognized(oid, _der(_IA5, _ascii(name, value).encode("ascii")))

    return _string(oid, build)


_NS_CERT_TYPE = x509.ObjectIdentifier("2.16.840.1.113730.1.1")


@dataclass(frozen=True)
class _Spec:
    """How one extension's value is read: ``multi`` ones from a list or an
    ``@section`` of name/value pairs (OpenSSL's v2i), ``string`` ones from
    the string itself (s2i, r2i)."""

    oid: x509.ObjectIdentifier
    multi: Callable[[_Context, Sequence[_Pair]], _Value] | None = None
    string: Callable[[_Context, str], _Value] | None = None


def _multi(
    oid: x509.ObjectIdentifier, build: Callable[[_Context, Sequence[_Pair]], _Value]
) -> _Spec:
    return _Spec(oid, multi=build)


def _string(oid: x509.ObjectIdentifier, build: Callable[[_Context, str], _Value]) -> _Spec:
    return _Spec(oid, string=build)


_EXTENSIONS: dict[str, _Spec] = {
    "basicConstraints": _multi(ExtensionOID.BASIC_CONSTRAINTS, _basic_constraints),
    "keyUsage": _multi(ExtensionOID.KEY_USAGE, _key_usage),
    "extendedKeyUsage": _multi(ExtensionOID.EXTENDED_KEY_USAGE, _extended_key_usage),
    "subjectKeyIdentifier": _string(ExtensionOID.SUBJECT_KEY_IDENTIFIER, _subject_key_identifier),
    "authorityKeyIdentifier": _multi(
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER, _authority_key_identifier
    ),
    "subjectAltName": _multi(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, _subject_alt_name),
    "issuerAltName": _multi(ExtensionOID.ISSUER_ALTERNATIVE_NAME, _issuer_alt_name),
    "authorityInfoAccess": _multi(
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS, _authority_info_access
    ),
    "subjectInfoAccess": _multi(ExtensionOID.SUBJECT_INFORMATION_ACCESS, _subject_info_access),
    "crlDistributionPoints": _multi(ExtensionOID.CRL_DISTRIBUTION_POINTS, _crl_distribution_points),
    "freshestCRL": _multi(ExtensionOID.FRESHEST_CRL, _freshest_crl),
    "certificatePolicies": _string(ExtensionOID.CERTIFICATE_POLICIES, _certificate_policies),
    "policyConstraints": _multi(ExtensionOID.POLICY_CONSTRAINTS, _policy_constraints),
    "policyMappings": _multi(ExtensionOID.POLICY_MAPPINGS, _policy_mappings),
    "inhibitAnyPolicy": _string(ExtensionOID.INHIBIT_ANY_POLICY, _inhibit_any_policy),
    "nameConstraints": _multi(ExtensionOID.NAME_CONSTRAINTS, _name_constraints),
    "tlsfeature": _multi(ExtensionOID.TLS_FEATURE, _tls_feature),
    "noCheck": _string(ExtensionOID.OCSP_NO_CHECK, _ocsp_no_check),
    "nsCertType": _multi(_NS_CERT_TYPE, _ns_cert_type),
    **{
        name: _ia5_extension(name)
        for name in (
            "nsComment",
            "nsBaseUrl",
            "nsRevocationUrl",
            "nsCaRevocationUrl",
            "nsRenewalUrl",
            "nsCaPolicyUrl",
            "nsSslServerName",
        )
    },
}


# Extensions OpenSSL knows by these short names that this module does not
# build from their config syntax (CRL and attribute-certificate extensions,
# and those OpenSSL cannot set either).
_NOT_SUPPORTED = frozenset(
    {
        "subjectDirectoryAttributes",
        "privateKeyUsagePeriod",
        "crlNumber",
        "CRLReason",
        "invalidityDate",
        "deltaCRL",
        "issuingDistributionPoint",
        "certificateIssuer",
        "targetInformation",
        "noRevAvail",
        "proxyCertInfo",
        "ct_precert_scts",
        "ct_precert_poison",
    }
)


def _multi_values(ctx: _Context, value: str) -> tuple[str | None, Sequence[_Pair]]:
    """The name/value pairs of a multi-valued extension and the section they
    come from: ``@section`` or an inline list."""
    if value.startswith("@"):
        pairs = ctx.section(value[1:])
        if not pairs:
            raise _Invalid(f"section [{_show(value[1:])}] is empty")
        return value[1:], pairs
    return None, _parse_list(value)


def _extension(ctx: _Context, name: str, value: str) -> Extension | None:
    """``X509V3_EXT_nconf_int()`` for one ``name = value`` line."""
    critical = value.startswith("critical,")
    if critical:
        value = value[len("critical,") :].lstrip(_SPACE)
    for prefix in ("DER:", "ASN1:"):
        if value.startswith(prefix):
            oid = object_identifier(name)
            if oid is None:
                raise _Invalid("unknown extension name (give it as a dotted OID)")
            body = value[len(prefix) :].lstrip(_SPACE)
            der = _hex(body) if prefix == "DER:" else _asn1_generate(ctx, body)
            return x509.Extension(oid, critical, _unrecognized(oid, der))
    spec = _EXTENSIONS.get(name)
    if spec is None:
        if name in _NOT_SUPPORTED:
            raise _Invalid(f"{name} cannot be given in this syntax by cmpkit; use DER:<hex>")
        raise _Invalid(
            "unknown extension name (short names like basicConstraints, or OID = DER:<hex>)"
        )
    built: _Value
    if spec.multi is not None:
        section, pairs = _multi_values(ctx, value)
        if section is None:
            built = spec.multi(ctx, pairs)
        else:
            with _inside(section):
                built = spec.multi(ctx, pairs)
    else:
        assert spec.string is not None
        built = spec.string(ctx, value)
    return None if built is None else x509.Extension(spec.oid, critical, built)


def extensions_from_section(
    config: ConfigFile,
    section: str,
    *,
    desc: str = "-reqexts",
    public_key: CertificatePublicKeyTypes | None = None,
    subject: x509.Name | None = None,
    issuer_certificate: x509.Certificate | None = None,
) -> list[Extension]:
    """The extensions an X.509v3 config section describes, in section order.

    ``desc`` names the option in errors. The optional data is what some
    values copy, and what ``openssl cmp`` never has (it fails on them with
    "no subject details"/"no issuer certificate"): ``public_key`` for
    ``subjectKeyIdentifier = hash``, ``subject`` for ``email:copy``,
    ``issuer_certificate`` for ``authorityKeyIdentifier`` and
    ``issuer:copy``. An extension given twice (by name and by OID) is kept
    once, the later one last, as OpenSSL's request does. Raises
    :class:`X509v3ConfigError`.
    """
    entries = config.section(section)
    if entries is None:
        raise X509v3ConfigError(
            f"no such section in config file '{config.path}'", desc=desc, section=section
        )
    ctx = _Context(config, public_key, subject, issuer_certificate)
    result: list[Extension] = []
    for key, value in entries.items():
        try:
            extension = _extension(ctx, key, value)
        except _Invalid as exc:
            raise X509v3ConfigError(
                str(exc), desc=desc, section=section, key=key, value=value
            ) from None
        if extension is not None:
            result = [e for e in result if e.oid != extension.oid]
            result.append(extension)
    return result


def policies_from_section(
    config: ConfigFile,
    section: str,
    *,
    public_key: CertificatePublicKeyTypes | None = None,
    subject: x509.Name | None = None,
    issuer_certificate: x509.Certificate | None = None,
) -> list[Extension]:
    """``openssl cmp -policies``: the section is an extension section like
    ``-reqexts``'s, typically holding one ``certificatePolicies = ...`` line.
    OpenSSL requests *every* extension it describes, after (overriding) those
    of ``-reqexts``; so does this list when appended to ``reqexts``."""
    return extensions_from_section(
        config,
        section,
        desc="-policies",
        public_key=public_key,
        subject=subject,
        issuer_certificate=issuer_certificate,
    )
