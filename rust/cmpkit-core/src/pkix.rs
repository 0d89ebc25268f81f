//! The PKIX pieces (RFC 5280) that CMP and CRMF import. Certificates, names,
//! extensions and public keys themselves stay raw DER ([`RawSeq`]): Python's
//! `cryptography` parses those when asked.

use crate::common::{RawSeq, X509GeneralizedTime};

/// RFC 5280 §4.1.1.2
/// ```text
/// AlgorithmIdentifier ::= SEQUENCE {
///     algorithm   OBJECT IDENTIFIER,
///     parameters  ANY DEFINED BY algorithm OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct AlgorithmIdentifier<'a> {
    pub algorithm: asn1::ObjectIdentifier,
    pub parameters: Option<asn1::Tlv<'a>>,
}

/// RFC 5280 §4.2.1.6 (IMPLICIT TAGS module; `Name` and `ORAddress` are
/// CHOICE/SEQUENCE, so `directoryName` is explicitly tagged).
/// ```text
/// GeneralName ::= CHOICE {
///     otherName                 [0] AnotherName,
///     rfc822Name                [1] IA5String,
///     dNSName                   [2] IA5String,
///     x400Address               [3] ORAddress,
///     directoryName             [4] Name,
///     ediPartyName              [5] EDIPartyName,
///     uniformResourceIdentifier [6] IA5String,
///     iPAddress                 [7] OCTET STRING,
///     registeredID              [8] OBJECT IDENTIFIER }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum GeneralName<'a> {
    #[implicit(0)]
    OtherName(RawSeq<'a>),
    #[implicit(1)]
    Rfc822Name(asn1::IA5String<'a>),
    #[implicit(2)]
    DnsName(asn1::IA5String<'a>),
    #[implicit(3)]
    X400Address(RawSeq<'a>),
    #[explicit(4)]
    DirectoryName(RawSeq<'a>),
    #[implicit(5)]
    EdiPartyName(RawSeq<'a>),
    #[implicit(6)]
    UniformResourceIdentifier(asn1::IA5String<'a>),
    #[implicit(7)]
    IpAddress(&'a [u8]),
    #[implicit(8)]
    RegisteredId(asn1::ObjectIdentifier),
}

/// RFC 5280 §4.1
/// ```text
/// Time ::= CHOICE {
///     utcTime        UTCTime,
///     generalTime    GeneralizedTime }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum Time {
    UtcTime(asn1::UtcTime),
    GeneralTime(X509GeneralizedTime),
}

/// RFC 5280 §4.2.1.6
/// ```text
/// GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
/// ```
pub type GeneralNames<'a> = crate::common::SeqOf<'a, GeneralName<'a>, 1>;

/// RFC 4055 §3.1 (absent fields take their DEFAULT: SHA-1, MGF1 with SHA-1,
/// salt length 20, trailer field 1)
/// ```text
/// RSASSA-PSS-params ::= SEQUENCE {
///     hashAlgorithm      [0] HashAlgorithm DEFAULT sha1Identifier,
///     maskGenAlgorithm   [1] MaskGenAlgorithm DEFAULT mgf1SHA1Identifier,
///     saltLength         [2] INTEGER DEFAULT 20,
///     trailerField       [3] INTEGER DEFAULT 1 }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct RsassaPssParams<'a> {
    #[explicit(0)]
    pub hash_algorithm: Option<AlgorithmIdentifier<'a>>,
    #[explicit(1)]
    pub mask_gen_algorithm: Option<AlgorithmIdentifier<'a>>,
    #[explicit(2)]
    pub salt_length: Option<i64>,
    #[explicit(3)]
    pub trailer_field: Option<i64>,
}

/// RFC 5280 §4.1
/// ```text
/// Extension ::= SEQUENCE {
///     extnID      OBJECT IDENTIFIER,
///     critical    BOOLEAN DEFAULT FALSE,
///     extnValue   OCTET STRING }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct Extension<'a> {
    pub extn_id: asn1::ObjectIdentifier,
    #[default(false)]
    pub critical: bool,
    pub extn_value: &'a [u8],
}

/// RFC 5280 §4.1
/// ```text
/// Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
/// ```
pub type Extensions<'a> = crate::common::SeqOf<'a, Extension<'a>, 1>;
