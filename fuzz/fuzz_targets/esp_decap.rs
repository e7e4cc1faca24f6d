//! Fuzz target: ESP decapsulation of arbitrary bytes.
//!
//! Input: one configuration byte, then packets, each prefixed by a big-endian 16-bit length.
//! Configuration bits: 0 ESN, 1 transport mode, 2 ENCR_NULL + MAC instead of an AEAD, 3-4 replay
//! window (0, 64, 1024, 4096), 5 traffic selectors 10.0.0.0/8 instead of none.
//!
//! A no-security provider lets the fuzzer past authentication: its AEAD is the identity with an
//! all-zero tag, its MAC an all-zero ICV. So packets ending in zeros "authenticate" and reach the
//! padding, inner-packet and selector checks.
//!
//! Invariants: decapsulation (and the port-4500 and raw-IP demultiplexers in front of it) never
//! panics; a delivered range lies inside the packet; a packet that fails before authenticating
//! (malformed, unknown SPI, replay, ICV failure, expired) changes nothing in the SA but its drop
//! counter, and a failed packet never counts as received. A twin SA fed the same packets through
//! the deferred path (`prepare_open`, `Opening::open`, `finish`) gives the same result, the same
//! bytes, the same counters and the same replay window, packet by packet.

#![no_main]

use esp::{EspError, InboundSa};
use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Lifetimes, Mode};
use ipsec_core::crypto::{
    AeadAlgorithm, CryptoError, CryptoProvider, EncrId, Encryption, IntegId, IntegrityAlgorithm,
    SecretBytes, SecureRandom,
};
use ipsec_core::selector::TrafficSelector;
use ipsec_core::time::Instant;
use libfuzzer_sys::fuzz_target;

use ipsec_core::crypto::no_security;

#[derive(Debug)]
struct NoRandom;

impl SecureRandom for NoRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        buf.fill(0);
        Ok(())
    }
}

static AEADS: [&dyn AeadAlgorithm; 1] = [&no_security::ZERO_TAG_AEAD];
static MACS: [&dyn IntegrityAlgorithm; 1] = [&no_security::ZeroIcvMac];

fn provider() -> CryptoProvider {
    CryptoProvider {
        aeads: &AEADS,
        ciphers: &[],
        integrity: &MACS,
        prfs: &[],
        key_exchanges: &[],
        signatures: &[],
        random: &NoRandom,
    }
}

const SPI: u32 = 0x0001_0203;

fn child(cfg: u8) -> ChildSa {
    let null = cfg & 4 != 0;
    let keys = DirectionKeys {
        spi: SPI,
        encryption_key: SecretBytes::from_slice(if null { &[] } else { &[0; 20] }),
        integrity_key: SecretBytes::from_slice(if null { &[0; 32] } else { &[] }),
    };
    let ts = TrafficSelector {
        protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr: [10, 0, 0, 0].into(),
        end_addr: [10, 255, 255, 255].into(),
    };
    let sel = if cfg & 32 != 0 { vec![ts] } else { Vec::new() };
    ChildSa {
        tunnel: "fuzz".into(),
        proxy_id: None,
        protocol: IpsecProtocol::Esp,
        mode: if cfg & 2 != 0 {
            Mode::Transport
        } else {
            Mode::Tunnel
        },
        encryption: if null {
            Encryption::new(EncrId::ENCR_NULL, 0)
        } else {
            Encryption::new(EncrId::ENCR_AES_GCM_16, 128)
        },
        integrity: if null {
            IntegId::AUTH_HMAC_SHA2_256_128
        } else {
            IntegId::NONE
        },
        esn: cfg & 1 != 0,
        inbound: keys.clone(),
        outbound: keys,
        local_ts: sel.clone(),
        remote_ts: sel,
        local_addr: "192.0.2.1:4500".parse().unwrap(),
        remote_addr: "192.0.2.2:4500".parse().unwrap(),
        encapsulation: None,
        lifetimes: Lifetimes {
            hard_packets: Some(1000),
            ..Lifetimes::default()
        },
        replay_window: [0, 64, 1024, 4096][usize::from((cfg >> 3) & 3)],
        tfc_padding: false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let mut sa = InboundSa::new(&provider(), &child(cfg), Instant::ZERO).expect("valid SA");
    let mut twin = InboundSa::new(&provider(), &child(cfg), Instant::ZERO).expect("valid SA");
    while let [a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        let (pkt, next) = tail.split_at(n);
        rest = next;
        // The demultiplexers in front of decapsulation see the same bytes and must not panic.
        if let Ok(esp::wire::Udp4500::Esp(e)) = esp::wire::Udp4500::classify(pkt) {
            assert_eq!(e, pkt);
        }
        if let Ok(esp::encap::Received::Esp(o)) = esp::encap::parse_outer(pkt, 4500) {
            assert!(o.esp_start <= o.esp_end && o.esp_end <= pkt.len());
        }
        let mut buf = pkt.to_vec();
        let window = sa.replay_window().clone();
        let before = *sa.counters();
        let result = sa.decapsulate(Instant::ZERO, &mut buf);
        let mut deferred = pkt.to_vec();
        let twin_result = twin.prepare_open(Instant::ZERO, &deferred).and_then(|o| {
            let opened = o.open(&mut deferred);
            twin.finish(Instant::ZERO, opened, &mut deferred, None)
        });
        assert_eq!(result, twin_result);
        assert_eq!(buf, deferred);
        assert_eq!(sa.counters(), twin.counters());
        assert_eq!(sa.replay_window(), twin.replay_window());
        match result {
            Ok(Some(d)) => {
                assert!(d.range.start <= d.range.end && d.range.end <= buf.len());
            }
            Ok(None) => {}
            Err(e) => {
                let after = *sa.counters();
                let authenticated = matches!(
                    e,
                    EspError::BadPadding
                        | EspError::BadInnerPacket(_)
                        | EspError::PolicyMismatch
                        | EspError::EcnDrop
                );
                if !authenticated {
                    assert_eq!(sa.replay_window(), &window, "{e}");
                }
                assert_eq!(
                    (after.packets, after.bytes, after.dummies),
                    (before.packets, before.bytes, before.dummies),
                    "{e}"
                );
                assert_eq!(after.drops.total(), before.drops.total() + 1, "{e}");
            }
        }
    }
});
