//! Capture files, classic pcap and pcapng, read with the `pcap-file` crate.
//!
//! The whole file is in memory and every [`Frame`] borrows from it. A file whose header is not a
//! capture header is a [`CaptureError`]; after that, every record is either a frame or a
//! [`RecordError`] saying why it could not be read, so a damaged file still yields every frame
//! before the damage. Reading never panics on any input.
//!
//! - classic pcap: both byte orders, microsecond and nanosecond timestamps. Records are read raw,
//!   so a record the header disallows (a timestamp fraction past one second, a length beyond the
//!   snap length) is still shown; a record cut short ends the file.
//! - pcapng: several sections with their own byte order, per-interface link types and timestamp
//!   resolutions (`if_tsresol`, `if_tsoffset`); Enhanced, Simple and the obsolete Packet blocks.
//!   Other blocks are skipped. A packet block whose content is damaged is reported and the blocks
//!   after it are still read (its length fields put the next block in a known place); a block
//!   whose lengths are damaged ends the file.

pub mod write;

use core::fmt;
use pcap_file::pcap::{PcapParseError, PcapParser, PcapTsResolution};
use pcap_file::pcapng::blocks::{
    ENHANCED_PACKET_BLOCK, PACKET_BLOCK, SECTION_HEADER_BLOCK, SIMPLE_PACKET_BLOCK,
};
use pcap_file::pcapng::{
    Block, BlockContentParseError, BlockConversionError, ContentValidationError, PcapNgParseError,
    PcapNgParser,
};
pub use pcap_file::DataLink;
use std::borrow::Cow;

/// The container format of a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap with microsecond timestamps.
    PcapMicro,
    /// Classic pcap with nanosecond timestamps.
    PcapNano,
    /// pcapng.
    PcapNg,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::PcapMicro => "pcap",
            Format::PcapNano => "pcap (nanosecond)",
            Format::PcapNg => "pcapng",
        })
    }
}

/// One captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The link-layer header type of `data`.
    pub link_type: DataLink,
    /// Capture time in nanoseconds since the Unix epoch (saturating; 0 when the format has none).
    pub timestamp_ns: u64,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
    /// The length of the frame on the wire.
    pub original_len: u32,
}

/// The file is not a capture this module can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The file is shorter than any capture header.
    #[error("file too short for a capture header ({0} bytes)")]
    TooShort(usize),
    /// The first bytes are no pcap or pcapng magic number.
    #[error("not a pcap or pcapng file (magic {0:02x?})")]
    BadMagic([u8; 4]),
    /// The first pcapng Section Header Block is malformed.
    #[error("malformed pcapng section header: {0}")]
    BadSectionHeader(String),
}

/// A record of the capture that could not be read. Reading stops after a record error whose
/// cause makes the rest of the file unreadable ([`RecordError::is_fatal`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record claims more bytes than the file has left.
    #[error("truncated record at offset {offset}: {}{available} left", needs(*.needed))]
    Truncated {
        /// Byte offset of the record in the file.
        offset: usize,
        /// Bytes the record needs, when the format says.
        needed: Option<usize>,
        /// Bytes left in the file.
        available: usize,
    },
    /// A pcapng block is malformed (lengths that disagree, content too short for its fields).
    #[error("malformed pcapng block at offset {offset}: {reason}")]
    BadBlock {
        /// Byte offset of the block in the file.
        offset: usize,
        /// What is wrong with it.
        reason: String,
        /// True when the block's own length cannot be trusted, so nothing after it can be read.
        fatal: bool,
    },
    /// A pcapng packet block names an interface that no Interface Description Block declared.
    #[error("packet block at offset {offset} names undeclared interface {interface}")]
    UnknownInterface {
        /// Byte offset of the block in the file.
        offset: usize,
        /// The interface ID it names.
        interface: u32,
    },
}

fn needs(needed: Option<usize>) -> String {
    needed.map_or_else(String::new, |n| format!("needs {n} bytes, "))
}

impl RecordError {
    /// True when nothing after this record can be trusted, so reading stops.
    pub fn is_fatal(&self) -> bool {
        match self {
            RecordError::Truncated { .. } => true,
            RecordError::BadBlock { fatal, .. } => *fatal,
            RecordError::UnknownInterface { .. } => false,
        }
    }
}

/// A capture file read into frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture<'a> {
    /// The container format.
    pub format: Format,
    /// Every record in file order: a frame, or why it could not be read.
    pub records: Vec<Result<Frame<'a>, RecordError>>,
}

/// Reads a classic pcap or pcapng capture held in memory.
pub fn read(bytes: &[u8]) -> Result<Capture<'_>, CaptureError> {
    let magic: [u8; 4] = bytes
        .get(..4)
        .and_then(|m| m.try_into().ok())
        .ok_or(CaptureError::TooShort(bytes.len()))?;
    // The Section Header Block type reads the same in both byte orders.
    if u32::from_be_bytes(magic) == SECTION_HEADER_BLOCK {
        pcapng(bytes)
    } else {
        classic(bytes, magic)
    }
}

fn classic(bytes: &[u8], magic: [u8; 4]) -> Result<Capture<'_>, CaptureError> {
    let (mut rest, parser) = PcapParser::new(bytes).map_err(|e| match e {
        PcapParseError::IncompleteBuffer(..) => CaptureError::TooShort(bytes.len()),
        PcapParseError::Validation(_) => CaptureError::BadMagic(magic),
    })?;
    let header = parser.header();
    // Bits 16-31 of the link type field carry the FCS length and flags (pcap-savefile(5)).
    let link_type = DataLink::from(u32::from(header.datalink) & 0xffff);
    let (format, frac_ns) = match header.ts_resolution {
        PcapTsResolution::MicroSecond => (Format::PcapMicro, 1000),
        PcapTsResolution::NanoSecond => (Format::PcapNano, 1),
    };
    let mut records = Vec::new();
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        match parser.next_raw_packet(rest) {
            Ok((next, raw)) => {
                let timestamp_ns = u64::from(raw.ts_sec)
                    .saturating_mul(1_000_000_000)
                    .saturating_add(u64::from(raw.ts_frac).saturating_mul(frac_ns));
                records.push(frame(
                    link_type,
                    timestamp_ns,
                    raw.data,
                    raw.orig_len,
                    offset,
                ));
                rest = next;
            }
            Err(PcapParseError::IncompleteBuffer(needed, got)) => {
                // `needed` counts from where the parser stopped: after the record header when
                // that was complete.
                let read = rest.len().saturating_sub(got);
                records.push(Err(RecordError::Truncated {
                    offset,
                    needed: Some(needed.saturating_add(read)),
                    available: rest.len(),
                }));
                break;
            }
            Err(e @ PcapParseError::Validation(_)) => {
                records.push(Err(bad_block(offset, &e, true)));
                break;
            }
        }
    }
    Ok(Capture { format, records })
}

fn pcapng(bytes: &[u8]) -> Result<Capture<'_>, CaptureError> {
    let (mut rest, mut parser) = PcapNgParser::new(bytes).map_err(|e| match e {
        PcapNgParseError::IncompleteBuffer(..) if bytes.len() < 12 => {
            CaptureError::TooShort(bytes.len())
        }
        e => CaptureError::BadSectionHeader(chain(&e)),
    })?;
    let mut records = Vec::new();
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        let raw = match parser.next_raw_block(rest) {
            Ok((next, raw)) => {
                rest = next;
                raw
            }
            Err(PcapNgParseError::IncompleteBuffer(..)) => {
                records.push(Err(RecordError::Truncated {
                    offset,
                    needed: None,
                    available: rest.len(),
                }));
                break;
            }
            Err(e) => {
                records.push(Err(bad_block(offset, &e, true)));
                break;
            }
        };
        if !matches!(
            raw.type_,
            ENHANCED_PACKET_BLOCK | SIMPLE_PACKET_BLOCK | PACKET_BLOCK
        ) {
            continue;
        }
        let state = parser.state();
        let (interface, timestamp, data, original_len) = match raw.try_into_block(state) {
            Ok(Block::EnhancedPacket(b)) => {
                (b.interface_id, Some(b.timestamp), b.data, b.original_len)
            }
            Ok(Block::SimplePacket(b)) => (0, None, b.data, b.original_len),
            Ok(Block::Packet(b)) => (
                u32::from(b.interface_id),
                Some(b.timestamp),
                b.data,
                b.original_len,
            ),
            Ok(_) => continue,
            Err(e) => {
                records.push(Err(conversion_error(offset, &e)));
                continue;
            }
        };
        let Some(idb) = state.interfaces().get(interface as usize) else {
            records.push(Err(RecordError::UnknownInterface { offset, interface }));
            continue;
        };
        let timestamp_ns = timestamp.map_or(0, |t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
        records.push(frame(
            idb.linktype,
            timestamp_ns,
            data,
            original_len,
            offset,
        ));
    }
    Ok(Capture {
        format: Format::PcapNg,
        records,
    })
}

/// A frame borrowing the file's bytes (the parsers never copy; an owned buffer is a damaged
/// record rather than a panic).
fn frame(
    link_type: DataLink,
    timestamp_ns: u64,
    data: Cow<'_, [u8]>,
    original_len: u32,
    offset: usize,
) -> Result<Frame<'_>, RecordError> {
    match data {
        Cow::Borrowed(data) => Ok(Frame {
            link_type,
            timestamp_ns,
            data,
            original_len,
        }),
        Cow::Owned(_) => Err(RecordError::BadBlock {
            offset,
            reason: "packet data not in the file".into(),
            fatal: false,
        }),
    }
}

fn conversion_error(offset: usize, e: &BlockConversionError) -> RecordError {
    match *e.source {
        BlockContentParseError::Validation(ContentValidationError::InvalidInterfaceId(i)) => {
            RecordError::UnknownInterface {
                offset,
                interface: i,
            }
        }
        _ => bad_block(offset, e, false),
    }
}

fn bad_block(offset: usize, e: &dyn std::error::Error, fatal: bool) -> RecordError {
    RecordError::BadBlock {
        offset,
        reason: chain(e),
        fatal,
    }
}

/// An error and its sources, `outer: inner: ...`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::blocks::packet::PacketBlock;
    use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::Endianness;
    use std::time::Duration;

    fn frames() -> Vec<(u64, Vec<u8>)> {
        vec![
            (1_500_000_123_000, vec![1, 2, 3]),
            (1_500_000_124_000, vec![]),
        ]
    }

    #[test]
    fn rejects_non_captures() {
        assert_eq!(read(b"ab"), Err(CaptureError::TooShort(2)));
        assert_eq!(
            read(b"GIF89a......................"),
            Err(CaptureError::BadMagic(*b"GIF8"))
        );
        let file = write::pcap(DataLink::ETHERNET, false, false, &[]).unwrap();
        assert_eq!(read(&file[..20]), Err(CaptureError::TooShort(20)));
        let mut ng = write::pcapng(false, DataLink::RAW, None, &[]).unwrap();
        ng[8] = 0;
        assert!(matches!(read(&ng), Err(CaptureError::BadSectionHeader(_))));
    }

    #[test]
    fn reads_both_byte_orders_and_units() {
        for big in [false, true] {
            for nano in [false, true] {
                let file = write::pcap(DataLink::RAW, big, nano, &frames()).unwrap();
                let cap = read(&file).unwrap();
                let want = if nano {
                    Format::PcapNano
                } else {
                    Format::PcapMicro
                };
                assert_eq!(cap.format, want);
                assert_eq!(cap.records.len(), 2);
                let f = cap.records[0].as_ref().unwrap();
                assert_eq!(f.link_type, DataLink::RAW);
                assert_eq!(f.data, &[1, 2, 3]);
                assert_eq!(f.original_len, 3);
                assert_eq!(f.timestamp_ns, 1_500_000_123_000);
            }
        }
    }

    #[test]
    fn truncated_record_is_reported_after_the_good_ones() {
        let mut file = write::pcap(DataLink::ETHERNET, false, false, &frames()).unwrap();
        file.truncate(file.len() - 1);
        // The last (empty) record lost a byte of its header.
        let cap = read(&file).unwrap();
        assert!(cap.records[0].is_ok());
        assert_eq!(
            cap.records[1].as_ref().unwrap_err().to_string(),
            "truncated record at offset 43: needs 16 bytes, 15 left"
        );
        let mut file = write::pcap(DataLink::ETHERNET, false, false, &frames()[..1]).unwrap();
        file.truncate(file.len() - 2);
        let cap = read(&file).unwrap();
        assert_eq!(
            cap.records,
            vec![Err(RecordError::Truncated {
                offset: 24,
                needed: Some(19),
                available: 17
            })]
        );
        assert!(cap.records[0].as_ref().unwrap_err().is_fatal());
    }

    #[test]
    fn records_the_header_disallows_are_still_read() {
        let mut file = write::pcap(DataLink::ETHERNET, false, false, &frames()[..1]).unwrap();
        // A microsecond fraction past one second; a snap length below the record's length.
        file[28..32].copy_from_slice(&2_000_000u32.to_le_bytes());
        file[16..20].copy_from_slice(&1u32.to_le_bytes());
        let cap = read(&file).unwrap();
        let f = cap.records[0].as_ref().unwrap();
        assert_eq!(
            (f.data, f.timestamp_ns),
            (&[1u8, 2, 3][..], 1_502_000_000_000)
        );
        // A huge record length does not overflow.
        file[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        let cap = read(&file).unwrap();
        assert!(matches!(cap.records[0], Err(RecordError::Truncated { .. })));
        // The FCS bits of the link type field are not part of the link type.
        let mut file = write::pcap(DataLink::ETHERNET, false, false, &frames()[..1]).unwrap();
        file[20..24].copy_from_slice(&(1u32 | 0x1000_0000).to_le_bytes());
        let f = read(&file).unwrap().records[0].clone().unwrap();
        assert_eq!(f.link_type, DataLink::ETHERNET);
    }

    #[test]
    fn reads_enhanced_packets_in_both_byte_orders_and_resolutions() {
        for big in [false, true] {
            for (tsresol, ts) in [(Some(9), 1_234_567_890_123), (None, 1_234_567_890_000)] {
                let frames = [(1_234_567_890_123, vec![9, 8, 7, 6, 5])];
                let file = write::pcapng(big, DataLink::LINUX_SLL2, tsresol, &frames).unwrap();
                let cap = read(&file).unwrap();
                assert_eq!(cap.format, Format::PcapNg);
                let f = cap.records[0].as_ref().unwrap();
                assert_eq!(f.link_type, DataLink::LINUX_SLL2);
                assert_eq!(f.data, &[9, 8, 7, 6, 5]);
                assert_eq!(f.timestamp_ns, ts, "big={big} tsresol={tsresol:?}");
            }
        }
    }

    /// A pcapng file with one interface of `link` and the given blocks after it.
    fn pcapng_with(big: bool, link: DataLink, blocks: &[Block<'_>]) -> Vec<u8> {
        let endianness = if big {
            Endianness::Big
        } else {
            Endianness::Little
        };
        let mut w = PcapNgWriter::with_endianness(Vec::new(), endianness).unwrap();
        let idb = InterfaceDescriptionBlock::new(link, 0);
        w.write_block(&Block::InterfaceDescription(idb)).unwrap();
        for b in blocks {
            w.write_block(b).unwrap();
        }
        w.into_inner()
    }

    #[test]
    fn reads_simple_and_obsolete_packet_blocks() {
        let spb = Block::SimplePacket(SimplePacketBlock {
            original_len: 3,
            data: Cow::Borrowed(&[1, 2, 3]),
        });
        let pb = Block::Packet(PacketBlock {
            interface_id: 0,
            drop_count: 0,
            timestamp: Duration::from_micros(7),
            original_len: 2,
            data: Cow::Borrowed(&[0xaa, 0xbb]),
            options: Vec::new(),
        });
        let file = pcapng_with(false, DataLink::LINUX_SLL, &[spb, pb]);
        let cap = read(&file).unwrap();
        let f = cap.records[0].as_ref().unwrap();
        assert_eq!((f.data, f.original_len), (&[1u8, 2, 3][..], 3));
        let f = cap.records[1].as_ref().unwrap();
        assert_eq!((f.data, f.timestamp_ns), (&[0xaau8, 0xbb][..], 7_000));
    }

    #[test]
    fn a_new_section_resets_interfaces_and_byte_order() {
        let mut file = write::pcapng(false, DataLink::RAW, None, &[(0, vec![1])]).unwrap();
        let spb = |d: &'static [u8]| {
            Block::SimplePacket(SimplePacketBlock {
                original_len: 1,
                data: Cow::Borrowed(d),
            })
        };
        // A big-endian section whose first packet comes before its interface.
        let second = pcapng_with(true, DataLink::ETHERNET, &[spb(&[3])]);
        let shb_len = 28;
        let idb_len = 20;
        file.extend_from_slice(&second[..shb_len]);
        let mut epb_before_idb = write::pcapng(true, DataLink::RAW, None, &[(0, vec![2])]).unwrap()
            [shb_len + idb_len..]
            .to_vec();
        file.append(&mut epb_before_idb);
        file.extend_from_slice(&second[shb_len..]);
        let cap = read(&file).unwrap();
        assert_eq!(cap.records.len(), 3, "{:?}", cap.records);
        assert!(cap.records[0].is_ok());
        assert!(matches!(
            cap.records[1],
            Err(RecordError::UnknownInterface { interface: 0, .. })
        ));
        let f = cap.records[2].as_ref().unwrap();
        assert_eq!((f.link_type, f.data), (DataLink::ETHERNET, &[3u8][..]));
    }

    #[test]
    fn damaged_blocks_are_reported_with_a_reason() {
        let frames = [(0, vec![1, 2, 3, 4]), (0, vec![5, 6, 7, 8]), (0, vec![9])];
        let file = write::pcapng(false, DataLink::RAW, None, &frames).unwrap();
        let epb = 36;
        let second = file.len() - 2 * epb;
        // Cut short: the last block is truncated, the ones before are read.
        let cap = read(&file[..file.len() - 3]).unwrap();
        assert!(cap.records[1].is_ok());
        assert!(matches!(cap.records[2], Err(RecordError::Truncated { .. })));
        // Trailing length differs from the leading one: nothing after it can be found.
        let mut bad = file.clone();
        bad[second + epb - 4] ^= 0xff;
        let cap = read(&bad).unwrap();
        assert_eq!(cap.records.len(), 2);
        assert!(cap.records[1].as_ref().unwrap_err().is_fatal());
        // A captured length beyond the block: that packet is reported, the next one is read.
        let mut bad = file;
        bad[second + 20] = 200;
        let cap = read(&bad).unwrap();
        let e = cap.records[1].as_ref().unwrap_err();
        assert!(!e.is_fatal() && e.to_string().contains("offset 84"), "{e}");
        assert_eq!(cap.records[2].as_ref().unwrap().data, &[9]);
    }
}
