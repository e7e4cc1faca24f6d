//! A flood of IKE_SA_INIT requests against one responder [`Endpoint`], from many source
//! addresses, returning every cookie it asks for as a determined attacker (or a crowd of real
//! initiators) would.
//!
//! Each simulated initiator sends a well-formed IKE_SA_INIT (AES-256-GCM, HMAC-SHA2-256,
//! Curve25519, as [`SiteSpec`](super::SiteSpec) gateways propose) and, when answered with a
//! COOKIE, sends it again with the cookie from the same address. The responder's answers are
//! counted but never followed by IKE_AUTH, so every SA it keeps stays half-open.
//!
//! [`Flood::report`] tells what the responder holds; the caller measures memory and time around
//! it (a counting allocator in a test or example binary, a clock in a benchmark).

use super::ike_gcm_x25519;
use crate::exchange::ike_sa_init::init_offers;
use crate::wire::{
    ExchangeType, Flags, Header, KeyExchange, Message, Nonce, Notify, NotifyType, Payload,
    SecurityAssociation,
};
use crate::Endpoint;
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::{default_provider, DhGroup};
use ipsec_core::time::Instant;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What a flood did and what the responder holds after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FloodReport {
    /// IKE_SA_INIT requests sent (with and without cookies).
    pub requests: u64,
    /// Requests that returned a cookie.
    pub cookies_returned: u64,
    /// Bytes sent to the responder.
    pub bytes_in: u64,
    /// Bytes the responder sent back.
    pub bytes_out: u64,
    /// Answers that were a full IKE_SA_INIT response (an SA was made).
    pub answered: u64,
    /// IKE SAs the responder holds.
    pub ike_sas: usize,
    /// Of them, half-open.
    pub half_open: usize,
}

/// A flood generator driving one responder endpoint.
pub struct Flood {
    /// The responder.
    pub responder: Endpoint,
    /// The responder's address (port 500).
    pub local: SocketAddr,
    /// Our KE payload's public value (a valid Curve25519 point; the private key is forgotten).
    public: Vec<u8>,
    /// The next source address to use, as an offset into 10.0.0.0/8.
    next_addr: u32,
    /// The next initiator SPI.
    next_spi: u64,
    report: FloodReport,
    buf: Vec<u8>,
}

impl Flood {
    /// A flood against `responder`, which listens on `local`.
    pub fn new(responder: Endpoint, local: SocketAddr) -> Flood {
        let rng = SeededRandom::new([7; 32]);
        let public = default_provider()
            .key_exchange(DhGroup::CURVE25519)
            .and_then(|kx| kx.start(&rng).ok())
            .map(|ke| ke.public_value().to_vec())
            .expect("the default provider runs Curve25519");
        Flood {
            responder,
            local,
            public,
            next_addr: 1,
            next_spi: 0x1000_0000_0000_0000,
            report: FloodReport::default(),
            buf: vec![0; 65535],
        }
    }

    /// The source address of the `i`-th initiator: 10.0.0.0/8 from 10.0.0.1 on.
    pub fn address(i: u32) -> SocketAddr {
        let ip = Ipv4Addr::from(0x0a00_0000u32.wrapping_add(i));
        SocketAddr::new(IpAddr::V4(ip), 500)
    }

    /// An IKE_SA_INIT request with initiator SPI `spi_i`, a nonce made from it, and `cookie`
    /// first when given.
    pub fn request(&self, spi_i: u64, cookie: Option<&[u8]>) -> Vec<u8> {
        let mut payloads = Vec::new();
        if let Some(c) = cookie {
            payloads.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c)));
        }
        payloads.push(Payload::Sa(SecurityAssociation {
            proposals: init_offers(&[ike_gcm_x25519()], DhGroup::CURVE25519),
        }));
        payloads.push(Payload::Ke(KeyExchange {
            group: DhGroup::CURVE25519,
            data: self.public.clone(),
        }));
        let mut nonce = [0u8; 32];
        nonce[..8].copy_from_slice(&spi_i.to_be_bytes());
        payloads.push(Payload::Nonce(Nonce {
            data: nonce.to_vec(),
        }));
        Message {
            header: Header::new(
                spi_i,
                0,
                ExchangeType::IKE_SA_INIT,
                Flags::new(true, false),
                0,
            ),
            payloads,
        }
        .to_bytes()
        .expect("an IKE_SA_INIT request encodes")
    }

    /// Sends `data` from `from` at `now` and drains the answers; returns the COOKIE asked for,
    /// if any.
    pub fn send(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Option<Vec<u8>> {
        self.report.requests += 1;
        self.report.bytes_in += data.len() as u64;
        self.responder.handle_datagram(now, self.local, from, data);
        let mut cookie = None;
        while let Some(t) = self.responder.poll_transmit(&mut self.buf) {
            self.report.bytes_out += t.len as u64;
            let Some(bytes) = self.buf.get(..t.len) else {
                continue;
            };
            let Ok(msg) = Message::parse(bytes) else {
                continue;
            };
            if let Some(n) = msg.notify(NotifyType::COOKIE) {
                cookie = Some(n.data.clone());
            } else if msg.sa().is_some() {
                self.report.answered += 1;
            }
        }
        while self.responder.poll_event().is_some() {}
        cookie
    }

    /// One initiator from a new address: IKE_SA_INIT, and again with the cookie if one is
    /// asked for.
    pub fn initiator(&mut self, now: Instant) {
        let from = Self::address(self.next_addr);
        self.next_addr = self.next_addr.wrapping_add(1);
        self.from(now, from);
    }

    /// One initiator from `from` (a fresh SPI and nonce), returning the cookie it is asked
    /// for.
    pub fn from(&mut self, now: Instant, from: SocketAddr) {
        let spi = self.next_spi;
        self.next_spi += 1;
        let first = self.request(spi, None);
        if let Some(c) = self.send(now, from, &first) {
            let again = self.request(spi, Some(&c));
            self.report.cookies_returned += 1;
            self.send(now, from, &again);
        }
    }

    /// `n` initiators, each from a new address.
    pub fn initiators(&mut self, now: Instant, n: usize) {
        for _ in 0..n {
            self.initiator(now);
        }
    }

    /// What was sent and what the responder holds.
    pub fn report(&self) -> FloodReport {
        FloodReport {
            ike_sas: self.responder.ike_sa_count(),
            half_open: self.responder.half_open_count(),
            ..self.report
        }
    }
}
