"""Loading keys, certificates and CRLs the way ``openssl cmp`` does.

Since OpenSSL 3.0 a key, certificate or CRL source may be PEM, DER or
PKCS#12 and the format is detected unless one is forced (``-keyform``,
"Format Options" in ``openssl-format-options(1)``); a source is a file name,
optionally with the ``file:`` scheme. Options that take several sources
(``-trusted``, ``-untrusted``, ``-extracerts``, ...) separate them by commas
and/or whitespace, and each source may hold several certificates.

Every failure is a :class:`CredentialError` whose one-line message names
what was being loaded and from where, and never contains a pass phrase.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Sequence
from typing import Optional, Union

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from cmp.errors import CMPError

__all__ = [
    "FORMATS",
    "MAX_CREDENTIAL_FILE_SIZE",
    "CredentialError",
    "Source",
    "load_cert",
    "load_cert_and_chain",
    "load_cert_sources",
    "load_certs",
    "load_crls",
    "load_csr",
    "load_key",
    "load_public_key",
    "split_sources",
]

Source = Union[str, "os.PathLike[str]"]
"""A file name, optionally prefixed by ``file:``, or a path."""

FORMATS = ("PEM", "DER", "P12")
"""Input formats accepted by the ``format`` arguments (any letter case)."""

MAX_CREDENTIAL_FILE_SIZE = 16 * 1024 * 1024
"""Larger files are refused before they are read: no credential is that big."""

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE")
# OpenSSL's "trusted certificate": the certificate followed by its trust settings.
_TRUSTED_CERT_LABEL = b"TRUSTED CERTIFICATE"
_PKCS7_LABELS = (b"PKCS7", b"PKCS #7 SIGNED DATA")
_CRL_LABELS = (b"X509 CRL",)
_PRIVATE_KEY_LABELS = (
    b"PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"DSA PRIVATE KEY",
)
_PUBLIC_KEY_LABELS = (b"PUBLIC KEY", b"RSA PUBLIC KEY")
_FILE_SCHEME = "file:"
# Two or more letters, so that a Windows drive ("C:\\x") is not taken for a scheme.
_URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


class CredentialError(CMPError):
    """A key, certificate or CRL source cannot be read or parsed.

    ``desc`` says what was being loaded (``"CMP client certificate"``),
    ``source`` the file it was to come from.
    """

    def __init__(self, desc: str, source: str, reason: str):
        super().__init__(f"cannot load {desc} from '{source}': {reason}")
        self.desc = desc
        self.source = source
        self.reason = reason


# -- sources -----------------------------------------------------------------


def split_sources(arg: str) -> list[str]:
    """Split an option value naming several sources at commas and/or whitespace.

    ``"a.pem, b.pem c.der"`` gives three names, as for ``openssl cmp -untrusted``.
    An empty value, or an empty name between two commas, is an error.
    """
    text = arg.strip()
    if not text:
        raise CredentialError("certificates", arg, "no source given")
    names = re.split(r"\s*,\s*|\s+", text)
    if any(not name for name in names):
        raise CredentialError("certificates", arg, "empty source name in list")
    return names


def _display(source: Source) -> str:
    return os.fspath(source)


def _read(source: Source, desc: str) -> bytes:
    """The bytes of a file source; ``file:`` and ``file://`` prefixes are accepted."""
    name = _display(source)
    path = _local_path(source, desc)
    if not path:
        raise CredentialError(desc, name, "empty file name")
    try:
        size = os.stat(path).st_size
        if size > MAX_CREDENTIAL_FILE_SIZE:
            raise CredentialError(
                desc, name, f"file too large ({size} bytes, limit {MAX_CREDENTIAL_FILE_SIZE})"
            )
        with open(path, "rb") as handle:
            return handle.read(MAX_CREDENTIAL_FILE_SIZE + 1)
    except FileNotFoundError:
        raise CredentialError(desc, name, "no such file") from None
    except IsADirectoryError:
        raise CredentialError(desc, name, "is a directory") from None
    except PermissionError:
        raise CredentialError(desc, name, "permission denied") from None
    except OSError as exc:
        raise CredentialError(desc, name, exc.strerror or type(exc).__name__) from None


def _local_path(source: Source, desc: str) -> str:
    """The file name behind a source: ``file:`` is stripped, other URI schemes refused."""
    name = _display(source)
    if not isinstance(source, str):
        return name
    if source.startswith(_FILE_SCHEME):
        path = source[len(_FILE_SCHEME) :]
        if path.startswith("//"):
            # file://host/path: only the local host (empty or "localhost") is meaningful.
            host, _, rest = path[2:].partition("/")
            if host not in ("", "localhost"):
                raise CredentialError(desc, name, f"unsupported host '{host}' in file URI")
            path = "/" + rest
        return path
    scheme = _URI_SCHEME.match(source)
    if scheme and not os.path.exists(source):
        raise CredentialError(desc, name, f"unsupported URI scheme '{scheme.group(1)}:'")
    return source


def _format(fmt: str | None, desc: str, name: str) -> str | None:
    if fmt is None:
        return None
    upper = fmt.upper()
    if upper == "PKCS12":
        upper = "P12"
    if upper not in FORMATS:
        raise CredentialError(desc, name, f"unsupported format '{fmt}' (use PEM, DER or P12)")
    return upper


def _pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(label, whole block) of each PEM block in ``data``, in order."""
    return [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(data)]


def _pem_body(block: bytes) -> bytes:
    """The decoded base64 body of one PEM block (no RFC 1421 headers expected)."""
    lines = block.splitlines()[1:-1]
    try:
        return base64.b64decode(b"".join(line.strip() for line in lines), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("bad base64 in PEM block") from None


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def _first_tlv(der: bytes) -> bytes:
    """The first DER TLV of ``der`` (the certificate of a TRUSTED CERTIFICATE)."""
    if len(der) < 2:
        raise ValueError("truncated DER")
    first = der[1]
    if first < 0x80:
        return der[: 2 + first]
    count = first & 0x7F
    if count == 0 or count > 4 or len(der) < 2 + count:
        raise ValueError("bad DER length")
    length = int.from_bytes(der[2 : 2 + count], "big")
    return der[: 2 + count + length]


# -- P12 -----------------------------------------------------------------------


def _load_p12(
    data: bytes, password: bytes | None, desc: str, name: str
) -> pkcs12.PKCS12KeyAndCertificates | None:
    """The PKCS#12 bundle in ``data``; None if ``data`` is no PKCS#12 structure."""
    tries: list[bytes | None] = [password] if password is not None else [None, b""]
    if password is not None and not _usable_p12_password(password):
        # cryptography takes UTF-8 passwords without NUL only (and fails badly
        # on others); no such pass phrase opens a file made by OpenSSL either.
        if _looks_like_p12(data):
            raise CredentialError(desc, name, "wrong pass phrase or damaged PKCS#12 file")
        return None
    last: ValueError | None = None
    for attempt in tries:
        try:
            return pkcs12.load_pkcs12(data, attempt)
        except ValueError as exc:
            last = exc
    if last is not None and "password" in str(last).lower():
        if password is None:
            raise CredentialError(desc, name, "PKCS#12 file needs a pass phrase")
        raise CredentialError(desc, name, "wrong pass phrase or damaged PKCS#12 file")
    return None


def _usable_p12_password(password: bytes) -> bool:
    if b"\x00" in password:
        return False
    try:
        password.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_p12(data: bytes) -> bool:
    """Whether ``data`` parses as PKCS#12 with some pass phrase (a wrong one
    fails differently from data that is no PKCS#12 at all)."""
    try:
        pkcs12.load_pkcs12(data, b"cmpkit probe: not the pass phrase")
    except ValueError as exc:
        return "password" in str(exc).lower()
    return True


# -- certificates ---------------------------------------------------------------


def _certs_from_pem(data: bytes) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for label, block in _pem_blocks(data):
        if label in _CERT_LABELS:
            certs.append(x509.load_der_x509_certificate(_pem_body(block)))
        elif label == _TRUSTED_CERT_LABEL:
            certs.append(x509.load_der_x509_certificate(_first_tlv(_pem_body(block))))
        elif label in _PKCS7_LABELS:
            certs.extend(pkcs7.load_der_pkcs7_certificates(_pem_body(block)))
    return certs


def _certs_from_der(data: bytes) -> list[x509.Certificate] | None:
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        pass
    try:
        return list(pkcs7.load_der_pkcs7_certificates(data))
    except ValueError:
        return None


def _certs_from_p12(
    data: bytes, password: bytes | None, desc: str, name: str
) -> list[x509.Certificate] | None:
    bundle = _load_p12(data, password, desc, name)
    if bundle is None:
        return None
    certs = [bundle.cert.certificate] if bundle.cert is not None else []
    certs.extend(c.certificate for c in bundle.additional_certs)
    return certs


def load_certs(
    source: Source,
    *,
    password: bytes | None = None,
    format: str | None = None,
    desc: str = "certificate",
) -> list[x509.Certificate]:
    """All certificates in one source: PEM (any number), DER or PKCS#12.

    ``format`` forces ``"PEM"``, ``"DER"`` or ``"P12"``; by default it is
    detected. ``password`` opens a PKCS#12 file (``-keypass``/``-otherpass``).
    A source holding no certificate is an error, as it is for OpenSSL.
    """
    name = _display(source)
    fmt = _format(format, desc, name)
    data = _read(source, desc)
    if not data:
        raise CredentialError(desc, name, "empty file")
    certs: list[x509.Certificate] | None = None
    try:
        if fmt == "PEM" or (fmt is None and _is_pem(data)):
            certs = _certs_from_pem(data)
        elif fmt == "DER":
            certs = _certs_from_der(data)
        elif fmt == "P12":
            certs = _certs_from_p12(data, password, desc, name)
        else:
            certs = _certs_from_der(data)
            if certs is None:
                certs = _certs_from_p12(data, password, desc, name)
    except ValueError as exc:
        raise CredentialError(desc, name, f"malformed certificate ({exc})") from None
    if certs is None:
        expected = {"DER": "DER", "P12": "PKCS#12"}.get(fmt or "", "PEM, DER or PKCS#12")
        raise CredentialError(desc, name, f"not a {expected} certificate file")
    if not certs:
        raise CredentialError(desc, name, "no certificate found")
    return certs


def load_cert(
    source: Source,
    *,
    password: bytes | None = None,
    format: str | None = None,
    desc: str = "certificate",
) -> x509.Certificate:
    """The first certificate of a source (``-srvcert``, ``-oldcert``, ``-rsp_cert``, ...).

    OpenSSL 3.0 reads a single certificate by taking the first one a source
    yields and ignoring the rest; so does this function. Use
    :func:`load_cert_and_chain` where the rest matters (``-cert``, ``-tls_cert``).
    """
    return load_certs(source, password=password, format=format, desc=desc)[0]


def load_cert_and_chain(
    source: Source,
    *,
    password: bytes | None = None,
    format: str | None = None,
    desc: str = "certificate",
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The first certificate of a source and the others after it.

    This is ``-cert`` (and ``-tls_cert``): "If the file includes further
    certs, they are appended to the untrusted certs because they typically
    constitute the chain of the client certificate".
    """
    certs = load_certs(source, password=password, format=format, desc=desc)
    return certs[0], certs[1:]


def load_cert_sources(
    arg: str | Sequence[Source],
    *,
    password: bytes | None = None,
    format: str | None = None,
    desc: str = "certificates",
) -> list[x509.Certificate]:
    """The certificates of several sources, in order, duplicates kept once.

    ``arg`` is one option value with sources separated by commas and/or
    whitespace (``-trusted "root.crt, extra.pem"``), or a list of sources
    (one per repetition of an option, or from a config file).
    """
    names: list[Source] = list(split_sources(arg) if isinstance(arg, str) else arg)
    if not names:
        raise CredentialError(desc, "", "no source given")
    seen: set[bytes] = set()
    result: list[x509.Certificate] = []
    for name in names:
        for cert in load_certs(name, password=password, format=format, desc=desc):
            der = cert.public_bytes(serialization.Encoding.DER)
            if der not in seen:
                seen.add(der)
                result.append(cert)
    return result


# -- CRLs ------------------------------------------------------------------------


def load_crls(
    source: str | Sequence[Source],
    *,
    format: str | None = None,
    desc: str = "CRL",
) -> list[x509.CertificateRevocationList]:
    """All CRLs of one or more sources (PEM with any number of CRLs, or DER).

    A string may name several sources separated by commas and/or whitespace,
    like the certificate options.
    """
    names: list[Source] = list(split_sources(source) if isinstance(source, str) else source)
    crls: list[x509.CertificateRevocationList] = []
    for item in names:
        crls.extend(_load_crl_file(item, format, desc))
    return crls


def _load_crl_file(
    source: Source, format: str | None, desc: str
) -> list[x509.CertificateRevocationList]:
    name = _display(source)
    fmt = _format(format, desc, name)
    if fmt == "P12":
        raise CredentialError(desc, name, "a CRL cannot be read from a PKCS#12 file")
    data = _read(source, desc)
    if not data:
        raise CredentialError(desc, name, "empty file")
    pem = fmt == "PEM" or (fmt is None and _is_pem(data))
    try:
        if pem:
            crls = [
                x509.load_der_x509_crl(_pem_body(block))
                for label, block in _pem_blocks(data)
                if label in _CRL_LABELS
            ]
        else:
            crls = [x509.load_der_x509_crl(data)]
    except ValueError as exc:
        if not pem and fmt is None:
            raise CredentialError(desc, name, "not a PEM or DER CRL file") from None
        raise CredentialError(desc, name, f"malformed CRL ({exc})") from None
    if not crls:
        raise CredentialError(desc, name, "no CRL found")
    return crls


# -- CSRs ------------------------------------------------------------------------

_CSR_LABELS = (b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")


def load_csr(source: Source, *, desc: str = "PKCS#10 CSR") -> x509.CertificateSigningRequest:
    """A PKCS#10 CSR in PEM or DER, the format detected (``-csr``)."""
    name = _display(source)
    data = _read(source, desc)
    if not data:
        raise CredentialError(desc, name, "empty file")
    try:
        if _is_pem(data):
            for label, block in _pem_blocks(data):
                if label in _CSR_LABELS:
                    return x509.load_der_x509_csr(_pem_body(block))
            raise CredentialError(desc, name, "no certificate request found")
        return x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise CredentialError(desc, name, f"not a PEM or DER CSR ({exc})") from None


# -- keys ------------------------------------------------------------------------


class _NotAKey(Exception):
    """The data is not a private key of the format tried."""


class _NeedsPassword(Exception):
    """The key is encrypted and no pass phrase was given."""


class _WrongPassword(Exception):
    """The pass phrase does not decrypt the key."""


_KeyLoader = Callable[[bytes, Optional[bytes]], PrivateKeyTypes]


def _key_from_pem(data: bytes, password: bytes | None) -> PrivateKeyTypes | None:
    for label, block in _pem_blocks(data):
        if label in _PRIVATE_KEY_LABELS:
            return _decrypt(serialization.load_pem_private_key, block, password)
    return None


def _key_from_der(data: bytes, password: bytes | None) -> PrivateKeyTypes | None:
    try:
        return _decrypt(serialization.load_der_private_key, data, password)
    except _NotAKey:
        return None


def _decrypt(loader: _KeyLoader, data: bytes, password: bytes | None) -> PrivateKeyTypes:
    """Load a key; a pass phrase given for an unencrypted key is ignored, as by OpenSSL."""
    try:
        return loader(data, password)
    except TypeError as exc:
        if "not encrypted" in str(exc):
            return loader(data, None)
        raise _NeedsPassword() from None
    except ValueError as exc:
        text = str(exc).lower()
        if "password" in text or "decrypt" in text or _is_encrypted(loader, data, password):
            # A wrong pass phrase may also decrypt to garbage that is no key.
            raise _WrongPassword() from None
        raise _NotAKey(str(exc)) from None


def _is_encrypted(loader: _KeyLoader, data: bytes, password: bytes | None) -> bool:
    if password is None:
        return False
    try:
        loader(data, None)
    except TypeError:
        return True  # "Password was not given but private key is encrypted"
    except ValueError:
        return False
    return False


def load_key(
    source: Source,
    *,
    password: bytes | None = None,
    format: str | None = None,
    desc: str = "private key",
) -> PrivateKeyTypes:
    """A private key: PEM (PKCS#8, traditional, encrypted), DER, or from PKCS#12.

    ``password`` is the pass phrase (``-keypass``); it is ignored for an
    unencrypted key. ``format`` is ``-keyform`` (``PEM``, ``DER`` or ``P12``).
    """
    name = _display(source)
    fmt = _format(format, desc, name)
    data = _read(source, desc)
    if not data:
        raise CredentialError(desc, name, "empty file")
    key: PrivateKeyTypes | None = None
    try:
        if fmt == "PEM" or (fmt is None and _is_pem(data)):
            key = _key_from_pem(data, password)
            if key is None:
                raise CredentialError(desc, name, "no private key found")
        elif fmt == "DER":
            key = _key_from_der(data, password)
        elif fmt == "P12":
            key = _key_from_p12(data, password, desc, name)
        else:
            key = _key_from_der(data, password)
            if key is None:
                key = _key_from_p12(data, password, desc, name)
    except _NeedsPassword:
        raise CredentialError(desc, name, "key is encrypted and no pass phrase was given") from None
    except _WrongPassword:
        raise CredentialError(desc, name, "wrong pass phrase or damaged key") from None
    except _NotAKey as exc:
        raise CredentialError(desc, name, f"malformed private key ({exc})") from None
    except ValueError as exc:
        raise CredentialError(desc, name, f"malformed private key ({exc})") from None
    if key is None:
        expected = {"DER": "DER", "P12": "PKCS#12"}.get(fmt or "", "PEM, DER or PKCS#12")
        raise CredentialError(desc, name, f"not a {expected} private key file")
    return key


def _key_from_p12(
    data: bytes, password: bytes | None, desc: str, name: str
) -> PrivateKeyTypes | None:
    bundle = _load_p12(data, password, desc, name)
    if bundle is None:
        return None
    if bundle.key is None:
        raise CredentialError(desc, name, "PKCS#12 file holds no private key")
    return bundle.key


def load_public_key(
    source: Source,
    *,
    password: bytes | None = None,
    format: str | None = None,
    desc: str = "public key",
) -> PublicKeyTypes:
    """A public key (``-newkey`` may name one): SubjectPublicKeyInfo in PEM or
    DER, else the public half of a private key from :func:`load_key`."""
    name = _display(source)
    fmt = _format(format, desc, name)
    data = _read(source, desc)
    try:
        if fmt in (None, "PEM") and _is_pem(data):
            for label, block in _pem_blocks(data):
                if label in _PUBLIC_KEY_LABELS:
                    return serialization.load_pem_public_key(block)
        elif fmt in (None, "DER"):
            return serialization.load_der_public_key(data)
    except ValueError:
        pass
    return load_key(source, password=password, format=format, desc=desc).public_key()
