//! Outbound and inbound SAs: in-place ESP encapsulation and decapsulation (RFC 4303).
//!
//! An SA is built once from a [`ChildSa`] description and a [`CryptoProvider`]; keys are set up
//! then. Per packet the SA makes exactly one call into the provider's keyed object (an AEAD seal or
//! open, or a cipher call plus a MAC call for the CBC+HMAC transforms), works in the caller's
//! buffer and allocates nothing.
//!
//! Buffer contract: the caller's packet sits at `buf[range]`. Encapsulation writes the ESP header
//! and IV into the bytes before it (headroom, see [`OutboundSa::headroom`]) and the padding,
//! trailer and ICV after it (tailroom, see [`OutboundSa::max_tailroom`]), and returns the range of
//! the packet to send. Decapsulation decrypts in place and returns the range of the inner packet.
//!
//! Receive order (RFC 4303 section 3.4): length checks, lifetime, replay *check*, ICV, decrypt,
//! padding, replay *commit*, counters. A packet that fails before its ICV verified changes no
//! state other than the drop counter of its reason.

use crate::encap::{self, DfPolicy, Framing, OuterFields};
use crate::error::{DropCounters, EspError};
use crate::ip;
use crate::lifetime::{Lifetime, LimitKind, SaEvent};
use crate::replay::ReplayWindow;
use crate::wire::{self, HEADER_LEN, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NONE};
use core::ops::Range;
use ipsec_core::child_sa::{ChildSa, DirectionKeys, IpsecProtocol, Mode, UdpEncapsulation};
use ipsec_core::crypto::{
    AeadKey, CipherKey, CryptoError, CryptoProvider, EncrId, IntegId, IntegrityKey, SecureRandom,
};
use ipsec_core::selector::TrafficSelector;
use ipsec_core::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// Chooses the explicit IV of each outbound packet.
///
/// The default for AEADs is the 64-bit sequence number (unique per key, as RFC 4106 section 3.1
/// and RFC 7634 section 2 require); for CBC it is a fresh random block from the provider (RFC 3602
/// section 2.3: unpredictable). Tests replaying a capture install their own.
pub trait IvSource: Send {
    /// Writes the IV of the packet with sequence number `seq` into `iv`.
    fn fill_iv(&mut self, seq: u64, iv: &mut [u8]) -> Result<(), CryptoError>;
}

enum IvGen {
    Counter,
    Random(&'static dyn SecureRandom),
    Custom(Box<dyn IvSource>),
}

impl IvGen {
    fn fill(&mut self, seq: u64, iv: &mut [u8]) -> Result<(), EspError> {
        match self {
            IvGen::Counter => {
                let s = seq.to_be_bytes();
                let n = iv.len().min(8);
                let (zeros, tail) = iv.split_at_mut(iv.len() - n);
                zeros.fill(0);
                tail.copy_from_slice(&s[8 - n..]);
                Ok(())
            }
            IvGen::Random(r) => r.fill(iv).map_err(EspError::Crypto),
            IvGen::Custom(c) => c.fill_iv(seq, iv).map_err(EspError::Crypto),
        }
    }
}

/// The keyed transform of one direction.
enum Transform {
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
struct Shape {
    iv_len: usize,
    icv_len: usize,
    /// Ciphertext (payload + padding + trailer) is a multiple of this.
    align: usize,
}

fn build_transform(
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
    let shape = Shape {
        iv_len,
        icv_len,
        align: block.max(4),
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

fn aad(buf: &mut [u8; 12], spi: u32, seq: u64, esn: bool) -> &[u8] {
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

/// The sending half of a Child SA.
pub struct OutboundSa {
    spi: u32,
    transform: Transform,
    shape: Shape,
    esn: bool,
    mode: Mode,
    next_seq: u64,
    iv: IvGen,
    local: SocketAddr,
    remote: SocketAddr,
    encapsulation: Option<UdpEncapsulation>,
    framing: Framing,
    df: DfPolicy,
    tfc_allowed: bool,
    tfc_pad_to: Option<u16>,
    lifetime: Lifetime,
    counters: SaCounters,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
}

impl core::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("next_seq", &self.next_seq)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl OutboundSa {
    /// Builds the outbound SA of `child` (its `outbound` keys and SPI), installed at `now`.
    pub fn new(provider: &CryptoProvider, child: &ChildSa, now: Instant) -> Result<Self, EspError> {
        let (transform, shape) = build_transform(provider, child, &child.outbound)?;
        let iv = match transform {
            Transform::Aead { .. } => IvGen::Counter,
            Transform::Split { .. } => IvGen::Random(provider.random),
        };
        if child.local_addr.is_ipv4() != child.remote_addr.is_ipv4() {
            return Err(EspError::Config(
                "local and remote addresses of different families".into(),
            ));
        }
        Ok(OutboundSa {
            spi: child.outbound.spi,
            transform,
            shape,
            esn: child.esn,
            mode: child.mode,
            next_seq: 1,
            iv,
            local: child.local_addr,
            remote: child.remote_addr,
            encapsulation: child.encapsulation,
            framing: Framing::Payload,
            df: DfPolicy::Copy,
            tfc_allowed: child.tfc_padding && child.mode == Mode::Tunnel,
            tfc_pad_to: None,
            lifetime: Lifetime::new(child.lifetimes, now),
            counters: SaCounters::default(),
            local_ts: child.local_ts.clone(),
            remote_ts: child.remote_ts.clone(),
        })
    }

    // --- getters ---

    /// The SPI in the packets (the peer's inbound SPI).
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u64 {
        self.next_seq
    }

    /// Counters.
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    /// Where to send: the peer's address with its UDP port when encapsulated (port 0 for raw ESP).
    pub fn destination(&self) -> SocketAddr {
        let port = self.encapsulation.map_or(0, |u| u.remote_port);
        SocketAddr::new(self.remote.ip(), port)
    }

    /// Our outer address, with our UDP port when encapsulated.
    pub fn source(&self) -> SocketAddr {
        let port = self.encapsulation.map_or(0, |u| u.local_port);
        SocketAddr::new(self.local.ip(), port)
    }

    /// Bytes [`encapsulate`](Self::encapsulate) needs before the inner packet.
    pub fn headroom(&self) -> usize {
        let outer = match self.framing {
            Framing::Payload => 0,
            Framing::IpPacket => encap::outer_len(&self.remote, self.encapsulation.is_some()),
        };
        outer + HEADER_LEN + self.shape.iv_len
    }

    /// The most bytes encapsulation may need after the inner packet (padding, trailer, ICV, and
    /// TFC padding when enabled).
    pub fn max_tailroom(&self) -> usize {
        let tfc = self.tfc_pad_to.map_or(0, usize::from);
        tfc + self.shape.align - 1 + wire::TRAILER_LEN + self.shape.icv_len
    }

    /// True when `flow` is traffic this SA carries (its source in our selectors, its destination
    /// in the peer's).
    pub fn matches(&self, flow: &ip::Flow) -> bool {
        flow_in(flow, &self.local_ts, &self.remote_ts)
    }

    // --- configuration commands ---

    /// Replaces the IV generator (known-answer tests; hardware sources).
    pub fn set_iv_source(&mut self, source: Box<dyn IvSource>) {
        self.iv = IvGen::Custom(source);
    }

    /// Chooses between socket payloads (default) and complete IP packets.
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    /// Sets how the outer DF bit is chosen.
    pub fn set_df_policy(&mut self, df: DfPolicy) {
        self.df = df;
    }

    /// Pads tunnel-mode inner packets shorter than `len` bytes up to `len` with TFC padding
    /// (RFC 4303 section 2.7). Ignored unless the Child SA is in tunnel mode and the peer accepts
    /// TFC padding.
    pub fn set_tfc_padding(&mut self, len: Option<u16>) {
        self.tfc_pad_to = if self.tfc_allowed { len } else { None };
    }

    /// Continues from sequence number `next` (state synchronisation after failover, RFC 6311).
    pub fn set_next_sequence(&mut self, next: u64) {
        self.next_seq = next;
    }

    // --- outputs ---

    /// The next lifetime event, if any.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.lifetime.poll_event()
    }

    /// When the next time limit falls due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lifetime.next_deadline()
    }

    /// Raises the time-based events due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.lifetime.check_time(now);
    }

    // --- the datapath ---

    /// Tunnel mode: encapsulates the IPv4 or IPv6 packet at `buf[inner]`. Applies TFC padding
    /// when enabled and, with [`Framing::IpPacket`], writes the outer header (DSCP and ECN copied
    /// from the inner header as RFC 6040 normal mode does, DF by the [`DfPolicy`]). Returns the
    /// range of the bytes to send.
    pub fn encapsulate(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        inner: Range<usize>,
    ) -> Result<Range<usize>, EspError> {
        if self.mode != Mode::Tunnel {
            return Err(EspError::Config(
                "encapsulate() is tunnel mode; use encapsulate_payload() in transport mode".into(),
            ));
        }
        let pkt = buf.get(inner.clone()).ok_or(EspError::BufferTooSmall {
            headroom: 0,
            tailroom: 0,
        })?;
        let flow = ip::flow(pkt)?;
        let nh = if flow.src.is_ipv4() {
            NEXT_HEADER_IPV4
        } else {
            NEXT_HEADER_IPV6
        };
        let mut end = inner.start + flow.len;
        if let Some(to) = self.tfc_pad_to {
            let to = inner.start + usize::from(to);
            if to > end {
                let pad = buf.get_mut(end..to).ok_or(EspError::BufferTooSmall {
                    headroom: 0,
                    tailroom: to - end,
                })?;
                pad.fill(0);
                end = to;
            }
        }
        let outer_hlen = match self.framing {
            Framing::Payload => 0,
            Framing::IpPacket => encap::outer_len(&self.remote, self.encapsulation.is_some()),
        };
        let esp_hlen = HEADER_LEN + self.shape.iv_len;
        if inner.start < outer_hlen + esp_hlen {
            return Err(EspError::BufferTooSmall {
                headroom: outer_hlen + esp_hlen,
                tailroom: self.max_tailroom(),
            });
        }
        let id = self.next_seq as u16;
        let esp = self.encapsulate_payload(now, buf, inner.start..end, nh)?;
        if self.framing == Framing::Payload {
            return Ok(esp);
        }
        let start = esp.start - outer_hlen;
        let df = match self.df {
            DfPolicy::Copy => flow.df,
            DfPolicy::Set => true,
            DfPolicy::Clear => false,
        };
        let fields = OuterFields {
            tos: flow.tos,
            df,
            id,
        };
        let out = buf
            .get_mut(start..esp.end)
            .ok_or(EspError::Malformed("range"))?;
        encap::write_outer(out, self.local, self.remote, self.encapsulation, fields)?;
        Ok(start..esp.end)
    }

    /// Encapsulates the payload at `buf[payload]` with next header `next_header`: an upper-layer
    /// payload in transport mode, an IP packet in tunnel mode, or a dummy packet
    /// ([`NEXT_HEADER_NONE`]). Returns the range of the ESP packet.
    pub fn encapsulate_payload(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<Range<usize>, EspError> {
        let Shape {
            iv_len,
            icv_len,
            align,
        } = self.shape;
        let hlen = HEADER_LEN + iv_len;
        let body = payload.len() + wire::TRAILER_LEN;
        let pad = (align - body % align) % align;
        let ct_len = body + pad;
        let tail = pad + wire::TRAILER_LEN + icv_len;
        if payload.start < hlen
            || payload.end < payload.start
            || buf.len().saturating_sub(payload.end) < tail
        {
            return Err(EspError::BufferTooSmall {
                headroom: hlen,
                tailroom: tail,
            });
        }
        let seq = self.next_seq;
        let max = if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        if seq == 0 || seq > max {
            self.lifetime.raise(LimitKind::SequenceNumber, true);
            return Err(EspError::SequenceExhausted);
        }
        if self.lifetime.is_expired(now) {
            return Err(EspError::LifetimeExpired);
        }
        let start = payload.start - hlen;
        let ct_start = payload.start;
        let ct_end = ct_start + ct_len;
        // Header, IV and trailer.
        wire::write_header(&mut buf[start..], self.spi, seq as u32)?;
        self.iv.fill(seq, &mut buf[start + HEADER_LEN..ct_start])?;
        for (i, b) in buf[payload.end..payload.end + pad].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        buf[ct_end - 2] = pad as u8;
        buf[ct_end - 1] = next_header;
        let (head, rest) = buf.split_at_mut(ct_start);
        let (ct, after) = rest.split_at_mut(ct_len);
        let icv = &mut after[..icv_len];
        let iv = &head[start + HEADER_LEN..];
        match &self.transform {
            Transform::Aead { key } => {
                let mut a = [0u8; 12];
                let aad = aad(&mut a, self.spi, seq, self.esn);
                key.seal_in_place(iv, aad, ct, icv)
                    .map_err(EspError::Crypto)?;
            }
            Transform::Split { cipher, integ } => {
                if let Some(c) = cipher {
                    c.encrypt_in_place(iv, ct).map_err(EspError::Crypto)?;
                }
                if let Some(m) = integ {
                    let hi = ((seq >> 32) as u32).to_be_bytes();
                    let hi: &[u8] = if self.esn { &hi } else { &[] };
                    m.sign(&[&head[start..], ct, hi], icv);
                }
            }
        }
        self.next_seq = seq.wrapping_add(1);
        // Rekey well before the space runs out: soft at 2^-8 of the space from the end.
        if seq >= max - (max >> 8) {
            self.lifetime.raise(LimitKind::SequenceNumber, false);
        }
        if seq == max {
            self.lifetime.raise(LimitKind::SequenceNumber, true);
        }
        if next_header != NEXT_HEADER_NONE {
            self.lifetime.count(now, payload.len());
            self.counters.packets = self.counters.packets.saturating_add(1);
            self.counters.bytes = self.counters.bytes.saturating_add(payload.len() as u64);
        } else {
            self.counters.dummies = self.counters.dummies.saturating_add(1);
        }
        Ok(start..ct_end + icv_len)
    }
}

/// A decapsulated packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// Where the inner packet is in the buffer (TFC padding stripped in tunnel mode).
    pub range: Range<usize>,
    /// The Next Header field: 4 or 41 in tunnel mode, the upper-layer protocol in transport mode.
    pub next_header: u8,
    /// The full (ESN-inferred) sequence number.
    pub sequence: u64,
}

/// The receiving half of a Child SA.
pub struct InboundSa {
    spi: u32,
    transform: Transform,
    shape: Shape,
    esn: bool,
    mode: Mode,
    replay: ReplayWindow,
    lifetime: Lifetime,
    counters: SaCounters,
    /// Sources we accept: the peer's selectors.
    remote_ts: Vec<TrafficSelector>,
    /// Destinations we accept: ours.
    local_ts: Vec<TrafficSelector>,
}

impl core::fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("replay_top", &self.replay.top())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// Builds the inbound SA of `child` (its `inbound` keys and SPI), installed at `now`.
    pub fn new(provider: &CryptoProvider, child: &ChildSa, now: Instant) -> Result<Self, EspError> {
        let (transform, shape) = build_transform(provider, child, &child.inbound)?;
        let replay = ReplayWindow::new(child.replay_window, child.esn).ok_or_else(|| {
            EspError::Config(format!(
                "replay window {} above the maximum {}",
                child.replay_window,
                crate::replay::MAX_WINDOW
            ))
        })?;
        Ok(InboundSa {
            spi: child.inbound.spi,
            transform,
            shape,
            esn: child.esn,
            mode: child.mode,
            replay,
            lifetime: Lifetime::new(child.lifetimes, now),
            counters: SaCounters::default(),
            remote_ts: child.remote_ts.clone(),
            local_ts: child.local_ts.clone(),
        })
    }

    /// The SPI (ours).
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Counters.
    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    /// The anti-replay window.
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Sets the replay window's top after failover (RFC 6311).
    pub fn set_replay_top(&mut self, top: u64) {
        self.replay.reset_to(top);
    }

    /// The next lifetime event, if any.
    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.lifetime.poll_event()
    }

    /// When the next time limit falls due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.lifetime.next_deadline()
    }

    /// Raises the time-based events due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.lifetime.check_time(now);
    }

    /// Decapsulates the ESP packet filling `packet` in place. `Ok(None)` is an authenticated
    /// dummy packet, to be dropped silently. Errors are counted in the SA's drop counters.
    pub fn decapsulate(
        &mut self,
        now: Instant,
        packet: &mut [u8],
    ) -> Result<Option<Decapsulated>, EspError> {
        self.decapsulate_inner(now, packet, None)
    }

    /// As [`decapsulate`](Self::decapsulate), for a packet that arrived with outer ECN field
    /// `outer_ecn`: in tunnel mode the inner ECN field is updated per RFC 6040 section 4.2.
    pub fn decapsulate_with_ecn(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        outer_ecn: u8,
    ) -> Result<Option<Decapsulated>, EspError> {
        self.decapsulate_inner(now, packet, Some(outer_ecn))
    }

    fn decapsulate_inner(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        outer_ecn: Option<u8>,
    ) -> Result<Option<Decapsulated>, EspError> {
        let r = self.open(now, packet, outer_ecn);
        if let Err(e) = &r {
            if let Some(reason) = e.drop_reason() {
                self.counters.drops.count(reason);
            }
        }
        r
    }

    fn open(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        outer_ecn: Option<u8>,
    ) -> Result<Option<Decapsulated>, EspError> {
        let Shape {
            iv_len,
            icv_len,
            align,
        } = self.shape;
        let hlen = HEADER_LEN + iv_len;
        let len = packet.len();
        if len < hlen + icv_len + wire::TRAILER_LEN {
            return Err(EspError::Malformed(
                "shorter than header, IV, trailer and ICV",
            ));
        }
        let spi = wire::read_u32(packet, 0);
        if spi != self.spi {
            return Err(EspError::UnknownSpi(spi));
        }
        let ct_len = len - hlen - icv_len;
        if !ct_len.is_multiple_of(align) {
            return Err(EspError::Malformed(
                "ciphertext not a multiple of the block size",
            ));
        }
        if self.lifetime.is_expired(now) {
            return Err(EspError::LifetimeExpired);
        }
        let seq_low = wire::read_u32(packet, 4);
        let seq = self
            .replay
            .check(seq_low)
            .map_err(|e| EspError::Replay(e.sequence()))?;
        let (head, rest) = packet.split_at_mut(hlen);
        let (ct, icv) = rest.split_at_mut(ct_len);
        let iv = &head[HEADER_LEN..];
        match &self.transform {
            Transform::Aead { key } => {
                let mut a = [0u8; 12];
                let aad = aad(&mut a, self.spi, seq, self.esn);
                key.open_in_place(iv, aad, ct, icv).map_err(|e| match e {
                    CryptoError::IntegrityCheckFailed => EspError::IcvFailure,
                    other => EspError::Crypto(other),
                })?;
            }
            Transform::Split { cipher, integ } => {
                if let Some(m) = integ {
                    let hi = ((seq >> 32) as u32).to_be_bytes();
                    let hi: &[u8] = if self.esn { &hi } else { &[] };
                    m.verify(&[head, ct, hi], icv)
                        .map_err(|_| EspError::IcvFailure)?;
                }
                if let Some(c) = cipher {
                    c.decrypt_in_place(iv, ct).map_err(EspError::Crypto)?;
                }
            }
        }
        // Authenticated from here on: the window moves even if the content turns out bad, so
        // the same packet cannot be replayed.
        self.replay.commit(seq);
        let pad_len = usize::from(ct[ct_len - 2]);
        let next_header = ct[ct_len - 1];
        if pad_len + wire::TRAILER_LEN > ct_len {
            return Err(EspError::BadPadding);
        }
        let payload_len = ct_len - wire::TRAILER_LEN - pad_len;
        // RFC 4303 section 2.4: default padding is 1, 2, 3, ...
        let padding = &ct[payload_len..payload_len + pad_len];
        if padding
            .iter()
            .enumerate()
            .any(|(i, b)| usize::from(*b) != i + 1)
        {
            return Err(EspError::BadPadding);
        }
        if next_header == NEXT_HEADER_NONE {
            self.counters.dummies = self.counters.dummies.saturating_add(1);
            return Ok(None);
        }
        let mut range = hlen..hlen + payload_len;
        if self.mode == Mode::Tunnel
            && (next_header == NEXT_HEADER_IPV4 || next_header == NEXT_HEADER_IPV6)
        {
            let inner = &mut packet[range.clone()];
            let flow = ip::flow(inner)?;
            if !flow_in(&flow, &self.remote_ts, &self.local_ts) {
                return Err(EspError::PolicyMismatch);
            }
            // Drop TFC padding (RFC 4303 section 2.7) by the inner header's length.
            range.end = range.start + flow.len;
            if let Some(outer) = outer_ecn {
                let e = ip::decapsulated_ecn(flow.tos & 0b11, outer).ok_or(EspError::EcnDrop)?;
                if e != flow.tos & 0b11 {
                    ip::set_ecn(inner, e)?;
                }
            }
        }
        self.lifetime.count(now, range.len());
        self.counters.packets = self.counters.packets.saturating_add(1);
        self.counters.bytes = self.counters.bytes.saturating_add(range.len() as u64);
        Ok(Some(Decapsulated {
            range,
            next_header,
            sequence: seq,
        }))
    }
}

/// True when `flow` goes from an address in `src_ts` to one in `dst_ts` (empty lists match
/// anything: selectors were not given).
pub(crate) fn flow_in(
    flow: &ip::Flow,
    src_ts: &[TrafficSelector],
    dst_ts: &[TrafficSelector],
) -> bool {
    let side_ok = |ts: &[TrafficSelector], addr: IpAddr, port: Option<u16>| {
        ts.is_empty()
            || ts.iter().any(|t| {
                in_range(addr, t.start_addr, t.end_addr)
                    && (t.protocol == 0 || t.protocol == flow.protocol)
                    && match port {
                        Some(p) => t.start_port <= p && p <= t.end_port,
                        None => t.start_port == 0 && t.end_port == u16::MAX,
                    }
            })
    };
    side_ok(src_ts, flow.src, flow.src_port) && side_ok(dst_ts, flow.dst, flow.dst_port)
}

fn in_range(a: IpAddr, lo: IpAddr, hi: IpAddr) -> bool {
    match (a, lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(lo), IpAddr::V4(hi)) => lo <= a && a <= hi,
        (IpAddr::V6(a), IpAddr::V6(lo), IpAddr::V6(hi)) => lo <= a && a <= hi,
        _ => false,
    }
}
