//! RFC 4211 (CRMF, `PKIXCRMF-2009`, IMPLICIT TAGS) as updated by RFC 9810.
//! Tags on CHOICE types (Name, GeneralName, Time, POPOPrivKey, EncryptedKey)
//! are necessarily EXPLICIT (X.680 31.2.7), whatever the module default.

use crate::common::{OctetBits, RawSeq, SeqOf};
use crate::pkix::{AlgorithmIdentifier, GeneralName, Time};

/// ```text
/// CertReqMessages ::= SEQUENCE SIZE (1..MAX) OF CertReqMsg
/// ```
pub type CertReqMessages<'a> = SeqOf<'a, CertReqMsg<'a>, 1>;

/// ```text
/// CertReqMsg ::= SEQUENCE {
///     certReq   CertRequest,
///     popo      ProofOfPossession  OPTIONAL,
///     regInfo   SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertReqMsg<'a> {
    pub cert_req: CertRequest<'a>,
    pub popo: Option<ProofOfPossession<'a>>,
    pub reg_info: Option<SeqOf<'a, AttributeTypeAndValue<'a>, 1>>,
}

/// ```text
/// CertRequest ::= SEQUENCE {
///     certReqId     INTEGER,
///     certTemplate  CertTemplate,
///     controls      Controls OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertRequest<'a> {
    pub cert_req_id: asn1::BigInt<'a>,
    pub cert_template: CertTemplate<'a>,
    pub controls: Option<Controls<'a>>,
}

/// ```text
/// CertTemplate ::= SEQUENCE {
///     version      [0] Version               OPTIONAL,
///     serialNumber [1] INTEGER               OPTIONAL,
///     signingAlg   [2] AlgorithmIdentifier   OPTIONAL,
///     issuer       [3] Name                  OPTIONAL,
///     validity     [4] OptionalValidity      OPTIONAL,
///     subject      [5] Name                  OPTIONAL,
///     publicKey    [6] SubjectPublicKeyInfo  OPTIONAL,
///     issuerUID    [7] UniqueIdentifier      OPTIONAL,
///     subjectUID   [8] UniqueIdentifier      OPTIONAL,
///     extensions   [9] Extensions            OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertTemplate<'a> {
    #[implicit(0)]
    pub version: Option<i64>,
    #[implicit(1)]
    pub serial_number: Option<asn1::BigInt<'a>>,
    #[implicit(2)]
    pub signing_alg: Option<AlgorithmIdentifier<'a>>,
    #[explicit(3)]
    pub issuer: Option<RawSeq<'a>>,
    #[implicit(4)]
    pub validity: Option<OptionalValidity>,
    #[explicit(5)]
    pub subject: Option<RawSeq<'a>>,
    #[implicit(6)]
    pub public_key: Option<RawSeq<'a>>,
    #[implicit(7)]
    pub issuer_uid: Option<asn1::BitString<'a>>,
    #[implicit(8)]
    pub subject_uid: Option<asn1::BitString<'a>>,
    #[implicit(9)]
    pub extensions: Option<RawSeq<'a>>,
}

/// ```text
/// OptionalValidity ::= SEQUENCE {
///     notBefore  [0] Time OPTIONAL,
///     notAfter   [1] Time OPTIONAL } -- at least one MUST be present
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct OptionalValidity {
    #[explicit(0)]
    pub not_before: Option<Time>,
    #[explicit(1)]
    pub not_after: Option<Time>,
}

/// ```text
/// Controls ::= SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue
/// ```
pub type Controls<'a> = SeqOf<'a, AttributeTypeAndValue<'a>, 1>;

/// ```text
/// AttributeTypeAndValue ::= SEQUENCE {
///     type    OBJECT IDENTIFIER,
///     value   ANY DEFINED BY type }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct AttributeTypeAndValue<'a> {
    pub attr_type: asn1::ObjectIdentifier,
    pub value: asn1::Tlv<'a>,
}

/// ```text
/// ProofOfPossession ::= CHOICE {
///     raVerified        [0] NULL,
///     signature         [1] POPOSigningKey,
///     keyEncipherment   [2] POPOPrivKey,
///     keyAgreement      [3] POPOPrivKey }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum ProofOfPossession<'a> {
    #[implicit(0)]
    RaVerified(()),
    #[implicit(1)]
    Signature(POPOSigningKey<'a>),
    #[explicit(2)]
    KeyEncipherment(POPOPrivKey<'a>),
    #[explicit(3)]
    KeyAgreement(POPOPrivKey<'a>),
}

/// ```text
/// POPOSigningKey ::= SEQUENCE {
///     poposkInput           [0] POPOSigningKeyInput OPTIONAL,
///     algorithmIdentifier   AlgorithmIdentifier,
///     signature             BIT STRING }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct POPOSigningKey<'a> {
    #[implicit(0)]
    pub poposk_input: Option<POPOSigningKeyInput<'a>>,
    pub algorithm_identifier: AlgorithmIdentifier<'a>,
    pub signature: OctetBits<'a>,
}

/// ```text
/// POPOSigningKeyInput ::= SEQUENCE {
///     authInfo            CHOICE {
///         sender              [0] GeneralName,
///         publicKeyMAC        PKMACValue },
///     publicKey           SubjectPublicKeyInfo }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct POPOSigningKeyInput<'a> {
    pub auth_info: POPOSigningKeyInputAuthInfo<'a>,
    pub public_key: RawSeq<'a>,
}

/// The `authInfo` CHOICE of [`POPOSigningKeyInput`].
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum POPOSigningKeyInputAuthInfo<'a> {
    #[explicit(0)]
    Sender(GeneralName<'a>),
    PublicKeyMac(PKMACValue<'a>),
}

/// ```text
/// PKMACValue ::= SEQUENCE {
///     algId  AlgorithmIdentifier,
///     value  BIT STRING }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PKMACValue<'a> {
    pub alg_id: AlgorithmIdentifier<'a>,
    pub value: OctetBits<'a>,
}

/// ```text
/// POPOPrivKey ::= CHOICE {
///     thisMessage       [0] BIT STRING,         -- Deprecated
///     subsequentMessage [1] SubsequentMessage,
///     dhMAC             [2] BIT STRING,         -- Deprecated
///     agreeMAC          [3] PKMACValue,
///     encryptedKey      [4] EnvelopedData }
/// SubsequentMessage ::= INTEGER { encrCert (0), challengeResp (1) }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum POPOPrivKey<'a> {
    #[implicit(0)]
    ThisMessage(asn1::BitString<'a>),
    #[implicit(1)]
    SubsequentMessage(i64),
    #[implicit(2)]
    DhMac(asn1::BitString<'a>),
    #[implicit(3)]
    AgreeMac(PKMACValue<'a>),
    #[implicit(4)]
    EncryptedKey(RawSeq<'a>),
}

/// ```text
/// PBMParameter ::= SEQUENCE {
///     salt                OCTET STRING,
///     owf                 AlgorithmIdentifier,
///     iterationCount      INTEGER,
///     mac                 AlgorithmIdentifier }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PBMParameter<'a> {
    pub salt: &'a [u8],
    pub owf: AlgorithmIdentifier<'a>,
    pub iteration_count: i64,
    pub mac: AlgorithmIdentifier<'a>,
}

/// ```text
/// EncryptedKey ::= CHOICE {
///     encryptedValue        EncryptedValue,   -- Deprecated
///     envelopedData     [0] EnvelopedData }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum EncryptedKey<'a> {
    EncryptedValue(EncryptedValue<'a>),
    #[implicit(0)]
    EnvelopedData(RawSeq<'a>),
}

/// ```text
/// EncryptedValue ::= SEQUENCE {
///     intendedAlg   [0] AlgorithmIdentifier  OPTIONAL,
///     symmAlg       [1] AlgorithmIdentifier  OPTIONAL,
///     encSymmKey    [2] BIT STRING           OPTIONAL,
///     keyAlg        [3] AlgorithmIdentifier  OPTIONAL,
///     valueHint     [4] OCTET STRING         OPTIONAL,
///     encValue       BIT STRING }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct EncryptedValue<'a> {
    #[implicit(0)]
    pub intended_alg: Option<AlgorithmIdentifier<'a>>,
    #[implicit(1)]
    pub symm_alg: Option<AlgorithmIdentifier<'a>>,
    #[implicit(2)]
    pub enc_symm_key: Option<OctetBits<'a>>,
    #[implicit(3)]
    pub key_alg: Option<AlgorithmIdentifier<'a>>,
    #[implicit(4)]
    pub value_hint: Option<&'a [u8]>,
    pub enc_value: OctetBits<'a>,
}

/// ```text
/// PKIPublicationInfo ::= SEQUENCE {
///     action     INTEGER { dontPublish (0), pleasePublish (1) },
///     pubInfos  SEQUENCE SIZE (1..MAX) OF SinglePubInfo OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PKIPublicationInfo<'a> {
    pub action: i64,
    pub pub_infos: Option<SeqOf<'a, SinglePubInfo<'a>, 1>>,
}

/// ```text
/// SinglePubInfo ::= SEQUENCE {
///     pubMethod    INTEGER { dontCare (0), x500 (1), web (2), ldap (3) },
///     pubLocation  GeneralName OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct SinglePubInfo<'a> {
    pub pub_method: i64,
    pub pub_location: Option<GeneralName<'a>>,
}

/// ```text
/// PKIArchiveOptions ::= CHOICE {
///     encryptedPrivKey     [0] EncryptedKey,
///     keyGenParameters     [1] KeyGenParameters,   -- OCTET STRING
///     archiveRemGenPrivKey [2] BOOLEAN }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum PKIArchiveOptions<'a> {
    #[explicit(0)]
    EncryptedPrivKey(EncryptedKey<'a>),
    #[implicit(1)]
    KeyGenParameters(&'a [u8]),
    #[implicit(2)]
    ArchiveRemGenPrivKey(bool),
}

/// ```text
/// CertId ::= SEQUENCE {
///     issuer           GeneralName,
///     serialNumber     INTEGER }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertId<'a> {
    pub issuer: GeneralName<'a>,
    pub serial_number: asn1::BigInt<'a>,
}

/// The value of the `id-regCtrl-regToken` and `-authenticator` controls and
/// the `id-regInfo-utf8Pairs` registration info: `UTF8String`.
pub type Utf8Control<'a> = asn1::Utf8String<'a>;

/// ```text
/// CertReq ::= CertRequest   -- id-regInfo-certReq
/// ```
pub type CertReq<'a> = CertRequest<'a>;

/// ```text
/// ProtocolEncrKey ::= SubjectPublicKeyInfo   -- id-regCtrl-protocolEncrKey
/// ```
pub type ProtocolEncrKey<'a> = RawSeq<'a>;
