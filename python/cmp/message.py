"""The Python view of a PKIMessage (RFC 9810 §5.1).

A message decoded from DER keeps its bytes: it is validated against the full
schema at once, converted to Python values only when a field is read, and
re-encodes to exactly the bytes it came from. A message built from values is
encoded in one pass by the native core.

Limits come before work: a message larger than ``max_size`` bytes, nested
deeper than ``max_depth``, or with more than ``max_elements`` entries in one
SEQUENCE OF (certificates in extraCerts or caPubs, requests, responses,
ITAVs, ...) raises :class:`cmp.errors.DecodeLimitError` before that part is
parsed. :func:`decode_limits` and :func:`set_decode_limits` read and change
them for the whole process. The element limit is the schema's: DER that
stays whole (a certificate, CRL, CSR or a template's extensions) is parsed by
``cryptography`` when it is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Union

from cmp import _native
from cmp.asn1 import PKIBody, PKIHeader, PKIStatusInfo
from cmp.errors import DecodeError, EncodeError

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "BODY_TYPES",
    "EMPTY_EXTRA_CERTS",
    "DecodeLimits",
    "PKIMessage",
    "decode_limits",
    "set_decode_limits",
]

#: The RFC names of the PKIBody alternatives, in tag order ([0] ir ... [26] pollRep).
BODY_TYPES: tuple[str, ...] = (
    "ir",
    "ip",
    "cr",
    "cp",
    "p10cr",
    "popdecc",
    "popdecr",
    "kur",
    "kup",
    "krr",
    "krp",
    "rr",
    "rp",
    "ccr",
    "ccp",
    "ckuann",
    "cann",
    "rann",
    "crlann",
    "pkiconf",
    "nested",
    "genm",
    "genp",
    "error",
    "certConf",
    "pollReq",
    "pollRep",
)

_Bytes = Union[bytes, bytearray, memoryview]


class _EmptyExtraCerts(tuple[bytes, ...]):
    """The type of :data:`EMPTY_EXTRA_CERTS` (one instance, pickled by name)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EMPTY_EXTRA_CERTS"

    def __reduce__(self) -> str:
        return "EMPTY_EXTRA_CERTS"


#: extraCerts present with no certificate, ``[1] SEQUENCE {}``: OpenSSL sends
#: that in some messages although RFC 9810 says SIZE (1..MAX). It is what
#: :attr:`PKIMessage.extra_certs` of such a message returns, an empty tuple
#: (``== ()``) that a message built with it encodes as the empty SEQUENCE,
#: so that the message re-encodes to its bytes; ``()`` leaves extraCerts out.
EMPTY_EXTRA_CERTS: tuple[bytes, ...] = _EmptyExtraCerts()


class DecodeLimits(NamedTuple):
    """The limits every decode checks first (defaults: 16 MiB, 64 levels,
    1000 elements in one SEQUENCE OF)."""

    max_size: int
    max_depth: int
    max_elements: int


def decode_limits() -> DecodeLimits:
    """The decoding limits in force."""
    return DecodeLimits(*_native.get_limits())


def set_decode_limits(
    *,
    max_size: int | None = None,
    max_depth: int | None = None,
    max_elements: int | None = None,
) -> DecodeLimits:
    """Changes the given decoding limits for the whole process (``max_depth``
    1..256, ``max_elements`` at least 1); returns the previous ones, for
    ``set_decode_limits(**old._asdict())``."""
    old = decode_limits()
    _native.set_limits(
        old.max_size if max_size is None else max_size,
        old.max_depth if max_depth is None else max_depth,
        max_elements,
    )
    return old


class PKIMessage:
    """PKIMessage ::= SEQUENCE { header, body, [0] protection, [1] extraCerts }."""

    __slots__ = (
        "_body",
        "_body_type",
        "_decoded",
        "_der",
        "_extra_certs",
        "_header",
        "_protected_part",
        "_protection",
    )

    def __init__(
        self,
        header: PKIHeader,
        body: PKIBody,
        protection: bytes | None = None,
        extra_certs: Sequence[bytes] = (),
    ) -> None:
        self._header = header
        self._body = body
        self._body_type: str = body.kind
        self._protection = protection
        self._extra_certs: tuple[bytes, ...] = (
            EMPTY_EXTRA_CERTS if extra_certs is EMPTY_EXTRA_CERTS else tuple(extra_certs)
        )
        self._decoded = True
        self._der: bytes | None = None
        self._protected_part: bytes | None = None

    @classmethod
    def from_der(cls, data: _Bytes) -> PKIMessage:
        """Validates and wraps a DER PKIMessage; raises :class:`cmp.DecodeError`
        (:class:`cmp.errors.DecodeLimitError` when it exceeds a decoding limit)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"PKIMessage.from_der needs bytes, not {type(data).__name__}")
        der = bytes(data)
        msg = cls.__new__(cls)
        msg._body_type = _native.check_message(der)
        msg._der = der
        msg._decoded = False
        msg._protected_part = None
        return msg

    @classmethod
    def decode(cls, data: _Bytes) -> PKIMessage:
        """:meth:`from_der` with every field converted at once, in one pass
        over the bytes: for a message that will be read whole (a response
        being checked, a request being served)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"PKIMessage.decode needs bytes, not {type(data).__name__}")
        msg = cls.__new__(cls)
        msg._der = bytes(data)
        msg._decode()
        return msg

    def _decode(self) -> None:
        assert self._der is not None
        kind, header, body, protection, extra, part = _native.decode_message(self._der)
        self._body_type, self._header, self._body, self._protection = kind, header, body, protection
        self._extra_certs = () if extra is None else extra or EMPTY_EXTRA_CERTS
        self._protected_part = part
        self._decoded = True

    @property
    def header(self) -> PKIHeader:
        if not self._decoded:
            self._decode()
        return self._header

    @property
    def body(self) -> PKIBody:
        if not self._decoded:
            self._decode()
        return self._body

    @property
    def body_type(self) -> str:
        """The RFC's name of the body choice: ``"ir"``, ``"ip"``, ``"certConf"``, ..."""
        return self._body_type

    @property
    def protection(self) -> bytes | None:
        if not self._decoded:
            self._decode()
        return self._protection

    @property
    def extra_certs(self) -> tuple[bytes, ...]:
        """The DER of each certificate in extraCerts (``()`` when absent,
        :data:`EMPTY_EXTRA_CERTS` when present with none)."""
        if not self._decoded:
            self._decode()
        return self._extra_certs

    def protected_part(self) -> bytes:
        """DER of ProtectedPart ::= SEQUENCE { header, body }, the input of the
        protection: sliced from the received bytes, or encoded from values."""
        if self._protected_part is None:
            if self._der is not None:
                self._protected_part = _native.protected_part_of(self._der)
            else:
                try:
                    self._protected_part = _native.encode_protected_part(self._header, self._body)
                except (TypeError, ValueError) as e:
                    raise EncodeError(str(e)) from None
        return self._protected_part

    def to_der(self) -> bytes:
        """The DER encoding (the original bytes for a decoded message)."""
        if self._der is None:
            try:
                present = self._extra_certs or self._extra_certs is EMPTY_EXTRA_CERTS
                self._der = _native.assemble_message(
                    self.protected_part(), self._protection, self._extra_certs if present else None
                )
            except (TypeError, ValueError) as e:
                raise EncodeError(str(e)) from None
        return self._der

    def with_protection(
        self, protection: bytes | None, extra_certs: Sequence[bytes] | None = None
    ) -> PKIMessage:
        """The same header and body with new protection (and extraCerts, when
        given); the protected part is reused, not encoded again."""
        msg = PKIMessage(
            self.header,
            self.body,
            protection,
            self.extra_certs if extra_certs is None else extra_certs,
        )
        msg._protected_part = self.protected_part()
        return msg

    # --- conveniences ------------------------------------------------------------

    @property
    def transaction_id(self) -> bytes | None:
        return self.header.transaction_id

    @property
    def sender_nonce(self) -> bytes | None:
        return self.header.sender_nonce

    @property
    def recip_nonce(self) -> bytes | None:
        return self.header.recip_nonce

    def extra_certificates(self) -> list[x509.Certificate]:
        """extraCerts as ``cryptography`` certificates; raises
        :class:`cmp.DecodeError` for one that is not a valid certificate."""
        from cryptography.x509 import InvalidVersion, load_der_x509_certificate

        certs = []
        for i, der in enumerate(self.extra_certs):
            try:
                certs.append(load_der_x509_certificate(der))
            except (ValueError, InvalidVersion) as e:  # the core keeps them as raw DER
                raise DecodeError(f"extraCerts[{i}] is not a valid certificate: {e}") from None
        return certs

    def status_info(self) -> PKIStatusInfo | None:
        """The PKIStatusInfo of an error body, or of the first response of
        ip/cp/kup/ccp/rp, if any."""
        kind, value = self.body.kind, self.body.value
        if kind == "error":
            si: PKIStatusInfo = value.pki_status_info
            return si
        if kind in ("ip", "cp", "kup", "ccp") and value.response:
            return value.response[0].status  # type: ignore[no-any-return]
        if kind == "rp" and value.status:
            return value.status[0]  # type: ignore[no-any-return]
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PKIMessage):
            return NotImplemented
        return self.to_der() == other.to_der()

    def __hash__(self) -> int:
        return hash(self.to_der())

    def __repr__(self) -> str:
        return f"<PKIMessage {self._body_type}, {len(self.to_der())} bytes>"

    def __reduce__(self) -> Any:
        return (PKIMessage.from_der, (self.to_der(),))
