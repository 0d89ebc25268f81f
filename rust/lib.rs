//! The PyO3 module `cmp._native`: glue only. Each `py_*` module converts
//! between Python objects and the types of `cmpkit-core`.
use pyo3::prelude::*;

mod py_mac;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py_mac::register(m)?;
    Ok(())
}
