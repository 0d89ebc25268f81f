"""Distinguished names in OpenSSL's one-line syntax: ``cmp.dn.parse_dn``
on mutated strings (``-subject``, ``-issuer``, ``-recipient``), with and
without multi-valued RDNs and a ``warn`` callback.

Input: the string's bytes, read as command-line arguments are (UTF-8 with
surrogate escapes); seeds are the lines of seeds/dn/samples.txt.

Allowed: :class:`cmp.dn.DNSyntaxError`. A finding: any other exception,
or a name ``parse_dn`` accepts that ``format_dn`` does not give back
(``parse_dn(format_dn(n)) == n``), that cannot be DER-encoded, that
:func:`cmp.names.name_from_der` does not read back from its DER, or that
``same_name`` does not find equal to itself.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from cryptography import x509

from cmp import DecodeError
from cmp.dn import DNSyntaxError, format_dn, is_null_dn, oneline, parse_dn, same_name
from cmp.names import name_from_der
from fuzz.python.driver import FAILED, SEEDS_DIR, Seen, Target, check, expect, read_lines
from fuzz.python.mutate import mutate_text

MAX_SIZE = 1024

TOKENS: tuple[bytes, ...] = (
    b"/",
    b"+",
    b"=",
    b"\\",
    b"\\/",
    b"\\+",
    b"\\\\",
    b"/CN=",
    b"+CN=",
    b"/C=",
    b"C=",
    b"/O=",
    b"+OU=",
    b"/DC=",
    b"/emailAddress=",
    b"/serialNumber=",
    b"/dnQualifier=",
    b"/x500UniqueIdentifier=",
    b"/2.5.4.3=",
    b"/0.0=",
    b"/2.999999999999999999999=",
    b"/1.2.840.113549.1.9.1=",
    b"/jurisdictionC=",
    b"commonName",
    b" ",
    b"\t",
    b"\n",
    b"\x00",
    "é".encode(),
    "漢".encode(),
    "\U0001f600".encode(),
    b"\xff",
    b"\xed\xa0\x80",
)


def seeds() -> list[bytes]:
    return read_lines(SEEDS_DIR / "dn" / "samples.txt")


def mutate(data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    return mutate_text(data, rng, MAX_SIZE, others, TOKENS).replace(b"\n", b"")


def _check_name(name: x509.Name, seen: Seen[str]) -> None:
    oneline(name)
    check(same_name(name, name), "same_name(n, n) is false")
    check(is_null_dn(name) == (len(name.rdns) == 0), "is_null_dn")
    text = format_dn(name)
    again = expect(seen, "reparse", DNSyntaxError, parse_dn, text)
    check(again is not FAILED, f"format_dn gives a string parse_dn refuses\n{text!r}")
    check(again == name, f"parse_dn(format_dn(n)) != n\n{text!r}")
    der = name.public_bytes()  # an accepted name must be encodable
    back = expect(seen, "name_from_der", DecodeError, name_from_der, der)
    check(back is not FAILED, f"name_from_der refuses the DER of a parsed name\n{der.hex()}")
    check(back == name, f"name_from_der(n.public_bytes()) != n\n{der.hex()}")


def run(data: bytes, seen: Seen[str]) -> None:
    text = data.decode("utf-8", "surrogateescape")
    warnings: list[str] = []
    for multi, warn in ((True, None), (False, warnings.append), (True, warnings.append)):
        name = expect(
            seen, "parse_dn", DNSyntaxError, parse_dn, text, multi_valued=multi, warn=warn
        )
        if name is FAILED:
            continue
        seen["parsed"] += 1
        _check_name(name, seen)


def make_target() -> Target:
    return Target(
        name="dn",
        doc="parse_dn, format_dn, oneline, same_name",
        seeds=seeds,
        run=run,
        mutate=mutate,
    )
