//! Distinguished names: parsed from a certificate or an ID_DER_ASN1_DN payload (DER), or from
//! the text an admin writes (`C=CH, O=Example, CN=hq.example.net`), and compared by meaning.
//!
//! Two names are equal when they have the same RDNs in the same order, each with the same
//! attribute types and values; string values compare without regard to ASCII case or to the
//! ASN.1 string type (PrintableString and UTF8String spell the same name), as strongSwan and RFC
//! 5280 section 7.1 do. Text is accepted in both orders: most significant first, as strongSwan
//! and OpenSSL print names (`C=CH, O=Example, CN=hq`), and RFC 4514's reverse order
//! (`CN=hq,O=Example,C=CH`). DER decoding is the `x509-cert` crate's.

use core::fmt;

use der::asn1::{AnyRef, Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::name::Name;

/// A distinguished name: RDNs in encoding order (most significant first), each a set of
/// attribute type and value pairs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DistinguishedName {
    rdns: Vec<Vec<(ObjectIdentifier, String)>>,
}

/// Attribute short names, for parsing and printing (strongSwan's spellings first).
const NAMES: &[(&str, &str)] = &[
    ("C", "2.5.4.6"),
    ("ST", "2.5.4.8"),
    ("L", "2.5.4.7"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("serialNumber", "2.5.4.5"),
    ("T", "2.5.4.12"),
    ("G", "2.5.4.42"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("E", "1.2.840.113549.1.9.1"),
    ("emailAddress", "1.2.840.113549.1.9.1"),
    ("street", "2.5.4.9"),
];

/// The common name attribute (2.5.4.3).
pub(crate) const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

fn oid_of(name: &str) -> Option<ObjectIdentifier> {
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, o)| ObjectIdentifier::new(o).ok())
        .or_else(|| ObjectIdentifier::new(name.trim()).ok())
}

fn name_of(oid: &ObjectIdentifier) -> String {
    let text = oid.to_string();
    NAMES
        .iter()
        .find(|(_, o)| *o == text)
        .map_or(text.clone(), |(n, _)| (*n).to_string())
}

/// Why a DN could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The DER does not decode as an X.501 Name.
    #[error("not a DER distinguished name")]
    Der,
    /// A text RDN is not `type=value`, or names an unknown attribute type.
    #[error(
        "\"{0}\" is not type=value with a known type (C, ST, L, O, OU, CN, E, DC, UID, or an OID)"
    )]
    Text(String),
    /// The name has no RDN.
    #[error("the name is empty")]
    Empty,
}

impl DistinguishedName {
    /// Decodes a DER `Name` (a certificate's subject or issuer, an ID_DER_ASN1_DN payload).
    pub fn from_der(der: &[u8]) -> Result<Self, NameError> {
        let name = Name::from_der(der).map_err(|_| NameError::Der)?;
        Ok(Self::from_name(&name))
    }

    pub(crate) fn from_name(name: &Name) -> Self {
        let rdns = name
            .0
            .iter()
            .map(|rdn| {
                rdn.0
                    .iter()
                    .map(|atv| (atv.oid, value_text(&atv.value)))
                    .collect()
            })
            .collect();
        DistinguishedName { rdns }
    }

    /// Parses text such as `C=CH, O=Example, CN=hq.example.net` (RDNs separated by `,` or `;`,
    /// multi-valued RDNs joined by `+`, `\` escaping a separator). Values keep their case.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let mut rdns = Vec::new();
        for rdn in split_unescaped(text, &[',', ';']) {
            let mut atvs = Vec::new();
            for atv in split_unescaped(&rdn, &['+']) {
                let (ty, value) = atv
                    .split_once('=')
                    .ok_or_else(|| NameError::Text(atv.trim().to_string()))?;
                let oid =
                    oid_of(ty.trim()).ok_or_else(|| NameError::Text(atv.trim().to_string()))?;
                atvs.push((oid, value.trim().to_string()));
            }
            rdns.push(atvs);
        }
        if rdns.is_empty() {
            return Err(NameError::Empty);
        }
        Ok(DistinguishedName { rdns })
    }

    /// The DER encoding, as an ID_DER_ASN1_DN payload carries it: each value a PrintableString
    /// when it fits that alphabet (strongSwan's choice), a UTF8String otherwise.
    pub fn to_der(&self) -> Vec<u8> {
        let text = self
            .rdns
            .iter()
            .rev()
            .map(|rdn| {
                rdn.iter()
                    .map(|(oid, v)| format!("{}={}", oid, escape(v)))
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect::<Vec<_>>()
            .join(",");
        // x509-cert parses RFC 4514 text (least significant first) with dotted OIDs and
        // picks the string type per attribute.
        text.parse::<Name>()
            .ok()
            .and_then(|n| n.to_der().ok())
            .unwrap_or_default()
    }

    /// The value of the first attribute of type `oid` (the common name with [`OID_CN`]),
    /// searching from the most specific RDN.
    pub(crate) fn attribute(&self, oid: &ObjectIdentifier) -> Option<&str> {
        self.rdns
            .iter()
            .rev()
            .flat_map(|rdn| rdn.iter())
            .find(|(o, _)| o == oid)
            .map(|(_, v)| v.as_str())
    }

    /// The common name (CN), if the name has one.
    pub fn common_name(&self) -> Option<&str> {
        self.attribute(&OID_CN)
    }

    /// True when both name the same entity: same RDNs with equal types and values (ASCII case
    /// and string type ignored), in the same order or, for text written the other way round,
    /// in reverse order.
    pub fn matches(&self, other: &DistinguishedName) -> bool {
        self.matches_with(other, |p, v| p.eq_ignore_ascii_case(v))
    }

    /// Like [`matches`](Self::matches), with `*` in this name's values matching any run of
    /// characters (`CN=*.example.net`), for `peer-id` patterns with `matching = "wildcard"`.
    pub fn matches_pattern(&self, other: &DistinguishedName) -> bool {
        self.matches_with(other, |p, v| {
            crate::config::wildcard_match(
                p.to_ascii_lowercase().as_bytes(),
                v.to_ascii_lowercase().as_bytes(),
            )
        })
    }

    fn matches_with(&self, other: &DistinguishedName, eq: impl Fn(&str, &str) -> bool) -> bool {
        let rdn_eq = |a: &Vec<(ObjectIdentifier, String)>, b: &Vec<(ObjectIdentifier, String)>| {
            a.len() == b.len()
                && a.iter()
                    .all(|(o, v)| b.iter().any(|(p, w)| o == p && eq(v, w)))
        };
        let n = self.rdns.len();
        n == other.rdns.len()
            && (self.rdns.iter().zip(&other.rdns).all(|(a, b)| rdn_eq(a, b))
                || self
                    .rdns
                    .iter()
                    .rev()
                    .zip(&other.rdns)
                    .all(|(a, b)| rdn_eq(a, b)))
    }
}

impl fmt::Display for DistinguishedName {
    /// Most significant first, as strongSwan prints names: `C=CH, O=Example, CN=hq`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            for (j, (oid, v)) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str(" + ")?;
                }
                // Values come from peers: print them escaped (no control characters).
                write!(f, "{}={}", name_of(oid), crate::text::Escaped(v))?;
            }
        }
        Ok(())
    }
}

/// A value as text: the string types as they are, anything else as `#` and its DER in hex
/// (RFC 4514 section 2.4).
fn value_text(value: &der::Any) -> String {
    let any: AnyRef<'_> = value.into();
    let s = match any.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(any)
            .ok()
            .map(|s| s.to_string()),
        Tag::Utf8String => Utf8StringRef::try_from(any).ok().map(|s| s.to_string()),
        Tag::Ia5String => Ia5StringRef::try_from(any).ok().map(|s| s.to_string()),
        // TeletexString is Latin-1 in practice.
        Tag::TeletexString => Some(any.value().iter().map(|b| char::from(*b)).collect()),
        _ => None,
    };
    s.unwrap_or_else(|| {
        let der = value.to_der().unwrap_or_default();
        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
        format!("#{hex}")
    })
}

/// Splits at any of `seps` not preceded by `\`, dropping the escapes; empty pieces are skipped.
fn split_unescaped(text: &str, seps: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if !seps.contains(&n) {
                        cur.push('\\');
                    }
                    cur.push(n);
                }
            }
            c if seps.contains(&c) => {
                if !cur.trim().is_empty() {
                    out.push(core::mem::take(&mut cur));
                }
                cur.clear();
            }
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Escapes RFC 4514's special characters for x509-cert's parser.
fn escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_through_der() {
        let dn = DistinguishedName::parse("C=CH, O=ipsec-rs test, CN=hq.example.net").unwrap();
        assert_eq!(dn.to_string(), "C=CH, O=ipsec-rs test, CN=hq.example.net");
        assert_eq!(dn.common_name(), Some("hq.example.net"));
        let der = dn.to_der();
        assert_eq!(der[0], 0x30);
        let back = DistinguishedName::from_der(&der).unwrap();
        assert_eq!(back, dn);
    }

    #[test]
    fn both_orders_case_and_escapes() {
        let a = DistinguishedName::parse("C=CH, O=Example, CN=hq").unwrap();
        let b = DistinguishedName::parse("cn=HQ,o=example,c=ch").unwrap();
        assert!(a.matches(&b) && b.matches(&a));
        let c = DistinguishedName::parse("C=CH, O=Example, CN=hq2").unwrap();
        assert!(!a.matches(&c));
        let short = DistinguishedName::parse("O=Example, CN=hq").unwrap();
        assert!(!a.matches(&short));
        let esc = DistinguishedName::parse(r"O=Example\, Inc., CN=hq").unwrap();
        assert_eq!(esc.rdns.len(), 2);
        assert_eq!(esc.rdns[0][0].1, "Example, Inc.");
        let back = DistinguishedName::from_der(&esc.to_der()).unwrap();
        assert!(back.matches(&esc));
    }

    #[test]
    fn wildcards_apply_to_values() {
        let p = DistinguishedName::parse("C=CH, O=Example, CN=*.example.net").unwrap();
        let hq = DistinguishedName::parse("C=CH, O=Example, CN=hq.example.net").unwrap();
        assert!(p.matches_pattern(&hq));
        assert!(!p.matches(&hq));
        let other = DistinguishedName::parse("C=CH, O=Other, CN=hq.example.net").unwrap();
        assert!(!p.matches_pattern(&other));
    }

    #[test]
    fn bad_names() {
        assert_eq!(DistinguishedName::parse(""), Err(NameError::Empty));
        assert!(matches!(
            DistinguishedName::parse("CN hq"),
            Err(NameError::Text(_))
        ));
        assert!(matches!(
            DistinguishedName::parse("XYZ=1"),
            Err(NameError::Text(_))
        ));
        assert_eq!(
            DistinguishedName::parse("2.5.4.3=hq")
                .unwrap()
                .common_name(),
            Some("hq")
        );
        assert_eq!(
            DistinguishedName::from_der(&[0x30, 0x05]),
            Err(NameError::Der)
        );
        assert_eq!(DistinguishedName::from_der(b"CN=hq"), Err(NameError::Der));
    }
}
