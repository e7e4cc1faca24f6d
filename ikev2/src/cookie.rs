//! Stateless cookies against half-open floods (RFC 7296 section 2.6).
//!
//! `Cookie = <VersionIDofSecret> | prf(<secret>, Ni | IPi | SPIi)`. The secret rotates every
//! [`ROTATION`]; a cookie made with the previous secret stays valid for one more period, so a
//! rotation never breaks an exchange in progress.

use core::time::Duration;
use ipsec_core::crypto::{constant_time_eq, CryptoError, PrfAlgorithm, SecretBytes, SecureRandom};
use ipsec_core::time::Instant;
use std::net::IpAddr;

/// How often the cookie secret changes.
pub(crate) const ROTATION: Duration = Duration::from_secs(120);

/// The current and previous cookie secrets.
#[derive(Debug)]
pub(crate) struct CookieSecret {
    version: u8,
    current: SecretBytes,
    previous: Option<SecretBytes>,
    rotated_at: Option<Instant>,
}

impl CookieSecret {
    /// A secret that is made on first use.
    pub(crate) fn new() -> Self {
        CookieSecret {
            version: 0,
            current: SecretBytes::default(),
            previous: None,
            rotated_at: None,
        }
    }

    /// Rotates when the period has run out (or on first use).
    pub(crate) fn refresh(
        &mut self,
        now: Instant,
        rng: &dyn SecureRandom,
    ) -> Result<(), CryptoError> {
        let due = match self.rotated_at {
            None => true,
            Some(t) => now.saturating_duration_since(t) >= ROTATION,
        };
        if due {
            let mut fresh = SecretBytes::zeroed(32);
            rng.fill(fresh.expose_mut())?;
            let old = core::mem::replace(&mut self.current, fresh);
            self.previous = self.rotated_at.map(|_| old);
            self.version = self.version.wrapping_add(1);
            self.rotated_at = Some(now);
        }
        Ok(())
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

    /// The cookie to send to an initiator.
    pub(crate) fn make(
        &self,
        prf: &dyn PrfAlgorithm,
        ni: &[u8],
        ip: IpAddr,
        spi_i: u64,
    ) -> Vec<u8> {
        Self::compute(prf, self.version, &self.current, ni, ip, spi_i)
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
        let secret = if v == self.version {
            &self.current
        } else if v == self.version.wrapping_sub(1) {
            match &self.previous {
                Some(p) => p,
                None => return false,
            }
        } else {
            return false;
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
        s.refresh(Instant::ZERO, &rng).unwrap();
        let c = s.make(&prf, b"nonce", ip, 7);
        assert!(s.verify(&prf, &c, b"nonce", ip, 7));
        assert!(!s.verify(&prf, &c, b"nonce", ip, 8));
        assert!(!s.verify(&prf, &c, b"other", ip, 7));
        assert!(!s.verify(&prf, &[], b"nonce", ip, 7));
        s.refresh(Instant::ZERO + ROTATION, &rng).unwrap();
        assert!(
            s.verify(&prf, &c, b"nonce", ip, 7),
            "previous secret accepted"
        );
        assert_ne!(s.make(&prf, b"nonce", ip, 7), c);
        s.refresh(Instant::ZERO + ROTATION * 2, &rng).unwrap();
        assert!(!s.verify(&prf, &c, b"nonce", ip, 7), "two rotations later");
    }
}
