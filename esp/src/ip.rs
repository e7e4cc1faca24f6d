//! The few IPv4 (RFC 791) and IPv6 (RFC 8200) header fields the datapath reads and writes: the
//! flow of an inner packet (for outbound SA lookup), its length (to strip TFC padding), and the
//! DSCP/ECN and DF bits copied to or from the outer header.
//!
//! Parsing never panics: every field read is bounds checked and a short packet is an error.

use crate::error::EspError;
use ipsec_core::selector::Packet5Tuple;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Minimum IPv4 header length.
pub const IPV4_HEADER_LEN: usize = 20;
/// IPv6 fixed header length.
pub const IPV6_HEADER_LEN: usize = 40;

/// ECN codepoints (RFC 3168 section 5).
pub mod ecn {
    /// Not ECN-capable transport.
    pub const NOT_ECT: u8 = 0b00;
    /// ECN-capable transport, ECT(1).
    pub const ECT1: u8 = 0b01;
    /// ECN-capable transport, ECT(0).
    pub const ECT0: u8 = 0b10;
    /// Congestion experienced.
    pub const CE: u8 = 0b11;
}

/// The selector-relevant fields of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol (for IPv6, the Next Header of the fixed header).
    pub protocol: u8,
    /// Source port, or ICMP type and code as `type << 8 | code` (RFC 7296 section 3.13.1); `None`
    /// for protocols without ports and for non-first fragments.
    pub src_port: Option<u16>,
    /// Destination port (`None` for ICMP, where the source "port" carries type and code).
    pub dst_port: Option<u16>,
    /// The packet's length according to its header.
    pub len: usize,
    /// The traffic class / TOS byte (DSCP and ECN).
    pub tos: u8,
    /// IPv4 Don't Fragment (always false for IPv6).
    pub df: bool,
}

impl Flow {
    /// The flow as the selector module sees it: ICMP type and code stand in for both ports.
    #[inline]
    pub fn five_tuple(&self) -> Packet5Tuple {
        let icmp = matches!(self.protocol, 1 | 58);
        Packet5Tuple {
            src: self.src,
            dst: self.dst,
            protocol: self.protocol,
            src_port: self.src_port,
            dst_port: if icmp { self.src_port } else { self.dst_port },
        }
    }
}

/// Parses the flow of the IP packet at the start of `p`.
#[inline]
pub fn flow(p: &[u8]) -> Result<Flow, EspError> {
    raw_flow(p).map(|r| r.to_flow())
}

/// A packet's flow with its addresses as integers (an IPv4 address in the low 32 bits): the
/// form the datapath's per-packet checks read. Its fields are whole words, where
/// [`IpAddr`]'s tag byte puts an address at an odd offset: a flow written field by field and
/// read back at other widths (as an inlined parse followed by a selector check does) stalls
/// the CPU on every packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFlow {
    pub(crate) src: u128,
    pub(crate) dst: u128,
    pub(crate) len: usize,
    pub(crate) ipv6: bool,
    pub(crate) protocol: u8,
    pub(crate) tos: u8,
    pub(crate) df: bool,
    pub(crate) src_port: Option<u16>,
    pub(crate) dst_port: Option<u16>,
}

impl RawFlow {
    fn to_flow(self) -> Flow {
        let addr = |v: u128| {
            if self.ipv6 {
                IpAddr::V6(Ipv6Addr::from(v))
            } else {
                IpAddr::V4(Ipv4Addr::from(v as u32))
            }
        };
        Flow {
            src: addr(self.src),
            dst: addr(self.dst),
            protocol: self.protocol,
            src_port: self.src_port,
            dst_port: self.dst_port,
            len: self.len,
            tos: self.tos,
            df: self.df,
        }
    }

    /// The port the selectors judge at the destination end: ICMP's type and code stand in for
    /// both ports, as in [`Flow::five_tuple`].
    #[inline(always)]
    pub(crate) fn selector_dst_port(&self) -> Option<u16> {
        if matches!(self.protocol, 1 | 58) {
            self.src_port
        } else {
            self.dst_port
        }
    }
}

/// Parses the flow of the IP packet at the start of `p`, addresses as integers.
#[inline(always)]
pub(crate) fn raw_flow(p: &[u8]) -> Result<RawFlow, EspError> {
    match p.first().map(|b| b >> 4) {
        Some(4) => flow_v4(p),
        Some(6) => flow_v6(p),
        _ => Err(EspError::BadInnerPacket("not IPv4 or IPv6")),
    }
}

#[inline(always)]
fn flow_v4(p: &[u8]) -> Result<RawFlow, EspError> {
    let h = p
        .get(..IPV4_HEADER_LEN)
        .ok_or(EspError::BadInnerPacket("short IPv4 header"))?;
    let ihl = usize::from(h[0] & 0x0f) * 4;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if ihl < IPV4_HEADER_LEN || len < ihl || len > p.len() {
        return Err(EspError::BadInnerPacket("bad IPv4 lengths"));
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    let protocol = h[9];
    let first_fragment = frag & 0x1fff == 0;
    let (src_port, dst_port) = if first_fragment {
        ports(protocol, p.get(ihl..len).unwrap_or(&[]))
    } else {
        (None, None)
    };
    Ok(RawFlow {
        src: u128::from(u32::from_be_bytes([h[12], h[13], h[14], h[15]])),
        dst: u128::from(u32::from_be_bytes([h[16], h[17], h[18], h[19]])),
        len,
        ipv6: false,
        protocol,
        tos: h[1],
        df: frag & 0x4000 != 0,
        src_port,
        dst_port,
    })
}

#[inline]
fn flow_v6(p: &[u8]) -> Result<RawFlow, EspError> {
    let h = p
        .get(..IPV6_HEADER_LEN)
        .ok_or(EspError::BadInnerPacket("short IPv6 header"))?;
    let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let len = IPV6_HEADER_LEN + payload;
    if len > p.len() {
        return Err(EspError::BadInnerPacket("bad IPv6 payload length"));
    }
    let addr = |b: &[u8]| {
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        u128::from_be_bytes(a)
    };
    let protocol = h[6];
    // Extension headers are not walked: the ports of such packets count as opaque.
    let (src_port, dst_port) = ports(protocol, p.get(IPV6_HEADER_LEN..len).unwrap_or(&[]));
    Ok(RawFlow {
        src: addr(&h[8..24]),
        dst: addr(&h[24..40]),
        len,
        ipv6: true,
        protocol,
        tos: (h[0] << 4) | (h[1] >> 4),
        df: false,
        src_port,
        dst_port,
    })
}

#[inline(always)]
fn ports(protocol: u8, l4: &[u8]) -> (Option<u16>, Option<u16>) {
    match (protocol, l4) {
        // TCP, UDP, SCTP, UDP-Lite
        (6 | 17 | 132 | 136, [a, b, c, d, ..]) => (
            Some(u16::from_be_bytes([*a, *b])),
            Some(u16::from_be_bytes([*c, *d])),
        ),
        // ICMP and ICMPv6: type and code in the port field
        (1 | 58, [t, c, ..]) => (Some(u16::from_be_bytes([*t, *c])), None),
        _ => (None, None),
    }
}

/// Rewrites the ECN bits of the IP packet at the start of `p` (and its IPv4 checksum).
pub fn set_ecn(p: &mut [u8], ecn: u8) -> Result<(), EspError> {
    match p.first().map(|b| b >> 4) {
        Some(4) if p.len() >= IPV4_HEADER_LEN => {
            p[1] = (p[1] & !0b11) | (ecn & 0b11);
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let h = p
                .get_mut(..ihl)
                .ok_or(EspError::BadInnerPacket("short IPv4 header"))?;
            h[10] = 0;
            h[11] = 0;
            let sum = checksum(&[h]);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            Ok(())
        }
        Some(6) if p.len() >= IPV6_HEADER_LEN => {
            // ECN is the low two bits of the traffic class: bits 4-5 of byte 1.
            p[1] = (p[1] & !0b0011_0000) | ((ecn & 0b11) << 4);
            Ok(())
        }
        _ => Err(EspError::BadInnerPacket("not IPv4 or IPv6")),
    }
}

/// RFC 6040 section 4.2: the inner ECN field after decapsulation, or `None` when the packet
/// must be dropped (outer CE on an inner Not-ECT packet).
pub fn decapsulated_ecn(inner: u8, outer: u8) -> Option<u8> {
    match (inner & 0b11, outer & 0b11) {
        (ecn::NOT_ECT, ecn::CE) => None,
        (ecn::NOT_ECT, _) => Some(ecn::NOT_ECT),
        (_, ecn::CE) => Some(ecn::CE),
        (ecn::ECT0, ecn::ECT1) => Some(ecn::ECT1),
        (i, _) => Some(i),
    }
}

/// The Internet checksum (RFC 1071) of the concatenated pieces (each of even length, except
/// possibly the last).
pub fn checksum(pieces: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for piece in pieces {
        let mut chunks = piece.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u64::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    // An ICMP echo request 10.1.0.1 -> 10.2.0.1 (header of the strongSwan capture's first ping).
    const ICMP: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 1, 0, 1, 10, 2,
        0, 1, 8, 0, 0xf7, 0xff, 0, 0, 0, 0,
    ];

    #[test]
    fn parses_an_ipv4_flow() {
        let f = flow(&ICMP).unwrap();
        assert_eq!(f.src, "10.1.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(f.dst, "10.2.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            (f.protocol, f.src_port, f.dst_port),
            (1, Some(0x0800), None)
        );
        assert_eq!(f.len, 28);
        assert!(f.df);
        for n in 0..ICMP.len() {
            assert!(flow(&ICMP[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn ecn_rules_of_rfc_6040() {
        use ecn::*;
        assert_eq!(decapsulated_ecn(NOT_ECT, CE), None);
        assert_eq!(decapsulated_ecn(NOT_ECT, ECT0), Some(NOT_ECT));
        assert_eq!(decapsulated_ecn(ECT0, CE), Some(CE));
        assert_eq!(decapsulated_ecn(ECT0, ECT1), Some(ECT1));
        assert_eq!(decapsulated_ecn(ECT1, ECT0), Some(ECT1));
        assert_eq!(decapsulated_ecn(CE, NOT_ECT), Some(CE));
    }

    #[test]
    fn checksum_matches_the_rfc1071_example() {
        // RFC 1071 section 3: these words sum to 0xddf2, whose complement is 0x220d.
        let words = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&[&words]), 0x220d);
        // Split into pieces, and with an odd last byte padded by a zero.
        assert_eq!(checksum(&[&words[..2], &words[2..]]), 0x220d);
        assert_eq!(checksum(&[&[0xff]]), 0x00ff);
    }

    #[test]
    fn set_ecn_keeps_the_checksum_valid() {
        let mut p = ICMP;
        set_ecn(&mut p, ecn::CE).unwrap();
        assert_eq!(p[1] & 3, 3);
        assert_eq!(checksum(&[&p[..20]]), 0);
    }
}
