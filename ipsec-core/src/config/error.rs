//! Configuration errors and warnings: each names the object kind, the object name, the field and,
//! when the configuration came from a file, the line and column.

use core::fmt;

/// The kinds of configuration objects, spelled as PAN-OS and the TOML file spell them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// `ike-crypto-profile`.
    IkeCryptoProfile,
    /// `ipsec-crypto-profile`.
    IpsecCryptoProfile,
    /// `ike-gateway`.
    IkeGateway,
    /// `tunnel-interface`.
    TunnelInterface,
    /// `ipsec-tunnel`.
    IpsecTunnel,
    /// `static-route`.
    StaticRoute,
    /// `zone`.
    Zone,
    /// `security-rule`.
    SecurityRule,
    /// `nat-rule`.
    NatRule,
    /// `certificate`.
    Certificate,
    /// `certificate-profile`.
    CertificateProfile,
}

impl ObjectKind {
    /// Every kind, in the order the summary of `ipsec-gateway validate` prints them.
    pub const ALL: [ObjectKind; 11] = [
        ObjectKind::Certificate,
        ObjectKind::CertificateProfile,
        ObjectKind::IkeCryptoProfile,
        ObjectKind::IpsecCryptoProfile,
        ObjectKind::IkeGateway,
        ObjectKind::TunnelInterface,
        ObjectKind::IpsecTunnel,
        ObjectKind::StaticRoute,
        ObjectKind::Zone,
        ObjectKind::SecurityRule,
        ObjectKind::NatRule,
    ];

    /// The TOML table name (`ike-gateway`).
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::IkeCryptoProfile => "ike-crypto-profile",
            ObjectKind::IpsecCryptoProfile => "ipsec-crypto-profile",
            ObjectKind::IkeGateway => "ike-gateway",
            ObjectKind::TunnelInterface => "tunnel-interface",
            ObjectKind::IpsecTunnel => "ipsec-tunnel",
            ObjectKind::StaticRoute => "static-route",
            ObjectKind::Zone => "zone",
            ObjectKind::SecurityRule => "security-rule",
            ObjectKind::NatRule => "nat-rule",
            ObjectKind::Certificate => "certificate",
            ObjectKind::CertificateProfile => "certificate-profile",
        }
    }

    /// The kind whose TOML table name is `s`.
    pub fn from_table_name(s: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object of a configuration: its kind and name (`ipsec-tunnel "vpn-branch"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// The object's kind.
    pub kind: ObjectKind,
    /// The object's name; `None` when the object has no readable name (a syntax error in it).
    pub name: Option<String>,
}

impl ObjectRef {
    /// An object of `kind` named `name`.
    pub fn new(kind: ObjectKind, name: impl Into<String>) -> Self {
        ObjectRef {
            kind,
            name: Some(name.into()),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{} \"{}\"", self.kind, crate::text::Escaped(n)),
            None => write!(f, "{} (unnamed)", self.kind),
        }
    }
}

/// A position in a configuration file, both counted from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The line and column of byte offset `offset` in `source` (clamped to its end).
    pub fn of_offset(source: &str, offset: usize) -> Location {
        let mut end = offset.min(source.len());
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        let before = &source[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// What is wrong; the rest of a [`ConfigError`] says where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The file could not be read. Check the path and permissions.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// The text is not TOML. Fix the syntax at the given line.
    #[error("TOML syntax error: {0}")]
    Syntax(String),
    /// A field this object kind does not have (a typo, or a PAN-OS field this model lacks).
    #[error("unknown field `{name}`{}", expected_text(.expected))]
    UnknownField {
        /// The field found.
        name: String,
        /// The fields allowed there, as serde lists them (may be empty).
        expected: String,
    },
    /// A required field is missing.
    #[error("is required")]
    Missing,
    /// The value has the wrong type or is not one of the allowed values.
    #[error("{0}")]
    InvalidValue(String),
    /// A number outside the range PAN-OS allows.
    #[error("{value} is out of range ({range})")]
    OutOfRange {
        /// The value found.
        value: String,
        /// The allowed values.
        range: &'static str,
    },
    /// A reference by name to an object that does not exist.
    #[error("\"{name}\" is not defined")]
    Undefined {
        /// The kind of object referred to.
        kind: ObjectKind,
        /// The missing name.
        name: String,
    },
    /// Two objects of the same kind share a name.
    #[error("name \"{0}\" is used twice")]
    Duplicate(String),
    /// Values that cannot go together (AH with encryption, null encryption without
    /// authentication, proxy-ID families that differ...).
    #[error("{0}")]
    Conflict(String),
    /// A form PAN-OS accepts that this implementation does not (revocation checking, a UPN
    /// username field).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Two peers' configurations cannot work together (from [`super::check_pair`]).
    #[error("{0}")]
    PeerMismatch(String),
}

fn expected_text(expected: &str) -> String {
    if expected.is_empty() {
        String::new()
    } else {
        format!("; {expected}")
    }
}

/// One path step inside an object, used to find a field's position in the file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    /// A key of a table.
    Key(String),
    /// An element of an array, with its name for display when it has one.
    Index(usize, Option<String>),
}

/// A configuration mistake. Its `Display` reads like
/// `line 40, column 15: ipsec-tunnel "vpn-branch": ike-gateway "gw-x" is not defined`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(self))]
pub struct ConfigError {
    /// The object at fault; `None` for file-level problems (I/O, an unknown top-level table).
    pub object: Option<ObjectRef>,
    /// The field at fault (`nat-traversal.keep-alive-interval`, `proxy-id[monitor].local`).
    pub field: Option<String>,
    /// What is wrong.
    pub problem: Problem,
    /// Where, when the configuration came from text.
    pub location: Option<Location>,
    /// Position of the object among its kind and the field path, to find `location`.
    pub(crate) site: Option<(usize, Vec<Seg>)>,
}

fn render(e: &ConfigError) -> String {
    let mut s = String::new();
    if let Some(l) = e.location {
        s.push_str(&format!("{l}: "));
    }
    if let Some(o) = &e.object {
        s.push_str(&format!("{o}: "));
    }
    match (&e.field, &e.problem) {
        (Some(f), Problem::Undefined { kind, name }) if f == kind.as_str() => {
            s.push_str(&format!("{f} \"{name}\" is not defined"))
        }
        (Some(f), Problem::Undefined { kind, name }) => {
            s.push_str(&format!("{f}: {kind} \"{name}\" is not defined"))
        }
        (Some(f), p) => s.push_str(&format!("{f}: {p}")),
        (None, p) => s.push_str(&p.to_string()),
    }
    // Names and values from the file are in the text: never print their control characters.
    crate::text::escape(&s).into_owned()
}

impl ConfigError {
    /// An error with no object (file-level).
    pub fn file(problem: Problem) -> Self {
        ConfigError {
            object: None,
            field: None,
            problem,
            location: None,
            site: None,
        }
    }
}

pub(crate) fn path_display(path: &[Seg]) -> Option<String> {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(_, Some(n)) if !n.is_empty() => s.push_str(&format!("[{n}]")),
            Seg::Index(i, _) => s.push_str(&format!("[{i}]")),
        }
    }
    (!s.is_empty()).then_some(s)
}

/// Where a validation check stands: one object of one kind.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    pub(crate) kind: ObjectKind,
    pub(crate) index: usize,
    pub(crate) name: String,
}

impl Site {
    pub(crate) fn new(kind: ObjectKind, index: usize, name: &str) -> Self {
        Site {
            kind,
            index,
            name: name.to_string(),
        }
    }

    /// An error at `path` inside this object.
    pub(crate) fn err(&self, path: Vec<Seg>, problem: Problem) -> ConfigError {
        ConfigError {
            object: Some(ObjectRef::new(self.kind, self.name.clone())),
            field: path_display(&path),
            problem,
            location: None,
            site: Some((self.index, path)),
        }
    }

    /// An error at the top-level field `key` of this object.
    pub(crate) fn at(&self, key: &str, problem: Problem) -> ConfigError {
        self.err(vec![Seg::Key(key.to_string())], problem)
    }

    /// An error at `outer.inner`.
    pub(crate) fn at2(&self, outer: &str, inner: &str, problem: Problem) -> ConfigError {
        self.err(
            vec![Seg::Key(outer.to_string()), Seg::Key(inner.to_string())],
            problem,
        )
    }

    /// A warning at `field`.
    pub(crate) fn warn(&self, field: &str, why: impl Into<String>) -> Warning {
        Warning {
            object: ObjectRef::new(self.kind, self.name.clone()),
            field: field.to_string(),
            why: why.into(),
        }
    }
}

/// Something that loads and works but deserves attention: a weak algorithm PAN-OS accepts, a form
/// this implementation ignores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The object.
    pub object: ObjectRef,
    /// The field.
    pub field: String,
    /// Why it is worth a look.
    pub why: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = crate::text::Escaped(&self.why);
        write!(f, "{}: {}: {why}", self.object, self.field)
    }
}

/// An out-of-range problem.
pub(crate) fn range(value: impl fmt::Display, range: &'static str) -> Problem {
    Problem::OutOfRange {
        value: value.to_string(),
        range,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let text = "a = 1\nname = \"é\"\nx";
        assert_eq!(
            Location::of_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 6),
            Location { line: 2, column: 1 }
        );
        // After the two-byte é: column counts characters, not bytes.
        let after = text.find('é').unwrap() + 2;
        assert_eq!(
            Location::of_offset(text, after),
            Location {
                line: 2,
                column: 10
            }
        );
        // Inside a multi-byte character and past the end: clamped, no panic.
        assert_eq!(Location::of_offset(text, after - 1).line, 2);
        assert_eq!(
            Location::of_offset(text, 10_000),
            Location { line: 3, column: 2 }
        );
    }

    #[test]
    fn undefined_reference_reads_like_the_design_example() {
        let site = Site::new(ObjectKind::IpsecTunnel, 0, "to-branch");
        let e = site.at(
            "ike-gateway",
            Problem::Undefined {
                kind: ObjectKind::IkeGateway,
                name: "gw-x".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "ipsec-tunnel \"to-branch\": ike-gateway \"gw-x\" is not defined"
        );
        let e = site.at(
            "interface",
            Problem::Undefined {
                kind: ObjectKind::TunnelInterface,
                name: "tunnel.9".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "ipsec-tunnel \"to-branch\": interface: tunnel-interface \"tunnel.9\" is not defined"
        );
    }
}
