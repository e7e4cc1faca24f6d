//! The daemon's log writer: standard error, with the informational lines of the runtime's thread
//! gathered and written with one system call at most [`WRITE_BEHIND`] after the first of them.
//!
//! Every IKE message brings events (an IKE SA up, its Child SA installed, another deleted),
//! each one log line; written one by one, or once before each sleep, they cost a system call
//! per message whenever messages arrive one at a time (at low load: most of the time). Once
//! [`defer_here`] ran on a thread, the informational lines it logs are gathered until
//! [`write_behind`] (a task of the runtime) writes them, [`WRITE_BEHIND`] after the first,
//! until [`flush`], or until [`GATHER_LIMIT`] bytes wait. Warnings and errors, and every line of
//! other threads, go out at once, after what was gathered before them: the order stays.
//!
//! The gateway's event lines ([`EVENTS`]) are escaped by their `Display` ([`Safe`]), so the
//! formatter does not sanitize them again character by character; every other line it does.

use ipsec_core::text::EscapingWriter;
use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::MakeWriter;

/// The `tracing` target of the gateway's event lines (the PAN-OS-worded `vpn: ...` lines).
pub(crate) const EVENTS: &str = "vpn";

/// Displays `T` with every character escaped as [`ipsec_core::text::Escaped`] does (a line that
/// already is escaped comes out unchanged).
pub(crate) struct Safe<T>(pub(crate) T);

impl<T: fmt::Display> fmt::Display for Safe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        write!(EscapingWriter(f), "{}", self.0)
    }
}

/// Sends `tracing`'s lines up to `max` to `writer`: the [`EVENTS`] lines as they are (they are
/// [`Safe`]), every other one with its control characters sanitized. Levels are coloured only
/// when standard error is a terminal and `NO_COLOR` is unset: a log file or journal gets plain
/// text.
pub(crate) fn init<W>(max: Level, writer: W)
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    use std::io::IsTerminal;
    use tracing_subscriber::util::SubscriberInitExt;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    subscriber(max, colour, writer).init();
}

fn subscriber<W>(max: Level, colour: bool, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    use tracing_subscriber::filter::{filter_fn, LevelFilter};
    use tracing_subscriber::{fmt as tfmt, layer::SubscriberExt, Layer};
    let hint = LevelFilter::from_level(max);
    let events = filter_fn(move |m| m.target() == EVENTS && *m.level() <= max);
    let others = filter_fn(move |m| m.target() != EVENTS && *m.level() <= max);
    tracing_subscriber::registry()
        .with(
            tfmt::layer()
                .with_target(false)
                .with_timer(Rfc3339)
                .with_writer(writer.clone())
                .with_ansi(colour)
                .with_ansi_sanitization(false)
                .with_filter(events.with_max_level_hint(hint)),
        )
        .with(
            tfmt::layer()
                .with_target(false)
                .with_timer(Rfc3339)
                .with_writer(writer)
                .with_ansi(colour)
                .with_filter(others.with_max_level_hint(hint)),
        )
}

/// Each line's timestamp as `tracing`'s default (RFC 3339, UTC, microseconds:
/// `2026-12-03T10:02:51.249835Z`), written by `humantime` into one buffer rather than field by
/// field through the formatter.
#[derive(Clone, Copy, Debug)]
struct Rfc3339;

impl FormatTime for Rfc3339 {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
        write!(w, "{now}")
    }
}

/// Informational lines gathered on a deferring thread ([`defer_here`]).
static GATHERED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Gathered lines are written once this many bytes wait, however busy the thread is.
pub(crate) const GATHER_LIMIT: usize = 64 << 10;
/// The longest a gathered line waits for [`write_behind`].
pub(crate) const WRITE_BEHIND: Duration = Duration::from_millis(100);
/// Told when a line is gathered while none waited.
static FIRST_GATHERED: Notify = Notify::const_new();

thread_local! {
    /// Set on a thread whose informational lines wait for [`flush`].
    static DEFERRING: Cell<bool> = const { Cell::new(false) };
}

/// From now on the informational lines this thread logs wait for [`write_behind`] or [`flush`]
/// (or for [`GATHER_LIMIT`] bytes). The runtime's thread calls it, and runs [`write_behind`].
pub(crate) fn defer_here() {
    DEFERRING.with(|d| d.set(true));
    install_panic_flush();
}

/// Writes the gathered lines [`WRITE_BEHIND`] after the first of them, for ever: the runtime
/// runs it as a task. It sleeps while nothing waits.
pub(crate) async fn write_behind() {
    loop {
        FIRST_GATHERED.notified().await;
        tokio::time::sleep(WRITE_BEHIND).await;
        flush();
    }
}

/// Writes the gathered lines.
pub(crate) fn flush() {
    write_out(&mut GATHERED.lock().unwrap_or_else(PoisonError::into_inner));
}

/// Whether a line at `level` logged on this thread waits for [`flush`].
fn gathers(level: Level) -> bool {
    level > Level::WARN && DEFERRING.with(Cell::get)
}

/// Adds the line `b` to the gathered ones in `buf`, and writes them all to `out` unless the line
/// waits (`gather`) and there is room for more. Whether `b` is the first line that waits.
fn append(buf: &mut Vec<u8>, b: &[u8], gather: bool, out: &mut impl Write) -> bool {
    let first = buf.is_empty();
    buf.extend_from_slice(b);
    if !gather || buf.len() >= GATHER_LIMIT {
        let _ = out.write_all(buf);
        buf.clear();
        return false;
    }
    first
}

/// A panic writes the gathered lines before its message: the lines that led to it matter most.
fn install_panic_flush() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Not while this thread holds the lock (a panic inside a write): it would wait for
            // itself.
            if let Ok(mut buf) = GATHERED.try_lock() {
                write_out(&mut buf);
            }
            previous(info);
        }));
    });
}

fn write_out(buf: &mut Vec<u8>) {
    if !buf.is_empty() {
        let _ = std::io::stderr().write_all(buf);
        buf.clear();
    }
}

/// The daemon's `tracing` writer.
#[derive(Clone, Copy)]
pub(crate) struct Stderr;

/// One log line's writer: gathered, or written at once.
pub(crate) struct Line {
    gather: bool,
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { gather: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            gather: gathers(*meta.level()),
        }
    }
}

impl Write for Line {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let mut buf = GATHERED.lock().unwrap_or_else(PoisonError::into_inner);
        if append(&mut buf, b, self.gather, &mut std::io::stderr()) {
            FIRST_GATHERED.notify_one();
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Capture {
        type Writer = Capture;

        fn make_writer(&self) -> Capture {
            self.clone()
        }
    }

    #[test]
    fn event_lines_are_escaped_once_and_other_lines_sanitized() {
        let out = Capture::default();
        tracing::subscriber::with_default(subscriber(Level::INFO, false, out.clone()), || {
            tracing::info!(target: EVENTS, "vpn: {}", Safe("peer a\u{1b}[31mb\nFAKE"));
            tracing::warn!(target: EVENTS, "vpn: {}", Safe(r"already \u{1b} escaped"));
            tracing::info!("config: x\u{1b}y");
            tracing::debug!(target: EVENTS, "vpn: below the level");
            tracing::debug!("below the level");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].contains(r"INFO"), "{}", lines[0]);
        assert!(
            lines[0].ends_with(r" vpn: peer a\u{1b}[31mb\nFAKE"),
            "{}",
            lines[0]
        );
        assert!(lines[1].contains("WARN") && lines[1].ends_with(r" vpn: already \u{1b} escaped"));
        // tracing's own sanitizing for every other line.
        assert!(lines[2].ends_with(r" config: x\x1by"), "{}", lines[2]);
        assert!(!text.contains("below the level"));
        // Plain text: no colour codes around the levels.
        assert!(!text.contains('\u{1b}'), "{text:?}");
    }

    #[test]
    fn informational_lines_of_a_deferring_thread_wait_and_keep_their_order() {
        std::thread::spawn(|| {
            assert!(!gathers(Level::INFO), "not deferring yet");
            DEFERRING.with(|d| d.set(true));
            assert!(gathers(Level::INFO) && gathers(Level::DEBUG));
            assert!(!gathers(Level::WARN) && !gathers(Level::ERROR));
        })
        .join()
        .unwrap();
        // Another thread is unaffected.
        assert!(!gathers(Level::INFO));

        let (mut buf, mut out) = (Vec::new(), Vec::new());
        assert!(
            append(&mut buf, b"one\n", true, &mut out),
            "the first waits"
        );
        assert!(!append(&mut buf, b"two\n", true, &mut out));
        assert!(out.is_empty());
        // A warning takes what waits before it along.
        assert!(!append(&mut buf, b"warn\n", false, &mut out));
        assert_eq!(out, b"one\ntwo\nwarn\n");
        assert!(buf.is_empty());
        assert!(
            append(&mut buf, b"three\n", true, &mut out),
            "the first again"
        );
        buf.clear();
        // However busy the thread, no more than the limit waits.
        out.clear();
        let line = [b'x'; 1000];
        let mut sent = 0;
        while out.is_empty() {
            append(&mut buf, &line, true, &mut out);
            sent += line.len();
            assert!(sent <= GATHER_LIMIT + line.len());
        }
        assert_eq!(out.len(), sent);
        assert!(buf.is_empty());
    }

    #[test]
    fn levels_are_coloured_only_when_asked() {
        let out = Capture::default();
        tracing::subscriber::with_default(subscriber(Level::INFO, true, out.clone()), || {
            tracing::info!(target: EVENTS, "vpn: up");
            tracing::info!("config: loaded");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.lines().all(|l| l.contains("\u{1b}[")), "{text:?}");
    }

    #[test]
    fn timestamps_read_as_tracings_own() {
        let stamp = |t: &dyn FormatTime| {
            let mut s = String::new();
            t.format_time(&mut Writer::new(&mut s)).unwrap();
            s
        };
        let before = stamp(&tracing_subscriber::fmt::time::SystemTime);
        let ours = stamp(&Rfc3339);
        let after = stamp(&tracing_subscriber::fmt::time::SystemTime);
        // 2026-12-03T10:02:51.249835Z: the same layout, and the same minute as one of the two.
        let shape = |s: &str| s.replace(|c: char| c.is_ascii_digit(), "0");
        assert_eq!(shape(&ours), "0000-00-00T00:00:00.000000Z");
        assert_eq!(shape(&ours), shape(&before));
        assert!(
            ours[..16] == before[..16] || ours[..16] == after[..16],
            "{before} / {ours} / {after}"
        );
    }
}
