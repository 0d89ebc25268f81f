//! Python bindings of the password-based MACs in `cmpkit_core::mac`.
//!
//! Byte arguments are taken as `bytes` only: those are immutable, so the
//! slices borrowed from them stay valid while the GIL is released (a
//! mutable `bytearray` or `memoryview` is refused; the Python layer copies
//! such input into `bytes` first). Every hashing loop runs detached from the
//! interpreter. A `MacError` becomes a plain `ValueError` with its message.
use cmpkit_core::mac::{self, Digest, HmacAlgorithm, Limits, MacError};
use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Most compressions `sha256_chain` runs: it is a benchmark helper, a few
/// seconds of work at most.
const MAX_CHAIN: u64 = 100_000_000;

fn value_error(e: MacError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A Python `int` used as a count. An int outside `0..2**64` is kept as its
/// text, so that it is reported as out of range like any other bad count
/// (a `ValueError`), not as an `OverflowError` from the conversion.
enum Count {
    Value(u64),
    Outside(String),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Count {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<u64>() {
            Ok(v) => Ok(Count::Value(v)),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
                // str() of a giant int can itself fail (Python's digit limit).
                let text = match obj.str() {
                    Ok(s) if s.len().is_ok_and(|n| n <= 40) => s.to_string(),
                    _ => "(a huge integer)".to_owned(),
                };
                Ok(Count::Outside(text))
            }
            Err(e) => Err(e),
        }
    }
}

impl Count {
    /// The count as u64, or a `ValueError` naming `name` and the allowed
    /// range `min..=max`.
    fn get(&self, name: &str, min: u64, max: u64) -> PyResult<u64> {
        match self {
            Count::Value(v) => Ok(*v),
            Count::Outside(text) => Err(PyValueError::new_err(format!(
                "{name} {text} out of range: allowed {min}..={max}"
            ))),
        }
    }

    /// The count as usize (for lengths), with the same errors.
    fn get_usize(&self, name: &str, min: usize, max: usize) -> PyResult<usize> {
        let v = self.get(name, min as u64, max as u64)?;
        usize::try_from(v).map_err(|_| {
            PyValueError::new_err(format!("{name} {v} out of range: allowed {min}..={max}"))
        })
    }
}

/// The limits given by `min_iterations` / `max_iterations` over `base`.
fn limits(base: Limits, min: &Count, max: &Count) -> PyResult<Limits> {
    Ok(Limits {
        min_iterations: min.get("min_iterations", 0, u64::MAX)?,
        max_iterations: max.get("max_iterations", 0, u64::MAX)?,
        ..base
    })
}

/// PBM (RFC 4211 §4.4): HMAC-`mac` of `data` keyed with `owf` iterated
/// `iterations` times over `secret || salt`. `owf` and `mac` are OpenSSL
/// names (`sha256`, `hmac-sha1`) or dotted OIDs.
#[pyfunction]
#[pyo3(signature = (
    secret, salt, iterations, owf, mac, data,
    min_iterations = Count::Value(Limits::PBM.min_iterations),
    max_iterations = Count::Value(Limits::PBM.max_iterations),
))]
#[allow(clippy::too_many_arguments)]
fn pbm<'py>(
    py: Python<'py>,
    secret: &[u8],
    salt: &[u8],
    iterations: Count,
    owf: &str,
    mac: &str,
    data: &[u8],
    min_iterations: Count,
    max_iterations: Count,
) -> PyResult<Bound<'py, PyBytes>> {
    let limits = limits(Limits::PBM, &min_iterations, &max_iterations)?;
    let iterations = iterations.get("iterations", limits.min_iterations, limits.max_iterations)?;
    let owf = Digest::lookup(owf).map_err(value_error)?;
    let mac = HmacAlgorithm::lookup(mac).map_err(value_error)?;
    let out = py
        .detach(|| mac::pbm_with_limits(&limits, secret, salt, iterations, owf, mac, data))
        .map_err(value_error)?;
    Ok(PyBytes::new(py, &out))
}

/// The PBM base key: `owf` iterated `iterations` times over `secret || salt`
/// (the part of [`pbm`] before the HMAC), with the same limits.
#[pyfunction]
#[pyo3(signature = (
    secret, salt, iterations, owf,
    min_iterations = Count::Value(Limits::PBM.min_iterations),
    max_iterations = Count::Value(Limits::PBM.max_iterations),
))]
fn pbm_key<'py>(
    py: Python<'py>,
    secret: &[u8],
    salt: &[u8],
    iterations: Count,
    owf: &str,
    min_iterations: Count,
    max_iterations: Count,
) -> PyResult<Bound<'py, PyBytes>> {
    let limits = limits(Limits::PBM, &min_iterations, &max_iterations)?;
    let iterations = iterations.get("iterations", limits.min_iterations, limits.max_iterations)?;
    let owf = Digest::lookup(owf).map_err(value_error)?;
    let out = py
        .detach(|| mac::pbm_key_with_limits(&limits, secret, salt, iterations, owf))
        .map_err(value_error)?;
    Ok(PyBytes::new(py, &out))
}

/// PBKDF2 (RFC 8018 §5.2) with HMAC; `prf` is an HMAC name or OID
/// (`hmac-sha256`, 1.2.840.113549.2.9) or a bare digest name as
/// `hashlib.pbkdf2_hmac` takes (`sha256`).
#[pyfunction]
#[pyo3(signature = (
    prf, password, salt, iterations, key_len,
    min_iterations = Count::Value(Limits::PBKDF2.min_iterations),
    max_iterations = Count::Value(Limits::PBKDF2.max_iterations),
))]
#[allow(clippy::too_many_arguments)]
fn pbkdf2_hmac<'py>(
    py: Python<'py>,
    prf: &str,
    password: &[u8],
    salt: &[u8],
    iterations: Count,
    key_len: Count,
    min_iterations: Count,
    max_iterations: Count,
) -> PyResult<Bound<'py, PyBytes>> {
    let limits = limits(Limits::PBKDF2, &min_iterations, &max_iterations)?;
    let iterations = iterations.get("iterations", limits.min_iterations, limits.max_iterations)?;
    let key_len = key_len.get_usize("key_len", 1, limits.max_key_len)?;
    let prf = HmacAlgorithm::lookup_lenient(prf).map_err(value_error)?;
    let out = py
        .detach(|| mac::pbkdf2_hmac_with_limits(&limits, prf, password, salt, iterations, key_len))
        .map_err(value_error)?;
    Ok(PyBytes::new(py, &out))
}

/// HMAC of `data` under `key`; `digest` is a digest or HMAC name or OID
/// (an HMAC name or OID only with `strict`, as PBM and PBMAC1 require).
#[pyfunction]
#[pyo3(signature = (digest, key, data, strict = false))]
fn hmac<'py>(
    py: Python<'py>,
    digest: &str,
    key: &[u8],
    data: &[u8],
    strict: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let algorithm = if strict {
        HmacAlgorithm::lookup(digest)
    } else {
        HmacAlgorithm::lookup_lenient(digest)
    };
    let digest = algorithm.map_err(value_error)?.digest();
    let out = py.detach(|| mac::hmac(digest, key, data));
    Ok(PyBytes::new(py, &out))
}

/// PBMAC1 (RFC 8018 §7.1, RFC 9481 §6.1.1): HMAC-`mac` of `data` keyed
/// with PBKDF2-`prf`(`password`, `salt`, `iterations`, `key_len`).
#[pyfunction]
#[pyo3(signature = (
    prf, mac, password, salt, iterations, key_len, data,
    min_iterations = Count::Value(Limits::PBKDF2.min_iterations),
    max_iterations = Count::Value(Limits::PBKDF2.max_iterations),
))]
#[allow(clippy::too_many_arguments)]
fn pbmac1<'py>(
    py: Python<'py>,
    prf: &str,
    mac: &str,
    password: &[u8],
    salt: &[u8],
    iterations: Count,
    key_len: Count,
    data: &[u8],
    min_iterations: Count,
    max_iterations: Count,
) -> PyResult<Bound<'py, PyBytes>> {
    let limits = limits(Limits::PBKDF2, &min_iterations, &max_iterations)?;
    let iterations = iterations.get("iterations", limits.min_iterations, limits.max_iterations)?;
    let key_len = key_len.get_usize("key_len", 1, limits.max_key_len)?;
    let prf = HmacAlgorithm::lookup_lenient(prf).map_err(value_error)?;
    let mac = HmacAlgorithm::lookup(mac).map_err(value_error)?;
    let out = py
        .detach(|| {
            mac::pbmac1_with_limits(&limits, prf, mac, password, salt, iterations, key_len, data)
        })
        .map_err(value_error)?;
    Ok(PyBytes::new(py, &out))
}

/// The `digest` (name or OID: SHA-1, SHA-224/256/384/512) of `data`: the
/// hash a signature covers. Inputs from 64 KiB on are hashed without the GIL.
#[pyfunction]
fn digest<'py>(py: Python<'py>, digest: &str, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let digest = Digest::lookup(digest).map_err(value_error)?;
    let out = if data.len() >= 1 << 16 {
        py.detach(|| digest.hash(&[data]))
    } else {
        digest.hash(&[data])
    };
    Ok(PyBytes::new(py, &out))
}

/// SHA-256 applied `n` times to the 32-byte `seed`, one raw compression
/// each: the PBM inner loop alone, the lower bound benchmarks compare with.
#[pyfunction]
fn sha256_chain<'py>(py: Python<'py>, n: Count, seed: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let n = n.get("n", 0, MAX_CHAIN)?;
    if n > MAX_CHAIN {
        return Err(PyValueError::new_err(format!(
            "n {n} out of range: allowed 0..={MAX_CHAIN}"
        )));
    }
    let out = py
        .detach(|| mac::iterate_hash(Digest::Sha256, seed, n))
        .map_err(value_error)?;
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PBM_MIN_ITERATIONS", Limits::PBM.min_iterations)?;
    m.add("PBM_MAX_ITERATIONS", Limits::PBM.max_iterations)?;
    m.add("PBKDF2_MIN_ITERATIONS", Limits::PBKDF2.min_iterations)?;
    m.add("PBKDF2_MAX_ITERATIONS", Limits::PBKDF2.max_iterations)?;
    m.add_function(wrap_pyfunction!(pbm, m)?)?;
    m.add_function(wrap_pyfunction!(pbm_key, m)?)?;
    m.add_function(wrap_pyfunction!(pbkdf2_hmac, m)?)?;
    m.add_function(wrap_pyfunction!(hmac, m)?)?;
    m.add_function(wrap_pyfunction!(digest, m)?)?;
    m.add_function(wrap_pyfunction!(pbmac1, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_chain, m)?)?;
    Ok(())
}
