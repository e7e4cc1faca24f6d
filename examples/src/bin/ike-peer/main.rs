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
//! `--linger DUR` keeps serving the peer for DUR after the condition is met, so it gets answers
//! to its last requests.
//!
//! `--then ACTION` runs one command as soon as the first Child SA is up (and the first echo
//! reply is in, with `--ping`): `delete-ike` (INFORMATIONAL with a Delete payload),
//! `rekey-child` or `rekey-ike` (CREATE_CHILD_SA, RFC 7296 sections 1.3.2 and 1.3.3).
//!
//! Exit status: 0 when the condition was met; 1 when `--timeout` (default 20s) expired first or
//! the run ended the other way (a failure while waiting for `child-up`, a Child SA while waiting
//! for `failure`); 2 for usage, configuration and socket errors.
//!
//! There is no tunnel interface here. `--ping SRC,DST` (IPv4) is the one ESP use: once the first
//! Child SA is up, ICMP echo requests from SRC to DST go through it every 200 ms (at most 25) and
//! each echo reply that decrypts is printed as `EVENT esp-echo-reply ...`; that proves both sides
//! derived the same keys. Other ESP packets are counted and dropped.

mod events;
mod probe;
mod run;
mod sockets;

use events::Outcome;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

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

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ike-peer: {e}");
            return ExitCode::from(2);
        }
    };
    match run::run(&args) {
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
}
