//! Conversion between the ASN.1 types of `cmpkit-core` and the Python
//! dataclasses of `cmp.asn1`. Decoding walks a parsed (borrowed) value and
//! builds Python objects; encoding reads Python attributes into a value that
//! borrows from a bump arena and is then written as DER in one pass.
//!
//! Every SEQUENCE becomes the `cmp.asn1` class of the same name with the same
//! (snake_case) field names; every CHOICE becomes its class with `kind` (the
//! RFC's alternative name) and `value`. SEQUENCE OF becomes a tuple.

use bumpalo::Bump;
use cmpkit_core::common::{NamedBits, OctetBits, RawSeq, SeqOf};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString, PyTuple};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Rust value → Python object.
pub trait ToPy {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

/// Python object → Rust value borrowing from `arena`.
pub trait FromPy<'a>: Sized {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self>;
}

/// A class of a Python module of ours, looked up once.
pub fn lazy_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import(module)?.getattr(name)?.unbind())
    })
    .map(|c| c.bind(py).clone())
}

/// An instance of the `cmp.asn1` dataclass `cls` with `values` for the
/// fields `names`, made without its generated `__init__`: a frozen
/// dataclass sets each field through `object.__setattr__`, which was most of
/// the time spent making small values. Allocating as `object.__new__(cls)`
/// does and storing the fields as `object.__setattr__` does gives the same
/// object. Only where `names` are
/// exactly the class's fields and it has no `__post_init__` (checked once per
/// class, remembered in `direct`); otherwise the class is called.
pub fn instance<'py>(
    py: Python<'py>,
    cls: &Bound<'py, PyAny>,
    direct: &'static PyOnceLock<bool>,
    names: &[&Bound<'py, PyString>],
    values: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let direct = *direct.get_or_try_init(py, || plain_dataclass(cls, names))?;
    if !direct {
        return cls.call1(PyTuple::new(py, values)?);
    }
    let cls = cls.cast::<pyo3::types::PyType>()?;
    // What `object.__new__(cls)` does for a plain class (no arguments to
    // check, not abstract): the class's tp_alloc, which zeroes the object, so
    // that it starts without inline attribute values (CPython 3.11+ would set
    // those up) and the first field stored makes its `__dict__`, as reading
    // `obj.__dict__` did before. Each field is stored as `object.__setattr__`
    // stores it, past the frozen `__setattr__`.
    // SAFETY: `cls` is a live type object (a Python class, so a heap type,
    // whose tp_alloc slot PyType_GetSlot may read); tp_alloc returns a new
    // reference or NULL with an exception set, which from_owned_ptr_or_err
    // takes over; the names and values are live objects of this thread.
    let obj = unsafe {
        let alloc = pyo3::ffi::PyType_GetSlot(cls.as_type_ptr(), pyo3::ffi::Py_tp_alloc);
        if alloc.is_null() {
            return Err(PyTypeError::new_err("class without tp_alloc"));
        }
        let alloc: pyo3::ffi::allocfunc = std::mem::transmute(alloc);
        Bound::from_owned_ptr_or_err(py, alloc(cls.as_type_ptr(), 0))?
    };
    for (name, value) in names.iter().zip(values) {
        // SAFETY: as above; a non-zero result leaves an exception set.
        if unsafe {
            pyo3::ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr())
        } != 0
        {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(obj)
}

/// `co_filename` of the `__init__` that `cmp._frozen.fast_init` writes: it
/// too only stores the fields.
const FAST_INIT_FILENAME: &str = "<cmp fast init>";

fn plain_dataclass(cls: &Bound<'_, PyAny>, names: &[&Bound<'_, PyString>]) -> PyResult<bool> {
    let py = cls.py();
    if cls.hasattr(pyo3::intern!(py, "__post_init__"))?
        || cls.hasattr(pyo3::intern!(py, "__slots__"))?
    {
        return Ok(false);
    }
    let Ok(fields) = cls.getattr(pyo3::intern!(py, "__dataclass_fields__")) else {
        return Ok(false);
    };
    // A generated __init__ only (init=True, not written by hand): what calling
    // the class would run is then exactly the field assignments done here.
    let params = cls.getattr(pyo3::intern!(py, "__dataclass_params__"))?;
    let init = cls.getattr(pyo3::intern!(py, "__init__"))?;
    let generated = init
        .getattr(pyo3::intern!(py, "__code__"))
        .and_then(|code| code.getattr(pyo3::intern!(py, "co_filename")))
        .and_then(|name| name.extract::<String>())
        .is_ok_and(|name| name == "<string>" || name == FAST_INIT_FILENAME);
    if !params.getattr(pyo3::intern!(py, "init"))?.is_truthy()? || !generated {
        return Ok(false);
    }
    let keys: Vec<String> = fields
        .call_method0("keys")?
        .try_iter()?
        .map(|k| k?.extract())
        .collect::<PyResult<_>>()?;
    let given: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    Ok(keys == given)
}

/// Prefixes an encoding error with the place it happened (`Type.field`).
pub fn at(py: Python<'_>, err: PyErr, place: &str) -> PyErr {
    let msg = err.value(py).to_string();
    let msg = format!("{place}: {msg}");
    if err.is_instance_of::<PyTypeError>(py) {
        PyTypeError::new_err(msg)
    } else {
        PyValueError::new_err(msg)
    }
}

fn bytes_of<'o, 'py>(obj: &'o Bound<'py, PyAny>) -> PyResult<&'o Bound<'py, PyBytes>> {
    obj.cast::<PyBytes>()
        .map_err(|_| PyTypeError::new_err(format!("expected bytes, got {}", type_name(obj))))
}

fn str_of<'o>(obj: &'o Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'o, str>> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("expected str, got {}", type_name(obj))))?;
    s.to_cow()
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Copies the bytes of a Python `bytes` object into the arena.
pub fn arena_bytes<'a>(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<&'a [u8]> {
    Ok(arena.alloc_slice_copy(bytes_of(obj)?.as_bytes()))
}

fn der_err(what: &str, e: asn1::ParseError) -> PyErr {
    PyValueError::new_err(format!("not a valid DER {what}: {e}"))
}

// --- primitives --------------------------------------------------------------

impl ToPy for i64 {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.into_pyobject(py)?.into_any())
    }
}
impl FromPy<'_> for i64 {
    fn from_py(obj: &Bound<'_, PyAny>, _: &Bump) -> PyResult<Self> {
        if obj.is_instance_of::<pyo3::types::PyBool>() {
            return Err(PyTypeError::new_err("expected int, got bool"));
        }
        obj.extract()
    }
}

impl ToPy for bool {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pyo3::types::PyBool::new(py, *self).to_owned().into_any())
    }
}
impl FromPy<'_> for bool {
    fn from_py(obj: &Bound<'_, PyAny>, _: &Bump) -> PyResult<Self> {
        obj.cast::<pyo3::types::PyBool>()
            .map(|b| b.is_true())
            .map_err(|_| PyTypeError::new_err(format!("expected bool, got {}", type_name(obj))))
    }
}

/// NULL is `None`.
impl ToPy for () {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(py.None().into_bound(py))
    }
}
impl FromPy<'_> for () {
    fn from_py(obj: &Bound<'_, PyAny>, _: &Bump) -> PyResult<Self> {
        if obj.is_none() {
            Ok(())
        } else {
            Err(PyTypeError::new_err(format!(
                "expected None (NULL), got {}",
                type_name(obj)
            )))
        }
    }
}

/// OCTET STRING is `bytes`.
impl ToPy for &[u8] {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyBytes::new(py, self).into_any())
    }
}
impl<'a> FromPy<'a> for &'a [u8] {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        arena_bytes(obj, arena)
    }
}

impl ToPy for asn1::Utf8String<'_> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyString::new(py, self.as_str()).into_any())
    }
}
impl<'a> FromPy<'a> for asn1::Utf8String<'a> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        Ok(asn1::Utf8String::new(arena.alloc_str(&str_of(obj)?)))
    }
}

impl ToPy for asn1::IA5String<'_> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyString::new(py, self.as_str()).into_any())
    }
}
impl<'a> FromPy<'a> for asn1::IA5String<'a> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        asn1::IA5String::new(arena.alloc_str(&str_of(obj)?))
            .ok_or_else(|| PyValueError::new_err("IA5String must be ASCII"))
    }
}

/// The OBJECT IDENTIFIERs converted so far, both ways: a message names the
/// same few algorithms and types again and again, and formatting or parsing
/// their arcs was a measurable part of converting one. Each map holds at
/// most [`MAX_KNOWN_OIDS`] and starts over when full (a peer sending ever
/// new ones costs the others a new conversion, never memory, and cannot
/// keep them out for good); strings longer than [`MAX_KNOWN_OID_STR`] are
/// converted each time.
struct KnownOids {
    strings: HashMap<Vec<u8>, Py<PyString>>,
    oids: HashMap<String, asn1::ObjectIdentifier>,
}

const MAX_KNOWN_OIDS: usize = 512;
const MAX_KNOWN_OID_STR: usize = 128;

fn known_oids() -> std::sync::MutexGuard<'static, KnownOids> {
    static KNOWN: OnceLock<Mutex<KnownOids>> = OnceLock::new();
    let cell = KNOWN.get_or_init(|| {
        Mutex::new(KnownOids {
            strings: HashMap::new(),
            oids: HashMap::new(),
        })
    });
    // A panic while the lock was held left nothing half-made: take it anyway.
    cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// OBJECT IDENTIFIER is its dotted `str`.
impl ToPy for asn1::ObjectIdentifier {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let der = self.as_der();
        // The lock is never held while Python code could run (and re-enter).
        let found = known_oids().strings.get(der).map(|s| s.clone_ref(py));
        if let Some(s) = found {
            return Ok(s.into_bound(py).into_any());
        }
        let s = PyString::new(py, &self.to_string());
        let mut known = known_oids();
        if known.strings.len() >= MAX_KNOWN_OIDS {
            known.strings.clear();
        }
        known.strings.insert(der.to_vec(), s.clone().unbind());
        Ok(s.into_any())
    }
}
impl FromPy<'_> for asn1::ObjectIdentifier {
    fn from_py(obj: &Bound<'_, PyAny>, _: &Bump) -> PyResult<Self> {
        let s = str_of(obj)?;
        let cacheable = s.len() <= MAX_KNOWN_OID_STR;
        if cacheable {
            if let Some(oid) = known_oids().oids.get(s.as_ref()) {
                return Ok(oid.clone());
            }
        }
        let oid = asn1::ObjectIdentifier::from_string(&s)
            .ok_or_else(|| PyValueError::new_err(format!("not an OBJECT IDENTIFIER: {s:?}")))?;
        if cacheable {
            let mut known = known_oids();
            if known.oids.len() >= MAX_KNOWN_OIDS {
                known.oids.clear();
            }
            known.oids.insert(s.into_owned(), oid.clone());
        }
        Ok(oid)
    }
}

/// INTEGER of any size is `int`.
impl ToPy for asn1::BigInt<'_> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.as_bytes();
        if b.len() <= 8 {
            let mut v: i64 = if b[0] & 0x80 != 0 { -1 } else { 0 };
            for &x in b {
                v = (v << 8) | i64::from(x);
            }
            return v.to_py(py);
        }
        static FROM_BYTES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let f = FROM_BYTES.get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.get_type::<pyo3::types::PyInt>()
                    .getattr("from_bytes")?
                    .unbind(),
            )
        })?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("signed", true)?;
        f.bind(py).call((PyBytes::new(py, b), "big"), Some(&kwargs))
    }
}
impl<'a> FromPy<'a> for asn1::BigInt<'a> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        if !obj.is_instance_of::<pyo3::types::PyInt>()
            || obj.is_instance_of::<pyo3::types::PyBool>()
        {
            return Err(PyTypeError::new_err(format!(
                "expected int, got {}",
                type_name(obj)
            )));
        }
        if let Ok(v) = obj.extract::<i64>() {
            // Fast path: minimal two's complement of a machine integer.
            let all = v.to_be_bytes();
            let mut start = 0;
            while start < 7
                && ((all[start] == 0 && all[start + 1] & 0x80 == 0)
                    || (all[start] == 0xff && all[start + 1] & 0x80 != 0))
            {
                start += 1;
            }
            return asn1::BigInt::new(arena.alloc_slice_copy(&all[start..]))
                .ok_or_else(|| PyValueError::new_err("cannot encode INTEGER"));
        }
        let bits: usize = obj.call_method0("bit_length")?.extract()?;
        let len = bits / 8 + 1;
        let kwargs = pyo3::types::PyDict::new(obj.py());
        kwargs.set_item("signed", true)?;
        let raw = obj.call_method("to_bytes", (len, "big"), Some(&kwargs))?;
        let mut b = bytes_of(&raw)?.as_bytes();
        // Minimal two's complement: drop redundant leading 0x00/0xff octets.
        while b.len() > 1 && ((b[0] == 0 && b[1] & 0x80 == 0) || (b[0] == 0xff && b[1] & 0x80 != 0))
        {
            b = &b[1..];
        }
        asn1::BigInt::new(arena.alloc_slice_copy(b))
            .ok_or_else(|| PyValueError::new_err("cannot encode INTEGER"))
    }
}

/// A BIT STRING of no fixed meaning is `cmp.asn1.BitString(data, unused_bits)`.
impl ToPy for asn1::BitString<'_> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static CLS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        lazy_class(py, &CLS, "cmp.asn1", "BitString")?
            .call1((PyBytes::new(py, self.as_bytes()), self.padding_bits()))
    }
}
impl<'a> FromPy<'a> for asn1::BitString<'a> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        let data = arena_bytes(&obj.getattr("data")?, arena)?;
        let unused: u8 = obj.getattr("unused_bits")?.extract()?;
        asn1::BitString::new(data, unused)
            .ok_or_else(|| PyValueError::new_err("invalid BIT STRING (unused bits)"))
    }
}

/// An octet-aligned BIT STRING (signature, MAC, protection) is `bytes`.
impl ToPy for OctetBits<'_> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyBytes::new(py, self.0).into_any())
    }
}
impl<'a> FromPy<'a> for OctetBits<'a> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        Ok(OctetBits(arena_bytes(obj, arena)?))
    }
}

/// A named-bit BIT STRING (PKIFailureInfo) is an `int` bit mask.
impl ToPy for NamedBits {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.0.into_pyobject(py)?.into_any())
    }
}
impl FromPy<'_> for NamedBits {
    fn from_py(obj: &Bound<'_, PyAny>, _: &Bump) -> PyResult<Self> {
        Ok(NamedBits(obj.extract::<u64>().map_err(|_| {
            PyValueError::new_err("named bits must be an int between 0 and 2**64-1")
        })?))
    }
}

/// Raw DER (ANY) is the `bytes` of the whole element.
impl ToPy for asn1::Tlv<'_> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyBytes::new(py, self.full_data()).into_any())
    }
}
impl<'a> FromPy<'a> for asn1::Tlv<'a> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        asn1::parse_single::<asn1::Tlv<'a>>(arena_bytes(obj, arena)?)
            .map_err(|e| der_err("element", e))
    }
}

/// A raw SEQUENCE (certificate, name, key, extensions, ...) is its DER `bytes`.
impl ToPy for RawSeq<'_> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyBytes::new(py, &self.to_der()).into_any())
    }
}
impl<'a> FromPy<'a> for RawSeq<'a> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        RawSeq::from_der(arena_bytes(obj, arena)?).map_err(|e| der_err("SEQUENCE", e))
    }
}

impl<T: ToPy> ToPy for Option<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_py(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}
impl<'a, T: FromPy<'a>> FromPy<'a> for Option<T> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        if obj.is_none() {
            Ok(None)
        } else {
            T::from_py(obj, arena).map(Some)
        }
    }
}

/// SEQUENCE OF is a `tuple` (any iterable when encoding); an empty one is `()`
/// (an absent OPTIONAL one `None`).
impl<'a, T: asn1::Asn1Readable<'a> + ToPy + 'a, const MIN: usize> ToPy for SeqOf<'a, T, MIN> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items: Vec<Bound<'py, PyAny>> = match self {
            SeqOf::Read(s) => s.clone().map(|v| v.to_py(py)).collect::<PyResult<_>>()?,
            SeqOf::Write(v) => v.iter().map(|v| v.to_py(py)).collect::<PyResult<_>>()?,
        };
        Ok(PyTuple::new(py, items)?.into_any())
    }
}
impl<'a, T: FromPy<'a> + 'a, const MIN: usize> FromPy<'a> for SeqOf<'a, T, MIN> {
    fn from_py(obj: &Bound<'_, PyAny>, arena: &'a Bump) -> PyResult<Self> {
        if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(format!(
                "expected a sequence, got {}",
                type_name(obj)
            )));
        }
        let mut out = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            out.push(T::from_py(&item?, arena).map_err(|e| at(obj.py(), e, &format!("[{i}]")))?);
        }
        // Empty is written as an empty SEQUENCE whatever `MIN` (see `SeqOf`).
        Ok(SeqOf::Write(out))
    }
}

// --- structures ----------------------------------------------------------------

/// SEQUENCE → the `cmp.asn1` class of the same name, fields in order.
#[macro_export]
macro_rules! py_struct {
    ($name:ident $(<$lt:lifetime>)? { $($field:ident),* $(,)? }) => {
        impl $(<$lt>)? $crate::convert::ToPy for $name $(<$lt>)? {
            fn to_py<'py>(&self, py: pyo3::Python<'py>) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                static CLS: pyo3::sync::PyOnceLock<pyo3::Py<pyo3::PyAny>> = pyo3::sync::PyOnceLock::new();
                static DIRECT: pyo3::sync::PyOnceLock<bool> = pyo3::sync::PyOnceLock::new();
                let cls = $crate::convert::lazy_class(py, &CLS, "cmp.asn1", stringify!($name))?;
                let values = vec![$(self.$field.to_py(py)?),*];
                $crate::convert::instance(
                    py, &cls, &DIRECT, &[$(pyo3::intern!(py, stringify!($field))),*], values,
                )
            }
        }
        impl<'a> $crate::convert::FromPy<'a> for $name $(<$lt>)? {
            fn from_py(obj: &pyo3::Bound<'_, pyo3::PyAny>, arena: &'a bumpalo::Bump) -> pyo3::PyResult<Self> {
                let py = obj.py();
                Ok($name {
                    $($field: $crate::convert::FromPy::from_py(
                        &obj.getattr(pyo3::intern!(py, stringify!($field))).map_err(|_| {
                            pyo3::exceptions::PyTypeError::new_err(format!(
                                "expected {}, got {}", stringify!($name), $crate::convert::type_name(obj)))
                        })?,
                        arena,
                    ).map_err(|e| $crate::convert::at(py, e, concat!(stringify!($name), ".", stringify!($field))))?,)*
                })
            }
        }
    };
}

/// CHOICE → the `cmp.asn1` class of the same name with `kind` and `value`.
#[macro_export]
macro_rules! py_choice {
    ($name:ident $(<$lt:lifetime>)? { $($variant:ident => $kind:literal),* $(,)? }) => {
        impl $(<$lt>)? $crate::convert::ToPy for $name $(<$lt>)? {
            fn to_py<'py>(&self, py: pyo3::Python<'py>) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                static CLS: pyo3::sync::PyOnceLock<pyo3::Py<pyo3::PyAny>> = pyo3::sync::PyOnceLock::new();
                let cls = $crate::convert::lazy_class(py, &CLS, "cmp.asn1", stringify!($name))?;
                static DIRECT: pyo3::sync::PyOnceLock<bool> = pyo3::sync::PyOnceLock::new();
                let (kind, value) = match self {
                    $($name::$variant(v) => (pyo3::intern!(py, $kind), v.to_py(py)?),)*
                };
                let names = [pyo3::intern!(py, "kind"), pyo3::intern!(py, "value")];
                $crate::convert::instance(
                    py, &cls, &DIRECT, &names, vec![kind.clone().into_any(), value],
                )
            }
        }
        impl<'a> $crate::convert::FromPy<'a> for $name $(<$lt>)? {
            fn from_py(obj: &pyo3::Bound<'_, pyo3::PyAny>, arena: &'a bumpalo::Bump) -> pyo3::PyResult<Self> {
                let py = obj.py();
                let kind_obj = obj.getattr(pyo3::intern!(py, "kind")).map_err(|_| {
                    pyo3::exceptions::PyTypeError::new_err(format!(
                        "expected {}, got {}", stringify!($name), $crate::convert::type_name(obj)))
                })?;
                let kind: String = kind_obj.extract()?;
                let value = obj.getattr(pyo3::intern!(py, "value"))?;
                match kind.as_str() {
                    $($kind => Ok($name::$variant($crate::convert::FromPy::from_py(&value, arena)
                        .map_err(|e| $crate::convert::at(py, e, concat!(stringify!($name), ".", $kind)))?)),)*
                    other => Err(pyo3::exceptions::PyValueError::new_err(format!(
                        "{}: unknown alternative {:?}", stringify!($name), other))),
                }
            }
        }
    };
}
