//! The MACs with parameters a peer controls (iteration counts, salt, key
//! length, algorithms) under small fuzzed limits: no panic, an error exactly
//! when a parameter is outside the limits, and otherwise the value a plain
//! reference implementation (built from `Digest::hash` and `mac::hmac`)
//! gives, which checks the compression-function shortcut of the PBM loop.

#![no_main]

use cmpkit_core::mac::{
    hmac, pbkdf2_hmac_with_limits, pbm_with_limits, pbmac1_with_limits, Digest, HmacAlgorithm,
    Limits, MacError,
};
use libfuzzer_sys::fuzz_target;

const DIGESTS: [Digest; 5] = [
    Digest::Sha1,
    Digest::Sha224,
    Digest::Sha256,
    Digest::Sha384,
    Digest::Sha512,
];

/// Reads the fuzz input front to back; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    /// Mostly small values (to land inside the limits), sometimes any u64.
    fn count(&mut self) -> u64 {
        let sel = self.byte();
        if sel & 0x80 == 0 {
            return u64::from(sel & 0x3f);
        }
        (0..8).fold(0, |acc, _| (acc << 8) | u64::from(self.byte()))
    }
    fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        head
    }
    fn digest(&mut self) -> Digest {
        DIGESTS[usize::from(self.byte()) % DIGESTS.len()]
    }
}

fn limits(inp: &mut Input<'_>) -> Limits {
    Limits {
        min_iterations: u64::from(inp.byte() % 8),
        max_iterations: u64::from(inp.byte() % 40),
        max_salt_len: usize::from(inp.byte() % 48),
        max_secret_len: usize::from(inp.byte() % 48),
        max_key_len: usize::from(inp.byte() % 80),
    }
}

fn iterations_ok(l: &Limits, n: u64) -> bool {
    n >= l.min_iterations.max(1) && n <= l.max_iterations
}

/// RFC 4211 §4.4 written out: OWF over secret || salt, `n - 1` more times
/// over the result, then HMAC.
fn pbm_reference(
    secret: &[u8],
    salt: &[u8],
    n: u64,
    owf: Digest,
    mac: Digest,
    data: &[u8],
) -> Vec<u8> {
    let mut key = owf.hash(&[secret, salt]);
    for _ in 1..n {
        key = owf.hash(&[&key]);
    }
    hmac(mac, &key, data)
}

/// RFC 8018 §5.2 written out.
fn pbkdf2_reference(prf: Digest, password: &[u8], salt: &[u8], n: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut block = 1u32;
    while out.len() < len {
        let mut u = hmac(prf, password, &[salt, &block.to_be_bytes()].concat());
        let mut t = u.clone();
        for _ in 1..n {
            u = hmac(prf, password, &u);
            t.iter_mut().zip(&u).for_each(|(a, b)| *a ^= b);
        }
        out.extend_from_slice(&t);
        block += 1;
    }
    out.truncate(len);
    out
}

fn lookups(name: &str) {
    if let Ok(d) = Digest::lookup(name) {
        assert_eq!(Digest::lookup(d.name()), Ok(d));
        assert_eq!(Digest::lookup(d.oid()), Ok(d));
    }
    match HmacAlgorithm::lookup_lenient(name) {
        Ok(h) => {
            assert_eq!(HmacAlgorithm::lookup(h.name()), Ok(h));
            assert_eq!(HmacAlgorithm::lookup(h.oid()), Ok(h));
        }
        // Error messages quote at most 64 characters of the caller's name.
        Err(MacError::UnknownMac(quoted)) => assert!(quoted.chars().count() <= 67),
        Err(e) => panic!("unexpected lookup error {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let op = inp.byte() % 4;
    if op == 3 {
        return lookups(&String::from_utf8_lossy(inp.0));
    }
    let lim = limits(&mut inp);
    let n = inp.count();
    let owf = inp.digest();
    let mac = HmacAlgorithm(inp.digest());
    let key_len = usize::from(inp.byte() % 96);
    let secret_len = usize::from(inp.byte() % 64);
    let salt_len = usize::from(inp.byte() % 64);
    let secret = inp.bytes(secret_len);
    let salt = inp.bytes(salt_len);
    let msg = inp.0;

    let lengths_ok = secret.len() <= lim.max_secret_len && salt.len() <= lim.max_salt_len;
    match op {
        0 => {
            let got = pbm_with_limits(&lim, secret, salt, n, owf, mac, msg);
            if iterations_ok(&lim, n) && lengths_ok {
                let want = pbm_reference(secret, salt, n, owf, mac.digest(), msg);
                assert_eq!(got, Ok(want), "PBM n={n} owf={owf:?} mac={mac:?}");
            } else {
                assert!(got.is_err(), "PBM accepted n={n} under {lim:?}");
            }
        }
        1 | 2 => {
            let within =
                iterations_ok(&lim, n) && lengths_ok && (1..=lim.max_key_len).contains(&key_len);
            let got = if op == 1 {
                pbkdf2_hmac_with_limits(&lim, mac, secret, salt, n, key_len)
            } else {
                pbmac1_with_limits(&lim, mac, HmacAlgorithm(owf), secret, salt, n, key_len, msg)
            };
            if within {
                let key = pbkdf2_reference(mac.digest(), secret, salt, n, key_len);
                let want = if op == 1 { key } else { hmac(owf, &key, msg) };
                assert_eq!(got, Ok(want), "PBKDF2 n={n} prf={mac:?} len={key_len}");
            } else {
                assert!(
                    got.is_err(),
                    "PBKDF2 accepted n={n} len={key_len} under {lim:?}"
                );
            }
        }
        _ => unreachable!(),
    }
});
