//! Which Python class each ASN.1 type of `cmpkit-core` becomes: one line per
//! type (see `convert` for the rules), plus times, nested messages and the
//! registry behind `decode_as`/`encode_as`.

use crate::convert::{lazy_class, FromPy, ToPy};
use crate::{py_choice, py_struct};
use bumpalo::Bump;
use cmpkit_core::cmp::*;
use cmpkit_core::common::{GeneralizedTime, X509GeneralizedTime};
use cmpkit_core::crmf::*;
use cmpkit_core::pkix::*;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

// --- PKIX ------------------------------------------------------------------------
py_struct!(AlgorithmIdentifier<'a> { algorithm, parameters });
py_struct!(Extension<'a> { extn_id, critical, extn_value });
py_struct!(RsassaPssParams<'a> {
    hash_algorithm,
    mask_gen_algorithm,
    salt_length,
    trailer_field,
});
py_choice!(GeneralName<'a> {
    OtherName => "otherName",
    Rfc822Name => "rfc822Name",
    DnsName => "dNSName",
    X400Address => "x400Address",
    DirectoryName => "directoryName",
    EdiPartyName => "ediPartyName",
    UniformResourceIdentifier => "uniformResourceIdentifier",
    IpAddress => "iPAddress",
    RegisteredId => "registeredID",
});

// --- CRMF ------------------------------------------------------------------------
py_struct!(CertReqMsg<'a> { cert_req, popo, reg_info });
py_struct!(CertRequest<'a> { cert_req_id, cert_template, controls });
py_struct!(CertTemplate<'a> {
    version, serial_number, signing_alg, issuer, validity, subject, public_key,
    issuer_uid, subject_uid, extensions,
});
py_struct!(OptionalValidity {
    not_before,
    not_after
});
py_struct!(AttributeTypeAndValue<'a> { attr_type, value });
py_choice!(ProofOfPossession<'a> {
    RaVerified => "raVerified",
    Signature => "signature",
    KeyEncipherment => "keyEncipherment",
    KeyAgreement => "keyAgreement",
});
py_struct!(POPOSigningKey<'a> { poposk_input, algorithm_identifier, signature });
py_struct!(POPOSigningKeyInput<'a> { auth_info, public_key });
py_choice!(POPOSigningKeyInputAuthInfo<'a> {
    Sender => "sender",
    PublicKeyMac => "publicKeyMAC",
});
py_struct!(PKMACValue<'a> { alg_id, value });
py_choice!(POPOPrivKey<'a> {
    ThisMessage => "thisMessage",
    SubsequentMessage => "subsequentMessage",
    DhMac => "dhMAC",
    AgreeMac => "agreeMAC",
    EncryptedKey => "encryptedKey",
});
py_struct!(PBMParameter<'a> { salt, owf, iteration_count, mac });
py_choice!(EncryptedKey<'a> {
    EncryptedValue => "encryptedValue",
    EnvelopedData => "envelopedData",
});
py_struct!(EncryptedValue<'a> {
    intended_alg, symm_alg, enc_symm_key, key_alg, value_hint, enc_value,
});
py_struct!(PKIPublicationInfo<'a> { action, pub_infos });
py_struct!(SinglePubInfo<'a> { pub_method, pub_location });
py_choice!(PKIArchiveOptions<'a> {
    EncryptedPrivKey => "encryptedPrivKey",
    KeyGenParameters => "keyGenParameters",
    ArchiveRemGenPrivKey => "archiveRemGenPrivKey",
});
py_struct!(CertId<'a> { issuer, serial_number });

// --- CMP -------------------------------------------------------------------------
py_struct!(PKIHeader<'a> {
    pvno, sender, recipient, message_time, protection_alg, sender_kid, recip_kid,
    transaction_id, sender_nonce, recip_nonce, free_text, general_info,
});
py_choice!(PKIBody<'a> {
    Ir => "ir", Ip => "ip", Cr => "cr", Cp => "cp", P10cr => "p10cr",
    Popdecc => "popdecc", Popdecr => "popdecr", Kur => "kur", Kup => "kup",
    Krr => "krr", Krp => "krp", Rr => "rr", Rp => "rp", Ccr => "ccr", Ccp => "ccp",
    Ckuann => "ckuann", Cann => "cann", Rann => "rann", Crlann => "crlann",
    Pkiconf => "pkiconf", Nested => "nested", Genm => "genm", Genp => "genp",
    Error => "error", CertConf => "certConf", PollReq => "pollReq", PollRep => "pollRep",
});
py_struct!(PKIStatusInfo<'a> { status, status_string, fail_info });
py_struct!(CertRepMessage<'a> { ca_pubs, response });
py_struct!(CertResponse<'a> { cert_req_id, status, certified_key_pair, rsp_info });
py_struct!(CertifiedKeyPair<'a> { cert_or_enc_cert, private_key, publication_info });
py_choice!(CertOrEncCert<'a> {
    Certificate => "certificate",
    EncryptedCert => "encryptedCert",
});
py_struct!(Challenge<'a> { owf, witness, challenge, encrypted_rand });
py_struct!(KeyRecRepContent<'a> { status, new_sig_cert, ca_certs, key_pair_hist });
py_struct!(RevDetails<'a> { cert_details, crl_entry_details });
py_struct!(RevRepContent<'a> { status, rev_certs, crls });
py_choice!(CAKeyUpdContent<'a> {
    CAKeyUpdAnnV2 => "cAKeyUpdAnnV2",
    CAKeyUpdAnnV3 => "cAKeyUpdAnnV3",
});
py_struct!(CAKeyUpdAnnContent<'a> { old_with_new, new_with_old, new_with_new });
py_struct!(RootCaKeyUpdateContent<'a> { new_with_new, new_with_old, old_with_new });
py_struct!(RevAnnContent<'a> {
    status, cert_id, will_be_revoked_at, bad_since_date, crl_details,
});
py_struct!(InfoTypeAndValue<'a> { info_type, info_value });
py_struct!(ErrorMsgContent<'a> { pki_status_info, error_code, error_details });
py_struct!(CertStatus<'a> { cert_hash, cert_req_id, status_info, hash_alg });
py_struct!(PollReqEntry<'a> { cert_req_id });
py_struct!(PollRepEntry<'a> { cert_req_id, check_after, reason });
py_struct!(ProtectedPart<'a> { header, body });
py_struct!(CertReqTemplateContent<'a> { cert_template, key_spec });
py_struct!(CRLStatus<'a> { source, this_update });
py_choice!(CRLSource<'a> { Dpn => "dpn", Issuer => "issuer" });
py_struct!(KemCiphertextInfo<'a> { kem, ct });
py_struct!(PBMAC1Params<'a> { key_derivation_func, message_auth_scheme });
py_struct!(PBKDF2Params<'a> { salt, iteration_count, key_length, prf });
py_choice!(PBKDF2Salt<'a> { Specified => "specified", OtherSource => "otherSource" });
py_struct!(DHBMParameter<'a> { owf, mac });
py_struct!(KemBMParameter<'a> { kdf, kem_context, len, mac });

// --- times -------------------------------------------------------------------------

fn utc(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static UTC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    UTC.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("datetime")?
                .getattr("timezone")?
                .getattr("utc")?
                .unbind(),
        )
    })
    .map(|u| u.bind(py).clone())
}

/// A UTC `datetime` (a `cmp.asn1.PreciseDatetime` when `nanosecond`, the
/// nanoseconds past the microseconds, is given).
fn datetime_to_py<'py>(
    py: Python<'py>,
    dt: &asn1::DateTime,
    micros: u32,
    nanosecond: Option<u32>,
) -> PyResult<Bound<'py, PyAny>> {
    static CLS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static PRECISE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let args = (
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        micros,
        utc(py)?,
    );
    match nanosecond {
        Some(ns) => {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item(pyo3::intern!(py, "nanosecond"), ns)?;
            lazy_class(py, &PRECISE, "cmp.asn1", "PreciseDatetime")?.call(args, Some(&kwargs))
        }
        None => lazy_class(py, &CLS, "datetime", "datetime")?.call1(args),
    }
}

/// A Python `datetime` (naive means UTC) → (date and time in UTC, microseconds).
fn datetime_from_py(obj: &Bound<'_, PyAny>) -> PyResult<(asn1::DateTime, u32)> {
    let py = obj.py();
    static CLS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let cls = lazy_class(py, &CLS, "datetime", "datetime")?;
    if !obj.is_instance(&cls)? {
        return Err(PyTypeError::new_err(format!(
            "expected datetime, got {}",
            crate::convert::type_name(obj)
        )));
    }
    use pyo3::intern;
    let zone = obj.getattr(intern!(py, "tzinfo"))?;
    let utc = utc(py)?;
    let obj = if zone.is_none() || zone.is(&utc) {
        obj.clone()
    } else {
        obj.call_method1(intern!(py, "astimezone"), (utc,))?
    };
    let get =
        |name: &Bound<'_, pyo3::types::PyString>| -> PyResult<u32> { obj.getattr(name)?.extract() };
    let dt = asn1::DateTime::new(
        get(intern!(py, "year"))? as u16,
        get(intern!(py, "month"))? as u8,
        get(intern!(py, "day"))? as u8,
        get(intern!(py, "hour"))? as u8,
        get(intern!(py, "minute"))? as u8,
        get(intern!(py, "second"))? as u8,
    )
    .map_err(|_| PyValueError::new_err("date out of the range DER can carry"))?;
    Ok((dt, get(intern!(py, "microsecond"))?))
}

/// GeneralizedTime (fractions allowed, as in messageTime) is a UTC `datetime`;
/// one with nanoseconds past the microseconds (a seventh to ninth fractional
/// digit) a `cmp.asn1.PreciseDatetime` that keeps them, so that the value
/// encodes back to the very digits it was read from.
impl ToPy for GeneralizedTime {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let nanos = self.0.nanoseconds().unwrap_or(0);
        let beyond = Some(nanos % 1000).filter(|&n| n != 0);
        datetime_to_py(py, self.0.as_datetime(), nanos / 1000, beyond)
    }
}
impl FromPy<'_> for GeneralizedTime {
    fn from_py(obj: &Bound<'_, PyAny>, _: &Bump) -> PyResult<Self> {
        let (dt, micros) = datetime_from_py(obj)?;
        static PRECISE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let precise = lazy_class(obj.py(), &PRECISE, "cmp.asn1", "PreciseDatetime")?;
        // Read from `obj` itself: a time zone shifts by whole microseconds.
        let beyond: u32 = if obj.is_instance(&precise)? {
            obj.getattr(pyo3::intern!(obj.py(), "nanosecond"))?
                .extract()?
        } else {
            0
        };
        let nanos = micros * 1000 + beyond;
        asn1::GeneralizedTime::new(dt, (nanos > 0).then_some(nanos))
            .map(GeneralizedTime)
            .map_err(|_| PyValueError::new_err("invalid GeneralizedTime"))
    }
}

/// Time is a UTC `datetime`; encoded as UTCTime for 1950..2049 and as
/// GeneralizedTime otherwise (RFC 5280 §4.1.2.5).
impl ToPy for Time {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dt = match self {
            Time::UtcTime(t) => t.as_datetime(),
            Time::GeneralTime(t) => t.0.as_datetime(),
        };
        datetime_to_py(py, dt, 0, None)
    }
}
impl FromPy<'_> for Time {
    fn from_py(obj: &Bound<'_, PyAny>, _: &Bump) -> PyResult<Self> {
        let (dt, _) = datetime_from_py(obj)?;
        let bad = |_| PyValueError::new_err("invalid Time");
        if (1950..2050).contains(&dt.year()) {
            asn1::UtcTime::new(dt).map(Time::UtcTime).map_err(bad)
        } else {
            asn1::X509GeneralizedTime::new(dt)
                .map(|t| Time::GeneralTime(X509GeneralizedTime(t)))
                .map_err(bad)
        }
    }
}

// --- nested messages ---------------------------------------------------------------

/// A PKIMessage inside `nested` is a `cmp.PKIMessage`, decoded lazily from its DER.
impl ToPy for NestedMessage<'_> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static CLS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let cls = lazy_class(py, &CLS, "cmp.message", "PKIMessage")?;
        cls.call_method1("from_der", (PyBytes::new(py, &self.0.to_der()),))
    }
}
impl<'a> FromPy<'a> for NestedMessage<'a> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        let der = obj.call_method0("to_der")?;
        let data = crate::convert::arena_bytes(&der, arena)?;
        asn1::parse_single::<NestedMessage<'a>>(data)
            .map_err(|e| PyValueError::new_err(format!("nested message is not a PKIMessage: {e}")))
    }
}

// --- decode_as / encode_as -----------------------------------------------------------

/// Runs `$body` with `$T` bound to the Rust type registered under `$name`.
macro_rules! registry {
    ($name:expr, $T:ident => $body:expr; $($key:literal => $ty:ty),* $(,)?) => {
        match $name {
            $($key => { type $T<'a> = $ty; $body })*
            other => Err(PyValueError::new_err(format!("no ASN.1 type named {other:?}"))),
        }
    };
}

macro_rules! with_type {
    ($name:expr, $T:ident => $body:expr) => {
        registry!($name, $T => $body;
            "AlgorithmIdentifier" => AlgorithmIdentifier<'a>,
            "RSASSA-PSS-params" => RsassaPssParams<'a>,
            "Extension" => Extension<'a>,
            "Extensions" => Extensions<'a>,
            "INTEGER" => asn1::BigInt<'a>,
            "BOOLEAN" => bool,
            "OCTET STRING" => &'a [u8],
            "GeneralName" => GeneralName<'a>,
            "GeneralNames" => GeneralNames<'a>,
            "Time" => Time,
            "GeneralizedTime" => GeneralizedTime,
            "CertReqMessages" => CertReqMessages<'a>,
            "CertReqMsg" => CertReqMsg<'a>,
            "CertRequest" => CertRequest<'a>,
            "CertTemplate" => CertTemplate<'a>,
            "OptionalValidity" => OptionalValidity,
            "Controls" => Controls<'a>,
            "AttributeTypeAndValue" => AttributeTypeAndValue<'a>,
            "ProofOfPossession" => ProofOfPossession<'a>,
            "POPOSigningKey" => POPOSigningKey<'a>,
            "POPOSigningKeyInput" => POPOSigningKeyInput<'a>,
            "PKMACValue" => PKMACValue<'a>,
            "POPOPrivKey" => POPOPrivKey<'a>,
            "PBMParameter" => PBMParameter<'a>,
            "EncryptedKey" => EncryptedKey<'a>,
            "EncryptedValue" => EncryptedValue<'a>,
            "PKIPublicationInfo" => PKIPublicationInfo<'a>,
            "SinglePubInfo" => SinglePubInfo<'a>,
            "PKIArchiveOptions" => PKIArchiveOptions<'a>,
            "CertId" => CertId<'a>,
            "UTF8String" => asn1::Utf8String<'a>,
            "PKIHeader" => PKIHeader<'a>,
            "PKIBody" => PKIBody<'a>,
            "PKIFreeText" => PKIFreeText<'a>,
            "PKIMessages" => PKIMessages<'a>,
            "PKIStatusInfo" => PKIStatusInfo<'a>,
            "CertRepMessage" => CertRepMessage<'a>,
            "CertResponse" => CertResponse<'a>,
            "CertifiedKeyPair" => CertifiedKeyPair<'a>,
            "CertOrEncCert" => CertOrEncCert<'a>,
            "Challenge" => Challenge<'a>,
            "KeyRecRepContent" => KeyRecRepContent<'a>,
            "RevDetails" => RevDetails<'a>,
            "RevRepContent" => RevRepContent<'a>,
            "CAKeyUpdContent" => CAKeyUpdContent<'a>,
            "CAKeyUpdAnnContent" => CAKeyUpdAnnContent<'a>,
            "RootCaKeyUpdateContent" => RootCaKeyUpdateContent<'a>,
            "RevAnnContent" => RevAnnContent<'a>,
            "InfoTypeAndValue" => InfoTypeAndValue<'a>,
            "ErrorMsgContent" => ErrorMsgContent<'a>,
            "CertStatus" => CertStatus<'a>,
            "ProtectedPart" => ProtectedPart<'a>,
            "CertReqTemplateContent" => CertReqTemplateContent<'a>,
            "CRLStatus" => CRLStatus<'a>,
            "CRLStatusList" => cmpkit_core::common::SeqOf<'a, CRLStatus<'a>, 1>,
            "KemCiphertextInfo" => KemCiphertextInfo<'a>,
            "PBMAC1Params" => PBMAC1Params<'a>,
            "PBKDF2Params" => PBKDF2Params<'a>,
            "DHBMParameter" => DHBMParameter<'a>,
            "KemBMParameter" => KemBMParameter<'a>,
            "Null" => (),
            "Certificate" => cmpkit_core::common::RawSeq<'a>,
            "Certificates" => cmpkit_core::common::SeqOf<'a, cmpkit_core::common::RawSeq<'a>, 1>,
            "AlgorithmIdentifiers" => cmpkit_core::common::SeqOf<'a, AlgorithmIdentifier<'a>>,
            "ObjectIdentifier" => asn1::ObjectIdentifier,
            "ObjectIdentifiers" => cmpkit_core::common::SeqOf<'a, asn1::ObjectIdentifier>,
        )
    };
}

/// Decodes `data` as the named ASN.1 type into its Python value.
pub fn decode_as<'py>(py: Python<'py>, name: &str, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    crate::errors::check_der(py, data, name)?;
    with_type!(name, T => {
        let v = asn1::parse_single::<T<'_>>(data).map_err(|e| crate::errors::decode_error(py, name, &e))?;
        v.to_py(py)
    })
}

/// Encodes a Python value as the named ASN.1 type.
pub fn encode_as<'py>(py: Python<'py>, name: &str, obj: &Bound<'py, PyAny>) -> PyResult<Vec<u8>> {
    let arena = Bump::new();
    with_type!(name, T => {
        let v = <T<'_> as FromPy>::from_py(obj, &arena).map_err(|e| crate::convert::at(py, e, name))?;
        crate::errors::write(&v)
    })
}
