//! One simulated firewall: its configuration, its IKEv2 endpoint, its ESP SA table, its routes.
//!
//! Events from the endpoint drive the SA table the way a gateway daemon would: every
//! [`Event::ChildSaUp`] installs the Child SA, every [`Event::ChildSaDown`] removes it. The
//! routing decision for an inner packet follows the PAN-OS objects: the longest static route (or
//! connected tunnel-interface subnet) names a `tunnel.N` interface, and the `ipsec-tunnel` bound
//! to that interface carries the packet; inside the tunnel the SA table picks the Child SA whose
//! proxy ID contains it.

#[cfg(test)]
use core::time::Duration;
use esp::{ChildHandle, SaTable};
use ikev2::config::EndpointConfig;
use ikev2::proposal::EspSuite;
use ikev2::wire::NotifyType;
use ikev2::{Endpoint, Event, Reason, Received};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::config::Config;
use ipsec_core::crypto::default_provider;
use ipsec_core::selector::IpPrefix;
use ipsec_core::time::Instant;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// Room before an inner packet for the ESP header and IV, and after it for trailer and ICV.
const HEADROOM: usize = 128;
const TAILROOM: usize = 256;

/// A Child SA installed in the SA table.
pub(crate) struct Installed {
    /// What IKE negotiated.
    pub(crate) child: ChildSa,
    /// The negotiated algorithms.
    pub(crate) suite: EspSuite,
    /// The `ike-gateway` it runs over.
    pub(crate) gateway: String,
    /// When it was installed.
    pub(crate) at: Instant,
    /// Its handle in the SA table.
    pub(crate) handle: ChildHandle,
}

/// An inner packet that came out of the tunnel.
pub(crate) struct Delivery {
    /// The inbound SPI it arrived on.
    pub(crate) spi: u32,
    /// The inner IP packet.
    pub(crate) packet: Vec<u8>,
}

/// An ESP packet ready for the network.
pub(crate) struct EspOut {
    /// Our address and port (port 4500 when UDP-encapsulated).
    pub(crate) source: SocketAddr,
    /// The peer's.
    pub(crate) destination: SocketAddr,
    /// The outbound SPI used.
    pub(crate) spi: u32,
    /// The ESP packet (the UDP payload when encapsulated).
    pub(crate) bytes: Vec<u8>,
}

/// A firewall of the demo.
pub(crate) struct Firewall {
    /// Its short name (`hq`), for output.
    pub(crate) name: String,
    /// The PAN-OS configuration it was loaded from.
    pub(crate) config: Config,
    /// The IKEv2 endpoint.
    pub(crate) endpoint: Endpoint,
    /// The ESP datapath.
    pub(crate) table: SaTable,
    /// Installed Child SAs, in installation order.
    pub(crate) children: Vec<Installed>,
    /// Every event, with when it happened.
    pub(crate) log: Vec<(Instant, Event)>,
    /// Failed negotiations, as logged.
    pub(crate) failures: Vec<String>,
    /// Inner packets received through the tunnel.
    pub(crate) delivered: Vec<Delivery>,
    /// ESP packets that did not decapsulate, with the reason.
    pub(crate) esp_dropped: Vec<String>,
    /// Per split tunnel name (`vpn-branch:monitor`), the `ipsec-tunnel` it came from.
    tunnel_of: HashMap<String, String>,
}

impl Firewall {
    /// Loads `path`, resolves it for IKE and builds the endpoint with the default provider.
    ///
    /// Two adjustments to the resolved configuration, both of which a PAN-OS admin would not
    /// see: a tunnel with several proxy IDs becomes one IKE tunnel per proxy ID, named
    /// `tunnel:proxy-id` as `show vpn ipsec-sa` names them (the endpoint's `connect` negotiates
    /// only a tunnel's first proxy ID), and UDP encapsulation is forced when `force_udp` is set
    /// (there is no NAT on the in-memory network; without it ESP would travel as raw IP
    /// protocol 50).
    pub(crate) fn load(name: &str, path: &str, force_udp: bool) -> Result<Firewall, String> {
        let config = Config::load(path).map_err(|errs| {
            errs.iter()
                .map(|e| format!("{path}: {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let mut resolved =
            EndpointConfig::from_config(&config).map_err(|e| format!("{path}: {e}"))?;
        if resolved.gateways.is_empty() {
            return Err(format!("{path}: no IKEv2 gateway with a pre-shared key"));
        }
        for g in &mut resolved.gateways {
            g.force_encapsulation = force_udp;
        }
        let tunnel_of = split_proxy_ids(&mut resolved);
        let endpoint = Endpoint::new(resolved, default_provider())
            .map_err(|e| format!("{path}: endpoint: {e}"))?;
        Ok(Firewall {
            name: name.to_owned(),
            config,
            endpoint,
            table: SaTable::new(default_provider()),
            children: Vec::new(),
            log: Vec::new(),
            failures: Vec::new(),
            delivered: Vec::new(),
            esp_dropped: Vec::new(),
            tunnel_of,
        })
    }

    /// The local IP address of the first IKE gateway: where the network delivers to us.
    pub(crate) fn address(&self) -> Option<IpAddr> {
        self.endpoint
            .config()
            .gateways
            .first()
            .map(|g| g.local_addr)
    }

    /// The IKE tunnels (one per proxy ID) of active gateways: what [`Firewall::initiate`]
    /// brings up, and how many Child SAs the firewall should end up with.
    pub(crate) fn ike_tunnels(&self) -> Vec<String> {
        let cfg = self.endpoint.config();
        cfg.tunnels
            .iter()
            .filter(|t| cfg.gateway(&t.gateway).is_some_and(|g| !g.passive))
            .map(|t| t.name.clone())
            .collect()
    }

    /// Brings up every IKE tunnel: the first in IKE_AUTH, the others with CREATE_CHILD_SA once
    /// the IKE SA is established.
    pub(crate) fn initiate(&mut self, now: Instant) -> Result<(), String> {
        for t in self.ike_tunnels() {
            self.endpoint
                .connect(now, &t)
                .map_err(|e| format!("{}: connect {t}: {e}", self.name))?;
        }
        Ok(())
    }

    /// The `ipsec-tunnel` behind an IKE tunnel name.
    pub(crate) fn ipsec_tunnel_of<'a>(&'a self, ike_tunnel: &'a str) -> &'a str {
        self.tunnel_of
            .get(ike_tunnel)
            .map(String::as_str)
            .unwrap_or(ike_tunnel)
    }

    /// The `lifesize` of the IPsec crypto profile of `ipsec_tunnel`, in bytes.
    fn lifesize_of(&self, ipsec_tunnel: &str) -> Option<u64> {
        let t = self
            .config
            .ipsec_tunnels
            .iter()
            .find(|t| t.name == ipsec_tunnel)?;
        self.config
            .ipsec_crypto_profile(t.ipsec_crypto_profile.as_deref()?)?
            .lifesize_bytes()
    }

    /// Drains the endpoint's events into the log and the SA table.
    pub(crate) fn poll_events(&mut self, now: Instant) -> Result<(), String> {
        while let Some(event) = self.endpoint.poll_event() {
            match &event {
                Event::ChildSaUp {
                    gateway,
                    child,
                    suite,
                    ..
                } => {
                    let mut child = (**child).clone();
                    let ipsec_tunnel = self.ipsec_tunnel_of(&child.tunnel).to_owned();
                    // The endpoint carries the profile's lifetime but not its lifesize; the
                    // datapath enforces it.
                    if child.lifetimes.hard_bytes.is_none() {
                        child.lifetimes.hard_bytes = self.lifesize_of(&ipsec_tunnel);
                    }
                    // One SA-table tunnel per `ipsec-tunnel`: its proxy IDs share the tunnel
                    // interface, and the table picks the Child SA by selector.
                    let mut datapath = child.clone();
                    datapath.tunnel = ipsec_tunnel;
                    let handle = self.table.install(now, &datapath).map_err(|e| {
                        format!(
                            "{}: installing Child SA {:08X} of {}: {e}",
                            self.name, child.inbound.spi, child.tunnel
                        )
                    })?;
                    self.children.push(Installed {
                        child,
                        suite: *suite,
                        gateway: gateway.clone(),
                        at: now,
                        handle,
                    });
                }
                Event::ChildSaDown { inbound_spi, .. } => {
                    if let Some(i) = self
                        .children
                        .iter()
                        .position(|c| c.child.inbound.spi == *inbound_spi)
                    {
                        let gone = self.children.remove(i);
                        self.table.remove(gone.handle);
                    }
                }
                Event::Phase1Failed { reason, .. }
                | Event::Phase2Failed { reason, .. }
                | Event::IkeSaDown { reason, .. } => self.failures.push(match notify_of(reason) {
                    Some(n) => format!("{event} [notify {n}]"),
                    None => event.to_string(),
                }),
                Event::NoGateway { .. } => self.failures.push(event.to_string()),
                Event::IkeSaUp { .. } => {}
            }
            self.log.push((now, event));
        }
        Ok(())
    }

    /// Takes a datagram the network delivers to `local` from `remote`: IKE goes to the endpoint,
    /// ESP (on port 4500 as the endpoint classifies it, or raw protocol 50 with port 0) to the
    /// SA table.
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &mut [u8],
    ) {
        let esp = local.port() == 0
            || self.endpoint.handle_datagram(now, local, remote, bytes) == Received::Esp;
        if !esp {
            return;
        }
        match self.table.decapsulate(now, bytes) {
            Ok(Some(d)) => match bytes.get(d.packet.range.clone()) {
                Some(inner) => self.delivered.push(Delivery {
                    spi: d.spi,
                    packet: inner.to_vec(),
                }),
                None => self
                    .esp_dropped
                    .push("inner range outside the packet".into()),
            },
            Ok(None) => {}
            Err(e) => self.esp_dropped.push(e.to_string()),
        }
    }

    /// The `ipsec-tunnel` that carries packets to `dst`: the longest matching static route or
    /// connected tunnel-interface subnet names a `tunnel.N`, and the tunnel bound to it.
    pub(crate) fn route(&self, dst: IpAddr) -> Option<&str> {
        let statics = self.config.static_routes.iter().filter_map(|r| {
            let ifname = r.interface.as_deref()?;
            r.destination
                .contains(dst)
                .then(|| (r.destination.prefix_len(), ifname))
        });
        let connected = self.config.tunnel_interfaces.iter().filter_map(|t| {
            let a = t.ip.as_ref()?;
            let p = connected(a.addr, a.prefix_len)?;
            p.contains(dst).then(|| (p.prefix_len(), t.name.as_str()))
        });
        let (_, ifname) = statics.chain(connected).max_by_key(|(len, _)| *len)?;
        self.config
            .ipsec_tunnels
            .iter()
            .find(|t| t.tunnel_interface == ifname && !t.disabled)
            .map(|t| t.name.as_str())
    }

    /// Routes the inner IP packet `inner` into its tunnel and encapsulates it.
    pub(crate) fn send(&mut self, now: Instant, inner: &[u8]) -> Result<EspOut, String> {
        let dst = crate::packets::parse(inner)
            .map(|p| IpAddr::V4(p.dst))
            .ok_or_else(|| format!("{}: not an IPv4 packet", self.name))?;
        let tunnel = self
            .route(dst)
            .ok_or_else(|| format!("{}: no route through a tunnel to {dst}", self.name))?
            .to_owned();
        let id = self.table.tunnel(&tunnel).ok_or_else(|| {
            format!(
                "{}: ipsec-tunnel {tunnel} has no Child SA installed",
                self.name
            )
        })?;
        let mut buf = vec![0u8; HEADROOM + inner.len() + TAILROOM];
        let range = HEADROOM..HEADROOM + inner.len();
        buf.get_mut(range.clone())
            .ok_or("buffer")?
            .copy_from_slice(inner);
        let t = self
            .table
            .encapsulate(now, id, &mut buf, range)
            .map_err(|e| format!("{}: ESP encapsulation into {tunnel}: {e}", self.name))?;
        let bytes = buf.get(t.range.clone()).ok_or("ESP range")?.to_vec();
        Ok(EspOut {
            source: t.source,
            destination: t.destination,
            spi: t.spi,
            bytes,
        })
    }
}

/// The name of the notify (RFC 7296 section 3.10.1) a failure is signalled with on the wire.
fn notify_of(reason: &Reason) -> Option<String> {
    let n = match reason {
        Reason::AuthenticationFailed(_) => NotifyType::AUTHENTICATION_FAILED,
        Reason::NoProposalChosen { .. } => NotifyType::NO_PROPOSAL_CHOSEN,
        Reason::TsUnacceptable { .. } => NotifyType::TS_UNACCEPTABLE,
        Reason::Malformed(_) => NotifyType::INVALID_SYNTAX,
        Reason::PeerNotify(n) => NotifyType(*n),
        _ => return None,
    };
    Some(n.name().map_or_else(|| n.0.to_string(), str::to_owned))
}

/// The connected subnet of an interface address (`169.254.100.1/30` -> `169.254.100.0/30`).
fn connected(addr: IpAddr, len: u8) -> Option<IpPrefix> {
    let network = match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32u32.checked_sub(u32::from(len))?)
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128u32.checked_sub(u32::from(len))?)
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    IpPrefix::new(network, len).ok()
}

/// Splits every tunnel with more than one proxy ID into one tunnel per proxy ID, named
/// `tunnel:proxy-id`; returns the original name of each new tunnel.
fn split_proxy_ids(cfg: &mut EndpointConfig) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let mut out = Vec::new();
    for t in cfg.tunnels.drain(..) {
        if t.proxy_ids.len() < 2 {
            out.push(t);
            continue;
        }
        for p in &t.proxy_ids {
            let mut one = t.clone();
            one.name = format!("{}:{}", t.name, p.name);
            one.proxy_ids = vec![p.clone()];
            names.insert(one.name.clone(), t.name.clone());
            out.push(one);
        }
    }
    cfg.tunnels = out;
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikev2::config::{ProxyId, TunnelConfig};
    use ipsec_core::child_sa::Mode;
    use ipsec_core::selector::TrafficSelector;

    #[test]
    fn connected_subnet_clears_host_bits() {
        let p = connected("169.254.100.1".parse().unwrap(), 30).unwrap();
        assert_eq!(p.to_string(), "169.254.100.0/30");
        assert!(p.contains("169.254.100.2".parse().unwrap()));
        assert!(!p.contains("169.254.100.4".parse().unwrap()));
        assert_eq!(
            connected("10.0.0.1".parse().unwrap(), 0)
                .unwrap()
                .to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            connected("2001:db8::1".parse().unwrap(), 64)
                .unwrap()
                .to_string(),
            "2001:db8::/64"
        );
        assert!(connected("10.0.0.1".parse().unwrap(), 33).is_none());
    }

    fn tunnel(name: &str, proxies: &[&str]) -> TunnelConfig {
        let ts = TrafficSelector {
            protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: "10.0.0.0".parse().unwrap(),
            end_addr: "10.0.0.255".parse().unwrap(),
        };
        TunnelConfig {
            name: name.into(),
            gateway: "gw".into(),
            esp_proposals: Vec::new(),
            proxy_ids: proxies
                .iter()
                .map(|p| ProxyId {
                    name: (*p).into(),
                    local: ts,
                    remote: ts,
                })
                .collect(),
            lifetime: Duration::from_secs(3600),
            lifesize: None,
            mode: Mode::Tunnel,
            replay_window: 64,
        }
    }

    #[test]
    fn only_tunnels_with_several_proxy_ids_are_split() {
        let mut cfg = EndpointConfig::new();
        cfg.tunnels = vec![
            tunnel("a", &["x", "y"]),
            tunnel("b", &["z"]),
            tunnel("c", &[]),
        ];
        let names = split_proxy_ids(&mut cfg);
        let got: Vec<(&str, usize)> = cfg
            .tunnels
            .iter()
            .map(|t| (t.name.as_str(), t.proxy_ids.len()))
            .collect();
        assert_eq!(got, [("a:x", 1), ("a:y", 1), ("b", 1), ("c", 0)]);
        assert_eq!(cfg.tunnels[1].proxy_ids[0].name, "y");
        assert_eq!(names.get("a:y").map(String::as_str), Some("a"));
        assert_eq!(names.len(), 2);
    }
}
