"""The client side of one CMP transaction as a sans-I/O state machine.

Like h11, a :class:`Transaction` does no I/O and never sleeps: it says what
to do next, the caller does it and feeds back what came of it::

    tx = Transaction(EnrollRequest("ir", new_key=key, subject=name), config)
    event = tx.start()                          # Send(ir)
    while not isinstance(event, Done):
        if isinstance(event, Wait):             # polling: wait, then send
            sleep(event.seconds)
        event = tx.receive(post(event.message.to_der()))
    cert = event.result.cert

:meth:`Transaction.receive` checks every response as OpenSSL does
(crypto/cmp/cmp_vfy.c, cmp_client.c) before it looks at its content:

1. the sender is a directoryName and, if ``expect_sender`` (or the subject of
   a pinned ``srvcert``) is set, that name;
2. the protection: a MAC with the shared secret, or a signature by ``srvcert``
   or by a certificate (from the extraCerts, ``untrusted`` or ``trusted``)
   whose subject is the sender, whose subject key identifier is the
   senderKID, and whose path validates to ``trusted``. Without protection, or
   with bad protection, only negative answers pass, and only with
   ``unprotected_errors``;
3. pvno 2 or 3, the transactionID, and recipNonce = our last senderNonce;
4. the body type the request expects; an ``error`` body raises
   :class:`cmp.status.ServerError`.

Then, for ip/cp/kup: the certReqId, the status (rejection raises
``ServerError``, waiting starts polling), the new certificate's public key
against the requested one, and its path to ``out_trusted`` if given; a
certificate that fails these is rejected in certConf with the reason in
statusString and :class:`CertificateRejected` is raised once the server has
answered. certConf is sent unless implicit confirmation was requested and
granted, or ``disable_confirm``.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from cmp import certinfo
from cmp import protection as _protection
from cmp._frozen import fast_init
from cmp._mac import PBM_MAX_ITERATIONS
from cmp.algorithms import PASSWORD_BASED_MAC, PBMAC1, UnsupportedAlgorithm, key_type
from cmp.asn1 import (
    CertRepMessage,
    FailInfo,
    GeneralName,
    InfoTypeAndValue,
    PKIBody,
    PKIHeader,
    PKIStatus,
    PKIStatusInfo,
)
from cmp.dn import oneline, same_name
from cmp.errors import CMPError, ProtectionError
from cmp.headers import (
    has_implicit_confirm,
    name_of,
    new_transaction_id,
    pvno_for_body,
    random_bytes,
    recipient_name,
    request_header,
    sender_name,
)
from cmp.message import PKIMessage
from cmp.requests import (
    CERT_REQ_ID,
    CERT_REQ_ID_NONE,
    EnrollRequest,
    GeneralRequest,
    Request,
    RevokeRequest,
    cert_conf_body,
    enroll_body,
    genm_body,
    poll_req_body,
    rr_body,
)
from cmp.status import ServerError, format_status_info
from cmp.verify import (
    ChainValidator,
    VerificationError,
    VerifyOptions,
    checking_time,
    validate_chain,
)

__all__ = [
    "EXPECTED_ROUND_TRIP",
    "CertConfCallback",
    "CertificateRejected",
    "Done",
    "EnrollRequest",
    "Event",
    "GeneralRequest",
    "Request",
    "ResponseError",
    "RevokeRequest",
    "Send",
    "ServerError",
    "TotalTimeoutError",
    "Transaction",
    "TransactionConfig",
    "TransactionResult",
    "TransactionStateError",
    "Wait",
    "protect_request",
]

EXPECTED_ROUND_TRIP = 5.0
"""Seconds OpenSSL keeps free for one more round trip before ``total_timeout``
when it decides how long to wait before polling again."""

_SUPPORTED_PVNOS = (2, 3)
_MAC_ALGORITHMS = (PASSWORD_BASED_MAC, PBMAC1)
_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
_INCORRECT_DATA = int(FailInfo.incorrectData)

Secret = Union[bytes, str]

CertConfCallback = Callable[[x509.Certificate, int, Optional[str]], "tuple[int, str | None]"]
"""Decides on a newly enrolled certificate, as OpenSSL's certConf callback:
gets the certificate and cmpkit's verdict (failInfo bits, 0 = fine, and a
reason), returns the final ones; non-zero failInfo rejects the certificate."""


# --- errors ----------------------------------------------------------------------------------


class ResponseError(CMPError):
    """A response breaks the protocol: wrong transactionID, recipNonce, pvno,
    body type, certReqId, sender, or content that cannot be used."""


class CertificateRejected(CMPError):
    """We rejected the newly enrolled certificate (its key does not match the
    request, or it failed validation); the server was told so in certConf
    unless confirmation was off. ``cert``, ``fail_info`` and ``text`` say
    which and why; ``result`` holds what the transaction returned."""

    def __init__(
        self,
        cert: x509.Certificate,
        fail_info: int,
        text: str,
        result: TransactionResult | None = None,
    ) -> None:
        super().__init__(
            f"rejecting newly enrolled cert with subject: {oneline(cert.subject)}; {text}"
        )
        self.cert = cert
        self.fail_info = fail_info
        self.text = text
        self.result = result


class TotalTimeoutError(CMPError, TimeoutError):
    """``total_timeout`` ran out while polling."""


class TransactionStateError(CMPError, RuntimeError):
    """The transaction was driven out of order (receive before start, after the end)."""


# --- events ------------------------------------------------------------------------------------


@fast_init
@dataclass(frozen=True)
class Send:
    """Send ``message`` and pass the response to :meth:`Transaction.receive`."""

    message: PKIMessage


@fast_init
@dataclass(frozen=True)
class Wait:
    """Wait ``seconds`` (the server's checkAfter), then send ``message``."""

    seconds: float
    message: PKIMessage


@fast_init
@dataclass(frozen=True)
class Done:
    """The transaction is over; ``result`` is what it brought."""

    result: TransactionResult


Event = Union[Send, Wait, Done]


# --- configuration and result --------------------------------------------------------------


@dataclass(frozen=True)
class TransactionConfig:
    """How a client protects its requests and checks the responses, as the
    ``openssl cmp`` options of the same names.

    Protection of requests (the first that applies): ``unprotected_requests``;
    PBM with ``secret`` (senderKID ``ref``; ``digest`` is the one-way
    function, ``mac`` the MAC, ``pbm_iterations``/``pbm_salt_length`` as
    OpenSSL: 500 and 16); a signature with ``key`` and ``cert`` (``digest``;
    ``pss`` for RSASSA-PSS), extraCerts being ``cert``, its chain built from
    ``untrusted`` (validated against ``own_trusted`` when given) and
    ``extracerts``.

    Server authentication: MACs with ``secret`` (at most
    ``max_pbm_iterations``); signatures by the pinned ``srvcert``, else by a
    certificate with a path to ``trusted`` (``verify_options``);
    ``expect_sender``; ``ignore_keyusage``; ``unprotected_errors``.

    Enrollment: ``implicit_confirm``, ``disable_confirm``, ``out_trusted``
    (with ``out_verify_options``) for the new certificate, ``certconf_cb``,
    ``certconf_hash_alg`` (False: no hashAlg in certConf, for servers that
    only speak pvno 2, such as OpenSSL 3.0/3.1 with EdDSA certificates).

    Header: ``recipient``, ``geninfo`` (generalInfo ITAVs), ``free_text``.
    Time: ``total_timeout`` (seconds, 0 = none) bounds polling,
    ``max_check_after`` caps each wait; without ``total_timeout``,
    ``max_poll_time`` (seconds from the first "waiting"; default one day)
    still ends polling a server that never stops answering "waiting" —
    ``openssl cmp -total_timeout 0`` polls for ever, which ``max_poll_time=0``
    restores; ``clock`` (monotonic seconds) is read, never slept on.

    Limits on what a response may bring: ``min_rsa_bits``/``max_rsa_bits``
    for the RSA key of each candidate signer (extraCerts, ``untrusted``,
    ``trusted``), checked before its signature is verified (a pinned
    ``srvcert`` is taken as configured). 16384 is OpenSSL's own cap; below
    1024 OpenSSL's default security level refuses the path.
    """

    # client authentication and protection
    secret: Secret | None = field(default=None, repr=False)  # never in a repr
    ref: Secret | None = None
    cert: x509.Certificate | None = None
    key: PrivateKeyTypes | None = None
    extracerts: Sequence[x509.Certificate] = ()
    untrusted: Sequence[x509.Certificate] = ()
    own_trusted: Sequence[x509.Certificate] | None = None
    unprotected_requests: bool = False
    digest: str = "sha256"
    mac: str = "hmac-sha1"
    pbm_iterations: int = _protection.DEFAULT_PBM_ITERATIONS
    pbm_salt_length: int = _protection.DEFAULT_SALT_LENGTH
    pss: bool = False
    # server authentication
    srvcert: x509.Certificate | None = None
    trusted: Sequence[x509.Certificate] = ()
    expect_sender: x509.Name | None = None
    ignore_keyusage: bool = False
    unprotected_errors: bool = False
    verify_options: VerifyOptions | None = None
    max_pbm_iterations: int = PBM_MAX_ITERATIONS
    # enrollment
    implicit_confirm: bool = False
    disable_confirm: bool = False
    out_trusted: Sequence[x509.Certificate] | None = None
    out_verify_options: VerifyOptions | None = None
    certconf_cb: CertConfCallback | None = None
    certconf_hash_alg: bool = True
    # header
    recipient: x509.Name | None = None
    geninfo: Sequence[InfoTypeAndValue] = ()
    free_text: Sequence[str] | None = None
    # time
    total_timeout: float = 0.0
    max_check_after: float = 3600.0
    max_poll_time: float = 86400.0
    clock: Callable[[], float] = time.monotonic
    # limits on responses
    min_rsa_bits: int = 1024
    max_rsa_bits: int = 16384
    # per-config cache (the own signer chain); not part of the value
    _cache: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None) and self.secret is None:
            if not self.unprotected_requests:
                raise ValueError("cert and key must be given together")
        for name in ("total_timeout", "max_check_after", "max_poll_time"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    def own_chain(self) -> list[x509.Certificate]:
        """The CA certificates to send after ``cert`` in extraCerts (not
        self-signed ones), as OpenSSL builds them: validated against
        ``own_trusted`` when given, else found among ``untrusted`` and
        ``extracerts``. Computed once per config."""
        if self.cert is None:
            return []
        chain: list[x509.Certificate] | None = self._cache.get("own_chain")
        if chain is None:
            pool = [*self.untrusted, *self.extracerts]
            if self.own_trusted is not None:
                full = validate_chain(self.cert, self.own_trusted, pool, self.verify_options)
            else:
                full = _approximate_chain(self.cert, pool)
            chain = [c for c in full[1:] if not _self_signed(c)]
            self._cache["own_chain"] = chain
        return chain

    def server_validator(self) -> ChainValidator:
        """The validator of server signer certificates against ``trusted``
        (with ``verify_options``), built once per config."""
        validator: ChainValidator | None = self._cache.get("server_validator")
        if validator is None:
            validator = ChainValidator(self.trusted, self.verify_options)
            self._cache["server_validator"] = validator
        return validator


@fast_init
@dataclass(frozen=True)
class TransactionResult:
    """What a finished transaction brought.

    ``cert`` the newly enrolled certificate, ``chain`` its CA certificates
    (intermediates, as OpenSSL's ``-chainout``: validated with
    ``out_trusted``, else as far as found in ``untrusted`` and the extraCerts
    received), ``ca_pubs`` the caPubs of the certificate response,
    ``extra_certs`` the extraCerts of the last response (not pollRep or
    pkiconf), ``genp_itavs`` the ITAVs of a genp, ``rev_status`` the status of
    an rp, ``status`` the PKIStatusInfo of the answer (cert response or rp),
    ``implicit_confirm_granted``, and ``sent``/``received``: every message in
    order (``-reqout``/``-rspout``).
    """

    cert: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    ca_pubs: tuple[x509.Certificate, ...] = ()
    extra_certs: tuple[x509.Certificate, ...] = ()
    genp_itavs: tuple[InfoTypeAndValue, ...] = ()
    rev_status: PKIStatusInfo | None = None
    status: PKIStatusInfo | None = None
    implicit_confirm_granted: bool = False
    sent: tuple[PKIMessage, ...] = ()
    received: tuple[PKIMessage, ...] = ()

    @property
    def messages(self) -> tuple[PKIMessage, ...]:
        """Every message in the order they went: request, response, request, ..."""
        out: list[PKIMessage] = []
        for i, request in enumerate(self.sent):
            out.append(request)
            if i < len(self.received):
                out.append(self.received[i])
        return tuple(out)


# --- helpers -----------------------------------------------------------------------------------


_der = certinfo.der
_spki = certinfo.spki
_self_signed = certinfo.verifies_itself


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return certinfo.subject_key_id(cert)
    except ValueError:
        return None


def _approximate_chain(
    cert: x509.Certificate, pool: Sequence[x509.Certificate], limit: int = 10
) -> list[x509.Certificate]:
    """``cert`` and the issuers found for it in ``pool`` (by name and
    signature), as OpenSSL's ``X509_build_chain()`` without a trust store.
    This is no validation: the result only says which certificates to send
    along or to hand out as the chain, never what to trust."""
    chain = [cert]
    seen = {_der(cert)}
    while len(chain) <= limit and not _self_signed(chain[-1]):
        current = chain[-1]
        for candidate in pool:
            der = _der(candidate)
            if der in seen or candidate.subject != current.issuer:
                continue
            try:
                current.verify_directly_issued_by(candidate)
            except (InvalidSignature, ValueError, TypeError):
                continue
            chain.append(candidate)
            seen.add(der)
            break
        else:
            break
    return chain


def _load_certs(ders: Sequence[bytes], what: str) -> list[x509.Certificate]:
    try:
        return [certinfo.load_der(d) for d in ders]
    except ValueError as e:
        raise ResponseError(f"unusable certificate in {what}: {e}") from None


def _signs(config: TransactionConfig) -> bool:
    """Whether :func:`protect_request` signs with ``config``."""
    return (
        not config.unprotected_requests
        and config.secret is None
        and config.cert is not None
        and config.key is not None
    )


def protect_request(
    message: PKIMessage, config: TransactionConfig, salt: bytes | None = None
) -> PKIMessage:
    """``message`` protected as a client with ``config`` protects its requests:
    none with ``unprotected_requests`` (extraCerts still added), else PBM with
    ``secret`` (and ``salt``, else a fresh one), else a signature with ``key``
    and ``cert``. Also what ``-reqin_new_tid`` uses to protect a request read
    from a file again."""
    if config.unprotected_requests:
        extra = [_der(c) for c in config.extracerts]
        return message.with_protection(None, extra) if extra else message
    if config.secret is not None:
        return _protection.protect_pbm(
            message,
            config.secret,
            ref=config.ref,
            salt=random_bytes(config.pbm_salt_length) if salt is None else salt,
            iterations=config.pbm_iterations,
            owf=config.digest,
            mac=config.mac,
            extra_certs=config.extracerts,
        )
    if not _signs(config):
        raise ProtectionError("no way to protect the request: no secret, or no cert and key")
    assert config.cert is not None and config.key is not None
    return _protection.protect_signature(
        message,
        config.key,
        config.cert,
        digest=config.digest,
        pss=config.pss,
        extra_certs=[*config.own_chain(), *config.extracerts],
    )


# --- the state machine ------------------------------------------------------------------------

_IDLE, _AWAIT, _POLLING, _CONFIRMING, _DONE, _FAILED = (
    "idle", "awaiting response", "polling", "confirming", "done", "failed",
)  # fmt: skip


@dataclass
class _Pending:
    """The certificate response being confirmed."""

    cert: x509.Certificate
    fail_info: int
    text: str | None
    result: TransactionResult


class Transaction:
    """One CMP transaction (ir/cr/kur/p10cr with certConf and polling, rr, or
    genm), driven by :meth:`start` and :meth:`receive`; see the module
    docstring. Not thread-safe: one transaction, one driver."""

    def __init__(self, request: Request, config: TransactionConfig) -> None:
        if not isinstance(request, (EnrollRequest, RevokeRequest, GeneralRequest)):
            raise TypeError(f"unsupported request {type(request).__name__}")
        if not (
            config.unprotected_requests
            or config.secret is not None
            or (config.cert is not None and config.key is not None)
        ):
            raise ProtectionError(
                "no way to protect requests: give secret (and ref), or cert and key,"
                " or set unprotected_requests"
            )
        self.request = request
        self.config = config
        self.transaction_id = new_transaction_id()
        self._state = _IDLE
        self._sent: list[PKIMessage] = []
        self._received: list[PKIMessage] = []
        self._sender_nonce: bytes | None = None
        self._recip_nonce: bytes | None = None
        self._expected: tuple[str, ...] = ()
        self._untrusted: list[x509.Certificate] = list(config.untrusted)
        self._trusted: list[x509.Certificate] = list(config.trusted)
        self._validated_srvcert: x509.Certificate | None = None
        self._extra_certs_in: tuple[x509.Certificate, ...] = ()
        self._rid = CERT_REQ_ID
        self._deadline: float | None = None
        self._poll_deadline: float | None = None
        self._template_key: bytes | None = None
        self._pending: _Pending | None = None
        self._error: BaseException | None = None
        self._salt: bytes | None = None
        sender = sender_name(
            cert=config.cert,
            oldcert=getattr(request, "oldcert", None),
            csr=getattr(request, "csr", None),
            subject=getattr(request, "subject", None),
        )
        recipient = recipient_name(
            recipient=config.recipient,
            srvcert=config.srvcert,
            issuer=getattr(request, "issuer", None),
            oldcert=getattr(request, "oldcert", None),
            cert=config.cert,
        )
        # as directoryNames once: every request of the transaction names them
        self._sender = GeneralName("directoryName", certinfo.name_der(sender))
        self._recipient = GeneralName("directoryName", certinfo.name_der(recipient))
        expected = config.expect_sender
        if expected is None and config.srvcert is not None:
            expected = config.srvcert.subject
        self._expected_sender = expected

    # --- public API ----------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``idle``, ``awaiting response``, ``polling``, ``confirming``, ``done`` or ``failed``."""
        return self._state

    @property
    def sent(self) -> tuple[PKIMessage, ...]:
        return tuple(self._sent)

    @property
    def received(self) -> tuple[PKIMessage, ...]:
        return tuple(self._received)

    @property
    def messages(self) -> tuple[PKIMessage, ...]:
        """Every message so far, in the order they went (also after a failure:
        what ``-reqout``/``-rspout`` write)."""
        return TransactionResult(sent=self.sent, received=self.received).messages

    @property
    def error(self) -> BaseException | None:
        """What ended the transaction, if it failed."""
        return self._error

    @property
    def deadline(self) -> float | None:
        """When ``total_timeout`` runs out, on ``config.clock``; None without one."""
        return self._deadline

    def remaining(self) -> float | None:
        """Seconds left of ``total_timeout`` (never negative), None without one."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self.config.clock())

    def start(self) -> Send:
        """The first request of the transaction."""
        if self._state != _IDLE:
            raise TransactionStateError(f"start() on a transaction that is {self._state}")
        try:
            if self.config.total_timeout:
                self._deadline = self.config.clock() + self.config.total_timeout
            body = self._first_body()
            message = self._make(
                body,
                implicit_confirm=isinstance(self.request, EnrollRequest)
                and self.config.implicit_confirm,
            )
        except BaseException as e:
            self.fail(e)
            raise
        return self._send(message, _AWAIT)

    def receive(self, data: bytes) -> Event:
        """Takes the DER of the response to the last message sent and returns
        what to do next; raises :class:`cmp.CMPError` subclasses when the
        response is bad or negative (the transaction is then over)."""
        if self._state in (_IDLE, _DONE, _FAILED):
            raise TransactionStateError(f"receive() on a transaction that is {self._state}")
        try:
            message = PKIMessage.decode(data)
            self._received.append(message)
            self._check(message)
            return self._dispatch(message)
        except BaseException as e:
            self.fail(e)
            raise

    def adopt_ids(self, transaction_id: bytes | None, recip_nonce: bytes | None) -> None:
        """Takes over a replayed response's transactionID and recipNonce before
        it is passed to :meth:`receive` (``-rspin``, ``-reqin``), as ``openssl
        cmp`` does, so that those two checks compare it with itself; later
        requests carry the adopted transactionID. Only for messages read from
        files: it switches off the replay protection of both fields."""
        if self._state in (_IDLE, _DONE, _FAILED):
            raise TransactionStateError(f"adopt_ids() on a transaction that is {self._state}")
        self.transaction_id = transaction_id or b""
        self._sender_nonce = recip_nonce

    def fail(self, exc: BaseException) -> None:
        """Ends the transaction because of ``exc`` (a transport error, a timeout
        of the caller's); later calls raise :class:`TransactionStateError`."""
        if self._state != _DONE:
            self._state = _FAILED
            self._error = exc

    # --- building requests -----------------------------------------------------------------

    def _first_body(self) -> PKIBody:
        request, config = self.request, self.config
        if isinstance(request, EnrollRequest):
            body = enroll_body(
                request, client_key=config.key, client_cert=config.cert, digest=config.digest
            )
            self._expected = (request.reply_type,)
            if request.cmd == "p10cr":
                self._rid = CERT_REQ_ID_NONE
                assert request.csr is not None
                self._template_key = request.csr.public_key().public_bytes(_DER, _SPKI)
            else:
                self._template_key = body.value[0].cert_req.cert_template.public_key
            return body
        if isinstance(request, RevokeRequest):
            self._expected = ("rp",)
            return rr_body(request)
        self._expected = ("genp",)
        return genm_body(request.itavs)

    def _make(self, body: PKIBody, *, implicit_confirm: bool = False) -> PKIMessage:
        config = self.config
        ref = config.ref
        kid = ref.encode() if isinstance(ref, str) else ref
        alg = None
        if _signs(config):
            assert config.key is not None and config.cert is not None
            alg, kid = _protection.signature_fields(
                config.key, config.cert, digest=config.digest, pss=config.pss, sender_kid=kid
            )
        header = request_header(
            sender=self._sender,
            recipient=self._recipient,
            transaction_id=self.transaction_id,
            recip_nonce=self._recip_nonce,
            sender_kid=kid,
            implicit_confirm=implicit_confirm,
            general_info=config.geninfo,
            free_text=config.free_text,
            pvno=pvno_for_body(body),
            protection_alg=alg,
        )
        return self._protect(PKIMessage(header, body))

    def _protect(self, message: PKIMessage) -> PKIMessage:
        # One PBM salt for all requests of the transaction: the MAC key is then
        # derived once (cmp._mac keeps it), not once per message. OpenSSL draws a
        # salt per message; RFC 4211 §4.4 asks for a random salt, not a new one
        # per message, and a key shared by the messages of one transaction is no
        # weaker than a session key.
        if self._salt is None:
            self._salt = random_bytes(self.config.pbm_salt_length)
        return protect_request(message, self.config, self._salt)

    def _send(self, message: PKIMessage, state: str) -> Send:
        self._sent.append(message)
        self._sender_nonce = message.header.sender_nonce
        self._state = state
        return Send(message)

    # --- checking responses ------------------------------------------------------------------

    def _check(self, message: PKIMessage) -> None:
        """The checks of OpenSSL's ``ossl_cmp_msg_check_update()`` and
        ``send_receive_check()``, in their order."""
        header = message.header
        sender = name_of(header.sender)
        if sender is None:
            raise ResponseError(
                f"sender of the response is a {header.sender.kind}, not a directoryName"
            )
        if self._expected_sender is not None and not same_name(sender, self._expected_sender):
            raise ResponseError(
                f"sender of the response {oneline(sender)!r} is not the expected sender"
                f" {oneline(self._expected_sender)!r}"
            )
        # Received extraCerts may help to validate later messages of the
        # transaction (OpenSSL keeps them as untrusted certificates, first).
        extra = _load_certs(message.extra_certs, "extraCerts") if message.extra_certs else []
        if extra:
            known = {_der(c) for c in self._untrusted}
            self._untrusted[:0] = [c for c in extra if _der(c) not in known]
        self._check_protection(message, extra)
        if header.pvno not in _SUPPORTED_PVNOS:
            raise ResponseError(f"unexpected pvno {header.pvno} in the response (2 or 3 expected)")
        if header.transaction_id != self.transaction_id:
            raise ResponseError("transactionID of the response does not match the request's")
        if header.recip_nonce is None or header.recip_nonce != self._sender_nonce:
            raise ResponseError("recipNonce of the response does not match our senderNonce")
        self._recip_nonce = header.sender_nonce
        kind = message.body_type
        if kind in self._expected:
            if kind not in ("pollRep", "pkiconf"):
                self._extra_certs_in = tuple(extra)
            return
        if kind == "error":
            content = message.body.value
            raise ServerError(
                content.pki_status_info,
                error_code=content.error_code,
                error_details=content.error_details,
            )
        expected = " or ".join(self._expected)
        raise ResponseError(f"unexpected {kind} in response to the request ({expected} expected)")

    def _negative(self, message: PKIMessage) -> bool:
        """Whether ``message`` is a negative answer that ``unprotected_errors``
        lets through without (valid) protection (OpenSSL's
        ``unprotected_exception()``)."""
        kind = message.body_type
        if kind in ("error", "pkiconf"):
            return True
        if kind == "rp":
            statuses = message.body.value.status
            return bool(statuses) and statuses[0].status == PKIStatus.rejection
        if kind in ("ip", "cp", "kup"):
            responses = message.body.value.response
            return len(responses) == 1 and responses[0].status.status == PKIStatus.rejection
        return False

    def _check_protection(self, message: PKIMessage, extra: list[x509.Certificate]) -> None:
        header = message.header
        if header.protection_alg is None or message.protection is None:
            if self.config.unprotected_errors and self._negative(message):
                return  # OpenSSL: "ignoring missing protection of ..."
            raise ProtectionError(f"{message.body_type} response is not protected")
        try:
            self._verify_protection(message, extra)
        except ProtectionError:
            if self.config.unprotected_errors and self._negative(message):
                return  # OpenSSL: "ignoring invalid protection of ..."
            raise

    def _verify_protection(self, message: PKIMessage, extra: list[x509.Certificate]) -> None:
        config = self.config
        alg = message.header.protection_alg
        assert alg is not None
        if alg.algorithm in _MAC_ALGORITHMS:
            if config.secret is None:
                raise ProtectionError(
                    "response is MAC-protected but no secret is given to check it"
                )
            _protection.verify(
                message, secret=config.secret, max_iterations=config.max_pbm_iterations
            )
            # RFC 9810 §5.3.2: with MAC protection the caPubs may be trusted
            # directly (OpenSSL adds them to the trust store when it has one).
            if message.body_type in ("ip", "cp", "kup") and self._trusted:
                ca_pubs = message.body.value.ca_pubs or ()
                self._trusted.extend(_load_certs(ca_pubs, "caPubs"))
            return
        if config.srvcert is not None:
            # Pinned: trusted as it is, even when expired, with no path check.
            _protection.verify(message, cert=config.srvcert, ignore_keyusage=config.ignore_keyusage)
            return
        if not self._trusted:
            raise ProtectionError(
                "cannot authenticate the signature-protected response:"
                " neither srvcert nor trusted is given"
            )
        self._find_signer(message, extra)

    def _acceptable(
        self,
        cert: x509.Certificate,
        header: PKIHeader,
        sender: x509.Name | None,
        at: datetime.datetime | None,
    ) -> str | None:
        """Why ``cert`` cannot have signed a message with ``header`` from
        ``sender`` (its Name) at ``at`` (None: time not checked), or None:
        OpenSSL's ``cert_acceptable()``."""
        if at is not None:
            if at > cert.not_valid_after_utc:
                return "cert has expired"
            if at < cert.not_valid_before_utc:
                return "cert is not yet valid"
        null_sender = sender is None or len(sender.rdns) == 0
        if not null_sender and sender is not None and not same_name(cert.subject, sender):
            return "subject does not match the sender"
        if null_sender and header.sender_kid is None:
            return "NULL-DN sender without senderKID"
        if header.sender_kid is not None and _ski(cert) != header.sender_kid:
            return "subject key identifier does not match the senderKID"
        return self._key_size_problem(cert)

    def _key_size_problem(self, cert: x509.Certificate) -> str | None:
        """Why the RSA key of ``cert`` is too small or too large to verify a
        signature with (before any work is done with it), or None."""
        try:
            key = cert.public_key()
        except (ValueError, _CryptoUnsupported) as e:
            return f"unusable public key: {e}"
        try:
            kind = key_type(key)  # by the key's class: no chain of ABC checks
        except UnsupportedAlgorithm:
            return None
        if kind != "rsa":
            return None
        bits = cast(rsa.RSAPublicKey, key).key_size
        low, high = self.config.min_rsa_bits, self.config.max_rsa_bits
        if bits < low:
            return f"RSA key of {bits} bits is smaller than the minimum of {low} bits"
        if bits > high:
            return f"RSA key of {bits} bits is larger than the maximum of {high} bits"
        return None

    def _find_signer(self, message: PKIMessage, extra: list[x509.Certificate]) -> None:
        """OpenSSL's ``check_msg_find_cert()``: the previously validated server
        certificate, else candidates from the extraCerts, the untrusted
        certificates and the trusted ones; the first that is acceptable,
        verifies the signature and validates to ``trusted`` is the signer."""
        header = message.header
        validator = (
            self.config.server_validator()
            if len(self._trusted) == len(self.config.trusted)
            else ChainValidator(self._trusted, self.config.verify_options)
        )
        reasons: list[str] = []
        candidates: list[x509.Certificate] = []
        if self._validated_srvcert is not None:
            candidates.append(self._validated_srvcert)
        sender, at = name_of(header.sender), checking_time(self.config.verify_options)
        seen: set[bytes] = set()
        paths = 0
        for cert in [*candidates, *extra, *self._untrusted, *self._trusted]:
            der = _der(cert)
            if der in seen:
                continue
            seen.add(der)
            why = self._acceptable(cert, header, sender, at)
            if why is not None:
                reasons.append(f"{oneline(cert.subject)}: {why}")
                continue
            try:
                _protection.verify(message, cert=cert, ignore_keyusage=self.config.ignore_keyusage)
            except ProtectionError as e:
                reasons.append(f"{oneline(cert.subject)}: {e}")
                continue
            if paths == _protection.MAX_SIGNER_PATHS:
                reasons.append(
                    f"more than {paths} certificates verify the signature: the rest not tried"
                )
                break
            paths += 1
            try:
                validator.validate(cert, [*extra, *self._untrusted])
            except VerificationError as e:
                reasons.append(
                    f"{oneline(cert.subject)}: signature verifies but the path does not: {e}"
                )
                continue
            self._validated_srvcert = cert
            return
        sender = name_of(header.sender)
        detail = "; ".join(reasons) if reasons else "no candidate certificate"
        kid = "" if header.sender_kid is None else f", senderKID {header.sender_kid.hex()}"
        raise ProtectionError(
            f"no suitable sender certificate for {oneline(sender) if sender else '?'}{kid}:"
            f" {detail}"
        )

    # --- handling responses ---------------------------------------------------------------------

    def _dispatch(self, message: PKIMessage) -> Event:
        kind = message.body_type
        if kind in ("ip", "cp", "kup"):
            return self._on_cert_response(message)
        if kind == "pollRep":
            return self._on_poll_rep(message)
        if kind == "pkiconf":
            return self._on_pkiconf(message)
        if kind == "rp":
            return self._on_rp(message)
        if kind == "genp":
            return self._finish(
                TransactionResult(
                    genp_itavs=tuple(message.body.value), extra_certs=self._extra_certs_in
                )
            )
        raise ResponseError(f"unexpected {kind}")  # _check() lets no other kind through

    def _finish(self, result: TransactionResult) -> Done:
        self._state = _DONE
        return Done(
            TransactionResult(  # dataclasses.replace() spelt out: a third of the time
                cert=result.cert,
                chain=result.chain,
                ca_pubs=result.ca_pubs,
                extra_certs=result.extra_certs,
                genp_itavs=result.genp_itavs,
                rev_status=result.rev_status,
                status=result.status,
                implicit_confirm_granted=result.implicit_confirm_granted,
                sent=tuple(self._sent),
                received=tuple(self._received),
            )
        )

    def _on_cert_response(self, message: PKIMessage) -> Event:
        request = self.request
        assert isinstance(request, EnrollRequest)
        content: CertRepMessage = message.body.value
        if len(content.response) != 1:
            raise ResponseError(
                f"{message.body_type} has {len(content.response)} responses; exactly one expected"
            )
        response = content.response[0]
        self._check_cert_req_id(response.cert_req_id, message.body_type)
        si = response.status
        status = si.status
        if status == PKIStatus.waiting:
            # Polling (RFC 9810 §5.3.22): pollRep until the answer is ready.
            self._poll_time_left()
            self._expected = ("pollRep", request.reply_type)
            return self._send(self._make(poll_req_body(self._rid)), _POLLING)
        if status == PKIStatus.rejection:
            raise ServerError(si, body_type=message.body_type)
        if status == PKIStatus.keyUpdateWarning and request.cmd != "kur":
            raise ServerError(si, body_type=message.body_type, reason="unexpected keyUpdateWarning")
        if status not in (
            PKIStatus.accepted,
            PKIStatus.grantedWithMods,
            PKIStatus.revocationWarning,
            PKIStatus.revocationNotification,
            PKIStatus.keyUpdateWarning,
        ):
            raise ServerError(si, body_type=message.body_type, reason="unknown PKIStatus")
        cert = self._certificate_of(response, message.body_type, si)
        ca_pubs = tuple(_load_certs(content.ca_pubs or (), "caPubs"))
        fail_info, text, chain = self._judge(cert)
        if self.config.certconf_cb is not None:
            fail_info, text = self.config.certconf_cb(cert, fail_info, text)
            if fail_info and text is None:
                text = "CMP client did not accept it"
        granted = has_implicit_confirm(message.header)
        result = TransactionResult(
            cert=cert,
            chain=tuple(chain),
            ca_pubs=ca_pubs,
            extra_certs=self._extra_certs_in,
            status=si,
            implicit_confirm_granted=granted,
        )
        confirm = not self.config.disable_confirm and not (self.config.implicit_confirm and granted)
        if confirm:
            self._pending = _Pending(cert, fail_info, text, result)
            body = cert_conf_body(
                cert,
                self._rid,
                fail_info=fail_info,
                text=text if fail_info else None,
                with_hash_alg=self.config.certconf_hash_alg,
            )
            self._expected = ("pkiconf",)
            return self._send(self._make(body), _CONFIRMING)
        if fail_info:
            done = self._finish(result)
            raise CertificateRejected(cert, fail_info, text or "", done.result)
        return self._finish(result)

    def _check_cert_req_id(self, cert_req_id: int, kind: str) -> None:
        if cert_req_id == self._rid:
            return
        # Servers before RFC 9810 (OpenSSL < 3.0.8) answer a p10cr with 0.
        if self._rid == CERT_REQ_ID_NONE and cert_req_id == CERT_REQ_ID:
            self._rid = cert_req_id
            return
        raise ResponseError(f"unexpected certReqId {cert_req_id} in {kind} (sent {self._rid})")

    def _certificate_of(self, response: Any, kind: str, si: PKIStatusInfo) -> x509.Certificate:
        ckp = response.certified_key_pair
        if ckp is None:
            raise ResponseError(f"{kind} with {format_status_info(si)} carries no certificate")
        if ckp.cert_or_enc_cert.kind != "certificate":
            raise ResponseError(
                f"{kind} carries an encrypted certificate, which cmpkit cannot decrypt yet"
            )
        certs = _load_certs([ckp.cert_or_enc_cert.value], kind)
        return certs[0]

    def _judge(self, cert: x509.Certificate) -> tuple[int, str | None, list[x509.Certificate]]:
        """cmpkit's verdict on a new certificate (OpenSSL's ``cert_response()``
        and ``OSSL_CMP_certConf_cb()``): (failInfo, reason, chain)."""
        if self._template_key is not None and _spki(cert) != self._template_key:
            return (
                _INCORRECT_DATA,
                "public key in new certificate does not match our enrollment key",
                [],
            )
        pool = [*self._untrusted]
        if self.config.out_trusted is not None:
            try:
                full = validate_chain(
                    cert, self.config.out_trusted, pool, self.config.out_verify_options
                )
            except VerificationError as e:
                return _INCORRECT_DATA, f"failed to validate newly enrolled cert: {e}", []
            return 0, None, [c for c in full[1:] if not _self_signed(c)]
        # As OpenSSL's X509_build_chain() without a store: as far as the pool
        # (untrusted and received extraCerts) goes, possibly nothing. (OpenSSL
        # resorts to the extraCerts only when building fails outright, which
        # it does on internal errors alone.)
        full = _approximate_chain(cert, pool)
        return 0, None, [c for c in full[1:] if not _self_signed(c)]

    def _on_poll_rep(self, message: PKIMessage) -> Event:
        entries = message.body.value
        if len(entries) != 1:
            raise ResponseError(f"pollRep has {len(entries)} entries; exactly one expected")
        entry = entries[0]
        if entry.cert_req_id != self._rid:
            raise ResponseError(
                f"unexpected certReqId {entry.cert_req_id} in pollRep (sent {self._rid})"
            )
        check_after = float(entry.check_after)
        if check_after < 0:
            raise ResponseError(f"checkAfter {entry.check_after} in pollRep is negative")
        wait = min(check_after, self.config.max_check_after)
        if self._deadline is not None:
            left = self._deadline - EXPECTED_ROUND_TRIP - self.config.clock()
            if left <= 0:
                raise TotalTimeoutError(
                    f"total_timeout of {self.config.total_timeout:g} s exceeded while polling"
                )
            wait = min(wait, left)
        else:
            poll_left = self._poll_time_left()
            if poll_left is not None:
                wait = min(wait, poll_left)
        poll = self._make(poll_req_body(self._rid))
        self._send(poll, _POLLING)
        return Wait(wait, poll)

    def _poll_time_left(self) -> float | None:
        """Seconds of ``max_poll_time`` left (None when unbounded), counted
        from the first "waiting"; raises :class:`TotalTimeoutError` once it
        has run out. ``total_timeout``, when set, bounds polling instead."""
        limit = self.config.max_poll_time
        if self._deadline is not None or not limit:
            return None
        now = self.config.clock()
        if self._poll_deadline is None:
            self._poll_deadline = now + limit
        left = self._poll_deadline - now
        if left <= 0:
            raise TotalTimeoutError(f"still waiting after polling for max_poll_time of {limit:g} s")
        return left

    def _on_pkiconf(self, message: PKIMessage) -> Event:
        pending = self._pending
        assert pending is not None
        self._pending = None
        done = self._finish(pending.result)
        if pending.fail_info:
            raise CertificateRejected(
                pending.cert, pending.fail_info, pending.text or "", done.result
            )
        return done

    def _on_rp(self, message: PKIMessage) -> Event:
        request = self.request
        assert isinstance(request, RevokeRequest)
        content = message.body.value
        if len(content.status) != 1:
            raise ResponseError(f"rp has {len(content.status)} status entries; 1 expected")
        si = content.status[0]
        status = si.status
        if status == PKIStatus.rejection:
            raise ServerError(si, body_type="rp")
        if status in (PKIStatus.waiting, PKIStatus.keyUpdateWarning):
            raise ServerError(si, body_type="rp", reason="unexpected PKIStatus in rp")
        if status not in (
            PKIStatus.accepted,
            PKIStatus.grantedWithMods,
            PKIStatus.revocationWarning,
            PKIStatus.revocationNotification,
        ):
            raise ServerError(si, body_type="rp", reason="unknown PKIStatus in rp")
        rev_certs = content.rev_certs or ()
        if rev_certs:
            if len(rev_certs) != 1:
                raise ResponseError(f"rp has {len(rev_certs)} revCerts; 1 expected")
            self._check_rev_cert(rev_certs[0])
        if content.crls is not None and len(content.crls) != 1:
            raise ResponseError(f"rp has {len(content.crls)} CRLs; 1 expected")
        return self._finish(
            TransactionResult(rev_status=si, status=si, extra_certs=self._extra_certs_in)
        )

    def _check_rev_cert(self, cert_id: Any) -> None:
        request = self.request
        assert isinstance(request, RevokeRequest)
        if request.issuer is not None and request.serial is not None:
            issuer, serial = request.issuer, request.serial
        elif request.cert is not None:
            issuer, serial = request.cert.issuer, request.cert.serial_number
        else:
            return  # revoked by CSR: nothing to compare the CertId with
        got = name_of(cert_id.issuer)
        if got is None or not same_name(got, issuer):
            raise ResponseError("issuer in the CertId of rp does not match the request")
        if cert_id.serial_number != serial:
            raise ResponseError("serial number in the CertId of rp does not match the request")
