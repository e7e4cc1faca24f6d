//! Classic pcap: a 24-byte file header, then records of a 16-byte header and the frame bytes.
//!
//! ```text
//! file header: magic u32 | version major u16 | minor u16 | thiszone i32 | sigfigs u32 |
//!              snaplen u32 | link type u32 (low 16 bits; the upper bits carry FCS flags)
//! record:      ts_sec u32 | ts_frac u32 (micro- or nanoseconds) | incl_len u32 | orig_len u32 |
//!              incl_len bytes
//! ```
//!
//! The magic number, read in either byte order, gives the file's byte order and timestamp unit.

use super::{Capture, CaptureError, Endian, Format, Frame, LinkType, RecordError};

const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// The byte order and format a classic pcap magic number announces.
pub(super) fn magic(m: [u8; 4]) -> Option<(Endian, Format)> {
    match m {
        [0xd4, 0xc3, 0xb2, 0xa1] => Some((Endian::Little, Format::PcapMicro)),
        [0xa1, 0xb2, 0xc3, 0xd4] => Some((Endian::Big, Format::PcapMicro)),
        [0x4d, 0x3c, 0xb2, 0xa1] => Some((Endian::Little, Format::PcapNano)),
        [0xa1, 0xb2, 0x3c, 0x4d] => Some((Endian::Big, Format::PcapNano)),
        _ => None,
    }
}

pub(super) fn read(bytes: &[u8], e: Endian, format: Format) -> Result<Capture<'_>, CaptureError> {
    if bytes.len() < FILE_HEADER_LEN {
        return Err(CaptureError::TooShort(bytes.len()));
    }
    let network = e
        .u32(bytes, 20)
        .ok_or(CaptureError::TooShort(bytes.len()))?;
    // Bits 16-31 carry the FCS length and flags (pcap-savefile(5)), not the link type.
    let link_type = LinkType((network & 0xffff) as u16);
    let frac_to_ns: u64 = if format == Format::PcapNano { 1 } else { 1000 };
    let mut records = Vec::new();
    let mut at = FILE_HEADER_LEN;
    while at < bytes.len() {
        let rest = bytes.len() - at;
        let header = (
            e.u32(bytes, at),
            e.u32(bytes, at + 4),
            e.u32(bytes, at + 8),
            e.u32(bytes, at + 12),
        );
        let (Some(sec), Some(frac), Some(incl), Some(orig)) = header else {
            records.push(Err(RecordError::Truncated {
                offset: at,
                needed: RECORD_HEADER_LEN,
                available: rest,
            }));
            break;
        };
        let start = at + RECORD_HEADER_LEN;
        let needed = RECORD_HEADER_LEN.saturating_add(incl as usize);
        let Some(data) = start
            .checked_add(incl as usize)
            .and_then(|end| bytes.get(start..end))
        else {
            records.push(Err(RecordError::Truncated {
                offset: at,
                needed,
                available: rest,
            }));
            break;
        };
        let timestamp_ns = u64::from(sec)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(frac).saturating_mul(frac_to_ns));
        records.push(Ok(Frame {
            link_type,
            timestamp_ns,
            data,
            original_len: orig,
        }));
        at = start + data.len();
    }
    Ok(Capture { format, records })
}

#[cfg(test)]
mod tests {
    use super::super::{read as read_capture, write};
    use super::*;

    fn frames() -> Vec<(u64, Vec<u8>)> {
        vec![
            (1_500_000_123_000, vec![1, 2, 3]),
            (1_500_000_124_000, vec![]),
        ]
    }

    #[test]
    fn reads_both_byte_orders_and_units() {
        for big in [false, true] {
            for nano in [false, true] {
                let file = write::pcap(LinkType::RAW, big, nano, &frames());
                let cap = read_capture(&file).unwrap();
                let want = if nano {
                    Format::PcapNano
                } else {
                    Format::PcapMicro
                };
                assert_eq!(cap.format, want);
                assert_eq!(cap.records.len(), 2);
                let f = cap.records[0].as_ref().unwrap();
                assert_eq!(f.link_type, LinkType::RAW);
                assert_eq!(f.data, &[1, 2, 3]);
                assert_eq!(f.original_len, 3);
                assert_eq!(f.timestamp_ns, 1_500_000_123_000);
            }
        }
    }

    #[test]
    fn truncated_record_is_reported_after_the_good_ones() {
        let mut file = write::pcap(LinkType::ETHERNET, false, false, &frames());
        file.truncate(file.len() - 1);
        // The last (empty) record lost a byte of its header.
        let cap = read_capture(&file).unwrap();
        assert!(cap.records[0].is_ok());
        assert!(matches!(
            cap.records[1],
            Err(RecordError::Truncated {
                needed: 16,
                available: 15,
                ..
            })
        ));
        let mut file = write::pcap(LinkType::ETHERNET, false, false, &frames()[..1]);
        file.truncate(file.len() - 2);
        let cap = read_capture(&file).unwrap();
        assert_eq!(
            cap.records,
            vec![Err(RecordError::Truncated {
                offset: 24,
                needed: 19,
                available: 17
            })]
        );
    }

    #[test]
    fn huge_record_length_does_not_overflow() {
        let mut file = write::pcap(LinkType::ETHERNET, false, false, &frames()[..1]);
        file[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        let cap = read_capture(&file).unwrap();
        assert!(matches!(cap.records[0], Err(RecordError::Truncated { .. })));
    }

    #[test]
    fn header_only_file_has_no_records() {
        let file = write::pcap(LinkType::ETHERNET, false, false, &[]);
        assert_eq!(read_capture(&file).unwrap().records, vec![]);
        assert_eq!(read_capture(&file[..20]), Err(CaptureError::TooShort(20)));
    }
}
