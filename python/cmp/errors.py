"""The exceptions of cmpkit. Every error the package raises on purpose is a
:class:`CMPError`; the subclasses say which part failed."""

from __future__ import annotations


class CMPError(Exception):
    """Base class of every cmpkit error."""


class DecodeError(CMPError, ValueError):
    """Input is not a valid DER encoding of the expected ASN.1 type.

    ``path`` names the ASN.1 element (``PKIMessage > PKIHeader::sender``),
    ``offset`` the byte offset of a structural fault where one is known.
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        super().__init__(message)
        self.path = path
        self.offset = offset


class EncodeError(CMPError, ValueError):
    """A Python value cannot be encoded as the ASN.1 type it stands for."""


class ProtectionError(CMPError):
    """A message's protection is missing, unsupported, or does not verify."""


class LimitError(CMPError, ValueError):
    """A parameter lies outside the bounds enforced before any work is done."""


class DecodeLimitError(LimitError, DecodeError):
    """Input exceeds a decoding limit (``cmp._native.set_limits``): its size,
    its nesting depth, or the number of elements in one SEQUENCE OF (the
    certificates in extraCerts or caPubs, the requests in a message, ...).
    Raised before the offending part is parsed; both a :class:`LimitError`
    and a :class:`DecodeError` (``path``, ``offset``)."""


class UnsupportedAlgorithm(CMPError, ValueError):
    """An algorithm name or OID that cmpkit does not know or cannot use."""
