"""Algorithm identifiers of CMP message protection (RFC 9481, RFC 9810 §5.1.3).

One table per kind: digests (the PBM one-way function, the hash of a
signature), HMACs (the PBM and PBMAC1 MAC, the PBKDF2 PRF) and signature
algorithms, each entry with its OID and the name OpenSSL gives it. Lookups
take either. :func:`signature_algorithm_for_key` chooses the protectionAlg
for a private key as ``openssl cmp`` does; :func:`signature_scheme` resolves
a received protectionAlg, RSASSA-PSS parameters included, to what
``cryptography`` needs to verify it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from cmp.asn1 import AlgorithmIdentifier, RsassaPssParams, decode, encode
from cmp.errors import UnsupportedAlgorithm

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import (
        PrivateKeyTypes,
        PublicKeyTypes,
    )

__all__ = [
    "DH_BASED_MAC",
    "DIGESTS",
    "HMACS",
    "KEM_BASED_MAC",
    "MGF1",
    "PASSWORD_BASED_MAC",
    "PBKDF2",
    "PBMAC1",
    "RSASSA_PSS",
    "SIGNATURES",
    "DigestAlgorithm",
    "MacAlgorithm",
    "SignatureAlgorithm",
    "SignatureScheme",
    "UnsupportedAlgorithm",
    "decode_pss_params",
    "digest",
    "encode_pss_params",
    "hash_algorithm",
    "hmac",
    "key_type",
    "signature_algorithm_for_key",
    "signature_scheme",
]

# --- MAC-based protection (RFC 9810 §5.1.3.1, RFC 9481 §6) -----------------------

PASSWORD_BASED_MAC = "1.2.840.113533.7.66.13"
"""id-PasswordBasedMac (RFC 4211 §4.4): parameters PBMParameter."""
PBMAC1 = "1.2.840.113549.1.5.14"
"""id-PBMAC1 (RFC 8018 §A.5): parameters PBMAC1-params."""
PBKDF2 = "1.2.840.113549.1.5.12"
"""id-PBKDF2 (RFC 8018 §A.2): the key derivation function of PBMAC1."""
DH_BASED_MAC = "1.2.840.113533.7.66.30"
"""id-DHBasedMac (RFC 9810 §5.1.3.2), which cmpkit does not support, nor does OpenSSL."""
KEM_BASED_MAC = "1.2.840.113533.7.66.16"
"""id-KemBasedMac (RFC 9810 §5.1.3.4), not supported yet."""

# --- signature parameters (RFC 4055) ----------------------------------------------

RSASSA_PSS = "1.2.840.113549.1.1.10"
"""id-RSASSA-PSS (RFC 4055 §3.1): parameters RSASSA-PSS-params."""
MGF1 = "1.2.840.113549.1.1.8"
"""id-mgf1 (RFC 4055 §2.2): parameters the hash AlgorithmIdentifier."""

_NULL = b"\x05\x00"


@dataclass(frozen=True)
class DigestAlgorithm:
    """A hash function: its OpenSSL name, OID and output size in bytes."""

    name: str
    oid: str
    size: int


@dataclass(frozen=True)
class MacAlgorithm:
    """An HMAC: its OpenSSL name, OID and the digest it is built on."""

    name: str
    oid: str
    digest: str


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A signature algorithm OID: which key type signs with it and which digest.

    ``digest`` is ``None`` where the algorithm hashes internally (EdDSA,
    ML-DSA) or takes it from its parameters (RSASSA-PSS). ``null_params``:
    the AlgorithmIdentifier carries NULL parameters (RSA PKCS #1 v1.5, RFC
    4055 §5); otherwise they are absent.
    """

    name: str
    oid: str
    key_type: str
    digest: str | None
    null_params: bool = False


DIGESTS: tuple[DigestAlgorithm, ...] = (
    DigestAlgorithm("sha1", "1.3.14.3.2.26", 20),
    DigestAlgorithm("sha224", "2.16.840.1.101.3.4.2.4", 28),
    DigestAlgorithm("sha256", "2.16.840.1.101.3.4.2.1", 32),
    DigestAlgorithm("sha384", "2.16.840.1.101.3.4.2.2", 48),
    DigestAlgorithm("sha512", "2.16.840.1.101.3.4.2.3", 64),
    DigestAlgorithm("sha512-224", "2.16.840.1.101.3.4.2.5", 28),
    DigestAlgorithm("sha512-256", "2.16.840.1.101.3.4.2.6", 32),
    DigestAlgorithm("sha3-224", "2.16.840.1.101.3.4.2.7", 28),
    DigestAlgorithm("sha3-256", "2.16.840.1.101.3.4.2.8", 32),
    DigestAlgorithm("sha3-384", "2.16.840.1.101.3.4.2.9", 48),
    DigestAlgorithm("sha3-512", "2.16.840.1.101.3.4.2.10", 64),
    # RFC 9481 §2.2: SHAKE128 with 32-byte, SHAKE256 with 64-byte output.
    DigestAlgorithm("shake128", "2.16.840.1.101.3.4.2.11", 32),
    DigestAlgorithm("shake256", "2.16.840.1.101.3.4.2.12", 64),
)
"""The digests of RFC 9481 §2 and the SHA-1/SHA-512/t OpenSSL also accepts."""

HMACS: tuple[MacAlgorithm, ...] = (
    # OpenSSL's "hmac-sha1" (its PBM default) is RFC 3370's hmac-sha1 OID.
    MacAlgorithm("hmac-sha1", "1.3.6.1.5.5.8.1.2", "sha1"),
    MacAlgorithm("hmacWithSHA1", "1.2.840.113549.2.7", "sha1"),
    MacAlgorithm("hmacWithSHA224", "1.2.840.113549.2.8", "sha224"),
    MacAlgorithm("hmacWithSHA256", "1.2.840.113549.2.9", "sha256"),
    MacAlgorithm("hmacWithSHA384", "1.2.840.113549.2.10", "sha384"),
    MacAlgorithm("hmacWithSHA512", "1.2.840.113549.2.11", "sha512"),
)
"""The HMACs of RFC 9481 §6.2.1 (RFC 8018 OIDs) and RFC 3370's hmac-sha1."""

_HMAC_ALIASES = {
    "hmac-sha224": "hmacWithSHA224",
    "hmac-sha256": "hmacWithSHA256",
    "hmac-sha384": "hmacWithSHA384",
    "hmac-sha512": "hmacWithSHA512",
}

SIGNATURES: tuple[SignatureAlgorithm, ...] = (
    # RSA PKCS #1 v1.5 (RFC 9481 §3.1, RFC 4055 §5)
    SignatureAlgorithm("sha1WithRSAEncryption", "1.2.840.113549.1.1.5", "rsa", "sha1", True),
    SignatureAlgorithm("sha224WithRSAEncryption", "1.2.840.113549.1.1.14", "rsa", "sha224", True),
    SignatureAlgorithm("sha256WithRSAEncryption", "1.2.840.113549.1.1.11", "rsa", "sha256", True),
    SignatureAlgorithm("sha384WithRSAEncryption", "1.2.840.113549.1.1.12", "rsa", "sha384", True),
    SignatureAlgorithm("sha512WithRSAEncryption", "1.2.840.113549.1.1.13", "rsa", "sha512", True),
    SignatureAlgorithm("RSA-SHA3-224", "2.16.840.1.101.3.4.3.13", "rsa", "sha3-224"),
    SignatureAlgorithm("RSA-SHA3-256", "2.16.840.1.101.3.4.3.14", "rsa", "sha3-256"),
    SignatureAlgorithm("RSA-SHA3-384", "2.16.840.1.101.3.4.3.15", "rsa", "sha3-384"),
    SignatureAlgorithm("RSA-SHA3-512", "2.16.840.1.101.3.4.3.16", "rsa", "sha3-512"),
    # RSASSA-PSS: the digest, MGF and salt length are in the parameters.
    SignatureAlgorithm("RSASSA-PSS", RSASSA_PSS, "rsa", None),
    # ECDSA (RFC 9481 §3.2, RFC 5758 §3.2): parameters absent.
    SignatureAlgorithm("ecdsa-with-SHA1", "1.2.840.10045.4.1", "ec", "sha1"),
    SignatureAlgorithm("ecdsa-with-SHA224", "1.2.840.10045.4.3.1", "ec", "sha224"),
    SignatureAlgorithm("ecdsa-with-SHA256", "1.2.840.10045.4.3.2", "ec", "sha256"),
    SignatureAlgorithm("ecdsa-with-SHA384", "1.2.840.10045.4.3.3", "ec", "sha384"),
    SignatureAlgorithm("ecdsa-with-SHA512", "1.2.840.10045.4.3.4", "ec", "sha512"),
    SignatureAlgorithm("ecdsa_with_SHA3-224", "2.16.840.1.101.3.4.3.9", "ec", "sha3-224"),
    SignatureAlgorithm("ecdsa_with_SHA3-256", "2.16.840.1.101.3.4.3.10", "ec", "sha3-256"),
    SignatureAlgorithm("ecdsa_with_SHA3-384", "2.16.840.1.101.3.4.3.11", "ec", "sha3-384"),
    SignatureAlgorithm("ecdsa_with_SHA3-512", "2.16.840.1.101.3.4.3.12", "ec", "sha3-512"),
    # EdDSA (RFC 9481 §3.3, RFC 8419): no digest, parameters absent.
    SignatureAlgorithm("ED25519", "1.3.101.112", "ed25519", None),
    SignatureAlgorithm("ED448", "1.3.101.113", "ed448", None),
    # ML-DSA (FIPS 204, RFC 9881), pure mode with the empty context.
    SignatureAlgorithm("ML-DSA-44", "2.16.840.1.101.3.4.3.17", "ml-dsa-44", None),
    SignatureAlgorithm("ML-DSA-65", "2.16.840.1.101.3.4.3.18", "ml-dsa-65", None),
    SignatureAlgorithm("ML-DSA-87", "2.16.840.1.101.3.4.3.19", "ml-dsa-87", None),
)
"""The signature algorithms of RFC 9481 §3 that ``cryptography`` can compute
(not the SHAKE variants: it has no SHAKE-based ECDSA or PSS), plus the SHA-1
ones OpenSSL still verifies."""


_DIGEST_BY_KEY: dict[str, DigestAlgorithm] = {}
for _d in DIGESTS:
    _DIGEST_BY_KEY[_d.name.lower()] = _d
    _DIGEST_BY_KEY[_d.name.replace("-", "").lower()] = _d
    _DIGEST_BY_KEY[_d.oid] = _d
_MAC_BY_KEY: dict[str, MacAlgorithm] = {}
for _m in HMACS:
    _MAC_BY_KEY[_m.name.lower()] = _m
    _MAC_BY_KEY[_m.oid] = _m
for _alias, _name in _HMAC_ALIASES.items():
    _MAC_BY_KEY[_alias] = _MAC_BY_KEY[_name.lower()]
_SIGNATURE_BY_KEY: dict[str, SignatureAlgorithm] = {}
for _s in SIGNATURES:
    _SIGNATURE_BY_KEY[_s.name.lower()] = _s
    _SIGNATURE_BY_KEY[_s.oid] = _s


def digest(name_or_oid: str) -> DigestAlgorithm:
    """The digest named ``name_or_oid`` (``sha256``, ``SHA-256``, ``2.16.840.1.101.3.4.2.1``)."""
    found = _DIGEST_BY_KEY.get(name_or_oid.lower()) or _DIGEST_BY_KEY.get(
        name_or_oid.replace("-", "").lower()
    )
    if found is None:
        raise UnsupportedAlgorithm(f"unknown digest algorithm {name_or_oid!r}")
    return found


def hmac(name_or_oid: str) -> MacAlgorithm:
    """The HMAC named ``name_or_oid`` (``hmac-sha1``, ``hmacWithSHA256``, or its OID)."""
    found = _MAC_BY_KEY.get(name_or_oid.lower())
    if found is None:
        raise UnsupportedAlgorithm(f"unknown MAC algorithm {name_or_oid!r}")
    return found


_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
    "sha512-224": hashes.SHA512_224(),
    "sha512-256": hashes.SHA512_256(),
    "sha3-224": hashes.SHA3_224(),
    "sha3-256": hashes.SHA3_256(),
    "sha3-384": hashes.SHA3_384(),
    "sha3-512": hashes.SHA3_512(),
    "shake128": hashes.SHAKE128(32),
    "shake256": hashes.SHAKE256(64),
}


def hash_algorithm(name_or_oid: str) -> hashes.HashAlgorithm:
    """The ``cryptography`` hash object of a digest name or OID."""
    found = _HASHES.get(name_or_oid)  # the canonical names: one lookup
    return found if found is not None else _HASHES[digest(name_or_oid).name]


# --- keys --------------------------------------------------------------------------


def key_type(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    """``rsa``, ``ec``, ``ed25519``, ``ed448`` or ``ml-dsa-NN`` for a private or public key."""
    kind = _KEY_TYPES.get(type(key))
    if kind is None:
        kind = _KEY_TYPES[type(key)] = _key_type(key)
    return kind


_KEY_TYPES: dict[type, str] = {}
"""key_type by the key's class: the ABC checks below are slow, and the
concrete classes are few (cryptography's, and any registered with its ABCs)."""


def _key_type(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "rsa"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ec"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    if isinstance(key, (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)):
        return "ed448"
    mldsa = _mldsa_type(key)
    if mldsa is not None:
        return mldsa
    raise UnsupportedAlgorithm(f"unsupported key type {type(key).__name__}")


def _mldsa_type(key: object) -> str | None:
    try:  # cryptography >= 47
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError:
        return None
    for size in ("44", "65", "87"):
        classes = (
            getattr(mldsa, f"MLDSA{size}PrivateKey"),
            getattr(mldsa, f"MLDSA{size}PublicKey"),
        )
        if isinstance(key, classes):
            return f"ml-dsa-{size}"
    return None


def signature_algorithm_for_key(
    key: PrivateKeyTypes, digest_name: str = "sha256", *, pss: bool = False
) -> AlgorithmIdentifier:
    """The protectionAlg for signing with ``key`` and ``digest_name``, as OpenSSL chooses it.

    RSA: ``sha<N>WithRSAEncryption`` with NULL parameters (RFC 4055 §5;
    OpenSSL 3.0 leaves them out, later versions put NULL), or with ``pss``
    RSASSA-PSS with MGF1 over the same digest and a salt as long as the
    digest (RFC 9481 §3.1). EC: ``ecdsa-with-<digest>``, no parameters.
    Ed25519, Ed448 and ML-DSA: their own OID, no parameters, the digest
    ignored.
    """
    return _signature_algorithm(key_type(key), digest_name, pss)


@functools.lru_cache(maxsize=64)
def _signature_algorithm(kind: str, digest_name: str, pss: bool) -> AlgorithmIdentifier:
    """:func:`signature_algorithm_for_key` by key type: a signer asks for the
    same (immutable) answer for every message it protects."""
    if kind in ("ed25519", "ed448") or kind.startswith("ml-dsa"):
        sig = next(s for s in SIGNATURES if s.key_type == kind)
        return AlgorithmIdentifier(sig.oid, None)
    d = digest(digest_name)
    if kind == "rsa" and pss:
        return AlgorithmIdentifier(RSASSA_PSS, encode_pss_params(d.name, d.size))
    for sig in SIGNATURES:
        if sig.key_type == kind and sig.digest == d.name:
            return AlgorithmIdentifier(sig.oid, _NULL if sig.null_params else None)
    raise UnsupportedAlgorithm(f"no signature algorithm for a {kind} key with digest {d.name}")


# --- resolving a received protectionAlg ---------------------------------------------


@dataclass(frozen=True)
class SignatureScheme:
    """What verifying a signature takes: the key type, the digest (``None`` for
    EdDSA/ML-DSA), and for RSASSA-PSS the MGF1 digest and the salt length."""

    name: str
    key_type: str
    digest: str | None
    pss: bool = False
    mgf_digest: str | None = None
    salt_length: int = 0


def signature_scheme(alg: AlgorithmIdentifier) -> SignatureScheme:
    """Resolves a signature protectionAlg; raises :class:`UnsupportedAlgorithm`.

    Parameters must be absent, or NULL for RSA PKCS #1 v1.5 (RFC 4055 §5
    accepts both); RSASSA-PSS parameters are decoded.
    """
    params = alg.parameters
    if params is None or type(params) is bytes:
        known = _SCHEMES.get((alg.algorithm, params))
        if known is not None:
            return known
    sig = _SIGNATURE_BY_KEY.get(alg.algorithm)
    if sig is None:
        raise UnsupportedAlgorithm(f"unsupported signature algorithm {alg.algorithm}")
    if sig.oid == RSASSA_PSS:
        if alg.parameters is None:
            raise UnsupportedAlgorithm("RSASSA-PSS without parameters")
        hash_name, mgf_hash, salt_length = decode_pss_params(alg.parameters)
        return SignatureScheme(sig.name, "rsa", hash_name, True, mgf_hash, salt_length)
    allowed = (None, _NULL) if sig.null_params else (None,)
    if alg.parameters not in allowed:
        raise UnsupportedAlgorithm(f"unexpected parameters for {sig.name}")
    return SignatureScheme(sig.name, sig.key_type, sig.digest)


_SCHEMES: dict[tuple[str, bytes | None], SignatureScheme] = {
    (s.oid, params): SignatureScheme(s.name, s.key_type, s.digest)
    for s in SIGNATURES
    if s.oid != RSASSA_PSS
    for params in ((None, _NULL) if s.null_params else (None,))
}
"""What :func:`signature_scheme` answers for each accepted (OID, parameters)
but RSASSA-PSS's, whose parameters are decoded: a fixed table, so that the
protectionAlg of every message is resolved by one lookup."""


# --- RSASSA-PSS-params (RFC 4055 §3.1, the native schema's RsassaPssParams) ---------


def _decoded(type_name: str, der: bytes, what: str) -> Any:
    try:
        return decode(type_name, der)
    except ValueError:
        raise UnsupportedAlgorithm(f"malformed {what} in RSASSA-PSS parameters") from None


def _hash_of(alg: AlgorithmIdentifier) -> str:
    if alg.parameters not in (None, _NULL):
        raise UnsupportedAlgorithm("unexpected hash parameters in RSASSA-PSS parameters")
    return digest(alg.algorithm).name


def decode_pss_params(der: bytes) -> tuple[str, str, int]:
    """(hash, MGF1 hash, salt length) of DER RSASSA-PSS-params, defaults applied."""
    params: RsassaPssParams = _decoded("RSASSA-PSS-params", der, "encoding")
    hash_name = "sha1" if params.hash_algorithm is None else _hash_of(params.hash_algorithm)
    mgf_hash = "sha1"
    if params.mask_gen_algorithm is not None:
        mgf = params.mask_gen_algorithm
        if mgf.algorithm != MGF1 or mgf.parameters is None:
            raise UnsupportedAlgorithm(f"unsupported mask generation function {mgf.algorithm}")
        mgf_hash = _hash_of(_decoded("AlgorithmIdentifier", mgf.parameters, "MGF1 hash"))
    salt_length = 20 if params.salt_length is None else params.salt_length
    if not 0 <= salt_length <= 1024:
        raise UnsupportedAlgorithm(f"RSASSA-PSS salt length {salt_length} out of range")
    if params.trailer_field not in (None, 1):
        raise UnsupportedAlgorithm(f"unsupported RSASSA-PSS trailerField {params.trailer_field}")
    return hash_name, mgf_hash, salt_length


def encode_pss_params(digest_name: str, salt_length: int) -> bytes:
    """DER RSASSA-PSS-params: ``digest_name`` for the hash and MGF1, the salt length.

    The hash AlgorithmIdentifiers carry NULL parameters, as RFC 4055 §3.1
    writes them (``sha256Identifier``) and OpenSSL emits them; DEFAULT values
    are left out, as DER requires.
    """
    d = digest(digest_name)
    hash_alg = AlgorithmIdentifier(d.oid, _NULL)
    mgf = AlgorithmIdentifier(MGF1, encode("AlgorithmIdentifier", hash_alg))
    default_hash = d.name == "sha1"
    return encode(
        "RSASSA-PSS-params",
        RsassaPssParams(
            hash_algorithm=None if default_hash else hash_alg,
            mask_gen_algorithm=None if default_hash else mgf,
            salt_length=None if salt_length == 20 else salt_length,
        ),
    )
