//! Outbound and inbound SAs: in-place ESP encapsulation and decapsulation (RFC 4303).
//!
//! An SA is built once from a [`ChildSa`] description and a [`CryptoProvider`]; keys are set up
//! then. Per packet an AEAD SA makes exactly one call into the provider's keyed object (seal or
//! open); a CBC+HMAC SA makes one cipher call and one MAC call (plus, when sending, a one-block
//! cipher call that derives the IV). Everything happens in the caller's buffer; nothing allocates.
//!
//! Buffer contract: the caller's packet sits at `buf[range]`. Encapsulation writes the ESP header
//! and IV into the bytes before it (headroom, see [`OutboundSa::headroom`](crate::OutboundSa::headroom)) and the padding,
//! trailer and ICV after it (tailroom, see [`OutboundSa::max_tailroom`](crate::OutboundSa::max_tailroom)), and returns the range of
//! the packet to send. Decapsulation decrypts in place and returns the range of the inner packet.
//!
//! Receive order (RFC 4303 section 3.4): length checks, lifetime, replay *check*, ICV, decrypt,
//! padding, replay *commit*, counters. A packet that fails before its ICV verified changes no
//! state other than the drop counter of its reason.
//!
//! Every SA authenticates its packets (an AEAD, or a cipher with an integrity algorithm) unless
//! the caller builds it with a `new_confidentiality_only` constructor. Such an SA has no
//! anti-replay service (RFC 4303 section 3.4.3 offers it only with integrity: an unauthenticated
//! sequence number must never move the window) and no extended sequence numbers.

use crate::error::{DropCounters, EspError};
use crate::ip;
use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol};
use ipsec_core::crypto::{
    AeadKey, CipherKey, CryptoError, CryptoProvider, EncrId, IntegId, IntegrityKey,
};
use ipsec_core::selector::{SelectorSet, TrafficSelector};

/// Generates the explicit IV of each outbound packet from its sequence number.
///
/// The IV is the sequence number (right-aligned, zero-filled) XOR a per-SA mask; for CBC that
/// value is then encrypted under the SA's own cipher key. Sequence numbers never repeat under one
/// key (they only move forward and never wrap), so neither do the IVs, whatever the mask:
///
/// - AEADs need a nonce that is unique per key (RFC 4106 section 3.1, RFC 7634 section 2); this
///   is the `seqiv` construction of the Linux kernel, whose random mask hides the counter;
/// - CBC needs an unpredictable IV (RFC 3602 section 2): the encryption of a unique block under
///   the key, the first method of NIST SP 800-38A appendix C, which costs one block instead of a
///   system call.
///
/// The mask may be chosen only before the first packet, since changing it later could map a new
/// sequence number onto an IV already sent.
pub(crate) struct IvGen {
    /// XORed into the counter block; only the first `iv_len` bytes are used.
    mask: [u8; MAX_IV],
    /// Encrypt the masked counter (CBC).
    encrypt: bool,
    /// An IV has been generated: the mask is fixed from now on.
    used: bool,
}

/// The longest IV the datapath generates.
const MAX_IV: usize = 32;

impl IvGen {
    pub(crate) fn new(encrypt: bool) -> Self {
        IvGen {
            mask: [0; MAX_IV],
            encrypt,
            used: false,
        }
    }

    /// Sets the mask; refused once an IV was generated, or when `mask` is not `iv_len` bytes.
    pub(crate) fn set_mask(&mut self, mask: &[u8], iv_len: usize) -> Result<(), EspError> {
        if self.used {
            return Err(EspError::Misuse(
                "the IV mask cannot change once packets were sent",
            ));
        }
        if mask.len() != iv_len || iv_len > MAX_IV {
            return Err(EspError::Misuse("the IV mask must be as long as the IV"));
        }
        self.mask = [0; MAX_IV];
        self.mask[..iv_len].copy_from_slice(mask);
        Ok(())
    }

    pub(crate) fn fill(
        &mut self,
        seq: u64,
        iv: &mut [u8],
        cipher: Option<&dyn CipherKey>,
    ) -> Result<(), EspError> {
        if iv.len() > MAX_IV {
            return Err(EspError::Crypto(CryptoError::InvalidLength(
                "IV longer than 32 bytes",
            )));
        }
        self.used = true;
        if let Ok(iv) = <&mut [u8; 8]>::try_from(&mut *iv) {
            // The AEADs' 8-byte IV: one word.
            let mut mask = [0u8; 8];
            mask.copy_from_slice(&self.mask[..8]);
            *iv = (seq ^ u64::from_be_bytes(mask)).to_be_bytes();
        } else {
            let s = seq.to_be_bytes();
            let n = iv.len().min(8);
            let (zeros, tail) = iv.split_at_mut(iv.len() - n);
            zeros.fill(0);
            tail.copy_from_slice(&s[8 - n..]);
            for (b, m) in iv.iter_mut().zip(self.mask.iter()) {
                *b ^= m;
            }
        }
        if let (true, Some(c)) = (self.encrypt, cipher) {
            // One block in CBC mode with a zero IV is the block cipher itself.
            let zero = [0u8; MAX_IV];
            c.encrypt_in_place(&zero[..iv.len()], iv)
                .map_err(EspError::Crypto)?;
        }
        Ok(())
    }
}

/// The keyed transform of one direction.
pub(crate) enum Transform {
    Aead {
        key: Box<dyn AeadKey>,
    },
    Split {
        /// `None` for ENCR_NULL.
        cipher: Option<Box<dyn CipherKey>>,
        /// `None` for confidentiality-only ESP (RFC 4303 section 3.2; discouraged by RFC 8221).
        integ: Option<Box<dyn IntegrityKey>>,
    },
}

/// Lengths that shape every packet of an SA.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) iv_len: usize,
    pub(crate) icv_len: usize,
    /// Ciphertext (payload + padding + trailer) is a multiple of this, a power of two (4 or
    /// the cipher's block; every block cipher ESP uses has a power-of-two block), so the
    /// per-packet arithmetic is masking.
    pub(crate) align: usize,
}

/// Whether an SA may be built without integrity protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Integrity {
    /// An AEAD or an integrity algorithm with a non-empty ICV is required.
    Required,
    /// Confidentiality-only ESP (RFC 4303 section 3.2) is accepted, on the caller's explicit
    /// request.
    Optional,
}

/// Builds the keyed transform of one direction; the returned flag says whether the packets are
/// authenticated (an AEAD tag or an ICV of at least one byte).
pub(crate) fn build_transform(
    provider: &CryptoProvider,
    child: &ChildSa,
    keys: &DirectionKeys,
    integrity: Integrity,
) -> Result<(Transform, Shape, bool), EspError> {
    let (transform, shape) = keyed_transform(provider, child, keys)?;
    let authenticated = shape.icv_len > 0;
    if !authenticated {
        if integrity == Integrity::Required {
            return Err(EspError::Config(format!(
                "{} without integrity: ESP needs an AEAD or an integrity algorithm \
                 (confidentiality-only SAs are built only on explicit request)",
                child.encryption
            )));
        }
        // Without an ICV the receiver cannot infer or verify the high half (RFC 4303 section
        // 2.2.1 feeds it to the integrity check only).
        if child.esn {
            return Err(EspError::Config(
                "extended sequence numbers need integrity protection".into(),
            ));
        }
    }
    Ok((transform, shape, authenticated))
}

fn keyed_transform(
    provider: &CryptoProvider,
    child: &ChildSa,
    keys: &DirectionKeys,
) -> Result<(Transform, Shape), EspError> {
    if child.protocol != IpsecProtocol::Esp {
        return Err(EspError::Config(
            "AH is not supported by the ESP datapath".into(),
        ));
    }
    let cfg = |e: CryptoError| EspError::Config(format!("{}: {e}", child.encryption));
    if child.encryption.is_aead() {
        let alg = provider
            .aead(child.encryption)
            .ok_or_else(|| EspError::Config(format!("provider lacks {}", child.encryption)))?;
        if child.integrity != IntegId::NONE {
            return Err(EspError::Config(
                "an AEAD takes no integrity algorithm".into(),
            ));
        }
        let key = alg.new_key(keys.encryption_key.expose()).map_err(cfg)?;
        let shape = Shape {
            iv_len: alg.iv_len(),
            icv_len: alg.tag_len(),
            align: 4,
        };
        return Ok((Transform::Aead { key }, shape));
    }
    let (cipher, iv_len, block) = match provider.cipher(child.encryption) {
        Some(alg) => (
            Some(alg.new_key(keys.encryption_key.expose()).map_err(cfg)?),
            alg.iv_len(),
            alg.block_len(),
        ),
        None if child.encryption.id == EncrId::ENCR_NULL => {
            if !keys.encryption_key.is_empty() {
                return Err(EspError::Config("ENCR_NULL takes no key".into()));
            }
            (None, 0, 1)
        }
        None => {
            return Err(EspError::Config(format!(
                "provider lacks {}",
                child.encryption
            )))
        }
    };
    let (integ, icv_len) = if child.integrity == IntegId::NONE {
        if child.encryption.id == EncrId::ENCR_NULL {
            return Err(EspError::Config(
                "ENCR_NULL without integrity protects nothing".into(),
            ));
        }
        (None, 0)
    } else {
        let alg = provider
            .integrity(child.integrity)
            .ok_or_else(|| EspError::Config(format!("provider lacks {}", child.integrity)))?;
        let key = alg
            .new_key(keys.integrity_key.expose())
            .map_err(|e| EspError::Config(format!("{}: {e}", child.integrity)))?;
        (Some(key), alg.icv_len())
    };
    let align = block.max(4);
    if !align.is_power_of_two() {
        return Err(EspError::Config(format!(
            "{}: a block of {block} bytes",
            child.encryption
        )));
    }
    let shape = Shape {
        iv_len,
        icv_len,
        align,
    };
    Ok((Transform::Split { cipher, integ }, shape))
}

/// Packet and byte counters of one SA, with its drops by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaCounters {
    /// Packets encapsulated, or decapsulated and authenticated.
    pub packets: u64,
    /// Payload bytes of those packets.
    pub bytes: u64,
    /// Authenticated dummy packets (next header 59) dropped silently.
    pub dummies: u64,
    /// Received packets dropped, by reason.
    pub drops: DropCounters,
}

pub(crate) fn aad(buf: &mut [u8; 12], spi: u32, seq: u64, esn: bool) -> &[u8] {
    buf[..4].copy_from_slice(&spi.to_be_bytes());
    if esn {
        // RFC 4106 section 5 / RFC 7634 section 2.1: SPI, high half, low half.
        buf[4..12].copy_from_slice(&seq.to_be_bytes());
        &buf[..]
    } else {
        buf[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        &buf[..8]
    }
}

/// One end's selectors as an SA checks packets against them; `None` when the SA was installed
/// without selectors (it then admits anything).
pub(crate) fn selector_set(list: &[TrafficSelector]) -> Option<SelectorSet> {
    (!list.is_empty()).then(|| SelectorSet::new(list))
}

/// True when `flow` goes from an address in `src_ts` to one in `dst_ts`, with the matching rules
/// of [`ipsec_core::selector`] (ICMP type and code in the port fields, OPAQUE ports for fragments).
/// `None` admits anything: the SA was installed without selectors.
#[inline(always)]
pub(crate) fn flow_in(
    flow: &ip::RawFlow,
    src_ts: Option<&SelectorSet>,
    dst_ts: Option<&SelectorSet>,
) -> bool {
    src_ts.is_none_or(|s| s.admits_integer(flow.ipv6, flow.src, flow.protocol, flow.src_port))
        && dst_ts.is_none_or(|s| {
            s.admits_integer(flow.ipv6, flow.dst, flow.protocol, flow.selector_dst_port())
        })
}
