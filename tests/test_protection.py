"""Message protection (RFC 9810 §5.1.3, RFC 9481): PBM, PBMAC1 and signatures.

Checked against OpenSSL three ways: its CMP test vectors verify, every
message ``openssl cmp`` writes verifies, and ``openssl cmp``'s mock server
accepts requests that we protect.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from openssl_harness import (
    CAPTURED_KINDS,
    CapturedMessages,
    Pki,
    protection_args,
    run_openssl_cmp,
)

import cmp
from cmp import _native, algorithms
from cmp.algorithms import UnsupportedAlgorithm
from cmp.asn1 import (
    AlgorithmIdentifier,
    GeneralName,
    PBKDF2Params,
    PBMAC1Params,
    PBMParameter,
    PKIBody,
    PKIHeader,
    decode,
    encode,
)
from cmp.protection import (
    password_based_mac,
    protect_pbm,
    protect_pbmac1,
    protect_signature,
    signature_fields,
    signer_candidates,
    verify,
    verify_signature,
)

ID_PASSWORD_BASED_MAC = "1.2.840.113533.7.66.13"
ID_PBMAC1 = "1.2.840.113549.1.5.14"
ID_PBKDF2 = "1.2.840.113549.1.5.12"
HMAC_SHA1_OPENSSL = "1.3.6.1.5.5.8.1.2"
SHA256 = "2.16.840.1.101.3.4.2.1"
DIGESTS = ["sha1", "sha224", "sha256", "sha384", "sha512"]
MACS = ["hmac-sha1", "hmacWithSHA1", "hmacWithSHA224", "hmacWithSHA256", "hmacWithSHA384",
        "hmacWithSHA512"]  # fmt: skip
NULL = b"\x05\x00"


# --- building blocks -------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_message(sender: x509.Name | None = None, body: PKIBody | None = None) -> cmp.PKIMessage:
    """An unprotected genm, as a transaction would build it."""
    sender = _name("cmpkit test sender") if sender is None else sender
    header = PKIHeader(
        pvno=2,
        sender=GeneralName.directory_name(sender),
        recipient=GeneralName.directory_name(_name("cmpkit test recipient")),
        transaction_id=os.urandom(16),
        sender_nonce=os.urandom(16),
    )
    return cmp.PKIMessage(header, body or PKIBody("genm", ()))


def reparse(message: cmp.PKIMessage) -> cmp.PKIMessage:
    """The message as a receiver sees it: decoded from its DER."""
    return cmp.PKIMessage.from_der(message.to_der())


def flip(der: bytes, part: bytes, index: int = -1) -> bytes:
    """``der`` with one bit flipped in the (unique) occurrence of ``part``."""
    start = der.find(part)
    assert start >= 0 and der.find(part, start + 1) < 0
    pos = start + (index % len(part))
    return der[:pos] + bytes([der[pos] ^ 0x01]) + der[pos + 1 :]


def flip_protected_part(message: cmp.PKIMessage) -> cmp.PKIMessage:
    """A bit flipped inside the header's senderNonce (the DER stays valid)."""
    nonce = message.header.sender_nonce or message.header.transaction_id
    assert nonce is not None
    return cmp.PKIMessage.from_der(flip(message.to_der(), nonce))


def flip_protection(message: cmp.PKIMessage) -> cmp.PKIMessage:
    assert message.protection is not None
    return cmp.PKIMessage.from_der(flip(message.to_der(), message.protection))


@dataclasses.dataclass(frozen=True)
class Signer:
    key: Any
    cert: x509.Certificate


_CA_KEY = ec.generate_private_key(ec.SECP256R1())


def issue(
    key: PrivateKeyTypes,
    cn: str,
    *,
    ski: bool = True,
    usage: x509.KeyUsage | None = None,
) -> x509.Certificate:
    """A certificate for ``key`` issued by a throw-away EC CA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    public_key: Any = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name("cmpkit protection test CA"))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if ski:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    return builder.sign(_CA_KEY, hashes.SHA256())


def key_usage(*, digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=not digital_signature,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _mldsa_key() -> Any:
    mldsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.mldsa")
    return mldsa.MLDSA65PrivateKey.generate()


KEY_MAKERS: dict[str, Callable[[], Any]] = {
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ed448": ed448.Ed448PrivateKey.generate,
    "ml-dsa-65": _mldsa_key,
}


@pytest.fixture(scope="module")
def signers() -> dict[str, Signer]:
    """Signing keys and certificates, made on first use (RSA key generation is slow)."""
    return {}


def signer(signers: dict[str, Signer], kind: str) -> Signer:
    if kind not in signers:
        key = KEY_MAKERS[kind]()
        signers[kind] = Signer(key, issue(key, f"cmpkit {kind} signer"))
    return signers[kind]


def reference_pbm(secret: bytes, salt: bytes, n: int, owf: str, mac: str, data: bytes) -> bytes:
    """RFC 4211 §4.4 written out with hashlib."""
    key = hashlib.new(owf, secret + salt).digest()
    for _ in range(n - 1):
        key = hashlib.new(owf, key).digest()
    return hmac.new(key, data, mac).digest()


# --- OpenSSL's test vectors -------------------------------------------------------------


@pytest.fixture(scope="module")
def vectors(conformance_dir: Path) -> Path:
    return conformance_dir / "vectors"


def load(vectors: Path, name: str) -> cmp.PKIMessage:
    return cmp.PKIMessage.from_der((vectors / name).read_bytes())


def load_cert(vectors: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((vectors / name).read_bytes())


PBM_VECTORS = [
    ("protect_data/IP_PBM.der", "insta"),  # secret given in IP_PBM.txt
    ("vfy_data/IP_waitingStatus_PBM.der", "9pp8-b35i-Xd3Q-udNR"),  # IP_waitingStatus_PBM.txt
    ("server_data/CR_protected_PBM_1234.der", "1234"),
]
SIGNED_VECTORS = [
    ("vfy_data/IR_protected.der", "vfy_data/server.crt"),
    ("vfy_data/IR_protected_0_extraCerts.der", "vfy_data/insta.cert.pem"),
    ("vfy_data/IR_protected_2_extraCerts.der", "vfy_data/insta.cert.pem"),
]


@pytest.mark.parametrize(("name", "secret"), PBM_VECTORS)
def test_openssl_pbm_vector_verifies_with_its_secret(vectors: Path, name: str, secret: str) -> None:
    message = load(vectors, name)
    assert message.header.protection_alg is not None
    assert message.header.protection_alg.algorithm == ID_PASSWORD_BASED_MAC
    verify(message, secret=secret)


@pytest.mark.parametrize(("name", "secret"), PBM_VECTORS)
def test_pbm_protection_with_wrong_secret_fails(vectors: Path, name: str, secret: str) -> None:
    with pytest.raises(cmp.ProtectionError, match="wrong secret"):
        verify(load(vectors, name), secret=secret + "x")


@pytest.mark.parametrize(("name", "cert"), SIGNED_VECTORS)
def test_openssl_signed_vector_verifies_with_signer_certificate(
    vectors: Path, name: str, cert: str
) -> None:
    verify(load(vectors, name), cert=load_cert(vectors, cert))


def ed25519_vector_cert(vectors: Path) -> x509.Certificate:
    # prot_Ed.pem is the bare key that signed GENM_protected_Ed.der.
    key = serialization.load_pem_private_key(
        (vectors / "protect_data/prot_Ed.pem").read_bytes(), None
    )
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return issue(key, "prot_Ed")


def test_openssl_ed25519_vector_verifies_with_its_key(vectors: Path) -> None:
    message = load(vectors, "protect_data/GENM_protected_Ed.der")
    assert message.header.protection_alg == AlgorithmIdentifier("1.3.101.112", None)
    verify(message, cert=ed25519_vector_cert(vectors))


def test_protection_alg_parameters_are_part_of_the_protected_part(vectors: Path) -> None:
    # protect_data/IR_protected.der is vfy_data/IR_protected.der with NULL
    # parameters added to protectionAlg after signing (OpenSSL's protect test
    # only re-signs it): the signature no longer covers its header.
    altered = load(vectors, "protect_data/IR_protected.der")
    signer_cert = load_cert(vectors, "protect_data/server.crt")
    assert altered.header.protection_alg == AlgorithmIdentifier("1.2.840.113549.1.1.11", NULL)
    with pytest.raises(cmp.ProtectionError, match="does not verify"):
        verify(altered, cert=signer_cert)
    alg = dataclasses.replace(altered.header.protection_alg, parameters=None)
    original = cmp.PKIMessage(
        dataclasses.replace(altered.header, protection_alg=alg), altered.body
    ).with_protection(altered.protection)
    verify(reparse(original), cert=signer_cert)


def _vector_cases() -> list[tuple[str, dict[str, str]]]:
    cases = [(name, {"secret": secret}) for name, secret in PBM_VECTORS]
    cases += [(name, {"cert": cert}) for name, cert in SIGNED_VECTORS]
    cases.append(("protect_data/GENM_protected_Ed.der", {"ed25519": ""}))
    return cases


def _vector_credentials(vectors: Path, how: dict[str, str]) -> dict[str, Any]:
    if "secret" in how:
        return {"secret": how["secret"]}
    if "cert" in how:
        return {"cert": load_cert(vectors, how["cert"])}
    return {"cert": ed25519_vector_cert(vectors)}


@pytest.mark.parametrize(("name", "how"), _vector_cases())
def test_vector_with_flipped_bit_in_protected_part_fails(
    vectors: Path, name: str, how: dict[str, str]
) -> None:
    credentials = _vector_credentials(vectors, how)
    message = load(vectors, name)
    verify(message, **credentials)
    with pytest.raises(cmp.ProtectionError):
        verify(flip_protected_part(message), **credentials)


@pytest.mark.parametrize(("name", "how"), _vector_cases())
def test_vector_with_flipped_bit_in_protection_fails(
    vectors: Path, name: str, how: dict[str, str]
) -> None:
    credentials = _vector_credentials(vectors, how)
    with pytest.raises(cmp.ProtectionError):
        verify(flip_protection(load(vectors, name)), **credentials)


def test_signer_candidates_are_extra_certs_matching_sender_and_sender_kid(vectors: Path) -> None:
    message = load(vectors, "vfy_data/IR_protected_2_extraCerts.der")
    assert len(message.extra_certs) == 2
    candidates = signer_candidates(message)
    assert candidates == [load_cert(vectors, "vfy_data/insta.cert.pem")]
    verify(message, cert=candidates[0])


def test_signer_candidates_are_empty_without_extra_certs(vectors: Path) -> None:
    assert signer_candidates(load(vectors, "vfy_data/IR_protected_0_extraCerts.der")) == []


# --- messages written by openssl cmp ---------------------------------------------------


@pytest.mark.parametrize("kind", CAPTURED_KINDS)
def test_every_openssl_pbm_message_verifies(captured_messages: CapturedMessages, kind: str) -> None:
    for der in captured_messages.pbm[kind]:
        message = cmp.PKIMessage.from_der(der)
        verify(message, secret=captured_messages.secret)
        with pytest.raises(cmp.ProtectionError, match="wrong secret"):
            verify(message, secret=captured_messages.secret + b"!")


@pytest.mark.parametrize("kind", CAPTURED_KINDS)
def test_every_openssl_signed_message_verifies_with_its_extra_cert(
    captured_messages: CapturedMessages, pki: Pki, kind: str
) -> None:
    for der in captured_messages.sig[kind]:
        message = cmp.PKIMessage.from_der(der)
        candidates = signer_candidates(message)
        assert candidates and candidates[0] in (pki.client.cert, pki.server.cert)
        verify(message, cert=candidates[0])
        with pytest.raises(cmp.ProtectionError):
            verify(flip_protected_part(message), cert=candidates[0])


# --- signature protection ------------------------------------------------------------

SIGNATURE_CASES = [
    # (key kind, protect_signature options, expected protectionAlg)
    ("rsa", {}, AlgorithmIdentifier("1.2.840.113549.1.1.11", NULL)),
    ("rsa", {"digest": "sha512"}, AlgorithmIdentifier("1.2.840.113549.1.1.13", NULL)),
    ("rsa", {"pss": True}, AlgorithmIdentifier("1.2.840.113549.1.1.10",
                                               algorithms.encode_pss_params("sha256", 32))),
    ("rsa", {"pss": True, "digest": "sha384"}, AlgorithmIdentifier(
        "1.2.840.113549.1.1.10", algorithms.encode_pss_params("sha384", 48))),
    ("ec-p256", {}, AlgorithmIdentifier("1.2.840.10045.4.3.2")),
    ("ec-p384", {"digest": "sha384"}, AlgorithmIdentifier("1.2.840.10045.4.3.3")),
    ("ec-p256", {"digest": "sha3-256"}, AlgorithmIdentifier("2.16.840.1.101.3.4.3.10")),
    ("ed25519", {}, AlgorithmIdentifier("1.3.101.112")),
    ("ed448", {"digest": "sha512"}, AlgorithmIdentifier("1.3.101.113")),
    ("ml-dsa-65", {}, AlgorithmIdentifier("2.16.840.1.101.3.4.3.18")),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "options", "expected_alg"), SIGNATURE_CASES)
def test_signature_protection_round_trips(
    signers: dict[str, Signer],
    kind: str,
    options: dict[str, Any],
    expected_alg: AlgorithmIdentifier,
) -> None:
    s = signer(signers, kind)
    protected = reparse(protect_signature(make_message(s.cert.subject), s.key, s.cert, **options))
    assert protected.header.protection_alg == expected_alg
    verify(protected, cert=s.cert)
    with pytest.raises(cmp.ProtectionError, match="does not verify"):
        verify(flip_protected_part(protected), cert=s.cert)


@pytest.mark.parametrize(("kind", "options", "expected_alg"), SIGNATURE_CASES)
def test_signatures_are_those_of_cryptography_hashing_the_data_itself(
    signers: dict[str, Signer],
    kind: str,
    options: dict[str, Any],
    expected_alg: AlgorithmIdentifier,
) -> None:
    # protection hashes first (the native core, hashlib for SHA-3) and has the
    # digest signed and verified (Prehashed): the very signatures of
    # cryptography hashing the data, checked both ways with its own calls.
    s = signer(signers, kind)
    protected = protect_signature(make_message(s.cert.subject), s.key, s.cert, **options)
    scheme = algorithms.signature_scheme(expected_alg)
    data, sig = protected.protected_part(), protected.protection
    assert sig is not None
    public = s.cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        assert scheme.digest is not None
        ecdsa = ec.ECDSA(algorithms.hash_algorithm(scheme.digest))
        public.verify(sig, data, ecdsa)
        verify_signature(public, scheme, s.key.sign(data, ecdsa), data)
    elif isinstance(public, rsa.RSAPublicKey):
        assert scheme.digest is not None
        h = algorithms.hash_algorithm(scheme.digest)
        pad: Any = (
            padding.PSS(padding.MGF1(h), scheme.salt_length) if scheme.pss else padding.PKCS1v15()
        )
        public.verify(sig, data, pad, h)
        verify_signature(public, scheme, s.key.sign(data, pad, h), data)
    else:
        verify_signature(public, scheme, sig, data)
    with pytest.raises(InvalidSignature):
        verify_signature(public, scheme, sig, data + b"\0")
    # any buffer, as cryptography takes
    verify_signature(public, scheme, sig, bytearray(data))  # type: ignore[arg-type]
    verify_signature(public, scheme, sig, memoryview(data))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_native_digest_is_the_hash_of_the_data(name: str) -> None:
    for size in (0, 1, 55, 64, 1000, 1 << 16):
        data = os.urandom(size)
        assert _native.digest(name, data) == hashlib.new(name, data).digest()
    with pytest.raises(ValueError, match="unknown"):
        _native.digest("md5", b"")


def test_signature_sets_sender_kid_to_subject_key_identifier(signers: dict[str, Signer]) -> None:
    s = signer(signers, "ec-p256")
    ski = s.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    protected = protect_signature(make_message(s.cert.subject), s.key, s.cert)
    assert protected.header.sender_kid == ski


def test_signature_without_subject_key_identifier_keeps_sender_kid(
    signers: dict[str, Signer],
) -> None:
    s = signer(signers, "ec-p256")
    cert = issue(s.key, "no ski", ski=False)
    message = make_message(cert.subject)
    message = cmp.PKIMessage(dataclasses.replace(message.header, sender_kid=b"kid"), message.body)
    assert protect_signature(message, s.key, cert).header.sender_kid == b"kid"


@pytest.mark.parametrize("with_ski", [True, False])
def test_header_made_with_signature_fields_is_signed_as_a_copied_one(
    signers: dict[str, Signer], with_ski: bool
) -> None:
    # A header built with the protectionAlg and senderKID that signing puts in
    # is signed as it is; the bytes signed are those of a header signing copies.
    s = signer(signers, "ec-p256")
    cert = s.cert if with_ski else issue(s.key, "no ski", ski=False)
    plain = make_message(cert.subject)
    plain = cmp.PKIMessage(dataclasses.replace(plain.header, sender_kid=b"ref"), plain.body)
    alg, kid = signature_fields(s.key, cert, sender_kid=b"ref")
    assert kid == (cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
                   if with_ski else b"ref")  # fmt: skip
    ready = cmp.PKIMessage(
        dataclasses.replace(plain.header, protection_alg=alg, sender_kid=kid), plain.body
    )
    signed_copy = protect_signature(plain, s.key, cert)
    signed_ready = protect_signature(ready, s.key, cert)
    assert signed_ready.header is ready.header  # not copied
    assert signed_copy.header is not plain.header
    assert signed_ready.protected_part() == signed_copy.protected_part()
    verify(reparse(signed_ready), cert=cert)
    with pytest.raises(cmp.ProtectionError):
        verify(flip_protection(signed_ready), cert=cert)


def test_header_with_another_sender_kid_is_corrected_when_signed(
    signers: dict[str, Signer],
) -> None:
    s = signer(signers, "ec-p256")
    alg, ski = signature_fields(s.key, s.cert)
    assert ski is not None
    message = make_message(s.cert.subject)
    wrong = cmp.PKIMessage(
        dataclasses.replace(message.header, protection_alg=alg, sender_kid=b"not the ski"),
        message.body,
    )
    protected = protect_signature(wrong, s.key, s.cert)
    assert protected.header.sender_kid == ski
    verify(reparse(protected), cert=s.cert)


def test_signature_fields_refuse_a_key_of_another_certificate(
    signers: dict[str, Signer],
) -> None:
    other = issue(ec.generate_private_key(ec.SECP256R1()), "another key")
    with pytest.raises(cmp.ProtectionError, match="does not belong"):
        signature_fields(signer(signers, "ec-p256").key, other)


def test_signature_extra_certs_start_with_signer_without_duplicates(
    signers: dict[str, Signer],
) -> None:
    s, other = signer(signers, "ec-p256"), signer(signers, "ed25519")
    protected = protect_signature(
        make_message(s.cert.subject), s.key, s.cert, extra_certs=[other.cert, s.cert, other.cert]
    )
    der = serialization.Encoding.DER
    assert reparse(protected).extra_certs == (
        s.cert.public_bytes(der),
        other.cert.public_bytes(der),
    )


def test_signature_with_key_not_matching_certificate_is_refused(
    signers: dict[str, Signer],
) -> None:
    s, other = signer(signers, "ec-p256"), signer(signers, "ec-p384")
    with pytest.raises(cmp.ProtectionError, match="does not belong"):
        protect_signature(make_message(), other.key, s.cert)


def test_signature_verified_with_wrong_key_type_fails(signers: dict[str, Signer]) -> None:
    s, other = signer(signers, "ec-p256"), signer(signers, "rsa")
    protected = protect_signature(make_message(), s.key, s.cert)
    with pytest.raises(cmp.ProtectionError, match="needs a ec key"):
        verify(protected, cert=other.cert)


def test_signature_verified_with_other_certificate_fails(signers: dict[str, Signer]) -> None:
    s = signer(signers, "ec-p256")
    other = issue(ec.generate_private_key(ec.SECP256R1()), "other")
    protected = protect_signature(make_message(), s.key, s.cert)
    with pytest.raises(cmp.ProtectionError, match="does not verify"):
        verify(protected, cert=other)


def test_signer_key_usage_must_allow_digital_signature(signers: dict[str, Signer]) -> None:
    s = signer(signers, "ec-p256")
    cert = issue(s.key, "no digitalSignature", usage=key_usage(digital_signature=False))
    protected = protect_signature(make_message(cert.subject), s.key, cert)
    with pytest.raises(cmp.ProtectionError, match="digitalSignature"):
        verify(protected, cert=cert)
    verify(protected, cert=cert, ignore_keyusage=True)
    good = issue(s.key, "digitalSignature", usage=key_usage(digital_signature=True))
    verify(protect_signature(make_message(good.subject), s.key, good), cert=good)


def test_signature_protected_message_needs_a_certificate(signers: dict[str, Signer]) -> None:
    s = signer(signers, "ed25519")
    with pytest.raises(cmp.ProtectionError, match="no certificate"):
        verify(protect_signature(make_message(), s.key, s.cert), secret=b"secret")


def test_signer_candidates_need_matching_sender_name(signers: dict[str, Signer]) -> None:
    s = signer(signers, "ec-p256")
    matching = protect_signature(make_message(s.cert.subject), s.key, s.cert)
    assert signer_candidates(reparse(matching)) == [s.cert]
    other_sender = protect_signature(make_message(_name("someone else")), s.key, s.cert)
    assert signer_candidates(reparse(other_sender)) == []


def test_signer_candidates_compare_names_as_openssl(signers: dict[str, Signer]) -> None:
    # X509_NAME_cmp ignores case and runs of white space in string values.
    s = signer(signers, "ec-p256")
    sender = _name("CMPKIT   ec-p256 SIGNER")
    assert signer_candidates(reparse(protect_signature(make_message(sender), s.key, s.cert))) == [
        s.cert
    ]


def test_signer_candidates_need_matching_sender_kid(signers: dict[str, Signer]) -> None:
    s = signer(signers, "ec-p256")
    protected = protect_signature(make_message(s.cert.subject), s.key, s.cert)
    wrong_kid = dataclasses.replace(protected.header, sender_kid=b"not the key id")
    assert (
        signer_candidates(cmp.PKIMessage(wrong_kid, protected.body, None, protected.extra_certs))
        == []
    )


def test_null_dn_sender_is_identified_by_sender_kid(signers: dict[str, Signer]) -> None:
    s = signer(signers, "ec-p256")
    protected = protect_signature(make_message(x509.Name([])), s.key, s.cert)
    assert signer_candidates(reparse(protected)) == [s.cert]


def test_null_dn_sender_without_sender_kid_cannot_be_protected() -> None:
    with pytest.raises(cmp.ProtectionError, match="NULL-DN"):
        protect_pbm(make_message(x509.Name([])), b"secret")


def test_pss_parameters_round_trip() -> None:
    for digest in DIGESTS:
        size = algorithms.digest(digest).size
        assert algorithms.decode_pss_params(algorithms.encode_pss_params(digest, size)) == (
            digest,
            digest,
            size,
        )
    # RFC 4055 §3.1: an empty SEQUENCE means SHA-1, MGF1-SHA-1, 20 salt bytes.
    assert algorithms.decode_pss_params(b"\x30\x00") == ("sha1", "sha1", 20)


@pytest.mark.parametrize(
    "der",
    [
        b"\x30\x03\xa3\x01\x02",
        b"\x30\x05\xa2\x03\x02\x01\x14\x00",
        b"\x31\x00",
        b"\x30\x05\xa9\x03\x02\x01\x01",
    ],
)
def test_malformed_pss_parameters_are_unsupported(der: bytes) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        algorithms.decode_pss_params(der)


def test_pss_with_unsupported_trailer_field_fails_verification(signers: dict[str, Signer]) -> None:
    s = signer(signers, "rsa")
    message = protect_signature(make_message(), s.key, s.cert, pss=True)
    params = b"\x30\x05\xa3\x03\x02\x01\x02"  # trailerField 2
    alg = AlgorithmIdentifier("1.2.840.113549.1.1.10", params)
    bad = cmp.PKIMessage(
        dataclasses.replace(message.header, protection_alg=alg), message.body, message.protection
    )
    with pytest.raises(cmp.ProtectionError, match="trailerField"):
        verify(bad, cert=s.cert)


def test_signature_algorithm_for_key_follows_openssl(signers: dict[str, Signer]) -> None:
    rsa_key, ec_key = signer(signers, "rsa").key, signer(signers, "ec-p256").key
    choose = algorithms.signature_algorithm_for_key
    assert choose(rsa_key) == AlgorithmIdentifier("1.2.840.113549.1.1.11", NULL)
    assert choose(rsa_key, "sha1") == AlgorithmIdentifier("1.2.840.113549.1.1.5", NULL)
    assert choose(ec_key, "sha224") == AlgorithmIdentifier("1.2.840.10045.4.3.1")
    assert choose(signer(signers, "ed448").key, "sha256") == AlgorithmIdentifier("1.3.101.113")
    with pytest.raises(UnsupportedAlgorithm):
        choose(ec_key, "md5")


# --- PBM -------------------------------------------------------------------------------


def pbm_params(message: cmp.PKIMessage) -> PBMParameter:
    alg = message.header.protection_alg
    assert alg is not None and alg.algorithm == ID_PASSWORD_BASED_MAC
    assert alg.parameters is not None
    params: PBMParameter = decode("PBMParameter", alg.parameters)
    return params


@pytest.mark.parametrize("owf", DIGESTS)
@pytest.mark.parametrize("mac", MACS)
def test_pbm_protection_round_trips(owf: str, mac: str) -> None:
    protected = reparse(protect_pbm(make_message(), b"insta", owf=owf, mac=mac))
    params = pbm_params(protected)
    assert params.owf == AlgorithmIdentifier(algorithms.digest(owf).oid)
    assert params.mac == AlgorithmIdentifier(algorithms.hmac(mac).oid)
    verify(protected, secret=b"insta")
    with pytest.raises(cmp.ProtectionError, match="wrong secret"):
        verify(protected, secret=b"insta2")
    with pytest.raises(cmp.ProtectionError, match="does not match"):
        verify(flip_protected_part(protected), secret=b"insta")


@settings(max_examples=25, deadline=None)
@given(
    secret=st.binary(max_size=64),
    other=st.binary(max_size=64),
    salt=st.binary(min_size=1, max_size=64),
    iterations=st.integers(100, 2000),
)
def test_pbm_verifies_with_its_secret_only(
    secret: bytes, other: bytes, salt: bytes, iterations: int
) -> None:
    protected = reparse(protect_pbm(make_message(), secret, salt=salt, iterations=iterations))
    verify(protected, secret=secret)
    if other != secret:
        with pytest.raises(cmp.ProtectionError):
            verify(protected, secret=other)


def test_pbm_failure_reason_does_not_reveal_the_secret() -> None:
    protected = reparse(protect_pbm(make_message(), b"s3cr3t-value"))
    with pytest.raises(cmp.ProtectionError) as failure:
        verify(protected, secret=b"0ther-s3cr3t")
    assert "s3cr3t" not in str(failure.value)
    assert "\n" not in str(failure.value)


def test_pbm_defaults_are_openssls() -> None:
    params = pbm_params(protect_pbm(make_message(), b"secret"))
    assert len(params.salt) == 16
    assert params.owf == AlgorithmIdentifier(SHA256)
    assert params.iteration_count == 500
    assert params.mac == AlgorithmIdentifier(HMAC_SHA1_OPENSSL)


def test_pbm_salt_is_fresh_for_each_message() -> None:
    message = make_message()
    assert (
        pbm_params(protect_pbm(message, b"s")).salt != pbm_params(protect_pbm(message, b"s")).salt
    )


def test_pbm_protection_is_the_mac_of_the_protected_part() -> None:
    salt = bytes(range(16))
    protected = reparse(protect_pbm(make_message(), "insta", salt=salt, iterations=1000))
    expected = reference_pbm(b"insta", salt, 1000, "sha256", "sha1", protected.protected_part())
    assert protected.protection == expected


def test_pbm_sets_sender_kid_to_reference() -> None:
    assert protect_pbm(make_message(), b"s", ref="3078").header.sender_kid == b"3078"
    assert protect_pbm(make_message(), b"s", ref=b"\x01").header.sender_kid == b"\x01"


def test_protecting_again_replaces_the_protection(signers: dict[str, Signer]) -> None:
    s = signer(signers, "ec-p256")
    signed = protect_signature(make_message(s.cert.subject), s.key, s.cert)
    reprotected = reparse(protect_pbm(signed, b"secret"))
    verify(reprotected, secret=b"secret")
    assert reprotected.extra_certs == signed.extra_certs


def test_pbm_iteration_count_outside_limits_is_refused_when_protecting() -> None:
    for count in (0, 99, 100_001, 2**64):
        with pytest.raises(cmp.LimitError, match="iterations"):
            protect_pbm(make_message(), b"s", iterations=count)
    for count in (0, 2**64):
        with pytest.raises(cmp.LimitError, match="iterations"):
            protect_pbmac1(make_message(), b"s", iterations=count)


def _with_pbm_params(params_der: bytes) -> cmp.PKIMessage:
    message = make_message()
    alg = AlgorithmIdentifier(ID_PASSWORD_BASED_MAC, params_der)
    header = dataclasses.replace(message.header, protection_alg=alg)
    return reparse(cmp.PKIMessage(header, message.body, bytes(20)))


@pytest.mark.parametrize("count", [2**31, 2**63 - 1, 100_001])
def test_huge_pbm_iteration_count_is_rejected_before_hashing(count: int) -> None:
    params = PBMParameter(
        b"salt", AlgorithmIdentifier(SHA256), count, AlgorithmIdentifier(HMAC_SHA1_OPENSSL)
    )
    message = _with_pbm_params(encode("PBMParameter", params))
    start = time.perf_counter()
    with pytest.raises(cmp.ProtectionError, match="iterationCount"):
        verify(message, secret=b"secret")
    assert time.perf_counter() - start < 0.5


def test_pbm_iteration_count_beyond_integer_range_is_rejected() -> None:
    count = (2**100).to_bytes(13, "big")
    content = (
        b"\x04\x04salt"
        + b"\x30\x0b\x06\x09" + bytes.fromhex("608648016503040201")
        + b"\x02\x0d" + count
        + b"\x30\x0a\x06\x08" + bytes.fromhex("2b06010505080102")
    )  # fmt: skip
    with pytest.raises(cmp.ProtectionError, match="malformed PBMParameter"):
        verify(_with_pbm_params(bytes([0x30, len(content)]) + content), secret=b"secret")


def test_pbm_iteration_count_below_rfc_minimum_is_rejected() -> None:
    params = PBMParameter(
        b"salt", AlgorithmIdentifier(SHA256), 99, AlgorithmIdentifier(HMAC_SHA1_OPENSSL)
    )
    with pytest.raises(cmp.ProtectionError, match="iterationCount 99"):
        verify(_with_pbm_params(encode("PBMParameter", params)), secret=b"secret")


def test_max_iterations_raises_the_pbm_cap() -> None:
    protected = reparse(protect_pbm(make_message(), b"s", iterations=1000))
    with pytest.raises(cmp.ProtectionError, match="iterationCount 1000"):
        verify(protected, secret=b"s", max_iterations=999)
    verify(protected, secret=b"s", max_iterations=1000)


@pytest.mark.parametrize(
    ("owf", "mac", "reason"),
    [
        ("1.2.840.113549.2.5", HMAC_SHA1_OPENSSL, "one-way function"),  # md5
        ("2.16.840.1.101.3.4.2.8", HMAC_SHA1_OPENSSL, "one-way function"),  # sha3-256
        (SHA256, "2.16.840.1.101.3.4.2.19", "MAC"),  # KMAC128
    ],
)
def test_pbm_with_unsupported_algorithm_fails(owf: str, mac: str, reason: str) -> None:
    params = PBMParameter(b"salt", AlgorithmIdentifier(owf), 500, AlgorithmIdentifier(mac))
    with pytest.raises(cmp.ProtectionError, match=f"unsupported PBM {reason}"):
        verify(_with_pbm_params(encode("PBMParameter", params)), secret=b"secret")


def test_pbm_without_parameters_fails() -> None:
    message = make_message()
    header = dataclasses.replace(
        message.header, protection_alg=AlgorithmIdentifier(ID_PASSWORD_BASED_MAC)
    )
    with pytest.raises(cmp.ProtectionError, match="lacks its PBMParameter"):
        verify(reparse(cmp.PKIMessage(header, message.body, bytes(20))), secret=b"s")


def test_mac_protected_message_needs_a_secret() -> None:
    with pytest.raises(cmp.ProtectionError, match="no secret"):
        verify(protect_pbm(make_message(), b"s"))


# --- password_based_mac ------------------------------------------------------------------


def test_password_based_mac_takes_openssl_names_and_oids() -> None:
    args = (b"insta", b"saltsalt", 500)
    by_name = password_based_mac(*args, "sha256", "hmac-sha1", b"data")
    assert by_name == password_based_mac(*args, SHA256, HMAC_SHA1_OPENSSL, b"data")
    assert by_name == reference_pbm(*args, "sha256", "sha1", b"data")
    with_sha256 = password_based_mac(*args, "SHA-256", "hmacWithSHA256", b"data")
    assert with_sha256 == password_based_mac(*args, "sha256", "1.2.840.113549.2.9", b"data")
    assert with_sha256 == reference_pbm(*args, "sha256", "sha256", b"data")


@pytest.mark.parametrize("iterations", [0, 99, 100_001, 2**31, 2**64])
def test_password_based_mac_out_of_bounds_raises_limit_error(iterations: int) -> None:
    with pytest.raises(cmp.LimitError, match="iterations"):
        password_based_mac(b"s", b"salt", iterations, "sha256", "hmac-sha1", b"data")


def test_password_based_mac_with_unknown_algorithm_is_unsupported() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        password_based_mac(b"s", b"salt", 500, "md5", "hmac-sha1", b"data")
    with pytest.raises(UnsupportedAlgorithm):
        password_based_mac(b"s", b"salt", 500, "sha256", "kmac128", b"data")


# --- PBMAC1 ------------------------------------------------------------------------------


def pbmac1_params(message: cmp.PKIMessage) -> tuple[PBMAC1Params, PBKDF2Params]:
    alg = message.header.protection_alg
    assert alg is not None and alg.algorithm == ID_PBMAC1 and alg.parameters is not None
    params: PBMAC1Params = decode("PBMAC1Params", alg.parameters)
    kdf = params.key_derivation_func
    assert kdf.algorithm == ID_PBKDF2 and kdf.parameters is not None
    return params, decode("PBKDF2Params", kdf.parameters)


@pytest.mark.parametrize("prf", ["hmacWithSHA1", "hmacWithSHA256", "hmacWithSHA512"])
@pytest.mark.parametrize("mac", ["hmacWithSHA256", "hmacWithSHA384", "hmac-sha1"])
def test_pbmac1_protection_round_trips(prf: str, mac: str) -> None:
    protected = reparse(protect_pbmac1(make_message(), b"secret", prf=prf, mac=mac, iterations=50))
    verify(protected, secret=b"secret")
    with pytest.raises(cmp.ProtectionError, match="wrong secret"):
        verify(protected, secret=b"secreT")
    with pytest.raises(cmp.ProtectionError):
        verify(flip_protected_part(protected), secret=b"secret")


def test_pbmac1_defaults_follow_rfc_9481() -> None:
    protected = reparse(protect_pbmac1(make_message(), b"secret", ref="client"))
    params, kdf = pbmac1_params(protected)
    assert params.message_auth_scheme == AlgorithmIdentifier("1.2.840.113549.2.9", NULL)
    assert kdf.prf == AlgorithmIdentifier("1.2.840.113549.2.9", NULL)
    assert kdf.salt.kind == "specified" and len(kdf.salt.value) == 16
    assert kdf.key_length == 32
    assert kdf.iteration_count == 10_000
    assert protected.header.sender_kid == b"client"
    key = hashlib.pbkdf2_hmac("sha256", b"secret", kdf.salt.value, 10_000, 32)
    expected = hmac.new(key, protected.protected_part(), "sha256").digest()
    assert protected.protection == expected


def test_pbmac1_with_the_default_prf_leaves_it_out_as_der_requires() -> None:
    # RFC 8018 §A.2: prf DEFAULT algid-hmacWithSHA1; DER omits a DEFAULT value.
    protected = reparse(protect_pbmac1(make_message(), b"secret", prf="hmacWithSHA1"))
    _, kdf = pbmac1_params(protected)
    assert kdf.prf is None
    verify(protected, secret=b"secret")
    key = hashlib.pbkdf2_hmac("sha1", b"secret", kdf.salt.value, kdf.iteration_count, 32)
    assert protected.protection == hmac.new(key, protected.protected_part(), "sha256").digest()


def test_pbmac1_huge_iteration_count_is_rejected_before_hashing() -> None:
    protected = protect_pbmac1(make_message(), b"secret", iterations=100_001)
    start = time.perf_counter()
    with pytest.raises(cmp.ProtectionError, match="PBKDF2 iterationCount 100001"):
        verify(reparse(protected), secret=b"secret")
    assert time.perf_counter() - start < 0.5


# --- other protection algorithms --------------------------------------------------------


def test_unprotected_message_fails_verification() -> None:
    with pytest.raises(cmp.ProtectionError, match="not protected"):
        verify(reparse(make_message()), secret=b"s")


def test_protection_alg_without_protection_fails() -> None:
    protected = protect_pbm(make_message(), b"s")
    stripped = cmp.PKIMessage(protected.header, protected.body)
    with pytest.raises(cmp.ProtectionError, match="no protection"):
        verify(reparse(stripped), secret=b"s")


@pytest.mark.parametrize(
    ("oid", "reason"),
    [
        ("1.2.840.113533.7.66.30", "DHBasedMac protection is not supported"),
        ("1.2.840.113533.7.66.16", "KemBasedMac protection is not supported"),
        ("1.2.840.10040.4.3", "unsupported signature algorithm"),  # dsa-with-sha1
    ],
)
def test_unsupported_protection_algorithm_fails(oid: str, reason: str) -> None:
    message = make_message()
    header = dataclasses.replace(message.header, protection_alg=AlgorithmIdentifier(oid))
    cert = issue(ec.generate_private_key(ec.SECP256R1()), "any")
    with pytest.raises(cmp.ProtectionError, match=reason):
        verify(reparse(cmp.PKIMessage(header, message.body, bytes(20))), secret=b"s", cert=cert)


# --- OpenSSL accepts what we protect -----------------------------------------------------


def unprotected_ir(captured_messages: CapturedMessages, sender: x509.Name | None = None) -> Any:
    """openssl's first ir with its protection (and extraCerts) stripped."""
    ir = cmp.PKIMessage.from_der(captured_messages.pbm["ir"][0])
    header = dataclasses.replace(ir.header, protection_alg=None, sender_kid=None)
    if sender is not None:
        header = dataclasses.replace(header, sender=GeneralName.directory_name(sender))
    return cmp.PKIMessage(header, ir.body)


def send_to_openssl_mock_server(
    openssl_bin: str, pki: Pki, tmp_path: Path, request: cmp.PKIMessage, mode: str
) -> tuple[int, cmp.PKIMessage]:
    """Runs ``openssl cmp -use_mock_srv -reqin`` with ``request`` as the ir; the
    mock server verifies its protection. Returns the exit status and the response."""
    (tmp_path / "ir.der").write_bytes(request.to_der())
    args = [
        "-batch", "-use_mock_srv", "-cmd", "ir",
        "-reqin", "ir.der", "-rspout", "ip.der",
        *protection_args(pki, "pbm" if mode == "pbm" else "sig"),
        "-newkey", str(pki.new_key_path), "-subject", pki.enrolled.subject_arg,
        "-certout", "enrolled.pem",
    ]  # fmt: skip
    done = run_openssl_cmp(args, tmp_path, check=False, openssl=openssl_bin)
    response = cmp.PKIMessage.from_der((tmp_path / "ip.der").read_bytes())
    return done.returncode, response


def assert_accepted(status: int, response: cmp.PKIMessage) -> None:
    assert response.body_type == "ip", response.status_info()
    info = response.status_info()
    assert info is not None and info.status == 0
    assert status == 0


@pytest.mark.parametrize(
    ("owf", "mac"),
    [("sha256", "hmac-sha1"), ("sha1", "hmacWithSHA256"), ("sha512", "hmacWithSHA512")],
)
def test_openssl_mock_server_accepts_our_pbm_protected_ir(
    openssl_bin: str,
    pki: Pki,
    captured_messages: CapturedMessages,
    tmp_path: Path,
    owf: str,
    mac: str,
) -> None:
    ir = protect_pbm(unprotected_ir(captured_messages), pki.secret, ref=pki.ref, owf=owf, mac=mac)
    assert_accepted(*send_to_openssl_mock_server(openssl_bin, pki, tmp_path, ir, "pbm"))


def test_openssl_mock_server_rejects_our_pbm_with_wrong_secret(
    openssl_bin: str, pki: Pki, captured_messages: CapturedMessages, tmp_path: Path
) -> None:
    ir = protect_pbm(unprotected_ir(captured_messages), b"wrong", ref=pki.ref)
    status, response = send_to_openssl_mock_server(openssl_bin, pki, tmp_path, ir, "pbm")
    assert status != 0 and response.body_type == "error"


INTEROP_SIGNERS = [
    ("ec", {}), ("rsa", {}), ("rsa", {"pss": True}), ("ec", {"digest": "sha384"}),
    ("ed25519", {}), ("ed448", {}),
]  # fmt: skip


def interop_signer(pki: Pki, kind: str) -> tuple[Any, x509.Certificate]:
    """A key and a certificate the mock server trusts (issued by the test root)."""
    if kind == "ec":
        return pki.client_ec.key, pki.client_ec.cert
    if kind == "rsa":
        return pki.client_rsa.key, pki.client_rsa.cert
    key: Any = KEY_MAKERS[kind]()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"cmpkit {kind} client"))
        .issuer_name(pki.root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(pki.root.key.public_key()), False
        )
        .sign(pki.root.key, hashes.SHA256())
    )
    return key, cert


@pytest.mark.parametrize(("kind", "options"), INTEROP_SIGNERS)
def test_openssl_mock_server_accepts_our_signed_ir(
    openssl_bin: str,
    pki: Pki,
    captured_messages: CapturedMessages,
    tmp_path: Path,
    kind: str,
    options: dict[str, Any],
) -> None:
    key, cert = interop_signer(pki, kind)
    ir = protect_signature(unprotected_ir(captured_messages, cert.subject), key, cert, **options)
    assert_accepted(*send_to_openssl_mock_server(openssl_bin, pki, tmp_path, ir, "sig"))


def test_openssl_mock_server_rejects_our_ir_with_flipped_signature(
    openssl_bin: str, pki: Pki, captured_messages: CapturedMessages, tmp_path: Path
) -> None:
    key, cert = pki.client_ec.key, pki.client_ec.cert
    ir = flip_protection(
        protect_signature(unprotected_ir(captured_messages, cert.subject), key, cert)
    )
    status, response = send_to_openssl_mock_server(openssl_bin, pki, tmp_path, ir, "sig")
    assert status != 0 and response.body_type == "error"
