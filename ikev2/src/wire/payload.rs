//! The generic payload header (RFC 7296 section 3.2) and the payload chain.
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Each payload names the type of the one after it; the IKE header names the first. The SK and SKF
//! payloads end the chain: their `Next Payload` names the first payload inside the encrypted data
//! (RFC 7296 section 3.14, RFC 7383 section 2.5).

use super::{
    be16, byte, len16, Auth, Cert, CertReq, Config, Delete, Eap, Encrypted, EncryptedFragment,
    Error, Identification, KeyExchange, Limits, Nonce, Notify, PayloadType, SecurityAssociation,
    TrafficSelectors, VendorId,
};

/// Length of the generic payload header in bytes.
pub const PAYLOAD_HEADER_LEN: usize = 4;

const CRITICAL: u8 = 0x80;

/// A decoded generic payload header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadHeader {
    /// The type of the next payload (for SK/SKF: of the first encrypted payload).
    pub next_payload: PayloadType,
    /// The critical bit.
    pub critical: bool,
    /// The payload length, header included.
    pub length: u16,
}

impl PayloadHeader {
    /// Reads a generic payload header from the start of `b`.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        let length = be16(b, 2)?;
        if usize::from(length) < PAYLOAD_HEADER_LEN {
            return Err(Error::BadLength("payload length shorter than its header"));
        }
        Ok(PayloadHeader {
            next_payload: PayloadType(byte(b, 0)?),
            critical: byte(b, 1)? & CRITICAL != 0,
            length,
        })
    }

    /// Appends the header to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.next_payload.0);
        out.push(if self.critical { CRITICAL } else { 0 });
        out.extend_from_slice(&self.length.to_be_bytes());
    }
}

/// One payload of a chain, not yet decoded: a zero-copy view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// This payload's type (named by the previous payload or the IKE header).
    pub payload_type: PayloadType,
    /// The generic header.
    pub header: PayloadHeader,
    /// The body after the generic header.
    pub body: &'a [u8],
    /// Offset of the generic header from the start of the chain's buffer.
    pub offset: usize,
}

/// An iterator over a payload chain, yielding [`RawPayload`]s without decoding their bodies.
///
/// It stops after the payload whose `Next Payload` is zero, or after an SK or SKF payload; bytes
/// left over after that are an error. It yields at most `max_payloads` items, then an error.
#[derive(Clone, Debug)]
pub struct RawPayloads<'a> {
    buf: &'a [u8],
    offset: usize,
    next: PayloadType,
    count: usize,
    max_payloads: usize,
    done: bool,
}

impl<'a> RawPayloads<'a> {
    /// Iterates over the chain in `buf` whose first payload has type `first`.
    pub fn new(first: PayloadType, buf: &'a [u8], limits: &Limits) -> Self {
        RawPayloads {
            buf,
            offset: 0,
            next: first,
            count: 0,
            max_payloads: limits.max_payloads,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<RawPayload<'a>>, Error> {
        let rest = self.buf.get(self.offset..).ok_or(Error::Truncated)?;
        if self.next == PayloadType::NONE {
            if !rest.is_empty() {
                return Err(Error::BadLength("data after the last payload"));
            }
            return Ok(None);
        }
        self.count += 1;
        if self.count > self.max_payloads {
            return Err(Error::LimitExceeded("payloads in a message"));
        }
        let header = PayloadHeader::parse(rest)?;
        let len = usize::from(header.length);
        let body = rest.get(PAYLOAD_HEADER_LEN..len).ok_or(Error::Truncated)?;
        let raw = RawPayload {
            payload_type: self.next,
            header,
            body,
            offset: self.offset,
        };
        self.offset += len;
        if matches!(raw.payload_type, PayloadType::SK | PayloadType::SKF) {
            if self.offset != self.buf.len() {
                return Err(Error::Malformed("encrypted payload is not the last one"));
            }
            self.done = true;
        } else {
            self.next = header.next_payload;
        }
        Ok(Some(raw))
    }
}

impl<'a> Iterator for RawPayloads<'a> {
    type Item = Result<RawPayload<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// One payload, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Security Association (SA).
    Sa(SecurityAssociation),
    /// Key Exchange (KE).
    Ke(KeyExchange),
    /// Identification - Initiator (IDi).
    IdI(Identification),
    /// Identification - Responder (IDr).
    IdR(Identification),
    /// Certificate (CERT).
    Cert(Cert),
    /// Certificate Request (CERTREQ).
    CertReq(CertReq),
    /// Authentication (AUTH).
    Auth(Auth),
    /// Nonce (Ni or Nr).
    Nonce(Nonce),
    /// Notify (N).
    Notify(Notify),
    /// Delete (D).
    Delete(Delete),
    /// Vendor ID (V).
    VendorId(VendorId),
    /// Traffic Selector - Initiator (TSi).
    TsI(TrafficSelectors),
    /// Traffic Selector - Responder (TSr).
    TsR(TrafficSelectors),
    /// Encrypted and Authenticated (SK), still protected. Must be the last payload.
    Sk(Encrypted),
    /// Encrypted and Authenticated Fragment (SKF), still protected. Must be the last payload.
    Skf(EncryptedFragment),
    /// Configuration (CP).
    Cp(Config),
    /// Extensible Authentication (EAP).
    Eap(Eap),
    /// A payload type we do not implement, kept verbatim. A received one always has the critical
    /// bit clear (a critical one fails the parse with UNSUPPORTED_CRITICAL_PAYLOAD).
    Unknown {
        /// The payload type.
        payload_type: PayloadType,
        /// The critical bit to emit.
        critical: bool,
        /// The body after the generic header.
        body: Vec<u8>,
    },
}

impl Payload {
    /// This payload's type.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Unknown { payload_type, .. } => *payload_type,
        }
    }

    /// Decodes a raw payload. SK and SKF keep their generic header's `Next Payload`, which names
    /// their first inner payload; an unknown type with the critical bit set is an error.
    pub fn parse(raw: &RawPayload<'_>, limits: &Limits) -> Result<Payload, Error> {
        let b = raw.body;
        Ok(match raw.payload_type {
            PayloadType::SA => Payload::Sa(SecurityAssociation::parse(b, limits)?),
            PayloadType::KE => Payload::Ke(KeyExchange::parse(b)?),
            PayloadType::IDI => Payload::IdI(Identification::parse(b)?),
            PayloadType::IDR => Payload::IdR(Identification::parse(b)?),
            PayloadType::CERT => Payload::Cert(Cert::parse(b)?),
            PayloadType::CERTREQ => Payload::CertReq(CertReq::parse(b)?),
            PayloadType::AUTH => Payload::Auth(Auth::parse(b)?),
            PayloadType::NONCE => Payload::Nonce(Nonce::parse(b)?),
            PayloadType::NOTIFY => Payload::Notify(Notify::parse(b)?),
            PayloadType::DELETE => Payload::Delete(Delete::parse(b, limits)?),
            PayloadType::VENDOR_ID => Payload::VendorId(VendorId::parse(b)?),
            PayloadType::TSI => Payload::TsI(TrafficSelectors::parse(b, limits)?),
            PayloadType::TSR => Payload::TsR(TrafficSelectors::parse(b, limits)?),
            PayloadType::SK => Payload::Sk(Encrypted::parse(raw.header.next_payload, b)?),
            PayloadType::SKF => Payload::Skf(EncryptedFragment::parse(raw.header.next_payload, b)?),
            PayloadType::CP => Payload::Cp(Config::parse(b, limits)?),
            PayloadType::EAP => Payload::Eap(Eap::parse(b)?),
            t if raw.header.critical => return Err(Error::UnsupportedCriticalPayload(t)),
            t => Payload::Unknown {
                payload_type: t,
                critical: false,
                body: b.to_vec(),
            },
        })
    }

    /// Length of the body, without the generic header.
    pub fn body_len(&self) -> usize {
        match self {
            Payload::Sa(p) => p.buffer_len(),
            Payload::Ke(p) => p.buffer_len(),
            Payload::IdI(p) | Payload::IdR(p) => p.buffer_len(),
            Payload::Cert(p) => p.buffer_len(),
            Payload::CertReq(p) => p.buffer_len(),
            Payload::Auth(p) => p.buffer_len(),
            Payload::Nonce(p) => p.buffer_len(),
            Payload::Notify(p) => p.buffer_len(),
            Payload::Delete(p) => p.buffer_len(),
            Payload::VendorId(p) => p.buffer_len(),
            Payload::TsI(p) | Payload::TsR(p) => p.buffer_len(),
            Payload::Sk(p) => p.buffer_len(),
            Payload::Skf(p) => p.buffer_len(),
            Payload::Cp(p) => p.buffer_len(),
            Payload::Eap(p) => p.buffer_len(),
            Payload::Unknown { body, .. } => body.len(),
        }
    }

    /// Length of the payload with its generic header.
    pub fn buffer_len(&self) -> usize {
        PAYLOAD_HEADER_LEN + self.body_len()
    }

    /// Appends the body, without the generic header, to `out`.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Payload::Sa(p) => p.emit(out),
            Payload::Ke(p) => p.emit(out),
            Payload::IdI(p) | Payload::IdR(p) => p.emit(out),
            Payload::Cert(p) => p.emit(out),
            Payload::CertReq(p) => p.emit(out),
            Payload::Auth(p) => p.emit(out),
            Payload::Nonce(p) => p.emit(out),
            Payload::Notify(p) => p.emit(out),
            Payload::Delete(p) => p.emit(out),
            Payload::VendorId(p) => p.emit(out),
            Payload::TsI(p) | Payload::TsR(p) => p.emit(out),
            Payload::Sk(p) => p.emit(out),
            Payload::Skf(p) => p.emit(out),
            Payload::Cp(p) => p.emit(out),
            Payload::Eap(p) => p.emit(out),
            Payload::Unknown { body, .. } => {
                out.extend_from_slice(body);
                Ok(())
            }
        }
    }

    /// Appends the payload with its generic header to `out`; `next` is the type of the payload
    /// that follows (ignored by SK and SKF, which name their first inner payload instead).
    pub fn emit(&self, next: PayloadType, out: &mut Vec<u8>) -> Result<(), Error> {
        let (next_payload, critical) = match self {
            Payload::Sk(p) => (p.next_payload, false),
            Payload::Skf(p) => (p.next_payload, false),
            Payload::Unknown { critical, .. } => (next, *critical),
            _ => (next, false),
        };
        let header = PayloadHeader {
            next_payload,
            critical,
            length: len16(self.buffer_len(), "payload")?,
        };
        let start = out.len();
        header.emit(out);
        self.emit_body(out)?;
        if out.len() - start != self.buffer_len() {
            return Err(Error::Unrepresentable("payload body length mismatch"));
        }
        Ok(())
    }
}

/// Decodes a whole payload chain whose first payload has type `first`. With `inner`, the chain is
/// the plaintext of an SK payload, which may not contain another SK or SKF.
pub(crate) fn parse_chain(
    first: PayloadType,
    buf: &[u8],
    limits: &Limits,
    inner: bool,
) -> Result<Vec<Payload>, Error> {
    let mut out = Vec::new();
    for raw in RawPayloads::new(first, buf, limits) {
        let raw = raw?;
        if inner && matches!(raw.payload_type, PayloadType::SK | PayloadType::SKF) {
            return Err(Error::Malformed(
                "encrypted payload inside an encrypted payload",
            ));
        }
        out.push(Payload::parse(&raw, limits)?);
    }
    Ok(out)
}

/// The type of the first payload of a chain (NONE for an empty one).
pub(crate) fn first_type(payloads: &[Payload]) -> PayloadType {
    payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type)
}

/// Length of a chain in bytes.
pub(crate) fn chain_len(payloads: &[Payload]) -> usize {
    payloads.iter().map(Payload::buffer_len).sum()
}

/// Appends a payload chain to `out`. SK and SKF may only come last.
pub(crate) fn emit_chain(payloads: &[Payload], out: &mut Vec<u8>) -> Result<(), Error> {
    for (i, p) in payloads.iter().enumerate() {
        let next = match payloads.get(i + 1) {
            Some(n) => {
                if matches!(p, Payload::Sk(_) | Payload::Skf(_)) {
                    return Err(Error::Unrepresentable(
                        "an encrypted payload must be the last one",
                    ));
                }
                n.payload_type()
            }
            None => PayloadType::NONE,
        };
        p.emit(next, out)?;
    }
    Ok(())
}
