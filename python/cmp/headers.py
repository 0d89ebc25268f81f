"""PKIHeader construction (RFC 9810 §5.1.1) for both ends of a transaction.

A client's first request gets a fresh 16-byte transactionID and every request
a fresh 16-byte senderNonce; later requests echo the server's last
senderNonce as recipNonce. Sender and recipient default as ``openssl cmp``
chooses them (crypto/cmp/cmp_hdr.c):

- sender: the subject of the client's signer certificate (``-cert``), else of
  the reference certificate (``-oldcert``), else of the CSR (``-csr``), else
  the ``-subject``; the NULL-DN when none is known (then a senderKID must
  identify the sender);
- recipient: ``-recipient``, else the subject of the pinned server
  certificate (``-srvcert``), else ``-issuer``, else the issuer of
  ``-oldcert``, else of ``-cert``; the NULL-DN as last resort.

:func:`response_header` is the server side: it answers a request header
(transactionID copied, recipNonce = the request's senderNonce).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Union

from cryptography import x509

from cmp import certinfo
from cmp.asn1 import (
    AlgorithmIdentifier,
    GeneralName,
    InfoTypeAndValue,
    PKIBody,
    PKIHeader,
    encode,
)
from cmp.dn import NULL_DN
from cmp.errors import EncodeError
from cmp.itav import OID_BY_NAME
from cmp.names import name_from_der

__all__ = [
    "IMPLICIT_CONFIRM",
    "NONCE_LENGTH",
    "PVNO_CMP2000",
    "PVNO_CMP2021",
    "TRANSACTION_ID_LENGTH",
    "has_implicit_confirm",
    "implicit_confirm_itav",
    "name_of",
    "new_nonce",
    "new_transaction_id",
    "parse_geninfo",
    "pvno_for_body",
    "recipient_name",
    "request_header",
    "response_header",
    "sender_name",
    "with_nonces",
    "with_protection_alg",
]

PVNO_CMP2000 = 2
"""pvno of RFC 4210 messages; what every request is unless it needs more."""
PVNO_CMP2021 = 3
"""pvno a message must carry when it uses RFC 9810's additions (hashAlg in
certConf, EnvelopedData) — RFC 9810 §7."""

TRANSACTION_ID_LENGTH = 16
"""Bytes of a fresh transactionID: RFC 9810 §5.1.1 recommends 128 random bits."""
NONCE_LENGTH = 16
"""Bytes of a fresh senderNonce: RFC 9810 §5.1.1 recommends 128 random bits."""

IMPLICIT_CONFIRM = OID_BY_NAME["implicitConfirm"]
"""id-it-implicitConfirm (RFC 9810 §5.1.1.1)."""

_NULL = b"\x05\x00"

NameLike = Union[x509.Name, GeneralName]


class _RandomBytes:
    """Bytes of the operating system's CSPRNG (``os.urandom``), read 4 KiB at
    a time: a transaction takes a dozen nonces, IDs and salts, and a system
    call for each was a measurable part of an in-process enrollment. A forked
    child throws its parent's bytes away, so that no two processes ever hand
    out the same ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._used = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._used + n > len(self._buffer):
                self._buffer, self._used = os.urandom(max(4096, n)), 0
            start = self._used
            self._used += n
            return self._buffer[start : self._used]

    def reset(self) -> None:
        self._lock = threading.Lock()  # a fork may have copied it held
        self._buffer, self._used = b"", 0


_random = _RandomBytes()
os.register_at_fork(after_in_child=_random.reset)


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the operating system's CSPRNG (see :class:`_RandomBytes`)."""
    return _random.take(n)


def new_transaction_id() -> bytes:
    """128 random bits for a new transaction (RFC 9810 §5.1.1)."""
    return _random.take(TRANSACTION_ID_LENGTH)


def new_nonce() -> bytes:
    """128 random bits for a senderNonce (RFC 9810 §5.1.1)."""
    return _random.take(NONCE_LENGTH)


def _general_name(name: NameLike | None) -> GeneralName:
    if isinstance(name, GeneralName):
        return name
    return GeneralName("directoryName", certinfo.name_der(NULL_DN if name is None else name))


def name_of(general_name: GeneralName) -> x509.Name | None:
    """The Name inside a directoryName GeneralName, ``None`` for other kinds."""
    if general_name.kind != "directoryName":
        return None
    return name_from_der(general_name.value)


def sender_name(
    *,
    cert: x509.Certificate | None = None,
    oldcert: x509.Certificate | None = None,
    csr: x509.CertificateSigningRequest | None = None,
    subject: x509.Name | None = None,
) -> x509.Name:
    """The sender of a client's requests, as OpenSSL chooses it (see the module
    docstring); the NULL-DN when none of them is given."""
    if cert is not None:
        return cert.subject
    if oldcert is not None:
        return oldcert.subject
    if csr is not None:
        return csr.subject
    return NULL_DN if subject is None else subject


def recipient_name(
    *,
    recipient: x509.Name | None = None,
    srvcert: x509.Certificate | None = None,
    issuer: x509.Name | None = None,
    oldcert: x509.Certificate | None = None,
    cert: x509.Certificate | None = None,
) -> x509.Name:
    """The recipient of a client's requests, as OpenSSL chooses it (see the
    module docstring); the NULL-DN as last resort."""
    if recipient is not None:
        return recipient
    if srvcert is not None:
        return srvcert.subject
    if issuer is not None:
        return issuer
    if oldcert is not None:
        return oldcert.issuer
    if cert is not None:
        return cert.issuer
    return NULL_DN


def implicit_confirm_itav() -> InfoTypeAndValue:
    """generalInfo ``{ id-it-implicitConfirm, NULL }`` (RFC 9810 §5.1.1.1)."""
    return InfoTypeAndValue(IMPLICIT_CONFIRM, _NULL)


def has_implicit_confirm(header: PKIHeader) -> bool:
    """Whether the header's generalInfo has implicitConfirm (its value NULL or,
    leniently as OpenSSL, absent)."""
    return any(
        itav.info_type == IMPLICIT_CONFIRM and itav.info_value in (None, _NULL)
        for itav in header.general_info or ()
    )


def parse_geninfo(spec: str) -> list[InfoTypeAndValue]:
    """ITAVs from ``openssl cmp -geninfo``: ``OID:int:N`` (an INTEGER value) or
    ``OID:str:text`` (a UTF8String), several separated by commas or white
    space. Raises ``ValueError`` naming the bad item."""
    items = spec.replace(",", " ").split()
    result = []
    for item in items:
        oid, sep1, rest = item.partition(":")
        kind, sep2, value = rest.partition(":")
        parts = oid.split(".")
        if not (sep1 and sep2) or len(parts) < 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"-geninfo {item!r}: expected OID:int:N or OID:str:text")
        if kind == "int":
            try:
                number = int(value, 10)
            except ValueError:
                raise ValueError(f"-geninfo {item!r}: {value!r} is not an integer") from None
            result.append(InfoTypeAndValue(oid, encode("INTEGER", number)))
        elif kind == "str":
            result.append(InfoTypeAndValue(oid, encode("UTF8String", value)))
        else:
            raise ValueError(f"-geninfo {item!r}: type must be 'int' or 'str', not {kind!r}")
    return result


def pvno_for_body(body: PKIBody) -> int:
    """The pvno a message with ``body`` needs (RFC 9810 §7): cmp2021 (3) when a
    certConf names its hashAlg, or a POPO or certificate uses EnvelopedData;
    cmp2000 (2) otherwise."""
    kind, value = body.kind, body.value
    if kind == "certConf":
        if any(status.hash_alg is not None for status in value):
            return PVNO_CMP2021
    elif kind in ("ir", "cr", "kur", "krr", "ccr"):
        for msg in value:
            popo = msg.popo
            if (
                popo is not None
                and popo.kind in ("keyEncipherment", "keyAgreement")
                and popo.value.kind == "encryptedKey"
            ):
                return PVNO_CMP2021
    elif kind in ("ip", "cp", "kup", "ccp"):
        for response in value.response:
            ckp = response.certified_key_pair
            if ckp is None:
                continue
            enc: list[Any] = [ckp.private_key]
            if ckp.cert_or_enc_cert.kind == "encryptedCert":
                enc.append(ckp.cert_or_enc_cert.value)
            if any(e is not None and e.kind == "envelopedData" for e in enc):
                return PVNO_CMP2021
    return PVNO_CMP2000


_EPOCH = datetime.datetime.fromtimestamp(0, datetime.timezone.utc)
_second: tuple[int, datetime.datetime] = (0, _EPOCH)
"""The last whole second :func:`_now` made a ``datetime`` of, and that ``datetime``."""


def _now() -> datetime.datetime:
    # GeneralizedTime in DER has whole seconds (RFC 9810 §5.1.1: messageTime);
    # the messages sent within one second share one (immutable) datetime.
    global _second
    now = int(time.time())
    second = _second
    if second[0] == now:
        return second[1]
    made = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    _second = (now, made)
    return made


def request_header(
    *,
    sender: NameLike | None,
    recipient: NameLike | None,
    transaction_id: bytes,
    sender_nonce: bytes | None = None,
    recip_nonce: bytes | None = None,
    sender_kid: bytes | None = None,
    implicit_confirm: bool = False,
    general_info: Iterable[InfoTypeAndValue] = (),
    free_text: Sequence[str] | None = None,
    pvno: int = PVNO_CMP2000,
    message_time: datetime.datetime | None = None,
    protection_alg: AlgorithmIdentifier | None = None,
) -> PKIHeader:
    """A client request header. ``sender_nonce`` defaults to a fresh one;
    ``None`` for sender or recipient means the NULL-DN. With
    ``implicit_confirm`` generalInfo starts with implicitConfirm (OpenSSL puts
    it in ir/cr/kur/p10cr); ``general_info`` (``-geninfo``) follows.
    ``protection_alg`` (with the ``sender_kid`` protecting will set, see
    :func:`cmp.protection.signature_fields`) spares protecting the message
    a copy of the header."""
    info = [implicit_confirm_itav()] if implicit_confirm else []
    info.extend(general_info)
    if len(transaction_id) == 0:
        raise EncodeError("transactionID must not be empty")
    return PKIHeader(
        pvno=pvno,
        sender=_general_name(sender),
        recipient=_general_name(recipient),
        message_time=_now() if message_time is None else message_time,
        protection_alg=protection_alg,
        sender_kid=sender_kid,
        transaction_id=transaction_id,
        sender_nonce=new_nonce() if sender_nonce is None else sender_nonce,
        recip_nonce=recip_nonce,
        free_text=tuple(free_text) if free_text else None,
        general_info=tuple(info) or None,
    )


def with_protection_alg(
    header: PKIHeader, alg: AlgorithmIdentifier, sender_kid: bytes | None
) -> PKIHeader:
    """``header`` with protectionAlg ``alg`` and, unless ``None``, senderKID
    ``sender_kid``: what protecting a message does to its header. Spelled
    out, as it is done for every message sent: half the time of
    ``dataclasses.replace``."""
    return PKIHeader(
        pvno=header.pvno,
        sender=header.sender,
        recipient=header.recipient,
        message_time=header.message_time,
        protection_alg=alg,
        sender_kid=header.sender_kid if sender_kid is None else sender_kid,
        recip_kid=header.recip_kid,
        transaction_id=header.transaction_id,
        sender_nonce=header.sender_nonce,
        recip_nonce=header.recip_nonce,
        free_text=header.free_text,
        general_info=header.general_info,
    )


def with_nonces(
    header: PKIHeader, *, sender_nonce: bytes | None = None, recip_nonce: bytes | None = None
) -> PKIHeader:
    """``header`` with a fresh (or the given) senderNonce and the given recipNonce."""
    return dataclasses.replace(
        header,
        sender_nonce=new_nonce() if sender_nonce is None else sender_nonce,
        recip_nonce=recip_nonce,
    )


def response_header(
    request_header: PKIHeader,
    sender: NameLike | None,
    *,
    recipient: NameLike | None = None,
    sender_kid: bytes | None = None,
    implicit_confirm: bool = False,
    general_info: Iterable[InfoTypeAndValue] = (),
    free_text: Sequence[str] | None = None,
    pvno: int | None = None,
    sender_nonce: bytes | None = None,
    message_time: datetime.datetime | None = None,
    protection_alg: AlgorithmIdentifier | None = None,
) -> PKIHeader:
    """The header of a server's answer to a request with ``request_header``.

    transactionID is copied, recipNonce is the request's senderNonce, the
    senderNonce is fresh; the recipient defaults to the request's sender.
    pvno defaults to the request's when it is one we speak (2 or 3), else 2.
    ``implicit_confirm`` grants implicit confirmation (generalInfo).
    ``protection_alg`` as for :func:`request_header`.
    """
    if pvno is None:
        pvno = request_header.pvno
        if pvno not in (PVNO_CMP2000, PVNO_CMP2021):
            pvno = PVNO_CMP2000
    info = [implicit_confirm_itav()] if implicit_confirm else []
    info.extend(general_info)
    return PKIHeader(
        pvno=pvno,
        sender=_general_name(sender),
        recipient=request_header.sender if recipient is None else _general_name(recipient),
        message_time=_now() if message_time is None else message_time,
        protection_alg=protection_alg,
        sender_kid=sender_kid,
        transaction_id=request_header.transaction_id,
        sender_nonce=new_nonce() if sender_nonce is None else sender_nonce,
        recip_nonce=request_header.sender_nonce,
        free_text=tuple(free_text) if free_text else None,
        general_info=tuple(info) or None,
    )
