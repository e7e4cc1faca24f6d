//! Outer packets in: what arrives on UDP 500 and 4500 and as IP protocol 50, told apart once
//! ([`ipsec_core::demux`]) and handed to IKE or to the ESP datapath.
//!
//! Decapsulated packets continue on the forwarding path as if they had arrived on the tunnel
//! interface of their SA. ESP for an SPI the datapath does not know is answered with an
//! INVALID_SPI notify inside the IKE SA with its sender (RFC 7296 section 2.21.4), at most once
//! per peer and SPI every few seconds and a few per second in all (section 1.5).

use crate::counters::DropReason;
use crate::forward::Ingress;
use crate::gateway::Action;
use crate::Gateway;
use esp::EspError;
use ipsec_core::demux::{classify, Datagram};
use ipsec_core::time::Instant;
use std::net::{IpAddr, SocketAddr};

/// What a datagram on the IKE ports carries, without borrowing it.
enum Kind {
    Ike,
    Esp,
    Keepalive,
}

impl Gateway {
    /// Processes the UDP payload `buf` received on `local` (port 500 or 4500) from `remote`:
    /// an IKE message ([`Action::Consumed`]; the answers come from
    /// [`poll_transmit`](Self::poll_transmit)), a NAT keepalive ([`Action::Consumed`]), or ESP,
    /// decapsulated in place and forwarded: [`Action::Deliver`] for the inner packet's range in
    /// `buf`, [`Action::Send`] when it is routed into another tunnel (re-encapsulated in place,
    /// within the room the outer ESP header and trailer leave: a tunnel of a suite with a
    /// larger IV or ICV may not fit, and the packet is dropped as
    /// [`DropReason::EncapFailed`]).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        buf: &mut [u8],
    ) -> Action {
        let kind = match classify(local.port(), buf) {
            Ok(Datagram::Ike(_)) => Ok(Kind::Ike),
            Ok(Datagram::Esp(_)) => Ok(Kind::Esp),
            Ok(Datagram::Keepalive) => Ok(Kind::Keepalive),
            Err(_) => Err(DropReason::BadUdpEncap),
        };
        let a = match kind {
            Ok(Kind::Ike) => {
                // The endpoint strips the non-ESP marker itself.
                self.endpoint
                    .with_spis(&mut self.table)
                    .handle_datagram(now, local, remote, buf);
                Action::Consumed
            }
            Ok(Kind::Keepalive) => Action::Consumed,
            Ok(Kind::Esp) => self.decapsulate(now, remote.ip(), buf),
            Err(r) => {
                self.counters.drop(r);
                Action::Drop(r)
            }
        };
        self.after(now);
        a
    }

    /// Processes the payload of an IP protocol 50 packet (raw ESP) from `remote`: decapsulated
    /// in place and forwarded, as for ESP in [`handle_datagram`](Self::handle_datagram).
    pub fn handle_esp(&mut self, now: Instant, remote: IpAddr, buf: &mut [u8]) -> Action {
        let a = self.decapsulate(now, remote, buf);
        self.after(now);
        a
    }

    /// The first half of [`handle_esp`](Self::handle_esp) (and of ESP in
    /// [`handle_datagram`](Self::handle_datagram)) for an embedder that decrypts on other
    /// threads: finds the SA of the ESP packet `packet` from `remote` (raw ESP's payload, or a
    /// UDP 4500 payload that [`ipsec_core::demux::classify`] calls ESP) and checks it against
    /// the SA's replay window, without moving it ([`esp::SaTable::prepare_open`]). The
    /// [`esp::Opening`] verifies and decrypts it anywhere; [`finish_esp`](Self::finish_esp)
    /// takes it back and forwards it. `Err` carries what `handle_esp` would have returned for a
    /// packet refused here (counted, and an unknown SPI answered with INVALID_SPI alike).
    pub fn prepare_esp(
        &mut self,
        now: Instant,
        remote: IpAddr,
        packet: &[u8],
    ) -> Result<esp::Opening, Action> {
        let r = self.table.prepare_open(now, packet);
        let r = r.map_err(|e| self.refused(now, remote, e));
        self.after(now);
        r
    }

    /// The second half: the packet `prepare_esp` handed out, opened in `buf` (the same
    /// bytes), checked against the replay window again and forwarded, with what `handle_esp`
    /// would have returned for it. Its SA may have gone meanwhile (a Delete, the end of its
    /// lifetime): the packet is dropped then, without the INVALID_SPI an unknown SPI gets,
    /// since its SPI was known when it arrived.
    pub fn finish_esp(
        &mut self,
        now: Instant,
        remote: IpAddr,
        opened: esp::Opened,
        buf: &mut [u8],
    ) -> Action {
        let a = match self.table.finish_open(now, opened, buf, None) {
            Err(EspError::UnknownSpi(_)) => {
                self.counters.drop(DropReason::Esp);
                Action::Drop(DropReason::Esp)
            }
            r => self.decapsulated(now, remote, r, buf),
        };
        self.after(now);
        a
    }

    fn decapsulate(&mut self, now: Instant, peer: IpAddr, buf: &mut [u8]) -> Action {
        let r = self.table.decapsulate(now, buf);
        self.decapsulated(now, peer, r, buf)
    }

    /// Forwards what the datapath made of an ESP packet from `peer`.
    fn decapsulated(
        &mut self,
        now: Instant,
        peer: IpAddr,
        r: Result<Option<esp::Delivered>, EspError>,
        buf: &mut [u8],
    ) -> Action {
        match r {
            Ok(None) => Action::Consumed,
            Ok(Some(d)) => {
                self.counters.decapsulated += 1;
                let Some(ingress) = self.interface_of_tunnel(d.tunnel) else {
                    self.counters.drop(DropReason::NoZone);
                    return Action::Drop(DropReason::NoZone);
                };
                self.forward(
                    now,
                    Ingress::Interface(ingress),
                    buf,
                    d.packet.range,
                    Some(d.spi),
                )
            }
            Err(e) => self.refused(now, peer, e),
        }
    }

    /// Counts an ESP packet from `peer` the datapath refused; an unknown SPI is answered with
    /// INVALID_SPI (rate-limited).
    fn refused(&mut self, now: Instant, peer: IpAddr, e: EspError) -> Action {
        if let EspError::UnknownSpi(spi) = e {
            if !self.invalid_spi.allow(now, peer, spi) {
                self.counters.invalid_spi_suppressed += 1;
            } else if self
                .endpoint
                .with_spis(&mut self.table)
                .invalid_spi(now, peer, spi)
                .is_ok()
            {
                self.counters.invalid_spi_sent += 1;
            }
        }
        self.counters.drop(DropReason::Esp);
        Action::Drop(DropReason::Esp)
    }
}
