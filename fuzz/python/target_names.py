"""Names, general names and extensions from DER (``cmp.names``): what the
accessors of a decoded message parse from the raw DER the core keeps.

Input: a selector byte, then DER: ``name_from_der`` (0), ``extensions_from_der``
(1), a GeneralName decoded by the core and turned into ``cryptography``'s
(2), GeneralNames likewise (3). Seeds: the Names, Extensions and
GeneralNames in the seed messages and their certificates.

Allowed: :class:`cmp.DecodeError` (a ``CMPError``). A finding: any other
exception, or a Name that does not survive ``public_bytes()`` and
``name_from_der`` again, or that ``oneline``/``format_dn`` cannot print.
"""

from __future__ import annotations

from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from cmp import CMPError, DecodeError, PKIMessage
from cmp import asn1 as A
from cmp.config import parse_config
from cmp.dn import format_dn, oneline, parse_dn
from cmp.names import extensions_from_der, name_from_der
from fuzz.python.driver import FAILED, SEEDS_DIR, Seen, Target, check, expect, read_lines
from fuzz.python.messages import mutate_with_selector, seed_messages
from fuzz.python.mutate import Node, parse_der, write_der
from fuzz.python.pki import credential


def _extensions_of(cert_der: bytes) -> bytes | None:
    """The DER of a certificate's Extensions (inside tbsCertificate's [3])."""
    tree = parse_der(cert_der)
    if not tree or tree[0].children is None or not tree[0].children:
        return None
    tbs = tree[0].children[0].children or []
    for node in tbs:
        if node.tag == b"\xa3" and node.children:
            return write_der(node.children[:1])
    return None


@cache
def _seeds() -> tuple[bytes, ...]:
    names: set[bytes] = set()
    extensions: set[bytes] = set()
    general: set[bytes] = set()
    for der in seed_messages():
        msg = PKIMessage.from_der(der)
        for gn in (msg.header.sender, msg.header.recipient):
            general.add(A.encode("GeneralName", gn))
            if gn.kind == "directoryName":
                names.add(gn.value)
        for cert_der in msg.extra_certs:
            try:
                cert = x509.load_der_x509_certificate(cert_der)
            except ValueError:
                continue
            names.update((cert.subject.public_bytes(), cert.issuer.public_bytes()))
            ext = _extensions_of(cert_der)
            if ext is not None:
                extensions.add(ext)
        if msg.body_type in ("ir", "cr", "kur"):
            for crm in msg.body.value:
                template = crm.cert_req.cert_template
                if template.extensions is not None:
                    extensions.add(template.extensions)
    for cred in ("root", "server", "client-rsa", "enrolled"):
        cert = credential(cred).cert
        names.add(cert.subject.public_bytes())
        ext = _extensions_of(cert.public_bytes(serialization.Encoding.DER))
        if ext is not None:
            extensions.add(ext)
    names.update(_sample_names())
    extensions.update(_sample_extensions())
    general_list = sorted(general)
    inputs = [b"\x00" + n for n in sorted(names)]
    inputs += [b"\x01" + e for e in sorted(extensions)]
    inputs += [b"\x02" + g for g in general_list]
    inputs += [
        b"\x03" + write_der([Node(b"\x30", b"", parse_der(b"".join(general_list[i : i + 3])))])
        for i in range(0, len(general_list), 3)
    ]
    return tuple(inputs)


def _sample_names() -> list[bytes]:
    """Names with every string type and a multi-valued RDN, and the DN samples."""
    out = []
    for line in read_lines(SEEDS_DIR / "dn" / "samples.txt"):
        try:
            out.append(parse_dn(line.decode(), warn=lambda _: None).public_bytes())
        except (ValueError, UnicodeDecodeError):
            continue
    types = [
        (NameOID.COMMON_NAME, "utf8", _ASN1Type.UTF8String),
        (NameOID.COUNTRY_NAME, "DE", _ASN1Type.PrintableString),
        (NameOID.EMAIL_ADDRESS, "a@b.example", _ASN1Type.IA5String),
        (NameOID.ORGANIZATION_NAME, "bmp \u00e9", _ASN1Type.BMPString),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "univ \u00e9", _ASN1Type.UniversalString),
        (NameOID.LOCALITY_NAME, "teletex", _ASN1Type.T61String),
        (NameOID.SURNAME, "visible", _ASN1Type.VisibleString),
    ]
    attrs: list[x509.NameAttribute[str | bytes]] = [
        x509.NameAttribute(oid, value, _type=t) for oid, value, t in types
    ]
    unique: x509.NameAttribute[str | bytes] = x509.NameAttribute(
        NameOID.X500_UNIQUE_IDENTIFIER, b"\x00\x01", _type=_ASN1Type.BitString
    )
    out.append(
        x509.Name([x509.RelativeDistinguishedName([a]) for a in [*attrs, unique]]).public_bytes()
    )
    out.append(x509.Name([x509.RelativeDistinguishedName(attrs[:3])]).public_bytes())
    return out


def _sample_extensions() -> list[bytes]:
    """The Extensions of the X.509v3 sections of the config corpus."""
    from cmp.x509v3 import X509v3ConfigError, extensions_from_section

    text = (SEEDS_DIR / "config" / "x509v3-sections.cnf").read_text()
    config = parse_config(text, environ={})
    cred = credential("client-ec")
    nodes = []
    for section in config.section_names:
        try:
            exts = extensions_from_section(
                config, section, public_key=cred.key.public_key(), subject=cred.cert.subject,
                issuer_certificate=credential("root").cert,
            )  # fmt: skip
        except X509v3ConfigError:
            continue
        for ext in exts:
            fields = [Node(b"\x06", _oid_der(ext.oid.dotted_string))]
            if ext.critical:
                fields.append(Node(b"\x01", b"\xff"))
            fields.append(Node(b"\x04", ext.value.public_bytes()))
            nodes.append(Node(b"\x30", b"", fields))
    return [write_der([Node(b"\x30", b"", nodes[i : i + 4])]) for i in range(0, len(nodes), 4)]


def _oid_der(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def seeds() -> list[bytes]:
    return list(_seeds())


def _check_name(name: x509.Name, seen: Seen[str]) -> None:
    oneline(name)
    format_dn(name)
    der = name.public_bytes()
    back = expect(seen, "name_from_der(public_bytes)", DecodeError, name_from_der, der)
    check(
        back is not FAILED, f"name_from_der refuses the re-encoding of a Name it read\n{der.hex()}"
    )
    check(back == name, "name_from_der(n.public_bytes()) != n")


def run(data: bytes, seen: Seen[str]) -> None:
    if not data:
        return
    selector, der = data[0] & 3, data[1:]
    if selector == 0:
        name = expect(seen, "name_from_der", CMPError, name_from_der, der)
        if name is not FAILED:
            seen["name"] += 1
            _check_name(name, seen)
    elif selector == 1:
        extensions = expect(seen, "extensions_from_der", CMPError, extensions_from_der, der)
        if extensions is not FAILED:
            for ext in extensions:
                repr(ext.value)
                seen["extension"] += 1
    else:
        type_name = "GeneralName" if selector == 2 else "GeneralNames"
        value = expect(seen, f"decode {type_name}", CMPError, A.decode, type_name, der)
        if value is FAILED:
            return
        for gn in (value,) if selector == 2 else value:
            converted = expect(seen, f"to_cryptography {gn.kind}", CMPError, gn.to_cryptography)
            if converted is FAILED:
                continue
            seen[f"general_name={gn.kind}"] += 1
            if isinstance(converted, x509.DirectoryName):
                _check_name(converted.value, seen)
            if gn.kind != "otherName":  # cryptography keeps otherName's value as it is
                again = A.GeneralName.from_cryptography(converted)
                check(again == gn, f"GeneralName round trip changes a {gn.kind}")


def make_target() -> Target:
    return Target(
        name="names",
        doc="name_from_der, extensions_from_der, GeneralName.to_cryptography",
        seeds=seeds,
        run=run,
        mutate=mutate_with_selector,
    )
