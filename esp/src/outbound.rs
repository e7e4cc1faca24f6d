//! The sending half of a Child SA: in-place ESP encapsulation (RFC 4303 section 3.3).

use crate::encap::{self, DfPolicy, Framing, OuterFields};
use crate::error::EspError;
use crate::ip;
use crate::lifetime::{Lifetime, LimitKind, SaEvent};
use crate::sa::{
    aad, build_transform, flow_in, selector_set, Integrity, IvGen, SaCounters, Shape, Transform,
};
use crate::wire::{self, HEADER_LEN, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NONE};
use core::ops::Range;
use ipsec_core::child_sa::{ChildSa, Mode, UdpEncapsulation};
use ipsec_core::crypto::CryptoProvider;
use ipsec_core::selector::SelectorSet;
use ipsec_core::time::Instant;
use std::net::SocketAddr;
use std::sync::Arc;

/// The sending half of a Child SA.
pub struct OutboundSa {
    spi: u32,
    /// Shared with the [`Sealing`]s of packets in flight.
    transform: Arc<Transform>,
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
    local_ts: Option<SelectorSet>,
    remote_ts: Option<SelectorSet>,
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
    ///
    /// The SA must authenticate its packets: an AEAD, or a cipher with an integrity algorithm.
    /// [`EspError::Config`] otherwise (see
    /// [`new_confidentiality_only`](Self::new_confidentiality_only)).
    pub fn new(provider: &CryptoProvider, child: &ChildSa, now: Instant) -> Result<Self, EspError> {
        Self::build(provider, child, now, Integrity::Required)
    }

    /// As [`new`](Self::new), also accepting a cipher without integrity (confidentiality-only
    /// ESP, RFC 4303 section 3.2), which lets anyone forge packets the peer will decrypt. IKE
    /// never negotiates this; it exists for known-answer tests such as RFC 3602's.
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
        let (transform, shape, _) = build_transform(provider, child, &child.outbound, integrity)?;
        let iv = IvGen::new(matches!(transform, Transform::Split { .. }));
        if child.local_addr.is_ipv4() != child.remote_addr.is_ipv4() {
            return Err(EspError::Config(
                "local and remote addresses of different families".into(),
            ));
        }
        Ok(OutboundSa {
            spi: child.outbound.spi,
            transform: Arc::new(transform),
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
            local_ts: selector_set(&child.local_ts),
            remote_ts: selector_set(&child.remote_ts),
        })
    }

    // --- getters ---

    /// The SPI in the packets (the peer's inbound SPI).
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The length of the explicit IV in each packet, in bytes.
    pub fn iv_len(&self) -> usize {
        self.shape.iv_len
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
        let p = flow.five_tuple();
        self.local_ts.as_ref().is_none_or(|s| s.admits_source(&p))
            && self
                .remote_ts
                .as_ref()
                .is_none_or(|s| s.admits_destination(&p))
    }

    /// [`matches`](Self::matches) for the datapath's integer form of a flow (the table's
    /// per-packet lookup).
    #[inline]
    pub(crate) fn matches_raw(&self, flow: &ip::RawFlow) -> bool {
        flow_in(flow, self.local_ts.as_ref(), self.remote_ts.as_ref())
    }

    // --- configuration commands ---

    /// Sets the mask XORed into the sequence number to form each packet's IV (then encrypted
    /// under the SA's key for CBC), as long as the IV ([`iv_len`](Self::iv_len) bytes). The
    /// default is all zeros. A random mask hides the packet counter in the IV, as the Linux
    /// kernel's `seqiv` does; a known one reproduces a peer's packets. IVs stay unique per key
    /// for any mask, which is why it can only be chosen before the first packet:
    /// [`EspError::Misuse`] afterwards, or for a mask of the wrong length.
    pub fn set_iv_mask(&mut self, mask: &[u8]) -> Result<(), EspError> {
        self.iv.set_mask(mask, self.shape.iv_len)
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
    /// The number only moves forward: a smaller `next` would send a sequence number again, and
    /// with it an IV, under the same key (for an AEAD, a repeated nonce gives away the key
    /// stream and the authentication key). [`EspError::Misuse`] then, and nothing changes.
    pub fn set_next_sequence(&mut self, next: u64) -> Result<(), EspError> {
        if next < self.next_seq {
            return Err(EspError::Misuse("the sequence number only moves forward"));
        }
        self.next_seq = next;
        Ok(())
    }

    // --- outputs ---

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
        let flow = self.tunnel_flow(buf, &inner)?;
        self.encapsulate_parsed(now, buf, inner, &flow)
    }

    /// [`encapsulate`](Self::encapsulate) of a packet whose flow the caller has parsed already
    /// (the SA table, which looked the SA up by it).
    pub(crate) fn encapsulate_flow(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        inner: Range<usize>,
        flow: &ip::RawFlow,
    ) -> Result<Range<usize>, EspError> {
        self.require_tunnel_mode()?;
        self.encapsulate_parsed(now, buf, inner, flow)
    }

    /// The flow of the inner packet at `buf[inner]`, for a tunnel-mode SA.
    fn tunnel_flow(&self, buf: &[u8], inner: &Range<usize>) -> Result<ip::RawFlow, EspError> {
        self.require_tunnel_mode()?;
        let pkt = buf.get(inner.clone()).ok_or(EspError::BufferTooSmall {
            headroom: 0,
            tailroom: 0,
        })?;
        ip::raw_flow(pkt)
    }

    fn require_tunnel_mode(&self) -> Result<(), EspError> {
        if self.mode != Mode::Tunnel {
            return Err(EspError::Config(
                "encapsulate() is tunnel mode; use encapsulate_payload() in transport mode".into(),
            ));
        }
        Ok(())
    }

    /// Tunnel-mode encapsulation of the packet at `buf[inner]`, whose flow is `flow`.
    fn encapsulate_parsed(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        inner: Range<usize>,
        flow: &ip::RawFlow,
    ) -> Result<Range<usize>, EspError> {
        let (seal, outer, payload_len, nh) = self.lay_out_tunnel(now, buf, inner, flow)?;
        seal.apply(&self.transform, buf)?;
        self.commit(now, seal.seq, payload_len, nh);
        match outer {
            None => Ok(seal.range()),
            Some(o) => o.write(seal.range(), buf),
        }
    }

    /// [`encapsulate`](Self::encapsulate) but for the encryption, the ICV and (when the SA
    /// frames whole IP packets) the outer header, which the returned [`Sealing`] writes on any
    /// thread, as [`prepare_payload`](Self::prepare_payload) defers them for a payload. The
    /// sequence number is taken and the packet counted now.
    pub fn prepare(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        inner: Range<usize>,
    ) -> Result<Sealing, EspError> {
        let flow = self.tunnel_flow(buf, &inner)?;
        self.prepare_flow(now, buf, inner, &flow)
    }

    /// [`prepare`](Self::prepare) of a packet whose flow the caller has parsed already.
    pub(crate) fn prepare_flow(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        inner: Range<usize>,
        flow: &ip::RawFlow,
    ) -> Result<Sealing, EspError> {
        self.require_tunnel_mode()?;
        let (seal, outer, payload_len, nh) = self.lay_out_tunnel(now, buf, inner, flow)?;
        self.commit(now, seal.seq, payload_len, nh);
        Ok(Sealing {
            transform: Arc::clone(&self.transform),
            seal,
            outer,
        })
    }

    /// Lays out the tunnel-mode packet for `buf[inner]` (TFC padding, ESP header, IV, padding,
    /// trailer) and says what its outer header will be; the SA's sequence number and counters
    /// do not move. The payload's length and next header are for [`commit`](Self::commit).
    #[inline(always)]
    fn lay_out_tunnel(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        inner: Range<usize>,
        flow: &ip::RawFlow,
    ) -> Result<(Seal, Option<Outer>, usize, u8), EspError> {
        // The inner header's fields that shape the packet and its outer header.
        let ip::RawFlow {
            ipv6,
            len,
            tos,
            df: inner_df,
            ..
        } = *flow;
        let nh = if !ipv6 {
            NEXT_HEADER_IPV4
        } else {
            NEXT_HEADER_IPV6
        };
        let mut end = inner.start + len;
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
        let seal = self.lay_out(now, buf, inner.start..end, nh)?;
        let outer = (self.framing == Framing::IpPacket).then_some(Outer {
            len: outer_hlen,
            local: self.local,
            remote: self.remote,
            encapsulation: self.encapsulation,
            fields: OuterFields {
                tos,
                df: match self.df {
                    DfPolicy::Copy => inner_df,
                    DfPolicy::Set => true,
                    DfPolicy::Clear => false,
                },
                id,
            },
        });
        Ok((seal, outer, end - inner.start, nh))
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
        let seal = self.lay_out(now, buf, payload.clone(), next_header)?;
        seal.apply(&self.transform, buf)?;
        self.commit(now, seal.seq, payload.len(), next_header);
        Ok(seal.range())
    }

    /// [`encapsulate_payload`](Self::encapsulate_payload) but for the encryption and the ICV,
    /// which the returned [`Sealing`] does, on any thread: so that an embedder can spread the
    /// ciphers of its SAs over its cores. The packet's sequence number is taken (in the order
    /// of these calls), its header, IV, padding and trailer are written into `buf`, and it counts
    /// toward the SA's lifetime now; [`Sealing::seal`] must then run on the same bytes before
    /// the packet leaves (an outer header with a checksum over the ESP packet, as UDP over
    /// IPv6, is written after it). Packets may be sealed in any order; the peer accepts them
    /// out of order only within its replay window, so they should leave in sequence order.
    pub fn prepare_payload(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<Sealing, EspError> {
        let seal = self.lay_out(now, buf, payload.clone(), next_header)?;
        self.commit(now, seal.seq, payload.len(), next_header);
        Ok(Sealing {
            transform: Arc::clone(&self.transform),
            seal,
            outer: None,
        })
    }

    /// Checks the room and the SA's limits, and writes the header, IV, padding and trailer of
    /// the packet for `buf[payload]`; nothing of the SA changes but its IV generator.
    #[inline(always)]
    fn lay_out(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<Seal, EspError> {
        let Shape {
            iv_len,
            icv_len,
            align,
        } = self.shape;
        let hlen = HEADER_LEN + iv_len;
        let body = payload.len() + wire::TRAILER_LEN;
        // Up to the next multiple of `align` (a power of two).
        let pad = body.wrapping_neg() & (align - 1);
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
        if seq == 0 || seq > self.max_seq() {
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
        let cipher = match &*self.transform {
            Transform::Split { cipher, .. } => cipher.as_deref(),
            Transform::Aead { .. } => None,
        };
        self.iv
            .fill(seq, &mut buf[start + HEADER_LEN..ct_start], cipher)?;
        for (i, b) in buf[payload.end..payload.end + pad].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        buf[ct_end - 2] = pad as u8;
        buf[ct_end - 1] = next_header;
        Ok(Seal {
            spi: self.spi,
            seq,
            esn: self.esn,
            start,
            ct: ct_start..ct_end,
            icv_len,
        })
    }

    /// The highest sequence number the SA may send.
    #[inline]
    fn max_seq(&self) -> u64 {
        if self.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        }
    }

    /// Takes sequence number `seq` and counts a packet of `len` payload bytes.
    #[inline(always)]
    fn commit(&mut self, now: Instant, seq: u64, len: usize, next_header: u8) {
        let max = self.max_seq();
        self.next_seq = seq.wrapping_add(1);
        // Rekey well before the space runs out: soft at 2^-8 of the space from the end.
        if seq >= max - (max >> 8) {
            self.lifetime.raise(LimitKind::SequenceNumber, false);
        }
        if seq == max {
            self.lifetime.raise(LimitKind::SequenceNumber, true);
        }
        if next_header != NEXT_HEADER_NONE {
            self.lifetime.count(now, len);
            self.counters.packets = self.counters.packets.saturating_add(1);
            self.counters.bytes = self.counters.bytes.saturating_add(len as u64);
        } else {
            self.counters.dummies = self.counters.dummies.saturating_add(1);
        }
    }
}

/// Where one packet's encryption and ICV go, and what they cover.
#[derive(Clone, Debug)]
struct Seal {
    spi: u32,
    seq: u64,
    esn: bool,
    /// The ESP header's offset.
    start: usize,
    /// The ciphertext: payload, padding and trailer.
    ct: Range<usize>,
    icv_len: usize,
}

impl Seal {
    /// The ESP packet.
    fn range(&self) -> Range<usize> {
        self.start..self.ct.end + self.icv_len
    }

    /// Encrypts the packet laid out in `buf` and writes its ICV.
    #[inline(always)]
    fn apply(&self, transform: &Transform, buf: &mut [u8]) -> Result<(), EspError> {
        let Seal {
            spi,
            seq,
            esn,
            start,
            ref ct,
            icv_len,
        } = *self;
        let packet = buf.get_mut(..ct.end + icv_len).ok_or(EspError::Misuse(
            "the buffer of a prepared packet is shorter",
        ))?;
        let (head, rest) = packet.split_at_mut(ct.start);
        let (ct, icv) = rest.split_at_mut(ct.len());
        let iv = head.get(start + HEADER_LEN..).ok_or(EspError::Misuse(
            "the buffer of a prepared packet is shorter",
        ))?;
        match transform {
            Transform::Aead { key } => {
                let mut a = [0u8; 12];
                let aad = aad(&mut a, spi, seq, esn);
                key.seal_in_place(iv, aad, ct, icv)
                    .map_err(EspError::Crypto)?;
            }
            Transform::Split { cipher, integ } => {
                if let Some(c) = cipher {
                    c.encrypt_in_place(iv, ct).map_err(EspError::Crypto)?;
                }
                if let Some(m) = integ {
                    let hi = ((seq >> 32) as u32).to_be_bytes();
                    let hi: &[u8] = if esn { &hi } else { &[] };
                    m.sign(&[&head[start..], ct, hi], icv);
                }
            }
        }
        Ok(())
    }
}

/// A packet of an [`OutboundSa`] laid out by
/// [`prepare_payload`](OutboundSa::prepare_payload), waiting for its encryption and ICV. It
/// holds the SA's keys (shared, zeroized when the last holder drops them), not the packet: it
/// can be sent to another thread with the packet's buffer and sealed there.
pub struct Sealing {
    transform: Arc<Transform>,
    seal: Seal,
    /// The outer header written after the seal ([`OutboundSa::prepare`] of an SA that frames
    /// whole IP packets).
    outer: Option<Outer>,
}

/// An outer IP (and UDP) header to write in front of a sealed ESP packet.
#[derive(Clone, Copy, Debug)]
struct Outer {
    len: usize,
    local: SocketAddr,
    remote: SocketAddr,
    encapsulation: Option<UdpEncapsulation>,
    fields: OuterFields,
}

impl Outer {
    /// Writes the header in front of the sealed ESP packet at `buf[esp]` (its UDP checksum, over
    /// IPv6, covers the sealed bytes); the whole packet's range.
    fn write(&self, esp: Range<usize>, buf: &mut [u8]) -> Result<Range<usize>, EspError> {
        let start = esp
            .start
            .checked_sub(self.len)
            .ok_or(EspError::Misuse("no room for the outer header"))?;
        let out = buf
            .get_mut(start..esp.end)
            .ok_or(EspError::Malformed("range"))?;
        encap::write_outer(
            out,
            self.local,
            self.remote,
            self.encapsulation,
            self.fields,
        )?;
        Ok(start..esp.end)
    }
}

impl core::fmt::Debug for Sealing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sealing")
            .field("spi", &format_args!("{:#010x}", self.seal.spi))
            .field("seq", &self.seal.seq)
            .field("range", &self.seal.range())
            .finish_non_exhaustive()
    }
}

impl Sealing {
    /// The sequence number the packet carries.
    pub fn sequence(&self) -> u64 {
        self.seal.seq
    }

    /// The packet's range in the buffer it was prepared in: the ESP packet, with its outer
    /// header when [`OutboundSa::prepare`] made one.
    pub fn range(&self) -> Range<usize> {
        let esp = self.seal.range();
        match &self.outer {
            Some(o) => esp.start.saturating_sub(o.len)..esp.end,
            None => esp,
        }
    }

    /// Encrypts the packet prepared in `buf` (the same bytes, at the same offsets), writes its
    /// ICV and then its outer header, if any. [`EspError::Misuse`] when `buf` is too short for
    /// it.
    pub fn seal(&self, buf: &mut [u8]) -> Result<(), EspError> {
        self.seal.apply(&self.transform, buf)?;
        if let Some(o) = &self.outer {
            o.write(self.seal.range(), buf)?;
        }
        Ok(())
    }
}
