"""Protecting and verifying PKIMessages (RFC 9810 §5.1.3, RFC 9481).

- :func:`protect_pbm`: password-based MAC (RFC 4211 §4.4), ``openssl cmp
  -secret``'s protection, with OpenSSL's defaults;
- :func:`protect_pbmac1`: PBMAC1 (RFC 8018 §7.1 as RFC 9481 §6.1.1 profiles it);
- :func:`protect_signature`: a signature with a ``cryptography`` private key
  (RSA, RSA-PSS, ECDSA, Ed25519, Ed448, ML-DSA), ``openssl cmp -key/-cert``;
- :func:`verify`: checks either kind, raising :class:`cmp.ProtectionError`
  with a one-line reason, and :func:`signer_candidates` finds the extraCerts
  that may have signed a message, as OpenSSL looks for them.

protectionAlg is part of the protected header, so protecting a message sets
it first and then MACs or signs the ProtectedPart of the new header; the MAC
loops run in the native core with the GIL released. Verifying reads the
ProtectedPart from the received bytes and checks every parameter against its
limits before any hashing. Certificate path validation is not done here.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar, Union, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from cmp import _mac, _native, algorithms, certinfo
from cmp.algorithms import (
    DH_BASED_MAC,
    KEM_BASED_MAC,
    PASSWORD_BASED_MAC,
    PBKDF2,
    PBMAC1,
    SignatureScheme,
    UnsupportedAlgorithm,
)
from cmp.asn1 import (
    AlgorithmIdentifier,
    PBKDF2Params,
    PBKDF2Salt,
    PBMAC1Params,
    PBMParameter,
    PKIHeader,
    decode,
    encode,
)
from cmp.dn import same_name
from cmp.errors import DecodeError, LimitError, ProtectionError
from cmp.headers import with_protection_alg
from cmp.message import PKIMessage
from cmp.names import name_from_der

__all__ = [
    "DEFAULT_PBKDF2_ITERATIONS",
    "DEFAULT_PBM_ITERATIONS",
    "DEFAULT_SALT_LENGTH",
    "MAX_SIGNER_PATHS",
    "password_based_mac",
    "protect_pbm",
    "protect_pbmac1",
    "protect_signature",
    "sign_data",
    "signature_fields",
    "signer_candidates",
    "verify",
    "verify_signature",
]

Secret = Union[bytes, str]
"""A shared secret: ``bytes``, or ``str`` taken as UTF-8 (as ``openssl cmp -secret pass:``)."""

DEFAULT_PBM_ITERATIONS = 500
"""PBM iterationCount ``openssl cmp`` uses (``OSSL_CMP_OPT_PBM_ITERATIONCOUNT``)."""
DEFAULT_SALT_LENGTH = 16
"""Salt bytes for PBM and PBMAC1, as ``openssl cmp`` (``OSSL_CMP_OPT_PBM_SLEN``)."""
DEFAULT_PBKDF2_ITERATIONS = 10_000
"""PBKDF2 iterationCount of :func:`protect_pbmac1` (RFC 8018 §4.2 asks for >= 1000)."""

_NULL = b"\x05\x00"
_NULL_DN = b"\x30\x00"
_NATIVE_DIGESTS = frozenset({"sha1", "sha224", "sha256", "sha384", "sha512"})


def _secret_bytes(secret: Secret) -> bytes:
    return secret.encode() if isinstance(secret, str) else bytes(secret)


# --- password-based MAC -------------------------------------------------------------


def _native_digest(name_or_oid: str, role: str) -> algorithms.DigestAlgorithm:
    found = algorithms.digest(name_or_oid)
    if found.name not in _NATIVE_DIGESTS:
        raise UnsupportedAlgorithm(f"{role} {found.name} is not supported")
    return found


def password_based_mac(
    secret: Secret,
    salt: bytes,
    iterations: int,
    owf: str,
    mac: str,
    data: bytes,
    *,
    min_iterations: int = _mac.PBM_MIN_ITERATIONS,
    max_iterations: int = _mac.PBM_MAX_ITERATIONS,
) -> bytes:
    """PBM of ``data`` (RFC 4211 §4.4): HMAC-``mac`` keyed with ``owf`` iterated
    ``iterations`` times over ``secret || salt``.

    ``owf`` and ``mac`` are OpenSSL names (``sha256``, ``hmac-sha1``,
    ``hmacWithSHA256``) or OIDs. Raises :class:`cmp.LimitError` when the
    iteration count, salt or secret is out of bounds (before hashing), and
    :class:`cmp.algorithms.UnsupportedAlgorithm` for an unknown algorithm.
    """
    owf_alg = _native_digest(owf, "PBM one-way function")
    mac_alg = algorithms.hmac(mac)
    try:
        return _mac.password_based_mac(
            _secret_bytes(secret),
            salt,
            iterations,
            owf_alg.oid,
            mac_alg.oid,
            data,
            min_iterations=min_iterations,
            max_iterations=max_iterations,
        )
    except ValueError as e:  # the algorithms are known: what is left is a limit
        raise LimitError(str(e)) from None


def _pbmac1(
    secret: Secret,
    salt: bytes,
    iterations: int,
    key_length: int,
    prf: algorithms.MacAlgorithm,
    mac: algorithms.MacAlgorithm,
    data: bytes,
    max_iterations: int,
) -> bytes:
    for alg in (prf, mac):
        if alg.digest not in _NATIVE_DIGESTS:
            raise UnsupportedAlgorithm(f"PBMAC1 with {alg.name} is not supported")
    try:
        return _mac.pbmac1(
            prf.oid,
            mac.oid,
            _secret_bytes(secret),
            salt,
            iterations,
            key_length,
            data,
            max_iterations=max_iterations,
        )
    except ValueError as e:
        raise LimitError(str(e)) from None


# --- protecting ----------------------------------------------------------------------


def _check_limit(name: str, value: int, low: int, high: int) -> None:
    # Before encoding: an out-of-range count must be a LimitError, not an EncodeError.
    if not low <= value <= high:
        raise LimitError(f"{name} {value} out of range: allowed {low}..={high}")


def _ref_bytes(ref: Secret | None) -> bytes | None:
    return None if ref is None else _secret_bytes(ref)


def _check_sender_identified(header: PKIHeader) -> None:
    # RFC 9810 §5.1.1: a sender that does not know its name uses the NULL-DN
    # and must then be identified by senderKID; OpenSSL refuses otherwise.
    sender = header.sender
    if sender.kind == "directoryName" and sender.value == _NULL_DN and header.sender_kid is None:
        raise ProtectionError("sender is the NULL-DN and no senderKID identifies it")


def _with_protection_alg(
    message: PKIMessage, alg: AlgorithmIdentifier, sender_kid: bytes | None
) -> PKIMessage:
    """The message with ``alg`` (and senderKID, if given) in its header,
    unprotected: ``message`` itself when it is so already (its header made
    with them, see :func:`signature_fields`)."""
    header = message.header
    if (
        message.protection is None
        and header.protection_alg is alg
        and (sender_kid is None or header.sender_kid == sender_kid)
    ):
        _check_sender_identified(header)
        return message
    header = with_protection_alg(header, alg, sender_kid)
    _check_sender_identified(header)
    return PKIMessage(header, message.body, None, message.extra_certs)


def _certs_der(certs: Sequence[x509.Certificate]) -> list[bytes]:
    return [certinfo.der(c) for c in certs]


def _unique(certs: Sequence[bytes]) -> list[bytes]:
    return list(dict.fromkeys(certs))  # first occurrence of each, in order


def protect_pbm(
    message: PKIMessage,
    secret: Secret,
    *,
    ref: Secret | None = None,
    salt: bytes | None = None,
    iterations: int = DEFAULT_PBM_ITERATIONS,
    owf: str = "sha256",
    mac: str = "hmac-sha1",
    extra_certs: Sequence[x509.Certificate] = (),
) -> PKIMessage:
    """``message`` protected with PBM under ``secret``, as ``openssl cmp -secret`` does.

    The defaults are OpenSSL's: 16 random salt bytes, SHA-256 as one-way
    function, 500 iterations, HMAC-SHA1 (OID 1.3.6.1.5.5.8.1.2). ``ref``
    (``-ref``) becomes the senderKID; any protection the message had is
    replaced, its extraCerts are kept and ``extra_certs`` appended.
    """
    owf_alg = _native_digest(owf, "PBM one-way function")
    mac_alg = algorithms.hmac(mac)
    _check_limit("iterations", iterations, _mac.PBM_MIN_ITERATIONS, _mac.PBM_MAX_ITERATIONS)
    salt = os.urandom(DEFAULT_SALT_LENGTH) if salt is None else bytes(salt)
    params = PBMParameter(
        salt, AlgorithmIdentifier(owf_alg.oid), iterations, AlgorithmIdentifier(mac_alg.oid)
    )
    alg = AlgorithmIdentifier(PASSWORD_BASED_MAC, encode("PBMParameter", params))
    unprotected = _with_protection_alg(message, alg, _ref_bytes(ref))
    protection = password_based_mac(
        secret, salt, iterations, owf_alg.oid, mac_alg.oid, unprotected.protected_part()
    )
    certs = _unique([*message.extra_certs, *_certs_der(extra_certs)])
    return unprotected.with_protection(protection, certs)


_PBKDF2_DEFAULT_PRF = "1.2.840.113549.2.7"
"""hmacWithSHA1, the PBKDF2 prf when PBKDF2-params has none (RFC 8018 §A.2)."""


def protect_pbmac1(
    message: PKIMessage,
    secret: Secret,
    *,
    ref: Secret | None = None,
    salt: bytes | None = None,
    iterations: int = DEFAULT_PBKDF2_ITERATIONS,
    prf: str = "hmacWithSHA256",
    mac: str = "hmacWithSHA256",
    key_length: int | None = None,
    extra_certs: Sequence[x509.Certificate] = (),
) -> PKIMessage:
    """``message`` protected with PBMAC1 (RFC 9481 §6.1.1) under ``secret``.

    PBKDF2 with HMAC-``prf`` derives a ``key_length``-byte key (default: the
    output size of ``mac``) from ``secret`` and a 16-byte random salt; the
    protection is HMAC-``mac`` of the ProtectedPart under that key.
    """
    prf_alg, mac_alg = algorithms.hmac(prf), algorithms.hmac(mac)
    _check_limit("iterations", iterations, _mac.PBKDF2_MIN_ITERATIONS, _mac.PBKDF2_MAX_ITERATIONS)
    salt = os.urandom(DEFAULT_SALT_LENGTH) if salt is None else bytes(salt)
    if key_length is None:
        key_length = algorithms.digest(mac_alg.digest).size
    kdf = PBKDF2Params(
        PBKDF2Salt("specified", salt),
        iterations,
        key_length,
        # DER leaves out a DEFAULT value: prf is hmacWithSHA1 when absent (RFC
        # 8018 §A.2), and OpenSSL's PKCS5_pbkdf2_set() omits it likewise.
        None if prf_alg.oid == _PBKDF2_DEFAULT_PRF else AlgorithmIdentifier(prf_alg.oid, _NULL),
    )
    params = PBMAC1Params(
        AlgorithmIdentifier(PBKDF2, encode("PBKDF2Params", kdf)),
        AlgorithmIdentifier(mac_alg.oid, _NULL),
    )
    alg = AlgorithmIdentifier(PBMAC1, encode("PBMAC1Params", params))
    unprotected = _with_protection_alg(message, alg, _ref_bytes(ref))
    protection = _pbmac1(
        secret,
        salt,
        iterations,
        key_length,
        prf_alg,
        mac_alg,
        unprotected.protected_part(),
        _mac.PBKDF2_MAX_ITERATIONS,
    )
    certs = _unique([*message.extra_certs, *_certs_der(extra_certs)])
    return unprotected.with_protection(protection, certs)


def _key_kind(key: PrivateKeyTypes | PublicKeyTypes) -> str | None:
    """:func:`cmp.algorithms.key_type` (looked up by the key's class, not by a
    chain of ABC checks), None for a key of no type it knows."""
    try:
        return algorithms.key_type(key)
    except UnsupportedAlgorithm:
        return None


class _Prehash(NamedTuple):
    """How to hash the input of a signature before handing it to ``cryptography``."""

    digest: Callable[[bytes], bytes]
    algorithm: utils.Prehashed
    ecdsa: ec.ECDSA


_PREHASH: dict[str, _Prehash | None] = {}
"""Prehashing by digest name, None for a digest hashed by ``cryptography``.
Hashing first and signing or verifying the digest (``Prehashed``) gives the
same signatures as handing ``cryptography`` the data, and spares it fetching
the digest from the provider on every call: an EC P-256 verification takes
~66 µs instead of ~79 µs. SHA-1 and SHA-2 are hashed by the native core
(RustCrypto, SHA-NI where the CPU has it), SHA-3 by hashlib."""


def _core_digester(name: str) -> Callable[[bytes], bytes]:
    # The core takes bytes; cryptography took any buffer, and so do we.
    return lambda data: _native.digest(name, data if type(data) is bytes else bytes(data))


def _hashlib_digester(constructor: Callable[[bytes], Any]) -> Callable[[bytes], bytes]:
    return lambda data: cast(bytes, constructor(data).digest())


_DIGESTERS: dict[str, Callable[[bytes], bytes]] = {
    **{name: _core_digester(name) for name in ("sha1", "sha224", "sha256", "sha384", "sha512")},
    **{
        f"sha3-{bits}": _hashlib_digester(getattr(hashlib, f"sha3_{bits}"))
        for bits in (224, 256, 384, 512)
        if hasattr(hashlib, f"sha3_{bits}")
    },
}


def _prehash(digest_name: str | None) -> _Prehash | None:
    assert digest_name is not None
    try:
        return _PREHASH[digest_name]
    except KeyError:
        pass
    digester = _DIGESTERS.get(digest_name)
    found = None
    if digester is not None:
        prehashed = utils.Prehashed(algorithms.hash_algorithm(digest_name))
        found = _Prehash(digester, prehashed, ec.ECDSA(prehashed))
    _PREHASH[digest_name] = found
    return found


def _ec_args(digest_name: str | None, data: bytes) -> tuple[bytes, ec.ECDSA]:
    pre = _prehash(digest_name)
    if pre is None:
        return data, ec.ECDSA(algorithms.hash_algorithm(cast(str, digest_name)))
    return pre.digest(data), pre.ecdsa


def _rsa_args(
    digest_name: str | None, data: bytes
) -> tuple[bytes, hashes.HashAlgorithm | utils.Prehashed]:
    assert digest_name is not None
    pre = _prehash(digest_name)
    if pre is None:
        return data, algorithms.hash_algorithm(digest_name)
    return pre.digest(data), pre.algorithm


def sign_data(key: PrivateKeyTypes, scheme: SignatureScheme, data: bytes) -> bytes:
    """Signs ``data`` with ``key`` under ``scheme`` (the counterpart of
    :func:`verify_signature`): protection, POPO, any signed CMP structure."""
    kind = _key_kind(key)
    if kind == "ec":
        return cast(ec.EllipticCurvePrivateKey, key).sign(*_ec_args(scheme.digest, data))
    if kind == "rsa":
        rsa_key = cast(rsa.RSAPrivateKey, key)
        assert scheme.digest is not None
        h = algorithms.hash_algorithm(scheme.digest)
        signed, how = _rsa_args(scheme.digest, data)
        if scheme.pss:
            return rsa_key.sign(signed, padding.PSS(padding.MGF1(h), scheme.salt_length), how)
        return rsa_key.sign(signed, padding.PKCS1v15(), how)
    if kind in ("ed25519", "ed448"):
        return cast(Union[ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey], key).sign(data)
    signer: Any = key  # ML-DSA: sign(data) in pure mode with the empty context
    signature: bytes = signer.sign(data)
    return signature


class _Signer(NamedTuple):
    """What :func:`protect_signature` derives from a key, its certificate and
    the digest, the same for every message they sign."""

    key: PrivateKeyTypes
    cert: x509.Certificate
    alg: AlgorithmIdentifier
    scheme: SignatureScheme
    sender_kid: bytes | None
    cert_der: bytes


_signers: OrderedDict[tuple[int, int, str, bool], _Signer] = OrderedDict()
"""The last :data:`cmp.certinfo.MAX_SIGNING_KEYS` signers (a client's or a
server's credentials sign every message they send). An entry holds its key
and certificate, so the identities in its key are not reused while it is
kept; both are immutable, so the key-belongs-to-certificate check made when
the entry was made still holds."""
_signers_lock = threading.Lock()


def _signer(key: PrivateKeyTypes, cert: x509.Certificate, digest: str, pss: bool) -> _Signer:
    ids = (id(key), id(cert), digest, pss)
    found = _signers.get(ids)  # one dict lookup: atomic, no lock needed to read
    if found is not None and found.key is key and found.cert is cert:
        return found
    if certinfo.key_spki(key, signing=True) != certinfo.spki(cert):
        raise ProtectionError("the private key does not belong to the signer certificate")
    alg = algorithms.signature_algorithm_for_key(key, digest, pss=pss)
    signer = _Signer(
        key,
        cert,
        alg,
        algorithms.signature_scheme(alg),
        certinfo.subject_key_id(cert),
        certinfo.der(cert),
    )
    with _signers_lock:
        _signers[ids] = signer
        while len(_signers) > certinfo.MAX_SIGNING_KEYS:
            _signers.popitem(last=False)
    return signer


def signature_fields(
    key: PrivateKeyTypes,
    cert: x509.Certificate,
    *,
    digest: str = "sha256",
    pss: bool = False,
    sender_kid: bytes | None = None,
) -> tuple[AlgorithmIdentifier, bytes | None]:
    """The protectionAlg and senderKID of a header that :func:`protect_signature`
    signs with these arguments as it is, without copying it: the senderKID
    is the subject key identifier of ``cert``, else ``sender_kid`` (the one
    the header would have had). Raises :class:`cmp.ProtectionError` when
    ``key`` does not belong to ``cert``."""
    signer = _signer(key, cert, digest, pss)
    return signer.alg, sender_kid if signer.sender_kid is None else signer.sender_kid


def protect_signature(
    message: PKIMessage,
    key: PrivateKeyTypes,
    cert: x509.Certificate,
    *,
    digest: str = "sha256",
    pss: bool = False,
    extra_certs: Sequence[x509.Certificate] = (),
) -> PKIMessage:
    """``message`` signed with ``key``, as ``openssl cmp -key -cert`` signs.

    protectionAlg follows from the key (see
    :func:`cmp.algorithms.signature_algorithm_for_key`; ``pss`` selects
    RSASSA-PSS for an RSA key), senderKID becomes the subject key identifier
    of ``cert`` when it has one, and extraCerts start with ``cert``, then
    ``extra_certs`` and any the message had, without duplicates. Raises
    :class:`cmp.ProtectionError` when ``key`` does not belong to ``cert``.
    """
    signer = _signer(key, cert, digest, pss)
    unsigned = _with_protection_alg(message, signer.alg, signer.sender_kid)
    signature = sign_data(key, signer.scheme, unsigned.protected_part())
    certs = _unique([signer.cert_der, *_certs_der(extra_certs), *message.extra_certs])
    return unsigned.with_protection(signature, certs)


# --- verifying -------------------------------------------------------------------------

_T = TypeVar("_T")


def _decode(type_name: str, der: bytes | None) -> Any:
    if der is None:
        raise ProtectionError(f"protectionAlg lacks its {type_name}")
    try:
        return decode(type_name, der)
    except (DecodeError, ValueError):
        raise ProtectionError(f"malformed {type_name} in protectionAlg") from None


def _resolve(lookup: Callable[[str], _T], oid: str, role: str) -> _T:
    try:
        return lookup(oid)
    except UnsupportedAlgorithm:
        raise ProtectionError(f"unsupported {role} {oid}") from None


def _check_count(kind: str, count: int, low: int, high: int) -> None:
    if not low <= count <= high:
        raise ProtectionError(f"{kind} iterationCount {count} is outside {low}..{high}")


def _compare_mac(kind: str, expected: bytes, protection: bytes) -> None:
    if not _hmac.compare_digest(expected, protection):
        raise ProtectionError(f"{kind} protection does not match: wrong secret or altered message")


def _verify_pbm(message: PKIMessage, secret: Secret, max_iterations: int) -> None:
    alg = message.header.protection_alg
    assert alg is not None and message.protection is not None
    params: PBMParameter = _decode("PBMParameter", alg.parameters)
    _check_count("PBM", params.iteration_count, _mac.PBM_MIN_ITERATIONS, max_iterations)
    owf = _resolve(
        lambda o: _native_digest(o, "PBM one-way function"),
        params.owf.algorithm,
        "PBM one-way function",
    )
    mac = _resolve(algorithms.hmac, params.mac.algorithm, "PBM MAC algorithm")
    try:
        expected = password_based_mac(
            secret,
            params.salt,
            params.iteration_count,
            owf.oid,
            mac.oid,
            message.protected_part(),
            max_iterations=max_iterations,
        )
    except LimitError as e:
        raise ProtectionError(f"PBM parameters rejected: {e}") from None
    _compare_mac("PBM", expected, message.protection)


def _verify_pbmac1(message: PKIMessage, secret: Secret, max_iterations: int) -> None:
    alg = message.header.protection_alg
    assert alg is not None and message.protection is not None
    params: PBMAC1Params = _decode("PBMAC1Params", alg.parameters)
    kdf = params.key_derivation_func
    if kdf.algorithm != PBKDF2:
        raise ProtectionError(f"unsupported PBMAC1 key derivation function {kdf.algorithm}")
    kdf_params: PBKDF2Params = _decode("PBKDF2Params", kdf.parameters)
    if kdf_params.salt.kind != "specified":
        raise ProtectionError("unsupported PBKDF2 salt: only a specified OCTET STRING is")
    _check_count("PBKDF2", kdf_params.iteration_count, _mac.PBKDF2_MIN_ITERATIONS, max_iterations)
    # RFC 8018 §A.2: the PRF defaults to hmacWithSHA1.
    prf_oid = _PBKDF2_DEFAULT_PRF if kdf_params.prf is None else kdf_params.prf.algorithm
    prf = _resolve(algorithms.hmac, prf_oid, "PBKDF2 PRF")
    mac = _resolve(algorithms.hmac, params.message_auth_scheme.algorithm, "PBMAC1 MAC")
    key_length = kdf_params.key_length
    if key_length is None:  # absent: as long as the MAC's own output
        key_length = algorithms.digest(mac.digest).size
    try:
        expected = _pbmac1(
            secret,
            kdf_params.salt.value,
            kdf_params.iteration_count,
            key_length,
            prf,
            mac,
            message.protected_part(),
            max_iterations,
        )
    except (LimitError, UnsupportedAlgorithm) as e:
        raise ProtectionError(f"PBMAC1 parameters rejected: {e}") from None
    _compare_mac("PBMAC1", expected, message.protection)


_MAC_VERIFIERS: dict[str, Callable[[PKIMessage, Secret, int], None]] = {
    PASSWORD_BASED_MAC: _verify_pbm,
    PBMAC1: _verify_pbmac1,
}
_UNSUPPORTED_MACS = {
    DH_BASED_MAC: "DHBasedMac",
    KEM_BASED_MAC: "KemBasedMac",
}


MAX_SIGNER_PATHS = 8
"""Candidate signers of one message (named by its sender and senderKID and
verifying its signature, so holding the same key) whose certificate path
is validated before the search gives up. A real peer has one, a renewed
certificate or two; a forged message with hundreds of copies in its
extraCerts would otherwise cost a path validation each."""

RSA_MAX_BITS = 16384
"""The largest RSA key :func:`verify_signature` uses: libcrypto's own cap
(``OPENSSL_RSA_MAX_MODULUS_BITS``), checked here before any work. Smaller
limits are policy: see ``TransactionConfig.min_rsa_bits``/``max_rsa_bits``."""


def verify_signature(key: PublicKeyTypes, scheme: SignatureScheme, sig: bytes, data: bytes) -> None:
    """Checks ``sig`` over ``data`` with ``key`` under ``scheme`` (from
    :func:`cmp.algorithms.signature_scheme`), e.g. a POPO signature; raises
    InvalidSignature (or cryptography's UnsupportedAlgorithm, ValueError).
    An RSA key above :data:`RSA_MAX_BITS` is refused (ValueError) before any
    work is done with it."""
    kind = _key_kind(key)
    if kind == "ec":
        cast(ec.EllipticCurvePublicKey, key).verify(sig, *_ec_args(scheme.digest, data))
    elif kind == "rsa":
        key = cast(rsa.RSAPublicKey, key)
        if key.key_size > RSA_MAX_BITS:
            raise ValueError(
                f"RSA key of {key.key_size} bits is larger than the maximum of {RSA_MAX_BITS} bits"
            )
        signed, how = _rsa_args(scheme.digest, data)
        if scheme.pss:
            assert scheme.mgf_digest is not None
            mgf = padding.MGF1(algorithms.hash_algorithm(scheme.mgf_digest))
            key.verify(sig, signed, padding.PSS(mgf, scheme.salt_length), how)
        else:
            key.verify(sig, signed, padding.PKCS1v15(), how)
    elif kind in ("ed25519", "ed448"):
        cast(Union[ed25519.Ed25519PublicKey, ed448.Ed448PublicKey], key).verify(sig, data)
    else:
        verifier: Any = key  # ML-DSA, pure mode with the empty context
        verifier.verify(sig, data)


def _check_key_usage(cert: x509.Certificate) -> None:
    # OpenSSL (cmp_vfy.c): a keyUsage extension, if present, must allow digitalSignature.
    try:
        usage = certinfo.key_usage(cert)
    except certinfo.PARSE_ERRORS as e:
        raise ProtectionError(f"signer certificate's extensions do not decode: {e}") from None
    if usage is not None and not usage.digital_signature:
        raise ProtectionError("signer certificate's keyUsage lacks digitalSignature")


def _subject(cert: x509.Certificate) -> str:
    """The certificate's subject for a message: quoted, or what keeps it from being read."""
    try:
        return repr(cert.subject.rfc4514_string())
    except certinfo.PARSE_ERRORS:
        return "an unreadable subject"


def _verify_signature(message: PKIMessage, cert: x509.Certificate, ignore_keyusage: bool) -> None:
    alg = message.header.protection_alg
    assert alg is not None and message.protection is not None
    try:
        scheme = algorithms.signature_scheme(alg)
    except UnsupportedAlgorithm as e:
        raise ProtectionError(str(e)) from None
    if not ignore_keyusage:
        _check_key_usage(cert)
    try:
        public_key = cert.public_key()
    except certinfo.PARSE_ERRORS as e:  # a malformed key, an unknown curve or algorithm
        raise ProtectionError(f"signer certificate's public key cannot be used: {e}") from None
    try:
        kind = algorithms.key_type(public_key)
    except UnsupportedAlgorithm as e:
        raise ProtectionError(f"signer certificate: {e}") from None
    if kind != scheme.key_type:
        raise ProtectionError(
            f"protectionAlg {scheme.name} needs a {scheme.key_type} key,"
            f" the signer certificate has a {kind} key"
        )
    try:
        verify_signature(public_key, scheme, message.protection, message.protected_part())
    except InvalidSignature:
        raise ProtectionError(
            f"{scheme.name} signature does not verify with the certificate of {_subject(cert)}"
        ) from None
    except (_CryptoUnsupported, ValueError) as e:
        raise ProtectionError(f"cannot verify {scheme.name} signature: {e}") from None


def verify(
    message: PKIMessage,
    *,
    secret: Secret | None = None,
    cert: x509.Certificate | None = None,
    max_iterations: int = _mac.PBM_MAX_ITERATIONS,
    ignore_keyusage: bool = False,
) -> None:
    """Checks the protection of ``message``; raises :class:`cmp.ProtectionError` if it fails.

    A MAC (PBM, PBMAC1) is checked with ``secret``, a signature with the
    public key of ``cert``, the signer's certificate (whose keyUsage must
    allow digitalSignature unless ``ignore_keyusage``), as OpenSSL checks a
    pinned ``-srvcert``; :func:`signer_candidates` finds candidates among
    the extraCerts. ``max_iterations`` caps the PBM and PBKDF2
    iterationCount: larger ones are rejected before any hashing.
    """
    alg = message.header.protection_alg
    if alg is None:
        raise ProtectionError("message is not protected: its header has no protectionAlg")
    if message.protection is None:
        raise ProtectionError("message has a protectionAlg but no protection")
    mac_verifier = _MAC_VERIFIERS.get(alg.algorithm)
    if mac_verifier is not None:
        if secret is None:
            raise ProtectionError("message is MAC-protected but no secret was given")
        mac_verifier(message, secret, max_iterations)
    elif alg.algorithm in _UNSUPPORTED_MACS:
        raise ProtectionError(f"{_UNSUPPORTED_MACS[alg.algorithm]} protection is not supported")
    else:
        if cert is None:
            raise ProtectionError("message is signature-protected but no certificate was given")
        _verify_signature(message, cert, ignore_keyusage)


# --- finding the signer ----------------------------------------------------------------


def signer_candidates(
    message: PKIMessage, certs: Sequence[bytes] | None = None
) -> list[x509.Certificate]:
    """The extraCerts (or, when given, the DER ``certs``) that may have
    signed ``message``, in their order.

    As OpenSSL's ``cert_acceptable`` (cmp_vfy.c): the subject must equal the
    sender (a directoryName) and, when the header has a senderKID, the subject
    key identifier must equal it. A NULL-DN sender is identified by the
    senderKID alone (RFC 9810 §5.1.1). Neither the signature nor the path is
    checked here. Certificates that do not decode, or whose subject or
    extensions do not, are skipped (OpenSSL never gets to see them); a sender
    that is no valid Name raises :class:`cmp.DecodeError`.
    """
    header = message.header
    if header.sender.kind != "directoryName":
        return []
    kid = header.sender_kid
    null_dn = header.sender.value == _NULL_DN
    if null_dn and kid is None:
        return []
    sender = None if null_dn else name_from_der(header.sender.value)
    found = []
    for der in message.extra_certs if certs is None else certs:
        try:
            cert = certinfo.load_der(der)
            if sender is not None and not same_name(cert.subject, sender):
                continue
            if kid is not None and certinfo.subject_key_id(cert) != kid:
                continue
        except certinfo.PARSE_ERRORS:  # not a certificate, a bad subject or extensions
            continue
        found.append(cert)
    return found
