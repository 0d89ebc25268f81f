"""InfoTypeAndValue (RFC 9810 §5.3.19, RFC 9480, RFC 9483 §4.3): the known
infoTypes by name and OID, and their values decoded to Python."""

from __future__ import annotations

from typing import Any

from cmp import _native
from cmp.asn1 import InfoTypeAndValue

__all__ = ["ITAV_TYPES", "NAME_BY_OID", "OID_BY_NAME", "decode_itav_value", "make_itav"]

_ID_IT = "1.3.6.1.5.5.7.4."

#: infoType name → (OID, name of the ASN.1 type of its value in a response).
ITAV_TYPES: dict[str, tuple[str, str]] = {
    "caProtEncCert": (_ID_IT + "1", "Certificate"),
    "signKeyPairTypes": (_ID_IT + "2", "AlgorithmIdentifiers"),
    "encKeyPairTypes": (_ID_IT + "3", "AlgorithmIdentifiers"),
    "preferredSymmAlg": (_ID_IT + "4", "AlgorithmIdentifier"),
    "caKeyUpdateInfo": (_ID_IT + "5", "CAKeyUpdAnnContent"),
    "currentCRL": (_ID_IT + "6", "Certificate"),
    "unsupportedOIDs": (_ID_IT + "7", "ObjectIdentifiers"),
    "keyPairParamReq": (_ID_IT + "10", "ObjectIdentifier"),
    "keyPairParamRep": (_ID_IT + "11", "AlgorithmIdentifier"),
    "revPassphrase": (_ID_IT + "12", "EncryptedKey"),
    "implicitConfirm": (_ID_IT + "13", "Null"),
    "confirmWaitTime": (_ID_IT + "14", "GeneralizedTime"),
    "origPKIMessage": (_ID_IT + "15", "PKIMessages"),
    "suppLangTags": (_ID_IT + "16", "PKIFreeText"),
    "caCerts": (_ID_IT + "17", "Certificates"),
    "rootCaKeyUpdate": (_ID_IT + "18", "RootCaKeyUpdateContent"),
    "certReqTemplate": (_ID_IT + "19", "CertReqTemplateContent"),
    "rootCaCert": (_ID_IT + "20", "Certificate"),
    "certProfile": (_ID_IT + "21", "PKIFreeText"),
    "crlStatusList": (_ID_IT + "22", "CRLStatusList"),
    "crls": (_ID_IT + "23", "Certificates"),
    "KemCiphertextInfo": (_ID_IT + "24", "KemCiphertextInfo"),
}

OID_BY_NAME: dict[str, str] = {name: oid for name, (oid, _) in ITAV_TYPES.items()}
NAME_BY_OID: dict[str, str] = {oid: name for name, oid in OID_BY_NAME.items()}
_TYPE_BY_OID: dict[str, str] = {oid: t for oid, t in ITAV_TYPES.values()}


def decode_itav_value(itav: InfoTypeAndValue) -> Any:
    """The value decoded by its infoType, where known; the DER bytes (or
    ``None`` when absent) otherwise. Raises :class:`cmp.DecodeError` when a
    known infoType carries a value of the wrong shape."""
    type_name = _TYPE_BY_OID.get(itav.info_type)
    if itav.info_value is None or type_name is None:
        return itav.info_value
    return _native.decode_as(type_name, itav.info_value)


def make_itav(name_or_oid: str, value: Any | None = None) -> InfoTypeAndValue:
    """An InfoTypeAndValue for a known infoType name (or a dotted OID), with
    ``value`` encoded by the infoType's ASN.1 type (raw DER bytes for an OID
    cmpkit does not know); no value gives an absent infoValue."""
    oid = OID_BY_NAME.get(name_or_oid, name_or_oid)
    if value is None:
        return InfoTypeAndValue(oid, None)
    type_name = _TYPE_BY_OID.get(oid)
    if type_name is None:
        if not isinstance(value, bytes):
            raise TypeError(f"value of unknown infoType {oid} must be DER bytes")
        return InfoTypeAndValue(oid, value)
    return InfoTypeAndValue(oid, _native.encode_as(type_name, value))
