"""What is remembered between the messages of one transaction, and what is
still checked every time: the public keys of proofs of possession
(``cmp.certinfo.load_public_key``), and the signer of an earlier request
that the mock server tries first for the next (OpenSSL's
``check_msg_given_cert``, cmp_vfy.c, with its validatedSrvCert), and the
client's remembered server certificate.

A remembered signer saves the search among the extraCerts only: it must
still match the sender (and senderKID), verify the signature and validate
again (time, revocation), else the full search runs as for a first message.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from inprocess_pki import mock_server, sig_config
from openssl_harness import Pki
from test_security import only, resign, run
from test_server import Requester, answer, error_of, ir_body, sig_client

from cmp import certinfo
from cmp.asn1 import FailInfo, GeneralName, PKIStatus, ProofOfPossession
from cmp.errors import ProtectionError
from cmp.message import PKIMessage
from cmp.requests import cert_conf_body, sign
from cmp.server import MockServer
from cmp.verify import ChainValidator, VerifyOptions

DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


@pytest.fixture
def server(pki: Pki) -> MockServer:
    return mock_server(pki)


class Validations(list[x509.Certificate]):
    """The certificates whose path ``ChainValidator.validate`` was asked for,
    in order (client and server alike: tell them apart by certificate), and
    the untrusted certificates given with each (``pools``)."""

    pools: list[Sequence[x509.Certificate]]


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> Validations:
    seen = Validations()
    seen.pools = []
    original = ChainValidator.validate

    def counting(
        self: ChainValidator, cert: x509.Certificate, untrusted: Sequence[x509.Certificate] = ()
    ) -> list[x509.Certificate]:
        seen.append(cert)
        seen.pools.append(untrusted)
        return original(self, cert, untrusted)

    monkeypatch.setattr(ChainValidator, "validate", counting)
    return seen


def crl(pki: Pki, revoked: Sequence[x509.Certificate] = ()) -> x509.CertificateRevocationList:
    """A current CRL of the test root revoking ``revoked``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.root.cert.subject)
        .last_update(now - datetime.timedelta(days=1))
        .next_update(now + datetime.timedelta(days=7))
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - datetime.timedelta(hours=1))
            .build()
        )
    return builder.sign(pki.root.key, hashes.SHA256())


def fresh_spki() -> bytes:
    """The SubjectPublicKeyInfo of a key no other test has loaded."""
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(DER, SPKI)


def flip_signature(msg: PKIMessage) -> PKIMessage:
    """``msg`` with the last byte of its signature flipped: still a
    well-formed ECDSA-Sig-Value, but over nothing that was signed."""
    assert msg.protection is not None
    return msg.with_protection(msg.protection[:-1] + bytes([msg.protection[-1] ^ 1]))


def signed_again(msg: PKIMessage, key: Any, **changes: Any) -> PKIMessage:
    """``msg`` with ``changes`` to its header, signed again with ``key``
    exactly as the header says (no senderKID put right, unlike protect_signature)."""
    header = dataclasses.replace(msg.header, **changes)
    unsigned = PKIMessage(header, msg.body)
    assert header.protection_alg is not None
    signature = sign(key, header.protection_alg, unsigned.protected_part())
    return unsigned.with_protection(signature, msg.extra_certs)


def enrolled(pki: Pki, server: MockServer, client: Requester) -> PKIMessage:
    """The ip answering a signed ir of ``client``, the transaction left open."""
    ip = answer(server, client.message(ir_body(pki)))
    assert ip.body_type == "ip", ip.body
    return ip


def refused_for_signer(rsp: PKIMessage) -> None:
    info = error_of(rsp).pki_status_info
    assert info.status_string == ("no suitable sender cert",)
    assert info.fail_info == FailInfo.badMessageCheck


# --- the public keys of proofs of possession ---------------------------------------------


def test_load_public_key_gives_the_same_object_for_the_same_bytes() -> None:
    data = fresh_spki()
    first = certinfo.load_public_key(data)
    assert certinfo.load_public_key(bytes(bytearray(data))) is first
    assert first == serialization.load_der_public_key(data)
    assert first.public_bytes(DER, SPKI) == data


def test_load_public_key_takes_bytearray_and_memoryview() -> None:
    data = fresh_spki()
    first = certinfo.load_public_key(bytearray(data))
    assert certinfo.load_public_key(memoryview(data)) is first
    assert certinfo.load_public_key(data) is first


def test_load_public_key_parses_once_and_caches_no_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[bytes] = []
    original = serialization.load_der_public_key

    def counting(data: bytes, backend: Any = None) -> Any:
        parsed.append(data)
        return original(data)

    monkeypatch.setattr(serialization, "load_der_public_key", counting)
    data = fresh_spki()
    certinfo.load_public_key(data)
    certinfo.load_public_key(data)
    assert parsed == [data]
    garbage = b"\x30\x03\x02\x01\x01"
    for _ in range(2):
        with pytest.raises(ValueError):
            certinfo.load_public_key(garbage)
    assert parsed == [data, garbage, garbage]


def test_load_public_key_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(certinfo, "MAX_CACHED", 2)
    first = fresh_spki()
    key = certinfo.load_public_key(first)
    for _ in range(3):
        certinfo.load_public_key(fresh_spki())
    again = certinfo.load_public_key(first)
    assert again is not key
    assert again == key


def test_popo_signature_is_verified_under_a_cached_key(pki: Pki, server: MockServer) -> None:
    client = sig_client(pki)
    for _ in range(2):  # the second ir's key comes from the cache
        ip = answer(server, client.message(ir_body(pki)))
        assert ip.body.value.response[0].status.status == PKIStatus.accepted
    body = ir_body(pki)
    popo = body.value[0].popo.value
    forged = dataclasses.replace(popo, signature=bytes(len(popo.signature)))
    crm = dataclasses.replace(body.value[0], popo=ProofOfPossession("signature", forged))
    rsp = answer(server, client.message(dataclasses.replace(body, value=(crm,))))
    status = rsp.body.value.response[0].status
    assert status.status == PKIStatus.rejection
    assert status.fail_info == FailInfo.badPOP


# --- the mock server: the signer of the ir signs the certConf --------------------------------


def test_certconf_by_the_irs_signer_is_validated_again_with_the_remembered_pool(
    pki: Pki, server: MockServer, validated: Validations
) -> None:
    client = sig_client(pki)
    ip = enrolled(pki, server, client)
    assert validated == [pki.client.cert]
    conf = answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert)))
    assert conf.body_type == "pkiconf", conf.body
    # validated again (not skipped), with the very certificates of the ir's search
    assert validated == [pki.client.cert, pki.client.cert]
    assert validated.pools[1] is validated.pools[0]
    assert server.open_transactions == 0


def test_certconf_with_a_broken_signature_is_refused_despite_the_remembered_signer(
    pki: Pki, server: MockServer
) -> None:
    client = sig_client(pki)
    ip = enrolled(pki, server, client)
    conf = client.follow(ip, cert_conf_body(pki.enrolled.cert))
    refused_for_signer(answer(server, flip_signature(conf)))
    # The forgery leaves the transaction to its client.
    assert answer(server, conf).body_type == "pkiconf"


def test_certconf_by_a_signer_revoked_since_the_ir_is_refused(pki: Pki) -> None:
    # The remembered signer's path is validated anew: a CRL that arrived
    # between ir and certConf counts (OpenSSL's check_msg_given_cert does too).
    options = VerifyOptions(crl_check=True, crls=[crl(pki)])
    server = mock_server(pki, verify_options=options)
    client = sig_client(pki)
    ip = enrolled(pki, server, client)
    options.crls[:] = [crl(pki, [pki.client.cert])]
    refused_for_signer(answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert))))


def test_certconf_by_another_valid_client_goes_through_the_full_search(
    pki: Pki, server: MockServer, validated: Validations
) -> None:
    ip = enrolled(pki, server, sig_client(pki))
    other = Requester(
        key=pki.client_rsa.key, cert=pki.client_rsa.cert, recipient=pki.server.cert.subject
    )
    conf = answer(server, other.follow(ip, cert_conf_body(pki.enrolled.cert)))
    assert conf.body_type == "pkiconf", conf.body
    assert validated == [pki.client.cert, pki.client_rsa.cert]
    assert validated.pools[1] is not validated.pools[0]


def test_certconf_from_another_sender_name_is_not_accepted_by_the_remembered_signer(
    pki: Pki, server: MockServer
) -> None:
    client = sig_client(pki)
    ip = enrolled(pki, server, client)
    renamed = dataclasses.replace(client, sender=pki.enrolled.cert.subject)
    refused_for_signer(answer(server, renamed.follow(ip, cert_conf_body(pki.enrolled.cert))))
    assert answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert))).body_type == (
        "pkiconf"
    )


def test_certconf_with_another_sender_kid_is_not_accepted_by_the_remembered_signer(
    pki: Pki, server: MockServer
) -> None:
    client = sig_client(pki)
    ip = enrolled(pki, server, client)
    signed = client.follow(ip, cert_conf_body(pki.enrolled.cert))
    wrong_kid = signed_again(signed, pki.client.key, sender_kid=b"not the client's key id")
    refused_for_signer(answer(server, wrong_kid))
    assert answer(server, signed).body_type == "pkiconf"


def test_a_refused_request_does_not_replace_the_remembered_signer(
    pki: Pki, server: MockServer, validated: Validations
) -> None:
    # Another valid client's certConf with a wrong recipNonce is refused after
    # its signature was checked: the transaction keeps the ir's signer.
    client = sig_client(pki)
    ip = enrolled(pki, server, client)
    other = Requester(
        key=pki.client_rsa.key, cert=pki.client_rsa.cert, recipient=pki.server.cert.subject
    )
    stray = other.follow(ip, cert_conf_body(pki.enrolled.cert))
    stray = signed_again(stray, pki.client_rsa.key, recip_nonce=b"\x00" * 16)
    assert error_of(answer(server, stray)).pki_status_info.status == PKIStatus.rejection
    conf = answer(server, client.follow(ip, cert_conf_body(pki.enrolled.cert)))
    assert conf.body_type == "pkiconf", conf.body
    assert validated.pools[-1] is validated.pools[0]  # the ir's signer, remembered


# --- the client: the signer of the ip signs the pkiConf --------------------------------------


def server_paths(validated: list[x509.Certificate], pki: Pki) -> int:
    return sum(cert == pki.server.cert for cert in validated)


def test_client_validates_the_servers_path_for_every_response(
    pki: Pki, server: MockServer, validated: Validations
) -> None:
    result = run(pki, server, sig_config(pki))
    assert [m.body_type for m in result.messages] == ["ir", "ip", "certConf", "pkiconf"]
    assert server_paths(validated, pki) == 2


def test_client_refuses_a_pkiconf_with_a_broken_signature(
    pki: Pki, server: MockServer, validated: Validations
) -> None:
    with pytest.raises(ProtectionError, match="no suitable sender certificate"):
        run(pki, server, sig_config(pki), only(["pkiconf"], flip_signature))
    assert server_paths(validated, pki) == 1


def test_client_refuses_a_pkiconf_from_another_sender_name(pki: Pki, server: MockServer) -> None:
    other = GeneralName.directory_name(pki.client_rsa.cert.subject)
    renamed = only(["pkiconf"], resign(pki.server, sender=other))
    with pytest.raises(ProtectionError, match="no suitable sender certificate"):
        run(pki, server, sig_config(pki), renamed)
