//! `ike-decode`'s engine: from capture records to [`Record`]s describing IKE messages, ESP
//! packets, NAT-keepalives and whatever could not be decoded (with the reason).
//!
//! A [`Decoder`] keeps what it learns across records and files: the encryption transforms each
//! IKE SA chose in its IKE_SA_INIT (matched by SPI), so that with a [`KeyFile`] the SK payloads of
//! the later exchanges can be decrypted and their inner payloads listed.
//!
//! The text form of a record is a headline, then one indented line per payload:
//!
//! ```text
//! #3 1795719534.433765 192.0.2.1:4500 -> 192.0.2.2:4500 IKE_AUTH I request msgid=1 spi_i=f5b9d1ee4555cab4 spi_r=a1d2eec743532a67 len=272 non_esp_marker=true
//!   SK next=IDi len=240 decrypted
//!     IDi FQDN left.ike.test
//!     AUTH method=SHARED_KEY_MIC len=32
//!     SA proposals=1
//!       proposal 1 ESP spi=0x2f214d5a encr=ENCR_AES_GCM_16-128 esn=NO_ESN
//!     TSi 10.1.0.0/24
//! #7 1795719534.487570 192.0.2.1:4500 -> 192.0.2.2:4500 ESP spi=0x2418309d seq=1 len=120
//! #9 ERROR layer=capture truncated record at offset 946: needs 281 bytes, 56 left
//! ```
//!
//! `I`/`R` is the sender's Initiator flag (the original initiator of the IKE SA), then whether the
//! message is a request or a response. The JSON form ([`Record::to_json`]) has the same fields,
//! with nested items under `children`.

mod ike;
pub mod keys;
pub mod net;
mod payload;
pub mod reassembly;
pub mod report;
pub mod udp_encap;

pub use keys::{KeyFile, KeyFileError};
pub use report::{Endpoint, Item, Record, Value};

use crate::pcap::{Capture, Frame};
use net::{Datagram, Transport};
use reassembly::{Outcome, Reassembly};
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
    /// IP fragments held for reassembly (the last fragment of a datagram counts as what the
    /// datagram is).
    pub fragments: usize,
    /// Records reported as errors (truncated, malformed, undecryptable).
    pub errors: usize,
    /// Frames skipped because they are not IKE or ESP traffic.
    pub skipped: usize,
}

/// ESP SPIs tracked for [`Decoder::esp_flows`]; packets of further SPIs are still listed.
const MAX_ESP_FLOWS: usize = 4096;

/// The ESP packets seen with one SPI between two endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspFlow {
    /// The SPI.
    pub spi: u32,
    /// Source of the first packet.
    pub src: Option<Endpoint>,
    /// Destination of the first packet.
    pub dst: Option<Endpoint>,
    /// Packets seen.
    pub packets: u64,
    /// Lowest sequence number seen.
    pub min_seq: u32,
    /// Highest sequence number seen.
    pub max_seq: u32,
}

/// Decodes capture records into [`Record`]s, keeping IKE SA state across them.
#[derive(Debug, Default)]
pub struct Decoder {
    keys: Option<KeyFile>,
    sas: ike::SaTable,
    summary: Summary,
    esp: Vec<EspFlow>,
    reassembly: Reassembly,
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

    /// The ESP SPIs seen so far, in order of first appearance, with their packet counts and
    /// sequence number ranges.
    pub fn esp_flows(&self) -> &[EspFlow] {
        &self.esp
    }

    fn count_esp(&mut self, esp: &EspPacket, src: Option<Endpoint>, dst: Option<Endpoint>) {
        if let Some(f) = self.esp.iter_mut().find(|f| f.spi == esp.spi) {
            f.packets = f.packets.saturating_add(1);
            f.min_seq = f.min_seq.min(esp.seq);
            f.max_seq = f.max_seq.max(esp.seq);
        } else if self.esp.len() < MAX_ESP_FLOWS {
            self.esp.push(EspFlow {
                spi: esp.spi,
                src,
                dst,
                packets: 1,
                min_seq: esp.seq,
                max_seq: esp.seq,
            });
        }
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
                    Some(error(number, None, None, None, "capture", e.to_string()))
                }
            };
            if let Some(r) = decoded {
                match r.kind {
                    "ike" => self.summary.ike += 1,
                    "esp" => self.summary.esp += 1,
                    "nat-keepalive" => self.summary.keepalives += 1,
                    "ip-fragment" => {}
                    _ => self.summary.errors += 1,
                }
                out.push(r);
            }
        }
        out
    }

    /// Decodes one frame; `None` when it is not IKE or ESP traffic. IP fragments are held until
    /// their datagram is complete; the record of the last one describes the whole datagram.
    pub fn decode_frame(&mut self, number: usize, frame: &Frame<'_>) -> Option<Record> {
        self.summary.records += 1;
        let t = Some(frame.timestamp_ns);
        let d = match net::parse(frame.link_type, frame.data) {
            Ok(d) => d,
            Err(net::NetError::NotIp(_)) => {
                self.summary.skipped += 1;
                return None;
            }
            Err(e) => return Some(error(number, t, None, None, "network", e.to_string())),
        };
        let Some(f) = d.fragment else {
            return self.decode_transport(number, t, &d, d.transport, None);
        };
        if !matches!(d.protocol, net::PROTO_UDP | net::PROTO_ESP) {
            self.summary.skipped += 1;
            return None;
        }
        match self.reassembly.add(d.src, d.dst, d.protocol, f, d.payload) {
            Outcome::Held { pieces } => {
                self.summary.fragments += 1;
                // Only a first fragment shows ports; report it when they are IKE's.
                let Transport::Udp {
                    src_port,
                    dst_port,
                    payload,
                } = d.transport
                else {
                    return None;
                };
                // A datagram on another port is held silently.
                let _content = udp_encap::classify(src_port, dst_port, payload)?;
                Some(Record {
                    frame: number,
                    time_ns: t,
                    src: Some(Endpoint::new(d.src, Some(src_port))),
                    dst: Some(Endpoint::new(d.dst, Some(dst_port))),
                    kind: "ip-fragment",
                    item: Item::new("IP-fragment")
                        .field("id", format!("0x{:x}", f.id))
                        .field("offset", f.offset)
                        .field("held", pieces)
                        .bare("note", "waiting for the other fragments"),
                })
            }
            Outcome::Dropped(reason) => Some(error(
                number,
                t,
                Some(Endpoint::new(d.src, None)),
                Some(Endpoint::new(d.dst, None)),
                "ip-reassembly",
                reason.to_owned(),
            )),
            Outcome::Complete(buf, pieces) => match net::parse_transport(d.protocol, &buf, false) {
                Ok(transport) => self.decode_transport(number, t, &d, transport, Some(pieces)),
                Err(e) => Some(error(
                    number,
                    t,
                    Some(Endpoint::new(d.src, None)),
                    Some(Endpoint::new(d.dst, None)),
                    "network",
                    e.to_string(),
                )),
            },
        }
    }

    /// Decodes a whole transport payload (of one packet, or reassembled from `fragments`).
    fn decode_transport(
        &mut self,
        number: usize,
        t: Option<u64>,
        d: &Datagram<'_>,
        transport: Transport<'_>,
        fragments: Option<usize>,
    ) -> Option<Record> {
        let (src, dst, content) = match transport {
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                let Some(content) = udp_encap::classify(src_port, dst_port, payload) else {
                    self.summary.skipped += 1;
                    return None;
                };
                (
                    Endpoint::new(d.src, Some(src_port)),
                    Endpoint::new(d.dst, Some(dst_port)),
                    content,
                )
            }
            Transport::Esp(packet) => (
                Endpoint::new(d.src, None),
                Endpoint::new(d.dst, None),
                udp_encap::esp(packet).map(Content::Esp),
            ),
            Transport::Other(_) => {
                self.summary.skipped += 1;
                return None;
            }
        };
        let (src, dst) = (Some(src), Some(dst));
        let (kind, mut item) = match content {
            Err(e) => return Some(error(number, t, src, dst, "udp", e.to_string())),
            Ok(Content::NatKeepalive) => ("nat-keepalive", Item::new("NAT-keepalive")),
            Ok(Content::Esp(esp)) => {
                self.count_esp(&esp, src, dst);
                ("esp", esp_item(&esp))
            }
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
        if let Some(n) = fragments {
            item = item.field("ip_fragments", n);
        }
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

fn error(
    number: usize,
    t: Option<u64>,
    src: Option<Endpoint>,
    dst: Option<Endpoint>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::{self, DataLink};
    use ikev2::wire::{
        protect, protect_fragments, ExchangeType, Flags, Header, Identification, Limits, Message,
        Notify, NotifyType, Payload, Proposal, ProtocolId, SecurityAssociation, SkKeys, Transform,
        TransformId, VendorId,
    };
    use ipsec_core::crypto::{default_provider, DhGroup, EncrId, Encryption, IntegId, PrfId};

    const IKE_ALL: &[u8] = include_bytes!("../../../testdata/strongswan-x25519/ike_all.pcap");
    const KEYS: &str = include_str!("../../../testdata/strongswan-x25519/keys.txt");
    const SPI_I: u64 = 0xf5b9_d1ee_4555_cab4;
    const SPI_R: u64 = 0xa1d2_eec7_4353_2a67;

    /// Decodes an IKE message sent in UDP 4500 after the non-ESP marker.
    fn decode_nat_t(d: &mut Decoder, number: usize, ike: &[u8]) -> Record {
        let mut payload = vec![0; 4];
        payload.extend_from_slice(ike);
        let ip = net::tests::ipv4_udp(4500, 4500, &payload);
        let frame = pcap::Frame {
            link_type: DataLink::RAW,
            timestamp_ns: 0,
            data: &ip,
            original_len: 0,
        };
        d.decode_frame(number, &frame).unwrap()
    }

    /// A decoder that has seen the IKE_SA_INIT of the strongSwan capture.
    fn decoder_after_init(keys: &str) -> Decoder {
        let mut d = Decoder::new(Some(KeyFile::parse(keys).unwrap()));
        let cap = pcap::read(IKE_ALL).unwrap();
        let records = d.decode_capture(&cap);
        assert_eq!(records.len(), 6);
        d
    }

    fn hexkey(k: &KeyFile, name: &str) -> Vec<u8> {
        k.get(name).unwrap().expose().to_vec()
    }

    #[test]
    fn skf_fragments_are_reassembled_and_listed_with_the_last_one() {
        let mut d = decoder_after_init(KEYS);
        let provider = default_provider();
        let kf = KeyFile::parse(KEYS).unwrap();
        let enc = Encryption::new(EncrId::ENCR_AES_GCM_16, 256);
        let keys = SkKeys::new(&provider, enc, IntegId::NONE, &hexkey(&kf, "sk_ei"), &[]).unwrap();
        let header = Header::new(
            SPI_I,
            SPI_R,
            ExchangeType::INFORMATIONAL,
            Flags::new(true, false),
            9,
        );
        let inner = vec![
            Payload::IdI(Identification::fqdn("left.ike.test")),
            Payload::VendorId(VendorId {
                data: vec![0x5a; 200],
            }),
            Payload::Notify(Notify::new(NotifyType::INITIAL_CONTACT, &[])),
        ];
        let frags = protect_fragments(
            &header,
            &inner,
            &keys,
            provider.random,
            120,
            &Limits::default(),
        )
        .unwrap();
        assert!(frags.len() >= 3, "{} fragments", frags.len());
        // Out of order: the last fragment first, the first one last.
        let mut order: Vec<usize> = (0..frags.len()).rev().collect();
        order.swap(0, 1);
        let mut last = None;
        for (n, &i) in order.iter().enumerate() {
            let r = decode_nat_t(&mut d, 100 + n, &frags[i]);
            assert_eq!(r.kind, "ike");
            let skf = &r.item.children[0];
            assert_eq!(skf.kind, "SKF");
            assert_eq!(
                skf.get("fragment"),
                Some(&Value::Text(format!("{}/{}", i + 1, frags.len())))
            );
            last = Some(r);
        }
        let text = last.unwrap().to_text();
        assert!(
            text.contains(" reassembled\n    IDi FQDN left.ike.test\n    V len=200"),
            "{text}"
        );
        assert!(text.contains("N INITIAL_CONTACT"), "{text}");
        // A duplicate after reassembly starts a new partial message, still without a panic.
        let r = decode_nat_t(&mut d, 200, &frags[1]);
        assert!(
            r.to_text().contains(" decrypted missing="),
            "{}",
            r.to_text()
        );
    }

    /// An IKE_SA_INIT response choosing AES-CBC-128 with HMAC-SHA2-256-128, for SPIs 1/2.
    fn cbc_init_response() -> Vec<u8> {
        let proposal = Proposal {
            number: 1,
            protocol: ProtocolId::IKE,
            spi: vec![],
            transforms: vec![
                Transform::encryption(Encryption::new(EncrId::ENCR_AES_CBC, 128)),
                Transform::new(TransformId::Integ(IntegId::AUTH_HMAC_SHA2_256_128)),
                Transform::new(TransformId::Prf(PrfId::PRF_HMAC_SHA2_256)),
                Transform::new(TransformId::Dh(DhGroup::ECP_256)),
            ],
        };
        Message {
            header: Header::new(1, 2, ExchangeType::IKE_SA_INIT, Flags::new(false, true), 0),
            payloads: vec![Payload::Sa(SecurityAssociation {
                proposals: vec![proposal],
            })],
        }
        .to_bytes()
        .unwrap()
    }

    #[test]
    fn cbc_and_hmac_use_the_chosen_proposal_and_the_integrity_keys() {
        let keys = format!(
            "sk_ei = {}\nsk_er = {}\nsk_ai = {}\nsk_ar = {}\n",
            "01".repeat(16),
            "02".repeat(16),
            "03".repeat(32),
            "04".repeat(32)
        );
        let mut d = Decoder::new(Some(KeyFile::parse(&keys).unwrap()));
        let init = decode_nat_t(&mut d, 1, &cbc_init_response());
        assert!(init
            .to_text()
            .contains("encr=ENCR_AES_CBC-128 integ=AUTH_HMAC_SHA2_256_128"));
        let provider = default_provider();
        let sk = SkKeys::new(
            &provider,
            Encryption::new(EncrId::ENCR_AES_CBC, 128),
            IntegId::AUTH_HMAC_SHA2_256_128,
            &[2; 16],
            &[4; 32],
        )
        .unwrap();
        let header = Header::new(1, 2, ExchangeType::IKE_AUTH, Flags::new(false, true), 1);
        let inner = [Payload::IdR(Identification::fqdn("cbc.test"))];
        let msg = protect(&header, &inner, &sk, provider.random).unwrap();
        let r = decode_nat_t(&mut d, 2, &msg);
        let text = r.to_text();
        assert!(text.contains("IKE_AUTH R response msgid=1"), "{text}");
        assert!(text.contains(" decrypted\n    IDr FQDN cbc.test"), "{text}");
        // Without SK_ar the message cannot be checked.
        let mut d = Decoder::new(Some(
            KeyFile::parse(&format!("sk_er = {}", "02".repeat(16))).unwrap(),
        ));
        decode_nat_t(&mut d, 1, &cbc_init_response());
        let text = decode_nat_t(&mut d, 2, &msg).to_text();
        assert!(
            text.contains("not_decrypted=no sk_ar in the key file"),
            "{text}"
        );
        // Nor without the IKE_SA_INIT that names the algorithms.
        let mut d = Decoder::new(Some(KeyFile::parse(&keys).unwrap()));
        let text = decode_nat_t(&mut d, 1, &msg).to_text();
        assert!(text.contains("not_decrypted=no IKE_SA_INIT"), "{text}");
    }

    #[test]
    fn every_damaged_copy_of_the_capture_decodes_without_panicking() {
        // Flip each byte of every frame in turn (a cheap exhaustive mutation) and truncate the
        // file at every length: the decoder reports, it never panics.
        let keys = KeyFile::parse(KEYS).unwrap();
        let mut bytes = IKE_ALL.to_vec();
        for i in 24..bytes.len() {
            bytes[i] ^= 0x5a;
            if let Ok(cap) = pcap::read(&bytes) {
                let mut d = Decoder::new(Some(keys.clone()));
                let records = d.decode_capture(&cap);
                assert!(records.len() <= cap.records.len());
                for r in &records {
                    let _ = (r.to_text(), r.to_json());
                }
            }
            bytes[i] ^= 0x5a;
        }
        for n in 0..IKE_ALL.len() {
            if let Ok(cap) = pcap::read(&IKE_ALL[..n]) {
                let mut d = Decoder::new(Some(keys.clone()));
                let _ = d.decode_capture(&cap);
            }
        }
    }

    #[test]
    fn summary_counts_each_kind() {
        let d = decoder_after_init(KEYS);
        assert_eq!(
            d.summary(),
            Summary {
                records: 6,
                ike: 6,
                ..Summary::default()
            }
        );
        assert!(d.esp_flows().is_empty());
    }
}
