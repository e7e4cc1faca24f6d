//! IKE message fragmentation (RFC 7383): splitting a protected message into SKF fragments, and
//! reassembling received fragments.
//!
//! Each fragment is a complete IKE message whose only payload is an SKF payload, protected on its
//! own (section 2.5): the associated data or ICV also covers the Fragment Number and Total
//! Fragments fields. Fragments are checked and decrypted as they arrive, before they are stored
//! (section 2.6), so a forged fragment never displaces a real one.

use super::header::{Header, HEADER_LEN};
use super::payload::{emit_chain, first_type, parse_chain};
use super::protect::{open, seal};
use super::{Error, Limits, Message, Payload, PayloadType, SkKeys, PAYLOAD_HEADER_LEN};
use ipsec_core::crypto::SecureRandom;
use zeroize::Zeroizing;

/// Encrypts `inner` into as few SKF fragments as fit `max_message_len` bytes each (the IKE message
/// size: the datagram size minus IP and UDP headers and, on port 4500, the non-ESP marker).
///
/// Fails with [`Error::TooLong`] when not even one byte of payload fits a fragment or more than
/// `limits.max_fragments` fragments would be needed.
pub fn protect_fragments(
    header: &Header,
    inner: &[Payload],
    keys: &SkKeys,
    rng: &dyn SecureRandom,
    max_message_len: usize,
    limits: &Limits,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut plain = Zeroizing::new(Vec::new());
    emit_chain(inner, &mut plain)?;
    let room = max_message_len
        .checked_sub(HEADER_LEN + PAYLOAD_HEADER_LEN + 4)
        .ok_or(Error::TooLong("fragment size below the fixed headers"))?;
    let chunk = keys
        .max_plain_for(room)
        .ok_or(Error::TooLong("fragment size leaves no room for payload"))?;
    let chunks: Vec<&[u8]> = if plain.is_empty() {
        vec![&[][..]]
    } else {
        plain.chunks(chunk).collect()
    };
    if chunks.len() > limits.max_fragments {
        return Err(Error::TooLong("too many fragments"));
    }
    let total = u16::try_from(chunks.len()).map_err(|_| Error::TooLong("too many fragments"))?;
    let mut out = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        let number = u16::try_from(i + 1).map_err(|_| Error::TooLong("too many fragments"))?;
        let next = if number == 1 {
            first_type(inner)
        } else {
            PayloadType::NONE
        };
        let mut extra = [0; 4];
        extra[..2].copy_from_slice(&number.to_be_bytes());
        extra[2..].copy_from_slice(&total.to_be_bytes());
        out.push(seal(header, PayloadType::SKF, next, &extra, c, keys, rng)?);
    }
    Ok(out)
}

#[derive(Debug)]
struct Partial {
    initiator_spi: u64,
    responder_spi: u64,
    message_id: u32,
    exchange: super::ExchangeType,
    header: Header,
    first_type: PayloadType,
    fragments: Vec<Option<Zeroizing<Vec<u8>>>>,
    received: usize,
    bytes: usize,
}

/// Collects the fragments of one request and one response at a time (RFC 7383 section 2.6).
///
/// Each fragment's ICV is checked before it is stored. Duplicates are ignored; fragments may come
/// in any order; when the last missing one arrives, [`Reassembler::handle`] returns the message.
/// Requests and responses are kept apart (a peer's request and its response to ours may carry
/// the same message ID, each side numbering its own requests). A fragment of a different
/// message in the same direction (other SPIs, exchange or message ID) discards the partial one
/// and starts anew, as does one announcing more fragments than before (the sender re-fragmented
/// for a smaller size, section 2.5.1); one announcing fewer is rejected. The fragment count and
/// the reassembled size are bounded by [`Limits`].
#[derive(Debug, Default)]
pub struct Reassembler {
    limits: Limits,
    /// The partial request and the partial response.
    partial: [Option<Partial>; 2],
    /// The direction of the last fragment taken.
    last: usize,
}

impl Reassembler {
    /// A reassembler with the given limits.
    pub fn new(limits: Limits) -> Self {
        Reassembler {
            limits,
            partial: [None, None],
            last: 0,
        }
    }

    /// Drops any partial message.
    pub fn reset(&mut self) {
        self.partial = [None, None];
    }

    /// The numbers of the fragments still missing from the partial message the last fragment
    /// belonged to, if any.
    pub fn missing(&self) -> Vec<u16> {
        let Some(p) = &self.partial[self.last] else {
            return Vec::new();
        };
        p.fragments
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_none())
            .filter_map(|(i, _)| u16::try_from(i + 1).ok())
            .collect()
    }

    /// Takes one received fragment (a whole IKE message carrying an SKF payload). Returns the
    /// reassembled message, its inner payloads decrypted, once all fragments are in; `Ok(None)`
    /// while some are missing or for a duplicate. An error leaves the partial message as it was,
    /// except for a size limit, which discards it.
    pub fn handle(&mut self, bytes: &[u8], keys: &SkKeys) -> Result<Option<Message>, Error> {
        let opened = open(bytes, keys, &self.limits)?;
        let (number, total) = opened
            .fragment
            .ok_or(Error::BadFragment("not a fragment"))?;
        if !opened.outer.is_empty() {
            return Err(Error::Malformed("payloads before an SKF payload"));
        }
        if usize::from(total) > self.limits.max_fragments {
            return Err(Error::BadFragment("more fragments than allowed"));
        }
        let h = opened.header;
        let dir = usize::from(h.flags.is_response());
        self.last = dir;
        let partial = &mut self.partial[dir];
        let same_message = partial.as_ref().is_some_and(|p| {
            p.initiator_spi == h.initiator_spi
                && p.responder_spi == h.responder_spi
                && p.exchange == h.exchange_type
                && p.message_id == h.message_id
        });
        match partial {
            Some(p) if same_message && usize::from(total) < p.fragments.len() => {
                return Err(Error::BadFragment("fewer fragments than announced before"));
            }
            Some(p) if same_message && usize::from(total) == p.fragments.len() => {}
            _ => {
                *partial = Some(Partial {
                    initiator_spi: h.initiator_spi,
                    responder_spi: h.responder_spi,
                    message_id: h.message_id,
                    exchange: h.exchange_type,
                    header: h,
                    first_type: PayloadType::NONE,
                    fragments: (0..total).map(|_| None).collect(),
                    received: 0,
                    bytes: 0,
                });
            }
        }
        let limit = self.limits.max_reassembled_len;
        let Some(p) = partial.as_mut() else {
            return Err(Error::BadFragment("no partial message"));
        };
        let slot = p
            .fragments
            .get_mut(usize::from(number) - 1)
            .ok_or(Error::BadFragment("fragment number out of range"))?;
        if slot.is_some() {
            return Ok(None);
        }
        p.bytes += opened.plaintext.len();
        if p.bytes > limit {
            *partial = None;
            return Err(Error::LimitExceeded("reassembled message size"));
        }
        *slot = Some(opened.plaintext);
        p.received += 1;
        if number == 1 {
            p.first_type = opened.next_payload;
            p.header = h;
        }
        if p.received < p.fragments.len() {
            return Ok(None);
        }
        let Some(p) = partial.take() else {
            return Ok(None);
        };
        let mut plain = Zeroizing::new(Vec::with_capacity(p.bytes));
        for f in p.fragments.iter().flatten() {
            plain.extend_from_slice(f);
        }
        let payloads = parse_chain(p.first_type, &plain, &self.limits, true)?;
        Ok(Some(Message {
            header: p.header,
            payloads,
        }))
    }
}
