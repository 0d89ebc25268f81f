//! The PyO3 module `cmp._native`: glue only. `convert` and `schema` map the
//! ASN.1 types of `cmpkit-core` to the dataclasses of `cmp.asn1`; `message`
//! exposes PKIMessage decode/encode; `py_mac` the password-based MACs.
// The asn1 derives return its (large) ParseError; CHOICEs mirror the RFC.
// `let_unit_value`: the registry macro also instantiates NULL as `()`.
#![allow(
    clippy::result_large_err,
    clippy::large_enum_variant,
    clippy::let_unit_value
)]
use pyo3::prelude::*;

mod convert;
mod errors;
mod message;
mod names;
mod py_mac;
mod schema;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    message::register(m)?;
    names::register(m)?;
    py_mac::register(m)?;
    Ok(())
}
