//! X.501 Names, which `cryptography` can build but not parse from DER alone:
//! Name ::= SEQUENCE OF RelativeDistinguishedName,
//! RelativeDistinguishedName ::= SET SIZE (1..MAX) OF AttributeTypeAndValue.

use crate::errors::{check_der, decode_error};
use cmpkit_core::common::{check_element_count, RawSeq};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

/// One attribute of an RDN: (OID, universal tag number of the value, value bytes).
type Attribute<'a> = (asn1::ObjectIdentifier, u8, &'a [u8]);

fn parse_rdns(data: &[u8]) -> asn1::ParseResult<Vec<Vec<Attribute<'_>>>> {
    let contents = asn1::parse_single::<RawSeq<'_>>(data)?.0;
    // The same element limit as every SEQUENCE OF of the schema (RDNs, and
    // attributes in one RDN), checked before any is parsed.
    check_element_count(contents)?;
    asn1::parse(contents, |p| {
        let mut rdns = Vec::new();
        while !p.is_empty() {
            let set_tlv = p.read_element::<asn1::Tlv<'_>>()?;
            check_element_count(set_tlv.data())?;
            let set = set_tlv.parse::<asn1::SetOf<'_, asn1::Sequence<'_>>>()?;
            let mut attrs = Vec::new();
            for atv in set {
                attrs.push(atv.parse(|q| {
                    let oid = q.read_element::<asn1::ObjectIdentifier>()?;
                    let value = q.read_element::<asn1::Tlv<'_>>()?;
                    // Attribute values are universal, primitive string types.
                    let tag = match value.tag().as_u8() {
                        Some(t) if t & 0xe0 == 0 && t & 0x1f != 0x1f => t,
                        _ => {
                            return Err(asn1::ParseError::new(
                                asn1::ParseErrorKind::UnexpectedTag {
                                    actual: value.tag(),
                                },
                            ))
                        }
                    };
                    Ok((oid, tag, value.data()))
                })?);
            }
            if attrs.is_empty() {
                return Err(asn1::ParseError::new(asn1::ParseErrorKind::InvalidSize {
                    min: 1,
                    max: usize::MAX,
                    actual: 0,
                }));
            }
            rdns.push(attrs);
        }
        Ok(rdns)
    })
}

/// Parses a DER Name into a list of RDNs, each a list of
/// `(oid: str, tag: int, value: bytes)`.
#[pyfunction]
pub fn parse_name<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
    check_der(py, data, "Name")?;
    let rdns = parse_rdns(data).map_err(|e| decode_error(py, "Name", &e))?;
    let out = PyList::empty(py);
    for rdn in rdns {
        let attrs = PyList::empty(py);
        for (oid, tag, value) in rdn {
            attrs.append(PyTuple::new(
                py,
                [
                    oid.to_string().into_pyobject(py)?.into_any(),
                    tag.into_pyobject(py)?.into_any(),
                    PyBytes::new(py, value).into_any(),
                ],
            )?)?;
        }
        out.append(attrs)?;
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_name, m)?)?;
    m.add_function(wrap_pyfunction!(parse_other_name, m)?)?;
    m.add_function(wrap_pyfunction!(encode_other_name, m)?)?;
    m.add_function(wrap_pyfunction!(certificate_with_extensions, m)?)
}

/// AnotherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
struct AnotherName<'a> {
    type_id: asn1::ObjectIdentifier,
    #[explicit(0, required)]
    value: asn1::Tlv<'a>,
}

/// Parses the DER of an otherName GeneralName (as a universal SEQUENCE) into
/// `(type_id: str, value: bytes)`, the value being the DER inside `[0]`.
#[pyfunction]
pub fn parse_other_name<'py>(
    py: Python<'py>,
    data: &[u8],
) -> PyResult<(String, Bound<'py, PyBytes>)> {
    check_der(py, data, "AnotherName")?;
    let v = asn1::parse_single::<AnotherName<'_>>(data)
        .map_err(|e| decode_error(py, "AnotherName", &e))?;
    Ok((v.type_id.to_string(), PyBytes::new(py, v.value.full_data())))
}

/// The reverse of [`parse_other_name`].
#[pyfunction]
pub fn encode_other_name<'py>(
    py: Python<'py>,
    type_id: &str,
    value: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let type_id = asn1::ObjectIdentifier::from_string(type_id)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("invalid OBJECT IDENTIFIER"))?;
    let value = asn1::parse_single::<asn1::Tlv<'_>>(value).map_err(|e| {
        pyo3::exceptions::PyValueError::new_err(format!("otherName value is not DER: {e}"))
    })?;
    Ok(PyBytes::new(
        py,
        &crate::errors::write(&AnotherName { type_id, value })?,
    ))
}

/// A minimal unsigned certificate carrying `extensions` (DER of Extensions),
/// so that `cryptography` can parse them: it has no loader for bare Extensions.
#[pyfunction]
pub fn certificate_with_extensions<'py>(
    py: Python<'py>,
    extensions: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    check_der(py, extensions, "Extensions")?;
    let ext = cmpkit_core::common::RawSeq::from_der(extensions)
        .map_err(|e| decode_error(py, "Extensions", &e))?;
    // ecdsa-with-SHA256, no parameters; Ed25519 key of zeros; 2000-01-01 validity.
    let alg: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    let mut tbs = vec![0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x01];
    tbs.extend_from_slice(alg);
    tbs.extend_from_slice(&[0x30, 0x00]);
    tbs.extend_from_slice(&[0x30, 0x1e, 0x17, 0x0d]);
    tbs.extend_from_slice(b"000101000000Z");
    tbs.extend_from_slice(&[0x17, 0x0d]);
    tbs.extend_from_slice(b"000101000000Z");
    tbs.extend_from_slice(&[0x30, 0x00]);
    tbs.extend_from_slice(&[
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ]);
    tbs.extend_from_slice(&[0u8; 32]);
    tbs.extend(crate::errors::write(&asn1::Explicit::<_, 3>::new(ext))?);
    let mut cert = cmpkit_core::common::RawSeq(&tbs).to_der();
    cert.extend_from_slice(alg);
    cert.extend_from_slice(&[0x03, 0x01, 0x00]);
    Ok(PyBytes::new(
        py,
        &cmpkit_core::common::RawSeq(&cert).to_der(),
    ))
}
