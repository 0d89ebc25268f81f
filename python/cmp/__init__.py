"""cmpkit: the Certificate Management Protocol (CMP, RFC 9810) for Python.

``cmp.PKIMessage`` decodes and encodes CMP messages (byte-exact, in Rust);
``cmp.asn1`` has the message structures as dataclasses; ``cmp.protection``
protects and verifies messages (password-based MAC, PBMAC1, signatures).
"""

from __future__ import annotations

from cmp.errors import (
    CMPError,
    DecodeError,
    EncodeError,
    LimitError,
    ProtectionError,
    UnsupportedAlgorithm,
)
from cmp.message import BODY_TYPES, PKIMessage

__version__ = "0.1.0"

__all__ = [
    "BODY_TYPES",
    "CMPError",
    "DecodeError",
    "EncodeError",
    "LimitError",
    "PKIMessage",
    "ProtectionError",
    "UnsupportedAlgorithm",
    "__version__",
]
