//! The outer sockets: UDP 500 and 4500 at each IKE gateway's local address, and raw IP
//! protocol 50 for ESP that travels unencapsulated; one reader task each, and the TUN readers.
//!
//! Every reader takes what waits in batches ([`RecvBatch`], [`TunIn`]) and hands each packet to
//! the gateway in arrival order; what the gateway sends and delivers meanwhile is gathered
//! ([`GsoBatch`], the TUN devices' queues and coalescers) and leaves once per batch, in the same
//! order, when the reader calls [`Daemon::write_batch`](super::Daemon::write_batch) (packets
//! delivered from the receive buffers, which the next batch reuses) and
//! [`Daemon::flush`](super::Daemon::flush). A reader yields to the others after
//! each batch, so a busy direction cannot starve the other one or the timers.

use super::tun::{Tun, TunIn};
use super::udp::{grow_buffers, GsoBatch, RecvBatch, SendBatch, SendThread};
use super::Shared;
use gateway::{Config, OuterProtocol, Transmit};
use ipsec_core::demux::{classify, Datagram, IKE_PORT, NAT_T_PORT};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::rc::Rc;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A socket as the runtime watches it: for input only (see [`Duplex`]).
type Reader = AsyncFd<std::net::UdpSocket>;

/// IKE's ports (RFC 7296 section 2.23, RFC 3948).
const IKE_PORTS: [u16; 2] = [IKE_PORT, NAT_T_PORT];
/// IP protocol number of ESP.
const IPPROTO_ESP: i32 = 50;
/// The protocol of a raw socket that sends packets with their IP header (and receives none).
const IPPROTO_RAW: i32 = 255;
/// Batches a reader takes before it yields to the other tasks.
const BATCHES_PER_TURN: usize = 4;

/// One socket: the runtime's handle for reading, and a non-blocking descriptor of the same
/// socket for writing at once, with the datagrams gathered for it.
///
/// The runtime watches the socket for input only. Watched for output too (as a tokio
/// `UdpSocket` is), every datagram sent would wake the runtime once more when the kernel frees
/// it, for nothing: the daemon writes without waiting for room (a full socket buffer drops
/// the datagram, as the network might). At low load that was a second `epoll_wait` per IKE
/// message.
struct Duplex {
    read: Rc<Reader>,
    write: std::net::UdpSocket,
    out: Out,
}

/// How a socket's output is gathered.
enum Out {
    /// UDP: runs of equal-sized datagrams to one peer, one GSO send each.
    Gso(GsoBatch),
    /// Raw ESP (no GSO for raw sockets): `sendmmsg` on a thread of its own.
    Thread(Box<SendThread>),
    /// Raw ESP when no thread could be started: one `sendmmsg` for the batch.
    Each(Box<SendBatch>),
}

impl Duplex {
    fn new(s: std::net::UdpSocket, out: Out) -> std::io::Result<Duplex> {
        s.set_nonblocking(true)?;
        grow_buffers(&s);
        let write = s.try_clone()?;
        Ok(Duplex {
            read: Rc::new(watch_input(s)?),
            write,
            out,
        })
    }

    fn push(&mut self, to: SocketAddr, bytes: &[u8]) {
        match &mut self.out {
            Out::Gso(b) => b.push(&self.write, to, bytes),
            Out::Thread(t) => t.push(&self.write, to, bytes),
            Out::Each(b) => b.push(&self.write, to, bytes),
        }
    }

    fn flush(&mut self) {
        match &mut self.out {
            Out::Gso(b) => b.flush(&self.write),
            Out::Thread(t) => t.flush(&self.write),
            Out::Each(b) => b.flush(&self.write),
        }
    }
}

/// Registers `s` with the runtime for input only.
///
/// tokio marks `AsyncFd::with_interest` deprecated as unsound for a generic descriptor owner,
/// which could close or swap its descriptor while registered; its replacement is `unsafe`
/// with that as the caller's promise. A `std::net::UdpSocket` owns its descriptor and keeps it
/// open and unchanged until it is dropped, with the `AsyncFd`, so the promise holds here by
/// construction (and this crate keeps `unsafe` to the C ABI).
#[allow(deprecated)]
fn watch_input(s: std::net::UdpSocket) -> std::io::Result<Reader> {
    AsyncFd::with_interest(s, Interest::READABLE)
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
                    .and_then(|s| Duplex::new(s, Out::Gso(GsoBatch::new())))
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

    /// Queues the packet `bytes` of `t` on its socket; it leaves at the next
    /// [`flush`](Self::flush). A full socket buffer drops it, as the network might.
    pub(crate) fn send(&mut self, t: &Transmit, bytes: &[u8]) {
        let (sock, to) = match t.protocol {
            OuterProtocol::Udp => (self.udp_for(t.source), t.destination),
            OuterProtocol::Esp => {
                let raw = if t.destination.is_ipv4() {
                    self.esp4.as_mut()
                } else {
                    self.esp6.as_mut()
                };
                (raw, SocketAddr::new(t.destination.ip(), 0))
            }
        };
        match sock {
            Some(s) => s.push(to, bytes),
            None => tracing::debug!("no socket for {}", t.source),
        }
    }

    /// The IKE gateways of `config` whose local address has no socket here (sockets are
    /// bound at start), with that address.
    pub(crate) fn unbound(&self, config: &Config) -> Vec<(String, IpAddr)> {
        config
            .ike_gateways
            .iter()
            .filter_map(|g| {
                let ip = g.local_address.ip?;
                let bound = self.udp.iter().any(|(a, _)| {
                    a.ip() == ip || (a.ip().is_unspecified() && a.is_ipv4() == ip.is_ipv4())
                });
                (!bound).then(|| (g.name.clone(), ip))
            })
            .collect()
    }

    /// Sends the packets gathered since the last flush.
    pub(crate) fn flush(&mut self) {
        let raw = self.esp4.iter_mut().chain(self.esp6.iter_mut());
        for s in self.udp.iter_mut().map(|(_, s)| s).chain(raw) {
            s.flush();
        }
    }

    /// The socket bound to `source`, or to the unspecified address and `source`'s port.
    fn udp_for(&mut self, source: SocketAddr) -> Option<&mut Duplex> {
        let i = self
            .udp
            .iter()
            .position(|(a, _)| *a == source)
            .or_else(|| {
                self.udp.iter().position(|(a, _)| {
                    a.port() == source.port()
                        && a.ip().is_unspecified()
                        && a.is_ipv4() == source.is_ipv4()
                })
            })?;
        self.udp.get_mut(i).map(|(_, s)| s)
    }
}

/// A raw socket for IP protocol 50 as a `std::net::UdpSocket`: the datagram calls (`recvfrom`,
/// `sendto`) are the same for raw sockets, with port 0 in the addresses.
fn raw_esp(domain: Domain) -> Result<Duplex, String> {
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_ESP))).map_err(|e| {
        format!("cannot open a raw ESP socket: {e} (ipsec-gateway run needs root or CAP_NET_RAW)")
    })?;
    let s = std::net::UdpSocket::from(s);
    // IPv4 sends go out on a send-only IPPROTO_RAW socket with the IP header built here (see
    // SendThread::spawn); without one, on the ESP socket.
    let hdrincl = (domain == Domain::IPV4)
        .then(|| Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_RAW))))
        .and_then(|r| {
            r.map_err(|e| tracing::debug!("no IPPROTO_RAW socket: {e}"))
                .ok()
        })
        .map(|r| {
            grow_buffers(&r);
            std::net::UdpSocket::from(r)
        });
    let out = match s.try_clone().and_then(|c| SendThread::spawn(c, hdrincl)) {
        Ok(t) => Out::Thread(Box::new(t)),
        Err(e) => {
            tracing::debug!("raw ESP sends on the datapath thread: {e}");
            Out::Each(Box::new(SendBatch::new()))
        }
    };
    Duplex::new(s, out).map_err(|e| format!("raw ESP socket: {e}"))
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
    drop(d);
    let mut d = daemon.borrow_mut();
    for t in &mut d.tuns {
        spawn_tun_reader(daemon, t);
    }
}

/// Starts the reader task of `tun`.
pub(crate) fn spawn_tun_reader(daemon: &Shared, tun: &mut Tun) {
    tun.reader = Some(tokio::task::spawn_local(read_tun(
        daemon.clone(),
        tun.device(),
        tun.mtu,
    )));
}

/// Reads `sock` in batches until it has nothing more, [`BATCHES_PER_TURN`] at a time, handing
/// each batch to `handle`. A batch with room to spare emptied the socket: the reader waits for
/// the next arrival rather than asking again for nothing.
async fn read_batches(
    sock: &Reader,
    batch: &mut RecvBatch,
    what: &dyn std::fmt::Display,
    mut handle: impl FnMut(&mut RecvBatch),
) {
    let mut ready = match sock.readable().await {
        Ok(ready) => ready,
        Err(e) => {
            tracing::debug!("{what}: {e}");
            return;
        }
    };
    for _ in 0..BATCHES_PER_TURN {
        let mut drained = false;
        let read = ready.try_io(|sock| {
            let n = batch.recv(sock)?;
            if n < batch.capacity() {
                // Told as WouldBlock, which clears the readiness: arrivals after the call
                // raise it again.
                drained = true;
                return Err(ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match read {
            Ok(Ok(_)) => handle(batch),
            Ok(Err(e)) => {
                tracing::debug!("{what}: {e}");
                return;
            }
            Err(_would_block) => {
                if drained {
                    handle(batch);
                }
                return;
            }
        }
    }
    tokio::task::yield_now().await;
}

/// Reads one outer socket (see [`Daemon::receive`](super::Daemon::receive)).
async fn read_outer(daemon: Shared, sock: Rc<Reader>, mut batch: RecvBatch, outer: Outer) {
    let what = outer.to_string();
    loop {
        read_batches(&sock, &mut batch, &what, |batch| {
            let mut d = daemon.borrow_mut();
            d.receive(batch, outer);
            d.flush();
        })
        .await;
    }
}

async fn read_udp(daemon: Shared, bound: SocketAddr, sock: Rc<Reader>) {
    // GRO where ESP arrives: on port 4500 only (RFC 3948). Port 500 carries IKE alone, whose
    // messages gain nothing from it, and a GRO batch costs fresh headers on every call.
    let batch = RecvBatch::new(sock.get_ref(), bound.port() == NAT_T_PORT);
    read_outer(daemon, sock, batch, Outer::Udp(bound)).await;
}

async fn read_esp(daemon: Shared, raw: Rc<Reader>, v4: bool) {
    let batch = RecvBatch::new(raw.get_ref(), false);
    read_outer(daemon, raw, batch, Outer::Raw { v4 }).await;
}

/// What an outer socket receives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outer {
    /// UDP bound at this address: IKE on port 500; IKE, ESP and NAT keepalives on 4500.
    Udp(SocketAddr),
    /// Raw ESP. The kernel hands IPv4 raw sockets the whole packet, IP header included (the
    /// ESP payload follows it); IPv6 raw sockets the payload only.
    Raw { v4: bool },
}

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outer::Udp(bound) => write!(f, "UDP {bound}"),
            Outer::Raw { .. } => f.write_str("raw ESP"),
        }
    }
}

impl Outer {
    /// Where the ESP packet of the datagram at `at` of `buf` lies: `None` when the datagram
    /// carries something else (IKE, a keepalive, what is not even that).
    pub(crate) fn esp(self, buf: &[u8], at: Range<usize>) -> Option<Range<usize>> {
        match self {
            Outer::Udp(bound) => {
                let d = buf.get(at.clone())?;
                matches!(classify(bound.port(), d), Ok(Datagram::Esp(_))).then_some(at)
            }
            Outer::Raw { .. } => Some(self.payload(buf, at)),
        }
    }

    /// What is handed to the gateway of the datagram at `at` of `buf`: the whole UDP payload,
    /// raw ESP without an IPv4 header.
    pub(crate) fn payload(self, buf: &[u8], at: Range<usize>) -> Range<usize> {
        let start = match self {
            Outer::Raw { v4: true } => buf
                .get(at.start)
                .map_or(at.len(), |b| usize::from(b & 0x0f) * 4),
            _ => 0,
        };
        (at.start + start).min(at.end)..at.end
    }
}

/// Reads a TUN device: one read (an offloaded packet cut into several, or one packet), then
/// whatever else waits, up to [`BATCHES_PER_TURN`] reads, before the gathered output leaves.
async fn read_tun(daemon: Shared, dev: Rc<tun_rs::AsyncDevice>, mtu: usize) {
    let mut input = TunIn::new(mtu);
    loop {
        if let Err(e) = input.recv(&dev).await {
            tracing::debug!("TUN read: {e}");
            continue;
        }
        {
            let mut d = daemon.borrow_mut();
            d.send_tun(&mut input);
            for _ in 1..BATCHES_PER_TURN {
                match input.try_recv(&dev) {
                    Ok(_) => d.send_tun(&mut input),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::debug!("TUN read: {e}");
                        break;
                    }
                }
            }
            d.flush();
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    const EPOLLIN: u32 = 0x1;
    const EPOLLOUT: u32 = 0x4;

    /// The event masks with which the process's epoll instances watch descriptor `fd`, read
    /// from `/proc/self/fdinfo` (a `tfd:` line per watched descriptor).
    fn epoll_masks_of(fd: i32) -> Vec<u32> {
        let mut masks = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            let is_epoll = std::fs::read_link(entry.path())
                .is_ok_and(|l| l.to_string_lossy().contains("eventpoll"));
            if !is_epoll {
                continue;
            }
            let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
            let Ok(info) = std::fs::read_to_string(info) else {
                continue;
            };
            for line in info.lines() {
                let mut words = line.split_whitespace();
                if words.next() != Some("tfd:") {
                    continue;
                }
                if words.next().and_then(|w| w.parse::<i32>().ok()) != Some(fd) {
                    continue;
                }
                if let (Some("events:"), Some(mask)) = (words.next(), words.next()) {
                    masks.push(u32::from_str_radix(mask, 16).unwrap());
                }
            }
        }
        masks
    }

    #[test]
    fn the_esp_of_each_outer_datagram_is_found() {
        let udp4500 = Outer::Udp("192.0.2.1:4500".parse().unwrap());
        let udp500 = Outer::Udp("192.0.2.1:500".parse().unwrap());
        // A batch buffer with a datagram at 100..140.
        let mut buf = vec![0u8; 200];
        let at = 100..140;
        // ESP in UDP: a non-zero SPI first.
        buf[100..108].copy_from_slice(&[0, 0, 0x42, 0x42, 0, 0, 0, 1]);
        assert_eq!(udp4500.esp(&buf, at.clone()), Some(at.clone()));
        assert_eq!(udp4500.payload(&buf, at.clone()), at);
        // Port 500 carries IKE alone.
        assert_eq!(udp500.esp(&buf, at.clone()), None);
        // IKE after the non-ESP marker, and a NAT keepalive, are not ESP.
        buf[100..104].fill(0);
        assert_eq!(udp4500.esp(&buf, at.clone()), None);
        assert_eq!(udp4500.esp(&buf, 100..101), None);
        buf[100] = 0xff;
        assert_eq!(udp4500.esp(&buf, 100..101), None);
        // Raw ESP over IPv4 comes with its IP header (here with 4 bytes of options), over IPv6
        // without.
        buf[100] = 0x46;
        let v4 = Outer::Raw { v4: true };
        assert_eq!(v4.esp(&buf, at.clone()), Some(124..140));
        assert_eq!(Outer::Raw { v4: false }.esp(&buf, at.clone()), Some(at));
        // A header longer than the datagram leaves nothing, not a range out of it.
        buf[100] = 0x4f;
        assert_eq!(v4.payload(&buf, 100..120), 120..120);
    }

    #[test]
    fn sockets_are_watched_for_input_only_and_read_in_batches() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let at = s.local_addr().unwrap();
            let mut d = Duplex::new(s, Out::Gso(GsoBatch::new())).unwrap();
            let masks = epoll_masks_of(d.read.as_raw_fd());
            assert!(!masks.is_empty(), "the socket is watched by the runtime");
            for m in masks {
                assert_ne!(m & EPOLLIN, 0, "watched for input: {m:#x}");
                assert_eq!(m & EPOLLOUT, 0, "not watched for output: {m:#x}");
            }

            // The socket still sends at once and reads what arrives, batch by batch.
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            peer.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            d.push(peer.local_addr().unwrap(), b"out");
            d.flush();
            let mut buf = [0; 16];
            let (n, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"out"[..], at));

            let mut batch = RecvBatch::new(d.read.get_ref(), false);
            let mut got = Vec::new();
            for round in 0..3u8 {
                for i in 0..5u8 {
                    peer.send_to(&[round, i], at).unwrap();
                }
                let want = usize::from(round + 1) * 5;
                while got.len() < want {
                    let read = read_batches(&d.read, &mut batch, &"test", |b| {
                        b.for_each(|p, _| got.push(p.to_vec()));
                    });
                    tokio::time::timeout(std::time::Duration::from_secs(2), read)
                        .await
                        .expect("a reader wakes for what arrives");
                }
            }
            let sent: Vec<Vec<u8>> = (0..3u8)
                .flat_map(|r| (0..5u8).map(move |i| vec![r, i]))
                .collect();
            assert_eq!(got, sent);
        });
    }
}
