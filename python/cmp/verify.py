"""Certificate path validation for CMP, with OpenSSL's verification options.

``openssl cmp`` validates the CMP signer certificate of responses (against
``-trusted``), its own signer certificate (``-own_trusted``) and newly
enrolled certificates (``-out_trusted``) with ``X509_verify_cert`` and the
options of ``openssl-verification-options(1)``. This module does the same job
with ``cryptography.x509.verification``, which builds the path and checks
signatures, validity periods, basicConstraints, pathLenConstraint, name
constraints and critical extensions. Where OpenSSL behaves otherwise, the
difference is made up around that verifier, on the chain it returns:

- trust anchors: OpenSSL trusts only self-signed certificates of the trust
  store unless ``-partial_chain`` is given, while ``cryptography`` ends a path
  at any store member; so without ``partial_chain`` only the self-signed
  trusted certificates form the store and the others serve as intermediates.
  A trusted certificate given for validation is accepted on its own (after a
  time check), as by OpenSSL, even if it is X.509v1.
- purposes: no EKU is required (OpenSSL's default purpose is "any", and CMP
  signer certificates seldom carry TLS EKUs); ``purpose`` adds OpenSSL's
  checks for a named purpose.
- keyCertSign in CA certificates (an extension-policy callback),
  ``x509_strict``, ``check_ss_sig``, and CRL checking (``crl_check``,
  ``crl_check_all``, with the given CRLs only: nothing is fetched).
- ``no_check_time``: ``cryptography`` always checks validity periods, so the
  path is sought at an instant inside every validity period of it (now, else
  the start of one of the candidates' periods).

``cryptography``'s verifier accepts only the Web PKI algorithms (RSA of at
least 2048 bits, ECDSA P-256/384/521, SHA-2) and compares names byte for
byte. A path it refuses for its algorithms alone (Ed25519, Ed448, SHA-1,
short RSA keys, other curves), for an issuer name that matches only as
RFC 5280 and OpenSSL compare names (another string type, letter case), or
for ``no_check_time`` with validity periods that share no instant, is built
again by pyhanko-certvalidator when that package is installed, with the same
checks around it. Without it such paths fail with a reason that says why.

Errors are :class:`VerificationError` carrying OpenSSL's reason string
(``X509_verify_cert_error_string``), the depth (0 = the certificate checked)
and the certificate concerned. Where the library's message does not say which
certificate failed, a diagnostic walk over the given certificates, in
OpenSSL's order of chain building, locates it; it never accepts anything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import operator
import re
import threading
from collections import OrderedDict
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from cmp import certinfo
from cmp._frozen import fast_init
from cmp.dn import same_name
from cmp.errors import CMPError

__all__ = [
    "DEFAULT_VERIFY_DEPTH",
    "PURPOSES",
    "SUPPORTED_VERIFY_OPTIONS",
    "UNSUPPORTED_VERIFY_OPTIONS",
    "ChainValidator",
    "VerificationError",
    "VerifyOptions",
    "VerifyOptionsError",
    "check_revocation",
    "checking_time",
    "key_usage_allows_signing",
    "validate_chain",
]

DEFAULT_VERIFY_DEPTH = 100
"""OpenSSL's limit on intermediate CA certificates when ``-verify_depth`` is not given."""

SUPPORTED_VERIFY_OPTIONS = frozenset(
    {
        "attime",
        "no_check_time",
        "partial_chain",
        "verify_depth",
        "x509_strict",
        "ignore_critical",
        "check_ss_sig",
        "crl_check",
        "crl_check_all",
        "purpose",
        "trusted_first",  # always on, as in OpenSSL >= 1.1.0
        "no_alt_chains",  # no effect since OpenSSL 1.1.0
    }
)
"""OpenSSL verification options that :class:`VerifyOptions` implements."""

UNSUPPORTED_VERIFY_OPTIONS = frozenset(
    {
        "allow_proxy_certs",
        "explicit_policy",
        "extended_crl",
        "inhibit_any",
        "inhibit_map",
        "policy",
        "policy_check",
        "policy_print",
        "suiteB_128",
        "suiteB_128_only",
        "suiteB_192",
        "use_deltas",
        "auth_level",
        "verify_name",
        "verify_email",
        "verify_hostname",
        "verify_ip",
    }
)
"""OpenSSL verification options that this module cannot honour (policy
processing, proxy certificates, Suite B, security levels, delta and
indirect CRLs, and the name checks, which ``openssl cmp`` applies only to
``-out_trusted`` and TLS)."""

_DER = Encoding.DER
_MAX_DEPTH = 255  # cryptography's max_chain_depth is a u8
_MAX_TIME_CANDIDATES = 64
_MEMO_SIZE = 256  # validated paths a ChainValidator remembers

# OpenSSL's reason strings (X509_verify_cert_error_string, OpenSSL 3.0).
UNSPECIFIED = "unspecified certificate verification error"
NO_ISSUER = "unable to get issuer certificate"
NO_LOCAL_ISSUER = "unable to get local issuer certificate"
NO_CRL = "unable to get certificate CRL"
NO_CRL_ISSUER = "unable to get CRL issuer certificate"
CERT_SIGNATURE_FAILURE = "certificate signature failure"
CRL_SIGNATURE_FAILURE = "CRL signature failure"
CERT_NOT_YET_VALID = "certificate is not yet valid"
CERT_HAS_EXPIRED = "certificate has expired"
CRL_NOT_YET_VALID = "CRL is not yet valid"
CRL_HAS_EXPIRED = "CRL has expired"
SELF_SIGNED_LEAF = "self-signed certificate"
SELF_SIGNED_IN_CHAIN = "self-signed certificate in certificate chain"
CHAIN_TOO_LONG = "certificate chain too long"
CERT_REVOKED = "certificate revoked"
INVALID_CA = "invalid CA certificate"
PATH_LENGTH_EXCEEDED = "path length constraint exceeded"
INVALID_PURPOSE = "unsupported certificate purpose"
KEYUSAGE_NO_CERTSIGN = "key usage does not include certificate signing"
UNHANDLED_CRITICAL_EXTENSION = "unhandled critical extension"
KEYUSAGE_NO_CRL_SIGN = "key usage does not include CRL signing"
UNHANDLED_CRITICAL_CRL_EXTENSION = "unhandled critical CRL extension"
PERMITTED_VIOLATION = "permitted subtree violation"
EXCLUDED_VIOLATION = "excluded subtree violation"
UNSUPPORTED_ALGORITHM = "unsupported signature or public key algorithm"


class VerificationError(CMPError):
    """A certificate does not validate.

    ``reason`` is OpenSSL's text for the failure (``"certificate has
    expired"``), ``depth`` the position in the chain where it was found
    (0 = the certificate validated) and ``cert`` that certificate, where
    known; ``detail`` adds what the underlying library said.
    """

    def __init__(
        self,
        reason: str,
        *,
        depth: int | None = None,
        cert: x509.Certificate | None = None,
        detail: str | None = None,
    ):
        where = []
        if depth is not None:
            where.append(f"depth {depth}")
        if cert is not None:
            where.append(f"subject '{cert.subject.rfc4514_string()}'")
        message = reason + (f" ({', '.join(where)})" if where else "")
        if detail:
            message += f": {detail}"
        super().__init__(message)
        self.reason = reason
        self.depth = depth
        self.cert = cert
        self.detail = detail


class VerifyOptionsError(CMPError, ValueError):
    """A :class:`VerifyOptions` value is not one OpenSSL would accept."""


# -- purposes ------------------------------------------------------------------


@dataclass(frozen=True)
class _Purpose:
    """OpenSSL's checks for one ``-purpose`` ("Certificate Extensions" in
    ``openssl-verification-options(1)``)."""

    ekus: frozenset[ObjectIdentifier] = frozenset()
    """Any EKU extension in the chain (without anyExtendedKeyUsage) must hold one of these."""
    leaf_key_usages: tuple[str, ...] = ()
    """A keyUsage extension of the leaf must allow at least one of these."""
    timestamping: bool = False
    """The stricter rules of ``timestampsign``."""


_NS_SGC = ObjectIdentifier("2.16.840.1.113730.4.1")
_MS_SGC = ObjectIdentifier("1.3.6.1.4.1.311.10.3.3")
_SERVER_EKUS = frozenset({ExtendedKeyUsageOID.SERVER_AUTH, _NS_SGC, _MS_SGC})
_EMAIL_EKU = frozenset({ExtendedKeyUsageOID.EMAIL_PROTECTION})

PURPOSES: dict[str, _Purpose] = {
    "any": _Purpose(),
    "sslclient": _Purpose(
        frozenset({ExtendedKeyUsageOID.CLIENT_AUTH}), ("digital_signature", "key_agreement")
    ),
    "sslserver": _Purpose(_SERVER_EKUS, ("digital_signature", "key_encipherment", "key_agreement")),
    "nssslserver": _Purpose(_SERVER_EKUS, ("key_encipherment",)),
    "smimesign": _Purpose(_EMAIL_EKU, ("digital_signature", "content_commitment")),
    "smimeencrypt": _Purpose(_EMAIL_EKU, ("key_encipherment",)),
    "crlsign": _Purpose(leaf_key_usages=("crl_sign",)),
    "ocsphelper": _Purpose(),
    "timestampsign": _Purpose(timestamping=True),
}
"""The names ``-purpose`` accepts, as ``openssl verify -help`` lists them."""


# -- options ------------------------------------------------------------------------


@dataclass
class VerifyOptions:
    """OpenSSL's certificate verification options that apply to CMP.

    ``attime`` replaces the current time (``-attime``, naive values are
    UTC) and then wins over ``no_check_time``. ``verify_depth`` limits the
    number of intermediate CA certificates (None: OpenSSL's 100).
    ``partial_chain`` lets any trusted certificate end a chain, not only
    self-signed ones. ``crls`` are the CRLs to check against with
    ``crl_check`` (the certificate only) or ``crl_check_all`` (the whole
    chain). ``purpose`` is one of :data:`PURPOSES`; None is "any", OpenSSL's
    default for CMP.
    """

    attime: datetime | None = None
    no_check_time: bool = False
    partial_chain: bool = False
    verify_depth: int | None = None
    x509_strict: bool = False
    ignore_critical: bool = False
    check_ss_sig: bool = False
    crls: list[x509.CertificateRevocationList] = field(default_factory=list)
    crl_check: bool = False
    crl_check_all: bool = False
    purpose: str | None = None

    def __post_init__(self) -> None:
        if self.purpose is not None:
            self.purpose = self.purpose.lower()
            if self.purpose not in PURPOSES:
                names = ", ".join(sorted(PURPOSES))
                raise VerifyOptionsError(f"unknown purpose '{self.purpose}' (one of {names})")
        if self.verify_depth is not None and not isinstance(self.verify_depth, int):
            raise VerifyOptionsError("verify_depth must be an integer")


# -- helpers --------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def checking_time(options: VerifyOptions | None) -> datetime | None:
    """The time certificates are checked at under ``options``: ``attime``
    (in UTC), else now; None when time is not checked (``no_check_time``)."""
    if options is None:
        return datetime.now(timezone.utc)
    if options.attime is not None:
        return _utc(options.attime)
    if options.no_check_time:
        return None
    return datetime.now(timezone.utc)


def _extension(cert: x509.Certificate, kind: type[Any]) -> x509.Extension[Any] | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def _value(cert: x509.Certificate, kind: type[Any]) -> Any:
    ext = _extension(cert, kind)
    return None if ext is None else ext.value


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _value(cert, x509.BasicConstraints)
    return bool(constraints is not None and constraints.ca)


def _same_bytes(a: x509.Name, b: x509.Name) -> bool:
    """Equal DER, as cryptography's verifier compares names (x509.Name's ``==``
    ignores string types)."""
    return a is b or certinfo.name_der(a) == certinfo.name_der(b)


def _is_self_signed(cert: x509.Certificate) -> bool:
    """Self-issued with matching key identifiers, as OpenSSL decides it
    without checking the signature (that is ``-check_ss_sig``)."""
    if not same_name(cert.subject, cert.issuer):
        return False
    return _key_ids_match(cert, cert)


def _key_ids_match(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    aki = _value(child, x509.AuthorityKeyIdentifier)
    ski = _value(issuer, x509.SubjectKeyIdentifier)
    if aki is None or aki.key_identifier is None or ski is None:
        return True
    return bool(aki.key_identifier == ski.digest)


def _in_window(cert: x509.Certificate, moment: datetime) -> bool:
    return cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc


def _dedupe(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[bytes] = set()
    result = []
    for cert in certs:
        der = certinfo.der(cert)
        if der not in seen:
            seen.add(der)
            result.append(cert)
    return result


def key_usage_allows_signing(cert: x509.Certificate) -> bool:
    """Whether the certificate's key may sign CMP messages: no keyUsage
    extension, or one with digitalSignature (``-ignore_keyusage`` skips this)."""
    usage = _value(cert, x509.KeyUsage)
    return usage is None or bool(usage.digital_signature)


# -- extension policies for cryptography's verifier ---------------------------------

# Critical extensions OpenSSL processes (X509_supported_extension) beyond the
# eight cryptography's policies always account for; cryptography has no type for
# policyMappings, nsCertType, RFC 3779 and proxyCertInfo, so those stay refused.
_OPENSSL_HANDLED = (
    "CertificatePolicies",
    "PolicyConstraints",
    "InhibitAnyPolicy",
    "CRLDistributionPoints",
    "OCSPNoCheck",
)
# Accepted even when critical with ignore_critical: every other type cryptography knows.
_OTHER_KNOWN = (
    "Admissions",
    "FreshestCRL",
    "IssuerAlternativeName",
    "MSCertificateTemplate",
    "PrecertPoison",
    "PrecertificateSignedCertificateTimestamps",
    "PrivateKeyUsagePeriod",
    "SignedCertificateTimestamps",
    "SubjectInformationAccess",
    "TLSFeature",
)


def _ca_key_usage(policy: Any, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError(KEYUSAGE_NO_CERTSIGN)


def _extension_policies(
    ignore_critical: bool,
) -> tuple[verification.ExtensionPolicy, verification.ExtensionPolicy]:
    """(CA policy, EE policy): any extension content goes, as in OpenSSL for
    purpose "any", except that a CA needs basicConstraints with cA (checked
    by cryptography) and keyCertSign if it has a keyUsage."""
    agnostic = verification.Criticality.AGNOSTIC
    ca = verification.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, agnostic, None
    )
    ca = ca.may_be_present(x509.KeyUsage, agnostic, _ca_key_usage)
    ee = verification.ExtensionPolicy.permit_all()
    names = _OPENSSL_HANDLED + (_OTHER_KNOWN if ignore_critical else ())
    for name in names:
        kind = getattr(x509, name, None)
        if kind is None:  # an older cryptography without this type
            continue
        ca = ca.may_be_present(kind, agnostic, None)
        ee = ee.may_be_present(kind, agnostic, None)
    return ca, ee


def _handled_critical_types(ignore_critical: bool) -> tuple[type[Any], ...]:
    names = (
        (
            "AuthorityInformationAccess",
            "AuthorityKeyIdentifier",
            "SubjectKeyIdentifier",
            "KeyUsage",
            "SubjectAlternativeName",
            "BasicConstraints",
            "NameConstraints",
            "ExtendedKeyUsage",
        )
        + _OPENSSL_HANDLED
        + (_OTHER_KNOWN if ignore_critical else ())
    )
    return tuple(t for t in (getattr(x509, n, None) for n in names) if t is not None)


# -- the validator ------------------------------------------------------------------


@fast_init
@dataclass(frozen=True)
class _Job:
    """One validation: the certificate, what may help, and when."""

    cert: x509.Certificate
    pool: list[x509.Certificate]
    """The caller's untrusted certificates, then the trusted ones that are no anchors."""
    moment: datetime
    lenient_time: bool


class ChainValidator:
    """Validates certificates against one set of trusted certificates.

    Building it once and calling :meth:`validate` for each certificate
    keeps the trust store and policies; :func:`validate_chain` is the
    one-shot form. Instances may be shared between threads: their only
    state is a bounded memo of the paths they validated (see
    :meth:`_remembered`).
    """

    def __init__(self, trusted: Sequence[x509.Certificate], options: VerifyOptions | None = None):
        self.options = options if options is not None else VerifyOptions()
        self._trusted = _dedupe(trusted)
        self._trusted_ders = {certinfo.der(c) for c in self._trusted}
        if self.options.partial_chain:
            self._anchors = list(self._trusted)
            self._trusted_intermediates: list[x509.Certificate] = []
        else:
            self._anchors = [c for c in self._trusted if _is_self_signed(c)]
            self._trusted_intermediates = [c for c in self._trusted if not _is_self_signed(c)]
        self._anchor_ders = {certinfo.der(c) for c in self._anchors}
        self._store = verification.Store(self._anchors) if self._anchors else None
        self._ca_policy, self._ee_policy = _extension_policies(self.options.ignore_critical)
        self._handled = _handled_critical_types(self.options.ignore_critical)
        depth = self.options.verify_depth
        if depth is None or depth < 0:
            depth = DEFAULT_VERIFY_DEPTH
        self._depth = min(depth, _MAX_DEPTH)
        self._memo: OrderedDict[
            tuple[bytes, ...], tuple[list[x509.Certificate], datetime, datetime]
        ] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._keys: dict[
            tuple[int, ...], tuple[tuple[x509.Certificate, ...], tuple[bytes, ...]]
        ] = {}

    def validate(
        self, cert: x509.Certificate, untrusted: Sequence[x509.Certificate] = ()
    ) -> list[x509.Certificate]:
        """The validated chain of ``cert``, leaf first, ending at a trusted certificate.

        ``untrusted`` are intermediates that may help (``-untrusted``, the
        extraCerts of a message); those whose names or extensions do not
        decode are left out. Raises :class:`VerificationError`, also when
        ``cert``'s do not decode.
        """
        opts = self.options
        moment = _utc(opts.attime) if opts.attime is not None else datetime.now(timezone.utc)
        lenient_time = opts.no_check_time and opts.attime is None
        # The same certificate objects as a path remembered before (the server's
        # signer and the extraCerts it sends, loaded once by cmp.certinfo): the
        # memo key without reading a DER again.
        objects = (cert, *untrusted)
        ids = tuple(map(id, objects))
        known = None if lenient_time else self._keys.get(ids)
        if known is not None and all(map(operator.is_, known[0], objects)):
            chain = self._remembered(known[1], moment)
            if chain is not None:
                self._post_checks(chain, moment, lenient_time)
                return chain
        why = certinfo.unreadable(cert)
        if why is not None:
            raise VerificationError(UNSPECIFIED, detail=f"the certificate does not decode: {why}")
        # The pool without duplicates, by DER (also the memo key). OpenSSL
        # cannot load unreadable certificates at all; reading their names
        # would fail below.
        pool: dict[bytes, x509.Certificate] = {}
        for c in untrusted:
            der = certinfo.readable_der(c)
            if der is not None:
                pool.setdefault(der, c)
        for c in self._trusted_intermediates:
            pool.setdefault(certinfo.der(c), c)
        cert_der = certinfo.der(cert)
        key = (cert_der, *pool)
        chain = None
        if not lenient_time and cert_der not in self._anchor_ders:
            chain = self._remembered(key, moment)  # the usual case: seen before
        if chain is None:
            job = _Job(cert, list(pool.values()), moment, lenient_time)
            if cert_der in self._anchor_ders:
                chain = self._directly_trusted(job)
            elif lenient_time:
                chain = self._build(job)
                self._check_shape(job, chain)
            else:
                chain = self._build(job)
                self._check_shape(job, chain)
                self._remember(key, chain)
                self._remember_objects(ids, objects, key)
        self._post_checks(chain, moment, lenient_time)
        return chain

    # memo -------------------------------------------------------------------------

    def _remembered(
        self, key: tuple[bytes, ...], moment: datetime
    ) -> list[x509.Certificate] | None:
        """The path built before for the same certificate and pool, if ``moment``
        lies in every one of its certificates' validity periods: the path's
        signatures and extensions have not changed, so building it again would
        only repeat the same checks (a client sees the same server signer in
        every response). Revocation and purpose checks are not remembered."""
        with self._memo_lock:
            entry = self._memo.get(key)
            if entry is None:
                return None
            self._memo.move_to_end(key)
        chain, not_before, not_after = entry
        return list(chain) if not_before <= moment <= not_after else None

    def _remember_objects(
        self, ids: tuple[int, ...], objects: tuple[x509.Certificate, ...], key: tuple[bytes, ...]
    ) -> None:
        """Which memo key these certificate objects have: the entry holds them,
        so that their identities are not reused while it is kept."""
        with self._memo_lock:
            self._keys[ids] = (objects, key)
            while len(self._keys) > _MEMO_SIZE:
                del self._keys[next(iter(self._keys))]

    def _remember(self, key: tuple[bytes, ...], chain: list[x509.Certificate]) -> None:
        not_before = max(c.not_valid_before_utc for c in chain)
        not_after = min(c.not_valid_after_utc for c in chain)
        with self._memo_lock:
            self._memo[key] = (list(chain), not_before, not_after)
            if len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)

    # path building -------------------------------------------------------------

    def _directly_trusted(self, job: _Job) -> list[x509.Certificate]:
        """A trust anchor validated on its own: OpenSSL checks its validity period
        and critical extensions, nothing that needs a path (so X.509v1 is fine)."""
        cert = job.cert
        if not job.lenient_time and not _in_window(cert, job.moment):
            raise _time_error(cert, 0, job.moment)
        if not self.options.ignore_critical and _unhandled_critical([cert], 0, self._handled):
            raise VerificationError(UNHANDLED_CRITICAL_EXTENSION, depth=0, cert=cert)
        return [cert]

    def _build(self, job: _Job) -> list[x509.Certificate]:
        if self._store is None:
            raise self._no_path(job)
        times = [job.moment]
        if job.lenient_time:
            times += _candidate_times(job.cert, [*job.pool, *self._anchors], job.moment)
        message = ""
        for at in times:
            try:
                return self._verify(job, at)
            except verification.VerificationError as exc:
                message = str(exc)
                if not _is_time_message(message):
                    break
        if (
            _is_algorithm_message(message)
            or (job.lenient_time and _is_time_message(message))
            or ("no interior errors" in message and self._encoding_mismatch(job) is not None)
        ):
            chain = self._verify_with_pyhanko(job)
            if chain is not None:
                return chain
        raise self._translate(message, job)

    def _verify(self, job: _Job, at: datetime) -> list[x509.Certificate]:
        assert self._store is not None
        builder = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(at)
            .max_chain_depth(self._depth)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
        )
        return list(builder.build_client_verifier().verify(job.cert, job.pool).chain)

    def _verify_with_pyhanko(self, job: _Job) -> list[x509.Certificate] | None:
        """The path as pyhanko-certvalidator builds it, or None if it is not installed.

        Only paths that cryptography refuses for their algorithms, or for
        disjoint validity periods under no_check_time, come here.
        """
        try:
            certvalidator: Any = importlib.import_module("pyhanko_certvalidator")
            policy_decl: Any = importlib.import_module("pyhanko_certvalidator.policy_decl")
            errors: Any = importlib.import_module("pyhanko_certvalidator.errors")
            asn1_x509: Any = importlib.import_module("asn1crypto.x509")
        except ImportError:
            return None

        def load(cert: x509.Certificate) -> Any:
            return asn1_x509.Certificate.load(certinfo.der(cert))

        context = certvalidator.ValidationContext(
            trust_roots=[load(c) for c in self._anchors],
            other_certs=[load(c) for c in job.pool],
            moment=job.moment,
            time_tolerance=_widest_tolerance(job.moment) if job.lenient_time else timedelta(0),
            allow_fetching=False,
            revocation_mode="soft-fail",
            algorithm_usage_policy=policy_decl.AcceptAllAlgorithms(),
        )
        validator = certvalidator.CertificateValidator(load(job.cert), validation_context=context)
        try:
            path = _run(validator.async_validate_path())
        except errors.PathBuildingError:
            raise self._no_path(job) from None
        except (errors.ExpiredError, errors.NotYetValidError):
            raise self._locate_time(job) from None
        except (errors.PathValidationError, errors.InvalidCertificateError) as exc:
            raise self._translate(str(exc), job) from None
        chain = [x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(True)]
        chain.reverse()
        if len(chain) - 2 > self._depth:
            beyond = self._depth + 1
            raise VerificationError(CHAIN_TOO_LONG, depth=beyond, cert=chain[beyond])
        if not job.lenient_time:
            for depth in range(len(chain) - 1, -1, -1):
                if not _in_window(chain[depth], job.moment):
                    raise _time_error(chain[depth], depth, job.moment)
        return chain

    # post-checks -------------------------------------------------------------------

    def _check_shape(self, job: _Job, chain: list[x509.Certificate]) -> None:
        """OpenSSL's chain building rules that the libraries do not share: a
        chain starts at the certificate itself and ends at a trusted
        certificate itself (pyhanko-certvalidator takes any certificate with a
        trusted name and key for the trusted one), and a self-signed
        certificate ends chain building."""
        if (
            certinfo.der(chain[0]) != certinfo.der(job.cert)
            or certinfo.der(chain[-1]) not in self._anchor_ders
        ):
            raise self._no_path(job)
        for depth, cert in enumerate(chain[:-1]):
            if _is_self_signed(cert):
                reason = SELF_SIGNED_LEAF if depth == 0 else SELF_SIGNED_IN_CHAIN
                raise VerificationError(reason, depth=depth, cert=cert)

    def _post_checks(
        self, chain: list[x509.Certificate], moment: datetime, lenient_time: bool
    ) -> None:
        opts = self.options
        if opts.check_ss_sig:
            _check_self_signature(chain)
        if opts.purpose is not None:
            _check_purpose(chain, PURPOSES[opts.purpose])
        if opts.x509_strict:
            _check_strict(chain)
        if opts.crl_check or opts.crl_check_all:
            check_revocation(
                chain,
                opts.crls,
                at=moment,
                check_all=opts.crl_check_all,
                no_check_time=lenient_time,
                ignore_critical=opts.ignore_critical,
            )

    # error reporting -------------------------------------------------------------

    def _from_store(self, cert: x509.Certificate) -> bool:
        """Whether OpenSSL's chain building would take ``cert`` from the trust store."""
        return certinfo.der(cert) in self._trusted_ders

    def _diagnostic_path(self, job: _Job) -> list[x509.Certificate]:
        """The path OpenSSL tries: issuers by name and key identifier, trusted
        before untrusted and only trusted ones after a trusted one, currently
        valid before expired. It only says where a failure lies; it never
        accepts a certificate."""
        path = [job.cert]
        seen = {certinfo.der(job.cert)}
        trusted_only = False
        while len(path) <= self._depth + 2:
            current = path[-1]
            if certinfo.der(current) in self._anchor_ders or _is_self_signed(current):
                break
            pool = [] if trusted_only else job.pool
            issuers = [
                c
                for c in [*self._trusted, *pool]
                if same_name(c.subject, current.issuer)
                and _key_ids_match(current, c)
                and certinfo.der(c) not in seen
            ]
            if not issuers:
                break
            issuers.sort(key=lambda c: not _in_window(c, job.moment))
            path.append(issuers[0])
            seen.add(certinfo.der(issuers[0]))
            trusted_only = trusted_only or self._from_store(issuers[0])
        return path

    def _no_path(self, job: _Job) -> VerificationError:
        """OpenSSL's reason when no issuer is found (the end of build_chain)."""
        path = self._diagnostic_path(job)
        top = path[-1]
        depth = len(path) - 1
        if certinfo.der(top) in self._anchor_ders:
            # A path exists by names, yet the library found none: a bad signature?
            for at in range(depth - 1, -1, -1):
                if _signature_fails(path, at, None):
                    return VerificationError(CERT_SIGNATURE_FAILURE, depth=at, cert=path[at])
            mismatch = self._encoding_mismatch(job)
            detail = None
            if mismatch is not None:
                detail = (
                    f"the issuer name of '{mismatch.subject.rfc4514_string()}' matches its "
                    "issuer's subject only after normalisation, and cryptography's verifier "
                    "compares names exactly (pyhanko-certvalidator, if installed, does not)"
                )
            return VerificationError(NO_LOCAL_ISSUER, depth=0, cert=job.cert, detail=detail)
        if _is_self_signed(top):
            reason = SELF_SIGNED_LEAF if depth == 0 else SELF_SIGNED_IN_CHAIN
        elif any(self._from_store(c) for c in path[1:]):
            reason = NO_ISSUER
        else:
            reason = NO_LOCAL_ISSUER
        return VerificationError(reason, depth=depth, cert=top)

    def _encoding_mismatch(self, job: _Job) -> x509.Certificate | None:
        """A certificate whose issuer name equals a candidate issuer's subject
        only when compared as OpenSSL does, not byte for byte."""
        issuers = [*self._trusted, *job.pool]
        for cert in [job.cert, *job.pool]:
            for issuer in issuers:
                if same_name(cert.issuer, issuer.subject) and not _same_bytes(
                    cert.issuer, issuer.subject
                ):
                    return cert
        return None

    def _locate_time(self, job: _Job) -> VerificationError:
        path = self._diagnostic_path(job)
        if certinfo.der(path[-1]) not in self._anchor_ders:
            # OpenSSL builds the chain before it checks times: no issuer comes first.
            return self._no_path(job)
        for depth in range(len(path) - 1, -1, -1):
            if not _in_window(path[depth], job.moment):
                return _time_error(path[depth], depth, job.moment)
        return VerificationError(CERT_HAS_EXPIRED, detail="a certificate of the path is not valid")

    def _translate(self, message: str, job: _Job) -> VerificationError:
        """A VerificationError with OpenSSL's reason for the library's message."""
        path = self._diagnostic_path(job)
        if certinfo.der(path[-1]) not in self._anchor_ders:
            # OpenSSL builds the chain before it checks anything else.
            return self._no_path(job)
        if _is_time_message(message):
            return self._locate_time(job)
        if "no interior errors" in message:
            return self._no_path(job)
        detail = _short(message)
        if _is_algorithm_message(message):
            return VerificationError(
                UNSUPPORTED_ALGORITHM,
                detail=f"{detail} (cryptography's verifier accepts RSA >= 2048 bits and "
                "ECDSA P-256/384/521 with SHA-2; install pyhanko-certvalidator for others)",
            )
        for needle, reason in _MESSAGE_REASONS:
            if needle in message:
                depth, where = self._locate(reason, path)
                return VerificationError(reason, depth=depth, cert=where, detail=detail)
        return VerificationError(UNSPECIFIED, detail=detail)

    def _locate(
        self, reason: str, path: list[x509.Certificate]
    ) -> tuple[int | None, x509.Certificate | None]:
        if reason == CHAIN_TOO_LONG:
            # OpenSSL reports the first certificate beyond the allowed depth.
            beyond = self._depth + 1
            return (beyond, path[beyond]) if beyond < len(path) else (None, None)
        test = _LOCATORS.get(reason)
        if test is None:
            return None, None
        # OpenSSL checks signatures from the anchor down, the rest from the leaf up.
        top_down = reason == CERT_SIGNATURE_FAILURE
        order = range(len(path) - 1, -1, -1) if top_down else range(len(path))
        for depth in order:
            if test(path, depth, self._handled):
                return depth, path[depth]
        return None, None


def validate_chain(
    cert: x509.Certificate,
    trusted: Sequence[x509.Certificate],
    untrusted: Sequence[x509.Certificate] = (),
    options: VerifyOptions | None = None,
) -> list[x509.Certificate]:
    """The chain of ``cert`` (leaf first) to one of ``trusted``, as OpenSSL
    validates it with the given options; raises :class:`VerificationError`."""
    return ChainValidator(trusted, options).validate(cert, untrusted)


# -- failure reasons -----------------------------------------------------------------

_MESSAGE_REASONS = (
    ("signature does not match", CERT_SIGNATURE_FAILURE),
    ("basicConstraints.cA must be asserted", INVALID_CA),
    ("CA certificate has no basicConstraints", INVALID_CA),
    ("path length constraint violated", PATH_LENGTH_EXCEEDED),
    ("exceeds max depth", CHAIN_TOO_LONG),
    ("unaccounted-for critical extensions", UNHANDLED_CRITICAL_EXTENSION),
    (KEYUSAGE_NO_CERTSIGN, KEYUSAGE_NO_CERTSIGN),
    ("excluded name constraint", EXCLUDED_VIOLATION),
    ("name constraint", PERMITTED_VIOLATION),
)


def _is_time_message(message: str) -> bool:
    return "not valid at validation time" in message


def _is_algorithm_message(message: str) -> bool:
    return any(
        needle in message for needle in ("Forbidden", "too weak", "not supported for signatures")
    )


def _short(message: str) -> str:
    """cryptography's message without its ``validation failed:`` prefixes and
    with algorithm identifiers shown by name rather than as Rust structures."""
    for prefix in ("validation failed: ", "candidates exhausted: "):
        message = message.replace(prefix, "")
    message = message.split(" (encountered processing")[0]
    return re.sub(r"AlgorithmIdentifier \{.*?params: (\w+).*", r"\1", message)


def _time_error(cert: x509.Certificate, depth: int, moment: datetime) -> VerificationError:
    if moment < cert.not_valid_before_utc:
        return VerificationError(CERT_NOT_YET_VALID, depth=depth, cert=cert)
    return VerificationError(CERT_HAS_EXPIRED, depth=depth, cert=cert)


def _signature_fails(path: list[x509.Certificate], depth: int, _: Any) -> bool:
    if depth + 1 >= len(path):
        return False
    child, issuer = path[depth], path[depth + 1]
    if not _same_bytes(child.issuer, issuer.subject):
        return False  # names equal only canonically: cryptography cannot check this one
    try:
        child.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return True
    return False


def _not_a_ca(path: list[x509.Certificate], depth: int, _: Any) -> bool:
    return depth > 0 and not _is_ca(path[depth])


def _no_certsign(path: list[x509.Certificate], depth: int, _: Any) -> bool:
    usage = _value(path[depth], x509.KeyUsage)
    return depth > 0 and usage is not None and not usage.key_cert_sign


def _unhandled_critical(
    path: list[x509.Certificate], depth: int, handled: tuple[type[Any], ...]
) -> bool:
    return any(
        ext.critical and not isinstance(ext.value, handled) for ext in path[depth].extensions
    )


_LOCATORS: dict[str, Callable[[list[x509.Certificate], int, Any], bool]] = {
    CERT_SIGNATURE_FAILURE: _signature_fails,
    INVALID_CA: _not_a_ca,
    KEYUSAGE_NO_CERTSIGN: _no_certsign,
    UNHANDLED_CRITICAL_EXTENSION: _unhandled_critical,
}


# -- no_check_time and the pyhanko fallback ---------------------------------------------


def _candidate_times(
    cert: x509.Certificate, others: Sequence[x509.Certificate], moment: datetime
) -> list[datetime]:
    """Instants at which a path through ``cert`` may be valid as a whole.

    The validity periods of a path overlap, if at all, from the latest of
    their starts; so the starts within ``cert``'s period are the only times
    worth trying (the leaf's own start first), besides ``moment``.
    """
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    times = {start}
    times.update(c.not_valid_before_utc for c in others if start <= c.not_valid_before_utc <= end)
    times.discard(moment)
    ordered = sorted(times, key=lambda t: abs(t - moment))
    return ordered[:_MAX_TIME_CANDIDATES]


def _widest_tolerance(moment: datetime) -> timedelta:
    """The largest time tolerance pyhanko can add to and take from ``moment``."""
    low = moment - datetime.min.replace(tzinfo=timezone.utc)
    high = datetime.max.replace(tzinfo=timezone.utc) - moment
    return min(low, high) - timedelta(days=2)


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to its end from synchronous code, even inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# -- checks on the validated chain ---------------------------------------------------


def _check_self_signature(chain: list[x509.Certificate]) -> None:
    """``-check_ss_sig``: the trust anchor's own signature, if it is self-signed."""
    top = chain[-1]
    if not _is_self_signed(top):
        return
    try:
        top.verify_directly_issued_by(top)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        raise VerificationError(CERT_SIGNATURE_FAILURE, depth=len(chain) - 1, cert=top) from None


def _ekus(cert: x509.Certificate) -> list[ObjectIdentifier] | None:
    value = _value(cert, x509.ExtendedKeyUsage)
    return None if value is None else list(value)


def _check_purpose(chain: list[x509.Certificate], purpose: _Purpose) -> None:
    """OpenSSL's purpose checks: EKUs of every certificate, keyUsage of the leaf."""
    leaf = chain[0]
    if purpose.timestamping:
        _check_timestamping(leaf)
    for depth, cert in enumerate(chain):
        ekus = _ekus(cert)
        if (
            purpose.ekus
            and ekus is not None
            and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ekus
            and not purpose.ekus.intersection(ekus)
        ):
            raise VerificationError(
                INVALID_PURPOSE, depth=depth, cert=cert, detail="extended key usage does not match"
            )
    usage = _value(leaf, x509.KeyUsage)
    if purpose.leaf_key_usages and usage is not None:
        if not any(getattr(usage, bit) for bit in purpose.leaf_key_usages):
            raise VerificationError(
                INVALID_PURPOSE, depth=0, cert=leaf, detail="key usage does not match"
            )


def _check_timestamping(leaf: x509.Certificate) -> None:
    eku = _extension(leaf, x509.ExtendedKeyUsage)
    if eku is None or not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise VerificationError(
            INVALID_PURPOSE,
            depth=0,
            cert=leaf,
            detail="a critical extended key usage of timeStamping only is required",
        )
    usage = _value(leaf, x509.KeyUsage)
    if usage is None:
        return
    allowed = usage.digital_signature or usage.content_commitment
    others = (
        usage.key_encipherment
        or usage.data_encipherment
        or usage.key_agreement
        or usage.key_cert_sign
        or usage.crl_sign
    )
    if not allowed or others:
        raise VerificationError(
            INVALID_PURPOSE, depth=0, cert=leaf, detail="key usage does not match"
        )


def _strict_problem(cert: x509.Certificate) -> str | None:
    """The first RFC 5280 rule ``-x509_strict`` enforces that ``cert`` breaks."""
    constraints = _extension(cert, x509.BasicConstraints)
    usage = _value(cert, x509.KeyUsage)
    is_ca = constraints is not None and constraints.value.ca
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    ski = _extension(cert, x509.SubjectKeyIdentifier)
    san = _extension(cert, x509.SubjectAlternativeName)
    v3 = cert.version == x509.Version.v3
    problems = (
        (
            is_ca and constraints is not None and not constraints.critical,
            "Basic Constraints of CA cert not marked critical",
        ),
        (is_ca and usage is None, "CA cert does not include key usage extension"),
        (
            constraints is not None and constraints.value.path_length is not None and not is_ca,
            "Path length invalid for non-CA cert",
        ),
        (
            is_ca
            and constraints is not None
            and constraints.value.path_length is not None
            and usage is not None
            and not usage.key_cert_sign,
            "Path length given without key usage keyCertSign",
        ),
        (
            not is_ca and usage is not None and usage.key_cert_sign,
            "Key usage keyCertSign invalid for non-CA cert",
        ),
        (len(cert.issuer) == 0, "Issuer name empty"),
        (
            len(cert.subject) == 0
            and (is_ca or san is None or (usage is not None and usage.crl_sign)),
            "Subject name empty",
        ),
        (
            len(cert.subject) == 0 and san is not None and not san.critical,
            "Subject empty and Subject Alt Name extension not critical",
        ),
        (san is not None and len(san.value) == 0, "Empty Subject Alternative Name extension"),
        (aki is not None and aki.critical, "Authority Key Identifier marked critical"),
        (ski is not None and ski.critical, "Subject Key Identifier marked critical"),
        (v3 and aki is None and not _is_self_signed(cert), "Missing Authority Key Identifier"),
        (v3 and is_ca and ski is None, "Missing Subject Key Identifier"),
    )
    for broken, text in problems:
        if broken:
            return text
    return None


def _check_strict(chain: list[x509.Certificate]) -> None:
    for depth, cert in enumerate(chain):
        problem = _strict_problem(cert)
        if problem is not None:
            raise VerificationError(problem, depth=depth, cert=cert)


# -- CRLs -------------------------------------------------------------------------------

_HANDLED_CRL_EXTENSIONS = (
    x509.CRLNumber,
    x509.DeltaCRLIndicator,
    x509.IssuingDistributionPoint,
    x509.AuthorityKeyIdentifier,
    x509.FreshestCRL,
)


def _crl_applies(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> bool:
    """Whether ``crl`` is a complete CRL whose scope covers ``cert``.

    Delta CRLs (``-use_deltas``) and partitioned, indirect or reason-limited
    CRLs (``-extended_crl``) are not supported and never apply.
    """
    try:
        crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
        return False
    except x509.ExtensionNotFound:
        pass
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return True
    is_ca = _is_ca(cert)
    return not (
        (idp.only_contains_user_certs and is_ca)
        or (idp.only_contains_ca_certs and not is_ca)
        or idp.only_contains_attribute_certs
        or idp.indirect_crl
        or idp.only_some_reasons
    )


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return bool(crl.is_signature_valid(issuer.public_key()))  # type: ignore[arg-type]
    except (TypeError, ValueError, x509.UnsupportedGeneralNameType):
        return False


def _crl_time_error(crl: x509.CertificateRevocationList, moment: datetime) -> str | None:
    if crl.last_update_utc > moment:
        return CRL_NOT_YET_VALID
    next_update = crl.next_update_utc
    if next_update is not None and next_update < moment:
        return CRL_HAS_EXPIRED
    return None


def _unhandled_crl_extension(crl: x509.CertificateRevocationList) -> bool:
    if any(
        ext.critical and not isinstance(ext.value, _HANDLED_CRL_EXTENSIONS)
        for ext in crl.extensions
    ):
        return True
    return any(ext.critical for entry in crl for ext in entry.extensions)


def check_revocation(
    chain: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    *,
    at: datetime | None = None,
    check_all: bool = False,
    no_check_time: bool = False,
    ignore_critical: bool = False,
) -> None:
    """OpenSSL's ``-crl_check`` (``chain[0]`` only) or ``-crl_check_all``
    (every certificate, the self-signed anchor included) on a validated chain.

    Each certificate needs a CRL from its issuer (the next certificate; a
    self-signed one's own), with a valid signature, an issuer allowed to
    sign CRLs, and ``at`` between thisUpdate and nextUpdate unless
    ``no_check_time``; of several such CRLs the newest counts. Raises
    :class:`VerificationError` ("certificate revoked", "unable to get
    certificate CRL", "CRL has expired", ...).
    """
    moment = _utc(at) if at is not None else datetime.now(timezone.utc)
    last = len(chain) - 1 if check_all else 0
    for depth in range(last + 1):
        _check_one_revocation(chain, depth, crls, moment, no_check_time, ignore_critical)


def _check_one_revocation(
    chain: Sequence[x509.Certificate],
    depth: int,
    crls: Sequence[x509.CertificateRevocationList],
    moment: datetime,
    no_check_time: bool,
    ignore_critical: bool,
) -> None:
    cert = chain[depth]
    if depth + 1 < len(chain):
        issuer: x509.Certificate | None = chain[depth + 1]
    else:
        issuer = cert if _is_self_signed(cert) else None
    candidates = [c for c in crls if same_name(c.issuer, cert.issuer) and _crl_applies(c, cert)]
    if not candidates:
        raise VerificationError(NO_CRL, depth=depth, cert=cert)
    if issuer is None:
        raise VerificationError(NO_CRL_ISSUER, depth=depth, cert=cert)
    usage = _value(issuer, x509.KeyUsage)
    if usage is not None and not usage.crl_sign:
        raise VerificationError(KEYUSAGE_NO_CRL_SIGN, depth=depth, cert=cert)
    signed = [c for c in candidates if _crl_signed_by(c, issuer)]
    if not signed:
        raise VerificationError(CRL_SIGNATURE_FAILURE, depth=depth, cert=cert)
    signed.sort(key=lambda c: c.last_update_utc, reverse=True)
    current = signed if no_check_time else [c for c in signed if _crl_time_error(c, moment) is None]
    if not current:
        reason = _crl_time_error(signed[0], moment) or CRL_HAS_EXPIRED
        raise VerificationError(reason, depth=depth, cert=cert)
    crl = current[0]
    if not ignore_critical and _unhandled_crl_extension(crl):
        raise VerificationError(UNHANDLED_CRITICAL_CRL_EXTENSION, depth=depth, cert=cert)
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is None:
        return
    why = _entry_reason(entry)
    if why == x509.ReasonFlags.remove_from_crl:
        return
    detail = f"reason {why.name}" if why is not None else None
    raise VerificationError(CERT_REVOKED, depth=depth, cert=cert, detail=detail)


def _entry_reason(entry: x509.RevokedCertificate) -> x509.ReasonFlags | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return None
