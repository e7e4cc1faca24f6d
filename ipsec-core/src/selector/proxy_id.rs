//! PAN-OS proxy IDs as traffic selectors.
//!
//! A proxy ID is a `local` and a `remote` prefix, an optional protocol and, for TCP and UDP, a
//! local and a remote port. PAN-OS writes port `0` for "any port", so `(0, 0)` converts to the wire
//! ANY range `0..=65535`. With no proxy ID configured PAN-OS proposes `0.0.0.0/0` both ways with
//! any protocol (a route-based tunnel: routes and security rules choose the traffic).

use super::{IpPrefix, SelectorError, TrafficSelector};

/// The values of one proxy ID entry, independent of how the configuration stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProxyIdSpec {
    /// Our side's network.
    pub local: IpPrefix,
    /// The peer's side's network.
    pub remote: IpPrefix,
    /// IP protocol, 0 for any.
    pub protocol: u8,
    /// Local port range `(first, last)`; `(0, 0)` and `(0, 65535)` mean any.
    pub local_ports: (u16, u16),
    /// Remote port range `(first, last)`; `(0, 0)` and `(0, 65535)` mean any.
    pub remote_ports: (u16, u16),
}

/// `(0, 0)` is PAN-OS's "any port"; everything else is taken as wire fields.
fn wire_ports(ports: (u16, u16)) -> (u16, u16) {
    if ports == (0, 0) {
        (0, u16::MAX)
    } else {
        ports
    }
}

impl ProxyIdSpec {
    /// A proxy ID between two networks, any protocol, any port.
    pub fn new(local: IpPrefix, remote: IpPrefix) -> Self {
        ProxyIdSpec {
            local,
            remote,
            protocol: 0,
            local_ports: (0, 0),
            remote_ports: (0, 0),
        }
    }

    /// The PAN-OS default when no proxy ID is configured: `0.0.0.0/0` both ways, any protocol.
    pub fn default_v4() -> Self {
        Self::new(IpPrefix::any_v4(), IpPrefix::any_v4())
    }

    /// The `(local, remote)` selectors of this proxy ID. Fails when `local` and `remote` are of
    /// different families (a `proxy-id` entry is IPv4, a `proxy-id-v6` entry IPv6) or a port range
    /// runs backwards.
    pub fn to_selectors(&self) -> Result<(TrafficSelector, TrafficSelector), SelectorError> {
        if self.local.is_ipv4() != self.remote.is_ipv4() {
            return Err(SelectorError::ProxyIdFamilies {
                local: self.local,
                remote: self.remote,
            });
        }
        let local =
            TrafficSelector::from_prefix(self.local, self.protocol, wire_ports(self.local_ports))?;
        let remote = TrafficSelector::from_prefix(
            self.remote,
            self.protocol,
            wire_ports(self.remote_ports),
        )?;
        Ok((local, remote))
    }
}

/// The `(local, remote)` selectors a tunnel proposes: its proxy ID's, or `0.0.0.0/0` both ways
/// when it has none (PAN-OS default).
pub fn tunnel_selectors(
    proxy_id: Option<&ProxyIdSpec>,
) -> Result<(TrafficSelector, TrafficSelector), SelectorError> {
    match proxy_id {
        Some(spec) => spec.to_selectors(),
        None => Ok((TrafficSelector::any_v4(), TrafficSelector::any_v4())),
    }
}
