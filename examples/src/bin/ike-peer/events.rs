//! Endpoint events as machine-readable lines: `EVENT <kind> key=value ...`.
//!
//! Values never contain spaces, so a line splits on whitespace. Algorithms print with their IANA
//! names (`enc=ENCR_AES_GCM_16-128 integ=NONE prf=PRF_HMAC_SHA2_256 dh=CURVE25519`), SPIs in
//! lowercase hex without `0x` (IKE SPIs 16 digits, ESP SPIs 8), as strongSwan's `swanctl
//! --list-sas` prints them. Failure lines carry `notify=` with the notify that the failure maps to
//! on the wire (RFC 7296 section 3.10.1 names), or `notify=none` for failures without one
//! (timeouts).

use ikev2::event::{Event, Reason};
use ipsec_core::selector::TrafficSelector;
use std::fmt::Write as _;

/// How an event moves a run toward its end condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An IKE SA is established.
    IkeUp,
    /// A Child SA is installed.
    ChildUp,
    /// A negotiation failed.
    Failure,
    /// An established IKE SA went down (deleted, expired, dead peer).
    IkeDown,
    /// An ESP echo reply came back (see `probe.rs`).
    EchoReply,
    /// Neither.
    Other,
}

/// The outcome of `event`.
pub(crate) fn outcome(event: &Event) -> Outcome {
    match event {
        Event::IkeSaUp { .. } => Outcome::IkeUp,
        Event::ChildSaUp { .. } => Outcome::ChildUp,
        Event::Phase1Failed { .. } | Event::Phase2Failed { .. } | Event::NoGateway { .. } => {
            Outcome::Failure
        }
        Event::IkeSaDown { .. } => Outcome::IkeDown,
        Event::ChildSaDown { .. } | Event::ChildSaOutbound { .. } => Outcome::Other,
    }
}

/// `value` as one word of an event line: `-` for none, spaces as `_`.
fn word(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.replace(char::is_whitespace, "_"))
}

/// The wire name of the notify a failure reason stands for (its number when unnamed), or `none`.
fn notify(reason: &Reason) -> String {
    reason
        .notify()
        .map_or_else(|| "none".to_owned(), |n| n.to_string())
}

/// A short, space-free name for a reason (`reason=timeout`).
fn reason_kind(reason: &Reason) -> &'static str {
    match reason {
        Reason::NoProposalChosen { .. } => "no-proposal-chosen",
        Reason::AuthenticationFailed(_) => "authentication-failed",
        Reason::TsUnacceptable { .. } => "ts-unacceptable",
        Reason::PeerNotify(_) => "peer-notify",
        Reason::Timeout => "timeout",
        Reason::DeadPeer => "dead-peer",
        Reason::DeletedByPeer => "deleted-by-peer",
        Reason::DeletedLocally => "deleted-locally",
        Reason::Expired => "expired",
        Reason::Malformed(_) => "malformed",
        Reason::PeerMisbehaved(_) => "peer-misbehaved",
        Reason::Local(_) => "local-failure",
        Reason::IkeSaGone => "ike-sa-gone",
        Reason::PeerRestarted => "peer-restarted",
    }
}

fn selectors(ts: &[TrafficSelector]) -> String {
    if ts.is_empty() {
        return "-".to_owned();
    }
    ts.iter().map(|t| t.short()).collect::<Vec<_>>().join(",")
}

/// One `EVENT ...` line for `event`.
pub(crate) fn event_line(event: &Event) -> String {
    let mut s = String::from("EVENT ");
    // Writing to a String cannot fail.
    let _ = match event {
        Event::IkeSaUp {
            gateway,
            role,
            sa,
            suite,
            nat,
        } => write!(
            s,
            "ike-sa-up gateway={gateway} role={role} spi_i={:016x} spi_r={:016x} local={} \
             remote={} enc={} integ={} prf={} dh={} nat={}",
            sa.spi_i,
            sa.spi_r,
            sa.local,
            sa.remote,
            suite.encryption,
            suite.integrity,
            suite.prf,
            suite.dh,
            nat
        ),
        Event::IkeSaDown {
            gateway,
            sa,
            reason,
        } => write!(
            s,
            "ike-sa-down gateway={gateway} spi_i={:016x} spi_r={:016x} reason={} notify={}",
            sa.spi_i,
            sa.spi_r,
            reason_kind(reason),
            notify(reason)
        ),
        Event::ChildSaUp {
            gateway,
            role,
            child,
            suite,
            outbound,
            replaces,
        } => write!(
            s,
            "child-sa-installed tunnel={} gateway={gateway} role={role} spi_in={:08x} \
             spi_out={:08x} enc={} integ={} pfs={} esn={} mode={} local_ts={} remote_ts={} \
             local={} remote={} encap={} outbound={outbound} replaces={}",
            child.tunnel,
            child.inbound.spi,
            child.outbound.spi,
            suite.encryption,
            suite.integrity,
            suite.dh,
            suite.esn,
            format!("{:?}", child.mode).to_lowercase(),
            selectors(&child.local_ts),
            selectors(&child.remote_ts),
            child.local_addr,
            child.remote_addr,
            child
                .encapsulation
                .map(|e| format!("{}:{}", e.local_port, e.remote_port))
                .unwrap_or_else(|| "none".to_owned()),
            replaces
                .map(|r| format!("{r:08x}"))
                .unwrap_or_else(|| "none".to_owned())
        ),
        Event::ChildSaOutbound {
            tunnel,
            inbound_spi,
            outbound_spi,
        } => write!(
            s,
            "child-sa-outbound tunnel={tunnel} spi_in={inbound_spi:08x} spi_out={outbound_spi:08x}"
        ),
        Event::ChildSaDown {
            tunnel,
            proxy_id,
            inbound_spi,
            outbound_spi,
            reason,
            linger,
        } => write!(
            s,
            "child-sa-deleted tunnel={tunnel} spi_in={inbound_spi:08x} spi_out={outbound_spi:08x} \
             reason={} linger_ms={} proxy_id={}",
            reason_kind(reason),
            linger.as_millis(),
            word(proxy_id.as_deref())
        ),
        Event::Phase1Failed {
            gateway,
            role,
            sa,
            reason,
        } => write!(
            s,
            "ike-sa-failed gateway={} role={role} spi_i={:016x} spi_r={:016x} reason={} notify={}",
            if gateway.is_empty() { "-" } else { gateway },
            sa.spi_i,
            sa.spi_r,
            reason_kind(reason),
            notify(reason)
        ),
        Event::Phase2Failed {
            tunnel,
            role,
            reason,
        } => write!(
            s,
            "child-sa-failed tunnel={} role={role} reason={} notify={}",
            if tunnel.is_empty() { "-" } else { tunnel },
            reason_kind(reason),
            notify(reason)
        ),
        Event::NoGateway { remote } => write!(s, "no-gateway remote={remote}"),
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikev2::event::{Role, SaName};
    use ikev2::Outbound;

    fn sa() -> SaName {
        SaName {
            spi_i: 0xf5b9_d1ee_4555_cab4,
            spi_r: 0x0a1d_2eec_7435_32a6,
            local: "192.0.2.1:4500".parse().unwrap(),
            remote: "192.0.2.2:4500".parse().unwrap(),
        }
    }

    fn words(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn failures_name_the_notify_the_peer_sees() {
        let e = Event::Phase1Failed {
            gateway: "gw".into(),
            role: Role::Responder,
            sa: sa(),
            reason: Reason::AuthenticationFailed("AUTH mismatch".into()),
        };
        let line = event_line(&e);
        assert!(
            words(&line).contains(&"notify=AUTHENTICATION_FAILED"),
            "{line}"
        );
        assert!(words(&line).contains(&"spi_r=0a1d2eec743532a6"), "{line}");
        assert!(line.starts_with("EVENT ike-sa-failed "), "{line}");
        assert_eq!(outcome(&e), Outcome::Failure);

        let e = Event::Phase1Failed {
            gateway: String::new(),
            role: Role::Initiator,
            sa: sa(),
            reason: Reason::PeerNotify(24),
        };
        assert!(words(&event_line(&e)).contains(&"notify=AUTHENTICATION_FAILED"));
        assert!(words(&event_line(&e)).contains(&"gateway=-"));

        let e = Event::Phase2Failed {
            tunnel: "t".into(),
            role: Role::Initiator,
            reason: Reason::TsUnacceptable {
                local: vec![],
                remote: vec![],
                received_local: vec![],
                received_remote: vec![],
            },
        };
        let line = event_line(&e);
        assert!(words(&line).contains(&"notify=TS_UNACCEPTABLE"), "{line}");
        assert_eq!(outcome(&e), Outcome::Failure);

        let e = Event::Phase2Failed {
            tunnel: "t".into(),
            role: Role::Initiator,
            reason: Reason::PeerNotify(0x4321),
        };
        assert!(words(&event_line(&e)).contains(&"notify=17185"));
        let e = Event::IkeSaDown {
            gateway: "gw".into(),
            sa: sa(),
            reason: Reason::Timeout,
        };
        assert!(words(&event_line(&e)).contains(&"notify=none"));
        assert!(words(&event_line(&e)).contains(&"reason=timeout"));
        assert_eq!(outcome(&e), Outcome::IkeDown);
    }

    #[test]
    fn installed_child_sa_prints_spis_and_algorithms_like_swanctl() {
        use ikev2::proposal::EspSuite;
        use ipsec_core::child_sa::{
            ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode, UdpEncapsulation,
        };
        use ipsec_core::crypto::{DhGroup, EncrId, Encryption, IntegId, SecretBytes};
        let ts =
            |a: [u8; 4], b: [u8; 4]| TrafficSelector::new(a.into(), b.into(), 0, 0, 65535).unwrap();
        let keys = |spi| DirectionKeys {
            spi,
            encryption_key: SecretBytes::from_slice(&[7; 20]),
            integrity_key: SecretBytes::from_slice(&[]),
        };
        let enc = Encryption::new(EncrId::ENCR_AES_GCM_16, 128);
        let child = ChildSa {
            tunnel: "to-strongswan".into(),
            proxy_id: Some("lan".into()),
            protocol: IpsecProtocol::Esp,
            mode: Mode::Tunnel,
            encryption: enc,
            integrity: IntegId::NONE,
            esn: false,
            inbound: keys(0x0418_309d),
            outbound: keys(0x2f21_4d5a),
            local_ts: vec![ts([10, 1, 0, 0], [10, 1, 0, 255])],
            remote_ts: vec![ts([10, 2, 0, 0], [10, 2, 0, 255])],
            local_addr: "192.0.2.1:4500".parse().unwrap(),
            remote_addr: "192.0.2.2:4500".parse().unwrap(),
            encapsulation: Some(UdpEncapsulation {
                local_port: 4500,
                remote_port: 4500,
            }),
            lifetimes: Lifetimes::default(),
            replay_window: 1024,
            tfc_padding: true,
        };
        let e = Event::ChildSaUp {
            gateway: "gw".into(),
            role: Role::Responder,
            child: Box::new(child),
            suite: EspSuite {
                encryption: enc,
                integrity: IntegId::NONE,
                dh: DhGroup::NONE,
                esn: false,
            },
            outbound: Outbound::Later,
            replaces: Some(0x0000_1234),
        };
        let line = event_line(&e);
        let w = words(&line);
        assert_eq!(&w[..2], ["EVENT", "child-sa-installed"]);
        for want in [
            "tunnel=to-strongswan",
            "role=responder",
            "spi_in=0418309d",
            "spi_out=2f214d5a",
            "enc=ENCR_AES_GCM_16-128",
            "integ=NONE",
            "mode=tunnel",
            "encap=4500:4500",
            "outbound=later",
            "replaces=00001234",
        ] {
            assert!(w.contains(&want), "{want} missing from {line}");
        }
        assert!(!line.contains("0707"), "keys must not be printed: {line}");
        assert_eq!(outcome(&e), Outcome::ChildUp);
    }

    #[test]
    fn child_sa_deletion_is_not_an_end_condition() {
        let e = Event::ChildSaDown {
            tunnel: "t".into(),
            proxy_id: Some("web".into()),
            inbound_spi: 0x2f21_4d5a,
            outbound_spi: 0x0418_309d,
            reason: Reason::DeletedByPeer,
            linger: ikev2::REKEYED_LINGER,
        };
        assert_eq!(
            event_line(&e),
            "EVENT child-sa-deleted tunnel=t spi_in=2f214d5a spi_out=0418309d \
             reason=deleted-by-peer linger_ms=5000 proxy_id=web"
        );
        assert_eq!(outcome(&e), Outcome::Other);
        let e = Event::ChildSaOutbound {
            tunnel: "t".into(),
            inbound_spi: 0x2f21_4d5a,
            outbound_spi: 0x0418_309d,
        };
        assert_eq!(
            event_line(&e),
            "EVENT child-sa-outbound tunnel=t spi_in=2f214d5a spi_out=0418309d"
        );
        assert_eq!(outcome(&e), Outcome::Other);
    }
}
