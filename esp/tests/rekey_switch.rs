//! Switching a tunnel to a rekeyed Child SA without losing a packet: the responder of the rekey
//! installs the new SA inbound-only and sends on the old one until IKE says the initiator has the
//! new SA or a packet arrives on it; the old SA then stops sending and lingers inbound.

mod common;

use common::{child, provider};
use core::time::Duration;
use esp::{EspError, SaTable};
use ipsec_core::child_sa::ChildSa;
use ipsec_core::crypto::{EncrId, Encryption, IntegId};
use ipsec_core::selector::{IpPrefix, TrafficSelector};
use ipsec_core::time::Instant;

const NOW: Instant = Instant::ZERO;

fn ts(prefix: &str) -> TrafficSelector {
    let p: IpPrefix = prefix.parse().unwrap();
    TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr: p.network(),
        end_addr: p.last(),
    }
}

/// The initiator's view of a Child SA of tunnel `t` with SPIs `in_spi`/`out_spi`.
fn sa(in_spi: u32, out_spi: u32, k: u8) -> ChildSa {
    let enc = Encryption::new(EncrId::ENCR_AES_GCM_16, 128);
    let mut c = child(enc, IntegId::NONE, &[k; 20], &[], 0);
    c.tunnel = "t".into();
    c.inbound.spi = in_spi;
    c.outbound.spi = out_spi;
    c.local_ts = vec![ts("10.1.0.0/24")];
    c.remote_ts = vec![ts("10.2.0.0/24")];
    c
}

fn mirror(c: &ChildSa) -> ChildSa {
    let mut m = c.clone();
    std::mem::swap(&mut m.inbound, &mut m.outbound);
    std::mem::swap(&mut m.local_ts, &mut m.remote_ts);
    std::mem::swap(&mut m.local_addr, &mut m.remote_addr);
    m
}

/// Sends one packet on `table`'s tunnel `t` (from the 10.1 side when `initiator`).
fn send(table: &mut SaTable, now: Instant, initiator: bool) -> Result<(u32, Vec<u8>), EspError> {
    let (src, dst) = if initiator {
        ([10, 1, 0, 5], [10, 2, 0, 9])
    } else {
        ([10, 2, 0, 9], [10, 1, 0, 5])
    };
    let mut inner = vec![0u8; 40];
    inner[0] = 0x45;
    inner[2..4].copy_from_slice(&40u16.to_be_bytes());
    inner[8] = 64;
    inner[9] = 17;
    inner[12..16].copy_from_slice(&src);
    inner[16..20].copy_from_slice(&dst);
    let t = table.tunnel("t").ok_or(EspError::NoOutboundSa)?;
    let mut buf = vec![0u8; 64 + 40 + 64];
    buf[64..104].copy_from_slice(&inner);
    let tx = table.encapsulate(now, t, &mut buf, 64..104)?;
    Ok((tx.spi, buf[tx.range].to_vec()))
}

/// `(initiator, responder)` tables with the old SA installed on both.
fn pair() -> (SaTable, SaTable, ChildSa) {
    let old = sa(0x1000_0001, 0x2000_0001, 1);
    let mut i = SaTable::new(provider());
    let mut r = SaTable::new(provider());
    i.install(NOW, &old).unwrap();
    r.install(NOW, &mirror(&old)).unwrap();
    (i, r, old)
}

#[test]
fn an_inbound_only_sa_receives_but_does_not_send_until_activated() {
    let (mut i, mut r, old) = pair();
    let new = sa(0x1000_0002, 0x2000_0002, 2);
    // The responder answered the rekey: new SA inbound-only. Its answer is lost, so the
    // initiator still has only the old SA; everything the responder sends must still arrive.
    let h = r.install_inbound(NOW, &mirror(&new)).unwrap();
    assert!(!r.is_sending(h));
    assert_eq!(r.child(new.outbound.spi), Some(h));
    for _ in 0..10 {
        let (spi, mut p) = send(&mut r, NOW, false).unwrap();
        assert_eq!(spi, old.inbound.spi, "still on the old SA");
        assert!(i.decapsulate(NOW, &mut p).unwrap().is_some());
    }
    // IKE says the initiator has it (its Delete for the old SA): send on the new one.
    assert!(r.activate_outbound(h));
    assert!(r.is_sending(h));
    let (spi, _) = send(&mut r, NOW, false).unwrap();
    assert_eq!(spi, new.inbound.spi);
}

#[test]
fn the_first_packet_on_the_new_inbound_sa_activates_its_outbound() {
    let (mut i, mut r, old) = pair();
    let new = sa(0x1000_0002, 0x2000_0002, 2);
    let h = r.install_inbound(NOW, &mirror(&new)).unwrap();
    // The initiator got the answer and sends on the new SA at once.
    i.install(NOW, &new).unwrap();
    let (spi, mut p) = send(&mut i, NOW, true).unwrap();
    assert_eq!(spi, new.outbound.spi);
    // A forged packet with the new SPI does not move anything: only an authenticated one does.
    let mut forged = p.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(r.decapsulate(NOW, &mut forged).is_err());
    assert!(!r.is_sending(h));
    assert_eq!(send(&mut r, NOW, false).unwrap().0, old.inbound.spi);
    assert!(r.decapsulate(NOW, &mut p).unwrap().is_some());
    assert!(r.is_sending(h));
    let (spi, mut back) = send(&mut r, NOW, false).unwrap();
    assert_eq!(spi, new.inbound.spi);
    assert!(i.decapsulate(NOW, &mut back).unwrap().is_some());
}

#[test]
fn a_retired_sa_stops_sending_and_receives_until_its_linger_ends() {
    let (mut i, mut r, old) = pair();
    let new = sa(0x1000_0002, 0x2000_0002, 2);
    let hn = r.install_inbound(NOW, &mirror(&new)).unwrap();
    i.install(NOW, &new).unwrap();
    // A packet the initiator sent on the old SA before it switched, still on its way.
    let late = {
        let mut t = SaTable::new(provider());
        t.install(NOW, &old).unwrap();
        send(&mut t, NOW, true).unwrap().1
    };
    // The Delete for the old SA: activate the new one, retire the old one for 2 s.
    let ho = r.child(old.outbound.spi).unwrap();
    assert!(r.activate_outbound(hn));
    r.retire_lingering(NOW, ho, Duration::from_secs(2));
    assert_eq!(r.child(old.outbound.spi), None, "no longer a pair");
    assert_eq!(send(&mut r, NOW, false).unwrap().0, new.inbound.spi);
    let t1 = NOW + Duration::from_secs(1);
    r.handle_timeout(t1);
    let mut p = late.clone();
    assert!(
        r.decapsulate(t1, &mut p).unwrap().is_some(),
        "late packet kept"
    );
    assert_eq!(r.poll_timeout(), Some(NOW + Duration::from_secs(2)));
    let t2 = NOW + Duration::from_secs(2);
    r.handle_timeout(t2);
    assert_eq!(r.inbound_count(), 1);
    let mut p = late;
    assert_eq!(
        r.decapsulate(t2, &mut p),
        Err(EspError::UnknownSpi(old.outbound.spi))
    );
    // Removing through a handle kept past retirement leaves the SA that reused its index alone.
    let other = sa(0x1000_0003, 0x2000_0003, 3);
    r.install(t2, &mirror(&other)).unwrap();
    r.remove(ho);
    assert!(r.child(other.outbound.spi).is_some());
    assert!(r.child(new.outbound.spi).is_some());
}

#[test]
fn a_packet_opened_elsewhere_activates_the_new_outbound_only_when_finished_authentic() {
    let (mut i, mut r, old) = pair();
    let new = sa(0x1000_0002, 0x2000_0002, 2);
    let h = r.install_inbound(NOW, &mirror(&new)).unwrap();
    i.install(NOW, &new).unwrap();
    let (_, mut p) = send(&mut i, NOW, true).unwrap();
    // A forged copy, prepared, opened and finished: nothing moves.
    let mut forged = p.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let o = r.prepare_open(NOW, &forged).unwrap().open(&mut forged);
    assert!(r.finish_open(NOW, o, &mut forged, None).is_err());
    assert!(!r.is_sending(h));
    // The genuine one: preparing it is not enough, finishing it is.
    let o = r.prepare_open(NOW, &p).unwrap();
    assert!(!r.is_sending(h));
    let o = std::thread::scope(|s| s.spawn(|| o.open(&mut p)).join().unwrap());
    let d = r.finish_open(NOW, o, &mut p, None).unwrap().unwrap();
    assert_eq!(d.spi, new.outbound.spi);
    assert!(r.is_sending(h));
    assert_ne!(send(&mut r, NOW, false).unwrap().0, old.inbound.spi);
}

#[test]
fn a_packet_whose_sa_went_while_it_was_opened_is_an_unknown_spi() {
    let (mut i, mut r, old) = pair();
    let (_, mut p) = send(&mut i, NOW, true).unwrap();
    let o = r.prepare_open(NOW, &p).unwrap().open(&mut p);
    let h = r.child(old.outbound.spi).unwrap();
    r.remove(h);
    // Installed again with the same SPI and keys: still not the SA that prepared the packet.
    r.install(NOW, &mirror(&old)).unwrap();
    let before = r.drop_counters().get(esp::DropReason::UnknownSpi);
    assert!(matches!(
        r.finish_open(NOW, o, &mut p, None),
        Err(EspError::UnknownSpi(_))
    ));
    assert_eq!(
        r.drop_counters().get(esp::DropReason::UnknownSpi),
        before + 1
    );
}
