"""certHash of certConf (RFC 9810 §5.3.18), cmp.certhash."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from openssl_harness import CapturedMessages, MockServerFactory, Pki
from transaction_driver import drive

from cmp.algorithms import digest
from cmp.asn1 import AlgorithmIdentifier
from cmp.certhash import cert_hash, cert_hash_alg, cert_hash_digest, check_cert_hash
from cmp.headers import pvno_for_body
from cmp.message import PKIMessage
from cmp.requests import EnrollRequest, cert_conf_body
from cmp.status import ServerError
from cmp.transaction import Transaction, TransactionConfig

_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certhash")])


def _cert(signer: Any, algorithm: Any = None, rsa_padding: Any = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_NAME)
        .issuer_name(_NAME)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if rsa_padding is not None:
        return builder.sign(signer, algorithm, rsa_padding=rsa_padding)
    return builder.sign(signer, algorithm)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_certconf_hash_uses_cert_signature_digest_ecdsa_sha256() -> None:
    cert = _cert(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    assert cert_hash(cert) == hashlib.sha256(_der(cert)).digest()
    assert cert_hash_alg(cert) is None


def test_certconf_hash_uses_cert_signature_digest_ecdsa_sha384() -> None:
    cert = _cert(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384())
    assert cert_hash(cert) == hashlib.sha384(_der(cert)).digest()


def test_certconf_hash_uses_cert_signature_digest_rsa_sha512(rsa_key: rsa.RSAPrivateKey) -> None:
    cert = _cert(rsa_key, hashes.SHA512())
    assert cert_hash_digest(cert) == "sha512"
    assert cert_hash(cert) == hashlib.sha512(_der(cert)).digest()


def test_certconf_hash_uses_pss_parameter_digest(rsa_key: rsa.RSAPrivateKey) -> None:
    pss = padding.PSS(padding.MGF1(hashes.SHA384()), 48)
    cert = _cert(rsa_key, hashes.SHA384(), rsa_padding=pss)
    assert cert_hash(cert) == hashlib.sha384(_der(cert)).digest()
    assert cert_hash_alg(cert) is None


def test_certconf_hash_of_ed25519_cert_is_sha512_named_in_hashalg() -> None:
    cert = _cert(ed25519.Ed25519PrivateKey.generate())
    assert cert_hash(cert) == hashlib.sha512(_der(cert)).digest()
    assert cert_hash_alg(cert) == AlgorithmIdentifier(digest("sha512").oid)


def test_certconf_hash_of_ed448_cert_is_shake256_64_bytes() -> None:
    cert = _cert(ed448.Ed448PrivateKey.generate())
    assert cert_hash(cert) == hashlib.shake_256(_der(cert)).digest(64)
    assert cert_hash_alg(cert) == AlgorithmIdentifier(digest("shake256").oid)


def test_explicit_hash_alg_wins() -> None:
    cert = _cert(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    alg = AlgorithmIdentifier(digest("sha384").oid)
    assert cert_hash(cert, alg) == hashlib.sha384(_der(cert)).digest()
    assert check_cert_hash(cert, hashlib.sha384(_der(cert)).digest(), alg)
    assert not check_cert_hash(cert, hashlib.sha256(_der(cert)).digest(), alg)


def test_unknown_hash_alg_does_not_match() -> None:
    cert = _cert(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    assert not check_cert_hash(cert, cert_hash(cert), AlgorithmIdentifier("1.2.3.4"))


def test_certconf_with_hash_alg_is_pvno_3() -> None:
    cert = _cert(ed25519.Ed25519PrivateKey.generate())
    body = cert_conf_body(cert)
    assert body.value[0].hash_alg is not None
    assert pvno_for_body(body) == 3
    legacy = cert_conf_body(cert, with_hash_alg=False)
    assert legacy.value[0].hash_alg is None
    assert legacy.value[0].cert_hash == hashlib.sha512(_der(cert)).digest()
    assert pvno_for_body(legacy) == 2


def test_certconf_hash_matches_openssl(captured_messages: CapturedMessages, pki: Pki) -> None:
    for protection in ("pbm", "sig"):
        conf = PKIMessage.from_der(captured_messages[protection]["certConf"][0])
        status = conf.body.value[0]
        assert status.cert_hash == cert_hash(pki.enrolled.cert)
        assert check_cert_hash(pki.enrolled.cert, status.cert_hash, status.hash_alg)


# --- interop: an Ed25519-signed certificate confirmed to OpenSSL 3.0 ----------------------------


@pytest.fixture
def ed25519_enrolled(pki: Pki, tmp_path: Path) -> Path:
    """A certificate for ``pki.new_key`` signed by an Ed25519 CA, as a PEM file."""
    ca_key = ed25519.Ed25519PrivateKey.generate()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.enrolled.cert.subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ed25519 CA")]))
        .public_key(pki.new_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ca_key, None)
    )
    path = tmp_path / "ed25519-enrolled.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _pbm_config(pki: Pki, **kwargs: Any) -> TransactionConfig:
    return TransactionConfig(
        secret=pki.secret, ref=pki.ref, recipient=pki.server.cert.subject, **kwargs
    )


def test_openssl_accepts_sha512_certhash_of_ed25519_cert(
    openssl_mock_server: MockServerFactory, pki: Pki, ed25519_enrolled: Path
) -> None:
    server = openssl_mock_server(["-rsp_cert", str(ed25519_enrolled)])
    request = EnrollRequest("ir", new_key=pki.new_key, subject=pki.enrolled.cert.subject)
    tx = Transaction(request, _pbm_config(pki, certconf_hash_alg=False))
    result = drive(tx, server.url).result
    assert [m.body_type for m in result.messages] == ["ir", "ip", "certConf", "pkiconf"]
    assert result.sent[-1].header.pvno == 2


def test_openssl_3_0_refuses_pvno_3_certconf(
    openssl_mock_server: MockServerFactory, pki: Pki, ed25519_enrolled: Path
) -> None:
    # RFC 9810 asks for hashAlg (hence pvno 3) with EdDSA certificates, which
    # OpenSSL before 3.2 does not speak (3.0 cannot even decode CertStatus with
    # hashAlg: HTTP 400): certconf_hash_alg=False is for those servers.
    server = openssl_mock_server(["-rsp_cert", str(ed25519_enrolled)])
    request = EnrollRequest("ir", new_key=pki.new_key, subject=pki.enrolled.cert.subject)
    tx = Transaction(request, _pbm_config(pki))
    try:
        result = drive(tx, server.url).result
    except (ServerError, httpx.HTTPStatusError):
        assert tx.sent[-1].body_type == "certConf"
        assert tx.sent[-1].header.pvno == 3
    else:  # an OpenSSL >= 3.2 accepts it
        assert result.sent[-1].header.pvno == 3
