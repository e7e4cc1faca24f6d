//! Key derivation (RFC 7296 sections 2.13, 2.14, 2.15, 2.17, 2.18).
//!
//! ```text
//! SKEYSEED = prf(Ni | Nr, g^ir)
//! {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
//! KEYMAT   = prf+(SK_d, [g^ir (new) |] Ni | Nr)              -- Child SA, section 2.17
//! SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)            -- IKE SA rekey, section 2.18
//! AUTH     = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)   -- section 2.15
//! ```
//!
//! Every output is a [`SecretBytes`] (zeroized on drop). The functions take the negotiated
//! [`PrfAlgorithm`] from the crypto provider and never allocate more than the keys they return.

use crate::error::LocalError;
use ipsec_core::crypto::{PrfAlgorithm, PrfId, SecretBytes};

/// The pad string of the PSK AUTH computation (RFC 7296 section 2.15), without a terminator.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// prf+ (RFC 7296 section 2.13): `T1 | T2 | ...` truncated to `len` bytes, where
/// `T1 = prf(K, S | 0x01)` and `Tn = prf(K, Tn-1 | S | n)`.
///
/// `seed` is `S` given in pieces (concatenated). Fails with [`LocalError::KeyDerivation`] when `len`
/// needs more than 255 blocks, which the counter byte cannot express.
pub fn prf_plus(
    prf: &dyn PrfAlgorithm,
    key: &[u8],
    seed: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, LocalError> {
    let block = prf.output_len();
    if block == 0 {
        return Err(LocalError::KeyDerivation("PRF with zero-length output"));
    }
    let blocks = len.div_ceil(block);
    if blocks > 255 {
        return Err(LocalError::KeyDerivation(
            "prf+ output longer than 255 blocks",
        ));
    }
    // Each block is written where it goes in the output, except a last partial one, which
    // is made in `tail` and cut; no block is kept anywhere else.
    let mut out = SecretBytes::zeroed(len);
    let mut tail = SecretBytes::zeroed(if len.is_multiple_of(block) { 0 } else { block });
    for n in 1..=blocks {
        let counter = [n as u8];
        let start = (n - 1) * block;
        let (done, rest) = out.expose_mut().split_at_mut(start);
        let prev = done.get(start.saturating_sub(block)..).unwrap_or_default();
        with_pieces(prev, seed, &counter, |data| {
            if rest.len() >= block {
                prf.prf(key, data, &mut rest[..block]);
            } else {
                prf.prf(key, data, tail.expose_mut());
                rest.copy_from_slice(&tail.expose()[..rest.len()]);
            }
        });
    }
    Ok(out)
}

/// Calls `f` with `first | seed | last` as one list of pieces (without `first` when it is
/// empty: the first block of prf+ has no previous one), on the stack when it is short (every
/// caller's is).
fn with_pieces<R>(first: &[u8], seed: &[&[u8]], last: &[u8], f: impl FnOnce(&[&[u8]]) -> R) -> R {
    const INLINE: usize = 8;
    let all = Some(first)
        .filter(|p| !p.is_empty())
        .into_iter()
        .chain(seed.iter().copied())
        .chain(core::iter::once(last));
    let count = usize::from(!first.is_empty()) + seed.len() + 1;
    if count <= INLINE {
        let mut pieces: [&[u8]; INLINE] = [&[]; INLINE];
        for (slot, piece) in pieces.iter_mut().zip(all) {
            *slot = piece;
        }
        f(&pieces[..count])
    } else {
        f(&all.collect::<Vec<_>>())
    }
}

/// The PRF key built from the nonces for SKEYSEED: `Ni | Nr`, except for the AES-based PRFs,
/// which take the first 64 bits of each nonce (RFC 7296 section 2.14).
fn nonce_key(prf: PrfId, ni: &[u8], nr: &[u8]) -> SecretBytes {
    let mut k = Vec::with_capacity(ni.len() + nr.len());
    if prf == PrfId::PRF_AES128_XCBC || prf == PrfId::PRF_AES128_CMAC {
        k.extend_from_slice(&ni[..ni.len().min(8)]);
        k.extend_from_slice(&nr[..nr.len().min(8)]);
    } else {
        k.extend_from_slice(ni);
        k.extend_from_slice(nr);
    }
    SecretBytes::new(k)
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` for a new IKE SA (RFC 7296 section 2.14).
pub fn skeyseed(prf: &dyn PrfAlgorithm, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> SecretBytes {
    let key = nonce_key(prf.id(), ni, nr);
    let mut out = SecretBytes::zeroed(prf.output_len());
    prf.prf(key.expose(), &[g_ir], out.expose_mut());
    out
}

/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` for a rekeyed IKE SA (RFC 7296 section 2.18).
pub fn rekey_skeyseed(
    prf: &dyn PrfAlgorithm,
    old_sk_d: &[u8],
    g_ir: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    let mut out = SecretBytes::zeroed(prf.output_len());
    prf.prf(old_sk_d, &[g_ir, ni, nr], out.expose_mut());
    out
}

/// Lengths of the IKE SA keys, from the negotiated transforms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkeKeyLengths {
    /// Length of SK_d, SK_pi and SK_pr: the PRF's preferred key length (its output length).
    pub prf_key: usize,
    /// Length of SK_ai and SK_ar: the integrity key length, 0 with an AEAD.
    pub integ_key: usize,
    /// Length of SK_ei and SK_er: the cipher key, plus the salt for an AEAD (RFC 5282 section 7.1).
    pub encr_key: usize,
}

impl IkeKeyLengths {
    fn total(&self) -> usize {
        3 * self.prf_key + 2 * self.integ_key + 2 * self.encr_key
    }
}

/// The seven keys of an IKE SA (RFC 7296 section 2.14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeKeys {
    /// Key from which Child SA keys derive.
    pub sk_d: SecretBytes,
    /// Integrity key, initiator to responder.
    pub sk_ai: SecretBytes,
    /// Integrity key, responder to initiator.
    pub sk_ar: SecretBytes,
    /// Encryption key (with salt for AEADs), initiator to responder.
    pub sk_ei: SecretBytes,
    /// Encryption key (with salt for AEADs), responder to initiator.
    pub sk_er: SecretBytes,
    /// Key for the initiator's AUTH payload.
    pub sk_pi: SecretBytes,
    /// Key for the responder's AUTH payload.
    pub sk_pr: SecretBytes,
}

/// Splits `material` into consecutive keys of the given lengths. `material` is exactly as long as
/// the lengths add up to (callers derive it that way).
fn split(material: &SecretBytes, lens: &[usize]) -> Vec<SecretBytes> {
    let mut out = Vec::with_capacity(lens.len());
    let mut at = 0;
    let bytes = material.expose();
    for &l in lens {
        let end = (at + l).min(bytes.len());
        out.push(SecretBytes::from_slice(&bytes[at.min(end)..end]));
        at = end;
    }
    out
}

/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`.
pub fn ike_keys(
    prf: &dyn PrfAlgorithm,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: u64,
    spi_r: u64,
    lens: IkeKeyLengths,
) -> Result<IkeKeys, LocalError> {
    let spi_i = spi_i.to_be_bytes();
    let spi_r = spi_r.to_be_bytes();
    let material = prf_plus(prf, skeyseed, &[ni, nr, &spi_i, &spi_r], lens.total())?;
    let mut k = split(
        &material,
        &[
            lens.prf_key,
            lens.integ_key,
            lens.integ_key,
            lens.encr_key,
            lens.encr_key,
            lens.prf_key,
            lens.prf_key,
        ],
    )
    .into_iter();
    let mut next = || k.next().unwrap_or_default();
    Ok(IkeKeys {
        sk_d: next(),
        sk_ai: next(),
        sk_ar: next(),
        sk_ei: next(),
        sk_er: next(),
        sk_pi: next(),
        sk_pr: next(),
    })
}

/// Lengths of one direction's Child SA keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildKeyLengths {
    /// Encryption key length, with the salt for AEADs (0 for ENCR_NULL).
    pub encr_key: usize,
    /// Integrity key length (0 with an AEAD).
    pub integ_key: usize,
}

/// Keys of a Child SA pair, by direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildKeys {
    /// Encryption key, initiator to responder.
    pub encr_i: SecretBytes,
    /// Integrity key, initiator to responder.
    pub integ_i: SecretBytes,
    /// Encryption key, responder to initiator.
    pub encr_r: SecretBytes,
    /// Integrity key, responder to initiator.
    pub integ_r: SecretBytes,
}

/// Child SA KEYMAT (RFC 7296 section 2.17): `prf+(SK_d, [g^ir (new) |] Ni | Nr)`, taken as the
/// initiator-to-responder encryption key, then its integrity key, then the same two for the
/// responder-to-initiator direction.
pub fn child_keys(
    prf: &dyn PrfAlgorithm,
    sk_d: &[u8],
    g_ir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    lens: ChildKeyLengths,
) -> Result<ChildKeys, LocalError> {
    let total = 2 * (lens.encr_key + lens.integ_key);
    let material = match g_ir {
        Some(g) => prf_plus(prf, sk_d, &[g, ni, nr], total)?,
        None => prf_plus(prf, sk_d, &[ni, nr], total)?,
    };
    let mut k = split(
        &material,
        &[lens.encr_key, lens.integ_key, lens.encr_key, lens.integ_key],
    )
    .into_iter();
    let mut next = || k.next().unwrap_or_default();
    Ok(ChildKeys {
        encr_i: next(),
        integ_i: next(),
        encr_r: next(),
        integ_r: next(),
    })
}

/// `MACedIDForI/R = prf(SK_px, RestOfIDPayload)` (RFC 7296 section 2.15), where the rest of the
/// ID payload is its body after the generic header: ID type, three reserved bytes, ID data.
pub fn maced_id(prf: &dyn PrfAlgorithm, sk_p: &[u8], id_body: &[u8]) -> Vec<u8> {
    let mut out = vec![0; prf.output_len()];
    prf.prf(sk_p, &[id_body], &mut out);
    out
}

/// The PSK AUTH payload data (RFC 7296 section 2.15):
/// `prf(prf(PSK, "Key Pad for IKEv2"), RealMessage | Nonce | MACedID)`.
///
/// `real_message` is the IKE_SA_INIT message this side sent (initiator: the request, responder:
/// the response), exactly as on the wire; `peer_nonce` is the other side's nonce data; `maced_id`
/// comes from [`maced_id`] with this side's SK_p and ID payload.
pub fn psk_auth(
    prf: &dyn PrfAlgorithm,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    maced_id: &[u8],
) -> Vec<u8> {
    let mut pad_key = SecretBytes::zeroed(prf.output_len());
    prf.prf(psk, &[KEY_PAD], pad_key.expose_mut());
    let mut out = vec![0; prf.output_len()];
    prf.prf(
        pad_key.expose(),
        &[real_message, peer_nonce, maced_id],
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_crypto::HmacSha256;

    #[test]
    fn prf_plus_matches_manual_iteration() {
        let prf = HmacSha256;
        let out = prf_plus(&prf, b"key", &[b"se", b"ed"], 80).unwrap();
        let mut t1 = [0u8; 32];
        prf.prf(b"key", &[b"seed", &[1]], &mut t1);
        let mut t2 = [0u8; 32];
        prf.prf(b"key", &[&t1, b"seed", &[2]], &mut t2);
        let mut t3 = [0u8; 32];
        prf.prf(b"key", &[&t2, b"seed", &[3]], &mut t3);
        let mut expect = Vec::new();
        expect.extend_from_slice(&t1);
        expect.extend_from_slice(&t2);
        expect.extend_from_slice(&t3[..16]);
        assert_eq!(out.expose(), &expect[..]);
    }

    #[test]
    fn prf_plus_is_one_stream_whatever_the_pieces_and_length() {
        let prf = HmacSha256;
        let whole = prf_plus(&prf, b"key", &[b"abcdefghij"], 200).unwrap();
        // The seed in more pieces than fit on the stack, and in empty ones, reads the same.
        let many: [&[u8]; 10] = [b"a", b"b", b"", b"c", b"de", b"f", b"g", b"h", b"ij", b""];
        assert_eq!(prf_plus(&prf, b"key", &many, 200).unwrap(), whole);
        // Every length is a prefix of the longer stream: whole blocks, a partial last one,
        // one byte, none.
        for len in [0, 1, 31, 32, 33, 64, 199] {
            let part = prf_plus(&prf, b"key", &[b"abc", b"defghij"], len).unwrap();
            assert_eq!(part.expose(), &whole.expose()[..len], "length {len}");
        }
    }

    /// A PRF that records the pieces of data it is given, and outputs a counter.
    #[derive(Debug, Default)]
    struct Recording(std::sync::Mutex<Vec<Vec<Vec<u8>>>>);

    impl PrfAlgorithm for Recording {
        fn id(&self) -> PrfId {
            PrfId::PRF_AES128_XCBC
        }
        fn output_len(&self) -> usize {
            4
        }
        fn prf(&self, _key: &[u8], data: &[&[u8]], out: &mut [u8]) {
            let mut calls = self.0.lock().unwrap();
            calls.push(data.iter().map(|d| d.to_vec()).collect());
            out.fill(calls.len() as u8);
        }
    }

    #[test]
    fn prf_plus_hands_the_prf_the_previous_block_seed_and_counter_only() {
        let prf = Recording::default();
        let out = prf_plus(&prf, b"k", &[b"ni", b"nr"], 10).unwrap();
        assert_eq!(out.expose(), &[1, 1, 1, 1, 2, 2, 2, 2, 3, 3]);
        let calls = prf.0.lock().unwrap();
        let pieces = |c: &[&[u8]]| c.iter().map(|p| p.to_vec()).collect::<Vec<_>>();
        // T1 has no previous block: no empty piece before the seed (a PRF whose code treats
        // pieces as blocks must not see one).
        assert_eq!(calls[0], pieces(&[b"ni", b"nr", &[1]]));
        assert_eq!(calls[1], pieces(&[&[1, 1, 1, 1], b"ni", b"nr", &[2]]));
        assert_eq!(calls[2], pieces(&[&[2, 2, 2, 2], b"ni", b"nr", &[3]]));
    }

    #[test]
    fn prf_plus_refuses_more_than_255_blocks() {
        let prf = HmacSha256;
        assert!(prf_plus(&prf, b"k", &[b"s"], 255 * 32).is_ok());
        assert!(matches!(
            prf_plus(&prf, b"k", &[b"s"], 255 * 32 + 1),
            Err(LocalError::KeyDerivation(_))
        ));
    }

    #[test]
    fn child_keys_split_in_rfc_order() {
        let prf = HmacSha256;
        let lens = ChildKeyLengths {
            encr_key: 16,
            integ_key: 32,
        };
        let k = child_keys(&prf, b"skd", None, b"ni", b"nr", lens).unwrap();
        let all = prf_plus(&prf, b"skd", &[b"ni", b"nr"], 96).unwrap();
        assert_eq!(k.encr_i.expose(), &all.expose()[..16]);
        assert_eq!(k.integ_i.expose(), &all.expose()[16..48]);
        assert_eq!(k.encr_r.expose(), &all.expose()[48..64]);
        assert_eq!(k.integ_r.expose(), &all.expose()[64..96]);
    }
}
