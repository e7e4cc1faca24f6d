//! SK protection: encrypting and authenticating the inner payloads of a message, and checking and
//! decrypting them (RFC 7296 section 3.14; RFC 5282 for AES-GCM, RFC 7634 for ChaCha20-Poly1305).
//!
//! With an AEAD the associated data is everything from the IKE header to the end of the SK (or SKF)
//! payload header, the IV is 8 bytes and the nonce is `salt || IV` (RFC 5282 section 5.1); the
//! provider's [`AeadKey`] takes `key || salt` and builds the nonce. With a cipher plus an integrity
//! algorithm (AES-CBC + HMAC-SHA2) the ICV covers the whole message up to the ICV, and is checked in
//! constant time before anything is decrypted or parsed.
//!
//! IVs come from the caller's random source. For AEADs RFC 5282 only asks that an IV never repeat
//! under one key; 64 random bits make that a negligible risk for the few messages an IKE SA sends.

use super::header::{Header, HEADER_LEN};
use super::message::check_packet;
use super::payload::{emit_chain, first_type, parse_chain, PayloadHeader, RawPayloads};
use super::{be16, len16, Error, Limits, Message, Payload, PayloadType, PAYLOAD_HEADER_LEN};
use core::fmt;
use ipsec_core::crypto::{
    AeadAlgorithm, CipherAlgorithm, CryptoError, CryptoProvider, Encryption, IntegId,
    IntegrityAlgorithm, SecretBytes, SecureRandom,
};
use zeroize::Zeroizing;

/// The algorithms and key material. The provider's key objects (an expanded AES key schedule
/// with its GHASH tables is about a kilobyte) are made for each message rather than kept: an
/// IKE SA sends and receives few messages, and a responder holding many IKE SAs would otherwise
/// spend most of its memory on them.
enum Cipher {
    Aead {
        alg: &'static dyn AeadAlgorithm,
        key: SecretBytes,
        iv_len: usize,
        tag_len: usize,
    },
    Cbc {
        alg: &'static dyn CipherAlgorithm,
        key: SecretBytes,
        block_len: usize,
        iv_len: usize,
        integ_alg: &'static dyn IntegrityAlgorithm,
        integ: SecretBytes,
        icv_len: usize,
    },
}

/// The keys protecting the messages of one sender of an IKE SA: SK_ei and SK_ai for messages from
/// the original initiator, SK_er and SK_ar for those from the responder (RFC 7296 section 2.14).
///
/// Built once per IKE SA; each message then makes the provider's key objects from the key
/// material and protects or opens with them.
pub struct SkKeys {
    cipher: Cipher,
    encryption: Encryption,
    integrity: IntegId,
}

impl fmt::Debug for SkKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkKeys")
            .field("encryption", &self.encryption)
            .field("integrity", &self.integrity)
            .finish_non_exhaustive()
    }
}

impl SkKeys {
    /// Sets up the keys for the negotiated transforms. For an AEAD, `integrity` must be
    /// [`IntegId::NONE`], `sk_e` is `key || salt` and `sk_a` is unused (empty); otherwise `sk_e` is
    /// the cipher key and `sk_a` the integrity key.
    pub fn new(
        provider: &CryptoProvider,
        encryption: Encryption,
        integrity: IntegId,
        sk_e: &[u8],
        sk_a: &[u8],
    ) -> Result<Self, Error> {
        let cipher = if encryption.is_aead() {
            if integrity != IntegId::NONE {
                return Err(
                    CryptoError::Unsupported("an AEAD takes no integrity transform").into(),
                );
            }
            let alg = provider
                .aead(encryption)
                .ok_or(CryptoError::Unsupported("AEAD not in the provider"))?;
            // Made once here so that a bad key fails now, not at the first message.
            alg.new_key(sk_e)?;
            Cipher::Aead {
                alg,
                key: SecretBytes::from_slice(sk_e),
                iv_len: alg.iv_len(),
                tag_len: alg.tag_len(),
            }
        } else {
            let alg = provider
                .cipher(encryption)
                .ok_or(CryptoError::Unsupported("cipher not in the provider"))?;
            let integ = provider
                .integrity(integrity)
                .ok_or(CryptoError::Unsupported(
                    "integrity algorithm not in the provider",
                ))?;
            alg.new_key(sk_e)?;
            integ.new_key(sk_a)?;
            Cipher::Cbc {
                alg,
                key: SecretBytes::from_slice(sk_e),
                block_len: alg.block_len().max(1),
                iv_len: alg.iv_len(),
                integ_alg: integ,
                integ: SecretBytes::from_slice(sk_a),
                icv_len: integ.icv_len(),
            }
        };
        Ok(SkKeys {
            cipher,
            encryption,
            integrity,
        })
    }

    /// The encryption transform.
    pub fn encryption(&self) -> Encryption {
        self.encryption
    }

    /// The integrity transform ([`IntegId::NONE`] for an AEAD).
    pub fn integrity(&self) -> IntegId {
        self.integrity
    }

    /// Length of the IV in bytes.
    pub fn iv_len(&self) -> usize {
        match self.cipher {
            Cipher::Aead { iv_len, .. } | Cipher::Cbc { iv_len, .. } => iv_len,
        }
    }

    /// Length of the ICV (or AEAD tag) in bytes.
    pub fn icv_len(&self) -> usize {
        match self.cipher {
            Cipher::Aead { tag_len, .. } => tag_len,
            Cipher::Cbc { icv_len, .. } => icv_len,
        }
    }

    /// The block length the padded plaintext is a multiple of (1 for AEADs).
    pub fn block_len(&self) -> usize {
        match self.cipher {
            Cipher::Aead { .. } => 1,
            Cipher::Cbc { block_len, .. } => block_len,
        }
    }

    /// Length of the encrypted data for `plain_len` bytes of inner payloads: padding and the Pad
    /// Length byte included, IV and ICV excluded.
    pub fn padded_len(&self, plain_len: usize) -> usize {
        let b = self.block_len();
        (plain_len + 1).div_ceil(b) * b
    }

    /// Largest plaintext that fits `room` bytes of IV, encrypted data and ICV; `None` if nothing fits.
    pub(crate) fn max_plain_for(&self, room: usize) -> Option<usize> {
        let enc = room.checked_sub(self.iv_len() + self.icv_len())?;
        let b = self.block_len();
        (enc / b * b).checked_sub(1).filter(|n| *n > 0)
    }
}

/// Encrypts and authenticates `inner` into a message with the given header, whose only payload is
/// an SK payload. The header's next payload and length are set from the result.
pub fn protect(
    header: &Header,
    inner: &[Payload],
    keys: &SkKeys,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, Error> {
    let mut plain = Zeroizing::new(Vec::new());
    emit_chain(inner, &mut plain)?;
    seal(
        header,
        PayloadType::SK,
        first_type(inner),
        &[],
        &plain,
        keys,
        rng,
    )
}

/// Checks and decrypts a protected message with the default [`Limits`]: the payloads before the SK
/// payload followed by the decrypted inner payloads. The ICV is checked before any payload body is
/// decoded; a failure is [`Error::IntegrityCheckFailed`] (drop the message).
pub fn unprotect(bytes: &[u8], keys: &SkKeys) -> Result<Message, Error> {
    unprotect_with(bytes, keys, &Limits::default())
}

/// [`unprotect`] within `limits`.
pub fn unprotect_with(bytes: &[u8], keys: &SkKeys, limits: &Limits) -> Result<Message, Error> {
    unprotect_checked(bytes, keys, limits).map_err(|r| r.error)
}

/// Why [`unprotect_checked`] or [`open_checked`] failed, and whether the message had passed its
/// integrity check by then: only an authenticated request gets an error response (RFC 7296
/// section 2.21.2).
#[derive(Debug)]
pub(crate) struct Rejected {
    pub(crate) error: Error,
    pub(crate) authenticated: bool,
}

impl Rejected {
    /// A failure after the ICV verified.
    pub(crate) fn authentic(error: Error) -> Self {
        Rejected {
            error,
            authenticated: true,
        }
    }
}

impl From<Error> for Rejected {
    fn from(error: Error) -> Self {
        Rejected {
            error,
            authenticated: false,
        }
    }
}

impl From<CryptoError> for Rejected {
    fn from(e: CryptoError) -> Self {
        Error::from(e).into()
    }
}

/// [`unprotect_with`], telling whether a failure came after the integrity check.
pub(crate) fn unprotect_checked(
    bytes: &[u8],
    keys: &SkKeys,
    limits: &Limits,
) -> Result<Message, Rejected> {
    let opened = open_checked(bytes, keys, limits)?;
    if opened.fragment.is_some() {
        return Err(Error::BadFragment("a fragment needs a Reassembler").into());
    }
    let mut payloads = opened.outer;
    let inner = parse_chain(opened.next_payload, &opened.plaintext, limits, true)
        .map_err(Rejected::authentic)?;
    if payloads.len() + inner.len() > limits.max_payloads {
        return Err(Rejected::authentic(Error::LimitExceeded(
            "payloads in a message",
        )));
    }
    payloads.extend(inner);
    Ok(Message {
        header: opened.header,
        payloads,
    })
}

/// A protected message after its ICV was checked and its encrypted data decrypted.
pub(crate) struct Opened {
    pub(crate) header: Header,
    /// Payloads before the SK/SKF payload, decoded.
    pub(crate) outer: Vec<Payload>,
    /// The SK/SKF payload's Next Payload field.
    pub(crate) next_payload: PayloadType,
    /// Fragment number and total, for SKF.
    pub(crate) fragment: Option<(u16, u16)>,
    /// The inner payload bytes, padding removed.
    pub(crate) plaintext: Zeroizing<Vec<u8>>,
}

/// Builds a protected message: header, SK or SKF header (`extra` holds the SKF fragment fields),
/// IV, encrypted `plain` with padding, ICV.
pub(crate) fn seal(
    header: &Header,
    kind: PayloadType,
    first_inner: PayloadType,
    extra: &[u8],
    plain: &[u8],
    keys: &SkKeys,
    rng: &dyn SecureRandom,
) -> Result<Vec<u8>, Error> {
    let iv_len = keys.iv_len();
    let icv_len = keys.icv_len();
    let enc_len = keys.padded_len(plain.len());
    let pad_len = enc_len - plain.len() - 1;
    let pad_byte = u8::try_from(pad_len).map_err(|_| Error::Unrepresentable("padding"))?;
    let payload_len = PAYLOAD_HEADER_LEN + extra.len() + iv_len + enc_len + icv_len;
    let total = HEADER_LEN + payload_len;
    let length = u32::try_from(total).map_err(|_| Error::TooLong("message"))?;
    let mut out = Zeroizing::new(vec![0; HEADER_LEN]);
    out.reserve(payload_len);
    header.emit(kind, length, &mut out)?;
    PayloadHeader {
        next_payload: first_inner,
        critical: false,
        length: len16(payload_len, "encrypted payload")?,
    }
    .emit(&mut out);
    out.extend_from_slice(extra);
    let iv_start = out.len();
    out.resize(iv_start + iv_len, 0);
    rng.fill(&mut out[iv_start..])?;
    let ct_start = out.len();
    out.extend_from_slice(plain);
    out.resize(ct_start + enc_len - 1, 0);
    out.push(pad_byte);
    let icv_start = out.len();
    out.resize(icv_start + icv_len, 0);
    match &keys.cipher {
        Cipher::Aead { alg, key, .. } => {
            let key = alg.new_key(key.expose())?;
            let (head, tail) = out.split_at_mut(ct_start);
            let (aad, iv) = head.split_at(iv_start);
            let (ct, tag) = tail.split_at_mut(enc_len);
            key.seal_in_place(iv, aad, ct, tag)?;
        }
        Cipher::Cbc {
            alg,
            key,
            integ_alg,
            integ,
            ..
        } => {
            {
                let key = alg.new_key(key.expose())?;
                let (head, tail) = out.split_at_mut(ct_start);
                let iv = &head[iv_start..];
                key.encrypt_in_place(iv, &mut tail[..enc_len])?;
            }
            let integ = integ_alg.new_key(integ.expose())?;
            let (signed, icv) = out.split_at_mut(icv_start);
            integ.sign(&[signed], icv);
        }
    }
    Ok(core::mem::take(&mut *out))
}

/// Checks the ICV of a protected message and decrypts it; see [`unprotect`].
pub(crate) fn open(bytes: &[u8], keys: &SkKeys, limits: &Limits) -> Result<Opened, Error> {
    open_checked(bytes, keys, limits).map_err(|r| r.error)
}

/// [`open`], telling whether a failure came after the integrity check.
pub(crate) fn open_checked(
    bytes: &[u8],
    keys: &SkKeys,
    limits: &Limits,
) -> Result<Opened, Rejected> {
    let packet = check_packet(bytes, limits)?;
    let header = Header::parse(&packet)?;
    // Walk the generic headers only: no payload body is decoded before the ICV is checked.
    let mut raws = Vec::new();
    for raw in RawPayloads::new(packet.next_payload(), packet.payload(), limits) {
        raws.push(raw?);
    }
    let last = raws.pop().ok_or(Error::NotProtected)?;
    let (extra, fragment) = match last.payload_type {
        PayloadType::SK => (0, None),
        PayloadType::SKF => {
            let number = be16(last.body, 0)?;
            let total = be16(last.body, 2)?;
            if number == 0 || number > total {
                return Err(Error::BadFragment("fragment number out of range").into());
            }
            (4, Some((number, total)))
        }
        _ => return Err(Error::NotProtected.into()),
    };
    let iv_start = HEADER_LEN + last.offset + PAYLOAD_HEADER_LEN + extra;
    let iv_len = keys.iv_len();
    let icv_len = keys.icv_len();
    let ct_start = iv_start + iv_len;
    let icv_start = bytes
        .len()
        .checked_sub(icv_len)
        .filter(|s| *s > ct_start)
        .ok_or(Error::BadLength("encrypted payload too short"))?;
    let (signed, icv) = bytes.split_at(icv_start);
    let aad = signed.get(..iv_start).ok_or(Error::Truncated)?;
    let iv = signed.get(iv_start..ct_start).ok_or(Error::Truncated)?;
    let ct = signed.get(ct_start..).ok_or(Error::Truncated)?;
    if ct.len() % keys.block_len() != 0 {
        return Err(Error::BadLength("ciphertext not a multiple of the block length").into());
    }
    let mut plaintext = Zeroizing::new(ct.to_vec());
    match &keys.cipher {
        Cipher::Aead { alg, key, .. } => {
            alg.new_key(key.expose())?
                .open_in_place(iv, aad, &mut plaintext, icv)
                .map_err(integrity_error)?;
        }
        Cipher::Cbc {
            alg,
            key,
            integ_alg,
            integ,
            ..
        } => {
            integ_alg
                .new_key(integ.expose())?
                .verify(&[signed], icv)
                .map_err(integrity_error)?;
            alg.new_key(key.expose())?
                .decrypt_in_place(iv, &mut plaintext)?;
        }
    }
    let pad_len = usize::from(
        *plaintext
            .last()
            .ok_or(Rejected::authentic(Error::Truncated))?,
    );
    let inner_len = plaintext
        .len()
        .checked_sub(pad_len + 1)
        .ok_or(Rejected::authentic(Error::Malformed(
            "pad length longer than the encrypted data",
        )))?;
    plaintext.truncate(inner_len);
    let outer = raws
        .iter()
        .map(|raw| Payload::parse(raw, limits))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Rejected::authentic)?;
    Ok(Opened {
        header,
        outer,
        next_payload: last.header.next_payload,
        fragment,
        plaintext,
    })
}

fn integrity_error(e: CryptoError) -> Error {
    match e {
        CryptoError::IntegrityCheckFailed => Error::IntegrityCheckFailed,
        other => Error::Crypto(other),
    }
}
