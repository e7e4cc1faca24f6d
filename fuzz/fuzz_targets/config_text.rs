//! Fuzz target: configuration text.
//!
//! Input: a TOML file (bytes that are not UTF-8 are replaced, as a file reader would refuse them).
//!
//! Invariants: loading never panics; every error renders, and one with a location points inside
//! the text; a configuration that loads validates again, resolves for the IKE endpoint or gives a
//! configuration error, and the resolved one starts an endpoint; the negotiation checker and the
//! pair check run on it against itself without panicking, and every prediction renders.

#![no_main]

use ikev2::config::EndpointConfig;
use ipsec_core::config::{check_pair, Config};
use ipsec_core::crypto::default_provider;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let config = match Config::from_toml_str(&text) {
        Ok(c) => c,
        Err(errors) => {
            assert!(!errors.is_empty(), "failure without an error");
            let lines = text.lines().count().max(1);
            for e in errors {
                let _ = e.to_string();
                if let Some(l) = e.location {
                    assert!(
                        l.line >= 1 && l.line <= lines + 1,
                        "line {} of {lines}",
                        l.line
                    );
                    assert!(l.column >= 1, "column {}", l.column);
                }
            }
            return;
        }
    };
    assert_eq!(
        config.validate(),
        Ok(()),
        "a loaded configuration fails validation"
    );
    for w in config.warnings() {
        let _ = w.to_string();
    }
    if let Ok(resolved) = EndpointConfig::from_config(&config) {
        ikev2::Endpoint::new(resolved, default_provider())
            .expect("a resolved configuration starts an endpoint");
    }
    let _ = check_pair(&config, &config);
    let p = ikev2::check::predict(&config, &config, &default_provider());
    let _ = p.render("a", "b");
});
