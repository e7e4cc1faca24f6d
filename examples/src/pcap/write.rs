//! Capture writers, for test fixtures and for converting between formats.

use super::LinkType;

/// A classic pcap file: `frames` are `(timestamp in ns, bytes)`, written big- or little-endian with
/// micro- or nanosecond timestamps.
pub fn pcap(
    link_type: LinkType,
    big_endian: bool,
    nano: bool,
    frames: &[(u64, Vec<u8>)],
) -> Vec<u8> {
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&u32b(if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend_from_slice(&u16b(2));
    out.extend_from_slice(&u16b(4));
    out.extend_from_slice(&u32b(0));
    out.extend_from_slice(&u32b(0));
    out.extend_from_slice(&u32b(262_144));
    out.extend_from_slice(&u32b(u32::from(link_type.0)));
    for (ts, data) in frames {
        let unit = if nano { 1 } else { 1000 };
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&u32b(u32::try_from(ts / 1_000_000_000).unwrap_or(u32::MAX)));
        out.extend_from_slice(&u32b(((ts % 1_000_000_000) / unit) as u32));
        out.extend_from_slice(&u32b(len));
        out.extend_from_slice(&u32b(len));
        out.extend_from_slice(data);
    }
    out
}

/// Builds a pcapng file block by block: one section, its interfaces and packets.
#[derive(Debug)]
pub struct PcapngWriter {
    big_endian: bool,
    out: Vec<u8>,
}

impl PcapngWriter {
    /// Starts a section (a Section Header Block) in the given byte order.
    pub fn new(big_endian: bool) -> Self {
        let mut w = PcapngWriter {
            big_endian,
            out: Vec::new(),
        };
        let mut body = w.u32b(0x1a2b_3c4d).to_vec();
        body.extend_from_slice(&w.u16b(1));
        body.extend_from_slice(&w.u16b(0));
        body.extend_from_slice(&[0xff; 8]); // section length: unknown
        w.block(0x0a0d_0d0a, &body);
        w
    }

    fn u16b(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Appends a block of type `kind` with `body` (padded to 4 bytes).
    pub fn block(&mut self, kind: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let total = u32::try_from(padded + 12).unwrap_or(u32::MAX);
        self.out.extend_from_slice(&self.u32b(kind));
        self.out.extend_from_slice(&self.u32b(total));
        self.out.extend_from_slice(body);
        self.out.resize(self.out.len() + padded - body.len(), 0);
        self.out.extend_from_slice(&self.u32b(total));
    }

    /// Declares the next interface (Interface Description Block), with an optional `if_tsresol`.
    pub fn interface(&mut self, link_type: LinkType, tsresol: Option<u8>) {
        let mut body = self.u16b(link_type.0).to_vec();
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(&self.u32b(0));
        if let Some(r) = tsresol {
            body.extend_from_slice(&self.u16b(9));
            body.extend_from_slice(&self.u16b(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0; 4]); // opt_endofopt
        }
        self.block(1, &body);
    }

    /// Appends an Enhanced Packet Block; `ts` is in the interface's timestamp units.
    pub fn enhanced(&mut self, interface: u32, ts: u64, data: &[u8]) {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut body = self.u32b(interface).to_vec();
        body.extend_from_slice(&self.u32b((ts >> 32) as u32));
        body.extend_from_slice(&self.u32b(ts as u32));
        body.extend_from_slice(&self.u32b(len));
        body.extend_from_slice(&self.u32b(len));
        body.extend_from_slice(data);
        self.block(6, &body);
    }

    /// Appends a Simple Packet Block (interface 0, no timestamp).
    pub fn simple(&mut self, data: &[u8]) {
        let mut body = self
            .u32b(u32::try_from(data.len()).unwrap_or(u32::MAX))
            .to_vec();
        body.extend_from_slice(data);
        self.block(3, &body);
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}
