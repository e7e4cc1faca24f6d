//! `ike-decode`: prints the IKEv2 messages, ESP packets and NAT-keepalives of pcap and pcapng
//! captures.
//!
//! ```text
//! ike-decode FILE... [--keys FILE] [--json]
//! ```
//!
//! With `--keys`, SK payloads are decrypted with the `SK_ei`/`SK_er` (and for non-AEAD ciphers
//! `SK_ai`/`SK_ar`) of a `name = hex` key file. With `--json`, each record is one JSON object on
//! one line. Exit status: 0 when every file was read (even with damaged records, which are
//! reported), 1 when a file cannot be opened or is not a capture, 2 on a usage error.

use clap::Parser;
use ipsec_examples::cli;
use ipsec_examples::decode::{Decoder, KeyFile, Summary};
use ipsec_examples::pcap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Prints the IKEv2 messages, ESP packets and NAT-keepalives of pcap and pcapng captures.
#[derive(Parser)]
#[command(name = "ike-decode")]
struct Args {
    /// Capture files (pcap or pcapng).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Decrypt SK payloads with the keys of this `name = hex` file.
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

fn summary_text(s: &Summary) -> String {
    format!(
        "{} records: {} IKE, {} ESP, {} NAT-keepalive, {} IP fragments, {} errors, {} skipped",
        s.records, s.ike, s.esp, s.keepalives, s.fragments, s.errors, s.skipped
    )
}

fn main() -> ExitCode {
    let args = cli::parse::<Args>();
    let keys = match &args.keys {
        None => None,
        // The file's text holds the keys too: wiped when dropped, like the parsed keys.
        Some(keys) => match std::fs::read_to_string(keys).map(Zeroizing::new) {
            Ok(text) => match KeyFile::parse(&text) {
                Ok(k) => Some(k),
                Err(e) => {
                    eprintln!("ike-decode: {}: {e}", keys.display());
                    return ExitCode::from(1);
                }
            },
            Err(e) => {
                eprintln!("ike-decode: {}: {e}", keys.display());
                return ExitCode::from(1);
            }
        },
    };
    let mut decoder = Decoder::new(keys);
    let mut status = ExitCode::SUCCESS;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &args.files {
        let path = file.display().to_string();
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("ike-decode: {path}: {e}");
                status = ExitCode::from(1);
                continue;
            }
        };
        let capture = match pcap::read(&bytes) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ike-decode: {path}: {e}");
                status = ExitCode::from(1);
                continue;
            }
        };
        if !args.json {
            let _ = writeln!(
                out,
                "== {path} ({}, {} records)",
                capture.format,
                capture.records.len()
            );
        }
        for record in decoder.decode_capture(&capture) {
            let line = if args.json {
                record.to_json_in(Some(&path))
            } else {
                record.to_text()
            };
            if writeln!(out, "{line}").is_err() {
                // stdout closed (a pipe into `head`): nothing more to say.
                return status;
            }
        }
    }
    let mut summary = summary_text(&decoder.summary());
    for f in decoder.esp_flows() {
        let route = match (f.src, f.dst) {
            (Some(s), Some(d)) => format!(" {s} -> {d}"),
            _ => String::new(),
        };
        summary.push_str(&format!(
            "\nESP spi=0x{:08x}{route}: {} packets, seq {}..{}",
            f.spi, f.packets, f.min_seq, f.max_seq
        ));
    }
    if args.json {
        eprintln!("{summary}");
    } else {
        let _ = writeln!(out, "{summary}");
    }
    status
}
