"""OpenSSL's one-line DN syntax (``openssl cmp -subject``), cmp.dn."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from cmp.dn import (
    NULL_DN,
    DNSyntaxError,
    attribute_oid,
    format_dn,
    is_null_dn,
    oneline,
    parse_dn,
    same_name,
)


def _attr(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute:  # type: ignore[type-arg]
    return x509.NameAttribute(oid, value)


def test_slash_separates_rdns_in_order() -> None:
    name = parse_dn("/O=cmpkit/CN=Test")
    assert [[(a.oid, a.value) for a in rdn] for rdn in name.rdns] == [
        [(NameOID.ORGANIZATION_NAME, "cmpkit")],
        [(NameOID.COMMON_NAME, "Test")],
    ]


def test_plus_makes_a_multi_valued_rdn() -> None:
    name = parse_dn("/DC=org/DC=OpenSSL/DC=users/UID=123456+CN=John Doe")
    assert len(name.rdns) == 4
    last = name.rdns[3]
    assert {a.oid for a in last} == {NameOID.USER_ID, NameOID.COMMON_NAME}


def test_plus_is_ordinary_without_multi_valued() -> None:
    name = parse_dn("/CN=a+b", multi_valued=False)
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "a+b"


def test_backslash_escapes_the_next_character() -> None:
    name = parse_dn(r"/O=a\/b\+c\\d/CN=x")
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "a/b+c\\d"


def test_whitespace_is_retained() -> None:
    name = parse_dn("/CN= spaced  out ")
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == " spaced  out "


def test_single_slash_is_the_null_dn() -> None:
    assert parse_dn("/") == NULL_DN
    assert is_null_dn(parse_dn("/"))


def test_empty_value_is_left_out() -> None:
    warnings: list[str] = []
    name = parse_dn("/CN=x/O=", warn=warnings.append)
    assert name == x509.Name([_attr(NameOID.COMMON_NAME, "x")])
    assert warnings and "No value provided" in warnings[0]


def test_unknown_type_is_an_error_by_default() -> None:
    with pytest.raises(DNSyntaxError, match="unknown subject name attribute 'foo'"):
        parse_dn("/CN=x/foo=bar")


def test_unknown_type_is_skipped_with_a_warning_as_openssl() -> None:
    warnings: list[str] = []
    name = parse_dn("/CN=x/foo=bar", warn=warnings.append)
    assert name == x509.Name([_attr(NameOID.COMMON_NAME, "x")])
    assert warnings == ["Skipping unknown subject name attribute 'foo'"]


@pytest.mark.parametrize(
    "text",
    ["CN=x", "", "x"],
)
def test_name_must_start_with_slash(text: str) -> None:
    with pytest.raises(DNSyntaxError, match="expected to be in the format"):
        parse_dn(text)


def test_missing_equals_sign() -> None:
    with pytest.raises(DNSyntaxError, match="Missing '='"):
        parse_dn("/CN")


def test_escape_at_end() -> None:
    with pytest.raises(DNSyntaxError, match="Escape character at end"):
        parse_dn("/CN=x\\")


def test_country_needs_two_characters() -> None:
    with pytest.raises(DNSyntaxError, match="country"):
        parse_dn("/C=DEU")


def test_desc_names_the_option() -> None:
    with pytest.raises(DNSyntaxError, match="issuer"):
        parse_dn("issuer", desc="issuer")


@pytest.mark.parametrize(
    ("type_name", "oid"),
    [
        ("CN", NameOID.COMMON_NAME),
        ("commonName", NameOID.COMMON_NAME),
        ("C", NameOID.COUNTRY_NAME),
        ("ST", NameOID.STATE_OR_PROVINCE_NAME),
        ("L", NameOID.LOCALITY_NAME),
        ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME),
        ("emailAddress", NameOID.EMAIL_ADDRESS),
        ("UID", NameOID.USER_ID),
        ("userId", NameOID.USER_ID),
        ("DC", NameOID.DOMAIN_COMPONENT),
        ("serialNumber", NameOID.SERIAL_NUMBER),
        ("GN", NameOID.GIVEN_NAME),
        ("SN", NameOID.SURNAME),
        ("2.5.4.3", NameOID.COMMON_NAME),
        ("1.2.3.4", x509.ObjectIdentifier("1.2.3.4")),
    ],
)
def test_types_by_short_name_long_name_or_oid(type_name: str, oid: x509.ObjectIdentifier) -> None:
    assert attribute_oid(type_name) == oid


def test_any_dotted_oid_is_a_type() -> None:
    # OpenSSL skips OIDs missing from its object table; cmpkit takes them all.
    name = parse_dn("/1.2.3.4=private")
    assert name.get_attributes_for_oid(x509.ObjectIdentifier("1.2.3.4"))[0].value == "private"


def test_type_names_are_case_sensitive_as_openssl() -> None:
    assert attribute_oid("cn") is None


@pytest.mark.parametrize("text", ["3.1", "0.99999999999999999999999", "1..2", "1.x"])
def test_invalid_oids_are_unknown_types(text: str) -> None:
    assert attribute_oid(text) is None
    with pytest.raises(DNSyntaxError, match="unknown"):
        parse_dn(f"/{text}=x")


def test_string_types_follow_openssl_table() -> None:
    name = parse_dn("/C=DE/emailAddress=a@b.c/DC=org/serialNumber=42/CN=x")
    types = {a.oid: a._type for a in name}
    assert types[NameOID.COUNTRY_NAME] == _ASN1Type.PrintableString
    assert types[NameOID.EMAIL_ADDRESS] == _ASN1Type.IA5String
    assert types[NameOID.DOMAIN_COMPONENT] == _ASN1Type.IA5String
    assert types[NameOID.SERIAL_NUMBER] == _ASN1Type.PrintableString
    assert types[NameOID.COMMON_NAME] == _ASN1Type.UTF8String


def test_non_ascii_values_are_utf8() -> None:
    name = parse_dn("/CN=Josée")
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Josée"


def test_format_dn_escapes_and_round_trips() -> None:
    text = r"/O=a\/b\+c\\d/UID=1+CN=x"
    assert format_dn(parse_dn(text)) == text
    assert format_dn(NULL_DN) == "/"


def test_oneline_prints_like_x509_name_oneline() -> None:
    # X509_NAME_oneline escapes nothing and prints non-ASCII bytes as \xHH.
    assert oneline(parse_dn("/O=x y/CN=Jos\u00e9e")) == "/O=x y/CN=Jos\\xC3\\xA9e"
    assert oneline(parse_dn(r"/O=a\/b/UID=1+CN=c")) == "/O=a/b/UID=1+CN=c"
    assert oneline(NULL_DN) == ""


def test_same_name_ignores_case_and_repeated_spaces() -> None:
    assert same_name(parse_dn("/O=Cmpkit  Tests/CN=X"), parse_dn("/O=cmpkit tests/CN=x"))
    assert not same_name(parse_dn("/CN=x"), parse_dn("/CN=y"))
    assert not same_name(parse_dn("/CN=x/O=y"), parse_dn("/O=y/CN=x"))


_VALUE = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from(["CN", "O", "OU", "L"]), _VALUE),
            min_size=1,
            max_size=2,
            unique_by=lambda t: t[0],
        ),
        max_size=4,
    )
)
def test_format_then_parse_is_identity(rdns: list[list[tuple[str, str]]]) -> None:
    relative: list[x509.RelativeDistinguishedName] = [
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(attribute_oid(t), v) for t, v in rdn]  # type: ignore[arg-type]
        )
        for rdn in rdns
    ]
    name = x509.Name(relative)
    assert parse_dn(format_dn(name)) == name


# --- interop: the same bytes as OpenSSL's parse_name() ------------------------------------------

OPENSSL_NAMES = [
    "/CN=cmpkit",
    "/DC=org/DC=OpenSSL/DC=users/UID=123456+CN=John Doe",
    "/C=DE/ST=Bavaria/L=Munich/O=a\\/b\\+c/OU=unit/CN=x y/emailAddress=a@b.c",
    "/serialNumber=1234/GN=Jane/SN=Doe/title=Dr",
    "/2.5.4.3=by oid/1.3.6.1.4.1.311.60.2.1.3=DE",
    "/CN=x/O=",
]


@pytest.mark.parametrize("text", OPENSSL_NAMES)
def test_parse_dn_encodes_as_openssl_req_subj(openssl_bin: str, tmp_path: Path, text: str) -> None:
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    config = tmp_path / "empty.cnf"
    config.write_text("\n")
    out = tmp_path / "req.der"
    subprocess.run(
        [openssl_bin, "req", "-new", "-config", str(config), "-key", str(key_path),
         "-subj", text, "-outform", "DER", "-out", str(out)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    expected = x509.load_der_x509_csr(out.read_bytes()).subject
    ours = parse_dn(text, warn=lambda _: None)
    assert ours.public_bytes() == expected.public_bytes()


@given(st.text(alphabet="/=+\\CNOU.01239 xé", max_size=30))
def test_any_text_parses_or_raises_dn_syntax_error(text: str) -> None:
    try:
        name = parse_dn("/" + text, warn=lambda _: None)
    except DNSyntaxError:
        return
    assert isinstance(name, x509.Name)
