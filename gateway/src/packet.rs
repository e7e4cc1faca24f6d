//! The fields of an inner IP packet that routing, policy and sessions look at, and the ICMP
//! echo requests of the tunnel monitor.
//!
//! Parsing goes through the ESP datapath's own reader ([`esp::ip::flow`]), so the gateway and
//! the SA selectors see a packet alike; this module adds what a firewall needs on top: the ICMP
//! echo identifier (the "port" of a ping session) and the echo fields the monitor matches.

use esp::ip::{checksum, flow};
use std::net::IpAddr;

/// ICMP and ICMPv6 echo types (RFC 792, RFC 4443).
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;
/// IP protocol numbers.
pub(crate) const PROTO_ICMP: u8 = 1;
pub(crate) const PROTO_ICMPV6: u8 = 58;

/// What the gateway reads from an inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flow {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) protocol: u8,
    /// Source port; for an ICMP echo, its identifier; 0 where there is none.
    pub(crate) src_port: u16,
    /// Destination port; for an ICMP echo, its identifier as well, so a request and its reply
    /// are one session.
    pub(crate) dst_port: u16,
    /// An ICMP echo request or reply: (is a request, identifier, sequence number).
    pub(crate) echo: Option<(bool, u16, u16)>,
    /// The packet's length according to its header.
    pub(crate) len: usize,
}

impl Flow {
    /// Parses the packet at the start of `p`; `None` when it is not a well-formed IP packet.
    pub(crate) fn parse(p: &[u8]) -> Option<Flow> {
        let f = flow(p).ok()?;
        let l4_start = match f.src {
            IpAddr::V4(_) => usize::from(p.first()? & 0x0f) * 4,
            IpAddr::V6(_) => esp::ip::IPV6_HEADER_LEN,
        };
        let l4 = p.get(l4_start..f.len).unwrap_or(&[]);
        let echo = match (f.protocol, l4) {
            // Only the first fragment carries the ICMP header (`flow` has no ports otherwise).
            (PROTO_ICMP | PROTO_ICMPV6, [t, _, _, _, i0, i1, s0, s1, ..])
                if f.src_port.is_some() =>
            {
                let request = matches!(*t, ICMP_ECHO_REQUEST | ICMPV6_ECHO_REQUEST);
                let reply = matches!(*t, ICMP_ECHO_REPLY | ICMPV6_ECHO_REPLY);
                let v6 = f.protocol == PROTO_ICMPV6;
                // Type 0 and 8 are echo in ICMP only, 128 and 129 in ICMPv6 only.
                let ok = (request || reply) && (v6 == (*t >= 128));
                ok.then(|| {
                    (
                        request,
                        u16::from_be_bytes([*i0, *i1]),
                        u16::from_be_bytes([*s0, *s1]),
                    )
                })
            }
            _ => None,
        };
        let (src_port, dst_port) = match (echo, f.protocol) {
            (Some((_, id, _)), _) => (id, id),
            (None, PROTO_ICMP | PROTO_ICMPV6) => (0, 0),
            (None, _) => (f.src_port.unwrap_or(0), f.dst_port.unwrap_or(0)),
        };
        Some(Flow {
            src: f.src,
            dst: f.dst,
            protocol: f.protocol,
            src_port,
            dst_port,
            echo,
            len: f.len,
        })
    }
}

/// Length of the ICMP echo requests the monitor sends: header and eight bytes of data.
const ECHO_LEN: usize = 8 + 8;

/// Writes an ICMP (or ICMPv6) echo request from `src` to `dst` at the start of `buf` and
/// returns its length; `None` when `buf` is too short or the families differ.
pub(crate) fn echo_request(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    ident: u16,
    seq: u16,
) -> Option<usize> {
    let mut icmp = [0u8; ECHO_LEN];
    icmp[4..6].copy_from_slice(&ident.to_be_bytes());
    icmp[6..8].copy_from_slice(&seq.to_be_bytes());
    icmp[8..].copy_from_slice(b"ipsec-tm");
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = 20 + ECHO_LEN;
            let out = buf.get_mut(..total)?;
            icmp[0] = ICMP_ECHO_REQUEST;
            let c = checksum(&[&icmp]);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            let h = &mut out[..20];
            h.fill(0);
            h[0] = 0x45;
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[4..6].copy_from_slice(&seq.to_be_bytes());
            h[8] = 64;
            h[9] = PROTO_ICMP;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = checksum(&[h]);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            out[20..].copy_from_slice(&icmp);
            Some(total)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let total = 40 + ECHO_LEN;
            let out = buf.get_mut(..total)?;
            icmp[0] = ICMPV6_ECHO_REQUEST;
            // RFC 4443 section 2.3: the checksum covers the RFC 8200 section 8.1 pseudo-header.
            let mut pseudo = [0u8; 40];
            pseudo[..16].copy_from_slice(&s.octets());
            pseudo[16..32].copy_from_slice(&d.octets());
            pseudo[32..36].copy_from_slice(&(ECHO_LEN as u32).to_be_bytes());
            pseudo[39] = PROTO_ICMPV6;
            let c = checksum(&[&pseudo, &icmp]);
            icmp[2..4].copy_from_slice(&c.to_be_bytes());
            let h = &mut out[..40];
            h.fill(0);
            h[0] = 0x60;
            h[4..6].copy_from_slice(&(ECHO_LEN as u16).to_be_bytes());
            h[6] = PROTO_ICMPV6;
            h[7] = 64;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            out[40..].copy_from_slice(&icmp);
            Some(total)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn echo_requests_parse_back_with_their_identifier() {
        let mut buf = [0u8; 80];
        let n = echo_request(
            &mut buf,
            v4("169.254.100.1"),
            v4("169.254.100.2"),
            0x4d01,
            7,
        )
        .unwrap();
        let f = Flow::parse(&buf[..n]).unwrap();
        assert_eq!((f.src, f.dst), (v4("169.254.100.1"), v4("169.254.100.2")));
        assert_eq!(f.echo, Some((true, 0x4d01, 7)));
        assert_eq!((f.src_port, f.dst_port), (0x4d01, 0x4d01));
        assert_eq!(checksum(&[&buf[..20]]), 0, "IPv4 header checksum");
        assert_eq!(checksum(&[&buf[20..n]]), 0, "ICMP checksum");

        let (s, d) = (v4("2001:db8::1"), v4("2001:db8::2"));
        let n = echo_request(&mut buf, s, d, 9, 1).unwrap();
        let f = Flow::parse(&buf[..n]).unwrap();
        assert_eq!(f.echo, Some((true, 9, 1)));
        assert_eq!(f.protocol, PROTO_ICMPV6);

        assert_eq!(echo_request(&mut buf, s, v4("10.0.0.1"), 1, 1), None);
        assert_eq!(
            echo_request(&mut buf[..20], v4("10.0.0.1"), v4("10.0.0.2"), 1, 1),
            None
        );
    }

    #[test]
    fn ports_of_udp_and_nothing_for_other_icmp() {
        let mut p = [0u8; 28];
        p[0] = 0x45;
        p[3] = 28;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 1, 0, 5]);
        p[16..20].copy_from_slice(&[10, 2, 0, 7]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&53u16.to_be_bytes());
        let f = Flow::parse(&p).unwrap();
        assert_eq!(
            (f.protocol, f.src_port, f.dst_port, f.echo),
            (17, 40000, 53, None)
        );
        // ICMP destination unreachable: no echo, no ports.
        p[9] = PROTO_ICMP;
        p[20] = 3;
        let f = Flow::parse(&p).unwrap();
        assert_eq!((f.src_port, f.dst_port, f.echo), (0, 0, None));
        // Type 128 is not an echo in ICMPv4.
        p[20] = 128;
        assert_eq!(Flow::parse(&p).unwrap().echo, None);
        for n in 0..p.len() {
            let _ = Flow::parse(&p[..n]);
        }
        assert_eq!(Flow::parse(&p[..19]), None);
    }
}
