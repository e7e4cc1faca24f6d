//! Proxy IDs, RFC 7296 section 2.9 narrowing in both roles, the mirror-image check and the
//! packet lookup table, on scenarios an admin would configure.

use ipsec_core::selector::{
    check_narrowed, choose_policy, is_mirror, mirror_differences, narrow_as_responder,
    tunnel_selectors, IpPrefix, NarrowingError, Packet5Tuple, ProxyIdEnd, ProxyIdSpec, Relation,
    SelectorError, SelectorTable, TrafficSelector, TsList, PROTO_TCP, PROTO_UDP,
};
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefix(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

fn net(p: &str) -> TrafficSelector {
    TrafficSelector::from(prefix(p))
}

fn host(a: &str, protocol: u8, port: u16) -> TrafficSelector {
    TrafficSelector::new(ip(a), ip(a), protocol, port, port).unwrap()
}

#[test]
fn proxy_id_converts_to_selectors() {
    let spec = ProxyIdSpec {
        local: prefix("10.1.0.0/24"),
        remote: prefix("10.2.0.0/24"),
        protocol: PROTO_TCP,
        local_ports: (0, 0),
        remote_ports: (443, 443),
    };
    let (local, remote) = spec.to_selectors().unwrap();
    assert_eq!(
        local.to_string(),
        "10.1.0.0/24 type IPv4_subnet protocol 6 port 0"
    );
    assert_eq!((local.start_port, local.end_port), (0, 65535));
    assert_eq!(
        remote.to_string(),
        "10.2.0.0/24 type IPv4_subnet protocol 6 port 443"
    );

    let mixed = ProxyIdSpec::new(prefix("10.1.0.0/24"), prefix("2001:db8::/64"));
    assert!(matches!(
        mixed.to_selectors(),
        Err(SelectorError::ProxyIdFamilies { .. })
    ));
    let backwards = ProxyIdSpec {
        local_ports: (90, 80),
        protocol: PROTO_UDP,
        ..ProxyIdSpec::new(prefix("10.1.0.0/24"), prefix("10.2.0.0/24"))
    };
    assert!(matches!(
        backwards.to_selectors(),
        Err(SelectorError::PortRangeReversed { .. })
    ));
}

#[test]
fn no_proxy_id_means_any_both_ways() {
    let (local, remote) = tunnel_selectors(None).unwrap();
    assert_eq!(local, TrafficSelector::any_v4());
    assert_eq!(remote, TrafficSelector::any_v4());
    assert_eq!(
        local.to_string(),
        "0.0.0.0/0 type IPv4_subnet protocol 0 port 0"
    );
    assert_eq!(
        tunnel_selectors(Some(&ProxyIdSpec::default_v4())).unwrap(),
        (local, remote)
    );
    let spec = ProxyIdSpec::new(prefix("10.1.0.0/24"), prefix("10.2.0.0/24"));
    assert_eq!(
        tunnel_selectors(Some(&spec)).unwrap(),
        (net("10.1.0.0/24"), net("10.2.0.0/24"))
    );
}

/// Branch (10.2.0.0/24) initiates to HQ (10.1.0.0/16) for a packet 10.2.0.5:5000 -> 10.1.3.4:22.
///
/// ```text
/// branch                                   hq (responder)
///   TSi = [10.2.0.5 tcp/5000, 0.0.0.0/0]     local  = [10.1.0.0/16]
///   TSr = [10.1.3.4 tcp/22,   0.0.0.0/0]     remote = [10.2.0.0/24]
///                                       <-   TSi = [10.2.0.0/24]
///                                            TSr = [10.1.0.0/16]
/// ```
#[test]
fn responder_narrows_a_wide_proposal() {
    let tsi = [host("10.2.0.5", PROTO_TCP, 5000), TrafficSelector::any_v4()];
    let tsr = [host("10.1.3.4", PROTO_TCP, 22), TrafficSelector::any_v4()];
    let local = [net("10.1.0.0/16")];
    let remote = [net("10.2.0.0/24")];
    let n = narrow_as_responder(&tsi, &tsr, &local, &remote).unwrap();
    // The packet selectors are inside the wider results, so only those remain.
    assert_eq!(n.tsi, vec![net("10.2.0.0/24")]);
    assert_eq!(n.tsr, vec![net("10.1.0.0/16")]);
    assert_eq!(check_narrowed(&tsi, &tsr, &n.tsi, &n.tsr), Ok(()));
    let pkt = Packet5Tuple::new(ip("10.2.0.5"), 5000, ip("10.1.3.4"), 22, PROTO_TCP);
    // From the initiator's side the narrowed TSi is local, TSr remote.
    assert!(pkt.matches_outbound(&n.tsi, &n.tsr));
    assert!(pkt.reversed().matches_inbound(&n.tsi, &n.tsr));
}

#[test]
fn responder_refuses_disjoint_proxy_ids() {
    let tsi = [net("10.2.0.0/24")];
    let tsr = [net("10.1.0.0/24")];
    assert_eq!(
        narrow_as_responder(&tsi, &tsr, &[net("10.1.0.0/24")], &[net("10.3.0.0/24")]),
        Err(NarrowingError::NoIntersection(TsList::Initiator))
    );
    assert_eq!(
        narrow_as_responder(&tsi, &tsr, &[net("10.9.0.0/24")], &[net("10.2.0.0/24")]),
        Err(NarrowingError::NoIntersection(TsList::Responder))
    );
    assert_eq!(
        narrow_as_responder(&[], &tsr, &[net("10.1.0.0/24")], &[net("10.2.0.0/24")]),
        Err(NarrowingError::EmptyList(TsList::Initiator))
    );
    // Addresses meet, but TSi is TCP-only and TSr UDP-only: no packet could use the SA.
    let tcp = [TrafficSelector::from_prefix(prefix("10.2.0.0/24"), PROTO_TCP, (0, 65535)).unwrap()];
    let udp = [TrafficSelector::from_prefix(prefix("10.1.0.0/24"), PROTO_UDP, (0, 65535)).unwrap()];
    assert_eq!(
        narrow_as_responder(&tcp, &udp, &[net("10.1.0.0/24")], &[net("10.2.0.0/24")]),
        Err(NarrowingError::ProtocolMismatch)
    );
}

#[test]
fn responder_prefers_the_policy_covering_the_triggering_packet() {
    // Two proxy IDs on hq: to 10.2.0.0/24 from 10.1.0.0/24 and from 10.5.0.0/24.
    let p0_local = [net("10.1.0.0/24")];
    let p1_local = [net("10.5.0.0/24")];
    let remote = [net("10.2.0.0/24")];
    let policies: [(&[TrafficSelector], &[TrafficSelector]); 2] =
        [(&p0_local, &remote), (&p1_local, &remote)];
    // The initiator proposes everything but the first selectors name a packet to 10.5.0.9.
    let tsi = [host("10.2.0.7", PROTO_UDP, 53), TrafficSelector::any_v4()];
    let tsr = [host("10.5.0.9", PROTO_UDP, 53), TrafficSelector::any_v4()];
    let (idx, n) = choose_policy(&tsi, &tsr, &policies).unwrap();
    assert_eq!(idx, 1);
    assert_eq!(n.tsr, vec![net("10.5.0.0/24")]);
    // Without a packet-specific first selector the first workable policy wins.
    let (idx, _) = choose_policy(&tsi[1..], &tsr[1..], &policies).unwrap();
    assert_eq!(idx, 0);
    // Nothing fits: the first policy's error.
    let far = [net("192.168.0.0/16")];
    assert_eq!(
        choose_policy(&far, &tsr, &policies),
        Err(NarrowingError::NoIntersection(TsList::Initiator))
    );
}

#[test]
fn responder_prefers_the_most_specific_covering_policy() {
    // A tunnel with a wide proxy ID listed before two narrower ones inside it: a peer proposing
    // the mirror image of a narrow one gets that one, not the wide one that also covers it.
    let wide = ([net("10.2.0.0/16")], [net("10.1.0.0/16")]);
    let lan = ([net("10.2.0.0/24")], [net("10.1.0.0/24")]);
    let icmp_l = [TrafficSelector::from_prefix(prefix("10.2.0.0/24"), 1, (0, 65535)).unwrap()];
    let icmp_r = [TrafficSelector::from_prefix(prefix("10.1.0.0/24"), 1, (0, 65535)).unwrap()];
    let policies: [(&[TrafficSelector], &[TrafficSelector]); 3] =
        [(&wide.0, &wide.1), (&lan.0, &lan.1), (&icmp_l, &icmp_r)];
    let pick = |tsi: &[TrafficSelector], tsr: &[TrafficSelector]| {
        choose_policy(tsi, tsr, &policies).unwrap().0
    };
    assert_eq!(pick(&[net("10.1.0.0/24")], &[net("10.2.0.0/24")]), 1);
    assert_eq!(pick(&icmp_r, &icmp_l), 2);
    assert_eq!(pick(&[net("10.1.0.0/16")], &[net("10.2.0.0/16")]), 0);
    // A host inside both: the narrower proxy ID.
    assert_eq!(pick(&[net("10.1.0.9/32")], &[net("10.2.0.7/32")]), 1);
    // Two equal policies: the first.
    let twice: [(&[TrafficSelector], &[TrafficSelector]); 2] = [(&lan.0, &lan.1), (&lan.0, &lan.1)];
    assert_eq!(
        choose_policy(&[net("10.1.0.0/24")], &[net("10.2.0.0/24")], &twice)
            .unwrap()
            .0,
        0
    );
}

#[test]
fn initiator_rejects_a_widened_answer() {
    let tsi = [net("10.2.0.0/24")];
    let tsr = [net("10.1.0.0/24")];
    assert_eq!(
        check_narrowed(&tsi, &tsr, &[net("10.2.0.0/25")], &[net("10.1.0.0/24")]),
        Ok(())
    );
    assert_eq!(
        check_narrowed(&tsi, &tsr, &[net("10.2.0.0/24")], &[net("10.1.0.0/16")]),
        Err(NarrowingError::NotNarrowed {
            list: TsList::Responder,
            selector: net("10.1.0.0/16")
        })
    );
    assert_eq!(
        check_narrowed(&tsi, &tsr, &[], &tsr),
        Err(NarrowingError::EmptyList(TsList::Initiator))
    );
    // An answer spanning two adjacent proposed selectors is still a narrowing.
    let halves = [net("10.2.0.0/25"), net("10.2.0.128/25")];
    assert_eq!(
        check_narrowed(&halves, &tsr, &[net("10.2.0.0/24")], &tsr),
        Ok(())
    );
    assert!(check_narrowed(&halves[..1], &tsr, &[net("10.2.0.0/24")], &tsr).is_err());
    let err = check_narrowed(&tsi, &tsr, &[net("10.3.0.0/24")], &tsr).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the responder's TSi selector 10.3.0.0/24 type IPv4_subnet protocol 0 port 0 is not inside what was proposed"
    );
}

#[test]
fn mirror_image_check_and_explanation() {
    let (hq_l, hq_r) = (net("10.1.0.0/24"), net("10.2.0.0/24"));
    assert!(is_mirror(&hq_l, &hq_r, &hq_r, &hq_l));
    assert!(!is_mirror(&hq_l, &hq_r, &hq_l, &hq_r));

    let (br_l, br_r) = (net("10.2.0.0/24"), net("10.1.0.0/25"));
    let diffs = mirror_differences("hq", &hq_l, &hq_r, "branch", &br_l, &br_r);
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].a_end, ProxyIdEnd::Local);
    assert_eq!(diffs[0].relation, Relation::Narrower);
    assert_eq!(
        diffs[0].to_string(),
        "local 10.1.0.0/24 on hq vs remote 10.1.0.0/25 on branch (branch's is narrower)"
    );

    // Both ends wrong: one wider, one disjoint; ports count too.
    let br_l = TrafficSelector::from_prefix(prefix("10.2.0.0/24"), PROTO_TCP, (22, 22)).unwrap();
    let br_r = net("10.9.0.0/24");
    let diffs = mirror_differences("hq", &hq_l, &hq_r, "branch", &br_l, &br_r);
    let text: Vec<String> = diffs.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            "local 10.1.0.0/24 on hq vs remote 10.9.0.0/24 on branch (no overlap)",
            "remote 10.2.0.0/24 on hq vs local 10.2.0.0/24 protocol 6 port 22 on branch (branch's is narrower)",
        ]
    );
    let wider = mirror_differences("hq", &hq_l, &hq_r, "branch", &net("10.0.0.0/8"), &hq_l);
    assert_eq!(wider[0].relation, Relation::Wider);
    let overlap = TrafficSelector::new(ip("10.2.0.128"), ip("10.2.1.127"), 0, 0, 65535).unwrap();
    let o = mirror_differences("hq", &hq_l, &hq_r, "branch", &overlap, &hq_l);
    assert_eq!(o[0].relation, Relation::Overlapping);
    assert!(o[0].to_string().ends_with("(they only overlap)"));
}

#[test]
fn table_prefers_the_most_specific_entry() {
    let mut table = SelectorTable::new();
    table
        .insert(
            TrafficSelector::any_v4(),
            TrafficSelector::any_v4(),
            "default",
        )
        .unwrap();
    table
        .insert(net("10.1.0.0/16"), net("10.2.0.0/16"), "wide")
        .unwrap();
    table
        .insert(net("10.1.0.0/16"), net("10.2.5.0/24"), "narrow")
        .unwrap();
    let ssh = TrafficSelector::from_prefix(prefix("10.2.5.0/24"), PROTO_TCP, (22, 22)).unwrap();
    table.insert(net("10.1.0.0/16"), ssh, "ssh").unwrap();
    table
        .insert(TrafficSelector::any_v6(), TrafficSelector::any_v6(), "v6")
        .unwrap();
    assert_eq!(table.len(), 5);

    let pkt =
        |dst: &str, proto, port| Packet5Tuple::new(ip("10.1.0.1"), 40000, ip(dst), port, proto);
    assert_eq!(
        table.lookup_outbound(&pkt("10.2.5.1", PROTO_TCP, 22)),
        Some(&"ssh")
    );
    assert_eq!(
        table.lookup_outbound(&pkt("10.2.5.1", PROTO_TCP, 80)),
        Some(&"narrow")
    );
    assert_eq!(
        table.lookup_outbound(&pkt("10.2.6.1", PROTO_TCP, 22)),
        Some(&"wide")
    );
    assert_eq!(
        table.lookup_outbound(&pkt("192.0.2.1", PROTO_UDP, 53)),
        Some(&"default")
    );
    let v6 = Packet5Tuple::new(ip("2001:db8::1"), 1, ip("2001:db8::2"), 2, PROTO_UDP);
    assert_eq!(table.lookup_outbound(&v6), Some(&"v6"));
    // Inbound: the decrypted packet comes from the remote side.
    assert_eq!(
        table.lookup_inbound(&pkt("10.2.5.1", PROTO_TCP, 22).reversed()),
        Some(&"ssh")
    );
    // Most specific first in iteration order too.
    let order: Vec<&str> = table.iter().map(|(_, _, v)| *v).collect();
    assert_eq!(order[..3], ["ssh", "narrow", "wide"]);

    assert_eq!(table.remove_where(|v| *v == "default"), 1);
    assert_eq!(
        table.lookup_outbound(&pkt("192.0.2.1", PROTO_UDP, 53)),
        None
    );
    let bad = TrafficSelector {
        end_addr: ip("::1"),
        ..TrafficSelector::any_v4()
    };
    assert!(table.insert(bad, TrafficSelector::any_v4(), "bad").is_err());
    assert_eq!(table.len(), 4);
}

#[test]
fn table_ties_keep_insertion_order() {
    let mut table = SelectorTable::new();
    table
        .insert(net("10.1.0.0/24"), net("10.2.0.0/24"), 1)
        .unwrap();
    table
        .insert(net("10.1.0.0/24"), net("10.2.0.0/24"), 2)
        .unwrap();
    let p = Packet5Tuple::without_ports(ip("10.1.0.1"), ip("10.2.0.1"), 50);
    assert_eq!(table.lookup_outbound(&p), Some(&1));
    assert!(SelectorTable::<u8>::new().is_empty());
}
