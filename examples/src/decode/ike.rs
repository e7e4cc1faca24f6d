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
use super::payload::{payload_item, Context};
use super::report::Item;
use ikev2::wire::{
    Error, ExchangeType, Limits, Packet, Payload, PayloadType, Proposal, RawPayloads, Reassembler,
    SkKeys, HEADER_LEN,
};
use ipsec_core::crypto::{default_provider, Encryption, IntegId, TransformType};

/// IKE SAs remembered at once; the oldest is forgotten beyond this (a capture of a busy gateway
/// must not grow the table without bound).
const MAX_SAS: usize = 4096;

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
