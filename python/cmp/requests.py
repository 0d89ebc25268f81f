"""Request bodies: what a CMP client asks for, and the PKIBody that asks it.

The three kinds of request a :class:`cmp.transaction.Transaction` runs are
described by :class:`EnrollRequest` (ir, cr, kur, p10cr), :class:`RevokeRequest`
(rr) and :class:`GeneralRequest` (genm). The functions below build their
bodies as ``openssl cmp`` does (crypto/cmp/cmp_msg.c, crmf_lib.c):

- the CertTemplate: subject, issuer, validity, public key and extensions with
  the defaults taken from the CSR and the reference certificate (``oldcert``,
  else the client's ``cert``) in OpenSSL's order (:func:`cert_template`);
- the proof of possession: none, raVerified, a signature over the DER of the
  CertRequest with the new key (RFC 4211 §4.1), or keyEncipherment with
  subsequentMessage (:func:`proof_of_possession`);
- the oldCertID control of a kur (RFC 9810 §5.3.5, RFC 4211 §6.5);
- rr with the certificate's issuer and serial number and a CRLReason entry
  extension; genm with its infoTypes; certConf accepting or rejecting a
  certificate; pollReq.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Union

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from cmp import algorithms, certinfo, protection
from cmp.asn1 import (
    AlgorithmIdentifier,
    AttributeTypeAndValue,
    CertId,
    CertReqMsg,
    CertRequest,
    CertStatus,
    CertTemplate,
    Extension,
    GeneralName,
    InfoTypeAndValue,
    OptionalValidity,
    PKIBody,
    PKIStatus,
    PKIStatusInfo,
    PollReqEntry,
    POPOPrivKey,
    POPOSigningKey,
    ProofOfPossession,
    RevDetails,
    encode,
)
from cmp.certhash import cert_hash, cert_hash_alg
from cmp.dn import is_null_dn
from cmp.errors import CMPError
from cmp.itav import make_itav

__all__ = [
    "CERT_REQ_ID",
    "CERT_REQ_ID_NONE",
    "ENROLL_COMMANDS",
    "OLD_CERT_ID",
    "POPO_KEYENC",
    "POPO_NONE",
    "POPO_RAVERIFIED",
    "POPO_SIGNATURE",
    "EnrollRequest",
    "GeneralRequest",
    "Request",
    "RequestError",
    "RevokeRequest",
    "cert_conf_body",
    "cert_req_msg",
    "cert_template",
    "crl_reason_extensions",
    "encode_extensions",
    "enroll_body",
    "genm_body",
    "old_cert_id_control",
    "p10cr_body",
    "parse_sans",
    "policies_from_oids",
    "poll_req_body",
    "popo_key",
    "proof_of_possession",
    "public_key_der",
    "rr_body",
    "sign",
    "template_public_key",
]

CERT_REQ_ID = 0
"""certReqId of the (single) CertReqMsg cmpkit puts in ir/cr/kur, as OpenSSL."""
CERT_REQ_ID_NONE = -1
"""certReqId that stands for a p10cr's request in cp, certConf, pollReq (RFC 9810 §5.3.4)."""
OLD_CERT_ID = "1.3.6.1.5.5.7.5.1.5"
"""id-regCtrl-oldCertID (RFC 4211 §6.5)."""

POPO_NONE, POPO_RAVERIFIED, POPO_SIGNATURE, POPO_KEYENC = -1, 0, 1, 2
"""``openssl cmp -popo`` values: none, raVerified, signature (default), keyEncipherment."""

ENROLL_COMMANDS = ("ir", "cr", "kur", "p10cr")
_REPLY_TO = {"ir": "ip", "cr": "cp", "kur": "kup", "p10cr": "cp"}
_SUBSEQUENT_MESSAGE_ENCR_CERT = (
    0  # SubsequentMessage ::= INTEGER { encrCert (0), challengeResp (1) }
)

NewKey = Union[PrivateKeyTypes, PublicKeyTypes]


class RequestError(CMPError, ValueError):
    """A request cannot be built from what was given (missing key, bad option)."""


# --- what the caller asks for ------------------------------------------------------------


@dataclass(frozen=True)
class EnrollRequest:
    """ir, cr, kur or p10cr: enroll a (new) key, as ``openssl cmp -cmd <cmd>``.

    - ``new_key`` (``-newkey``): the key to certify, private (needed for the
      signature POPO) or public; defaults to the CSR's key, then to the
      client's own key (``TransactionConfig.key``), then the reference
      certificate's.
    - ``subject``/``issuer`` (``-subject``/``-issuer``): the NULL-DN means
      "leave out of the template"; ``None`` means "use the default".
    - ``days``: validity from now; ``reqexts``: extensions to request (they
      override the CSR's); ``sans`` (``-sans``) with ``sans_critical``;
      ``san_nodefault``; ``policies`` with ``policies_critical``.
    - ``popo``: -1 none, 0 raVerified, 1 signature (default), 2 keyEncipherment.
    - ``csr``: with p10cr sent as it is, with ir/cr/kur turned into a template.
    - ``oldcert``: the certificate to update (kur; defaults to the client's
      ``cert``) and the reference for default subject, issuer, SANs, sender
      and recipient.
    """

    cmd: str = "ir"
    new_key: NewKey | None = None
    subject: x509.Name | None = None
    issuer: x509.Name | None = None
    days: int = 0
    reqexts: Sequence[x509.Extension[x509.ExtensionType]] | None = None
    sans: Sequence[x509.GeneralName] = ()
    sans_critical: bool = False
    san_nodefault: bool = False
    policies: x509.CertificatePolicies | None = None
    policies_critical: bool = False
    popo: int = POPO_SIGNATURE
    csr: x509.CertificateSigningRequest | None = None
    oldcert: x509.Certificate | None = None

    def __post_init__(self) -> None:
        if self.cmd not in ENROLL_COMMANDS:
            raise RequestError(
                f"enrollment command must be one of {ENROLL_COMMANDS}, not {self.cmd!r}"
            )
        if not POPO_NONE <= self.popo <= POPO_KEYENC:
            raise RequestError(f"popo must be -1..2, not {self.popo}")
        if self.days < 0:
            raise RequestError(f"days must not be negative, not {self.days}")
        if self.cmd == "p10cr" and self.csr is None:
            raise RequestError("p10cr needs a CSR")
        if self.sans and _has_san(self.reqexts or ()):
            raise RequestError("sans cannot be used when reqexts has a subjectAltName extension")

    @property
    def reply_type(self) -> str:
        """The body type of the answer: ip, cp or kup."""
        return _REPLY_TO[self.cmd]

    @property
    def has_san(self) -> bool:
        """OpenSSL's HAS_SAN: SANs given with ``sans`` or in ``reqexts``."""
        return bool(self.sans) or _has_san(self.reqexts or ())

    @cached_property
    def _new_key_spki(self) -> bytes:
        # The template's key when it is new_key: encoded once for a request
        # run again and again (-repeat, a batch of one request), kept no
        # longer than the request (and its key) is.
        assert self.new_key is not None
        return public_key_der(self.new_key)


@dataclass(frozen=True)
class RevokeRequest:
    """rr: revoke a certificate, as ``openssl cmp -cmd rr``.

    The certificate is named by ``cert`` (``-oldcert``: its issuer and serial
    number), or by ``issuer`` and ``serial``, or by ``csr`` (its subject and
    public key). ``reason`` is a CRLReason 0..10 except 7, or -1 for none.
    """

    cert: x509.Certificate | None = None
    reason: int = -1
    csr: x509.CertificateSigningRequest | None = None
    issuer: x509.Name | None = None
    serial: int | None = None

    def __post_init__(self) -> None:
        if not -1 <= self.reason <= 10 or self.reason == 7:
            raise RequestError(f"revocation reason must be -1..10 but not 7, not {self.reason}")
        named = self.issuer is not None and self.serial is not None
        if self.cert is None and self.csr is None and not named:
            raise RequestError(
                "rr needs the certificate to revoke: cert, csr, or issuer and serial"
            )

    @property
    def oldcert(self) -> x509.Certificate | None:
        return self.cert


@dataclass(frozen=True)
class GeneralRequest:
    """genm: ask for information, as ``openssl cmp -cmd genm [-infotype name]``.

    ``itavs`` are the InfoTypeAndValues to send (none asks for everything the
    server offers). ``subject``, ``issuer`` and ``oldcert`` only serve as
    header defaults (sender, recipient), as OpenSSL uses them.
    """

    itavs: Sequence[InfoTypeAndValue] = ()
    subject: x509.Name | None = None
    issuer: x509.Name | None = None
    oldcert: x509.Certificate | None = None

    @classmethod
    def for_infotypes(cls, *names: str, **kwargs: Any) -> GeneralRequest:
        """A genm asking for the infoTypes ``names`` (e.g. ``"caCerts"`` or an OID)."""
        return cls(tuple(make_itav(n) for n in names), **kwargs)


Request = Union[EnrollRequest, RevokeRequest, GeneralRequest]


# --- extensions ------------------------------------------------------------------------------


def _has_san(exts: Iterable[x509.Extension[x509.ExtensionType]]) -> bool:
    return any(e.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME for e in exts)


def encode_extensions(exts: Iterable[x509.Extension[x509.ExtensionType]]) -> bytes | None:
    """DER ``Extensions ::= SEQUENCE OF Extension`` (RFC 5280), ``None`` when empty."""
    items = tuple(
        Extension(ext.oid.dotted_string, ext.critical, ext.value.public_bytes()) for ext in exts
    )
    return encode("Extensions", items) if items else None


def _replace_or_append(
    exts: list[x509.Extension[x509.ExtensionType]], new: x509.Extension[x509.ExtensionType]
) -> None:
    # X509V3_add1_i2d(..., X509V3_ADD_REPLACE): replace in place, else append.
    for i, ext in enumerate(exts):
        if ext.oid == new.oid:
            exts[i] = new
            return
    exts.append(new)


def _override(
    exts: list[x509.Extension[x509.ExtensionType]],
    new: Iterable[x509.Extension[x509.ExtensionType]],
) -> None:
    # X509v3_add_extensions(): drop every one with the same OID, then append.
    for ext in new:
        exts[:] = [e for e in exts if e.oid != ext.oid]
        exts.append(ext)


def parse_sans(spec: str) -> tuple[list[x509.GeneralName], bool]:
    """``openssl cmp -sans``: names separated by commas or white space, each an
    IP address, else a URI when it has a ``:``, else an email address when it
    has an ``@``, else a DNS name; ``critical`` flags the extension critical.
    Returns (names, critical)."""
    import ipaddress

    names: list[x509.GeneralName] = []
    critical = False
    for item in spec.replace(",", " ").split():
        if item == "critical":
            critical = True
            continue
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(item)))
            continue
        except ValueError:
            pass
        if ":" in item:
            names.append(x509.UniformResourceIdentifier(item))
        elif "@" in item:
            names.append(x509.RFC822Name(item))
        else:
            names.append(x509.DNSName(item))
    return names, critical


def policies_from_oids(oids: Iterable[str]) -> x509.CertificatePolicies:
    """certificatePolicies with the given policy OIDs and no qualifiers
    (``openssl cmp -policy_oids``)."""
    return x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in oids]
    )


def crl_reason_extensions(reason: int) -> bytes:
    """crlEntryDetails with a (non-critical) CRLReason ``reason`` (RFC 5280 §5.3.1)."""
    value = x509.CRLReason(_CRL_REASONS[reason]).public_bytes()
    return encode(
        "Extensions", (Extension(CRLEntryExtensionOID.CRL_REASON.dotted_string, False, value),)
    )


# CRLReason codes 0..10 (7 is unused), RFC 5280 §5.3.1.
_CRL_REASONS = {
    0: x509.ReasonFlags.unspecified,
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}


# --- CertTemplate -------------------------------------------------------------------------------


def public_key_der(key: NewKey) -> bytes:
    """DER SubjectPublicKeyInfo of a public key, or of a private key's public part."""
    return certinfo.key_spki(key)


def _is_private(key: NewKey | None) -> bool:
    return key is not None and hasattr(key, "private_bytes")


def template_public_key(
    request: EnrollRequest,
    *,
    client_key: PrivateKeyTypes | None = None,
    client_cert: x509.Certificate | None = None,
) -> NewKey:
    """The key to certify: ``new_key``, else the CSR's, else the client's own
    key, else the reference certificate's (OpenSSL's order)."""
    refcert = request.oldcert or client_cert
    for key in (
        request.new_key,
        None if request.csr is None else request.csr.public_key(),
        client_key,
        None if refcert is None else refcert.public_key(),
    ):
        if key is not None:
            return key
    raise RequestError("no key to enroll: give new_key, a CSR, or the client key")


def popo_key(
    request: EnrollRequest, *, client_key: PrivateKeyTypes | None = None
) -> PrivateKeyTypes | None:
    """The private key that signs the POPO: ``new_key`` if it is private; with
    neither ``new_key`` nor CSR the client's own key (OpenSSL's
    ``OSSL_CMP_CTX_get0_newPkey(ctx, 1)``)."""
    if request.new_key is not None:
        return request.new_key if _is_private(request.new_key) else None  # type: ignore[return-value]
    if request.csr is not None:
        return None
    return client_key


def _find_sans(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _sans_of(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    """The subjectAltName of the reference certificate, kept with it (the
    client's own certificate is asked for every ir/cr it sends)."""
    return certinfo.fact(cert, "subjectAltName", _find_sans, lambda c: len(certinfo.der(c)))


def cert_template(
    request: EnrollRequest,
    *,
    client_key: PrivateKeyTypes | None = None,
    client_cert: x509.Certificate | None = None,
    now: datetime.datetime | None = None,
) -> CertTemplate:
    """The CertTemplate of an ir/cr/kur, defaults as OpenSSL's
    ``OSSL_CMP_CTX_setup_CRM()``:

    - subject: ``subject`` (the NULL-DN: none), else the CSR's or the
      reference certificate's subject — for ir/cr only when no SANs are given;
    - issuer: ``issuer`` (the NULL-DN: none), else the reference certificate's
      issuer;
    - validity: ``days`` from now, when given;
    - extensions: the CSR's, then the reference certificate's SANs unless SANs
      are given or ``san_nodefault``, then ``reqexts`` (overriding), ``sans``,
      ``policies``. SANs are critical when asked, or when there is no subject
      (RFC 5280 §4.2.1.6).

    The reference certificate is ``oldcert``, else ``client_cert``.
    """
    refcert = request.oldcert or client_cert
    for_kur = request.cmd == "kur"
    if for_kur and refcert is None and request.csr is None:
        raise RequestError("kur needs the certificate to update: oldcert or the client cert")
    key = template_public_key(request, client_key=client_key, client_cert=client_cert)

    ref_subject = (
        request.csr.subject
        if request.csr is not None
        else (refcert.subject if refcert is not None else None)
    )
    subject: x509.Name | None
    if request.subject is not None:
        subject = None if is_null_dn(request.subject) else request.subject
    elif ref_subject is not None and (for_kur or not request.has_san):
        subject = ref_subject
    else:
        subject = None
    issuer: x509.Name | None
    if request.issuer is not None or refcert is None:
        issuer = None if request.issuer is None or is_null_dn(request.issuer) else request.issuer
    else:
        issuer = refcert.issuer

    validity = None
    if request.days:
        start = (now or datetime.datetime.now(datetime.timezone.utc)).replace(microsecond=0)
        validity = OptionalValidity(start, start + datetime.timedelta(days=request.days))

    san_critical = request.sans_critical or subject is None
    exts: list[x509.Extension[x509.ExtensionType]] = []
    if request.csr is not None:
        exts.extend(request.csr.extensions)
    if not request.san_nodefault and not request.has_san and refcert is not None:
        sans = _sans_of(refcert)
        if sans is not None:
            _replace_or_append(exts, x509.Extension(sans.oid, san_critical, sans))
    if request.reqexts:
        _override(exts, request.reqexts)
    if request.sans:
        _replace_or_append(
            exts,
            x509.Extension(
                ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                san_critical,
                x509.SubjectAlternativeName(list(request.sans)),
            ),
        )
    if request.policies is not None:
        _replace_or_append(
            exts,
            x509.Extension(
                ExtensionOID.CERTIFICATE_POLICIES, request.policies_critical, request.policies
            ),
        )
    return CertTemplate(
        issuer=None if issuer is None else certinfo.name_der(issuer),
        validity=validity,
        subject=None if subject is None else certinfo.name_der(subject),
        public_key=request._new_key_spki if key is request.new_key else public_key_der(key),
        extensions=encode_extensions(exts),
    )


# --- proof of possession ----------------------------------------------------------------------


def sign(key: PrivateKeyTypes, alg: AlgorithmIdentifier, data: bytes) -> bytes:
    """Signs ``data`` with ``key`` by the signature algorithm ``alg``."""
    return protection.sign_data(key, algorithms.signature_scheme(alg), data)


def proof_of_possession(
    popo: int,
    cert_request: CertRequest,
    key: PrivateKeyTypes | None = None,
    digest: str = "sha256",
) -> ProofOfPossession | None:
    """The POPO for ``cert_request`` (OpenSSL's ``OSSL_CRMF_MSG_create_popo()``):
    none (-1), raVerified (0), a signature by ``key`` over the DER of the
    CertRequest with no poposkInput (1; RFC 4211 §4.1, the template carries
    subject and public key), or keyEncipherment asking for the certificate
    encrypted in a subsequent message (2)."""
    if popo == POPO_NONE:
        return None
    if popo == POPO_RAVERIFIED:
        return ProofOfPossession("raVerified", None)
    if popo == POPO_SIGNATURE:
        if key is None:
            raise RequestError(
                "a signature POPO needs the private key being enrolled (new_key or the client key);"
                " use popo 0 or -1 without one"
            )
        alg = algorithms.signature_algorithm_for_key(key, digest)
        signature = sign(key, alg, encode("CertRequest", cert_request))
        return ProofOfPossession("signature", POPOSigningKey(None, alg, signature))
    if popo == POPO_KEYENC:
        return ProofOfPossession(
            "keyEncipherment", POPOPrivKey("subsequentMessage", _SUBSEQUENT_MESSAGE_ENCR_CERT)
        )
    raise RequestError(f"popo must be -1..2, not {popo}")


def old_cert_id_control(cert: x509.Certificate) -> AttributeTypeAndValue:
    """The oldCertID control naming the certificate a kur updates (RFC 4211 §6.5)."""
    cert_id = CertId(GeneralName.directory_name(cert.issuer), cert.serial_number)
    return AttributeTypeAndValue(OLD_CERT_ID, encode("CertId", cert_id))


def cert_req_msg(
    template: CertTemplate,
    *,
    popo: int = POPO_SIGNATURE,
    key: PrivateKeyTypes | None = None,
    digest: str = "sha256",
    cert_req_id: int = CERT_REQ_ID,
    old_cert: x509.Certificate | None = None,
) -> CertReqMsg:
    """A CertReqMsg for ``template`` with its POPO; ``old_cert`` adds the
    oldCertID control (kur)."""
    controls = None if old_cert is None else (old_cert_id_control(old_cert),)
    request = CertRequest(cert_req_id, template, controls)
    return CertReqMsg(request, proof_of_possession(popo, request, key, digest))


def enroll_body(
    request: EnrollRequest,
    *,
    client_key: PrivateKeyTypes | None = None,
    client_cert: x509.Certificate | None = None,
    digest: str = "sha256",
    now: datetime.datetime | None = None,
) -> PKIBody:
    """The ir/cr/kur/p10cr body for ``request`` (one CertReqMsg, certReqId 0;
    for p10cr the CSR itself)."""
    if request.cmd == "p10cr":
        assert request.csr is not None
        return p10cr_body(request.csr)
    template = cert_template(request, client_key=client_key, client_cert=client_cert, now=now)
    key = popo_key(request, client_key=client_key)
    refcert = request.oldcert or client_cert
    msg = cert_req_msg(
        template,
        popo=request.popo,
        key=key,
        digest=digest,
        old_cert=refcert if request.cmd == "kur" else None,
    )
    return PKIBody(request.cmd, (msg,))


def p10cr_body(csr: x509.CertificateSigningRequest) -> PKIBody:
    """A p10cr carrying ``csr`` unchanged."""
    return PKIBody("p10cr", csr.public_bytes(serialization.Encoding.DER))


# --- rr, genm, certConf, pollReq -------------------------------------------------------------


def rr_body(request: RevokeRequest) -> PKIBody:
    """An rr with one RevDetails (OpenSSL's ``ossl_cmp_rr_new()``): issuer and
    serial number of the certificate, or the CSR's subject and public key;
    the CRLReason, when given, in crlEntryDetails."""
    if request.issuer is not None and request.serial is not None:
        template = CertTemplate(serial_number=request.serial, issuer=request.issuer.public_bytes())
    elif request.cert is not None:
        template = CertTemplate(
            serial_number=request.cert.serial_number, issuer=request.cert.issuer.public_bytes()
        )
    else:
        assert request.csr is not None
        template = CertTemplate(
            subject=request.csr.subject.public_bytes(),
            public_key=public_key_der(request.csr.public_key()),
        )
    details = None if request.reason < 0 else crl_reason_extensions(request.reason)
    return PKIBody("rr", (RevDetails(template, details),))


def genm_body(itavs: Sequence[InfoTypeAndValue] = ()) -> PKIBody:
    """A genm with ``itavs`` (possibly none)."""
    return PKIBody("genm", tuple(itavs))


def cert_conf_body(
    cert: x509.Certificate,
    cert_req_id: int = CERT_REQ_ID,
    *,
    fail_info: int = 0,
    text: str | None = None,
    with_hash_alg: bool = True,
) -> PKIBody:
    """certConf for ``cert`` (OpenSSL's ``ossl_cmp_certConf_new()``).

    ``fail_info`` 0 accepts (statusInfo accepted), non-zero rejects with those
    PKIFailureInfo bits; ``text`` becomes the statusString. certHash uses the
    certificate's signature hash; where the signature algorithm names none
    (EdDSA, ...) hashAlg says which hash was used (RFC 9810 §5.3.18, making
    the message pvno 3) unless ``with_hash_alg`` is false, for servers that
    only speak cmp2000 (OpenSSL 3.0 and 3.1).
    """
    hash_alg = cert_hash_alg(cert) if with_hash_alg else None
    status = PKIStatus.rejection if fail_info else PKIStatus.accepted
    info = PKIStatusInfo(int(status), None if text is None else (text,), fail_info or None)
    return PKIBody(
        "certConf", (CertStatus(cert_hash(cert, hash_alg), cert_req_id, info, hash_alg),)
    )


def poll_req_body(cert_req_id: int = CERT_REQ_ID) -> PKIBody:
    """A pollReq for the request ``cert_req_id``."""
    return PKIBody("pollReq", (PollReqEntry(cert_req_id),))
