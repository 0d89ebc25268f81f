//! Every schema type on its own: the first byte picks the type, the rest is
//! its DER. Whatever parses must re-encode to exactly the input, as for a
//! whole PKIMessage (see `pkimessage.rs`); the types reach places a
//! message-level fuzzer rarely gets to (itav values, MAC parameters).

#![no_main]

use asn1::{Asn1Readable, Asn1Writable};
use cmpkit_core::common::{RawSeq, SeqOf};
use cmpkit_core::der::{check, Limits};
use cmpkit_core::{cmp, crmf, pkix};
use libfuzzer_sys::{fuzz_mutator, fuzz_target};

/// Parses `der` as `T` and, if it parses, checks the byte-exact round trip.
fn round_trip<'a, T>(name: &str, der: &'a [u8])
where
    T: Asn1Readable<'a> + Asn1Writable,
    T::Error: std::fmt::Debug,
{
    let Ok(value) = asn1::parse_single::<T>(der) else {
        return;
    };
    let out = match asn1::write_single(&value) {
        Ok(out) => out,
        Err(e) => panic!("{name}: re-encoding failed: {e:?}\n in {}", hex(der)),
    };
    assert!(
        out == der,
        "{name}: round trip differs:\n in  {}\n out {}",
        hex(der),
        hex(&out)
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `types!(selector, der; A, B, ...)` dispatches on `selector % count`.
macro_rules! types {
    ($sel:expr, $der:expr; $($t:ty),+ $(,)?) => {{
        let table: &[fn(&[u8])] = &[$(|d| round_trip::<$t>(stringify!($t), d)),+];
        table[usize::from($sel) % table.len()]($der)
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, der)) = data.split_first() else {
        return;
    };
    if check(der, &Limits::default()).is_err() {
        return;
    }
    types!(sel, der;
        // PKIX
        pkix::AlgorithmIdentifier<'_>,
        pkix::GeneralName<'_>,
        pkix::GeneralNames<'_>,
        pkix::Time,
        pkix::RsassaPssParams<'_>,
        pkix::Extension<'_>,
        pkix::Extensions<'_>,
        // CRMF
        crmf::CertReqMessages<'_>,
        crmf::CertReqMsg<'_>,
        crmf::CertRequest<'_>,
        crmf::CertTemplate<'_>,
        crmf::OptionalValidity,
        crmf::Controls<'_>,
        crmf::AttributeTypeAndValue<'_>,
        crmf::ProofOfPossession<'_>,
        crmf::POPOSigningKey<'_>,
        crmf::POPOSigningKeyInput<'_>,
        crmf::PKMACValue<'_>,
        crmf::POPOPrivKey<'_>,
        crmf::PBMParameter<'_>,
        crmf::EncryptedKey<'_>,
        crmf::EncryptedValue<'_>,
        crmf::PKIPublicationInfo<'_>,
        crmf::SinglePubInfo<'_>,
        crmf::PKIArchiveOptions<'_>,
        crmf::CertId<'_>,
        crmf::Utf8Control<'_>,
        // CMP
        cmp::PKIMessage<'_>,
        cmp::PKIMessages<'_>,
        cmp::PKIHeader<'_>,
        cmp::PKIBody<'_>,
        cmp::PKIFreeText<'_>,
        cmp::PKIStatusInfo<'_>,
        cmp::CertRepMessage<'_>,
        cmp::CertResponse<'_>,
        cmp::CertifiedKeyPair<'_>,
        cmp::CertOrEncCert<'_>,
        cmp::POPODecKeyChallContent<'_>,
        cmp::Challenge<'_>,
        cmp::POPODecKeyRespContent<'_>,
        cmp::KeyRecRepContent<'_>,
        cmp::RevReqContent<'_>,
        cmp::RevDetails<'_>,
        cmp::RevRepContent<'_>,
        cmp::CAKeyUpdContent<'_>,
        cmp::CAKeyUpdAnnContent<'_>,
        cmp::RootCaKeyUpdateContent<'_>,
        cmp::RevAnnContent<'_>,
        cmp::CRLAnnContent<'_>,
        cmp::GenMsgContent<'_>,
        cmp::InfoTypeAndValue<'_>,
        cmp::ErrorMsgContent<'_>,
        cmp::CertConfirmContent<'_>,
        cmp::CertStatus<'_>,
        cmp::PollReqContent<'_>,
        cmp::PollRepContent<'_>,
        cmp::ProtectedPart<'_>,
        cmp::CertReqTemplateContent<'_>,
        cmp::CRLStatus<'_>,
        SeqOf<'_, cmp::CRLStatus<'_>, 1>,
        cmp::KemCiphertextInfo<'_>,
        cmp::PBMAC1Params<'_>,
        cmp::PBKDF2Params<'_>,
        cmp::DHBMParameter<'_>,
        cmp::KemBMParameter<'_>,
        // Building blocks
        RawSeq<'_>,
        cmpkit_core::common::OctetBits<'_>,
        cmpkit_core::common::NamedBits,
    );
});

// DER-aware mutation (see src/lib.rs), after the selector byte.
fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    cmpkit_fuzz::mutate(data, size, max_size, seed, 1)
});
