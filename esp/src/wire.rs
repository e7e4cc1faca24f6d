//! ESP wire format (RFC 4303 section 2) and what arrives on UDP port 4500 (RFC 3948).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    IV (per algorithm, optional)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Payload Data (variable)                    |
//! ~                                                               ~
//! |               |     Padding (0-255 bytes)                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |  Pad Length   | Next Header   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Integrity Check Value-ICV   (variable)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Everything here is a view over a byte slice: constructors check lengths once and accessors
//! never panic, whatever the input.

use crate::error::EspError;

/// Length of the SPI and Sequence Number fields.
pub const HEADER_LEN: usize = 8;
/// Length of the Pad Length and Next Header fields.
pub const TRAILER_LEN: usize = 2;
/// Next header value of dummy packets (RFC 4303 section 2.6): "no next header".
pub const NEXT_HEADER_NONE: u8 = 59;
/// Next header value of an IPv4 inner packet (tunnel mode).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next header value of an IPv6 inner packet (tunnel mode).
pub const NEXT_HEADER_IPV6: u8 = 41;
// The port-4500 demultiplexer and its constants live in `ipsec-core`, shared with IKE and the
// gateway; they are re-exported here under their established names.
pub use ipsec_core::demux::{DemuxError, Udp4500, NAT_KEEPALIVE, NAT_T_PORT, NON_ESP_MARKER};

mod field {
    use core::ops::Range;
    pub(super) const SPI: Range<usize> = 0..4;
    pub(super) const SEQ: Range<usize> = 4..8;
}

/// A read-only view of an ESP packet (from the SPI to the end of the ICV).
#[derive(Debug, Clone, Copy)]
pub struct EspPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Wraps `buffer` after checking it holds at least the SPI and sequence number.
    pub fn new_checked(buffer: T) -> Result<Self, EspError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(EspError::Malformed("shorter than the ESP header"));
        }
        Ok(EspPacket { buffer })
    }

    /// The Security Parameters Index.
    pub fn spi(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SPI.start)
    }

    /// The (low 32 bits of the) sequence number.
    pub fn sequence_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ.start)
    }

    /// Everything after the header: IV, ciphertext and ICV.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// Writes an ESP header at the start of `buf` (which must hold [`HEADER_LEN`] bytes).
pub fn write_header(buf: &mut [u8], spi: u32, seq_low: u32) -> Result<(), EspError> {
    let h = buf.get_mut(..HEADER_LEN).ok_or(EspError::BufferTooSmall {
        headroom: HEADER_LEN,
        tailroom: 0,
    })?;
    h[field::SPI].copy_from_slice(&spi.to_be_bytes());
    h[field::SEQ].copy_from_slice(&seq_low.to_be_bytes());
    Ok(())
}

/// Reads the SPI of an ESP packet without any other check, for routing.
pub fn peek_spi(packet: &[u8]) -> Result<u32, EspError> {
    Ok(EspPacket::new_checked(packet)?.spi())
}

/// Writes a NAT keepalive into `buf` and returns the bytes to send to the peer's port 4500.
pub fn write_nat_keepalive(buf: &mut [u8]) -> Result<&[u8], EspError> {
    let out = buf.get_mut(..1).ok_or(EspError::BufferTooSmall {
        headroom: 0,
        tailroom: 1,
    })?;
    out.copy_from_slice(&NAT_KEEPALIVE);
    Ok(out)
}

/// Prefixes an IKE message with the non-ESP marker, in place: the message is at
/// `buf[4..4 + len]`; returns the bytes to send on port 4500.
pub fn write_non_esp_marker(buf: &mut [u8], len: usize) -> Result<&[u8], EspError> {
    let total = len.checked_add(4).ok_or(EspError::Malformed("length"))?;
    let out = buf.get_mut(..total).ok_or(EspError::BufferTooSmall {
        headroom: 4,
        tailroom: 0,
    })?;
    out[..4].copy_from_slice(&NON_ESP_MARKER);
    Ok(out)
}

pub(crate) fn read_u32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: [u8; 12] = [0x24, 0x18, 0x30, 0x9d, 0, 0, 0, 7, 0xaa, 0xbb, 0xcc, 0xdd];

    #[test]
    fn getters_on_a_fixture() {
        let p = EspPacket::new_checked(&FIXTURE[..]).unwrap();
        assert_eq!(p.spi(), 0x2418_309d);
        assert_eq!(p.sequence_number(), 7);
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn header_rebuilds_the_fixture_over_junk() {
        let mut buf = [0x5a; 12];
        write_header(&mut buf, 0x2418_309d, 7).unwrap();
        assert_eq!(buf[..8], FIXTURE[..8]);
        assert!(write_header(&mut buf[..7], 1, 1).is_err());
    }

    #[test]
    fn truncation_is_rejected() {
        for n in 0..HEADER_LEN {
            assert!(EspPacket::new_checked(&FIXTURE[..n]).is_err());
        }
    }

    #[test]
    fn writes_keepalives_and_markers() {
        assert_eq!(Udp4500::classify(&FIXTURE), Ok(Udp4500::Esp(&FIXTURE[..])));
        let mut b = [0u8; 4];
        assert_eq!(write_nat_keepalive(&mut b).unwrap(), &[0xff]);
        let mut m = [9u8, 9, 9, 9, 1, 2, 3];
        assert_eq!(
            write_non_esp_marker(&mut m, 3).unwrap(),
            &[0, 0, 0, 0, 1, 2, 3]
        );
    }
}
