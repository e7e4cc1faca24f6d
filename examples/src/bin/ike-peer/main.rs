//! `ike-peer`: the Sans-IO IKEv2 endpoint on real UDP sockets, one process per peer.
//!
//! ```text
//! ike-peer --config FILE [--bind ADDR] [--initiate TUNNEL] [--until COND] [--timeout DUR]
//!          [--linger DUR] [--ping SRC,DST [--ping-interval DUR] [--ping-count N]]
//!          [--then delete-ike|rekey-child|rekey-ike] [--commands]
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
//! end the endpoint's SAs as it shows them (`SA ike gateway=.. spi_i=.. spi_r=.. established=..`,
//! then `SA child tunnel=.. spi_in=.. spi_out=..` for each of its Child SAs) and `STATS ...`.
//! Diagnostics go to stderr.
//!
//! `--until` is the condition that ends the run: `child-up` (default: a Child SA was installed),
//! `ike-up`, `failure` (a negotiation failed or an IKE SA went down), `ike-down` (an established
//! IKE SA went down), `echo-reply` (see `--ping`), or `never` (serve until `--timeout`, whatever
//! happens meanwhile, failures included; the timeout then counts as success).
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
//! `--commands` reads commands from standard input, one a line, and runs each on the first
//! Child SA's gateway and tunnel: `rekey-child`, `rekey-ike`, `delete-child`, `delete-ike`; each
//! prints `CMD <command> ok` or `CMD <command> error <reason>`. A test script uses it to request
//! rekeys at moments of its choosing.
//!
//! There is no tunnel interface here. `--ping SRC,DST` (IPv4) is the one ESP use: once the first
//! Child SA is up, ICMP echo requests from SRC to DST go through it every `--ping-interval`
//! (default 200 ms; at most `--ping-count`, default 25, 0 for no limit) and each echo reply that
//! decrypts is printed as `EVENT esp-echo-reply ...`; that proves both sides derived the same
//! keys. A request whose reply has not come back 2 s later counts as lost (`echo_lost` in
//! `STATS`). The probe's ESP table follows the events as an embedder's datapath should (see
//! `ikev2::Event`), so a rekey that loses packets shows there. Other ESP packets are counted and
//! dropped.

mod events;
mod probe;
mod run;
mod sockets;

use clap::{Parser, ValueEnum};
use events::Outcome;
use ipsec_examples::cli;
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

/// When the run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

/// Whether an event ends the run, and how: `Some(true)` success, `Some(false)` failure.
fn verdict(until: Until, outcome: Outcome) -> Option<bool> {
    match (until, outcome) {
        (Until::ChildUp, Outcome::ChildUp)
        | (Until::IkeUp, Outcome::IkeUp)
        | (Until::Failure, Outcome::Failure | Outcome::IkeDown)
        | (Until::EchoReply, Outcome::EchoReply)
        | (Until::IkeDown, Outcome::IkeDown) => Some(true),
        (Until::ChildUp | Until::IkeUp | Until::EchoReply, Outcome::Failure | Outcome::IkeDown)
        | (Until::IkeDown, Outcome::Failure)
        | (Until::Failure, Outcome::ChildUp) => Some(false),
        _ => None,
    }
}

/// The Sans-IO IKEv2 endpoint on real UDP sockets.
#[derive(Debug, PartialEq, Eq, Parser)]
#[command(name = "ike-peer")]
struct Args {
    /// The firewall configuration (TOML).
    #[arg(long, value_name = "FILE")]
    config: String,
    /// The address to bind UDP 500 and 4500 on (default: the first IKE gateway's local address).
    #[arg(long, value_name = "ADDR")]
    bind: Option<IpAddr>,
    /// Bring up this ipsec-tunnel (otherwise wait as a responder).
    #[arg(long, value_name = "TUNNEL")]
    initiate: Option<String>,
    /// The condition that ends the run.
    #[arg(long, value_enum, default_value = "child-up")]
    until: Until,
    /// How long to wait for the condition.
    #[arg(long, value_name = "DUR", value_parser = cli::duration, default_value = "20s")]
    timeout: Duration,
    /// How long to keep serving the peer after the condition is met.
    #[arg(long, value_name = "DUR", value_parser = cli::duration, default_value = "0s")]
    linger: Duration,
    /// Send ICMP echo requests from SRC to DST (IPv4) through the first Child SA.
    #[arg(long, value_name = "SRC,DST", value_parser = ping_pair, required_if_eq("until", "echo-reply"))]
    ping: Option<(Ipv4Addr, Ipv4Addr)>,
    /// The spacing of `--ping` echo requests.
    #[arg(long, value_name = "DUR", value_parser = cli::duration, default_value = "200ms")]
    ping_interval: Duration,
    /// How many `--ping` echo requests to send (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 25)]
    ping_count: u32,
    /// A command to run once the first Child SA is up.
    #[arg(long, value_enum)]
    then: Option<Action>,
    /// Read commands from standard input (rekey-child, rekey-ike, delete-child, delete-ike).
    #[arg(long)]
    commands: bool,
}

/// A command for `--then`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Action {
    /// Delete the IKE SA (INFORMATIONAL with a Delete payload).
    DeleteIke,
    /// Rekey the Child SA (CREATE_CHILD_SA, RFC 7296 section 1.3.3).
    RekeyChild,
    /// Rekey the IKE SA (CREATE_CHILD_SA, RFC 7296 section 1.3.2).
    RekeyIke,
}

/// `SRC,DST`, two IPv4 addresses.
fn ping_pair(v: &str) -> Result<(Ipv4Addr, Ipv4Addr), String> {
    let bad = || format!("{v:?}: expected SRC,DST (IPv4 addresses)");
    let (a, b) = v.split_once(',').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

fn main() -> ExitCode {
    let args = cli::parse::<Args>();
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
        cli::try_parse_from(std::iter::once("ike-peer").chain(s.split_whitespace()))
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
        let e = args("--config c --frobnicate").unwrap_err();
        assert!(
            e.starts_with("ike-peer: ") && e.contains("\nusage: ike-peer "),
            "{e}"
        );
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
        let a = args("--config c --ping 10.1.0.1,10.2.0.1 --ping-interval 10ms --ping-count 0")
            .unwrap();
        assert_eq!(
            (a.ping_interval, a.ping_count, a.commands),
            (Duration::from_millis(10), 0, false)
        );
        let a = args("--config c --commands").unwrap();
        assert_eq!(
            (a.ping_interval, a.ping_count, a.commands),
            (Duration::from_millis(200), 25, true)
        );
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
        assert_eq!(verdict(Until::Never, Outcome::Failure), None);
        assert_eq!(verdict(Until::Never, Outcome::IkeDown), None);
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
