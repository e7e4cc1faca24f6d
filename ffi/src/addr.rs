//! Socket addresses across the boundary.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `ipsec_addr::family` of an IPv4 address.
pub const IPSEC_AF_INET: u8 = 4;
/// `ipsec_addr::family` of an IPv6 address.
pub const IPSEC_AF_INET6: u8 = 6;

/// An IP address and UDP port.
///
/// `family` is `IPSEC_AF_INET` (the address is in `addr[0..4]`, the rest is ignored on input and
/// zero on output) or `IPSEC_AF_INET6` (all 16 bytes). Addresses are in network byte order, the
/// port in host byte order.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ipsec_addr {
    /// `IPSEC_AF_INET` or `IPSEC_AF_INET6`.
    pub family: u8,
    /// Zero; reserved for growth.
    pub reserved: u8,
    /// The UDP port, host byte order.
    pub port: u16,
    /// The address bytes, network byte order.
    pub addr: [u8; 16],
}

impl ipsec_addr {
    /// The Rust address, or `None` for an unknown family.
    pub(crate) fn to_socket_addr(self) -> Option<SocketAddr> {
        let ip = match self.family {
            IPSEC_AF_INET => {
                let [a, b, c, d, ..] = self.addr;
                IpAddr::V4(Ipv4Addr::new(a, b, c, d))
            }
            IPSEC_AF_INET6 => IpAddr::V6(Ipv6Addr::from(self.addr)),
            _ => return None,
        };
        Some(SocketAddr::new(ip, self.port))
    }
}

impl From<SocketAddr> for ipsec_addr {
    fn from(s: SocketAddr) -> Self {
        let mut addr = [0u8; 16];
        let family = match s.ip() {
            IpAddr::V4(v4) => {
                addr[..4].copy_from_slice(&v4.octets());
                IPSEC_AF_INET
            }
            IpAddr::V6(v6) => {
                addr = v6.octets();
                IPSEC_AF_INET6
            }
        };
        ipsec_addr {
            family,
            reserved: 0,
            port: s.port(),
            addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_families() {
        for s in ["192.0.2.1:500", "[2001:db8::1]:4500"] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(ipsec_addr::from(a).to_socket_addr(), Some(a));
        }
    }

    #[test]
    fn unknown_family_is_rejected() {
        let a = ipsec_addr {
            family: 2,
            ..Default::default()
        };
        assert_eq!(a.to_socket_addr(), None);
    }
}
