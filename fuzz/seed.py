#!/usr/bin/env python3
"""Writes the seed corpus of the Rust fuzz targets (see fuzz/README.md).

The seeds are real CMP messages and their parts, so that libFuzzer starts
from deep inside the schema instead of from random bytes:

- every message ``openssl cmp -use_mock_srv`` writes in its transactions (ir,
  cr, kur, p10cr, rr, genm, certConf, polling, errors), PBM- and
  signature-protected (tests/openssl_harness.py);
- messages of every body kind built from the ``cmp.asn1`` dataclasses with
  ``cmp.PKIMessage``, by the Hypothesis strategies of tests/strategies.py
  (derandomized) and by hand below (PBM, PBMAC1, nested three deep);
- for the ``types`` target, every element of those messages that decodes as
  one of its schema types, behind that type's selector byte;
- for ``mac_params``, inputs in its byte layout and algorithm names.

Files are named by their SHA-1, as libFuzzer names corpus entries, so
rerunning adds what is new. Needs the built package (``maturin develop``);
the openssl captures need ``openssl`` >= 3.0 and are skipped without it.

    python fuzz/seed.py                  # writes fuzz/seeds/<target>/
    python fuzz/seed.py --extra DIR ...  # also every file under DIR (e.g.
                                         # conformance vectors) as messages
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import cmp
from cmp import PKIMessage, protection
from cmp import asn1 as A

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
# tests/ holds the openssl harness and the Hypothesis strategies.
sys.path.insert(0, str(REPO / "tests"))

UTC = datetime.timezone.utc

# --- DER walking (our own few lines; cmpkit's decoder is what is fuzzed) -------------


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def elements(der: bytes) -> Iterator[bytes]:
    """Every element of well-formed DER, outermost first (low tag numbers only)."""

    def walk(start: int, end: int) -> Iterator[bytes]:
        pos = start
        while pos < end:
            tag, first = der[pos], der[pos + 1]
            content = pos + 2
            length = first
            if first & 0x80:
                count = first & 0x7F
                length = int.from_bytes(der[content : content + count], "big")
                content += count
            stop = content + length
            if tag & 0x1F == 0x1F or stop > end:
                return
            yield der[pos:stop]
            if tag & 0x20:
                yield from walk(content, stop)
            pos = stop

    yield from walk(0, len(der))


# --- the types target's table ----------------------------------------------------------


def types_table() -> list[str]:
    """The Rust types of fuzz_targets/types.rs, in selector order, lifetimes dropped."""
    source = (FUZZ / "fuzz_targets" / "types.rs").read_text()
    block = source[source.index("types!(sel, der;") :]
    block = block[: block.index(");")]
    names = []
    for line in block.splitlines()[1:]:
        line = line.split("//")[0].strip().rstrip(",")
        if line:
            names.append(line.replace("<'_>", "").replace("'_, ", ""))
    return names


def decodes_as(name: str) -> Callable[[bytes], bool]:
    def check(der: bytes) -> bool:
        try:
            A.decode(name, der)
        except cmp.CMPError:
            return False
        return True

    return check


def wrapped(name: str, wrap: Callable[[bytes], bytes]) -> Callable[[bytes], bool]:
    """Decodes ``wrap(der)`` as ``name`` (for types the registry has no name for)."""
    inner = decodes_as(name)
    return lambda der: inner(wrap(der))


def body_content(tag: int) -> Callable[[bytes], bool]:
    """Content of PKIBody alternative [tag] (explicitly tagged)."""
    return wrapped("PKIBody", lambda der: tlv(0xA0 | tag, der))


def is_message(der: bytes) -> bool:
    try:
        PKIMessage.from_der(der).header  # decodes all of it
    except cmp.CMPError:
        return False
    return True


# OIDs of the built values.
SHA1, SHA256 = "1.3.14.3.2.26", "2.16.840.1.101.3.4.2.1"
HMAC_SHA1 = "1.3.6.1.5.5.8.1.2"
HMAC_SHA256, HMAC_SHA512 = "1.2.840.113549.2.9", "1.2.840.113549.2.11"
PBKDF2, MGF1 = "1.2.840.113549.1.5.12", "1.2.840.113549.1.1.8"
KEM_KDF, ML_KEM_768 = "1.2.840.113549.1.9.16.3.28", "2.16.840.1.101.3.4.4.2"
INT0 = bytes.fromhex("020100")
SHA256_ALG = bytes.fromhex("300d06096086480165030402010500")

#: Rust type in types.rs → does this DER decode as it (by the Python package)?
CHECKS: dict[str, Callable[[bytes], bool]] = {
    "pkix::AlgorithmIdentifier": decodes_as("AlgorithmIdentifier"),
    "pkix::GeneralName": decodes_as("GeneralName"),
    "pkix::GeneralNames": decodes_as("GeneralNames"),
    "pkix::Time": decodes_as("Time"),
    "pkix::RsassaPssParams": decodes_as("RSASSA-PSS-params"),
    "pkix::Extension": decodes_as("Extension"),
    "pkix::Extensions": decodes_as("Extensions"),
    "crmf::CertReqMessages": decodes_as("CertReqMessages"),
    "crmf::CertReqMsg": decodes_as("CertReqMsg"),
    "crmf::CertRequest": decodes_as("CertRequest"),
    "crmf::CertTemplate": decodes_as("CertTemplate"),
    "crmf::OptionalValidity": decodes_as("OptionalValidity"),
    "crmf::Controls": decodes_as("Controls"),
    "crmf::AttributeTypeAndValue": decodes_as("AttributeTypeAndValue"),
    "crmf::ProofOfPossession": decodes_as("ProofOfPossession"),
    "crmf::POPOSigningKey": decodes_as("POPOSigningKey"),
    "crmf::POPOSigningKeyInput": decodes_as("POPOSigningKeyInput"),
    "crmf::PKMACValue": decodes_as("PKMACValue"),
    "crmf::POPOPrivKey": decodes_as("POPOPrivKey"),
    "crmf::PBMParameter": decodes_as("PBMParameter"),
    "crmf::EncryptedKey": decodes_as("EncryptedKey"),
    "crmf::EncryptedValue": decodes_as("EncryptedValue"),
    "crmf::PKIPublicationInfo": decodes_as("PKIPublicationInfo"),
    "crmf::SinglePubInfo": decodes_as("SinglePubInfo"),
    "crmf::PKIArchiveOptions": decodes_as("PKIArchiveOptions"),
    "crmf::CertId": decodes_as("CertId"),
    "crmf::Utf8Control": decodes_as("UTF8String"),
    "cmp::PKIMessage": is_message,
    "cmp::PKIMessages": decodes_as("PKIMessages"),
    "cmp::PKIHeader": decodes_as("PKIHeader"),
    "cmp::PKIBody": decodes_as("PKIBody"),
    "cmp::PKIFreeText": decodes_as("PKIFreeText"),
    "cmp::PKIStatusInfo": decodes_as("PKIStatusInfo"),
    "cmp::CertRepMessage": decodes_as("CertRepMessage"),
    "cmp::CertResponse": decodes_as("CertResponse"),
    "cmp::CertifiedKeyPair": decodes_as("CertifiedKeyPair"),
    "cmp::CertOrEncCert": decodes_as("CertOrEncCert"),
    "cmp::POPODecKeyChallContent": body_content(5),
    "cmp::Challenge": decodes_as("Challenge"),
    "cmp::POPODecKeyRespContent": body_content(6),
    "cmp::KeyRecRepContent": decodes_as("KeyRecRepContent"),
    "cmp::RevReqContent": body_content(11),
    "cmp::RevDetails": decodes_as("RevDetails"),
    "cmp::RevRepContent": decodes_as("RevRepContent"),
    "cmp::CAKeyUpdContent": decodes_as("CAKeyUpdContent"),
    "cmp::CAKeyUpdAnnContent": decodes_as("CAKeyUpdAnnContent"),
    "cmp::RootCaKeyUpdateContent": decodes_as("RootCaKeyUpdateContent"),
    "cmp::RevAnnContent": decodes_as("RevAnnContent"),
    "cmp::CRLAnnContent": body_content(18),
    "cmp::GenMsgContent": body_content(21),
    "cmp::InfoTypeAndValue": decodes_as("InfoTypeAndValue"),
    "cmp::ErrorMsgContent": decodes_as("ErrorMsgContent"),
    "cmp::CertConfirmContent": body_content(24),
    "cmp::CertStatus": decodes_as("CertStatus"),
    "cmp::PollReqContent": body_content(25),
    "cmp::PollRepContent": body_content(26),
    "cmp::ProtectedPart": decodes_as("ProtectedPart"),
    "cmp::CertReqTemplateContent": decodes_as("CertReqTemplateContent"),
    "cmp::CRLStatus": decodes_as("CRLStatus"),
    "SeqOf<cmp::CRLStatus, 1>": decodes_as("CRLStatusList"),
    "cmp::KemCiphertextInfo": decodes_as("KemCiphertextInfo"),
    "cmp::PBMAC1Params": decodes_as("PBMAC1Params"),
    "cmp::PBKDF2Params": decodes_as("PBKDF2Params"),
    "cmp::DHBMParameter": decodes_as("DHBMParameter"),
    "cmp::KemBMParameter": decodes_as("KemBMParameter"),
    "RawSeq": decodes_as("Certificate"),
    "cmpkit_core::common::OctetBits": wrapped(
        "PKMACValue", lambda der: tlv(0x30, SHA256_ALG + der)
    ),
    "cmpkit_core::common::NamedBits": wrapped("PKIStatusInfo", lambda der: tlv(0x30, INT0 + der)),
}

# --- messages ------------------------------------------------------------------------


def examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` values of ``strategy``, the same ones on every run."""
    out: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def generated_messages(per_kind: int) -> list[bytes]:
    """Messages of every body kind from tests/strategies.py."""
    import strategies

    out = []
    for kind, body in strategies.BODY_STRATEGIES.items():
        for msg in examples(strategies.pki_messages(body), per_kind):
            try:
                out.append(msg.to_der())
            except cmp.EncodeError as e:
                print(f"seed: skipped a generated {kind}: {e}", file=sys.stderr)
    return out


def name(cn: str) -> bytes:
    # Name ::= SEQUENCE OF RDN; one RDN with commonName.
    atv = tlv(0x30, bytes.fromhex("0603550403") + tlv(0x0C, cn.encode()))
    return tlv(0x30, tlv(0x31, atv))


def header(**fields: Any) -> A.PKIHeader:
    return A.PKIHeader(
        pvno=fields.pop("pvno", 2),
        sender=A.GeneralName("directoryName", name("fuzz client")),
        recipient=A.GeneralName("directoryName", name("fuzz CA")),
        message_time=datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        transaction_id=bytes(range(16)),
        sender_nonce=bytes(range(16, 32)),
        **fields,
    )


def hand_built() -> list[bytes]:
    """A few messages the strategies do not make: real MAC protection, deep nesting."""
    status = A.PKIStatusInfo(2, ("rejected", "by fuzz"), int(A.FailInfo.badRequest))
    error = PKIMessage(header(), A.PKIBody("error", A.ErrorMsgContent(status, 7, ("x",))))
    conf = PKIMessage(
        header(pvno=3, free_text=("über",)),
        A.PKIBody(
            "certConf", (A.CertStatus(b"\x00" * 32, 0, None, A.AlgorithmIdentifier(SHA256)),)
        ),
    )
    poll = PKIMessage(header(), A.PKIBody("pollRep", (A.PollRepEntry(0, 5, ("wait",)),)))
    out = [error.to_der(), conf.to_der(), poll.to_der()]
    for msg in (error, conf, poll):
        pbm = protection.protect_pbm(msg, b"insta", ref=b"3078", salt=b"s" * 16)
        pbmac1 = protection.protect_pbmac1(msg, b"insta", ref=b"3078", salt=b"t" * 16)
        out += [pbm.to_der(), pbmac1.to_der()]
    # nested in nested in nested: the depth the decoder must bound.
    inner = error
    for _ in range(3):
        inner = PKIMessage(header(), A.PKIBody("nested", (inner, poll)))
        out.append(inner.to_der())
    return out


def openssl_messages() -> list[bytes]:
    import openssl_harness as h

    if h.find_openssl() is None:
        print("seed: no openssl, skipping the captured messages", file=sys.stderr)
        return []
    with tempfile.TemporaryDirectory(prefix="cmpkit-seed-") as tmp:
        pki = h.make_pki(Path(tmp) / "pki")
        captured = h.capture_all_openssl_messages(pki, Path(tmp) / "capture")
    return [der for p in h.PROTECTIONS for msgs in captured[p].values() for der in msgs]


def parameter_values() -> list[bytes]:
    """MAC and signature parameters and a few others, as the Python package encodes them."""
    alg, null = A.AlgorithmIdentifier, b"\x05\x00"
    hmac256 = alg(HMAC_SHA256, null)
    t2030 = datetime.datetime(2030, 1, 1, tzinfo=UTC)
    values: list[tuple[str, Any]] = [
        ("PBMParameter", A.PBMParameter(b"salt" * 4, alg(SHA1), 500, alg(HMAC_SHA1))),
        ("PBKDF2Params", A.PBKDF2Params(A.PBKDF2Salt("specified", b"s" * 16), 10000, 32, hmac256)),
        ("PBKDF2Params", A.PBKDF2Params(A.PBKDF2Salt("otherSource", alg("1.2.3.4")), 1)),
        ("PBMAC1Params", A.PBMAC1Params(alg(PBKDF2, null), alg(HMAC_SHA512, null))),
        ("RSASSA-PSS-params", A.RsassaPssParams(alg(SHA256, null), alg(MGF1, SHA256_ALG), 32, 1)),
        ("RSASSA-PSS-params", A.RsassaPssParams()),
        ("DHBMParameter", A.DHBMParameter(alg(SHA256), alg(HMAC_SHA256))),
        ("KemBMParameter", A.KemBMParameter(alg(KEM_KDF), b"ctx", 32, alg(HMAC_SHA256))),
        ("KemCiphertextInfo", A.KemCiphertextInfo(alg(ML_KEM_768), b"\x01" * 40)),
        ("Time", datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("Time", t2030.replace(year=2050)),
        ("OptionalValidity", A.OptionalValidity(None, t2030)),
        ("POPOSigningKeyInput", A.POPOSigningKeyInput(
            A.POPOSigningKeyInputAuthInfo("sender", A.GeneralName("dNSName", "fuzz.example")),
            tlv(0x30, SHA256_ALG + bytes.fromhex("03020000")),
        )),
        ("Extensions", (A.Extension("2.5.29.19", True, bytes.fromhex("3000")),)),
    ]  # fmt: skip
    return [A.encode(name, value) for name, value in values]


# --- mac_params inputs ------------------------------------------------------------------


def mac_inputs() -> list[bytes]:
    """Inputs in the byte layout of fuzz_targets/mac_params.rs."""
    out = []
    for op in range(3):
        for digest in range(5):
            limits = bytes([1, 39, 47, 47, 79])  # min, max iterations; salt, secret, key caps
            for count in (b"\x01", b"\x07", b"\x27", b"\x80" + (500).to_bytes(8, "big")):
                head = bytes([op]) + limits + count + bytes([digest, (digest + 2) % 5, 32, 5, 16])
                out.append(head + b"insta" + b"saltsaltsaltsalt" + b"protected part")
    names = ["sha256", "SHA-1", "sha2-512", "hmac-sha1", "hmacWithSHA384", "1.2.840.113549.2.9",
             "1.3.6.1.5.5.8.1.2", "2.16.840.1.101.3.4.2.3", "md5", "é" * 70]  # fmt: skip
    out += [bytes([3]) + n.encode() for n in names]
    return out


# --- writing ----------------------------------------------------------------------------


def spread(items: list[bytes], count: int) -> list[bytes]:
    """Up to ``count`` of ``items`` (distinct), from the shortest to the longest."""
    items = sorted(set(items), key=lambda b: (len(b), b))
    if len(items) <= count:
        return items
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def write(directory: Path, blobs: Iterable[bytes]) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    new = 0
    for blob in blobs:
        path = directory / hashlib.sha1(blob).hexdigest()
        if not path.exists():
            path.write_bytes(blob)
            new += 1
    return new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FUZZ / "seeds", help="default: fuzz/seeds")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more message files")
    parser.add_argument("--per-kind", type=int, default=6, help="generated messages per body kind")
    parser.add_argument("--per-type", type=int, default=12, help="types seeds per schema type")
    parser.add_argument("--no-openssl", action="store_true", help="skip the openssl captures")
    args = parser.parse_args()

    messages = [] if args.no_openssl else openssl_messages()
    print(f"seed: {len(messages)} messages from openssl cmp", file=sys.stderr)
    messages += hand_built() + generated_messages(args.per_kind)
    for d in args.extra:
        messages += [p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()]
    messages = [m for m in dict.fromkeys(messages) if is_message(m)]
    params = parameter_values()

    table = types_table()
    missing = [t for t in table if t not in CHECKS]
    if missing:
        raise SystemExit(f"seed.py has no check for the types.rs entries {missing}")
    candidates = sorted({e for m in messages + params for e in elements(m)}, key=len)
    types_seeds = []
    for selector, rust_type in enumerate(table):
        fits = [e for e in candidates if CHECKS[rust_type](e)]
        types_seeds += [bytes([selector]) + e for e in spread(fits, args.per_type)]

    malformed = [b"\x30\x80\x00\x00", b"\x30\x81\x01\x00", b"\x1f\x80\x01\x00", b"\x30\x03\x02\x01"]
    counts = {
        "der_check": write(args.out / "der_check", spread(messages, 40) + params + malformed),
        "pkimessage": write(args.out / "pkimessage", messages),
        "types": write(args.out / "types", types_seeds),
        "mac_params": write(args.out / "mac_params", mac_inputs()),
    }
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"seed: new files {counts}, {size} bytes under {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
