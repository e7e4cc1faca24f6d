//! A long run in the simulated network: Child SAs of 5 s and IKE SAs of 8 s on both sides, so
//! rekeys of both kinds, and their collisions, happen every few seconds, with 10 % of the
//! datagrams lost and 10 % reordered, and ESP probes at 100 packets per second both ways.
//!
//! Whatever the seed: the SAs converge (one IKE SA, one Child SA pair, the same on both sides),
//! the number of SAs stays bounded (nothing accumulates), and no probe is lost beyond those the
//! network dropped on purpose. `REKEY_SOAK_SEEDS=N` runs N seeds (3 by default),
//! `REKEY_SOAK_SECS=S` runs S simulated seconds each (180 by default).

use core::time::Duration;
use ikev2::testing::{Pair, Side, SiteSpec};
use ikev2::Event;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn converged(p: &Pair) -> bool {
    let (l, r) = (p.installed(Side::Left), p.installed(Side::Right));
    let (li, ri) = (p.left.ike_sas(), p.right.ike_sas());
    l.len() == 1
        && r.len() == 1
        && l[0].inbound.spi == r[0].outbound.spi
        && l[0].outbound.spi == r[0].inbound.spi
        && li.len() == 1
        && ri.len() == 1
        && (li[0].spi_i, li[0].spi_r) == (ri[0].spi_i, ri[0].spi_r)
        && li[0].established
        && li[0].children.len() == 1
        && ri[0].children.len() == 1
}

fn soak(seed: u64, secs: u64) {
    let (mut l, mut r) = (SiteSpec::left().config(), SiteSpec::right().config());
    for c in [&mut l, &mut r] {
        c.gateways[0].ike_lifetime = Duration::from_secs(8);
        c.gateways[0].retransmit.timeout = Duration::from_millis(100);
        c.gateways[0].retransmit.backoff_percent = 120;
        c.gateways[0].retransmit.retries = 10;
        c.tunnels[0].lifetime = Duration::from_secs(5);
    }
    let mut p = Pair::new(l, r, seed);
    p.left.connect(p.now, "tun").unwrap();
    assert!(
        p.drive_until(Duration::from_secs(10), converged),
        "seed {seed}: not up"
    );
    p.loss_permille = 100;
    p.reorder_permille = 100;
    p.start_probes(Duration::from_millis(10));
    let (mut most_ike, mut most_children, mut most_datapath) = (0, 0, 0);
    for _ in 0..secs {
        p.drive_for(Duration::from_secs(1));
        for side in [Side::Left, Side::Right] {
            let sas = p.endpoint(side).ike_sas();
            most_ike = most_ike.max(sas.len());
            most_children = most_children.max(sas.iter().map(|s| s.children.len()).sum());
            most_datapath = most_datapath.max(p.datapath_sas(side));
        }
    }
    // Calm network: everything in flight settles, and the probes on the wire arrive.
    p.loss_permille = 0;
    p.reorder_permille = 0;
    assert!(
        p.drive_until(Duration::from_secs(30), converged),
        "seed {seed}: did not converge: {:?} {:?}",
        p.left.ike_sas(),
        p.right.ike_sas()
    );
    p.stop_probes();
    p.drive_for(Duration::from_millis(200));
    let (pl, pr) = (p.probes(Side::Left), p.probes(Side::Right));
    let rekeys = p
        .left_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::ChildSaUp {
                    replaces: Some(_),
                    ..
                }
            )
        })
        .count();
    let ike_rekeys = p
        .left_events
        .iter()
        .filter(|e| matches!(e, Event::IkeSaUp { .. }))
        .count();
    eprintln!(
        "seed {seed}: {secs} s, {rekeys} Child SA rekeys, {ike_rekeys} IKE SAs; most IKE SAs \
         {most_ike}, Child SAs {most_children}, datapath SAs {most_datapath}; probes {pl:?} {pr:?}"
    );
    assert!(
        rekeys as u64 >= secs / 5,
        "seed {seed}: only {rekeys} rekeys"
    );
    assert!(
        ike_rekeys as u64 >= secs / 8,
        "seed {seed}: only {ike_rekeys} IKE SAs"
    );
    // Bounded: the old SAs of a rekey, a collision's twin and lingering inbound halves only.
    assert!(most_ike <= 3, "seed {seed}: {most_ike} IKE SAs at once");
    assert!(
        most_children <= 8,
        "seed {seed}: {most_children} Child SAs at once"
    );
    assert!(
        most_datapath <= 12,
        "seed {seed}: {most_datapath} datapath SAs at once"
    );
    for (side, pr) in [(Side::Left, pl), (Side::Right, pr)] {
        assert_eq!(
            pr.lost(),
            0,
            "seed {seed}: {side:?} lost {pr:?}: {:?}",
            p.probe_rejections(side)
        );
        assert!(pr.delivered > pr.sent * 8 / 10, "seed {seed}: {pr:?}");
    }
    let bad: Vec<&Event> = p
        .left_events
        .iter()
        .chain(&p.right_events)
        .filter(|e| {
            matches!(
                e,
                Event::IkeSaDown { .. } | Event::Phase1Failed { .. } | Event::Phase2Failed { .. }
            )
        })
        .collect();
    assert!(bad.is_empty(), "seed {seed}: {bad:?}");
}

#[test]
fn rekeys_under_loss_and_reordering_converge_without_losing_packets() {
    let seeds = env("REKEY_SOAK_SEEDS", 3);
    let secs = env("REKEY_SOAK_SECS", 180);
    for seed in 0..seeds {
        soak(1000 + seed, secs);
    }
}
