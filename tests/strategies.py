"""Hypothesis strategies for the ``cmp.asn1`` dataclasses and whole PKIMessages.

Every value drawn here survives a DER round trip unchanged, so a property can
demand ``decode(encode(v)) == v``. That shapes a few choices:

- datetimes are timezone-aware (a naive datetime is encoded as UTC but decodes
  as an aware one); any fixed offset is fine, equality compares instants;
- Time (UTCTime/GeneralizedTime of RFC 5280) has whole seconds only, the
  GeneralizedTime fields of CMP (messageTime, willBeRevokedAt, ...) keep
  microseconds;
- fields that stay DER (certificates, names, keys, extensions, ANY) are
  well-formed DER elements, as the structural DER check demands;
- ``SEQUENCE SIZE (1..MAX) OF`` fields have at least one element;
- INTEGERs typed ``i64`` in the Rust schema stay in that range, the others
  (certReqId, serialNumber, ...) are unbounded.
"""

from __future__ import annotations

import datetime
import functools
from typing import Any, Callable, TypeVar

from hypothesis import strategies as st

from cmp import PKIMessage
from cmp import asn1 as A
from cmp.itav import make_itav
from cmp.message import BODY_TYPES

T = TypeVar("T")
S = st.SearchStrategy

__all__ = [
    "BODY_STRATEGIES", "algorithm_identifiers", "bodies", "cert_rep_messages",
    "cert_req_msgs", "cert_templates", "der_elements", "der_sequences", "general_names",
    "generalized_times", "headers", "itavs", "oids", "pki_messages", "status_infos",
    "times", "typed_itavs",
]  # fmt: skip

# --- primitives --------------------------------------------------------------------

int64 = st.integers(-(2**63), 2**63 - 1)
big_ints = st.one_of(st.integers(-300, 300), st.integers(-(2**200), 2**200))
octets = st.binary(max_size=24)
utf8_text = st.text(st.characters(codec="utf-8"), max_size=12)
ia5_text = st.text(st.characters(codec="ascii"), max_size=16)
fail_infos = st.one_of(
    st.sampled_from(list(A.FailInfo)).map(int),
    st.integers(0, 2**27 - 1),
    st.integers(0, 2**64 - 1),
)


def opt(strategy: S[T]) -> S[T] | None:
    return st.none() | strategy


def seq_of(strategy: S[T], min_size: int = 0, max_size: int = 3) -> S[tuple[T, ...]]:
    return st.lists(strategy, min_size=min_size, max_size=max_size).map(tuple)


def nonempty(strategy: S[T], max_size: int = 3) -> S[tuple[T, ...]]:
    """SEQUENCE SIZE (1..MAX) OF."""
    return seq_of(strategy, 1, max_size)


@functools.cache
@st.composite
def oids(draw: Callable[..., Any]) -> str:
    """A dotted OBJECT IDENTIFIER (first arc 0..2, second 0..39 below 2)."""
    first = draw(st.integers(0, 2))
    second = draw(st.integers(0, 39) if first < 2 else st.integers(0, 2**32))
    rest = draw(st.lists(st.integers(0, 2**32), max_size=5))
    return ".".join(map(str, [first, second, *rest]))


# --- raw DER -----------------------------------------------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    octets_ = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets_)]) + octets_ + content


PRIMITIVE_TAGS = (0x01, 0x02, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x80, 0x81, 0x9E)
CONSTRUCTED_TAGS = (0x30, 0x31, 0xA0, 0xA1, 0xA3)


@functools.cache
def _leaf() -> S[bytes]:
    return st.builds(tlv, st.sampled_from(PRIMITIVE_TAGS), octets)


@functools.cache
def der_elements(max_depth: int = 2) -> S[bytes]:
    """One well-formed DER element (primitive contents arbitrary)."""
    if max_depth == 0:
        return _leaf()
    inner = der_elements(max_depth - 1)
    constructed = st.builds(
        lambda tag, items: tlv(tag, b"".join(items)),
        st.sampled_from(CONSTRUCTED_TAGS),
        st.lists(inner, max_size=3),
    )
    return st.one_of(_leaf(), constructed)


@functools.cache
def der_sequences(max_depth: int = 1) -> S[bytes]:
    """A DER SEQUENCE (what certificates, names, keys and CSRs are, to the codec)."""
    return st.lists(der_elements(max_depth), max_size=3).map(
        lambda items: tlv(0x30, b"".join(items))
    )


# --- times -------------------------------------------------------------------------

_ZONES = st.sampled_from(
    [
        datetime.timezone.utc,
        datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
        datetime.timezone(datetime.timedelta(hours=-8)),
    ]
)
_EARLIEST = datetime.datetime(1, 1, 2)
_LATEST = datetime.datetime(9999, 12, 30)


@functools.cache
def generalized_times() -> S[datetime.datetime]:
    """GeneralizedTime as CMP uses it: fractions of a second allowed."""
    return st.datetimes(_EARLIEST, _LATEST, timezones=_ZONES)


@functools.cache
def times() -> S[datetime.datetime]:
    """RFC 5280 Time: whole seconds (UTCTime for 1950..2049, GeneralizedTime otherwise)."""
    return st.datetimes(_EARLIEST, _LATEST, timezones=_ZONES).map(
        lambda d: d.replace(microsecond=0)
    )


# --- PKIX ----------------------------------------------------------------------------


@functools.cache
def algorithm_identifiers() -> S[A.AlgorithmIdentifier]:
    return st.builds(A.AlgorithmIdentifier, oids(), opt(der_elements(1)))


@functools.cache
@st.composite
def bit_strings(draw: Callable[..., Any]) -> A.BitString:
    data = draw(st.binary(max_size=8))
    unused = draw(st.integers(0, 7)) if data else 0
    if unused:
        data = data[:-1] + bytes([data[-1] & (0xFF << unused) & 0xFF])
    return A.BitString(data, unused)


@functools.cache
def general_names() -> S[A.GeneralName]:
    """Every GeneralName alternative (RFC 5280 §4.2.1.6)."""
    gn = A.GeneralName
    return st.one_of(
        st.builds(gn, st.just("otherName"), der_sequences()),
        st.builds(gn, st.just("rfc822Name"), ia5_text),
        st.builds(gn, st.just("dNSName"), ia5_text),
        st.builds(gn, st.just("x400Address"), der_sequences()),
        st.builds(gn, st.just("directoryName"), der_sequences()),
        st.builds(gn, st.just("ediPartyName"), der_sequences()),
        st.builds(gn, st.just("uniformResourceIdentifier"), ia5_text),
        st.builds(gn, st.just("iPAddress"), st.binary(max_size=32)),
        st.builds(gn, st.just("registeredID"), oids()),
    )


# --- CRMF ----------------------------------------------------------------------------


@functools.cache
def attribute_type_and_values() -> S[A.AttributeTypeAndValue]:
    return st.builds(A.AttributeTypeAndValue, oids(), der_elements(1))


@functools.cache
def cert_templates() -> S[A.CertTemplate]:
    return st.builds(
        A.CertTemplate,
        version=opt(int64),
        serial_number=opt(big_ints),
        signing_alg=opt(algorithm_identifiers()),
        issuer=opt(der_sequences()),
        validity=opt(st.builds(A.OptionalValidity, opt(times()), opt(times()))),
        subject=opt(der_sequences()),
        public_key=opt(der_sequences()),
        issuer_uid=opt(bit_strings()),
        subject_uid=opt(bit_strings()),
        extensions=opt(der_sequences()),
    )


@functools.cache
def pk_mac_values() -> S[A.PKMACValue]:
    return st.builds(A.PKMACValue, algorithm_identifiers(), octets)


@functools.cache
def popo_priv_keys() -> S[A.POPOPrivKey]:
    k = A.POPOPrivKey
    return st.one_of(
        st.builds(k, st.just("thisMessage"), bit_strings()),
        st.builds(k, st.just("subsequentMessage"), int64),
        st.builds(k, st.just("dhMAC"), bit_strings()),
        st.builds(k, st.just("agreeMAC"), pk_mac_values()),
        st.builds(k, st.just("encryptedKey"), der_sequences()),
    )


@functools.cache
def popo_signing_keys() -> S[A.POPOSigningKey]:
    auth_info = st.one_of(
        st.builds(A.POPOSigningKeyInputAuthInfo, st.just("sender"), general_names()),
        st.builds(A.POPOSigningKeyInputAuthInfo, st.just("publicKeyMAC"), pk_mac_values()),
    )
    return st.builds(
        A.POPOSigningKey,
        opt(st.builds(A.POPOSigningKeyInput, auth_info, der_sequences())),
        algorithm_identifiers(),
        octets,
    )


@functools.cache
def proofs_of_possession() -> S[A.ProofOfPossession]:
    p = A.ProofOfPossession
    return st.one_of(
        st.just(p("raVerified", None)),
        st.builds(p, st.just("signature"), popo_signing_keys()),
        st.builds(p, st.just("keyEncipherment"), popo_priv_keys()),
        st.builds(p, st.just("keyAgreement"), popo_priv_keys()),
    )


@functools.cache
def cert_req_msgs() -> S[A.CertReqMsg]:
    return st.builds(
        A.CertReqMsg,
        st.builds(
            A.CertRequest, big_ints, cert_templates(), opt(nonempty(attribute_type_and_values()))
        ),
        opt(proofs_of_possession()),
        opt(nonempty(attribute_type_and_values())),
    )


@functools.cache
def encrypted_values() -> S[A.EncryptedValue]:
    alg = opt(algorithm_identifiers())
    return st.builds(A.EncryptedValue, alg, alg, opt(octets), alg, opt(octets), octets)


@functools.cache
def encrypted_keys() -> S[A.EncryptedKey]:
    return st.one_of(
        st.builds(A.EncryptedKey, st.just("encryptedValue"), encrypted_values()),
        st.builds(A.EncryptedKey, st.just("envelopedData"), der_sequences()),
    )


@functools.cache
def publication_infos() -> S[A.PKIPublicationInfo]:
    single = st.builds(A.SinglePubInfo, int64, opt(general_names()))
    return st.builds(A.PKIPublicationInfo, int64, opt(nonempty(single)))


@functools.cache
def cert_ids() -> S[A.CertId]:
    return st.builds(A.CertId, general_names(), big_ints)


# --- CMP -----------------------------------------------------------------------------


@functools.cache
def free_texts() -> S[tuple[str, ...]]:
    return nonempty(utf8_text)


@functools.cache
def status_infos() -> S[A.PKIStatusInfo]:
    return st.builds(A.PKIStatusInfo, int64, opt(free_texts()), opt(fail_infos))


@functools.cache
def certified_key_pairs() -> S[A.CertifiedKeyPair]:
    cert_or_enc = st.one_of(
        st.builds(A.CertOrEncCert, st.just("certificate"), der_sequences()),
        st.builds(A.CertOrEncCert, st.just("encryptedCert"), encrypted_keys()),
    )
    return st.builds(
        A.CertifiedKeyPair, cert_or_enc, opt(encrypted_keys()), opt(publication_infos())
    )


@functools.cache
def cert_rep_messages() -> S[A.CertRepMessage]:
    response = st.builds(
        A.CertResponse, big_ints, status_infos(), opt(certified_key_pairs()), opt(octets)
    )
    return st.builds(A.CertRepMessage, opt(nonempty(der_sequences())), seq_of(response))


@functools.cache
def itavs() -> S[A.InfoTypeAndValue]:
    """InfoTypeAndValue with any OID and any (or no) DER value."""
    return st.builds(A.InfoTypeAndValue, oids(), opt(der_elements(1)))


@functools.cache
def root_ca_key_updates() -> S[A.RootCaKeyUpdateContent]:
    return st.builds(
        A.RootCaKeyUpdateContent, der_sequences(), opt(der_sequences()), opt(der_sequences())
    )


@functools.cache
def ca_key_upd_ann() -> S[A.CAKeyUpdAnnContent]:
    return st.builds(A.CAKeyUpdAnnContent, der_sequences(), der_sequences(), der_sequences())


@functools.cache
def crl_statuses() -> S[A.CRLStatus]:
    source = st.one_of(
        st.builds(A.CRLSource, st.just("dpn"), der_elements(1)),
        st.builds(A.CRLSource, st.just("issuer"), nonempty(general_names())),
    )
    return st.builds(A.CRLStatus, source, opt(times()))


#: infoType name → strategy for the Python value its ASN.1 type decodes to.
ITAV_VALUES: dict[str, S[Any]] = {
    "caProtEncCert": der_sequences(),
    "signKeyPairTypes": seq_of(algorithm_identifiers()),
    "encKeyPairTypes": seq_of(algorithm_identifiers()),
    "preferredSymmAlg": algorithm_identifiers(),
    "caKeyUpdateInfo": ca_key_upd_ann(),
    "currentCRL": der_sequences(),
    "unsupportedOIDs": seq_of(oids()),
    "keyPairParamReq": oids(),
    "keyPairParamRep": algorithm_identifiers(),
    "revPassphrase": encrypted_keys(),
    "confirmWaitTime": generalized_times(),
    "suppLangTags": free_texts(),
    "caCerts": nonempty(der_sequences()),
    "rootCaKeyUpdate": root_ca_key_updates(),
    "certReqTemplate": st.builds(
        A.CertReqTemplateContent, cert_templates(), opt(nonempty(attribute_type_and_values()))
    ),
    "rootCaCert": der_sequences(),
    "certProfile": free_texts(),
    "crlStatusList": nonempty(crl_statuses()),
    "crls": nonempty(der_sequences()),
    "KemCiphertextInfo": st.builds(A.KemCiphertextInfo, algorithm_identifiers(), octets),
}


@functools.cache
@st.composite
def typed_itavs(draw: Callable[..., Any]) -> tuple[str, Any, A.InfoTypeAndValue]:
    """(infoType name, value, InfoTypeAndValue made by make_itav) for the known infoTypes."""
    name = draw(st.sampled_from(sorted(ITAV_VALUES)))
    value = draw(ITAV_VALUES[name])
    return name, value, make_itav(name, value)


@functools.cache
def any_itavs() -> S[A.InfoTypeAndValue]:
    return st.one_of(itavs(), typed_itavs().map(lambda t: t[2]))


@functools.cache
def headers() -> S[A.PKIHeader]:
    return st.builds(
        A.PKIHeader,
        pvno=st.one_of(st.sampled_from([1, 2, 3]), int64),
        sender=general_names(),
        recipient=general_names(),
        message_time=opt(generalized_times()),
        protection_alg=opt(algorithm_identifiers()),
        sender_kid=opt(octets),
        recip_kid=opt(octets),
        transaction_id=opt(st.binary(min_size=16, max_size=16) | octets),
        sender_nonce=opt(st.binary(min_size=16, max_size=16)),
        recip_nonce=opt(st.binary(min_size=16, max_size=16)),
        free_text=opt(free_texts()),
        general_info=opt(nonempty(any_itavs(), 2)),
    )


def _kind(kind: str, value: S[Any]) -> S[A.PKIBody]:
    return value.map(lambda v: A.PKIBody(kind, v))


def _non_nested_bodies() -> dict[str, S[A.PKIBody]]:
    reqs = nonempty(cert_req_msgs(), 2)
    rev_ann = st.builds(
        A.RevAnnContent,
        int64,
        cert_ids(),
        generalized_times(),
        generalized_times(),
        opt(der_sequences()),
    )
    krp = st.builds(
        A.KeyRecRepContent,
        status_infos(),
        opt(der_sequences()),
        opt(nonempty(der_sequences())),
        opt(nonempty(certified_key_pairs(), 2)),
    )
    rp = st.builds(
        A.RevRepContent,
        nonempty(status_infos()),
        opt(nonempty(cert_ids())),
        opt(nonempty(der_sequences())),
    )
    ckuann = st.one_of(
        st.builds(A.CAKeyUpdContent, st.just("cAKeyUpdAnnV2"), ca_key_upd_ann()),
        st.builds(A.CAKeyUpdContent, st.just("cAKeyUpdAnnV3"), root_ca_key_updates()),
    )
    challenge = st.builds(
        A.Challenge, opt(algorithm_identifiers()), octets, octets, opt(der_sequences())
    )
    cert_status = st.builds(
        A.CertStatus, octets, big_ints, opt(status_infos()), opt(algorithm_identifiers())
    )
    error = st.builds(A.ErrorMsgContent, status_infos(), opt(int64), opt(free_texts()))
    table: dict[str, S[Any]] = {
        "ir": reqs, "cr": reqs, "kur": reqs, "krr": reqs, "ccr": reqs,
        "ip": cert_rep_messages(), "cp": cert_rep_messages(), "kup": cert_rep_messages(),
        "ccp": cert_rep_messages(),
        "p10cr": der_sequences(),
        "popdecc": seq_of(challenge),
        "popdecr": seq_of(big_ints),
        "krp": krp,
        "rr": seq_of(st.builds(A.RevDetails, cert_templates(), opt(der_sequences()))),
        "rp": rp,
        "ckuann": ckuann,
        "cann": der_sequences(),
        "rann": rev_ann,
        "crlann": seq_of(der_sequences()),
        "pkiconf": st.none(),
        "genm": seq_of(any_itavs()),
        "genp": seq_of(any_itavs()),
        "error": error,
        "certConf": seq_of(cert_status),
        "pollReq": seq_of(st.builds(A.PollReqEntry, big_ints)),
        "pollRep": seq_of(st.builds(A.PollRepEntry, big_ints, int64, opt(free_texts()))),
    }  # fmt: skip
    return {kind: _kind(kind, value) for kind, value in table.items()}


@functools.cache
def pki_messages(body: S[A.PKIBody] | None = None) -> S[PKIMessage]:
    """PKIMessages built from values (not yet encoded)."""
    return st.builds(
        PKIMessage,
        headers(),
        body if body is not None else bodies(),
        opt(octets),
        seq_of(der_sequences(), max_size=2),
    )


_FLAT = _non_nested_bodies()

#: body kind → strategy for PKIBody of that kind; ``nested`` holds one or two
#: messages whose bodies are not nested themselves (bounded depth).
BODY_STRATEGIES: dict[str, S[A.PKIBody]] = {
    **_FLAT,
    "nested": _kind("nested", nonempty(pki_messages(st.one_of(*_FLAT.values())), 2)),
}
assert set(BODY_STRATEGIES) == set(BODY_TYPES)


@functools.cache
def bodies() -> S[A.PKIBody]:
    return st.one_of(*BODY_STRATEGIES.values())
