//! From a captured frame to a transport payload: link layer, IPv4 / IPv6, UDP.
//!
//! Ethernet (with VLAN tags), IPv4 and IPv6 with its extension headers are read by `etherparse`;
//! the capture-only link layers (Linux cooked v1 and v2, BSD loopback) are a few fixed fields
//! here. Every length is checked against the captured bytes; a frame cut short by the snap length
//! or damaged on the way is a [`NetError`], never a panic. IP packets are trimmed to their length
//! field (Ethernet pads short frames) and may be shorter than it (a snap length), and fragments
//! are recognised (their reassembly is [`super::reassembly`]'s job).

use crate::pcap::DataLink;
use etherparse::err::{ip, ipv6_exts, LenError};
use etherparse::{EtherType, Ipv6ExtensionSlice, LaxIpSlice, LaxSlicedPacket, UdpHeaderSlice};
use std::net::IpAddr;

/// IP protocol number of UDP (IANA "Assigned Internet Protocol Numbers").
pub const PROTO_UDP: u8 = 17;
/// IP protocol number of ESP.
pub const PROTO_ESP: u8 = 50;

/// Why a frame yields no transport payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The frame ends inside the named header.
    #[error("truncated {0}")]
    Truncated(String),
    /// A header field is inconsistent (lengths, version).
    #[error("malformed {0}")]
    Malformed(String),
    /// A header field is invalid, as `etherparse` words it.
    #[error("{0}")]
    Invalid(String),
    /// The frame carries something other than IPv4 or IPv6 (ARP, LLDP...): not an error, skipped.
    #[error("not an IP packet (type 0x{0:04x})")]
    NotIp(u32),
    /// The capture's link type is not one this decoder knows.
    #[error("unsupported link type {0:?}")]
    UnsupportedLinkType(DataLink),
}

impl From<LenError> for NetError {
    fn from(e: LenError) -> Self {
        NetError::Truncated(e.layer.to_string())
    }
}

impl From<ip::LaxHeaderSliceError> for NetError {
    fn from(e: ip::LaxHeaderSliceError) -> Self {
        match e {
            ip::LaxHeaderSliceError::Len(l) => l.into(),
            ip::LaxHeaderSliceError::Content(c) => NetError::Invalid(c.to_string()),
        }
    }
}

impl From<ipv6_exts::HeaderSliceError> for NetError {
    fn from(e: ipv6_exts::HeaderSliceError) -> Self {
        match e {
            ipv6_exts::HeaderSliceError::Len(l) => l.into(),
            ipv6_exts::HeaderSliceError::Content(c) => NetError::Invalid(c.to_string()),
        }
    }
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

/// Decodes a frame of link type `link` down to its transport payload.
pub fn parse(link: DataLink, frame: &[u8]) -> Result<Datagram<'_>, NetError> {
    let truncated = |what: &str| NetError::Truncated(format!("{what} header"));
    let (ether_type, ip) = match link {
        DataLink::ETHERNET => {
            let p = LaxSlicedPacket::from_ethernet(frame)?
                .ether_payload()
                .ok_or_else(|| truncated("Ethernet"))?;
            (Some(p.ether_type), p.payload)
        }
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => (None, frame),
        DataLink::LINUX_SLL => {
            let t = be16(frame, 14).ok_or_else(|| truncated("Linux cooked"))?;
            (Some(EtherType(t)), &frame[16..])
        }
        DataLink::LINUX_SLL2 => {
            let t = be16(frame, 0).ok_or_else(|| truncated("Linux cooked v2"))?;
            let rest = frame
                .get(20..)
                .ok_or_else(|| truncated("Linux cooked v2"))?;
            (Some(EtherType(t)), rest)
        }
        DataLink::NULL | DataLink::LOOP => {
            let family = frame.get(..4).ok_or_else(|| truncated("loopback"))?;
            // The family is in the capturing host's byte order (NULL) or big-endian (LOOP):
            // AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 depending on the OS.
            let le = u32::from_le_bytes(family.try_into().unwrap_or_default());
            let be = u32::from_be_bytes(family.try_into().unwrap_or_default());
            let t = match if le < 256 { le } else { be } {
                2 => EtherType::IPV4,
                10 | 24 | 28 | 30 => EtherType::IPV6,
                other => return Err(NetError::NotIp(other)),
            };
            (Some(t), &frame[4..])
        }
        other => return Err(NetError::UnsupportedLinkType(other)),
    };
    if let Some(t) = ether_type.filter(|t| !matches!(*t, EtherType::IPV4 | EtherType::IPV6)) {
        return Err(NetError::NotIp(u32::from(t.0)));
    }
    let (packet, ext_error) = LaxIpSlice::from_slice(ip)?;
    if let Some((e, _)) = ext_error {
        return Err(e.into());
    }
    let fragment = match &packet {
        LaxIpSlice::Ipv4(v4) if ether_type != Some(EtherType::IPV6) => {
            let h = v4.header();
            h.is_fragmenting_payload().then(|| Fragment {
                id: u32::from(h.identification()),
                offset: u32::from(h.fragments_offset().byte_offset()),
                more: h.more_fragments(),
            })
        }
        LaxIpSlice::Ipv6(v6) if ether_type != Some(EtherType::IPV4) => v6
            .extensions()
            .clone()
            .into_iter()
            .find_map(|ext| match ext {
                Ipv6ExtensionSlice::Fragment(f) if f.is_fragmenting_payload() => Some(Fragment {
                    id: f.identification(),
                    offset: u32::from(f.fragment_offset().byte_offset()),
                    more: f.more_fragments(),
                }),
                _ => None,
            }),
        _ => return Err(NetError::Malformed("IP version".into())),
    };
    let payload = packet.payload();
    let protocol = payload.ip_number.0;
    let transport = match fragment {
        Some(f) if f.offset != 0 => Transport::Other(protocol),
        _ => parse_transport(protocol, payload.payload, fragment.is_some())?,
    };
    Ok(Datagram {
        src: packet.source_addr(),
        dst: packet.destination_addr(),
        fragment,
        protocol,
        payload: payload.payload,
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
            let header = UdpHeaderSlice::from_slice(payload)?;
            let len = usize::from(header.length());
            if len < 8 {
                return Err(NetError::Malformed("UDP length".into()));
            }
            let data = match payload.get(8..len) {
                Some(d) => d,
                None if partial => &payload[8..],
                None => return Err(NetError::Truncated("UDP payload".into())),
            };
            Transport::Udp {
                src_port: header.source_port(),
                dst_port: header.destination_port(),
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
    use std::net::Ipv6Addr;

    /// The error text of a frame that does not decode.
    fn error(link: DataLink, frame: &[u8]) -> String {
        parse(link, frame).unwrap_err().to_string()
    }

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
            (DataLink::ETHERNET, eth),
            (DataLink::RAW, ip.clone()),
            (DataLink::IPV4, ip.clone()),
            (DataLink::LINUX_SLL, sll),
            (DataLink::LINUX_SLL2, sll2),
            (DataLink::NULL, null),
            (DataLink::LOOP, lo),
        ] {
            let d = parse(link, &frame).unwrap();
            assert_eq!(d.src, IpAddr::from([192, 0, 2, 1]), "{link:?}");
            assert_eq!(udp_of(&d), (500, 500, b"ike".to_vec()), "{link:?}");
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
        let d = parse(DataLink::RAW, &p).unwrap();
        assert_eq!(d.dst, "2001:db8::2".parse::<IpAddr>().unwrap());
        assert_eq!(udp_of(&d), (4500, 4500, vec![0xff, 0xee]));
        // A fragment header with the M flag: first fragment, UDP still visible.
        let p = ipv6_with(44, &[PROTO_UDP, 0, 0, 1, 0, 0, 0, 9], &udp);
        let d = parse(DataLink::IPV6, &p).unwrap();
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
        assert_eq!(error(DataLink::RAW, &p), "truncated IPv6 extension header");
    }

    #[test]
    fn damaged_and_foreign_frames_are_errors() {
        let ip = ipv4_udp(500, 500, b"ike");
        assert_eq!(error(DataLink::RAW, &[]), "truncated IP header");
        assert_eq!(error(DataLink::RAW, &ip[..10]), "truncated IPv4 header");
        assert_eq!(error(DataLink::RAW, &ip[..30]), "truncated UDP payload");
        let mut arp = vec![0; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 0]);
        assert_eq!(
            parse(DataLink::ETHERNET, &arp),
            Err(NetError::NotIp(0x0806))
        );
        assert_eq!(
            parse(DataLink::Unknown(147), &ip),
            Err(NetError::UnsupportedLinkType(DataLink::Unknown(147)))
        );
        let mut bad = ip.clone();
        bad[0] = 0x44;
        assert_eq!(
            error(DataLink::RAW, &bad),
            "IPv4 Header Error: The 'internet header length' value '4' present in the IPv4 \
             header is smaller than the minimum size of an IPv4 header. The minimum allowed value \
             is '5'."
        );
        // Every prefix of a frame decodes or fails cleanly.
        for n in 0..ip.len() {
            let _ = parse(DataLink::RAW, &ip[..n]);
        }
    }

    #[test]
    fn ipv4_fragments_and_esp() {
        let mut frag = ipv4_udp(4500, 4500, &[0; 16]);
        frag[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        frag[6] = 0x20; // MF
        let d = parse(DataLink::RAW, &frag).unwrap();
        assert_eq!(
            d.fragment,
            Some(Fragment {
                id: 0x1234,
                offset: 0,
                more: true
            })
        );
        frag[6..8].copy_from_slice(&185u16.to_be_bytes());
        let d = parse(DataLink::RAW, &frag).unwrap();
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
        let d = parse(DataLink::RAW, &esp).unwrap();
        assert_eq!(d.transport, Transport::Esp(&[0, 0, 0, 1, 0, 0, 0, 2]));
    }
}
