//! What the example programs share on the command line: clap for the grammar, one shape for
//! usage mistakes (`PROGRAM: what is wrong`, then the usage line, exit status 2) and one duration
//! syntax.

use clap::error::ErrorKind;
use clap::Parser;
use std::time::Duration;

/// Exit status for usage mistakes, in every program.
pub const USAGE_ERROR: i32 = 2;

/// Parses the process's arguments into `T`. `--help` prints the help on stdout and exits 0; a
/// usage mistake prints `PROGRAM: what is wrong` and the usage line on stderr and exits 2.
pub fn parse<T: Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(e) => exit_on::<T>(&e),
    }
}

/// Parses `args` (the program name first) into `T`, or returns the text [`parse`] would print.
pub fn try_parse_from<T: Parser>(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<T, String> {
    T::try_parse_from(args).map_err(|e| message::<T>(&e))
}

fn exit_on<T: Parser>(e: &clap::Error) -> ! {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit()
    }
    eprintln!("{}", message::<T>(e));
    std::process::exit(USAGE_ERROR)
}

/// clap's report of a usage mistake, headed by the program's name instead of `error:` and with
/// the usage line spelled as the programs' own documentation spells it.
fn message<T: Parser>(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!(
        "{}: {}",
        T::command().get_name(),
        text.trim_end().replace("\nUsage: ", "\nusage: ")
    )
}

/// A duration as the programs take it: `20s`, `500ms`, `2m`, `1h 30m` (humantime's syntax), or a
/// bare number of seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("{s:?} is too large"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration ({e}; examples: 20s, 500ms, 2m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1h 30m"), Ok(Duration::from_secs(5400)));
        for bad in [
            "",
            "s",
            "5 parsecs",
            "-5s",
            "99999999999999999999",
            "99999999999999999999s",
        ] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        assert!(duration(&format!("{}m", u64::MAX)).is_err());
    }
}
