"""cmpkit: the Certificate Management Protocol (CMP, RFC 9810) for Python.

- ``cmp.Client`` / ``cmp.AsyncClient``: enroll (ir, cr, kur, p10cr), revoke
  (rr) and ask (genm) over HTTP(S), files or in-process;
- ``cmp.MockServer``: a mock CA that behaves like ``openssl cmp``'s;
- ``cmp.PKIMessage``: CMP messages decoded and encoded byte-exact in Rust;
  ``cmp.asn1`` has their structures as dataclasses;
- ``cmp.protection``: password-based MAC, PBMAC1 and signature protection.

The client, server and transaction classes are imported on first use, so that
``import cmp`` (and ``cmpkit -help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cmp.errors import (
    CMPError,
    DecodeError,
    DecodeLimitError,
    EncodeError,
    LimitError,
    ProtectionError,
    UnsupportedAlgorithm,
)
from cmp.message import BODY_TYPES, PKIMessage

if TYPE_CHECKING:
    from cmp.client import AsyncClient, Client
    from cmp.requests import EnrollRequest, GeneralRequest, RevokeRequest
    from cmp.server import MockServer, MockServerConfig
    from cmp.status import ServerError
    from cmp.transaction import TransactionConfig, TransactionResult
    from cmp.transport import TransportError

__version__ = "0.1.0"

_LAZY = {
    "AsyncClient": "cmp.client",
    "Client": "cmp.client",
    "EnrollRequest": "cmp.requests",
    "GeneralRequest": "cmp.requests",
    "MockServer": "cmp.server",
    "MockServerConfig": "cmp.server",
    "RevokeRequest": "cmp.requests",
    "ServerError": "cmp.status",
    "TransactionConfig": "cmp.transaction",
    "TransactionResult": "cmp.transaction",
    "TransportError": "cmp.transport",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cmp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BODY_TYPES",
    "AsyncClient",
    "CMPError",
    "Client",
    "DecodeError",
    "DecodeLimitError",
    "EncodeError",
    "EnrollRequest",
    "GeneralRequest",
    "LimitError",
    "MockServer",
    "MockServerConfig",
    "PKIMessage",
    "ProtectionError",
    "RevokeRequest",
    "ServerError",
    "TransactionConfig",
    "TransactionResult",
    "TransportError",
    "UnsupportedAlgorithm",
    "__version__",
]
