//! IP prefixes (`10.1.0.0/24`, `2001:db8::/32`) as PAN-OS writes addresses.

use std::net::IpAddr;

/// An IP prefix such as `10.1.0.0/24` or `2001:db8::/32`, as PAN-OS proxy IDs, routes and rules
/// write addresses. A bare address means a host prefix (`/32` or `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

/// Why a string is not an [`IpPrefix`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The address part does not parse.
    #[error("`{0}` is not an IPv4 or IPv6 address")]
    BadAddress(String),
    /// The length is not a number or is longer than the address.
    #[error("bad prefix length `{0}` (IPv4 allows 0-32, IPv6 0-128)")]
    BadLength(String),
    /// Bits are set after the prefix length (`10.1.0.1/24`).
    #[error("`{0}` has host bits set; did you mean `{1}`?")]
    HostBitsSet(String, String),
}

impl IpPrefix {
    /// A prefix; fails when `len` is too long for the family or host bits are set.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(PrefixError::BadLength(len.to_string()));
        }
        let p = IpPrefix { addr, len };
        if p.network() != addr {
            return Err(PrefixError::HostBitsSet(
                format!("{addr}/{len}"),
                format!("{}/{len}", p.network()),
            ));
        }
        Ok(p)
    }

    /// `0.0.0.0/0`, every IPv4 address.
    pub fn any_v4() -> Self {
        IpPrefix {
            addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            len: 0,
        }
    }

    /// `::/0`, every IPv6 address.
    pub fn any_v6() -> Self {
        IpPrefix {
            addr: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
            len: 0,
        }
    }

    /// The prefix's address (its first address).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// First address covered (host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = if self.len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.len))
                };
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = if self.len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.len))
                };
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    /// Last address covered (host bits set).
    pub fn last(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let host = if self.len == 0 {
                    u32::MAX
                } else {
                    (1u32 << (32 - u32::from(self.len))).wrapping_sub(1)
                };
                IpAddr::V4((u32::from(a) | host).into())
            }
            IpAddr::V6(a) => {
                let host = if self.len == 0 {
                    u128::MAX
                } else {
                    (1u128 << (128 - u32::from(self.len))).wrapping_sub(1)
                };
                IpAddr::V6((u128::from(a) | host).into())
            }
        }
    }

    /// True when `ip` lies inside the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (ip, self.network(), self.last()) {
            (IpAddr::V4(x), IpAddr::V4(lo), IpAddr::V4(hi)) => lo <= x && x <= hi,
            (IpAddr::V6(x), IpAddr::V6(lo), IpAddr::V6(hi)) => lo <= x && x <= hi,
            _ => false,
        }
    }
}

impl core::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl core::str::FromStr for IpPrefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| PrefixError::BadAddress(a.to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => match l.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(PrefixError::BadLength(l.to_string())),
            },
        };
        IpPrefix::new(addr, len)
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    #[test]
    fn parses_and_prints_prefixes() {
        let p: IpPrefix = "10.1.0.0/24".parse().unwrap();
        assert_eq!(p.to_string(), "10.1.0.0/24");
        assert_eq!(p.last(), "10.1.0.255".parse::<IpAddr>().unwrap());
        assert!(p.contains("10.1.0.7".parse().unwrap()));
        assert!(!p.contains("10.1.1.0".parse().unwrap()));
        assert_eq!("192.0.2.1".parse::<IpPrefix>().unwrap().prefix_len(), 32);
        assert_eq!(
            "::/0".parse::<IpPrefix>().unwrap().last(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .unwrap()
        );
        assert!(matches!(
            "10.1.0.1/24".parse::<IpPrefix>(),
            Err(PrefixError::HostBitsSet(..))
        ));
        assert!(matches!(
            "10.1.0.0/33".parse::<IpPrefix>(),
            Err(PrefixError::BadLength(..))
        ));
        assert!(matches!(
            "10.1.0/24".parse::<IpPrefix>(),
            Err(PrefixError::BadAddress(..))
        ));
    }
}
