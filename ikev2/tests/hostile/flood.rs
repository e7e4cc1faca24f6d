//! Floods of IKE_SA_INIT requests that return every cookie: the responder keeps a bounded number
//! of half-open IKE SAs in bounded memory, and its timeout handling visits only what is due.

use crate::memory;
use ikev2::config::EndpointConfig;
use ikev2::testing::flood::Flood;
use ikev2::testing::SiteSpec;
use ikev2::Endpoint;
use ipsec_core::crypto::default::SeededRandom;
use ipsec_core::crypto::default_provider;
use ipsec_core::time::Instant;
use std::net::SocketAddr;
use std::time::Duration;

/// A responder for any peer (a dynamic-peer gateway): every address may start an IKE SA.
pub(crate) fn responder(tweak: impl FnOnce(&mut EndpointConfig)) -> Flood {
    let site = SiteSpec {
        peer: None,
        peer_id: None,
        ..SiteSpec::right()
    };
    let mut cfg = site.config();
    tweak(&mut cfg);
    let rng = Box::new(SeededRandom::new([3; 32]));
    let ep = Endpoint::with_rng(cfg, default_provider(), rng).expect("endpoint");
    Flood::new(ep, SocketAddr::new(site.addr, 500))
}

/// 100,000 initiators from as many addresses, each returning the cookie it is asked for: the
/// responder holds no more than its half-open limit, and once there its memory stops growing.
#[test]
fn a_flood_returning_cookies_holds_bounded_sas_in_bounded_memory() {
    let _serial = memory::serial();
    let mut f = responder(|_| {});
    let now = Instant::from_secs(1);
    let before = memory::live();
    f.initiators(now, 2_000);
    let at_limit = memory::live();
    let r = f.report();
    assert_eq!(r.half_open, 1024, "the default half-open limit");
    assert_eq!(r.ike_sas, 1024);
    f.initiators(now, 98_000);
    let after = memory::live();
    let r = f.report();
    assert_eq!(r.ike_sas, 1024, "no SA beyond the limit: {r:?}");
    assert_eq!(r.half_open, 1024);
    let stats = f.responder.stats();
    assert!(
        stats.dropped_half_open_limit >= 98_000,
        "every initiator past the limit is dropped: {stats:?}"
    );
    let per_sa = (at_limit - before) / 1024;
    eprintln!(
        "half-open SAs: {}, {} bytes each, {} bytes more after 98,000 further initiators",
        r.half_open,
        per_sa,
        after - at_limit
    );
    assert!(
        after - at_limit < 64 * 1024,
        "memory grew by {} bytes past the limit",
        after - at_limit
    );
    assert!(per_sa < 4096, "a half-open SA holds {per_sa} bytes");
}

/// One address gets at most `half_open_per_address` half-open SAs, cookie or not; others are not
/// held back by it.
#[test]
fn one_address_holds_at_most_its_share_of_half_open_sas() {
    let _serial = memory::serial();
    let mut f = responder(|c| c.cookie_threshold = 0);
    let now = Instant::from_secs(1);
    let one = Flood::address(77);
    for _ in 0..50 {
        f.from(now, one);
    }
    assert_eq!(f.report().half_open, 5, "the default per-address limit");
    assert_eq!(f.responder.stats().dropped_half_open_limit, 45);
    f.initiators(now, 10);
    assert_eq!(f.report().half_open, 15, "other addresses still get theirs");
}

/// With SAs held, `handle_timeout` visits only the SAs whose deadline is due: none when nothing
/// is, and exactly those that expire when some do, however many are held.
#[test]
fn handle_timeout_visits_only_what_is_due() {
    let _serial = memory::serial();
    let mut f = responder(|c| c.half_open_limit = 100_000);
    // 4,000 half-open SAs, 100 per simulated second (they expire 30 s after they were made).
    for s in 0..40u64 {
        f.initiators(Instant::from_secs(1) + Duration::from_secs(s), 100);
    }
    assert_eq!(f.report().half_open, 4_000);
    let visits = |f: &Flood| f.responder.stats().timeout_visits;
    let v0 = visits(&f);
    let next = f.responder.poll_timeout().expect("a deadline");
    assert_eq!(
        next,
        Instant::from_secs(31),
        "the oldest half-open SA's expiry"
    );
    for _ in 0..1_000 {
        f.responder.handle_timeout(Instant::from_secs(30));
    }
    assert_eq!(visits(&f), v0, "nothing due: no SA visited");
    f.responder.handle_timeout(Instant::from_secs(31));
    assert_eq!(
        visits(&f) - v0,
        100,
        "the 100 SAs made at 1 s, and no other"
    );
    assert_eq!(f.report().half_open, 3_900);
    assert_eq!(f.responder.poll_timeout(), Some(Instant::from_secs(32)));
    f.responder.handle_timeout(Instant::from_secs(100));
    assert_eq!(visits(&f) - v0, 4_000);
    assert_eq!(f.report().ike_sas, 0, "every half-open SA expired");
    // Left: the cookie secret made for the flood, retired after its period and then forgotten.
    let retire = f
        .responder
        .poll_timeout()
        .expect("the cookie secret's retirement");
    assert!(retire > Instant::from_secs(100));
    f.responder.handle_timeout(Instant::from_secs(10_000));
    assert_eq!(
        visits(&f) - v0,
        4_000,
        "no SA visited for the cookie secret"
    );
    assert_eq!(f.responder.poll_timeout(), None);
}
