//! Inner packets through the tunnels: each must come out of the peer's gateway byte for byte as
//! it went in, and the host behind the peer answers it through the tunnel the other way.
//!
//! The packets follow the first firewall's configuration: between hosts of its first proxy ID's
//! subnets (ICMP echo and UDP from its side, ICMP echo from the peer's side), entering at the LAN
//! port; and a ping along the tunnel monitor of every `ipsec-tunnel` that has one, sent by the
//! firewall's own stack from the tunnel interface's address to the monitor's destination and
//! answered by the peer's stack (the sample configs give it a proxy ID of its own).

use crate::network::{Firewall, Network};
use crate::packets;
use core::time::Duration;
use ipsec_core::config::ProxyProtocol;
use ipsec_core::selector::IpPrefix;
use std::net::{IpAddr, Ipv4Addr};

/// Simulated time one packet may take to cross.
const CROSSING_LIMIT: Duration = Duration::from_secs(1);

/// Host number `n` of an IPv4 prefix (the address itself for /31 and /32).
fn host_in(prefix: &IpPrefix, n: u32) -> Option<Ipv4Addr> {
    let IpAddr::V4(net) = prefix.network() else {
        return None;
    };
    if prefix.prefix_len() >= 31 {
        return Some(net);
    }
    u32::from(net).checked_add(n).map(Ipv4Addr::from)
}

/// A packet to send from firewall `from`'s side, and what it is for.
struct Probe {
    from: usize,
    what: &'static str,
    packet: Vec<u8>,
    /// Sent and answered by the firewalls' own stacks rather than LAN hosts.
    local: bool,
}

fn probes(fws: &[Firewall; 2]) -> Vec<Probe> {
    let mut out = Vec::new();
    let first = fws[0]
        .gateway
        .config()
        .ipsec_tunnels
        .iter()
        .filter(|t| !t.disabled)
        .find_map(|t| t.proxy_ids.first());
    if let Some(p) = first {
        if let (Some(a), Some(b)) = (host_in(&p.local, 5), host_in(&p.remote, 7)) {
            let proto = p.protocol.ip_protocol();
            if proto == 0 || proto == packets::ICMP {
                out.push(Probe {
                    from: 0,
                    what: "LAN ping",
                    packet: packets::icmp_echo(
                        a,
                        b,
                        false,
                        0x1d,
                        1,
                        b"abcdefghijklmnopqrstuvwabcdefghi",
                    ),
                    local: false,
                });
            }
            if p.protocol == ProxyProtocol::Any {
                out.push(Probe {
                    from: 0,
                    what: "LAN UDP",
                    packet: packets::udp(a, b, 40_000, 53, b"ipsec-demo query"),
                    local: false,
                });
            }
            if proto == 0 || proto == packets::ICMP {
                out.push(Probe {
                    from: 1,
                    what: "LAN ping",
                    packet: packets::icmp_echo(b, a, false, 0x2e, 1, b"from the other side"),
                    local: false,
                });
            }
        }
    }
    for (i, fw) in fws.iter().enumerate() {
        let config = fw.gateway.config();
        for t in config.ipsec_tunnels.iter().filter(|t| !t.disabled) {
            let Some(m) = t.tunnel_monitor.as_ref().filter(|m| m.enable) else {
                continue;
            };
            let src = config
                .tunnel_interfaces
                .iter()
                .find(|ti| ti.name == t.tunnel_interface)
                .and_then(|ti| ti.ip.as_ref())
                .map(|a| a.addr);
            if let (Some(IpAddr::V4(s)), IpAddr::V4(d)) = (src, m.destination_ip) {
                out.push(Probe {
                    from: i,
                    what: "tunnel monitor",
                    packet: packets::icmp_echo(s, d, false, 0x3f, 1, b"tunnel-monitor"),
                    local: true,
                });
            }
        }
    }
    out
}

/// Sends every probe and its answer; the number of packets that crossed, or why one did not.
pub(crate) fn exchange_all(net: &mut Network, fws: &mut [Firewall; 2]) -> Result<usize, String> {
    let list = probes(fws);
    if list.is_empty() {
        return Err("the configuration gives no hosts to send packets between".into());
    }
    println!("traffic through the tunnels:");
    let mut n = 0;
    for p in list {
        let expected = packets::answer(&p.packet)
            .ok_or_else(|| format!("{}: the demo built an unanswerable packet", p.what))?;
        let arrived = carry(net, fws, p.from, &p.packet, p.what, p.local)?;
        let answer = packets::answer(&arrived).ok_or_else(|| {
            format!(
                "{}: {} did not answer {}",
                p.what,
                fws[1 - p.from].name,
                packets::describe(&arrived)
            )
        })?;
        if answer != expected {
            return Err(format!("{}: unexpected answer", p.what));
        }
        carry(net, fws, 1 - p.from, &answer, p.what, p.local)?;
        n += 2;
    }
    Ok(n)
}

/// Carries `inner` from firewall `from` to the other through ESP; returns what came out.
fn carry(
    net: &mut Network,
    fws: &mut [Firewall; 2],
    from: usize,
    inner: &[u8],
    what: &str,
    local: bool,
) -> Result<Vec<u8>, String> {
    let to = 1 - from;
    let desc = packets::describe(inner);
    let out = net
        .send_inner(&mut fws[from], inner, local)
        .map_err(|e| format!("{what}: {desc}: {e}"))?;
    let (received, dropped) = (fws[to].received.len(), fws[to].dropped.len());
    // Done once it arrived, or anything was dropped (the tunnel monitors' own probes cross
    // too, so arrivals are matched by content).
    let arrived = |f: &[Firewall; 2]| {
        f[to].received[received..].iter().any(|r| r.packet == inner)
            || f[to].dropped.len() > dropped
    };
    let stop = net.drive(fws, CROSSING_LIMIT, |f, _| arrived(f));
    let receiver = &fws[to];
    if let Some(why) = receiver.dropped.get(dropped) {
        return Err(format!(
            "{what}: {desc}: {} dropped it: {why}",
            receiver.name
        ));
    }
    let Some(d) = receiver.received[received..]
        .iter()
        .find(|r| r.packet == inner)
    else {
        return Err(format!(
            "{what}: {desc}: never arrived intact at {} ({stop:?})",
            receiver.name
        ));
    };
    let via = d
        .spi
        .and_then(|spi| {
            receiver
                .gateway
                .show_ipsec_sa(net.now)
                .sas
                .into_iter()
                .find(|s| s.spi_in == spi)
        })
        .map(|s| s.name)
        .unwrap_or_else(|| "?".into());
    let (src, dst) = (out.source, out.destination);
    println!(
        "  {:<15} {:>6} -> {:<6} {desc}\n  {:<15} {:>6}    {} {}[{}] -> {}[{}] SPI {:08X}, {} bytes; {} received it intact on {via}",
        what,
        fws[from].name,
        fws[to].name,
        "",
        "",
        if dst.port() == 0 { "ESP" } else { "ESP-in-UDP" },
        src.ip(),
        src.port(),
        dst.ip(),
        dst.port(),
        out.spi,
        out.len,
        fws[to].name,
    );
    Ok(d.packet.clone())
}
