//! Properties of every built-in provider over arbitrary inputs, complementing the conformance
//! check's fixed cases: AEADs and CBC ciphers round-trip, any single flipped bit is caught,
//! integrity algorithms do not depend on how the input is split, and arbitrary peer
//! key-exchange values never panic.

use ipsec_core::crypto::{builtin_providers, CryptoError, DhGroup};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn aeads_round_trip_and_catch_any_flipped_bit(
        seed in any::<u8>(),
        iv in any::<[u8; 8]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..40),
        pt in proptest::collection::vec(any::<u8>(), 0..200),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        for aead in builtin_providers().iter().flat_map(|(_, p)| p.aeads) {
            let keymat: Vec<u8> = (0..aead.keymat_len()).map(|i| seed ^ i as u8).collect();
            let key = aead.new_key(&keymat).unwrap();
            let mut buf = pt.clone();
            let mut tag = [0u8; 16];
            key.seal_in_place(&iv, &aad, &mut buf, &mut tag).unwrap();
            let sealed = buf.clone();
            key.open_in_place(&iv, &aad, &mut buf, &tag).unwrap();
            prop_assert_eq!(&buf, &pt);

            // Flip one bit somewhere in aad | ciphertext | tag.
            let (mut aad2, mut ct2, mut tag2) = (aad.clone(), sealed.clone(), tag);
            let total = aad2.len() + ct2.len() + tag2.len();
            let at = flip.index(total);
            if at < aad2.len() {
                aad2[at] ^= 1 << bit;
            } else if at < aad2.len() + ct2.len() {
                ct2[at - aad2.len()] ^= 1 << bit;
            } else {
                tag2[at - aad2.len() - ct2.len()] ^= 1 << bit;
            }
            prop_assert_eq!(
                key.open_in_place(&iv, &aad2, &mut ct2, &tag2),
                Err(CryptoError::IntegrityCheckFailed)
            );
        }
    }

    #[test]
    fn integrity_is_split_independent_and_catches_flips(
        seed in any::<u8>(),
        data in proptest::collection::vec(any::<u8>(), 0..300),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
    ) {
        for alg in builtin_providers().iter().flat_map(|(_, p)| p.integrity) {
            let keybytes: Vec<u8> = (0..alg.key_len()).map(|i| seed.wrapping_add(i as u8)).collect();
            let key = alg.new_key(&keybytes).unwrap();
            let mut whole = vec![0u8; alg.icv_len()];
            key.sign(&[&data], &mut whole);
            let c = cut.index(data.len() + 1);
            let mut split = vec![0u8; alg.icv_len()];
            key.sign(&[&data[..c], &[], &data[c..]], &mut split);
            prop_assert_eq!(&whole, &split);
            prop_assert!(key.verify(&[&data[..c], &data[c..]], &whole).is_ok());
            let mut bad = whole.clone();
            let at = flip.index(bad.len());
            bad[at] ^= 0x40;
            prop_assert_eq!(key.verify(&[&data], &bad), Err(CryptoError::IntegrityCheckFailed));
        }
    }

    #[test]
    fn ciphers_round_trip_whole_blocks(
        seed in any::<u8>(),
        blocks in 0usize..20,
        fill in any::<u8>(),
    ) {
        for c in builtin_providers().iter().flat_map(|(_, p)| p.ciphers) {
            let key = c.new_key(&vec![seed; c.key_len()]).unwrap();
            let iv = vec![fill; c.iv_len()];
            let pt: Vec<u8> = (0..blocks * c.block_len().max(4)).map(|i| i as u8 ^ fill).collect();
            let mut buf = pt.clone();
            key.encrypt_in_place(&iv, &mut buf).unwrap();
            if c.key_len() > 0 && !pt.is_empty() {
                prop_assert_ne!(&buf, &pt);
            }
            key.decrypt_in_place(&iv, &mut buf).unwrap();
            prop_assert_eq!(&buf, &pt);
        }
    }

    #[test]
    fn arbitrary_peer_values_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..140)) {
        for (_, p) in builtin_providers() {
            // The larger MODP groups run the same code as group 2, only slower.
            let larger_modp = [DhGroup::MODP_1536, DhGroup::MODP_2048, DhGroup::MODP_3072, DhGroup::MODP_4096];
            for g in p.key_exchanges.iter().filter(|g| !larger_modp.contains(&g.group())) {
                // Right-length and arbitrary-length inputs: either a secret or a typed
                // rejection. A fresh exchange each time (some complete only once).
                let mut sized = bytes.clone();
                sized.resize(g.public_len(), 0x5a);
                for input in [&bytes[..], &sized[..]] {
                    let me = g.start(p.random).unwrap();
                    match me.complete(input) {
                        Ok(secret) => prop_assert!(!secret.is_empty()),
                        Err(e) => prop_assert_eq!(e, CryptoError::InvalidPeerPublicKey(g.group())),
                    }
                }
            }
        }
    }
}
