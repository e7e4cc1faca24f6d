//! The Notify payload (RFC 7296 section 3.10).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Protocol ID  |   SPI Size    |      Notify Message Type      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                Security Parameter Index (SPI)                 ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                       Notification Data                       ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, byte, len8, rest, slice, Error, NotifyType, ProtocolId};

/// A Notify body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    /// The protocol the SPI belongs to (NONE/IKE when there is no SPI).
    pub protocol: ProtocolId,
    /// The SPI the notification is about; empty for most status notifications.
    pub spi: Vec<u8>,
    /// The notification type.
    pub notify_type: NotifyType,
    /// The notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notification about no particular SA (protocol 0, no SPI).
    pub fn new(notify_type: NotifyType, data: &[u8]) -> Self {
        Notify {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data: data.to_vec(),
        }
    }

    /// Decodes a Notify body.
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        let protocol = ProtocolId(byte(b, 0)?);
        let spi_size = usize::from(byte(b, 1)?);
        let notify_type = NotifyType(be16(b, 2)?);
        Ok(Notify {
            protocol,
            spi: slice(b, 4, spi_size)?.to_vec(),
            notify_type,
            data: rest(b, 4 + spi_size)?.to_vec(),
        })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        4 + self.spi.len() + self.data.len()
    }

    /// Appends the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(self.protocol.0);
        out.push(len8(self.spi.len(), "notify SPI")?);
        out.extend_from_slice(&self.notify_type.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_emit_and_reject() {
        // REKEY_SA for ESP SPI 0x2418309d.
        let n = [3, 4, 0x40, 0x09, 0x24, 0x18, 0x30, 0x9d];
        let p = Notify::parse(&n).unwrap();
        assert_eq!(p.protocol, ProtocolId::ESP);
        assert_eq!(p.notify_type, NotifyType::REKEY_SA);
        assert_eq!(p.spi, [0x24, 0x18, 0x30, 0x9d]);
        assert!(p.data.is_empty());
        let mut out = Vec::new();
        p.emit(&mut out).unwrap();
        assert_eq!(out, n);
        assert_eq!(p.buffer_len(), n.len());
        for k in 0..n.len() {
            assert_eq!(Notify::parse(&n[..k]), Err(Error::Truncated), "{k}");
        }
        let long_spi = Notify {
            spi: vec![0; 256],
            ..p
        };
        assert_eq!(long_spi.emit(&mut out), Err(Error::TooLong("notify SPI")));
    }
}
