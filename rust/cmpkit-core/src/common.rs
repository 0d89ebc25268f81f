//! Building blocks shared by the ASN.1 modules: SEQUENCE OF that is read
//! lazily or written from a vector, raw DER kept as a slice, and BIT STRINGs
//! with a fixed meaning (octet-aligned signatures, named-bit flags).

use asn1::{
    Asn1Readable, Asn1Writable, ParseError, ParseErrorKind, ParseResult, SimpleAsn1Readable,
    SimpleAsn1Writable, Tag, WriteBuf, WriteError,
};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Most elements accepted in one decoded SEQUENCE OF (or SET OF) unless
/// [`set_max_elements`] says otherwise. CMP lists are short: one request per
/// message in the Lightweight CMP Profile (RFC 9483), a chain of a handful of
/// certificates in extraCerts and caPubs, a few ITAVs; the longest legitimate
/// list seen in practice is a CA certificate bundle in a genp (Mozilla's root
/// store has about 150). A thousand leaves room for all of that while
/// bounding the Python objects one list can make, which the 16 MiB size limit
/// alone would let run into the millions. It bounds the lists of the CMP and
/// CRMF schema (and the RDNs of Names); DER kept whole (certificates, CRLs,
/// CSRs, extensions) is parsed by `cryptography` when read, not here.
pub const DEFAULT_MAX_ELEMENTS: usize = 1000;

static MAX_ELEMENTS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_ELEMENTS);

/// The element limit of every SEQUENCE OF decoded from now on (process-wide).
pub fn max_elements() -> usize {
    MAX_ELEMENTS.load(Ordering::Relaxed)
}

/// Sets the element limit (at least 1).
pub fn set_max_elements(n: usize) {
    MAX_ELEMENTS.store(n.max(1), Ordering::Relaxed);
}

/// Refuses `data`, the contents of a SEQUENCE OF or SET OF, when it holds more
/// than [`max_elements`] TLVs. It counts TLV headers only and stops at the
/// first one too many, before any element is parsed. The error is
/// `InvalidSize` with `actual > max`, which no other check of the schema
/// produces (the minimum sizes of the RFCs are not enforced, see [`SeqOf`]).
pub fn check_element_count(data: &[u8]) -> ParseResult<()> {
    let max = max_elements();
    asn1::parse(data, |p| {
        let mut n = 0usize;
        while !p.is_empty() {
            p.read_element::<asn1::Tlv<'_>>()?;
            n += 1;
            if n > max {
                return Err(ParseError::new(ParseErrorKind::InvalidSize {
                    min: 0,
                    max,
                    actual: n,
                }));
            }
        }
        Ok(())
    })
}

/// The limit `e` reports if it is the refusal of [`check_element_count`].
pub fn exceeded_element_limit(e: &ParseError) -> Option<usize> {
    match e.kind() {
        ParseErrorKind::InvalidSize { max, actual, .. } if actual > max => Some(max),
        _ => None,
    }
}

/// `SEQUENCE SIZE (MIN..MAX) OF T`: borrowed from the DER when decoded
/// (every element is validated at parse time, after the element count was
/// checked against [`max_elements`]), a vector when built.
/// `MIN` records the RFC's lower bound and is not enforced, neither when
/// decoding nor when building: OpenSSL sends an empty extraCerts in some
/// messages, and its `d2i_OSSL_CMP_MSG` takes, and `i2d_OSSL_CMP_MSG` writes
/// back, every list of CMP and CRMF empty (extraCerts, generalInfo, PKIFreeText,
/// CertReqMessages, controls, regInfo, caPubs, the lists of RevRepContent and
/// KeyRecRepContent, pubInfos, `nested`). An empty list read is an empty
/// list written, so that a decoded value encodes back to its bytes.
pub enum SeqOf<'a, T: 'a, const MIN: usize = 0> {
    Read(asn1::SequenceOf<'a, T>),
    Write(Vec<T>),
}

impl<'a, T: Asn1Readable<'a> + 'a, const MIN: usize> SimpleAsn1Readable<'a> for SeqOf<'a, T, MIN> {
    const TAG: Tag = <asn1::Sequence<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn parse_data(data: &'a [u8]) -> ParseResult<Self> {
        check_element_count(data)?;
        Ok(SeqOf::Read(asn1::SequenceOf::parse_data(data)?))
    }
}

impl<'a, T: Asn1Readable<'a> + Asn1Writable + 'a, const MIN: usize> SimpleAsn1Writable
    for SeqOf<'a, T, MIN>
{
    type Error = T::Error;
    const TAG: Tag = <asn1::Sequence<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn write_data(&self, dest: &mut WriteBuf) -> Result<(), Self::Error> {
        match self {
            SeqOf::Read(v) => v.write_data(dest),
            SeqOf::Write(v) => asn1::SequenceOfWriter::<T, &[T]>::new(v).write_data(dest),
        }
    }
    fn data_length(&self) -> Option<usize> {
        None
    }
}

/// A SEQUENCE kept as raw DER (Certificate, Name, SubjectPublicKeyInfo,
/// Extensions, CertificationRequest, CertificateList, EnvelopedData, ...).
/// Holds the contents only, so that it also works under an IMPLICIT tag;
/// [`RawSeq::to_der`] rebuilds the universal SEQUENCE encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawSeq<'a>(pub &'a [u8]);

impl<'a> RawSeq<'a> {
    /// Takes a full DER SEQUENCE (tag, length, contents) and keeps the contents.
    pub fn from_der(der: &'a [u8]) -> ParseResult<Self> {
        asn1::parse_single::<RawSeq<'a>>(der)
    }

    /// The universal SEQUENCE encoding of these contents.
    pub fn to_der(&self) -> Vec<u8> {
        asn1::write_single(self).expect("writing to a Vec cannot fail")
    }
}

impl<'a> SimpleAsn1Readable<'a> for RawSeq<'a> {
    const TAG: Tag = <asn1::Sequence<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn parse_data(data: &'a [u8]) -> ParseResult<Self> {
        Ok(RawSeq(data))
    }
}

impl SimpleAsn1Writable for RawSeq<'_> {
    type Error = WriteError;
    const TAG: Tag = <asn1::Sequence<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn write_data(&self, dest: &mut WriteBuf) -> Result<(), WriteError> {
        dest.push_slice(self.0)
    }
    fn data_length(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// A BIT STRING that carries octets (a signature, a MAC, PKIProtection,
/// an encrypted value): DER with zero unused bits, exposed as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OctetBits<'a>(pub &'a [u8]);

impl<'a> SimpleAsn1Readable<'a> for OctetBits<'a> {
    const TAG: Tag = <asn1::BitString<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn parse_data(data: &'a [u8]) -> ParseResult<Self> {
        let bits = asn1::BitString::parse_data(data)?;
        if bits.padding_bits() != 0 {
            return Err(ParseError::new(ParseErrorKind::InvalidValue));
        }
        Ok(OctetBits(bits.as_bytes()))
    }
}

impl SimpleAsn1Writable for OctetBits<'_> {
    type Error = WriteError;
    const TAG: Tag = <asn1::BitString<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn write_data(&self, dest: &mut WriteBuf) -> Result<(), WriteError> {
        dest.push_byte(0)?;
        dest.push_slice(self.0)
    }
    fn data_length(&self) -> Option<usize> {
        Some(self.0.len() + 1)
    }
}

/// A named-bit BIT STRING (PKIFailureInfo, ReasonFlags) as a bit mask:
/// bit `n` of the ASN.1 value is `1 << n`. Up to 64 named bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NamedBits(pub u64);

impl<'a> SimpleAsn1Readable<'a> for NamedBits {
    const TAG: Tag = <asn1::BitString<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn parse_data(data: &'a [u8]) -> ParseResult<Self> {
        let bits = asn1::BitString::parse_data(data)?;
        let bytes = bits.as_bytes();
        // DER of a named bit list has no trailing zero bits (X.690 11.2.2):
        // the last octet's last used bit is set, or the string is empty.
        if let Some(last) = bytes.last() {
            if last & (1 << bits.padding_bits()) == 0 {
                return Err(ParseError::new(ParseErrorKind::InvalidValue));
            }
        }
        let mut mask = 0u64;
        for (i, byte) in bytes.iter().enumerate() {
            for j in 0..8 {
                if byte & (0x80 >> j) != 0 {
                    let n = i * 8 + j;
                    if n >= 64 {
                        return Err(ParseError::new(ParseErrorKind::IntegerOverflow));
                    }
                    mask |= 1 << n;
                }
            }
        }
        Ok(NamedBits(mask))
    }
}

impl NamedBits {
    /// DER of a named bit list: trailing zero bits are not encoded (X.690 11.2.2).
    fn octets(&self) -> (Vec<u8>, u8) {
        if self.0 == 0 {
            return (Vec::new(), 0);
        }
        let highest = 63 - self.0.leading_zeros() as usize;
        let len = highest / 8 + 1;
        let mut out = vec![0u8; len];
        for n in 0..=highest {
            if self.0 & (1 << n) != 0 {
                out[n / 8] |= 0x80 >> (n % 8);
            }
        }
        (out, (7 - (highest % 8)) as u8)
    }
}

impl SimpleAsn1Writable for NamedBits {
    type Error = WriteError;
    const TAG: Tag = <asn1::BitString<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn write_data(&self, dest: &mut WriteBuf) -> Result<(), WriteError> {
        let (octets, unused) = self.octets();
        dest.push_byte(unused)?;
        dest.push_slice(&octets)
    }
    fn data_length(&self) -> Option<usize> {
        Some(self.octets().0.len() + 1)
    }
}

/// A complete DER element kept as is and written back byte for byte
/// (ANY, or a value checked elsewhere).
pub type Any<'a> = asn1::Tlv<'a>;

/// Refuses year 0000: four digits can carry it, but no time a CMP peer sends
/// is in it, and the Python side (`datetime`) starts at year 1. Refused while
/// parsing, so that a message that passes the check also decodes in full.
fn refuse_year_0(dt: &asn1::DateTime) -> ParseResult<()> {
    if dt.year() == 0 {
        return Err(ParseError::new(ParseErrorKind::InvalidValue));
    }
    Ok(())
}

/// `GeneralizedTime` as messageTime and RevAnnContent use it: DER (`Z`, no
/// trailing zeros in the fraction), with fractions of a second down to
/// nanoseconds (the `asn1` crate reads up to 9 digits), year 0001 to 9999.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GeneralizedTime(pub asn1::GeneralizedTime);

impl SimpleAsn1Readable<'_> for GeneralizedTime {
    const TAG: Tag = <asn1::GeneralizedTime as SimpleAsn1Readable<'static>>::TAG;
    fn parse_data(data: &[u8]) -> ParseResult<Self> {
        let time = asn1::GeneralizedTime::parse_data(data)?;
        refuse_year_0(time.as_datetime())?;
        Ok(GeneralizedTime(time))
    }
}

impl SimpleAsn1Writable for GeneralizedTime {
    type Error = WriteError;
    const TAG: Tag = <asn1::GeneralizedTime as SimpleAsn1Writable>::TAG;
    fn write_data(&self, dest: &mut WriteBuf) -> Result<(), WriteError> {
        self.0.write_data(dest)
    }
    fn data_length(&self) -> Option<usize> {
        self.0.data_length()
    }
}

/// `GeneralizedTime` as RFC 5280 §4.1.2.5.2 has it in `Time`: whole seconds,
/// `Z`, year 0001 to 9999.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct X509GeneralizedTime(pub asn1::X509GeneralizedTime);

impl SimpleAsn1Readable<'_> for X509GeneralizedTime {
    const TAG: Tag = <asn1::X509GeneralizedTime as SimpleAsn1Readable<'static>>::TAG;
    fn parse_data(data: &[u8]) -> ParseResult<Self> {
        let time = asn1::X509GeneralizedTime::parse_data(data)?;
        refuse_year_0(time.as_datetime())?;
        Ok(X509GeneralizedTime(time))
    }
}

impl SimpleAsn1Writable for X509GeneralizedTime {
    type Error = WriteError;
    const TAG: Tag = <asn1::X509GeneralizedTime as SimpleAsn1Writable>::TAG;
    fn write_data(&self, dest: &mut WriteBuf) -> Result<(), WriteError> {
        self.0.write_data(dest)
    }
    fn data_length(&self) -> Option<usize> {
        self.0.data_length()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_bits_round_trip_minimal() {
        for mask in [0u64, 1, 2, 1 << 7, 1 << 8, 1 << 26, (1 << 26) | 1, u64::MAX] {
            let der = asn1::write_single(&NamedBits(mask)).unwrap();
            assert_eq!(
                asn1::parse_single::<NamedBits>(&der).unwrap(),
                NamedBits(mask)
            );
        }
        // badAlg (bit 0) is the first bit of the first octet, 7 unused bits.
        assert_eq!(asn1::write_single(&NamedBits(1)).unwrap(), [3, 2, 7, 0x80]);
    }

    /// `SEQUENCE OF INTEGER` with `n` elements.
    fn integers(n: usize) -> Vec<u8> {
        asn1::write_single(&asn1::SequenceOfWriter::new(vec![1u8; n])).unwrap()
    }

    #[test]
    fn element_limit_refuses_one_too_many_before_parsing_them() {
        // One test changes the process-wide limit: the others run with the default.
        assert_eq!(max_elements(), DEFAULT_MAX_ELEMENTS);
        let ok = integers(DEFAULT_MAX_ELEMENTS);
        let read = asn1::parse_single::<SeqOf<'_, u8>>(&ok).unwrap();
        assert!(matches!(read, SeqOf::Read(s) if s.len() == DEFAULT_MAX_ELEMENTS));
        let e = asn1::parse_single::<SeqOf<'_, u8>>(&integers(DEFAULT_MAX_ELEMENTS + 1))
            .err()
            .unwrap();
        assert_eq!(exceeded_element_limit(&e), Some(DEFAULT_MAX_ELEMENTS));
        // Counted before the elements are parsed: the one too many need not
        // even be an INTEGER.
        let mut bad = integers(DEFAULT_MAX_ELEMENTS);
        bad.truncate(bad.len() - 3);
        bad.extend([0x04, 0x00, 0x04, 0x00]);
        let e = asn1::parse_single::<SeqOf<'_, u8>>(&fix_length(bad))
            .err()
            .unwrap();
        assert_eq!(exceeded_element_limit(&e), Some(DEFAULT_MAX_ELEMENTS));
        // An element that is too short is a schema error, not a limit.
        let e = asn1::parse_single::<SeqOf<'_, u8, 1>>(&[0x30, 0x03, 0x04, 0x01, 0x00])
            .err()
            .unwrap();
        assert_eq!(exceeded_element_limit(&e), None);
    }

    /// Rewrites the outer length of a SEQUENCE built with a 2-byte long length.
    fn fix_length(mut der: Vec<u8>) -> Vec<u8> {
        assert_eq!(der[1], 0x82);
        let len = der.len() - 4;
        der[2] = (len >> 8) as u8;
        der[3] = len as u8;
        der
    }

    #[test]
    fn empty_sequence_of_round_trips_whatever_its_minimum() {
        let read = asn1::parse_single::<SeqOf<'_, u8, 1>>(&[0x30, 0x00]).unwrap();
        assert!(matches!(&read, SeqOf::Read(s) if s.is_empty()));
        assert_eq!(asn1::write_single(&read).unwrap(), [0x30, 0x00]);
        let built = SeqOf::<'_, u8, 1>::Write(Vec::new());
        assert_eq!(asn1::write_single(&built).unwrap(), [0x30, 0x00]);
    }

    #[test]
    fn generalized_time_of_year_0_is_refused() {
        let time = |text: &[u8]| [&[0x18, text.len() as u8][..], text].concat();
        let e = asn1::parse_single::<GeneralizedTime>(&time(b"00000101000000Z")).err();
        assert_eq!(e.unwrap().kind(), ParseErrorKind::InvalidValue);
        let e = asn1::parse_single::<X509GeneralizedTime>(&time(b"00000101000000Z")).err();
        assert_eq!(e.unwrap().kind(), ParseErrorKind::InvalidValue);
        for text in [&b"00010101000000Z"[..], b"99991231235959.999999999Z"] {
            let der = time(text);
            let read = asn1::parse_single::<GeneralizedTime>(&der).unwrap();
            assert_eq!(asn1::write_single(&read).unwrap(), der);
        }
        let der = time(b"00010101000000Z");
        let read = asn1::parse_single::<X509GeneralizedTime>(&der).unwrap();
        assert_eq!(asn1::write_single(&read).unwrap(), der);
    }

    #[test]
    fn octet_bits_rejects_unused_bits() {
        assert!(asn1::parse_single::<OctetBits<'_>>(&[3, 2, 1, 0x80]).is_err());
        assert_eq!(
            asn1::parse_single::<OctetBits<'_>>(&[3, 2, 0, 0x80]).unwrap(),
            OctetBits(&[0x80])
        );
    }
}
