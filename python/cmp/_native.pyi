"""Type stub of the native core ``cmp._native`` (rust/lib.rs)."""

from collections.abc import Sequence
from typing import Any

# --- PKIMessage (rust/message.rs) ---
def check_message(data: bytes) -> str: ...
def decode_message(
    data: bytes,
) -> tuple[str, Any, Any, bytes | None, tuple[bytes, ...] | None, bytes]: ...
def protected_part_of(data: bytes) -> bytes: ...
def der_header(data: bytes, pos: int, whole: bool = True) -> tuple[int, int, int]: ...
def der_element(identifier: int, content: bytes) -> bytes: ...
def encode_protected_part(header: Any, body: Any) -> bytes: ...
def assemble_message(
    protected_part: bytes,
    protection: bytes | None = None,
    extra_certs: Sequence[bytes] | None = None,  # None: absent; empty: [1] SEQUENCE {}
) -> bytes: ...
def decode_as(name: str, data: bytes) -> Any: ...
def encode_as(name: str, value: Any) -> bytes: ...

# Limits checked before work (exceeding one raises cmp.errors.DecodeLimitError):
# max_size bytes, max_depth in 1..=256 levels of nesting, max_elements >= 1 in
# one SEQUENCE OF / SET OF (None: unchanged; default 1000).
def set_limits(max_size: int, max_depth: int, max_elements: int | None = None) -> None: ...
def get_limits() -> tuple[int, int, int]: ...  # (max_size, max_depth, max_elements)

# --- names (rust/names.rs) ---
def parse_name(data: bytes) -> list[list[tuple[str, int, bytes]]]: ...
def parse_other_name(data: bytes) -> tuple[str, bytes]: ...
def encode_other_name(type_id: str, value: bytes) -> bytes: ...
def certificate_with_extensions(extensions: bytes) -> bytes: ...

# --- password-based MACs (rust/py_mac.rs) ---
# Byte arguments must be ``bytes`` (not bytearray/memoryview): the native code
# reads them with the GIL released. Errors are ValueError.

PBM_MIN_ITERATIONS: int
PBM_MAX_ITERATIONS: int
PBKDF2_MIN_ITERATIONS: int
PBKDF2_MAX_ITERATIONS: int

def pbm(
    secret: bytes,
    salt: bytes,
    iterations: int,
    owf: str,
    mac: str,
    data: bytes,
    min_iterations: int = 100,
    max_iterations: int = 100000,
) -> bytes: ...
def pbm_key(
    secret: bytes,
    salt: bytes,
    iterations: int,
    owf: str,
    min_iterations: int = 100,
    max_iterations: int = 100000,
) -> bytes: ...
def pbkdf2_hmac(
    prf: str,
    password: bytes,
    salt: bytes,
    iterations: int,
    key_len: int,
    min_iterations: int = 1,
    max_iterations: int = 10000000,
) -> bytes: ...
def hmac(digest: str, key: bytes, data: bytes, strict: bool = False) -> bytes: ...
def digest(digest: str, data: bytes) -> bytes: ...
def pbmac1(
    prf: str,
    mac: str,
    password: bytes,
    salt: bytes,
    iterations: int,
    key_len: int,
    data: bytes,
    min_iterations: int = 1,
    max_iterations: int = 10000000,
) -> bytes: ...
def sha256_chain(n: int, seed: bytes) -> bytes: ...
