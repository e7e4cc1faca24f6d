//! Inner IPv4 packets for the demo: ICMP echo and UDP datagrams, and the hosts that answer them.
//!
//! The hosts behind each firewall are simulated by [`answer`]: an echo request gets its echo
//! reply, a UDP datagram an answer from the port it was sent to, as a real host would send them.

use esp::ip::checksum;
use std::net::Ipv4Addr;

/// IP protocol numbers used here.
pub(crate) const ICMP: u8 = 1;
pub(crate) const UDP: u8 = 17;

const IPV4_HEADER: usize = 20;

/// An IPv4 packet (no options, TTL 64) around `payload`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, ident: u16, payload: &[u8]) -> Vec<u8> {
    let total = IPV4_HEADER + payload.len();
    let mut p = vec![0u8; IPV4_HEADER];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total.min(usize::from(u16::MAX)) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = protocol;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&[&p]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An ICMP echo request (`reply == false`) or reply.
pub(crate) fn icmp_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    reply: bool,
    id: u16,
    seq: u16,
    data: &[u8],
) -> Vec<u8> {
    let mut icmp = vec![if reply { 0 } else { 8 }, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let c = checksum(&[&icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, ICMP, seq, &icmp)
}

/// A UDP datagram with its checksum over the IPv4 pseudo-header (RFC 768).
pub(crate) fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = (8 + data.len()).min(usize::from(u16::MAX)) as u16;
    let mut u = Vec::with_capacity(usize::from(len));
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(data);
    let pseudo = pseudo_header(src, dst, UDP, len);
    let c = match checksum(&[&pseudo, &u]) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, UDP, sport, &u)
}

fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = protocol;
    p[10..12].copy_from_slice(&len.to_be_bytes());
    p
}

/// The fields of an IPv4 packet the demo looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed<'a> {
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
    pub(crate) protocol: u8,
    pub(crate) payload: &'a [u8],
}

/// Parses an IPv4 packet whose header checksum and total length are right.
pub(crate) fn parse(p: &[u8]) -> Option<Parsed<'_>> {
    let first = *p.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < IPV4_HEADER || checksum(&[p.get(..ihl)?]) != 0 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*p.get(2)?, *p.get(3)?]));
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b: [u8; 4] = p.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    Some(Parsed {
        src: addr(12)?,
        dst: addr(16)?,
        protocol: *p.get(9)?,
        payload: p.get(ihl..total)?,
    })
}

/// A short description: `ICMP echo request 10.1.0.5 -> 10.2.0.7 id 1 seq 1`.
pub(crate) fn describe(p: &[u8]) -> String {
    let Some(ip) = parse(p) else {
        return format!("{} bytes, not IPv4", p.len());
    };
    let pl = ip.payload;
    let be16 = |at: usize| {
        pl.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .unwrap_or(0)
    };
    match (ip.protocol, pl.first()) {
        (ICMP, Some(8)) => format!(
            "ICMP echo request {} -> {} id {} seq {}",
            ip.src,
            ip.dst,
            be16(4),
            be16(6)
        ),
        (ICMP, Some(0)) => format!(
            "ICMP echo reply   {} -> {} id {} seq {}",
            ip.src,
            ip.dst,
            be16(4),
            be16(6)
        ),
        (UDP, _) => format!(
            "UDP {}:{} -> {}:{} ({} bytes of data)",
            ip.src,
            be16(0),
            ip.dst,
            be16(2),
            pl.len().saturating_sub(8)
        ),
        (proto, _) => format!("IP protocol {proto} {} -> {}", ip.src, ip.dst),
    }
}

/// What the host `p` is addressed to sends back: the echo reply to an echo request, an answer
/// from the destination port to a UDP datagram whose checksum is right; `None` otherwise.
pub(crate) fn answer(p: &[u8]) -> Option<Vec<u8>> {
    let ip = parse(p)?;
    let pl = ip.payload;
    match ip.protocol {
        ICMP if pl.first() == Some(&8) && checksum(&[pl]) == 0 => {
            let id = u16::from_be_bytes([*pl.get(4)?, *pl.get(5)?]);
            let seq = u16::from_be_bytes([*pl.get(6)?, *pl.get(7)?]);
            Some(icmp_echo(ip.dst, ip.src, true, id, seq, pl.get(8..)?))
        }
        UDP => {
            let len = u16::try_from(pl.len()).ok()?;
            let pseudo = pseudo_header(ip.src, ip.dst, UDP, len);
            if checksum(&[&pseudo, pl]) != 0 {
                return None;
            }
            let sport = u16::from_be_bytes([*pl.first()?, *pl.get(1)?]);
            let dport = u16::from_be_bytes([*pl.get(2)?, *pl.get(3)?]);
            let mut data = b"re: ".to_vec();
            data.extend_from_slice(pl.get(8..)?);
            Some(udp(ip.dst, ip.src, dport, sport, &data))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
    const B: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 7);

    #[test]
    fn echo_request_is_answered_by_the_matching_reply() {
        let req = icmp_echo(A, B, false, 7, 3, b"ping");
        let ip = parse(&req).unwrap();
        assert_eq!((ip.src, ip.dst, ip.protocol), (A, B, ICMP));
        let reply = answer(&req).unwrap();
        assert_eq!(reply, icmp_echo(B, A, true, 7, 3, b"ping"));
        assert_eq!(answer(&reply), None, "a reply is not answered");
        assert!(describe(&reply).starts_with("ICMP echo reply"));
    }

    #[test]
    fn udp_is_answered_from_the_destination_port_and_checked() {
        let q = udp(A, B, 40000, 53, b"query");
        let r = answer(&q).unwrap();
        assert_eq!(r, udp(B, A, 53, 40000, b"re: query"));
        let mut bad = q.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(answer(&bad), None, "bad UDP checksum");
    }

    #[test]
    fn truncated_or_corrupt_packets_do_not_parse() {
        let p = icmp_echo(A, B, false, 1, 1, b"x");
        for n in 0..p.len() {
            assert_eq!(parse(&p[..n]), None, "truncated to {n}");
        }
        let mut bad = p.clone();
        bad[15] ^= 1;
        assert_eq!(parse(&bad), None, "header checksum");
        assert_eq!(answer(&[]), None);
    }
}
