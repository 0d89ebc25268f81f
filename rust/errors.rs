//! Raising `cmp.errors` exceptions from the native code, and the limits
//! applied before any parsing. A limit that is exceeded raises
//! `cmp.errors.DecodeLimitError` (a `LimitError` and a `DecodeError`), any
//! other fault `DecodeError`.

use crate::convert::lazy_class;
use cmpkit_core::{common, der};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static MAX_SIZE: AtomicUsize = AtomicUsize::new(16 * 1024 * 1024);
static MAX_DEPTH: AtomicUsize = AtomicUsize::new(64);

/// The limits in force for every decode (`cmp._native.set_limits` changes them).
pub fn limits() -> der::Limits {
    der::Limits {
        max_size: MAX_SIZE.load(Ordering::Relaxed),
        max_depth: MAX_DEPTH.load(Ordering::Relaxed),
    }
}

pub fn set_limits(max_size: usize, max_depth: usize, max_elements: Option<usize>) {
    MAX_SIZE.store(max_size, Ordering::Relaxed);
    MAX_DEPTH.store(max_depth, Ordering::Relaxed);
    if let Some(n) = max_elements {
        common::set_max_elements(n);
    }
}

/// `cmp.errors.DecodeError(message, path=..., offset=...)`, or
/// `DecodeLimitError` when `limit`.
fn raise(
    py: Python<'_>,
    message: String,
    path: Option<String>,
    offset: Option<usize>,
    limit: bool,
) -> PyErr {
    static DECODE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static LIMIT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let (cell, name) = if limit {
        (&LIMIT, "DecodeLimitError")
    } else {
        (&DECODE, "DecodeError")
    };
    let made = lazy_class(py, cell, "cmp.errors", name).and_then(|cls| {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("path", path)?;
        kwargs.set_item("offset", offset)?;
        cls.call((message.clone(),), Some(&kwargs))
    });
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => PyValueError::new_err(message),
    }
}

/// The structural DER check (offsets, indefinite lengths, size, depth).
pub fn check_der(py: Python<'_>, data: &[u8], what: &str) -> PyResult<()> {
    der::check(data, &limits()).map_err(|e| {
        raise(
            py,
            format!("malformed {what}: {e}"),
            Some(what.to_string()),
            Some(e.offset),
            e.limit,
        )
    })
}

/// A schema error from the `asn1` crate, with the ASN.1 path it reports.
pub fn decode_error(py: Python<'_>, what: &str, e: &asn1::ParseError) -> PyErr {
    let path = asn1_path(what, e);
    if let Some(max) = common::exceeded_element_limit(e) {
        return raise(
            py,
            format!(
                "{what} has more than {max} elements in one SEQUENCE OF at {path} (max_elements)"
            ),
            Some(path),
            None,
            true,
        );
    }
    raise(
        py,
        format!("malformed {what}: {e} at {path}"),
        Some(path),
        None,
        false,
    )
}

/// `Type::field > Type::field > [index]`, from the crate's debug rendering
/// (the locations are not otherwise public).
fn asn1_path(what: &str, e: &asn1::ParseError) -> String {
    let dbg = format!("{e:?}");
    let mut parts = vec![what.to_string()];
    if let Some(start) = dbg.find("location: [") {
        let rest = &dbg[start + "location: [".len()..];
        if let Some(end) = rest.find(']') {
            for item in rest[..end].split(", ") {
                let item = item.trim_matches('"');
                if item.chars().all(|c| c.is_ascii_digit()) {
                    parts.push(format!("[{item}]"));
                } else {
                    parts.push(item.to_string());
                }
            }
        }
    }
    parts.join(" > ")
}

/// Writes a value as DER.
pub fn write<T: asn1::Asn1Writable>(v: &T) -> PyResult<Vec<u8>> {
    asn1::write_single(v).map_err(|_| PyValueError::new_err("DER encoding failed"))
}
