//! `der::check` on arbitrary bytes: it must return (never panic, never
//! recurse past its depth limit), report an offset inside the input, and
//! accept only what the `asn1` crate also reads as one TLV.

#![no_main]

use cmpkit_core::der::{check, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    match check(data, &limits) {
        Ok(()) => {
            // The schema parser runs only on what the check accepted: the
            // outer TLV must then be readable by it too.
            if let Err(e) = asn1::parse_single::<asn1::Tlv<'_>>(data) {
                panic!("der::check accepted what asn1 cannot read as a TLV: {e:?}");
            }
        }
        Err(e) => assert!(
            e.offset <= data.len(),
            "fault offset {} past the end of {} bytes",
            e.offset,
            data.len()
        ),
    }
    // The same input under tight limits: the size and depth bounds hold.
    let tight = Limits {
        max_size: 256,
        max_depth: 4,
    };
    if check(data, &tight).is_ok() {
        assert!(data.len() <= tight.max_size);
        assert!(depth(data) <= tight.max_depth);
    }
});

/// Nesting depth of constructed elements in DER that `check` accepted,
/// computed independently of it (definite lengths only, no validation).
fn depth(data: &[u8]) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<usize> = Vec::new(); // end offsets of open constructed elements
    let mut pos = 0;
    while pos < data.len() {
        while stack.last().is_some_and(|&end| pos >= end) {
            stack.pop();
        }
        let first = data[pos];
        pos += 1;
        if first & 0x1f == 0x1f {
            while data[pos] & 0x80 != 0 {
                pos += 1;
            }
            pos += 1;
        }
        let mut len = usize::from(data[pos]);
        pos += 1;
        if len & 0x80 != 0 {
            let n = len & 0x7f;
            len = data[pos..pos + n]
                .iter()
                .fold(0, |acc, &b| (acc << 8) | usize::from(b));
            pos += n;
        }
        if first & 0x20 != 0 {
            stack.push(pos + len);
            deepest = deepest.max(stack.len());
        } else {
            pos += len;
        }
    }
    deepest
}
