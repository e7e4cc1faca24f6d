//! IKE messages as report items: the header, then each payload with its key fields; SK and SKF
//! payloads decrypted when the keys are known.
//!
//! Decoding follows the two phases of RFC 7296 section 3.14: the header and the unprotected
//! payload chain are read payload by payload (so a bad payload still shows the ones before it);
//! the SK payload is opened with [`ikev2::wire::unprotect`] using the transforms the IKE SA chose
//! in its IKE_SA_INIT response, found by SPI in an [`SaTable`], and SK_ei or SK_er from the key
//! file, by the sender's Initiator flag (RFC 7296 section 2.14). SKF fragments (RFC 7383) go to a
//! [`Reassembler`] per sender and the reassembled inner payloads are listed with the last one.

use super::keys::KeyFile;
use super::report::{hex, printable, Item};
use ikev2::wire::{
    Auth, Cert, CertReq, Config, Delete, Error, ExchangeType, IdType, Identification, KeyExchange,
    Limits, Notify, NotifyType, Packet, Payload, PayloadType, Proposal, RawPayloads, Reassembler,
    SecurityAssociation, SkKeys, TrafficSelectors, TsEntry, HEADER_LEN,
};
use ipsec_core::crypto::{default_provider, Encryption, IntegId, TransformType};
use ipsec_core::selector::TrafficSelector;
use std::net::IpAddr;

/// IKE SAs remembered at once; the oldest is forgotten beyond this (a capture of a busy gateway
/// must not grow the table without bound).
const MAX_SAS: usize = 4096;
/// Notify data up to this many bytes is printed in hex; longer data only by length.
const MAX_NOTIFY_HEX: usize = 32;

/// What the decoder knows about one IKE SA.
#[derive(Debug)]
struct SaInfo {
    spi_i: u64,
    spi_r: u64,
    /// The transforms chosen in the IKE_SA_INIT response.
    chosen: Option<(Encryption, IntegId)>,
    /// Reassembly of SKF fragments from the initiator (0) and from the responder (1).
    fragments: [Option<Reassembler>; 2],
}

/// The IKE SAs seen so far, by SPI.
#[derive(Debug, Default)]
pub(crate) struct SaTable {
    sas: Vec<SaInfo>,
}

impl SaTable {
    fn find(&mut self, spi_i: u64, spi_r: u64) -> Option<&mut SaInfo> {
        // An IKE_SA_INIT request has a zero responder SPI; later messages carry both.
        self.sas
            .iter_mut()
            .rev()
            .find(|s| s.spi_i == spi_i && (s.spi_r == spi_r || s.spi_r == 0 || spi_r == 0))
    }

    fn learn(&mut self, spi_i: u64, spi_r: u64, chosen: Option<(Encryption, IntegId)>) {
        if let Some(sa) = self.find(spi_i, spi_r) {
            if sa.spi_r == 0 {
                sa.spi_r = spi_r;
            }
            if chosen.is_some() {
                sa.chosen = chosen;
            }
            return;
        }
        if self.sas.len() >= MAX_SAS {
            self.sas.remove(0);
        }
        self.sas.push(SaInfo {
            spi_i,
            spi_r,
            chosen,
            fragments: [None, None],
        });
    }
}

/// Describes one IKE message; `Err` when not even the header can be read.
pub(crate) fn describe(
    sas: &mut SaTable,
    keys: Option<&KeyFile>,
    bytes: &[u8],
) -> Result<Item, String> {
    let packet = Packet::new_checked(bytes).map_err(|e| header_error(bytes, &e))?;
    let header = ikev2::wire::Header::parse(&packet).map_err(|e| format!("IKE header: {e}"))?;
    let flags = header.flags;
    let mut item = Item::new(header.exchange_type.to_string())
        .bare("sender", if flags.is_initiator() { "I" } else { "R" })
        .bare(
            "role",
            if flags.is_response() {
                "response"
            } else {
                "request"
            },
        )
        .field("msgid", header.message_id)
        .field("spi_i", format!("{:016x}", header.initiator_spi))
        .field("spi_r", format!("{:016x}", header.responder_spi))
        .field("len", packet.length());
    if header.minor_version != 0 {
        item = item.field("minor_version", header.minor_version);
    }
    if bytes.len() > packet.message().len() {
        item = item.field("trailing_bytes", bytes.len() - packet.message().len());
    }
    let ctx = Context {
        request: !flags.is_response(),
    };
    let limits = Limits::default();
    let mut outer = 0usize;
    for raw in RawPayloads::new(packet.next_payload(), packet.payload(), &limits) {
        let parsed = raw.and_then(|r| Payload::parse(&r, &limits));
        let payload = match parsed {
            Ok(p) => p,
            Err(e) => {
                item = item.child(error_item(&e));
                return Ok(item);
            }
        };
        outer += 1;
        let child = match &payload {
            Payload::Sk(sk) => {
                let sk_item = Item::new("SK")
                    .field("next", short_name(sk.next_payload))
                    .field("len", sk.data.len());
                open_sk(
                    sas,
                    keys,
                    &header,
                    packet.message(),
                    outer - 1,
                    &ctx,
                    sk_item,
                )
            }
            Payload::Skf(f) => {
                let f_item = Item::new("SKF")
                    .field(
                        "fragment",
                        format!("{}/{}", f.fragment_number, f.total_fragments),
                    )
                    .field("next", short_name(f.next_payload))
                    .field("len", f.data.len());
                open_skf(sas, keys, &header, packet.message(), &ctx, f_item)
            }
            p => payload_item(p, &ctx),
        };
        item = item.child(child);
        if header.exchange_type == ExchangeType::IKE_SA_INIT {
            if let Payload::Sa(sa) = &payload {
                if flags.is_response() {
                    sas.learn(
                        header.initiator_spi,
                        header.responder_spi,
                        sa.proposals.first().and_then(chosen_transforms),
                    );
                }
            }
        }
    }
    if header.exchange_type == ExchangeType::IKE_SA_INIT {
        sas.learn(header.initiator_spi, header.responder_spi, None);
    }
    Ok(item)
}

/// Why the header of `bytes` is unreadable, with the lengths when they disagree.
fn header_error(bytes: &[u8], e: &Error) -> String {
    if bytes.len() < HEADER_LEN {
        return format!(
            "IKE header: {} bytes, shorter than the 28-byte header",
            bytes.len()
        );
    }
    let claimed = Packet::new_unchecked(bytes).length();
    if usize::try_from(claimed).map_or(true, |c| c > bytes.len()) {
        return format!(
            "IKE header: length field says {claimed} bytes, the datagram has {}",
            bytes.len()
        );
    }
    format!("IKE header: {e}")
}

/// Facts about the message that change how payloads are named.
struct Context {
    /// A request (its nonce is Ni) rather than a response (Nr), RFC 7296 section 1.3.
    request: bool,
}

/// The payload names of RFC 7296 section 3.2 (`IDi`, `N`, ...), as logs and Wireshark show them.
fn short_name(t: PayloadType) -> String {
    let name = match t {
        PayloadType::NONE => "none",
        PayloadType::IDI => "IDi",
        PayloadType::IDR => "IDr",
        PayloadType::NONCE => "No",
        PayloadType::NOTIFY => "N",
        PayloadType::DELETE => "D",
        PayloadType::VENDOR_ID => "V",
        PayloadType::TSI => "TSi",
        PayloadType::TSR => "TSr",
        other => return other.to_string(),
    };
    name.to_owned()
}

fn error_item(e: &Error) -> Item {
    Item::new("ERROR").bare("reason", e.to_string())
}

/// The encryption and integrity transforms of a chosen IKE proposal.
fn chosen_transforms(p: &Proposal) -> Option<(Encryption, IntegId)> {
    let enc = p
        .transforms_of(TransformType::ENCR)
        .next()?
        .as_encryption()?;
    let integ = p
        .transforms_of(TransformType::INTEG)
        .next()
        .and_then(|t| match t.id {
            ikev2::wire::TransformId::Integ(i) => Some(i),
            _ => None,
        })
        .unwrap_or(IntegId::NONE);
    Some((enc, integ))
}

/// The keys for messages sent by the initiator (`true`) or the responder, or why there are none.
fn sk_keys(sa: Option<&SaInfo>, keys: &KeyFile, from_initiator: bool) -> Result<SkKeys, String> {
    let sa = sa.ok_or("no IKE_SA_INIT for these SPIs in the capture")?;
    let (enc, integ) = sa
        .chosen
        .ok_or("the IKE_SA_INIT response's chosen proposal was not seen")?;
    let (e_name, a_name) = if from_initiator {
        ("sk_ei", "sk_ai")
    } else {
        ("sk_er", "sk_ar")
    };
    let sk_e = keys
        .get(e_name)
        .ok_or_else(|| format!("no {e_name} in the key file"))?;
    let empty = ipsec_core::crypto::SecretBytes::default();
    let sk_a = if enc.is_aead() {
        &empty
    } else {
        keys.get(a_name)
            .ok_or_else(|| format!("no {a_name} in the key file"))?
    };
    SkKeys::new(
        &default_provider(),
        enc,
        integ,
        sk_e.expose(),
        sk_a.expose(),
    )
    .map_err(|e| format!("keys for {enc}: {e}"))
}

fn open_sk(
    sas: &mut SaTable,
    keys: Option<&KeyFile>,
    header: &ikev2::wire::Header,
    message: &[u8],
    outer: usize,
    ctx: &Context,
    mut item: Item,
) -> Item {
    let Some(keys) = keys else {
        return item.bare("state", "encrypted");
    };
    let sa = sas.find(header.initiator_spi, header.responder_spi);
    let opened = sk_keys(sa.as_deref(), keys, header.flags.is_initiator())
        .and_then(|k| ikev2::wire::unprotect(message, &k).map_err(|e| e.to_string()));
    match opened {
        Ok(m) => {
            item = item.bare("state", "decrypted");
            for p in m.payloads.iter().skip(outer) {
                item = item.child(payload_item(p, ctx));
            }
            item
        }
        Err(reason) => item
            .bare("state", "encrypted")
            .field("not_decrypted", reason),
    }
}

fn open_skf(
    sas: &mut SaTable,
    keys: Option<&KeyFile>,
    header: &ikev2::wire::Header,
    message: &[u8],
    ctx: &Context,
    item: Item,
) -> Item {
    let Some(keys) = keys else {
        return item.bare("state", "encrypted");
    };
    let from_initiator = header.flags.is_initiator();
    let sa = sas.find(header.initiator_spi, header.responder_spi);
    let k = match sk_keys(sa.as_deref(), keys, from_initiator) {
        Ok(k) => k,
        Err(reason) => {
            return item
                .bare("state", "encrypted")
                .field("not_decrypted", reason)
        }
    };
    let Some(sa) = sa else {
        return item.bare("state", "encrypted");
    };
    let slot = &mut sa.fragments[usize::from(!from_initiator)];
    let reassembler = slot.get_or_insert_with(|| Reassembler::new(Limits::default()));
    match reassembler.handle(message, &k) {
        Ok(Some(m)) => {
            let mut item = item.bare("state", "reassembled");
            for p in &m.payloads {
                item = item.child(payload_item(p, ctx));
            }
            item
        }
        Ok(None) => item.bare("state", "decrypted").field(
            "missing",
            reassembler
                .missing()
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Err(e) => item
            .bare("state", "encrypted")
            .field("not_decrypted", e.to_string()),
    }
}

/// A payload other than SK/SKF.
fn payload_item(p: &Payload, ctx: &Context) -> Item {
    match p {
        Payload::Sa(sa) => sa_item(sa),
        Payload::Ke(ke) => ke_item(ke),
        Payload::IdI(id) => id_item("IDi", id),
        Payload::IdR(id) => id_item("IDr", id),
        Payload::Cert(c) => cert_item(c),
        Payload::CertReq(c) => certreq_item(c),
        Payload::Auth(a) => auth_item(a),
        Payload::Nonce(n) => {
            Item::new(if ctx.request { "Ni" } else { "Nr" }).field("len", n.data.len())
        }
        Payload::Notify(n) => notify_item(n),
        Payload::Delete(d) => delete_item(d),
        Payload::VendorId(v) => Item::new("V")
            .field("len", v.data.len())
            .field("data", hex(v.data.get(..16).unwrap_or(&v.data))),
        Payload::TsI(ts) => ts_item("TSi", ts),
        Payload::TsR(ts) => ts_item("TSr", ts),
        Payload::Cp(c) => cp_item(c),
        Payload::Eap(e) => Item::new("EAP")
            .field("len", e.data.len())
            .field("code", e.data.first().copied().unwrap_or(0)),
        Payload::Sk(sk) => Item::new("SK").field("len", sk.data.len()),
        Payload::Skf(f) => Item::new("SKF").field(
            "fragment",
            format!("{}/{}", f.fragment_number, f.total_fragments),
        ),
        Payload::Unknown {
            payload_type, body, ..
        } => Item::new("payload")
            .field("payload_type", payload_type.0)
            .field("len", body.len()),
    }
}

fn sa_item(sa: &SecurityAssociation) -> Item {
    let mut item = Item::new("SA").field("proposals", sa.proposals.len());
    for p in &sa.proposals {
        let mut pi = Item::new("proposal")
            .bare("number", p.number)
            .bare("protocol", p.protocol.to_string());
        if !p.spi.is_empty() {
            pi = pi.field("spi", format!("0x{}", hex(&p.spi)));
        }
        for (key, ty) in [
            ("encr", TransformType::ENCR),
            ("integ", TransformType::INTEG),
            ("prf", TransformType::PRF),
            ("ke", TransformType::DH),
            ("esn", TransformType::ESN),
        ] {
            let names: Vec<String> = p
                .transforms_of(ty)
                .map(|t| match t.as_encryption() {
                    Some(enc) => enc.to_string(),
                    None => t.id.to_string(),
                })
                .collect();
            if !names.is_empty() {
                pi = pi.field(key, names.join(","));
            }
        }
        let other: Vec<String> = p
            .transforms
            .iter()
            .filter(|t| matches!(t.id, ikev2::wire::TransformId::Other(..)))
            .map(|t| t.id.to_string())
            .collect();
        if !other.is_empty() {
            pi = pi.field("other", other.join(","));
        }
        item = item.child(pi);
    }
    item
}

fn ke_item(ke: &KeyExchange) -> Item {
    Item::new("KE")
        .field("group", ke.group.to_string())
        .field("len", ke.data.len())
}

fn id_item(kind: &str, id: &Identification) -> Item {
    let value = if let Some(addr) = id.ip_addr() {
        addr.to_string()
    } else if matches!(id.id_type, IdType::FQDN | IdType::RFC822_ADDR) {
        printable(&id.data)
    } else {
        hex(&id.data)
    };
    Item::new(kind)
        .bare("id_type", id.id_type.to_string())
        .bare("value", value)
}

fn cert_item(c: &Cert) -> Item {
    Item::new("CERT")
        .field("encoding", c.encoding.to_string())
        .field("len", c.data.len())
}

fn certreq_item(c: &CertReq) -> Item {
    Item::new("CERTREQ")
        .field("encoding", c.encoding.to_string())
        .field("authorities", c.key_hashes().count())
}

fn auth_item(a: &Auth) -> Item {
    Item::new("AUTH")
        .field("method", a.method.to_string())
        .field("len", a.data.len())
}

fn notify_item(n: &Notify) -> Item {
    let mut item = Item::new("N").bare("notify", n.notify_type.to_string());
    if !n.spi.is_empty() {
        item = item
            .field("protocol", n.protocol.to_string())
            .field("spi", format!("0x{}", hex(&n.spi)));
    }
    match n.notify_type {
        NotifyType::SIGNATURE_HASH_ALGORITHMS => {
            // RFC 7427 section 4: a list of 16-bit hash algorithm IDs.
            let names: Vec<String> = n
                .data
                .chunks(2)
                .map(|c| match c {
                    [a, b] => hash_name(u16::from_be_bytes([*a, *b])),
                    _ => "?".to_owned(),
                })
                .collect();
            item = item.field("hashes", names.join(","));
        }
        NotifyType::INVALID_KE_PAYLOAD => {
            if let [a, b] = n.data[..] {
                let group = ipsec_core::crypto::DhGroup(u16::from_be_bytes([a, b]));
                item = item.field("group", group.to_string());
            }
        }
        _ if n.data.is_empty() => {}
        _ if n.data.len() <= MAX_NOTIFY_HEX => item = item.field("data", hex(&n.data)),
        _ => item = item.field("data_len", n.data.len()),
    }
    item
}

/// RFC 7427 section 7 hash algorithm names.
fn hash_name(id: u16) -> String {
    match id {
        1 => "SHA1".into(),
        2 => "SHA2_256".into(),
        3 => "SHA2_384".into(),
        4 => "SHA2_512".into(),
        5 => "IDENTITY".into(),
        other => other.to_string(),
    }
}

fn delete_item(d: &Delete) -> Item {
    let mut item = Item::new("D").field("protocol", d.protocol.to_string());
    if !d.spis.is_empty() {
        let spis: Vec<String> = d.spis.iter().map(|s| format!("0x{}", hex(s))).collect();
        item = item.field("spis", spis.join(","));
    }
    item
}

fn ts_item(kind: &str, ts: &TrafficSelectors) -> Item {
    let entries: Vec<String> = ts
        .selectors
        .iter()
        .map(|e| match e {
            TsEntry::Ip(s) => selector_text(s),
            TsEntry::Other { ts_type, body } => format!("{ts_type}({} bytes)", body.len()),
        })
        .collect();
    Item::new(kind).bare("selectors", entries.join(" "))
}

/// A selector as strongSwan prints it: `10.1.0.0/24`, `10.1.0.1..10.1.0.9`, with `[proto/ports]`
/// when it is narrower than any protocol and any port.
fn selector_text(s: &TrafficSelector) -> String {
    let mut out = match prefix_len(s.start_addr, s.end_addr) {
        Some(len) => format!("{}/{len}", s.start_addr),
        None => format!("{}..{}", s.start_addr, s.end_addr),
    };
    let any_port = s.start_port == 0 && s.end_port == u16::MAX;
    if s.protocol != 0 || !any_port {
        let ports = if any_port {
            String::new()
        } else if s.start_port == s.end_port {
            format!("/{}", s.start_port)
        } else {
            format!("/{}-{}", s.start_port, s.end_port)
        };
        out = format!("{out}[{}{ports}]", s.protocol);
    }
    out
}

/// The prefix length when `start..=end` is exactly one CIDR block.
fn prefix_len(start: IpAddr, end: IpAddr) -> Option<u32> {
    let (a, b, bits) = match (start, end) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return None,
    };
    let host_bits = (a ^ b).count_ones();
    let mask = if host_bits == 0 {
        0
    } else {
        u128::MAX >> (128 - host_bits)
    };
    // One block: the differing bits are exactly the low `host_bits`, all 0 in a and all 1 in b.
    (a & mask == 0 && b & mask == mask && (a ^ b) == mask).then_some(bits - host_bits)
}

fn cp_item(c: &Config) -> Item {
    let attrs: Vec<String> = c
        .attributes
        .iter()
        .map(|a| {
            if a.value.is_empty() {
                a.attr_type.to_string()
            } else {
                format!("{}={}", a.attr_type, cp_value(&a.value))
            }
        })
        .collect();
    let mut item = Item::new("CP").bare("cfg_type", c.cfg_type.to_string());
    if !attrs.is_empty() {
        item = item.bare("attributes", attrs.join(" "));
    }
    item
}

fn cp_value(v: &[u8]) -> String {
    match v.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(v).unwrap_or_default()).to_string(),
        16 => IpAddr::from(<[u8; 16]>::try_from(v).unwrap_or_default()).to_string(),
        _ => hex(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_as_prefixes_or_ranges() {
        let ts = |a: &str, b: &str, proto, p0, p1| TrafficSelector {
            protocol: proto,
            start_port: p0,
            end_port: p1,
            start_addr: a.parse().unwrap(),
            end_addr: b.parse().unwrap(),
        };
        assert_eq!(
            selector_text(&ts("10.1.0.0", "10.1.0.255", 0, 0, 65535)),
            "10.1.0.0/24"
        );
        assert_eq!(
            selector_text(&ts("10.1.0.1", "10.1.0.1", 6, 80, 80)),
            "10.1.0.1/32[6/80]"
        );
        assert_eq!(
            selector_text(&ts("10.1.0.1", "10.1.0.9", 17, 0, 65535)),
            "10.1.0.1..10.1.0.9[17]"
        );
        assert_eq!(
            selector_text(&ts("0.0.0.0", "255.255.255.255", 0, 1, 2)),
            "0.0.0.0/0[0/1-2]"
        );
        assert_eq!(
            selector_text(&ts(
                "::",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                0,
                0,
                65535
            )),
            "::/0"
        );
        assert_eq!(
            prefix_len("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()),
            None
        );
        assert_eq!(
            prefix_len("10.0.0.0".parse().unwrap(), "::1".parse().unwrap()),
            None
        );
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn the_sa_table_is_bounded_and_matches_a_zero_responder_spi() {
        let mut t = SaTable::default();
        t.learn(7, 0, None);
        let chosen = Some((
            Encryption::new(ipsec_core::crypto::EncrId::ENCR_AES_GCM_16, 128),
            IntegId::NONE,
        ));
        t.learn(7, 9, chosen);
        assert_eq!(t.sas.len(), 1);
        assert_eq!(t.find(7, 9).map(|s| s.chosen), Some(chosen));
        assert!(t.find(7, 10).is_none());
        for spi in 100..100 + MAX_SAS as u64 + 10 {
            t.learn(spi, spi, None);
        }
        assert_eq!(t.sas.len(), MAX_SAS);
        assert!(t.find(7, 9).is_none(), "the oldest SA was forgotten");
    }
}
