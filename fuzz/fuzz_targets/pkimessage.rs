//! A PKIMessage the way the native core receives one: the structural DER
//! check, then the schema. Whatever parses must re-encode to exactly the
//! bytes it came from (the protection is computed over those bytes), and so
//! must its ProtectedPart.

#![no_main]

use cmpkit_core::cmp::{PKIMessage, ProtectedPart};
use cmpkit_core::der::{check, Limits};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| {
    if check(data, &Limits::default()).is_err() {
        return;
    }
    let Ok(msg) = asn1::parse_single::<PKIMessage<'_>>(data) else {
        return;
    };
    let der = asn1::write_single(&msg).expect("re-encoding a parsed PKIMessage failed");
    assert!(
        der == data,
        "PKIMessage round trip differs:\n in  {}\n out {}",
        hex(data),
        hex(&der)
    );
    let part = ProtectedPart {
        header: msg.header,
        body: msg.body,
    };
    let part_der = asn1::write_single(&part).expect("re-encoding ProtectedPart failed");
    let reparsed = asn1::parse_single::<ProtectedPart<'_>>(&part_der)
        .expect("a ProtectedPart we wrote does not parse");
    assert!(asn1::write_single(&reparsed).unwrap() == part_der);
    // ProtectedPart is the message's own header and body bytes under a new
    // SEQUENCE header: what the verifier slices must be what a signer encodes.
    let outer = asn1::parse_single::<asn1::Tlv<'_>>(data).unwrap();
    let inner = asn1::parse_single::<asn1::Tlv<'_>>(&part_der).unwrap();
    assert!(outer.data().starts_with(inner.data()));
});

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// DER-aware mutation (see src/lib.rs).
fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    cmpkit_fuzz::mutate(data, size, max_size, seed, 0)
});
