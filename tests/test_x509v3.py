"""X.509v3 extension sections (``x509v3_config(5)``) built as OpenSSL builds them.

Each section below is handed to the real ``openssl req -new -reqexts`` and to
:func:`cmp.x509v3.extensions_from_section`; the extensions OpenSSL puts into
the CSR's extension request must equal ours, OID, criticality and DER value,
one by one. Sections OpenSSL rejects must be rejected too, with a one-line
error naming the section and the key. The few places where cmpkit
deliberately differs from OpenSSL 3.0 have tests of their own.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from cmp.config import ConfigFile, parse_config
from cmp.x509v3 import (
    _OBJECTS,
    X509v3ConfigError,
    extensions_from_section,
    object_identifier,
    policies_from_section,
)

Triple = tuple[str, bool, bytes]
"""One extension as compared: dotted OID, critical, DER of the value."""

EXTENSION_REQUEST = "1.2.840.113549.1.9.14"


# --- a few lines of DER reading, independent of the code under test ---------------------------


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end) of the element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    return tag, start, start + length


def _children(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, content) of each element in ``data``."""
    out = []
    pos = 0
    while pos < len(data):
        tag, start, end = _tlv(data, pos)
        out.append((tag, data[start:end]))
        pos = end
    return out


def _dotted(content: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _extension_triples(extensions: bytes) -> list[Triple]:
    """The contents of ``Extensions ::= SEQUENCE OF Extension`` as triples."""
    result = []
    for _, extension in _children(extensions):
        fields = _children(extension)
        critical = len(fields) == 3 and fields[1][1] == b"\xff"
        result.append((_dotted(fields[0][1]), critical, fields[-1][1]))
    return result


def _csr_extensions(der: bytes) -> list[Triple]:
    """The extension request of a DER CSR."""
    info = _children(_children(der)[0][1])[0][1]
    for tag, content in _children(info):
        if tag != 0xA0:  # attributes [0]
            continue
        for _, attribute in _children(content):
            (_, oid), (_, values) = _children(attribute)
            if _dotted(oid) == EXTENSION_REQUEST:
                return _extension_triples(_children(values)[0][1])
    return []


def _find_constructed(data: bytes, wanted: int) -> bytes | None:
    """The content of the first element tagged ``wanted``, depth first."""
    for tag, content in _children(data):
        if tag == wanted:
            return content
        if tag & 0x20:
            found = _find_constructed(content, wanted)
            if found is not None:
                return found
    return None


def _ours(extensions: list[x509.Extension[x509.ExtensionType]]) -> list[Triple]:
    return [(e.oid.dotted_string, e.critical, e.value.public_bytes()) for e in extensions]


# --- the sections -----------------------------------------------------------------------------

SECTIONS = """
[req]
distinguished_name = req_dn
[req_dn]

[bc_ca]
basicConstraints = critical, CA:TRUE, pathlen:1
[bc_false]
basicConstraints = CA:FALSE
[bc_false_pathlen]
basicConstraints = CA:false, pathlen:0x10
[bc_negative_pathlen]
basicConstraints = CA:yes, pathlen:-5
[bc_section]
basicConstraints = critical, @bc_sect
[bc_sect]
CA = Y
pathlen = 0
[bc_spaces]
basicConstraints = critical,CA : TRUE ,  pathlen :  3

[ku_all]
keyUsage = digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, \\
    keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly
[ku_long_names]
keyUsage = critical, Digital Signature, Certificate Sign, CRL Sign
[ku_encipher_only]
keyUsage = encipherOnly
[ku_section]
keyUsage = @ku_sect
[ku_sect]
digitalSignature = ignored
keyAgreement = 1

[eku]
extendedKeyUsage = critical, serverAuth, clientAuth, codeSigning, emailProtection, \\
    timeStamping, OCSPSigning, ipsecIKE, msCodeInd, msCodeCom, msCTLSign, msEFS, 1.2.3.4, \\
    TLS Web Server Authentication
[eku_section]
extendedKeyUsage = @eku_sect
[eku_sect]
a = clientAuth
b = 1.3.6.1.5.5.7.3.99

[san_list]
subjectAltName = email:a@example.com, URI:http://example.com/a?b=c, DNS:example.com, \\
    DNS:*.example.com, RID:1.2.3.4, IP:192.0.2.1, IP:2001:db8::1, IP:::ffff:1.2.3.4, \\
    IP:01.02.003.4, dirName:dir_sect, \\
    otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@example.com
[san_section]
subjectAltName = critical, @alt_sect
[alt_sect]
DNS.1 = www.example.com
DNS.2 = mail.example.com
IP.1 = 10.0.0.1
IP = fe80::1
email.1 = admin@example.com
URI.x = ldap://ldap.example.com/CN=foo,OU=bar
RID.1 = clientAuth
otherName.1 = msUPN;UTF8:upn@example.com
otherName.2 = 1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8String:nonascii-é.example.com
dirName.1 = dir_sect2
[dir_sect]
C = UK
O = My Organization
OU = My Unit
CN = My Name
[dir_sect2]
1.CN = first
+OU = joined
2.OU = second
emailAddress = e@example.com
DC = example
serialNumber = 1234-AB
1.2.5.4.4 = via an OID with a dropped prefix
title = Dr
[ian]
issuerAltName = DNS:ca.example.com, email:ca@example.com, URI:http://ca.example.com/

[aia]
authorityInfoAccess = OCSP;URI:http://ocsp.example.com/, \\
    caIssuers;URI:http://ca.example.com/ca.cer, caRepository;URI:http://repo.example.com/, \\
    1.3.6.1.5.5.7.48.3;URI:http://ts.example.com/
[aia_section]
authorityInfoAccess = critical, @aia_sect
[aia_sect]
OCSP;URI.0 = http://ocsp.example.com/
caIssuers;URI.1 = http://ca.example.com/ca.cer
caIssuers;DNS = ca.example.com
[sia]
subjectInfoAccess = caRepository;URI:http://repo.example.com/, 1.3.6.1.5.5.7.48.5;DNS:example.com

[crldp_uris]
crlDistributionPoints = URI:http://a.example.com/x.crl, URI:http://b.example.com/y.crl
[crldp_at_section]
crlDistributionPoints = @cdp_sect
[cdp_sect]
URI.1 = http://a.example.com/
URI.2 = http://b.example.com/
[crldp_sections]
crlDistributionPoints = dp1, dp2, dp3
[dp1]
fullname = URI:http://a.example.com/x.crl
reasons = keyCompromise, CACompromise, affiliationChanged, superseded, \\
    cessationOfOperation, certificateHold, privilegeWithdrawn, AACompromise
CRLissuer = dirName:dir_sect
ignored_key = whatever
[dp2]
relativename = rdn_sect
[rdn_sect]
CN = crl
+O = rdn org
[dp3]
fullname = @fn_sect
CRLissuer = @fn_sect
[fn_sect]
URI.1 = http://c.example.com/
DNS.1 = c.example.com
[freshest]
freshestCRL = URI:http://delta.example.com/d.crl

[cp_oids]
certificatePolicies = 1.2.4.5, 1.1.3.4, anyPolicy
[cp_critical_section]
certificatePolicies = "critical, @pkiPolicy"
[pkiPolicy]
policyIdentifier = 1.2.3.4
[cp_cps]
certificatePolicies = @cps_pol
[cps_pol]
CPS.1 = "http://my.host.example.com/"
policyIdentifier = 1.3.5.8
CPS.2 = "http://my.your.example.com/"
[cp_man_page]
certificatePolicies = ia5org, 1.2.3.4, 1.5.6.7.8, @polsect
[polsect]
policyIdentifier = 1.3.5.8
CPS.1 = "http://my.host.example.com/"
CPS.2 = "http://my.your.example.com/"
userNotice.1 = @notice
[notice]
explicitText = "Explicit Text Here"
organization = "Organisation Name"
noticeNumbers = 1, 2, 3, 4
[cp_notices]
certificatePolicies = @pol_a, ia5org, @pol_b
[pol_a]
policyIdentifier = 1.2.3
userNotice.1 = @notice_utf8
userNotice.2 = @notice_org_only
userNotice.3 = @notice_text_only
[pol_b]
policyIdentifier = 1.2.4
userNotice = @notice
CPS = http://cps.example.com/
[notice_utf8]
explicitText = "UTF8:héllo wörld"
organization = Org
noticeNumbers = 0x10, -1, 99999999999999999999
[notice_org_only]
organization = Org Only
[notice_text_only]
explicitText = "Note: VISIBLESTRING:stays as it is"

[pc]
policyConstraints = requireExplicitPolicy:3, inhibitPolicyMapping:0
[pc_negative]
policyConstraints = critical, inhibitPolicyMapping:-1
[pm]
policyMappings = critical, 1.2.3:1.2.4, anyPolicy:1.5
[iap]
inhibitAnyPolicy = critical, 2
[nc]
nameConstraints = critical, permitted;IP:192.168.0.0/255.255.0.0, \\
    permitted;IP:fe80::/ffc0::, excluded;DNS:.bad.example.com, \\
    permitted;email:.example.com, excluded;dirName:dir_sect, permitted;URI:.example.com
[tls]
tlsfeature = status_request, status_request_v2
[tls_numbers]
tlsfeature = STATUS_REQUEST, 99, 0
[nocheck]
noCheck = ignored
[netscape]
nsComment = "Some comment, with a comma"
nsCertType = client, server, email, objsign, reserved, sslCA, emailCA, objCA
nsBaseUrl = http://ns.example.com/
nsRevocationUrl = r
nsCaRevocationUrl = cr
nsRenewalUrl = rn
nsCaPolicyUrl = p
nsSslServerName = server.example.com
[ns_long_names]
nsCertType = SSL Server, S/MIME CA

[skid_hex]
subjectKeyIdentifier = 01:02:03:AB:cd:EF

[der]
1.2.3.4 = critical, DER:01:02:03:04
basicConstraints = DER:30:03:01:01:FF
keyUsage = critical,DER:  03020780
extendedKeyUsage = DER:300a06082b06010505070301
[asn1]
1.2.3.5 = ASN1:UTF8String:Some random data
1.2.3.6 = critical, ASN1:SEQUENCE:seq_sect
1.2.3.7 = ASN1:FORMAT:HEX,OCTETSTRING:01:02:ff
1.2.3.8 = ASN1:BOOLEAN:true
1.2.3.9 = ASN1:SEQUENCE
[seq_sect]
field1 = UTF8:field1
field2 = INT:0x10
field3 = SET:set_sect
field4 = OID:serverAuth
field5 = SEQ:empty_sect
[set_sect]
x = UTF8:b
y = INT:-129
z = NULL
w = BOOL:n
[empty_sect]

[othernames]
subjectAltName = @on_sect
[on_sect]
otherName.1 = 1.2.3;FORMAT:HEX,OCT:0102
otherName.2 = 1.2.4;BITSTR:ab
otherName.3 = 1.2.5;FORMAT:BITLIST,BITSTR:1,9
otherName.4 = 1.2.6;UTC:250101000000Z
otherName.5 = 1.2.7;BMP:hi
otherName.6 = 1.2.8;ENUM:0x10
otherName.7 = 1.2.9;BOOL:y
otherName.8 = 1.2.10;OID:serverAuth
otherName.9 = 1.2.11;NULL
otherName.10 = 1.2.12;GENTIME:20250101000000Z
otherName.11 = 1.2.13; utf8string:lower case type
otherName.12 = 1.2.14;FORMAT:UTF8,UNIV:hé
otherName.13 = 1.2.15;T61:t61
otherName.14 = 1.2.16;NUMERIC:0123 456
otherName.15 = 1.2.17;PRINTABLE:Print (able)
otherName.16 = 1.2.18;IA5:ia5@x
otherName.17 = 1.2.19;VISIBLE:vis
otherName.18 = 1.2.20;GENSTR:gen
otherName.19 = 1.2.21;FORMAT:UTF8,BMP:é€
otherName.20 = 1.2.22;INTEGER:0
otherName.21 = 1.2.23;OCTETSTRING:ascii bytes

[mixed]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
extendedKeyUsage = serverAuth
subjectAltName = DNS:example.com
certificatePolicies = 1.2.3
crlDistributionPoints = URI:http://crl.example.com/
authorityInfoAccess = OCSP;URI:http://ocsp.example.com/
subjectKeyIdentifier = 0102
[empty]
"""

# Contents of more than 127 and of more than 255 bytes (long-form lengths).
_LONG_HEX = ":".join(["ab"] * 300)
SECTIONS += f"""
[asn1_long]
1.2.3.10 = ASN1:SEQUENCE:long_sect
1.2.3.11 = ASN1:FORMAT:HEX,OCTETSTRING:{_LONG_HEX}
[long_sect]
text = UTF8:{"x" * 200}
octets = FORMAT:HEX,OCT:{_LONG_HEX}
inner = SEQ:seq_sect
"""


MATCHING = [
    "asn1_long",
    "bc_ca",
    "bc_false",
    "bc_false_pathlen",
    "bc_negative_pathlen",
    "bc_section",
    "bc_spaces",
    "ku_all",
    "ku_long_names",
    "ku_encipher_only",
    "ku_section",
    "eku",
    "eku_section",
    "san_list",
    "san_section",
    "ian",
    "aia",
    "aia_section",
    "sia",
    "crldp_uris",
    "crldp_at_section",
    "crldp_sections",
    "freshest",
    "cp_oids",
    "cp_critical_section",
    "cp_cps",
    "cp_man_page",
    "cp_notices",
    "pc",
    "pc_negative",
    "pm",
    "iap",
    "nc",
    "tls",
    "tls_numbers",
    "nocheck",
    "netscape",
    "ns_long_names",
    "skid_hex",
    "der",
    "asn1",
    "othernames",
    "mixed",
    "empty",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key for the CSRs and the section file, written once."""
    path = tmp_path_factory.mktemp("x509v3")
    key = ec.generate_private_key(ec.SECP256R1())
    (path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (path / "sections.cnf").write_text(SECTIONS, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sections(workdir: Path) -> ConfigFile:
    path = workdir / "sections.cnf"
    return parse_config(path.read_text(), str(path))


def openssl_req(
    openssl: str, config: Path, section: str, key: Path, *, subject: str = "/CN=x"
) -> subprocess.CompletedProcess[bytes]:
    """``openssl req -new`` requesting the extensions of ``section``."""
    return subprocess.run(
        [
            openssl, "req", "-new", "-key", str(key), "-subj", subject,
            "-config", str(config), "-reqexts", section, "-outform", "DER",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )  # fmt: skip


def openssl_extensions(
    openssl: str, config: Path, section: str, key: Path, *, subject: str = "/CN=x"
) -> list[Triple]:
    done = openssl_req(openssl, config, section, key, subject=subject)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return _csr_extensions(done.stdout)


@pytest.mark.parametrize("section", MATCHING)
def test_section_builds_the_extensions_openssl_requests(
    openssl_bin: str, workdir: Path, sections: ConfigFile, section: str
) -> None:
    expected = openssl_extensions(
        openssl_bin, workdir / "sections.cnf", section, workdir / "key.pem"
    )
    assert _ours(extensions_from_section(sections, section)) == expected


def test_every_object_name_resolves_to_the_oid_openssl_gives_it(
    openssl_bin: str, workdir: Path
) -> None:
    names = [name for entry in _OBJECTS for name in entry[:2]]
    lines = "".join(f"n{i} = {name}\n" for i, name in enumerate(names))
    config_text = f"{SECTIONS}\n[names]\nextendedKeyUsage = @name_list\n[name_list]\n{lines}"
    path = workdir / "names.cnf"
    path.write_text(config_text, encoding="utf-8")
    ((_, _, expected),) = openssl_extensions(openssl_bin, path, "names", workdir / "key.pem")
    oids = [object_identifier(name) for name in names]
    assert None not in oids
    assert x509.ExtendedKeyUsage([oid for oid in oids if oid]).public_bytes() == expected


# --- sections OpenSSL rejects ----------------------------------------------------------------

REJECTED: dict[str, tuple[str, str]] = {
    # section name: (section lines, what our message says)
    "unknown_extension": ("fooBar = x", "unknown extension name"),
    "unknown_der_name": ("noSuchExtension = DER:0102", "unknown extension name"),
    "critical_with_space": ("basicConstraints = critical , CA:TRUE", "unknown field 'critical'"),
    "bad_boolean": ("basicConstraints = CA:maybe", "not a boolean"),
    "bc_unknown_field": ("basicConstraints = CA:TRUE, foo:1", "unknown field 'foo'"),
    "bad_pathlen": ("basicConstraints = CA:TRUE, pathlen:one", "not an integer"),
    "pathlen_without_value": ("basicConstraints = CA:TRUE, pathlen", "not an integer"),
    "only_critical": ("basicConstraints = critical,", "empty name"),
    "empty_list_item": ("keyUsage = digitalSignature,,keyEncipherment", "empty name"),
    "trailing_comma": ("keyUsage = digitalSignature,", "empty name"),
    "unknown_key_usage": ("keyUsage = digitalSignatures", "unknown bit name"),
    "unknown_eku": ("extendedKeyUsage = noSuchPurpose", "unknown object name"),
    "empty_san_value": ("subjectAltName = DNS:", "empty value"),
    "san_without_value": ("subjectAltName = DNS", "needs a value"),
    "bad_ipv4": ("subjectAltName = IP:1.2.3.256", "not an IPv4 or IPv6 address"),
    "bad_ipv6": ("subjectAltName = IP:1::2::3", "not an IPv4 or IPv6 address"),
    "bad_rid": ("subjectAltName = RID:notAnOid", "unknown object name"),
    "missing_dirname_section": ("subjectAltName = dirName:no_such_section", "not found"),
    "unknown_dirname_attribute": ("subjectAltName = dirName:bad_dn\n[bad_dn]\nO.x = y", "'x'"),
    "country_too_long": ("subjectAltName = dirName:bad_c\n[bad_c]\nC = USA", "longer than 2"),
    "cn_too_long": (f"subjectAltName = dirName:long_cn\n[long_cn]\nCN = {'x' * 65}", "longer"),
    "empty_cn": ("subjectAltName = dirName:empty_cn\n[empty_cn]\nCN =", "shorter than 1"),
    "othername_without_type": ("subjectAltName = otherName:1.2.3", "not OID;TYPE:value"),
    "othername_unknown_type": ("subjectAltName = otherName:1.2.3;FOO:x", "unknown type"),
    "othername_bad_integer": ("subjectAltName = otherName:1.2.3;INT:abc", "not an integer"),
    "othername_null_value": ("subjectAltName = otherName:1.2.3;NULL:x", "NULL takes no value"),
    "missing_alt_section": ("subjectAltName = @no_such_section", "not found"),
    "empty_alt_section": ("subjectAltName = @empty_sect", "is empty"),
    "bad_hex": ("1.2.3.4 = DER:0g", "illegal hex digit"),
    "odd_hex": ("1.2.3.4 = DER:012", "odd number of hex digits"),
    "empty_der": ("1.2.3.4 = DER:", "empty hex string"),
    "asn1_unknown_type": ("1.2.3.4 = ASN1:FOO:bar", "unknown type"),
    "asn1_bad_boolean": ("1.2.3.4 = ASN1:BOOL:maybe", "not a boolean"),
    "asn1_bad_oid": ("1.2.3.4 = ASN1:OID:no such name", "unknown object name"),
    "asn1_bad_time": ("1.2.3.4 = ASN1:UTC:20250101", "not a valid time"),
    "asn1_printable": ("1.2.3.4 = ASN1:PRINTABLE:a@b", "cannot hold"),
    "asn1_missing_sequence": ("1.2.3.4 = ASN1:SEQUENCE:no_such_section", "not found"),
    "policy_missing_section": ("certificatePolicies = @no_such_section", "not found"),
    "policy_with_colon": ("certificatePolicies = 1.2.3:x", "not a policy OID"),
    "policy_bad_oid": ("certificatePolicies = notAnOid", "unknown object name"),
    "policy_without_identifier": (
        "certificatePolicies = @pol_noid\n[pol_noid]\nCPS.1 = http://x/",
        "no policyIdentifier",
    ),
    "policy_unknown_key": (
        "certificatePolicies = @pol_key\n[pol_key]\npolicyIdentifier = 1.2\nfoo = x",
        "unknown key 'foo'",
    ),
    "user_notice_not_a_section": (
        "certificatePolicies = @pol_un\n[pol_un]\npolicyIdentifier = 1.2\nuserNotice.1 = nt",
        "expected a section name",
    ),
    "notice_unknown_key": (
        "certificatePolicies = @pol_nk\n[pol_nk]\npolicyIdentifier = 1.2\n"
        "userNotice.1 = @nk\n[nk]\ntext = x",
        "unknown key 'text'",
    ),
    "notice_bad_number": (
        "certificatePolicies = @pol_nn\n[pol_nn]\npolicyIdentifier = 1.2\n"
        "userNotice.1 = @nn\n[nn]\norganization = O\nnoticeNumbers = 1, x",
        "not an integer",
    ),
    "akid_without_issuer": ("authorityKeyIdentifier = keyid", "no issuer certificate"),
    "akid_unknown_option": ("authorityKeyIdentifier = keyid:never", "unknown option"),
    "aia_without_method": ("authorityInfoAccess = URI:http://x/", "not method;type"),
    "aia_unknown_method": ("authorityInfoAccess = noSuchMethod;URI:http://x/", "unknown object"),
    "nc_bad_subtree": ("nameConstraints = allowed;DNS:x", "not permitted;type"),
    "nc_ip_without_mask": ("nameConstraints = permitted;IP:10.0.0.0", "address/mask"),
    "crldp_missing_section": ("crlDistributionPoints = no_such_dp", "not found"),
    "crldp_bad_reason": (
        "crlDistributionPoints = dp_r\n[dp_r]\nfullname = URI:http://x/\nreasons = often",
        "unknown reason",
    ),
    "crldp_two_names": (
        "crlDistributionPoints = dp_2\n[dp_2]\nfullname = URI:http://x/\nrelativename = rn\n"
        "[rn]\nCN = x",
        "already set",
    ),
    "crldp_relative_name_two_rdns": (
        "crlDistributionPoints = dp_rn\n[dp_rn]\nrelativename = rn2\n[rn2]\nCN = x\nO = y",
        "must be one RDN",
    ),
    "pc_unknown_field": ("policyConstraints = requireExplicit:1", "unknown field"),
    "pm_without_subject_policy": ("policyMappings = 1.2.3", "not issuerPolicy:subjectPolicy"),
    "iap_not_a_number": ("inhibitAnyPolicy = two", "not an integer"),
    "tls_out_of_range": ("tlsfeature = 70000", "not a TLS extension"),
    "skid_bad_hex": ("subjectKeyIdentifier = xyz", "hex"),
    "ns_cert_type_unknown": ("nsCertType = browser", "unknown bit name"),
}


def _rejected_config() -> str:
    body = "".join(f"[{name}]\n{lines}\n" for name, (lines, _) in REJECTED.items())
    return f"[req]\ndistinguished_name = req_dn\n[req_dn]\n[empty_sect]\n{body}"


@pytest.fixture(scope="module")
def rejected(workdir: Path) -> tuple[Path, ConfigFile]:
    path = workdir / "rejected.cnf"
    path.write_text(_rejected_config(), encoding="utf-8")
    return path, parse_config(path.read_text(), str(path))


@pytest.mark.parametrize("section", list(REJECTED))
def test_section_openssl_rejects_is_rejected_in_one_line(
    openssl_bin: str, workdir: Path, rejected: tuple[Path, ConfigFile], section: str
) -> None:
    path, config = rejected
    done = openssl_req(openssl_bin, path, section, workdir / "key.pem")
    assert done.returncode != 0, f"OpenSSL accepts [{section}]"
    with pytest.raises(X509v3ConfigError) as info:
        extensions_from_section(config, section)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"-reqexts section [{section}], ")
    assert REJECTED[section][1] in message
    assert info.value.section == section
    assert info.value.key == REJECTED[section][0].split(" =")[0]


def test_missing_section_is_named_with_the_file() -> None:
    config = parse_config("[a]\nbasicConstraints = CA:TRUE\n", "f.cnf")
    with pytest.raises(X509v3ConfigError, match=r"^-reqexts section \[nope\]: no such section"):
        extensions_from_section(config, "nope")


def test_error_names_the_option_it_came_from() -> None:
    config = parse_config("[p]\ncertificatePolicies = 1.2.3:x\n", "f.cnf")
    with pytest.raises(X509v3ConfigError, match=r"^-policies section \[p\], certificatePolicies"):
        policies_from_section(config, "p")


def test_error_is_a_value_error_and_escapes_control_characters() -> None:
    # X509V3_parse_list() stops at a line break; the message shows it escaped.
    config = parse_config("[a]\nsubjectAltName = IP:x\\nDNS:y\n", "f.cnf")
    with pytest.raises(ValueError) as info:
        extensions_from_section(config, "a")
    assert "\n" not in str(info.value)
    assert "IP:x\\nDNS:y" in str(info.value)


# --- the OpenSSL conformance configuration -----------------------------------------------------


@pytest.fixture(scope="module")
def conformance_config(conformance_dir: Path, workdir: Path) -> tuple[Path, ConfigFile]:
    """test.cnf as it is, plus the [req] lines ``openssl req`` needs."""
    original = conformance_dir / "csv-3.0" / "test.cnf"
    copy = workdir / "test.cnf"
    shutil.copyfile(original, copy)
    with copy.open("a") as handle:
        handle.write("\n[req]\ndistinguished_name = req_dn\n[req_dn]\n")
    return copy, parse_config(original.read_text(), str(original))


def test_conformance_reqexts_equals_openssl(
    openssl_bin: str, workdir: Path, conformance_config: tuple[Path, ConfigFile]
) -> None:
    path, config = conformance_config
    expected = openssl_extensions(openssl_bin, path, "reqexts", workdir / "key.pem")
    ours = extensions_from_section(config, "reqexts")
    assert _ours(ours) == expected
    assert [e.oid for e in ours] == [
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ]


def test_conformance_policies_equals_openssl(
    openssl_bin: str, workdir: Path, conformance_config: tuple[Path, ConfigFile]
) -> None:
    path, config = conformance_config
    expected = openssl_extensions(openssl_bin, path, "certificatePolicies", workdir / "key.pem")
    ((extension),) = policies_from_section(config, "certificatePolicies")
    assert _ours([extension]) == expected
    assert extension.critical
    assert extension.value == x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier("1.2.3.4"), None)]
    )


def test_conformance_invalid_key_is_rejected_like_openssl(
    openssl_bin: str, workdir: Path, conformance_config: tuple[Path, ConfigFile]
) -> None:
    path, config = conformance_config
    done = openssl_req(openssl_bin, path, "reqexts_invalidkey", workdir / "key.pem")
    assert done.returncode != 0
    assert b"DNS__3" in done.stderr
    with pytest.raises(X509v3ConfigError) as info:
        extensions_from_section(config, "reqexts_invalidkey")
    message = str(info.value)
    assert "\n" not in message
    assert "[reqexts_invalidkey]" in message and "[alt_names_3] DNS__3" in message
    assert "unsupported general name type" in message


# --- values that copy data from the subject or the issuer ---------------------------------------

CONTEXT_SECTIONS = """
[req]
distinguished_name = req_dn
[req_dn]
[skid_hash]
subjectKeyIdentifier = hash
[email_copy]
subjectAltName = critical, email:copy, DNS:example.com, email.2:copy
[akid_keyid]
authorityKeyIdentifier = keyid
[akid_issuer]
authorityKeyIdentifier = issuer
[akid_both]
authorityKeyIdentifier = keyid, issuer
[akid_always]
authorityKeyIdentifier = keyid:always, issuer:always
[issuer_copy]
issuerAltName = issuer:copy, DNS:extra.example.com
"""


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _make_ca(path: Path, *, skid: bool) -> x509.Certificate:
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"CA skid={skid}")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Root")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(0x1234567890)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=10))
        .add_extension(x509.BasicConstraints(True, None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("ca.example.com"), x509.RFC822Name("ca@example.com")]
            ),
            critical=False,
        )
    )
    if skid:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier(b"\x01\x02\x03\x04"), critical=False
        )
    certificate = builder.sign(key, hashes.SHA256())
    _write_key(path / f"ca{skid}.key", key)
    (path / f"ca{skid}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate


@pytest.fixture(scope="module")
def context_config(workdir: Path) -> tuple[Path, ConfigFile]:
    path = workdir / "context.cnf"
    path.write_text(CONTEXT_SECTIONS)
    return path, parse_config(CONTEXT_SECTIONS, str(path))


def _key(workdir: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key((workdir / "key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def test_skid_hash_is_the_hash_openssl_req_computes(
    openssl_bin: str, workdir: Path, context_config: tuple[Path, ConfigFile]
) -> None:
    path, config = context_config
    expected = openssl_extensions(openssl_bin, path, "skid_hash", workdir / "key.pem")
    ours = extensions_from_section(config, "skid_hash", public_key=_key(workdir).public_key())
    assert _ours(ours) == expected


def test_skid_hash_without_a_public_key_fails_like_openssl_cmp(
    context_config: tuple[Path, ConfigFile],
) -> None:
    with pytest.raises(X509v3ConfigError, match="no subject details"):
        extensions_from_section(context_config[1], "skid_hash")


def test_email_copy_takes_the_subjects_email_addresses_like_openssl_req(
    openssl_bin: str, workdir: Path, context_config: tuple[Path, ConfigFile]
) -> None:
    path, config = context_config
    dn = "/CN=x/emailAddress=a@example.com/O=y/emailAddress=b@example.com"
    expected = openssl_extensions(openssl_bin, path, "email_copy", workdir / "key.pem", subject=dn)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "x"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@example.com"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "y"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "b@example.com"),
        ]
    )
    assert _ours(extensions_from_section(config, "email_copy", subject=subject)) == expected


def test_email_copy_without_a_subject_fails_like_openssl_cmp(
    context_config: tuple[Path, ConfigFile],
) -> None:
    with pytest.raises(X509v3ConfigError, match="no subject details"):
        extensions_from_section(context_config[1], "email_copy")


def _issued_extension(
    openssl: str, workdir: Path, config: Path, section: str, skid: bool, oid: x509.ObjectIdentifier
) -> bytes | None:
    """The extension ``openssl x509 -req`` puts into a certificate issued by
    the CA with or without a subjectKeyIdentifier; None when it fails."""
    csr = workdir / "plain.csr"
    done = openssl_req(openssl, config, "req_dn", workdir / "key.pem")
    csr.write_bytes(done.stdout)
    issued = subprocess.run(
        [
            openssl, "x509", "-req", "-in", str(csr), "-inform", "DER",
            "-CA", str(workdir / f"ca{skid}.pem"), "-CAkey", str(workdir / f"ca{skid}.key"),
            "-set_serial", "5", "-extfile", str(config), "-extensions", section,
            "-outform", "DER",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    if issued.returncode != 0:
        return None
    certificate = x509.load_der_x509_certificate(issued.stdout)
    return certificate.extensions.get_extension_for_oid(oid).value.public_bytes()


@pytest.mark.parametrize("skid", [True, False], ids=["ca_with_skid", "ca_without_skid"])
@pytest.mark.parametrize("section", ["akid_keyid", "akid_issuer", "akid_both", "akid_always"])
def test_akid_from_the_issuer_certificate_like_openssl_x509(
    openssl_bin: str,
    workdir: Path,
    context_config: tuple[Path, ConfigFile],
    section: str,
    skid: bool,
) -> None:
    path, config = context_config
    ca = _make_ca(workdir, skid=skid)
    expected = _issued_extension(
        openssl_bin, workdir, path, section, skid, ExtensionOID.AUTHORITY_KEY_IDENTIFIER
    )
    if expected is None:
        with pytest.raises(X509v3ConfigError, match="no subjectKeyIdentifier"):
            extensions_from_section(config, section, issuer_certificate=ca)
        return
    (extension,) = extensions_from_section(config, section, issuer_certificate=ca)
    assert extension.value.public_bytes() == expected


def test_issuer_copy_takes_the_issuers_alt_names_like_openssl_x509(
    openssl_bin: str, workdir: Path, context_config: tuple[Path, ConfigFile]
) -> None:
    path, config = context_config
    ca = _make_ca(workdir, skid=True)
    expected = _issued_extension(
        openssl_bin, workdir, path, "issuer_copy", True, ExtensionOID.ISSUER_ALTERNATIVE_NAME
    )
    (extension,) = extensions_from_section(config, "issuer_copy", issuer_certificate=ca)
    assert extension.value.public_bytes() == expected


def test_issuer_copy_without_an_issuer_certificate_fails(
    context_config: tuple[Path, ConfigFile],
) -> None:
    with pytest.raises(X509v3ConfigError, match="no issuer details"):
        extensions_from_section(context_config[1], "issuer_copy")


# --- what openssl cmp itself requests ----------------------------------------------------------

CMP_SECTIONS = """
[reqexts]
basicConstraints = critical, CA:FALSE
certificatePolicies = 1.5.6
subjectAltName = DNS:first.example.com
2.5.29.17 = DER:3011820f7365636f6e642e6578616d706c65
keyUsage = digitalSignature
[policies]
certificatePolicies = critical, @pol
basicConstraints = CA:TRUE
[pol]
policyIdentifier = 1.2.3.4
CPS.1 = http://cps.example.com/
[skid_hash]
subjectKeyIdentifier = hash
"""


def openssl_cmp_request(
    openssl: str, workdir: Path, *args: str
) -> tuple[bytes | None, subprocess.CompletedProcess[bytes]]:
    """The ir ``openssl cmp`` writes with ``-reqout`` before it fails to reach
    a server that is not there; None when it fails before that."""
    config = workdir / "cmp.cnf"
    config.write_text(CMP_SECTIONS)
    reqout = workdir / "ir.der"
    reqout.unlink(missing_ok=True)
    done = subprocess.run(
        [
            openssl, "cmp", "-config", str(config), "-section", "", "-cmd", "ir",
            "-server", "127.0.0.1:1", "-msg_timeout", "5", "-total_timeout", "10",
            "-reqout", str(reqout), "-certout", str(workdir / "never.pem"),
            "-newkey", str(workdir / "key.pem"), "-subject", "/CN=x",
            "-secret", "pass:x", "-ref", "1", *args,
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    return (reqout.read_bytes() if reqout.exists() else None), done


def test_openssl_cmp_requests_every_policies_extension_after_reqexts(
    openssl_bin: str, workdir: Path
) -> None:
    request, done = openssl_cmp_request(
        openssl_bin, workdir, "-reqexts", "reqexts", "-policies", "policies"
    )
    assert request is not None, done.stderr.decode(errors="replace")
    template_extensions = _find_constructed(request, 0xA9)
    assert template_extensions is not None
    config = parse_config(CMP_SECTIONS, "cmp.cnf")
    # OSSL_CMP_CTX's add_extensions(): a later extension replaces every
    # earlier one with its OID and goes to the end.
    merged: list[x509.Extension[x509.ExtensionType]] = []
    for extension in [
        *extensions_from_section(config, "reqexts"),
        *policies_from_section(config, "policies"),
    ]:
        merged = [e for e in merged if e.oid != extension.oid] + [extension]
    assert _ours(merged) == _extension_triples(template_extensions)
    assert [e.oid for e in merged][-2:] == [
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.BASIC_CONSTRAINTS,
    ]


def test_openssl_cmp_has_no_public_key_for_skid_hash(openssl_bin: str, workdir: Path) -> None:
    request, done = openssl_cmp_request(openssl_bin, workdir, "-reqexts", "skid_hash")
    assert request is None
    assert b"no subject details" in done.stdout + done.stderr
    with pytest.raises(X509v3ConfigError, match="no subject details"):
        extensions_from_section(parse_config(CMP_SECTIONS, "cmp.cnf"), "skid_hash")


def test_same_extension_twice_keeps_the_later_one_last() -> None:
    config = parse_config(CMP_SECTIONS, "cmp.cnf")
    extensions = extensions_from_section(config, "reqexts")
    sans = [e for e in extensions if e.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME]
    assert len(sans) == 1
    assert isinstance(sans[0].value, x509.UnrecognizedExtension)
    assert extensions[-2].oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME


# --- where cmpkit deliberately differs from OpenSSL 3.0 ----------------------------------------


def _build(text: str) -> list[x509.Extension[x509.ExtensionType]]:
    return extensions_from_section(parse_config(f"[s]\n{text}\n", "f.cnf"), "s")


def test_typed_values_where_cryptography_encodes_like_openssl() -> None:
    (bc, ku, san) = _build(
        "basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = keyCertSign\n"
        "subjectAltName = DNS:example.com, IP:10.0.0.1"
    )
    assert bc.critical and bc.value == x509.BasicConstraints(True, 0)
    assert isinstance(ku.value, x509.KeyUsage) and ku.value.key_cert_sign
    assert san.value == x509.SubjectAlternativeName(
        [
            x509.DNSName("example.com"),
            x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
        ]
    )


def test_skid_and_akid_none_leave_the_extension_out() -> None:
    # OpenSSL 3.0's req and cmp write an empty extension; the man page says
    # "no SKID extension will be included".
    assert _build("subjectKeyIdentifier = none\nauthorityKeyIdentifier = none") == []


def test_bmp_explicit_text_is_utf16() -> None:
    # OpenSSL 3.0 copies the bytes into the BMPString unconverted.
    (extension,) = _build(
        "certificatePolicies = @p\n[p]\npolicyIdentifier = 1.2\n"
        "userNotice.1 = @n\n[n]\nexplicitText = BMP:h\u00e9"
    )
    assert extension.value.public_bytes().endswith(b"\x1e\x04\x00h\x00\xe9")


def test_notice_numbers_need_an_organization() -> None:
    # OpenSSL 3.0 writes an invalid organization (tag 0x3f) instead.
    with pytest.raises(X509v3ConfigError, match="noticeNumbers needs an organization"):
        _build(
            "certificatePolicies = @p\n[p]\npolicyIdentifier = 1.2\n"
            "userNotice.1 = @n\n[n]\nnoticeNumbers = 1"
        )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        # OpenSSL writes the UTF-8 bytes into an IA5String or VisibleString.
        ("subjectAltName = DNS:b\u00fccher.example", "not ASCII"),
        ("nsComment = caf\u00e9", "not ASCII"),
        ("certificatePolicies = @p\n[p]\npolicyIdentifier = 1.2\nCPS = http://\u00e9/", "ASCII"),
        # OpenSSL reads these bytes as Latin-1 and garbles them.
        ("subjectAltName = dirName:d\n[d]\nO = M\u00fcller", "not ASCII"),
        ("1.2.3.4 = ASN1:UTF8:\u00e9", "use FORMAT:UTF8"),
        # cryptography cannot express these; OpenSSL can.
        (
            "crlDistributionPoints = d\n[d]\nfullname = URI:http://x/\nreasons = unused",
            "unknown reason",
        ),
        ("nameConstraints = permitted;IP:10.0.0.0/255.0.255.0", "not contiguous"),
        ("nameConstraints = permitted;IP:10.0.0.1/255.0.0.0", "host bits"),
        ("subjectAltName = email:@", "rfc822name"),
        # The tagging modifiers of the generic syntax are not implemented.
        ("1.2.3.4 = ASN1:EXPLICIT:0,UTF8:x", "not supported by cmpkit"),
        ("subjectAltName = otherName:1.2.3;IMP:0,UTF8:x", "not supported by cmpkit"),
        ("subjectAltName = email:move", "email:move is not supported"),
        ("issuingDistributionPoint = fullname:x", "use DER:<hex>"),
    ],
)
def test_values_refused_where_openssl_would_write_something_else(line: str, problem: str) -> None:
    with pytest.raises(X509v3ConfigError) as info:
        _build(line)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_object_identifier_resolves_short_long_and_dotted_names() -> None:
    assert object_identifier("serverAuth") == x509.ObjectIdentifier("1.3.6.1.5.5.7.3.1")
    assert object_identifier("TLS Web Client Authentication") == x509.ObjectIdentifier(
        "1.3.6.1.5.5.7.3.2"
    )
    assert object_identifier("CN") == NameOID.COMMON_NAME
    assert object_identifier("1.2.3") == x509.ObjectIdentifier("1.2.3")
    assert object_identifier("3.1") is None
    assert object_identifier("noSuchName") is None
