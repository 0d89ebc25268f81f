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
    "PARSE_ERRORS",
    "der",
    "is_self_signed",
    "key_spki",
    "load_der",
    "load_name",
    "name_der",
    "spki",
    "subject_key_id",
    "unreadable",
]

MAX_CACHED = 4096
"""Objects whose facts are kept (first in, first out), and parsed DER kept
(least recently used first)."""

PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    UnsupportedAlgorithm,
)
"""What ``cryptography`` raises when a part of a certificate or CSR it parses
lazily (version, names, extensions, public key) does not decode: besides
ValueError, classes that are none (a Name attribute other than
x500UniqueIdentifier as a BIT STRING gives TypeError)."""

_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
_T = TypeVar("_T")
_O = TypeVar("_O")
_lock = threading.Lock()
_facts: OrderedDict[int, tuple[object, dict[str, Any]]] = OrderedDict()
_parsed: OrderedDict[Any, Any] = OrderedDict()


def _remember(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_CACHED:
        table.popitem(last=False)


def _fact(cert: _O, name: str, compute: Callable[[_O], _T]) -> _T:
    key = id(cert)
    entry = _facts.get(key)  # a single dict lookup: atomic, no lock needed to read
    if entry is not None and entry[0] is cert:
        facts = entry[1]
        if name in facts:
            value: _T = facts[name]
            return value
    else:
        facts = {}
        with _lock:
            _remember(_facts, key, (cert, facts))
    value = compute(cert)  # outside the lock: may take a signature check
    facts[name] = value
    return value


def der(cert: x509.Certificate) -> bytes:
    """The certificate's DER encoding."""
    return _fact(cert, "der", lambda c: c.public_bytes(_DER))


def load_der(data: bytes) -> x509.Certificate:
    """``x509.load_der_x509_certificate(data)``, the same object for the same
    bytes while cached; raises ValueError for what is no certificate (also for
    an unknown X.509 version, cryptography's InvalidVersion)."""
    with _lock:
        cert: x509.Certificate | None = _parsed.get(data)
        if cert is not None:
            _parsed.move_to_end(data)
            return cert
    try:
        cert = x509.load_der_x509_certificate(data)
    except x509.InvalidVersion as e:  # no ValueError
        raise ValueError(f"certificate of unknown version: {e}") from None
    with _lock:
        _remember(_parsed, bytes(data), cert)
    _fact(cert, "der", lambda _: bytes(data))
    return cert


def name_der(name: x509.Name) -> bytes:
    """The DER encoding of a Name."""
    return _fact(name, "der", lambda n: n.public_bytes())


def load_name(data: bytes, parse: Callable[[bytes], x509.Name]) -> x509.Name:
    """``parse(data)``, the same object for the same bytes while cached."""
    key = (b"N", data)
    with _lock:
        name: x509.Name | None = _parsed.get(key)
        if name is not None:
            _parsed.move_to_end(key)
            return name
    name = parse(data)
    with _lock:
        _remember(_parsed, (b"N", bytes(data)), name)
    _fact(name, "der", lambda _: bytes(data))
    return name


def spki(cert: x509.Certificate) -> bytes:
    """The DER SubjectPublicKeyInfo of the certificate's key."""
    return _fact(cert, "spki", lambda c: c.public_key().public_bytes(_DER, _SPKI))


def key_spki(key: PrivateKeyTypes | PublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of a key (of the public half of a private key)."""
    return _fact(key, "spki", lambda k: _public(k).public_bytes(_DER, _SPKI))


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


def _verifies_itself(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    """Self-issued and its signature verifies with its own key (a root)."""
    return _fact(cert, "self_signed", _verifies_itself)
