//! `ike-peer`: the Sans-IO IKEv2 endpoint on real UDP sockets, one process per peer.
//!
//! ```text
//! ike-peer --config FILE [--bind ADDR] [--initiate TUNNEL] [--until COND] [--timeout DUR]
//!          [--linger DUR] [--ping SRC,DST] [--then delete-ike|rekey-child|rekey-ike]
//! ```
//!
//! It loads a firewall configuration (the PAN-OS model of `ipsec_core::config`, TOML), binds UDP
//! 500 and 4500 on ADDR (default: the local address of the first IKE gateway), hands every
//! datagram to an `ikev2::Endpoint`, sends what the endpoint polls out, and runs its timers from
//! the system's monotonic clock. With `--initiate TUNNEL` it brings up that `ipsec-tunnel`;
//! otherwise it waits as a responder.
//!
//! Output on stdout, one line each: `READY ike=ADDR natt=ADDR` once the sockets are bound; for
//! every event `EVENT <kind> key=value ...` (see `events.rs`; `tests/interop/run.sh` compares these
//! lines with strongSwan's view) followed by `LOG <text>`, the event as PAN-OS would log it; at the
//! end `STATS ...`. Diagnostics go to stderr.
//!
//! `--until` is the condition that ends the run: `child-up` (default: a Child SA was installed),
//! `ike-up`, `failure` (a negotiation failed or an IKE SA went down), `ike-down` (an established
//! IKE SA went down), `echo-reply` (see `--ping`), or `never` (serve until `--timeout`, which
//! then counts as success; a failure or a lost IKE SA ends the run early, as a failure).
//! `--then ACTION` runs one command as soon as the first Child SA is up (and the echo reply is in,
//! with `--ping`): `delete-ike` (INFORMATIONAL with a Delete payload), `rekey-child` or
//! `rekey-ike` (CREATE_CHILD_SA, RFC 7296 sections 1.3.2 and 1.3.3). Exit status: 0 when the condition
//! was met; 1 when `--timeout` (default 20s) expired first or the run ended the other way (a
//! failure while waiting for `child-up`, a Child SA while waiting for `failure`); 2 for usage,
//! configuration and socket errors. `--linger DUR` keeps serving the peer for DUR after
//! the condition is met, so it gets answers to its last requests.
//!
//! There is no tunnel interface here. `--ping SRC,DST` (IPv4) is the one ESP use: once the first
//! Child SA is up, ICMP echo requests from SRC to DST go through it every 200 ms (at most 25) and
//! each echo reply that decrypts is printed as `EVENT esp-echo-reply ...`; that proves both sides
//! derived the same keys. Other ESP packets are counted and dropped.

mod events;
mod probe;
mod sockets;

use events::{event_line, outcome, Outcome};
use ikev2::config::EndpointConfig;
use ikev2::{Endpoint, Event, Received};
use ipsec_core::config::Config;
use ipsec_core::crypto::default_provider;
use probe::{Answer, Probe};
use sockets::Sockets;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant as StdInstant};

/// IKE's port (RFC 7296 section 2).
const IKE_PORT: u16 = 500;
/// IKE and ESP in UDP after NAT detection (RFC 3948, RFC 7296 section 2.23).
const NATT_PORT: u16 = 4500;
/// Spacing and number of `--ping` echo requests.
const PING_INTERVAL: Duration = Duration::from_millis(200);
const PING_COUNT: u32 = 25;

/// When the run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Until {
    /// A Child SA was installed.
    ChildUp,
    /// An IKE SA was established.
    IkeUp,
    /// A negotiation failed.
    Failure,
    /// An ESP echo reply came back (`--ping`).
    EchoReply,
    /// An established IKE SA went down.
    IkeDown,
    /// Only the timeout ends the run.
    Never,
}

impl std::str::FromStr for Until {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "child-up" => Ok(Until::ChildUp),
            "ike-up" => Ok(Until::IkeUp),
            "failure" => Ok(Until::Failure),
            "echo-reply" => Ok(Until::EchoReply),
            "ike-down" => Ok(Until::IkeDown),
            "never" => Ok(Until::Never),
            _ => Err(format!(
                "--until {s:?}: expected child-up, ike-up, failure, ike-down, echo-reply or never"
            )),
        }
    }
}

/// Whether an event ends the run, and how: `Some(true)` success, `Some(false)` failure.
fn verdict(until: Until, outcome: Outcome) -> Option<bool> {
    match (until, outcome) {
        (Until::ChildUp, Outcome::ChildUp)
        | (Until::IkeUp, Outcome::IkeUp)
        | (Until::Failure, Outcome::Failure | Outcome::IkeDown)
        | (Until::EchoReply, Outcome::EchoReply)
        | (Until::IkeDown, Outcome::IkeDown) => Some(true),
        (
            Until::ChildUp | Until::IkeUp | Until::EchoReply | Until::Never,
            Outcome::Failure | Outcome::IkeDown,
        )
        | (Until::IkeDown, Outcome::Failure)
        | (Until::Failure, Outcome::ChildUp) => Some(false),
        _ => None,
    }
}

/// Parses `20s`, `500ms`, `2m` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (examples: 20s, 500ms, 2m)");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// Command-line options.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    config: String,
    bind: Option<IpAddr>,
    initiate: Option<String>,
    until: Until,
    timeout: Duration,
    linger: Duration,
    ping: Option<(Ipv4Addr, Ipv4Addr)>,
    then: Option<Action>,
}

/// A command for `--then`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    DeleteIke,
    RekeyChild,
    RekeyIke,
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "delete-ike" => Ok(Action::DeleteIke),
            "rekey-child" => Ok(Action::RekeyChild),
            "rekey-ike" => Ok(Action::RekeyIke),
            _ => Err(format!(
                "--then {s:?}: expected delete-ike, rekey-child or rekey-ike"
            )),
        }
    }
}

const USAGE: &str = "usage: ike-peer --config FILE [--bind ADDR] [--initiate TUNNEL] \
[--until child-up|ike-up|failure|echo-reply|never] [--timeout DUR] [--linger DUR] \
[--ping SRC,DST] [--then delete-ike|rekey-child|rekey-ike]";

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut out = Args {
            config: String::new(),
            bind: None,
            initiate: None,
            until: Until::ChildUp,
            timeout: Duration::from_secs(20),
            linger: Duration::ZERO,
            ping: None,
            then: None,
        };
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--config" => out.config = value()?,
                "--bind" => {
                    let v = value()?;
                    out.bind = Some(v.parse().map_err(|_| format!("--bind {v:?}: not an IP"))?);
                }
                "--initiate" => out.initiate = Some(value()?),
                "--until" => out.until = value()?.parse()?,
                "--timeout" => out.timeout = parse_duration(&value()?)?,
                "--linger" => out.linger = parse_duration(&value()?)?,
                "--ping" => {
                    let v = value()?;
                    let bad = || format!("--ping {v:?}: expected SRC,DST (IPv4 addresses)");
                    let (a, b) = v.split_once(',').ok_or_else(bad)?;
                    out.ping = Some((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?));
                }
                "--then" => out.then = Some(value()?.parse()?),
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        if out.config.is_empty() {
            return Err(format!("--config is required\n{USAGE}"));
        }
        if out.until == Until::EchoReply && out.ping.is_none() {
            return Err("--until echo-reply needs --ping SRC,DST".into());
        }
        Ok(out)
    }
}

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

/// Maps the process's monotonic clock onto the endpoint's `Instant` (microseconds since start).
struct Clock(StdInstant);

impl Clock {
    fn now(&self) -> ipsec_core::time::Instant {
        let us = u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX);
        ipsec_core::time::Instant::from_micros(us)
    }

    fn to_std(&self, t: ipsec_core::time::Instant) -> StdInstant {
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

/// Sends everything the endpoint has queued.
fn flush(ep: &mut Endpoint, socks: &Sockets, buf: &mut [u8], n: &mut Counters) {
    while let Some(t) = ep.poll_transmit(buf) {
        let payload = buf.get(..t.len).unwrap_or_default();
        match socks.send(t.local, t.remote, payload) {
            Ok(()) => n.sent += 1,
            Err(e) => {
                n.send_errors += 1;
                eprintln!("ike-peer: send {} -> {}: {e}", t.local, t.remote);
            }
        }
    }
}

/// Hands an ESP packet from port 4500 to the probe (if any) and reports echo replies.
fn esp_received(
    probe: &mut Option<Probe>,
    clock: &Clock,
    esp: &mut [u8],
    n: &mut Counters,
    end: &mut Option<(bool, StdInstant)>,
    args: &Args,
) {
    let Some(p) = probe.as_mut() else {
        n.esp_dropped += 1;
        return;
    };
    match p.receive(clock.now(), esp) {
        Answer::Reply { spi, seq } => {
            n.echo_replies += 1;
            let (src, dst) = args
                .ping
                .unwrap_or((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED));
            println!("EVENT esp-echo-reply spi_in={spi:08x} seq={seq} from={dst} to={src}");
            if end.is_none() {
                if let Some(v) = verdict(args.until, Outcome::EchoReply) {
                    *end = Some((v, StdInstant::now() + args.linger));
                }
            }
        }
        Answer::Other => n.esp_dropped += 1,
        Answer::Dropped(why) => {
            n.esp_dropped += 1;
            eprintln!("ike-peer: ESP packet dropped: {why}");
        }
    }
}

/// The run loop; returns the exit status.
fn run(args: &Args) -> Result<bool, String> {
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
    let socks = Sockets::bind(bind, IKE_PORT, NATT_PORT)
        .map_err(|e| format!("bind {bind} ports {IKE_PORT}/{NATT_PORT}: {e}"))?;
    let (ike, natt) = socks.local_addrs().map_err(|e| e.to_string())?;
    println!("READY ike={ike} natt={natt}");

    let clock = Clock(StdInstant::now());
    let deadline = clock.0 + args.timeout;
    if let Some(tunnel) = &args.initiate {
        ep.connect(clock.now(), tunnel)
            .map_err(|e| format!("--initiate {tunnel}: {e}"))?;
    }
    let mut buf = vec![0u8; 65_535];
    let mut n = Counters::default();
    let mut probe = args.ping.map(|(src, dst)| Probe::new(src, dst));
    let mut next_ping = clock.0;
    let mut then = args.then.map(|_| Then::Waiting);
    // The verdict, once reached, and when to stop serving after it.
    let mut end: Option<(bool, StdInstant)> = None;
    let result = loop {
        flush(&mut ep, &socks, &mut buf, &mut n);
        let mut outcomes = Vec::new();
        while let Some(ev) = ep.poll_event() {
            println!("{}", event_line(&ev));
            println!("LOG {ev}");
            outcomes.push(outcome(&ev));
            if let (Event::ChildSaUp { gateway, child, .. }, Some(t @ Then::Waiting)) =
                (&ev, &mut then)
            {
                *t = Then::Due(gateway.clone(), child.tunnel.clone());
            }
            match (&ev, probe.as_mut()) {
                (Event::ChildSaUp { child, .. }, Some(p)) => {
                    if let Err(e) = p.install(clock.now(), child) {
                        eprintln!("ike-peer: {e}");
                        outcomes.push(Outcome::Failure);
                    }
                }
                (Event::ChildSaDown { inbound_spi, .. }, Some(p)) => p.remove(*inbound_spi),
                _ => {}
            }
        }
        if let Some(p) = probe.as_mut() {
            if p.ready() && n.pings_sent < PING_COUNT && StdInstant::now() >= next_ping {
                next_ping = StdInstant::now() + PING_INTERVAL;
                n.pings_sent += 1;
                match p.next_request(clock.now()) {
                    Ok(t) => match socks.send(t.source, t.destination, p.datagram(&t)) {
                        Ok(()) => n.sent += 1,
                        Err(e) => {
                            n.send_errors += 1;
                            eprintln!("ike-peer: ESP send to {}: {e}", t.destination);
                        }
                    },
                    Err(e) => {
                        eprintln!("ike-peer: {e}");
                        outcomes.push(Outcome::Failure);
                    }
                }
            }
        }
        if args.ping.is_none() || n.echo_replies > 0 {
            if let Some(Then::Due(gw, tunnel)) = then.take_if(|t| matches!(t, Then::Due(..))) {
                then = Some(Then::Done);
                let now = clock.now();
                let done = match args.then {
                    Some(Action::DeleteIke) => ep.delete_ike(now, &gw),
                    Some(Action::RekeyChild) => ep.rekey_child(now, &tunnel),
                    Some(Action::RekeyIke) => ep.rekey_ike(now, &gw),
                    None => Ok(()),
                };
                if let Err(e) = done {
                    eprintln!("ike-peer: --then {:?}: {e}", args.then);
                    outcomes.push(Outcome::Failure);
                }
                flush(&mut ep, &socks, &mut buf, &mut n);
            }
        }
        for o in outcomes {
            if end.is_none() {
                if let Some(v) = verdict(args.until, o) {
                    end = Some((v, StdInstant::now() + args.linger));
                }
            }
        }
        let now = StdInstant::now();
        match end {
            Some((v, stop)) if now >= stop || now >= deadline => break v,
            None if now >= deadline && args.until == Until::Never => break true,
            None if now >= deadline => {
                eprintln!(
                    "ike-peer: timeout after {:?} waiting for {:?}",
                    args.timeout, args.until
                );
                break false;
            }
            _ => {}
        }
        let mut wake = end.map_or(deadline, |(_, stop)| stop.min(deadline));
        if let Some(t) = ep.poll_timeout() {
            wake = wake.min(clock.to_std(t));
        }
        if probe.as_ref().is_some_and(Probe::ready) && n.pings_sent < PING_COUNT {
            wake = wake.min(next_ping);
        }
        match socks.rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(mut d) => {
                n.received += 1;
                if ep.handle_datagram(clock.now(), d.local, d.remote, &d.bytes) == Received::Esp {
                    esp_received(&mut probe, &clock, &mut d.bytes, &mut n, &mut end, args);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err("socket readers stopped".into()),
        }
        if ep.poll_timeout().is_some_and(|t| t <= clock.now()) {
            ep.handle_timeout(clock.now());
        }
    };
    let s = ep.stats();
    println!(
        "STATS received={} sent={} send_errors={} pings_sent={} echo_replies={} esp_dropped={} \
         dropped_malformed={} dropped_unknown_spi={} dropped_bad_icv={} retransmits_sent={} \
         retransmits_answered={}",
        n.received,
        n.sent,
        n.send_errors,
        n.pings_sent,
        n.echo_replies,
        n.esp_dropped,
        s.dropped_malformed,
        s.dropped_unknown_spi,
        s.dropped_bad_icv,
        s.retransmits_sent,
        s.retransmits_answered
    );
    Ok(result)
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ike-peer: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ike-peer: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        assert!(parse_duration(&format!("{}m", u64::MAX)).is_err());
    }

    #[test]
    fn command_line() {
        let a = args("--config c.toml --bind 192.0.2.1 --initiate t --until failure --timeout 5s")
            .unwrap();
        assert_eq!(a.config, "c.toml");
        assert_eq!(a.bind, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(a.initiate.as_deref(), Some("t"));
        assert_eq!(a.until, Until::Failure);
        assert_eq!(a.timeout, Duration::from_secs(5));
        let a = args("--config c --linger 1s").unwrap();
        assert_eq!(
            (a.linger, a.until, a.timeout, a.initiate),
            (
                Duration::from_secs(1),
                Until::ChildUp,
                Duration::from_secs(20),
                None
            )
        );
        assert!(args("--bind 192.0.2.1").is_err());
        assert!(args("--config").is_err());
        assert!(args("--config c --until forever").is_err());
        assert!(args("--config c --bind host").is_err());
        assert!(args("--config c --frobnicate").is_err());
        let a = args("--config c --until ike-down --then delete-ike").unwrap();
        assert_eq!((a.until, a.then), (Until::IkeDown, Some(Action::DeleteIke)));
        assert_eq!(
            args("--config c --then rekey-child").unwrap().then,
            Some(Action::RekeyChild)
        );
        assert_eq!(
            args("--config c --then rekey-ike").unwrap().then,
            Some(Action::RekeyIke)
        );
        assert!(args("--config c --then reboot").is_err());
        let a = args("--config c --ping 10.1.0.1,10.2.0.1 --until echo-reply").unwrap();
        assert_eq!(
            a.ping,
            Some((Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 2, 0, 1)))
        );
        assert!(
            args("--config c --until echo-reply").is_err(),
            "needs --ping"
        );
        assert!(args("--config c --ping 10.1.0.1").is_err());
        assert!(args("--config c --ping fd00::1,fd00::2").is_err());
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Until::ChildUp, Outcome::ChildUp), Some(true));
        assert_eq!(verdict(Until::ChildUp, Outcome::IkeUp), None);
        assert_eq!(verdict(Until::ChildUp, Outcome::Failure), Some(false));
        assert_eq!(verdict(Until::IkeUp, Outcome::IkeUp), Some(true));
        assert_eq!(verdict(Until::IkeUp, Outcome::Failure), Some(false));
        assert_eq!(verdict(Until::Failure, Outcome::Failure), Some(true));
        assert_eq!(verdict(Until::Failure, Outcome::ChildUp), Some(false));
        assert_eq!(verdict(Until::Failure, Outcome::IkeUp), None);
        assert_eq!(verdict(Until::Never, Outcome::Failure), Some(false));
        assert_eq!(verdict(Until::Never, Outcome::IkeDown), Some(false));
        assert_eq!(verdict(Until::Never, Outcome::ChildUp), None);
        assert_eq!(verdict(Until::EchoReply, Outcome::ChildUp), None);
        assert_eq!(verdict(Until::EchoReply, Outcome::EchoReply), Some(true));
        assert_eq!(verdict(Until::EchoReply, Outcome::Failure), Some(false));
        assert_eq!(verdict(Until::ChildUp, Outcome::EchoReply), None);
        assert_eq!(verdict(Until::ChildUp, Outcome::IkeDown), Some(false));
        assert_eq!(verdict(Until::IkeDown, Outcome::IkeDown), Some(true));
        assert_eq!(verdict(Until::IkeDown, Outcome::ChildUp), None);
        assert_eq!(verdict(Until::IkeDown, Outcome::Failure), Some(false));
        assert_eq!(verdict(Until::Failure, Outcome::IkeDown), Some(true));
    }

    #[test]
    fn clock_maps_both_ways() {
        let c = Clock(StdInstant::now());
        let t = ipsec_core::time::Instant::from_millis(1500);
        assert_eq!(c.to_std(t) - c.0, Duration::from_millis(1500));
        assert!(c.now() <= ipsec_core::time::Instant::from_secs(60));
    }
}
