//! The table's `tracing` events: one per install, removal and lifetime event, naming SPIs and
//! algorithms and never a key; nothing per packet.

mod common;

use common::{child, provider};
use esp::SaTable;
use ipsec_core::child_sa::Lifetimes;
use ipsec_core::crypto::{EncrId, Encryption, IntegId};
use ipsec_core::time::Instant;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records every event as `LEVEL name=value ...` text.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn install_lifetime_and_removal_are_logged_without_keys() {
    let enc = Encryption::new(EncrId::ENCR_AES_GCM_16, 128);
    let mut c = child(enc, IntegId::NONE, &[0xab; 20], &[], 0);
    c.inbound.spi = 0x0102_0304;
    c.outbound.spi = 0x0a0b_0c0d;
    c.lifetimes = Lifetimes {
        soft_packets: Some(1),
        ..Lifetimes::default()
    };
    let recorder = Recorder::default();
    let lines = recorder.0.clone();
    tracing::subscriber::with_default(recorder, || {
        let now = Instant::ZERO;
        let mut table = SaTable::new(provider());
        let handle = table.install(now, &c).unwrap();
        let tunnel = table.tunnel(&c.tunnel).unwrap();
        let mut buf = [0u8; 64 + 20 + 64];
        buf[64] = 0x45;
        buf[67] = 20;
        table.encapsulate(now, tunnel, &mut buf, 64..84).unwrap();
        let logged = lines.lock().unwrap().len();
        table.encapsulate(now, tunnel, &mut buf, 64..84).ok();
        assert_eq!(lines.lock().unwrap().len(), logged, "nothing per packet");
        while table.poll_event().is_some() {}
        table.remove(handle);
    });
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].starts_with("DEBUG message=IPsec SA installed")
            && lines[0].contains(" spi_in=01020304")
            && lines[0].contains(" spi_out=0a0b0c0d")
            && lines[0].contains(" encryption=ENCR_AES_GCM_16-128"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("soft packet lifetime expired") && lines[1].contains("spi=0a0b0c0d"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("IPsec SA removed"), "{}", lines[2]);
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("abab") && !l.contains("171")),
        "a key was logged: {lines:#?}"
    );
}
