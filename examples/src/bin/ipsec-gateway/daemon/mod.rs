//! `ipsec-gateway run`: a [`Gateway`] on a Linux host.
//!
//! One single-threaded tokio runtime runs everything: a task per UDP socket, per raw ESP socket
//! and per TUN device reads its packets into its own buffer and hands them to the gateway; a
//! timer task calls [`Gateway::handle_timeout`] at the gateway's deadline; the control socket
//! answers operational commands. The gateway is Sans-IO and single-owner, so the tasks share it
//! through a `RefCell` that no task holds across an `await`: every packet is handled to the end
//! (sent, written or dropped) before the next one is read, but for the packets whose cipher
//! runs on a crypto thread, which are finished when they come back. Three kinds of work leave
//! the runtime's thread, each to threads that do their jobs in order (`ordered::Ordered`). The
//! ciphers: a receive batch of ESP, checked by the gateway, and a TUN read, routed and laid
//! out as ESP, go with their buffers to the crypto threads (`crypto`, `--crypto-threads`) and
//! are finished (forwarded, sent) when they come back, in the order they were read. Raw ESP's
//! sends: batches of encrypted packets go to a thread per raw socket that sends them
//! (`udp::SendThread`; raw sockets have no GSO, and every packet crosses the kernel alone). And
//! the writes of decapsulated packets to the TUN devices: receive batches go, with their
//! buffers, to a thread that writes them (`tun_write::TunWriter`), where the kernel runs the
//! host's receive path while the datapath reads and decapsulates the next batch.
//!
//! Where things go:
//! - a packet read from a TUN device was routed into the tunnel interface by the kernel. It
//!   comes from the host itself when its source is one of the host's interface addresses
//!   ([`Gateway::handle_local`]), otherwise from the LAN interface whose subnet holds the source
//!   ([`Gateway::handle_inner`], so the security rules apply);
//! - a packet out of a tunnel is written to the TUN device of the tunnel it arrived in: the
//!   kernel then delivers it to the host or forwards it to the LAN, and its reverse-path check
//!   sees it arrive on the interface that routes toward its source.

mod control;
mod crypto;
mod gro;
mod io;
mod log;
mod netlink;
mod open;
mod ordered;
mod reload;
mod seal;
mod tun;
mod tun_write;
mod udp;
mod workers;

use crate::RunArgs;
use gateway::{Action, Config, Event, Gateway, InterfaceId, Options};
use io::Sockets;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;
use tun::Tun;

/// Exit status of a configuration error.
const CONFIG_ERROR: u8 = 2;

/// The gateway's clock starts here, so that instant zero is never a deadline.
const CLOCK_BASE_MICROS: u64 = 1_000_000;

/// How long shutdown waits for the peers to answer the Deletes.
const DELETE_GRACE: Duration = Duration::from_secs(1);

/// A LAN interface of the host: a configured interface mapped to a Linux device, with its
/// addresses.
#[derive(Clone, Debug)]
struct Lan {
    /// The configured name (`ethernet1/2`).
    name: String,
    id: InterfaceId,
    addresses: Vec<(IpAddr, u8)>,
}

/// Everything the tasks share.
pub(crate) struct Daemon {
    gw: Gateway,
    /// The configuration file, read again by `reload`.
    config_path: PathBuf,
    nl: netlink::Netlink,
    /// The kernel routes installed, by static-route name.
    routes: Vec<(String, rtnetlink::packet_route::route::RouteMessage)>,
    epoch: tokio::time::Instant,
    sockets: Sockets,
    tuns: Vec<Tun>,
    lans: Vec<Lan>,
    /// Our inbound SPI -> the TUN device of its tunnel interface.
    spi_tun: HashMap<u32, usize>,
    /// The deadline the timer task sleeps until.
    armed: Option<gateway::Instant>,
    wake: Rc<tokio::sync::Notify>,
    scratch: Vec<u8>,
    /// The thread that writes receive batches to the TUN devices (`None`: written here).
    tun_writer: Option<tun_write::TunWriter>,
    /// The threads that run the ciphers (`None`: they run here).
    crypto: Option<crypto::Crypto>,
}

type Shared = Rc<RefCell<Daemon>>;

/// `ipsec-gateway run`.
pub(crate) fn run(args: RunArgs, control: PathBuf) -> ExitCode {
    log::init(args.log_level, log::Stderr);
    // No transparent huge pages: the daemon's heap is small objects (an IKE SA's state, keys,
    // messages), and the allocator's huge pages doubled its memory (every 2 MiB region touched
    // is cleared and held whole), which under load cost more than the key exchanges.
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!("cannot turn transparent huge pages off: {e}");
    }
    let file = args.config.display().to_string();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("ipsec-gateway: {file}: error: {e}");
            }
            eprintln!(
                "ipsec-gateway: {file}: {} errors, not started",
                errors.len()
            );
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    let options = Options {
        force_udp_encapsulation: args.encapsulate,
        ..Options::default()
    };
    // Each algorithm from the fastest implementation compiled in: the datapath's AEADs from
    // ring, key exchange, PRFs and random numbers from aws-lc-rs, MODP from RustCrypto.
    let provider = ipsec_core::crypto::fastest_provider();
    // AWS-LC seeds its generator on the first draw (it gathers CPU-jitter entropy, tens of
    // milliseconds): drawn here, so that the first IKE_SA_INIT does not wait for it.
    if let Err(e) = provider.random.fill(&mut [0u8; 32]) {
        eprintln!("ipsec-gateway: the random source failed: {e}");
        return ExitCode::FAILURE;
    }
    let gw = match Gateway::with_options(config, provider, options) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("ipsec-gateway: {file}: error: {e}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    for w in gw.warnings() {
        tracing::warn!("config: {w}");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ipsec-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    // The informational lines of the runtime's thread are written behind it.
    log::defer_here();
    local.spawn_local(log::write_behind());
    let served = local.block_on(&runtime, serve(gw, args, control));
    log::flush();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipsec-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sets the host up, runs until SIGTERM or SIGINT, and takes everything down again.
async fn serve(mut gw: Gateway, args: RunArgs, control: PathBuf) -> Result<(), String> {
    let nl = netlink::Netlink::connect()?;
    // A previous instance that crashed may have left its routes behind (its TUN devices went
    // with its file descriptors).
    let stale = nl.flush_routes().await?;
    if stale > 0 {
        tracing::warn!("removed {stale} routes left by an earlier run");
    }
    let mut lans = Vec::new();
    for (name, dev) in &args.interfaces {
        let addresses = nl.addresses(dev).await?;
        for (addr, prefix_len) in &addresses {
            let a = gateway::InterfaceAddress {
                addr: *addr,
                prefix_len: *prefix_len,
            };
            gw.set_interface_address(name, a)
                .map_err(|e| format!("--interface {name}={dev}: {e}"))?;
        }
        let id = gw
            .interface(name)
            .ok_or_else(|| format!("--interface {name}={dev}: no such interface"))?;
        tracing::info!("interface {name} is {dev} ({} addresses)", addresses.len());
        lans.push(Lan {
            name: name.clone(),
            id,
            addresses,
        });
    }
    let tuns = tun::create_all(&gw)?;
    let routes = match netlink::install_routes(&nl, gw.config(), &tuns).await {
        Ok(r) => r,
        Err(e) => {
            let _ = nl.flush_routes().await;
            return Err(e);
        }
    };
    let sockets = Sockets::bind(gw.config())?;
    let listener = control::listen(&control)?;
    let wake = Rc::new(tokio::sync::Notify::new());
    // Told by the crypto threads of each job they send back.
    let back = std::sync::Arc::new(tokio::sync::Notify::new());
    let route_count = routes.len();
    let daemon = Rc::new(RefCell::new(Daemon {
        gw,
        config_path: args.config.clone(),
        nl: nl.clone(),
        routes,
        epoch: tokio::time::Instant::now(),
        sockets,
        tuns,
        lans,
        spi_tun: HashMap::new(),
        armed: None,
        wake: wake.clone(),
        scratch: vec![0u8; 65_535],
        tun_writer: tun_write::TunWriter::spawn()
            .inspect_err(|e| tracing::debug!("no thread to write the TUN devices: {e}"))
            .ok(),
        crypto: (args.crypto_threads > 0)
            .then(|| crypto::Crypto::spawn(args.crypto_threads, &back))
            .and_then(|c| {
                c.inspect_err(|e| tracing::warn!("no crypto threads: {e}"))
                    .ok()
            }),
    }));
    tokio::task::spawn_local(crypto::collector(daemon.clone(), back));
    io::spawn_readers(&daemon);
    tokio::task::spawn_local(timer(daemon.clone(), wake));
    tokio::task::spawn_local(control::serve(daemon.clone(), listener));
    tokio::task::spawn_local(reload_on_hangup(daemon.clone()));
    {
        let mut d = daemon.borrow_mut();
        let now = d.now();
        d.gw.set_wall_clock(now, wall_clock());
        match d.gw.connect_all(now) {
            Ok(n) => tracing::info!("initiating {n} tunnels"),
            Err(e) => tracing::error!("cannot initiate: {e}"),
        }
        d.flush();
    }
    tracing::info!(
        "running: {} tunnel interfaces, {} kernel routes, control socket {}",
        daemon.borrow().tuns.len(),
        route_count,
        control.display()
    );

    wait_for_signal().await?;

    tracing::info!("shutting down: deleting IKE SAs");
    let gateways: Vec<String> = {
        let d = daemon.borrow();
        let mut g: Vec<String> =
            d.gw.show_ike_sa(d.now())
                .into_iter()
                .map(|s| s.gateway)
                .collect();
        g.dedup();
        g
    };
    for g in &gateways {
        let mut d = daemon.borrow_mut();
        let now = d.now();
        if let Err(e) = d.gw.delete_ike(now, g) {
            tracing::warn!("delete of the IKE SA of {g}: {e}");
        }
        d.flush();
    }
    // The readers keep running meanwhile: the peers' answers to the Deletes are processed.
    let deadline = tokio::time::Instant::now() + DELETE_GRACE;
    while tokio::time::Instant::now() < deadline {
        let left = {
            let d = daemon.borrow();
            d.gw.show_ike_sa(d.now()).len()
        };
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let routes = std::mem::take(&mut daemon.borrow_mut().routes);
    netlink::remove_routes(&nl, routes.iter().map(|(_, r)| r)).await;
    let _ = std::fs::remove_file(&control);
    let n = daemon.borrow().tuns.len();
    // Dropping the last handle of each device closes its file descriptor, which deletes it.
    daemon.borrow_mut().tuns.clear();
    tracing::info!(
        "stopped: {} routes and {n} tunnel interfaces removed",
        routes.len()
    );
    Ok(())
}

async fn wait_for_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    Ok(())
}

/// SIGHUP commits the configuration file again, as `reload` does (the result goes to the log).
async fn reload_on_hangup(daemon: Shared) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("SIGHUP: {e}; reload only through the control socket");
            return;
        }
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP received: reloading the configuration");
        let _ = reload::reload(&daemon).await;
    }
}

/// Calls [`Gateway::handle_timeout`] at the gateway's deadline; woken early when an input
/// brought the deadline forward.
async fn timer(daemon: Shared, wake: Rc<tokio::sync::Notify>) {
    loop {
        let at = {
            let mut d = daemon.borrow_mut();
            let next = d.gw.poll_timeout();
            d.armed = next;
            next.map(|t| d.to_tokio(t))
        };
        let sleep = async {
            match at {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {
                let mut d = daemon.borrow_mut();
                let now = d.now();
                // Certificates' validity dates follow the system clock, even if it is stepped.
                d.gw.set_wall_clock(now, wall_clock());
                d.gw.handle_timeout(now);
                d.flush();
            }
            _ = wake.notified() => {}
        }
    }
}

impl Daemon {
    /// The gateway's clock.
    fn now(&self) -> gateway::Instant {
        let micros = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        gateway::Instant::from_micros(micros.saturating_add(CLOCK_BASE_MICROS))
    }

    fn to_tokio(&self, t: gateway::Instant) -> tokio::time::Instant {
        self.epoch + Duration::from_micros(t.as_micros().saturating_sub(CLOCK_BASE_MICROS))
    }

    /// Carries out what an input produced, for a packet in `buf`.
    fn act(&mut self, action: Action, buf: &[u8]) {
        match action {
            Action::Consumed | Action::Drop(_) => {}
            Action::Send(t) => {
                if let Some(bytes) = buf.get(t.range.clone()) {
                    self.sockets.send(&t, bytes);
                }
            }
            Action::Deliver(d) => {
                let tun = self
                    .tuns
                    .iter()
                    .position(|t| t.id == d.interface)
                    .or_else(|| d.inbound_spi.and_then(|s| self.spi_tun.get(&s).copied()));
                match (tun, buf.get(d.range)) {
                    (Some(i), Some(packet)) => self.tuns[i].write(packet),
                    _ => tracing::debug!(
                        "no tunnel interface to deliver a packet to {:?}",
                        self.gw.interface_name(d.interface)
                    ),
                }
            }
        }
    }

    /// Carries out what an input from a receive batch produced: the packet was at `at` in the
    /// batch buffer `buf`, and the action's ranges are relative to it. Packets to deliver stay
    /// in `buf` until [`write_batch`](Self::write_batch).
    fn act_in(&mut self, action: Action, buf: &mut [u8], at: core::ops::Range<usize>) {
        let Action::Deliver(d) = action else {
            self.act(action, buf.get(at).unwrap_or_default());
            return;
        };
        let tun = self
            .tuns
            .iter()
            .position(|t| t.id == d.interface)
            .or_else(|| d.inbound_spi.and_then(|s| self.spi_tun.get(&s).copied()));
        let range = at.start + d.range.start..at.start + d.range.end;
        match tun {
            Some(i) if range.end <= at.end => {
                if self.tuns[i].is_full() {
                    // Written here at once: what the thread holds goes first.
                    if let Some(w) = &mut self.tun_writer {
                        w.wait_idle();
                    }
                }
                self.tuns[i].write_in(buf, range);
            }
            _ => tracing::debug!(
                "no tunnel interface to deliver a packet to {:?}",
                self.gw.interface_name(d.interface)
            ),
        }
    }

    /// Writes the packets delivered from the receive batch in `buf` (see
    /// [`act_in`](Self::act_in)), or hands them with `buf` to the thread that writes, leaving a
    /// spare buffer of the same length in its place.
    fn write_batch(&mut self, buf: &mut Vec<u8>) {
        let taken: usize = self.tuns.iter().map(Tun::taken).sum();
        let hand = taken > 0 && self.tun_writer.as_mut().is_some_and(|w| w.wants(taken));
        match &mut self.tun_writer {
            Some(w) if hand => {
                let mut batch = w.begin();
                for t in &mut self.tuns {
                    if !t.hand_over(&mut batch, w) {
                        t.write_batch(buf);
                    }
                }
                w.hand_over(batch, buf);
            }
            _ => {
                for t in &mut self.tuns {
                    t.write_batch(buf);
                }
            }
        }
    }

    /// Sends what the gateway has queued and what the inputs since the last call gathered,
    /// writes what they delivered, logs the gateway's events, and re-arms the timer when the
    /// deadline came forward. Called after every batch of inputs and every command.
    fn flush(&mut self) {
        let mut buf = std::mem::take(&mut self.scratch);
        while let Some(t) = self.gw.poll_transmit(&mut buf) {
            if let Some(bytes) = buf.get(t.range.clone()) {
                self.sockets.send(&t, bytes);
            }
        }
        self.scratch = buf;
        self.sockets.flush();
        for t in &mut self.tuns {
            t.flush();
        }
        while let Some(e) = self.gw.poll_event() {
            self.track(&e);
            match &e {
                Event::Ike(
                    ikev2::Event::Phase1Failed { .. } | ikev2::Event::Phase2Failed { .. },
                )
                | Event::InstallFailed { .. }
                | Event::TunnelDown { .. } => {
                    tracing::warn!(target: log::EVENTS, "vpn: {}", log::Safe(&e));
                }
                _ => tracing::info!(target: log::EVENTS, "vpn: {}", log::Safe(&e)),
            }
        }
        let next = self.gw.poll_timeout();
        if next.is_some() && (self.armed.is_none() || next < self.armed) {
            self.armed = next;
            self.wake.notify_one();
        }
    }

    /// Keeps the inbound SPI -> TUN device map in step with the installed Child SAs.
    fn track(&mut self, e: &Event) {
        match e {
            Event::Ike(ikev2::Event::ChildSaUp { child, .. }) => {
                let ifname = self
                    .gw
                    .config()
                    .ipsec_tunnels
                    .iter()
                    .find(|t| t.name == child.tunnel)
                    .map(|t| t.tunnel_interface.clone());
                if let Some(i) = ifname.and_then(|n| self.tuns.iter().position(|t| t.name == n)) {
                    self.spi_tun.insert(child.inbound.spi, i);
                }
            }
            Event::Ike(ikev2::Event::ChildSaDown { inbound_spi, .. }) => {
                self.spi_tun.remove(inbound_spi);
            }
            _ => {}
        }
    }

    /// A packet the kernel routed into a TUN device: from the host itself, or forwarded from a
    /// LAN. What it produces leaves at the next [`flush`](Self::flush).
    fn handle_tun(&mut self, buf: &mut [u8], range: core::ops::Range<usize>) {
        let now = self.now();
        let action = match self.tun_ingress(buf, &range) {
            Some(lan) => self.gw.handle_inner(now, lan, buf, range),
            None => self.gw.handle_local(now, buf, range),
        };
        self.act(action, buf);
    }

    /// The LAN interface a packet read from a TUN device was forwarded from; `None` when the
    /// host itself sent it.
    fn tun_ingress(&self, buf: &[u8], range: &core::ops::Range<usize>) -> Option<InterfaceId> {
        let src = buf.get(range.clone()).and_then(source_address)?;
        match self.ingress(src)? {
            Ingress::Lan(id) => Some(id),
            Ingress::Local => None,
        }
    }

    /// Where a packet with source `src` entered the firewall.
    fn ingress(&self, src: IpAddr) -> Option<Ingress> {
        let own = |lan: &Lan| lan.addresses.iter().any(|(a, _)| *a == src);
        if self.lans.iter().any(own) || self.tuns.iter().any(|t| t.owns(src)) {
            return Some(Ingress::Local);
        }
        self.lans
            .iter()
            .find(|l| l.addresses.iter().any(|(a, len)| in_subnet(*a, *len, src)))
            .or_else(|| self.lans.first())
            .map(|l| Ingress::Lan(l.id))
    }
}

/// The system clock, for certificates' validity dates.
fn wall_clock() -> ipsec_core::time::UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    ipsec_core::time::UnixTime::from_secs(secs)
}

enum Ingress {
    Local,
    Lan(InterfaceId),
}

/// The source address of an IPv4 or IPv6 packet.
fn source_address(p: &[u8]) -> Option<IpAddr> {
    match p.first()? >> 4 {
        4 => {
            let b: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        6 => {
            let b: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

/// Whether `ip` is in the subnet `net/len`.
fn in_subnet(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_and_sources() {
        let net: IpAddr = "10.1.0.0".parse().unwrap();
        assert!(in_subnet(net, 24, "10.1.0.77".parse().unwrap()));
        assert!(!in_subnet(net, 24, "10.1.1.1".parse().unwrap()));
        assert!(in_subnet(net, 0, "192.0.2.1".parse().unwrap()));
        assert!(!in_subnet(net, 24, "fd00::1".parse().unwrap()));
        let v6: IpAddr = "fd00:1::".parse().unwrap();
        assert!(in_subnet(v6, 64, "fd00:1::5".parse().unwrap()));
        assert!(!in_subnet(v6, 64, "fd00:2::5".parse().unwrap()));
        let mut p = [0u8; 20];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&[10, 1, 0, 9]);
        assert_eq!(source_address(&p), Some("10.1.0.9".parse().unwrap()));
        assert_eq!(source_address(&p[..10]), None);
        assert_eq!(source_address(&[0x15; 40]), None);
    }
}
