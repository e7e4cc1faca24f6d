//! An ESP reachability probe: ICMP echo requests through the first Child SA, replies counted.
//!
//! Agreeing on SPIs and algorithms does not prove both peers derived the same keys (RFC 7296
//! section 2.17); one echo request that the peer decrypts and answers, and whose reply we decrypt,
//! does. The probe installs the Child SAs of the first tunnel that comes up into an
//! [`esp::SaTable`] as the events say (a Child SA that answers the peer's rekey receives at once
//! and sends after `child-sa-outbound`; a deleted one stops sending and lingers inbound), sends
//! IPv4 echo requests from SRC to DST inside ESP-in-UDP (RFC 3948), and reports each echo reply
//! that comes back decrypted. Requests whose reply never came are counted as lost.

use esp::ip::checksum;
use esp::{ChildHandle, SaTable, Transmit, TunnelId};
use ikev2::Outbound;
use ipsec_core::child_sa::ChildSa;
use ipsec_core::crypto::default_provider;
use ipsec_core::time::Instant;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Room before the inner packet for the ESP header and IV, and after it for the trailer and ICV.
const HEADROOM: usize = 64;
const TAILROOM: usize = 128;
/// IPv4 header (no options) plus ICMP echo header plus payload.
const PAYLOAD: usize = 32;
const PACKET: usize = 20 + 8 + PAYLOAD;

/// Writes an IPv4 ICMP echo request into `out[..PACKET]`.
fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, out: &mut [u8; PACKET]) {
    out.fill(0);
    out[0] = 0x45;
    out[2..4].copy_from_slice(&(PACKET as u16).to_be_bytes());
    out[4..6].copy_from_slice(&seq.to_be_bytes());
    out[8] = 64; // TTL
    out[9] = 1; // ICMP
    out[12..16].copy_from_slice(&src.octets());
    out[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&[&out[..20]]);
    out[10..12].copy_from_slice(&c.to_be_bytes());
    out[20] = 8; // echo request
    out[24..26].copy_from_slice(&id.to_be_bytes());
    out[26..28].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in out[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let c = checksum(&[&out[20..]]);
    out[22..24].copy_from_slice(&c.to_be_bytes());
}

/// The sequence number of `pkt` if it is an IPv4 echo reply from `from` to `to` with `id`.
fn echo_reply_seq(pkt: &[u8], from: Ipv4Addr, to: Ipv4Addr, id: u16) -> Option<u16> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let (ip, icmp) = (pkt.get(..20)?, pkt.get(ihl..)?);
    let ok = ip[0] >> 4 == 4
        && ip[9] == 1
        && ip[12..16] == from.octets()
        && ip[16..20] == to.octets()
        && icmp.first() == Some(&0)
        && icmp.get(4..6)? == id.to_be_bytes()
        && checksum(&[icmp]) == 0;
    let seq = icmp.get(6..8)?;
    ok.then(|| u16::from_be_bytes([seq[0], seq[1]]))
}

/// What one received ESP packet turned out to be.
pub(crate) enum Answer {
    /// An echo reply: the SPI it came in on and its sequence number.
    Reply { spi: u32, seq: u16 },
    /// Something else that decrypted.
    Other,
    /// Not decryptable (unknown SPI, bad ICV, replay): the reason.
    Dropped(String),
}

/// The probe: an SA table with the first Child SA, and the echo state.
pub(crate) struct Probe {
    table: SaTable,
    tunnel: Option<TunnelId>,
    /// Installed Child SAs by inbound SPI.
    installed: HashMap<u32, ChildHandle>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    seq: u16,
    buf: Vec<u8>,
    /// Requests without a reply yet, by sequence number: when they were sent.
    waiting: HashMap<u16, Instant>,
    /// Requests whose reply did not come within [`REPLY_WAIT`].
    lost: u64,
}

/// How long an echo reply may take before its request counts as lost.
const REPLY_WAIT: Duration = Duration::from_secs(2);

impl Probe {
    /// A probe that will send from `src` to `dst` once a Child SA is installed.
    pub(crate) fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Probe {
        Probe {
            table: SaTable::new(default_provider()),
            tunnel: None,
            installed: HashMap::new(),
            src,
            dst,
            id: (std::process::id() & 0xffff) as u16,
            seq: 0,
            buf: vec![0; 65_535],
            waiting: HashMap::new(),
            lost: 0,
        }
    }

    /// Installs a Child SA of the probed tunnel (the first one that comes up); Child SAs of other
    /// tunnels are ignored.
    pub(crate) fn install(
        &mut self,
        now: Instant,
        child: &ChildSa,
        outbound: Outbound,
    ) -> Result<(), String> {
        if self.tunnel.is_some() && self.tunnel != self.table.tunnel(&child.tunnel) {
            return Ok(());
        }
        let installed = match outbound {
            Outbound::Now => self.table.install(now, child),
            Outbound::Later => self.table.install_inbound(now, child),
        };
        let handle = installed.map_err(|e| format!("ESP install of {}: {e}", child.tunnel))?;
        self.installed.insert(handle.inbound_spi, handle);
        self.tunnel = self.table.tunnel(&child.tunnel);
        Ok(())
    }

    /// Starts sending on the Child SA whose inbound SPI is `inbound_spi` (`child-sa-outbound`).
    pub(crate) fn activate(&mut self, inbound_spi: u32) {
        if let Some(h) = self.installed.get(&inbound_spi) {
            self.table.activate_outbound(*h);
        }
    }

    /// Retires the Child SA whose inbound SPI is `inbound_spi`, if it is installed: it sends
    /// nothing more and receives for `linger`.
    pub(crate) fn retire(&mut self, now: Instant, inbound_spi: u32, linger: Duration) {
        if let Some(h) = self.installed.remove(&inbound_spi) {
            self.table.retire_lingering(now, h, linger);
        }
    }

    /// Runs the table's timers (retired SAs going away) and counts requests whose reply is
    /// overdue as lost.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.table.poll_timeout().is_some_and(|t| t <= now) {
            self.table.handle_timeout(now);
        }
        let before = self.waiting.len();
        self.waiting
            .retain(|_, sent| now.saturating_duration_since(*sent) < REPLY_WAIT);
        self.lost += (before - self.waiting.len()) as u64;
    }

    /// Requests whose reply did not come back (counted [`REPLY_WAIT`] after they were sent).
    pub(crate) fn lost(&self) -> u64 {
        self.lost
    }

    /// Requests still waiting for their reply.
    pub(crate) fn in_flight(&self) -> usize {
        self.waiting.len()
    }

    /// The echo requests' source and destination.
    pub(crate) fn addresses(&self) -> (Ipv4Addr, Ipv4Addr) {
        (self.src, self.dst)
    }

    /// True while a Child SA is installed.
    pub(crate) fn ready(&self) -> bool {
        !self.installed.is_empty()
    }

    /// Encapsulates the next echo request; the datagram is `self.datagram(&transmit)`.
    pub(crate) fn next_request(&mut self, now: Instant) -> Result<Transmit, String> {
        let tunnel = self.tunnel.ok_or("no Child SA installed")?;
        self.seq = self.seq.wrapping_add(1);
        if self.waiting.insert(self.seq, now).is_some() {
            // The sequence numbers wrapped onto a request still unanswered.
            self.lost += 1;
        }
        let mut pkt = [0u8; PACKET];
        echo_request(self.src, self.dst, self.id, self.seq, &mut pkt);
        self.buf.fill(0);
        let inner = HEADROOM..HEADROOM + PACKET;
        self.buf
            .get_mut(inner.clone())
            .ok_or("buffer")?
            .copy_from_slice(&pkt);
        let end = inner.end + TAILROOM;
        let buf = self.buf.get_mut(..end).ok_or("buffer")?;
        self.table
            .encapsulate(now, tunnel, buf, inner)
            .map_err(|e| format!("ESP encapsulation: {e}"))
    }

    /// The bytes of an encapsulated request.
    pub(crate) fn datagram(&self, t: &Transmit) -> &[u8] {
        self.buf.get(t.range.clone()).unwrap_or_default()
    }

    /// Decapsulates one ESP packet received on port 4500.
    pub(crate) fn receive(&mut self, now: Instant, esp: &mut [u8]) -> Answer {
        match self.table.decapsulate(now, esp) {
            Ok(Some(d)) => match esp
                .get(d.packet.range.clone())
                .and_then(|p| echo_reply_seq(p, self.dst, self.src, self.id))
            {
                Some(seq) => {
                    self.waiting.remove(&seq);
                    Answer::Reply { spi: d.spi, seq }
                }
                None => Answer::Other,
            },
            Ok(None) => Answer::Other,
            Err(e) => Answer::Dropped(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_valid_and_only_the_matching_reply_is_accepted() {
        let (a, b) = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 2, 0, 1));
        let mut p = [0u8; PACKET];
        echo_request(a, b, 0x1234, 7, &mut p);
        assert_eq!(checksum(&[&p[..20]]), 0, "IPv4 header checksum");
        assert_eq!(checksum(&[&p[20..]]), 0, "ICMP checksum");
        assert_eq!(
            echo_reply_seq(&p, a, b, 0x1234),
            None,
            "a request is not a reply"
        );

        // The reply as the peer's kernel builds it: addresses swapped, type 0, checksum redone.
        let mut r = p;
        r[12..16].copy_from_slice(&b.octets());
        r[16..20].copy_from_slice(&a.octets());
        r[20] = 0;
        r[22..24].fill(0);
        let c = checksum(&[&r[20..]]);
        r[22..24].copy_from_slice(&c.to_be_bytes());
        assert_eq!(echo_reply_seq(&r, b, a, 0x1234), Some(7));
        assert_eq!(echo_reply_seq(&r, b, a, 0x1235), None, "other id");
        assert_eq!(echo_reply_seq(&r, a, b, 0x1234), None, "other direction");
        let mut bad = r;
        bad[30] ^= 1;
        assert_eq!(echo_reply_seq(&bad, b, a, 0x1234), None, "bad checksum");
        assert_eq!(echo_reply_seq(&r[..25], b, a, 0x1234), None, "truncated");
        assert_eq!(echo_reply_seq(&[], b, a, 0x1234), None);
    }
}
