//! The description of a negotiated Child SA: what IKE emits and what the ESP datapath installs.
//!
//! `ikev2` and `esp` do not depend on each other; this type is their only meeting point. It holds
//! everything needed to build the inbound and outbound SAs of one Child SA pair.

use crate::crypto::{Encryption, IntegId, SecretBytes};
use crate::selector::TrafficSelector;
use core::time::Duration;
use std::net::SocketAddr;

/// The IPsec protocol of a Child SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpsecProtocol {
    /// Encapsulating Security Payload (RFC 4303).
    Esp,
    /// Authentication Header (RFC 4302).
    Ah,
}

/// Tunnel or transport mode (RFC 4301 section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// The whole inner IP packet is protected and a new outer header added.
    #[default]
    Tunnel,
    /// Only the payload of the IP packet is protected.
    Transport,
}

/// Keys and SPI of one direction of a Child SA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectionKeys {
    /// The SPI carried in the ESP header of packets in this direction. Inbound: the SPI we
    /// allocated; outbound: the peer's.
    pub spi: u32,
    /// Encryption key material (for AEADs: `key || salt`; empty for ENCR_NULL).
    pub encryption_key: SecretBytes,
    /// Integrity key (empty for AEADs).
    pub integrity_key: SecretBytes,
}

/// UDP encapsulation of ESP (RFC 3948): ports on the outer UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpEncapsulation {
    /// Our port (normally 4500).
    pub local_port: u16,
    /// The peer's port (4500, or what a NAT mapped it to).
    pub remote_port: u16,
}

/// Soft and hard limits of a Child SA. `None` means no limit of that kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Lifetimes {
    /// Time after which a rekey should start.
    pub soft_time: Option<Duration>,
    /// Time after which the SA must be deleted.
    pub hard_time: Option<Duration>,
    /// Bytes after which a rekey should start.
    pub soft_bytes: Option<u64>,
    /// Bytes after which the SA must no longer be used.
    pub hard_bytes: Option<u64>,
    /// Packets after which a rekey should start.
    pub soft_packets: Option<u64>,
    /// Packets after which the SA must no longer be used.
    pub hard_packets: Option<u64>,
}

/// Everything a datapath needs to install one Child SA pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildSa {
    /// Name of the `ipsec-tunnel` this Child SA belongs to.
    pub tunnel: String,
    /// Name of the proxy ID it was negotiated for, if any.
    pub proxy_id: Option<String>,
    /// ESP or AH.
    pub protocol: IpsecProtocol,
    /// Tunnel or transport mode.
    pub mode: Mode,
    /// Encryption transform (ENCR_NULL for authentication-only ESP).
    pub encryption: Encryption,
    /// Integrity transform (`IntegId::NONE` with AEADs).
    pub integrity: IntegId,
    /// Extended (64-bit) sequence numbers negotiated.
    pub esn: bool,
    /// Packets we receive: our SPI and the peer's sending keys.
    pub inbound: DirectionKeys,
    /// Packets we send: the peer's SPI and our sending keys.
    pub outbound: DirectionKeys,
    /// Our traffic selectors (TSi for the initiator, TSr for the responder), after narrowing.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's traffic selectors, after narrowing.
    pub remote_ts: Vec<TrafficSelector>,
    /// Our outer address (tunnel endpoint).
    pub local_addr: SocketAddr,
    /// The peer's outer address.
    pub remote_addr: SocketAddr,
    /// UDP encapsulation, when NAT was detected or forced.
    pub encapsulation: Option<UdpEncapsulation>,
    /// Lifetimes.
    pub lifetimes: Lifetimes,
    /// Anti-replay window in packets; 0 disables replay protection.
    pub replay_window: u32,
    /// Whether the peer accepts TFC padding (no ESP_TFC_PADDING_NOT_SUPPORTED received).
    pub tfc_padding: bool,
}

impl ChildSa {
    /// A copy of this Child SA without its keys (empty in both directions): what a control
    /// plane keeps once the datapath has them.
    #[must_use]
    pub fn without_keys(&self) -> ChildSa {
        let keyless = |k: &DirectionKeys| DirectionKeys {
            spi: k.spi,
            encryption_key: SecretBytes::default(),
            integrity_key: SecretBytes::default(),
        };
        ChildSa {
            tunnel: self.tunnel.clone(),
            proxy_id: self.proxy_id.clone(),
            protocol: self.protocol,
            mode: self.mode,
            encryption: self.encryption,
            integrity: self.integrity,
            esn: self.esn,
            inbound: keyless(&self.inbound),
            outbound: keyless(&self.outbound),
            local_ts: self.local_ts.clone(),
            remote_ts: self.remote_ts.clone(),
            local_addr: self.local_addr,
            remote_addr: self.remote_addr,
            encapsulation: self.encapsulation,
            lifetimes: self.lifetimes,
            replay_window: self.replay_window,
            tfc_padding: self.tfc_padding,
        }
    }

    /// A copy of this Child SA that takes its keys: this one is left without (as
    /// [`without_keys`](Self::without_keys)). The keys are moved, never copied.
    #[must_use]
    pub fn take_keys(&mut self) -> ChildSa {
        let mut copy = self.without_keys();
        for (from, to) in [
            (&mut self.inbound, &mut copy.inbound),
            (&mut self.outbound, &mut copy.outbound),
        ] {
            to.encryption_key = core::mem::take(&mut from.encryption_key);
            to.integrity_key = core::mem::take(&mut from.integrity_key);
        }
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::EncrId;

    fn child() -> ChildSa {
        let keys = |spi: u32, k: u8| DirectionKeys {
            spi,
            encryption_key: SecretBytes::from_slice(&[k; 20]),
            integrity_key: SecretBytes::from_slice(&[k ^ 0xff; 32]),
        };
        ChildSa {
            tunnel: "branch".into(),
            proxy_id: Some("lan".into()),
            protocol: IpsecProtocol::Esp,
            mode: Mode::Tunnel,
            encryption: Encryption::new(EncrId::ENCR_AES_GCM_16, 128),
            integrity: IntegId::NONE,
            esn: true,
            inbound: keys(0xc000_0001, 1),
            outbound: keys(0xd000_0002, 2),
            local_ts: vec![TrafficSelector::any_v4()],
            remote_ts: vec![TrafficSelector::any_v6()],
            local_addr: "192.0.2.1:4500".parse().unwrap(),
            remote_addr: "198.51.100.7:4500".parse().unwrap(),
            encapsulation: Some(UdpEncapsulation {
                local_port: 4500,
                remote_port: 4501,
            }),
            lifetimes: Lifetimes {
                hard_bytes: Some(1 << 30),
                ..Lifetimes::default()
            },
            replay_window: 1024,
            tfc_padding: true,
        }
    }

    fn keyless(mut c: ChildSa) -> ChildSa {
        for k in [&mut c.inbound, &mut c.outbound] {
            k.encryption_key = SecretBytes::default();
            k.integrity_key = SecretBytes::default();
        }
        c
    }

    #[test]
    fn a_copy_without_keys_keeps_everything_else() {
        let c = child();
        let copy = c.without_keys();
        assert_eq!(copy, keyless(c.clone()));
        for k in [&copy.inbound, &copy.outbound] {
            assert!(k.encryption_key.is_empty() && k.integrity_key.is_empty());
        }
        assert_eq!(c, child(), "the original keeps its keys");
    }

    #[test]
    fn taking_the_keys_moves_them_to_the_copy() {
        let mut c = child();
        let taken = c.take_keys();
        assert_eq!(taken, child(), "the copy is whole, keys included");
        assert_eq!(c, keyless(child()), "the original is left without keys");
    }
}
