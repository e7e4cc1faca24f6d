//! From a captured frame to a transport payload: link layer, IPv4 / IPv6, UDP.
//!
//! Every length is checked against the captured bytes; a frame cut short by the snap length or
//! damaged on the way is a [`NetError`], never a panic. IPv4 packets are trimmed to their total
//! length (Ethernet pads short frames), IPv6 extension headers are skipped up to a fixed count,
//! and fragments are recognised (their reassembly is [`super::reassembly`]'s job).

use crate::pcap::LinkType;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
/// IP protocol number of UDP (IANA "Assigned Internet Protocol Numbers").
pub const PROTO_UDP: u8 = 17;
/// IP protocol number of ESP.
pub const PROTO_ESP: u8 = 50;
/// Extension headers skipped before giving up: real packets carry two or three.
const MAX_EXTENSION_HEADERS: usize = 16;
/// VLAN tags skipped before giving up.
const MAX_VLAN_TAGS: usize = 4;

/// Why a frame yields no transport payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The frame ends inside the named header.
    #[error("truncated {0} header")]
    Truncated(&'static str),
    /// A header field is inconsistent (lengths, version).
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The frame carries something other than IPv4 or IPv6 (ARP, LLDP...): not an error, skipped.
    #[error("not an IP packet (type 0x{0:04x})")]
    NotIp(u32),
    /// The capture's link type is not one this decoder knows.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(LinkType),
}

/// The IP fragment a packet is, when it is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The Identification field (16 bits in IPv4, 32 in IPv6's Fragment header).
    pub id: u32,
    /// Offset of this fragment in the original payload, in bytes.
    pub offset: u32,
    /// True when more fragments follow.
    pub more: bool,
}

/// What an IP packet carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A UDP datagram (for a first fragment, only the bytes of this fragment).
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// The UDP payload.
        payload: &'a [u8],
    },
    /// An ESP packet directly over IP (protocol 50).
    Esp(&'a [u8]),
    /// Another protocol, or a non-first fragment whose transport header is elsewhere.
    Other(u8),
}

/// An IP packet's addresses and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Set when the packet is an IP fragment.
    pub fragment: Option<Fragment>,
    /// The IP protocol of the payload (after IPv6 extension headers).
    pub protocol: u8,
    /// The IP payload (of this fragment only, for a fragment).
    pub payload: &'a [u8],
    /// The transport payload, as far as this packet shows it.
    pub transport: Transport<'a>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes a frame of link type `link` down to its transport payload.
pub fn parse(link: LinkType, frame: &[u8]) -> Result<Datagram<'_>, NetError> {
    let (ethertype, ip) = match link {
        LinkType::ETHERNET => ethernet(frame)?,
        LinkType::RAW | LinkType::IPV4 | LinkType::IPV6 => (None, frame),
        LinkType::LINUX_SLL => {
            let t = be16(frame, 14).ok_or(NetError::Truncated("Linux cooked"))?;
            (Some(t), &frame[16..])
        }
        LinkType::LINUX_SLL2 => {
            let t = be16(frame, 0).ok_or(NetError::Truncated("Linux cooked v2"))?;
            (
                Some(t),
                frame
                    .get(20..)
                    .ok_or(NetError::Truncated("Linux cooked v2"))?,
            )
        }
        LinkType::NULL | LinkType::LOOP => {
            let family = frame.get(..4).ok_or(NetError::Truncated("loopback"))?;
            // The family is in the capturing host's byte order (NULL) or big-endian (LOOP):
            // AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 depending on the OS.
            let le = u32::from_le_bytes(family.try_into().unwrap_or_default());
            let be = u32::from_be_bytes(family.try_into().unwrap_or_default());
            let af = if le < 256 { le } else { be };
            let t = match af {
                2 => ETHERTYPE_IPV4,
                10 | 24 | 28 | 30 => ETHERTYPE_IPV6,
                other => return Err(NetError::NotIp(other)),
            };
            (Some(t), &frame[4..])
        }
        other => return Err(NetError::UnsupportedLinkType(other)),
    };
    let version = ip.first().ok_or(NetError::Truncated("IP"))? >> 4;
    match (ethertype, version) {
        (Some(ETHERTYPE_IPV4) | None, 4) => ipv4(ip),
        (Some(ETHERTYPE_IPV6) | None, 6) => ipv6(ip),
        (Some(ETHERTYPE_IPV4 | ETHERTYPE_IPV6) | None, _) => Err(NetError::Malformed("IP version")),
        (Some(t), _) => Err(NetError::NotIp(u32::from(t))),
    }
}

fn ethernet(frame: &[u8]) -> Result<(Option<u16>, &[u8]), NetError> {
    let mut at = 12;
    for _ in 0..=MAX_VLAN_TAGS {
        let t = be16(frame, at).ok_or(NetError::Truncated("Ethernet"))?;
        if t != ETHERTYPE_VLAN && t != ETHERTYPE_QINQ {
            return Ok((Some(t), &frame[at + 2..]));
        }
        at += 4;
    }
    Err(NetError::Malformed("Ethernet: too many VLAN tags"))
}

fn ipv4(p: &[u8]) -> Result<Datagram<'_>, NetError> {
    let header = p.get(..20).ok_or(NetError::Truncated("IPv4"))?;
    let ihl = usize::from(header[0] & 0x0f) * 4;
    let total = usize::from(be16(header, 2).unwrap_or(0));
    if ihl < 20 || total < ihl {
        return Err(NetError::Malformed("IPv4 header length"));
    }
    // A captured packet may be longer (link padding) or shorter (snap length) than `total`.
    let packet = p.get(..total).unwrap_or(p);
    let payload = packet
        .get(ihl..)
        .ok_or(NetError::Truncated("IPv4 options"))?;
    let flags_offset = be16(header, 6).unwrap_or(0);
    let offset = u32::from(flags_offset & 0x1fff) * 8;
    let more = flags_offset & 0x2000 != 0;
    let id = u32::from(be16(header, 4).unwrap_or(0));
    let fragment = (offset != 0 || more).then_some(Fragment { id, offset, more });
    let src = Ipv4Addr::from(be32(header, 12).unwrap_or(0)).into();
    let dst = Ipv4Addr::from(be32(header, 16).unwrap_or(0)).into();
    transport(src, dst, header[9], fragment, payload)
}

fn ipv6(p: &[u8]) -> Result<Datagram<'_>, NetError> {
    let header = p.get(..40).ok_or(NetError::Truncated("IPv6"))?;
    let payload_len = usize::from(be16(header, 4).unwrap_or(0));
    let src = addr6(&header[8..24]);
    let dst = addr6(&header[24..40]);
    // A payload length of 0 means a jumbogram (RFC 2675): use what was captured.
    let end = if payload_len == 0 {
        p.len()
    } else {
        (40 + payload_len).min(p.len())
    };
    let mut next = header[6];
    let mut at = 40;
    let mut fragment = None;
    for _ in 0..MAX_EXTENSION_HEADERS {
        let ext = p
            .get(at..end)
            .ok_or(NetError::Truncated("IPv6 extension"))?;
        let len = match next {
            // Hop-by-Hop, Routing, Destination Options, Mobility, HIP, Shim6: (n + 1) * 8 bytes.
            0 | 43 | 60 | 135 | 139 | 140 => {
                usize::from(*ext.get(1).ok_or(NetError::Truncated("IPv6 extension"))?) * 8 + 8
            }
            // Fragment: 8 bytes (RFC 8200 section 4.5).
            44 => {
                let off = be16(ext, 2).ok_or(NetError::Truncated("IPv6 fragment"))?;
                let id = be32(ext, 4).ok_or(NetError::Truncated("IPv6 fragment"))?;
                let offset = u32::from(off >> 3) * 8;
                let more = off & 1 != 0;
                if offset != 0 || more {
                    fragment = Some(Fragment { id, offset, more });
                }
                8
            }
            // Authentication Header: (n + 2) * 4 bytes (RFC 4302 section 2.2).
            51 => usize::from(*ext.get(1).ok_or(NetError::Truncated("IPv6 AH"))?) * 4 + 8,
            _ => return transport(src, dst, next, fragment, ext),
        };
        if ext.len() < len {
            return Err(NetError::Truncated("IPv6 extension"));
        }
        next = ext[0];
        at += len;
    }
    Err(NetError::Malformed("IPv6: too many extension headers"))
}

fn addr6(b: &[u8]) -> IpAddr {
    let a: [u8; 16] = b.try_into().unwrap_or_default();
    Ipv6Addr::from(a).into()
}

fn transport<'a>(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    fragment: Option<Fragment>,
    payload: &'a [u8],
) -> Result<Datagram<'a>, NetError> {
    let transport = match fragment {
        Some(f) if f.offset != 0 => Transport::Other(protocol),
        _ => parse_transport(protocol, payload, fragment.is_some())?,
    };
    Ok(Datagram {
        src,
        dst,
        fragment,
        protocol,
        payload,
        transport,
    })
}

/// Decodes the transport header of an IP payload of protocol `protocol`. With `partial` (a first
/// fragment) a UDP datagram may be longer than the bytes at hand.
pub fn parse_transport(
    protocol: u8,
    payload: &[u8],
    partial: bool,
) -> Result<Transport<'_>, NetError> {
    Ok(match protocol {
        PROTO_UDP => {
            let header = payload.get(..8).ok_or(NetError::Truncated("UDP"))?;
            let len = usize::from(be16(header, 4).unwrap_or(0));
            if len < 8 {
                return Err(NetError::Malformed("UDP length"));
            }
            let data = match payload.get(8..len) {
                Some(d) => d,
                None if partial => &payload[8..],
                None => return Err(NetError::Truncated("UDP payload")),
            };
            Transport::Udp {
                src_port: be16(header, 0).unwrap_or(0),
                dst_port: be16(header, 2).unwrap_or(0),
                payload: data,
            }
        }
        PROTO_ESP => Transport::Esp(payload),
        other => Transport::Other(other),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An IPv4 + UDP packet from 192.0.2.1 to 192.0.2.2.
    pub(crate) fn ipv4_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let total = (28 + payload.len()) as u16;
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, PROTO_UDP, 0, 0];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&(total - 20).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn ipv6_with(next: u8, ext: &[u8], udp: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((ext.len() + udp.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(ext);
        p.extend_from_slice(udp);
        p
    }

    fn udp_of(d: &Datagram<'_>) -> (u16, u16, Vec<u8>) {
        match d.transport {
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            } => (src_port, dst_port, payload.to_vec()),
            other => panic!("not UDP: {other:?}"),
        }
    }

    #[test]
    fn every_link_type_reaches_the_udp_payload() {
        let ip = ipv4_udp(500, 500, b"ike");
        let mut eth = vec![0; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00]); // one VLAN tag
        eth.extend_from_slice(&ip);
        eth.extend_from_slice(&[0; 6]); // Ethernet padding, trimmed by the IPv4 total length
        let mut sll = vec![0; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&ip);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend_from_slice(&ip);
        for (link, frame) in [
            (LinkType::ETHERNET, eth),
            (LinkType::RAW, ip.clone()),
            (LinkType::IPV4, ip.clone()),
            (LinkType::LINUX_SLL, sll),
            (LinkType::LINUX_SLL2, sll2),
            (LinkType::NULL, null),
            (LinkType::LOOP, lo),
        ] {
            let d = parse(link, &frame).unwrap();
            assert_eq!(d.src, IpAddr::from([192, 0, 2, 1]), "{link}");
            assert_eq!(udp_of(&d), (500, 500, b"ike".to_vec()), "{link}");
            assert_eq!(d.fragment, None);
        }
    }

    #[test]
    fn ipv6_extension_headers_are_skipped() {
        let udp = [0x11, 0x94, 0x11, 0x94, 0, 10, 0, 0, 0xff, 0xee];
        // Hop-by-Hop (8 bytes) -> Destination Options (16 bytes) -> UDP.
        let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&[PROTO_UDP, 1]);
        ext.extend_from_slice(&[0; 14]);
        let p = ipv6_with(0, &ext, &udp);
        let d = parse(LinkType::RAW, &p).unwrap();
        assert_eq!(d.dst, "2001:db8::2".parse::<IpAddr>().unwrap());
        assert_eq!(udp_of(&d), (4500, 4500, vec![0xff, 0xee]));
        // A fragment header with the M flag: first fragment, UDP still visible.
        let p = ipv6_with(44, &[PROTO_UDP, 0, 0, 1, 0, 0, 0, 9], &udp);
        let d = parse(LinkType::IPV6, &p).unwrap();
        assert_eq!(
            d.fragment,
            Some(Fragment {
                id: 9,
                offset: 0,
                more: true
            })
        );
        assert!(matches!(d.transport, Transport::Udp { .. }));
        // An extension header longer than the packet.
        let p = ipv6_with(60, &[PROTO_UDP, 9, 0, 0, 0, 0, 0, 0], &udp);
        assert_eq!(
            parse(LinkType::RAW, &p),
            Err(NetError::Truncated("IPv6 extension"))
        );
    }

    #[test]
    fn damaged_and_foreign_frames_are_errors() {
        let ip = ipv4_udp(500, 500, b"ike");
        assert_eq!(parse(LinkType::RAW, &[]), Err(NetError::Truncated("IP")));
        assert_eq!(
            parse(LinkType::RAW, &ip[..10]),
            Err(NetError::Truncated("IPv4"))
        );
        assert_eq!(
            parse(LinkType::RAW, &ip[..30]),
            Err(NetError::Truncated("UDP payload"))
        );
        let mut arp = vec![0; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 0]);
        assert_eq!(
            parse(LinkType::ETHERNET, &arp),
            Err(NetError::NotIp(0x0806))
        );
        assert_eq!(
            parse(LinkType(147), &ip),
            Err(NetError::UnsupportedLinkType(LinkType(147)))
        );
        let mut bad = ip.clone();
        bad[0] = 0x44;
        assert_eq!(
            parse(LinkType::RAW, &bad),
            Err(NetError::Malformed("IPv4 header length"))
        );
        // Every prefix of a frame decodes or fails cleanly.
        for n in 0..ip.len() {
            let _ = parse(LinkType::RAW, &ip[..n]);
        }
    }

    #[test]
    fn ipv4_fragments_and_esp() {
        let mut frag = ipv4_udp(4500, 4500, &[0; 16]);
        frag[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        frag[6] = 0x20; // MF
        let d = parse(LinkType::RAW, &frag).unwrap();
        assert_eq!(
            d.fragment,
            Some(Fragment {
                id: 0x1234,
                offset: 0,
                more: true
            })
        );
        frag[6..8].copy_from_slice(&185u16.to_be_bytes());
        let d = parse(LinkType::RAW, &frag).unwrap();
        assert_eq!(
            d.fragment,
            Some(Fragment {
                id: 0x1234,
                offset: 1480,
                more: false
            })
        );
        assert_eq!(d.transport, Transport::Other(PROTO_UDP));
        let mut esp = ipv4_udp(0, 0, &[]);
        esp.truncate(20);
        esp[9] = PROTO_ESP;
        esp.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        esp[2..4].copy_from_slice(&28u16.to_be_bytes());
        let d = parse(LinkType::RAW, &esp).unwrap();
        assert_eq!(d.transport, Transport::Esp(&[0, 0, 0, 1, 0, 0, 0, 2]));
    }
}
