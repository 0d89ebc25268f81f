"""Tests of the openssl interop harness itself: the PKI, the captured messages, the mock server.

The messages are checked with independent means only (``openssl asn1parse``,
``hashlib``/``hmac`` for PBM, ``cryptography`` for signatures), never with
cmpkit, so that the data other tests rely on is known to be right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from openssl_harness import (
    BODY_KINDS,
    CAPTURED_KINDS,
    PROTECTIONS,
    CapturedMessages,
    MockServerFactory,
    OpensslError,
    Pki,
    Tlv,
    children,
    message_parts,
    read_tlv,
    run_openssl_cmp,
    start_openssl_mock_server,
)

REQUEST_KINDS = frozenset({"ir", "cr", "kur", "p10cr", "rr", "genm", "certConf", "pollReq"})
RESPONSE_KINDS = frozenset({"ip", "cp", "kup", "rp", "genp", "pkiconf", "error", "pollRep"})

OID_PASSWORD_BASED_MAC = "1.2.840.113533.7.66.13"  # RFC 4210 PasswordBasedMac
OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
OWF_BY_OID = {"1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.1": "sha256"}
HMAC_BY_OID = {
    "1.3.6.1.5.5.8.1.2": "sha1",  # hmac-sha1 (RFC 2104 / 3370)
    "1.2.840.113549.2.7": "sha1",  # hmacWithSHA1
    "1.2.840.113549.2.9": "sha256",  # hmacWithSHA256
}


def all_blobs(captured: CapturedMessages) -> list[tuple[str, str, bytes]]:
    return [
        (p, kind, der) for p in PROTECTIONS for kind, blobs in captured[p].items() for der in blobs
    ]


def decode_oid(der: bytes, tlv: Tlv) -> str:
    assert (tlv.tag_class, tlv.tag_number) == (0, 6), "expected an OBJECT IDENTIFIER"
    content = der[tlv.content_start : tlv.end]
    arcs = [content[0] // 40, content[0] % 40] if content[0] < 80 else [2, content[0] - 80]
    value = 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(map(str, arcs))


def header_field(der: bytes, header: Tlv, number: int) -> Tlv | None:
    """The content TLV of the optional ``[number]`` PKIHeader field
    (after pvno, sender, recipient)."""
    for item in children(der, header)[3:]:
        if item.tag_class == 2 and item.tag_number == number:
            return read_tlv(der, item.content_start)
    return None


def protection_alg(der: bytes) -> tuple[str, Tlv | None]:
    """The protectionAlg OID and its parameters TLV."""
    alg = header_field(der, message_parts(der).header, 1)
    assert alg is not None, "message is unprotected"
    items = children(der, alg)
    return decode_oid(der, items[0]), items[1] if len(items) > 1 else None


def protected_part(der: bytes) -> bytes:
    """ProtectedPart ::= SEQUENCE { header, body }, sliced from the message, never re-encoded."""
    parts = message_parts(der)
    content = der[parts.header.start : parts.body.end]
    n = len(content)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)])
        + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return b"\x30" + length + content


def protection_value(der: bytes) -> bytes:
    """The bytes of the PKIProtection BIT STRING (which must have no unused bits)."""
    tlv = message_parts(der).protection
    assert tlv is not None, "message has no protection"
    bits = read_tlv(der, tlv.content_start)
    assert (bits.tag_class, bits.tag_number) == (0, 3)
    assert der[bits.content_start] == 0, "PKIProtection has unused bits"
    return der[bits.content_start + 1 : bits.end]


# --- the PKI ------------------------------------------------------------------


def test_pki_certificates_are_issued_by_the_root(pki: Pki) -> None:
    for credential in (pki.server, pki.client_ec, pki.client_rsa, pki.enrolled):
        credential.cert.verify_directly_issued_by(pki.root.cert)
        assert credential.cert.public_key() == credential.key.public_key()
        assert credential.cert_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        assert b"PRIVATE KEY" in credential.key_path.read_bytes()
    pki.root.cert.verify_directly_issued_by(pki.root.cert)


def test_pki_client_key_variants(pki: Pki) -> None:
    assert isinstance(pki.client_ec.key, ec.EllipticCurvePrivateKey)
    assert pki.client_ec.key.curve.name == "secp256r1"
    assert isinstance(pki.client_rsa.key, rsa.RSAPrivateKey)
    assert pki.client_rsa.key.key_size == 2048


def test_pki_csr_is_for_the_enrolled_key(pki: Pki) -> None:
    assert pki.csr.is_signature_valid
    assert pki.csr.public_key() == pki.new_key.public_key()
    loaded = x509.load_pem_x509_csr(pki.csr_path.read_bytes())
    assert loaded.subject == pki.enrolled.cert.subject


# --- the captured messages -------------------------------------------------------


@pytest.mark.parametrize("protection", PROTECTIONS)
def test_every_kind_is_captured(captured_messages: CapturedMessages, protection: str) -> None:
    captured = captured_messages[protection]
    missing = [kind for kind in CAPTURED_KINDS if not captured.get(kind)]
    assert not missing, f"{protection}: no {missing} captured"


def test_every_blob_is_one_der_sequence(captured_messages: CapturedMessages) -> None:
    for protection, kind, der in all_blobs(captured_messages):
        assert der[0] == 0x30, f"{protection} {kind} does not start with SEQUENCE"
        outer = read_tlv(der)
        assert outer.end == len(der), f"{protection} {kind}: outer length {outer.end} != {len(der)}"


def test_body_kind_agrees_with_openssl_asn1parse(
    captured_messages: CapturedMessages, openssl_bin: str
) -> None:
    number_by_kind = {kind: number for number, kind in BODY_KINDS.items()}
    for protection, kind, der in all_blobs(captured_messages):
        done = subprocess.run(
            [openssl_bin, "asn1parse", "-inform", "DER"],
            input=der,
            capture_output=True,
            timeout=30,
            check=True,
        )
        top_level = [line for line in done.stdout.decode().splitlines() if ":d=1 " in line]
        body = re.search(r"cont \[ (\d+) \]", top_level[1])
        assert body is not None, f"{protection} {kind}: {top_level[1]!r}"
        assert int(body.group(1)) == number_by_kind[kind], f"{protection} {kind}"


def test_pbm_messages_verify_with_the_secret(captured_messages: CapturedMessages) -> None:
    for kind, blobs in captured_messages["pbm"].items():
        for der in blobs:
            oid, params = protection_alg(der)
            assert oid == OID_PASSWORD_BASED_MAC, f"pbm {kind} protected with {oid}"
            assert params is not None
            salt, owf, count, mac = children(der, params)
            owf_name = OWF_BY_OID[decode_oid(der, children(der, owf)[0])]
            mac_name = HMAC_BY_OID[decode_oid(der, children(der, mac)[0])]
            iterations = int.from_bytes(der[count.content_start : count.end], "big")
            # RFC 4211 section 4.4: the OWF applied iterationCount times to secret || salt.
            key = captured_messages.secret + der[salt.content_start : salt.end]
            for _ in range(iterations):
                key = hashlib.new(owf_name, key).digest()
            expected = hmac.new(key, protected_part(der), mac_name).digest()
            assert hmac.compare_digest(protection_value(der), expected), f"pbm {kind} MAC mismatch"


def test_pbm_requests_carry_the_reference_as_sender_kid(
    captured_messages: CapturedMessages,
) -> None:
    for kind in REQUEST_KINDS:
        for der in captured_messages["pbm"][kind]:
            kid = header_field(der, message_parts(der).header, 2)
            assert kid is not None
            assert der[kid.content_start : kid.end] == captured_messages.ref.encode()


def test_sig_messages_verify_with_the_pki_keys(
    captured_messages: CapturedMessages, pki: Pki
) -> None:
    for kind, blobs in captured_messages["sig"].items():
        signer = pki.client_ec if kind in REQUEST_KINDS else pki.server
        assert kind in REQUEST_KINDS | RESPONSE_KINDS
        for der in blobs:
            oid, _ = protection_alg(der)
            assert oid == OID_ECDSA_WITH_SHA256, f"sig {kind} protected with {oid}"
            public_key = signer.cert.public_key()
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            public_key.verify(protection_value(der), protected_part(der), ec.ECDSA(hashes.SHA256()))
            assert message_parts(der).extra_certs is not None, f"sig {kind} without extraCerts"


# --- the DER walker -----------------------------------------------------------------


def test_read_tlv_long_form_length() -> None:
    der = b"\x04\x81\x80" + bytes(128)
    tlv = read_tlv(der)
    assert (tlv.tag_number, tlv.content_start, tlv.end) == (4, 3, len(der))


@pytest.mark.parametrize(
    "der",
    [b"", b"\x30", b"\x30\x05\x00", b"\x30\x81\x05" + bytes(5), b"\x30\x82\x00\x80" + bytes(128)],
    ids=["empty", "no-length", "overrun", "non-minimal-81", "non-minimal-82"],
)
def test_read_tlv_rejects_malformed(der: bytes) -> None:
    with pytest.raises(ValueError):
        read_tlv(der)


# --- running openssl ---------------------------------------------------------------


def test_run_openssl_cmp_failure_carries_openssl_output(openssl_bin: str, tmp_path: Path) -> None:
    with pytest.raises(OpensslError) as info:
        run_openssl_cmp(["-cmd", "no-such-command"], tmp_path, 30, openssl=openssl_bin)
    assert "no-such-command" in str(info.value)
    assert info.value.stderr or info.value.stdout


def test_mock_server_answers_ir_over_http_and_stops(
    openssl_bin: str, pki: Pki, tmp_path: Path
) -> None:
    with start_openssl_mock_server(pki, tmp_path / "server", openssl=openssl_bin) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/"
        assert server.process.poll() is None
        certout = tmp_path / "new.crt.pem"
        args = [
            "-batch", "-cmd", "ir",
            "-server", f"127.0.0.1:{server.port}", "-no_proxy", "127.0.0.1",
            "-ref", pki.ref, "-secret", pki.secret_arg,
            "-recipient", pki.server.subject_arg,
            "-newkey", str(pki.new_key_path), "-subject", pki.enrolled.subject_arg,
            "-certout", str(certout),
        ]  # fmt: skip
        run_openssl_cmp(args, tmp_path, openssl=openssl_bin)
        assert x509.load_pem_x509_certificate(certout.read_bytes()) == pki.enrolled.cert
        assert "Received request" in server.log()
    assert server.process.returncode is not None


def test_mock_server_factory_applies_extra_args(
    openssl_mock_server: MockServerFactory, openssl_bin: str, pki: Pki, tmp_path: Path
) -> None:
    server = openssl_mock_server(["-pkistatus", "2", "-failure", "2", "-statusstring", "no way"])
    args = [
        "-batch", "-cmd", "ir", "-server", server.address, "-no_proxy", "127.0.0.1",
        "-cert", str(pki.client.cert_path), "-key", str(pki.client.key_path),
        "-trusted", str(pki.root.cert_path),
        "-newkey", str(pki.new_key_path), "-subject", pki.enrolled.subject_arg,
        "-certout", str(tmp_path / "never.pem"),
    ]  # fmt: skip
    done = run_openssl_cmp(args, tmp_path, check=False, openssl=openssl_bin)
    assert done.returncode != 0
    assert "no way" in done.stdout + done.stderr


def test_mock_server_start_failure_raises_with_openssl_output(
    openssl_bin: str, pki: Pki, tmp_path: Path
) -> None:
    server = start_openssl_mock_server(pki, tmp_path, ["-no_such_option"], openssl=openssl_bin)
    with pytest.raises(OpensslError) as info, server:
        pass  # pragma: no cover
    assert "no_such_option" in str(info.value)


def test_conformance_dir_has_the_mock_credentials(conformance_dir: Path) -> None:
    assert (conformance_dir / "mock").is_dir()
    assert (conformance_dir / "csv-3.0" / "server.cnf").is_file()
