//! Each peer's datapath in the harness: an [`esp::SaTable`] that follows the endpoint's events
//! exactly as the [`Event`] docs tell an embedder to, and probes (IPv4 packets through the ESP
//! tunnel, one way each) that count what such an embedder would lose.

use crate::{Event, Outbound};
use esp::{EspError, SaTable};
use ipsec_core::crypto::CryptoProvider;
use ipsec_core::time::Instant;
use std::net::IpAddr;

/// What happened to the probes one side sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Probes {
    /// Probes the side tried to send.
    pub sent: u64,
    /// Not sent: the datapath had no SA to send on (or its SA had expired).
    pub no_sa: u64,
    /// Dropped by the simulated network (loss) on purpose.
    pub dropped_by_network: u64,
    /// Decapsulated by the peer.
    pub delivered: u64,
    /// Refused by the peer's datapath (unknown SPI, replay, expired SA, bad ICV).
    pub rejected: u64,
}

impl Probes {
    /// Probes lost because the two datapaths disagreed: not sent for want of an SA, or refused
    /// by the peer. Network drops are not counted.
    pub fn lost(&self) -> u64 {
        self.no_sa + self.rejected
    }
}

/// One peer's datapath.
pub(super) struct Datapath {
    table: SaTable,
    /// The probe flow, from the first Child SA installed: tunnel, source and destination.
    flow: Option<(String, [u8; 4], [u8; 4])>,
    pub(super) probes: Probes,
    /// Why the peer refused our probes, for failure messages.
    pub(super) rejections: Vec<String>,
    seq: u16,
    /// Ignores [`Outbound::Later`] and `linger`: sends on every new SA at once and removes an old
    /// one at once, as a datapath that only installs and removes would.
    pub(super) naive: bool,
}

impl Datapath {
    pub(super) fn new(provider: CryptoProvider) -> Self {
        Datapath {
            table: SaTable::new(provider),
            flow: None,
            probes: Probes::default(),
            rejections: Vec::new(),
            seq: 0,
            naive: false,
        }
    }

    /// Applies one event of the endpoint, as the [`Event`] docs prescribe.
    pub(super) fn apply(&mut self, now: Instant, e: &Event) {
        match e {
            Event::ChildSaUp {
                child, outbound, ..
            } => {
                let r = match outbound {
                    Outbound::Later if !self.naive => self.table.install_inbound(now, child),
                    _ => self.table.install(now, child),
                };
                r.expect("the datapath installs what IKE negotiated");
                if self.flow.is_none() {
                    let v4 = |ts: &[ipsec_core::selector::TrafficSelector]| match ts
                        .first()
                        .map(|t| t.start_addr)
                    {
                        Some(IpAddr::V4(a)) => Some(a.octets()),
                        _ => None,
                    };
                    if let (Some(src), Some(dst)) = (v4(&child.local_ts), v4(&child.remote_ts)) {
                        self.flow = Some((child.tunnel.clone(), src, dst));
                    }
                }
            }
            Event::ChildSaOutbound { inbound_spi, .. } => {
                if let Some(h) = self.table.child(*inbound_spi) {
                    self.table.activate_outbound(h);
                }
            }
            Event::ChildSaDown {
                inbound_spi,
                linger,
                ..
            } => {
                if let Some(h) = self.table.child(*inbound_spi) {
                    match self.naive {
                        true => self.table.remove(h),
                        false => self.table.retire_lingering(now, h, *linger),
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn inbound_count(&self) -> usize {
        self.table.inbound_count()
    }

    /// Runs the table's timers (retired SAs going away).
    pub(super) fn tick(&mut self, now: Instant) {
        if self.table.poll_timeout().is_some_and(|t| t <= now) {
            self.table.handle_timeout(now);
        }
        while self.table.poll_event().is_some() {}
    }

    /// Encapsulates the next probe; `None` when there is no flow yet or no SA to send on (the
    /// latter counted as lost).
    pub(super) fn send_probe(&mut self, now: Instant) -> Option<Vec<u8>> {
        let (tunnel, src, dst) = self.flow.clone()?;
        self.probes.sent += 1;
        self.seq = self.seq.wrapping_add(1);
        let mut buf = vec![0u8; 64 + 40 + 64];
        let inner = &mut buf[64..104];
        inner[0] = 0x45;
        inner[2..4].copy_from_slice(&40u16.to_be_bytes());
        inner[4..6].copy_from_slice(&self.seq.to_be_bytes());
        inner[8] = 64;
        inner[9] = 17;
        inner[12..16].copy_from_slice(&src);
        inner[16..20].copy_from_slice(&dst);
        let sent = self
            .table
            .tunnel(&tunnel)
            .ok_or(EspError::NoOutboundSa)
            .and_then(|t| self.table.encapsulate(now, t, &mut buf, 64..104));
        match sent {
            Ok(tx) => Some(buf[tx.range].to_vec()),
            Err(e) => {
                self.probes.no_sa += 1;
                if self.rejections.len() < 20 {
                    self.rejections.push(format!("at {now:?}: not sent: {e}"));
                }
                None
            }
        }
    }

    /// Decapsulates a probe from the peer: `Err` with the reason when it is refused.
    pub(super) fn receive_probe(&mut self, now: Instant, bytes: &[u8]) -> Result<(), EspError> {
        let mut b = bytes.to_vec();
        self.table.decapsulate(now, &mut b).map(|_| ())
    }
}
