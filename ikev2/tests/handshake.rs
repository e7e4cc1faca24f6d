//! IKE_SA_INIT + IKE_AUTH between two endpoints in the deterministic [`Pair`] harness.

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::{Event, Role};

fn child_up(events: &[Event]) -> Option<&ipsec_core::child_sa::ChildSa> {
    events.iter().find_map(|e| match e {
        Event::ChildSaUp { child, .. } => Some(&**child),
        _ => None,
    })
}

/// ```text
/// left (initiator)                          right (responder)
/// IKE_SA_INIT SAi1 KEi Ni N(NAT_D)x2  -->
///                                     <--   SAr1 KEr Nr N(NAT_D)x2
/// IKE_AUTH SK{IDi AUTH SAi2 TSi TSr}  -->
///                                     <--   SK{IDr AUTH SAr2 TSi TSr}
/// ```
#[test]
fn psk_handshake_installs_matching_child_sas() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 1);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let l = child_up(&p.left_events).expect("left child");
    let r = child_up(&p.right_events).expect("right child");
    assert_eq!(l.inbound.spi, r.outbound.spi);
    assert_eq!(l.outbound.spi, r.inbound.spi);
    assert_eq!(l.inbound.encryption_key, r.outbound.encryption_key);
    assert_eq!(l.outbound.encryption_key, r.inbound.encryption_key);
    assert_ne!(l.inbound.encryption_key, l.outbound.encryption_key);
    assert_eq!(l.outbound.encryption_key.len(), 20);
    assert_eq!(l.local_ts, r.remote_ts);
    assert_eq!(l.encapsulation, None, "no NAT, no encapsulation");
    let up = p
        .left_events
        .iter()
        .find(|e| matches!(e, Event::IkeSaUp { .. }))
        .unwrap();
    assert!(matches!(
        up,
        Event::IkeSaUp {
            role: Role::Initiator,
            ..
        }
    ));
    println!("{up}");
}

use ikev2::proposal::IkeProposal;
use ikev2::testing::ike_gcm_x25519;
use ipsec_core::crypto::{DhGroup, EncrId, Encryption, IntegId, PrfId};

fn with_ike(prop: IkeProposal) -> Pair {
    let mut l = SiteSpec::left().config();
    let mut r = SiteSpec::right().config();
    l.gateways[0].ike_proposals = vec![prop.clone()];
    r.gateways[0].ike_proposals = vec![prop];
    Pair::new(l, r, 7)
}

fn up_with(prop: IkeProposal) -> Pair {
    let mut p = with_ike(prop.clone());
    p.left.connect(p.now, "tun").unwrap();
    let ok = p.drive_until(Duration::from_secs(5), |p| {
        p.tunnel_up(Side::Left) && p.tunnel_up(Side::Right)
    });
    assert!(ok, "no tunnel with {prop}: {:?}", p.left_events);
    let suite = p.left.ike_sas()[0].suite.unwrap();
    assert_eq!(suite.encryption, prop.encryption[0]);
    assert_eq!(suite.prf, prop.prf[0]);
    assert_eq!(suite.dh, prop.dh[0]);
    p
}

/// Same flow as above, once per encryption, PRF, integrity algorithm and key-exchange group of
/// the default provider.
#[test]
fn every_ike_algorithm_of_the_default_provider_negotiates() {
    let gcm = |bits| Encryption {
        id: EncrId::ENCR_AES_GCM_16,
        key_bits: bits,
    };
    let cbc = |bits| Encryption {
        id: EncrId::ENCR_AES_CBC,
        key_bits: bits,
    };
    let chacha = Encryption {
        id: EncrId::ENCR_CHACHA20_POLY1305,
        key_bits: 0,
    };
    for enc in [gcm(128), gcm(256), chacha] {
        let mut prop = ike_gcm_x25519();
        prop.encryption = vec![enc];
        up_with(prop);
    }
    for (enc, integ) in [
        (cbc(128), IntegId::AUTH_HMAC_SHA2_256_128),
        (cbc(192), IntegId::AUTH_HMAC_SHA2_384_192),
        (cbc(256), IntegId::AUTH_HMAC_SHA2_512_256),
        (cbc(256), IntegId::AUTH_HMAC_SHA1_96),
        (
            Encryption {
                id: EncrId::ENCR_3DES,
                key_bits: 0,
            },
            IntegId::AUTH_HMAC_SHA2_256_128,
        ),
    ] {
        let mut prop = ike_gcm_x25519();
        prop.encryption = vec![enc];
        prop.integrity = vec![integ];
        let p = up_with(prop);
        assert_eq!(p.left.ike_sas()[0].suite.unwrap().integrity, integ);
    }
    for prf in [
        PrfId::PRF_HMAC_SHA1,
        PrfId::PRF_HMAC_SHA2_384,
        PrfId::PRF_HMAC_SHA2_512,
    ] {
        let mut prop = ike_gcm_x25519();
        prop.prf = vec![prf];
        up_with(prop);
    }
    for g in [
        DhGroup::ECP_256,
        DhGroup::ECP_384,
        DhGroup::ECP_521,
        DhGroup::MODP_2048,
        DhGroup::MODP_1536,
        DhGroup::MODP_1024,
    ] {
        let mut prop = ike_gcm_x25519();
        prop.dh = vec![g];
        up_with(prop);
    }
}

/// ```text
/// right (initiator)                        left (responder)
/// IKE_SA_INIT                        -->
///                                    <--   IKE_SA_INIT
/// IKE_AUTH                           -->
///                                    <--   IKE_AUTH
/// ```
#[test]
fn either_side_can_initiate() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 3);
    p.right.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    assert_eq!(p.left.ike_sas()[0].role, Role::Responder);
    let l = child_up(&p.left_events).unwrap();
    assert_eq!(l.local_ts, vec![l.local_ts[0]]);
    assert_eq!(l.local_ts[0].start_addr.to_string(), "10.1.0.0");
}

/// A NAT rewrites the left peer's source to 203.0.113.9:30500.
///
/// ```text
/// left 192.0.2.1:500 --NAT 203.0.113.9:30500--> right 192.0.2.2:500
/// IKE_SA_INIT N(NAT_D)x2               -->      (source hash mismatch: peer behind NAT)
///                                      <--      N(NAT_D)x2 (dest hash mismatch: we are behind NAT)
/// 4500: 0000 | IKE_AUTH                -->      (right follows the mapped port 34500)
///                                      <--      4500: 0000 | IKE_AUTH
/// ```
#[test]
fn nat_detected_floats_to_4500_and_encapsulates() {
    // The right peer must accept the mapped address: it is a dynamic peer.
    let mut r = SiteSpec::right().config();
    r.gateways[0].peer_addr = None;
    let mut p = Pair::new(SiteSpec::left().config(), r, 4);
    p.left_nat = Some("203.0.113.9".parse().unwrap());
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let l = child_up(&p.left_events).unwrap();
    let r = child_up(&p.right_events).unwrap();
    assert_eq!(l.encapsulation.unwrap().local_port, 4500);
    assert_eq!(l.encapsulation.unwrap().remote_port, 4500);
    assert_eq!(r.encapsulation.unwrap().remote_port, 34500);
    assert_eq!(r.remote_addr.ip().to_string(), "203.0.113.9");
    // IKE_AUTH went from port 4500 with the non-ESP marker.
    let auth = p
        .sent
        .iter()
        .find(|(s, l, _, b)| *s == Side::Left && l.port() == 4500 && b[..4] == [0, 0, 0, 0])
        .expect("IKE_AUTH on 4500");
    assert_eq!(auth.3[4 + 18], 35, "exchange type IKE_AUTH");
    assert!(p.left.ike_sas()[0].nat && p.right.ike_sas()[0].nat);
    // The side behind the NAT keeps its mapping open with NAT-keepalives every 20 s.
    p.drive_for(Duration::from_secs(65));
    let keepalives = |side| {
        p.sent
            .iter()
            .filter(|(s, l, _, b)| *s == side && l.port() == 4500 && b == &[0xff])
            .count()
    };
    assert_eq!(keepalives(Side::Left), 3);
    assert_eq!(keepalives(Side::Right), 0);
}

/// `force_encapsulation` sends a NAT_DETECTION_SOURCE_IP that cannot match, as strongSwan's
/// `encap = yes` does; both sides then encapsulate though no NAT is present.
#[test]
fn forced_encapsulation_without_nat() {
    let mut l = SiteSpec::left().config();
    l.gateways[0].force_encapsulation = true;
    let mut p = Pair::new(l, SiteSpec::right().config(), 5);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    for ev in [&p.left_events, &p.right_events] {
        let c = child_up(ev).unwrap();
        let e = c.encapsulation.expect("encapsulated");
        assert_eq!((e.local_port, e.remote_port), (4500, 4500));
    }
}

/// IPv6 outer and inner addresses; a dynamic responder that accepts any `*.ike.test` FQDN.
#[test]
fn ipv6_dynamic_peer_with_wildcard_id() {
    let mut ls = SiteSpec::left();
    let mut rs = SiteSpec::right();
    ls.addr = "2001:db8::1".parse().unwrap();
    ls.peer = Some("2001:db8::2".parse().unwrap());
    rs.addr = "2001:db8::2".parse().unwrap();
    rs.peer = None;
    rs.peer_id = Some(ikev2::identity::IdPattern::FqdnGlob("*.ike.test".into()));
    ls.local_net = "2001:db8:1::/64";
    ls.remote_net = "2001:db8:2::/64";
    rs.local_net = "2001:db8:2::/64";
    rs.remote_net = "2001:db8:1::/64";
    let mut p = Pair::new(ls.config(), rs.config(), 6);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let r = child_up(&p.right_events).unwrap();
    assert!(r.remote_addr.is_ipv6());
    assert_eq!(r.remote_ts[0].start_addr.to_string(), "2001:db8:1::");
}

/// USE_TRANSPORT_MODE is echoed when both sides are configured for transport mode.
#[test]
fn transport_mode_is_negotiated() {
    let mut l = SiteSpec::left().config();
    let mut r = SiteSpec::right().config();
    l.tunnels[0].mode = ipsec_core::child_sa::Mode::Transport;
    r.tunnels[0].mode = ipsec_core::child_sa::Mode::Transport;
    let mut p = Pair::new(l, r, 8);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    assert_eq!(
        child_up(&p.left_events).unwrap().mode,
        ipsec_core::child_sa::Mode::Transport
    );
    assert_eq!(
        child_up(&p.right_events).unwrap().mode,
        ipsec_core::child_sa::Mode::Transport
    );
}

/// A second tunnel on an established IKE SA, with PFS (group 19), and a reconnect after the
/// first tunnel's Child SA was deleted.
///
/// ```text
/// left                                       right
/// IKE_SA_INIT / IKE_AUTH (tun)         <->
/// CREATE_CHILD_SA SK{SA Ni KEi TSi TSr} -->  (tun2, PFS group19)
///                                      <--   SK{SA Nr KEr TSi TSr}
/// INFORMATIONAL SK{D(ESP)}             <->   (tun deleted)
/// CREATE_CHILD_SA SK{SA Ni KEi TSi TSr} -->  (tun again)
///                                      <--   SK{SA Nr KEr TSi TSr}
/// ```
#[test]
fn additional_child_sas_with_pfs() {
    let add = |c: &mut ikev2::config::EndpointConfig, local: &str, remote: &str| {
        let mut t = c.tunnels[0].clone();
        t.name = "tun2".into();
        t.proxy_ids[0].name = "pid2".into();
        t.proxy_ids[0].local = sel(local);
        t.proxy_ids[0].remote = sel(remote);
        for t in c.tunnels.iter_mut() {
            t.esp_proposals[0].dh = vec![DhGroup::ECP_256];
        }
        t.esp_proposals[0].dh = vec![DhGroup::ECP_256];
        c.tunnels.push(t);
    };
    let mut l = SiteSpec::left().config();
    let mut r = SiteSpec::right().config();
    add(&mut l, "10.11.0.0/24", "10.12.0.0/24");
    add(&mut r, "10.12.0.0/24", "10.11.0.0/24");
    let mut p = Pair::new(l, r, 9);
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Right)));
    p.left.connect(p.now, "tun2").unwrap();
    let ok = p.drive_until(Duration::from_secs(5), |p| {
        p.right.ike_sas()[0].children.len() == 2 && p.left.ike_sas()[0].children.len() == 2
    });
    assert!(
        ok,
        "{:?} {:?} {:?}",
        p.sent.iter().map(|s| s.3[18]).collect::<Vec<_>>(),
        p.left.stats(),
        p.right.stats()
    );
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        p.right.ike_sas()[0].children.len() == 2 && p.left.ike_sas()[0].children.len() == 2
    }));
    let l2 = p.installed(Side::Left)[1].clone();
    let r2 = p.installed(Side::Right)[1].clone();
    assert_eq!(l2.tunnel, "tun2");
    assert_eq!(r2.tunnel, "tun2");
    assert_eq!(l2.outbound.encryption_key, r2.inbound.encryption_key);
    assert_eq!(l2.inbound.spi, r2.outbound.spi);
    // PFS keys differ from those the IKE_AUTH nonces alone would give.
    let l1 = p.installed(Side::Left)[0].clone();
    assert_ne!(l1.outbound.encryption_key, l2.outbound.encryption_key);
    assert_eq!(l2.local_ts[0].start_addr.to_string(), "10.11.0.0");
    let pfs = p.left_events.iter().find_map(|e| match e {
        Event::ChildSaUp { suite, child, .. } if child.tunnel == "tun2" => Some(*suite),
        _ => None,
    });
    assert_eq!(pfs.unwrap().dh, DhGroup::ECP_256);

    p.left.delete_child(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        p.right.ike_sas()[0].children.len() == 1 && p.left.ike_sas()[0].children.len() == 1
    }));
    p.left.connect(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        p.right.ike_sas()[0].children.len() == 2 && p.left.ike_sas()[0].children.len() == 2
    }));
    assert_eq!(p.left.ike_sas().len(), 1, "still one IKE SA");
}

fn sel(p: &str) -> ipsec_core::selector::TrafficSelector {
    let p: ipsec_core::selector::IpPrefix = p.parse().unwrap();
    ipsec_core::selector::TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: p.network(),
        end_addr: p.last(),
    }
}

/// ```text
/// left                                              right
/// CREATE_CHILD_SA SK{N(REKEY_SA, old) SA Ni TSi TSr} -->
///                                              <--  SK{SA Nr TSi TSr}
/// INFORMATIONAL SK{D(ESP, old)}                -->
///                                              <--  SK{D(ESP, old peer SPI)}
/// ```
#[test]
fn child_sa_rekey_replaces_the_old_sa() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 10);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let old = p.installed(Side::Left)[0].clone();
    p.left.rekey_child(p.now, "tun").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        let l = p.installed(Side::Left);
        let r = p.installed(Side::Right);
        l.len() == 1
            && r.len() == 1
            && l[0].inbound.spi != old.inbound.spi
            && r[0].outbound.spi == l[0].inbound.spi
    }));
    let new = p.installed(Side::Left)[0].clone();
    assert_ne!(new.outbound.encryption_key, old.outbound.encryption_key);
    assert_eq!(new.local_ts, old.local_ts);
    let downs = |ev: &[Event]| {
        ev.iter()
            .filter(|e| {
                matches!(e, Event::ChildSaDown { inbound_spi, outbound_spi, .. }
                if *inbound_spi == old.inbound.spi || *outbound_spi == old.inbound.spi)
            })
            .count()
    };
    assert_eq!(downs(&p.left_events), 1);
    assert_eq!(downs(&p.right_events), 1);
}

/// Both peers rekey the same Child SA at the same instant (RFC 7296 section 2.8.1).
///
/// ```text
/// left                                            right
/// CREATE_CHILD_SA {N(REKEY_SA) Ni1 ...}  -->  <--  CREATE_CHILD_SA {N(REKEY_SA) Ni2 ...}
///                      {Nr2 ...}         -->  <--  {Nr1 ...}
/// (two new SAs; the one from the exchange with the lowest nonce is deleted by its creator,
///  the old one by both)
/// ```
#[test]
fn simultaneous_rekeys_leave_one_child_sa() {
    for seed in 40..46 {
        let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), seed);
        p.left.connect(p.now, "tun").unwrap();
        assert!(
            p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
                && p.tunnel_up(Side::Right))
        );
        let old = p.installed(Side::Left)[0].inbound.spi;
        p.left.rekey_child(p.now, "tun").unwrap();
        p.right.rekey_child(p.now, "tun").unwrap();
        p.drive_for(Duration::from_secs(3));
        let l = p.installed(Side::Left).to_vec();
        let r = p.installed(Side::Right).to_vec();
        assert_eq!((l.len(), r.len()), (1, 1), "seed {seed}");
        assert_ne!(l[0].inbound.spi, old);
        assert_eq!(l[0].inbound.spi, r[0].outbound.spi);
        assert_eq!(l[0].outbound.spi, r[0].inbound.spi);
        assert_eq!(l[0].inbound.encryption_key, r[0].outbound.encryption_key);
    }
}

/// With a 60 s Child SA lifetime both peers schedule rekeys at 85-90 % of it; over five minutes
/// the tunnel is rekeyed again and again (collisions included) and always ends with exactly one
/// matching Child SA pair, the old ones deleted.
#[test]
fn child_sas_are_rekeyed_before_they_expire() {
    let mut l = SiteSpec::left().config();
    let mut r = SiteSpec::right().config();
    l.tunnels[0].lifetime = Duration::from_secs(60);
    r.tunnels[0].lifetime = Duration::from_secs(60);
    let mut p = Pair::new(l, r, 12);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    p.drive_for(Duration::from_secs(300));
    let ups = p
        .left_events
        .iter()
        .filter(|e| matches!(e, Event::ChildSaUp { .. }))
        .count();
    assert!(ups >= 5, "{ups} Child SAs over 5 minutes");
    let l = p.installed(Side::Left).to_vec();
    let r = p.installed(Side::Right).to_vec();
    assert_eq!((l.len(), r.len()), (1, 1));
    assert_eq!(l[0].inbound.spi, r[0].outbound.spi);
    assert!(p
        .left_events
        .iter()
        .chain(p.right_events.iter())
        .all(|e| !matches!(e, Event::Phase2Failed { .. } | Event::IkeSaDown { .. })));
}

/// One peer rekeys a Child SA while the other deletes it (RFC 7296 section 2.25.1).
///
/// ```text
/// left                                          right
/// CREATE_CHILD_SA {N(REKEY_SA, X)}  -->  <--  INFORMATIONAL {D(ESP, X)}
///          {N(TEMPORARY_FAILURE)}   <--  -->  {D(ESP, X)}
/// (both: X deleted, no new Child SA; the refused rekey of an SA that is gone is no failure)
/// ```
#[test]
fn rekey_crossing_a_delete_leaves_nothing_behind() {
    let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), 13);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    p.left.rekey_child(p.now, "tun").unwrap();
    p.right.delete_child(p.now, "tun").unwrap();
    p.drive_for(Duration::from_secs(3));
    assert!(p.left.ike_sas()[0].children.is_empty());
    assert!(p.right.ike_sas()[0].children.is_empty());
    for events in [&p.left_events, &p.right_events] {
        let ups = events
            .iter()
            .filter(|e| matches!(e, Event::ChildSaUp { .. }))
            .count();
        let downs = events
            .iter()
            .filter(|e| matches!(e, Event::ChildSaDown { .. }))
            .count();
        assert_eq!((ups, downs), (1, 1), "{events:?}");
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::Phase2Failed { .. })),
            "{events:?}"
        );
    }
}

/// The initiator proposes wider selectors than the responder allows; the responder narrows them
/// (RFC 7296 section 2.9) and both install the narrowed selectors.
///
/// ```text
/// IKE_AUTH {... TSi=10.1.0.0/16 TSr=10.2.0.0/16} -->
///                                              <--  {... TSi=10.1.0.0/24 TSr=10.2.0.0/24}
/// ```
#[test]
fn responder_narrows_wide_selectors() {
    let mut ls = SiteSpec::left();
    ls.local_net = "10.1.0.0/16";
    ls.remote_net = "10.2.0.0/16";
    let mut p = Pair::new(ls.config(), SiteSpec::right().config(), 14);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let l = child_up(&p.left_events).unwrap();
    let r = child_up(&p.right_events).unwrap();
    assert_eq!(l.local_ts, vec![sel("10.1.0.0/24")]);
    assert_eq!(l.remote_ts, vec![sel("10.2.0.0/24")]);
    assert_eq!(r.local_ts, l.remote_ts);
    assert_eq!(r.remote_ts, l.local_ts);
}

/// With a 100 s IKE SA lifetime the IKE SA is rekeyed with CREATE_CHILD_SA (new SPIs, new keys
/// from the old SK_d) again and again; the Child SA moves to each successor and nothing goes
/// down.
///
/// ```text
/// CREATE_CHILD_SA {SA(new SPIi) Ni KEi}  -->
///                                        <--  {SA(new SPIr) Nr KEr}
/// INFORMATIONAL {D(IKE)} (old SA)        -->
///                                        <--  {}
/// ```
#[test]
fn ike_sa_is_rekeyed_and_keeps_its_child_sas() {
    let mut l = SiteSpec::left().config();
    let mut r = SiteSpec::right().config();
    l.gateways[0].ike_lifetime = Duration::from_secs(100);
    r.gateways[0].ike_lifetime = Duration::from_secs(100);
    let mut p = Pair::new(l, r, 15);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let first = p.left.ike_sas()[0].clone();
    p.drive_for(Duration::from_secs(400));
    let ups = p
        .left_events
        .iter()
        .filter(|e| matches!(e, Event::IkeSaUp { .. }))
        .count();
    assert!(ups >= 4, "{ups} IKE SAs in 400 s");
    let (ls, rs) = (p.left.ike_sas(), p.right.ike_sas());
    assert_eq!((ls.len(), rs.len()), (1, 1));
    assert_eq!((ls[0].spi_i, ls[0].spi_r), (rs[0].spi_i, rs[0].spi_r));
    assert_ne!(ls[0].spi_i, first.spi_i);
    assert!(ls[0].established && rs[0].established);
    assert_eq!(
        ls[0].children, first.children,
        "the Child SA moved unchanged"
    );
    assert!(p
        .left_events
        .iter()
        .chain(p.right_events.iter())
        .all(|e| !matches!(
            e,
            Event::IkeSaDown { .. } | Event::Phase1Failed { .. } | Event::ChildSaDown { .. }
        )));
    // Liveness still works on the successor.
    p.left.liveness_check(p.now, "gw").unwrap();
    p.drive_for(Duration::from_secs(1));
    assert!(p.left.ike_sas()[0].established);
}

/// Both peers rekey the IKE SA at the same instant: each answers the other with
/// TEMPORARY_FAILURE, both retry after a random pause, and one successor IKE SA remains.
///
/// ```text
/// CREATE_CHILD_SA {SA Ni KEi}  -->  <--  CREATE_CHILD_SA {SA Ni KEi}
/// {N(TEMPORARY_FAILURE)}       <--  -->  {N(TEMPORARY_FAILURE)}
/// ... 2-10 s later, the first to retry wins ...
/// ```
#[test]
fn crossing_ike_rekeys_settle_on_one_sa() {
    for seed in 50..54 {
        let mut p = Pair::new(SiteSpec::left().config(), SiteSpec::right().config(), seed);
        p.left.connect(p.now, "tun").unwrap();
        assert!(
            p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
                && p.tunnel_up(Side::Right))
        );
        let first = p.left.ike_sas()[0].clone();
        p.left.rekey_ike(p.now, "gw").unwrap();
        p.right.rekey_ike(p.now, "gw").unwrap();
        p.drive_for(Duration::from_secs(30));
        let (ls, rs) = (p.left.ike_sas(), p.right.ike_sas());
        assert_eq!((ls.len(), rs.len()), (1, 1), "seed {seed}");
        assert_eq!((ls[0].spi_i, ls[0].spi_r), (rs[0].spi_i, rs[0].spi_r));
        assert_ne!(ls[0].spi_i, first.spi_i);
        assert_eq!(ls[0].children.len(), 1);
        assert!(p
            .left_events
            .iter()
            .chain(p.right_events.iter())
            .all(|e| !matches!(e, Event::IkeSaDown { .. } | Event::ChildSaDown { .. })));
    }
}

/// Absurd lifetimes are configuration, not a reason to panic: deadlines saturate.
#[test]
fn huge_lifetimes_saturate() {
    let mut l = SiteSpec::left().config();
    let mut r = SiteSpec::right().config();
    for c in [&mut l, &mut r] {
        c.gateways[0].ike_lifetime = Duration::MAX;
        c.tunnels[0].lifetime = Duration::MAX;
        c.gateways[0].retransmit.timeout = Duration::MAX;
    }
    let mut p = Pair::new(l, r, 16);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    p.drive_for(Duration::from_secs(30));
    assert!(p.tunnel_up(Side::Left));
}

/// The responder wants PFS group 14, the initiator's KE is group 19: INVALID_KE_PAYLOAD, then a
/// retry with group 14.
///
/// ```text
/// CREATE_CHILD_SA {SA(19,14) Ni KEi(19) TSi TSr} -->
///                                                <--  {N(INVALID_KE_PAYLOAD, 14)}
/// CREATE_CHILD_SA {SA(19,14) Ni KEi(14) TSi TSr} -->
///                                                <--  {SA(14) Nr KEr(14) TSi TSr}
/// ```
#[test]
fn create_child_sa_retries_with_the_pfs_group_asked_for() {
    let mut l = SiteSpec::left().config();
    let mut r = SiteSpec::right().config();
    for (c, local, remote, groups) in [
        (
            &mut l,
            "10.11.0.0/24",
            "10.12.0.0/24",
            vec![DhGroup::ECP_256, DhGroup::MODP_2048],
        ),
        (
            &mut r,
            "10.12.0.0/24",
            "10.11.0.0/24",
            vec![DhGroup::MODP_2048],
        ),
    ] {
        let mut t = c.tunnels[0].clone();
        t.name = "tun2".into();
        t.proxy_ids[0].local = sel(local);
        t.proxy_ids[0].remote = sel(remote);
        t.esp_proposals[0].dh = groups;
        c.tunnels.push(t);
    }
    let mut p = Pair::new(l, r, 17);
    p.left.connect(p.now, "tun").unwrap();
    p.left.connect(p.now, "tun2").unwrap();
    assert!(p.drive_until(Duration::from_secs(5), |p| {
        p.left
            .ike_sas()
            .first()
            .is_some_and(|s| s.children.len() == 2)
            && p.right
                .ike_sas()
                .first()
                .is_some_and(|s| s.children.len() == 2)
    }));
    let suite = p
        .left_events
        .iter()
        .find_map(|e| match e {
            Event::ChildSaUp { suite, child, .. } if child.tunnel == "tun2" => Some(*suite),
            _ => None,
        })
        .unwrap();
    assert_eq!(suite.dh, DhGroup::MODP_2048);
    let create_requests = p
        .sent
        .iter()
        .filter(|(s, _, _, b)| *s == Side::Left && b[18] == 36)
        .count();
    assert_eq!(create_requests, 2);
}

/// Random bytes whose first byte is fixed and the rest a counter (in the last bytes): every
/// nonce a side makes is larger than its previous one, and the left side's are all smaller than
/// the right side's.
#[derive(Debug)]
struct Scripted {
    base: u8,
    counter: std::sync::atomic::AtomicU64,
}

impl ipsec_core::crypto::SecureRandom for Scripted {
    fn fill(&self, buf: &mut [u8]) -> Result<(), ipsec_core::crypto::CryptoError> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_be_bytes();
        for (j, b) in buf.iter_mut().rev().enumerate() {
            *b = n[7 - j % 8];
        }
        if let Some(first) = buf.first_mut() {
            *first = self.base;
        }
        Ok(())
    }
}

/// With scripted nonces the winner of a rekey collision is known in advance: the left side's
/// nonces are the smallest, and its first one (Ni of its own rekey) is smaller than its second
/// (Nr of the right side's rekey), so the SA the left side initiated is the redundant one and
/// the left side deletes it (RFC 7296 section 2.8.1).
///
/// ```text
/// left (nonces 00..)                               right (nonces 80..)
/// CREATE_CHILD_SA {REKEY_SA, Ni=00..05}  -->  <--  CREATE_CHILD_SA {REKEY_SA, Ni=80..}
///               {Nr=80..}                <--  -->  {Nr=00..06}
/// lowest nonce 00..05: left's own SA loses; left deletes it, the right-initiated SA stays
/// ```
#[test]
fn scripted_nonces_decide_the_rekey_collision() {
    use ikev2::Endpoint;
    let ep = |cfg, base| {
        Endpoint::with_rng(
            cfg,
            ipsec_core::crypto::default_provider(),
            Box::new(Scripted {
                base,
                counter: 0x1000.into(),
            }),
        )
        .unwrap()
    };
    let mut p = Pair::from_endpoints(
        ep(SiteSpec::left().config(), 0x00),
        ep(SiteSpec::right().config(), 0x80),
        18,
    );
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(5), |p| p.tunnel_up(Side::Left)
            && p.tunnel_up(Side::Right))
    );
    let before = p.left_events.len();
    p.left.rekey_child(p.now, "tun").unwrap();
    p.right.rekey_child(p.now, "tun").unwrap();
    p.drive_for(Duration::from_secs(3));
    let responder_made = p.left_events[before..]
        .iter()
        .find_map(|e| match e {
            Event::ChildSaUp {
                role: Role::Responder,
                child,
                ..
            } => Some(child.inbound.spi),
            _ => None,
        })
        .expect("left answered the right side's rekey");
    let left = p.installed(Side::Left).to_vec();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].inbound.spi, responder_made);
    assert_eq!(p.installed(Side::Right)[0].outbound.spi, responder_made);
}
