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

use ipsec_core::config::{check_pair, gateway_pairs, Config, ObjectKind, PairSide};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage: ipsec-gateway <command> [args]

commands:
  validate FILE...   check configuration files (and, with several, each pair of them)
  help               show this text";

/// Exit status for errors in the input and for usage mistakes.
const FAILURE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => return usage_error("no command given"),
    };
    match command {
        "validate" => validate(rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => usage_error(&format!("unknown command `{other}`")),
    }
}

fn usage_error(why: &str) -> ExitCode {
    eprintln!("ipsec-gateway: {why}\n{USAGE}");
    ExitCode::from(FAILURE)
}

/// `validate FILE...`.
fn validate(files: &[String]) -> ExitCode {
    if files.is_empty() {
        return usage_error("validate needs at least one FILE");
    }
    if let Some(opt) = files.iter().find(|f| f.starts_with('-') && f.len() > 1) {
        return usage_error(&format!("validate takes no option `{opt}`"));
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    let mut loaded: Vec<(&str, Config)> = Vec::new();
    for file in files {
        match Config::load(file) {
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
