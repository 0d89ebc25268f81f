"""Facts computed once per certificate (cmp.certinfo) and the path memo of
cmp.verify.ChainValidator: the same answers as computing afresh, bounded, and
never a path outside the validity periods it was built for."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from test_verify import DAY, NOW, Pki, issue, name

from cmp import certinfo
from cmp.names import name_from_der
from cmp.verify import ChainValidator, VerificationError, VerifyOptions

DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki("ec")


def test_der_is_the_certificates_encoding(pki: Pki) -> None:
    assert certinfo.der(pki.leaf) == pki.leaf.public_bytes(DER)
    assert certinfo.der(pki.leaf) is certinfo.der(pki.leaf)


def test_load_der_gives_the_same_object_for_the_same_bytes(pki: Pki) -> None:
    data = pki.inter.public_bytes(DER)
    first = certinfo.load_der(data)
    assert certinfo.load_der(bytes(bytearray(data))) is first
    assert first == pki.inter


def test_load_der_refuses_what_is_no_certificate() -> None:
    with pytest.raises(ValueError):
        certinfo.load_der(b"\x30\x03\x02\x01\x01")


def test_key_spki_of_private_and_public_key_agree(pki: Pki) -> None:
    expected = pki.leaf_key.public_key().public_bytes(DER, SPKI)
    assert certinfo.key_spki(pki.leaf_key) == expected
    assert certinfo.key_spki(pki.leaf_key.public_key()) == expected
    assert certinfo.spki(pki.leaf) == expected


def test_subject_key_id_and_its_absence(pki: Pki) -> None:
    ski = pki.leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert certinfo.subject_key_id(pki.leaf) == ski
    key = ec.generate_private_key(ec.SECP256R1())
    bare = (
        x509.CertificateBuilder()
        .subject_name(name("bare"))
        .issuer_name(name("bare"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .sign(key, hashes.SHA256())
    )
    assert certinfo.subject_key_id(bare) is None


def test_verifies_itself_checks_the_signature(pki: Pki) -> None:
    assert certinfo.verifies_itself(pki.root)
    assert not certinfo.verifies_itself(pki.inter)
    other = ec.generate_private_key(ec.SECP256R1())
    forged = issue(name("Root"), pki.root_key, signing_key=other)  # same name, wrong signature
    assert not certinfo.verifies_itself(forged)


def test_name_from_der_is_shared_and_keeps_its_encoding(pki: Pki) -> None:
    data = pki.leaf.subject.public_bytes()
    parsed = name_from_der(data)
    assert name_from_der(bytes(bytearray(data))) is parsed
    assert certinfo.name_der(parsed) == data


def test_tables_stay_bounded(monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    monkeypatch.setattr(certinfo, "MAX_CACHED", 8)
    key = ec.generate_private_key(ec.SECP256R1())
    for i in range(40):
        cert = issue(name(f"n{i}"), key)
        certinfo.load_der(cert.public_bytes(DER))
        certinfo.der(cert)
    assert len(certinfo._facts.entries) <= 8
    assert len(certinfo._parsed.entries) <= 8
    assert certinfo.der(pki.leaf) == pki.leaf.public_bytes(DER)  # evicted entries recomputed


def _count_builds(validator: ChainValidator, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    builds: list[Any] = []
    real = validator._build

    def counting(job: Any) -> list[x509.Certificate]:
        builds.append(job)
        return real(job)

    monkeypatch.setattr(validator, "_build", counting)
    return builds


def test_path_is_built_once_for_the_same_certificate_and_pool(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    validator = ChainValidator([pki.root])
    builds = _count_builds(validator, monkeypatch)
    first = validator.validate(pki.leaf, [pki.inter])
    second = validator.validate(pki.leaf, [pki.inter])
    assert first == second == [pki.leaf, pki.inter, pki.root]
    assert len(builds) == 1
    second.clear()  # the caller's copy; the memo keeps its own
    assert validator.validate(pki.leaf, [pki.inter]) == first


def test_the_same_objects_again_find_their_path_without_reading_der(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    validator = ChainValidator([pki.root])
    first = validator.validate(pki.leaf, [pki.inter])
    reads: list[object] = []
    for fact in ("der", "readable_der", "unreadable"):
        real = getattr(certinfo, fact)
        monkeypatch.setattr(certinfo, fact, lambda c, _r=real: reads.append(c) or _r(c))
    assert validator.validate(pki.leaf, [pki.inter]) == first
    assert reads == []
    # equal certificates that are other objects take the DER way, to the same path
    leaf = x509.load_der_x509_certificate(pki.leaf.public_bytes(DER))
    assert validator.validate(leaf, [pki.inter]) == [leaf, pki.inter, pki.root]
    assert reads
    # and a different pool is no hit
    with pytest.raises(VerificationError):
        validator.validate(pki.leaf, [])


def test_memo_is_per_pool(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    validator = ChainValidator([pki.root])
    validator.validate(pki.leaf, [pki.inter])
    with pytest.raises(VerificationError):
        validator.validate(pki.leaf, [])  # no intermediate this time: no path


def test_remembered_path_is_not_used_outside_its_validity(pki: Pki) -> None:
    leaf = pki.issue_leaf(not_after=NOW + 2 * DAY)
    options = VerifyOptions()
    validator = ChainValidator([pki.root], options)
    validator.validate(leaf, [pki.inter])
    options.attime = NOW + 3 * DAY  # after the leaf expired
    with pytest.raises(VerificationError, match="expired"):
        validator.validate(leaf, [pki.inter])
    options.attime = NOW - 5 * DAY  # before the leaf was valid
    with pytest.raises(VerificationError):
        validator.validate(leaf, [pki.inter])


def test_failures_are_not_remembered(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    options = VerifyOptions(attime=NOW + 40 * DAY)  # leaf expired
    validator = ChainValidator([pki.root], options)
    with pytest.raises(VerificationError):
        validator.validate(pki.leaf, [pki.inter])
    options.attime = None
    assert validator.validate(pki.leaf, [pki.inter])[0] == pki.leaf


def test_memo_is_bounded(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    import cmp.verify as verify

    monkeypatch.setattr(verify, "_MEMO_SIZE", 3)
    validator = ChainValidator([pki.root])
    for i in range(6):
        leaf = pki.issue_leaf(not_after=NOW + (10 + i) * DAY)
        validator.validate(leaf, [pki.inter])
    assert len(validator._memo) == 3


def test_checks_after_the_path_still_run_on_a_remembered_path(pki: Pki) -> None:
    revoked_leaf = pki.issue_leaf()
    options = VerifyOptions()
    validator = ChainValidator([pki.root], options)
    validator.validate(revoked_leaf, [pki.inter])
    options.crls = [pki.crl(pki.inter, pki.inter_key, (revoked_leaf,))]
    options.crl_check = True
    with pytest.raises(VerificationError, match="revoked"):
        validator.validate(revoked_leaf, [pki.inter])


def test_tables_stay_within_their_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Certificates arrive before they are authenticated: big ones must not pin memory.
    monkeypatch.setattr(certinfo, "MAX_CACHED_BYTES", 4000)
    key = ec.generate_private_key(ec.SECP256R1())
    for i in range(30):
        cert = issue(name(f"big{i}" + "x" * 50), key)
        certinfo.load_der(cert.public_bytes(DER))
        assert certinfo._parsed.bytes <= 4000
        assert certinfo._facts.bytes <= 4000
    assert 0 < len(certinfo._parsed.entries) < 30


def test_readable_der_counts_no_bytes_der_has_counted(pki: Pki) -> None:
    cert = x509.load_der_x509_certificate(pki.leaf.public_bytes(DER))  # a fresh object
    before = certinfo._facts.bytes
    der = certinfo.der(cert)
    assert certinfo._facts.bytes - before == len(der)
    assert certinfo.readable_der(cert) is der
    assert certinfo._facts.bytes - before == len(der)


def test_only_signing_keys_are_held(pki: Pki) -> None:
    before = len(certinfo._signing_keys)
    other = ec.generate_private_key(ec.SECP256R1())
    certinfo.key_spki(other)
    assert len(certinfo._signing_keys) == before
    certinfo.key_spki(other, signing=True)
    assert certinfo._signing_keys[id(other)][0] is other
    for _ in range(certinfo.MAX_SIGNING_KEYS + 3):
        certinfo.key_spki(ec.generate_private_key(ec.SECP256R1()), signing=True)
    assert len(certinfo._signing_keys) == certinfo.MAX_SIGNING_KEYS
    assert (
        id(other) not in certinfo._signing_keys or certinfo._signing_keys[id(other)][0] is not other
    )
