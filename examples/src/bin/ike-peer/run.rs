//! The run loop: sockets in, endpoint in the middle, events and datagrams out.
//!
//! One iteration follows the endpoint's polling order: send every queued datagram, drain the
//! events (printing them, installing Child SAs in the probe), do the probe's, `--then`'s and
//! `--commands`' work, then sleep until a datagram arrives, the endpoint's next deadline, the
//! next echo request or the end of the run, whichever comes first.

use crate::events::{event_line, outcome, Outcome};
use crate::probe::{Answer, Probe};
use crate::sockets::{Datagram, Sockets};
use crate::{verdict, Action, Args, Until};
use ikev2::config::EndpointConfig;
use ikev2::{Endpoint, Event, Received};
use ipsec_core::config::Config;
use ipsec_core::crypto::default_provider;
use ipsec_core::demux::{IKE_PORT, NAT_T_PORT};
use ipsec_core::time::UnixTime;
use std::sync::mpsc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant as StdInstant, SystemTime};

/// How often to look at `--commands` when nothing else wakes the loop.
const COMMAND_POLL: Duration = Duration::from_millis(50);

/// Loads and resolves the firewall configuration; every problem becomes one line of text.
fn load(path: &str) -> Result<EndpointConfig, String> {
    let cfg = Config::load(path).map_err(|errs| {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    EndpointConfig::from_config(&cfg).map_err(|e| format!("{path}: {e}"))
}

/// The system's wall-clock time; a clock set before 1970 counts as the epoch (every
/// certificate is then not yet valid, and says so).
fn system_time() -> UnixTime {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    UnixTime::from_secs(since.as_secs())
}

/// Maps the process's monotonic clock onto the endpoint's `Instant` (microseconds since start).
pub(crate) struct Clock(pub(crate) StdInstant);

impl Clock {
    pub(crate) fn now(&self) -> ipsec_core::time::Instant {
        let us = u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX);
        ipsec_core::time::Instant::from_micros(us)
    }

    pub(crate) fn to_std(&self, t: ipsec_core::time::Instant) -> StdInstant {
        self.0 + Duration::from_micros(t.as_micros())
    }
}

/// Progress of `--then`.
enum Then {
    /// No Child SA yet.
    Waiting,
    /// The first Child SA is up: its gateway and tunnel.
    Due(String, String),
    /// The command was given.
    Done,
}

/// Counters printed at the end.
#[derive(Default)]
struct Counters {
    received: u64,
    sent: u64,
    esp_dropped: u64,
    send_errors: u64,
    pings_sent: u32,
    echo_replies: u64,
}

/// One run of the peer.
struct Peer<'a> {
    args: &'a Args,
    ep: Endpoint,
    socks: Sockets,
    clock: Clock,
    deadline: StdInstant,
    buf: Vec<u8>,
    n: Counters,
    probe: Option<Probe>,
    next_ping: StdInstant,
    then: Option<Then>,
    /// The first Child SA's gateway and tunnel, for `--commands`.
    first_child: Option<(String, String)>,
    /// Lines from standard input (`--commands`).
    commands: Option<mpsc::Receiver<String>>,
    /// The verdict, once reached, and when to stop serving after it.
    end: Option<(bool, StdInstant)>,
}

/// Reads standard input line by line into a channel.
fn read_commands() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs the peer as `args` say; `Ok(true)` when the `--until` condition was met.
pub(crate) fn run(args: &Args) -> Result<bool, String> {
    let cfg = load(&args.config)?;
    let bind = match args.bind {
        Some(ip) => ip,
        None => cfg.gateways.first().map(|g| g.local_addr).ok_or_else(|| {
            format!(
                "{}: no ike-gateway to take a local address from",
                args.config
            )
        })?,
    };
    let mut ep = Endpoint::new(cfg, default_provider()).map_err(|e| e.to_string())?;
    let socks = Sockets::bind(bind, IKE_PORT, NAT_T_PORT)
        .map_err(|e| format!("bind {bind} ports {IKE_PORT}/{NAT_T_PORT}: {e}"))?;
    let (ike, natt) = socks.local_addrs().map_err(|e| e.to_string())?;
    println!("READY ike={ike} natt={natt}");

    let clock = Clock(StdInstant::now());
    // Certificate validity needs the date; the endpoint follows it on the monotonic clock.
    ep.set_wall_clock(clock.now(), system_time());
    if let Some(tunnel) = &args.initiate {
        ep.connect(clock.now(), tunnel)
            .map_err(|e| format!("--initiate {tunnel}: {e}"))?;
    }
    let mut peer = Peer {
        args,
        ep,
        socks,
        deadline: clock.0 + args.timeout,
        next_ping: clock.0,
        clock,
        buf: vec![0u8; 65_535],
        n: Counters::default(),
        probe: args.ping.map(|(src, dst)| Probe::new(src, dst)),
        then: args.then.map(|_| Then::Waiting),
        first_child: None,
        commands: args.commands.then(read_commands),
        end: None,
    };
    let result = peer.run_loop();
    peer.print_stats();
    result
}

impl Peer<'_> {
    fn run_loop(&mut self) -> Result<bool, String> {
        loop {
            self.flush();
            self.poll_events();
            self.ping();
            self.then();
            self.commands();
            if let Some(p) = self.probe.as_mut() {
                p.tick(self.clock.now());
            }
            let now = StdInstant::now();
            match self.end {
                Some((v, stop)) if now >= stop || now >= self.deadline => return Ok(v),
                None if now >= self.deadline && self.args.until == Until::Never => return Ok(true),
                None if now >= self.deadline => {
                    eprintln!(
                        "ike-peer: timeout after {:?} waiting for {:?}",
                        self.args.timeout, self.args.until
                    );
                    return Ok(false);
                }
                _ => {}
            }
            match self
                .socks
                .rx
                .recv_timeout(self.wake().saturating_duration_since(now))
            {
                Ok(d) => self.receive(d),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err("socket readers stopped".into()),
            }
            if self
                .ep
                .poll_timeout()
                .is_some_and(|t| t <= self.clock.now())
            {
                self.ep.handle_timeout(self.clock.now());
            }
        }
    }

    /// Records the first outcome that decides the run.
    fn decide(&mut self, o: Outcome) {
        if self.end.is_none() {
            if let Some(v) = verdict(self.args.until, o) {
                self.end = Some((v, StdInstant::now() + self.args.linger));
            }
        }
    }

    /// When to wake up at the latest.
    fn wake(&self) -> StdInstant {
        let mut wake = self
            .end
            .map_or(self.deadline, |(_, stop)| stop.min(self.deadline));
        if let Some(t) = self.ep.poll_timeout() {
            wake = wake.min(self.clock.to_std(t));
        }
        if self.probe.as_ref().is_some_and(Probe::ready) && self.more_pings() {
            wake = wake.min(self.next_ping);
        }
        if self.commands.is_some() {
            wake = wake.min(StdInstant::now() + COMMAND_POLL);
        }
        wake
    }

    /// True while `--ping-count` allows another echo request.
    fn more_pings(&self) -> bool {
        self.args.ping_count == 0 || self.n.pings_sent < self.args.ping_count
    }

    /// Sends everything the endpoint has queued.
    fn flush(&mut self) {
        while let Some(t) = self.ep.poll_transmit(&mut self.buf) {
            let payload = self.buf.get(..t.len).unwrap_or_default();
            match self.socks.send(t.local, t.remote, payload) {
                Ok(()) => self.n.sent += 1,
                Err(e) => {
                    self.n.send_errors += 1;
                    eprintln!("ike-peer: send {} -> {}: {e}", t.local, t.remote);
                }
            }
        }
    }

    /// Prints every event and keeps the probe's SA table and `--then` in step with them.
    fn poll_events(&mut self) {
        while let Some(ev) = self.ep.poll_event() {
            println!("{}", event_line(&ev));
            println!("LOG {ev}");
            self.decide(outcome(&ev));
            match &ev {
                Event::ChildSaUp {
                    gateway,
                    child,
                    outbound,
                    ..
                } => {
                    if let Some(t @ Then::Waiting) = &mut self.then {
                        *t = Then::Due(gateway.clone(), child.tunnel.clone());
                    }
                    if self.first_child.is_none() {
                        self.first_child = Some((gateway.clone(), child.tunnel.clone()));
                    }
                    if let Some(p) = self.probe.as_mut() {
                        if let Err(e) = p.install(self.clock.now(), child, *outbound) {
                            eprintln!("ike-peer: {e}");
                            self.decide(Outcome::Failure);
                        }
                    }
                }
                Event::ChildSaOutbound { inbound_spi, .. } => {
                    if let Some(p) = self.probe.as_mut() {
                        p.activate(*inbound_spi);
                    }
                }
                Event::ChildSaDown {
                    inbound_spi,
                    linger,
                    ..
                } => {
                    if let Some(p) = self.probe.as_mut() {
                        p.retire(self.clock.now(), *inbound_spi, *linger);
                    }
                }
                _ => {}
            }
        }
    }

    /// Sends the next echo request when one is due.
    fn ping(&mut self) {
        let Some(p) = self.probe.as_mut() else {
            return;
        };
        let more = self.args.ping_count == 0 || self.n.pings_sent < self.args.ping_count;
        if !p.ready() || !more || StdInstant::now() < self.next_ping {
            return;
        }
        // A steady rate: the next request is due one interval after this one was, not after
        // this one went out.
        self.next_ping = (self.next_ping + self.args.ping_interval).max(StdInstant::now());
        self.n.pings_sent += 1;
        match p.next_request(self.clock.now()) {
            Ok(t) => match self.socks.send(t.source, t.destination, p.datagram(&t)) {
                Ok(()) => self.n.sent += 1,
                Err(e) => {
                    self.n.send_errors += 1;
                    eprintln!("ike-peer: ESP send to {}: {e}", t.destination);
                }
            },
            Err(e) => {
                // Counted as lost by the probe; a run that waits for an echo reply fails.
                eprintln!("ike-peer: {e}");
                self.decide(Outcome::Failure);
            }
        }
    }

    /// Runs the commands read from standard input (`--commands`) on the first Child SA's
    /// gateway and tunnel.
    fn commands(&mut self) {
        let Some(rx) = &self.commands else {
            return;
        };
        let lines: Vec<String> = rx.try_iter().collect();
        for line in lines {
            let cmd = line.trim();
            if cmd.is_empty() {
                continue;
            }
            let now = self.clock.now();
            let done = match (&self.first_child, cmd) {
                (None, _) => Err("no Child SA yet".to_owned()),
                (Some((_, t)), "rekey-child") => {
                    self.ep.rekey_child(now, t).map_err(|e| e.to_string())
                }
                (Some((g, _)), "rekey-ike") => self.ep.rekey_ike(now, g).map_err(|e| e.to_string()),
                (Some((_, t)), "delete-child") => {
                    self.ep.delete_child(now, t).map_err(|e| e.to_string())
                }
                (Some((g, _)), "delete-ike") => {
                    self.ep.delete_ike(now, g).map_err(|e| e.to_string())
                }
                _ => Err("unknown command".to_owned()),
            };
            match done {
                Ok(()) => println!("CMD {cmd} ok"),
                Err(e) => println!("CMD {cmd} error {e}"),
            }
            self.flush();
        }
    }

    /// Runs the `--then` command once the first Child SA is up (and answered an echo request,
    /// with `--ping`).
    fn then(&mut self) {
        if self.args.ping.is_some() && self.n.echo_replies == 0 {
            return;
        }
        let Some(Then::Due(gw, tunnel)) = self.then.take_if(|t| matches!(t, Then::Due(..))) else {
            return;
        };
        self.then = Some(Then::Done);
        let now = self.clock.now();
        let done = match self.args.then {
            Some(Action::DeleteIke) => self.ep.delete_ike(now, &gw),
            Some(Action::RekeyChild) => self.ep.rekey_child(now, &tunnel),
            Some(Action::RekeyIke) => self.ep.rekey_ike(now, &gw),
            None => Ok(()),
        };
        if let Err(e) = done {
            eprintln!("ike-peer: --then {:?}: {e}", self.args.then);
            self.decide(Outcome::Failure);
        }
        self.flush();
    }

    /// One datagram from either socket: IKE to the endpoint, ESP to the probe.
    fn receive(&mut self, mut d: Datagram) {
        self.n.received += 1;
        let now = self.clock.now();
        if self.ep.handle_datagram(now, d.local, d.remote, &d.bytes) != Received::Esp {
            return;
        }
        let Some(p) = self.probe.as_mut() else {
            self.n.esp_dropped += 1;
            return;
        };
        match p.receive(now, &mut d.bytes) {
            Answer::Reply { spi, seq } => {
                self.n.echo_replies += 1;
                let (src, dst) = p.addresses();
                println!("EVENT esp-echo-reply spi_in={spi:08x} seq={seq} from={dst} to={src}");
                self.decide(Outcome::EchoReply);
            }
            Answer::Other => self.n.esp_dropped += 1,
            Answer::Dropped(why) => {
                self.n.esp_dropped += 1;
                eprintln!("ike-peer: ESP packet dropped: {why}");
            }
        }
    }

    /// The endpoint's SAs as it shows them at the end: `SA ike ...` per IKE SA, followed by
    /// `SA child ...` per Child SA it holds.
    fn print_sas(&self) {
        for ike in self.ep.ike_sas() {
            println!(
                "SA ike gateway={} spi_i={:016x} spi_r={:016x} established={} children={}",
                ike.gateway,
                ike.spi_i,
                ike.spi_r,
                ike.established,
                ike.children.len()
            );
            for c in &ike.children {
                println!(
                    "SA child tunnel={} spi_in={:08x} spi_out={:08x} ike_spi_i={:016x}",
                    c.tunnel, c.inbound_spi, c.outbound_spi, ike.spi_i
                );
            }
        }
    }

    fn print_stats(&self) {
        self.print_sas();
        let (n, s) = (&self.n, self.ep.stats());
        println!(
            "STATS received={} sent={} send_errors={} pings_sent={} echo_replies={} \
             echo_lost={} echo_in_flight={} esp_dropped={} dropped_malformed={} \
             dropped_unknown_spi={} dropped_bad_icv={} retransmits_sent={} retransmits_answered={}",
            n.received,
            n.sent,
            n.send_errors,
            n.pings_sent,
            n.echo_replies,
            self.probe.as_ref().map_or(0, Probe::lost),
            self.probe.as_ref().map_or(0, Probe::in_flight),
            n.esp_dropped,
            s.dropped_malformed,
            s.dropped_unknown_spi,
            s.dropped_bad_icv,
            s.retransmits_sent,
            s.retransmits_answered
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_maps_both_ways() {
        let c = Clock(StdInstant::now());
        let t = ipsec_core::time::Instant::from_millis(1500);
        assert_eq!(c.to_std(t) - c.0, Duration::from_millis(1500));
        assert!(c.now() <= ipsec_core::time::Instant::from_secs(60));
    }
}
