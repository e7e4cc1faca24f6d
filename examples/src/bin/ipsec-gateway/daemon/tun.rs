//! One TUN device per tunnel interface, with the interface's addresses and MTU.
//!
//! The devices are not persistent: closing the last file descriptor deletes a device, and with
//! it the kernel's routes through it, so even a crashed daemon leaves none behind.
//!
//! The devices run with the kernel's offloads (`IFF_VNET_HDR`, as wireguard-go does): the kernel
//! hands over a TCP stream's segments as one large packet, which one read takes and `tun-rs`
//! cuts into MTU-sized packets ([`TunIn`]); the packets decapsulated from one receive batch are
//! coalesced back into large ones where they continue a TCP stream and written from where they
//! were decapsulated ([`Coalescer`], no copy), other packets in batches that `tun-rs` coalesces
//! ([`TunOut`]), so the host's TCP stack sees fewer, larger packets. Where the kernel refuses
//! the offloads, one packet per read and write.

use super::gro::Coalescer;
use super::tun_write::{Handing, TunWriter, WriteFd};
use core::ops::Range;
use gateway::{Gateway, InterfaceId, HEADROOM, TAILROOM};
use ipsec_core::config::TunnelInterface;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::Arc;
use tun_rs::{AsyncDevice, DeviceBuilder, DeviceImpl, GROTable, VIRTIO_NET_HDR_LEN};

/// Packets one read may yield: a 64 KiB offloaded packet cut at the smallest IPv6 MTU.
const SEGMENTS: usize = 64;
/// Packets written to a device in one batch (and coalesced where they can be).
const OUT_BATCH: usize = 64;
/// Room for a packet written to a device after coalescing: `tun-rs` appends to a buffer only
/// when its capacity holds the result and twice the virtio header's offset.
const COALESCED: usize = 2 * VIRTIO_NET_HDR_LEN + 65_535;
/// The largest packet a read returns with offloads on (the virtio header, then up to 64 KiB).
const MAX_READ: usize = VIRTIO_NET_HDR_LEN + 65_535;

/// Linux interface names are at most 15 bytes (IFNAMSIZ less the terminator).
const IFNAMSIZ: usize = 15;

/// A tunnel interface's TUN device.
pub(crate) struct Tun {
    /// The configured name (`tunnel.1`).
    pub(crate) name: String,
    /// The Linux name.
    pub(crate) ifname: String,
    /// The Linux interface index.
    pub(crate) index: u32,
    /// The gateway's id of the interface.
    pub(crate) id: InterfaceId,
    /// The MTU: no packet read from the device is longer (offloaded packets are cut to it).
    pub(crate) mtu: usize,
    addresses: Vec<IpAddr>,
    dev: Rc<AsyncDevice>,
    out: TunOut,
    /// Packets decapsulated from the current receive batch, coalesced (`None`: the device has
    /// no offloads).
    gro: Option<Coalescer>,
    /// The device for the thread that writes receive batches ([`TunWriter`]); `None` when the
    /// device has no offloads or no second descriptor (the datapath writes then).
    write_fd: Option<Arc<WriteFd>>,
    /// The task reading the device.
    pub(crate) reader: Option<tokio::task::JoinHandle<()>>,
}

impl Tun {
    /// Whether `ip` is one of the device's addresses.
    pub(crate) fn owns(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&ip)
    }

    /// The device, for its reader task.
    pub(crate) fn device(&self) -> Rc<AsyncDevice> {
        self.dev.clone()
    }

    /// Queues `packet` for the kernel; [`flush`](Self::flush) writes the queue.
    pub(crate) fn write(&mut self, packet: &[u8]) {
        if self.out.len == OUT_BATCH {
            self.flush();
        }
        self.out.push(packet);
    }

    /// Takes `buf[at]`, a packet decapsulated in place in a receive batch's buffer `buf`, to be
    /// written without a copy by [`write_batch`](Self::write_batch) with the same buffer;
    /// queues a copy when the device has no offloads.
    pub(crate) fn write_in(&mut self, buf: &mut [u8], at: Range<usize>) {
        let Some(gro) = &mut self.gro else {
            if let Some(p) = buf.get(at) {
                self.write(p);
            }
            return;
        };
        if gro.is_full() {
            let dev: &DeviceImpl = &self.dev;
            gro.write(dev, buf, &self.ifname);
        }
        if let Some(p) = buf.get(at.clone()) {
            gro.push(at, p);
        }
    }

    /// Whether [`write_in`](Self::write_in) must write what it took before it takes more.
    pub(crate) fn is_full(&self) -> bool {
        self.gro.as_ref().is_some_and(Coalescer::is_full)
    }

    /// The packets [`write_in`](Self::write_in) took from the current batch.
    pub(crate) fn taken(&self) -> usize {
        self.gro.as_ref().map_or(0, Coalescer::taken)
    }

    /// Adds what [`write_in`](Self::write_in) took to `batch`, for the writing thread; `false`
    /// when the device cannot go to the thread (its packets are written with
    /// [`write_batch`](Self::write_batch) then).
    pub(crate) fn hand_over(&mut self, batch: &mut Handing, writer: &mut TunWriter) -> bool {
        let (Some(gro), Some(fd)) = (&mut self.gro, &self.write_fd) else {
            return false;
        };
        if !gro.is_empty() {
            batch.add(fd, std::mem::replace(gro, writer.coalescer()));
        }
        true
    }

    /// Writes what [`write_in`](Self::write_in) took from the batch buffer `buf`; called once
    /// per batch, before the buffer is reused.
    pub(crate) fn write_batch(&mut self, buf: &mut [u8]) {
        if let Some(gro) = self.gro.as_mut().filter(|g| !g.is_empty()) {
            let dev: &DeviceImpl = &self.dev;
            gro.write(dev, buf, &self.ifname);
        }
    }

    /// Writes the queued packets, coalesced where offloads allow; a full queue drops them, as
    /// a congested link would.
    pub(crate) fn flush(&mut self) {
        let TunOut { bufs, len, gro } = &mut self.out;
        if *len == 0 {
            return;
        }
        let dev: &DeviceImpl = &self.dev;
        if let Err(e) = dev.send_multiple(gro, &mut bufs[..*len], VIRTIO_NET_HDR_LEN) {
            tracing::debug!("{}: write: {e}", self.ifname);
        }
        *len = 0;
    }
}

/// Packets waiting to be written to a device, each after room for the virtio header.
struct TunOut {
    /// Reused for every batch. Each has room for a coalesced packet of the largest size
    /// ([`COALESCED`]): `tun-rs` appends a segment to a packet only within the buffer's
    /// capacity, and leaves it uncoalesced rather than grow the buffer.
    bufs: Vec<Vec<u8>>,
    len: usize,
    gro: GROTable,
}

impl TunOut {
    fn new(mtu: usize) -> TunOut {
        TunOut {
            bufs: (0..OUT_BATCH)
                .map(|_| Vec::with_capacity(COALESCED.max(VIRTIO_NET_HDR_LEN + mtu)))
                .collect(),
            len: 0,
            gro: GROTable::default(),
        }
    }

    fn push(&mut self, packet: &[u8]) {
        let Some(buf) = self.bufs.get_mut(self.len) else {
            return;
        };
        buf.clear();
        buf.resize(VIRTIO_NET_HDR_LEN, 0);
        buf.extend_from_slice(packet);
        self.len += 1;
    }
}

/// A device's reads: the raw read (an offloaded packet, with its virtio header), and the
/// packets it is cut into, each with [`HEADROOM`] before it and [`TAILROOM`] after it, as the
/// gateway encapsulates in place.
pub(crate) struct TunIn {
    raw: Vec<u8>,
    bufs: Vec<Vec<u8>>,
    sizes: [usize; SEGMENTS],
    count: usize,
}

impl TunIn {
    pub(crate) fn new(mtu: usize) -> TunIn {
        TunIn {
            raw: vec![0u8; MAX_READ],
            bufs: vec![vec![0u8; HEADROOM + mtu + TAILROOM]; SEGMENTS],
            sizes: [0; SEGMENTS],
            count: 0,
        }
    }

    /// Waits for the next read of `dev`.
    pub(crate) async fn recv(&mut self, dev: &AsyncDevice) -> std::io::Result<usize> {
        self.count = 0;
        let n = dev
            .recv_multiple(&mut self.raw, &mut self.bufs, &mut self.sizes, HEADROOM)
            .await?;
        self.count = n;
        Ok(n)
    }

    /// The next read of `dev` if one waits (`WouldBlock` otherwise).
    pub(crate) fn try_recv(&mut self, dev: &AsyncDevice) -> std::io::Result<usize> {
        self.count = 0;
        let n = dev.try_recv_multiple(&mut self.raw, &mut self.bufs, &mut self.sizes, HEADROOM)?;
        self.count = n;
        Ok(n)
    }

    /// Calls `f` with every packet of the last read: which buffer it is in, the buffer, and the
    /// packet's range in it.
    pub(crate) fn for_each(
        &mut self,
        mut f: impl FnMut(usize, &mut [u8], core::ops::Range<usize>),
    ) {
        let packets = self.bufs.iter_mut().zip(self.sizes).take(self.count);
        for (i, (buf, size)) in packets.enumerate() {
            f(i, buf, HEADROOM..HEADROOM + size);
        }
    }

    /// Packets in the last read.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The buffers the packets of the last read lie in. They may be swapped for others as many
    /// and as long (the packets then leave with them).
    pub(crate) fn buffers(&mut self) -> &mut Vec<Vec<u8>> {
        &mut self.bufs
    }
}

/// The Linux name of tunnel interface `name`: the name itself when Linux accepts it
/// (`tunnel.1`), otherwise `ipsec` and its position.
fn linux_name(name: &str, position: usize) -> String {
    let ok = !name.is_empty()
        && name.len() <= IFNAMSIZ
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if ok {
        name.to_owned()
    } else {
        format!("ipsec{position}")
    }
}

/// Creates the TUN device of every tunnel interface the gateway knows.
pub(crate) fn create_all(gw: &Gateway) -> Result<Vec<Tun>, String> {
    let mut out = Vec::new();
    for (i, t) in gw.config().tunnel_interfaces.iter().enumerate() {
        if let Some(tun) = create(gw, i, t)? {
            out.push(tun);
        }
    }
    Ok(out)
}

/// Creates the TUN device of tunnel interface `t`, the `position`-th of the configuration;
/// `None` when the gateway does not know the interface.
pub(crate) fn create(
    gw: &Gateway,
    position: usize,
    t: &TunnelInterface,
) -> Result<Option<Tun>, String> {
    let Some(id) = gw.interface(&t.name) else {
        return Ok(None);
    };
    let ifname = linux_name(&t.name, position);
    let mtu = u16::try_from(t.mtu).unwrap_or(u16::MAX);
    let mut addresses = Vec::new();
    let v4 = t.ip.and_then(|a| match a.addr {
        IpAddr::V4(v4) => Some((v4, a.prefix_len)),
        IpAddr::V6(_) => None,
    });
    let v6 = t.ipv6.and_then(|a| match a.addr {
        IpAddr::V6(v6) => Some((v6, a.prefix_len)),
        IpAddr::V4(_) => None,
    });
    addresses.extend(v4.map(|(a, _)| IpAddr::V4(a)));
    addresses.extend(v6.map(|(a, _)| IpAddr::V6(a)));
    let build = |offload: bool| {
        let mut b = DeviceBuilder::new()
            .name(&ifname)
            .mtu(mtu)
            .enable(true)
            .offload(offload);
        if let Some((a, len)) = v4 {
            b = b.ipv4(a, len, None);
        }
        if let Some((a, len)) = v6 {
            b = b.ipv6(a, len);
        }
        b.build_async()
    };
    // Offloads need the kernel's virtio header support; a kernel that refuses them gets a
    // device without.
    let dev = match build(true) {
        Ok(d) => d,
        Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::NotFound) => {
            return Err(explain(&ifname, &e));
        }
        Err(e) => {
            tracing::debug!("{ifname}: no TUN offloads ({e})");
            build(false).map_err(|e| explain(&ifname, &e))?
        }
    };
    let index = dev
        .if_index()
        .map_err(|e| format!("TUN device {ifname}: {e}"))?;
    tracing::info!("interface {} is TUN device {ifname}, MTU {mtu}", t.name);
    let gro = dev.tcp_gso().then(Coalescer::new);
    let write_fd = match dev.as_fd().try_clone_to_owned() {
        Ok(fd) if gro.is_some() => Some(Arc::new(WriteFd {
            fd,
            ifname: ifname.clone(),
        })),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("{ifname}: written by the datapath ({e})");
            None
        }
    };
    Ok(Some(Tun {
        name: t.name.clone(),
        ifname,
        index,
        id,
        mtu: usize::from(mtu),
        addresses,
        gro,
        write_fd,
        dev: Rc::new(dev),
        out: TunOut::new(usize::from(mtu)),
        reader: None,
    }))
}

/// Deletes the device of `tun`: its reader stops, and once the reader and the writing thread
/// have let go of the device its descriptors close, which deletes the device and the kernel's
/// routes through it. Returns when it is gone (or after a second, should one hold on).
pub(crate) async fn delete(mut tun: Tun) {
    if let Some(r) = tun.reader.take() {
        r.abort();
    }
    let dev = tun.dev.clone();
    let write_fd = tun.write_fd.clone();
    drop(tun);
    let held = || {
        Rc::strong_count(&dev) > 1 || write_fd.as_ref().is_some_and(|f| Arc::strong_count(f) > 1)
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    while held() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// One sentence for why a TUN device could not be created.
fn explain(ifname: &str, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied => format!(
            "cannot create TUN device {ifname}: permission denied (ipsec-gateway run needs root \
             or CAP_NET_ADMIN)"
        ),
        ErrorKind::NotFound => format!(
            "cannot create TUN device {ifname}: /dev/net/tun is missing (load the tun module, \
             or give the container the device)"
        ),
        _ if e.raw_os_error() == Some(16) => {
            format!("cannot create TUN device {ifname}: the name is in use by another interface")
        }
        _ => format!("cannot create TUN device {ifname}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_names_keep_pan_os_names_that_fit() {
        assert_eq!(linux_name("tunnel.1", 0), "tunnel.1");
        assert_eq!(linux_name("tunnel.123456789", 3), "ipsec3");
        assert_eq!(linux_name("a/b", 1), "ipsec1");
        assert_eq!(linux_name("", 2), "ipsec2");
    }
}
