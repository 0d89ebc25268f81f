//! The MACs that protect CMP messages with a shared secret:
//!
//! - PBM, the password-based MAC of RFC 4211 §4.4 (CMP's classic MAC
//!   protection, `id-PasswordBasedMac`): a base key made by iterating a
//!   one-way function over `secret || salt`, then HMAC with that key;
//! - PBMAC1 (RFC 8018 §7.1, profiled for CMP by RFC 9481 §6.1.1): HMAC keyed
//!   with a PBKDF2 output;
//! - plain HMAC and PBKDF2-HMAC, the pieces of the above.
//!
//! Every parameter that decides how much work is done (iteration counts,
//! salt, secret and key lengths) is checked against [`Limits`] before any
//! hashing starts, so that a peer's message cannot make us spin.
//!
//! The hashes are SHA-1 and SHA-2 from RustCrypto, which use the CPU's SHA
//! instructions where it has them. The PBM loop runs one raw compression per
//! iteration (see [`iterate_hash`]).

use core::fmt;

use hmac::{EagerHash, KeyInit, Mac};

/// A hash function usable as PBM one-way function, as HMAC hash, or as the
/// hash of a PBKDF2 PRF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Digest {
    /// SHA-1 (FIPS 180-4), OID 1.3.14.3.2.26.
    Sha1,
    /// SHA-224 (FIPS 180-4), OID 2.16.840.1.101.3.4.2.4.
    Sha224,
    /// SHA-256 (FIPS 180-4), OID 2.16.840.1.101.3.4.2.1.
    Sha256,
    /// SHA-384 (FIPS 180-4), OID 2.16.840.1.101.3.4.2.2.
    Sha384,
    /// SHA-512 (FIPS 180-4), OID 2.16.840.1.101.3.4.2.3.
    Sha512,
}

/// One row per digest: the digest, the names OpenSSL accepts for it
/// (compared case-insensitively; the first is the canonical one), its
/// OID, and the OIDs of HMAC with it (RFC 8018 §B.1.1 `hmacWithSHA*`
/// first; for SHA-1 also RFC 3370's `hmac-sha1`, which RFC 4210 names as
/// the default PBM MAC).
struct DigestInfo {
    digest: Digest,
    names: &'static [&'static str],
    oid: &'static str,
    hmac_oids: &'static [&'static str],
}

const DIGESTS: [DigestInfo; 5] = [
    DigestInfo {
        digest: Digest::Sha1,
        names: &["sha1", "sha-1"],
        oid: "1.3.14.3.2.26",
        hmac_oids: &["1.2.840.113549.2.7", "1.3.6.1.5.5.8.1.2"],
    },
    DigestInfo {
        digest: Digest::Sha224,
        names: &["sha224", "sha-224", "sha2-224"],
        oid: "2.16.840.1.101.3.4.2.4",
        hmac_oids: &["1.2.840.113549.2.8"],
    },
    DigestInfo {
        digest: Digest::Sha256,
        names: &["sha256", "sha-256", "sha2-256"],
        oid: "2.16.840.1.101.3.4.2.1",
        hmac_oids: &["1.2.840.113549.2.9"],
    },
    DigestInfo {
        digest: Digest::Sha384,
        names: &["sha384", "sha-384", "sha2-384"],
        oid: "2.16.840.1.101.3.4.2.2",
        hmac_oids: &["1.2.840.113549.2.10"],
    },
    DigestInfo {
        digest: Digest::Sha512,
        names: &["sha512", "sha-512", "sha2-512"],
        oid: "2.16.840.1.101.3.4.2.3",
        hmac_oids: &["1.2.840.113549.2.11"],
    },
];

impl Digest {
    fn info(self) -> &'static DigestInfo {
        // DIGESTS lists the variants in declaration order.
        &DIGESTS[self as usize]
    }

    /// Looks a digest up by an OpenSSL name (`sha256`, `SHA-256`,
    /// `SHA2-256`, ...; case-insensitive).
    pub fn from_name(name: &str) -> Option<Digest> {
        DIGESTS
            .iter()
            .find(|d| d.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|d| d.digest)
    }

    /// Looks a digest up by its OID in dotted form.
    pub fn from_oid(oid: &str) -> Option<Digest> {
        DIGESTS.iter().find(|d| d.oid == oid).map(|d| d.digest)
    }

    /// Looks a digest up by OpenSSL name or dotted OID.
    pub fn lookup(name_or_oid: &str) -> Result<Digest, MacError> {
        Digest::from_name(name_or_oid)
            .or_else(|| Digest::from_oid(name_or_oid))
            .ok_or_else(|| MacError::UnknownDigest(shorten(name_or_oid)))
    }

    /// The canonical OpenSSL name, e.g. `sha256`.
    pub fn name(self) -> &'static str {
        self.info().names[0]
    }

    /// The OID in dotted form.
    pub fn oid(self) -> &'static str {
        self.info().oid
    }

    /// The length of the hash value in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha224 => 28,
            Digest::Sha256 => 32,
            Digest::Sha384 => 48,
            Digest::Sha512 => 64,
        }
    }

    /// The hash of the concatenation of `parts`.
    pub fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        fn with<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut h = D::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        }
        match self {
            Digest::Sha1 => with::<sha1::Sha1>(parts),
            Digest::Sha224 => with::<sha2::Sha224>(parts),
            Digest::Sha256 => with::<sha2::Sha256>(parts),
            Digest::Sha384 => with::<sha2::Sha384>(parts),
            Digest::Sha512 => with::<sha2::Sha512>(parts),
        }
    }
}

/// HMAC with one of the [`Digest`]s: the `mac` of PBM and PBMAC1, and the
/// PRF of PBKDF2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HmacAlgorithm(pub Digest);

impl HmacAlgorithm {
    /// Looks HMAC up by an OpenSSL name: `hmac-` or `hmacWith` followed by
    /// a digest name (`hmac-sha1`, `HMAC-SHA256`, `hmacWithSHA512`, ...;
    /// case-insensitive).
    pub fn from_name(name: &str) -> Option<HmacAlgorithm> {
        ["hmac-", "hmacwith"].iter().find_map(|prefix| {
            let head = name.get(..prefix.len())?;
            if head.eq_ignore_ascii_case(prefix) {
                Digest::from_name(&name[prefix.len()..]).map(HmacAlgorithm)
            } else {
                None
            }
        })
    }

    /// Looks HMAC up by OID in dotted form: RFC 8018's `hmacWithSHA1` ..
    /// `hmacWithSHA512` (1.2.840.113549.2.7 .. .11, as RFC 9481 §6.2.1
    /// lists them) or RFC 3370's `hmac-sha1` (1.3.6.1.5.5.8.1.2).
    pub fn from_oid(oid: &str) -> Option<HmacAlgorithm> {
        DIGESTS
            .iter()
            .find(|d| d.hmac_oids.contains(&oid))
            .map(|d| HmacAlgorithm(d.digest))
    }

    /// Looks HMAC up by OpenSSL name or dotted OID.
    pub fn lookup(name_or_oid: &str) -> Result<HmacAlgorithm, MacError> {
        HmacAlgorithm::from_name(name_or_oid)
            .or_else(|| HmacAlgorithm::from_oid(name_or_oid))
            .ok_or_else(|| MacError::UnknownMac(shorten(name_or_oid)))
    }

    /// Looks up a PBKDF2 PRF or an HMAC hash, where a bare digest name or
    /// OID (as Python's `hashlib.pbkdf2_hmac` takes) also means HMAC with
    /// that digest.
    pub fn lookup_lenient(name_or_oid: &str) -> Result<HmacAlgorithm, MacError> {
        HmacAlgorithm::lookup(name_or_oid)
            .or_else(|_| Digest::lookup(name_or_oid).map(HmacAlgorithm))
            .map_err(|_| MacError::UnknownMac(shorten(name_or_oid)))
    }

    /// The hash inside the HMAC.
    pub fn digest(self) -> Digest {
        self.0
    }

    /// The OpenSSL name, e.g. `hmac-sha256`.
    pub fn name(self) -> &'static str {
        match self.0 {
            Digest::Sha1 => "hmac-sha1",
            Digest::Sha224 => "hmac-sha224",
            Digest::Sha256 => "hmac-sha256",
            Digest::Sha384 => "hmac-sha384",
            Digest::Sha512 => "hmac-sha512",
        }
    }

    /// The RFC 8018 `hmacWithSHA*` OID in dotted form.
    pub fn oid(self) -> &'static str {
        self.0.info().hmac_oids[0]
    }
}

/// Caps on the parameters that decide how much work a MAC computation
/// does. They are checked before any hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fewest iterations accepted (PBM: OWF applications; PBKDF2: PRF
    /// rounds).
    pub min_iterations: u64,
    /// Most iterations accepted.
    pub max_iterations: u64,
    /// Longest salt accepted, in bytes.
    pub max_salt_len: usize,
    /// Longest shared secret (PBM) or password (PBKDF2) accepted, in bytes.
    pub max_secret_len: usize,
    /// Longest PBKDF2 output accepted, in bytes (the shortest is 1).
    pub max_key_len: usize,
}

impl Limits {
    /// Defaults for PBM: 100 ..= 100 000 iterations, as OpenSSL's
    /// `OSSL_CRMF_pbm_new` enforces (100 is RFC 4211's minimum; OpenSSL's
    /// cap is `OSSL_CRMF_PBM_MAX_ITERATION_COUNT`). A salt of at most
    /// 1 KiB, a secret of at most 64 KiB.
    pub const PBM: Limits = Limits {
        min_iterations: 100,
        max_iterations: 100_000,
        max_salt_len: 1024,
        max_secret_len: 65_536,
        max_key_len: 1024,
    };

    /// Defaults for PBKDF2 and PBMAC1: 1 ..= 10 000 000 iterations (RFC
    /// 8018 allows 1; ten million rounds of HMAC-SHA-256 is a few seconds
    /// of one core, an order of magnitude over today's recommendations of
    /// some 600 000), a salt of at most 1 KiB, a password of at most
    /// 64 KiB, a derived key of 1 ..= 1024 bytes.
    pub const PBKDF2: Limits = Limits {
        min_iterations: 1,
        max_iterations: 10_000_000,
        max_salt_len: 1024,
        max_secret_len: 65_536,
        max_key_len: 1024,
    };

    fn check_iterations(
        &self,
        iterations: u64,
        hard_min: u64,
        hard_max: u64,
    ) -> Result<(), MacError> {
        let min = self.min_iterations.max(hard_min);
        let max = self.max_iterations.min(hard_max);
        if (min..=max).contains(&iterations) {
            Ok(())
        } else {
            Err(MacError::IterationsOutOfRange {
                value: iterations,
                min,
                max,
            })
        }
    }

    fn check_salt(&self, salt: &[u8]) -> Result<(), MacError> {
        check_len("salt", salt.len(), self.max_salt_len)
    }

    fn check_secret(&self, what: &'static str, secret: &[u8]) -> Result<(), MacError> {
        check_len(what, secret.len(), self.max_secret_len)
    }

    fn check_key_len(&self, key_len: usize) -> Result<(), MacError> {
        if (1..=self.max_key_len).contains(&key_len) {
            Ok(())
        } else {
            Err(MacError::KeyLenOutOfRange {
                value: key_len,
                max: self.max_key_len,
            })
        }
    }
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), MacError> {
    if len <= max {
        Ok(())
    } else {
        Err(MacError::TooLong { what, len, max })
    }
}

/// Why a MAC could not be computed. The messages name the parameter and
/// the allowed values; they never contain secrets, salts or keys.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacError {
    /// The digest name or OID is not one we know (shortened if long).
    UnknownDigest(String),
    /// The MAC / PRF name or OID is not one we know (shortened if long).
    UnknownMac(String),
    /// The iteration count is outside the limits.
    IterationsOutOfRange { value: u64, min: u64, max: u64 },
    /// A byte string (`what`: salt, secret, password, seed) is too long.
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// The PBKDF2 output length is outside 1 ..= `max`.
    KeyLenOutOfRange { value: usize, max: usize },
    /// The seed of [`iterate_hash`] does not have the digest's length.
    SeedLength {
        digest: Digest,
        len: usize,
        expected: usize,
    },
}

impl fmt::Display for MacError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MacError::UnknownDigest(name) => write!(
                f,
                "unknown digest algorithm {name:?}: expected one of sha1, sha224, sha256, \
                 sha384, sha512 or its OID"
            ),
            MacError::UnknownMac(name) => write!(
                f,
                "unknown MAC algorithm {name:?}: expected one of hmac-sha1, hmac-sha224, \
                 hmac-sha256, hmac-sha384, hmac-sha512 or its OID"
            ),
            MacError::IterationsOutOfRange { value, min, max } => {
                write!(f, "iterations {value} out of range: allowed {min}..={max}")
            }
            MacError::TooLong { what, len, max } => {
                write!(f, "{what} too long: {len} bytes, at most {max} allowed")
            }
            MacError::KeyLenOutOfRange { value, max } => {
                write!(f, "key_len {value} out of range: allowed 1..={max}")
            }
            MacError::SeedLength {
                digest,
                len,
                expected,
            } => write!(
                f,
                "seed has {len} bytes: {} iterates on exactly {expected}",
                digest.name()
            ),
        }
    }
}

impl std::error::Error for MacError {}

/// An algorithm name from the caller, cut short for an error message.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_owned(),
    }
}

/// HMAC (RFC 2104) of `data` under `key` with `digest`.
pub fn hmac(digest: Digest, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn with<D>(key: &[u8], data: &[u8]) -> Vec<u8>
    where
        D: EagerHash,
    {
        // HMAC takes keys of any length: new_from_slice cannot fail.
        let mut mac = <hmac::Hmac<D> as KeyInit>::new_from_slice(key)
            .expect("HMAC accepts keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    match digest {
        Digest::Sha1 => with::<sha1::Sha1>(key, data),
        Digest::Sha224 => with::<sha2::Sha224>(key, data),
        Digest::Sha256 => with::<sha2::Sha256>(key, data),
        Digest::Sha384 => with::<sha2::Sha384>(key, data),
        Digest::Sha512 => with::<sha2::Sha512>(key, data),
    }
}

/// PBKDF2 (RFC 8018 §5.2) with HMAC-`prf`, under [`Limits::PBKDF2`].
pub fn pbkdf2_hmac(
    prf: HmacAlgorithm,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    key_len: usize,
) -> Result<Vec<u8>, MacError> {
    pbkdf2_hmac_with_limits(&Limits::PBKDF2, prf, password, salt, iterations, key_len)
}

/// PBKDF2 (RFC 8018 §5.2) with HMAC-`prf`, under the given limits.
pub fn pbkdf2_hmac_with_limits(
    limits: &Limits,
    prf: HmacAlgorithm,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    key_len: usize,
) -> Result<Vec<u8>, MacError> {
    // The pbkdf2 crate counts rounds in a u32.
    limits.check_iterations(iterations, 1, u64::from(u32::MAX))?;
    limits.check_secret("password", password)?;
    limits.check_salt(salt)?;
    limits.check_key_len(key_len)?;
    let rounds = u32::try_from(iterations).unwrap_or(u32::MAX);
    let mut out = vec![0u8; key_len];
    match prf.digest() {
        Digest::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, rounds, &mut out),
        Digest::Sha224 => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, salt, rounds, &mut out),
        Digest::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, rounds, &mut out),
        Digest::Sha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, rounds, &mut out),
        Digest::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, rounds, &mut out),
    }
    Ok(out)
}

/// PBMAC1 (RFC 8018 §7.1; RFC 9481 §6.1.1): HMAC-`mac` of `data` keyed
/// with PBKDF2-`prf`(`password`, `salt`, `iterations`, `key_len`), under
/// [`Limits::PBKDF2`].
#[allow(clippy::too_many_arguments)]
pub fn pbmac1(
    prf: HmacAlgorithm,
    mac: HmacAlgorithm,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    key_len: usize,
    data: &[u8],
) -> Result<Vec<u8>, MacError> {
    pbmac1_with_limits(
        &Limits::PBKDF2,
        prf,
        mac,
        password,
        salt,
        iterations,
        key_len,
        data,
    )
}

/// PBMAC1 as [`pbmac1`], under the given limits.
#[allow(clippy::too_many_arguments)]
pub fn pbmac1_with_limits(
    limits: &Limits,
    prf: HmacAlgorithm,
    mac: HmacAlgorithm,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    key_len: usize,
    data: &[u8],
) -> Result<Vec<u8>, MacError> {
    let key = pbkdf2_hmac_with_limits(limits, prf, password, salt, iterations, key_len)?;
    Ok(hmac(mac.digest(), &key, data))
}

/// PBM (RFC 4211 §4.4) of `data`, under [`Limits::PBM`].
pub fn pbm(
    secret: &[u8],
    salt: &[u8],
    iterations: u64,
    owf: Digest,
    mac: HmacAlgorithm,
    data: &[u8],
) -> Result<Vec<u8>, MacError> {
    pbm_with_limits(&Limits::PBM, secret, salt, iterations, owf, mac, data)
}

/// PBM (RFC 4211 §4.4) of `data`, under the given limits.
///
/// The base key is `owf` applied `iterations` times, first to
/// `secret || salt`, then to the previous hash value; the result is
/// HMAC-`mac`(base key, `data`). This is what OpenSSL's
/// `OSSL_CRMF_pbm_new` computes: `iterationCount` counts the first hash
/// too.
#[allow(clippy::too_many_arguments)]
pub fn pbm_with_limits(
    limits: &Limits,
    secret: &[u8],
    salt: &[u8],
    iterations: u64,
    owf: Digest,
    mac: HmacAlgorithm,
    data: &[u8],
) -> Result<Vec<u8>, MacError> {
    let basekey = pbm_key_with_limits(limits, secret, salt, iterations, owf)?;
    Ok(hmac(mac.digest(), &basekey, data))
}

/// The PBM base key (RFC 4211 §4.4): `owf` applied `iterations` times,
/// first to `secret || salt`; HMAC under it gives [`pbm_with_limits`]. The
/// expensive half of PBM, for callers that key several MACs with it.
pub fn pbm_key_with_limits(
    limits: &Limits,
    secret: &[u8],
    salt: &[u8],
    iterations: u64,
    owf: Digest,
) -> Result<Vec<u8>, MacError> {
    limits.check_iterations(iterations, 1, u64::MAX)?;
    limits.check_secret("secret", secret)?;
    limits.check_salt(salt)?;
    let first = owf.hash(&[secret, salt]);
    iterate_hash(owf, &first, iterations - 1)
}

/// `digest` applied `n` times to `seed`, which must be one hash value long
/// (so `n == 0` gives `seed` back).
///
/// A hash value fits in one block with its padding, so each application
/// is one call of the raw compression function on a block padded once,
/// starting from the initial hash value: no hasher objects, no buffering.
pub fn iterate_hash(digest: Digest, seed: &[u8], n: u64) -> Result<Vec<u8>, MacError> {
    let expected = digest.output_len();
    if seed.len() != expected {
        return Err(MacError::SeedLength {
            digest,
            len: seed.len(),
            expected,
        });
    }
    Ok(match digest {
        Digest::Sha1 => iterate_block64(seed, n, SHA1_IV, sha1::block_api::compress),
        Digest::Sha224 => iterate_block64(seed, n, SHA224_IV, sha2::block_api::compress256),
        Digest::Sha256 => iterate_block64(seed, n, SHA256_IV, sha2::block_api::compress256),
        Digest::Sha384 => iterate_block128(seed, n, SHA384_IV, sha2::block_api::compress512),
        Digest::Sha512 => iterate_block128(seed, n, SHA512_IV, sha2::block_api::compress512),
    })
}

// Initial hash values, FIPS 180-4 §5.3.
const SHA1_IV: [u32; 5] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
const SHA224_IV: [u32; 8] = [
    0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4,
];
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const SHA384_IV: [u64; 8] = [
    0xcbbb9d5dc1059ed8,
    0x629a292a367cd507,
    0x9159015a3070dd17,
    0x152fecd8f70e5939,
    0x67332667ffc00b31,
    0x8eb44a8768581511,
    0xdb0c2e0d64f98fa7,
    0x47b5481dbefa4fa4,
];
const SHA512_IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// The iteration for SHA-1 and SHA-224/256: 64-byte blocks, 32-bit words,
/// a 64-bit big-endian bit length at the end of the block (FIPS 180-4
/// §5.1.1). The hash value (its first `seed.len()` bytes of state) is
/// written back into the head of the block, so the padding is set once.
fn iterate_block64<const W: usize>(
    seed: &[u8],
    n: u64,
    iv: [u32; W],
    compress: impl Fn(&mut [u32; W], &[[u8; 64]]),
) -> Vec<u8> {
    let len = seed.len();
    let mut block = [0u8; 64];
    block[..len].copy_from_slice(seed);
    block[len] = 0x80;
    block[56..].copy_from_slice(&((len as u64) * 8).to_be_bytes());
    for _ in 0..n {
        let mut state = iv;
        compress(&mut state, core::slice::from_ref(&block));
        for (out, word) in block[..len].chunks_exact_mut(4).zip(state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
    }
    block[..len].to_vec()
}

/// The iteration for SHA-384/512: 128-byte blocks, 64-bit words, a
/// 128-bit big-endian bit length (FIPS 180-4 §5.1.2).
fn iterate_block128(
    seed: &[u8],
    n: u64,
    iv: [u64; 8],
    compress: impl Fn(&mut [u64; 8], &[[u8; 128]]),
) -> Vec<u8> {
    let len = seed.len();
    let mut block = [0u8; 128];
    block[..len].copy_from_slice(seed);
    block[len] = 0x80;
    block[112..].copy_from_slice(&((len as u128) * 8).to_be_bytes());
    for _ in 0..n {
        let mut state = iv;
        compress(&mut state, core::slice::from_ref(&block));
        for (out, word) in block[..len].chunks_exact_mut(8).zip(state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
    }
    block[..len].to_vec()
}

#[cfg(test)]
mod tests {
    //! Expected values come from Python's hashlib/hmac (an independent
    //! implementation, OpenSSL underneath), except where an RFC is cited.
    use super::*;

    const ALL: [Digest; 5] = [
        Digest::Sha1,
        Digest::Sha224,
        Digest::Sha256,
        Digest::Sha384,
        Digest::Sha512,
    ];

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The salt of the vectors: bytes 0 to 15.
    const SALT16: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    /// The PBM base key the slow, obvious way: a fresh hasher per step.
    fn naive_basekey(secret: &[u8], salt: &[u8], iterations: u64, owf: Digest) -> Vec<u8> {
        let mut key = owf.hash(&[secret, salt]);
        for _ in 1..iterations {
            key = owf.hash(&[&key]);
        }
        key
    }

    fn hmac_of(name: &str) -> HmacAlgorithm {
        HmacAlgorithm::lookup(name).unwrap()
    }

    #[test]
    fn digest_lookup_by_openssl_names_is_case_insensitive() {
        for (name, d) in [
            ("sha1", Digest::Sha1),
            ("SHA-1", Digest::Sha1),
            ("Sha224", Digest::Sha224),
            ("sha-256", Digest::Sha256),
            ("SHA2-256", Digest::Sha256),
            ("SHA384", Digest::Sha384),
            ("sha2-512", Digest::Sha512),
        ] {
            assert_eq!(Digest::lookup(name), Ok(d), "{name}");
        }
        for d in ALL {
            assert_eq!(Digest::from_name(d.name()), Some(d));
        }
    }

    #[test]
    fn digest_lookup_by_oid() {
        assert_eq!(Digest::lookup("1.3.14.3.2.26"), Ok(Digest::Sha1));
        assert_eq!(Digest::lookup("2.16.840.1.101.3.4.2.4"), Ok(Digest::Sha224));
        assert_eq!(Digest::lookup("2.16.840.1.101.3.4.2.1"), Ok(Digest::Sha256));
        assert_eq!(Digest::lookup("2.16.840.1.101.3.4.2.2"), Ok(Digest::Sha384));
        assert_eq!(Digest::lookup("2.16.840.1.101.3.4.2.3"), Ok(Digest::Sha512));
        for d in ALL {
            assert_eq!(Digest::from_oid(d.oid()), Some(d));
        }
    }

    #[test]
    fn unknown_digest_is_an_error_naming_it() {
        for bad in [
            "md5",
            "sha3-256",
            "",
            "2.16.840.1.101.3.4.2.8",
            "hmac-sha1",
            "sha",
        ] {
            let err = Digest::lookup(bad).unwrap_err();
            assert_eq!(err, MacError::UnknownDigest(bad.to_owned()));
            assert!(err.to_string().contains(&format!("{bad:?}")));
        }
    }

    #[test]
    fn hmac_lookup_by_name() {
        for (name, d) in [
            ("hmac-sha1", Digest::Sha1),
            ("HMAC-SHA1", Digest::Sha1),
            ("hmacWithSHA1", Digest::Sha1),
            ("hmac-sha224", Digest::Sha224),
            ("hmac-sha-256", Digest::Sha256),
            ("hmacWithSHA256", Digest::Sha256),
            ("hmac-sha384", Digest::Sha384),
            ("HMAC-SHA2-512", Digest::Sha512),
        ] {
            assert_eq!(HmacAlgorithm::lookup(name), Ok(HmacAlgorithm(d)), "{name}");
        }
        for d in ALL {
            assert_eq!(
                HmacAlgorithm::from_name(HmacAlgorithm(d).name()),
                Some(HmacAlgorithm(d))
            );
        }
    }

    #[test]
    fn hmac_lookup_by_rfc8018_and_rfc3370_oids() {
        for (oid, d) in [
            ("1.2.840.113549.2.7", Digest::Sha1),
            ("1.3.6.1.5.5.8.1.2", Digest::Sha1),
            ("1.2.840.113549.2.8", Digest::Sha224),
            ("1.2.840.113549.2.9", Digest::Sha256),
            ("1.2.840.113549.2.10", Digest::Sha384),
            ("1.2.840.113549.2.11", Digest::Sha512),
        ] {
            assert_eq!(HmacAlgorithm::lookup(oid), Ok(HmacAlgorithm(d)), "{oid}");
        }
        assert_eq!(HmacAlgorithm(Digest::Sha256).oid(), "1.2.840.113549.2.9");
    }

    #[test]
    fn hmac_lookup_rejects_bare_digests_and_strangers() {
        for bad in [
            "sha1",
            "1.3.14.3.2.26",
            "hmac-md5",
            "hmac-",
            "hmac",
            "hmacwith",
            "ÄÖÜ",
        ] {
            assert_eq!(
                HmacAlgorithm::lookup(bad),
                Err(MacError::UnknownMac(bad.to_owned()))
            );
        }
    }

    #[test]
    fn lenient_lookup_takes_digest_names_as_hmac() {
        assert_eq!(
            HmacAlgorithm::lookup_lenient("sha256"),
            Ok(HmacAlgorithm(Digest::Sha256))
        );
        assert_eq!(
            HmacAlgorithm::lookup_lenient("1.2.840.113549.2.7"),
            Ok(HmacAlgorithm(Digest::Sha1))
        );
        assert_eq!(
            HmacAlgorithm::lookup_lenient("md5"),
            Err(MacError::UnknownMac("md5".to_owned()))
        );
    }

    #[test]
    fn long_algorithm_names_are_shortened_in_errors() {
        let long = "x".repeat(10_000);
        let msg = Digest::lookup(&long).unwrap_err().to_string();
        assert!(msg.len() < 300, "{msg}");
    }

    #[test]
    fn hash_output_lengths() {
        for d in ALL {
            assert_eq!(d.hash(&[b"abc"]).len(), d.output_len());
        }
    }

    #[test]
    fn hmac_rfc4231_test_case_1() {
        let key = [0x0b; 20];
        assert_eq!(
            hmac(Digest::Sha224, &key, b"Hi There"),
            hex("896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22")
        );
        assert_eq!(
            hmac(Digest::Sha256, &key, b"Hi There"),
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
    }

    #[test]
    fn iterated_compression_equals_naive_hash_loop() {
        for d in ALL {
            let seed = d.hash(&[b"seed"]);
            for n in [0u64, 1, 2, 3, 17, 100] {
                let mut naive = seed.clone();
                for _ in 0..n {
                    naive = d.hash(&[&naive]);
                }
                assert_eq!(iterate_hash(d, &seed, n).unwrap(), naive, "{d:?} n={n}");
            }
        }
    }

    #[test]
    fn sha256_chain_of_zero_seed() {
        assert_eq!(
            iterate_hash(Digest::Sha256, &[0; 32], 1000).unwrap(),
            hex("36c1cb4f826ae42ceba848227e0c5f786178ca9dceca6772e5d728d09c30a2f6")
        );
    }

    #[test]
    fn iterate_hash_rejects_seed_of_wrong_length() {
        let err = iterate_hash(Digest::Sha1, &[0; 32], 1).unwrap_err();
        assert_eq!(
            err,
            MacError::SeedLength {
                digest: Digest::Sha1,
                len: 32,
                expected: 20
            }
        );
    }

    #[test]
    fn pbm_base_key_hashes_secret_then_salt_iterations_times() {
        for owf in ALL {
            for iterations in [100u64, 101, 257] {
                let want = hmac(
                    Digest::Sha1,
                    &naive_basekey(b"insta", &SALT16, iterations, owf),
                    b"data",
                );
                let got = pbm(
                    b"insta",
                    &SALT16,
                    iterations,
                    owf,
                    hmac_of("hmac-sha1"),
                    b"data",
                );
                assert_eq!(got.unwrap(), want, "{owf:?} {iterations}");
            }
        }
    }

    #[test]
    fn pbm_vectors_from_hashlib() {
        struct Case {
            secret: &'static [u8],
            salt: &'static [u8],
            iterations: u64,
            owf: Digest,
            mac: &'static str,
            data: &'static [u8],
            want: &'static str,
        }
        let cases = [
            Case {
                secret: b"insta",
                salt: &SALT16,
                iterations: 500,
                owf: Digest::Sha256,
                mac: "hmac-sha1",
                data: b"protected part",
                want: "8e72f4c97cd00f9d3b478a4dc02e73874da371c0",
            },
            Case {
                secret: b"insta",
                salt: &SALT16,
                iterations: 100,
                owf: Digest::Sha1,
                mac: "hmac-sha1",
                data: b"protected part",
                want: "0aca428b26f11d49a8ec0a8e7f1757c89b6eea23",
            },
            Case {
                secret: b"secret",
                salt: b"salt",
                iterations: 100,
                owf: Digest::Sha224,
                mac: "hmac-sha224",
                data: b"",
                want: "690bb871c3583a9126067de03c1e5be2f3b95398874f4168f83ba16e",
            },
            Case {
                secret: b"secret",
                salt: b"salt",
                iterations: 101,
                owf: Digest::Sha384,
                mac: "hmac-sha512",
                data: b"data",
                want: "fc82644f0524901dd7fcf54529f39abaf4252259021e33ce6b9c8acdb8e73a744b0d1868\
                       58ac5e0486c02e0c464d41f9920cd1e2e8c669200afb98f130ced1d4",
            },
            Case {
                secret: b"secret",
                salt: b"",
                iterations: 1000,
                owf: Digest::Sha512,
                mac: "hmac-sha384",
                data: b"data",
                want: "50d7eb1915d46933d18b8ccbb7996d5c3e338464802d2c13719b9efa65e6510efbf869\
                       1f7748b53be166c2977517fc82",
            },
        ];
        for c in cases {
            assert_eq!(
                pbm(
                    c.secret,
                    c.salt,
                    c.iterations,
                    c.owf,
                    hmac_of(c.mac),
                    c.data
                )
                .unwrap(),
                hex(c.want),
                "{:?} {} {}",
                c.owf,
                c.mac,
                c.iterations
            );
        }
    }

    #[test]
    fn pbm_at_openssl_maximum_of_100000_iterations() {
        assert_eq!(
            pbm(
                b"insta",
                &SALT16,
                100_000,
                Digest::Sha256,
                hmac_of("hmac-sha256"),
                b"protected part"
            )
            .unwrap(),
            hex("4ae088519bb5571ef4525ad2174e61df763429cdf63057d780390853d9d28fab")
        );
    }

    #[test]
    fn pbm_iterations_outside_openssl_range_are_rejected() {
        let sha1 = hmac_of("hmac-sha1");
        for (it, min, max) in [
            (0, 100, 100_000),
            (99, 100, 100_000),
            (100_001, 100, 100_000),
        ] {
            assert_eq!(
                pbm(b"s", b"salt", it, Digest::Sha1, sha1, b""),
                Err(MacError::IterationsOutOfRange {
                    value: it,
                    min,
                    max
                })
            );
        }
        let msg = pbm(b"s", b"", u64::MAX, Digest::Sha1, sha1, b"")
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            format!("iterations {} out of range: allowed 100..=100000", u64::MAX)
        );
    }

    #[test]
    fn pbm_needs_at_least_one_iteration_even_if_limits_allow_zero() {
        let limits = Limits {
            min_iterations: 0,
            ..Limits::PBM
        };
        assert_eq!(
            pbm_with_limits(
                &limits,
                b"s",
                b"",
                0,
                Digest::Sha1,
                hmac_of("hmac-sha1"),
                b""
            ),
            Err(MacError::IterationsOutOfRange {
                value: 0,
                min: 1,
                max: 100_000
            })
        );
        assert!(pbm_with_limits(
            &limits,
            b"s",
            b"",
            1,
            Digest::Sha1,
            hmac_of("hmac-sha1"),
            b""
        )
        .is_ok());
    }

    #[test]
    fn pbm_long_salt_and_secret_are_rejected_without_echoing_them() {
        let sha1 = hmac_of("hmac-sha1");
        let err = pbm(b"s", &[b'Q'; 1025], 100, Digest::Sha1, sha1, b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "salt too long: 1025 bytes, at most 1024 allowed"
        );
        let err = pbm(&[b'Q'; 65_537], b"", 100, Digest::Sha1, sha1, b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret too long: 65537 bytes, at most 65536 allowed"
        );
        assert!(!err.to_string().contains('Q'));
    }

    #[test]
    fn pbkdf2_rfc6070_vectors() {
        let sha1 = hmac_of("hmac-sha1");
        for (it, want) in [
            (1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
            (2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
            (4096, "4b007901b765489abead49d926f721d065a429c1"),
        ] {
            assert_eq!(
                pbkdf2_hmac(sha1, b"password", b"salt", it, 20).unwrap(),
                hex(want)
            );
        }
        assert_eq!(
            pbkdf2_hmac(
                sha1,
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                25
            )
            .unwrap(),
            hex("3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038")
        );
        assert_eq!(
            pbkdf2_hmac(sha1, b"pass\0word", b"sa\0lt", 4096, 16).unwrap(),
            hex("56fa6aa75548099dcc37d7f03425e0c3")
        );
    }

    #[test]
    fn pbkdf2_sha2_vectors_from_hashlib() {
        assert_eq!(
            pbkdf2_hmac(hmac_of("hmac-sha256"), b"password", b"salt", 1, 32).unwrap(),
            hex("120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b")
        );
        // 80 bytes: two SHA-512 blocks, the second one truncated.
        assert_eq!(
            pbkdf2_hmac(hmac_of("hmac-sha512"), b"password", b"salt", 1000, 80).unwrap(),
            hex(
                "afe6c5530785b6cc6b1c6453384731bd5ee432ee549fd42fb6695779ad8a1c5bf59de69c\
                 48f774efc4007d5298f9033c0241d5ab69305e7b64eceeb8d834cfec6afdec3c1c23982a\
                 121f2d4be0088893"
            )
        );
    }

    #[test]
    fn pbkdf2_limits_are_checked() {
        let sha1 = hmac_of("hmac-sha1");
        assert_eq!(
            pbkdf2_hmac(sha1, b"p", b"s", 0, 20),
            Err(MacError::IterationsOutOfRange {
                value: 0,
                min: 1,
                max: 10_000_000
            })
        );
        assert_eq!(
            pbkdf2_hmac(sha1, b"p", b"s", 1 << 31, 20),
            Err(MacError::IterationsOutOfRange {
                value: 1 << 31,
                min: 1,
                max: 10_000_000
            })
        );
        for key_len in [0, 1025] {
            assert_eq!(
                pbkdf2_hmac(sha1, b"p", b"s", 1, key_len),
                Err(MacError::KeyLenOutOfRange {
                    value: key_len,
                    max: 1024
                })
            );
        }
        assert!(pbkdf2_hmac(sha1, b"p", &[0; 1025], 1, 20).is_err());
        assert!(pbkdf2_hmac(sha1, &[0; 65_537], b"s", 1, 20).is_err());
    }

    #[test]
    fn pbkdf2_rounds_are_capped_at_u32_even_with_raised_limits() {
        let limits = Limits {
            max_iterations: u64::MAX,
            ..Limits::PBKDF2
        };
        let err = pbkdf2_hmac_with_limits(&limits, hmac_of("hmac-sha1"), b"", b"", 1 << 32, 20)
            .unwrap_err();
        assert_eq!(
            err,
            MacError::IterationsOutOfRange {
                value: 1 << 32,
                min: 1,
                max: u64::from(u32::MAX)
            }
        );
    }

    #[test]
    fn pbmac1_is_hmac_keyed_with_pbkdf2_output() {
        let got = pbmac1(
            hmac_of("hmac-sha256"),
            hmac_of("hmac-sha512"),
            b"password",
            b"salt",
            1000,
            32,
            b"protected part",
        )
        .unwrap();
        assert_eq!(
            got,
            hex(
                "a9e443367bf3df6f76cd332297ead2496c7a5829c0baa3109b33021c084df8c4a5de4704\
                 953a729454425b97c1baf3b15553448613242ffb93ae6699af94370e"
            )
        );
    }
}
