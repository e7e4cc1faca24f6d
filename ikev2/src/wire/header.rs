//! The IKE header (RFC 7296 section 3.1).
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Initiator's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Responder's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Message ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Length                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{Error, ExchangeType, PayloadType};

/// Length of the IKE header in bytes.
pub const HEADER_LEN: usize = 28;

mod field {
    use core::ops::Range;
    pub(super) const SPI_I: Range<usize> = 0..8;
    pub(super) const SPI_R: Range<usize> = 8..16;
    pub(super) const NEXT_PAYLOAD: usize = 16;
    pub(super) const VERSION: usize = 17;
    pub(super) const EXCHANGE: usize = 18;
    pub(super) const FLAGS: usize = 19;
    pub(super) const MESSAGE_ID: Range<usize> = 20..24;
    pub(super) const LENGTH: Range<usize> = 24..28;
}

/// The header flags byte (RFC 7296 section 3.1). Bits other than I, V and R are kept as received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// Response bit: this message is a response to a message with the same message ID.
    pub const RESPONSE: u8 = 0x20;
    /// Version bit: the sender can speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// Initiator bit: the sender is the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;

    /// Flags for a message from the original initiator (`initiator`) that is or is not a response.
    pub fn new(initiator: bool, response: bool) -> Self {
        let mut f = 0;
        if initiator {
            f |= Self::INITIATOR;
        }
        if response {
            f |= Self::RESPONSE;
        }
        Flags(f)
    }

    /// True when the sender is the original initiator.
    pub fn is_initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }

    /// True for a response.
    pub fn is_response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }

    /// True when the version bit is set.
    pub fn version_bit(self) -> bool {
        self.0 & Self::VERSION != 0
    }
}

/// A zero-copy view of an IKE message's header, for routing a datagram by SPI and message ID
/// before anything else is decoded.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; the getters may then panic on a short buffer. Use
    /// [`Packet::new_checked`] on untrusted data.
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after checking that it holds a header and that the header's `Length` is at
    /// least the header and no more than the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Packet { buffer };
        p.check_len()?;
        Ok(p)
    }

    /// Checks the buffer against the header's `Length` field.
    pub fn check_len(&self) -> Result<(), Error> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::try_from(self.length()).map_err(|_| Error::BadLength("message length"))?;
        if len < HEADER_LEN {
            return Err(Error::BadLength("message length shorter than the header"));
        }
        if len > b.len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn array<const N: usize>(&self, r: core::ops::Range<usize>) -> [u8; N] {
        let mut a = [0; N];
        a.copy_from_slice(&self.buffer.as_ref()[r]);
        a
    }

    /// The IKE SA initiator's SPI.
    pub fn initiator_spi(&self) -> u64 {
        u64::from_be_bytes(self.array(field::SPI_I))
    }

    /// The IKE SA responder's SPI (zero in a first IKE_SA_INIT request).
    pub fn responder_spi(&self) -> u64 {
        u64::from_be_bytes(self.array(field::SPI_R))
    }

    /// The type of the first payload.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }

    /// The major version (2 for IKEv2).
    pub fn major_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }

    /// The minor version (0 for RFC 7296).
    pub fn minor_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] & 0x0f
    }

    /// The exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.buffer.as_ref()[field::EXCHANGE])
    }

    /// The flags.
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }

    /// The message ID.
    pub fn message_id(&self) -> u32 {
        u32::from_be_bytes(self.array(field::MESSAGE_ID))
    }

    /// The `Length` field: the whole message, header included.
    pub fn length(&self) -> u32 {
        u32::from_be_bytes(self.array(field::LENGTH))
    }

    /// The message's bytes, header included, up to `Length`.
    pub fn message(&self) -> &[u8] {
        let len = self.length() as usize;
        &self.buffer.as_ref()[..len]
    }

    /// The payload bytes after the header, up to `Length`.
    pub fn payload(&self) -> &[u8] {
        let len = self.length() as usize;
        &self.buffer.as_ref()[HEADER_LEN..len]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the initiator's SPI.
    pub fn set_initiator_spi(&mut self, v: u64) {
        self.buffer.as_mut()[field::SPI_I].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the responder's SPI.
    pub fn set_responder_spi(&mut self, v: u64) {
        self.buffer.as_mut()[field::SPI_R].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the first payload's type.
    pub fn set_next_payload(&mut self, v: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = v.0;
    }

    /// Sets the major and minor versions (4 bits each).
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.buffer.as_mut()[field::VERSION] = (major << 4) | (minor & 0x0f);
    }

    /// Sets the exchange type.
    pub fn set_exchange_type(&mut self, v: ExchangeType) {
        self.buffer.as_mut()[field::EXCHANGE] = v.0;
    }

    /// Sets the flags.
    pub fn set_flags(&mut self, v: Flags) {
        self.buffer.as_mut()[field::FLAGS] = v.0;
    }

    /// Sets the message ID.
    pub fn set_message_id(&mut self, v: u32) {
        self.buffer.as_mut()[field::MESSAGE_ID].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the `Length` field.
    pub fn set_length(&mut self, v: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
}

/// The owned IKE header, without the fields the payloads determine (next payload, length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The IKE SA initiator's SPI.
    pub initiator_spi: u64,
    /// The IKE SA responder's SPI.
    pub responder_spi: u64,
    /// The minor version: 0 for RFC 7296; other values are kept and re-emitted.
    pub minor_version: u8,
    /// The exchange type.
    pub exchange_type: ExchangeType,
    /// The flags.
    pub flags: Flags,
    /// The message ID.
    pub message_id: u32,
}

impl Header {
    /// A header for IKEv2.0.
    pub fn new(
        initiator_spi: u64,
        responder_spi: u64,
        exchange_type: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        Header {
            initiator_spi,
            responder_spi,
            minor_version: 0,
            exchange_type,
            flags,
            message_id,
        }
    }

    /// Reads the header from a checked packet; fails unless the major version is 2.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Header, Error> {
        packet.check_len()?;
        if packet.major_version() != 2 {
            return Err(Error::InvalidMajorVersion(packet.major_version()));
        }
        Ok(Header {
            initiator_spi: packet.initiator_spi(),
            responder_spi: packet.responder_spi(),
            minor_version: packet.minor_version(),
            exchange_type: packet.exchange_type(),
            flags: packet.flags(),
            message_id: packet.message_id(),
        })
    }

    /// Length of the header in bytes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `buf` with the given first payload
    /// type and total message length.
    pub fn emit(
        &self,
        next_payload: PayloadType,
        length: u32,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let got = buf.len();
        let buf = buf.get_mut(..HEADER_LEN).ok_or(Error::BufferTooSmall {
            needed: HEADER_LEN,
            got,
        })?;
        let mut p = Packet::new_unchecked(buf);
        p.set_initiator_spi(self.initiator_spi);
        p.set_responder_spi(self.responder_spi);
        p.set_next_payload(next_payload);
        p.set_version(2, self.minor_version);
        p.set_exchange_type(self.exchange_type);
        p.set_flags(self.flags);
        p.set_message_id(self.message_id);
        p.set_length(length);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The first 28 bytes of the captured strongSwan IKE_SA_INIT request.
    const INIT_HDR: [u8; 28] = [
        0xf5, 0xb9, 0xd1, 0xee, 0x45, 0x55, 0xca, 0xb4, 0, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x20, 0x22,
        0x08, 0, 0, 0, 0, 0, 0, 0, 0xe8,
    ];

    #[test]
    fn getters_on_fixture() {
        let mut buf = INIT_HDR.to_vec();
        buf.resize(0xe8, 0);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.initiator_spi(), 0xf5b9_d1ee_4555_cab4);
        assert_eq!(p.responder_spi(), 0);
        assert_eq!(p.next_payload(), PayloadType::SA);
        assert_eq!((p.major_version(), p.minor_version()), (2, 0));
        assert_eq!(p.exchange_type(), ExchangeType::IKE_SA_INIT);
        assert!(p.flags().is_initiator() && !p.flags().is_response());
        assert_eq!(p.message_id(), 0);
        assert_eq!(p.length(), 0xe8);
        assert_eq!(p.payload().len(), 0xe8 - 28);
    }

    #[test]
    fn emit_into_junk_rebuilds_fixture() {
        let mut buf = [0xa5u8; 28];
        let h = Header::new(
            0xf5b9_d1ee_4555_cab4,
            0,
            ExchangeType::IKE_SA_INIT,
            Flags::new(true, false),
            0,
        );
        h.emit(PayloadType::SA, 0xe8, &mut buf).unwrap();
        assert_eq!(buf, INIT_HDR);
        assert_eq!(h.buffer_len(), 28);
    }

    #[test]
    fn truncation_and_bad_lengths_rejected() {
        assert_eq!(
            Packet::new_checked(&INIT_HDR[..27]).unwrap_err(),
            Error::Truncated
        );
        // Length 0xe8 but only 28 bytes.
        assert_eq!(
            Packet::new_checked(&INIT_HDR[..]).unwrap_err(),
            Error::Truncated
        );
        let mut short = INIT_HDR;
        short[27] = 27;
        assert!(matches!(
            Packet::new_checked(&short[..]).unwrap_err(),
            Error::BadLength(_)
        ));
        let mut v1 = INIT_HDR;
        v1[17] = 0x10;
        v1[27] = 28;
        let p = Packet::new_checked(&v1[..]).unwrap();
        assert_eq!(
            Header::parse(&p).unwrap_err(),
            Error::InvalidMajorVersion(1)
        );
        assert_eq!(
            Error::InvalidMajorVersion(1).notify(),
            Some(super::super::NotifyType::INVALID_MAJOR_VERSION)
        );
    }
}
