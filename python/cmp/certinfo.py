"""What cmpkit asks of a certificate (a name, a key) again and again, computed once.

One CMP transaction looks at the same few certificates dozens of times:
the signer among the extraCerts, the trust store, the enrolled certificate
(its DER for extraCerts and certHash, its subject key identifier for the
senderKID, whether it is self-signed, ...). ``cryptography`` recomputes
each of these on every call (``public_bytes`` encodes afresh), and these
calls were a tenth of a signature-protected transaction's time.

The facts are kept per certificate *object* in a bounded table keyed by
object identity; an entry holds its certificate, so an identity is never
reused while it is cached. :func:`load_der` parses DER to the same object
while it is cached, so certificates that arrive in every message (the
server's signer, the CA certificates) share their facts too. Certificates
are immutable, which makes all of this safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, TypeVar, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

__all__ = [
    "MAX_CACHED",
    "MAX_CACHED_BYTES",
    "MAX_SIGNING_KEYS",
    "PARSE_ERRORS",
    "der",
    "fact",
    "key_spki",
    "key_usage",
    "load_der",
    "load_name",
    "load_public_key",
    "name_der",
    "readable_der",
    "spki",
    "subject_key_id",
    "unreadable",
    "verifies_itself",
]

MAX_CACHED = 4096
"""Objects whose facts are kept, and parsed DER kept, in each table."""

MAX_CACHED_BYTES = 16 << 20
"""DER bytes each table holds at most: certificates come in messages before
they are authenticated, and a peer must not pin memory with big ones."""

MAX_SIGNING_KEYS = 16
"""Private keys whose public key is kept (the signing keys in use)."""

PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    UnsupportedAlgorithm,
)
"""What ``cryptography`` raises when a part of a certificate or CSR it parses
lazily (version, names, extensions, public key) does not decode: besides
ValueError, classes that are none (a Name attribute other than
x500UniqueIdentifier as a BIT STRING gives TypeError, a TLS feature
extension with an unknown feature KeyError)."""

_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
_T = TypeVar("_T")
_O = TypeVar("_O")
_lock = threading.Lock()


class _Table:
    """A bounded table, oldest entries out first, by count and by the bytes
    of DER its entries hold (as they are learnt). Guarded by ``_lock``."""

    def __init__(self) -> None:
        self.entries: OrderedDict[Any, Any] = OrderedDict()
        self.sizes: dict[Any, int] = {}
        self.bytes = 0

    def put(self, key: Any, value: Any, size: int = 0) -> None:
        self.forget(key)
        self.entries[key] = value
        self.sizes[key] = size
        self.bytes += size
        self.trim()

    def grow(self, key: Any, size: int) -> None:
        if key in self.sizes:
            self.sizes[key] += size
            self.bytes += size
            self.trim()

    def forget(self, key: Any) -> None:
        if key in self.entries:
            del self.entries[key]
            self.bytes -= self.sizes.pop(key)

    def trim(self) -> None:
        while self.entries and (len(self.entries) > MAX_CACHED or self.bytes > MAX_CACHED_BYTES):
            self.forget(next(iter(self.entries)))


_facts = _Table()  # id(object) -> (object, {fact: value})
_parsed = _Table()  # DER (names: (b"N", DER), public keys: (b"K", DER)) -> parsed object


def _fact(
    cert: _O, name: str, compute: Callable[[_O], _T], size: Callable[[_O], int] | None = None
) -> _T:
    key = id(cert)
    entry = _facts.entries.get(key)  # one dict lookup: atomic, no lock needed to read
    if entry is not None and entry[0] is cert:
        facts = entry[1]
        if name in facts:
            value: _T = facts[name]
            return value
    else:
        facts = {}
        with _lock:
            _facts.put(key, (cert, facts))
    value = compute(cert)  # outside the lock: may take a signature check
    facts[name] = value
    if size is not None:
        grown = size(cert)
    else:
        grown = len(value) if isinstance(value, bytes) else 0
    if grown:
        with _lock:
            _facts.grow(key, grown)
    return value


def fact(
    obj: _O, name: str, compute: Callable[[_O], _T], size: Callable[[_O], int] | None = None
) -> _T:
    """``compute(obj)`` for an immutable object (a certificate, a Name),
    computed once while its facts are kept: for facts that other modules
    derive (certHash, a Name's canonical form). Values count with
    ``size(obj)`` against :data:`MAX_CACHED_BYTES`, ``bytes`` without one
    with their length (give ``size`` unless the value is small whatever
    ``obj`` is)."""
    return _fact(obj, name, compute, size)


def der(cert: x509.Certificate) -> bytes:
    """The certificate's DER encoding."""
    return _fact(cert, "der", lambda c: c.public_bytes(_DER))


def load_der(data: bytes) -> x509.Certificate:
    """``x509.load_der_x509_certificate(data)``, the same object for the same
    bytes while cached; raises ValueError for what is no certificate (also for
    an unknown X.509 version, cryptography's InvalidVersion)."""
    with _lock:
        cert: x509.Certificate | None = _parsed.entries.get(data)
        if cert is not None:
            _parsed.entries.move_to_end(data)
            return cert
    try:
        cert = x509.load_der_x509_certificate(data)
    except x509.InvalidVersion as e:  # no ValueError
        raise ValueError(f"certificate of unknown version: {e}") from None
    data = bytes(data)
    with _lock:
        _parsed.put(data, cert, len(data))
    _fact(cert, "der", lambda _: data)
    return cert


def name_der(name: x509.Name) -> bytes:
    """The DER encoding of a Name."""
    return _fact(name, "der", lambda n: n.public_bytes())


def load_name(data: bytes, parse: Callable[[bytes], x509.Name]) -> x509.Name:
    """``parse(data)``, the same object for the same bytes while cached."""
    key = (b"N", data)
    with _lock:
        name: x509.Name | None = _parsed.entries.get(key)
        if name is not None:
            _parsed.entries.move_to_end(key)
            return name
    name = parse(data)
    data = bytes(data)
    with _lock:
        _parsed.put((b"N", data), name, len(data))
    _fact(name, "der", lambda _: data)
    return name


def load_public_key(data: bytes | bytearray | memoryview) -> PublicKeyTypes:
    """``serialization.load_der_public_key(data)``, the same object for the
    same bytes while cached (a key certified again, a client enrolling with
    one key many times, has its proof of possession checked without parsing
    the key anew). Public keys are immutable; raises what cryptography raises
    (ValueError, UnsupportedAlgorithm) and caches no failure."""
    key = (b"K", bytes(data))  # the same bytes object when given bytes
    with _lock:
        found: PublicKeyTypes | None = _parsed.entries.get(key)
        if found is not None:
            _parsed.entries.move_to_end(key)
            return found
    loaded = serialization.load_der_public_key(key[1])
    with _lock:
        _parsed.put(key, loaded, len(key[1]))
    return loaded


def spki(cert: x509.Certificate) -> bytes:
    """The DER SubjectPublicKeyInfo of the certificate's key."""
    return _fact(cert, "spki", lambda c: c.public_key().public_bytes(_DER, _SPKI))


def key_spki(key: PrivateKeyTypes | PublicKeyTypes, *, signing: bool = False) -> bytes:
    """The DER SubjectPublicKeyInfo of a key (of the public half of a private
    key). With ``signing`` it is kept for the last :data:`MAX_SIGNING_KEYS`
    private keys (a signer checks its key against its certificate for every
    message); no other key is held."""
    if not signing or not hasattr(key, "public_key"):
        return _public(key).public_bytes(_DER, _SPKI)
    key_id = id(key)
    with _lock:
        entry = _signing_keys.get(key_id)
        if entry is not None and entry[0] is key:
            return entry[1]
    der = _public(key).public_bytes(_DER, _SPKI)
    with _lock:
        _signing_keys[key_id] = (key, der)
        while len(_signing_keys) > MAX_SIGNING_KEYS:
            _signing_keys.popitem(last=False)
    return der


_signing_keys: OrderedDict[int, tuple[object, bytes]] = OrderedDict()


def _public(key: PrivateKeyTypes | PublicKeyTypes) -> PublicKeyTypes:
    public = getattr(key, "public_key", None)
    return cast(PublicKeyTypes, key if public is None else public())


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None
    except PARSE_ERRORS as e:  # DuplicateExtension and others are no ValueError
        raise ValueError(f"certificate extensions do not decode: {e}") from None


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    """The keyUsage, or None without one (a signer's is checked for every
    message it signs); raises what ``cryptography`` raises (one of
    :data:`PARSE_ERRORS`, not cached) when the extensions do not decode."""
    return _fact(cert, "key_usage", _key_usage)


def subject_key_id(cert: x509.Certificate) -> bytes | None:
    """The subjectKeyIdentifier, or None without one; ValueError (not cached)
    when the certificate's extensions do not decode."""
    return _fact(cert, "ski", _ski)


def _unreadable(cert: x509.Certificate) -> str | None:
    try:
        _ = cert.subject, cert.issuer, cert.extensions
    except PARSE_ERRORS as e:
        return f"{type(e).__name__}: {e}"
    return None


def unreadable(cert: x509.Certificate) -> str | None:
    """Why the certificate's names or extensions do not decode (``cryptography``
    parses them only when asked), or None when they do. A certificate with
    such parts is one OpenSSL cannot load at all."""
    return _fact(cert, "unreadable", _unreadable)


def _readable_der(cert: x509.Certificate) -> bytes | None:
    return None if unreadable(cert) is not None else der(cert)


def readable_der(cert: x509.Certificate) -> bytes | None:
    """:func:`der`, or None when :func:`unreadable` says why not to use the
    certificate: both facts in one lookup (a validation asks them of every
    certificate in its pool)."""
    return _fact(cert, "readable_der", _readable_der, _no_size)  # der()'s bytes, counted there


def _no_size(_: object) -> int:
    return 0


def _verifies_itself(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def verifies_itself(cert: x509.Certificate) -> bool:
    """Self-issued and its signature verifies with its own key (a root). Not
    ``cmp.verify``'s notion of self-signed, which is OpenSSL's: names and key
    identifiers only, the signature unchecked unless ``-check_ss_sig``."""
    return _fact(cert, "self_signed", _verifies_itself)
