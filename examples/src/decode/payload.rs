//! One report item per IKE payload, with the fields an operator looks for: proposals with their
//! transform names, KE group and length, nonce length, notify names (and short data, such as the
//! NAT detection hashes), ID type and value, traffic selector ranges, AUTH method.

use super::report::{hex, printable, Item};
use ikev2::wire::{
    Auth, Cert, CertReq, Config, Delete, IdType, Identification, KeyExchange, Notify, NotifyType,
    Payload, SecurityAssociation, TrafficSelectors, TsEntry,
};
use ipsec_core::crypto::TransformType;
use ipsec_core::selector::TrafficSelector;
use std::net::IpAddr;

/// Notify data up to this many bytes is printed in hex; longer data only by length.
const MAX_NOTIFY_HEX: usize = 32;

/// Facts about the message that change how payloads are named.
pub(super) struct Context {
    /// A request (its nonce is Ni) rather than a response (Nr), RFC 7296 section 1.3.
    pub(super) request: bool,
}

/// A payload other than SK/SKF.
pub(super) fn payload_item(p: &Payload, ctx: &Context) -> Item {
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
