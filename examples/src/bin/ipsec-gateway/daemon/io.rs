//! The outer sockets: UDP 500 and 4500 at each IKE gateway's local address, and raw IP
//! protocol 50 for ESP that travels unencapsulated; one reader task each, and the TUN readers.

use super::Shared;
use gateway::{Config, OuterProtocol, Transmit, HEADROOM, TAILROOM};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use tokio::net::UdpSocket;

/// IKE's ports (RFC 7296 section 2.23, RFC 3948).
const IKE_PORTS: [u16; 2] = [500, 4500];
/// IP protocol number of ESP.
const IPPROTO_ESP: i32 = 50;
/// The largest datagram.
const MAX_DATAGRAM: usize = 65_535;

/// One socket: the runtime's handle for reading, and a non-blocking descriptor of the same
/// socket for writing at once (the runtime's handle refuses writes until its first poll).
struct Duplex {
    read: Rc<UdpSocket>,
    write: std::net::UdpSocket,
}

impl Duplex {
    fn new(s: std::net::UdpSocket) -> std::io::Result<Duplex> {
        s.set_nonblocking(true)?;
        let write = s.try_clone()?;
        Ok(Duplex {
            read: Rc::new(UdpSocket::from_std(s)?),
            write,
        })
    }
}

/// The daemon's outer sockets.
pub(crate) struct Sockets {
    udp: Vec<(SocketAddr, Duplex)>,
    esp4: Option<Duplex>,
    esp6: Option<Duplex>,
}

impl Sockets {
    /// Binds UDP 500 and 4500 at every IKE gateway's local address (the unspecified address
    /// of its family when the configuration names none), and a raw ESP socket per family.
    pub(crate) fn bind(config: &Config) -> Result<Sockets, String> {
        let mut addrs: Vec<IpAddr> = Vec::new();
        for g in &config.ike_gateways {
            let ip = g
                .local_address
                .ip
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            if !addrs.contains(&ip) {
                addrs.push(ip);
            }
        }
        let mut udp = Vec::new();
        for ip in &addrs {
            for port in IKE_PORTS {
                let at = SocketAddr::new(*ip, port);
                let s = std::net::UdpSocket::bind(at)
                    .and_then(Duplex::new)
                    .map_err(|e| {
                        format!(
                            "cannot bind UDP {at}: {e} (is the address on this host, is another \
                             IKE daemon running?)"
                        )
                    })?;
                udp.push((at, s));
            }
        }
        let esp4 = addrs
            .iter()
            .any(IpAddr::is_ipv4)
            .then(|| raw_esp(Domain::IPV4))
            .transpose()?;
        let esp6 = addrs
            .iter()
            .any(IpAddr::is_ipv6)
            .then(|| raw_esp(Domain::IPV6))
            .transpose()?;
        Ok(Sockets { udp, esp4, esp6 })
    }

    /// Sends the packet `bytes` of `t`. A full socket buffer drops it, as the network might.
    pub(crate) fn send(&self, t: &Transmit, bytes: &[u8]) {
        let r = match t.protocol {
            OuterProtocol::Udp => match self.udp_for(t.source) {
                Some(s) => s.write.send_to(bytes, t.destination).map(|_| ()),
                None => {
                    tracing::debug!("no socket for {}", t.source);
                    return;
                }
            },
            OuterProtocol::Esp => {
                let raw = if t.destination.is_ipv4() {
                    &self.esp4
                } else {
                    &self.esp6
                };
                match raw {
                    Some(s) => s
                        .write
                        .send_to(bytes, SocketAddr::new(t.destination.ip(), 0))
                        .map(|_| ()),
                    None => return,
                }
            }
        };
        if let Err(e) = r {
            tracing::debug!("send to {}: {e}", t.destination);
        }
    }

    /// The socket bound to `source`, or to the unspecified address and `source`'s port.
    fn udp_for(&self, source: SocketAddr) -> Option<&Duplex> {
        self.udp
            .iter()
            .find(|(a, _)| *a == source)
            .or_else(|| {
                self.udp.iter().find(|(a, _)| {
                    a.port() == source.port()
                        && a.ip().is_unspecified()
                        && a.is_ipv4() == source.is_ipv4()
                })
            })
            .map(|(_, s)| s)
    }
}

/// A raw socket for IP protocol 50 in a tokio `UdpSocket`: the datagram calls (`recvfrom`,
/// `sendto`) are the same for raw sockets, with port 0 in the addresses.
fn raw_esp(domain: Domain) -> Result<Duplex, String> {
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_ESP))).map_err(|e| {
        format!("cannot open a raw ESP socket: {e} (ipsec-gateway run needs root or CAP_NET_RAW)")
    })?;
    Duplex::new(std::net::UdpSocket::from(s)).map_err(|e| format!("raw ESP socket: {e}"))
}

/// Starts one reader task per socket and per TUN device.
pub(crate) fn spawn_readers(daemon: &Shared) {
    let d = daemon.borrow();
    for (local, sock) in &d.sockets.udp {
        tokio::task::spawn_local(read_udp(daemon.clone(), *local, sock.read.clone()));
    }
    for (raw, v4) in [(&d.sockets.esp4, true), (&d.sockets.esp6, false)] {
        if let Some(raw) = raw {
            tokio::task::spawn_local(read_esp(daemon.clone(), raw.read.clone(), v4));
        }
    }
    for t in &d.tuns {
        tokio::task::spawn_local(read_tun(daemon.clone(), t.device()));
    }
}

async fn read_udp(daemon: Shared, bound: SocketAddr, sock: Rc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, remote) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("UDP {bound}: {e}");
                continue;
            }
        };
        let mut d = daemon.borrow_mut();
        let local = bound;
        let now = d.now();
        let Some(datagram) = buf.get_mut(..n) else {
            continue;
        };
        let action = d.gw.handle_datagram(now, local, remote, datagram);
        d.act(action, datagram);
        d.flush();
    }
}

/// Reads raw ESP. The kernel hands IPv4 raw sockets the whole packet, IP header included
/// (the ESP payload follows it); IPv6 raw sockets the payload only.
async fn read_esp(daemon: Shared, raw: Rc<UdpSocket>, v4: bool) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = match raw.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("raw ESP: {e}");
                continue;
            }
        };
        let start = if v4 {
            buf.first().map_or(n, |b| usize::from(b & 0x0f) * 4)
        } else {
            0
        };
        let mut d = daemon.borrow_mut();
        let now = d.now();
        let Some(esp) = buf.get_mut(start..n) else {
            continue;
        };
        let action = d.gw.handle_esp(now, from.ip(), esp);
        d.act(action, esp);
        d.flush();
    }
}

async fn read_tun(daemon: Shared, dev: Rc<tun_rs::AsyncDevice>) {
    let mut buf = vec![0u8; HEADROOM + MAX_DATAGRAM + TAILROOM];
    loop {
        let n = match dev.recv(&mut buf[HEADROOM..HEADROOM + MAX_DATAGRAM]).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!("TUN read: {e}");
                continue;
            }
        };
        daemon
            .borrow_mut()
            .handle_tun(&mut buf, HEADROOM..HEADROOM + n);
    }
}
