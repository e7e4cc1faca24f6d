//! The outer headers of an ESP packet: UDP encapsulation (RFC 3948) and, for embedders that send
//! raw IP (a TUN device, a raw socket), the outer IPv4 or IPv6 header of tunnel mode with the
//! DSCP, ECN (RFC 6040 normal mode) and DF (RFC 4301 section 8.1) rules.
//!
//! ```text
//!  outer IPv4/IPv6 header | UDP header (src, dst 4500, len, checksum) | ESP ...
//! ```
//!
//! RFC 3948 section 2.1: over IPv4 the UDP checksum is sent as zero; over IPv6 it is computed.

use crate::error::EspError;
use crate::ip::{checksum, IPV4_HEADER_LEN, IPV6_HEADER_LEN};
use ipsec_core::child_sa::UdpEncapsulation;
use std::net::{IpAddr, SocketAddr};

/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;
/// IP protocol number of ESP.
pub const IPPROTO_ESP: u8 = 50;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// What [`OutboundSa::encapsulate`](crate::OutboundSa::encapsulate) returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// The bytes to hand to a socket: the ESP packet, for a UDP socket on port 4500 (UDP
    /// encapsulation) or a raw IP socket of protocol 50.
    #[default]
    Payload,
    /// A complete IP packet: outer IPv4/IPv6 header, the UDP header when encapsulated, and ESP.
    IpPacket,
}

/// How the outer IPv4 header's Don't Fragment bit is set (RFC 4301 section 8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DfPolicy {
    /// Copy DF from the inner IPv4 header (cleared for IPv6 inner packets).
    #[default]
    Copy,
    /// Always set DF.
    Set,
    /// Always clear DF.
    Clear,
}

/// Length of the outer headers for this SA's addresses and encapsulation.
pub fn outer_len(remote: &SocketAddr, udp: bool) -> usize {
    let ip = if remote.is_ipv4() {
        IPV4_HEADER_LEN
    } else {
        IPV6_HEADER_LEN
    };
    ip + if udp { UDP_HEADER_LEN } else { 0 }
}

/// Outer header fields taken from the inner packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OuterFields {
    pub(crate) tos: u8,
    pub(crate) df: bool,
    pub(crate) id: u16,
}

/// Writes the outer headers into `buf[..outer_len]`, in front of the ESP packet that fills the
/// rest of `buf`.
pub(crate) fn write_outer(
    buf: &mut [u8],
    local: SocketAddr,
    remote: SocketAddr,
    udp: Option<UdpEncapsulation>,
    f: OuterFields,
) -> Result<(), EspError> {
    let total = buf.len();
    let hlen = outer_len(&remote, udp.is_some());
    if total < hlen {
        return Err(EspError::BufferTooSmall {
            headroom: hlen,
            tailroom: 0,
        });
    }
    let proto = if udp.is_some() {
        IPPROTO_UDP
    } else {
        IPPROTO_ESP
    };
    let ip_len = match remote {
        SocketAddr::V4(_) => IPV4_HEADER_LEN,
        SocketAddr::V6(_) => IPV6_HEADER_LEN,
    };
    let (iph, rest) = buf.split_at_mut(ip_len);
    match (local.ip(), remote.ip()) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let len = u16::try_from(total).map_err(|_| EspError::Malformed("packet too long"))?;
            iph[0] = 0x45;
            iph[1] = f.tos;
            iph[2..4].copy_from_slice(&len.to_be_bytes());
            iph[4..6].copy_from_slice(&f.id.to_be_bytes());
            iph[6..8].copy_from_slice(&(if f.df { 0x4000u16 } else { 0 }).to_be_bytes());
            iph[8] = 64;
            iph[9] = proto;
            iph[10..12].fill(0);
            iph[12..16].copy_from_slice(&src.octets());
            iph[16..20].copy_from_slice(&dst.octets());
            let sum = checksum(&[iph]);
            iph[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let len = u16::try_from(total - IPV6_HEADER_LEN)
                .map_err(|_| EspError::Malformed("packet too long"))?;
            iph[0] = 0x60 | (f.tos >> 4);
            iph[1] = f.tos << 4;
            iph[2] = 0;
            iph[3] = 0;
            iph[4..6].copy_from_slice(&len.to_be_bytes());
            iph[6] = proto;
            iph[7] = 64;
            iph[8..24].copy_from_slice(&src.octets());
            iph[24..40].copy_from_slice(&dst.octets());
        }
        _ => {
            return Err(EspError::Config(
                "local and remote addresses of different families".into(),
            ))
        }
    }
    if let Some(u) = udp {
        let (uh, esp) = rest.split_at_mut(UDP_HEADER_LEN);
        let ulen =
            u16::try_from(total - ip_len).map_err(|_| EspError::Malformed("packet too long"))?;
        uh[0..2].copy_from_slice(&u.local_port.to_be_bytes());
        uh[2..4].copy_from_slice(&u.remote_port.to_be_bytes());
        uh[4..6].copy_from_slice(&ulen.to_be_bytes());
        uh[6..8].fill(0);
        if let (IpAddr::V6(src), IpAddr::V6(dst)) = (local.ip(), remote.ip()) {
            // RFC 8200 section 8.1: UDP over IPv6 carries a real checksum.
            let mut pseudo = [0u8; 40];
            pseudo[..16].copy_from_slice(&src.octets());
            pseudo[16..32].copy_from_slice(&dst.octets());
            pseudo[32..36].copy_from_slice(&u32::from(ulen).to_be_bytes());
            pseudo[39] = IPPROTO_UDP;
            let mut sum = checksum(&[&pseudo, uh, esp]);
            if sum == 0 {
                sum = 0xffff;
            }
            uh[6..8].copy_from_slice(&sum.to_be_bytes());
        }
    }
    Ok(())
}

/// An outer IP (and UDP) header stripped from a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer {
    /// Where the ESP packet starts in the buffer.
    pub esp_start: usize,
    /// Where it ends (the outer header's length, not the buffer's, decides).
    pub esp_end: usize,
    /// The outer header's source address and UDP source port (0 for plain ESP).
    pub source: SocketAddr,
    /// The outer ECN field, for RFC 6040 decapsulation.
    pub ecn: u8,
}

/// What a received raw IP packet carries for the datapath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// ESP (protocol 50, or UDP to port 4500 without the non-ESP marker).
    Esp(Outer),
    /// A NAT keepalive on port 4500.
    Keepalive,
    /// IKE on port 4500 (after the non-ESP marker) or 500: the range of the IKE message.
    Ike(core::ops::Range<usize>),
}

/// Parses the outer IPv4/IPv6 header (and UDP header) of a received packet, for embedders reading
/// raw IP. `nat_t_port` is the local port ESP in UDP arrives on (normally 4500); UDP to port 500
/// is IKE. Never panics; anything else is [`EspError::Malformed`].
pub fn parse_outer(p: &[u8], nat_t_port: u16) -> Result<Received, EspError> {
    let f = crate::ip::flow(p).map_err(|_| EspError::Malformed("bad outer IP header"))?;
    let hlen = match p.first().map(|b| b >> 4) {
        Some(4) => usize::from(p[0] & 0x0f) * 4,
        _ => IPV6_HEADER_LEN,
    };
    let ecn = f.tos & 0b11;
    match f.protocol {
        IPPROTO_ESP => Ok(Received::Esp(Outer {
            esp_start: hlen,
            esp_end: f.len,
            source: SocketAddr::new(f.src, 0),
            ecn,
        })),
        IPPROTO_UDP => {
            let start = hlen + UDP_HEADER_LEN;
            let payload = p
                .get(start..f.len)
                .ok_or(EspError::Malformed("short UDP header"))?;
            let sport = f.src_port.unwrap_or(0);
            if f.dst_port == Some(500) {
                return Ok(Received::Ike(start..f.len));
            }
            if f.dst_port != Some(nat_t_port) {
                return Err(EspError::Malformed("UDP not to the NAT-T port"));
            }
            match crate::wire::Udp4500::classify(payload)? {
                crate::wire::Udp4500::Keepalive => Ok(Received::Keepalive),
                crate::wire::Udp4500::Ike(_) => Ok(Received::Ike(start + 4..f.len)),
                crate::wire::Udp4500::Esp(_) => Ok(Received::Esp(Outer {
                    esp_start: start,
                    esp_end: f.len,
                    source: SocketAddr::new(f.src, sport),
                    ecn,
                })),
            }
        }
        _ => Err(EspError::Malformed("neither ESP nor UDP")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp4(dport: u16, payload: &[u8]) -> Vec<u8> {
        let total = 28 + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[1] = 0x02; // ECT(0)
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[9] = IPPROTO_UDP;
        p[12..16].copy_from_slice(&[198, 51, 100, 7]);
        p[16..20].copy_from_slice(&[192, 0, 2, 1]);
        p[20..22].copy_from_slice(&31000u16.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p[28..].copy_from_slice(payload);
        p
    }

    #[test]
    fn classifies_received_ip_packets() {
        assert_eq!(
            parse_outer(&udp4(4500, &[0xff]), 4500),
            Ok(Received::Keepalive)
        );
        assert_eq!(
            parse_outer(&udp4(4500, &[0, 0, 0, 0, 9, 9]), 4500),
            Ok(Received::Ike(32..34))
        );
        assert_eq!(
            parse_outer(&udp4(500, &[9, 9]), 4500),
            Ok(Received::Ike(28..30))
        );
        let esp = [1u8, 2, 3, 4, 0, 0, 0, 1, 0xaa];
        let Ok(Received::Esp(o)) = parse_outer(&udp4(4500, &esp), 4500) else {
            panic!("not ESP")
        };
        assert_eq!((o.esp_start, o.esp_end, o.ecn), (28, 37, 2));
        assert_eq!(o.source, "198.51.100.7:31000".parse().unwrap());
        assert!(parse_outer(&udp4(4501, &esp), 4500).is_err());
        let full = udp4(4500, &esp);
        for n in 0..full.len() {
            assert!(parse_outer(&full[..n], 4500).is_err(), "{n}");
        }
    }
}
