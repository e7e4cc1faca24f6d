//! [`TrafficSelector`]: construction, set operations and the PAN-OS log rendering.

use super::addr::{self, Family};
use super::{IpPrefix, Packet5Tuple, PortSelector, SelectorError, TrafficSelector};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A validated selector as plain integers, the form every set operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parts {
    pub(crate) family: Family,
    pub(crate) lo: u128,
    pub(crate) hi: u128,
    pub(crate) protocol: u8,
    pub(crate) ports: PortSelector,
}

impl Parts {
    /// True when a packet end (address, protocol, port) is admitted.
    pub(crate) fn admits(&self, ip: IpAddr, protocol: u8, port: Option<u16>) -> bool {
        let (family, value) = addr::to_u128(ip);
        self.admits_value(family, value, protocol, port)
    }

    /// [`admits`](Self::admits) for an address already in integer form.
    #[inline]
    pub(crate) fn admits_value(
        &self,
        family: Family,
        value: u128,
        protocol: u8,
        port: Option<u16>,
    ) -> bool {
        family == self.family
            && self.lo <= value
            && value <= self.hi
            && (self.protocol == 0 || self.protocol == protocol)
            && self.ports.matches(port)
    }

    fn into_selector(self) -> TrafficSelector {
        let (start_port, end_port) = self.ports.to_fields();
        TrafficSelector {
            protocol: self.protocol,
            start_port,
            end_port,
            start_addr: addr::from_u128(self.family, self.lo),
            end_addr: addr::from_u128(self.family, self.hi),
        }
    }
}

/// Protocol 0 is "any" (RFC 7296 section 3.13.1); narrowing keeps the more specific one.
fn intersect_protocol(a: u8, b: u8) -> Option<u8> {
    match (a, b) {
        (0, p) | (p, 0) => Some(p),
        (a, b) if a == b => Some(a),
        _ => None,
    }
}

impl TrafficSelector {
    /// A selector for `start_addr..=end_addr`, IP protocol `protocol` (0 = any) and ports
    /// `start_port..=end_port` (`0, 65535` = any; `65535, 0` = OPAQUE, see [`PortSelector`]).
    ///
    /// Fails when the addresses are of different families, or a range runs backwards.
    pub fn new(
        start_addr: IpAddr,
        end_addr: IpAddr,
        protocol: u8,
        start_port: u16,
        end_port: u16,
    ) -> Result<Self, SelectorError> {
        let ts = TrafficSelector {
            protocol,
            start_port,
            end_port,
            start_addr,
            end_addr,
        };
        ts.validate()?;
        Ok(ts)
    }

    /// The selector covering `prefix`, with `protocol` (0 = any) and wire port fields `ports`
    /// (`(0, 65535)` = any).
    pub fn from_prefix(
        prefix: IpPrefix,
        protocol: u8,
        ports: (u16, u16),
    ) -> Result<Self, SelectorError> {
        Self::new(prefix.network(), prefix.last(), protocol, ports.0, ports.1)
    }

    /// Every IPv4 address, any protocol, any port (`0.0.0.0/0`).
    pub fn any_v4() -> Self {
        TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            end_addr: IpAddr::V4(Ipv4Addr::BROADCAST),
        }
    }

    /// Every IPv6 address, any protocol, any port (`::/0`).
    pub fn any_v6() -> Self {
        TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            end_addr: IpAddr::V6(Ipv6Addr::from(u128::MAX)),
        }
    }

    /// Checks the invariants that [`TrafficSelector::new`] enforces; use it on selectors built from
    /// the public fields (for instance decoded from a TS payload). Every other method treats an
    /// invalid selector as empty: it matches and contains nothing.
    pub fn validate(&self) -> Result<(), SelectorError> {
        self.parts_checked().map(|_| ())
    }

    /// The integer form, or why the selector is invalid.
    pub(crate) fn parts_checked(&self) -> Result<Parts, SelectorError> {
        let (family, lo) = addr::to_u128(self.start_addr);
        let (end_family, hi) = addr::to_u128(self.end_addr);
        if family != end_family {
            return Err(SelectorError::MixedFamilies {
                start: self.start_addr,
                end: self.end_addr,
            });
        }
        if lo > hi {
            return Err(SelectorError::AddressRangeReversed {
                start: self.start_addr,
                end: self.end_addr,
            });
        }
        let ports = PortSelector::from_fields(self.start_port, self.end_port).ok_or(
            SelectorError::PortRangeReversed {
                start: self.start_port,
                end: self.end_port,
            },
        )?;
        Ok(Parts {
            family,
            lo,
            hi,
            protocol: self.protocol,
            ports,
        })
    }

    /// The integer form, `None` for an invalid selector.
    pub(crate) fn parts(&self) -> Option<Parts> {
        self.parts_checked().ok()
    }

    /// True for an IPv4 selector (judged by `start_addr`).
    pub fn is_ipv4(&self) -> bool {
        self.start_addr.is_ipv4()
    }

    /// The interpreted port fields, `None` when they run backwards (other than OPAQUE).
    pub fn ports(&self) -> Option<PortSelector> {
        PortSelector::from_fields(self.start_port, self.end_port)
    }

    /// True when `ip` lies in the address range (protocol and ports are not looked at).
    pub fn contains_addr(&self, ip: IpAddr) -> bool {
        self.parts().is_some_and(|p| {
            let (family, value) = addr::to_u128(ip);
            family == p.family && p.lo <= value && value <= p.hi
        })
    }

    /// True when every packet end admitted by `other` is admitted by `self` (subset): the address
    /// range, the protocol (0 contains every protocol) and the ports are each contained. False
    /// when either selector is invalid.
    pub fn contains(&self, other: &TrafficSelector) -> bool {
        match (self.parts(), other.parts()) {
            (Some(a), Some(b)) => {
                a.family == b.family
                    && a.lo <= b.lo
                    && b.hi <= a.hi
                    && (a.protocol == 0 || a.protocol == b.protocol)
                    && a.ports.contains(b.ports)
            }
            _ => false,
        }
    }

    /// The selector admitting exactly what both admit, or `None` when nothing is (RFC 7296
    /// section 2.9 narrowing): the address ranges intersect, protocol 0 narrows to the other's
    /// protocol, and the ports intersect with the ANY/OPAQUE rules of [`PortSelector`].
    pub fn intersect(&self, other: &TrafficSelector) -> Option<TrafficSelector> {
        let (a, b) = (self.parts()?, other.parts()?);
        if a.family != b.family {
            return None;
        }
        let (lo, hi) = (a.lo.max(b.lo), a.hi.min(b.hi));
        if lo > hi {
            return None;
        }
        let parts = Parts {
            family: a.family,
            lo,
            hi,
            protocol: intersect_protocol(a.protocol, b.protocol)?,
            ports: a.ports.intersect(b.ports)?,
        };
        Some(parts.into_selector())
    }

    /// True when the packet's source end (source address and port) and protocol are admitted.
    /// A local selector judges the source of outbound packets.
    pub fn matches_source(&self, packet: &Packet5Tuple) -> bool {
        self.parts()
            .is_some_and(|p| p.admits(packet.src, packet.protocol, packet.src_port))
    }

    /// True when the packet's destination end (destination address and port) and protocol are
    /// admitted. A remote selector judges the destination of outbound packets.
    pub fn matches_destination(&self, packet: &Packet5Tuple) -> bool {
        self.parts()
            .is_some_and(|p| p.admits(packet.dst, packet.protocol, packet.dst_port))
    }

    /// The address range as the minimal list of disjoint CIDR prefixes, ascending. Empty for an
    /// invalid selector.
    pub fn to_prefixes(&self) -> Vec<IpPrefix> {
        let Some(p) = self.parts() else {
            return Vec::new();
        };
        addr::range_to_blocks(p.family, p.lo, p.hi)
            .into_iter()
            .filter_map(|(start, len)| IpPrefix::new(addr::from_u128(p.family, start), len).ok())
            .collect()
    }

    /// The prefix when the address range is exactly one CIDR block.
    pub fn as_prefix(&self) -> Option<IpPrefix> {
        let p = self.parts()?;
        let len = addr::exact_prefix_len(p.family, p.lo, p.hi)?;
        IpPrefix::new(self.start_addr, len).ok()
    }

    /// A short form for sentences: `10.1.0.0/24`, or a range `10.1.0.1-10.1.0.9`, followed by
    /// ` protocol N` and ` port P` only when they are not "any".
    pub fn short(&self) -> String {
        let mut s = match self.as_prefix() {
            Some(prefix) => prefix.to_string(),
            None => format!("{}-{}", self.start_addr, self.end_addr),
        };
        if self.protocol != 0 {
            s.push_str(&format!(" protocol {}", self.protocol));
        }
        match self.ports() {
            Some(PortSelector::Any) => {}
            Some(ports) => s.push_str(&format!(" port {ports}")),
            None => s.push_str(&format!(" port {}-{}", self.start_port, self.end_port)),
        }
        s
    }
}

impl core::fmt::Display for TrafficSelector {
    /// The form PAN-OS uses for proxy IDs in its system log, e.g.
    /// `10.2.0.0/24 type IPv4_subnet protocol 0 port 0` (port 0 meaning any port). A range that
    /// is not one prefix prints `10.2.0.1-10.2.0.9 type IPv4_range`; a port range `port 80-90`;
    /// OPAQUE ports `port opaque`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let family = if self.is_ipv4() { "IPv4" } else { "IPv6" };
        match self.as_prefix() {
            Some(prefix) => write!(f, "{prefix} type {family}_subnet")?,
            None => write!(
                f,
                "{}-{} type {family}_range",
                self.start_addr, self.end_addr
            )?,
        }
        write!(f, " protocol {} port ", self.protocol)?;
        match self.ports() {
            Some(ports) => write!(f, "{ports}"),
            None => write!(f, "{}-{}", self.start_port, self.end_port),
        }
    }
}

impl From<IpPrefix> for TrafficSelector {
    /// The prefix with any protocol and any port.
    fn from(prefix: IpPrefix) -> Self {
        TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start_addr: prefix.network(),
            end_addr: prefix.last(),
        }
    }
}
