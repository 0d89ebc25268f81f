"""certHash of certConf (RFC 9810 §5.3.18), for the client that sends it and
the server that checks it.

The hash is taken over the DER of the certificate with the hash algorithm of
the certificate's own signature (SHA-256 for ``ecdsa-with-SHA256``, the hash
in the parameters for RSASSA-PSS). Signature algorithms that name no hash get
the one RFC 9481 §2/RFC 8419 give them, as OpenSSL's ``X509_digest_sig()``
does: SHA-512 for Ed25519, SHAKE256 with 64 bytes of output for Ed448, and
SHA-256 for any other (ML-DSA, ...). For those RFC 9810 asks the certConf to
name the hash in ``hashAlg`` (which makes the message cmp2021, pvno 3);
:func:`cert_hash_alg` gives that AlgorithmIdentifier, or ``None`` when the
signature algorithm fixes the hash.
"""

from __future__ import annotations

import hmac

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import SignatureAlgorithmOID

from cmp import algorithms, certinfo
from cmp.algorithms import UnsupportedAlgorithm
from cmp.asn1 import AlgorithmIdentifier

__all__ = [
    "cert_hash",
    "cert_hash_alg",
    "cert_hash_digest",
    "check_cert_hash",
]

# Signature algorithms that carry no hash, and the hash RFC 9481 §2 / RFC 8419
# give them (OpenSSL's X509_digest_sig() agrees).
_NO_DIGEST_DEFAULTS: dict[str, str] = {
    SignatureAlgorithmOID.ED25519.dotted_string: "sha512",
    SignatureAlgorithmOID.ED448.dotted_string: "shake256",
}
_FALLBACK = "sha256"


def _signature_digest(cert: x509.Certificate) -> tuple[str, bool]:
    """(digest name, whether it is a fallback not named by the signature
    algorithm), kept with the certificate (both ends ask it once per certConf)."""
    return certinfo.fact(cert, "certHash digest", _find_signature_digest)


def _find_signature_digest(cert: x509.Certificate) -> tuple[str, bool]:
    try:
        h = cert.signature_hash_algorithm
    except _CryptoUnsupported:
        h = None
    if h is not None:
        return algorithms.digest(h.name).name, False
    return _NO_DIGEST_DEFAULTS.get(cert.signature_algorithm_oid.dotted_string, _FALLBACK), True


def cert_hash_digest(cert: x509.Certificate) -> str:
    """The name of the digest certHash uses for ``cert`` when certConf has no hashAlg."""
    return _signature_digest(cert)[0]


def cert_hash_alg(cert: x509.Certificate) -> AlgorithmIdentifier | None:
    """The hashAlg a certConf for ``cert`` carries (RFC 9810 §5.3.18): the
    digest's AlgorithmIdentifier where the signature algorithm names no hash
    (EdDSA, ML-DSA, ...), else ``None``."""
    name, fallback = _signature_digest(cert)
    return AlgorithmIdentifier(algorithms.digest(name).oid) if fallback else None


def _hash(der: bytes, digest_name: str) -> bytes:
    h = hashes.Hash(algorithms.hash_algorithm(digest_name))
    h.update(der)
    return h.finalize()


def cert_hash(cert: x509.Certificate, hash_alg: AlgorithmIdentifier | None = None) -> bytes:
    """certHash of ``cert``: with ``hash_alg`` when given (a certConf's hashAlg),
    else with the hash of the certificate's signature algorithm (see the
    module docstring). Raises :class:`cmp.algorithms.UnsupportedAlgorithm`
    for a hashAlg cmpkit does not know."""
    if hash_alg is None:
        name = cert_hash_digest(cert)
    else:
        if hash_alg.parameters not in (None, b"\x05\x00"):
            raise UnsupportedAlgorithm(f"unexpected parameters in hashAlg {hash_alg.algorithm}")
        name = algorithms.digest(hash_alg.algorithm).name
    # kept with the certificate: the client computes it, the server checks it
    return certinfo.fact(cert, f"certHash {name}", lambda c: _hash(certinfo.der(c), name))


def check_cert_hash(
    cert: x509.Certificate, received: bytes, hash_alg: AlgorithmIdentifier | None = None
) -> bool:
    """Whether ``received`` is the certHash of ``cert`` (with ``hash_alg`` if the
    certConf had one); an unknown hashAlg does not match."""
    try:
        expected = cert_hash(cert, hash_alg)
    except UnsupportedAlgorithm:
        return False
    return hmac.compare_digest(expected, received)
