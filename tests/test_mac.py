"""The shared-secret MACs of CMP protection, checked against independent code.

PBM (RFC 4211 §4.4) and PBKDF2/PBMAC1 (RFC 8018 §5.2/§7.1, RFC 9481 §6.1.1)
are compared with straightforward ``hashlib``/``hmac`` implementations, with
the ``openssl`` command line, and with the protection OpenSSL's own
``openssl cmp`` puts on its messages.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
import threading
import time
from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openssl_harness import CapturedMessages, Tlv, children, message_parts, read_tlv

from cmp import _native
from cmp._mac import (
    PBKDF2_MAX_ITERATIONS,
    PBM_MAX_ITERATIONS,
    PBM_MIN_ITERATIONS,
    hmac_digest,
    password_based_mac,
    pbkdf2_hmac,
    pbmac1,
)

DIGESTS = ["sha1", "sha224", "sha256", "sha384", "sha512"]
SALT16 = bytes(range(16))

DIGEST_OIDS = {
    "sha1": "1.3.14.3.2.26",
    "sha224": "2.16.840.1.101.3.4.2.4",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
HMAC_OIDS = {  # RFC 8018 hmacWithSHA*, as listed in RFC 9481 §6.2.1
    "sha1": "1.2.840.113549.2.7",
    "sha224": "1.2.840.113549.2.8",
    "sha256": "1.2.840.113549.2.9",
    "sha384": "1.2.840.113549.2.10",
    "sha512": "1.2.840.113549.2.11",
}
HMAC_SHA1_RFC3370 = "1.3.6.1.5.5.8.1.2"
ID_PASSWORD_BASED_MAC = "1.2.840.113533.7.66.13"


def reference_pbm(
    secret: bytes, salt: bytes, iterations: int, owf: str, mac: str, data: bytes
) -> bytes:
    """RFC 4211 §4.4, literally: hash secret||salt, rehash to `iterations` hashes, HMAC."""
    key = hashlib.new(owf, secret + salt).digest()
    for _ in range(iterations - 1):
        key = hashlib.new(owf, key).digest()
    return hmac.new(key, data, mac).digest()


def reference_pbmac1(
    prf: str, mac: str, password: bytes, salt: bytes, iterations: int, key_len: int, data: bytes
) -> bytes:
    key = hashlib.pbkdf2_hmac(prf, password, salt, iterations, key_len)
    return hmac.new(key, data, mac).digest()


# --- PBM ------------------------------------------------------------------------------------


@pytest.mark.parametrize("owf", DIGESTS)
@pytest.mark.parametrize("mac", DIGESTS)
def test_pbm_key_is_owf_iterated_over_secret_then_salt(owf: str, mac: str) -> None:
    got = password_based_mac(b"insta", SALT16, 500, owf, f"hmac-{mac}", b"protected part")
    assert got == reference_pbm(b"insta", SALT16, 500, owf, mac, b"protected part")


def test_pbm_iteration_count_includes_the_first_hash() -> None:
    # OpenSSL's OSSL_CRMF_pbm_new: the hash of secret||salt is iteration 1.
    key = hashlib.sha256(b"s" + b"salt").digest()
    for _ in range(99):
        key = hashlib.sha256(key).digest()
    want = hmac.new(key, b"data", "sha1").digest()
    assert password_based_mac(b"s", b"salt", 100, "sha256", "hmac-sha1", b"data") == want


def test_pbm_at_the_openssl_maximum_iteration_count() -> None:
    got = password_based_mac(b"insta", SALT16, 100_000, "sha256", "hmac-sha256", b"protected part")
    assert got.hex() == "4ae088519bb5571ef4525ad2174e61df763429cdf63057d780390853d9d28fab"


@pytest.mark.parametrize(
    ("owf", "mac"),
    [
        ("SHA-256", "HMAC-SHA1"),
        ("SHA2-256", "hmacWithSHA1"),
        (DIGEST_OIDS["sha256"], HMAC_SHA1_RFC3370),
        (DIGEST_OIDS["sha256"], HMAC_OIDS["sha1"]),
        ("Sha256", "hmac-sha-1"),
    ],
)
def test_pbm_algorithms_by_openssl_name_or_oid(owf: str, mac: str) -> None:
    want = reference_pbm(b"secret", b"salt", 100, "sha256", "sha1", b"data")
    assert password_based_mac(b"secret", b"salt", 100, owf, mac, b"data") == want


def _oid(der: bytes, tlv: Tlv) -> str:
    assert tlv.tag_class == 0 and tlv.tag_number == 6, "expected an OBJECT IDENTIFIER"
    arcs: list[int] = []
    value = 0
    for byte in der[tlv.content_start : tlv.end]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _recompute_openssl_pbm(der: bytes, secret: bytes) -> tuple[bytes, bytes] | None:
    """(MAC openssl wrote, MAC we compute) for a PBM-protected message, else None.

    PKIHeader ::= SEQUENCE { pvno, sender, recipient, messageTime [0] OPTIONAL,
    protectionAlg [1] AlgorithmIdentifier OPTIONAL, ... }; PBMParameter ::=
    SEQUENCE { salt OCTET STRING, owf AlgorithmIdentifier, iterationCount INTEGER,
    mac AlgorithmIdentifier }; the MAC covers ProtectedPart ::= SEQUENCE { header, body }.
    """
    parts = message_parts(der)
    tagged = [t for t in children(der, parts.header)[3:] if t.tag_class == 2]
    prot_alg = next((t for t in tagged if t.tag_number == 1), None)
    if prot_alg is None or parts.protection is None:
        return None
    alg_id = read_tlv(der, prot_alg.content_start)
    oid, params = children(der, alg_id)
    if _oid(der, oid) != ID_PASSWORD_BASED_MAC:
        return None
    salt, owf, count, mac = children(der, params)
    iterations = int.from_bytes(der[count.content_start : count.end], "big")
    owf_oid = _oid(der, children(der, owf)[0])
    mac_oid = _oid(der, children(der, mac)[0])
    bits = read_tlv(der, parts.protection.content_start)
    written = der[bits.content_start + 1 : bits.end]  # after the unused-bits octet
    protected = der[parts.header.start : parts.header.end] + der[parts.body.start : parts.body.end]
    protected_part = b"\x30" + _der_length(len(protected)) + protected
    ours = password_based_mac(
        secret, der[salt.content_start : salt.end], iterations, owf_oid, mac_oid, protected_part
    )
    return written, ours


def test_pbm_reproduces_the_protection_openssl_cmp_writes(
    captured_messages: CapturedMessages,
) -> None:
    checked = 0
    for kind, messages in captured_messages["pbm"].items():
        for der in messages:
            result = _recompute_openssl_pbm(der, captured_messages.secret)
            if result is None:
                continue
            written, ours = result
            assert ours == written, f"PBM of openssl's {kind} differs"
            checked += 1
    assert checked > 0, "openssl wrote no PBM-protected message"


@pytest.mark.parametrize("iterations", [99, 1, 0, -1, -(2**70)])
def test_pbm_iterations_below_the_rfc4211_minimum_are_rejected(iterations: int) -> None:
    with pytest.raises(ValueError, match=r"iterations .* out of range: allowed 100\.\.=100000"):
        password_based_mac(b"secret", b"salt", iterations, "sha256", "hmac-sha1", b"data")


@pytest.mark.parametrize(
    "iterations",
    [100_001, 2**31, 2**63, 2**64, 2**200, pytest.param(10**5000, id="10**5000")],
)
def test_pbm_iterations_above_the_openssl_maximum_are_rejected_before_hashing(
    iterations: int,
) -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"iterations .* out of range: allowed 100\.\.=100000"):
        password_based_mac(b"secret", b"salt", iterations, "sha256", "hmac-sha1", b"data")
    assert time.perf_counter() - start < 0.5


def test_pbm_default_limits_are_openssls() -> None:
    assert (PBM_MIN_ITERATIONS, PBM_MAX_ITERATIONS) == (100, 100_000)


def test_pbm_caller_may_widen_the_iteration_limits() -> None:
    want = reference_pbm(b"s", b"salt", 10, "sha1", "sha1", b"d")
    got = password_based_mac(b"s", b"salt", 10, "sha1", "hmac-sha1", b"d", min_iterations=1)
    assert got == want
    got = password_based_mac(
        b"s", b"salt", 150_000, "sha256", "hmac-sha256", b"d", max_iterations=200_000
    )
    assert got == reference_pbm(b"s", b"salt", 150_000, "sha256", "sha256", b"d")


def test_pbm_never_runs_zero_iterations() -> None:
    with pytest.raises(ValueError, match=r"allowed 1\.\.=100000"):
        password_based_mac(b"s", b"", 0, "sha1", "hmac-sha1", b"", min_iterations=0)


def test_pbm_negative_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_iterations -1 out of range"):
        password_based_mac(b"s", b"", 100, "sha1", "hmac-sha1", b"", min_iterations=-1)


def test_pbm_salt_longer_than_1024_bytes_is_rejected() -> None:
    with pytest.raises(ValueError, match="salt too long: 1025 bytes, at most 1024 allowed"):
        password_based_mac(b"s", bytes(1025), 100, "sha1", "hmac-sha1", b"")


def test_pbm_error_messages_never_contain_the_secret() -> None:
    secret = b"TOPSECRET" * 8000
    with pytest.raises(ValueError, match="secret too long") as info:
        password_based_mac(secret, b"", 100, "sha1", "hmac-sha1", b"")
    assert "TOPSECRET" not in str(info.value)
    with pytest.raises(ValueError) as info:
        password_based_mac(b"TOPSECRET", b"", 99, "sha1", "hmac-sha1", b"")
    assert "TOPSECRET" not in str(info.value)


# --- algorithm names ------------------------------------------------------------------------


@pytest.mark.parametrize("owf", ["md5", "sha3-256", "", "1.2.3.4", "hmac-sha1", "sha512-256"])
def test_unknown_pbm_owf_is_rejected(owf: str) -> None:
    with pytest.raises(ValueError, match="unknown digest algorithm"):
        password_based_mac(b"s", b"", 100, owf, "hmac-sha1", b"")


@pytest.mark.parametrize("mac", ["sha1", DIGEST_OIDS["sha1"], "hmac-md5", "hmac", "des-mac", ""])
def test_pbm_mac_must_be_an_hmac(mac: str) -> None:
    with pytest.raises(ValueError, match="unknown MAC algorithm"):
        password_based_mac(b"s", b"", 100, "sha1", mac, b"")


@pytest.mark.parametrize("prf", ["md5", "hmac-md5", "1.2.840.113549.2.5"])
def test_unknown_pbkdf2_prf_is_rejected(prf: str) -> None:
    with pytest.raises(ValueError, match="unknown MAC algorithm"):
        pbkdf2_hmac(prf, b"p", b"s", 1, 20)


def test_unknown_algorithm_is_rejected_before_hashing() -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError):
        pbkdf2_hmac("md5", b"p", b"s", PBKDF2_MAX_ITERATIONS, 1024)
    assert time.perf_counter() - start < 0.5


# --- PBKDF2 and PBMAC1 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "salt", "iterations", "key_len", "want"),
    [  # RFC 6070 §2
        (b"password", b"salt", 1, 20, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
        (b"password", b"salt", 2, 20, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
        (b"password", b"salt", 4096, 20, "4b007901b765489abead49d926f721d065a429c1"),
        (
            b"passwordPASSWORDpassword",
            b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            4096,
            25,
            "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038",
        ),
        (b"pass\0word", b"sa\0lt", 4096, 16, "56fa6aa75548099dcc37d7f03425e0c3"),
    ],
)
def test_pbkdf2_hmac_sha1_rfc6070_vectors(
    password: bytes, salt: bytes, iterations: int, key_len: int, want: str
) -> None:
    assert pbkdf2_hmac("hmac-sha1", password, salt, iterations, key_len).hex() == want


@pytest.mark.parametrize("digest", DIGESTS)
@pytest.mark.parametrize("key_len", [1, 20, 32, 65, 129])
def test_pbkdf2_matches_hashlib_across_block_boundaries(digest: str, key_len: int) -> None:
    want = hashlib.pbkdf2_hmac(digest, b"password", b"salt", 1000, key_len)
    assert pbkdf2_hmac(digest, b"password", b"salt", 1000, key_len) == want
    assert pbkdf2_hmac(HMAC_OIDS[digest], b"password", b"salt", 1000, key_len) == want


@pytest.mark.parametrize("key_len", [0, -1, 1025, 2**64])
def test_pbkdf2_key_length_outside_1_to_1024_is_rejected(key_len: int) -> None:
    with pytest.raises(ValueError, match=r"key_len .* out of range: allowed 1\.\.=1024"):
        pbkdf2_hmac("sha256", b"p", b"s", 1, key_len)


@pytest.mark.parametrize("iterations", [0, -5, PBKDF2_MAX_ITERATIONS + 1, 2**32, 2**80])
def test_pbkdf2_iterations_outside_limits_are_rejected_before_hashing(iterations: int) -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"iterations .* out of range: allowed 1\.\.=10000000"):
        pbkdf2_hmac("sha256", b"p", b"s", iterations, 1024)
    assert time.perf_counter() - start < 0.5


def test_pbkdf2_salt_and_password_lengths_are_limited() -> None:
    with pytest.raises(ValueError, match="salt too long"):
        pbkdf2_hmac("sha256", b"p", bytes(1025), 1, 32)
    with pytest.raises(ValueError, match="password too long"):
        pbkdf2_hmac("sha256", bytes(65_537), b"s", 1, 32)


@pytest.mark.parametrize(
    ("prf", "mac"), [("sha256", "sha512"), ("sha1", "sha1"), ("sha512", "sha256")]
)
def test_pbmac1_is_hmac_keyed_with_the_pbkdf2_output(prf: str, mac: str) -> None:
    want = reference_pbmac1(prf, mac, b"password", SALT16, 1000, 32, b"protected part")
    got = pbmac1(HMAC_OIDS[prf], HMAC_OIDS[mac], b"password", SALT16, 1000, 32, b"protected part")
    assert got == want
    assert (
        pbmac1(f"hmac-{prf}", f"hmac-{mac}", b"password", SALT16, 1000, 32, b"protected part")
        == want
    )


def test_pbmac1_mac_must_be_an_hmac() -> None:
    with pytest.raises(ValueError, match="unknown MAC algorithm"):
        pbmac1("hmac-sha256", "sha256", b"p", b"s", 1, 32, b"")


def test_pbmac1_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="iterations 0 out of range"):
        pbmac1("hmac-sha256", "hmac-sha256", b"p", b"s", 0, 32, b"")
    with pytest.raises(ValueError, match="key_len 0 out of range"):
        pbmac1("hmac-sha256", "hmac-sha256", b"p", b"s", 1, 0, b"")
    with pytest.raises(ValueError, match=r"allowed 1\.\.=1000"):
        pbmac1("hmac-sha256", "hmac-sha256", b"p", b"s", 1001, 32, b"", max_iterations=1000)


# --- HMAC -----------------------------------------------------------------------------------


def test_hmac_sha256_rfc4231_test_case_2() -> None:
    got = hmac_digest("sha256", b"Jefe", b"what do ya want for nothing?")
    assert got.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@pytest.mark.parametrize("digest", DIGESTS)
@pytest.mark.parametrize("key_len", [0, 20, 64, 129, 300])
def test_hmac_matches_the_stdlib_for_any_key_length(digest: str, key_len: int) -> None:
    key = bytes(range(256)) * 2
    want = hmac.new(key[:key_len], b"data" * 100, digest).digest()
    assert hmac_digest(digest, key[:key_len], b"data" * 100) == want
    assert hmac_digest(f"hmac-{digest}", key[:key_len], b"data" * 100) == want


def test_bytes_like_inputs_are_accepted() -> None:
    want = reference_pbm(b"secret", b"salt", 100, "sha1", "sha1", b"data")
    got = password_based_mac(
        bytearray(b"secret"), memoryview(b"salt"), 100, "sha1", "hmac-sha1", bytearray(b"data")
    )
    assert got == want


# --- against the openssl command line -------------------------------------------------------


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        pytest.skip("openssl not found on PATH")
    return found


@pytest.mark.parametrize("digest", DIGESTS)
def test_pbkdf2_matches_openssl_kdf(digest: str) -> None:
    password, salt = b"pass\0word", bytes(range(40))
    done = subprocess.run(
        [
            _openssl(), "kdf", "-binary", "-keylen", "70",
            "-kdfopt", f"digest:{digest.upper()}",
            "-kdfopt", f"hexpass:{password.hex()}",
            "-kdfopt", f"hexsalt:{salt.hex()}",
            "-kdfopt", "iter:2048",
            "PBKDF2",
        ],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    assert pbkdf2_hmac(digest, password, salt, 2048, 70) == done.stdout


@pytest.mark.parametrize("digest", DIGESTS)
def test_hmac_matches_openssl_mac(digest: str) -> None:
    key, data = bytes(range(100)), b"protected part" * 50
    done = subprocess.run(
        [
            _openssl(), "mac", "-binary",
            "-digest", digest.upper(),
            "-macopt", f"hexkey:{key.hex()}",
            "HMAC",
        ],
        input=data, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    assert hmac_digest(digest, key, data) == done.stdout


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(max_size=80),
    salt=st.binary(max_size=40),
    iterations=st.integers(min_value=1, max_value=300),
    owf=st.sampled_from(DIGESTS),
    mac=st.sampled_from(DIGESTS),
    data=st.binary(max_size=300),
)
def test_pbm_equals_the_rfc4211_reference_for_any_input(
    secret: bytes, salt: bytes, iterations: int, owf: str, mac: str, data: bytes
) -> None:
    got = password_based_mac(secret, salt, iterations, owf, f"hmac-{mac}", data, min_iterations=1)
    assert got == reference_pbm(secret, salt, iterations, owf, mac, data)


@settings(max_examples=60, deadline=None)
@given(
    password=st.binary(max_size=200),
    salt=st.binary(max_size=80),
    iterations=st.integers(min_value=1, max_value=50),
    key_len=st.integers(min_value=1, max_value=200),
    prf=st.sampled_from(DIGESTS),
)
def test_pbkdf2_equals_hashlib_for_any_input(
    password: bytes, salt: bytes, iterations: int, key_len: int, prf: str
) -> None:
    want = hashlib.pbkdf2_hmac(prf, password, salt, iterations, key_len)
    assert pbkdf2_hmac(prf, password, salt, iterations, key_len) == want


@settings(max_examples=40, deadline=None)
@given(
    password=st.binary(max_size=64),
    salt=st.binary(max_size=32),
    iterations=st.integers(min_value=1, max_value=20),
    key_len=st.integers(min_value=1, max_value=100),
    prf=st.sampled_from(DIGESTS),
    mac=st.sampled_from(DIGESTS),
    data=st.binary(max_size=200),
)
def test_pbmac1_equals_the_rfc8018_reference_for_any_input(
    password: bytes, salt: bytes, iterations: int, key_len: int, prf: str, mac: str, data: bytes
) -> None:
    got = pbmac1(f"hmac-{prf}", f"hmac-{mac}", password, salt, iterations, key_len, data)
    assert got == reference_pbmac1(prf, mac, password, salt, iterations, key_len, data)


# --- the native benchmark helper and the GIL ------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_sha256_chain_is_sha256_iterated_n_times(n: int) -> None:
    seed = hashlib.sha256(b"seed").digest()
    want = seed
    for _ in range(n):
        want = hashlib.sha256(want).digest()
    assert _native.sha256_chain(n, seed) == want


@pytest.mark.parametrize("seed_len", [0, 31, 33])
def test_sha256_chain_seed_must_be_one_digest_long(seed_len: int) -> None:
    with pytest.raises(ValueError, match="seed has"):
        _native.sha256_chain(1, bytes(seed_len))


def _main_thread_runs_during(call: Callable[[], object]) -> int:
    """How often this thread ran Python code while `call` ran in another thread."""
    started = threading.Event()
    done = threading.Event()

    def worker() -> None:
        started.set()
        call()
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    started.wait()
    count = 0
    while not done.is_set():
        count += 1
        time.sleep(0.001)
    thread.join()
    return count


@pytest.mark.parametrize(
    "name",
    ["pbm", "pbkdf2_hmac", "pbmac1", "sha256_chain"],
)
def test_the_gil_is_released_while_hashing(name: str) -> None:
    # Each call below takes some 0.2 s; a call holding the GIL would starve this
    # thread for all of it, where a released GIL lets it wake every millisecond.
    calls: dict[str, Callable[[], object]] = {
        "pbm": lambda: password_based_mac(
            b"s", b"", 4_000_000, "sha256", "hmac-sha256", b"", max_iterations=4_000_000
        ),
        "pbkdf2_hmac": lambda: pbkdf2_hmac("sha256", b"p", b"s", 2_000_000, 32),
        "pbmac1": lambda: pbmac1("hmac-sha256", "hmac-sha256", b"p", b"s", 2_000_000, 32, b""),
        "sha256_chain": lambda: _native.sha256_chain(4_000_000, bytes(32)),
    }
    assert _main_thread_runs_during(calls[name]) >= 20
