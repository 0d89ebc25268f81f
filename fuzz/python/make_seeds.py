"""Writes the seeds of the ``protection`` and ``server`` targets to
``fuzz/python/seeds/<target>/``: messages of every body kind from the
Rust seeds (fuzz/seeds/pkimessage), protected with the fuzzing PKI
(fuzz/python/pki.py) by PBM, PBMAC1 and signatures with EC, RSA, RSA-PSS,
Ed25519 and Ed448 keys, behind each target's selector byte.

    python -m fuzz.python.make_seeds

Salts and signatures are random, so a rerun writes other bytes; the
committed files are what every run starts from.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cmp import CMPError, PKIMessage, protection
from cmp.asn1 import ErrorMsgContent, PKIBody, PKIStatusInfo
from cmp.headers import request_header
from cmp.itav import make_itav
from cmp.requests import (
    EnrollRequest,
    RevokeRequest,
    cert_conf_body,
    enroll_body,
    genm_body,
    poll_req_body,
    rr_body,
)
from fuzz.python.driver import SEEDS_DIR
from fuzz.python.messages import seed_messages
from fuzz.python.pki import REF, SECRET, credential


def _signer(name: str, **kw: object) -> Callable[[PKIMessage], PKIMessage]:
    cred = credential(name)
    return lambda m: protection.protect_signature(m, cred.key, cred.cert, **kw)  # type: ignore[arg-type]


PROTECTIONS: dict[str, Callable[[PKIMessage], PKIMessage]] = {
    "pbm": lambda m: protection.protect_pbm(m, SECRET, ref=REF, salt=b"fuzz-salt-16-byt"),
    "pbm-sha1": lambda m: protection.protect_pbm(
        m, SECRET, ref=REF, salt=b"s", iterations=100, owf="sha1", mac="hmac-sha256"
    ),
    "pbmac1": lambda m: protection.protect_pbmac1(
        m, SECRET, ref=REF, salt=b"fuzz-salt-16-byt", iterations=1000
    ),
    "pbmac1-sha512": lambda m: protection.protect_pbmac1(
        m, SECRET, ref=REF, salt=b"salt", iterations=1, prf="hmacWithSHA512", mac="hmacWithSHA1"
    ),
    "ec": _signer("client-ec"),
    "rsa": _signer("client-rsa"),
    "rsa-pss": _signer("client-rsa", pss=True),
    "ed25519": _signer("client-ed25519"),
    "ed448": _signer("client-ed448"),
    "no-ds": _signer("client-no-ds"),
    "none": lambda m: m,
}


def base_messages() -> list[PKIMessage]:
    """Up to two seed messages of each body kind (the first in file order)."""
    chosen: dict[str, list[PKIMessage]] = {}
    for der in seed_messages():
        msg = PKIMessage.from_der(der)
        group = chosen.setdefault(msg.body_type, [])
        if len(group) < 2:
            group.append(msg)
    return [m for group in chosen.values() for m in group]


def protected(messages: list[PKIMessage]) -> list[tuple[str, bytes]]:
    """(protection name, DER) of every message under every protection."""
    out = []
    for msg in messages:
        plain = PKIMessage(msg.header, msg.body, None, msg.extra_certs)
        for name, protect in PROTECTIONS.items():
            try:
                out.append((name, protect(plain).to_der()))
            except CMPError:  # a NULL-DN sender without senderKID, say
                continue
    return out


def _write(directory: Path, inputs: list[bytes]) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.bin"):
        old.unlink()
    for data in inputs:
        (directory / f"{hashlib.sha1(data).hexdigest()}.bin").write_bytes(data)
    return len(inputs)


def _requests() -> list[PKIMessage]:
    """Requests as a client of the fuzzed server sends them, unprotected:
    every kind the server answers, from ``client-ec`` to ``server``."""
    client, server, enrolled = credential("client-ec"), credential("server"), credential("enrolled")
    new_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cmpkit fuzz new")])
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("fuzz.example")]), False)
        .sign(new_key, hashes.SHA256())
    )
    san = [x509.DNSName("fuzz.example"), x509.IPAddress(ipaddress.ip_address("10.0.0.1"))]
    bodies: list[tuple[PKIBody, bool]] = [
        (enroll_body(EnrollRequest("ir", new_key, subject, days=30, sans=san)), False),
        (enroll_body(EnrollRequest("ir", new_key, subject)), True),
        (enroll_body(EnrollRequest("ir", new_key, subject, popo=0)), False),
        (enroll_body(EnrollRequest("cr", new_key, subject, popo=2)), False),
        (enroll_body(EnrollRequest("kur", new_key, subject, oldcert=enrolled.cert)), False),
        (enroll_body(EnrollRequest("p10cr", csr=csr)), False),
        (enroll_body(EnrollRequest("ir", new_key, csr=csr)), False),
        (rr_body(RevokeRequest(enrolled.cert, 1)), False),
        (rr_body(RevokeRequest(csr=csr)), False),
        (genm_body(), False),
        (genm_body([make_itav("caCerts"), make_itav("rootCaCert", None)]), False),
        (cert_conf_body(enrolled.cert), False),
        (cert_conf_body(enrolled.cert, fail_info=1 << 9, text="rejected"), False),
        (poll_req_body(), False),
        (PKIBody("error", ErrorMsgContent(PKIStatusInfo(2, ("fuzz",), 4), 1, ("x",))), False),
    ]
    out = []
    for i, (body, implicit) in enumerate(bodies):
        header = request_header(
            sender=client.cert.subject,
            recipient=server.cert.subject,
            transaction_id=hashlib.sha256(b"fuzz-tid-%d" % i).digest()[:16],
            sender_nonce=hashlib.sha256(b"fuzz-nonce-%d" % i).digest()[:16],
            implicit_confirm=implicit,
        )
        out.append(PKIMessage(header, body))
    return out


def main() -> None:
    messages = protected(base_messages())
    # protection: selector 0 (the signer from extraCerts, the fuzz secret).
    n = _write(SEEDS_DIR / "protection", [b"\x00" + der for _, der in messages])
    print(f"protection: {n} inputs")
    # server: the requests of a client, unprotected and under each protection,
    # for the strict server (0) and the lenient one (1); certConf, pollReq and
    # error also steered into an open transaction (0x10).
    inputs = []
    for msg in _requests():
        # a fresh transactionID (0xE0) for the first messages, or steered (0x10)
        steer = 0x10 if msg.body_type in ("certConf", "pollReq", "error") else 0xE0
        inputs += [bytes([sel | steer]) + msg.to_der() for sel in (0, 1, 2)]
        for _, der in protected([msg]):
            inputs += [bytes([sel | steer]) + der for sel in (0, 1)]
    n = _write(SEEDS_DIR / "server", inputs)
    print(f"server: {n} inputs")


if __name__ == "__main__":
    main()
