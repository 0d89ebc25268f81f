//! Building blocks shared by the ASN.1 modules: SEQUENCE OF that is read
//! lazily or written from a vector, raw DER kept as a slice, and BIT STRINGs
//! with a fixed meaning (octet-aligned signatures, named-bit flags).

use asn1::{
    Asn1Readable, Asn1Writable, ParseError, ParseErrorKind, ParseResult, SimpleAsn1Readable,
    SimpleAsn1Writable, Tag, WriteBuf, WriteError,
};

/// `SEQUENCE SIZE (MIN..MAX) OF T`: borrowed from the DER when decoded
/// (every element is validated at parse time), a vector when built.
/// `MIN` is enforced when building only: like OpenSSL, decoding accepts an
/// empty SEQUENCE where the RFC asks for one element or more (OpenSSL itself
/// sends an empty extraCerts in some messages).
pub enum SeqOf<'a, T: 'a, const MIN: usize = 0> {
    Read(asn1::SequenceOf<'a, T>),
    Write(Vec<T>),
}

impl<'a, T: Asn1Readable<'a> + 'a, const MIN: usize> SimpleAsn1Readable<'a> for SeqOf<'a, T, MIN> {
    const TAG: Tag = <asn1::Sequence<'static> as SimpleAsn1Readable<'static>>::TAG;
    fn parse_data(data: &'a [u8]) -> ParseResult<Self> {
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

    #[test]
    fn octet_bits_rejects_unused_bits() {
        assert!(asn1::parse_single::<OctetBits<'_>>(&[3, 2, 1, 0x80]).is_err());
        assert_eq!(
            asn1::parse_single::<OctetBits<'_>>(&[3, 2, 0, 0x80]).unwrap(),
            OctetBits(&[0x80])
        );
    }
}
