//! The daemon's log writer: standard error, with the lines of one batch of events gathered and
//! written with one system call.
//!
//! Under load every batch of IKE messages brings several events (an IKE SA up, its Child SA
//! installed, another deleted), each one log line; written one by one they cost a system call
//! each. [`batch`] gathers the informational lines logged while it runs and writes them at its
//! end; warnings and errors, and everything logged outside it, go out at once, in order.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Lines gathered by [`batch`].
static GATHERED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Set while [`batch`] runs.
static BATCHING: AtomicBool = AtomicBool::new(false);

/// Runs `f`, writing the informational lines it logs with one system call at its end.
pub(crate) fn batch<R>(f: impl FnOnce() -> R) -> R {
    BATCHING.store(true, Ordering::Relaxed);
    let r = f();
    BATCHING.store(false, Ordering::Relaxed);
    write_out(&mut GATHERED.lock().unwrap_or_else(PoisonError::into_inner));
    r
}

fn write_out(buf: &mut Vec<u8>) {
    if !buf.is_empty() {
        let _ = std::io::stderr().write_all(buf);
        buf.clear();
    }
}

/// The daemon's `tracing` writer.
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
            gather: *meta.level() > Level::WARN && BATCHING.load(Ordering::Relaxed),
        }
    }
}

impl Write for Line {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let mut buf = GATHERED.lock().unwrap_or_else(PoisonError::into_inner);
        buf.extend_from_slice(b);
        if !self.gather {
            write_out(&mut buf);
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
