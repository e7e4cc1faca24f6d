//! The resolved configuration an [`Endpoint`](crate::Endpoint) runs from.
//!
//! These types are the PAN-OS objects after validation and name resolution: an IKE gateway with
//! its crypto profile inlined ([`GatewayConfig`]), an IPsec tunnel with its crypto profile and proxy
//! IDs as traffic selectors ([`TunnelConfig`]). Everything is plain data; [`EndpointConfig::validate`]
//! checks cross references so the state machines never meet a dangling name.

use crate::error::ConfigError;
use crate::identity::{IdPattern, Identity};
use crate::proposal::{EspProposal, IkeProposal};
use core::time::Duration;
use ipsec_core::child_sa::Mode;
use ipsec_core::crypto::{SecretBytes, SignatureScheme};
use ipsec_core::pki::{CertificateField, LocalCredential, TrustStore};
use ipsec_core::selector::TrafficSelector;
use std::net::IpAddr;

/// Retransmission of requests: timeout of try `n` (0-based) is `timeout * (backoff_percent/100)^n`.
///
/// The default is strongSwan's (`retransmit_timeout = 4.0`, `retransmit_base = 1.8`,
/// `retransmit_tries = 5`): retransmits at 4, 11.2, 24.2, 47.5 and 89.5 s, giving up at 165 s.
/// PAN-OS retransmits IKEv2 requests on a similar back-off and gives up after 5 retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransmitPolicy {
    /// Wait before the first retransmission.
    pub timeout: Duration,
    /// Growth of each wait, in percent (180 = times 1.8).
    pub backoff_percent: u32,
    /// Retransmissions before giving up.
    pub retries: u32,
}

impl Default for RetransmitPolicy {
    fn default() -> Self {
        RetransmitPolicy {
            timeout: Duration::from_secs(4),
            backoff_percent: 180,
            retries: 5,
        }
    }
}

impl RetransmitPolicy {
    /// The wait after the `n`-th transmission (0 = the first), capped at one hour.
    pub fn wait(&self, n: u32) -> Duration {
        let mut d = self.timeout.as_micros();
        for _ in 0..n {
            d = d.saturating_mul(u128::from(self.backoff_percent)) / 100;
            if d > 3_600_000_000 {
                d = 3_600_000_000;
                break;
            }
        }
        Duration::from_micros(u64::try_from(d).unwrap_or(u64::MAX))
    }

    /// How long after the first transmission a request is given up: the sum of every wait
    /// (165 s with the default policy).
    pub fn give_up_after(&self) -> Duration {
        (0..=self.retries)
            .map(|n| self.wait(n))
            .fold(Duration::ZERO, Duration::saturating_add)
    }
}

/// Liveness checking (PAN-OS "dead peer detection"/IKEv2 liveness, RFC 7296 section 2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivenessConfig {
    /// Idle time after which an empty INFORMATIONAL request is sent (PAN-OS default 5 s).
    pub interval: Duration,
}

/// How the two ends of an IKE SA prove who they are (RFC 7296 section 2.15). Both ends use the
/// same method, as a PAN-OS IKE gateway configures it: the protocol would allow each end its
/// own, but the configuration model has one `authentication` per gateway.
#[derive(Clone, Debug)]
pub enum Authentication {
    /// A shared secret (AUTH method 2, "Shared Key Message Integrity Code"); zeroized on drop.
    PreSharedKey(SecretBytes),
    /// Certificates and digital signatures (RFC 7427 method 14, or the classic methods 1 and
    /// 9-11 with peers that do not announce RFC 7427).
    Certificate(Box<CertificateAuth>),
}

impl Authentication {
    /// The pre-shared key, when that is the method.
    pub fn pre_shared_key(&self) -> Option<&SecretBytes> {
        match self {
            Authentication::PreSharedKey(k) => Some(k),
            Authentication::Certificate(_) => None,
        }
    }

    /// The certificate settings, when that is the method.
    pub fn certificate(&self) -> Option<&CertificateAuth> {
        match self {
            Authentication::Certificate(c) => Some(c),
            Authentication::PreSharedKey(_) => None,
        }
    }
}

/// Certificate authentication: our credential, and how the peer's certificate is checked.
///
/// The peer's certificate (its first CERT payload; the others are intermediates) must chain to
/// a CA of `trust` at the wall-clock time the embedder gives the endpoint
/// ([`Endpoint::set_wall_clock`](crate::Endpoint::set_wall_clock)); the identity it sends must
/// be in that certificate (in `field`) unless `allow_id_mismatch`; its AUTH payload must be a
/// signature of its certificate's key over the octets of RFC 7296 section 2.15.
#[derive(Clone, Debug)]
pub struct CertificateAuth {
    /// Our certificate chain (sent as CERT payloads, end entity first) and private key.
    pub credential: LocalCredential,
    /// The CAs trusted to vouch for the peer (the certificate profile's); their key hashes are
    /// our CERTREQ payloads (RFC 7296 section 3.7).
    pub trust: TrustStore,
    /// Where in its certificate the peer's identity must appear.
    pub field: CertificateField,
    /// Accept a peer whose ID is not in its certificate (PAN-OS's "permit peer identification
    /// and certificate payload identification mismatch"). The certificate must still be valid
    /// and the signature its key's.
    pub allow_id_mismatch: bool,
    /// Announce and use RFC 7427 signature authentication (SIGNATURE_HASH_ALGORITHMS in
    /// IKE_SA_INIT, AUTH method 14). `false` makes this end use the classic methods only: RSA
    /// PKCS#1 v1.5 with SHA-1 (method 1) and ECDSA (methods 9-11, RFC 4754), as peers without
    /// RFC 7427 expect; an Ed25519 key then cannot sign. Default `true`.
    pub rfc7427: bool,
    /// The schemes we sign with, in order of preference, for method 14 (the first that suits
    /// our key and uses a hash the peer announced). Empty: [`SignatureScheme::ALL`]'s order
    /// (RSASSA-PSS before PKCS#1 v1.5).
    pub signature_schemes: Vec<SignatureScheme>,
}

impl CertificateAuth {
    /// Certificate authentication with `credential`, trusting `trust`, matching identities
    /// against subject or subjectAltName (RFC 4945), with RFC 7427.
    pub fn new(credential: LocalCredential, trust: TrustStore) -> Self {
        CertificateAuth {
            credential,
            trust,
            field: CertificateField::default(),
            allow_id_mismatch: false,
            rfc7427: true,
            signature_schemes: Vec::new(),
        }
    }
}

/// One IKE gateway: the peer, the identities, the authentication and the IKE crypto profile.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The `ike-gateway` name.
    pub name: String,
    /// Our address toward this peer.
    pub local_addr: IpAddr,
    /// The peer's address; `None` for a dynamic peer (any address, identified by its ID).
    pub peer_addr: Option<IpAddr>,
    /// The ID we send in IDi/IDr.
    pub local_id: Identity,
    /// The ID the peer must present; `None` accepts any ID (with a dynamic peer, the PSK or the
    /// certificate profile then identifies it).
    pub peer_id: Option<IdPattern>,
    /// How both ends authenticate.
    pub auth: Authentication,
    /// The IKE crypto profile as proposals, in our order of preference.
    pub ike_proposals: Vec<IkeProposal>,
    /// IKE SA lifetime (PAN-OS default 8 h).
    pub ike_lifetime: Duration,
    /// NAT traversal: send NAT detection notifies and float to port 4500 when NAT is detected.
    pub nat_traversal: bool,
    /// NAT-keepalive interval (RFC 3948 section 2.3; PAN-OS default 20 s): while we are behind a
    /// NAT, a one-byte 0xFF datagram goes to the peer's port 4500 this often to keep the
    /// mapping open. `None` disables keepalives.
    pub nat_keepalive: Option<Duration>,
    /// Force UDP encapsulation of ESP even without NAT, by sending a NAT_DETECTION_SOURCE_IP hash
    /// that cannot match (what strongSwan's `encap = yes` does).
    pub force_encapsulation: bool,
    /// Never initiate; only answer (PAN-OS "passive mode").
    pub passive: bool,
    /// Require a COOKIE round trip (RFC 7296 section 2.6) from every initiator.
    pub require_cookie: bool,
    /// Offer and use IKE fragmentation (RFC 7383).
    pub fragmentation: bool,
    /// Liveness checks; `None` disables them.
    pub liveness: Option<LivenessConfig>,
    /// Retransmission of our requests.
    pub retransmit: RetransmitPolicy,
}

/// One proxy ID: a local and a remote traffic selector (PAN-OS `proxy-id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyId {
    /// The proxy ID's name.
    pub name: String,
    /// Our side (TSi when we initiate).
    pub local: TrafficSelector,
    /// The peer's side.
    pub remote: TrafficSelector,
}

/// One IPsec tunnel: the gateway it runs over, the IPsec crypto profile and proxy IDs.
#[derive(Clone, Debug)]
pub struct TunnelConfig {
    /// The `ipsec-tunnel` name.
    pub name: String,
    /// The `ike-gateway` it uses (a [`GatewayConfig::name`]).
    pub gateway: String,
    /// The IPsec crypto profile as proposals, in our order of preference.
    pub esp_proposals: Vec<EspProposal>,
    /// Proxy IDs; empty means 0.0.0.0/0 both ways.
    pub proxy_ids: Vec<ProxyId>,
    /// Child SA lifetime (PAN-OS default 1 h).
    pub lifetime: Duration,
    /// Child SA volume limit in bytes (the IPsec crypto profile's `lifesize`); `None` for no
    /// limit. The datapath enforces it: the soft limit (90 %) asks for a rekey, the hard one
    /// ends the SA.
    pub lifesize: Option<u64>,
    /// Tunnel or transport mode.
    pub mode: Mode,
    /// Anti-replay window in packets (PAN-OS default 1024); 0 disables it.
    pub replay_window: u32,
}

/// Everything one endpoint runs: gateways and tunnels, plus endpoint-wide limits.
#[derive(Clone, Debug, Default)]
pub struct EndpointConfig {
    /// IKE gateways.
    pub gateways: Vec<GatewayConfig>,
    /// IPsec tunnels.
    pub tunnels: Vec<TunnelConfig>,
    /// Half-open IKE SAs above which every new initiator must return a cookie (RFC 7296 2.6).
    pub cookie_threshold: usize,
    /// Half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet done) the endpoint keeps at
    /// most, whatever their source; a further IKE_SA_INIT is dropped, cookie or not (strongSwan's
    /// `init_limit_half_open`). Default 1024.
    pub half_open_limit: usize,
    /// Half-open IKE SAs one peer address may hold; a further IKE_SA_INIT from it is dropped,
    /// cookie or not (strongSwan's `block_threshold`). Default 5.
    pub half_open_per_address: usize,
    /// Largest IKE datagram we send before fragmenting (when the peer supports it), in bytes of
    /// IKE message (RFC 7383 section 2.5.1 suggests 1280 minus IP and UDP headers).
    pub fragment_size: usize,
    /// Wait before retrying a restart that failed. When dead-peer detection tears down the IKE
    /// SA of a non-passive gateway with a peer address, the endpoint starts over on its own;
    /// like PAN-OS it keeps trying when that attempt fails, waiting this long after the first
    /// failure and twice as long after each further one, up to
    /// [`restart_retry_max`](Self::restart_retry_max). A restart that establishes resets the
    /// wait; deleting the IKE SA by command does not restart it. Default 5 s.
    pub restart_retry: Duration,
    /// Longest wait between restart attempts (see [`restart_retry`](Self::restart_retry)).
    /// Default 5 minutes.
    pub restart_retry_max: Duration,
    /// Child SAs one IKE SA carries at most: a peer asking for another new one is refused with
    /// NO_ADDITIONAL_SAS (RFC 7296 section 1.3). Never fewer than the proxy IDs of the
    /// gateway's tunnels (one Child SA each). Rekeys do not count until the IKE SA carries
    /// twice as many (the old and the new SA of each rekey). Default 64.
    pub max_child_sas: usize,
}

impl EndpointConfig {
    /// An empty configuration with PAN-OS-like defaults for the endpoint-wide limits.
    pub fn new() -> Self {
        EndpointConfig {
            gateways: Vec::new(),
            tunnels: Vec::new(),
            cookie_threshold: 64,
            half_open_limit: 1024,
            half_open_per_address: 5,
            fragment_size: 1200,
            restart_retry: Duration::from_secs(5),
            restart_retry_max: Duration::from_secs(300),
            max_child_sas: 64,
        }
    }

    /// Checks cross references and required fields; the error names the object and field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        use ConfigError::Invalid as Config;
        for (i, g) in self.gateways.iter().enumerate() {
            if self.gateways[..i].iter().any(|o| o.name == g.name) {
                return Err(Config(format!("ike-gateway \"{}\": defined twice", g.name)));
            }
            if g.ike_proposals.is_empty() || g.ike_proposals.iter().any(|p| !p.is_complete()) {
                return Err(Config(format!(
                    "ike-gateway \"{}\": ike-crypto-profile needs encryption, prf/hash and dh-group",
                    g.name
                )));
            }
            match &g.auth {
                Authentication::PreSharedKey(k) if k.is_empty() => {
                    return Err(Config(format!(
                        "ike-gateway \"{}\": pre-shared-key is empty",
                        g.name
                    )));
                }
                Authentication::Certificate(c) if c.trust.cas().is_empty() => {
                    return Err(Config(format!(
                        "ike-gateway \"{}\": certificate authentication trusts no CA",
                        g.name
                    )));
                }
                _ => {}
            }
            if let Some(p) = g.peer_addr {
                if p.is_ipv4() != g.local_addr.is_ipv4() {
                    return Err(Config(format!(
                        "ike-gateway \"{}\": local-address and peer-address differ in family",
                        g.name
                    )));
                }
            }
        }
        for (i, t) in self.tunnels.iter().enumerate() {
            if self.tunnels[..i].iter().any(|o| o.name == t.name) {
                return Err(Config(format!(
                    "ipsec-tunnel \"{}\": defined twice",
                    t.name
                )));
            }
            if !self.gateways.iter().any(|g| g.name == t.gateway) {
                return Err(Config(format!(
                    "ipsec-tunnel \"{}\": ike-gateway \"{}\" is not defined",
                    t.name, t.gateway
                )));
            }
            if t.esp_proposals.is_empty() || t.esp_proposals.iter().any(|p| !p.is_complete()) {
                return Err(Config(format!(
                    "ipsec-tunnel \"{}\": ipsec-crypto-profile needs encryption",
                    t.name
                )));
            }
        }
        Ok(())
    }

    /// The gateway named `name`.
    pub fn gateway(&self, name: &str) -> Option<&GatewayConfig> {
        self.gateways.iter().find(|g| g.name == name)
    }

    /// The tunnel named `name`.
    pub fn tunnel(&self, name: &str) -> Option<&TunnelConfig> {
        self.tunnels.iter().find(|t| t.name == name)
    }

    /// The Child SAs an IKE SA of `gateway` may carry (see
    /// [`max_child_sas`](Self::max_child_sas)).
    pub fn child_sa_limit(&self, gateway: &str) -> usize {
        let proxy_ids: usize = self
            .tunnels_of(gateway)
            .map(|t| t.proxy_ids.len().max(1))
            .sum();
        self.max_child_sas.max(proxy_ids)
    }

    /// The tunnels that run over gateway `gateway`.
    pub fn tunnels_of<'a>(&'a self, gateway: &'a str) -> impl Iterator<Item = &'a TunnelConfig> {
        self.tunnels.iter().filter(move |t| t.gateway == gateway)
    }
}

/// The selector covering every address of `family_of`'s family, any protocol and port.
pub(crate) fn any_selector(family_of: IpAddr) -> TrafficSelector {
    let (start_addr, end_addr) = match family_of {
        IpAddr::V4(_) => (
            IpAddr::V4([0, 0, 0, 0].into()),
            IpAddr::V4([255, 255, 255, 255].into()),
        ),
        IpAddr::V6(_) => (IpAddr::V6(0u128.into()), IpAddr::V6(u128::MAX.into())),
    };
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr,
        end_addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_backoff_is_strongswans() {
        let p = RetransmitPolicy::default();
        let waits: Vec<u128> = (0..=5).map(|n| p.wait(n).as_millis()).collect();
        assert_eq!(waits, vec![4000, 7200, 12960, 23328, 41990, 75582]);
        // 4 + 7.2 + 12.96 + 23.328 + 41.9904 + 75.58272 s.
        assert_eq!(p.give_up_after().as_micros(), 165_061_120);
    }
}
