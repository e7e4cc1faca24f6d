//! The Traffic Selector payloads, TSi and TSr (RFC 7296 section 3.13).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Number of TSs |                 RESERVED                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                       <Traffic Selectors>                     ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Each selector (section 3.13.1):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   TS Type     |IP Protocol ID*|       Selector Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Start Port*         |           End Port*           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                         Starting Address*                     ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                         Ending Address*                       ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, byte, len16, len8, slice, Error, Limits, TsType};
use ipsec_core::selector::TrafficSelector;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One selector of a TS payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TsEntry {
    /// TS_IPV4_ADDR_RANGE or TS_IPV6_ADDR_RANGE, by the family of its addresses. Both addresses
    /// must be of the same family to be emitted. The wire does not require `start <= end`; the
    /// negotiation rejects an empty range.
    Ip(TrafficSelector),
    /// Any other selector type (Fibre Channel, security label), kept verbatim.
    Other {
        /// The selector type.
        ts_type: TsType,
        /// The bytes after the 4-byte type/protocol/length prefix, with the second byte (the
        /// protocol field of IP selectors) first.
        body: Vec<u8>,
    },
}

/// A TSi or TSr body: the selectors in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficSelectors {
    /// The selectors.
    pub selectors: Vec<TsEntry>,
}

impl TrafficSelectors {
    /// A TS body from IP selectors.
    pub fn from_selectors(ts: &[TrafficSelector]) -> Self {
        TrafficSelectors {
            selectors: ts.iter().copied().map(TsEntry::Ip).collect(),
        }
    }

    /// The IP selectors, skipping other types.
    pub fn ip_selectors(&self) -> Vec<TrafficSelector> {
        self.selectors
            .iter()
            .filter_map(|e| match e {
                TsEntry::Ip(ts) => Some(*ts),
                TsEntry::Other { .. } => None,
            })
            .collect()
    }

    /// Decodes a TS body; the selectors must fill it exactly.
    pub fn parse(b: &[u8], limits: &Limits) -> Result<Self, Error> {
        let count = usize::from(byte(b, 0)?);
        if count > limits.max_entries {
            return Err(Error::LimitExceeded("traffic selectors"));
        }
        if b.len() < 4 {
            return Err(Error::Truncated);
        }
        let mut selectors = Vec::with_capacity(count);
        let mut at = 4;
        for _ in 0..count {
            let ts_type = TsType(byte(b, at)?);
            let len = usize::from(be16(b, at + 2)?);
            if len < 4 {
                return Err(Error::BadLength("traffic selector length"));
            }
            let sel = slice(b, at, len)?;
            selectors.push(parse_entry(ts_type, sel)?);
            at += len;
        }
        if at != b.len() {
            return Err(Error::BadLength("data after the last traffic selector"));
        }
        Ok(TrafficSelectors { selectors })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        4 + self.selectors.iter().map(entry_len).sum::<usize>()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[
            len8(self.selectors.len(), "traffic selector count")?,
            0,
            0,
            0,
        ]);
        for e in &self.selectors {
            let len = len16(entry_len(e), "traffic selector")?;
            match e {
                TsEntry::Ip(ts) => {
                    let ty = match (ts.start_addr, ts.end_addr) {
                        (IpAddr::V4(_), IpAddr::V4(_)) => TsType::TS_IPV4_ADDR_RANGE,
                        (IpAddr::V6(_), IpAddr::V6(_)) => TsType::TS_IPV6_ADDR_RANGE,
                        _ => return Err(Error::Unrepresentable("selector with mixed families")),
                    };
                    out.extend_from_slice(&[ty.0, ts.protocol]);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&ts.start_port.to_be_bytes());
                    out.extend_from_slice(&ts.end_port.to_be_bytes());
                    push_addr(out, ts.start_addr);
                    push_addr(out, ts.end_addr);
                }
                TsEntry::Other { ts_type, body } => {
                    // The second byte of the selector is the first byte of `body`.
                    let (first, tail) = body.split_first().ok_or(Error::Unrepresentable(
                        "selector body shorter than one byte",
                    ))?;
                    out.extend_from_slice(&[ts_type.0, *first]);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(tail);
                }
            }
        }
        Ok(())
    }
}

fn push_addr(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
}

fn entry_len(e: &TsEntry) -> usize {
    match e {
        TsEntry::Ip(ts) if ts.start_addr.is_ipv4() => 16,
        TsEntry::Ip(_) => 40,
        // Type, length (3 bytes) plus the body, which starts at the second byte.
        TsEntry::Other { body, .. } => 3 + body.len(),
    }
}

fn parse_entry(ts_type: TsType, sel: &[u8]) -> Result<TsEntry, Error> {
    let addr_len = match ts_type {
        TsType::TS_IPV4_ADDR_RANGE => 4,
        TsType::TS_IPV6_ADDR_RANGE => 16,
        _ => {
            let mut body = vec![byte(sel, 1)?];
            body.extend_from_slice(slice(sel, 4, sel.len().saturating_sub(4))?);
            return Ok(TsEntry::Other { ts_type, body });
        }
    };
    if sel.len() != 8 + 2 * addr_len {
        return Err(Error::BadLength("IP traffic selector length"));
    }
    let addr = |at: usize| -> Result<IpAddr, Error> {
        let a = slice(sel, at, addr_len)?;
        Ok(match <[u8; 4]>::try_from(a) {
            Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            Err(_) => {
                let v6 = <[u8; 16]>::try_from(a).map_err(|_| Error::Truncated)?;
                IpAddr::V6(Ipv6Addr::from(v6))
            }
        })
    };
    Ok(TsEntry::Ip(TrafficSelector {
        protocol: byte(sel, 1)?,
        start_port: be16(sel, 4)?,
        end_port: be16(sel, 6)?,
        start_addr: addr(8)?,
        end_addr: addr(8 + addr_len)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    // TSi 10.1.0.0/24, any protocol, any port, as strongSwan sends it.
    const TS: [u8; 20] = [
        1, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 1, 0, 0, 10, 1, 0, 255,
    ];

    #[test]
    fn parse_emit_fixture() {
        let ts = TrafficSelectors::parse(&TS, &Limits::default()).unwrap();
        let want = TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: "10.1.0.0".parse().unwrap(),
            end_addr: "10.1.0.255".parse().unwrap(),
        };
        assert_eq!(ts.ip_selectors(), vec![want]);
        assert_eq!(TrafficSelectors::from_selectors(&[want]), ts);
        let mut out = vec![0xee; 3];
        ts.emit(&mut out).unwrap();
        assert_eq!(&out[3..], &TS[..]);
        assert_eq!(ts.buffer_len(), TS.len());
    }

    #[test]
    fn bad_selectors_rejected() {
        let l = Limits::default();
        for n in 0..TS.len() {
            assert!(TrafficSelectors::parse(&TS[..n], &l).is_err(), "{n}");
        }
        let mut two = TS;
        two[0] = 2;
        assert_eq!(TrafficSelectors::parse(&two, &l), Err(Error::Truncated));
        let mut zero_len = TS;
        zero_len[7] = 0;
        assert!(TrafficSelectors::parse(&zero_len, &l).is_err());
        let other = [1, 0, 0, 0, 10, 6, 0, 6, 0xab, 0xcd];
        let ts = TrafficSelectors::parse(&other, &l).unwrap();
        let mut out = Vec::new();
        ts.emit(&mut out).unwrap();
        assert_eq!(out, other);
    }
}
