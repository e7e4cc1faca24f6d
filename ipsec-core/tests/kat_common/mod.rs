//! Reader for the known-answer files of the conformance check
//! (`ipsec-core/src/crypto/conformance/vectors/`), for tests of one provider's own promises.
//!
//! The format is deliberately plain: `#` starts a comment line, records are separated by blank
//! lines, and each line of a record is `name = value`. Hex values may contain spaces.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

/// One record of a known-answer file.
pub(crate) struct Record {
    /// The record's fields, in file order.
    pub(crate) fields: Vec<(String, String)>,
}

impl Record {
    /// The field `name`; panics (failing the test) if the file lacks it.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.opt(name)
            .unwrap_or_else(|| panic!("record {:?} has no field {name}", self.label()))
    }

    /// The field `name`, if present.
    pub(crate) fn opt(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field `name` decoded from hex.
    pub(crate) fn hex(&self, name: &str) -> Vec<u8> {
        hex(self.get(name))
    }

    /// A label for failure messages: the `case` or `tcId` field.
    pub(crate) fn label(&self) -> String {
        self.opt("case")
            .or_else(|| self.opt("tcId"))
            .unwrap_or("?")
            .to_string()
    }
}

/// Decodes hex, ignoring whitespace.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base16ct::mixed::decode_vec(digits).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// Loads `src/crypto/conformance/vectors/<name>`.
pub(crate) fn load(name: &str) -> Vec<Record> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "src",
        "crypto",
        "conformance",
        "vectors",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut records = Vec::new();
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !fields.is_empty() {
                records.push(Record {
                    fields: std::mem::take(&mut fields),
                });
            }
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{}: bad line {line:?}", path.display()));
        fields.push((k.trim().to_string(), v.trim().to_string()));
    }
    if !fields.is_empty() {
        records.push(Record { fields });
    }
    assert!(!records.is_empty(), "{} has no records", path.display());
    records
}
