//! IKE identities (RFC 7296 section 3.5) and the patterns a gateway's `peer-id` matches them with.

use base16ct::HexDisplay;
use core::fmt;
use ipsec_core::pki::{DistinguishedName, PeerIdentity};
use ipsec_core::text::Escaped;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An identity as carried in IDi/IDr.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// ID_IPV4_ADDR / ID_IPV6_ADDR.
    Ip(IpAddr),
    /// ID_FQDN (`vpn.example.com`).
    Fqdn(String),
    /// ID_RFC822_ADDR (`user@example.com`, PAN-OS "User FQDN").
    UserFqdn(String),
    /// ID_KEY_ID: opaque bytes.
    KeyId(Vec<u8>),
    /// ID_DER_ASN1_DN: a distinguished name in DER.
    Dn(Vec<u8>),
    /// Any other ID type, kept verbatim.
    Other(u8, Vec<u8>),
}

/// ID type numbers (RFC 7296 section 3.5).
mod id_type {
    pub(super) const IPV4: u8 = 1;
    pub(super) const FQDN: u8 = 2;
    pub(super) const RFC822: u8 = 3;
    pub(super) const IPV6: u8 = 5;
    pub(super) const DER_ASN1_DN: u8 = 9;
    pub(super) const KEY_ID: u8 = 11;
}

impl Identity {
    /// The ID type number.
    pub fn id_type(&self) -> u8 {
        match self {
            Identity::Ip(IpAddr::V4(_)) => id_type::IPV4,
            Identity::Ip(IpAddr::V6(_)) => id_type::IPV6,
            Identity::Fqdn(_) => id_type::FQDN,
            Identity::UserFqdn(_) => id_type::RFC822,
            Identity::KeyId(_) => id_type::KEY_ID,
            Identity::Dn(_) => id_type::DER_ASN1_DN,
            Identity::Other(t, _) => *t,
        }
    }

    /// The identification data.
    pub fn data(&self) -> Vec<u8> {
        match self {
            Identity::Ip(IpAddr::V4(a)) => a.octets().to_vec(),
            Identity::Ip(IpAddr::V6(a)) => a.octets().to_vec(),
            Identity::Fqdn(s) | Identity::UserFqdn(s) => s.as_bytes().to_vec(),
            Identity::KeyId(d) | Identity::Dn(d) | Identity::Other(_, d) => d.clone(),
        }
    }

    /// Decodes an ID payload's type and data; malformed addresses and non-UTF-8 names are kept as
    /// [`Identity::Other`] so they never match a configured pattern by accident.
    pub fn from_wire(ty: u8, data: &[u8]) -> Identity {
        match ty {
            id_type::IPV4 => match <[u8; 4]>::try_from(data) {
                Ok(a) => Identity::Ip(IpAddr::V4(Ipv4Addr::from(a))),
                Err(_) => Identity::Other(ty, data.to_vec()),
            },
            id_type::IPV6 => match <[u8; 16]>::try_from(data) {
                Ok(a) => Identity::Ip(IpAddr::V6(Ipv6Addr::from(a))),
                Err(_) => Identity::Other(ty, data.to_vec()),
            },
            id_type::FQDN | id_type::RFC822 => match core::str::from_utf8(data) {
                Ok(s) if ty == id_type::FQDN => Identity::Fqdn(s.to_owned()),
                Ok(s) => Identity::UserFqdn(s.to_owned()),
                Err(_) => Identity::Other(ty, data.to_vec()),
            },
            id_type::KEY_ID => Identity::KeyId(data.to_vec()),
            id_type::DER_ASN1_DN => Identity::Dn(data.to_vec()),
            _ => Identity::Other(ty, data.to_vec()),
        }
    }

    /// The identity as [`ipsec_core::pki::check_identity`] matches it against a certificate;
    /// `None` for a type no certificate carries.
    pub fn as_peer_identity(&self) -> Option<PeerIdentity<'_>> {
        Some(match self {
            Identity::Ip(a) => PeerIdentity::Ip(*a),
            Identity::Fqdn(s) => PeerIdentity::Fqdn(s),
            Identity::UserFqdn(s) => PeerIdentity::Email(s),
            Identity::Dn(d) => PeerIdentity::Dn(d),
            Identity::KeyId(k) => PeerIdentity::KeyId(k),
            Identity::Other(..) => return None,
        })
    }

    /// The body of an ID payload after its generic header (type, 3 reserved bytes, data): what
    /// `MACedIDFor*` is computed over (RFC 7296 section 2.15).
    pub fn payload_body(&self) -> Vec<u8> {
        let mut v = vec![self.id_type(), 0, 0, 0];
        v.extend_from_slice(&self.data());
        v
    }
}

impl fmt::Display for Identity {
    /// `fqdn:hq.example.net`, `dn:C=CH, O=Example, CN=hq`: the PAN-OS type and the identity.
    /// Names come from peers and are escaped (no control characters reach a log line); a DN
    /// that does not decode prints as hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ip(a) => write!(f, "ipaddr:{a}"),
            Identity::Fqdn(s) => write!(f, "fqdn:{}", Escaped(s)),
            Identity::UserFqdn(s) => write!(f, "ufqdn:{}", Escaped(s)),
            Identity::KeyId(d) => write!(f, "keyid:{:x}", HexDisplay(d)),
            Identity::Dn(d) => match DistinguishedName::from_der(d) {
                Ok(dn) => write!(f, "dn:{dn}"),
                Err(_) => write!(f, "dn:{:x}", HexDisplay(d)),
            },
            Identity::Other(t, d) => write!(f, "type{t}:{:x}", HexDisplay(d)),
        }
    }
}

/// A configured `peer-id`: an exact identity, or a name pattern with `*` wildcards
/// (`*.branch.example.com`, `*@example.com`, `C=CH, O=Example, CN=*`), compared
/// case-insensitively as DNS names are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdPattern {
    /// Matches exactly this identity (type and data; names without regard to ASCII case, DNs
    /// by value, since peers encode the same name with different string types).
    Exact(Identity),
    /// An ID_FQDN whose name matches the glob.
    FqdnGlob(String),
    /// An ID_RFC822_ADDR whose address matches the glob.
    UserFqdnGlob(String),
    /// An ID_DER_ASN1_DN with the same attributes, whose values match the pattern's (`*` in a
    /// pattern value matches any run of characters).
    DnGlob(DistinguishedName),
}

impl IdPattern {
    /// True when `id` is acceptable.
    pub fn matches(&self, id: &Identity) -> bool {
        match (self, id) {
            (IdPattern::Exact(Identity::Fqdn(a)), Identity::Fqdn(b))
            | (IdPattern::Exact(Identity::UserFqdn(a)), Identity::UserFqdn(b)) => {
                a.eq_ignore_ascii_case(b)
            }
            (IdPattern::Exact(Identity::Dn(a)), Identity::Dn(b)) => {
                a == b
                    || matches!(
                        (DistinguishedName::from_der(a), DistinguishedName::from_der(b)),
                        (Ok(a), Ok(b)) if a.matches(&b)
                    )
            }
            (IdPattern::DnGlob(p), Identity::Dn(d)) => {
                DistinguishedName::from_der(d).is_ok_and(|dn| p.matches_pattern(&dn))
            }
            (IdPattern::Exact(e), id) => e == id,
            (IdPattern::FqdnGlob(g), Identity::Fqdn(n))
            | (IdPattern::UserFqdnGlob(g), Identity::UserFqdn(n)) => {
                glob(&g.to_ascii_lowercase(), &n.to_ascii_lowercase())
            }
            _ => false,
        }
    }
}

impl fmt::Display for IdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdPattern::Exact(id) => id.fmt(f),
            IdPattern::FqdnGlob(g) => write!(f, "fqdn:{g}"),
            IdPattern::UserFqdnGlob(g) => write!(f, "ufqdn:{g}"),
            IdPattern::DnGlob(p) => write!(f, "dn:{p}"),
        }
    }
}

/// `*` matches any run of characters (including none); everything else matches itself. Iterative
/// with one backtrack point, so the work is bounded by `pattern.len() * name.len()`.
fn glob(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_identities_print_as_lower_case_hex() {
        assert_eq!(Identity::KeyId(vec![0x0a, 0xbc]).to_string(), "keyid:0abc");
        assert_eq!(Identity::Dn(vec![0x30, 0xff]).to_string(), "dn:30ff");
    }

    #[test]
    fn exact_and_wildcard_matching() {
        let id = Identity::Fqdn("GW1.Branch.example.com".into());
        assert!(IdPattern::Exact(Identity::Fqdn("gw1.branch.example.com".into())).matches(&id));
        assert!(IdPattern::FqdnGlob("*.branch.example.com".into()).matches(&id));
        assert!(IdPattern::FqdnGlob("gw*.*.example.com".into()).matches(&id));
        assert!(!IdPattern::FqdnGlob("*.hq.example.com".into()).matches(&id));
        assert!(!IdPattern::UserFqdnGlob("*".into()).matches(&id));
        let ip = Identity::Ip("192.0.2.1".parse().unwrap());
        assert!(IdPattern::Exact(ip.clone()).matches(&ip));
        assert!(!IdPattern::Exact(Identity::Ip("192.0.2.2".parse().unwrap())).matches(&ip));
        assert!(IdPattern::UserFqdnGlob("*@example.com".into())
            .matches(&Identity::UserFqdn("a@example.com".into())));
    }

    #[test]
    fn dns_match_by_value_and_print_as_text() {
        let dn = |s: &str| DistinguishedName::parse(s).unwrap();
        let id = Identity::Dn(dn("C=CH, O=Example, CN=hq.example.net").to_der());
        assert_eq!(id.to_string(), "dn:C=CH, O=Example, CN=hq.example.net");
        // Another spelling of the same name (case, order) is the same identity.
        let same = Identity::Dn(dn("cn=HQ.example.net, o=example, c=ch").to_der());
        assert!(IdPattern::Exact(same).matches(&id));
        let other = Identity::Dn(dn("C=CH, O=Example, CN=branch.example.net").to_der());
        assert!(!IdPattern::Exact(other).matches(&id));
        assert!(IdPattern::DnGlob(dn("C=CH, O=Example, CN=*.example.net")).matches(&id));
        assert!(!IdPattern::DnGlob(dn("C=CH, O=Other, CN=*")).matches(&id));
        assert!(!IdPattern::DnGlob(dn("CN=*")).matches(&Identity::Fqdn("hq".into())));
        // Garbage that claims to be a DN prints as hex and matches nothing but itself.
        let junk = Identity::Dn(vec![0x30, 0x01]);
        assert_eq!(junk.to_string(), "dn:3001");
        assert!(!IdPattern::DnGlob(dn("CN=*")).matches(&junk));
        // Peer text never reaches a log line raw.
        assert_eq!(
            Identity::Fqdn("a\nb\x1b".into()).to_string(),
            "fqdn:a\\nb\\u{1b}"
        );
    }

    #[test]
    fn wire_round_trip_and_malformed_ids() {
        for id in [
            Identity::Ip("2001:db8::1".parse().unwrap()),
            Identity::Fqdn("x.test".into()),
            Identity::KeyId(vec![1, 2]),
        ] {
            assert_eq!(Identity::from_wire(id.id_type(), &id.data()), id);
        }
        assert_eq!(
            Identity::from_wire(1, &[1, 2, 3]),
            Identity::Other(1, vec![1, 2, 3])
        );
        assert_eq!(
            Identity::Fqdn("a".into()).payload_body(),
            vec![2, 0, 0, 0, b'a']
        );
    }
}
