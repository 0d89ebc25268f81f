"""Shared-secret MACs for CMP message protection, computed by the native core.

- :func:`password_based_mac`: PBM, RFC 4211 §4.4 (``id-PasswordBasedMac``);
- :func:`pbmac1`: PBMAC1, RFC 8018 §7.1 as profiled by RFC 9481 §6.1.1;
- :func:`pbkdf2_hmac` and :func:`hmac_digest`, their building blocks.

Algorithms are named as OpenSSL names them (``sha256``, ``hmac-sha1``) or by
dotted OID. Iteration counts, salt, secret and key lengths are checked against
limits before any hashing; a bad parameter or an unknown algorithm raises
``ValueError`` whose message names the parameter and the allowed values,
never the secret. The GIL is released while hashing.
"""

from __future__ import annotations

import hmac as _hmac
import os
import threading
from collections import OrderedDict

from cmp import _native

__all__ = [
    "PBKDF2_MAX_ITERATIONS",
    "PBKDF2_MIN_ITERATIONS",
    "PBM_MAX_ITERATIONS",
    "PBM_MIN_ITERATIONS",
    "hmac_digest",
    "password_based_mac",
    "pbkdf2_hmac",
    "pbmac1",
]

PBM_MIN_ITERATIONS: int = _native.PBM_MIN_ITERATIONS
"""Fewest PBM iterations accepted by default: 100, RFC 4211's minimum, as OpenSSL."""
PBM_MAX_ITERATIONS: int = _native.PBM_MAX_ITERATIONS
"""Most PBM iterations accepted by default: 100 000, OpenSSL's cap."""
PBKDF2_MIN_ITERATIONS: int = _native.PBKDF2_MIN_ITERATIONS
"""Fewest PBKDF2 iterations accepted by default: 1, as RFC 8018 allows."""
PBKDF2_MAX_ITERATIONS: int = _native.PBKDF2_MAX_ITERATIONS
"""Most PBKDF2 iterations accepted by default: 10 000 000, seconds of one core."""


def _bytes(value: bytes) -> bytes:
    # The native functions take immutable ``bytes`` only, which they read with
    # the GIL released; a bytearray or memoryview is copied here first.
    return value if type(value) is bytes else bytes(value)


def password_based_mac(
    secret: bytes,
    salt: bytes,
    iterations: int,
    owf: str,
    mac: str,
    data: bytes,
    *,
    min_iterations: int = PBM_MIN_ITERATIONS,
    max_iterations: int = PBM_MAX_ITERATIONS,
) -> bytes:
    """PBM of ``data`` (RFC 4211 §4.4), as OpenSSL's ``OSSL_CRMF_pbm_new``.

    The key is the one-way function ``owf`` applied ``iterations`` times, first
    to ``secret || salt``, then to its own output; the result is HMAC-``mac``
    of ``data`` under that key. ``mac`` is an HMAC (``hmac-sha1``, or an OID
    such as RFC 8018's ``hmacWithSHA256``).
    """
    _check_mac(mac)
    secret, salt = _bytes(secret), _bytes(salt)
    what = ("pbm", _tag(secret), salt, iterations, owf)
    key = _remembered_key(what, min_iterations, max_iterations)
    if key is None:
        key = _native.pbm_key(secret, salt, iterations, owf, min_iterations, max_iterations)
        _remember_key(what, key)
    return _native.hmac(mac, key, _bytes(data))


# --- derived keys -----------------------------------------------------------------
#
# The iterated hash (PBM) or PBKDF2 is the whole cost of a MAC, and its result
# depends on the secret, salt, count and hash only: a transaction protects all
# its messages with one salt (cmp.transaction, cmp.server), so each side
# derives the key once per transaction instead of once per message. The keys
# are as sensitive as the secrets they come from; the table is bounded, and
# it holds no secret: entries are found by an HMAC of the secret under a key
# drawn when this module is loaded.

MAX_DERIVED_KEYS = 1024
_TAG_KEY = os.urandom(32)


def _tag(secret: bytes) -> bytes:
    return _hmac.digest(_TAG_KEY, secret, "sha256")


_known_macs: set[str] = set()


def _check_mac(mac: str) -> None:
    """Refuses a MAC that is no HMAC (ValueError) before any key is derived."""
    if mac not in _known_macs:
        _native.hmac(mac, b"", b"", True)
        _known_macs.add(mac)


_keys: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
_keys_lock = threading.Lock()


def _remembered_key(what: tuple[object, ...], low: int, high: int) -> bytes | None:
    iterations = what[3]
    assert isinstance(iterations, int)
    if not low <= iterations <= high:  # let the native call raise its LimitError
        return None
    with _keys_lock:
        key = _keys.get(what)
        if key is not None:
            _keys.move_to_end(what)
        return key


def _remember_key(what: tuple[object, ...], key: bytes) -> None:
    with _keys_lock:
        _keys[what] = key
        while len(_keys) > MAX_DERIVED_KEYS:
            _keys.popitem(last=False)


def pbkdf2_hmac(
    prf: str,
    password: bytes,
    salt: bytes,
    iterations: int,
    key_len: int,
    *,
    min_iterations: int = PBKDF2_MIN_ITERATIONS,
    max_iterations: int = PBKDF2_MAX_ITERATIONS,
) -> bytes:
    """PBKDF2 (RFC 8018 §5.2) with HMAC-``prf``: ``key_len`` bytes (1..1024).

    ``prf`` is an HMAC name or OID, or a digest name as ``hashlib.pbkdf2_hmac``
    takes.
    """
    return _native.pbkdf2_hmac(
        prf,
        _bytes(password),
        _bytes(salt),
        iterations,
        key_len,
        min_iterations,
        max_iterations,
    )


def pbmac1(
    prf: str,
    mac: str,
    password: bytes,
    salt: bytes,
    iterations: int,
    key_len: int,
    data: bytes,
    *,
    min_iterations: int = PBKDF2_MIN_ITERATIONS,
    max_iterations: int = PBKDF2_MAX_ITERATIONS,
) -> bytes:
    """PBMAC1 (RFC 8018 §7.1, RFC 9481 §6.1.1) of ``data``.

    HMAC-``mac`` of ``data`` keyed with PBKDF2-``prf`` of ``password`` and
    ``salt`` over ``iterations`` rounds, ``key_len`` bytes long.
    """
    _check_mac(mac)
    password, salt = _bytes(password), _bytes(salt)
    what = ("pbkdf2", _tag(password), salt, iterations, prf, key_len)
    key = _remembered_key(what, min_iterations, max_iterations)
    if key is None:
        key = pbkdf2_hmac(
            prf,
            password,
            salt,
            iterations,
            key_len,
            min_iterations=min_iterations,
            max_iterations=max_iterations,
        )
        _remember_key(what, key)
    return _native.hmac(mac, key, _bytes(data))


def hmac_digest(digest: str, key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) of ``data`` under ``key``; ``digest`` names the hash or the HMAC."""
    return _native.hmac(digest, _bytes(key), _bytes(data))
