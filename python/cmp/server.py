"""The mock CA: ``openssl cmp``'s mock server as a sans-I/O handler.

:class:`MockServer` turns request bytes into response bytes and does nothing
else: no sockets, no sleeps (the model is h11). :mod:`cmp.asgi` serves it over
HTTP; :class:`cmp.transport.InProcessTransport` hands requests straight to
:meth:`MockServer.handle`.

Its behaviour is that of OpenSSL 3.0's mock server (``apps/lib/cmp_mock_srv.c``
behind ``crypto/cmp/cmp_server.c``), re-derived from its documented options
and observed answers:

- every request is checked first: the sender must be a directoryName
  holding a valid Name (else badDataFormat, as for undecodable bytes);
  certConf and pollReq must belong to an open transaction; the protection
  must verify (PBM or PBMAC1 with ``srv_secret``, a signature by a
  certificate that validates against ``srv_trusted``) unless
  ``accept_unprotected`` (or ``accept_unprot_err`` for error messages);
  pvno must be 2 (cmp2000; ``pvnos`` widens it); a follow-up's recipNonce
  must be the senderNonce of the server's last answer;
- ir/cr/kur/p10cr: the proof of possession is verified (a signature over
  the DER of the CertRequest or POPOSigningKeyInput as received, the CSR's own
  signature; raVerified only with ``accept_raverified``; a bad POPO gives
  rejection/badPOP); a kur must name ``rsp_cert`` in its oldCertID; the
  answer carries ``rsp_cert`` with the configured status, caPubs (ip only)
  from ``rsp_capubs`` and extraCerts from ``rsp_extracerts`` — it does not
  really issue, unless ``issue`` asks for real certificates signed by
  ``srv_cert``/``srv_key``; with ``poll_count`` it answers "waiting" and
  then pollRep until the client has polled that often;
- rr: accepted for ``rsp_cert`` (or a CSR-derived request without issuer
  and serial), answered with the configured status; genm: the genp echoes
  the request's InfoTypeAndValues, as OpenSSL 3.0 does; certConf: certHash
  must be that of the certificate sent; error: acknowledged with pkiconf;
- failures are answered with an error message: PKIStatus rejection, the
  reason as statusString, OpenSSL's error code and ``lib, reason[, data]``
  as errorDetails. The failInfo is the one RFC 9810 names for the fault
  (``fail_info_style="rfc"``) or always badRequest as OpenSSL 3.0 sends
  (``"openssl"``).

Responses are MAC-protected (PBM, or PBMAC1 for a PBMAC1 request) when the
request was and ``srv_secret`` is set, else signed with ``srv_key``; the
senderKID is ``srv_ref`` for MACs and the subject key identifier of
``srv_cert`` for signatures. Unlike OpenSSL's single context, state is kept
per transactionID, so any number of clients can enroll at once; it is
bounded (``max_transactions``, ``transaction_timeout``; the least recently
answered go first) and thread-safe. Only an answered request changes it: an
ir/cr/p10cr/kur with the ID of an open transaction is refused with
transactionIdInUse (RFC 9810 §5.1.1; OpenSSL aborts the open one), and a
request that fails the checks (protection, pvno, recipNonce) is answered
without touching its transaction, so that forged, replayed or stray messages
cannot break a client's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupported
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import NameOID

from cmp import _native, algorithms, certinfo, protection
from cmp.algorithms import DH_BASED_MAC, PASSWORD_BASED_MAC, PBMAC1, UnsupportedAlgorithm
from cmp.asn1 import (
    CertId,
    CertifiedKeyPair,
    CertOrEncCert,
    CertRepMessage,
    CertReqMsg,
    CertResponse,
    ErrorMsgContent,
    FailInfo,
    GeneralName,
    PKIBody,
    PKIHeader,
    PKIStatus,
    PKIStatusInfo,
    PollRepEntry,
    RevRepContent,
    decode,
)
from cmp.certhash import check_cert_hash
from cmp.dn import NULL_DN, oneline, same_name
from cmp.errors import CMPError, DecodeError, ProtectionError
from cmp.headers import (
    has_implicit_confirm,
    new_transaction_id,
    random_bytes,
    response_header,
)
from cmp.message import PKIMessage
from cmp.names import name_from_der
from cmp.status import format_status_info
from cmp.verify import ChainValidator, VerificationError, VerifyOptions

if TYPE_CHECKING:
    from cmp.asgi import BackgroundServer

__all__ = [
    "FAILURE_MAX",
    "MockServer",
    "MockServerConfig",
    "MockServerConfigError",
]

log = logging.getLogger("cmp.server")

FAILURE_MAX = 26
"""Highest PKIFailureInfo bit (duplicateCertReq): ``-failure`` takes 0..26."""
_FAILUREBITS_MAX = (1 << (FAILURE_MAX + 1)) - 1

_DER = serialization.Encoding.DER
_NULL = b"\x05\x00"
_OLD_CERT_ID = "1.3.6.1.5.5.7.5.1.5"  # id-regCtrl-oldCertID (RFC 4211 §6.5)
_CERT_REQ_ID = 0  # the certReqId OpenSSL answers p10cr with and expects in ir/cr/kur
_MAC_ALGS = (PASSWORD_BASED_MAC, PBMAC1)

Secret = Union[bytes, str]


# --- OpenSSL's reasons ---------------------------------------------------------------


@dataclass(frozen=True)
class _Reason:
    """One of OpenSSL's error reasons: library, number, text, and the failInfo
    RFC 9810 gives the fault. ``lib`` 0 is a reason of cmpkit's own (no errorCode)."""

    lib: int
    number: int
    text: str
    fail_info: FailInfo = FailInfo.badRequest

    @property
    def code(self) -> int | None:
        """OpenSSL's packed error code (``ERR_PACK(lib, 0, reason)``)."""
        return (self.lib << 23) | self.number if self.lib else None

    @property
    def lib_text(self) -> str | None:
        return {_CMP: "CMP routines", _CRMF: "CRMF routines"}.get(self.lib)


_CMP, _CRMF = 58, 56  # ERR_LIB_CMP, ERR_LIB_CRMF
_F = FailInfo

BAD_REQUEST_ID = _Reason(_CMP, 108, "bad request id")
CERTHASH_UNMATCHED = _Reason(_CMP, 156, "certhash unmatched", _F.badCertId)
CERTREQMSG_NOT_FOUND = _Reason(_CMP, 157, "certreqmsg not found")
ERROR_PROCESSING_MESSAGE = _Reason(_CMP, 158, "error processing message")
ERROR_UNEXPECTED_CERTCONF = _Reason(_CMP, 160, "error unexpected certconf")
ERROR_VALIDATING_PROTECTION = _Reason(_CMP, 140, "error validating protection", _F.badMessageCheck)
MISSING_CERTID = _Reason(_CMP, 165, "missing certid", _F.badCertId)
MISSING_PROTECTION = _Reason(_CMP, 143, "missing protection", _F.badMessageCheck)
MISSING_SECRET = _Reason(_CMP, 178, "missing secret", _F.wrongIntegrity)
MISSING_TRUST_STORE = _Reason(_CMP, 144, "missing trust store", _F.wrongIntegrity)
MULTIPLE_REQUESTS_NOT_SUPPORTED = _Reason(_CMP, 161, "multiple requests not supported")
NO_SUITABLE_SENDER_CERT = _Reason(_CMP, 145, "no suitable sender cert", _F.badMessageCheck)
RECIPNONCE_UNMATCHED = _Reason(_CMP, 148, "recipnonce unmatched", _F.badRecipientNonce)
REQUEST_NOT_ACCEPTED = _Reason(_CMP, 149, "request not accepted")
SENDER_GENERALNAME_TYPE_NOT_SUPPORTED = _Reason(_CMP, 150, "sender generalname type not supported")
UNEXPECTED_PKIBODY = _Reason(_CMP, 133, "unexpected pkibody")
UNEXPECTED_PVNO = _Reason(_CMP, 153, "unexpected pvno", _F.unsupportedVersion)
UNKNOWN_ALGORITHM_ID = _Reason(_CMP, 134, "unknown algorithm id", _F.badAlg)
UNSUPPORTED_PROTECTION_ALG_DHBASEDMAC = _Reason(
    _CMP, 154, "unsupported protection alg dhbasedmac", _F.badAlg
)
WRONG_CERTID = _Reason(_CMP, 189, "wrong certid", _F.badCertId)
WRONG_PBM_VALUE = _Reason(_CMP, 155, "wrong pbm value", _F.badMessageCheck)
POPO_INCONSISTENT_PUBLIC_KEY = _Reason(_CRMF, 117, "popo inconsistent public key", _F.badPOP)
POPO_MISSING = _Reason(_CRMF, 121, "popo missing", _F.badPOP)
POPO_MISSING_PUBLIC_KEY = _Reason(_CRMF, 118, "popo missing public key", _F.badPOP)
POPO_MISSING_SUBJECT = _Reason(_CRMF, 119, "popo missing subject", _F.badPOP)
POPO_RAVERIFIED_NOT_ACCEPTED = _Reason(_CRMF, 120, "popo raverified not accepted", _F.badPOP)
UNSUPPORTED_POPO_METHOD = _Reason(_CRMF, 116, "unsupported popo method", _F.badPOP)
# OpenSSL reports the first error of the failed ASN1_item_verify() here, which
# depends on the key type ("block type is not 01" for RSA): say what it means.
POPO_BAD_SIGNATURE = _Reason(0, 0, "POPO signature does not verify", _F.badPOP)
# cmpkit's own: no OpenSSL counterpart.
BAD_DER = _Reason(0, 0, "bad DER-encoded PKIMessage", _F.badDataFormat)
BAD_CERT_TEMPLATE = _Reason(
    0, 0, "cannot issue a certificate for this template", _F.badCertTemplate
)
INTERNAL_ERROR = _Reason(0, 0, "internal error of the mock server", _F.systemFailure)
# RFC 9810 §5.1.1: the first message of a transaction whose transactionID is in
# use gets transactionIdInUse. (OpenSSL 3.0's single-context server aborts the
# open transaction instead: a replayed or colliding ir broke its client.)
TRANSACTIONID_IN_USE = _Reason(0, 0, "transactionID in use", _F.transactionIdInUse)


class _Refusal(Exception):
    """A request the server answers with an error message."""

    def __init__(self, reason: _Reason, data: str | None = None):
        super().__init__(reason.text + (f": {data}" if data else ""))
        self.reason = reason
        self.data = data


# --- configuration -------------------------------------------------------------------


class MockServerConfigError(CMPError, ValueError):
    """The mock server options do not make a working server (OpenSSL's message)."""


@dataclass
class MockServerConfig:
    """Every mock-server option of ``openssl cmp`` (man page "Mock server
    options"), with certificates and keys as ``cryptography`` objects, plus
    the verification options for client certificates and cmpkit's own.

    Defaults are OpenSSL's: accept only protected cmp2000 requests, answer
    "accepted" with ``rsp_cert``, no polling (``check_after`` 1 s when
    polling), no implicit confirmation.
    """

    # credentials
    srv_ref: Secret | None = None
    """senderKID of MAC-protected responses (``-srv_ref``); required without ``srv_cert``."""
    srv_secret: Secret | None = field(default=None, repr=False)  # never in a repr
    """Pre-shared secret for PBM/PBMAC1 (``-srv_secret``)."""
    srv_cert: x509.Certificate | None = None
    """The server's CMP signer certificate (``-srv_cert``); its subject is the sender."""
    srv_key: PrivateKeyTypes | None = None
    """The key of ``srv_cert`` (``-srv_key``)."""
    srv_trusted: Sequence[x509.Certificate] = ()
    """Trust anchors for clients' signatures (``-srv_trusted``)."""
    srv_untrusted: Sequence[x509.Certificate] = ()
    """Intermediate certificates for clients' and the server's chains (``-srv_untrusted``)."""
    # what the mock answers
    rsp_cert: x509.Certificate | None = None
    """The certificate returned as enrollment result (``-rsp_cert``)."""
    rsp_extracerts: Sequence[x509.Certificate] = ()
    """extraCerts of ip/cp/kup (``-rsp_extracerts``)."""
    rsp_capubs: Sequence[x509.Certificate] = ()
    """caPubs of ip (``-rsp_capubs``)."""
    poll_count: int = 0
    """How often the client must poll before it gets the certificate (``-poll_count``)."""
    check_after: int = 1
    """checkAfter of pollRep, seconds (``-check_after``)."""
    grant_implicitconf: bool = False
    """Grant implicit confirmation when the client asks for it (``-grant_implicitconf``)."""
    pkistatus: int = PKIStatus.accepted
    """PKIStatus of ip/cp/kup/rp (``-pkistatus``)."""
    failure: int | None = None
    """A single PKIFailureInfo bit number, 0..26 (``-failure``)."""
    failurebits: int = 0
    """PKIFailureInfo bits, 0..2^27-1; overrides ``failure`` (``-failurebits``)."""
    statusstring: str | None = None
    """statusString of ip/cp/kup/rp (``-statusstring``)."""
    send_error: bool = False
    """Answer every request (but error messages) with an error (``-send_error``)."""
    send_unprotected: bool = False
    """Send every response without protection (``-send_unprotected``)."""
    send_unprot_err: bool = False
    """Send error messages and rejections (ip/cp/kup/rp) unprotected (``-send_unprot_err``)."""
    accept_unprotected: bool = False
    """Accept requests with missing or invalid protection (``-accept_unprotected``)."""
    accept_unprot_err: bool = False
    """Accept unprotected error messages from clients (``-accept_unprot_err``)."""
    accept_raverified: bool = False
    """Accept raVerified as proof of possession (``-accept_raverified``)."""
    max_msgs: int = 0
    """Requests the HTTP server handles before it stops; 0 = no limit (``-max_msgs``)."""
    # verification of clients' signer certificates
    verify_options: VerifyOptions = field(default_factory=VerifyOptions)
    """OpenSSL's verification options (``-no_check_time``, ``-attime``, ...) for ``srv_trusted``."""
    ignore_keyusage: bool = False
    """Accept client signer certificates whose keyUsage lacks digitalSignature."""
    # cmpkit's own
    issue: bool = False
    """Really issue: a fresh certificate for the requested key and subject,
    signed by ``srv_cert``/``srv_key``, instead of handing out ``rsp_cert``."""
    issued_days: int = 365
    """Validity of really issued certificates when the template names none."""
    pvnos: tuple[int, ...] = (2,)
    """The pvno values accepted (OpenSSL 3.0: cmp2000 only; add 3 for cmp2021)."""
    fail_info_style: str = "rfc"
    """``"rfc"``: the failInfo RFC 9810 names for each fault (badMessageCheck,
    badRecipientNonce, ...); ``"openssl"``: badRequest, as OpenSSL 3.0 sends."""
    max_transactions: int = 10_000
    """Open transactions kept at most; the least recently used are dropped."""
    transaction_timeout: float = 600.0
    """Seconds an open transaction is kept without a message."""
    pbm_max_iterations: int = 100_000
    """Largest PBM/PBKDF2 iterationCount verified (more is refused unhashed)."""

    def status_info(self) -> PKIStatusInfo:
        """The PKIStatusInfo of ip/cp/kup/rp (``-pkistatus``, ``-failure(bits)``,
        ``-statusstring``); raises :class:`MockServerConfigError` when out of range."""
        bits = self.failurebits
        if self.failure is not None:
            if not 0 <= self.failure <= FAILURE_MAX:
                raise MockServerConfigError(
                    f"-failure out of range, should be >= 0 and <= {FAILURE_MAX}"
                )
            if bits == 0:
                bits = 1 << self.failure
        if not 0 <= bits <= _FAILUREBITS_MAX:
            raise MockServerConfigError("-failurebits out of range")
        if self.pkistatus < 0:
            raise MockServerConfigError("-pkistatus out of range")
        return PKIStatusInfo(
            self.pkistatus,
            (self.statusstring,) if self.statusstring is not None else None,
            bits or None,
        )

    def check(self) -> list[str]:
        """Raises :class:`MockServerConfigError` for what OpenSSL refuses to start
        with; returns the warnings it prints (in its words)."""
        warnings: list[str] = []
        if self.srv_ref is None and self.srv_cert is None:
            raise MockServerConfigError("must give -srv_ref for mock server if no -srv_cert given")
        if self.srv_secret is None:
            if self.srv_cert is None:
                raise MockServerConfigError(
                    "mock server credentials must be given if -use_mock_srv or -port is used"
                )
            warnings.append(
                "server will not be able to handle PBM-protected requests"
                " since -srv_secret is not given"
            )
            if (self.srv_cert is None) != (self.srv_key is None):
                raise MockServerConfigError(
                    "must give both -srv_cert and -srv_key options or neither"
                )
        if (self.srv_cert is None) != (self.srv_key is None) and self.srv_cert is not None:
            warnings.append("-srv_cert without -srv_key: responses are MAC-protected only")
        if not self.srv_trusted:
            warnings.append(
                "mock server will not be able to handle signature-protected requests"
                " since -srv_trusted is not given"
            )
        if self.rsp_cert is None and not self.issue:
            warnings.append("no -rsp_cert given for mock server")
        if self.failure is not None and self.failurebits != 0:
            warnings.append("-failurebits overrides -failure")
        self.status_info()
        for name in ("poll_count", "check_after", "max_msgs", "max_transactions"):
            if getattr(self, name) < 0:
                raise MockServerConfigError(f"-{name} must be non-negative")
        if self.issue and (self.srv_cert is None or self.srv_key is None):
            raise MockServerConfigError("issuing certificates needs -srv_cert and -srv_key")
        if self.fail_info_style not in ("rfc", "openssl"):
            raise MockServerConfigError("fail_info_style must be 'rfc' or 'openssl'")
        return warnings

    @classmethod
    def generate(
        cls,
        *,
        secret: Secret | None = None,
        ref: Secret = "cmpkit-mock-ca",
        common_name: str = "cmpkit Mock CA",
        **options: Any,
    ) -> MockServerConfig:
        """A ready mock CA that really issues: a fresh self-signed EC P-256 CA
        certificate and key as ``srv_cert``/``srv_key`` (also trusted for
        clients' signatures and sent as caPubs), ``secret`` for PBM clients.
        ``options`` set any other field."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_CA_KEY_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        fields: dict[str, Any] = {
            "srv_cert": cert,
            "srv_key": key,
            "srv_secret": secret,
            "srv_ref": ref,
            "srv_trusted": [cert],
            "rsp_capubs": [cert],
            "issue": True,
        }
        fields.update(options)
        return cls(**fields)


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


# --- state ---------------------------------------------------------------------------


class _Signer(NamedTuple):
    """The certificate that signed a request, and the untrusted certificates
    its path was validated with."""

    cert: x509.Certificate
    untrusted: list[x509.Certificate]


@dataclass(eq=False)
class _Transaction:
    """What the server remembers between the messages of one transaction."""

    tid: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    sender_nonce: bytes | None = None
    """The senderNonce of our last answer: the next request's recipNonce."""
    cert_req_id: int | None = None
    request_kind: str | None = None
    cert: x509.Certificate | None = None
    """The certificate answered (or to be answered): what certConf must hash."""
    pending: PKIMessage | None = None
    """The certificate request the client is polling for."""
    polls: int = 0
    untrusted: list[bytes] = field(default_factory=list)
    """extraCerts the client sent so far, candidates for later signatures."""
    touched: float = field(default_factory=time.monotonic)
    salt: bytes | None = None
    """The salt of our MAC-protected answers, drawn with the first: one per
    transaction, so that the MAC key is derived once (see ``cmp._mac``)."""
    signer: _Signer | None = None
    """Who signed the last request of this transaction that was accepted:
    tried first for the next one (OpenSSL's validatedSrvCert)."""


@dataclass
class _Exchange:
    """One request being answered: how to protect the answer, and whether the
    transaction stays open afterwards."""

    request: PKIMessage
    txn: _Transaction
    mac: str | None
    """``"pbm"``/``"pbmac1"`` for a MAC-protected answer, ``None`` for a signature."""
    keep_open: bool = False
    extra_certs: list[bytes] = field(default_factory=list)
    """extraCerts of the answer beyond the server's own signer chain."""
    implicit_confirm: bool = False
    unprotected: bool = False
    """A negative answer sent unprotected (``send_unprot_err``)."""


_STARTS = frozenset({"ir", "cr", "p10cr", "kur", "rr", "genm", "error"})
_REPLY_KIND = {"ir": "ip", "cr": "cp", "p10cr": "cp", "kur": "kup"}


# --- the server ----------------------------------------------------------------------


class MockServer:
    """OpenSSL's CMP mock server as a sans-I/O handler: :meth:`handle` maps a
    DER request to a DER response and is safe to call from many threads."""

    def __init__(self, config: MockServerConfig) -> None:
        self.config = config
        self.warnings = config.check()
        self._status = config.status_info()
        self._secret: bytes | None = _as_bytes(config.srv_secret)
        self._ref: bytes | None = _as_bytes(config.srv_ref)
        self._sender = GeneralName.directory_name(
            config.srv_cert.subject if config.srv_cert else NULL_DN
        )
        self._signer = config.srv_cert is not None and config.srv_key is not None
        chain = _chain_of(config.srv_cert, config.srv_untrusted)
        self._srv_chain_certs = chain[1:]
        self._srv_chain = [c.public_bytes(_DER) for c in chain]
        self._validator = (
            ChainValidator(list(config.srv_trusted), config.verify_options)
            if config.srv_trusted
            else None
        )
        self._pool = [c.public_bytes(_DER) for c in (*config.srv_untrusted, *config.srv_trusted)]
        self._rsp_extracerts = [c.public_bytes(_DER) for c in config.rsp_extracerts]
        self._capubs = tuple(c.public_bytes(_DER) for c in config.rsp_capubs)
        self._transactions: OrderedDict[bytes, _Transaction] = OrderedDict()
        self._issued: OrderedDict[tuple[bytes, int], x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()
        self._messages = 0
        self._handlers: dict[str, Callable[[_Exchange], PKIBody]] = {
            "ir": self._on_cert_request,
            "cr": self._on_cert_request,
            "p10cr": self._on_cert_request,
            "kur": self._on_cert_request,
            "rr": self._on_rr,
            "genm": self._on_genm,
            "error": self._on_error,
            "certConf": self._on_cert_conf,
            "pollReq": self._on_poll_req,
        }
        for warning in self.warnings:
            log.warning("%s", warning)

    # --- public ----------------------------------------------------------------

    @property
    def messages_handled(self) -> int:
        """Requests handled so far (decodable or not)."""
        return self._messages

    @property
    def open_transactions(self) -> int:
        with self._lock:
            return len(self._transactions)

    def handle(self, request: bytes) -> bytes:
        """The DER response to the DER ``request``: always a PKIMessage, an
        error message where the request cannot be served."""
        with self._lock:
            self._messages += 1
        try:
            msg = PKIMessage.decode(request)  # the whole message, now
        except (CMPError, ValueError) as e:
            log.info("undecodable request: %s", e)
            return self._undecodable(request, str(e)).to_der()
        try:
            return self.handle_message(msg).to_der()
        except Exception:  # a bug of ours must not cost the client its answer
            log.exception("mock server failed on a %s request", msg.body_type)
            return self._internal_error(msg).to_der()

    def handle_message(self, msg: PKIMessage) -> PKIMessage:
        """The response to a decoded request (see :meth:`handle`)."""
        hdr = msg.header
        kind = msg.body_type
        log.debug("received %s", kind.upper())
        try:
            if hdr.sender.kind != "directoryName":
                raise _Refusal(SENDER_GENERALNAME_TYPE_NOT_SUPPORTED)
            _read_name(hdr.sender.value, "sender")
            if kind in _STARTS:
                if kind in _REPLY_KIND and self._lookup(hdr.transaction_id) is not None:
                    raise _Refusal(TRANSACTIONID_IN_USE)
                txn = _Transaction(hdr.transaction_id or new_transaction_id())
            else:
                found = self._lookup(hdr.transaction_id)
                if found is None:
                    raise _Refusal(
                        UNEXPECTED_PKIBODY, "no open transaction with this transactionID"
                    )
                txn = found
        except _Refusal as r:
            # Before the request is validated, an error answer is MAC-protected
            # whenever there is a secret (OpenSSL has not looked at the protection yet).
            provisional = _Transaction(hdr.transaction_id or new_transaction_id())
            return self._error(_Exchange(msg, provisional, self._early_mac()), r)
        ex = _Exchange(msg, txn, self._response_mac(msg))
        with txn.lock:
            try:
                self._check(msg, txn)
            except _Refusal as r:
                # Not (or no longer) the transaction's client: a forgery, a replay,
                # a stray message. Answer it, but leave the transaction as it was.
                ex.txn = _Transaction(txn.tid)
                return self._error(ex, r)
            try:
                handler = self._handlers.get(kind)
                if handler is None:
                    raise _Refusal(UNEXPECTED_PKIBODY)
                body = handler(ex)
                rsp = self._respond(ex, body)
            except _Refusal as r:
                ex.keep_open = False
                rsp = self._error(ex, r)
            txn.touched = time.monotonic()
            if not self._settle(txn, ex.keep_open):
                # a concurrent request opened a transaction with this ID first
                ex.txn = _Transaction(txn.tid)
                rsp = self._error(ex, _Refusal(TRANSACTIONID_IN_USE))
        log.debug("sending %s", rsp.body_type.upper())
        return rsp

    def start_background(
        self, port: int = 0, host: str = "127.0.0.1", **options: Any
    ) -> BackgroundServer:
        """Serves this server over HTTP in a background thread until
        ``.stop()``: ``MockServer(cfg).start_background().url``."""
        from cmp.asgi import BackgroundServer

        return BackgroundServer(self, host=host, port=port, **options)

    # --- transactions ----------------------------------------------------------

    def _lookup(self, tid: bytes | None) -> _Transaction | None:
        """The open transaction ``tid``; only an answered request makes it the
        most recently used (:meth:`_settle`), not any message naming it."""
        if tid is None:
            return None
        with self._lock:
            self._expire()
            return self._transactions.get(tid)

    def _settle(self, txn: _Transaction, keep_open: bool) -> bool:
        """Keeps ``txn`` open or closes it after an answer; False (and nothing
        changed) when another transaction with its ID was opened meanwhile."""
        with self._lock:
            current = self._transactions.get(txn.tid)
            if keep_open:
                if current is not None and current is not txn:
                    return False
                self._transactions[txn.tid] = txn
                self._transactions.move_to_end(txn.tid)
                self._expire()
            elif current is txn:
                del self._transactions[txn.tid]
            return True

    def _expire(self) -> None:
        limit = time.monotonic() - self.config.transaction_timeout
        table = self._transactions
        while table:
            oldest = next(iter(table.values()))
            if len(table) <= self.config.max_transactions and oldest.touched >= limit:
                break
            table.popitem(last=False)

    # --- checking requests -----------------------------------------------------

    def _early_mac(self) -> str | None:
        return "pbm" if self._secret is not None or not self._signer else None

    def _response_mac(self, msg: PKIMessage) -> str | None:
        """MAC the answer when the request was MAC-protected and there is a
        secret, or when there is no key to sign with (OpenSSL's rule)."""
        alg = msg.header.protection_alg
        kind = "pbmac1" if alg is not None and alg.algorithm == PBMAC1 else "pbm"
        if self._secret is None:
            return None if self._signer else kind
        if alg is not None and alg.algorithm in _MAC_ALGS:
            return kind
        return None if self._signer else kind

    def _check(self, msg: PKIMessage, txn: _Transaction) -> None:
        """OpenSSL's ``ossl_cmp_msg_check_update``: protection, pvno, recipNonce."""
        hdr = msg.header
        signer = self._check_protection(msg, txn)
        if hdr.pvno not in self.config.pvnos:
            raise _Refusal(UNEXPECTED_PVNO)
        if txn.sender_nonce is not None and hdr.recip_nonce != txn.sender_nonce:
            raise _Refusal(RECIPNONCE_UNMATCHED)
        # only the transaction's own client adds to its memory of certificates
        txn.untrusted.extend(c for c in msg.extra_certs if c not in txn.untrusted)
        del txn.untrusted[:-32]  # bounded
        if signer is not None:
            txn.signer = signer

    def _check_protection(self, msg: PKIMessage, txn: _Transaction) -> _Signer | None:
        """Checks the protection of ``msg``; the signer found, for a signature."""
        cfg = self.config
        error_exempt = msg.body_type == "error" and cfg.accept_unprot_err
        if msg.header.protection_alg is None:
            if cfg.accept_unprotected or error_exempt:
                log.warning("ignoring missing protection of request message")
                return None
            raise _Refusal(MISSING_PROTECTION)
        try:
            return self._validate_protection(msg, txn)
        except _Refusal:
            if cfg.accept_unprotected or error_exempt:
                log.warning("ignoring invalid protection of request message")
                return None
            raise

    def _validate_protection(self, msg: PKIMessage, txn: _Transaction) -> _Signer | None:
        alg = msg.header.protection_alg
        assert alg is not None
        if alg.algorithm in _MAC_ALGS:
            if self._secret is None:
                raise _Refusal(MISSING_SECRET)
            try:
                protection.verify(
                    msg, secret=self._secret, max_iterations=self.config.pbm_max_iterations
                )
            except ProtectionError as e:
                if "does not match" in str(e):
                    raise _Refusal(WRONG_PBM_VALUE) from None
                raise _Refusal(ERROR_VALIDATING_PROTECTION, str(e)) from None
            return None
        if alg.algorithm == DH_BASED_MAC:
            raise _Refusal(UNSUPPORTED_PROTECTION_ALG_DHBASEDMAC)
        try:
            algorithms.signature_scheme(alg)
        except UnsupportedAlgorithm:
            raise _Refusal(UNKNOWN_ALGORITHM_ID, alg.algorithm) from None
        if self._validator is None:
            raise _Refusal(MISSING_TRUST_STORE)
        return self._find_signer(msg, txn, self._validator)

    def _find_signer(
        self, msg: PKIMessage, txn: _Transaction, validator: ChainValidator
    ) -> _Signer:
        """As OpenSSL's ``check_msg_find_cert``: a certificate named by sender and
        senderKID whose key verifies the signature and whose path validates.
        The signer of an earlier request of the transaction is tried first,
        as OpenSSL's ``check_msg_given_cert`` tries its validatedSrvCert: it
        must be named by the sender (and senderKID), verify the signature and
        validate again, with the certificates that helped then (the path is
        remembered by the validator; time, revocation and the other checks
        are made anew)."""
        known = txn.signer
        if known is not None and self._signed_by(msg, known, validator):
            return known
        pool = list(dict.fromkeys([*msg.extra_certs, *txn.untrusted, *self._pool]))
        candidates = protection.signer_candidates(msg, pool)
        untrusted = _load_certs(pool)
        problems = []
        paths = 0
        for cert in candidates:
            try:
                protection.verify(msg, cert=cert, ignore_keyusage=self.config.ignore_keyusage)
            except ProtectionError as e:
                problems.append(str(e))
                continue
            if paths == protection.MAX_SIGNER_PATHS:
                problems.append(
                    f"more than {paths} certificates verify the signature: the rest not tried"
                )
                break
            paths += 1
            try:
                validator.validate(cert, untrusted)
                return _Signer(cert, untrusted)
            except VerificationError as e:
                problems.append(str(e))
        hdr = msg.header
        data = f"for msg sender name = {oneline(name_from_der(hdr.sender.value))}"
        if hdr.sender_kid is not None:
            data += " and for msg senderKID = " + ":".join(f"{b:02X}" for b in hdr.sender_kid)
        log.info("no signer certificate fits: %s", "; ".join(problems) or "no candidate")
        raise _Refusal(NO_SUITABLE_SENDER_CERT, data)

    def _signed_by(self, msg: PKIMessage, signer: _Signer, validator: ChainValidator) -> bool:
        """Whether ``signer`` (of an earlier request) is acceptable as the
        signer of ``msg``, verifies its signature and still validates."""
        cert = signer.cert
        if not protection.signer_candidates(msg, [certinfo.der(cert)]):
            return False
        try:
            protection.verify(msg, cert=cert, ignore_keyusage=self.config.ignore_keyusage)
            validator.validate(cert, signer.untrusted)
        except (ProtectionError, VerificationError):
            return False
        return True

    # --- the bodies ------------------------------------------------------------

    def _on_cert_request(self, ex: _Exchange) -> PKIBody:
        return self._cert_response(ex, ex.request)

    def _cert_response(self, ex: _Exchange, req: PKIMessage) -> PKIBody:
        """ip/cp/kup for the certificate request ``req`` (the current request,
        or the one polled for), as ``cmp_server.c``'s process_cert_request."""
        txn = ex.txn
        kind = req.body_type
        crm: CertReqMsg | None = None
        if kind == "p10cr":
            cert_req_id = _CERT_REQ_ID
        else:
            reqs = req.body.value
            if len(reqs) != 1:
                raise _Refusal(MULTIPLE_REQUESTS_NOT_SUPPORTED)
            crm = reqs[0]
            cert_req_id = crm.cert_req.cert_req_id
            if cert_req_id != _CERT_REQ_ID:
                raise _Refusal(BAD_REQUEST_ID)
        txn.cert_req_id, txn.request_kind = cert_req_id, kind
        popo_failure = self._popo_failure(req, crm)
        cert: x509.Certificate | None = None
        capubs: tuple[bytes, ...] = ()
        chain: list[bytes] = []
        implicit = False
        if popo_failure is not None:
            log.info("proof of possession fails: %s", popo_failure.text)
            si = PKIStatusInfo(PKIStatus.rejection, (popo_failure.text,), FailInfo.badPOP)
        else:
            si, cert, capubs, chain = self._mock_cert_request(req, crm, txn)
            implicit = (
                cert is not None
                and self.config.grant_implicitconf
                and has_implicit_confirm(req.header)
            )
        ckp = None
        if cert is not None and si.status not in (PKIStatus.rejection, PKIStatus.waiting):
            ckp = CertifiedKeyPair(CertOrEncCert("certificate", certinfo.der(cert)))
        reply = _REPLY_KIND[kind]
        ex.keep_open = not implicit
        ex.extra_certs, ex.implicit_confirm = chain, implicit
        ex.unprotected = self.config.send_unprot_err and si.status == PKIStatus.rejection
        return PKIBody(
            reply,
            CertRepMessage(
                capubs if reply == "ip" and capubs else None,
                (CertResponse(cert_req_id, si, ckp),),
            ),
        )

    def _mock_cert_request(
        self, req: PKIMessage, crm: CertReqMsg | None, txn: _Transaction
    ) -> tuple[PKIStatusInfo, x509.Certificate | None, tuple[bytes, ...], list[bytes]]:
        """cmp_mock_srv.c's process_cert_request: polling, the kur check, the answer."""
        cfg = self.config
        if cfg.send_error:
            raise _Refusal(ERROR_PROCESSING_MESSAGE)
        if cfg.poll_count > 0 and txn.polls == 0:
            txn.pending = req
            return PKIStatusInfo(PKIStatus.waiting), None, (), []
        if txn.polls >= cfg.poll_count:
            txn.polls = 0
        old: x509.Certificate | None = None
        if req.body_type == "kur" and crm is not None and self._has_reference():
            old = self._check_old_cert_id(crm)
        if cfg.issue:
            cert: x509.Certificate | None = self._issue(req, crm, old)
            chain = list(dict.fromkeys([self._srv_chain[0], *self._rsp_extracerts]))
        else:
            cert = cfg.rsp_cert
            chain = list(self._rsp_extracerts)
        txn.cert = cert
        return self._status, cert, self._capubs, chain

    def _has_reference(self) -> bool:
        return self.config.rsp_cert is not None or self.config.issue

    def _known_cert(self, issuer: bytes, serial: int) -> x509.Certificate | None:
        """``rsp_cert`` or a certificate this server issued, by issuer (a valid
        Name's DER, see :func:`_read_name`) and serial."""
        name = name_from_der(issuer)
        ref = self.config.rsp_cert
        if ref is not None and ref.serial_number == serial and same_name(ref.issuer, name):
            return ref
        with self._lock:
            exact = self._issued.get((issuer, serial))
            if exact is not None:
                return exact
            for (_, number), cert in self._issued.items():
                if number == serial and same_name(cert.issuer, name):
                    return cert
        return None

    def _check_old_cert_id(self, crm: CertReqMsg) -> x509.Certificate:
        controls = crm.cert_req.controls or ()
        value = next((c.value for c in controls if c.attr_type == _OLD_CERT_ID), None)
        if value is None:
            raise _Refusal(MISSING_CERTID)
        try:
            cid: CertId = decode("CertId", value)
        except (CMPError, ValueError):
            raise _Refusal(MISSING_CERTID, "malformed oldCertID") from None
        known = None
        if cid.issuer.kind == "directoryName":
            try:
                name_from_der(cid.issuer.value)
            except DecodeError as e:
                raise _Refusal(MISSING_CERTID, f"malformed oldCertID issuer: {e}") from None
            known = self._known_cert(cid.issuer.value, cid.serial_number)
        if known is None:
            raise _Refusal(WRONG_CERTID)
        return known

    def _on_rr(self, ex: _Exchange) -> PKIBody:
        details = ex.request.body.value
        if len(details) != 1:
            raise _Refusal(MULTIPLE_REQUESTS_NOT_SUPPORTED)
        tmpl = details[0].cert_details
        issuer, serial = tmpl.issuer, tmpl.serial_number
        cert_id = None
        if issuer is not None and serial is not None:
            cert_id = CertId(GeneralName("directoryName", issuer), serial)
        if self.config.send_error or not self._has_reference():
            raise _Refusal(ERROR_PROCESSING_MESSAGE)
        if issuer is not None:
            _read_name(issuer, "certDetails issuer")
        if issuer is not None and serial is not None and self._known_cert(issuer, serial) is None:
            raise _Refusal(REQUEST_NOT_ACCEPTED, "wrong certificate to revoke")
        si = self._status
        ex.unprotected = self.config.send_unprot_err and si.status == PKIStatus.rejection
        return PKIBody("rp", RevRepContent((si,), (cert_id,) if cert_id is not None else None))

    def _on_genm(self, ex: _Exchange) -> PKIBody:
        if self.config.send_error:
            raise _Refusal(ERROR_PROCESSING_MESSAGE)
        return PKIBody("genp", tuple(ex.request.body.value))

    def _on_error(self, ex: _Exchange) -> PKIBody:
        content: ErrorMsgContent = ex.request.body.value
        details = ", ".join(f'"{d}"' for d in content.error_details or ()) or "absent"
        log.warning(
            "mock server received error: pkiStatus: %s; errorCode: %s; errorDetails: %s",
            format_status_info(content.pki_status_info),
            "absent" if content.error_code is None else content.error_code,
            details,
        )
        return PKIBody("pkiconf", None)

    def _on_cert_conf(self, ex: _Exchange) -> PKIBody:
        txn = ex.txn
        statuses = ex.request.body.value
        if not statuses:
            log.error("certificate rejected by client")
            return PKIBody("pkiconf", None)
        if len(statuses) > 1:
            log.warning("All CertStatus but the first will be ignored")
        status = statuses[0]
        cert = txn.cert if txn.cert is not None else self.config.rsp_cert
        if self.config.send_error or cert is None:
            raise _Refusal(ERROR_PROCESSING_MESSAGE)
        expected_ids = {txn.cert_req_id}
        if txn.request_kind == "p10cr":
            expected_ids.add(-1)  # newer clients confirm a p10cr with certReqId -1
        if status.cert_req_id not in expected_ids:
            raise _Refusal(BAD_REQUEST_ID)
        if not check_cert_hash(cert, status.cert_hash, status.hash_alg):
            raise _Refusal(CERTHASH_UNMATCHED)
        si = status.status_info
        if si is not None and si.status != PKIStatus.accepted:
            log.info("certificate rejected by client: %s", format_status_info(si))
        return PKIBody("pkiconf", None)

    def _on_poll_req(self, ex: _Exchange) -> PKIBody:
        txn = ex.txn
        entries = ex.request.body.value
        if len(entries) != 1:
            raise _Refusal(MULTIPLE_REQUESTS_NOT_SUPPORTED)
        cert_req_id = entries[0].cert_req_id
        if self.config.send_error:
            raise _Refusal(ERROR_PROCESSING_MESSAGE)
        if txn.pending is None:
            raise _Refusal(UNEXPECTED_PKIBODY, "not polling")
        txn.polls += 1
        if txn.polls >= self.config.poll_count:
            req, txn.pending = txn.pending, None
            return self._cert_response(ex, req)
        ex.keep_open = True
        return PKIBody("pollRep", (PollRepEntry(cert_req_id, self.config.check_after),))

    # --- proof of possession and issuing ---------------------------------------

    def _popo_failure(self, req: PKIMessage, crm: CertReqMsg | None) -> _Reason | None:
        """Why the proof of possession fails (``ossl_cmp_verify_popo``), or ``None``."""
        if req.body_type == "p10cr":
            try:
                valid = x509.load_der_x509_csr(req.body.value).is_signature_valid
            except certinfo.PARSE_ERRORS as e:  # InvalidVersion and others are no ValueError
                log.info("p10cr CSR does not decode: %s", e)
                valid = False
            return None if valid else REQUEST_NOT_ACCEPTED
        assert crm is not None
        popo = crm.popo
        if popo is None:
            return POPO_MISSING
        if popo.kind == "raVerified":
            return None if self.config.accept_raverified else POPO_RAVERIFIED_NOT_ACCEPTED
        if popo.kind != "signature":
            return UNSUPPORTED_POPO_METHOD
        template = crm.cert_req.cert_template
        if template.public_key is None:
            return POPO_MISSING_PUBLIC_KEY
        sig = popo.value
        if sig.poposk_input is not None:
            # RFC 4211 §4.1: the key in poposkInput must be the template's.
            if sig.poposk_input.public_key != template.public_key:
                return POPO_INCONSISTENT_PUBLIC_KEY
            signed = _signed_popo_input(req)
        else:
            if template.subject is None:
                return POPO_MISSING_SUBJECT
            signed = _received_cert_request(req)
        if not _signature_valid(
            template.public_key, sig.algorithm_identifier, sig.signature, signed
        ):
            return POPO_BAD_SIGNATURE
        return None

    def _issue(
        self, req: PKIMessage, crm: CertReqMsg | None, old: x509.Certificate | None
    ) -> x509.Certificate:
        """A real certificate for the requested key and subject, signed by srv_key."""
        cfg = self.config
        assert cfg.srv_cert is not None and cfg.srv_key is not None
        now = datetime.datetime.now(datetime.timezone.utc)
        not_before, not_after = now, now + datetime.timedelta(days=cfg.issued_days)
        public_key: Any
        try:
            if crm is None:
                csr = x509.load_der_x509_csr(req.body.value)
                subject, public_key = csr.subject, csr.public_key()
                requested = list(csr.extensions)
            else:
                template = crm.cert_req.cert_template
                key = template.public_key_object()
                if key is None:
                    raise _Refusal(BAD_CERT_TEMPLATE, "the template has no public key")
                public_key = key
                subject = template.subject_name() or NULL_DN
                if not subject.rdns and old is not None:
                    subject = old.subject
                requested = list(template.extension_list() or ())
                if template.validity is not None:
                    not_before = template.validity.not_before or not_before
                    not_after = template.validity.not_after or not_after
            cert = _build_certificate(
                subject, public_key, requested, not_before, not_after, cfg.srv_cert, cfg.srv_key
            )
        except _Refusal:
            raise
        except _TEMPLATE_ERRORS as e:
            raise _Refusal(BAD_CERT_TEMPLATE, str(e)) from None
        with self._lock:
            self._issued[(cert.issuer.public_bytes(), cert.serial_number)] = cert
            while len(self._issued) > _MAX_ISSUED:
                self._issued.popitem(last=False)
        log.info("issued certificate for %s, serial %x", oneline(subject), cert.serial_number)
        return cert

    # --- answers -----------------------------------------------------------------

    def _respond(self, ex: _Exchange, body: PKIBody) -> PKIMessage:
        pvno = ex.request.header.pvno
        secret = self._secret
        cert, key = self.config.srv_cert, self.config.srv_key
        unprotected = self.config.send_unprotected or ex.unprotected
        mac = not unprotected and ex.mac is not None and secret is not None
        alg, kid = None, self._ref
        if not unprotected and not mac:
            assert cert is not None and key is not None
            # the senderKID becomes the certificate's subject key identifier, if any
            alg, kid = protection.signature_fields(key, cert, sender_kid=kid)
        hdr = response_header(
            ex.request.header,
            self._sender,
            sender_kid=kid,
            implicit_confirm=ex.implicit_confirm,
            pvno=pvno if pvno in self.config.pvnos and pvno in (2, 3) else 2,
            protection_alg=alg,
        )
        if hdr.transaction_id is None:  # the request had none: OpenSSL makes one up
            hdr = dataclasses.replace(hdr, transaction_id=ex.txn.tid)
        ex.txn.sender_nonce = hdr.sender_nonce
        msg = PKIMessage(hdr, body, None, ex.extra_certs)
        if unprotected:
            return msg
        if mac:
            assert secret is not None
            salt = ex.txn.salt
            if salt is None:
                salt = ex.txn.salt = random_bytes(16)
            if ex.mac == "pbmac1":
                return protection.protect_pbmac1(msg, secret, ref=self._ref, salt=salt)
            return protection.protect_pbm(msg, secret, ref=self._ref, salt=salt)
        assert cert is not None and key is not None
        return protection.protect_signature(msg, key, cert, extra_certs=self._srv_chain_certs)

    def _error(self, ex: _Exchange, refusal: _Refusal) -> PKIMessage:
        """An error message for ``refusal`` (``ossl_cmp_error_new``)."""
        reason = refusal.reason
        fail_info = (
            reason.fail_info if self.config.fail_info_style == "rfc" else FailInfo.badRequest
        )
        details = [reason.lib_text, reason.text, refusal.data]
        content = ErrorMsgContent(
            PKIStatusInfo(PKIStatus.rejection, (reason.text,), int(fail_info)),
            reason.code,
            tuple(d for d in details if d),
        )
        log.info("answering %s with error: %s", ex.request.body_type, refusal)
        ex.keep_open = ex.implicit_confirm = False
        ex.extra_certs = []
        ex.unprotected = self.config.send_unprot_err
        return self._respond(ex, PKIBody("error", content))

    def _undecodable(self, request: bytes, why: str) -> PKIMessage:
        """An error message for bytes that are no PKIMessage; it answers the
        header when one can be read, so that the client can match it."""
        hdr = _salvage_header(request) or PKIHeader(2, _NULL_DN_NAME, _NULL_DN_NAME)
        dummy = PKIMessage(hdr, PKIBody("pkiconf", None))
        ex = _Exchange(dummy, _Transaction(hdr.transaction_id or new_transaction_id()), None)
        ex.mac = self._early_mac()
        return self._error(ex, _Refusal(BAD_DER, why))

    def _internal_error(self, msg: PKIMessage) -> PKIMessage:
        ex = _Exchange(msg, _Transaction(new_transaction_id()), self._early_mac())
        try:
            return self._error(ex, _Refusal(INTERNAL_ERROR))
        except Exception:  # protecting failed as well: answer unprotected
            log.exception("cannot protect the error message")
            ex.mac, ex.unprotected = None, True
            return self._error(ex, _Refusal(INTERNAL_ERROR))


# --- helpers -------------------------------------------------------------------------

_MAX_ISSUED = 100_000
_TEMPLATE_ERRORS: tuple[type[Exception], ...] = (CMPError, *certinfo.PARSE_ERRORS)


def _as_bytes(value: Secret | None) -> bytes | None:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


def _issuer_of(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in pool:
        if candidate.subject != cert.issuer or candidate is cert:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature, _CryptoUnsupported):
            continue
        return candidate
    return None


def _is_self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _chain_of(
    cert: x509.Certificate | None, untrusted: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """``cert`` and the issuers found for it among ``untrusted``, without the
    self-signed root: what OpenSSL sends in extraCerts with its signatures
    (``X509_build_chain`` without a store, ``X509_ADD_FLAG_NO_SS``)."""
    if cert is None:
        return []
    chain = [cert]
    while len(chain) < 10 and not _is_self_issued(chain[-1]):
        issuer = _issuer_of(chain[-1], untrusted)
        if issuer is None or issuer in chain or _is_self_issued(issuer):
            break
        chain.append(issuer)
    return chain


def _signature_valid(spki: bytes, alg: Any, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` with AlgorithmIdentifier ``alg`` verifies ``data``
    under the SubjectPublicKeyInfo ``spki`` (a POPO signature)."""
    try:
        key: PublicKeyTypes = certinfo.load_public_key(spki)
        scheme = algorithms.signature_scheme(alg)
        if algorithms.key_type(key) != scheme.key_type:
            return False
        protection.verify_signature(key, scheme, signature, data)
    except (InvalidSignature, UnsupportedAlgorithm, _CryptoUnsupported, ValueError, TypeError):
        return False
    return True


def _build_certificate(
    subject: x509.Name,
    public_key: Any,
    requested: list[x509.Extension[x509.ExtensionType]],
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    ca_cert: x509.Certificate,
    ca_key: PrivateKeyTypes,
) -> x509.Certificate:
    """An end-entity certificate with the requested extensions, and the key
    identifiers and basicConstraints set by the CA."""
    own = {
        x509.SubjectKeyIdentifier.oid,
        x509.AuthorityKeyIdentifier.oid,
        x509.BasicConstraints.oid,
    }
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    for ext in requested:
        if ext.oid not in own:
            builder = builder.add_extension(ext.value, ext.critical)
    if not isinstance(
        ca_key,
        (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey),
    ) and not hasattr(ca_key, "sign"):
        raise TypeError("the CA key cannot sign certificates")
    algorithm = (
        None
        if isinstance(ca_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey))
        else hashes.SHA256()
    )
    issuer_key: CertificateIssuerPrivateKeyTypes = ca_key  # type: ignore[assignment]
    return builder.sign(issuer_key, algorithm)


def _tlv(der: bytes, pos: int, *, whole: bool = True) -> tuple[int, int, int]:
    """(first identifier octet, content start, end) of the DER TLV at ``pos``,
    read by the native core; raises ValueError, also when its content is cut
    short unless not ``whole`` is asked for."""
    return _native.der_header(der, pos, whole)


def _salvage_header(der: bytes) -> PKIHeader | None:
    """The PKIHeader of a message whose rest does not decode (or was cut
    short after the header), if it does; its sender replaced by the NULL-DN
    when that would make the answer undecodable (see :func:`_fits_as_recipient`)."""
    try:
        tag, start, _ = _tlv(der, 0, whole=False)
        if tag != 0x30:
            return None
        tag, _, end = _tlv(der, start)
        if tag != 0x30:
            return None
        header = decode("PKIHeader", der[start:end])
    except (CMPError, ValueError, TypeError):
        return None
    if not isinstance(header, PKIHeader):
        return None
    if not _fits_as_recipient(header.sender):
        header = dataclasses.replace(header, sender=_NULL_DN_NAME)
    return header


_NULL_DN_NAME = GeneralName("directoryName", b"\x30\x00")


def _fits_as_recipient(name: GeneralName) -> bool:
    """Whether a message with ``name`` as its recipient decodes within the
    decoding limits. A header decoded on its own has a level more to spend
    than the header of a message: a sender nested to the limit there makes
    an answer that names it as recipient too deep to decode."""
    probe = PKIMessage(PKIHeader(2, _NULL_DN_NAME, name), PKIBody("pkiconf", None))
    try:
        _ = PKIMessage.from_der(probe.to_der()).header
    except (CMPError, ValueError):
        return False
    return True


def _read_name(der: bytes, what: str) -> x509.Name:
    """The Name ``what`` of a request; refused as bad DER (badDataFormat) when
    it is none, or one cmpkit cannot read: OpenSSL would not have decoded the
    message."""
    try:
        return name_from_der(der)
    except DecodeError as e:
        raise _Refusal(BAD_DER, f"{what} is no valid Name: {e}") from None


def _load_certs(ders: Sequence[bytes]) -> list[x509.Certificate]:
    """The certificates among ``ders``, skipping what does not decode (an
    OpenSSL client could not have sent it: it parses extraCerts with the message)."""
    certs = []
    for der in ders:
        try:
            certs.append(certinfo.load_der(der))
        except ValueError:
            continue
    return certs


def _cert_req_msg(req: PKIMessage) -> tuple[bytes, int]:
    """The received DER of ``req``'s ProtectedPart and where the contents of
    its first CertReqMsg start: sliced, as the message decoded, from its bytes."""
    der = req.protected_part()
    _, start, _ = _tlv(der, 0)  # ProtectedPart
    _, _, after_header = _tlv(der, start)  # header
    _, body, _ = _tlv(der, after_header)  # [n] EXPLICIT CertReqMessages
    _, messages, _ = _tlv(der, body)  # SEQUENCE OF CertReqMsg
    _, first, _ = _tlv(der, messages)  # CertReqMsg
    return der, first


def _received_cert_request(req: PKIMessage) -> bytes:
    """The DER of the CertRequest of ``req``'s first CertReqMsg, as received:
    what a POPO signature without poposkInput signs (RFC 4211 §4.1).
    Re-encoding the decoded values would not always give these bytes."""
    der, start = _cert_req_msg(req)
    tag, _, end = _tlv(der, start)
    if tag != 0x30:
        raise ValueError(f"CertRequest not where expected (tag {tag:#x})")
    return der[start:end]


def _signed_popo_input(req: PKIMessage) -> bytes:
    """The DER of the poposkInput of ``req``'s first CertReqMsg, as received
    but with the universal SEQUENCE tag in place of [0] IMPLICIT: what its
    POPO signature signs (RFC 4211 §4.1)."""
    der, start = _cert_req_msg(req)
    _, _, cert_request_end = _tlv(der, start)
    tag, signing_key, _ = _tlv(der, cert_request_end)  # signature [1] POPOSigningKey
    if tag != 0xA1:
        raise ValueError(f"POPOSigningKey not where expected (tag {tag:#x})")
    tag, _, end = _tlv(der, signing_key)  # poposkInput [0] POPOSigningKeyInput
    if tag != 0xA0:
        raise ValueError(f"poposkInput not where expected (tag {tag:#x})")
    return b"\x30" + der[signing_key + 1 : end]
