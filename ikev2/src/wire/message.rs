//! A whole IKE message: the header and its payload chain.

use super::header::{Header, Packet, HEADER_LEN};
use super::payload::{chain_len, emit_chain, first_type, parse_chain};
use super::{
    Auth, Delete, Error, Identification, KeyExchange, Limits, Nonce, Notify, NotifyType, Payload,
    SecurityAssociation, TrafficSelectors,
};

/// An IKE message: the header and the payloads in order.
///
/// A protected message parses with its SK (or SKF) payload still encrypted, as the last payload;
/// [`super::unprotect`] returns the same type with the SK payload replaced by the decrypted inner
/// payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The header, without the fields the payloads determine.
    pub header: Header,
    /// The payloads in order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Decodes a message with the default [`Limits`]. `bytes` must be exactly one message (the UDP
    /// payload, after the non-ESP marker on port 4500).
    pub fn parse(bytes: &[u8]) -> Result<Message, Error> {
        Self::parse_with(bytes, &Limits::default())
    }

    /// Decodes a message within `limits`.
    pub fn parse_with(bytes: &[u8], limits: &Limits) -> Result<Message, Error> {
        let packet = check_packet(bytes, limits)?;
        let header = Header::parse(&packet)?;
        let payloads = parse_chain(packet.next_payload(), packet.payload(), limits, false)?;
        Ok(Message { header, payloads })
    }

    /// Length of the encoded message in bytes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + chain_len(&self.payloads)
    }

    /// Encodes the message into the start of `buf`, returning the length written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let bytes = self.to_bytes()?;
        let got = buf.len();
        let out = buf.get_mut(..bytes.len()).ok_or(Error::BufferTooSmall {
            needed: bytes.len(),
            got,
        })?;
        out.copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// Encodes the message into a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let len = self.buffer_len();
        let length = u32::try_from(len).map_err(|_| Error::TooLong("message"))?;
        let mut out = vec![0; HEADER_LEN];
        out.reserve(len - HEADER_LEN);
        self.header
            .emit(first_type(&self.payloads), length, &mut out)?;
        emit_chain(&self.payloads, &mut out)?;
        if out.len() != len {
            return Err(Error::Unrepresentable("message length mismatch"));
        }
        Ok(out)
    }

    /// The Notify payloads, in order.
    pub fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The first Notify of type `ty`.
    pub fn notify(&self, ty: NotifyType) -> Option<&Notify> {
        self.notifies().find(|n| n.notify_type == ty)
    }

    /// The first payload that `pick` maps to `Some`: for example
    /// `msg.find(|p| match p { Payload::Cp(c) => Some(c), _ => None })`.
    pub fn find<'m, T>(&'m self, pick: impl Fn(&'m Payload) -> Option<&'m T>) -> Option<&'m T> {
        self.payloads.iter().find_map(pick)
    }

    /// The first SA payload.
    pub fn sa(&self) -> Option<&SecurityAssociation> {
        self.find(|p| match p {
            Payload::Sa(s) => Some(s),
            _ => None,
        })
    }

    /// The first KE payload.
    pub fn ke(&self) -> Option<&KeyExchange> {
        self.find(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
    }

    /// The first Nonce payload (Ni or Nr).
    pub fn nonce(&self) -> Option<&Nonce> {
        self.find(|p| match p {
            Payload::Nonce(n) => Some(n),
            _ => None,
        })
    }

    /// The first IDi payload.
    pub fn id_i(&self) -> Option<&Identification> {
        self.find(|p| match p {
            Payload::IdI(i) => Some(i),
            _ => None,
        })
    }

    /// The first IDr payload.
    pub fn id_r(&self) -> Option<&Identification> {
        self.find(|p| match p {
            Payload::IdR(i) => Some(i),
            _ => None,
        })
    }

    /// The first AUTH payload.
    pub fn auth(&self) -> Option<&Auth> {
        self.find(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        })
    }

    /// The first TSi payload.
    pub fn ts_i(&self) -> Option<&TrafficSelectors> {
        self.find(|p| match p {
            Payload::TsI(t) => Some(t),
            _ => None,
        })
    }

    /// The first TSr payload.
    pub fn ts_r(&self) -> Option<&TrafficSelectors> {
        self.find(|p| match p {
            Payload::TsR(t) => Some(t),
            _ => None,
        })
    }

    /// The Delete payloads, in order.
    pub fn deletes(&self) -> impl Iterator<Item = &Delete> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Delete(d) => Some(d),
            _ => None,
        })
    }
}

/// Checks the header of a datagram that must be exactly one message within `limits`.
pub(crate) fn check_packet<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<Packet<&'a [u8]>, Error> {
    if bytes.len() > limits.max_message_len {
        return Err(Error::LimitExceeded("message size"));
    }
    let packet = Packet::new_checked(bytes)?;
    if usize::try_from(packet.length()).ok() != Some(bytes.len()) {
        return Err(Error::BadLength("header length differs from the datagram"));
    }
    Ok(packet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ExchangeType, Flags, Header, Nonce, TrafficSelectors};

    #[test]
    fn accessors_pick_the_first_payload_of_their_type() {
        let msg = Message {
            header: Header::new(
                1,
                2,
                ExchangeType::INFORMATIONAL,
                Flags::new(true, false),
                0,
            ),
            payloads: vec![
                Payload::Delete(Delete::esp(&[7])),
                Payload::Nonce(Nonce { data: vec![1; 16] }),
                Payload::Nonce(Nonce { data: vec![2; 16] }),
                Payload::TsR(TrafficSelectors::from_selectors(&[])),
                Payload::Delete(Delete::ike()),
            ],
        };
        assert_eq!(msg.nonce().map(|n| n.data[0]), Some(1));
        assert!(msg.ts_r().is_some());
        assert!(msg.ts_i().is_none());
        assert!(msg.sa().is_none() && msg.ke().is_none() && msg.auth().is_none());
        assert!(msg.id_i().is_none() && msg.id_r().is_none());
        assert_eq!(msg.deletes().count(), 2);
        assert_eq!(msg.deletes().nth(1), Some(&Delete::ike()));
    }
}
