//! Capture file readers: classic pcap and pcapng.
//!
//! Both readers work on the whole file in memory and hand out [`Frame`]s that borrow from it. A
//! file whose header is not a capture header is rejected with a [`CaptureError`]; after that,
//! every record is either a frame or a [`RecordError`] saying why it could not be read (a
//! truncated last record, a block whose lengths disagree), so a damaged file still yields every
//! frame before the damage. Reading never panics on any input: every length is checked against
//! the bytes that are really there.
//!
//! - classic pcap (the libpcap format): both byte orders, microsecond and nanosecond timestamps;
//! - pcapng (IETF draft `draft-ietf-opsawg-pcapng`): Section Header, Interface Description,
//!   Enhanced Packet, Simple Packet and the obsolete Packet block, several sections with their own
//!   byte order, per-interface link types and timestamp resolutions (`if_tsresol`).

mod classic;
mod pcapng;
pub mod write;

use core::fmt;

ipsec_core::iana_registry! {
    /// A link-layer header type (the tcpdump.org `LINKTYPE_` registry) as captures record it.
    pub struct LinkType(u16) {
        /// BSD loopback: a 4-byte address family in the capturing host's byte order.
        NULL = 0,
        /// Ethernet II (with optional 802.1Q / 802.1ad tags).
        ETHERNET = 1,
        /// Raw IPv4 or IPv6, no link-layer header.
        RAW = 101,
        /// OpenBSD loopback: a 4-byte address family in network byte order.
        LOOP = 108,
        /// Linux "cooked" capture, version 1 (16-byte header).
        LINUX_SLL = 113,
        /// Raw IPv4.
        IPV4 = 228,
        /// Raw IPv6.
        IPV6 = 229,
        /// Linux "cooked" capture, version 2 (20-byte header).
        LINUX_SLL2 = 276,
    }
}

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
    pub link_type: LinkType,
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
    /// A pcapng Section Header Block is malformed (bad byte-order magic or block length).
    #[error("malformed pcapng section header: {0}")]
    BadSectionHeader(&'static str),
}

/// A record of the capture that could not be read. Reading stops after a record error whose
/// cause makes the rest of the file unreadable ([`RecordError::is_fatal`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record claims more bytes than the file has left.
    #[error("truncated record at offset {offset}: needs {needed} bytes, {available} left")]
    Truncated {
        /// Byte offset of the record in the file.
        offset: usize,
        /// Bytes the record needs.
        needed: usize,
        /// Bytes left in the file.
        available: usize,
    },
    /// A pcapng block is malformed (length not a multiple of 4, trailing length differs...).
    #[error("malformed pcapng block at offset {offset}: {reason}")]
    BadBlock {
        /// Byte offset of the block in the file.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
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

impl RecordError {
    /// True when nothing after this record can be trusted, so reading stops.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, RecordError::UnknownInterface { .. })
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
    if magic == pcapng::SHB_MAGIC {
        pcapng::read(bytes)
    } else if let Some((endian, format)) = classic::magic(magic) {
        classic::read(bytes, endian, format)
    } else {
        Err(CaptureError::BadMagic(magic))
    }
}

/// Byte order of a capture file (or of one pcapng section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    pub(crate) fn u16(self, bytes: &[u8], at: usize) -> Option<u16> {
        let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        })
    }

    pub(crate) fn u32(self, bytes: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_captures() {
        assert_eq!(read(b"ab"), Err(CaptureError::TooShort(2)));
        assert_eq!(
            read(b"GIF89a......................"),
            Err(CaptureError::BadMagic(*b"GIF8"))
        );
    }

    #[test]
    fn link_types_print_their_names() {
        assert_eq!(LinkType::LINUX_SLL2.to_string(), "LINUX_SLL2");
        assert_eq!(LinkType(999).to_string(), "999");
    }
}
