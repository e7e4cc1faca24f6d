//! Text from outside (a peer's identity, a notify's data, a name in a configuration file) made
//! safe to print.
//!
//! A log line, a terminal or a C caller's buffer must never receive such text raw: a newline
//! forges a log line, an ANSI escape (`ESC [ ...`) rewrites the terminal, a bidirectional override
//! makes a name read differently from its bytes. [`Escaped`] writes text with every control
//! character (C0, DEL, C1), line and paragraph separator and bidirectional formatting character
//! replaced by a Rust-style escape (`\n`, `\t`, `\u{1b}`); everything else passes unchanged.
//!
//! ```
//! use ipsec_core::text::{escape, Escaped};
//!
//! let id = "branch\n\u{1b}[31mFAKE LOG LINE";
//! assert_eq!(escape(id), r"branch\n\u{1b}[31mFAKE LOG LINE");
//! assert_eq!(format!("peer {}", Escaped(id)), r"peer branch\n\u{1b}[31mFAKE LOG LINE");
//! assert_eq!(escape("gw-hq 1"), "gw-hq 1");
//! ```

use core::fmt::{self, Write};
use std::borrow::Cow;

/// True for the characters [`Escaped`] replaces.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Line and paragraph separators; Arabic letter mark; left-to-right and
            // right-to-left marks, embeddings, overrides and isolates (Unicode UAX #9).
            '\u{2028}' | '\u{2029}' | '\u{061c}' | '\u{200e}' | '\u{200f}'
                | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Displays a string with the characters of [`needs_escape`] escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape_into(f, self.0)
    }
}

/// Writes `s` to `f` as [`Escaped`] displays it.
fn escape_into(f: &mut dyn fmt::Write, s: &str) -> fmt::Result {
    // Log lines are mostly printable ASCII, which needs no escape: one pass over the bytes.
    if s.bytes().all(|b| b.wrapping_sub(0x20) < 0x5f) {
        return f.write_str(s);
    }
    let mut rest = s;
    while let Some(i) = rest.find(needs_escape) {
        f.write_str(&rest[..i])?;
        let c = rest[i..].chars().next().unwrap_or_default();
        match c {
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "\\u{{{:x}}}", u32::from(c))?,
        }
        rest = &rest[i + c.len_utf8()..];
    }
    f.write_str(rest)
}

/// A [`fmt::Write`] that escapes everything written to it as [`Escaped`] does, for a `Display`
/// whose every piece of text must be safe (a log line assembled from several fields).
///
/// ```
/// use core::fmt::Write;
/// use ipsec_core::text::EscapingWriter;
///
/// let mut line = String::new();
/// write!(EscapingWriter(&mut line), "peer {} up", "evil\u{202e}txt").unwrap();
/// assert_eq!(line, r"peer evil\u{202e}txt up");
/// ```
#[derive(Debug)]
pub struct EscapingWriter<W>(pub W);

impl<W: fmt::Write> fmt::Write for EscapingWriter<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(&mut self.0, s)
    }
}

/// The string with the characters of [`needs_escape`] escaped; borrowed when there are none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    // Writing into a String cannot fail.
    let _ = write!(out, "{}", Escaped(s));
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dangerous_character_is_escaped_and_nothing_else() {
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let e = escape(&c.to_string()).into_owned();
            assert!(e.starts_with('\\'), "{c:?} -> {e}");
            assert!(!e.chars().any(needs_escape), "{c:?} -> {e}");
        }
        for c in ['\u{202e}', '\u{2066}', '\u{2028}', '\u{200f}'] {
            assert_eq!(escape(&c.to_string()), format!("\\u{{{:x}}}", u32::from(c)));
        }
        let plain = "gw-hq_1.example ümlaut 東京 \\ \"q\"";
        assert!(matches!(escape(plain), Cow::Borrowed(_)));
        assert_eq!(escape("a\r\nb\tc\u{9b}d"), r"a\r\nb\tc\u{9b}d");
    }

    #[test]
    fn every_ascii_character_displays_as_escape_says() {
        for b in 0u8..0x80 {
            let c = char::from(b);
            let s = format!("x{c}y");
            let want = escape(&s).into_owned();
            assert_eq!(Escaped(&s).to_string(), want, "{b:#04x}");
            let mut w = EscapingWriter(String::new());
            w.write_str(&s).unwrap();
            assert_eq!(w.0, want, "{b:#04x}");
            assert_eq!(want == s, (0x20..0x7f).contains(&b), "{b:#04x}");
        }
    }
}
