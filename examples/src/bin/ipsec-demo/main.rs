//! `ipsec-demo`: two firewalls negotiate a route-based IKEv2 VPN over an in-memory network and
//! carry traffic through it. No root, no sockets, no clock: the run is deterministic in time.
//!
//! ```text
//! ipsec-demo [HQ.toml [BRANCH.toml]]
//! ```
//!
//! It loads two firewall configurations (default: the samples `examples/configs/hq.toml` and
//! `branch.toml`), builds a `gateway::Gateway` for each with the default crypto provider, and
//! lets the first initiate every tunnel toward the second: IKE_SA_INIT and IKE_AUTH bring up
//! the IKE SA and the first proxy ID's Child SA, CREATE_CHILD_SA each further proxy ID's. UDP
//! encapsulation is forced, so after IKE_SA_INIT the IKE exchanges float to port 4500 and ESP
//! travels in UDP (RFC 3948).
//!
//! Then inner IPv4 packets cross the tunnel both ways (ICMP echo and UDP between the LANs, the
//! tunnel monitor's pings between the tunnel interfaces over their own proxy ID), each through
//! the gateway's static routes, security rules and sessions; each must arrive byte for byte as
//! sent, on the Child SA of the proxy ID that covers it, and be answered. Finally each firewall
//! prints `show vpn ike-sa`, `show vpn ipsec-sa` (with the datapath's counters) and its VPN
//! system log, and the last line is `demo: ok`.
//!
//! With certificate authentication (the samples `hq-cert.toml` and `branch-cert.toml`, whose
//! certificates `examples/configs/make-certs.sh` makes), certificate validity is checked against
//! the system's date; everything else runs on the simulated clock.
//!
//! Exit status 0 on success; 1 with `demo: FAILED: <why>` on stderr when anything fails (a
//! configuration error, a failed negotiation such as AUTHENTICATION_FAILED, a packet lost or
//! altered); 2 for usage errors.

mod network;
mod packets;
mod show;
mod traffic;

use clap::Parser;
use core::time::Duration;
use gateway::Instant;
use ipsec_core::time::UnixTime;
use ipsec_examples::cli;
use network::{Firewall, Network, Stop};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

/// Simulated time allowed for the tunnels to come up (retransmissions included).
const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// Two firewalls negotiate a route-based IKEv2 VPN over an in-memory network and carry traffic
/// through it.
#[derive(Parser)]
#[command(name = "ipsec-demo")]
struct Args {
    /// The initiating firewall's configuration (default: the sample hq.toml).
    #[arg(value_name = "HQ.toml")]
    hq: Option<String>,
    /// The responding firewall's configuration (default: the sample branch.toml).
    #[arg(value_name = "BRANCH.toml")]
    branch: Option<String>,
}

fn default_config(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(file)
        .display()
        .to_string()
}

/// `hq` for `.../hq.toml`.
fn short_name(path: &str, fallback: &str) -> String {
    Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(fallback)
        .to_owned()
}

fn main() -> ExitCode {
    let args = cli::parse::<Args>();
    let hq = args.hq.unwrap_or_else(|| default_config("hq.toml"));
    let branch = args.branch.unwrap_or_else(|| default_config("branch.toml"));
    match run(&hq, &branch) {
        Ok(()) => {
            println!("demo: ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo: FAILED: {e}");
            ExitCode::from(1)
        }
    }
}

/// The system's wall-clock time (the epoch for a clock set before 1970).
fn system_time() -> UnixTime {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    UnixTime::from_secs(since.as_secs())
}

fn run(hq_path: &str, branch_path: &str) -> Result<(), String> {
    let mut hq_name = short_name(hq_path, "hq");
    let branch_name = short_name(branch_path, "branch");
    if hq_name == branch_name {
        hq_name.push_str("-1");
    }
    let hq = Firewall::load(&hq_name, hq_path)?;
    let branch = Firewall::load(&branch_name, branch_path)?;
    let (a, b) = (hq.address, branch.address);
    if a == b {
        return Err(format!(
            "both firewalls use {a}: the in-memory network needs two addresses"
        ));
    }
    let mut fws = [hq, branch];
    let start = Instant::from_secs(1);
    let mut net = Network::new(start);
    // The simulated clock says nothing about the date, which certificate validity needs: both
    // firewalls take it from the system.
    let date = system_time();
    for fw in &mut fws {
        fw.gateway.set_wall_clock(start, date);
    }

    println!(
        "ipsec-demo: {} ({}) and {} ({}) on an in-memory network",
        fws[0].name, a, fws[1].name, b
    );
    for fw in &fws {
        println!("{} authenticates with {}", fw.name, fw.authentication());
    }
    let wanted = fws[0].ike_tunnels();
    if wanted.is_empty() {
        return Err(format!("{}: no ipsec-tunnel to bring up", fws[0].name));
    }
    println!("no NAT on this network: UDP encapsulation (port 4500) is forced on both gateways");
    let described: Vec<String> = wanted
        .iter()
        .map(|t| {
            let proxies: Vec<&str> = fws[0]
                .gateway
                .endpoint()
                .config()
                .tunnel(t)
                .map(|c| c.proxy_ids.iter().map(|p| p.name.as_str()).collect())
                .unwrap_or_default();
            match proxies.as_slice() {
                [] => t.clone(),
                names => format!("{t} (proxy IDs {})", names.join(", ")),
            }
        })
        .collect();
    println!("{} initiates: {}", fws[0].name, described.join(", "));
    fws[0].initiate(net.now)?;
    let up = |f: &[Firewall; 2], now: Instant| {
        f.iter().all(|fw| {
            let n = fw.children(now);
            n > 0 && n >= fw.expected_children()
        })
    };
    let stop = net.drive(&mut fws, SETUP_LIMIT, up);
    let setup = net.now.saturating_duration_since(start);
    if stop != Stop::Done {
        print_logs(&fws, start);
        let why: Vec<String> = fws
            .iter()
            .flat_map(|fw| fw.failures.iter().map(move |f| format!("{}: {f}", fw.name)))
            .collect();
        return Err(if why.is_empty() {
            format!(
                "tunnels not up after {} s of simulated time",
                setup.as_secs()
            )
        } else {
            format!("negotiation failed:\n  {}", why.join("\n  "))
        });
    }
    println!(
        "tunnels up after {} of simulated time ({} datagrams, {} bytes on the wire)\n",
        show::millis(setup),
        net.datagrams,
        net.bytes
    );

    let checked = traffic::exchange_all(&mut net, &mut fws);
    // Whatever is still on the wire (a tunnel monitor's probe) arrives before the counters
    // are read, so both sides count the same packets.
    net.drain(&mut fws);
    println!();
    for fw in &fws {
        println!("{}", show::ike_sa(fw, net.now));
        println!("{}", show::ipsec_sa(fw, net.now));
    }
    print_logs(&fws, start);
    let n = checked?;
    if net.undeliverable > 0 {
        return Err(format!(
            "{} datagrams were sent to addresses no firewall has",
            net.undeliverable
        ));
    }
    println!("{n} packets crossed the tunnels intact and were answered");
    Ok(())
}

fn print_logs(fws: &[Firewall; 2], start: Instant) {
    for fw in fws {
        println!("{}", show::system_log(fw, start));
    }
}
