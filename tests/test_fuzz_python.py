"""The Python fuzz harnesses (fuzz/python/, see fuzz/README.md): a smoke
run of every target, and the inputs the long runs found, one test each.

The smoke run feeds each entry point 1,000 to 2,000 inputs (some seeds,
then mutants) and fails on any finding that is not a known issue of another
part's owner (fuzz/python/known.py). The findings fixed here have a test
that builds the input and states the rule; those of other parts are
expected failures (strict: a fix turns them into failures until the test
and the known.py entry are updated).
"""

from __future__ import annotations

import datetime
import io
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from cmp import DecodeError, PKIMessage, ProtectionError, UnsupportedAlgorithm
from cmp.asn1 import (
    CertifiedKeyPair,
    CertOrEncCert,
    CertResponse,
    CertTemplate,
    FailInfo,
    GeneralName,
    PKIBody,
    PKIHeader,
    PKIStatus,
    PKIStatusInfo,
    PreciseDatetime,
)
from cmp.dn import DNSyntaxError, parse_dn
from cmp.message import EMPTY_EXTRA_CERTS
from cmp.names import name_from_der
from cmp.passphrase import PassphraseSource
from cmp.protection import signer_candidates, verify
from cmp.server import MockServer
from cmp.verify import ChainValidator, VerificationError

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # fuzz/ is not installed: import it from the checkout
    sys.path.insert(0, str(REPO))

from fuzz.python.driver import Runner, fuzz, signature_of  # noqa: E402
from fuzz.python.known import known_issue  # noqa: E402
from fuzz.python.pki import credential  # noqa: E402
from fuzz.python.run import TARGETS, load_target  # noqa: E402
from fuzz.python.target_server import _configs as server_configs  # noqa: E402

REGRESSIONS = REPO / "fuzz" / "python" / "regressions"

#: Inputs per target in the smoke run: about a second each, 12,500 in all.
SMOKE_INPUTS = {
    "message": 2000,
    "protection": 2000,
    "server": 1000,
    "config": 1500,
    "dn": 2000,
    "names": 2000,
    "passphrase": 2000,
}


# --- the smoke run ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz_target_smoke_run_has_no_new_finding(name: str, tmp_path: Path) -> None:
    target = load_target(name)
    runner = Runner(target, findings_dir=tmp_path, log=None)
    try:
        stats = fuzz(target, inputs=SMOKE_INPUTS[name], seed=1, runner=runner, max_seeds=150)
    finally:
        runner.close()
    assert stats.inputs == SMOKE_INPUTS[name]
    new = [f for f in stats.findings.values() if f.known is None]
    assert not new, "\n\n".join(f"{f.signature} ({f.path})\n{f.detail}" for f in new)


def test_fuzz_smoke_runs_mutants_not_only_seeds() -> None:
    target = load_target("message")
    stats = fuzz(
        target, inputs=300, seed=1, max_seeds=50, runner=Runner(target, findings_dir=None, log=None)
    )
    assert stats.seen["decoded"] > 50  # seeds and mutants that still decode
    assert stats.seen["from_der:DecodeError"] > 0  # and mutants that do not


# --- committed finding inputs --------------------------------------------------------------


def _regressions() -> list[tuple[str, Path]]:
    return [(p.parent.name, p) for p in sorted(REGRESSIONS.glob("*/*.bin"))]


@pytest.mark.parametrize(
    ("name", "path"), _regressions(), ids=[f"{n}/{p.stem}" for n, p in _regressions()]
)
def test_committed_finding_input_is_fixed_or_a_known_issue(name: str, path: Path) -> None:
    data = path.read_bytes()
    signature = signature_of(load_target(name), data)
    if signature is not None:
        assert known_issue(name, signature, data) is not None, signature


def _message(body: PKIBody, extra_certs: tuple[bytes, ...] = ()) -> PKIMessage:
    null_dn = GeneralName("directoryName", b"\x30\x00")
    header = PKIHeader(2, null_dn, null_dn)
    return PKIMessage.from_der(PKIMessage(header, body, None, extra_certs).to_der())


def _with_version(cert: x509.Certificate, version: int) -> bytes:
    """The certificate's DER with another version number (signature broken)."""
    der = cert.public_bytes(Encoding.DER)
    v3 = b"\xa0\x03\x02\x01\x02"
    assert der.count(v3) == 1
    return der.replace(v3, b"\xa0\x03\x02\x01" + bytes([version]))


# --- fixed: accessors of raw DER raise DecodeError ------------------------------------------


def test_extra_certificates_that_are_no_certificates_raise_decode_error() -> None:
    msg = _message(PKIBody("pkiconf", None), (b"\x30\x00",))
    with pytest.raises(DecodeError, match=r"extraCerts\[0\]"):
        msg.extra_certificates()


def test_extra_certificates_of_an_unknown_x509_version_raise_decode_error() -> None:
    # cryptography's InvalidVersion is no ValueError: it escaped the accessor.
    msg = _message(PKIBody("pkiconf", None), (_with_version(credential("root").cert, 54),))
    with pytest.raises(DecodeError):
        msg.extra_certificates()


def test_cert_response_certificate_that_is_no_certificate_raises_decode_error() -> None:
    pair = CertifiedKeyPair(CertOrEncCert("certificate", b"\x30\x00"))
    response = CertResponse(0, PKIStatusInfo(0), pair)
    with pytest.raises(DecodeError):
        response.certificate()


def test_template_public_key_that_is_malformed_raises_decode_error() -> None:
    with pytest.raises(DecodeError):
        CertTemplate(public_key=bytes.fromhex("300a300506032a030403020000")).public_key_object()


def test_template_public_key_of_an_unknown_algorithm_raises_unsupported_algorithm() -> None:
    # SubjectPublicKeyInfo with algorithm 1.2.3.4: cryptography's own
    # UnsupportedAlgorithm escaped; cmpkit's is a CMPError (and a ValueError).
    spki = bytes.fromhex("300c300506032a030403030000ff")
    with pytest.raises(UnsupportedAlgorithm):
        CertTemplate(public_key=spki).public_key_object()


def test_name_attribute_with_a_bit_string_value_is_a_decode_error() -> None:
    # Name: CN as a BIT STRING; cryptography allows BIT STRING values for
    # x500UniqueIdentifier only and raised TypeError.
    der = bytes.fromhex("300e310c300a0603550403030300ffff")
    with pytest.raises(DecodeError, match="BIT STRING"):
        name_from_der(der)


def test_name_attribute_x500_unique_identifier_keeps_its_bit_string() -> None:
    der = bytes.fromhex("300e310c300a060355042d030300ffff")
    (attribute,) = name_from_der(der).rdns[0]
    assert attribute.value == b"\x00\xff\xff"


def test_ip_address_network_with_bits_outside_its_mask_is_a_decode_error() -> None:
    # 128.0.0.0 with mask 0.0.0.0 became 0.0.0.0/0: another name on the way back.
    with pytest.raises(DecodeError, match="outside its mask"):
        GeneralName("iPAddress", bytes.fromhex("8000000000000000")).to_cryptography()


def test_ip_address_network_round_trips() -> None:
    gn = GeneralName("iPAddress", bytes.fromhex("0a090800ffffff00"))  # 10.9.8.0/24
    assert GeneralName.from_cryptography(gn.to_cryptography()) == gn


# --- fixed: parse_dn refuses instead of crashing later --------------------------------------


@pytest.mark.parametrize("text", ["/CN=caf\udcc3", "/description=\udcff"])
def test_parse_dn_refuses_a_value_that_is_no_utf8(text: str) -> None:
    # Arguments with bytes that are no UTF-8 arrive with surrogate escapes:
    # UnicodeEncodeError from cryptography (CN), or a name that cannot be
    # printed or encoded (description).
    with pytest.raises(DNSyntaxError, match="not valid UTF-8"):
        parse_dn(text)


def test_parse_dn_refuses_a_common_name_longer_than_ub_common_name() -> None:
    assert parse_dn("/CN=" + "x" * 64).rdns  # 64 is the upper bound (RFC 5280)
    with pytest.raises(DNSyntaxError, match="CN"):
        parse_dn("/CN=" + "x" * 65)


# --- fixed: no part of an argument used as pass phrase in a warning -------------------------


@pytest.mark.parametrize(
    "argument", ["env:MY_SECRET_WORDS", "file:/nonexistent/my-secret-words", "fd:-123"]
)
def test_passphrase_fallback_warning_does_not_show_the_argument(argument: str) -> None:
    warnings: list[str] = []
    source = PassphraseSource(
        argument, "private key", warn=warnings.append, environ={}, stdin=io.BytesIO()
    )
    assert source.get() == argument.encode()  # openssl cmp takes it as the pass phrase
    assert len(warnings) == 1 and "better precede it with 'pass:'" in warnings[0]
    secret = argument.split(":", 1)[1]
    assert secret not in warnings[0]


# --- fixed: protection and the mock server refuse what they cannot read ---------------------


def _inputs(target: str) -> list[str]:
    return [p.name for p in sorted((REGRESSIONS / target).glob("*.bin"))]


@pytest.mark.parametrize("name", _inputs("protection"))
def test_protection_verify_raises_only_protection_error(name: str) -> None:
    assert signature_of(load_target("protection"), _regression(f"protection/{name}")) is None


@pytest.mark.parametrize("name", _inputs("server"))
def test_server_answers_with_a_refusal_that_decodes(name: str) -> None:
    assert signature_of(load_target("server"), _regression(f"server/{name}")) is None


def _request(name: str) -> PKIMessage:
    """The message of a committed input (after its selector byte)."""
    return PKIMessage.from_der(_regression(name)[1:])


def test_signer_candidates_skip_a_certificate_of_an_unknown_version() -> None:
    # cryptography's InvalidVersion is no ValueError: it escaped certinfo.load_der.
    msg = _message(PKIBody("pkiconf", None), (_with_version(credential("root").cert, 54),))
    sender = credential("root").cert.subject.public_bytes()
    header = PKIHeader(2, GeneralName("directoryName", sender), msg.header.recipient)
    msg = PKIMessage.from_der(PKIMessage(header, msg.body, b"sig", msg.extra_certs).to_der())
    assert signer_candidates(msg) == []


@pytest.mark.parametrize(
    "name",
    [
        "protection/signer-duplicate-subject-key-id.bin",  # DuplicateExtension, by senderKID
        "server/signer-subject-with-bit-string.bin",  # TypeError, by sender name
    ],
)
def test_signer_candidates_skip_a_certificate_whose_subject_or_extensions_do_not_decode(
    name: str,
) -> None:
    assert signer_candidates(_request(name)) == []


@pytest.mark.parametrize(
    "name", ["server/signer-key-is-malformed.bin", "server/signer-key-of-unknown-curve.bin"]
)
def test_verify_with_a_signer_key_that_cannot_be_used_raises_protection_error(name: str) -> None:
    # cert.public_key() raised ValueError or cryptography's UnsupportedAlgorithm.
    msg = _request(name)
    (cert,) = signer_candidates(msg)
    with pytest.raises(ProtectionError, match="public key cannot be used"):
        verify(msg, cert=cert)


def test_chain_validation_of_a_certificate_whose_issuer_is_no_name_fails() -> None:
    msg = _request("server/chain-cert-issuer-is-no-name.bin")
    bad = x509.load_der_x509_certificate(msg.extra_certs[0])
    validator = ChainValidator([credential("root").cert])
    with pytest.raises(VerificationError, match="does not decode"):
        validator.validate(bad)
    # as an untrusted certificate it is left out
    good = credential("client-ec").cert
    assert validator.validate(good, [bad]) == [good, credential("root").cert]


def _answer(name: str) -> PKIMessage:
    """The mock server's answer to a committed server input as it is, under
    the configuration of the harness its selector byte picks."""
    data = _regression(f"server/{name}.bin")
    server = MockServer(server_configs()[data[0] & 3])
    return PKIMessage.from_der(server.handle(data[1:]))


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("sender-name-is-no-name", "sender is no valid Name"),
        ("cert-id-issuer-is-no-name", "certDetails issuer is no valid Name"),
    ],
)
def test_server_refuses_a_name_that_is_no_name_as_bad_data_format(name: str, detail: str) -> None:
    # OpenSSL could not decode such a message at all.
    rsp = _answer(name)
    assert rsp.body_type == "error"
    content = rsp.body.value
    assert content.pki_status_info.fail_info == FailInfo.badDataFormat
    assert any(detail in d for d in content.error_details)


def test_server_rejects_a_p10cr_csr_of_an_unknown_version_for_bad_pop() -> None:
    # as OpenSSL: the CSR's signature does not verify ("request not accepted")
    rsp = _answer("p10cr-csr-of-version-4")
    status = rsp.body.value.response[0].status
    assert status.status == PKIStatus.rejection and status.fail_info == FailInfo.badPOP
    assert status.status_string == ("request not accepted",)


def test_server_answer_to_a_request_too_deep_to_decode_has_a_null_dn_recipient() -> None:
    # The sender, decoded with the header alone, is one level too deep for an
    # answer that names it as recipient: the answer names the NULL-DN instead.
    rsp = _answer("too-deep-request-echoed")
    assert rsp.body_type == "error"
    assert rsp.header.recipient == GeneralName("directoryName", b"\x30\x00")
    assert any("nesting deeper than" in d for d in rsp.body.value.error_details)


# --- fixed: the Rust decoder (empty SIZE (1..MAX) lists, GeneralizedTime) -----------------


def _regression(name: str) -> bytes:
    return (REGRESSIONS / name).read_bytes()


def _rebuilt(msg: PKIMessage) -> bytes:
    return PKIMessage(msg.header, msg.body, msg.protection, msg.extra_certs).to_der()


def test_empty_extra_certs_re_encode_from_the_values_as_openssl_sends_them() -> None:
    # OpenSSL sends extraCerts [1] SEQUENCE {} (RFC 9810: SIZE (1..MAX)) and
    # takes it: decoded, not refused; the values dropped it on re-encoding.
    der = _regression("message/empty-extra-certs.bin")
    msg = PKIMessage.from_der(der)
    assert msg.extra_certs == () and msg.extra_certs is EMPTY_EXTRA_CERTS
    assert _rebuilt(msg) == der


def test_empty_size_one_list_decodes_to_an_empty_tuple_that_re_encodes() -> None:
    # generalInfo [8] SEQUENCE {}: encoding the decoded () raised EncodeError.
    der = _regression("message/empty-sequence-of.bin")
    msg = PKIMessage.from_der(der)
    assert msg.header.general_info == () and msg.body == PKIBody("certConf", ())
    assert _rebuilt(msg) == der


def test_decoder_refuses_a_generalized_time_of_year_0() -> None:
    # It passed the check, then decoding the header raised a bare ValueError.
    with pytest.raises(DecodeError) as info:
        PKIMessage.from_der(_regression("message/year-0-message-time.bin"))
    assert "message_time" in info.value.path


def test_decoded_time_with_nanoseconds_re_encodes_to_its_bytes() -> None:
    der = _regression("message/time-with-nanoseconds.bin")  # 20240101000000.1234567Z
    msg = PKIMessage.from_der(der)
    time = msg.header.message_time
    assert time == datetime.datetime(2024, 1, 1, 0, 0, 0, 123456, datetime.timezone.utc)
    assert isinstance(time, PreciseDatetime) and time.nanosecond == 700
    assert PKIMessage(msg.header, msg.body).to_der() == der


def test_verify_of_an_unprotected_message_raises_protection_error() -> None:
    # The contract the protection target holds verify to: ProtectionError only.
    msg = _message(PKIBody("pkiconf", None))
    with pytest.raises(ProtectionError):
        verify(msg, secret=b"x")


def test_extensions_with_an_unknown_tls_feature_are_a_decode_error() -> None:
    # cryptography raises KeyError for a TLS feature (RFC 7633) it does not know.
    from cmp.names import extensions_from_der

    tls_feature = bytes.fromhex("301706082b06010505070118040b3009020105020163020100")
    with pytest.raises(DecodeError, match="unusable Extensions: KeyError"):
        extensions_from_der(b"\x30" + bytes([len(tls_feature)]) + tls_feature)
