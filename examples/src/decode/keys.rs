//! Key files: `name = hex` lines, as strongSwan's key logging and `testdata/.../keys.txt` write
//! them (`Sk_ei secret = 1098...`).
//!
//! Names are compared after normalisation: lower case, a trailing ` secret` dropped, runs of
//! spaces turned into `_`; so `Sk_ei secret`, `SK_EI` and `sk_ei` are one name. Blank lines and
//! lines starting with `#` are ignored. Values are kept in [`SecretBytes`], zeroized on drop.

use ipsec_core::crypto::SecretBytes;

/// A parsed key file.
#[derive(Clone, Debug, Default)]
pub struct KeyFile {
    entries: Vec<(String, SecretBytes)>,
}

/// A line of a key file that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// The line has no `=`.
    #[error("line {0}: expected `name = hex`")]
    MissingEquals(usize),
    /// The name before `=` is empty.
    #[error("line {0}: empty key name")]
    EmptyName(usize),
    /// The value is not an even number of hex digits.
    #[error("line {0}: value of `{1}` is not hex")]
    BadHex(usize, String),
}

/// The normalised form of a key name.
pub fn normalize(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let base = lower.strip_suffix(" secret").unwrap_or(&lower);
    base.split_whitespace().collect::<Vec<_>>().join("_")
}

impl KeyFile {
    /// Parses a key file's text. A later line with the same name replaces an earlier one.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut entries: Vec<(String, SecretBytes)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once('=').ok_or(KeyFileError::MissingEquals(n))?;
            let name = normalize(name);
            if name.is_empty() {
                return Err(KeyFileError::EmptyName(n));
            }
            // Decoded in constant time into a buffer allocated once at its final size, so no
            // stray copy of a key is left behind by a reallocation.
            let bytes = base16ct::mixed::decode_vec(value.trim())
                .map_err(|_| KeyFileError::BadHex(n, name.clone()))?;
            entries.retain(|(k, _)| *k != name);
            entries.push((name, SecretBytes::new(bytes)));
        }
        Ok(KeyFile { entries })
    }

    /// The key called `name` (normalised before lookup).
    pub fn get(&self, name: &str) -> Option<&SecretBytes> {
        let name = normalize(name);
        self.entries
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The normalised names present, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strongswan_style_and_short_names() {
        let k = KeyFile::parse(
            "# keys\nSk_ei secret = 0a0B\n\nsk_er=ff\nencryption initiator key = 01\n",
        )
        .unwrap();
        assert_eq!(k.get("sk_ei").unwrap().expose(), &[0x0a, 0x0b]);
        assert_eq!(k.get("SK_EI secret").unwrap().expose(), &[0x0a, 0x0b]);
        assert_eq!(k.get("Sk_er").unwrap().expose(), &[0xff]);
        assert_eq!(k.get("encryption initiator key").unwrap().expose(), &[0x01]);
        assert!(k.get("sk_ai").is_none());
        assert_eq!(
            k.names().collect::<Vec<_>>(),
            ["sk_ei", "sk_er", "encryption_initiator_key"]
        );
    }

    #[test]
    fn bad_lines_name_their_number() {
        assert_eq!(
            KeyFile::parse("sk_ei = 00\nno equals").unwrap_err(),
            KeyFileError::MissingEquals(2)
        );
        assert_eq!(
            KeyFile::parse(" = 00").unwrap_err(),
            KeyFileError::EmptyName(1)
        );
        assert_eq!(
            KeyFile::parse("sk_ei = 0g").unwrap_err(),
            KeyFileError::BadHex(1, "sk_ei".into())
        );
        assert_eq!(
            KeyFile::parse("sk_ei = 000").unwrap_err(),
            KeyFileError::BadHex(1, "sk_ei".into())
        );
        assert_eq!(
            KeyFile::parse("sk_ei = é1").unwrap_err(),
            KeyFileError::BadHex(1, "sk_ei".into())
        );
    }

    #[test]
    fn debug_does_not_show_keys() {
        let k = KeyFile::parse("sk_ei = deadbeef").unwrap();
        assert!(!format!("{k:?}").contains("deadbeef"));
    }
}
