//! Capture writers, for test fixtures and for converting between formats: thin wrappers over
//! `pcap-file`'s writers that take frames as `(timestamp in ns, bytes)`.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapTsResolution, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption, InterfaceTsResolution,
};
use pcap_file::pcapng::{Block, PcapNgWriter};
use pcap_file::{DataLink, Endianness};
use std::time::Duration;

/// Snap length written into headers: larger than any frame these fixtures hold.
const SNAPLEN: u32 = 262_144;

/// A frame the formats cannot hold (a timestamp past 2106, more than 4 GiB of data), or a
/// resolution `if_tsresol` does not allow.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WriteError(String);

fn endianness(big_endian: bool) -> Endianness {
    if big_endian {
        Endianness::Big
    } else {
        Endianness::Little
    }
}

/// A classic pcap file, big- or little-endian, with micro- or nanosecond timestamps.
pub fn pcap(
    link_type: DataLink,
    big_endian: bool,
    nano: bool,
    frames: &[(u64, Vec<u8>)],
) -> Result<Vec<u8>, WriteError> {
    let header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: link_type,
        ts_resolution: if nano {
            PcapTsResolution::NanoSecond
        } else {
            PcapTsResolution::MicroSecond
        },
        endianness: endianness(big_endian),
        ..PcapHeader::default()
    };
    let err = |e: &dyn std::error::Error| WriteError(e.to_string());
    let mut w = PcapWriter::with_header(Vec::new(), header).map_err(|e| err(&e))?;
    for (ts, data) in frames {
        let len = u32::try_from(data.len()).map_err(|e| err(&e))?;
        let packet =
            PcapPacket::new(Duration::from_nanos(*ts), len, &data[..]).map_err(|e| err(&e))?;
        w.write_packet(&packet).map_err(|e| err(&e))?;
    }
    Ok(w.into_inner())
}

/// A pcapng file of one section and one interface of `link_type`, with an `if_tsresol` option
/// when `tsresol` is given (microseconds otherwise).
pub fn pcapng(
    big_endian: bool,
    link_type: DataLink,
    tsresol: Option<u8>,
    frames: &[(u64, Vec<u8>)],
) -> Result<Vec<u8>, WriteError> {
    let err = |e: &dyn std::error::Error| WriteError(e.to_string());
    let mut w =
        PcapNgWriter::with_endianness(Vec::new(), endianness(big_endian)).map_err(|e| err(&e))?;
    let mut idb = InterfaceDescriptionBlock::new(link_type, 0);
    if let Some(r) = tsresol {
        let r = InterfaceTsResolution::from_u8(r).map_err(|e| err(&e))?;
        idb.options.push(InterfaceDescriptionOption::IfTsResol(r));
    }
    w.write_block(&Block::InterfaceDescription(idb))
        .map_err(|e| err(&e))?;
    for (ts, data) in frames {
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(*ts),
            original_len: u32::try_from(data.len()).map_err(|e| err(&e))?,
            data: data.into(),
            options: Vec::new(),
        };
        w.write_block(&Block::EnhancedPacket(epb))
            .map_err(|e| err(&e))?;
    }
    Ok(w.into_inner())
}
