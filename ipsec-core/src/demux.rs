//! What arrives on the IKE ports, told apart once for every layer (RFC 7296 section 2.23,
//! RFC 3948 section 2).
//!
//! ```text
//! UDP 500:   IKE message
//! UDP 4500:  0x00000000 (non-ESP marker) | IKE message
//!            SPI (non-zero) | sequence number | ...      ESP packet
//!            0xFF                                        NAT keepalive
//! IP 50:     ESP packet (no UDP)
//! ```
//!
//! IKE and ESP share port 4500 after NAT traversal. The first four bytes decide: zero is the
//! non-ESP marker (SPI 0 is reserved, RFC 4303 section 2.1), anything else an ESP SPI. The
//! classifier never panics and never copies: it returns slices of its input.

/// UDP port of IKE (RFC 7296 section 2).
pub const IKE_PORT: u16 = 500;
/// UDP port of IKE and ESP after NAT traversal (RFC 3948).
pub const NAT_T_PORT: u16 = 4500;
/// IP protocol number of ESP (RFC 4303).
pub const IPPROTO_ESP: u8 = 50;
/// The non-ESP marker in front of IKE messages on port 4500 (RFC 3948 section 2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The NAT keepalive payload (RFC 3948 section 2.3).
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];
/// The shortest ESP packet that can be told from the rest: SPI and sequence number.
const ESP_HEADER_LEN: usize = 8;

/// What a datagram received on UDP port 4500 carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500<'a> {
    /// A NAT keepalive (the single byte 0xFF): nothing to do.
    Keepalive,
    /// An IKE message, after the non-ESP marker (which is stripped): hand it to IKE.
    Ike(&'a [u8]),
    /// An ESP packet, from its SPI on: hand it to the datapath.
    Esp(&'a [u8]),
}

/// A datagram on port 4500 that is neither IKE, ESP nor a keepalive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DemuxError {
    /// Shorter than an ESP header, and not a keepalive.
    #[error("{0}-byte datagram on port 4500 is neither ESP, IKE nor a NAT keepalive")]
    TooShort(usize),
    /// A non-ESP marker with nothing after it.
    #[error("empty IKE message after the non-ESP marker")]
    EmptyIke,
}

impl<'a> Udp4500<'a> {
    /// Classifies a UDP payload received on port 4500.
    pub fn classify(payload: &'a [u8]) -> Result<Self, DemuxError> {
        if payload == NAT_KEEPALIVE {
            return Ok(Udp4500::Keepalive);
        }
        match payload.split_first_chunk::<4>() {
            Some((marker, [])) if *marker == NON_ESP_MARKER => Err(DemuxError::EmptyIke),
            Some((marker, ike)) if *marker == NON_ESP_MARKER => Ok(Udp4500::Ike(ike)),
            _ if payload.len() >= ESP_HEADER_LEN => Ok(Udp4500::Esp(payload)),
            _ => Err(DemuxError::TooShort(payload.len())),
        }
    }
}

/// What a datagram received on one of the IKE ports is, whatever the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// An IKE message (without the non-ESP marker).
    Ike(&'a [u8]),
    /// An ESP packet in UDP.
    Esp(&'a [u8]),
    /// A NAT keepalive.
    Keepalive,
}

/// Classifies the UDP payload `payload` received on local port `port`: everything on port 500
/// is IKE (RFC 7296 section 2); port 4500 is told apart by [`Udp4500::classify`]. Other ports
/// carry IKE only when the embedder chose to listen there, so they count as port 500.
pub fn classify(port: u16, payload: &[u8]) -> Result<Datagram<'_>, DemuxError> {
    if port != NAT_T_PORT {
        return Ok(Datagram::Ike(payload));
    }
    Ok(match Udp4500::classify(payload)? {
        Udp4500::Keepalive => Datagram::Keepalive,
        Udp4500::Ike(m) => Datagram::Ike(m),
        Udp4500::Esp(p) => Datagram::Esp(p),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESP: [u8; 12] = [0x24, 0x18, 0x30, 0x9d, 0, 0, 0, 7, 0xaa, 0xbb, 0xcc, 0xdd];

    #[test]
    fn port_4500_separates_ike_esp_and_keepalives() {
        assert_eq!(Udp4500::classify(&[0xff]), Ok(Udp4500::Keepalive));
        assert_eq!(
            Udp4500::classify(&[0, 0, 0, 0, 1, 2]),
            Ok(Udp4500::Ike(&[1, 2][..]))
        );
        assert_eq!(Udp4500::classify(&ESP), Ok(Udp4500::Esp(&ESP[..])));
        assert_eq!(Udp4500::classify(&[]), Err(DemuxError::TooShort(0)));
        assert_eq!(Udp4500::classify(&[0, 0, 0, 0]), Err(DemuxError::EmptyIke));
        assert_eq!(
            Udp4500::classify(&[1, 2, 3, 4, 5]),
            Err(DemuxError::TooShort(5))
        );
        // Three zero bytes are neither a marker nor an ESP header.
        assert_eq!(Udp4500::classify(&[0, 0, 0]), Err(DemuxError::TooShort(3)));
    }

    #[test]
    fn port_500_is_always_ike() {
        assert_eq!(classify(IKE_PORT, &[0xff]), Ok(Datagram::Ike(&[0xff][..])));
        assert_eq!(classify(IKE_PORT, &ESP), Ok(Datagram::Ike(&ESP[..])));
        assert_eq!(classify(NAT_T_PORT, &ESP), Ok(Datagram::Esp(&ESP[..])));
        assert_eq!(classify(NAT_T_PORT, &[0xff]), Ok(Datagram::Keepalive));
        assert_eq!(
            classify(NAT_T_PORT, &[0, 0, 0, 0, 9]),
            Ok(Datagram::Ike(&[9][..]))
        );
    }

    #[test]
    fn any_input_classifies_without_panic_and_within_bounds() {
        let mut buf = [0u8; 16];
        for len in 0..buf.len() {
            for fill in [0u8, 0xff, 0x01] {
                buf.fill(fill);
                match Udp4500::classify(&buf[..len]) {
                    Ok(Udp4500::Ike(m)) => assert_eq!(m.len() + 4, len),
                    Ok(Udp4500::Esp(p)) => assert_eq!(p.len(), len),
                    Ok(Udp4500::Keepalive) => assert_eq!(&buf[..len], &NAT_KEEPALIVE),
                    Err(_) => assert!(len < ESP_HEADER_LEN),
                }
            }
        }
    }
}
