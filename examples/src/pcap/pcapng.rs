//! pcapng: a sequence of blocks, each `type u32 | total length u32 | body | total length u32`,
//! grouped in sections that each start with a Section Header Block fixing their byte order.
//!
//! ```text
//! SHB (0x0A0D0D0A): byte-order magic 0x1A2B3C4D | major u16 | minor u16 | section length i64 | options
//! IDB (1):          link type u16 | reserved u16 | snaplen u32 | options (if_tsresol = code 9)
//! EPB (6):          interface u32 | ts high u32 | ts low u32 | captured len u32 | original len u32 |
//!                   data (padded to 4) | options
//! SPB (3):          original len u32 | data (captured length implied by block length and snaplen)
//! PB  (2, obsolete): interface u16 | drops u16 | ts high u32 | ts low u32 | captured len u32 |
//!                   original len u32 | data
//! ```
//!
//! Other block types (name resolution, statistics, custom) are skipped.

use super::{Capture, CaptureError, Endian, Format, Frame, LinkType, RecordError};

/// The Section Header Block type, the same in both byte orders.
pub(super) const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
/// Interfaces a section may declare; a bound on the work a hostile file can cause.
const MAX_INTERFACES: usize = 1024;

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    /// The `if_tsresol` option: bit 7 clear = 10^-n seconds, set = 2^-n seconds.
    tsresol: u8,
}

/// The byte order announced by the byte-order magic of the SHB at `at`.
fn section_endian(bytes: &[u8], at: usize) -> Option<Endian> {
    match bytes.get(at + 8..at + 12)? {
        [0x4d, 0x3c, 0x2b, 0x1a] => Some(Endian::Little),
        [0x1a, 0x2b, 0x3c, 0x4d] => Some(Endian::Big),
        _ => None,
    }
}

pub(super) fn read(bytes: &[u8]) -> Result<Capture<'_>, CaptureError> {
    let mut e = section_endian(bytes, 0).ok_or(if bytes.len() < 12 {
        CaptureError::TooShort(bytes.len())
    } else {
        CaptureError::BadSectionHeader("bad byte-order magic")
    })?;
    match e.u32(bytes, 4) {
        Some(len) if len >= 28 && len.is_multiple_of(4) && len as usize <= bytes.len() => {}
        _ => return Err(CaptureError::BadSectionHeader("bad block length")),
    }
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = bytes.len() - at;
        if bytes.get(at..at + 4) == Some(&SHB_MAGIC[..]) {
            match section_endian(bytes, at) {
                Some(new) => e = new,
                None => {
                    records.push(Err(RecordError::BadBlock {
                        offset: at,
                        reason: "section header with bad byte-order magic",
                    }));
                    break;
                }
            }
            interfaces.clear();
        }
        let (Some(kind), Some(total)) = (e.u32(bytes, at), e.u32(bytes, at + 4)) else {
            records.push(Err(RecordError::Truncated {
                offset: at,
                needed: 12,
                available: rest,
            }));
            break;
        };
        let total = total as usize;
        if total < 12 || !total.is_multiple_of(4) {
            records.push(Err(RecordError::BadBlock {
                offset: at,
                reason: "block length not a multiple of 4 or below 12",
            }));
            break;
        }
        if total > rest {
            records.push(Err(RecordError::Truncated {
                offset: at,
                needed: total,
                available: rest,
            }));
            break;
        }
        if e.u32(bytes, at + total - 4) != Some(total as u32) {
            records.push(Err(RecordError::BadBlock {
                offset: at,
                reason: "trailing block length differs from the leading one",
            }));
            break;
        }
        let body = &bytes[at + 8..at + total - 4];
        match kind {
            IDB => match interface(e, body) {
                Some(i) if interfaces.len() < MAX_INTERFACES => interfaces.push(i),
                Some(_) => {
                    records.push(Err(RecordError::BadBlock {
                        offset: at,
                        reason: "too many interfaces",
                    }));
                    break;
                }
                None => {
                    records.push(Err(RecordError::BadBlock {
                        offset: at,
                        reason: "interface description too short",
                    }));
                    break;
                }
            },
            EPB | PB | SPB => {
                let record = packet(e, kind, body, &interfaces, at);
                let fatal = matches!(&record, Err(err) if err.is_fatal());
                records.push(record);
                if fatal {
                    break;
                }
            }
            _ => {}
        }
        at += total;
    }
    Ok(Capture {
        format: Format::PcapNg,
        records,
    })
}

fn interface(e: Endian, body: &[u8]) -> Option<Interface> {
    let link_type = LinkType(e.u16(body, 0)?);
    let snaplen = e.u32(body, 4)?;
    let mut tsresol = 6;
    let mut at = 8;
    while let (Some(code), Some(len)) = (e.u16(body, at), e.u16(body, at + 2)) {
        if code == OPT_END {
            break;
        }
        let value = body.get(at + 4..at + 4 + usize::from(len));
        if code == OPT_IF_TSRESOL {
            if let Some(&[r]) = value {
                tsresol = r;
            }
        }
        at += 4 + usize::from(len).div_ceil(4) * 4;
    }
    Some(Interface {
        link_type,
        snaplen,
        tsresol,
    })
}

fn packet<'a>(
    e: Endian,
    kind: u32,
    body: &'a [u8],
    interfaces: &[Interface],
    offset: usize,
) -> Result<Frame<'a>, RecordError> {
    let short = RecordError::BadBlock {
        offset,
        reason: "packet block too short for its captured length",
    };
    let (iface, ts, data, original_len) = match kind {
        SPB => {
            let orig = e.u32(body, 0).ok_or(short.clone())?;
            let room = body.len() - 4;
            let snap = match interfaces.first().map(|i| i.snaplen) {
                Some(0) | None => usize::MAX,
                Some(s) => s as usize,
            };
            let caplen = (orig as usize).min(room).min(snap);
            (0, None, &body[4..4 + caplen], orig)
        }
        _ => {
            let iface = if kind == EPB {
                e.u32(body, 0)
            } else {
                e.u16(body, 0).map(u32::from)
            };
            let fields = (iface, e.u32(body, 4), e.u32(body, 8), e.u32(body, 12));
            let (Some(iface), Some(hi), Some(lo), Some(caplen)) = fields else {
                return Err(short);
            };
            let orig = e.u32(body, 16).ok_or(short.clone())?;
            let data = body.get(20..20 + caplen as usize).ok_or(short)?;
            let ts = (u64::from(hi) << 32) | u64::from(lo);
            (iface, Some(ts), data, orig)
        }
    };
    let i = interfaces
        .get(iface as usize)
        .ok_or(RecordError::UnknownInterface {
            offset,
            interface: iface,
        })?;
    Ok(Frame {
        link_type: i.link_type,
        timestamp_ns: ts.map_or(0, |t| to_nanos(t, i.tsresol)),
        data,
        original_len,
    })
}

/// Converts a timestamp in `if_tsresol` units to nanoseconds, saturating.
fn to_nanos(ts: u64, tsresol: u8) -> u64 {
    let ts = u128::from(ts);
    let exp = u32::from(tsresol & 0x7f);
    let ns = if tsresol & 0x80 != 0 {
        // 2^-n seconds per unit.
        if exp >= 127 {
            0
        } else {
            ts.saturating_mul(1_000_000_000) >> exp
        }
    } else if exp <= 9 {
        ts.saturating_mul(10u128.pow(9 - exp))
    } else {
        10u128.checked_pow(exp - 9).map_or(0, |d| ts / d)
    };
    u64::try_from(ns).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::{read as read_capture, write::PcapngWriter};
    use super::*;

    #[test]
    fn reads_enhanced_packets_in_both_byte_orders() {
        for big in [false, true] {
            let mut w = PcapngWriter::new(big);
            w.interface(LinkType::ETHERNET, Some(9));
            w.interface(LinkType::RAW, None);
            w.enhanced(0, 1_234_567_890_123, &[9, 8, 7, 6, 5]);
            w.enhanced(1, 42, &[1]);
            let file = w.finish();
            let cap = read_capture(&file).unwrap();
            assert_eq!(cap.format, Format::PcapNg);
            let f0 = cap.records[0].as_ref().unwrap();
            assert_eq!(f0.link_type, LinkType::ETHERNET);
            assert_eq!(f0.data, &[9, 8, 7, 6, 5]);
            assert_eq!(f0.timestamp_ns, 1_234_567_890_123);
            let f1 = cap.records[1].as_ref().unwrap();
            assert_eq!(f1.link_type, LinkType::RAW);
            assert_eq!(f1.timestamp_ns, 42_000);
        }
    }

    #[test]
    fn reads_simple_and_obsolete_packet_blocks() {
        let mut w = PcapngWriter::new(false);
        w.interface(LinkType::LINUX_SLL, None);
        w.simple(&[1, 2, 3]);
        w.block(PB, &{
            let mut b = Vec::new();
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&7u32.to_le_bytes());
            b.extend_from_slice(&2u32.to_le_bytes());
            b.extend_from_slice(&2u32.to_le_bytes());
            b.extend_from_slice(&[0xaa, 0xbb, 0, 0]);
            b
        });
        let file = w.finish();
        let cap = read_capture(&file).unwrap();
        let f = cap.records[0].as_ref().unwrap();
        assert_eq!((f.data, f.original_len), (&[1u8, 2, 3][..], 3));
        let f = cap.records[1].as_ref().unwrap();
        assert_eq!((f.data, f.timestamp_ns), (&[0xaau8, 0xbb][..], 7_000));
    }

    #[test]
    fn a_new_section_resets_interfaces_and_byte_order() {
        let mut w = PcapngWriter::new(false);
        w.interface(LinkType::RAW, None);
        w.enhanced(0, 0, &[1]);
        let mut file = w.finish();
        let mut w = PcapngWriter::new(true);
        w.enhanced(0, 0, &[2]);
        w.interface(LinkType::ETHERNET, None);
        w.enhanced(0, 0, &[3]);
        file.extend(w.finish());
        let cap = read_capture(&file).unwrap();
        assert_eq!(cap.records.len(), 3);
        assert!(cap.records[0].is_ok());
        assert!(matches!(
            cap.records[1],
            Err(RecordError::UnknownInterface { interface: 0, .. })
        ));
        let f = cap.records[2].as_ref().unwrap();
        assert_eq!((f.link_type, f.data), (LinkType::ETHERNET, &[3u8][..]));
    }

    #[test]
    fn damaged_blocks_stop_reading_with_a_reason() {
        let mut w = PcapngWriter::new(false);
        w.interface(LinkType::RAW, None);
        w.enhanced(0, 0, &[1, 2, 3, 4]);
        w.enhanced(0, 0, &[5, 6, 7, 8]);
        let file = w.finish();
        let cap = read_capture(&file[..file.len() - 3]).unwrap();
        assert!(cap.records[0].is_ok());
        assert!(matches!(cap.records[1], Err(RecordError::Truncated { .. })));
        let mut bad = file.clone();
        let last = bad.len() - 4;
        bad[last] ^= 0xff;
        let cap = read_capture(&bad).unwrap();
        assert!(matches!(cap.records[1], Err(RecordError::BadBlock { .. })));
        // A captured length beyond the block.
        let mut bad = file;
        let second = bad.len() - 36;
        bad[second + 20] = 200;
        let cap = read_capture(&bad).unwrap();
        assert!(matches!(cap.records[1], Err(RecordError::BadBlock { .. })));
    }

    #[test]
    fn bad_section_header_is_not_a_capture() {
        let mut file = PcapngWriter::new(false).finish();
        file[8] = 0;
        assert!(matches!(
            read_capture(&file),
            Err(CaptureError::BadSectionHeader(_))
        ));
    }

    #[test]
    fn timestamp_resolutions() {
        assert_eq!(to_nanos(5, 6), 5_000);
        assert_eq!(to_nanos(5, 9), 5);
        assert_eq!(to_nanos(5_000, 12), 5);
        assert_eq!(to_nanos(1 << 10, 0x80 | 10), 1_000_000_000);
        assert_eq!(to_nanos(u64::MAX, 0), u64::MAX);
        assert_eq!(to_nanos(u64::MAX, 0xff), 0);
        assert_eq!(to_nanos(1, 127), 0);
    }
}
