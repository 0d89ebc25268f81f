//! RFC 9810 (CMP, `PKIXCMP-2023`, EXPLICIT TAGS), with the additions of
//! RFC 9480 and RFC 9483, and the MAC parameter types of RFC 9481/8018.

use crate::common::{GeneralizedTime, NamedBits, OctetBits, RawSeq, SeqOf};
use crate::crmf::{
    CertId, CertReqMessages, CertTemplate, Controls, EncryptedKey, PKIPublicationInfo,
};
use crate::pkix::{AlgorithmIdentifier, GeneralName, GeneralNames, Time};

/// ```text
/// PKIMessage ::= SEQUENCE {
///     header           PKIHeader,
///     body             PKIBody,
///     protection   [0] PKIProtection OPTIONAL,
///     extraCerts   [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL }
/// PKIProtection ::= BIT STRING
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PKIMessage<'a> {
    pub header: PKIHeader<'a>,
    pub body: PKIBody<'a>,
    #[explicit(0)]
    pub protection: Option<OctetBits<'a>>,
    #[explicit(1)]
    pub extra_certs: Option<SeqOf<'a, CMPCertificate<'a>, 1>>,
}

/// ```text
/// PKIMessages ::= SEQUENCE SIZE (1..MAX) OF PKIMessage
/// ```
/// The elements are kept as DER ([`NestedMessage`]): each is validated as a
/// PKIMessage and handed to Python as its own lazily decoded message.
pub type PKIMessages<'a> = SeqOf<'a, NestedMessage<'a>, 1>;

/// One PKIMessage inside `nested` or `origPKIMessage`: validated against the
/// schema when parsed, kept as its DER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NestedMessage<'a>(pub RawSeq<'a>);

impl<'a> asn1::SimpleAsn1Readable<'a> for NestedMessage<'a> {
    const TAG: asn1::Tag = <RawSeq<'a> as asn1::SimpleAsn1Readable<'a>>::TAG;
    fn parse_data(data: &'a [u8]) -> asn1::ParseResult<Self> {
        // Validate: the contents must be those of a PKIMessage.
        asn1::parse(data, |p| {
            p.read_element::<PKIHeader<'a>>()?;
            p.read_element::<PKIBody<'a>>()?;
            p.read_element::<Option<asn1::Explicit<OctetBits<'a>, 0>>>()?;
            p.read_element::<Option<asn1::Explicit<SeqOf<'a, CMPCertificate<'a>, 1>, 1>>>()?;
            Ok(())
        })?;
        Ok(NestedMessage(RawSeq(data)))
    }
}

impl asn1::SimpleAsn1Writable for NestedMessage<'_> {
    type Error = asn1::WriteError;
    const TAG: asn1::Tag = <RawSeq<'static> as asn1::SimpleAsn1Writable>::TAG;
    fn write_data(&self, dest: &mut asn1::WriteBuf) -> Result<(), asn1::WriteError> {
        self.0.write_data(dest)
    }
    fn data_length(&self) -> Option<usize> {
        self.0.data_length()
    }
}

/// ```text
/// CMPCertificate ::= CHOICE { x509v3PKCert Certificate, ... }
/// ```
/// The only alternative is a Certificate, kept as DER.
pub type CMPCertificate<'a> = RawSeq<'a>;

/// ```text
/// PKIHeader ::= SEQUENCE {
///     pvno                INTEGER     { cmp1999(1), cmp2000(2), cmp2021(3) },
///     sender              GeneralName,
///     recipient           GeneralName,
///     messageTime     [0] GeneralizedTime         OPTIONAL,
///     protectionAlg   [1] AlgorithmIdentifier{ALGORITHM, {...}} OPTIONAL,
///     senderKID       [2] KeyIdentifier           OPTIONAL,
///     recipKID        [3] KeyIdentifier           OPTIONAL,
///     transactionID   [4] OCTET STRING            OPTIONAL,
///     senderNonce     [5] OCTET STRING            OPTIONAL,
///     recipNonce      [6] OCTET STRING            OPTIONAL,
///     freeText        [7] PKIFreeText             OPTIONAL,
///     generalInfo     [8] SEQUENCE SIZE (1..MAX) OF
///                         InfoTypeAndValue     OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PKIHeader<'a> {
    pub pvno: i64,
    pub sender: GeneralName<'a>,
    pub recipient: GeneralName<'a>,
    #[explicit(0)]
    pub message_time: Option<GeneralizedTime>,
    #[explicit(1)]
    pub protection_alg: Option<AlgorithmIdentifier<'a>>,
    #[explicit(2)]
    pub sender_kid: Option<&'a [u8]>,
    #[explicit(3)]
    pub recip_kid: Option<&'a [u8]>,
    #[explicit(4)]
    pub transaction_id: Option<&'a [u8]>,
    #[explicit(5)]
    pub sender_nonce: Option<&'a [u8]>,
    #[explicit(6)]
    pub recip_nonce: Option<&'a [u8]>,
    #[explicit(7)]
    pub free_text: Option<PKIFreeText<'a>>,
    #[explicit(8)]
    pub general_info: Option<SeqOf<'a, InfoTypeAndValue<'a>, 1>>,
}

/// ```text
/// PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String
/// ```
pub type PKIFreeText<'a> = SeqOf<'a, asn1::Utf8String<'a>, 1>;

/// ```text
/// PKIBody ::= CHOICE {       -- message-specific body elements
///     ir       [0]  CertReqMessages,        --Initialization Request
///     ip       [1]  CertRepMessage,         --Initialization Response
///     cr       [2]  CertReqMessages,        --Certification Request
///     cp       [3]  CertRepMessage,         --Certification Response
///     p10cr    [4]  CertificationRequest,   --imported from [RFC2986]
///     popdecc  [5]  POPODecKeyChallContent, --pop Challenge
///     popdecr  [6]  POPODecKeyRespContent,  --pop Response
///     kur      [7]  CertReqMessages,        --Key Update Request
///     kup      [8]  CertRepMessage,         --Key Update Response
///     krr      [9]  CertReqMessages,        --Key Recovery Request
///     krp      [10] KeyRecRepContent,       --Key Recovery Response
///     rr       [11] RevReqContent,          --Revocation Request
///     rp       [12] RevRepContent,          --Revocation Response
///     ccr      [13] CertReqMessages,        --Cross-Cert. Request
///     ccp      [14] CertRepMessage,         --Cross-Cert. Response
///     ckuann   [15] CAKeyUpdContent,        --CA Key Update Ann.
///     cann     [16] CertAnnContent,         --Certificate Ann.
///     rann     [17] RevAnnContent,          --Revocation Ann.
///     crlann   [18] CRLAnnContent,          --CRL Announcement
///     pkiconf  [19] PKIConfirmContent,      --Confirmation
///     nested   [20] NestedMessageContent,   --Nested Message
///     genm     [21] GenMsgContent,          --General Message
///     genp     [22] GenRepContent,          --General Response
///     error    [23] ErrorMsgContent,        --Error Message
///     certConf [24] CertConfirmContent,     --Certificate Confirm
///     pollReq  [25] PollReqContent,         --Polling Request
///     pollRep  [26] PollRepContent          --Polling Response
/// }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum PKIBody<'a> {
    #[explicit(0)]
    Ir(CertReqMessages<'a>),
    #[explicit(1)]
    Ip(CertRepMessage<'a>),
    #[explicit(2)]
    Cr(CertReqMessages<'a>),
    #[explicit(3)]
    Cp(CertRepMessage<'a>),
    #[explicit(4)]
    P10cr(RawSeq<'a>),
    #[explicit(5)]
    Popdecc(POPODecKeyChallContent<'a>),
    #[explicit(6)]
    Popdecr(POPODecKeyRespContent<'a>),
    #[explicit(7)]
    Kur(CertReqMessages<'a>),
    #[explicit(8)]
    Kup(CertRepMessage<'a>),
    #[explicit(9)]
    Krr(CertReqMessages<'a>),
    #[explicit(10)]
    Krp(KeyRecRepContent<'a>),
    #[explicit(11)]
    Rr(RevReqContent<'a>),
    #[explicit(12)]
    Rp(RevRepContent<'a>),
    #[explicit(13)]
    Ccr(CertReqMessages<'a>),
    #[explicit(14)]
    Ccp(CertRepMessage<'a>),
    #[explicit(15)]
    Ckuann(CAKeyUpdContent<'a>),
    #[explicit(16)]
    Cann(CMPCertificate<'a>),
    #[explicit(17)]
    Rann(RevAnnContent<'a>),
    #[explicit(18)]
    Crlann(CRLAnnContent<'a>),
    #[explicit(19)]
    Pkiconf(()),
    #[explicit(20)]
    Nested(PKIMessages<'a>),
    #[explicit(21)]
    Genm(GenMsgContent<'a>),
    #[explicit(22)]
    Genp(GenRepContent<'a>),
    #[explicit(23)]
    Error(ErrorMsgContent<'a>),
    #[explicit(24)]
    CertConf(CertConfirmContent<'a>),
    #[explicit(25)]
    PollReq(PollReqContent<'a>),
    #[explicit(26)]
    PollRep(PollRepContent<'a>),
}

/// ```text
/// PKIStatusInfo ::= SEQUENCE {
///     status        PKIStatus,
///     statusString  PKIFreeText     OPTIONAL,
///     failInfo      PKIFailureInfo  OPTIONAL }
/// PKIStatus ::= INTEGER { accepted (0), grantedWithMods (1), rejection (2),
///     waiting (3), revocationWarning (4), revocationNotification (5),
///     keyUpdateWarning (6) }
/// PKIFailureInfo ::= BIT STRING { badAlg (0), badMessageCheck (1),
///     badRequest (2), badTime (3), badCertId (4), badDataFormat (5),
///     wrongAuthority (6), incorrectData (7), missingTimeStamp (8),
///     badPOP (9), certRevoked (10), certConfirmed (11), wrongIntegrity (12),
///     badRecipientNonce (13), timeNotAvailable (14), unacceptedPolicy (15),
///     unacceptedExtension (16), addInfoNotAvailable (17),
///     badSenderNonce (18), badCertTemplate (19), signerNotTrusted (20),
///     transactionIdInUse (21), unsupportedVersion (22), notAuthorized (23),
///     systemUnavail (24), systemFailure (25), duplicateCertReq (26) }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PKIStatusInfo<'a> {
    pub status: i64,
    pub status_string: Option<PKIFreeText<'a>>,
    pub fail_info: Option<NamedBits>,
}

/// ```text
/// CertRepMessage ::= SEQUENCE {
///     caPubs       [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL,
///     response         SEQUENCE OF CertResponse }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertRepMessage<'a> {
    #[explicit(1)]
    pub ca_pubs: Option<SeqOf<'a, CMPCertificate<'a>, 1>>,
    pub response: SeqOf<'a, CertResponse<'a>>,
}

/// ```text
/// CertResponse ::= SEQUENCE {
///     certReqId           INTEGER,
///     status              PKIStatusInfo,
///     certifiedKeyPair    CertifiedKeyPair    OPTIONAL,
///     rspInfo             OCTET STRING        OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertResponse<'a> {
    pub cert_req_id: asn1::BigInt<'a>,
    pub status: PKIStatusInfo<'a>,
    pub certified_key_pair: Option<CertifiedKeyPair<'a>>,
    pub rsp_info: Option<&'a [u8]>,
}

/// ```text
/// CertifiedKeyPair ::= SEQUENCE {
///     certOrEncCert       CertOrEncCert,
///     privateKey      [0] EncryptedKey        OPTIONAL,
///     publicationInfo [1] PKIPublicationInfo  OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertifiedKeyPair<'a> {
    pub cert_or_enc_cert: CertOrEncCert<'a>,
    #[explicit(0)]
    pub private_key: Option<EncryptedKey<'a>>,
    #[explicit(1)]
    pub publication_info: Option<PKIPublicationInfo<'a>>,
}

/// ```text
/// CertOrEncCert ::= CHOICE {
///     certificate     [0] CMPCertificate,
///     encryptedCert   [1] EncryptedKey }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum CertOrEncCert<'a> {
    #[explicit(0)]
    Certificate(CMPCertificate<'a>),
    #[explicit(1)]
    EncryptedCert(EncryptedKey<'a>),
}

/// ```text
/// POPODecKeyChallContent ::= SEQUENCE OF Challenge
/// ```
pub type POPODecKeyChallContent<'a> = SeqOf<'a, Challenge<'a>>;

/// ```text
/// Challenge ::= SEQUENCE {
///     owf                 AlgorithmIdentifier  OPTIONAL,
///     witness             OCTET STRING,
///     challenge           OCTET STRING,  -- deprecated
///     encryptedRand   [0] EnvelopedData  OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct Challenge<'a> {
    pub owf: Option<AlgorithmIdentifier<'a>>,
    pub witness: &'a [u8],
    pub challenge: &'a [u8],
    #[explicit(0)]
    pub encrypted_rand: Option<RawSeq<'a>>,
}

/// ```text
/// POPODecKeyRespContent ::= SEQUENCE OF INTEGER
/// ```
pub type POPODecKeyRespContent<'a> = SeqOf<'a, asn1::BigInt<'a>>;

/// ```text
/// KeyRecRepContent ::= SEQUENCE {
///     status                  PKIStatusInfo,
///     newSigCert          [0] CMPCertificate OPTIONAL,
///     caCerts             [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL,
///     keyPairHist         [2] SEQUENCE SIZE (1..MAX) OF CertifiedKeyPair OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct KeyRecRepContent<'a> {
    pub status: PKIStatusInfo<'a>,
    #[explicit(0)]
    pub new_sig_cert: Option<CMPCertificate<'a>>,
    #[explicit(1)]
    pub ca_certs: Option<SeqOf<'a, CMPCertificate<'a>, 1>>,
    #[explicit(2)]
    pub key_pair_hist: Option<SeqOf<'a, CertifiedKeyPair<'a>, 1>>,
}

/// ```text
/// RevReqContent ::= SEQUENCE OF RevDetails
/// ```
pub type RevReqContent<'a> = SeqOf<'a, RevDetails<'a>>;

/// ```text
/// RevDetails ::= SEQUENCE {
///     certDetails         CertTemplate,
///     crlEntryDetails     Extensions{{...}}    OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct RevDetails<'a> {
    pub cert_details: CertTemplate<'a>,
    pub crl_entry_details: Option<RawSeq<'a>>,
}

/// ```text
/// RevRepContent ::= SEQUENCE {
///     status       SEQUENCE SIZE (1..MAX) OF PKIStatusInfo,
///     revCerts [0] SEQUENCE SIZE (1..MAX) OF CertId OPTIONAL,
///     crls     [1] SEQUENCE SIZE (1..MAX) OF CertificateList OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct RevRepContent<'a> {
    pub status: SeqOf<'a, PKIStatusInfo<'a>, 1>,
    #[explicit(0)]
    pub rev_certs: Option<SeqOf<'a, CertId<'a>, 1>>,
    #[explicit(1)]
    pub crls: Option<SeqOf<'a, RawSeq<'a>, 1>>,
}

/// ```text
/// CAKeyUpdContent ::= CHOICE {
///     cAKeyUpdAnnV2      CAKeyUpdAnnContent,    -- deprecated
///     cAKeyUpdAnnV3  [0] RootCaKeyUpdateContent }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum CAKeyUpdContent<'a> {
    CAKeyUpdAnnV2(CAKeyUpdAnnContent<'a>),
    #[explicit(0)]
    CAKeyUpdAnnV3(RootCaKeyUpdateContent<'a>),
}

/// ```text
/// CAKeyUpdAnnContent ::= SEQUENCE {
///     oldWithNew   CMPCertificate,
///     newWithOld   CMPCertificate,
///     newWithNew   CMPCertificate }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CAKeyUpdAnnContent<'a> {
    pub old_with_new: CMPCertificate<'a>,
    pub new_with_old: CMPCertificate<'a>,
    pub new_with_new: CMPCertificate<'a>,
}

/// ```text
/// RootCaKeyUpdateContent ::= SEQUENCE {
///     newWithNew       CMPCertificate,
///     newWithOld   [0] CMPCertificate OPTIONAL,
///     oldWithNew   [1] CMPCertificate OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct RootCaKeyUpdateContent<'a> {
    pub new_with_new: CMPCertificate<'a>,
    #[explicit(0)]
    pub new_with_old: Option<CMPCertificate<'a>>,
    #[explicit(1)]
    pub old_with_new: Option<CMPCertificate<'a>>,
}

/// ```text
/// RevAnnContent ::= SEQUENCE {
///     status              PKIStatus,
///     certId              CertId,
///     willBeRevokedAt     GeneralizedTime,
///     badSinceDate        GeneralizedTime,
///     crlDetails          Extensions{{...}}  OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct RevAnnContent<'a> {
    pub status: i64,
    pub cert_id: CertId<'a>,
    pub will_be_revoked_at: GeneralizedTime,
    pub bad_since_date: GeneralizedTime,
    pub crl_details: Option<RawSeq<'a>>,
}

/// ```text
/// CRLAnnContent ::= SEQUENCE OF CertificateList
/// ```
pub type CRLAnnContent<'a> = SeqOf<'a, RawSeq<'a>>;

/// ```text
/// GenMsgContent ::= SEQUENCE OF InfoTypeAndValue
/// GenRepContent ::= SEQUENCE OF InfoTypeAndValue
/// ```
pub type GenMsgContent<'a> = SeqOf<'a, InfoTypeAndValue<'a>>;
/// See [`GenMsgContent`].
pub type GenRepContent<'a> = SeqOf<'a, InfoTypeAndValue<'a>>;

/// ```text
/// InfoTypeAndValue ::= SEQUENCE {
///     infoType               OBJECT IDENTIFIER,
///     infoValue              ANY DEFINED BY infoType  OPTIONAL }
/// ```
/// The value stays DER here; the infoTypes of RFC 9810/9483 are decoded by
/// name (see the `ITAV` types below) when the caller asks.
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct InfoTypeAndValue<'a> {
    pub info_type: asn1::ObjectIdentifier,
    pub info_value: Option<asn1::Tlv<'a>>,
}

/// ```text
/// ErrorMsgContent ::= SEQUENCE {
///     pKIStatusInfo          PKIStatusInfo,
///     errorCode              INTEGER           OPTIONAL,
///     errorDetails           PKIFreeText       OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct ErrorMsgContent<'a> {
    pub pki_status_info: PKIStatusInfo<'a>,
    pub error_code: Option<i64>,
    pub error_details: Option<PKIFreeText<'a>>,
}

/// ```text
/// CertConfirmContent ::= SEQUENCE OF CertStatus
/// ```
pub type CertConfirmContent<'a> = SeqOf<'a, CertStatus<'a>>;

/// ```text
/// CertStatus ::= SEQUENCE {
///     certHash    OCTET STRING,
///     certReqId   INTEGER,
///     statusInfo  PKIStatusInfo OPTIONAL,
///     hashAlg [0] AlgorithmIdentifier{DIGEST-ALGORITHM, {...}} OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertStatus<'a> {
    pub cert_hash: &'a [u8],
    pub cert_req_id: asn1::BigInt<'a>,
    pub status_info: Option<PKIStatusInfo<'a>>,
    #[explicit(0)]
    pub hash_alg: Option<AlgorithmIdentifier<'a>>,
}

/// ```text
/// PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER }
/// ```
pub type PollReqContent<'a> = SeqOf<'a, PollReqEntry<'a>>;

/// One element of [`PollReqContent`].
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PollReqEntry<'a> {
    pub cert_req_id: asn1::BigInt<'a>,
}

/// ```text
/// PollRepContent ::= SEQUENCE OF SEQUENCE {
///     certReqId    INTEGER,
///     checkAfter   INTEGER,  -- time in seconds
///     reason       PKIFreeText OPTIONAL }
/// ```
pub type PollRepContent<'a> = SeqOf<'a, PollRepEntry<'a>>;

/// One element of [`PollRepContent`].
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PollRepEntry<'a> {
    pub cert_req_id: asn1::BigInt<'a>,
    pub check_after: i64,
    pub reason: Option<PKIFreeText<'a>>,
}

/// ```text
/// ProtectedPart ::= SEQUENCE {
///     header    PKIHeader,
///     body      PKIBody }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct ProtectedPart<'a> {
    pub header: PKIHeader<'a>,
    pub body: PKIBody<'a>,
}

// ---------------------------------------------------------------------------
// infoType values (RFC 9810 §5.3.19, RFC 9480, RFC 9483 §4.3)

/// ```text
/// CertReqTemplateValue ::= CertReqTemplateContent
/// CertReqTemplateContent ::= SEQUENCE {
///     certTemplate           CertTemplate,
///     keySpec                Controls OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CertReqTemplateContent<'a> {
    pub cert_template: CertTemplate<'a>,
    pub key_spec: Option<Controls<'a>>,
}

/// ```text
/// CRLStatusListValueRsp ::= SEQUENCE SIZE (1..MAX) OF CRLStatus
/// CRLStatus ::= SEQUENCE {
///     source       CRLSource,
///     thisUpdate   Time OPTIONAL }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct CRLStatus<'a> {
    pub source: CRLSource<'a>,
    pub this_update: Option<Time>,
}

/// ```text
/// CRLSource ::= CHOICE {
///     dpn          [0] DistributionPointName,
///     issuer       [1] GeneralNames }
/// ```
/// DistributionPointName (a CHOICE of RFC 5280) is kept as DER.
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum CRLSource<'a> {
    #[explicit(0)]
    Dpn(asn1::Tlv<'a>),
    #[explicit(1)]
    Issuer(GeneralNames<'a>),
}

/// ```text
/// KemCiphertextInfo ::= SEQUENCE {
///     kem              AlgorithmIdentifier{KEM-ALGORITHM, {...}},
///     ct               OCTET STRING }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct KemCiphertextInfo<'a> {
    pub kem: AlgorithmIdentifier<'a>,
    pub ct: &'a [u8],
}

// ---------------------------------------------------------------------------
// MAC parameters (RFC 9481 §6.1, RFC 8018, RFC 9810 §5.1.3)

/// RFC 8018 appendix A.5
/// ```text
/// PBMAC1-params ::= SEQUENCE {
///     keyDerivationFunc AlgorithmIdentifier {{PBMAC1-KDFs}},
///     messageAuthScheme AlgorithmIdentifier {{PBMAC1-MACs}} }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PBMAC1Params<'a> {
    pub key_derivation_func: AlgorithmIdentifier<'a>,
    pub message_auth_scheme: AlgorithmIdentifier<'a>,
}

/// RFC 8018 appendix A.2
/// ```text
/// PBKDF2-params ::= SEQUENCE {
///     salt CHOICE {
///         specified OCTET STRING,
///         otherSource AlgorithmIdentifier {{PBKDF2-SaltSources}} },
///     iterationCount INTEGER (1..MAX),
///     keyLength INTEGER (1..MAX) OPTIONAL,
///     prf AlgorithmIdentifier {{PBKDF2-PRFs}} DEFAULT algid-hmacWithSHA1 }
/// ```
/// `prf` is `None` when the default (hmacWithSHA1) applies.
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct PBKDF2Params<'a> {
    pub salt: PBKDF2Salt<'a>,
    pub iteration_count: i64,
    pub key_length: Option<i64>,
    pub prf: Option<AlgorithmIdentifier<'a>>,
}

/// The `salt` CHOICE of [`PBKDF2Params`].
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub enum PBKDF2Salt<'a> {
    Specified(&'a [u8]),
    OtherSource(AlgorithmIdentifier<'a>),
}

/// RFC 9810 §5.1.3.2
/// ```text
/// DHBMParameter ::= SEQUENCE {
///     owf                 AlgorithmIdentifier{DIGEST-ALGORITHM, {...}},
///     mac                 AlgorithmIdentifier{MAC-ALGORITHM, {...}} }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct DHBMParameter<'a> {
    pub owf: AlgorithmIdentifier<'a>,
    pub mac: AlgorithmIdentifier<'a>,
}

/// RFC 9810 §5.1.3.4
/// ```text
/// KemBMParameter ::= SEQUENCE {
///     kdf              AlgorithmIdentifier{KEY-DERIVATION, {...}},
///     kemContext   [0] OCTET STRING OPTIONAL,
///     len              INTEGER (1..MAX),
///     mac              AlgorithmIdentifier{MAC-ALGORITHM, {...}} }
/// ```
#[derive(asn1::Asn1Read, asn1::Asn1Write)]
pub struct KemBMParameter<'a> {
    pub kdf: AlgorithmIdentifier<'a>,
    #[explicit(0)]
    pub kem_context: Option<&'a [u8]>,
    pub len: i64,
    pub mac: AlgorithmIdentifier<'a>,
}
