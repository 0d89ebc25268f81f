//! cmpkit's native core, free of Python: the ASN.1 types of CMP (RFC 9810),
//! CRMF (RFC 4211) and the PKIX pieces they import, a structural DER check
//! that runs before any schema parsing, and the password-based MACs.

// The `asn1` crate's ParseError is large by design (it carries the ASN.1
// path), and CHOICE enums mirror the RFC's alternatives as they are.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

pub mod cmp;
pub mod common;
pub mod crmf;
pub mod der;
pub mod mac;
pub mod pkix;
