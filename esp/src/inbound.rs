//! The receiving half of a Child SA: in-place ESP decapsulation (RFC 4303 section 3.4).

use crate::error::EspError;
use crate::ip;
use crate::lifetime::{Lifetime, SaEvent};
use crate::replay::ReplayWindow;
use crate::sa::{
    aad, build_transform, flow_in, selector_set, Integrity, SaCounters, Shape, Transform,
};
use crate::wire::{self, HEADER_LEN, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NONE};
use core::ops::Range;
use ipsec_core::child_sa::{ChildSa, Mode};
use ipsec_core::crypto::{CryptoError, CryptoProvider};
use ipsec_core::selector::SelectorSet;
use ipsec_core::time::Instant;
use std::sync::Arc;

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
    /// Shared with the [`Opening`]s of packets in flight.
    transform: Arc<Transform>,
    shape: Shape,
    esn: bool,
    mode: Mode,
    replay: ReplayWindow,
    /// False for a confidentiality-only SA: its sequence numbers are unauthenticated, so the
    /// replay window is off and never moves.
    authenticated: bool,
    lifetime: Lifetime,
    counters: SaCounters,
    /// Sources we accept: the peer's selectors.
    remote_ts: Option<SelectorSet>,
    /// Destinations we accept: ours.
    local_ts: Option<SelectorSet>,
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
    ///
    /// The SA must authenticate its packets: an AEAD, or a cipher with an integrity algorithm.
    /// [`EspError::Config`] otherwise (see
    /// [`new_confidentiality_only`](Self::new_confidentiality_only)).
    pub fn new(provider: &CryptoProvider, child: &ChildSa, now: Instant) -> Result<Self, EspError> {
        Self::build(provider, child, now, Integrity::Required)
    }

    /// As [`new`](Self::new), also accepting a cipher without integrity (confidentiality-only
    /// ESP, RFC 4303 section 3.2): anyone can then forge packets that decrypt to garbage, and
    /// since their sequence numbers are unauthenticated the SA has no anti-replay service
    /// (RFC 4303 section 3.4.3) and no extended sequence numbers. IKE never negotiates this;
    /// it exists for known-answer tests such as RFC 3602's.
    pub fn new_confidentiality_only(
        provider: &CryptoProvider,
        child: &ChildSa,
        now: Instant,
    ) -> Result<Self, EspError> {
        Self::build(provider, child, now, Integrity::Optional)
    }

    fn build(
        provider: &CryptoProvider,
        child: &ChildSa,
        now: Instant,
        integrity: Integrity,
    ) -> Result<Self, EspError> {
        let (transform, shape, authenticated) =
            build_transform(provider, child, &child.inbound, integrity)?;
        // Without authentication the window stays off: a forged number must not move it.
        let window = if authenticated {
            child.replay_window
        } else {
            0
        };
        let replay = ReplayWindow::new(window, child.esn).ok_or_else(|| {
            EspError::Config(format!(
                "replay window {} above the maximum {}",
                child.replay_window,
                crate::replay::MAX_WINDOW
            ))
        })?;
        Ok(InboundSa {
            spi: child.inbound.spi,
            transform: Arc::new(transform),
            shape,
            esn: child.esn,
            mode: child.mode,
            replay,
            authenticated,
            lifetime: Lifetime::new(child.lifetimes, now),
            counters: SaCounters::default(),
            remote_ts: selector_set(&child.remote_ts),
            local_ts: selector_set(&child.local_ts),
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

    /// True when a lifetime event waits for [`poll_event`](Self::poll_event).
    pub fn has_event(&self) -> bool {
        self.lifetime.has_pending()
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
        let r = self.precheck(now, packet).and_then(|at| {
            unseal(&self.transform, self.spi, self.esn, at, packet)?;
            self.accept(now, at, packet, outer_ecn)
        });
        self.count_drop(&r);
        r
    }

    /// Checks the ESP packet filling `packet` as far as can be done before its ICV: its
    /// length, SPI and block alignment, the SA's hard limit, and its sequence number against
    /// the replay window (not moved). Returns an [`Opening`] that verifies and decrypts the
    /// packet on any thread; [`finish`](Self::finish) then takes the result back here, checks
    /// the sequence number again (the window may have moved meanwhile), moves the window and
    /// does the rest of [`decapsulate`](Self::decapsulate). So an embedder can spread the
    /// ciphers of one SA's packets over its cores while the window and the counters stay with
    /// the SA: a packet accepted this way is one `decapsulate` would have accepted, a replay
    /// is refused whichever copy is finished first, and a forged packet never moves the
    /// window. Errors are counted in the SA's drop counters, as by `decapsulate`.
    pub fn prepare_open(&mut self, now: Instant, packet: &[u8]) -> Result<Opening, EspError> {
        let r = self.precheck(now, packet);
        self.count_drop(&r);
        let at = r?;
        Ok(Opening {
            transform: Arc::clone(&self.transform),
            spi: self.spi,
            esn: self.esn,
            at,
        })
    }

    /// Takes back a packet [`prepare_open`](Self::prepare_open) handed out and its
    /// [`Opening::open`] verified and decrypted in `packet` (the same bytes): refuses it if its
    /// ICV failed or the replay window no longer accepts its sequence number (another copy
    /// finished first, or the window passed it), otherwise moves the window and checks and
    /// counts it as [`decapsulate`](Self::decapsulate) does, with the same result.
    /// [`EspError::Misuse`] for a packet another SA prepared, or a buffer not of its length.
    pub fn finish(
        &mut self,
        now: Instant,
        opened: Opened,
        packet: &mut [u8],
        outer_ecn: Option<u8>,
    ) -> Result<Option<Decapsulated>, EspError> {
        if !opened.is_of(self) {
            return Err(EspError::Misuse("a packet opened for another SA"));
        }
        if packet.len() != opened.at.len {
            return Err(EspError::Misuse("not the buffer of the opened packet"));
        }
        let r = opened.result.and_then(|()| {
            if self.lifetime.is_expired(now) {
                return Err(EspError::LifetimeExpired);
            }
            if self.authenticated {
                self.replay
                    .check_sequence(opened.at.seq)
                    .map_err(|e| EspError::Replay(e.sequence()))?;
            }
            self.accept(now, opened.at, packet, outer_ecn)
        });
        self.count_drop(&r);
        r
    }

    #[inline(always)]
    fn count_drop<T>(&mut self, r: &Result<T, EspError>) {
        if let Err(e) = r {
            if let Some(reason) = e.drop_reason() {
                self.counters.drops.count(reason);
            }
        }
    }

    /// Everything before the ICV: see [`prepare_open`](Self::prepare_open).
    #[inline(always)]
    fn precheck(&mut self, now: Instant, packet: &[u8]) -> Result<Layout, EspError> {
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
        if ct_len & (align - 1) != 0 {
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
        Ok(Layout {
            seq,
            hlen,
            ct_len,
            len,
        })
    }

    /// Everything after the ICV: the window moves, then the trailer, the inner packet and the
    /// counters.
    #[inline(always)]
    fn accept(
        &mut self,
        now: Instant,
        at: Layout,
        packet: &mut [u8],
        outer_ecn: Option<u8>,
    ) -> Result<Option<Decapsulated>, EspError> {
        let Layout {
            seq, hlen, ct_len, ..
        } = at;
        // Authenticated from here on: the window moves even if the content turns out bad, so
        // the same packet cannot be replayed. Without authentication it never moves.
        if self.authenticated {
            self.replay.commit(seq);
        }
        let ct = packet
            .get(hlen..hlen + ct_len)
            .ok_or(EspError::Misuse("not the buffer of the checked packet"))?;
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
        if self.mode == Mode::Tunnel {
            // A tunnel-mode SA carries IP packets only (RFC 4301 section 5.2: what arrives must
            // match the SA's selectors, and only an IP packet can be checked against them).
            if next_header != NEXT_HEADER_IPV4 && next_header != NEXT_HEADER_IPV6 {
                return Err(EspError::PolicyMismatch);
            }
            let inner = &mut packet[range.clone()];
            let flow = ip::raw_flow(inner)?;
            if flow.ipv6 != (next_header == NEXT_HEADER_IPV6) {
                return Err(EspError::BadInnerPacket(
                    "next header and IP version disagree",
                ));
            }
            if !flow_in(&flow, self.remote_ts.as_ref(), self.local_ts.as_ref()) {
                return Err(EspError::PolicyMismatch);
            }
            let (len, ecn) = (flow.len, flow.tos & 0b11);
            // Drop TFC padding (RFC 4303 section 2.7) by the inner header's length.
            range.end = range.start + len;
            if let Some(outer) = outer_ecn {
                let e = ip::decapsulated_ecn(ecn, outer).ok_or(EspError::EcnDrop)?;
                if e != ecn {
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

/// Where a checked packet's parts lie, and its full sequence number.
#[derive(Debug, Clone, Copy)]
struct Layout {
    seq: u64,
    /// ESP header and IV.
    hlen: usize,
    /// Payload, padding and trailer.
    ct_len: usize,
    /// The whole packet.
    len: usize,
}

/// Verifies the ICV of the packet laid out as `at` (`packet` is of its length) and decrypts it
/// in place.
#[inline(always)]
fn unseal(
    transform: &Transform,
    spi: u32,
    esn: bool,
    at: Layout,
    packet: &mut [u8],
) -> Result<(), EspError> {
    let Layout {
        seq, hlen, ct_len, ..
    } = at;
    let (head, rest) = packet.split_at_mut(hlen);
    let (ct, icv) = rest.split_at_mut(ct_len);
    let iv = &head[HEADER_LEN..];
    match transform {
        Transform::Aead { key } => {
            let mut a = [0u8; 12];
            let aad = aad(&mut a, spi, seq, esn);
            key.open_in_place(iv, aad, ct, icv).map_err(|e| match e {
                CryptoError::IntegrityCheckFailed => EspError::IcvFailure,
                other => EspError::Crypto(other),
            })?;
        }
        Transform::Split { cipher, integ } => {
            if let Some(m) = integ {
                let hi = ((seq >> 32) as u32).to_be_bytes();
                let hi: &[u8] = if esn { &hi } else { &[] };
                m.verify(&[head, ct, hi], icv)
                    .map_err(|_| EspError::IcvFailure)?;
            }
            if let Some(c) = cipher {
                c.decrypt_in_place(iv, ct).map_err(EspError::Crypto)?;
            }
        }
    }
    Ok(())
}

/// A received ESP packet checked by [`InboundSa::prepare_open`], waiting for its ICV to be
/// verified and its payload decrypted ([`open`](Self::open), on any thread). It shares the
/// SA's keys, not the packet.
pub struct Opening {
    transform: Arc<Transform>,
    spi: u32,
    esn: bool,
    at: Layout,
}

impl core::fmt::Debug for Opening {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Opening")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("seq", &self.at.seq)
            .field("len", &self.at.len)
            .finish_non_exhaustive()
    }
}

impl Opening {
    /// The packet's full (ESN-inferred) sequence number.
    pub fn sequence(&self) -> u64 {
        self.at.seq
    }

    /// Verifies the ICV of the packet checked in `packet` (the same bytes) and decrypts it in
    /// place. The outcome goes back to the SA with [`InboundSa::finish`], which alone accepts
    /// the packet: a failed ICV is refused there (and counted).
    pub fn open(self, packet: &mut [u8]) -> Opened {
        // `decapsulate` unseals the very buffer it checked; a buffer handed over may differ.
        let result = if packet.len() == self.at.len {
            unseal(&self.transform, self.spi, self.esn, self.at, packet)
        } else {
            Err(EspError::Misuse("not the buffer of the checked packet"))
        };
        Opened {
            transform: self.transform,
            spi: self.spi,
            at: self.at,
            result,
        }
    }
}

/// A packet [`Opening::open`] verified and decrypted, or failed to: for
/// [`InboundSa::finish`].
pub struct Opened {
    transform: Arc<Transform>,
    spi: u32,
    at: Layout,
    result: Result<(), EspError>,
}

impl core::fmt::Debug for Opened {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Opened")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("seq", &self.at.seq)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// The packet's full sequence number.
    pub fn sequence(&self) -> u64 {
        self.at.seq
    }

    /// Whether its ICV verified (and it was decrypted).
    pub fn authentic(&self) -> bool {
        self.result.is_ok()
    }

    /// The SPI of the SA that prepared it.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Whether `sa` prepared it.
    pub(crate) fn is_of(&self, sa: &InboundSa) -> bool {
        Arc::ptr_eq(&self.transform, &sa.transform)
    }
}
