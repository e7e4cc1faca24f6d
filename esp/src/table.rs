//! SA tables: inbound lookup by SPI in O(1), outbound lookup by tunnel and traffic selector.
//!
//! The table is the gateway's inbound SPI allocator ([`SpiAllocator`]): the SPIs it hands out
//! carry their slot in the low 17 bits (room for [`MAX_INBOUND`], 131,072 SAs; the high 15 bits
//! are random and never zero, so the SPI is never in the reserved range 0-255 of RFC 4303
//! section 2.1), and a lookup is one index and one comparison. SPIs chosen elsewhere still work through a hash map, and the allocator never
//! hands out one of them.
//!
//! Outbound, each tunnel keeps its Child SAs (one per proxy ID, plus the new one during a rekey);
//! a packet goes to the newest *sending* SA whose selectors contain it, so several proxy IDs under
//! one tunnel interface each get their packets.
//!
//! # Rekeys without loss
//!
//! A rekeyed Child SA changes hands in three steps, and the table has one call for each:
//!
//! 1. The new SA is installed. Its initiator sends on it at once ([`SaTable::install`]); its
//!    responder does not know yet whether the initiator got the answer, so it installs it with
//!    [`SaTable::install_inbound`]: packets are accepted on it, but sending stays on the old SA.
//! 2. The responder's outbound half starts sending ([`SaTable::activate_outbound`]) when IKE says
//!    the initiator has the SA (its Delete for the old SA arrived), or by itself on the first
//!    authenticated packet that arrives on the new inbound SA (the initiator already sends on
//!    it). strongSwan switches at the same two moments.
//! 3. The old SA stops sending at once and keeps receiving a little longer
//!    ([`SaTable::retire`]): packets the peer sent on it just before the switch may still be on
//!    their way, reordered behind the Delete.
//!
//! Counters: every SA has its own ([`SaCounters`]); the table adds the drops that happen before
//! an SA is known (unknown SPI, malformed) and sums everything for [`SaTable::drop_counters`],
//! in the spirit of PAN-OS's `show counter global`.
//!
//! Timers and events cost the same with ten SAs or fifty thousand: every SA's next deadline is
//! filed in one ordered index ([`SaTable::poll_timeout`] is its first entry, and
//! [`SaTable::handle_timeout`] visits the SAs that are due), and an SA that raised a lifetime
//! event is queued for [`SaTable::poll_event`]; free outbound entries are kept on a list, and
//! each tunnel's SAs in install order. Installing, removing, timers and events never walk all
//! the SAs.

use crate::deadlines::{earliest, Deadlines, SaMut, TimerKey};
use crate::error::{DropCounters, DropReason, EspError};
use crate::inbound::{Decapsulated, InboundSa, Opened, Opening};
use crate::lifetime::SaEvent;
use crate::outbound::{OutboundSa, Sealing};
use crate::sa::SaCounters;
use crate::{ip, wire};
use core::ops::Range;
use ipsec_core::child_sa::ChildSa;
use ipsec_core::crypto::CryptoProvider;
use ipsec_core::spi::{SpiAllocator, SpiError};
use ipsec_core::time::Instant;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

const SLOT_BITS: u32 = 17;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// The most inbound SAs a table holds.
pub const MAX_INBOUND: usize = 1 << SLOT_BITS;

/// A tunnel (`ipsec-tunnel` name) known to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TunnelId(u32);

/// The two halves of an installed Child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildHandle {
    /// Our inbound SPI.
    pub inbound_spi: u32,
    /// The peer's SPI, used outbound.
    pub outbound_spi: u32,
    outbound: u32,
}

/// A packet to send, as [`SaTable::encapsulate`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The bytes to send, in the caller's buffer.
    pub range: Range<usize>,
    /// The peer (UDP port 4500 or its NAT mapping when encapsulated; port 0 for raw ESP).
    pub destination: SocketAddr,
    /// Our address and port.
    pub source: SocketAddr,
    /// The SPI of the SA that was used.
    pub spi: u32,
}

/// A received packet that decapsulated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The inbound SPI.
    pub spi: u32,
    /// The tunnel it belongs to.
    pub tunnel: TunnelId,
    /// Where the inner packet is and what it is.
    pub packet: Decapsulated,
}

/// An event for the owner of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableEvent {
    /// The SPI of the SA the event is about (the peer's for an outbound SA, which is unique
    /// only within its tunnel).
    pub spi: u32,
    /// The tunnel of the SA.
    pub tunnel: TunnelId,
    /// True for the outbound SA of the pair.
    pub outbound: bool,
    /// What happened.
    pub event: SaEvent,
}

enum Slot {
    Free,
    Reserved(u32),
    Used(Box<InEntry>),
}

/// An installed inbound SA and what the table knows about its pair.
struct InEntry {
    sa: InboundSa,
    tunnel: TunnelId,
    /// The index of its outbound half, while that half is installed.
    outbound: Option<u32>,
    /// Retired: removed at this instant (it only receives until then).
    remove_at: Option<Instant>,
    filed: Filed,
}

impl InEntry {
    fn deadline(&self) -> Option<Instant> {
        earliest(self.sa.poll_timeout(), self.remove_at)
    }
}

/// What an SA is filed under in the table's timers.
#[derive(Debug, Default)]
struct Filed {
    /// Its entry in the deadline index.
    deadline: Option<Instant>,
    /// In the queue of SAs with an event to poll.
    queued: bool,
}

struct OutEntry {
    sa: OutboundSa,
    tunnel: TunnelId,
    /// The inbound SPI of its Child SA: a handle names this entry only while it matches (the
    /// slot is reused once the outbound half is gone).
    inbound_spi: u32,
    /// Packets are sent on it (false until [`SaTable::activate_outbound`] for an SA installed
    /// with [`SaTable::install_inbound`]).
    sending: bool,
    /// Install order (the newest sending SA of a tunnel takes its packets).
    seq: u64,
    filed: Filed,
}

/// The SAs of one gateway.
pub struct SaTable {
    provider: CryptoProvider,
    slots: Vec<Slot>,
    free: Vec<u32>,
    foreign: HashMap<u32, u32>,
    outbound: Vec<Option<OutEntry>>,
    tunnels: Vec<String>,
    /// Unused indexes of `outbound`.
    out_free: Vec<u32>,
    /// Per tunnel, indexes into `outbound` by install order.
    by_tunnel: Vec<BTreeMap<u64, u32>>,
    /// The install order of the next outbound SA.
    next_seq: u64,
    drops: DropCounters,
    /// Installed inbound SAs.
    inbound_used: usize,
    /// Every SA's next deadline.
    deadlines: Deadlines,
    /// The SAs that may hold a lifetime event not yet polled, in the order they raised it.
    events: VecDeque<TimerKey>,
    /// Scratch for [`SaTable::handle_timeout`].
    due: Vec<TimerKey>,
}

/// Tries at drawing the random half of an SPI before giving up on a slot: a collision needs a
/// foreign SPI with the same slot bits and the same random high ones.
const SPI_TRIES: usize = 16;

impl core::fmt::Debug for SaTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaTable")
            .field("inbound", &self.inbound_count())
            .field("tunnels", &self.tunnels)
            .field("drops", &self.drops)
            .finish_non_exhaustive()
    }
}

impl SaTable {
    /// An empty table whose SAs use `provider`.
    pub fn new(provider: CryptoProvider) -> Self {
        SaTable {
            provider,
            slots: Vec::new(),
            free: Vec::new(),
            foreign: HashMap::new(),
            outbound: Vec::new(),
            tunnels: Vec::new(),
            out_free: Vec::new(),
            by_tunnel: Vec::new(),
            next_seq: 0,
            drops: DropCounters::default(),
            inbound_used: 0,
            deadlines: Deadlines::default(),
            events: VecDeque::new(),
            due: Vec::new(),
        }
    }

    // --- getters ---

    /// The tunnel named `name`, once a Child SA of it was installed.
    pub fn tunnel(&self, name: &str) -> Option<TunnelId> {
        self.tunnels
            .iter()
            .position(|t| t == name)
            .and_then(|i| u32::try_from(i).ok())
            .map(TunnelId)
    }

    /// The name of `tunnel`.
    pub fn tunnel_name(&self, tunnel: TunnelId) -> Option<&str> {
        self.tunnels.get(tunnel.0 as usize).map(String::as_str)
    }

    /// The inbound SA with SPI `spi`.
    pub fn inbound(&self, spi: u32) -> Option<&InboundSa> {
        let slot = self.lookup(spi)?;
        match self.slots.get(slot as usize) {
            Some(Slot::Used(e)) => Some(&e.sa),
            _ => None,
        }
    }

    /// The handle of the Child SA whose inbound SPI is `spi`, while both halves are installed
    /// (not after [`retire`](Self::retire)).
    pub fn child(&self, spi: u32) -> Option<ChildHandle> {
        let slot = self.lookup(spi)?;
        let Some(Slot::Used(e)) = self.slots.get(slot as usize) else {
            return None;
        };
        let outbound = e.outbound?;
        let out = self.outbound.get(outbound as usize)?.as_ref()?;
        Some(ChildHandle {
            inbound_spi: spi,
            outbound_spi: out.sa.spi(),
            outbound,
        })
    }

    /// True when packets of its tunnel may be sent on `child` (see
    /// [`install_inbound`](Self::install_inbound)).
    pub fn is_sending(&self, child: ChildHandle) -> bool {
        self.outbound
            .get(child.outbound as usize)
            .and_then(Option::as_ref)
            .is_some_and(|e| e.sending)
    }

    /// The inbound SA with SPI `spi`, mutably (to set a failover replay state). Whatever the
    /// caller does with it, its timers and events are filed again when the guard is dropped.
    pub fn inbound_mut(&mut self, spi: u32) -> Option<SaMut<'_, InboundSa>> {
        let slot = self.lookup(spi)?;
        let Some(Slot::Used(e)) = self.slots.get_mut(slot as usize) else {
            return None;
        };
        let key = TimerKey::Inbound(slot);
        // It may raise a lifetime event: the SA is polled for one (and found without if not).
        queue(&mut self.events, key, &mut e.filed, true);
        let e = &mut **e;
        Some(SaMut::new(
            &mut e.sa,
            InboundSa::poll_timeout,
            e.remove_at,
            key,
            &mut e.filed.deadline,
            &mut self.deadlines,
        ))
    }

    /// The outbound SA of `child`.
    pub fn outbound(&self, child: ChildHandle) -> Option<&OutboundSa> {
        self.outbound
            .get(child.outbound as usize)?
            .as_ref()
            .filter(|e| e.inbound_spi == child.inbound_spi)
            .map(|e| &e.sa)
    }

    /// The outbound SA of `child`, mutably (framing, TFC padding, IV source). Whatever the
    /// caller does with it, its timers and events are filed again when the guard is dropped.
    pub fn outbound_mut(&mut self, child: ChildHandle) -> Option<SaMut<'_, OutboundSa>> {
        let e = self
            .outbound
            .get_mut(child.outbound as usize)?
            .as_mut()
            .filter(|e| e.inbound_spi == child.inbound_spi)?;
        let key = TimerKey::Outbound(child.outbound);
        queue(&mut self.events, key, &mut e.filed, true);
        Some(SaMut::new(
            &mut e.sa,
            OutboundSa::poll_timeout,
            None,
            key,
            &mut e.filed.deadline,
            &mut self.deadlines,
        ))
    }

    /// How many inbound SAs are installed.
    pub fn inbound_count(&self) -> usize {
        self.inbound_used
    }

    /// Drops by reason, over the table and every installed SA.
    pub fn drop_counters(&self) -> DropCounters {
        let mut total = self.drops;
        for s in &self.slots {
            if let Slot::Used(e) = s {
                for (r, n) in e.sa.counters().drops.iter() {
                    total.add(r, n);
                }
            }
        }
        total
    }

    /// Counters of the inbound SA `spi`.
    pub fn inbound_counters(&self, spi: u32) -> Option<SaCounters> {
        self.inbound(spi).map(|sa| *sa.counters())
    }

    // --- commands ---

    /// Installs both halves of `child` at `now`; its tunnel's packets that its selectors
    /// contain are sent on it from now on (it is the newest). For a new Child SA, and for the
    /// one we rekeyed as initiator.
    pub fn install(&mut self, now: Instant, child: &ChildSa) -> Result<ChildHandle, EspError> {
        self.install_as(now, child, true)
    }

    /// Installs both halves of `child` at `now` but sends nothing on it yet: packets are
    /// accepted on its inbound half while its tunnel keeps sending on the SA it replaces. For a
    /// Child SA rekeyed by the peer, whose answer the peer may not have received yet. Sending
    /// moves to it on [`activate_outbound`](Self::activate_outbound), or by itself on the first
    /// packet that authenticates on its inbound half.
    pub fn install_inbound(
        &mut self,
        now: Instant,
        child: &ChildSa,
    ) -> Result<ChildHandle, EspError> {
        self.install_as(now, child, false)
    }

    /// Starts sending on `child` (installed with [`install_inbound`](Self::install_inbound)); it
    /// is already sending if it was installed with [`install`](Self::install) or a packet
    /// arrived on it. Returns false when `child` is not installed.
    pub fn activate_outbound(&mut self, child: ChildHandle) -> bool {
        match self
            .outbound
            .get_mut(child.outbound as usize)
            .and_then(Option::as_mut)
        {
            Some(e) => {
                if !e.sending {
                    tracing::debug!(
                        spi_out = %format_args!("{:08x}", child.outbound_spi),
                        "IPsec SA outbound activated"
                    );
                }
                e.sending = true;
                true
            }
            None => false,
        }
    }

    fn install_as(
        &mut self,
        now: Instant,
        child: &ChildSa,
        sending: bool,
    ) -> Result<ChildHandle, EspError> {
        let spi = child.inbound.spi;
        if self.inbound(spi).is_some() {
            return Err(EspError::Config(format!(
                "inbound SPI {spi:#010x} already installed"
            )));
        }
        let inbound = InboundSa::new(&self.provider, child, now)?;
        let outbound = OutboundSa::new(&self.provider, child, now)?;
        let tunnel = match self.tunnel(&child.tunnel) {
            Some(t) => t,
            None => {
                let id = u32::try_from(self.tunnels.len()).map_err(|_| EspError::TableFull)?;
                self.tunnels.push(child.tunnel.clone());
                self.by_tunnel.push(BTreeMap::new());
                TunnelId(id)
            }
        };
        let slot = spi & SLOT_MASK;
        let reserved =
            matches!(self.slots.get(slot as usize), Some(Slot::Reserved(x)) if *x == spi);
        let slot = if reserved {
            slot
        } else {
            let s = self.take_slot()?;
            self.foreign.insert(spi, s);
            s
        };
        let out_idx32 = match self.out_free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.outbound.len()).map_err(|_| EspError::TableFull)?;
                self.outbound.push(None);
                i
            }
        };
        let out_idx = out_idx32 as usize;
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(s) = self.slots.get_mut(slot as usize) {
            let mut e = Box::new(InEntry {
                sa: inbound,
                tunnel,
                outbound: Some(out_idx32),
                remove_at: None,
                filed: Filed::default(),
            });
            let next = e.deadline();
            self.deadlines
                .refile(TimerKey::Inbound(slot), &mut e.filed.deadline, next);
            *s = Slot::Used(e);
            self.inbound_used += 1;
        }
        let mut e = OutEntry {
            sa: outbound,
            tunnel,
            inbound_spi: spi,
            sending,
            seq,
            filed: Filed::default(),
        };
        let next = e.sa.poll_timeout();
        self.deadlines
            .refile(TimerKey::Outbound(out_idx32), &mut e.filed.deadline, next);
        self.outbound[out_idx] = Some(e);
        if let Some(list) = self.by_tunnel.get_mut(tunnel.0 as usize) {
            list.insert(seq, out_idx32);
        }
        // SPIs, names and algorithms only: never the keys.
        tracing::debug!(
            tunnel = %child.tunnel,
            spi_in = %format_args!("{spi:08x}"),
            spi_out = %format_args!("{:08x}", child.outbound.spi),
            encryption = %child.encryption,
            integrity = %child.integrity,
            mode = ?child.mode,
            udp_encapsulated = child.encapsulation.is_some(),
            sending,
            "IPsec SA installed"
        );
        Ok(ChildHandle {
            inbound_spi: spi,
            outbound_spi: child.outbound.spi,
            outbound: out_idx32,
        })
    }

    /// Removes both halves of `child` at once (deleted, or gone with its IKE SA), or what is
    /// left of it after [`retire`](Self::retire).
    pub fn remove(&mut self, child: ChildHandle) {
        tracing::debug!(
            spi_in = %format_args!("{:08x}", child.inbound_spi),
            spi_out = %format_args!("{:08x}", child.outbound_spi),
            "IPsec SA removed"
        );
        self.retire(child);
        self.remove_inbound(child.inbound_spi);
    }

    /// Removes the outbound half of `child` only: nothing is sent on it any more, while its
    /// inbound half still receives what the peer sent before it learned of the change (after a
    /// rekey, packets in flight on the old SA). [`remove`](Self::remove) takes the rest, or
    /// [`retire_lingering`](Self::retire_lingering) schedules that.
    pub fn retire(&mut self, child: ChildHandle) {
        if let Some(e) = self.outbound.get_mut(child.outbound as usize) {
            // A handle kept past its removal must not take the SA that reused the index.
            if e.as_ref()
                .is_some_and(|x| x.inbound_spi == child.inbound_spi)
            {
                if let Some(mut entry) = e.take() {
                    if let Some(list) = self.by_tunnel.get_mut(entry.tunnel.0 as usize) {
                        list.remove(&entry.seq);
                    }
                    self.out_free.push(child.outbound);
                    self.deadlines.refile(
                        TimerKey::Outbound(child.outbound),
                        &mut entry.filed.deadline,
                        None,
                    );
                }
            }
        }
        if let Some(slot) = self.lookup(child.inbound_spi) {
            if let Some(Slot::Used(e)) = self.slots.get_mut(slot as usize) {
                e.outbound = None;
            }
        }
    }

    /// Retires `child`, replaced by a rekey: nothing is sent on it from now on, and its inbound
    /// half keeps accepting packets until `now + linger` (packets the peer sent on it before it
    /// switched may arrive late), then goes by itself in [`handle_timeout`](Self::handle_timeout).
    /// A zero `linger` removes it at once.
    pub fn retire_lingering(
        &mut self,
        now: Instant,
        child: ChildHandle,
        linger: core::time::Duration,
    ) {
        if linger.is_zero() {
            return self.remove(child);
        }
        tracing::debug!(
            spi_in = %format_args!("{:08x}", child.inbound_spi),
            spi_out = %format_args!("{:08x}", child.outbound_spi),
            linger_ms = linger.as_millis() as u64,
            "IPsec SA retired"
        );
        self.retire(child);
        if let Some(slot) = self.lookup(child.inbound_spi) {
            if let Some(Slot::Used(e)) = self.slots.get_mut(slot as usize) {
                e.remove_at = Some(now.saturating_add(linger));
                let next = e.deadline();
                self.deadlines
                    .refile(TimerKey::Inbound(slot), &mut e.filed.deadline, next);
            }
        }
    }

    fn remove_inbound(&mut self, spi: u32) {
        if let Some(slot) = self.lookup(spi) {
            if let Some(s) = self.slots.get_mut(slot as usize) {
                // Global counters outlive the SA, as `show counter global` does.
                if let Slot::Used(e) = s {
                    for (r, n) in e.sa.counters().drops.iter() {
                        self.drops.add(r, n);
                    }
                    self.deadlines
                        .refile(TimerKey::Inbound(slot), &mut e.filed.deadline, None);
                    self.inbound_used -= 1;
                }
                *s = Slot::Free;
                self.free.push(slot);
            }
            self.foreign.remove(&spi);
        }
    }

    /// A NAT keepalive (RFC 3948 section 2.3: the single byte 0xFF) toward the peer of `child`,
    /// written into `buf`. [`EspError::Config`] when the SA is not UDP-encapsulated.
    pub fn nat_keepalive(&self, child: ChildHandle, buf: &mut [u8]) -> Result<Transmit, EspError> {
        let sa = self.outbound(child).ok_or(EspError::NoOutboundSa)?;
        if sa.destination().port() == 0 {
            return Err(EspError::Config("SA is not UDP-encapsulated".into()));
        }
        let n = wire::write_nat_keepalive(buf)?.len();
        Ok(Transmit {
            range: 0..n,
            destination: sa.destination(),
            source: sa.source(),
            spi: sa.spi(),
        })
    }

    // --- the datapath ---

    /// Encapsulates the IP packet at `buf[inner]` with the newest sending SA of `tunnel` whose
    /// selectors contain it.
    pub fn encapsulate(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        buf: &mut [u8],
        inner: Range<usize>,
    ) -> Result<Transmit, EspError> {
        let (idx, flow) = self.sending_sa(tunnel, buf, &inner)?;
        let r = self
            .outbound_sa(idx)?
            .encapsulate_flow(now, buf, inner, &flow);
        self.refile_outbound(idx);
        let range = r?;
        self.transmit(idx, range)
    }

    /// [`encapsulate`](Self::encapsulate) but for the cipher and the outer header, which the
    /// returned [`Sealing`] writes on any thread ([`OutboundSa::prepare`]): the packet's
    /// sequence number is taken and it is counted now, so packets should leave in the order
    /// they were prepared. The [`Transmit`] says where it goes and where it lies in `buf` once
    /// sealed.
    pub fn prepare_encapsulate(
        &mut self,
        now: Instant,
        tunnel: TunnelId,
        buf: &mut [u8],
        inner: Range<usize>,
    ) -> Result<(Transmit, Sealing), EspError> {
        let (idx, flow) = self.sending_sa(tunnel, buf, &inner)?;
        let r = self.outbound_sa(idx)?.prepare_flow(now, buf, inner, &flow);
        self.refile_outbound(idx);
        let sealing = r?;
        Ok((self.transmit(idx, sealing.range())?, sealing))
    }

    /// The newest sending SA of `tunnel` whose selectors contain the IP packet at `buf[inner]`,
    /// and the packet's flow.
    fn sending_sa(
        &self,
        tunnel: TunnelId,
        buf: &[u8],
        inner: &Range<usize>,
    ) -> Result<(u32, ip::RawFlow), EspError> {
        let pkt = buf
            .get(inner.clone())
            .ok_or(EspError::BadInnerPacket("range"))?;
        let flow = ip::raw_flow(pkt)?;
        let list = self
            .by_tunnel
            .get(tunnel.0 as usize)
            .ok_or(EspError::NoOutboundSa)?;
        let idx = list
            .values()
            .rev()
            .copied()
            .find(|i| {
                self.outbound
                    .get(*i as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|e| e.sending && e.sa.matches_raw(&flow))
            })
            .ok_or(EspError::NoOutboundSa)?;
        Ok((idx, flow))
    }

    /// The outbound SA `idx`.
    fn outbound_sa(&mut self, idx: u32) -> Result<&mut OutboundSa, EspError> {
        self.outbound
            .get_mut(idx as usize)
            .and_then(Option::as_mut)
            .map(|e| &mut e.sa)
            .ok_or(EspError::NoOutboundSa)
    }

    /// Queues the events the outbound SA `idx` raised on a packet: a limit was reached, and its
    /// next deadline may have moved on.
    fn refile_outbound(&mut self, idx: u32) {
        let Some(Some(e)) = self.outbound.get_mut(idx as usize) else {
            return;
        };
        if e.sa.has_event() {
            let key = TimerKey::Outbound(idx);
            let next = e.sa.poll_timeout();
            self.deadlines.refile(key, &mut e.filed.deadline, next);
            queue(&mut self.events, key, &mut e.filed, true);
        }
    }

    /// Where the packet at `range` of the outbound SA `idx` goes.
    fn transmit(&self, idx: u32, range: Range<usize>) -> Result<Transmit, EspError> {
        let sa = &self
            .outbound
            .get(idx as usize)
            .and_then(Option::as_ref)
            .ok_or(EspError::NoOutboundSa)?
            .sa;
        Ok(Transmit {
            range,
            destination: sa.destination(),
            source: sa.source(),
            spi: sa.spi(),
        })
    }

    /// Decapsulates the ESP packet filling `packet` with the SA its SPI names. `Ok(None)` is an
    /// authenticated dummy packet. Every failure is counted under its drop reason.
    pub fn decapsulate(
        &mut self,
        now: Instant,
        packet: &mut [u8],
    ) -> Result<Option<Delivered>, EspError> {
        self.decapsulate_ecn(now, packet, None)
    }

    /// As [`decapsulate`](Self::decapsulate), applying RFC 6040 with the outer ECN field.
    pub fn decapsulate_ecn(
        &mut self,
        now: Instant,
        packet: &mut [u8],
        outer_ecn: Option<u8>,
    ) -> Result<Option<Delivered>, EspError> {
        let (slot, spi) = self.inbound_slot(packet)?;
        let Some(Slot::Used(entry)) = self.slots.get_mut(slot as usize) else {
            self.drops.count(DropReason::UnknownSpi);
            return Err(EspError::UnknownSpi(spi));
        };
        let tunnel = entry.tunnel;
        let r = match outer_ecn {
            Some(e) => entry.sa.decapsulate_with_ecn(now, packet, e),
            None => entry.sa.decapsulate(now, packet),
        };
        self.delivered(slot, spi, tunnel, r)
    }

    /// The first half of [`decapsulate`](Self::decapsulate) when the cipher is to run
    /// elsewhere: finds the SA the packet's SPI names and checks the packet as
    /// [`InboundSa::prepare_open`] does. The [`Opening`] verifies and decrypts it on any
    /// thread; [`finish_open`](Self::finish_open) takes it back. Every failure is counted under
    /// its drop reason.
    pub fn prepare_open(&mut self, now: Instant, packet: &[u8]) -> Result<Opening, EspError> {
        let (slot, spi) = self.inbound_slot(packet)?;
        let Some(Slot::Used(entry)) = self.slots.get_mut(slot as usize) else {
            self.drops.count(DropReason::UnknownSpi);
            return Err(EspError::UnknownSpi(spi));
        };
        let r = entry.sa.prepare_open(now, packet);
        self.refile_inbound(slot);
        r
    }

    /// The second half: [`InboundSa::finish`] on the SA that prepared the packet, with the
    /// outer ECN field for RFC 6040 as [`decapsulate_ecn`](Self::decapsulate_ecn) takes it,
    /// and the same result as `decapsulate`. [`EspError::UnknownSpi`] when that SA was removed
    /// meanwhile (even if another has its SPI now).
    pub fn finish_open(
        &mut self,
        now: Instant,
        opened: Opened,
        packet: &mut [u8],
        outer_ecn: Option<u8>,
    ) -> Result<Option<Delivered>, EspError> {
        let spi = opened.spi();
        let found = self
            .lookup(spi)
            .and_then(|slot| match self.slots.get_mut(slot as usize) {
                Some(Slot::Used(entry)) if opened.is_of(&entry.sa) => Some((slot, entry)),
                _ => None,
            });
        let Some((slot, entry)) = found else {
            self.drops.count(DropReason::UnknownSpi);
            return Err(EspError::UnknownSpi(spi));
        };
        let tunnel = entry.tunnel;
        let r = entry.sa.finish(now, opened, packet, outer_ecn);
        self.delivered(slot, spi, tunnel, r)
    }

    /// What the inbound SA in `slot` made of a packet, as the table reports it: its lifetime
    /// events queued, and an authenticated packet on a new SA letting it send.
    fn delivered(
        &mut self,
        slot: u32,
        spi: u32,
        tunnel: TunnelId,
        r: Result<Option<Decapsulated>, EspError>,
    ) -> Result<Option<Delivered>, EspError> {
        self.refile_inbound(slot);
        let r = r?;
        self.send_on_first_inbound(slot, spi);
        Ok(r.map(|packet| Delivered {
            spi,
            tunnel,
            packet,
        }))
    }

    /// The slot of the SA `packet`'s SPI names, counting the drop when there is none.
    fn inbound_slot(&mut self, packet: &[u8]) -> Result<(u32, u32), EspError> {
        let spi = match wire::peek_spi(packet) {
            Ok(s) => s,
            Err(e) => {
                self.drops.count(DropReason::Malformed);
                return Err(e);
            }
        };
        match self.lookup(spi) {
            Some(slot) => Ok((slot, spi)),
            None => {
                self.drops.count(DropReason::UnknownSpi);
                Err(EspError::UnknownSpi(spi))
            }
        }
    }

    /// Queues the lifetime events the inbound SA in `slot` raised on a packet.
    fn refile_inbound(&mut self, slot: u32) {
        let Some(Slot::Used(entry)) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if entry.sa.has_event() {
            let key = TimerKey::Inbound(slot);
            let next = entry.deadline();
            self.deadlines.refile(key, &mut entry.filed.deadline, next);
            queue(&mut self.events, key, &mut entry.filed, true);
        }
    }

    /// An authenticated packet on the new SA in `slot` (SPI `spi`): the peer has it and sends
    /// on it, so we may too.
    fn send_on_first_inbound(&mut self, slot: u32, spi: u32) {
        let Some(Slot::Used(entry)) = self.slots.get(slot as usize) else {
            return;
        };
        if let Some(out) = entry.outbound {
            if let Some(Some(o)) = self.outbound.get_mut(out as usize) {
                if !o.sending && o.inbound_spi == spi {
                    tracing::debug!(
                        spi_out = %format_args!("{:08x}", o.sa.spi()),
                        "IPsec SA outbound activated by inbound traffic"
                    );
                    o.sending = true;
                }
            }
        }
    }

    // --- outputs ---

    /// The next lifetime event of any SA, in the order the SAs raised them (all of one SA's
    /// events together).
    pub fn poll_event(&mut self) -> Option<TableEvent> {
        while let Some(&key) = self.events.front() {
            let (ev, more) = match key {
                TimerKey::Inbound(slot) => match self.slots.get_mut(slot as usize) {
                    Some(Slot::Used(e)) => {
                        let ev = e.sa.poll_event().map(|event| TableEvent {
                            spi: e.sa.spi(),
                            tunnel: e.tunnel,
                            outbound: false,
                            event,
                        });
                        e.filed.queued = e.sa.has_event();
                        (ev, e.filed.queued)
                    }
                    _ => (None, false),
                },
                TimerKey::Outbound(i) => match self.outbound.get_mut(i as usize) {
                    Some(Some(e)) => {
                        let ev = e.sa.poll_event().map(|event| TableEvent {
                            spi: e.sa.spi(),
                            tunnel: e.tunnel,
                            outbound: true,
                            event,
                        });
                        e.filed.queued = e.sa.has_event();
                        (ev, e.filed.queued)
                    }
                    _ => (None, false),
                },
            };
            if !more {
                self.events.pop_front();
            }
            if let Some(e) = &ev {
                tracing::debug!(
                    spi = %format_args!("{:08x}", e.spi),
                    direction = if e.outbound { "outbound" } else { "inbound" },
                    "{}",
                    e.event
                );
                return ev;
            }
        }
        None
    }

    /// The earliest time limit of any SA.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first()
    }

    /// Raises the time-based events due at `now`, and removes retired SAs whose time is up.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.deadlines.due(now, &mut due);
        for key in due.drain(..) {
            match key {
                TimerKey::Inbound(slot) => {
                    let Some(Slot::Used(e)) = self.slots.get_mut(slot as usize) else {
                        continue;
                    };
                    if e.remove_at.is_some_and(|t| t <= now) {
                        let spi = e.sa.spi();
                        tracing::debug!(spi_in = %format_args!("{spi:08x}"), "IPsec SA removed after retiring");
                        self.remove_inbound(spi);
                        continue;
                    }
                    e.sa.handle_timeout(now);
                    let next = e.deadline();
                    self.deadlines.refile(key, &mut e.filed.deadline, next);
                    let has = e.sa.has_event();
                    queue(&mut self.events, key, &mut e.filed, has);
                }
                TimerKey::Outbound(i) => {
                    let Some(Some(e)) = self.outbound.get_mut(i as usize) else {
                        continue;
                    };
                    e.sa.handle_timeout(now);
                    let next = e.sa.poll_timeout();
                    self.deadlines.refile(key, &mut e.filed.deadline, next);
                    let has = e.sa.has_event();
                    queue(&mut self.events, key, &mut e.filed, has);
                }
            }
        }
        self.due = due;
    }

    /// The earliest time limit of any SA, by a walk over all of them: what the deadline index
    /// must agree with.
    #[cfg(test)]
    pub(crate) fn poll_timeout_by_scan(&self) -> Option<Instant> {
        let inb = self.slots.iter().filter_map(|s| match s {
            Slot::Used(e) => e.deadline(),
            _ => None,
        });
        let out = self
            .outbound
            .iter()
            .flatten()
            .filter_map(|e| e.sa.poll_timeout());
        inb.chain(out).min()
    }

    fn lookup(&self, spi: u32) -> Option<u32> {
        let slot = spi & SLOT_MASK;
        if let Some(Slot::Used(e)) = self.slots.get(slot as usize) {
            if e.sa.spi() == spi {
                return Some(slot);
            }
        }
        self.foreign.get(&spi).copied()
    }

    fn take_slot(&mut self) -> Result<u32, EspError> {
        if let Some(s) = self.free.pop() {
            return Ok(s);
        }
        if self.slots.len() >= MAX_INBOUND {
            return Err(EspError::TableFull);
        }
        self.slots.push(Slot::Free);
        u32::try_from(self.slots.len() - 1).map_err(|_| EspError::TableFull)
    }
}

/// Queues `key` for [`SaTable::poll_event`] when `has_event` and it is not queued yet.
fn queue(events: &mut VecDeque<TimerKey>, key: TimerKey, filed: &mut Filed, has_event: bool) {
    if has_event && !filed.queued {
        filed.queued = true;
        events.push_back(key);
    }
}

impl SpiAllocator for SaTable {
    /// Reserves a fresh inbound SPI that encodes a free table slot; installing a Child SA with it
    /// consumes the reservation. [`SpiError::Exhausted`] when all [`MAX_INBOUND`] slots are
    /// taken.
    fn allocate_spi(&mut self) -> Result<u32, SpiError> {
        let slot = self.take_slot().map_err(|_| SpiError::Exhausted)?;
        let mut r = [0u8; 2];
        for _ in 0..SPI_TRIES {
            if let Err(e) = self.provider.random.fill(&mut r) {
                self.free.push(slot);
                return Err(SpiError::Random(e));
            }
            let high = u32::from(u16::from_be_bytes(r)) & (u32::MAX >> SLOT_BITS);
            let spi = high << SLOT_BITS | slot;
            // A zero high half would be a reserved SPI (RFC 4303 section 2.1); an SPI installed
            // from elsewhere may already have these bits.
            if high == 0 || self.foreign.contains_key(&spi) {
                continue;
            }
            if let Some(s) = self.slots.get_mut(slot as usize) {
                *s = Slot::Reserved(spi);
            }
            return Ok(spi);
        }
        self.free.push(slot);
        Err(SpiError::Random(
            ipsec_core::crypto::CryptoError::RandomFailed,
        ))
    }

    /// Releases a reservation that was never installed.
    fn release_spi(&mut self, spi: u32) {
        let slot = spi & SLOT_MASK;
        if let Some(s) = self.slots.get_mut(slot as usize) {
            if matches!(s, Slot::Reserved(x) if *x == spi) {
                *s = Slot::Free;
                self.free.push(slot);
            }
        }
    }
}
