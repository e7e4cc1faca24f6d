//! One simulated firewall: its configuration, its IKEv2 endpoint, its ESP SA table, its routes.
//!
//! Events from the endpoint drive the SA table the way a gateway daemon would: every
//! [`Event::ChildSaUp`] installs the Child SA, every [`Event::ChildSaDown`] removes it. The
//! routing decision for an inner packet follows the PAN-OS objects: the longest static route (or
//! connected tunnel-interface subnet) names a `tunnel.N` interface, and the `ipsec-tunnel` bound
//! to that interface carries the packet; inside the tunnel the SA table picks the Child SA whose
//! proxy ID contains it.

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
}

/// The name `show vpn ipsec-sa` gives a Child SA: `tunnel:proxy-id`, or the tunnel alone when
/// it has no proxy IDs.
pub(crate) fn sa_name(child: &ChildSa) -> String {
    match &child.proxy_id {
        Some(p) => format!("{}:{p}", child.tunnel),
        None => child.tunnel.clone(),
    }
}

impl Firewall {
    /// Loads `path`, resolves it for IKE and builds the endpoint with the default provider.
    ///
    /// One adjustment to the resolved configuration, which a PAN-OS admin would not see: UDP
    /// encapsulation is forced when `force_udp` is set (there is no NAT on the in-memory
    /// network; without it ESP would travel as raw IP protocol 50).
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

    /// The `ipsec-tunnel`s over active gateways: what [`Firewall::initiate`] brings up.
    pub(crate) fn ike_tunnels(&self) -> Vec<String> {
        let cfg = self.endpoint.config();
        cfg.tunnels
            .iter()
            .filter(|t| cfg.gateway(&t.gateway).is_some_and(|g| !g.passive))
            .map(|t| t.name.clone())
            .collect()
    }

    /// How many Child SAs [`Firewall::initiate`] should end with: one per proxy ID of each
    /// tunnel (one for a tunnel without proxy IDs).
    pub(crate) fn expected_children(&self) -> usize {
        let cfg = self.endpoint.config();
        self.ike_tunnels()
            .iter()
            .filter_map(|t| cfg.tunnel(t))
            .map(|t| t.proxy_ids.len().max(1))
            .sum()
    }

    /// Brings up every tunnel, each with all its proxy IDs: the endpoint negotiates the first
    /// in IKE_AUTH and the others with CREATE_CHILD_SA once the IKE SA is established.
    pub(crate) fn initiate(&mut self, now: Instant) -> Result<(), String> {
        for t in self.ike_tunnels() {
            self.endpoint
                .connect(now, &t)
                .map_err(|e| format!("{}: connect {t}: {e}", self.name))?;
        }
        Ok(())
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
                    // One SA-table tunnel per `ipsec-tunnel`: its proxy IDs' Child SAs share the
                    // tunnel interface, and the table picks one by selector. The lifetimes,
                    // lifesize included, come from the IPsec crypto profile.
                    let child = (**child).clone();
                    let handle = self.table.install(now, &child).map_err(|e| {
                        format!(
                            "{}: installing Child SA {:08X} of {}: {e}",
                            self.name,
                            child.inbound.spi,
                            sa_name(&child)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
