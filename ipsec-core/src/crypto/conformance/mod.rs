//! A conformance check any [`CryptoProvider`] can run: known answers (RFCs, NIST CAVP, Project
//! Wycheproof) and the behaviour the protocol cores rely on.
//!
//! [`check`] runs every algorithm in the provider's tables through the suites that apply to its
//! transform and returns a [`Report`]. A third-party provider (a hardware one, say) proves itself
//! the way the built-in ones do, from a test:
//!
//! ```
//! use ipsec_core::crypto::{conformance, fastest_provider};
//!
//! let report = conformance::check(&fastest_provider());
//! assert!(report.passed(), "{report}");
//! ```
//!
//! What is checked, per table:
//!
//! - **AEAD**: RFC 4106 / RFC 7634 parameters (4-octet salt, 8-octet IV, 16-octet tag); known
//!   answers (NIST CAVP and Wycheproof for AES-GCM, RFC 8439, RFC 7634 and Wycheproof for
//!   ChaCha20-Poly1305), with the 12-octet nonce split into salt and explicit IV as IKEv2 and ESP
//!   do; Wycheproof's forged tags rejected; round trips from 0 to 1500 octets; any flipped bit in
//!   the ciphertext, tag, AAD or IV, another key or another salt rejected with
//!   [`CryptoError::IntegrityCheckFailed`]; wrong key, IV and tag lengths refused.
//! - **cipher**: RFC 3602 / SP 800-38A / 3DES known answers, CBC chaining, partial blocks and
//!   bad IVs refused; ENCR_NULL is the identity.
//! - **integrity**: RFC 4868 and RFC 2202 ICVs, the input split any way, a flipped ICV bit and a
//!   truncated ICV rejected, wrong key lengths refused.
//! - **PRF**: RFC 4231, RFC 4868 and RFC 2202 outputs, keys of any length, the input split any
//!   way.
//! - **key exchange**: RFC 7748 and Wycheproof for X25519 (small-order points rejected, RFC 8031
//!   section 2.3), RFC 5903 and Wycheproof for the ECP groups (points off the curve rejected,
//!   RFC 6989 section 2.3), MODP public values derived from the RFC 3526 primes and the RFC 6989
//!   section 2.1 range check; for every group, two fresh exchanges agree and malformed peer
//!   values get [`CryptoError::InvalidPeerPublicKey`].
//! - **signature**: Wycheproof verification (RSA PKCS#1 v1.5 2048/3072, RSA-PSS, ECDSA
//!   P-256/P-384/P-521 in DER and `r || s` forms, Ed25519): valid signatures verify, invalid ones
//!   do not; Wycheproof's RSA PKCS#1 v1.5 signatures and RFC 8032's Ed25519 signatures come out
//!   byte for byte; RFC 6979's ECDSA signatures verify (a provider may draw ECDSA nonces at
//!   random, so its own need only verify); sign and verify in both encodings with another
//!   message, a flipped bit, a truncated signature or public key and the other ECDSA encoding
//!   refused; keys of another type, 1024-bit RSA keys and junk refused; SEC1 and PKCS#8 forms of
//!   one P-256 key give the same public key; signing keys never print their secret.
//! - **provider**: [`CryptoProvider::consistency_check`] and a random source that is not stuck.
//!
//! Known answers that need a chosen private key are skipped, and say so in the report, for a
//! key exchange whose `start_with_private` answers [`CryptoError::Unsupported`]; signing suites
//! likewise for a scheme whose `signing_key` answers [`CryptoError::Unsupported`]
//! (verification-only schemes). A transform the
//! suite has no vectors for gets the property checks and a "skipped" line for known answers.
//!
//! What no functional test can see (constant-time comparison, zeroization, allocation on the
//! per-packet path) is the provider's own promise; the `esp` crate's tests count allocations per
//! packet for the built-in providers.

mod aead;
mod cipher;
mod kx;
mod mac;
mod signature;
mod vectors;

use core::fmt;

use super::{CryptoError, CryptoProvider};

/// Failure messages kept per check (the count covers all of them).
const MAX_MESSAGES: usize = 8;

/// The result of one suite on one algorithm (or on the provider as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked: an algorithm's `Debug` text, or `"provider"`.
    pub subject: String,
    /// The suite: where its cases come from ("NIST CAVP", "RFC 7748", "properties", ...).
    pub suite: &'static str,
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// What failed, one line per case (the first few).
    pub messages: Vec<String>,
    /// Why the suite did not run, when it did not.
    pub skipped: Option<&'static str>,
}

impl Check {
    fn new(subject: &dyn fmt::Debug, suite: &'static str) -> Self {
        Check {
            subject: format!("{subject:?}"),
            suite,
            passed: 0,
            failed: 0,
            messages: Vec::new(),
            skipped: None,
        }
    }

    /// Counts one case: passed if `ok`, else failed with the message `what`.
    fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.fail(what());
        }
    }

    fn fail(&mut self, what: String) {
        self.failed += 1;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(what);
        }
    }

    fn skip(mut self, why: &'static str) -> Self {
        self.skipped = Some(why);
        self
    }
}

/// Everything [`check`] found about one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    checks: Vec<Check>,
}

impl Report {
    /// True when no case failed (skipped suites do not count as failures).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.failed == 0)
    }

    /// Every check, in the order run.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The checks with failed cases.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.failed > 0)
    }

    /// The suites that did not run.
    pub fn skipped(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.skipped.is_some())
    }

    /// Cases that passed, over all checks.
    pub fn cases_passed(&self) -> usize {
        self.checks.iter().map(|c| c.passed).sum()
    }

    fn push(&mut self, check: Check) {
        self.checks.push(check);
    }
}

impl fmt::Display for Report {
    /// One line per check, failures with their messages; skipped suites with the reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed = self.failures().count();
        let skipped = self.skipped().count();
        writeln!(
            f,
            "conformance: {} checks, {} cases passed, {failed} checks failed, {skipped} skipped",
            self.checks.len(),
            self.cases_passed(),
        )?;
        for c in &self.checks {
            if let Some(why) = c.skipped {
                writeln!(f, "  skip  {}: {}: {why}", c.subject, c.suite)?;
            } else if c.failed > 0 {
                writeln!(
                    f,
                    "  FAIL  {}: {}: {} of {} cases failed",
                    c.subject,
                    c.suite,
                    c.failed,
                    c.failed + c.passed
                )?;
                for m in &c.messages {
                    writeln!(f, "          {m}")?;
                }
            } else {
                writeln!(f, "  ok    {}: {}: {} cases", c.subject, c.suite, c.passed)?;
            }
        }
        Ok(())
    }
}

/// Runs every suite that applies to the algorithms of `provider` and reports the outcome.
///
/// Never panics on a misbehaving provider: whatever an algorithm returns becomes a case in the
/// report. Takes a few hundred milliseconds (the MODP groups dominate).
pub fn check(provider: &CryptoProvider) -> Report {
    let mut report = Report::default();
    report.push(provider_checks(provider));
    for a in provider.aeads {
        aead::check(*a, &mut report);
    }
    for c in provider.ciphers {
        cipher::check(*c, &mut report);
    }
    for i in provider.integrity {
        mac::check_integrity(*i, &mut report);
    }
    for p in provider.prfs {
        mac::check_prf(*p, &mut report);
    }
    for k in provider.key_exchanges {
        kx::check(*k, provider, &mut report);
    }
    for s in provider.signatures {
        signature::check(*s, provider, &mut report);
    }
    report
}

/// The provider as a whole: its tables are consistent and its random source moves.
fn provider_checks(provider: &CryptoProvider) -> Check {
    let mut c = Check::new(&"", "consistency and random source");
    c.subject = "provider".to_string();
    let consistent = provider.consistency_check();
    c.expect(consistent.is_ok(), || {
        format!("consistency_check: {consistent:?}")
    });
    let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
    let filled = provider
        .random
        .fill(&mut a)
        .and_then(|()| provider.random.fill(&mut b));
    c.expect(filled.is_ok(), || {
        format!("random source failed: {filled:?}")
    });
    c.expect(a != b && a != [0; 32], || {
        "two 32-octet draws from the random source are equal or all zeros".to_string()
    });
    c.expect(provider.random.fill(&mut []).is_ok(), || {
        "the random source refuses an empty buffer".to_string()
    });
    c
}

/// `Err(e)` as text for failure messages, `Ok` as "accepted".
fn outcome<T>(r: &Result<T, CryptoError>) -> String {
    match r {
        Ok(_) => "accepted".to_string(),
        Err(e) => format!("error {e:?}"),
    }
}
