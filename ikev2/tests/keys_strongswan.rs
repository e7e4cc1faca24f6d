//! Known-answer tests for key derivation and PSK authentication against a real strongSwan 5.9.8
//! exchange (`testdata/strongswan-x25519/`: the capture `ike_all.pcap` and `keys.txt`, the keys
//! strongSwan logged for that very exchange).
//!
//! ```text
//!  Initiator (192.0.2.1)                         Responder (192.0.2.2)
//!  HDR, SAi1, KEi, Ni, N(NAT_D..)          -->
//!                                          <--   HDR, SAr1, KEr, Nr, N(NAT_D..)
//!  HDR, SK {IDi, AUTH, SAi2, TSi, TSr}     -->   (port 4500)
//!                                          <--   HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
//! ```
//!
//! Given g^ir, the nonces and SPIs, we must derive strongSwan's SKEYSEED, SK_* and Child SA keys,
//! and the AUTH payloads we compute must equal the ones strongSwan sent.

mod wire_support;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use ikev2::keys;
use ipsec_core::crypto::{PrfAlgorithm, PrfId};
use wire_support::{ike_messages, key, read};

const PSK: &[u8] = b"interop-test-psk-0123456789";

#[derive(Debug)]
struct HmacSha256;

impl PrfAlgorithm for HmacSha256 {
    fn id(&self) -> PrfId {
        PrfId::PRF_HMAC_SHA2_256
    }
    fn output_len(&self) -> usize {
        32
    }
    fn prf(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) {
        use hmac::{Hmac, Mac};
        let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
        for d in data {
            m.update(d);
        }
        out.copy_from_slice(&m.finalize().into_bytes());
    }
}

/// Walks a chain of generic payloads; returns (type, body) pairs.
fn payloads(mut next: u8, mut data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while next != 0 && data.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        out.push((next, data[4..len].to_vec()));
        next = data[0];
        data = &data[len..];
    }
    out
}

fn body_of(msg: &[u8], ty: u8) -> Vec<u8> {
    payloads(msg[16], &msg[28..])
        .into_iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, b)| b)
        .unwrap()
}

/// Decrypts the SK payload (AES-256-GCM-16, RFC 5282) of `msg` with `keymat` (key | salt) and
/// returns the inner payloads.
fn decrypt(msg: &[u8], keymat: &[u8]) -> Vec<(u8, Vec<u8>)> {
    assert_eq!(msg[16], 46, "first payload is SK");
    let sk_len = usize::from(u16::from_be_bytes([msg[30], msg[31]]));
    let inner_first = msg[28];
    let aad = &msg[..32];
    let iv = &msg[32..40];
    let mut ct = msg[40..28 + sk_len - 16].to_vec();
    let tag = &msg[28 + sk_len - 16..28 + sk_len];
    let cipher = Aes256Gcm::new_from_slice(&keymat[..32]).unwrap();
    let mut nonce = keymat[32..36].to_vec();
    nonce.extend_from_slice(iv);
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            aad,
            &mut ct,
            Tag::from_slice(tag),
        )
        .unwrap();
    let pad = usize::from(*ct.last().unwrap());
    ct.truncate(ct.len() - pad - 1);
    payloads(inner_first, &ct)
}

struct Derived {
    ni: Vec<u8>,
    nr: Vec<u8>,
    keys: keys::IkeKeys,
    skeyseed: Vec<u8>,
}

fn derive() -> Derived {
    let msgs = ike_messages(&read("ike_all.pcap"));
    let ni = body_of(&msgs[0], 40);
    let nr = body_of(&msgs[1], 40);
    let spi_i = u64::from_be_bytes(msgs[1][0..8].try_into().unwrap());
    let spi_r = u64::from_be_bytes(msgs[1][8..16].try_into().unwrap());
    assert_eq!(spi_i, 0xf5b9d1ee4555cab4);
    assert_eq!(spi_r, 0xa1d2eec743532a67);
    let prf = HmacSha256;
    let skeyseed = keys::skeyseed(&prf, &ni, &nr, &key("shared Diffie Hellman secret"));
    let lens = keys::IkeKeyLengths {
        prf_key: 32,
        integ_key: 0,
        encr_key: 36,
    };
    let k = keys::ike_keys(&prf, skeyseed.expose(), &ni, &nr, spi_i, spi_r, lens).unwrap();
    Derived {
        ni,
        nr,
        keys: k,
        skeyseed: skeyseed.expose().to_vec(),
    }
}

#[test]
fn skeyseed_and_sk_keys_match_strongswan() {
    let d = derive();
    assert_eq!(d.skeyseed, key("SKEYSEED"));
    assert_eq!(d.keys.sk_d.expose(), &key("Sk_d secret")[..]);
    assert_eq!(d.keys.sk_ei.expose(), &key("Sk_ei secret")[..]);
    assert_eq!(d.keys.sk_er.expose(), &key("Sk_er secret")[..]);
    assert_eq!(d.keys.sk_pi.expose(), &key("Sk_pi secret")[..]);
    assert_eq!(d.keys.sk_pr.expose(), &key("Sk_pr secret")[..]);
    assert!(d.keys.sk_ai.is_empty() && d.keys.sk_ar.is_empty());
    let mut seed = d.ni.clone();
    seed.extend_from_slice(&d.nr);
    assert_eq!(seed, key("seed"));
}

#[test]
fn child_keymat_matches_strongswan() {
    let d = derive();
    let lens = keys::ChildKeyLengths {
        encr_key: 20,
        integ_key: 0,
    };
    let c = keys::child_keys(&HmacSha256, d.keys.sk_d.expose(), None, &d.ni, &d.nr, lens).unwrap();
    assert_eq!(c.encr_i.expose(), &key("encryption initiator key")[..]);
    assert_eq!(c.encr_r.expose(), &key("encryption responder key")[..]);
    assert!(c.integ_i.is_empty() && c.integ_r.is_empty());
}

#[test]
fn psk_auth_payloads_match_strongswan() {
    let d = derive();
    let msgs = ike_messages(&read("ike_all.pcap"));
    let prf = HmacSha256;
    // Initiator: AUTH = prf(prf(PSK, pad), IKE_SA_INIT request | Nr | prf(SK_pi, IDi')).
    let req = decrypt(&msgs[2], d.keys.sk_ei.expose());
    let idi = &req.iter().find(|(t, _)| *t == 35).unwrap().1;
    let auth_i = &req.iter().find(|(t, _)| *t == 39).unwrap().1;
    assert_eq!(auth_i[0], 2, "shared key message integrity code");
    let maced = keys::maced_id(&prf, d.keys.sk_pi.expose(), idi);
    let ours = keys::psk_auth(&prf, PSK, &msgs[0], &d.nr, &maced);
    assert_eq!(&auth_i[4..], &ours[..]);
    // Responder: AUTH = prf(prf(PSK, pad), IKE_SA_INIT response | Ni | prf(SK_pr, IDr')).
    let resp = decrypt(&msgs[3], d.keys.sk_er.expose());
    let idr = &resp.iter().find(|(t, _)| *t == 36).unwrap().1;
    let auth_r = &resp.iter().find(|(t, _)| *t == 39).unwrap().1;
    let maced = keys::maced_id(&prf, d.keys.sk_pr.expose(), idr);
    let ours = keys::psk_auth(&prf, PSK, &msgs[1], &d.ni, &maced);
    assert_eq!(&auth_r[4..], &ours[..]);
    // A wrong PSK gives another value.
    let wrong = keys::psk_auth(&prf, b"wrong", &msgs[1], &d.ni, &maced);
    assert_ne!(&auth_r[4..], &wrong[..]);
}
