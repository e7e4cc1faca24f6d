//! What the gateway tells its embedder: the IKE endpoint's events, after the gateway acted on
//! them, and its own (datapath lifetimes, tunnel monitor).
//!
//! `Display` renders each event as a line of PAN-OS's VPN system log, so an admin recognises
//! it. Key material never leaves the gateway: the Child SA in [`ikev2::Event::ChildSaUp`] is
//! handed on with its keys blanked, after the gateway installed it.

use core::fmt;
use esp::SaEvent;
use ipsec_core::config::MonitorAction;
use ipsec_core::crypto::SecretBytes;
use std::net::IpAddr;

/// What the gateway did about a datapath lifetime event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifetimeAction {
    /// It asked the IKE endpoint to rekey the Child SA.
    Rekey,
    /// It will rekey in a moment, unless the peer rekeys first.
    RekeyPending,
    /// A successor is installed; the old SA waits for its deletion and carries nothing new.
    Replaced,
}

/// Something the embedder should know about. Drain with
/// [`Gateway::poll_event`](crate::Gateway::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// An event of the IKE endpoint. `ChildSaUp` arrives after its Child SA was installed in
    /// the datapath, `ChildSaDown` after it was removed; the Child SA's keys are blanked.
    Ike(ikev2::Event),
    /// A Child SA IKE negotiated could not be installed in the datapath (a provider without
    /// its algorithm, a full SA table): traffic for its proxy ID is dropped.
    InstallFailed {
        /// `tunnel:proxy-id`.
        name: String,
        /// Our inbound SPI.
        inbound_spi: u32,
        /// The datapath's reason.
        error: String,
    },
    /// The datapath reached a byte, packet or sequence-number limit of a Child SA.
    Lifetime {
        /// `tunnel:proxy-id`.
        name: String,
        /// Our inbound SPI.
        inbound_spi: u32,
        /// The peer's SPI.
        outbound_spi: u32,
        /// True when the outbound half reached it.
        outbound: bool,
        /// The limit.
        event: SaEvent,
        /// What the gateway does about it.
        action: LifetimeAction,
    },
    /// The tunnel monitor lost `lost` probes in a row: the tunnel is down.
    TunnelDown {
        /// The `ipsec-tunnel`.
        tunnel: String,
        /// The monitored address.
        destination: IpAddr,
        /// Probes lost in a row.
        lost: u32,
        /// The monitor's action.
        action: MonitorAction,
        /// Routes withdrawn (`fail-over`).
        routes_withdrawn: usize,
    },
    /// The tunnel monitor reached its destination again: the tunnel is up.
    TunnelUp {
        /// The `ipsec-tunnel`.
        tunnel: String,
        /// The monitored address.
        destination: IpAddr,
        /// Routes restored (`fail-over`).
        routes_restored: usize,
    },
}

/// The IKE event with the Child SA's keys replaced by empty ones.
pub(crate) fn without_keys(mut e: ikev2::Event) -> ikev2::Event {
    if let ikev2::Event::ChildSaUp { child, .. } = &mut e {
        for k in [&mut child.inbound, &mut child.outbound] {
            k.encryption_key = SecretBytes::default();
            k.integrity_key = SecretBytes::default();
        }
    }
    e
}

fn action_name(a: MonitorAction) -> &'static str {
    match a {
        MonitorAction::WaitRecover => "wait-recover",
        MonitorAction::FailOver => "fail-over",
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Ike(e) => write!(f, "{e}"),
            Event::InstallFailed {
                name,
                inbound_spi,
                error,
            } => write!(
                f,
                "IPSec SA SPI:{inbound_spi:08X} of tunnel {name} could not be installed: {error}."
            ),
            Event::Lifetime {
                name,
                inbound_spi,
                outbound_spi,
                outbound,
                event,
                action,
            } => write!(
                f,
                "IPSec SA SPI:{inbound_spi:08X}/{outbound_spi:08X} of tunnel {name}: {event} \
                 ({}); {}.",
                if *outbound { "outbound" } else { "inbound" },
                match action {
                    LifetimeAction::Rekey => "rekeying",
                    LifetimeAction::RekeyPending => "rekey pending",
                    LifetimeAction::Replaced => "already replaced, awaiting delete",
                }
            ),
            Event::TunnelDown {
                tunnel,
                destination,
                lost,
                action,
                routes_withdrawn,
            } => {
                write!(
                    f,
                    "Tunnel {tunnel} is down: tunnel monitor lost {lost} consecutive probes to \
                     {destination}; action {}: ",
                    action_name(*action)
                )?;
                if *action == MonitorAction::FailOver {
                    write!(f, "{routes_withdrawn} routes withdrawn, ")?;
                }
                f.write_str("renegotiating.")
            }
            Event::TunnelUp {
                tunnel,
                destination,
                routes_restored,
            } => {
                write!(
                    f,
                    "Tunnel {tunnel} is up: tunnel monitor reached {destination}"
                )?;
                if *routes_restored > 0 {
                    write!(f, "; {routes_restored} routes restored")?;
                }
                f.write_str(".")
            }
        }
    }
}
