//! `ike-decode`'s engine: from capture records to [`Record`]s describing IKE messages, ESP
//! packets, NAT-keepalives and whatever could not be decoded (with the reason).
//!
//! A [`Decoder`] keeps what it learns across records and files: the encryption transforms each
//! IKE SA chose in its IKE_SA_INIT (matched by SPI), so that with a [`KeyFile`] the SK payloads of
//! the later exchanges can be decrypted and their inner payloads listed.

mod ike;
pub mod keys;
pub mod net;
pub mod report;
pub mod udp_encap;

pub use keys::{KeyFile, KeyFileError};
pub use report::{Item, Record, Value};

use crate::pcap::{Capture, Frame};
use net::{Datagram, Transport};
use std::net::SocketAddr;
use udp_encap::{Content, EspPacket};

/// Counts of what a run decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Capture records read (frames and unreadable records).
    pub records: usize,
    /// IKE messages.
    pub ike: usize,
    /// ESP packets.
    pub esp: usize,
    /// NAT-keepalives.
    pub keepalives: usize,
    /// IP fragments (not reassembled).
    pub fragments: usize,
    /// Records reported as errors (truncated, malformed, undecryptable).
    pub errors: usize,
    /// Frames skipped because they are not IKE or ESP traffic.
    pub skipped: usize,
}

/// Decodes capture records into [`Record`]s, keeping IKE SA state across them.
#[derive(Debug, Default)]
pub struct Decoder {
    keys: Option<KeyFile>,
    sas: ike::SaTable,
    summary: Summary,
}

impl Decoder {
    /// A decoder; with `keys`, SK payloads are decrypted.
    pub fn new(keys: Option<KeyFile>) -> Self {
        Decoder {
            keys,
            ..Decoder::default()
        }
    }

    /// What has been decoded so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// Decodes every record of a capture, in order; frames that are neither IKE nor ESP are
    /// skipped (and counted in [`Summary::skipped`]).
    pub fn decode_capture(&mut self, capture: &Capture<'_>) -> Vec<Record> {
        let mut out = Vec::new();
        for (i, record) in capture.records.iter().enumerate() {
            let number = i + 1;
            let decoded = match record {
                Ok(frame) => self.decode_frame(number, frame),
                Err(e) => {
                    self.summary.records += 1;
                    Some(error(number, 0, None, None, "capture", e.to_string()))
                }
            };
            if let Some(r) = decoded {
                match r.kind {
                    "ike" => self.summary.ike += 1,
                    "esp" => self.summary.esp += 1,
                    "nat-keepalive" => self.summary.keepalives += 1,
                    "ip-fragment" => self.summary.fragments += 1,
                    _ => self.summary.errors += 1,
                }
                out.push(r);
            }
        }
        out
    }

    /// Decodes one frame; `None` when it is not IKE or ESP traffic.
    pub fn decode_frame(&mut self, number: usize, frame: &Frame<'_>) -> Option<Record> {
        self.summary.records += 1;
        let t = frame.timestamp_ns;
        let d = match net::parse(frame.link_type, frame.data) {
            Ok(d) => d,
            Err(net::NetError::NotIp(_)) => {
                self.summary.skipped += 1;
                return None;
            }
            Err(e) => return Some(error(number, t, None, None, "network", e.to_string())),
        };
        let (src, dst, content) = match d.transport {
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                let src = SocketAddr::new(d.src, src_port);
                let dst = SocketAddr::new(d.dst, dst_port);
                let Some(content) = udp_encap::classify(src_port, dst_port, payload) else {
                    self.summary.skipped += 1;
                    return None;
                };
                if d.fragment.is_some() {
                    return Some(fragment(number, t, src, dst, &d));
                }
                (Some(src), Some(dst), content)
            }
            Transport::Esp(packet) => {
                let src = SocketAddr::new(d.src, 0);
                let dst = SocketAddr::new(d.dst, 0);
                (
                    Some(src),
                    Some(dst),
                    udp_encap::esp(packet).map(Content::Esp),
                )
            }
            Transport::Other(_) => {
                self.summary.skipped += 1;
                return None;
            }
        };
        let (kind, item) = match content {
            Err(e) => return Some(error(number, t, src, dst, "udp", e.to_string())),
            Ok(Content::NatKeepalive) => ("nat-keepalive", Item::new("NAT-keepalive")),
            Ok(Content::Esp(esp)) => ("esp", esp_item(&esp)),
            Ok(Content::Ike { message, marker }) => {
                match ike::describe(&mut self.sas, self.keys.as_ref(), message) {
                    Ok(mut item) => {
                        if marker {
                            item = item.field("non_esp_marker", true);
                        }
                        ("ike", item)
                    }
                    Err(reason) => return Some(error(number, t, src, dst, "ike", reason)),
                }
            }
        };
        Some(Record {
            frame: number,
            time_ns: t,
            src,
            dst,
            kind,
            item,
        })
    }
}

fn esp_item(esp: &EspPacket) -> Item {
    Item::new("ESP")
        .field("spi", format!("0x{:08x}", esp.spi))
        .field("seq", esp.seq)
        .field("len", esp.len)
}

fn fragment(number: usize, t: u64, src: SocketAddr, dst: SocketAddr, d: &Datagram<'_>) -> Record {
    let offset = d.fragment.map_or(0, |f| f.offset);
    Record {
        frame: number,
        time_ns: t,
        src: Some(src),
        dst: Some(dst),
        kind: "ip-fragment",
        item: Item::new("IP-fragment")
            .field("offset", offset)
            .bare("note", "not reassembled"),
    }
}

fn error(
    number: usize,
    t: u64,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    layer: &'static str,
    reason: String,
) -> Record {
    Record {
        frame: number,
        time_ns: t,
        src,
        dst,
        kind: "error",
        item: Item::new("ERROR")
            .field("layer", layer)
            .bare("reason", reason),
    }
}
