//! What a UDP datagram on the IKE ports carries (RFC 7296 section 2.23, RFC 3948 section 2).
//!
//! ```text
//! port 500:  IKE message
//! port 4500: 0x00000000 (non-ESP marker) | IKE message
//!            SPI (non-zero) | sequence number | ...      ESP packet
//!            0xFF                                        NAT-keepalive
//! ```

pub use ipsec_core::demux::{IKE_PORT, NAT_T_PORT};

/// The content of a datagram on port 500 or 4500.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content<'a> {
    /// An IKE message; `marker` is true when it followed a non-ESP marker on port 4500.
    Ike {
        /// The IKE message bytes.
        message: &'a [u8],
        /// True when the message came after the 4-byte non-ESP marker.
        marker: bool,
    },
    /// An ESP packet.
    Esp(EspPacket),
    /// A NAT-keepalive (a single 0xFF byte, RFC 3948 section 2.3).
    NatKeepalive,
}

/// The cleartext header of an ESP packet (RFC 4303 section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EspPacket {
    /// Security Parameters Index.
    pub spi: u32,
    /// Sequence number (the low 32 bits when ESN is in use).
    pub seq: u32,
    /// Length of the whole ESP packet in bytes.
    pub len: usize,
}

/// Why a datagram on an IKE port is none of the above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    /// Shorter than an ESP header, and not a keepalive or a marked IKE message.
    #[error("{0}-byte datagram on port 4500 is neither ESP, IKE nor a NAT-keepalive")]
    TooShort(usize),
    /// SPI 0 is reserved (RFC 4303 section 2.1) and is not followed by a full marker.
    #[error("ESP packet with reserved SPI 0")]
    ZeroSpi,
}

/// Classifies a UDP payload by port: `None` when neither port is 500 or 4500.
pub fn classify(
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Option<Result<Content<'_>, EncapError>> {
    let ports = [src_port, dst_port];
    if ports.contains(&NAT_T_PORT) {
        Some(nat_t(payload))
    } else if ports.contains(&IKE_PORT) {
        Some(Ok(Content::Ike {
            message: payload,
            marker: false,
        }))
    } else {
        None
    }
}

fn nat_t(payload: &[u8]) -> Result<Content<'_>, EncapError> {
    match payload {
        [0xff] => Ok(Content::NatKeepalive),
        [0, 0, 0, 0, message @ ..] => Ok(Content::Ike {
            message,
            marker: true,
        }),
        _ => esp(payload).map(Content::Esp),
    }
}

/// Reads the SPI and sequence number of an ESP packet.
pub fn esp(packet: &[u8]) -> Result<EspPacket, EncapError> {
    match packet {
        [s0, s1, s2, s3, q0, q1, q2, q3, ..] => {
            let spi = u32::from_be_bytes([*s0, *s1, *s2, *s3]);
            if spi == 0 {
                return Err(EncapError::ZeroSpi);
            }
            Ok(EspPacket {
                spi,
                seq: u32::from_be_bytes([*q0, *q1, *q2, *q3]),
                len: packet.len(),
            })
        }
        _ => Err(EncapError::TooShort(packet.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_500_is_always_ike() {
        assert_eq!(
            classify(500, 500, &[0, 0, 0, 0, 1]),
            Some(Ok(Content::Ike {
                message: &[0, 0, 0, 0, 1],
                marker: false
            }))
        );
        assert_eq!(classify(53, 1234, b"dns"), None);
    }

    #[test]
    fn port_4500_separates_ike_esp_and_keepalives() {
        assert_eq!(
            classify(4500, 4500, &[0, 0, 0, 0, 0x21]),
            Some(Ok(Content::Ike {
                message: &[0x21],
                marker: true
            }))
        );
        assert_eq!(
            classify(4500, 33000, &[0xff]),
            Some(Ok(Content::NatKeepalive))
        );
        assert_eq!(
            classify(4500, 4500, &[0x24, 0x18, 0x30, 0x9d, 0, 0, 0, 7, 0xaa]),
            Some(Ok(Content::Esp(EspPacket {
                spi: 0x2418_309d,
                seq: 7,
                len: 9
            })))
        );
        assert_eq!(
            classify(4500, 4500, &[1, 2, 3]),
            Some(Err(EncapError::TooShort(3)))
        );
        assert_eq!(
            classify(4500, 4500, &[0, 0, 0]),
            Some(Err(EncapError::TooShort(3)))
        );
        assert_eq!(esp(&[0, 0, 0, 0, 0, 0, 0, 1]), Err(EncapError::ZeroSpi));
    }
}
