//! `ipsec-gateway check [--json] A B`: what two firewalls negotiate, predicted without running
//! them (`ikev2::check`).

use crate::validate::FAILURE;
use ipsec_core::config::Config;
use ipsec_core::crypto::default_provider;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// `check [--json] A B`: exit 0 when everything comes up, 1 when something will not, 2 when a
/// file does not load.
pub(crate) fn check(json: bool, first: &Path, second: &Path) -> ExitCode {
    let (fa, fb) = (first.display().to_string(), second.display().to_string());
    let mut loaded = Vec::new();
    for file in [&fa, &fb] {
        match Config::load(file) {
            Ok(c) => loaded.push(c),
            Err(errors) => {
                for e in errors {
                    eprintln!("{file}: error: {e}");
                }
                return ExitCode::from(FAILURE);
            }
        }
    }
    let p = ikev2::check::predict(&loaded[0], &loaded[1], &default_provider());
    let text = if json {
        ipsec_examples::check::to_json(&p, &fa, &fb).to_string()
    } else {
        p.render(&fa, &fb)
    };
    // A reader that stops early (`| head`) closes the pipe: not an error of ours.
    let _ = writeln!(std::io::stdout().lock(), "{}", text.trim_end());
    if p.all_up() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
