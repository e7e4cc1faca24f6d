//! The route-based IPsec VPN of the PAN-OS model, as a Sans-IO library: the one crate a Rust
//! router links.
//!
//! A [`Gateway`] is one firewall built from its [`Config`] (the PAN-OS objects: IKE gateways,
//! crypto profiles, tunnel interfaces, IPsec tunnels with proxy IDs, static routes, zones,
//! security and NAT rules) and a [`CryptoProvider`]. It owns the seam between IKE and ESP (one
//! SPI allocator, one port-4500 demultiplexer, Child SAs installed and removed as IKE negotiates
//! and deletes them, rekeys when the datapath's byte and packet limits are reached) and does
//! what the firewall does around them: static routes choose a tunnel interface, the tunnel
//! interface its IPsec tunnel, the proxy ID the Child SA; security rules with sessions decide
//! what passes between zones; tunnel monitors probe the tunnels and fail over to backup routes.
//! Every drop is counted by reason.
//!
//! It performs no I/O: the embedder feeds it UDP payloads, raw ESP, inner IP packets and the
//! time, and takes out packets, events and the next deadline. [`Gateway`]'s rustdoc is the
//! contract: what to call when, and what not to call.
//!
//! Two firewalls from TOML, a tunnel between them, and a packet each way:
//!
//! ```
//! use gateway::{default_provider, Action, Config, Gateway, Instant, Options, HEADROOM, TAILROOM};
//!
//! /// One side of the VPN: `me` and `peer` are the outside addresses, `lan` and `remote` the
//! /// networks behind each.
//! fn firewall(me: &str, peer: &str, lan: &str, remote: &str) -> Config {
//!     Config::from_toml_str(&format!(r#"
//!         [[ike-crypto-profile]]
//!         name = "ike"
//!         dh-group = ["group19"]
//!         hash = ["sha256"]
//!         encryption = ["aes-256-gcm"]
//!
//!         [[ipsec-crypto-profile]]
//!         name = "esp"
//!         encryption = ["aes-256-gcm"]
//!         authentication = ["none"]
//!         dh-group = "group19"
//!
//!         [[ike-gateway]]
//!         name = "peer"
//!         version = "ikev2"
//!         local-address = {{ interface = "ethernet1/1", ip = "{me}" }}
//!         peer-address = {{ ip = "{peer}" }}
//!         authentication = {{ pre-shared-key = "correct horse battery staple" }}
//!         ike-crypto-profile = "ike"
//!
//!         [[tunnel-interface]]
//!         name = "tunnel.1"
//!         zone = "vpn"
//!
//!         [[ipsec-tunnel]]
//!         name = "to-peer"
//!         tunnel-interface = "tunnel.1"
//!         ike-gateway = "peer"
//!         ipsec-crypto-profile = "esp"
//!
//!         [[ipsec-tunnel.proxy-id]]
//!         name = "lans"
//!         local = "{lan}"
//!         remote = "{remote}"
//!
//!         [[static-route]]
//!         name = "to-peer-lan"
//!         destination = "{remote}"
//!         interface = "tunnel.1"
//!
//!         [[zone]]
//!         name = "trust"
//!         interfaces = ["ethernet1/2"]
//!
//!         [[zone]]
//!         name = "vpn"
//!         interfaces = ["tunnel.1"]
//!
//!         [[security-rule]]
//!         name = "lan-to-vpn"
//!         from = ["trust"]
//!         to = ["vpn"]
//!         source = ["{lan}"]
//!         destination = ["{remote}"]
//!         action = "allow"
//!
//!         [[security-rule]]
//!         name = "vpn-to-lan"
//!         from = ["vpn"]
//!         to = ["trust"]
//!         source = ["{remote}"]
//!         destination = ["{lan}"]
//!         action = "allow"
//!     "#)).expect("valid configuration")
//! }
//!
//! /// A UDP datagram with an empty checksum (allowed over IPv4), in an IPv4 packet.
//! fn udp(src: [u8; 4], dst: [u8; 4], data: &[u8]) -> Vec<u8> {
//!     let len = 28 + data.len();
//!     let mut p = vec![0x45, 0, 0, len as u8, 0, 1, 0, 0, 64, 17, 0, 0];
//!     p.extend_from_slice(&src);
//!     p.extend_from_slice(&dst);
//!     let sum = gateway::esp::ip::checksum(&[&p]);
//!     p[10..12].copy_from_slice(&sum.to_be_bytes());
//!     p.extend_from_slice(&[0x9c, 0x40, 0, 53, 0, 8 + data.len() as u8, 0, 0]);
//!     p.extend_from_slice(data);
//!     p
//! }
//!
//! // No NAT between them here; UDP encapsulation lets ESP cross networks that drop protocol 50.
//! let options = Options { force_udp_encapsulation: true, ..Options::default() };
//! let hq_config = firewall("192.0.2.1", "192.0.2.2", "10.1.0.0/24", "10.2.0.0/24");
//! let branch_config = firewall("192.0.2.2", "192.0.2.1", "10.2.0.0/24", "10.1.0.0/24");
//! let mut hq = Gateway::with_options(hq_config, default_provider(), options).unwrap();
//! let mut branch = Gateway::with_options(branch_config, default_provider(), options).unwrap();
//! assert!(hq.warnings().is_empty(), "{:?}", hq.warnings());
//! // The LAN ports' addresses: their subnets are connected routes.
//! hq.set_interface_address("ethernet1/2", "10.1.0.1/24".parse().unwrap()).unwrap();
//! branch.set_interface_address("ethernet1/2", "10.2.0.1/24".parse().unwrap()).unwrap();
//!
//! // hq initiates; the datagrams go back and forth until both sides are quiet.
//! let now = Instant::from_secs(1);
//! hq.connect_all(now).unwrap();
//! let mut buf = vec![0u8; 65_535];
//! loop {
//!     let mut moved = false;
//!     while let Some(t) = hq.poll_transmit(&mut buf) {
//!         branch.handle_datagram(now, t.destination, t.source, &mut buf[t.range]);
//!         moved = true;
//!     }
//!     while let Some(t) = branch.poll_transmit(&mut buf) {
//!         hq.handle_datagram(now, t.destination, t.source, &mut buf[t.range]);
//!         moved = true;
//!     }
//!     if !moved {
//!         break;
//!     }
//! }
//! while let Some(event) = hq.poll_event() {
//!     println!("hq: {event}"); // IKE phase-1 negotiation is succeeded as initiator, ...
//! }
//!
//! // A host on hq's LAN sends to one on branch's: in through ethernet1/2, out as ESP. The
//! // packet sits in the buffer with room before and after it for the ESP header and trailer.
//! let query = udp([10, 1, 0, 5], [10, 2, 0, 7], b"where is the printer?");
//! let inner = HEADROOM..HEADROOM + query.len();
//! let mut buf = vec![0u8; HEADROOM + query.len() + TAILROOM];
//! buf[inner.clone()].copy_from_slice(&query);
//! let lan = hq.interface("ethernet1/2").unwrap();
//! let Action::Send(esp) = hq.handle_inner(now, lan, &mut buf, inner) else { panic!() };
//!
//! // Branch decapsulates it and hands it to its own LAN port.
//! let datagram = &mut buf[esp.range];
//! let Action::Deliver(d) = branch.handle_datagram(now, esp.destination, esp.source, datagram)
//! else {
//!     panic!()
//! };
//! assert_eq!(branch.interface_name(d.interface), Some("ethernet1/2"));
//! assert_eq!(&datagram[d.range], &query[..]);
//!
//! // The answer goes back the same way.
//! let answer = udp([10, 2, 0, 7], [10, 1, 0, 5], b"second floor");
//! let inner = HEADROOM..HEADROOM + answer.len();
//! let mut buf = vec![0u8; HEADROOM + answer.len() + TAILROOM];
//! buf[inner.clone()].copy_from_slice(&answer);
//! let lan = branch.interface("ethernet1/2").unwrap();
//! let Action::Send(esp) = branch.handle_inner(now, lan, &mut buf, inner) else { panic!() };
//! let datagram = &mut buf[esp.range];
//! let Action::Deliver(d) = hq.handle_datagram(now, esp.destination, esp.source, datagram)
//! else {
//!     panic!()
//! };
//! assert_eq!(&datagram[d.range], &answer[..]);
//! println!("{}", hq.show_ipsec_sa(now)); // show vpn ipsec-sa, one packet each way
//! ```
//!
//! Modules, named for what they hold: [`routing`] (virtual routers), [`policy`] (zones,
//! security and NAT rules), [`session`] (the session table), [`monitor`] (tunnel monitors),
//! [`show`] (what `show` commands print), [`event`] (the system log), [`counters`] (drops by
//! reason). The layers underneath are re-exported whole ([`ipsec_core`], [`ikev2`], [`esp`]).

mod child_sa;
pub mod counters;
mod demux;
mod error;
pub mod event;
mod forward;
mod gateway;
mod interfaces;
mod invalid_spi;
pub mod monitor;
mod packet;
pub mod policy;
mod reload;
pub mod routing;
pub mod session;
pub mod show;
mod tunnel_monitor;

pub use counters::{Counters, DropReason};
pub use error::{Error, Warning};
pub use event::{Event, LifetimeAction};
pub use forward::Forwarded;
pub use gateway::{
    Action, Delivery, Gateway, Options, OuterProtocol, Transmit, HEADROOM, TAILROOM,
};
pub use interfaces::InterfaceId;
pub use reload::{Names, Reload};

/// The layers underneath, for what the gateway does not wrap.
pub use esp;
pub use ikev2;
pub use ipsec_core;

pub use ipsec_core::config::{Config, InterfaceAddress};
pub use ipsec_core::crypto::{default_provider, CryptoProvider};
pub use ipsec_core::time::Instant;
