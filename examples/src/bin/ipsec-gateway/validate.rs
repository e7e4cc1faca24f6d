//! `ipsec-gateway validate FILE...`: each configuration alone, then each pair of them.

use ipsec_core::config::{check_pair, gateway_pairs, Config, ObjectKind, PairSide};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status for errors in the input (usage mistakes exit with the same status).
pub(crate) const FAILURE: u8 = 2;

/// `validate FILE...`.
pub(crate) fn validate(files: &[PathBuf]) -> ExitCode {
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
