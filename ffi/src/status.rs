//! Status codes, the thread-local last error, and the guard every entry point runs in.

use ipsec_core::text::escape;
use std::borrow::Cow;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What an entry point did. Negative values are errors; after one, `ipsec_last_error` says why.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ipsec_status {
    /// Success: the output parameters are written.
    IPSEC_OK = 0,
    /// Success, but there was nothing to return (no datagram, event or deadline pending); the
    /// output parameters are untouched.
    IPSEC_NONE = 1,
    /// A required pointer was NULL.
    IPSEC_ERR_NULL = -1,
    /// An argument was invalid: a configuration that does not load, text that is not UTF-8, an
    /// unknown address family, an unknown tunnel name.
    IPSEC_ERR_INVALID = -2,
    /// The caller's buffer is too small; the required length is reported (see each function)
    /// and nothing was lost: the same call with a larger buffer returns the same data.
    IPSEC_ERR_BUFFER_TOO_SMALL = -3,
    /// The library panicked (a bug). The handle is unusable from then on: every later call on it
    /// returns this code again; free it with its `_free` function.
    IPSEC_ERR_PANIC = -4,
    /// The request is valid but cannot be done in the current state (for example connecting a
    /// passive gateway's tunnel).
    IPSEC_ERR_STATE = -5,
    /// A packet was dropped (malformed, unknown SPI, failed integrity check, replayed, outside
    /// the SA's selectors); the reason is the last error, and the drop is counted.
    IPSEC_ERR_DROPPED = -6,
}

pub(crate) use ipsec_status::*;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `msg` as this thread's last error and returns `status`. The message may quote a
/// peer's or a caller's text: its control characters (newlines, ANSI escapes, NUL) are escaped
/// so that the C caller never receives them raw.
pub(crate) fn fail(status: ipsec_status, msg: impl Into<String>) -> ipsec_status {
    let msg = msg.into();
    let msg = match escape(&msg) {
        Cow::Borrowed(_) => msg,
        Cow::Owned(escaped) => escaped,
    };
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
    status
}

/// As [`fail`] for a message of several lines (one per entry of `lines`): each line is escaped,
/// so the newlines between them are the only ones in the message.
pub(crate) fn fail_lines(status: ipsec_status, lines: &[String]) -> ipsec_status {
    let msg = lines
        .iter()
        .map(|line| escape(line))
        .collect::<Vec<_>>()
        .join("\n");
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
    status
}

/// A copy of this thread's last error message.
pub(crate) fn last_error() -> String {
    LAST_ERROR.with(|e| e.borrow().clone())
}

/// Runs `f`, turning a panic into [`IPSEC_ERR_PANIC`] with its message as the last error, so
/// that no unwind crosses the C boundary.
pub(crate) fn guard(f: impl FnOnce() -> ipsec_status) -> ipsec_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(s) => s,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            fail(IPSEC_ERR_PANIC, format!("internal error (panic): {what}"))
        }
    }
}
