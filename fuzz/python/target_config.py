"""OpenSSL config files: ``cmp.config.parse_config`` on mutated text, then
every lookup, ``merge_options`` (the values of ``openssl cmp``'s options)
and ``cmp.x509v3.extensions_from_section`` for each section.

Input: the file's bytes (read as ``load_config`` reads them, UTF-8 with
surrogate escapes); seeds are seeds/config/*.cnf. ``.include`` resolves
relative paths in seeds/config/ (``OPENSSL_CONF_INCLUDE``), and the
harness lets the parser read no file outside that directory, so that a
fuzzed ``.include /dev/zero`` cannot hang the run.

Allowed: :class:`cmp.config.ConfigError` and
:class:`cmp.x509v3.X509v3ConfigError`. A finding: any other exception, an
extension that ``cryptography`` cannot encode, or a value longer than
OpenSSL's limit after expansion.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import cmp.config
from cmp.config import MAX_VALUE_LENGTH, ConfigError, merge_options, parse_config
from cmp.x509v3 import X509v3ConfigError, extensions_from_section
from fuzz.python.driver import FAILED, SEEDS_DIR, Seen, Target, check, expect
from fuzz.python.mutate import mutate_text
from fuzz.python.pki import credential

SANDBOX = (SEEDS_DIR / "config").resolve()
ENVIRON = {"HOME": "/nonexistent", "FOO": "env-foo", "OPENSSL_CONF_INCLUDE": str(SANDBOX)}
MAX_SIZE = 8192

TOKENS: tuple[bytes, ...] = (
    b"\n",
    b"\r\n",
    b"\\\n",
    b"\\",
    b"\\\\",
    b"#",
    b'"',
    b"'",
    b"=",
    b" = ",
    b"[",
    b"]",
    b"[default]\n",
    b"[cmp]\n",
    b"[ENV]\n",
    b"::",
    b"$",
    b"$$",
    b"${",
    b"$(",
    b"}",
    b")",
    b"$ENV::",
    b"$default::",
    b"${ENV::FOO}",
    b"$top",
    b".include ",
    b".include = ",
    b".include include\n",
    b".pragma ",
    b"dollarid:on",
    b"abspath:true",
    b"includedir:include",
    b"@",
    b",",
    b"critical,",
    b"CA:TRUE",
    b"pathlen:",
    b"DNS:",
    b"IP:",
    b"email:copy",
    b"URI:",
    b"dirName:",
    b"otherName:",
    b"RID:",
    b"DER:",
    b"ASN1:",
    b"SEQUENCE:",
    b"SET:",
    b"UTF8:",
    b"BMP:",
    b"FORMAT:HEX,",
    b"keyid:always",
    b"issuer:always",
    b"hash",
    b"none",
    b"1.2.3.4",
    b"0x7fffffff",
    b"-1",
    b"99999999999999999999",
    b"\x00",
    "é".encode(),
    b"\xff",
    b"\xc3",
)


def seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SANDBOX.glob("*.cnf"))]


def mutate(data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    return mutate_text(data, rng, MAX_SIZE, others, TOKENS)


def _sandboxed_read(path: str) -> str:
    """``cmp.config._read_text`` for files in the sandbox only."""
    real = os.path.realpath(path)
    if os.path.commonpath([real, str(SANDBOX)]) != str(SANDBOX):
        raise PermissionError(13, "outside the fuzzing sandbox", path)
    with open(real, "rb") as handle:
        return handle.read(1 << 20).decode("utf-8", "surrogateescape")


@contextmanager
def _sandbox() -> Iterator[None]:
    """``cmp.config`` reads files through the sandbox while the input runs."""
    real = cmp.config._read_text
    cmp.config._read_text = _sandboxed_read
    try:
        yield
    finally:
        cmp.config._read_text = real


def _extension_context() -> dict[str, Any]:
    cred = credential("client-ec")
    return {
        "public_key": cred.key.public_key(),
        "subject": cred.cert.subject,
        "issuer_certificate": credential("root").cert,
    }


def run(data: bytes, seen: Seen[str]) -> None:
    with _sandbox():
        _run(data, seen)


def _run(data: bytes, seen: Seen[str]) -> None:
    text = data.decode("utf-8", "surrogateescape")
    config = expect(
        seen, "parse_config", ConfigError, parse_config, text, "fuzz.cnf", environ=ENVIRON
    )
    if config is FAILED:
        return
    seen["parsed"] += 1
    names = config.section_names
    for name in names[:16]:
        entries = config.section(name)
        check(entries is not None, f"section_names lists {name!r}, section() does not know it")
        assert entries is not None
        for key, value in list(entries.items())[:16]:
            check(len(value) <= MAX_VALUE_LENGTH + len(text), "a value past OpenSSL's limit")
            check(config.get(name, key) == value, "get() disagrees with section()")
    warnings: list[str] = []
    for sections in ("cmp", " ".join(names[-2:]) or "default"):
        expect(
            seen,
            "merge_options",
            ConfigError,
            merge_options,
            config,
            sections,
            {},
            warn=warnings.append,
        )
    context = _extension_context()
    for name in names[:8]:
        extensions = expect(
            seen, "extensions_from_section", X509v3ConfigError,
            extensions_from_section, config, name, **context,
        )  # fmt: skip
        if extensions is FAILED:
            continue
        for ext in extensions:
            ext.value.public_bytes()  # what is returned must be encodable
            seen["extension"] += 1


def make_target() -> Target:
    return Target(
        name="config",
        doc="parse_config, merge_options and X.509v3 extension sections",
        seeds=seeds,
        run=run,
        mutate=mutate,
    )
