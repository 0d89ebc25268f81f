"""The fuzzing PKI: a root CA, the mock server's signer, and client signers
with EC, RSA, Ed25519 and Ed448 keys, kept as PEM in ``seeds/pki/`` so that
every run (and every reproduction of a finding) sees the same keys.

These keys protect nothing: they exist to sign and verify fuzzed messages.
``python -m fuzz.python.pki`` writes them anew (certificates valid
2020-2120).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PKI_DIR = Path(__file__).resolve().parent / "seeds" / "pki"

#: The shared secret of MAC-protected fuzz messages and of the fuzzed mock server.
SECRET = b"cmpkit-fuzz-secret"
#: The secret of the PBM-protected seeds captured from ``openssl cmp`` (fuzz/seed.py).
SEED_SECRET = b"cmpkit-test-secret"
#: senderKID of the MAC-protected fuzz messages.
REF = b"cmpkit-fuzz-ref"

#: name -> (key kind, issuer name or None for self-signed, digitalSignature allowed)
_PLAN: dict[str, tuple[str, str | None, bool]] = {
    "root": ("ec", None, True),
    "server": ("ec", "root", True),
    "client-ec": ("ec", "root", True),
    "client-rsa": ("rsa", "root", True),
    "client-ed25519": ("ed25519", "root", True),
    "client-ed448": ("ed448", "root", True),
    "client-no-ds": ("ec", "root", False),
    "enrolled": ("ec", "root", True),
}
CLIENTS = ("client-ec", "client-rsa", "client-ed25519", "client-ed448", "client-no-ds")


@dataclass(frozen=True)
class Credential:
    name: str
    key: Any
    cert: x509.Certificate


def _new_key(kind: str) -> Any:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(65537, 2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ed448.Ed448PrivateKey.generate()


def _usage(ca: bool, digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def generate(directory: Path = PKI_DIR) -> None:
    """Writes ``<name>.key.pem`` and ``<name>.cert.pem`` for every credential."""
    directory.mkdir(parents=True, exist_ok=True)
    made: dict[str, tuple[Any, x509.Certificate]] = {}
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(2120, 1, 1, tzinfo=datetime.timezone.utc)
    for serial, (name, (kind, issuer, ds)) in enumerate(_PLAN.items(), start=1):
        key = _new_key(kind)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"cmpkit fuzz {name}"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cmpkit"),
            ]
        )
        ca = issuer is None
        issuer_key, issuer_cert = made[issuer] if issuer else (key, None)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_cert.subject if issuer_cert else subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(_usage(ca, ds), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        if not ca:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        cert = builder.sign(issuer_key, hashes.SHA256())
        made[name] = (key, cert)
        (directory / f"{name}.key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (directory / f"{name}.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@cache
def credential(name: str) -> Credential:
    """One credential of the committed fuzzing PKI."""
    key = serialization.load_pem_private_key((PKI_DIR / f"{name}.key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((PKI_DIR / f"{name}.cert.pem").read_bytes())
    return Credential(name, key, cert)


if __name__ == "__main__":
    generate()
    print(f"wrote {len(_PLAN)} credentials to {PKI_DIR}")
