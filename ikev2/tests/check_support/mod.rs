//! Random pairs of firewall configurations for the negotiation checker's property tests: a
//! small spec per side (profiles, PFS, identities, key, passive, NAT-T, tunnels with proxy IDs)
//! that proptest generates and shrinks, rendered as the PAN-OS TOML a user would write, so a
//! failing case prints two files to give `ipsec-gateway check`.

use proptest::prelude::*;
use std::fmt::Write;

/// Which firewall of the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Who {
    Left,
    Right,
}

const IKE_ENC: &[&str] = &["aes-256-gcm", "aes-128-gcm", "aes-256-cbc", "aes-128-cbc"];
const IKE_HASH: &[&str] = &["sha256", "sha384"];
// Curve25519 and P-256 only: MODP and larger curves take tens of milliseconds per key exchange
// in unoptimised test builds, and two groups are enough to exercise group choice.
const DH: &[&str] = &["group31", "group19"];
const ESP_ENC: &[&str] = &["aes-128-gcm", "aes-256-gcm", "aes-128-cbc", "aes-256-cbc"];
const ESP_AUTH: &[&[&str]] = &[&["none"], &["sha256"], &["sha384", "sha256"]];
const PFS: &[&str] = &["no-pfs", "group31", "group19"];
const IDS: &[&str] = &["left.example.net", "right.example.net", "RIGHT.example.net"];
const PATTERNS: &[&str] = &["*.example.net", "right*", "*.example.org"];
const PSKS: &[&str] = &["correct horse battery staple", "another key entirely"];
/// Prefixes on the left's side and on the right's side; /16s overlap the /24s.
const LEFT_NETS: &[&str] = &["10.1.0.0/16", "10.1.1.0/24", "10.1.2.0/24", "10.9.0.0/24"];
const RIGHT_NETS: &[&str] = &["10.2.0.0/16", "10.2.1.0/24", "10.2.2.0/24"];
/// Proxy ID protocols as seen from the side that writes them (TCP ports are mirrored).
const PROTOCOLS: &[(&str, &str)] = &[
    ("\"any\"", "\"any\""),
    ("{ number = 1 }", "{ number = 1 }"),
    (
        "{ tcp = { remote-port = 443 } }",
        "{ tcp = { local-port = 443 } }",
    ),
];

/// The identity a side sends: its address, or one of [`IDS`] as an FQDN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LocalId {
    Address,
    Fqdn(usize),
}

/// The identity a side requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerId {
    Any,
    /// The peer's address.
    Address,
    Fqdn(usize),
    Wildcard(usize),
}

/// One proxy ID, written from the left's point of view (local on the left's nets); the right
/// writes the mirror image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Proxy {
    pub(crate) left_net: usize,
    pub(crate) right_net: usize,
    pub(crate) protocol: usize,
}

/// One firewall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Side {
    pub(crate) ike_enc: Vec<usize>,
    pub(crate) ike_hash: Vec<usize>,
    pub(crate) ike_dh: Vec<usize>,
    pub(crate) ike_hours: u32,
    pub(crate) esp_enc: Vec<usize>,
    pub(crate) esp_auth: usize,
    pub(crate) pfs: usize,
    pub(crate) esp_hours: u32,
    pub(crate) local_id: LocalId,
    pub(crate) peer_id: PeerId,
    pub(crate) psk: usize,
    pub(crate) passive: bool,
    pub(crate) nat_t: bool,
    pub(crate) transport: bool,
    /// Tunnels, each with its proxy IDs (none: 0.0.0.0/0 both ways).
    pub(crate) tunnels: Vec<Vec<Proxy>>,
}

/// A pair of firewalls and who initiates.
#[derive(Clone, Debug)]
pub(crate) struct PairSpec {
    pub(crate) left: Side,
    pub(crate) right: Side,
    pub(crate) initiator: Who,
    /// A NAT in front of the left: the right then has a dynamic peer and the left initiates.
    pub(crate) nat: bool,
}

impl PairSpec {
    /// Who initiates: the left whenever there is a NAT.
    pub(crate) fn initiator(&self) -> Who {
        if self.nat {
            Who::Left
        } else {
            self.initiator
        }
    }

    /// The left's configuration.
    pub(crate) fn left_toml(&self) -> String {
        self.left.toml(Who::Left, false)
    }

    /// The right's configuration.
    pub(crate) fn right_toml(&self) -> String {
        self.right.toml(Who::Right, self.nat)
    }
}

fn subset(n: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=n.min(3)).prop_shuffle()
}

fn proxy() -> impl Strategy<Value = Proxy> {
    (0..LEFT_NETS.len(), 0..RIGHT_NETS.len(), 0..PROTOCOLS.len()).prop_map(
        |(left_net, right_net, protocol)| Proxy {
            left_net,
            right_net,
            protocol,
        },
    )
}

fn tunnels() -> impl Strategy<Value = Vec<Vec<Proxy>>> {
    proptest::collection::vec(proptest::collection::vec(proxy(), 0..=3), 1..=2)
}

fn side(me: usize) -> impl Strategy<Value = Side> {
    let peer = 1 - me;
    (
        (
            subset(IKE_ENC.len()),
            subset(IKE_HASH.len()),
            subset(DH.len()),
        ),
        (
            1u32..=2,
            subset(ESP_ENC.len()),
            0..ESP_AUTH.len(),
            0..PFS.len(),
            1u32..=2,
        ),
        (
            prop_oneof![5 => Just(LocalId::Fqdn(me)), 1 => Just(LocalId::Address)],
            prop_oneof![
                8 => Just(PeerId::Fqdn(peer)),
                1 => Just(PeerId::Any),
                1 => Just(PeerId::Address),
                1 => (0..IDS.len()).prop_map(PeerId::Fqdn),
                1 => (0..PATTERNS.len()).prop_map(PeerId::Wildcard),
            ],
        ),
        (
            prop_oneof![4 => Just(0usize), 1 => Just(1usize)],
            prop_oneof![5 => Just(false), 1 => Just(true)],
            any::<bool>(),
            prop_oneof![5 => Just(false), 1 => Just(true)],
            tunnels(),
        ),
    )
        .prop_map(
            |(
                (ike_enc, ike_hash, ike_dh),
                (ike_hours, esp_enc, esp_auth, pfs, esp_hours),
                (local_id, peer_id),
                (psk, passive, nat_t, transport, tunnels),
            )| Side {
                ike_enc,
                ike_hash,
                ike_dh,
                ike_hours: ike_hours * 4,
                esp_enc,
                esp_auth,
                pfs,
                esp_hours,
                local_id,
                peer_id,
                psk,
                passive,
                nat_t,
                transport,
                tunnels,
            },
        )
}

/// Pairs where most fields of the right side copy the left's (so that most pairs get far into
/// the negotiation), each field replaced by an independent one now and then.
pub(crate) fn pair() -> impl Strategy<Value = PairSpec> {
    (
        side(0),
        side(1),
        proptest::collection::vec(prop_oneof![4 => Just(true), 1 => Just(false)], 12),
        prop_oneof![Just(Who::Left), Just(Who::Right)],
        prop_oneof![5 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(left, other, keep, initiator, nat)| {
            let k = |i: usize| keep[i];
            let right = Side {
                ike_enc: if k(0) {
                    left.ike_enc.clone()
                } else {
                    other.ike_enc
                },
                ike_hash: if k(1) {
                    left.ike_hash.clone()
                } else {
                    other.ike_hash
                },
                ike_dh: if k(2) {
                    left.ike_dh.clone()
                } else {
                    other.ike_dh
                },
                ike_hours: if k(3) {
                    left.ike_hours
                } else {
                    other.ike_hours
                },
                esp_enc: if k(4) {
                    left.esp_enc.clone()
                } else {
                    other.esp_enc
                },
                esp_auth: if k(5) { left.esp_auth } else { other.esp_auth },
                pfs: if k(6) { left.pfs } else { other.pfs },
                esp_hours: if k(7) {
                    left.esp_hours
                } else {
                    other.esp_hours
                },
                local_id: other.local_id,
                peer_id: other.peer_id,
                psk: if k(8) { left.psk } else { other.psk },
                passive: other.passive,
                nat_t: other.nat_t,
                transport: if k(9) {
                    left.transport
                } else {
                    other.transport
                },
                tunnels: if k(10) {
                    left.tunnels.clone()
                } else {
                    other.tunnels
                },
            };
            PairSpec {
                left,
                right,
                initiator,
                nat,
            }
        })
}

const LEFT_IP: &str = "192.0.2.1";
const RIGHT_IP: &str = "192.0.2.2";

fn list(names: &[&str], idx: &[usize]) -> String {
    let v: Vec<String> = idx.iter().map(|i| format!("\"{}\"", names[*i])).collect();
    format!("[{}]", v.join(", "))
}

impl Side {
    /// The side as a PAN-OS TOML configuration, with a dynamic peer when `dynamic_peer`.
    /// Tunnels are named `lt1`, `lt2`... on the left and `rt1`... on the right, proxy IDs `p1`,
    /// `p2`... in each tunnel.
    fn toml(&self, who: Who, dynamic_peer: bool) -> String {
        let (me, peer, prefix) = match who {
            Who::Left => (LEFT_IP, RIGHT_IP, "lt"),
            Who::Right => (RIGHT_IP, LEFT_IP, "rt"),
        };
        let mut t = String::new();
        let w = &mut t;
        let _ = writeln!(w, "[[ike-crypto-profile]]\nname = \"ike\"");
        let _ = writeln!(w, "dh-group = {}", list(DH, &self.ike_dh));
        let _ = writeln!(w, "hash = {}", list(IKE_HASH, &self.ike_hash));
        let _ = writeln!(w, "encryption = {}", list(IKE_ENC, &self.ike_enc));
        let _ = writeln!(w, "lifetime = {{ hours = {} }}\n", self.ike_hours);
        let has_cbc = self.esp_enc.iter().any(|e| ESP_ENC[*e].ends_with("cbc"));
        // CBC needs an integrity algorithm; "none" alone would leave it without a proposal.
        let auth = match ESP_AUTH[self.esp_auth] {
            ["none"] if has_cbc => &["sha256"][..],
            a => a,
        };
        let auth: Vec<String> = auth.iter().map(|a| format!("\"{a}\"")).collect();
        let _ = writeln!(
            w,
            "[[ipsec-crypto-profile]]\nname = \"esp\"\nprotocol = \"esp\""
        );
        let _ = writeln!(w, "encryption = {}", list(ESP_ENC, &self.esp_enc));
        let _ = writeln!(w, "authentication = [{}]", auth.join(", "));
        let _ = writeln!(w, "dh-group = \"{}\"", PFS[self.pfs]);
        let _ = writeln!(w, "lifetime = {{ hours = {} }}\n", self.esp_hours);
        let _ = writeln!(w, "[[ike-gateway]]\nname = \"gw\"\nversion = \"ikev2\"");
        let _ = writeln!(
            w,
            "local-address = {{ interface = \"ethernet1/1\", ip = \"{me}\" }}"
        );
        if dynamic_peer {
            let _ = writeln!(w, "peer-address = \"dynamic\"");
        } else {
            let _ = writeln!(w, "peer-address = {{ ip = \"{peer}\" }}");
        }
        let _ = writeln!(
            w,
            "authentication = {{ pre-shared-key = \"{}\" }}",
            PSKS[self.psk]
        );
        if let LocalId::Fqdn(i) = self.local_id {
            let _ = writeln!(w, "local-id = {{ type = \"fqdn\", id = \"{}\" }}", IDS[i]);
        }
        match self.peer_id {
            PeerId::Any => {}
            PeerId::Address => {
                let _ = writeln!(w, "peer-id = {{ type = \"ipaddr\", id = \"{peer}\" }}");
            }
            PeerId::Fqdn(i) => {
                let _ = writeln!(w, "peer-id = {{ type = \"fqdn\", id = \"{}\" }}", IDS[i]);
            }
            PeerId::Wildcard(i) => {
                let _ = writeln!(
                    w,
                    "peer-id = {{ type = \"fqdn\", id = \"{}\", matching = \"wildcard\" }}",
                    PATTERNS[i]
                );
            }
        }
        let _ = writeln!(w, "ike-crypto-profile = \"ike\"");
        let _ = writeln!(w, "passive-mode = {}", self.passive);
        let _ = writeln!(w, "liveness-check = {{ enable = false }}");
        let _ = writeln!(w, "nat-traversal = {{ enable = {} }}\n", self.nat_t);
        let _ = writeln!(w, "[[zone]]\nname = \"vpn\"\n");
        for (ti, proxies) in self.tunnels.iter().enumerate() {
            let n = ti + 1;
            let _ = writeln!(
                w,
                "[[tunnel-interface]]\nname = \"tunnel.{n}\"\nzone = \"vpn\"\n"
            );
            let _ = writeln!(w, "[[ipsec-tunnel]]\nname = \"{prefix}{n}\"");
            let _ = writeln!(w, "tunnel-interface = \"tunnel.{n}\"");
            let _ = writeln!(w, "ike-gateway = \"gw\"\nipsec-crypto-profile = \"esp\"");
            if self.transport {
                let _ = writeln!(w, "ipsec-mode = \"transport\"");
            }
            for (pi, p) in proxies.iter().enumerate() {
                let (l, r) = (LEFT_NETS[p.left_net], RIGHT_NETS[p.right_net]);
                let (local, remote, proto) = match who {
                    Who::Left => (l, r, PROTOCOLS[p.protocol].0),
                    Who::Right => (r, l, PROTOCOLS[p.protocol].1),
                };
                let _ = writeln!(w, "\n[[ipsec-tunnel.proxy-id]]\nname = \"p{}\"", pi + 1);
                let _ = writeln!(w, "local = \"{local}\"\nremote = \"{remote}\"");
                let _ = writeln!(w, "protocol = {proto}");
            }
            let _ = writeln!(w);
        }
        t
    }
}
