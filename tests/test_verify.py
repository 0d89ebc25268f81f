"""Certificate path validation as ``openssl cmp`` does it (cmp.verify).

Each test builds its certificates with ``cryptography``; the last ones
compare every outcome with ``openssl verify`` on OpenSSL's own CMP test
credentials (``../shared/conformance/openssl/mock`` and ``vectors``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import CONFORMANCE_DIR
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cmp.credentials import load_cert, load_certs, load_crls
from cmp.errors import CMPError
from cmp.verify import (
    PURPOSES,
    ChainValidator,
    VerificationError,
    VerifyOptions,
    VerifyOptionsError,
    check_revocation,
    key_usage_allows_signing,
    validate_chain,
)

NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)


def _have(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


HAVE_PYHANKO = _have("pyhanko_certvalidator")
needs_pyhanko = pytest.mark.skipif(
    not HAVE_PYHANKO,
    reason="pyhanko-certvalidator (the fallback for these algorithms) not installed",
)
MOCK = CONFORMANCE_DIR / "mock"
VECTORS = CONFORMANCE_DIR / "vectors"

Key = Any  # a private key of one of the kinds below


def new_key(kind: str) -> Key:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def key_usage(**bits: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    flags.update(bits)
    return x509.KeyUsage(**flags)


CA_USAGE = key_usage(key_cert_sign=True, crl_sign=True)


def issue(
    subject: x509.Name,
    key: Key,
    issuer: x509.Certificate | None = None,
    issuer_key: Key | None = None,
    *,
    ca: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    basic_constraints: x509.BasicConstraints | bool | None = True,
    usage: x509.KeyUsage | bool | None = True,
    signing_key: Key | None = None,
) -> x509.Certificate:
    """A certificate; self-signed when ``issuer`` is None. ``signing_key``
    signs instead of the issuer's key (a wrong signature, right names)."""
    issuer_key = issuer_key if issuer_key is not None else key
    issuer_name = issuer.subject if issuer is not None else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 30 * DAY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if basic_constraints is True:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    elif isinstance(basic_constraints, x509.BasicConstraints):
        builder = builder.add_extension(basic_constraints, True)
    if usage is True and ca:
        builder = builder.add_extension(CA_USAGE, True)
    elif isinstance(usage, x509.KeyUsage):
        builder = builder.add_extension(usage, True)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    signer = signing_key if signing_key is not None else issuer_key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm)


@dataclass
class Pki:
    """root -> inter -> leaf, all keys of one kind."""

    kind: str = "ec"
    root_key: Key = None
    inter_key: Key = None
    leaf_key: Key = None
    root: x509.Certificate = field(init=False)
    inter: x509.Certificate = field(init=False)
    leaf: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.root_key = self.root_key or new_key(self.kind)
        self.inter_key = self.inter_key or new_key(self.kind)
        self.leaf_key = self.leaf_key or new_key(self.kind)
        self.root = issue(name("Root"), self.root_key, ca=True, not_before=NOW - 3650 * DAY)
        self.inter = self.issue_ca("Intermediate", self.inter_key)
        self.leaf = self.issue_leaf()

    def issue_ca(self, common_name: str, key: Key, **kwargs: Any) -> x509.Certificate:
        kwargs.setdefault("not_before", NOW - 3000 * DAY)
        return issue(name(common_name), key, self.root, self.root_key, ca=True, **kwargs)

    def issue_leaf(self, **kwargs: Any) -> x509.Certificate:
        return issue(name("Leaf"), self.leaf_key, self.inter, self.inter_key, **kwargs)

    def crl(
        self,
        issuer: x509.Certificate,
        key: Key,
        revoked: tuple[x509.Certificate, ...] = (),
        *,
        last_update: dt.datetime | None = None,
        next_update: dt.datetime | None = None,
    ) -> x509.CertificateRevocationList:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(last_update or NOW - DAY)
            .next_update(next_update or NOW + 7 * DAY)
        )
        for cert in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(NOW - DAY)
                .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), False)
                .build()
            )
        algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        return builder.sign(key, algorithm)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki("ec")


def fails(reason: str, *args: Any, **kwargs: Any) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        validate_chain(*args, **kwargs)
    assert info.value.reason == reason, str(info.value)
    return info.value


def block_pyhanko(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the pyhanko-certvalidator fallback unavailable, as on a plain install."""
    monkeypatch.setitem(sys.modules, "pyhanko_certvalidator", None)


# -- chains -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec", "rsa", pytest.param("ed25519", marks=needs_pyhanko)])
def test_root_intermediate_leaf_chain_validates(kind: str) -> None:
    p = Pki(kind)
    assert validate_chain(p.leaf, [p.root], [p.inter]) == [p.leaf, p.inter, p.root]


def test_ed25519_leaf_under_ecdsa_cas_needs_no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    block_pyhanko(monkeypatch)
    p = Pki("ec", leaf_key=ed25519.Ed25519PrivateKey.generate())
    assert validate_chain(p.leaf, [p.root], [p.inter]) == [p.leaf, p.inter, p.root]


def test_ed25519_cas_without_fallback_fail_naming_the_algorithm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    block_pyhanko(monkeypatch)
    p = Pki("ed25519")
    error = fails("unsupported signature or public key algorithm", p.leaf, [p.root], [p.inter])
    assert "Ed25519" in str(error) and "pyhanko-certvalidator" in str(error)


@needs_pyhanko
def test_fallback_runs_inside_an_event_loop() -> None:
    p = Pki("ed25519")

    async def validate() -> list[x509.Certificate]:
        return validate_chain(p.leaf, [p.root], [p.inter])

    assert asyncio.run(validate()) == [p.leaf, p.inter, p.root]


def test_missing_intermediate_is_unable_to_get_local_issuer_certificate(pki: Pki) -> None:
    error = fails("unable to get local issuer certificate", pki.leaf, [pki.root])
    assert error.depth == 0 and error.cert == pki.leaf
    assert "depth 0" in str(error) and "CN=Leaf" in str(error)


def test_missing_intermediate_given_as_untrusted_validates(pki: Pki) -> None:
    assert validate_chain(pki.leaf, [pki.root], [pki.inter])[1] == pki.inter


def test_trusted_intermediate_serves_as_chain_element(pki: Pki) -> None:
    assert validate_chain(pki.leaf, [pki.root, pki.inter]) == [pki.leaf, pki.inter, pki.root]


def test_error_is_a_cmp_error(pki: Pki) -> None:
    with pytest.raises(CMPError):
        validate_chain(pki.leaf, [pki.root])


def test_no_trusted_certificates_at_all(pki: Pki) -> None:
    fails("unable to get local issuer certificate", pki.leaf, [], [pki.inter])


# -- time ------------------------------------------------------------------------------


def test_expired_leaf_is_certificate_has_expired(pki: Pki) -> None:
    expired = pki.issue_leaf(not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    error = fails("certificate has expired", expired, [pki.root], [pki.inter])
    assert error.depth == 0


def test_future_leaf_is_certificate_is_not_yet_valid(pki: Pki) -> None:
    future = pki.issue_leaf(not_before=NOW + DAY, not_after=NOW + 10 * DAY)
    fails("certificate is not yet valid", future, [pki.root], [pki.inter])


def test_expired_leaf_passes_with_no_check_time(pki: Pki) -> None:
    expired = pki.issue_leaf(not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    options = VerifyOptions(no_check_time=True)
    assert validate_chain(expired, [pki.root], [pki.inter], options)[0] == expired


def test_expired_leaf_passes_with_attime_in_its_validity(pki: Pki) -> None:
    expired = pki.issue_leaf(not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    options = VerifyOptions(attime=NOW - 5 * DAY)
    assert validate_chain(expired, [pki.root], [pki.inter], options)[0] == expired


def test_naive_attime_is_utc(pki: Pki) -> None:
    expired = pki.issue_leaf(not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    naive = (NOW - 5 * DAY).replace(tzinfo=None)
    assert validate_chain(expired, [pki.root], [pki.inter], VerifyOptions(attime=naive))


def test_attime_outside_validity_fails(pki: Pki) -> None:
    fails(
        "certificate has expired",
        pki.leaf,
        [pki.root],
        [pki.inter],
        VerifyOptions(attime=NOW + 365 * DAY),
    )


def test_attime_wins_over_no_check_time(pki: Pki) -> None:
    options = VerifyOptions(attime=NOW + 365 * DAY, no_check_time=True)
    fails("certificate has expired", pki.leaf, [pki.root], [pki.inter], options)


def test_expired_trust_anchor_fails_and_passes_with_no_check_time() -> None:
    p = Pki("ec")
    old_root = issue(
        name("Root"), p.root_key, ca=True, not_before=NOW - 30 * DAY, not_after=NOW - DAY
    )
    leaf = p.issue_leaf(not_before=NOW - 20 * DAY, not_after=NOW - 2 * DAY)
    inter = p.issue_ca("Intermediate", p.inter_key, not_before=NOW - 25 * DAY)
    error = fails("certificate has expired", leaf, [old_root], [inter])
    assert error.depth == 2 and error.cert == old_root
    chain = validate_chain(leaf, [old_root], [inter], VerifyOptions(no_check_time=True))
    assert chain == [leaf, inter, old_root]


@needs_pyhanko
def test_no_check_time_with_disjoint_validity_periods() -> None:
    """OpenSSL skips time checks; cryptography cannot, the fallback can."""
    p = Pki("ec")
    old_root = issue(
        name("Root"), p.root_key, ca=True, not_before=NOW - 30 * DAY, not_after=NOW - 20 * DAY
    )
    assert validate_chain(p.leaf, [old_root], [p.inter], VerifyOptions(no_check_time=True))


# -- signatures, anchors, partial chains ------------------------------------------------


def test_wrong_signature_is_certificate_signature_failure(pki: Pki) -> None:
    forged = pki.issue_leaf(signing_key=new_key("ec"))
    error = fails("certificate signature failure", forged, [pki.root], [pki.inter])
    assert error.depth == 0


def test_partial_chain_accepts_trusted_intermediate_as_anchor(pki: Pki) -> None:
    chain = validate_chain(pki.leaf, [pki.inter], options=VerifyOptions(partial_chain=True))
    assert chain == [pki.leaf, pki.inter]


def test_without_partial_chain_intermediate_anchor_is_unable_to_get_issuer(pki: Pki) -> None:
    error = fails("unable to get issuer certificate", pki.leaf, [pki.inter])
    assert error.depth == 1 and error.cert == pki.inter


def test_partial_chain_accepts_the_trusted_leaf_itself(pki: Pki) -> None:
    options = VerifyOptions(partial_chain=True)
    assert validate_chain(pki.leaf, [pki.leaf], options=options) == [pki.leaf]


def test_trusted_non_self_signed_leaf_needs_partial_chain(pki: Pki) -> None:
    fails("unable to get local issuer certificate", pki.leaf, [pki.leaf])


def test_self_signed_trusted_certificate_validates_alone(pki: Pki) -> None:
    assert validate_chain(pki.root, [pki.root]) == [pki.root]


def test_untrusted_self_signed_certificate_is_self_signed_certificate(pki: Pki) -> None:
    stranger = issue(name("Stranger"), new_key("ec"))
    fails("self-signed certificate", stranger, [pki.root])


def test_untrusted_root_in_chain_is_self_signed_certificate_in_chain(pki: Pki) -> None:
    error = fails(
        "self-signed certificate in certificate chain", pki.leaf, [], [pki.inter, pki.root]
    )
    assert error.depth == 2


def test_verify_depth_too_small_is_certificate_chain_too_long(pki: Pki) -> None:
    error = fails(
        "certificate chain too long",
        pki.leaf,
        [pki.root],
        [pki.inter],
        VerifyOptions(verify_depth=0),
    )
    assert error.depth == 1
    assert validate_chain(pki.leaf, [pki.root], [pki.inter], VerifyOptions(verify_depth=1))


def test_intermediate_that_is_no_ca_is_invalid_ca_certificate(pki: Pki) -> None:
    not_ca = pki.issue_ca("Intermediate", pki.inter_key, basic_constraints=False, usage=False)
    fails("invalid CA certificate", pki.leaf, [pki.root], [not_ca])
    ee = issue(name("Intermediate"), pki.inter_key, pki.root, pki.root_key)
    fails("invalid CA certificate", pki.leaf, [pki.root], [ee])


def test_ca_key_usage_without_keycertsign_is_refused(pki: Pki) -> None:
    no_sign = pki.issue_ca("Intermediate", pki.inter_key, usage=key_usage(crl_sign=True))
    error = fails("key usage does not include certificate signing", pki.leaf, [pki.root], [no_sign])
    assert error.depth == 1


def test_path_length_constraint(pki: Pki) -> None:
    sub_key = new_key("ec")
    limited = pki.issue_ca(
        "Intermediate",
        pki.inter_key,
        basic_constraints=x509.BasicConstraints(ca=True, path_length=0),
    )
    sub = issue(name("Sub"), sub_key, limited, pki.inter_key, ca=True)
    leaf = issue(name("Leaf"), new_key("ec"), sub, sub_key)
    fails("path length constraint exceeded", leaf, [pki.root], [limited, sub])


# -- extensions and purposes --------------------------------------------------------------


def test_leaf_without_eku_is_accepted(pki: Pki) -> None:
    assert validate_chain(pki.leaf, [pki.root], [pki.inter])


def test_leaf_with_only_email_protection_eku_is_accepted(pki: Pki) -> None:
    """OpenSSL's default purpose for CMP is "any"."""
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION])
    leaf = pki.issue_leaf(extensions=((eku, False),))
    assert validate_chain(leaf, [pki.root], [pki.inter])[0] == leaf
    options = VerifyOptions(purpose="any")
    assert validate_chain(leaf, [pki.root], [pki.inter], options)


def test_purpose_sslclient_needs_client_auth_eku_if_any(pki: Pki) -> None:
    email = pki.issue_leaf(
        extensions=((x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),)
    )
    client = pki.issue_leaf(
        extensions=((x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),)
    )
    options = VerifyOptions(purpose="sslclient")
    fails("unsupported certificate purpose", email, [pki.root], [pki.inter], options)
    assert validate_chain(client, [pki.root], [pki.inter], options)
    assert validate_chain(pki.leaf, [pki.root], [pki.inter], options)


def test_purpose_sslserver_checks_leaf_key_usage(pki: Pki) -> None:
    crl_only = pki.issue_leaf(usage=key_usage(crl_sign=True))
    options = VerifyOptions(purpose="SSLSERVER")
    error = fails("unsupported certificate purpose", crl_only, [pki.root], [pki.inter], options)
    assert error.depth == 0


def test_purpose_checks_eku_of_ca_certificates_too(pki: Pki) -> None:
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING])
    inter = pki.issue_ca("Intermediate", pki.inter_key, extensions=((eku, False),))
    options = VerifyOptions(purpose="smimesign")
    error = fails("unsupported certificate purpose", pki.leaf, [pki.root], [inter], options)
    assert error.depth == 1
    assert validate_chain(pki.leaf, [pki.root], [inter])


def test_purpose_timestampsign_needs_critical_timestamping_eku(pki: Pki) -> None:
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
    tsa = pki.issue_leaf(extensions=((eku, True),))
    options = VerifyOptions(purpose="timestampsign")
    assert validate_chain(tsa, [pki.root], [pki.inter], options)
    fails("unsupported certificate purpose", pki.leaf, [pki.root], [pki.inter], options)


def test_unknown_purpose_is_refused() -> None:
    with pytest.raises(VerifyOptionsError, match="unknown purpose 'mail'"):
        VerifyOptions(purpose="mail")
    assert set(PURPOSES) >= {"any", "sslclient", "sslserver", "smimesign", "crlsign"}


def test_unknown_critical_extension_is_unhandled_critical_extension(pki: Pki) -> None:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    leaf = pki.issue_leaf(extensions=((odd, True),))
    error = fails("unhandled critical extension", leaf, [pki.root], [pki.inter])
    assert error.depth == 0


def test_critical_certificate_policies_are_handled_as_by_openssl(pki: Pki) -> None:
    policies = x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"), None)]
    )
    inter = pki.issue_ca("Intermediate", pki.inter_key, extensions=((policies, True),))
    leaf = pki.issue_leaf(extensions=((policies, True),))
    assert validate_chain(leaf, [pki.root], [inter])


def test_ignore_critical_accepts_known_but_unhandled_types(pki: Pki) -> None:
    ian = x509.IssuerAlternativeName([x509.DNSName("ca.example")])
    leaf = pki.issue_leaf(extensions=((ian, True),))
    fails("unhandled critical extension", leaf, [pki.root], [pki.inter])
    assert validate_chain(leaf, [pki.root], [pki.inter], VerifyOptions(ignore_critical=True))


def test_x509_strict_wants_critical_basic_constraints_in_cas(pki: Pki) -> None:
    lax = issue(
        name("Intermediate"),
        pki.inter_key,
        pki.root,
        pki.root_key,
        basic_constraints=False,
        extensions=((x509.BasicConstraints(ca=True, path_length=None), False),),
    )
    assert validate_chain(pki.leaf, [pki.root], [lax])
    error = fails(
        "Basic Constraints of CA cert not marked critical",
        pki.leaf,
        [pki.root],
        [lax],
        VerifyOptions(x509_strict=True),
    )
    assert error.depth == 1


def test_x509_strict_accepts_a_conforming_chain(pki: Pki) -> None:
    assert validate_chain(pki.leaf, [pki.root], [pki.inter], VerifyOptions(x509_strict=True))


def test_check_ss_sig_checks_the_anchor_self_signature(pki: Pki) -> None:
    fake_root = issue(name("Root"), pki.root_key, ca=True, signing_key=new_key("ec"))
    assert validate_chain(pki.leaf, [fake_root], [pki.inter])
    error = fails(
        "certificate signature failure",
        pki.leaf,
        [fake_root],
        [pki.inter],
        VerifyOptions(check_ss_sig=True),
    )
    assert error.depth == 2


def test_key_usage_allows_signing(pki: Pki) -> None:
    assert key_usage_allows_signing(pki.leaf)  # no keyUsage at all
    signer = pki.issue_leaf(usage=key_usage(digital_signature=True))
    encipher = pki.issue_leaf(usage=key_usage(key_encipherment=True))
    assert key_usage_allows_signing(signer)
    assert not key_usage_allows_signing(encipher)


def test_issuer_name_differing_only_in_string_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 5280 §7.1 name matching, as OpenSSL does (Insta's CMP test CA needs it)."""
    root_key, leaf_key = new_key("ec"), new_key("ec")
    printable = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Demo CA", _type=_ASN1Type.PrintableString)]
    )
    utf8 = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Demo CA", _type=_ASN1Type.UTF8String)]
    )
    root = issue(printable, root_key, ca=True)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("Leaf"))
        .issuer_name(utf8)
        .public_key(leaf_key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .sign(root_key, hashes.SHA256())
    )
    if HAVE_PYHANKO:
        assert validate_chain(leaf, [root]) == [leaf, root]
    block_pyhanko(monkeypatch)
    error = fails("unable to get local issuer certificate", leaf, [root])
    assert "normalisation" in str(error)


def test_chain_validator_is_reusable(pki: Pki) -> None:
    validator = ChainValidator([pki.root], VerifyOptions())
    other = pki.issue_leaf()
    assert validator.validate(pki.leaf, [pki.inter])[0] == pki.leaf
    assert validator.validate(other, [pki.inter])[0] == other
    with pytest.raises(VerificationError):
        validator.validate(other)


# -- CRLs ---------------------------------------------------------------------------------


def test_crl_check_revoked_leaf_is_certificate_revoked(pki: Pki) -> None:
    crl = pki.crl(pki.inter, pki.inter_key, (pki.leaf,))
    options = VerifyOptions(crl_check=True, crls=[crl])
    error = fails("certificate revoked", pki.leaf, [pki.root], [pki.inter], options)
    assert error.depth == 0 and "key_compromise" in str(error)


def test_crl_check_unrevoked_leaf_passes(pki: Pki) -> None:
    other = pki.issue_leaf()
    crl = pki.crl(pki.inter, pki.inter_key, (other,))
    options = VerifyOptions(crl_check=True, crls=[crl])
    assert validate_chain(pki.leaf, [pki.root], [pki.inter], options)


def test_crl_check_without_crl_is_unable_to_get_certificate_crl(pki: Pki) -> None:
    options = VerifyOptions(crl_check=True)
    fails("unable to get certificate CRL", pki.leaf, [pki.root], [pki.inter], options)


def test_crl_check_looks_at_the_leaf_only_and_crl_check_all_at_every_certificate(
    pki: Pki,
) -> None:
    leaf_crl = pki.crl(pki.inter, pki.inter_key)
    root_crl = pki.crl(pki.root, pki.root_key, (pki.inter,))
    assert validate_chain(
        pki.leaf, [pki.root], [pki.inter], VerifyOptions(crl_check=True, crls=[leaf_crl])
    )
    fails(
        "unable to get certificate CRL",
        pki.leaf,
        [pki.root],
        [pki.inter],
        VerifyOptions(crl_check_all=True, crls=[leaf_crl]),
    )
    error = fails(
        "certificate revoked",
        pki.leaf,
        [pki.root],
        [pki.inter],
        VerifyOptions(crl_check_all=True, crls=[leaf_crl, root_crl]),
    )
    assert error.depth == 1


def test_crl_check_all_needs_the_roots_own_crl(pki: Pki) -> None:
    crls = [pki.crl(pki.inter, pki.inter_key), pki.crl(pki.root, pki.root_key)]
    options = VerifyOptions(crl_check_all=True, crls=crls)
    assert validate_chain(pki.leaf, [pki.root], [pki.inter], options)
    fails(
        "unable to get certificate CRL",
        pki.leaf,
        [pki.root],
        [pki.inter],
        VerifyOptions(crl_check_all=True, crls=crls[:1]),
    )


def test_crl_signed_by_another_key_is_crl_signature_failure(pki: Pki) -> None:
    crl = pki.crl(pki.inter, new_key("ec"))
    options = VerifyOptions(crl_check=True, crls=[crl])
    fails("CRL signature failure", pki.leaf, [pki.root], [pki.inter], options)


def test_expired_crl_is_crl_has_expired(pki: Pki) -> None:
    crl = pki.crl(pki.inter, pki.inter_key, last_update=NOW - 9 * DAY, next_update=NOW - DAY)
    options = VerifyOptions(crl_check=True, crls=[crl])
    fails("CRL has expired", pki.leaf, [pki.root], [pki.inter], options)
    lenient = VerifyOptions(crl_check=True, crls=[crl], no_check_time=True)
    assert validate_chain(pki.leaf, [pki.root], [pki.inter], lenient)


def test_future_crl_is_crl_is_not_yet_valid(pki: Pki) -> None:
    crl = pki.crl(pki.inter, pki.inter_key, last_update=NOW + DAY, next_update=NOW + 9 * DAY)
    options = VerifyOptions(crl_check=True, crls=[crl])
    fails("CRL is not yet valid", pki.leaf, [pki.root], [pki.inter], options)


def test_newest_valid_crl_decides(pki: Pki) -> None:
    old = pki.crl(pki.inter, pki.inter_key, last_update=NOW - 3 * DAY)
    new = pki.crl(pki.inter, pki.inter_key, (pki.leaf,), last_update=NOW - DAY)
    options = VerifyOptions(crl_check=True, crls=[old, new])
    fails("certificate revoked", pki.leaf, [pki.root], [pki.inter], options)


def test_crl_issuer_without_crl_sign_is_refused() -> None:
    p = Pki("ec")
    inter = p.issue_ca("Intermediate", p.inter_key, usage=key_usage(key_cert_sign=True))
    leaf = p.issue_leaf()
    crl = p.crl(inter, p.inter_key)
    options = VerifyOptions(crl_check=True, crls=[crl])
    fails("key usage does not include CRL signing", leaf, [p.root], [inter], options)


def test_check_revocation_on_its_own(pki: Pki) -> None:
    crl = pki.crl(pki.inter, pki.inter_key, (pki.leaf,))
    with pytest.raises(VerificationError, match="certificate revoked"):
        check_revocation([pki.leaf, pki.inter, pki.root], [crl])
    check_revocation([pki.inter, pki.root], [pki.crl(pki.root, pki.root_key)])


# -- OpenSSL's CMP test credentials ----------------------------------------------------------

needs_mock = pytest.mark.skipif(
    not MOCK.is_dir(), reason=f"OpenSSL's CMP test credentials not found at {MOCK}"
)


def _openssl_verify(openssl: str, cwd: Path, args: list[str]) -> tuple[bool, str]:
    run = subprocess.run(
        [openssl, "verify", *args], cwd=cwd, capture_output=True, text=True, timeout=30
    )
    errors = [
        line.split(": ", 1)[1]
        for line in (run.stdout + run.stderr).splitlines()
        if line.startswith("error ") and "depth lookup:" in line
    ]
    return run.returncode == 0, errors[0] if errors else ""


def _cert_files(directory: Path) -> list[str]:
    return sorted(
        p.name
        for p in list(directory.glob("*.crt")) + list(directory.glob("*.pem"))
        if b"-----BEGIN CERTIFICATE-----" in p.read_bytes()
    )


OPTION_SETS = {
    "default": ([], {}),
    "partial_chain": (["-partial_chain"], {"partial_chain": True}),
    "no_check_time": (["-no_check_time"], {"no_check_time": True}),
}


def _compare_with_openssl(
    openssl: str,
    directory: Path,
    trusted_files: list[str],
    untrusted_files: list[str],
    option_set: str,
) -> list[str]:
    """Every (trusted, untrusted, certificate) case where cmp.verify and
    ``openssl verify`` disagree on the outcome or the reason."""
    flags, options = OPTION_SETS[option_set]
    differences = []
    for trusted in trusted_files:
        for untrusted in untrusted_files:
            for leaf in _cert_files(directory):
                args = [*flags, "-CAfile", trusted, "-untrusted", untrusted, leaf]
                ok, reason = _openssl_verify(openssl, directory, args)
                try:
                    validate_chain(
                        load_cert(directory / leaf),
                        load_certs(directory / trusted),
                        load_certs(directory / untrusted),
                        VerifyOptions(**options),
                    )
                    ours_ok, ours = True, ""
                except VerificationError as exc:
                    ours_ok, ours = False, exc.reason
                if ok != ours_ok or reason != ours:
                    differences.append(
                        f"{' '.join(args)}: openssl {ok} {reason!r}, cmpkit {ours_ok} {ours!r}"
                    )
    return differences


MOCK_TRUSTED = ["root.crt", "trusted.crt", "root_expired.crt", "signer_root.crt"]
MOCK_UNTRUSTED = ["issuing.crt", "issuing_expired.crt", "signer.crt"]


@needs_mock
@needs_pyhanko
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("option_set", sorted(OPTION_SETS))
def test_mock_credentials_validate_exactly_as_openssl_verify(
    openssl_bin: str, option_set: str
) -> None:
    """Every certificate of OpenSSL's mock set, against each trust anchor file and
    intermediates file of the set: the same verdict and reason as openssl."""
    assert _compare_with_openssl(openssl_bin, MOCK, MOCK_TRUSTED, MOCK_UNTRUSTED, option_set) == []


@needs_mock
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("option_set", sorted(OPTION_SETS))
def test_without_fallback_never_more_lenient_than_openssl(
    openssl_bin: str, option_set: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pyhanko-certvalidator some chains OpenSSL accepts are refused
    (SHA-1, Ed25519 CAs, ...), each with a reason; none is accepted that
    OpenSSL refuses."""
    block_pyhanko(monkeypatch)
    for difference in _compare_with_openssl(
        openssl_bin, MOCK, MOCK_TRUSTED, MOCK_UNTRUSTED, option_set
    ):
        assert "openssl True" in difference and "cmpkit False" in difference, difference


@pytest.mark.skipif(not VECTORS.is_dir(), reason=f"OpenSSL's CMP test vectors not at {VECTORS}")
@needs_pyhanko
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("folder", ["vfy_data", "protect_data"])
def test_vector_credentials_validate_exactly_as_openssl_verify(
    openssl_bin: str, folder: str
) -> None:
    """OpenSSL's vfy/protect test chains: SHA-1 and brainpool-free EC CAs, a
    CA name in PrintableString referenced in UTF8String, expired end entities."""
    directory = VECTORS / folder
    trusted = ["Root_CA.crt", "Intermediate_CA.crt"] + (
        ["insta_ca.cert.pem"] if folder == "vfy_data" else []
    )
    untrusted = ["Intermediate_CA.crt", "Root_CA.crt"]
    for option_set in sorted(OPTION_SETS):
        assert _compare_with_openssl(openssl_bin, directory, trusted, untrusted, option_set) == []


@needs_mock
def test_signer_chain_validates_against_root_with_issuing_untrusted() -> None:
    signer = load_cert(MOCK / "signer.crt", desc="CMP client certificate")
    chain = validate_chain(signer, load_certs(MOCK / "root.crt"), load_certs(MOCK / "issuing.crt"))
    assert [c.subject.rfc4514_string().split(",")[0] for c in chain] == [
        "CN=leaf",
        "CN=subinterCA",
        "CN=interCA",
        "CN=rootCA",
    ]


@needs_mock
def test_server_certificate_chains_to_its_own_root_only() -> None:
    server = load_cert(MOCK / "server.crt")
    fails(
        "unable to get local issuer certificate",
        server,
        load_certs(MOCK / "root.crt"),
        load_certs(MOCK / "issuing.crt"),
    )
    assert validate_chain(server, load_certs(MOCK / "trusted.crt"))[-1] == load_cert(
        MOCK / "trusted.crt"
    )


@needs_mock
@pytest.mark.parametrize("crl_file", ["newcrl.pem", "oldcrl.pem"])
def test_mock_crls_as_openssl_crl_check(crl_file: str) -> None:
    signer = load_cert(MOCK / "signer.crt")
    trusted, untrusted = load_certs(MOCK / "root.crt"), load_certs(MOCK / "issuing.crt")
    crls = load_crls(str(MOCK / crl_file))
    assert validate_chain(signer, trusted, untrusted, VerifyOptions(crl_check=True, crls=crls))
    error = fails(
        "unable to get certificate CRL",
        signer,
        trusted,
        untrusted,
        VerifyOptions(crl_check_all=True, crls=crls),
    )
    assert error.depth == 1
