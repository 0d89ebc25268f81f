"""Loading keys, certificates and CRLs as ``openssl cmp`` does (cmp.credentials).

Files are written by the tests with ``cryptography``; the last tests load
every file of OpenSSL's CMP test credentials and compare with what
``openssl`` itself can read.
"""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from pathlib import Path

import pytest
from conftest import CONFORMANCE_DIR
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from cmp.credentials import (
    MAX_CREDENTIAL_FILE_SIZE,
    CredentialError,
    load_cert,
    load_cert_and_chain,
    load_cert_sources,
    load_certs,
    load_crls,
    load_key,
    load_public_key,
    split_sources,
)
from cmp.errors import CMPError

MOCK = CONFORMANCE_DIR / "mock"
NOW = dt.datetime.now(dt.timezone.utc)
PEM, DER = serialization.Encoding.PEM, serialization.Encoding.DER
PASSWORD = b"s3cret pass"


def make_cert(common_name: str, key: ec.EllipticCurvePrivateKey | None = None) -> x509.Certificate:
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def certs(key: ec.EllipticCurvePrivateKey) -> list[x509.Certificate]:
    return [make_cert("first", key), make_cert("second"), make_cert("third")]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def pem_of(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(PEM) for c in certs)


def fails(match: str, function: object, *args: object, **kwargs: object) -> CredentialError:
    assert callable(function)
    with pytest.raises(CredentialError, match=match) as info:
        function(*args, **kwargs)
    return info.value


# -- certificates ----------------------------------------------------------------------------


def test_pem_file_with_several_certificates(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    path = write(tmp_path / "chain.pem", b"text before\n" + pem_of(certs) + b"text after\n")
    assert load_certs(path) == certs


def test_der_certificate(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    path = write(tmp_path / "cert.der", certs[0].public_bytes(DER))
    assert load_certs(path) == [certs[0]]
    assert load_certs(str(path), format="der") == [certs[0]]


def test_pkcs12_certificates_leaf_first(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, certs: list[x509.Certificate]
) -> None:
    blob = pkcs12.serialize_key_and_certificates(
        b"me",
        key,
        certs[0],
        certs[1:],
        serialization.BestAvailableEncryption(PASSWORD),
    )
    path = write(tmp_path / "bundle.p12", blob)
    assert load_certs(path, password=PASSWORD) == certs
    assert load_certs(path, password=PASSWORD, format="P12") == certs
    fails("needs a pass phrase", load_certs, path)
    error = fails("wrong pass phrase", load_certs, path, password=b"wrong")
    assert "wrong" not in str(error).replace("wrong pass phrase", "")


def test_pkcs7_bundle(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    path = write(tmp_path / "bundle.p7b", pkcs7.serialize_certificates(certs, PEM))
    # "certificates" is a SET OF in PKCS#7, so DER encoding sorts it
    der = sorted(c.public_bytes(DER) for c in load_certs(path))
    assert der == sorted(c.public_bytes(DER) for c in certs)


def test_trusted_certificate_pem_label(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    """OpenSSL's TRUSTED CERTIFICATE: the certificate followed by trust settings."""
    aux = bytes.fromhex("300a300806062b0601050507")  # an X509_CERT_AUX-like trailer
    text = base64.encodebytes(certs[0].public_bytes(DER) + aux)
    block = b"-----BEGIN TRUSTED CERTIFICATE-----\n" + text + b"-----END TRUSTED CERTIFICATE-----\n"
    assert load_certs(write(tmp_path / "trusted.pem", block)) == [certs[0]]


def test_forced_format_is_enforced(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    pem_path = write(tmp_path / "cert.pem", pem_of(certs[:1]))
    der_path = write(tmp_path / "cert.der", certs[0].public_bytes(DER))
    fails("not a DER certificate file", load_certs, pem_path, format="DER")
    fails("no certificate found", load_certs, der_path, format="PEM")
    fails("unsupported format 'XML'", load_certs, der_path, format="XML")


def test_load_cert_takes_the_first_as_openssl_3_0_does(
    tmp_path: Path, certs: list[x509.Certificate]
) -> None:
    path = write(tmp_path / "chain.pem", pem_of(certs))
    assert load_cert(path) == certs[0]
    assert load_cert_and_chain(path) == (certs[0], certs[1:])


def test_file_scheme_is_accepted(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    path = write(tmp_path / "cert.pem", pem_of(certs[:1]))
    assert load_certs(f"file:{path}") == certs[:1]
    assert load_certs(f"file://{path}") == certs[:1]
    assert load_certs(f"file://localhost{path}") == certs[:1]


def test_other_uri_schemes_are_refused() -> None:
    fails("unsupported URI scheme 'http:'", load_certs, "http://example.com/ca.pem")
    fails("unsupported host 'example.com'", load_certs, "file://example.com/ca.pem")


def test_no_certificate_empty_missing_and_junk_files(tmp_path: Path) -> None:
    fails("no certificate found", load_certs, write(tmp_path / "key.pem", b"-----BEGIN X-----\n"))
    fails("empty file", load_certs, write(tmp_path / "empty", b""))
    fails("no such file", load_certs, tmp_path / "missing.pem")
    fails("is a directory", load_certs, tmp_path)
    fails("not a PEM, DER or PKCS#12", load_certs, write(tmp_path / "junk", b"\x30\x03\x02\x01"))


def test_message_names_option_and_file(tmp_path: Path) -> None:
    error = fails(
        "^cannot load CMP server certificate from '.*missing.pem': no such file$",
        load_cert,
        tmp_path / "missing.pem",
        desc="CMP server certificate",
    )
    assert isinstance(error, CMPError)
    assert error.desc == "CMP server certificate" and error.reason == "no such file"


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.pem"
    with path.open("wb") as handle:
        handle.truncate(MAX_CREDENTIAL_FILE_SIZE + 1)
    fails("file too large", load_certs, path)


# -- several sources --------------------------------------------------------------------------


def test_split_sources_at_commas_and_whitespace() -> None:
    assert split_sources("a.pem, b.pem c.der,d.p12\te") == ["a.pem", "b.pem", "c.der", "d.p12", "e"]
    assert split_sources("  one  ") == ["one"]
    fails("no source given", split_sources, "  ")
    fails("empty source name", split_sources, "a,,b")


def test_load_cert_sources_keeps_order_and_drops_duplicates(
    tmp_path: Path, certs: list[x509.Certificate]
) -> None:
    a = write(tmp_path / "a.pem", pem_of(certs[:2]))
    b = write(tmp_path / "b.der", certs[2].public_bytes(DER))
    c = write(tmp_path / "c.pem", pem_of([certs[1], certs[0]]))
    assert load_cert_sources(f"{a}, {b} file:{c}") == certs
    assert load_cert_sources([a, b]) == certs


def test_load_cert_sources_fails_on_any_bad_source(
    tmp_path: Path, certs: list[x509.Certificate]
) -> None:
    good = write(tmp_path / "good.pem", pem_of(certs[:1]))
    empty = write(tmp_path / "empty.txt", b"")
    fails("empty.txt': empty file", load_cert_sources, f"{good},{empty}", desc="untrusted certs")


# -- keys -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [
        ("pkcs8", serialization.PrivateFormat.PKCS8),
        ("traditional", serialization.PrivateFormat.TraditionalOpenSSL),
    ],
)
@pytest.mark.parametrize("encoding", [PEM, DER])
def test_private_key_formats(
    tmp_path: Path, kind: str, fmt: serialization.PrivateFormat, encoding: serialization.Encoding
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data = key.private_bytes(encoding, fmt, serialization.NoEncryption())
    loaded = load_key(write(tmp_path / f"{kind}.key", data))
    assert loaded.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize("encoding", [PEM, DER])
def test_encrypted_private_key(tmp_path: Path, encoding: serialization.Encoding) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    data = key.private_bytes(
        encoding,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD),
    )
    path = write(tmp_path / "enc.key", data)
    loaded = load_key(path, password=PASSWORD)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == key.private_numbers()
    fails("encrypted and no pass phrase", load_key, path)
    error = fails("wrong pass phrase", load_key, path, password=b"hunter2")
    assert "hunter2" not in str(error)


def test_pass_phrase_for_unencrypted_key_is_ignored(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    data = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    loaded = load_key(write(tmp_path / "ed.key", data), password=b"unused")
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)


def test_key_from_pkcs12(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, certs: list[x509.Certificate]
) -> None:
    blob = pkcs12.serialize_key_and_certificates(
        b"me", key, certs[0], None, serialization.BestAvailableEncryption(PASSWORD)
    )
    path = write(tmp_path / "me.p12", blob)
    loaded = load_key(path, password=PASSWORD, format="p12")
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == key.private_numbers()
    fails("needs a pass phrase", load_key, path)


def test_pkcs12_without_key(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    blob = pkcs12.serialize_key_and_certificates(
        None, None, None, certs, serialization.BestAvailableEncryption(PASSWORD)
    )
    fails("holds no private key", load_key, write(tmp_path / "ca.p12", blob), password=PASSWORD)


def test_key_file_with_certificate_and_key(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, certs: list[x509.Certificate]
) -> None:
    data = pem_of(certs[:1]) + key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = write(tmp_path / "both.pem", data)
    assert isinstance(load_key(path), ec.EllipticCurvePrivateKey)
    assert load_certs(path) == certs[:1]


def test_no_key_found(tmp_path: Path, certs: list[x509.Certificate]) -> None:
    fails("no private key found", load_key, write(tmp_path / "c.pem", pem_of(certs)))
    fails("not a PEM, DER or PKCS#12 private key", load_key, write(tmp_path / "x", b"\x01\x02"))


def test_public_key_from_spki_or_private_key(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey
) -> None:
    spki = key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private = key.private_bytes(
        DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    expected = key.public_key().public_numbers()
    assert load_public_key(write(tmp_path / "pub.pem", spki)).public_numbers() == expected  # type: ignore[union-attr]
    assert load_public_key(write(tmp_path / "k.der", private)).public_numbers() == expected  # type: ignore[union-attr]


# -- CRLs ------------------------------------------------------------------------------------------


def make_crl(
    key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate
) -> x509.CertificateRevocationList:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(NOW - dt.timedelta(days=1))
        .next_update(NOW + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_crls_pem_and_der(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey, certs: list[x509.Certificate]
) -> None:
    crls = [make_crl(key, certs[0]), make_crl(key, certs[0])]
    pem_path = write(tmp_path / "crls.pem", b"".join(c.public_bytes(PEM) for c in crls))
    der_path = write(tmp_path / "crl.der", crls[0].public_bytes(DER))
    assert load_crls(str(pem_path)) == crls
    assert load_crls([der_path]) == crls[:1]
    assert load_crls(f"{pem_path} {der_path}") == [*crls, crls[0]]
    fails("no CRL found", load_crls, str(write(tmp_path / "c.pem", pem_of(certs))))
    fails("not a PEM or DER CRL file", load_crls, str(write(tmp_path / "j", b"junk")))
    fails("cannot be read from a PKCS#12", load_crls, str(der_path), format="P12")


# -- OpenSSL's CMP test credentials ------------------------------------------------------------

needs_mock = pytest.mark.skipif(
    not MOCK.is_dir(), reason=f"OpenSSL's CMP test credentials not found at {MOCK}"
)


@needs_mock
def test_mock_signer_p12_with_password_12345() -> None:
    password = (MOCK / "12345.txt").read_bytes().strip()
    key = load_key(MOCK / "signer.p12", password=password)
    certs = load_certs(MOCK / "signer.p12", password=password)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert certs[0] == load_cert(MOCK / "signer.crt")
    assert certs[0].public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert len(certs) == 4
    fails("wrong pass phrase", load_key, MOCK / "signer.p12", password=b"123456")


@needs_mock
def test_mock_keys() -> None:
    assert isinstance(load_key(MOCK / "new.key"), rsa.RSAPrivateKey)
    assert isinstance(load_key(MOCK / "new_pass_12345.key", password=b"12345"), rsa.RSAPrivateKey)
    fails("encrypted and no pass phrase", load_key, MOCK / "new_pass_12345.key")
    assert load_public_key(MOCK / "new_pub.key").public_numbers() == (  # type: ignore[union-attr]
        load_key(MOCK / "new.key").public_key().public_numbers()  # type: ignore[union-attr]
    )


@needs_mock
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_mock_certificate_files_hold_what_openssl_reads(openssl_bin: str) -> None:
    """Every file with certificates: our first certificate is the one
    ``openssl x509`` reads, and the count is the number of PEM blocks."""
    for path in sorted(MOCK.iterdir()):
        count = path.read_bytes().count(b"-----BEGIN CERTIFICATE-----")
        if not count:
            continue
        first = subprocess.run(
            [openssl_bin, "x509", "-in", str(path), "-outform", "DER"],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
        certs = load_certs(path)
        assert len(certs) == count, path.name
        assert certs[0].public_bytes(DER) == first, path.name


@needs_mock
@pytest.mark.parametrize("name", ["empty.txt", "random.bin", "csr.pem", "new.RSA2048.key"])
def test_mock_junk_is_refused_like_openssl(name: str) -> None:
    with pytest.raises(CredentialError, match=f"from '.*{name}'"):
        load_certs(MOCK / name)
    with pytest.raises(CredentialError, match=f"from '.*{name}'"):
        load_key(MOCK / name, password=b"12345")


@needs_mock
def test_mock_crls() -> None:
    crls = load_crls(f"{MOCK / 'newcrl.pem'}, {MOCK / 'oldcrl.pem'}")
    assert [c.issuer for c in crls] == [load_certs(MOCK / "signer.crt")[1].subject] * 2
