//! NAT detection (RFC 7296 section 2.23); the UDP encapsulation ports (RFC 3948) come from
//! [`ipsec_core::demux`].

use sha1::{Digest, Sha1};
use std::net::{IpAddr, SocketAddr};

// The ports and the non-ESP marker are shared with the datapath: one definition for every layer.
pub(crate) use ipsec_core::demux::{IKE_PORT, NAT_T_PORT as NATT_PORT, NON_ESP_MARKER};

/// `SHA-1(SPIi | SPIr | IP | Port)`, the data of NAT_DETECTION_SOURCE_IP and
/// NAT_DETECTION_DESTINATION_IP (RFC 7296 section 2.23). In the IKE_SA_INIT request SPIr is 0.
pub(crate) fn nat_hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(spi_i.to_be_bytes());
    h.update(spi_r.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update(addr.port().to_be_bytes());
    h.finalize().into()
}

/// What the NAT detection notifies of one IKE_SA_INIT message told us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NatState {
    /// The peer's source hash did not match: the peer is behind a NAT (or fakes it to force
    /// encapsulation, as strongSwan's `encap = yes` does).
    pub(crate) remote_behind_nat: bool,
    /// The peer's destination hash did not match our address: we are behind a NAT.
    pub(crate) local_behind_nat: bool,
}

impl NatState {
    /// True when ESP must be UDP-encapsulated and IKE move to port 4500.
    pub(crate) fn any(&self) -> bool {
        self.remote_behind_nat || self.local_behind_nat
    }

    /// Evaluates the peer's notifies. `sources` are the NAT_DETECTION_SOURCE_IP data (any one
    /// matching the datagram's source means no NAT), `destination` the NAT_DETECTION_DESTINATION_IP
    /// data. `None` when the peer sent no NAT detection notifies (it does not do NAT-T).
    pub(crate) fn detect(
        spi_i: u64,
        spi_r: u64,
        sources: &[&[u8]],
        destination: Option<&[u8]>,
        remote: SocketAddr,
        local: SocketAddr,
    ) -> Option<NatState> {
        let dest = destination?;
        if sources.is_empty() {
            return None;
        }
        let src_hash = nat_hash(spi_i, spi_r, remote);
        let dst_hash = nat_hash(spi_i, spi_r, local);
        Some(NatState {
            remote_behind_nat: !sources.iter().any(|s| *s == src_hash),
            local_behind_nat: dest != dst_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_hashes_mean_no_nat() {
        let a: SocketAddr = "192.0.2.1:500".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:500".parse().unwrap();
        let src = nat_hash(1, 0, a);
        let dst = nat_hash(1, 0, b);
        let n = NatState::detect(1, 0, &[&src], Some(&dst), a, b).unwrap();
        assert!(!n.any());
        let moved: SocketAddr = "198.51.100.7:31000".parse().unwrap();
        let n = NatState::detect(1, 0, &[&src], Some(&dst), moved, b).unwrap();
        assert!(n.remote_behind_nat && !n.local_behind_nat);
        assert_eq!(NatState::detect(1, 0, &[], Some(&dst), a, b), None);
    }

    #[test]
    fn hash_matches_strongswan_capture() {
        // testdata/strongswan-x25519/ike_sa_init.pcap, the request: NAT_DETECTION_DESTINATION_IP
        // over SPIi f5b9d1ee4555cab4, SPIr 0 and 192.0.2.2:500. strongSwan forces encapsulation
        // there, so its NAT_DETECTION_SOURCE_IP is bogus and must not match 192.0.2.1:500.
        let spi = 0xf5b9d1ee4555cab4;
        let dst = nat_hash(spi, 0, "192.0.2.2:500".parse().unwrap());
        let expect = [
            0x18, 0x58, 0x84, 0x58, 0xc0, 0x44, 0x84, 0x19, 0xdf, 0xf5, 0xc8, 0x0c, 0xbc, 0xc9,
            0x7e, 0x7a, 0x60, 0x13, 0xdf, 0x89,
        ];
        assert_eq!(dst, expect);
        let bogus_src = [
            0x86, 0x1f, 0xb6, 0x19, 0x55, 0xaf, 0x22, 0xf9, 0x33, 0xfe, 0xbc, 0xe2, 0xb4, 0xaf,
            0x6e, 0x1a, 0x5d, 0x2d, 0x9e, 0x29,
        ];
        let n = NatState::detect(
            spi,
            0,
            &[&bogus_src],
            Some(&expect),
            "192.0.2.1:500".parse().unwrap(),
            "192.0.2.2:500".parse().unwrap(),
        )
        .unwrap();
        assert!(n.remote_behind_nat && !n.local_behind_nat);
    }
}
