//! The Delete payload (RFC 7296 section 3.11).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Protocol ID   |   SPI Size    |          Num of SPIs          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~               Security Parameter Index(es) (SPI)              ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{be16, byte, len16, slice, Error, Limits, ProtocolId};

/// A Delete body: the IKE SA itself (protocol IKE, no SPIs) or Child SAs by inbound SPI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    /// The protocol of the SAs deleted.
    pub protocol: ProtocolId,
    /// The size of each SPI (0 for IKE, 4 for ESP and AH).
    pub spi_size: u8,
    /// The SPIs, each `spi_size` bytes.
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    /// A Delete of the IKE SA carrying it.
    pub fn ike() -> Self {
        Delete {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        }
    }

    /// A Delete of ESP SAs by their 4-byte SPIs.
    pub fn esp(spis: &[u32]) -> Self {
        Delete {
            protocol: ProtocolId::ESP,
            spi_size: 4,
            spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
        }
    }

    /// Decodes a Delete body; the SPIs must fill it exactly.
    pub fn parse(b: &[u8], limits: &Limits) -> Result<Self, Error> {
        let protocol = ProtocolId(byte(b, 0)?);
        let spi_size = byte(b, 1)?;
        let count = usize::from(be16(b, 2)?);
        if count > limits.max_entries {
            return Err(Error::LimitExceeded("SPIs in a Delete payload"));
        }
        let size = usize::from(spi_size);
        if b.len() != 4 + count * size {
            return Err(Error::BadLength("Delete payload SPIs"));
        }
        let mut spis = Vec::with_capacity(count);
        for i in 0..count {
            spis.push(slice(b, 4 + i * size, size)?.to_vec());
        }
        Ok(Delete {
            protocol,
            spi_size,
            spis,
        })
    }

    /// Length of the body in bytes.
    pub fn buffer_len(&self) -> usize {
        4 + self.spis.iter().map(Vec::len).sum::<usize>()
    }

    /// Appends the body to `out`; fails when an SPI is not `spi_size` bytes.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if self
            .spis
            .iter()
            .any(|s| s.len() != usize::from(self.spi_size))
        {
            return Err(Error::Unrepresentable("Delete SPI of the wrong size"));
        }
        out.push(self.protocol.0);
        out.push(self.spi_size);
        out.extend_from_slice(&len16(self.spis.len(), "Delete SPI count")?.to_be_bytes());
        for s in &self.spis {
            out.extend_from_slice(s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_emit_and_reject() {
        let l = Limits::default();
        let esp = [3, 4, 0, 2, 0x24, 0x18, 0x30, 0x9d, 0x2f, 0x21, 0x4d, 0x5a];
        let d = Delete::parse(&esp, &l).unwrap();
        assert_eq!(d, Delete::esp(&[0x2418_309d, 0x2f21_4d5a]));
        let mut out = vec![0xff];
        d.emit(&mut out).unwrap();
        assert_eq!(&out[1..], &esp[..]);
        assert_eq!(d.buffer_len(), esp.len());
        let ike = [1, 0, 0, 0];
        assert_eq!(Delete::parse(&ike, &l).unwrap(), Delete::ike());
        for n in 0..esp.len() {
            assert!(Delete::parse(&esp[..n], &l).is_err(), "{n}");
        }
        // A count that disagrees with the SPIs present.
        let mut three = esp;
        three[3] = 3;
        assert!(matches!(
            Delete::parse(&three, &l),
            Err(Error::BadLength(_))
        ));
        let few = Limits {
            max_entries: 1,
            ..Limits::default()
        };
        assert!(matches!(
            Delete::parse(&esp, &few),
            Err(Error::LimitExceeded(_))
        ));
    }
}
