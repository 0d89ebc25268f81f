"""Findings reported to the owners of the code they are in and not fixed
yet. The smoke test (tests/test_fuzz_python.py) and ``run.py
--allow-known`` tolerate them, so that CI stays green while they are open;
everything else fails. A fixed one is taken out of this list, and its
regression test in tests/test_fuzz_python.py stops being an expected
failure (they are ``xfail(strict=True)``: a fix makes them fail until
that is done).

Each entry matches a finding's signature (``run.py`` prints them) and,
where one signature could also stand for another bug, the input itself.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from cmp import CMPError, PKIMessage
from fuzz.python.mutate import Node, parse_der

__all__ = ["KNOWN", "Known", "known_issue"]


@dataclass(frozen=True)
class Known:
    target: str
    pattern: str
    """A regular expression the finding's signature matches (``re.search``)."""
    owner: str
    what: str
    applies: Callable[[bytes], bool] | None = None
    """Whether the input is one of this issue's, where the signature alone
    could also stand for another bug."""


def _has_empty_sequence_of(data: bytes) -> bool:
    """A SEQUENCE SIZE (1..MAX) OF with no element in the message: an empty
    tuple among the decoded values, or extraCerts [1] holding no
    certificate. The decoder accepts them; the encoder refuses or drops them."""
    try:
        msg = PKIMessage.from_der(data)
        values = [msg.header, msg.body]
    except (CMPError, ValueError):
        return False
    tree = parse_der(data)
    top = tree[0].children if tree and tree[0].children else []
    if any(n.tag == b"\xa1" and n.children == [Node(b"\x30", b"", [])] for n in top):
        return True
    while values:
        value = values.pop()
        if isinstance(value, tuple):
            if not value:
                return True
            values.extend(value)
        elif isinstance(value, PKIMessage):  # nested
            if _has_empty_sequence_of(value.to_der()):
                return True
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            values.extend(getattr(value, f.name) for f in dataclasses.fields(value))
    return False


_LONG_FRACTION = re.compile(rb"[0-9]{14}\.[0-9]{7,}Z")


def _has_long_fraction(data: bytes) -> bool:
    """A GeneralizedTime with fractional seconds finer than microseconds."""
    return _LONG_FRACTION.search(data) is not None


KNOWN: tuple[Known, ...] = (
    Known(
        "message",
        r"^EncodeError at message\.py",
        "rust (decoder)",
        "from_der accepts a SEQUENCE SIZE (1..MAX) OF with no element (ccr, rr, "
        "genp content ...); encoding the decoded values then raises EncodeError",
        _has_empty_sequence_of,
    ),
    Known(
        "message",
        r"^PropertyFailed: re-encoding the decoded values gives other bytes$",
        "rust (decoder)",
        "from_der accepts extraCerts [1] with no certificate (SIZE (1..MAX)); "
        "the decoded message re-encodes without it",
        _has_empty_sequence_of,
    ),
    Known(
        "message",
        r"^PropertyFailed: re-encoding the decoded values gives other bytes$",
        "rust (decoder)",
        "a GeneralizedTime with more than 6 fractional digits decodes to a datetime "
        "(microseconds): the digits past them are lost and the values re-encode "
        "to other bytes",
        _has_long_fraction,
    ),
    *(
        Known(
            target,
            r"^ValueError at message\.py",
            "rust (decoder)",
            "check_message accepts a GeneralizedTime of year 0; decode_message then "
            "raises a bare ValueError ('year 0 is out of range') for the header "
            "(in the server target: where the harness reads it to steer the request)",
        )
        for target in ("message", "protection", "server")
    ),
    Known(
        "protection",
        r"^EncodeError at message\.py",
        "rust (decoder)",
        "the same empty SEQUENCE SIZE (1..MAX) OF: protecting the decoded message "
        "anew encodes its values and raises EncodeError",
        lambda data: _has_empty_sequence_of(data[1:]),
    ),
    Known(
        "protection",
        r"^((InvalidVersion|DuplicateExtension|UnsupportedGeneralNameType) at certinfo\.py"
        r"|TypeError at protection\.py)",
        "protection.py / certinfo.py",
        "signer_candidates lets cryptography's exceptions that are no ValueError "
        "escape: InvalidVersion (certinfo.load_der), DuplicateExtension "
        "(certinfo.subject_key_id), TypeError (cert.subject with a BIT STRING "
        "attribute other than x500UniqueIdentifier)",
    ),
    Known(
        "protection",
        r"^(ValueError|UnsupportedAlgorithm) at protection\.py",
        "protection.py",
        "verify: cert.public_key() of a certificate with a malformed key or an "
        "unknown curve raises ValueError or cryptography's UnsupportedAlgorithm, "
        "not ProtectionError",
    ),
    Known(
        "server",
        r"^PropertyFailed: the server answered 'internal error': "
        r"(DecodeError|ValueError|InvalidVersion|DuplicateExtension|"
        r"UnsupportedGeneralNameType|UnsupportedAlgorithm|TypeError) via server\.py",
        "server.py / protection.py",
        "exceptions of reading what the request carries escape the handler, which "
        "answers 'internal error' instead of a refusal: the signer search "
        "(_find_signer: signer_candidates, certinfo.load_der, verify, and "
        "verify.ChainValidator._encoding_mismatch reading cert.issuer) on a sender "
        "Name that does not parse or an extraCert that is no valid certificate; "
        "_known_cert on a CertId issuer that is no Name; _popo_failure on a p10cr "
        "CSR of version 4 (InvalidVersion)",
    ),
    Known(
        "server",
        r"^PropertyFailed: the server answered 'internal error': EncodeError via server\.py",
        "server.py (and the rust decoder)",
        "the POPO check re-encodes the decoded CertRequest (_popo_failure: "
        "encode('CertRequest', ...)) instead of verifying over the received bytes; "
        "with an empty controls list (accepted by the decoder) that raises EncodeError",
        lambda data: _has_empty_sequence_of(data[1:]),
    ),
    Known(
        "server",
        r"^PropertyFailed: the response does not decode$",
        "server.py",
        "a request too deep to decode (more than 64 levels) whose PKIHeader alone "
        "decodes (_salvage_header gives it its own 64 levels) is answered with "
        "its sender as recipient, one level deeper: the answer exceeds the limit "
        "and cmpkit's own client cannot decode it",
    ),
)


def known_issue(target: str, signature: str, data: bytes) -> Known | None:
    """The known issue a finding is, if any."""
    for known in KNOWN:
        if known.target != target or not re.search(known.pattern, signature):
            continue
        if known.applies is None or known.applies(data):
            return known
    return None
