//! Datagrams in batches: `recvmmsg` with UDP GRO on the way in, UDP GSO on the way out.
//!
//! A tunnel at full speed moves tens of thousands of ESP packets a second, and one system call
//! per packet costs more than the packet's encryption. On the way in, one `recvmmsg` fills up to
//! [`RECV_BATCH`] buffers, and with UDP GRO (Linux 5.0) the kernel coalesces consecutive
//! datagrams of one flow into one buffer (equal-sized segments, the last one possibly shorter).
//! A socket without GRO (raw ESP) takes up to [`RECV_PACKETS`] packets per call instead: as
//! many as the TUN coalescer joins into one packet, so that a batch's TCP segments reach the
//! host's TCP stack in runs as long as UDP GRO gives. On the way out, consecutive packets to the same peer with the same length leave in one
//! `sendmsg` with a `UDP_SEGMENT` size (UDP GSO, Linux 4.18): the kernel cuts the buffer into
//! datagrams. Both fall back to one datagram per call where the kernel refuses them. Raw
//! sockets have no GSO: their packets leave in one `sendmmsg` per batch ([`SendBatch`]). The
//! buffers are allocated once per socket.
//!
//! The calls come from `nix`, already a dependency of the TUN and netlink crates: it wraps
//! `recvmmsg`, `sendmsg` and their control messages safely, and leaves the socket's other
//! options (path MTU discovery, so large IKE messages still fragment) as they are.

use super::ordered::{Ordered, HAND_OVER, IN_FLIGHT};
use nix::errno::Errno;
use nix::sys::socket::{
    recvmmsg, sendmmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    MsgFlags, MultiHeaders, SockaddrStorage,
};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, RawFd};

/// Buffers filled by one `recvmmsg` with UDP GRO (each may hold a run of datagrams).
pub(crate) const RECV_BATCH: usize = 16;
/// Buffers filled by one `recvmmsg` without GRO (one packet each).
pub(crate) const RECV_PACKETS: usize = 64;
/// The largest datagram, and the largest run of GRO segments the kernel hands over at once.
const MAX_RECV: usize = 65_535;
/// The kernel's limit on segments in one GSO send (`UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;
/// The most bytes one GSO send carries (a UDP payload's limit, less IPv6's header room).
const MAX_GSO_BYTES: usize = 65_000;
/// Socket buffers large enough for a burst of a fast tunnel (as WireGuard implementations use).
pub(crate) const SOCKET_BUFFER: usize = 7 << 20;

/// Gives a socket large send and receive buffers: beyond `net.core.{r,w}mem_max` when the
/// process may (`SO_*BUFFORCE` needs CAP_NET_ADMIN), otherwise as large as the limit allows.
pub(crate) fn grow_buffers<F: AsFd>(sock: &F) {
    let fd = sock.as_fd();
    if setsockopt(&fd, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER);
    }
    if setsockopt(&fd, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER);
    }
}

/// One received datagram, or one GRO run of them, in [`RecvBatch`].
#[derive(Clone, Copy, Debug)]
struct Received {
    len: usize,
    /// The size of every segment but the last; `len` when the kernel did not coalesce.
    stride: usize,
    from: Option<SocketAddr>,
}

/// Receive buffers and headers for `recvmmsg`, reused for every batch.
pub(crate) struct RecvBatch {
    bufs: Vec<u8>,
    headers: MultiHeaders<SockaddrStorage>,
    /// UDP GRO is on: every batch needs room for the segment size's control message.
    gro: bool,
    /// Buffers per call: [`RECV_BATCH`] with GRO, [`RECV_PACKETS`] without.
    slots: usize,
    received: [Received; RECV_PACKETS],
    count: usize,
}

impl RecvBatch {
    /// A batch for a UDP socket (`gro`: UDP GRO is asked for; it is turned on here when the
    /// kernel has it) or a raw socket.
    pub(crate) fn new<F: AsFd>(sock: &F, gro: bool) -> RecvBatch {
        let gro = gro && setsockopt(&sock.as_fd(), sockopt::UdpGroSegment, &true).is_ok();
        let cmsg = gro.then(|| nix::cmsg_space!(i32));
        let slots = if gro { RECV_BATCH } else { RECV_PACKETS };
        RecvBatch {
            bufs: vec![0u8; slots * MAX_RECV],
            headers: MultiHeaders::preallocate(slots, cmsg),
            gro,
            slots,
            received: [Received {
                len: 0,
                stride: 0,
                from: None,
            }; RECV_PACKETS],
            count: 0,
        }
    }

    /// Reads what the socket holds, up to [`RECV_BATCH`] or [`RECV_PACKETS`] buffers, without blocking
    /// (`WouldBlock` when nothing waits). Returns the number of buffers filled.
    pub(crate) fn recv<F: AsRawFd>(&mut self, sock: &F) -> io::Result<usize> {
        let RecvBatch {
            bufs,
            headers,
            gro,
            slots,
            received,
            count,
        } = self;
        *count = 0;
        if *gro {
            // The kernel overwrites each header's control length with what it used (0 for a
            // datagram without a segment size), and `nix` does not restore it: fresh headers,
            // or a later GRO run would lose its segment size (MSG_CTRUNC). One allocation per
            // batch, not per datagram.
            *headers = MultiHeaders::preallocate(*slots, Some(nix::cmsg_space!(i32)));
        }
        let mut chunks = bufs.chunks_exact_mut(MAX_RECV);
        let mut iovs: [[IoSliceMut<'_>; 1]; RECV_PACKETS] =
            std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
        let results = recvmmsg(
            sock.as_raw_fd(),
            headers,
            iovs.iter_mut().take(*slots),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        for (slot, msg) in received.iter_mut().zip(results) {
            let mut stride = msg.bytes;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::UdpGroSegments(size) = c {
                        stride = usize::try_from(size).unwrap_or(msg.bytes).max(1);
                    }
                }
            }
            *slot = Received {
                len: msg.bytes,
                stride,
                from: msg.address.as_ref().and_then(socket_addr),
            };
            *count += 1;
        }
        Ok(*count)
    }

    /// The most buffers one [`recv`](Self::recv) fills: fewer means the socket had no more.
    pub(crate) fn capacity(&self) -> usize {
        self.slots
    }

    /// Calls `f` with every datagram of the last [`recv`](Self::recv), in arrival order: the
    /// datagram (mutable: decapsulation happens in place) and its sender.
    #[cfg(test)]
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(&mut [u8], SocketAddr)) {
        self.for_each_in(|buf, at, from| {
            if let Some(d) = buf.get_mut(at) {
                f(d, from);
            }
        });
    }

    /// Calls `f` with every datagram of the last [`recv`](Self::recv), in arrival order: the
    /// whole batch buffer (see [`buffer`](Self::buffer)), where the datagram lies in it, and its
    /// sender.
    pub(crate) fn for_each_in(&mut self, mut f: impl FnMut(&mut [u8], Range<usize>, SocketAddr)) {
        for (i, r) in self.received.iter().take(self.count).enumerate() {
            let Some(from) = r.from else { continue };
            let base = i * MAX_RECV;
            let end = base + r.len.min(MAX_RECV);
            let stride = r.stride.max(1);
            let mut start = base;
            while start < end {
                let stop = (start + stride).min(end);
                f(&mut self.bufs, start..stop, from);
                start = stop;
            }
        }
    }

    /// The batch buffer: the datagrams of the last [`recv`](Self::recv) (as decapsulation left
    /// them) until the next one. It may be swapped for another of the same length (the batch
    /// then leaves with its buffer).
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bufs
    }
}

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
}

/// Outgoing datagrams gathered for one UDP GSO send: consecutive datagrams to the same peer,
/// all of the first one's length but the last, which may be shorter.
pub(crate) struct GsoBatch {
    buf: Vec<u8>,
    to: Option<SocketAddr>,
    segment: usize,
    count: usize,
    /// A shorter datagram ended the run: the next one starts a new send.
    closed: bool,
    /// Cleared when the kernel refuses GSO; every datagram is then sent on its own.
    gso: bool,
}

impl GsoBatch {
    pub(crate) fn new() -> GsoBatch {
        GsoBatch {
            buf: Vec::with_capacity(MAX_GSO_BYTES),
            to: None,
            segment: 0,
            count: 0,
            closed: false,
            gso: true,
        }
    }

    /// Queues `datagram` for `to`, sending what is queued first when it cannot join it.
    pub(crate) fn push<F: AsRawFd>(&mut self, sock: &F, to: SocketAddr, datagram: &[u8]) {
        let joins = self.count > 0
            && self.gso
            && self.to == Some(to)
            && !self.closed
            && datagram.len() <= self.segment
            && self.count < MAX_SEGMENTS
            && self.buf.len() + datagram.len() <= MAX_GSO_BYTES;
        if !joins {
            self.flush(sock);
            self.to = Some(to);
            self.segment = datagram.len();
        }
        self.buf.extend_from_slice(datagram);
        self.count += 1;
        if datagram.len() < self.segment {
            self.closed = true;
        }
        if !self.gso {
            self.flush(sock);
        }
    }

    /// Sends what is queued. A full socket buffer drops it, as the network might.
    pub(crate) fn flush<F: AsRawFd>(&mut self, sock: &F) {
        let Some(to) = self.to.take() else { return };
        let fd = sock.as_raw_fd();
        let addr = SockaddrStorage::from(to);
        let segment = u16::try_from(self.segment).unwrap_or(u16::MAX);
        let r = if self.count > 1 {
            let r = send(
                fd,
                &self.buf,
                &[ControlMessage::UdpGsoSegments(&segment)],
                &addr,
            );
            match r {
                // No GSO on this kernel or route: one datagram per call from now on.
                Err(Errno::EIO | Errno::EINVAL | Errno::ENOPROTOOPT | Errno::EOPNOTSUPP) => {
                    tracing::debug!("UDP GSO refused, sending datagrams one by one");
                    self.gso = false;
                    self.buf
                        .chunks(usize::from(segment).max(1))
                        .try_for_each(|d| send(fd, d, &[], &addr).map(drop))
                        .map(|()| 0)
                }
                r => r,
            }
        } else {
            send(fd, &self.buf, &[], &addr)
        };
        if let Err(e) = r {
            tracing::debug!("send to {to}: {e}");
        }
        self.buf.clear();
        self.count = 0;
        self.closed = false;
    }
}

/// Packets gathered for one `sendmmsg`, each with its own destination.
pub(crate) struct SendBatch {
    packets: Packets,
    headers: MultiHeaders<SockaddrStorage>,
}

/// Packets in one `sendmmsg`: a 64 KiB TCP burst read from a TUN device, encrypted.
const SEND_BATCH: usize = 64;
/// Room for a batch of full-sized packets.
const SEND_BYTES: usize = SEND_BATCH * 1600;

impl SendBatch {
    pub(crate) fn new() -> SendBatch {
        SendBatch {
            packets: Packets::new(false),
            headers: MultiHeaders::preallocate(SEND_BATCH, None),
        }
    }

    /// Queues `packet` for `to`, sending the batch first when it is full.
    pub(crate) fn push<F: AsRawFd>(&mut self, sock: &F, to: SocketAddr, packet: &[u8]) {
        if !self.packets.has_room(packet) {
            self.flush(sock);
        }
        self.packets.push(sock, to, packet);
    }

    /// Sends the batch; what the socket buffer has no room for is dropped, as the network
    /// might.
    pub(crate) fn flush<F: AsRawFd>(&mut self, sock: &F) {
        self.packets.send(sock.as_raw_fd(), None, &mut self.headers);
    }
}

/// The packets of a [`SendBatch`] without its system call headers (which hold pointers into
/// them), so that a batch can move to the thread that sends it ([`SendThread`]).
pub(crate) struct Packets {
    buf: Vec<u8>,
    /// Where each packet ends in `buf`.
    ends: [usize; SEND_BATCH],
    to: [Option<SockaddrStorage>; SEND_BATCH],
    count: usize,
    /// Every packet is IPv4 and starts with its IPv4 header ([`ipv4_header`]), for an
    /// `IPPROTO_RAW` socket.
    header: bool,
}

/// An IPv4 header without options.
const IPV4_HEADER: usize = 20;
/// IP protocol number of ESP.
const IPPROTO_ESP: u8 = 50;

/// The IPv4 header of an ESP packet to `to` sent on an `IPPROTO_RAW` socket (`IP_HDRINCL`):
/// the kernel fills in the total length and checksum, and the source address (from the route)
/// and identification as they are zero (raw(7)). No DF: where the path's MTU is smaller than
/// the device's, the kernel fragments, as it does for an ESP socket.
fn ipv4_header(to: std::net::Ipv4Addr) -> [u8; IPV4_HEADER] {
    let [a, b, c, d] = to.octets();
    [
        0x45,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        64,
        IPPROTO_ESP,
        0,
        0,
        0,
        0,
        0,
        0,
        a,
        b,
        c,
        d,
    ]
}

impl Packets {
    /// A batch; `header`: for an `IPPROTO_RAW` socket (IPv4 only).
    fn new(header: bool) -> Packets {
        Packets {
            buf: Vec::with_capacity(SEND_BYTES),
            ends: [0; SEND_BATCH],
            to: [None; SEND_BATCH],
            count: 0,
            header,
        }
    }

    /// Whether `packet` joins the batch without a send first.
    fn has_room(&self, packet: &[u8]) -> bool {
        self.count < SEND_BATCH && self.buf.len() + IPV4_HEADER + packet.len() <= SEND_BYTES
    }

    /// Queues `packet` for `to` (there is room: [`has_room`](Self::has_room)); one too large
    /// for any batch is sent at once on `sock`.
    fn push<F: AsRawFd>(&mut self, sock: &F, to: SocketAddr, packet: &[u8]) {
        if packet.len() > SEND_BYTES {
            if let Err(e) = send(sock.as_raw_fd(), packet, &[], &SockaddrStorage::from(to)) {
                tracing::debug!("send to {to}: {e}");
            }
            return;
        }
        if !self.has_room(packet) {
            return;
        }
        if self.header {
            let std::net::IpAddr::V4(ip) = to.ip() else {
                tracing::debug!("no IPv4 header for {to}");
                return;
            };
            self.buf.extend_from_slice(&ipv4_header(ip));
        }
        self.buf.extend_from_slice(packet);
        self.ends[self.count] = self.buf.len();
        self.to[self.count] = Some(SockaddrStorage::from(to));
        self.count += 1;
    }

    /// Sends the packets with `sendmmsg` and empties the batch; what the socket buffer has no
    /// room for is dropped, as the network might. `plain` is the socket of the packets'
    /// protocol; `hdrincl` an `IPPROTO_RAW` socket for a batch with IPv4 headers (without it,
    /// `plain` sends them without their headers, and it sends those the device's MTU refuses
    /// to `hdrincl`: the kernel fragments only what it builds the header of).
    fn send(
        &mut self,
        plain: RawFd,
        hdrincl: Option<RawFd>,
        headers: &mut MultiHeaders<SockaddrStorage>,
    ) {
        let Packets {
            buf,
            ends,
            to,
            count,
            header,
        } = self;
        let (fd, skip) = match (*header, hdrincl) {
            (true, Some(raw)) => (raw, 0),
            (true, None) => (plain, IPV4_HEADER),
            (false, _) => (plain, 0),
        };
        let n = *count;
        let mut start = 0;
        let iovs: [[IoSlice<'_>; 1]; SEND_BATCH] = std::array::from_fn(|i| {
            let end = if i < n { ends[i] } else { start };
            let s = buf.get(start + skip..end).unwrap_or_default();
            start = end;
            [IoSlice::new(s)]
        });
        let mut sent = 0;
        while sent < n {
            let r = sendmmsg(
                fd,
                headers,
                iovs.get(sent..n).unwrap_or_default(),
                to.get(sent..n).unwrap_or_default(),
                [] as [ControlMessage<'_>; 0],
                MsgFlags::MSG_DONTWAIT,
            );
            match r {
                Ok(results) => match results.count() {
                    0 => break,
                    k => sent += k,
                },
                Err(Errno::EINTR) => {}
                // Longer than the device's MTU: the kernel refuses to fragment a packet whose
                // header it did not build; the protocol's socket builds one and fragments.
                Err(Errno::EMSGSIZE) if *header && skip == 0 => {
                    let start = sent.checked_sub(1).map_or(0, |i| ends[i]) + IPV4_HEADER;
                    let packet = buf.get(start..ends[sent]).unwrap_or_default();
                    if let Some(Err(e)) = to[sent].as_ref().map(|to| send(plain, packet, &[], to)) {
                        tracing::debug!("send: {e}");
                    }
                    sent += 1;
                }
                Err(e) => {
                    tracing::debug!("sendmmsg: {e}");
                    break;
                }
            }
        }
        buf.clear();
        *count = 0;
    }
}

/// Raw ESP sends on a thread of their own. Raw sockets have no GSO: every packet crosses the
/// kernel's output path alone, and on a veth or loopback path the receiving host's input path
/// too (in the sender's context), which is most of a sending daemon's time. The datapath
/// gathers a batch as [`SendBatch`] does and hands it to the thread, an [`Ordered`] stage,
/// which sends it with `sendmmsg` while the datapath reads and encrypts the next one. One
/// thread per socket and batches in order: packets leave in the order they were encrypted (the
/// peer's anti-replay window sees no reordering). Batches of a few packets (acknowledgements)
/// are sent here when the thread has sent everything before them.
pub(crate) struct SendThread {
    filling: Packets,
    /// Batches carry IPv4 headers: the thread sends on an `IPPROTO_RAW` socket.
    header: bool,
    thread: Ordered<Packets>,
    /// Batches sent and back.
    free: Vec<Packets>,
    /// For small batches sent here: a descriptor of the thread's `IPPROTO_RAW` socket, and
    /// headers.
    hdrincl: Option<std::net::UdpSocket>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl SendThread {
    /// Starts the thread sending on `sock` (a descriptor of the datapath's socket), or on
    /// `hdrincl`, an IPv4 `IPPROTO_RAW` socket, with `sock` for what it refuses.
    ///
    /// An `IPPROTO_RAW` socket skips the checksum the kernel computes while it copies a packet
    /// into a raw socket's buffer (for nothing: ESP has no checksum), and, receiving nothing,
    /// has no reader to wake when the kernel frees the packets it sent (the ESP socket wakes
    /// its reader's epoll for every one: the socket has room again).
    pub(crate) fn spawn(
        sock: std::net::UdpSocket,
        hdrincl: Option<std::net::UdpSocket>,
    ) -> io::Result<SendThread> {
        let header = hdrincl.is_some();
        let own = hdrincl.as_ref().map(|s| s.try_clone()).transpose()?;
        let thread = Ordered::spawn("esp-send", move || {
            let mut headers = MultiHeaders::preallocate(SEND_BATCH, None);
            move |batch: &mut Packets| {
                let raw = hdrincl.as_ref().map(AsRawFd::as_raw_fd);
                batch.send(sock.as_raw_fd(), raw, &mut headers);
            }
        })?;
        Ok(SendThread {
            filling: Packets::new(header),
            header,
            thread,
            free: Vec::with_capacity(IN_FLIGHT),
            hdrincl: own,
            headers: MultiHeaders::preallocate(SEND_BATCH, None),
        })
    }

    /// Queues `packet` for `to`, handing the batch to the thread first when it is full
    /// (`sock`, the same socket, sends a packet too large for any batch at once).
    pub(crate) fn push<F: AsRawFd>(&mut self, sock: &F, to: SocketAddr, packet: &[u8]) {
        if !self.filling.has_room(packet) {
            self.flush(sock);
        }
        self.filling.push(sock, to, packet);
    }

    /// Hands the gathered packets to the thread, or sends them here when they are few and
    /// the thread has sent everything before them (the order stays). Should the thread be
    /// gone, `sock` sends them here.
    pub(crate) fn flush<F: AsRawFd>(&mut self, sock: &F) {
        if self.filling.count == 0 {
            return;
        }
        while let Some(b) = self.thread.try_done() {
            self.free.push(b);
        }
        if self.thread.in_flight() == 0 && self.filling.count < HAND_OVER {
            self.send_here(sock);
            return;
        }
        let next = match self.free.pop() {
            Some(b) => b,
            None if self.thread.in_flight() < IN_FLIGHT => Packets::new(self.header),
            // All out: the thread is behind; wait for one.
            None => match self.thread.wait_done() {
                Some(b) => b,
                None => return self.send_here(sock),
            },
        };
        let batch = std::mem::replace(&mut self.filling, next);
        if let Err(batch) = self.thread.hand_over(batch) {
            self.free.push(std::mem::replace(&mut self.filling, batch));
            self.send_here(sock);
        }
    }

    fn send_here<F: AsRawFd>(&mut self, sock: &F) {
        let raw = self.hdrincl.as_ref().map(AsRawFd::as_raw_fd);
        self.filling.send(sock.as_raw_fd(), raw, &mut self.headers);
    }
}

fn send(
    fd: i32,
    bytes: &[u8],
    cmsgs: &[ControlMessage<'_>],
    to: &SockaddrStorage,
) -> nix::Result<usize> {
    let iov = [IoSlice::new(bytes)];
    loop {
        match sendmsg(fd, &iov, cmsgs, MsgFlags::MSG_DONTWAIT, Some(to)) {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        (a, b)
    }

    /// Reads until `want` datagrams arrived, in order, however the kernel batched them.
    fn receive_all(b: &UdpSocket, batch: &mut RecvBatch, want: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < want && std::time::Instant::now() < deadline {
            match batch.recv(b) {
                Ok(_) => batch.for_each(|d, _| got.push(d.to_vec())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        got
    }

    #[test]
    fn gso_runs_arrive_as_the_datagrams_sent_in_order() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut out = GsoBatch::new();
        let mut sent = Vec::new();
        // Equal sizes (one GSO send), a shorter one closing the run, then another peer's size.
        for (i, len) in [1200, 1200, 1200, 700, 1200, 80, 80, 1300]
            .iter()
            .enumerate()
        {
            let d = vec![u8::try_from(i).unwrap(); *len];
            out.push(&a, to, &d);
            sent.push(d);
        }
        out.flush(&a);
        let mut batch = RecvBatch::new(&b, true);
        let got = receive_all(&b, &mut batch, sent.len());
        assert_eq!(got, sent);
    }

    #[test]
    fn gro_runs_keep_their_segment_size_after_plain_datagrams() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut batch = RecvBatch::new(&b, true);
        let mut out = GsoBatch::new();
        let mut sent = Vec::new();
        for round in 0..4u8 {
            // A lone datagram (no segment size), then a run that may arrive coalesced.
            let lone = vec![round; 33];
            out.push(&a, to, &lone);
            out.flush(&a);
            sent.push(lone);
            for i in 0..20u8 {
                let d = vec![round.wrapping_mul(40).wrapping_add(i); 1000];
                out.push(&a, to, &d);
                sent.push(d);
            }
            out.flush(&a);
        }
        assert_eq!(receive_all(&b, &mut batch, sent.len()), sent);
    }

    #[test]
    fn many_datagrams_take_several_batches_and_keep_their_senders() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut out = GsoBatch::new();
        let n = RECV_PACKETS * 3 + 5;
        let mut sent = Vec::new();
        for i in 0..n {
            // Lengths that never repeat twice in a row: one datagram per send.
            let d = vec![0xa5; 100 + i];
            out.push(&a, to, &d);
            sent.push(d);
        }
        out.flush(&a);
        let mut batch = RecvBatch::new(&b, false);
        let mut from = Vec::new();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < n && std::time::Instant::now() < deadline {
            match batch.recv(&b) {
                Ok(k) => {
                    assert!(k <= RECV_PACKETS);
                    batch.for_each(|d, f| {
                        got.push(d.to_vec());
                        from.push(f);
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        assert_eq!(got, sent);
        assert!(from.iter().all(|f| *f == a.local_addr().unwrap()));
    }

    #[test]
    fn send_batches_keep_order_and_destinations() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut out = SendBatch::new();
        let mut to_b = Vec::new();
        let mut to_c = Vec::new();
        // More than a batch, alternating peers, one packet near the largest UDP payload.
        for i in 0..SEND_BATCH + 7 {
            let len = if i == 5 { 60_000 } else { 60 + i };
            let d = vec![u8::try_from(i).unwrap(); len];
            if i % 2 == 0 {
                out.push(&a, b.local_addr().unwrap(), &d);
                to_b.push(d);
            } else {
                out.push(&a, c.local_addr().unwrap(), &d);
                to_c.push(d);
            }
        }
        out.flush(&a);
        for (sock, want) in [(&b, to_b), (&c, to_c)] {
            let mut batch = RecvBatch::new(sock, false);
            assert_eq!(receive_all(sock, &mut batch, want.len()), want);
        }
    }

    #[test]
    fn an_empty_socket_would_block() {
        let (_a, b) = pair();
        b.set_nonblocking(true).unwrap();
        let mut batch = RecvBatch::new(&b, true);
        let e = batch.recv(&b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_batch_without_gro_takes_up_to_recv_packets_at_once() {
        let (a, b) = pair();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        for i in 0..RECV_PACKETS + 6 {
            a.send_to(&[u8::try_from(i).unwrap(); 100], to).unwrap();
        }
        let mut batch = RecvBatch::new(&b, false);
        assert_eq!(batch.recv(&b).unwrap(), RECV_PACKETS);
        assert_eq!(batch.recv(&b).unwrap(), 6);
    }

    #[test]
    fn the_send_thread_keeps_order_and_destinations_across_small_and_large_batches() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&b, &c] {
            grow_buffers(s);
        }
        let mut out = SendThread::spawn(a.try_clone().unwrap(), None).unwrap();
        let (mut to_b, mut to_c) = (Vec::new(), Vec::new());
        let mut i = 0u16;
        // Batches below HAND_OVER (sent here), full ones (handed over, more than IN_FLIGHT of
        // them), and small ones again while the thread may still be sending.
        for batch in [
            3,
            2 * SEND_BATCH + 5,
            1,
            SEND_BATCH * IN_FLIGHT + 9,
            2,
            HAND_OVER,
        ] {
            for _ in 0..batch {
                let d = [i.to_be_bytes().as_slice(), &[0x5a; 200]].concat();
                if i.is_multiple_of(3) {
                    out.push(&a, c.local_addr().unwrap(), &d);
                    to_c.push(d);
                } else {
                    out.push(&a, b.local_addr().unwrap(), &d);
                    to_b.push(d);
                }
                i += 1;
            }
            out.flush(&a);
        }
        for (sock, want) in [(&b, to_b), (&c, to_c)] {
            let mut batch = RecvBatch::new(sock, false);
            assert_eq!(receive_all(sock, &mut batch, want.len()), want);
        }
    }

    #[test]
    fn ipv4_headers_are_left_out_without_an_ipproto_raw_socket() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut packets = Packets::new(true);
        let sent: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 50 + usize::from(i)]).collect();
        for d in &sent {
            assert!(packets.has_room(d));
            packets.push(&a, to, d);
        }
        assert_eq!(packets.count, sent.len());
        let headers = &mut MultiHeaders::preallocate(SEND_BATCH, None);
        packets.send(a.as_raw_fd(), None, headers);
        assert_eq!(packets.count, 0);
        let mut batch = RecvBatch::new(&b, false);
        assert_eq!(receive_all(&b, &mut batch, sent.len()), sent);
    }

    #[test]
    fn the_ipv4_header_carries_esp_to_its_destination_and_leaves_the_rest_to_the_kernel() {
        let h = ipv4_header(std::net::Ipv4Addr::new(192, 0, 2, 2));
        // Version 4, 20 bytes, TTL 64, ESP, no DF; length, identification, checksum and source
        // zero (the kernel's).
        assert_eq!(
            h,
            [0x45, 0, 0, 0, 0, 0, 0, 0, 64, 50, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2]
        );
    }
}
