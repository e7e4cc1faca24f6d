//! `ipsec-gateway`: the gateway tool and the VPN daemon of a Linux host.
//!
//! ```text
//! ipsec-gateway validate FILE...
//! ipsec-gateway check [--json] A B
//! ipsec-gateway run --config FILE [--control PATH] [--interface NAME=DEV]... [--log-level LEVEL]
//! ipsec-gateway [--control PATH] [--json] show vpn ike-sa [--gateway NAME]
//! ipsec-gateway [--control PATH] [--json] show vpn ipsec-sa [--tunnel NAME]
//! ipsec-gateway [--control PATH] [--json] show vpn flow | show counter global | show routing route
//! ipsec-gateway [--control PATH] test vpn ike-sa --gateway NAME | test vpn ipsec-sa --tunnel NAME
//! ipsec-gateway [--control PATH] clear vpn ike-sa --gateway NAME | clear vpn ipsec-sa --tunnel NAME
//! ipsec-gateway [--control PATH] [--json] reload
//! ```
//!
//! `validate` loads each configuration and prints `FILE: ok` with a one-line summary per object
//! kind and any warnings, or every error found. With two or more files it also checks each pair
//! of configurations against each other (proposals, keys, identities, mirrored proxy IDs). The
//! exit status is 0 when everything is valid, 2 on any error or usage mistake.
//!
//! `check` predicts what two firewalls negotiate (`ikev2::check`): for each gateway pair and each
//! side that initiates, the IKE proposal, each proxy ID's Child SA (proposal, narrowed
//! selectors) and its rekey, or the first failure by phase, with both sides' lists and the line
//! each side will log. `--json` prints the same as JSON. The exit status is 0 when everything
//! comes up, 1 when something will not, 2 when a file does not load or on a usage mistake.
//!
//! `run` is the VPN daemon (Linux, root or `CAP_NET_ADMIN`): a `gateway::Gateway` fed from UDP
//! 500 and 4500 at each IKE gateway's local address, raw ESP (IP protocol 50), and one TUN device
//! per tunnel interface; the static routes toward tunnel interfaces go into the kernel's routing
//! table. `--interface ethernet1/2=eth1` says which Linux device a configured interface is: its
//! addresses become the interface's, so the gateway knows the networks behind it. SIGTERM or
//! SIGINT deletes the IKE SAs (the peers are told), removes the routes and TUN devices, and exits
//! 0. A configuration error exits 2 listing every error.
//!
//! The other commands are PAN-OS's operational commands, sent to a running daemon over its
//! control socket: tables for people, `--json` for machines. `reload` reads the daemon's
//! configuration file again and commits it as PAN-OS commits a configuration: IKE gateways and
//! IPsec tunnels whose settings did not change keep their SAs; changed and removed ones are
//! torn down (Deletes sent, their TUN devices and routes removed), new ones brought up; static
//! routes, zones, security and no-NAT rules apply at once. A configuration that does not
//! validate is refused: the daemon runs on with the old one, and `reload` prints every error
//! and exits 2. SIGHUP to the daemon does the same, with the result in its log.

mod check;
mod validate;

#[cfg(target_os = "linux")]
mod daemon;

use clap::{Args, Parser, Subcommand};
use ipsec_examples::cli;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc rather than the C library's allocator: an IKE SA's life allocates and frees a few
/// hundred small objects, and with thousands of SAs held glibc's malloc spent a tenth of the
/// daemon's time under load consolidating and searching its free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where `run` listens and the operational commands connect, unless `--control` says otherwise.
const DEFAULT_CONTROL: &str = "/run/ipsec-gateway.sock";

/// The gateway tool: checks firewall configurations, runs the VPN on a Linux host, and asks a
/// running daemon PAN-OS's operational commands.
#[derive(Parser)]
#[command(
    name = "ipsec-gateway",
    override_usage = "ipsec-gateway validate FILE...\n       \
        ipsec-gateway check [--json] A B\n       \
        ipsec-gateway run --config FILE [--control PATH] [--interface NAME=DEV]...\n       \
        ipsec-gateway [--control PATH] [--json] show|test|clear|reload ...",
    arg_required_else_help = false
)]
struct Cli {
    /// The daemon's control socket.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_CONTROL)]
    control: PathBuf,
    /// Print what `check`, a show command or `reload` returns as JSON, with every field.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check configuration files (and, with several, each pair of them).
    Validate {
        /// Configuration files (TOML).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Predict what two firewalls negotiate, both ways.
    Check {
        /// The first firewall's configuration (TOML).
        #[arg(value_name = "A")]
        first: PathBuf,
        /// The second firewall's configuration (TOML).
        #[arg(value_name = "B")]
        second: PathBuf,
    },
    /// Run the VPN: sockets, TUN devices, kernel routes, control socket.
    Run(RunArgs),
    /// Show state of the running daemon.
    #[command(subcommand)]
    Show(Show),
    /// Bring SAs up now.
    #[command(subcommand)]
    Test(TestVpn),
    /// Delete SAs now.
    #[command(subcommand)]
    Clear(ClearVpn),
    /// Read the configuration file again and commit it: tunnels whose settings did not
    /// change stay up; exits 2 listing every error when it does not validate.
    Reload,
}

/// `run`'s options.
#[derive(Args, Clone, Debug)]
pub(crate) struct RunArgs {
    /// The firewall configuration (TOML).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: PathBuf,
    /// A configured interface and the Linux device it is: `ethernet1/2=eth1`. Repeatable.
    #[arg(long = "interface", value_name = "NAME=DEV", value_parser = interface_map)]
    pub(crate) interfaces: Vec<(String, String)>,
    /// UDP-encapsulate ESP even without NAT (as strongSwan's `encap = yes`).
    #[arg(long)]
    pub(crate) encapsulate: bool,
    /// The least severe log level printed: error, warn, info, debug, trace.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub(crate) log_level: tracing::Level,
    /// Threads that encrypt and decrypt ESP beside the datapath's own, which takes a share
    /// whenever they have work waiting (0: the datapath runs the ciphers alone). By default the host's cores less two, for the datapath's thread
    /// and the thread that writes to the TUN devices (under load each keeps a core busy; on two
    /// cores a third busy thread only takes turns with them), at most [`MAX_CRYPTO_THREADS`].
    #[arg(long, value_name = "N", default_value_t = default_crypto_threads())]
    pub(crate) crypto_threads: usize,
}

/// The host's cores less two, at most [`MAX_CRYPTO_THREADS`].
fn default_crypto_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(0, |n| n.get().saturating_sub(2))
        .min(MAX_CRYPTO_THREADS)
}

/// Crypto threads by default, at most: the datapath's own thread routes, checks and forwards
/// every packet, and beyond a few crypto threads it is the bottleneck.
const MAX_CRYPTO_THREADS: usize = 4;

fn interface_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, dev)) if !name.is_empty() && !dev.is_empty() => {
            Ok((name.to_owned(), dev.to_owned()))
        }
        _ => Err(format!("{s:?} is not NAME=DEV (example: ethernet1/2=eth1)")),
    }
}

#[derive(Subcommand)]
enum Show {
    /// `show vpn ike-sa`, `show vpn ipsec-sa`, `show vpn flow`.
    #[command(subcommand)]
    Vpn(ShowVpn),
    /// `show counter global`.
    #[command(subcommand)]
    Counter(ShowCounter),
    /// `show routing route`.
    #[command(subcommand)]
    Routing(ShowRouting),
}

#[derive(Subcommand)]
enum ShowVpn {
    /// The IKE SAs and their Child SAs.
    IkeSa {
        /// Only this IKE gateway's.
        #[arg(long, value_name = "NAME")]
        gateway: Option<String>,
    },
    /// The installed Child SAs with their counters.
    IpsecSa {
        /// Only this IPsec tunnel's.
        #[arg(long, value_name = "NAME")]
        tunnel: Option<String>,
    },
    /// The IPsec tunnels, their state and interfaces.
    Flow,
}

#[derive(Subcommand)]
enum ShowCounter {
    /// The global counters, drops by reason.
    Global,
}

#[derive(Subcommand)]
enum ShowRouting {
    /// The routing table.
    Route,
}

#[derive(Subcommand)]
enum TestVpn {
    /// `test vpn ...`.
    #[command(subcommand)]
    Vpn(TestWhat),
}

#[derive(Subcommand)]
enum TestWhat {
    /// Negotiate the IKE SA of a gateway now (with its tunnels' Child SAs).
    IkeSa {
        /// The IKE gateway.
        #[arg(long, value_name = "NAME")]
        gateway: String,
    },
    /// Negotiate the Child SAs of a tunnel now.
    IpsecSa {
        /// The IPsec tunnel.
        #[arg(long, value_name = "NAME")]
        tunnel: String,
    },
}

#[derive(Subcommand)]
enum ClearVpn {
    /// `clear vpn ...`.
    #[command(subcommand)]
    Vpn(ClearWhat),
}

#[derive(Subcommand)]
enum ClearWhat {
    /// Delete the IKE SA of a gateway, and its Child SAs.
    IkeSa {
        /// The IKE gateway.
        #[arg(long, value_name = "NAME")]
        gateway: String,
    },
    /// Delete the Child SAs of a tunnel.
    IpsecSa {
        /// The IPsec tunnel.
        #[arg(long, value_name = "NAME")]
        tunnel: String,
    },
}

fn main() -> ExitCode {
    let cli = cli::parse::<Cli>();
    let request = match cli.command {
        Command::Validate { files } => return validate::validate(&files),
        Command::Check { first, second } => return check::check(cli.json, &first, &second),
        Command::Run(args) => return run(args, cli.control),
        Command::Show(Show::Vpn(ShowVpn::IkeSa { gateway })) => Request::ShowIkeSa { gateway },
        Command::Show(Show::Vpn(ShowVpn::IpsecSa { tunnel })) => Request::ShowIpsecSa { tunnel },
        Command::Show(Show::Vpn(ShowVpn::Flow)) => Request::ShowFlow,
        Command::Show(Show::Counter(ShowCounter::Global)) => Request::ShowCounterGlobal,
        Command::Show(Show::Routing(ShowRouting::Route)) => Request::ShowRoutingRoute,
        Command::Test(TestVpn::Vpn(TestWhat::IkeSa { gateway })) => Request::TestIkeSa { gateway },
        Command::Test(TestVpn::Vpn(TestWhat::IpsecSa { tunnel })) => {
            Request::TestIpsecSa { tunnel }
        }
        Command::Clear(ClearVpn::Vpn(ClearWhat::IkeSa { gateway })) => {
            Request::ClearIkeSa { gateway }
        }
        Command::Clear(ClearVpn::Vpn(ClearWhat::IpsecSa { tunnel })) => {
            Request::ClearIpsecSa { tunnel }
        }
        Command::Reload => Request::Reload,
    };
    ask(&cli.control, &request, cli.json)
}

/// An operational command, as the control socket carries it (one JSON line).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub(crate) enum Request {
    ShowIkeSa { gateway: Option<String> },
    ShowIpsecSa { tunnel: Option<String> },
    ShowFlow,
    ShowCounterGlobal,
    ShowRoutingRoute,
    TestIkeSa { gateway: String },
    TestIpsecSa { tunnel: String },
    ClearIkeSa { gateway: String },
    ClearIpsecSa { tunnel: String },
    Reload,
}

/// The daemon's answer: the table for people and the data for machines, or why not.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Response {
    pub(crate) text: String,
    pub(crate) data: serde_json::Value,
    pub(crate) error: Option<String>,
    /// Every error of a configuration `reload` refused (the exit status is then 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<String>,
}

#[cfg(target_os = "linux")]
fn run(args: RunArgs, control: PathBuf) -> ExitCode {
    daemon::run(args, control)
}

#[cfg(not(target_os = "linux"))]
fn run(_: RunArgs, _: PathBuf) -> ExitCode {
    eprintln!("ipsec-gateway: run needs Linux (TUN devices and netlink routes)");
    ExitCode::from(validate::FAILURE)
}

/// Sends `request` to the daemon at `control` and prints its answer.
fn ask(control: &std::path::Path, request: &Request, json: bool) -> ExitCode {
    match client(control, request) {
        Ok(Response {
            error: Some(e),
            errors,
            data,
            ..
        }) => {
            for e in &errors {
                eprintln!("ipsec-gateway: error: {e}");
            }
            eprintln!("ipsec-gateway: {e}");
            if json && !errors.is_empty() {
                let text = serde_json::to_string_pretty(&data).unwrap_or_default();
                println!("{text}");
            }
            if errors.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::from(validate::FAILURE)
            }
        }
        Ok(r) => {
            // A reader that stops early (`| grep -q`) closes the pipe: not an error of ours.
            let mut out = std::io::stdout().lock();
            let _ = if json {
                let text = serde_json::to_string_pretty(&r.data).unwrap_or_default();
                writeln!(out, "{text}")
            } else {
                write!(out, "{}", r.text)
            };
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "ipsec-gateway: cannot reach the daemon at {}: {e} (is `ipsec-gateway run` \
                 running with this --control?)",
                control.display()
            );
            ExitCode::FAILURE
        }
    }
}

#[cfg(unix)]
fn client(control: &std::path::Path, request: &Request) -> std::io::Result<Response> {
    use std::io::{BufRead, BufReader};
    let mut stream = std::os::unix::net::UnixStream::connect(control)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    serde_json::from_str(&answer).map_err(std::io::Error::other)
}

#[cfg(not(unix))]
fn client(_: &std::path::Path, _: &Request) -> std::io::Result<Response> {
    Err(std::io::Error::other("control sockets need a Unix system"))
}
