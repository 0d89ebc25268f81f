//! PKIMessage entry points: validate, decode into Python values, slice the
//! protected part out of received bytes, and encode in one pass.

use crate::convert::{FromPy, ToPy};
use crate::errors::{check_der, decode_error, write};
use bumpalo::Bump;
use cmpkit_core::cmp::{PKIBody, PKIHeader, PKIMessage, ProtectedPart};
use cmpkit_core::common::{OctetBits, RawSeq, SeqOf};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

const BODY_NAMES: [&str; 27] = [
    "ir", "ip", "cr", "cp", "p10cr", "popdecc", "popdecr", "kur", "kup", "krr", "krp", "rr", "rp",
    "ccr", "ccp", "ckuann", "cann", "rann", "crlann", "pkiconf", "nested", "genm", "genp", "error",
    "certConf", "pollReq", "pollRep",
];

fn parse<'a>(py: Python<'_>, data: &'a [u8]) -> PyResult<PKIMessage<'a>> {
    check_der(py, data, "PKIMessage")?;
    asn1::parse_single::<PKIMessage<'a>>(data).map_err(|e| decode_error(py, "PKIMessage", &e))
}

/// The four top-level elements of a PKIMessage as raw TLVs (already validated).
fn split(data: &[u8]) -> asn1::ParseResult<(asn1::Tlv<'_>, asn1::Tlv<'_>)> {
    asn1::parse_single::<asn1::Sequence<'_>>(data)?.parse(|p| {
        let header = p.read_element::<asn1::Tlv<'_>>()?;
        let body = p.read_element::<asn1::Tlv<'_>>()?;
        while !p.is_empty() {
            p.read_element::<asn1::Tlv<'_>>()?;
        }
        Ok((header, body))
    })
}

/// Validates `data` as a PKIMessage and returns the RFC name of its body.
#[pyfunction]
pub fn check_message(py: Python<'_>, data: &[u8]) -> PyResult<&'static str> {
    parse(py, data)?;
    body_name(py, data)
}

/// The RFC name of the body of `data`, already validated.
fn body_name(py: Python<'_>, data: &[u8]) -> PyResult<&'static str> {
    Ok(BODY_NAMES[body_index(py, data)?])
}

fn body_index(py: Python<'_>, data: &[u8]) -> PyResult<usize> {
    let (_, body) = split(data).map_err(|e| decode_error(py, "PKIMessage", &e))?;
    let n = body.tag().as_u8().map(|t| t & 0x1f).unwrap_or(0xff) as usize;
    if n < BODY_NAMES.len() {
        Ok(n)
    } else {
        Err(PyValueError::new_err("unknown PKIBody"))
    }
}

/// `(first identifier octet, contents offset, end offset)` of the DER TLV at
/// `pos` of `data` (see `cmpkit_core::der::header_at`); ValueError when it is
/// no well-formed DER header (or, with `whole`, is cut short).
#[pyfunction]
#[pyo3(signature = (data, pos, whole = true))]
pub fn der_header(data: &[u8], pos: usize, whole: bool) -> PyResult<(u8, usize, usize)> {
    cmpkit_core::der::header_at(data, pos, whole).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The DER element with the one-octet identifier `identifier` around
/// `content` (`cmpkit_core::der::element_of`); ValueError for an identifier
/// of the high-tag-number form.
#[pyfunction]
pub fn der_element<'py>(
    py: Python<'py>,
    identifier: u8,
    content: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let der = cmpkit_core::der::element_of(identifier, content).ok_or_else(|| {
        PyValueError::new_err(format!(
            "identifier octet {identifier:#04x} starts a high-tag-number form"
        ))
    })?;
    Ok(PyBytes::new(py, &der))
}

/// Decodes a PKIMessage into `(body name, header, body, protection,
/// extra_certs, protected part)`: validated and parsed once, the protected
/// part sliced from `data` as `protected_part_of` does.
#[pyfunction]
pub fn decode_message<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    let msg = parse(py, data)?;
    let kind = body_name(py, data)?;
    let part = protected_part(py, data)?;
    PyTuple::new(
        py,
        [
            pyo3::types::PyString::new(py, kind).into_any(),
            msg.header.to_py(py)?,
            msg.body.to_py(py)?,
            msg.protection.to_py(py)?,
            msg.extra_certs.to_py(py)?,
            part.into_any(),
        ],
    )
}

/// The DER of ProtectedPart ::= SEQUENCE { header, body }, sliced from the
/// received bytes (never re-encoded), which the protection covers.
#[pyfunction]
pub fn protected_part_of<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    parse(py, data)?;
    protected_part(py, data)
}

/// `protected_part_of` for `data` already validated.
fn protected_part<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let (header, body) = split(data).map_err(|e| decode_error(py, "PKIMessage", &e))?;
    let mut contents = Vec::with_capacity(header.full_data().len() + body.full_data().len());
    contents.extend_from_slice(header.full_data());
    contents.extend_from_slice(body.full_data());
    Ok(PyBytes::new(py, &RawSeq(&contents).to_der()))
}

/// Encodes ProtectedPart { header, body } from Python values.
#[pyfunction]
pub fn encode_protected_part<'py>(
    py: Python<'py>,
    header: &Bound<'py, PyAny>,
    body: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let arena = Bump::new();
    let part = ProtectedPart {
        header: PKIHeader::from_py(header, &arena)
            .map_err(|e| crate::convert::at(py, e, "PKIMessage.header"))?,
        body: PKIBody::from_py(body, &arena)
            .map_err(|e| crate::convert::at(py, e, "PKIMessage.body"))?,
    };
    Ok(PyBytes::new(py, &write(&part)?))
}

/// Builds a PKIMessage from the DER of its ProtectedPart (as produced by
/// `encode_protected_part` and signed or MACed), the protection and the
/// extraCerts, without encoding header and body again.
/// `extra_certs` `None` leaves extraCerts out; an empty sequence writes the
/// empty `[1] SEQUENCE {}` that OpenSSL sends in some messages.
#[pyfunction]
#[pyo3(signature = (protected_part, protection=None, extra_certs=None))]
pub fn assemble_message<'py>(
    py: Python<'py>,
    protected_part: &[u8],
    protection: Option<&[u8]>,
    extra_certs: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let arena = Bump::new();
    let part = RawSeq::from_der(protected_part)
        .map_err(|e| PyValueError::new_err(format!("protected part is not a SEQUENCE: {e}")))?;
    let certs: Option<SeqOf<'_, RawSeq<'_>, 1>> = match extra_certs {
        Some(c) => {
            Option::from_py(c, &arena).map_err(|e| crate::convert::at(py, e, "extra_certs"))?
        }
        None => None,
    };
    let mut contents = part.0.to_vec();
    if let Some(p) = protection {
        contents.extend(write(&asn1::Explicit::<_, 0>::new(OctetBits(p)))?);
    }
    if let Some(c) = &certs {
        contents.extend(write(&asn1::Explicit::<_, 1>::new(c))?);
    }
    let der = RawSeq(&contents).to_der();
    Ok(PyBytes::new(py, &der))
}

#[pyfunction]
pub fn decode_as<'py>(py: Python<'py>, name: &str, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    crate::schema::decode_as(py, name, data)
}

#[pyfunction]
pub fn encode_as<'py>(
    py: Python<'py>,
    name: &str,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(
        py,
        &crate::schema::encode_as(py, name, value)?,
    ))
}

/// Sets the limits applied before every decode: size (bytes), nesting, and
/// (when given) the most elements in one SEQUENCE OF / SET OF.
#[pyfunction]
#[pyo3(signature = (max_size, max_depth, max_elements=None))]
pub fn set_limits(max_size: usize, max_depth: usize, max_elements: Option<usize>) -> PyResult<()> {
    // The checks recurse once per level: the cap keeps them far from the
    // stack's end even on small thread stacks.
    if !(1..=MAX_DEPTH_CAP).contains(&max_depth) {
        return Err(PyValueError::new_err(format!(
            "max_depth must be between 1 and {MAX_DEPTH_CAP}"
        )));
    }
    if max_elements == Some(0) {
        return Err(PyValueError::new_err("max_elements must be at least 1"));
    }
    crate::errors::set_limits(max_size, max_depth, max_elements);
    Ok(())
}

/// The deepest nesting `set_limits` accepts.
const MAX_DEPTH_CAP: usize = 256;

/// Returns the limits in force: `(max_size, max_depth, max_elements)`.
#[pyfunction]
pub fn get_limits() -> (usize, usize, usize) {
    let l = crate::errors::limits();
    (l.max_size, l.max_depth, cmpkit_core::common::max_elements())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_message, m)?)?;
    m.add_function(wrap_pyfunction!(der_header, m)?)?;
    m.add_function(wrap_pyfunction!(der_element, m)?)?;
    m.add_function(wrap_pyfunction!(decode_message, m)?)?;
    m.add_function(wrap_pyfunction!(protected_part_of, m)?)?;
    m.add_function(wrap_pyfunction!(encode_protected_part, m)?)?;
    m.add_function(wrap_pyfunction!(assemble_message, m)?)?;
    m.add_function(wrap_pyfunction!(decode_as, m)?)?;
    m.add_function(wrap_pyfunction!(encode_as, m)?)?;
    m.add_function(wrap_pyfunction!(set_limits, m)?)?;
    m.add_function(wrap_pyfunction!(get_limits, m)?)?;
    Ok(())
}
