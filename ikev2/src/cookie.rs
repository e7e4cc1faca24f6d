//! Stateless cookies against half-open floods (RFC 7296 section 2.6).
//!
//! `Cookie = <VersionIDofSecret> | prf(<secret>, Ni | IPi | SPIi)`. A secret is made when a
//! cookie is first needed and serves for [`ROTATION`]; then it is retired, on time (the
//! endpoint's timer, [`CookieSecret::expire`]) whether or not requests arrive, and cookies made
//! with it stay valid for one more period, so a rotation never breaks an exchange in progress.
//! No cookie is accepted longer than two periods after its secret was made.

use core::time::Duration;
use ipsec_core::crypto::{constant_time_eq, CryptoError, PrfAlgorithm, SecretBytes, SecureRandom};
use ipsec_core::time::Instant;
use std::net::IpAddr;

/// How often the cookie secret changes.
pub(crate) const ROTATION: Duration = Duration::from_secs(120);

/// The current secret (while it serves) and the retired one (while its cookies are valid).
#[derive(Debug)]
pub(crate) struct CookieSecret {
    /// The version of the newest secret made.
    version: u8,
    /// The secret cookies are made with, and when it was made.
    current: Option<(SecretBytes, Instant)>,
    /// The retired secret: its version, itself, and until when its cookies are accepted.
    previous: Option<(u8, SecretBytes, Instant)>,
}

impl CookieSecret {
    /// No secret yet: one is made on first use.
    pub(crate) fn new() -> Self {
        CookieSecret {
            version: 0,
            current: None,
            previous: None,
        }
    }

    /// Makes sure a current secret serves at `now`, making a new one when needed.
    pub(crate) fn refresh(
        &mut self,
        now: Instant,
        rng: &dyn SecureRandom,
    ) -> Result<(), CryptoError> {
        self.expire(now);
        if self.current.is_none() {
            let mut fresh = SecretBytes::zeroed(32);
            rng.fill(fresh.expose_mut())?;
            self.version = self.version.wrapping_add(1);
            self.current = Some((fresh, now));
        }
        Ok(())
    }

    /// Retires the current secret once its period is over, and forgets the retired one once
    /// its cookies are no longer valid. Call it when [`next_deadline`](Self::next_deadline)
    /// passes.
    pub(crate) fn expire(&mut self, now: Instant) {
        if let Some((secret, made)) = self.current.take() {
            if now.saturating_duration_since(made) >= ROTATION {
                self.previous = Some((self.version, secret, made + ROTATION * 2));
            } else {
                self.current = Some((secret, made));
            }
        }
        if self
            .previous
            .as_ref()
            .is_some_and(|(_, _, until)| *until <= now)
        {
            self.previous = None;
        }
    }

    /// When [`expire`](Self::expire) has work next; `None` while no secret exists.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let retire = self.current.as_ref().map(|(_, made)| *made + ROTATION);
        let forget = self.previous.as_ref().map(|(_, _, until)| *until);
        retire.into_iter().chain(forget).min()
    }

    fn compute(
        prf: &dyn PrfAlgorithm,
        version: u8,
        secret: &SecretBytes,
        ni: &[u8],
        ip: IpAddr,
        spi_i: u64,
    ) -> Vec<u8> {
        let ip_bytes = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mut out = vec![0; 1 + prf.output_len()];
        out[0] = version;
        prf.prf(
            secret.expose(),
            &[ni, &ip_bytes, &spi_i.to_be_bytes()],
            &mut out[1..],
        );
        out
    }

    /// The cookie to send to an initiator; `None` without a current secret (call
    /// [`refresh`](Self::refresh) first).
    pub(crate) fn make(
        &self,
        prf: &dyn PrfAlgorithm,
        ni: &[u8],
        ip: IpAddr,
        spi_i: u64,
    ) -> Option<Vec<u8>> {
        let (secret, _) = self.current.as_ref()?;
        Some(Self::compute(prf, self.version, secret, ni, ip, spi_i))
    }

    /// True when `cookie` was made by us with the current or previous secret for these values.
    pub(crate) fn verify(
        &self,
        prf: &dyn PrfAlgorithm,
        cookie: &[u8],
        ni: &[u8],
        ip: IpAddr,
        spi_i: u64,
    ) -> bool {
        let Some(&v) = cookie.first() else {
            return false;
        };
        let secret = match (&self.current, &self.previous) {
            (Some((s, _)), _) if v == self.version => s,
            (_, Some((pv, s, _))) if v == *pv => s,
            _ => return false,
        };
        constant_time_eq(cookie, &Self::compute(prf, v, secret, ni, ip, spi_i))
    }
}

impl Default for CookieSecret {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_crypto::HmacSha256;

    #[derive(Debug)]
    struct Counter(std::sync::atomic::AtomicU8);
    impl SecureRandom for Counter {
        fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
            let v = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            buf.fill(v);
            Ok(())
        }
    }

    #[test]
    fn cookies_survive_one_rotation_only() {
        let rng = Counter(0.into());
        let prf = HmacSha256;
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut s = CookieSecret::new();
        assert_eq!(s.next_deadline(), None, "no secret, no timer");
        s.refresh(Instant::ZERO, &rng).unwrap();
        let c = s.make(&prf, b"nonce", ip, 7).unwrap();
        assert!(s.verify(&prf, &c, b"nonce", ip, 7));
        assert!(!s.verify(&prf, &c, b"nonce", ip, 8));
        assert!(!s.verify(&prf, &c, b"other", ip, 7));
        assert!(!s.verify(&prf, &[], b"nonce", ip, 7));
        s.refresh(Instant::ZERO + ROTATION, &rng).unwrap();
        assert!(
            s.verify(&prf, &c, b"nonce", ip, 7),
            "previous secret accepted"
        );
        assert_ne!(s.make(&prf, b"nonce", ip, 7).unwrap(), c);
        s.refresh(Instant::ZERO + ROTATION * 2, &rng).unwrap();
        assert!(!s.verify(&prf, &c, b"nonce", ip, 7), "two rotations later");
    }

    #[test]
    fn secrets_rotate_on_time_without_requests() {
        let rng = Counter(0.into());
        let prf = HmacSha256;
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut s = CookieSecret::new();
        s.refresh(Instant::ZERO, &rng).unwrap();
        let c = s.make(&prf, b"nonce", ip, 7).unwrap();
        assert_eq!(s.next_deadline(), Some(Instant::ZERO + ROTATION));
        s.expire(Instant::ZERO + ROTATION);
        assert!(s.make(&prf, b"nonce", ip, 7).is_none(), "retired");
        assert!(s.verify(&prf, &c, b"nonce", ip, 7), "valid one more period");
        assert_eq!(s.next_deadline(), Some(Instant::ZERO + ROTATION * 2));
        s.expire(Instant::ZERO + ROTATION * 2);
        assert!(!s.verify(&prf, &c, b"nonce", ip, 7));
        assert_eq!(s.next_deadline(), None, "an idle endpoint keeps no timer");
        // A long idle gap: the secret of an hour ago is not taken as the previous one.
        let mut s = CookieSecret::new();
        s.refresh(Instant::ZERO, &rng).unwrap();
        let c = s.make(&prf, b"nonce", ip, 7).unwrap();
        s.refresh(Instant::from_secs(3600), &rng).unwrap();
        assert!(!s.verify(&prf, &c, b"nonce", ip, 7));
    }
}
