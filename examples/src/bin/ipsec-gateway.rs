//! `ipsec-gateway`: the gateway tool.
//!
//! ```text
//! ipsec-gateway validate FILE...
//! ```
//!
//! `validate` loads each configuration and prints `FILE: ok` with a one-line summary per object
//! kind and any warnings, or every error found. With two or more files it also checks each pair
//! of configurations against each other (proposals, keys, identities, mirrored proxy IDs). The
//! exit status is 0 when everything is valid, 2 on any error or usage mistake.

use clap::{Parser, Subcommand};
use ipsec_core::config::{check_pair, gateway_pairs, Config, ObjectKind, PairSide};
use ipsec_examples::cli;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The gateway tool: checks firewall configurations, alone and as pairs of peers.
#[derive(Parser)]
#[command(
    name = "ipsec-gateway",
    override_usage = "ipsec-gateway validate FILE...",
    arg_required_else_help = false
)]
struct Cli {
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
}

/// Exit status for errors in the input (usage mistakes exit with the same status).
const FAILURE: u8 = 2;

fn main() -> ExitCode {
    match cli::parse::<Cli>().command {
        Command::Validate { files } => validate(&files),
    }
}

/// `validate FILE...`.
fn validate(files: &[PathBuf]) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    let mut loaded: Vec<(String, Config)> = Vec::new();
    for path in files {
        let file = path.display().to_string();
        match Config::load(path) {
            Ok(config) => {
                let _ = writeln!(out, "{file}: ok");
                for line in summary(&config) {
                    let _ = writeln!(out, "  {line}");
                }
                for w in config.warnings() {
                    let _ = writeln!(out, "  warning: {w}");
                }
                loaded.push((file, config));
            }
            Err(errors) => {
                failed = true;
                let n = errors.len();
                let _ = writeln!(out, "{file}: {n} error{}", if n == 1 { "" } else { "s" });
                for e in errors {
                    let _ = writeln!(out, "  error: {e}");
                }
            }
        }
    }
    // With several files, only pairs whose gateways point at each other are peers; with exactly
    // two, not being peers is itself a finding.
    let only_pair = loaded.len() == 2;
    for (i, (fa, a)) in loaded.iter().enumerate() {
        for (fb, b) in loaded.iter().skip(i + 1) {
            if !only_pair && gateway_pairs(a, b).is_empty() {
                let _ = writeln!(out, "{fa} <-> {fb}: not peers");
                continue;
            }
            let findings = check_pair(a, b);
            if findings.is_empty() {
                let _ = writeln!(out, "{fa} <-> {fb}: ok");
                continue;
            }
            failed = true;
            let _ = writeln!(out, "{fa} <-> {fb}: {} mismatches", findings.len());
            for f in findings {
                let file = match f.side {
                    PairSide::First => fa,
                    PairSide::Second => fb,
                };
                let _ = writeln!(out, "  error: {file}: {}", f.error);
            }
        }
    }
    if failed {
        ExitCode::from(FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// One line per object kind present: `ike-gateway: 1 (gw-branch)`.
fn summary(config: &Config) -> Vec<String> {
    ObjectKind::ALL
        .into_iter()
        .filter(|k| config.count(*k) > 0)
        .map(|k| {
            let names = config.names(k);
            format!("{k}: {} ({})", names.len(), names.join(", "))
        })
        .collect()
}
