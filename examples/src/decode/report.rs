//! What the decoder found, as a tree of labelled fields, and its two renderings: compact text
//! (one headline, then one indented line per payload) and JSON (one object per packet).

use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// An address with a port when the transport has one (ESP directly over IP has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The IP address.
    pub addr: IpAddr,
    /// The UDP port.
    pub port: Option<u16>,
}

impl Endpoint {
    /// An endpoint.
    pub fn new(addr: IpAddr, port: Option<u16>) -> Self {
        Endpoint { addr, port }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.port) {
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (a, Some(p)) => write!(f, "{a}:{p}"),
            (a, None) => write!(f, "{a}"),
        }
    }
}

/// A field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text (a name, an address, hex).
    Text(String),
    /// A number.
    Num(u64),
    /// A flag.
    Bool(bool),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Num(n)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Num(n.into())
    }
}

impl From<u16> for Value {
    fn from(n: u16) -> Self {
        Value::Num(n.into())
    }
}

impl From<u8> for Value {
    fn from(n: u8) -> Self {
        Value::Num(n.into())
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Num(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// One named field. A `bare` field prints only its value in text (`FQDN left.ike.test`); in JSON
/// every field has its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The key (JSON object key; text `key=value`).
    pub key: &'static str,
    /// The value.
    pub value: Value,
    /// Print the value without `key=` in text.
    pub bare: bool,
}

/// A node of the report: a payload, a proposal, a whole message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Item {
    /// What this is (`SA`, `proposal`, `N`, `IDi`...), the first word of its text line.
    pub kind: String,
    /// Its fields, in print order.
    pub fields: Vec<Field>,
    /// Nested items (proposals of an SA, inner payloads of a decrypted SK).
    pub children: Vec<Item>,
}

impl Item {
    /// An item with no fields yet.
    pub fn new(kind: impl Into<String>) -> Self {
        Item {
            kind: kind.into(),
            ..Item::default()
        }
    }

    /// Adds `key=value`.
    pub fn field(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push(Field {
            key,
            value: value.into(),
            bare: false,
        });
        self
    }

    /// Adds a field printed without its key in text.
    pub fn bare(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push(Field {
            key,
            value: value.into(),
            bare: true,
        });
        self
    }

    /// Adds a nested item.
    pub fn child(mut self, item: Item) -> Self {
        self.children.push(item);
        self
    }

    /// The value of field `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|f| f.key == key).map(|f| &f.value)
    }
}

/// One decoded capture record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Record number in its file, from 1.
    pub frame: usize,
    /// Capture time, nanoseconds since the Unix epoch; `None` for a record that could not be read.
    pub time_ns: Option<u64>,
    /// Source address and port, when the record got that far.
    pub src: Option<Endpoint>,
    /// Destination address and port, when the record got that far.
    pub dst: Option<Endpoint>,
    /// What it is: `ike`, `esp`, `nat-keepalive`, `ip-fragment` or `error`.
    pub kind: &'static str,
    /// The details.
    pub item: Item,
}

fn text_value(v: &Value, out: &mut String) {
    match v {
        Value::Text(s) => out.push_str(s),
        Value::Num(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
    }
}

fn text_item(item: &Item, depth: usize, out: &mut String) {
    if depth > 0 {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    }
    out.push_str(&item.kind);
    for f in &item.fields {
        out.push(' ');
        if !f.bare {
            out.push_str(f.key);
            out.push('=');
        }
        text_value(&f.value, out);
    }
    for c in &item.children {
        text_item(c, depth + 1, out);
    }
}

/// Formats a capture timestamp as `seconds.microseconds`.
pub fn time_text(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, (ns % 1_000_000_000) / 1000)
}

impl Record {
    /// The compact text form: a headline `#frame time src -> dst kind fields`, then one indented
    /// line per nested item. Ends without a newline.
    pub fn to_text(&self) -> String {
        let mut out = format!("#{}", self.frame);
        if let Some(t) = self.time_ns {
            out.push(' ');
            out.push_str(&time_text(t));
        }
        if let (Some(s), Some(d)) = (self.src, self.dst) {
            let _ = write!(out, " {s} -> {d}");
        }
        out.push(' ');
        text_item(&self.item, 0, &mut out);
        out
    }

    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        self.to_json_in(None)
    }

    /// One JSON object on one line, with a `file` member first when `file` is given.
    pub fn to_json_in(&self, file: Option<&str>) -> String {
        let mut out = String::from("{");
        if let Some(f) = file {
            out.push_str("\"file\":");
            json_string(f, &mut out);
            out.push(',');
        }
        let _ = write!(out, "\"frame\":{}", self.frame);
        if let Some(t) = self.time_ns {
            out.push_str(",\"time\":");
            json_string(&time_text(t), &mut out);
        }
        for (key, addr) in [("src", self.src), ("dst", self.dst)] {
            if let Some(a) = addr {
                let _ = write!(out, ",\"{key}\":");
                json_string(&a.to_string(), &mut out);
            }
        }
        out.push_str(",\"kind\":");
        json_string(self.kind, &mut out);
        out.push(',');
        json_members(&self.item, &mut out);
        out.push('}');
        out
    }
}

/// Writes `"name": kind, fields..., "children": [...]` without the braces. Field keys must differ
/// from `name` and `children`.
fn json_members(item: &Item, out: &mut String) {
    out.push_str("\"name\":");
    json_string(&item.kind, out);
    for f in &item.fields {
        out.push(',');
        json_string(f.key, out);
        out.push(':');
        match &f.value {
            Value::Text(s) => json_string(s, out),
            Value::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
        }
    }
    if !item.children.is_empty() {
        out.push_str(",\"children\":[");
        for (i, c) in item.children.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            json_members(c, out);
            out.push('}');
        }
        out.push(']');
    }
}

/// Writes `s` as a JSON string literal (RFC 8259 section 7).
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// Text safe to print: printable ASCII kept, anything else as `\xNN`, so a hostile ID cannot
/// move the terminal's cursor or fake a line.
pub fn printable(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            frame: 3,
            time_ns: Some(1_700_000_000_123_456_789),
            src: Some(Endpoint::new([192, 0, 2, 1].into(), Some(500))),
            dst: Some(Endpoint::new([192, 0, 2, 2].into(), Some(500))),
            kind: "ike",
            item: Item::new("IKE_SA_INIT")
                .bare("role", "request")
                .field("msgid", 0u32)
                .child(
                    Item::new("IDi")
                        .bare("id_type", "FQDN")
                        .bare("value", "a\"b\\c\n"),
                )
                .child(Item::new("N").field("critical", true)),
        }
    }

    #[test]
    fn text_is_a_headline_and_indented_children() {
        assert_eq!(
            sample().to_text(),
            "#3 1700000000.123456 192.0.2.1:500 -> 192.0.2.2:500 IKE_SA_INIT request msgid=0\n  \
             IDi FQDN a\"b\\c\n\n  N critical=true"
        );
    }

    #[test]
    fn json_escapes_and_nests() {
        assert_eq!(
            sample().to_json(),
            "{\"frame\":3,\"time\":\"1700000000.123456\",\"src\":\"192.0.2.1:500\",\
             \"dst\":\"192.0.2.2:500\",\"kind\":\"ike\",\"name\":\"IKE_SA_INIT\",\
             \"role\":\"request\",\"msgid\":0,\"children\":[{\"name\":\"IDi\",\"id_type\":\"FQDN\",\
             \"value\":\"a\\\"b\\\\c\\n\"},{\"name\":\"N\",\"critical\":true}]}"
        );
    }

    #[test]
    fn endpoints_print_like_socket_addresses() {
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            Endpoint::new(v6, Some(500)).to_string(),
            "[2001:db8::1]:500"
        );
        assert_eq!(Endpoint::new(v6, None).to_string(), "2001:db8::1");
        assert_eq!(
            Endpoint::new([10, 0, 0, 1].into(), Some(4500)).to_string(),
            "10.0.0.1:4500"
        );
    }

    #[test]
    fn hex_and_printable() {
        assert_eq!(hex(&[0, 0xab]), "00ab");
        assert_eq!(printable(b"ok.test\x1b[2J\\"), "ok.test\\x1b[2J\\x5c");
    }
}
