//! `ipsec_set_log_callback`: the library's diagnostic log (the `tracing` events of the IKE,
//! ESP and gateway layers: negotiations step by step, drops, retransmissions) handed to a C
//! function, one formatted line per event. Keys never appear in it.

use crate::status::*;
use ipsec_core::text::escape;
use std::ffi::{c_char, c_void, CString};
use std::fmt::Write as _;
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Severity of a log line (`ipsec_set_log_callback`), most severe first.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ipsec_log_level {
    /// Something failed.
    IPSEC_LOG_ERROR = 1,
    /// Something the admin should look at.
    IPSEC_LOG_WARN = 2,
    /// Normal operation: SAs up and down.
    IPSEC_LOG_INFO = 3,
    /// Protocol detail: exchanges, retransmissions, drops.
    IPSEC_LOG_DEBUG = 4,
    /// Everything, per message.
    IPSEC_LOG_TRACE = 5,
}

/// The C log function: `user` as given, the level, the emitting module (`ikev2::endpoint`) and
/// the line, both NUL-terminated and valid only during the call.
#[allow(non_camel_case_types)]
pub type ipsec_log_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        level: ipsec_log_level,
        target: *const c_char,
        line: *const c_char,
    ),
>;

struct Sink {
    f: unsafe extern "C" fn(*mut c_void, ipsec_log_level, *const c_char, *const c_char),
    user: usize,
    max: ipsec_log_level,
}

static SINK: OnceLock<Sink> = OnceLock::new();

fn level(l: &Level) -> ipsec_log_level {
    use ipsec_log_level::*;
    match *l {
        Level::ERROR => IPSEC_LOG_ERROR,
        Level::WARN => IPSEC_LOG_WARN,
        Level::INFO => IPSEC_LOG_INFO,
        Level::DEBUG => IPSEC_LOG_DEBUG,
        _ => IPSEC_LOG_TRACE,
    }
}

/// Formats `message` first, then `key=value` for the other fields.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn core::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

/// Calls the registered function for every event at or above its level; spans are not
/// reported (their fields are on the events that matter).
struct CallbackSubscriber;

impl Subscriber for CallbackSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        SINK.get().is_some_and(|s| level(metadata.level()) <= s.max)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(sink) = SINK.get() else { return };
        let mut line = Line::default();
        event.record(&mut line);
        line.message.push_str(&line.fields);
        let target = CString::new(event.metadata().target()).unwrap_or_default();
        // Messages may quote what a peer sent: control characters are escaped, as in every
        // string the library returns, so a log line is one line and drives no terminal.
        let escaped = escape(&line.message);
        let text = escaped.split('\0').next().unwrap_or_default();
        let text = CString::new(text).unwrap_or_default();
        // SAFETY: `f` and `user` come from `ipsec_set_log_callback`, whose caller promised that
        // `f` may be called with `user` from any thread for the rest of the process; both
        // strings live until the call returns.
        unsafe {
            (sink.f)(
                sink.user as *mut c_void,
                level(event.metadata().level()),
                target.as_ptr(),
                text.as_ptr(),
            )
        };
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Sends the library's log lines at `max_level` (an `ipsec_log_level`; larger values mean
/// `IPSEC_LOG_TRACE`) and more severe to `f` (with `user`), for the
/// rest of the process. Call it once, before creating handles; it is process-wide, like
/// `openlog`. `f` may be called from whichever thread drives a handle, during that call.
///
/// Returns `IPSEC_ERR_NULL` when `f` is NULL, `IPSEC_ERR_STATE` when a log function (this one,
/// or another logger of the process built on Rust's `tracing`) is already installed.
///
/// # Safety
///
/// `f` must stay callable with `user` for the rest of the process, from any thread.
#[no_mangle]
pub unsafe extern "C" fn ipsec_set_log_callback(
    f: ipsec_log_fn,
    user: *mut c_void,
    max_level: u32,
) -> ipsec_status {
    let Some(f) = f else {
        return fail(IPSEC_ERR_NULL, "log function is NULL");
    };
    guard(|| {
        use ipsec_log_level::*;
        let max = match max_level {
            0 | 1 => IPSEC_LOG_ERROR,
            2 => IPSEC_LOG_WARN,
            3 => IPSEC_LOG_INFO,
            4 => IPSEC_LOG_DEBUG,
            _ => IPSEC_LOG_TRACE,
        };
        let sink = Sink {
            f,
            user: user as usize,
            max,
        };
        if SINK.set(sink).is_err() {
            return fail(IPSEC_ERR_STATE, "a log function is already installed");
        }
        if tracing::subscriber::set_global_default(CallbackSubscriber).is_err() {
            return fail(
                IPSEC_ERR_STATE,
                "another tracing subscriber is installed in this process",
            );
        }
        IPSEC_OK
    })
}
