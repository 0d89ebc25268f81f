"""Distinguished names in OpenSSL's one-line syntax (``openssl cmp -subject``).

``/type0=value0/type1=value1+type2=value2``: each ``/`` starts a new RDN, a
``+`` adds another attribute to the current one (a multi-valued RDN), ``\\``
escapes the next character, white space is kept, a single ``/`` is the
NULL-DN (no RDNs). Types are OpenSSL's short or long names (``CN``,
``commonName``) or dotted OIDs. As in OpenSSL's ``parse_name()`` (apps/lib),
an attribute with an empty value is left out; an unknown type is an error
unless a ``warn`` callback is given, which then gets OpenSSL's message and the
attribute is skipped, as ``openssl cmp`` does.

:func:`oneline` prints a name as OpenSSL's ``X509_NAME_oneline()`` does (for
messages: nothing escaped, non-ASCII bytes as ``\\xHH``); :func:`format_dn`
prints it so that :func:`parse_dn` gives it back. :func:`same_name` compares
names as ``X509_NAME_cmp()`` does after canonicalisation.
"""

from __future__ import annotations

from typing import Any, Callable

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from cmp import certinfo
from cmp.errors import CMPError

__all__ = [
    "NULL_DN",
    "DNSyntaxError",
    "attribute_oid",
    "format_dn",
    "is_null_dn",
    "oneline",
    "parse_dn",
    "same_name",
]

NULL_DN = x509.Name([])
"""The NULL-DN: a Name with no RDNs (``/`` in OpenSSL's syntax)."""


class DNSyntaxError(CMPError, ValueError):
    """A DN string is not in OpenSSL's ``/type=value/...`` syntax."""


# OpenSSL's short name, long name and OID of the attributes its object table
# knows and names are made of (crypto/objects/objects.txt).
_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("CN", "commonName", "2.5.4.3"),
    ("SN", "surname", "2.5.4.4"),
    ("serialNumber", "serialNumber", "2.5.4.5"),
    ("C", "countryName", "2.5.4.6"),
    ("L", "localityName", "2.5.4.7"),
    ("ST", "stateOrProvinceName", "2.5.4.8"),
    ("street", "streetAddress", "2.5.4.9"),
    ("O", "organizationName", "2.5.4.10"),
    ("OU", "organizationalUnitName", "2.5.4.11"),
    ("title", "title", "2.5.4.12"),
    ("description", "description", "2.5.4.13"),
    ("searchGuide", "searchGuide", "2.5.4.14"),
    ("businessCategory", "businessCategory", "2.5.4.15"),
    ("postalAddress", "postalAddress", "2.5.4.16"),
    ("postalCode", "postalCode", "2.5.4.17"),
    ("postOfficeBox", "postOfficeBox", "2.5.4.18"),
    ("physicalDeliveryOfficeName", "physicalDeliveryOfficeName", "2.5.4.19"),
    ("telephoneNumber", "telephoneNumber", "2.5.4.20"),
    ("name", "name", "2.5.4.41"),
    ("GN", "givenName", "2.5.4.42"),
    ("initials", "initials", "2.5.4.43"),
    ("generationQualifier", "generationQualifier", "2.5.4.44"),
    ("x500UniqueIdentifier", "x500UniqueIdentifier", "2.5.4.45"),
    ("dnQualifier", "dnQualifier", "2.5.4.46"),
    ("pseudonym", "pseudonym", "2.5.4.65"),
    ("role", "role", "2.5.4.72"),
    ("organizationIdentifier", "organizationIdentifier", "2.5.4.97"),
    ("UID", "userId", "0.9.2342.19200300.100.1.1"),
    ("mail", "rfc822Mailbox", "0.9.2342.19200300.100.1.3"),
    ("DC", "domainComponent", "0.9.2342.19200300.100.1.25"),
    ("emailAddress", "emailAddress", "1.2.840.113549.1.9.1"),
    ("unstructuredName", "unstructuredName", "1.2.840.113549.1.9.2"),
    ("unstructuredAddress", "unstructuredAddress", "1.2.840.113549.1.9.8"),
    ("jurisdictionL", "jurisdictionLocalityName", "1.3.6.1.4.1.311.60.2.1.1"),
    ("jurisdictionST", "jurisdictionStateOrProvinceName", "1.3.6.1.4.1.311.60.2.1.2"),
    ("jurisdictionC", "jurisdictionCountryName", "1.3.6.1.4.1.311.60.2.1.3"),
)

# OBJ_txt2nid(): short names first, then long names, both case-sensitive.
_OID_BY_NAME: dict[str, str] = {ln: oid for _, ln, oid in _ATTRIBUTES}
_OID_BY_NAME.update({sn: oid for sn, _, oid in _ATTRIBUTES})
_SHORT_NAME: dict[str, str] = {oid: sn for sn, _, oid in _ATTRIBUTES}

# OpenSSL's ASN1_STRING_TABLE: these attributes have a fixed string type
# (cryptography's defaults agree); every other one is a UTF8String.
_STRING_TYPES: dict[str, _ASN1Type] = {
    NameOID.COUNTRY_NAME.dotted_string: _ASN1Type.PrintableString,
    NameOID.JURISDICTION_COUNTRY_NAME.dotted_string: _ASN1Type.PrintableString,
    NameOID.SERIAL_NUMBER.dotted_string: _ASN1Type.PrintableString,
    NameOID.DN_QUALIFIER.dotted_string: _ASN1Type.PrintableString,
    NameOID.EMAIL_ADDRESS.dotted_string: _ASN1Type.IA5String,
    NameOID.DOMAIN_COMPONENT.dotted_string: _ASN1Type.IA5String,
}
_COUNTRY_OIDS = frozenset(
    {NameOID.COUNTRY_NAME.dotted_string, NameOID.JURISDICTION_COUNTRY_NAME.dotted_string}
)


def _is_dotted_oid(text: str) -> bool:
    parts = text.split(".")
    return len(parts) >= 2 and all(p.isdigit() and p.isascii() for p in parts)


def attribute_oid(type_name: str) -> ObjectIdentifier | None:
    """The OID of an attribute type as OpenSSL's ``OBJ_txt2nid()`` resolves it
    (short name, long name or dotted OID), or ``None`` when it is unknown."""
    oid = _OID_BY_NAME.get(type_name)
    if oid is None and _is_dotted_oid(type_name):
        oid = type_name
    if oid is None:
        return None
    try:
        return ObjectIdentifier(oid)
    except ValueError:  # not a valid OID (first arc above 2, ...)
        return None


def _attribute(oid: ObjectIdentifier, value: str, desc: str) -> x509.NameAttribute[Any]:
    dotted = oid.dotted_string
    if dotted in _COUNTRY_OIDS and len(value) != 2:
        raise DNSyntaxError(f"{desc} name: country code {value!r} must have 2 characters")
    string_type = _STRING_TYPES.get(dotted, _ASN1Type.UTF8String)
    if string_type is not _ASN1Type.UTF8String and not value.isascii():
        raise DNSyntaxError(f"{desc} name: {value!r} is not valid for {_label(oid)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # bytes of an argument that were no UTF-8 (surrogate escapes)
        raise DNSyntaxError(f"{desc} name: {value!r} is not valid UTF-8") from None
    try:
        return x509.NameAttribute(oid, value, _type=string_type)
    except ValueError as e:  # longer than the attribute's upper bound (ub-common-name, ...)
        raise DNSyntaxError(f"{desc} name: {_label(oid)} {value!r}: {e}") from None


def _label(oid: ObjectIdentifier) -> str:
    return _SHORT_NAME.get(oid.dotted_string, oid.dotted_string)


def parse_dn(
    text: str,
    *,
    multi_valued: bool = True,
    desc: str = "subject",
    warn: Callable[[str], None] | None = None,
) -> x509.Name:
    """Parses OpenSSL's ``/type0=value0/type1=value1+type2=value2`` syntax.

    ``multi_valued=False`` takes ``+`` as an ordinary character, as OpenSSL
    does where it allows no multi-valued RDNs. ``desc`` names the option in
    messages (``subject``, ``issuer``, ``recipient``). Raises
    :class:`DNSyntaxError`.
    """
    if not text.startswith("/"):
        raise DNSyntaxError(
            f"{desc} name is expected to be in the format /type0=value0/type1=value1/"
            f"type2=... where characters may be escaped by \\. This name is not in that"
            f" format: {text!r}"
        )
    rdns: list[list[x509.NameAttribute[Any]]] = []
    pos, n = 1, len(text)
    next_is_multi = False
    while pos < n:
        is_multi, next_is_multi = next_is_multi, False
        eq = text.find("=", pos)
        if eq < 0:
            raise DNSyntaxError(
                f"Missing '=' after RDN type string {text[pos:]!r} in {desc} name string"
            )
        type_name, pos = text[pos:eq], eq + 1
        chars: list[str] = []
        while pos < n and text[pos] != "/":
            c = text[pos]
            if multi_valued and c == "+":
                next_is_multi = True
                break
            if c == "\\":
                pos += 1
                if pos == n:
                    raise DNSyntaxError(f"Escape character at end of {desc} name string")
                c = text[pos]
            chars.append(c)
            pos += 1
        pos += 1  # over the '/' or '+' (or past the end)
        value = "".join(chars)
        oid = attribute_oid(type_name)
        if oid is None:
            message = f"Skipping unknown {desc} name attribute {type_name!r}"
            if is_multi:
                message += (
                    "; hint: a '+' in a value string needs be escaped using '\\' else a new"
                    " member of a multi-valued RDN is expected"
                )
            if warn is None:
                raise DNSyntaxError(message.replace("Skipping unknown", "unknown"))
            warn(message)
            continue
        if not value:
            if warn is not None:
                warn(f"No value provided for {desc} name attribute {type_name!r}, skipped")
            continue
        attribute = _attribute(oid, value, desc)
        if is_multi and rdns:
            rdns[-1].append(attribute)
        else:
            rdns.append([attribute])
    try:
        return x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])
    except ValueError as e:  # e.g. the same attribute twice in one RDN
        raise DNSyntaxError(f"{desc} name {text!r}: {e}") from None


def is_null_dn(name: x509.Name) -> bool:
    """True for the NULL-DN (no RDNs)."""
    return len(name.rdns) == 0


def _text_of(attribute: x509.NameAttribute[Any]) -> str:
    value = attribute.value
    return value if isinstance(value, str) else value.hex()


def _escape(value: str) -> str:
    return "".join("\\" + c if c in "/+\\" else c for c in value)


def format_dn(name: x509.Name) -> str:
    """``name`` in the syntax :func:`parse_dn` reads (``/`` for the NULL-DN),
    with ``/``, ``+`` and ``\\`` in values escaped."""
    if is_null_dn(name):
        return "/"
    return "".join(
        "/" + "+".join(f"{_label(a.oid)}={_escape(_text_of(a))}" for a in rdn) for rdn in name.rdns
    )


def oneline(name: x509.Name) -> str:
    """``name`` as OpenSSL's ``X509_NAME_oneline()`` prints it in messages:
    ``/CN=x/O=y``, ``+`` between the members of a multi-valued RDN, bytes
    outside printable ASCII as ``\\xHH`` (of the UTF-8 encoding), nothing
    escaped. Empty for the NULL-DN, as OpenSSL prints it."""
    out: list[str] = []
    for rdn in name.rdns:
        for i, attribute in enumerate(rdn):
            raw = attribute.value
            data = raw.encode() if isinstance(raw, str) else raw
            text = "".join(chr(b) if 0x20 <= b <= 0x7E else f"\\x{b:02X}" for b in data)
            out.append(("+" if i else "/") + f"{_label(attribute.oid)}={text}")
    return "".join(out)


def _norm(value: object) -> object:
    return " ".join(value.split()).casefold() if isinstance(value, str) else value


def _canonical(name: x509.Name) -> tuple[frozenset[tuple[str, object]], ...]:
    # X509_NAME_cmp() compares canonical encodings: string values folded to
    # lower case with leading, trailing and repeated inner white space removed.
    return tuple(frozenset((a.oid.dotted_string, _norm(a.value)) for a in rdn) for rdn in name.rdns)


def _name_size(name: x509.Name) -> int:
    return len(certinfo.name_der(name))


def _canonical_form(name: x509.Name) -> tuple[frozenset[tuple[str, object]], ...]:
    """The form in which :func:`same_name` compares ``name``, kept with the
    Name object (a certificate's subject is compared with the sender of every
    message, and with its issuer; the form is as large as the Name's DER)."""
    return certinfo.fact(name, "canonical", _canonical, _name_size)


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """Whether two names match as OpenSSL compares them (case and repeated
    white space in string values do not count). Names that are equal
    (``==``, attribute by attribute) have the same canonical form."""
    return a is b or _canonical_form(a) == _canonical_form(b)
