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

use ipsec_examples::decode::{Decoder, KeyFile, Summary};
use ipsec_examples::pcap;
use std::io::Write;
use std::process::ExitCode;
use zeroize::Zeroizing;

const USAGE: &str = "usage: ike-decode FILE... [--keys FILE] [--json]";

struct Args {
    files: Vec<String>,
    keys: Option<String>,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        files: Vec::new(),
        keys: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--json" => args.json = true,
            "--keys" => args.keys = Some(it.next().ok_or("--keys needs a file")?),
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with("--keys=") => args.keys = Some(s["--keys=".len()..].to_owned()),
            s if s.starts_with('-') && s != "-" => return Err(format!("unknown option {s}")),
            _ => args.files.push(a),
        }
    }
    if args.files.is_empty() {
        return Err("no capture file given".into());
    }
    Ok(args)
}

fn summary_text(s: &Summary) -> String {
    format!(
        "{} records: {} IKE, {} ESP, {} NAT-keepalive, {} IP fragments, {} errors, {} skipped",
        s.records, s.ike, s.esp, s.keepalives, s.fragments, s.errors, s.skipped
    )
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("ike-decode: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let keys = match &args.keys {
        None => None,
        // The file's text holds the keys too: wiped when dropped, like the parsed keys.
        Some(path) => match std::fs::read_to_string(path).map(Zeroizing::new) {
            Ok(text) => match KeyFile::parse(&text) {
                Ok(k) => Some(k),
                Err(e) => {
                    eprintln!("ike-decode: {path}: {e}");
                    return ExitCode::from(1);
                }
            },
            Err(e) => {
                eprintln!("ike-decode: {path}: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let mut decoder = Decoder::new(keys);
    let mut status = ExitCode::SUCCESS;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &args.files {
        let bytes = match std::fs::read(path) {
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
                record.to_json_in(Some(path))
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
