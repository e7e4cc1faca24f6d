//! Receive coalescing for the TUN devices: the TCP segments decapsulated from one batch of ESP
//! packets are written to the kernel as few large packets, each one `writev` of a virtio header,
//! the first segment and the payloads of the segments that continue it, where they lie in the
//! receive buffers (decapsulation happens in place).
//!
//! Nothing is copied and nothing is allocated per packet; the host's TCP stack then sees one
//! packet per run, as from a NIC's GRO. A segment joins the run of its flow (addresses, ports,
//! acknowledgement number) when it starts where the run ends, carries no flag but ACK (PSH may
//! end a run), has the same IP header fields that GRO compares (ToS or traffic class, DF, TTL or
//! hop limit), the same TCP options, no more payload than the run's first segment, and a valid
//! checksum: the merged packet leaves with the kernel computing its checksum
//! (`VIRTIO_NET_HDR_F_NEEDS_CSUM`), so a segment damaged before encryption must not hide in it.
//! Everything else (other protocols, IP options or extension headers, fragments, SYN, FIN,
//! RST, bad checksums) is written on its own, in arrival order within its flow.

use std::io::IoSlice;
use std::ops::Range;
use std::os::fd::AsFd;
use tun_rs::VIRTIO_NET_HDR_LEN;

/// Runs open in one batch (flows written to one device per batch).
pub(crate) const MAX_RUNS: usize = 128;
/// Segments in one run; with the 64 KiB limit on an IP packet, more never fit at common MTUs.
const MAX_SEGMENTS: usize = 64;
/// The largest IP packet a run may become.
const MAX_PACKET: usize = 65_535;
/// The longest IP and TCP headers kept for comparison (IPv6 and a TCP header with options).
const MAX_HEADERS: usize = 40 + 60;
/// Open runs searched for a segment's flow, newest first.
const SEARCH: usize = 8;

const TCP: u8 = 6;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
const _: () = assert!(VIRTIO_NET_HDR_LEN == 10);

/// The headers of a segment, as far as coalescing looks at them.
#[derive(Clone, Copy)]
struct Segment {
    v6: bool,
    ip_len: usize,
    tcp_len: usize,
    seq: u32,
    payload: usize,
    flags: u8,
}

impl Segment {
    /// A TCP segment that may be coalesced (only ACK, or ACK and PSH; some payload), or `None`.
    fn parse(p: &[u8]) -> Option<Segment> {
        let (v6, ip_len) = match p.first()? >> 4 {
            4 => {
                let total = usize::from(u16::from_be_bytes([*p.get(2)?, *p.get(3)?]));
                let fragment = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) & 0x3fff;
                // No options, the whole packet, TCP, not a fragment.
                if p[0] != 0x45 || total != p.len() || *p.get(9)? != TCP || fragment != 0 {
                    return None;
                }
                (false, 20)
            }
            6 => {
                let payload = usize::from(u16::from_be_bytes([*p.get(4)?, *p.get(5)?]));
                if payload + 40 != p.len() || *p.get(6)? != TCP {
                    return None;
                }
                (true, 40)
            }
            _ => return None,
        };
        let tcp_len = usize::from(p.get(ip_len + 12)? >> 4) * 4;
        let flags = *p.get(ip_len + 13)?;
        if !(20..=60).contains(&tcp_len) || p.len() <= ip_len + tcp_len {
            return None;
        }
        if flags != ACK && flags != ACK | PSH {
            return None;
        }
        let seq = p.get(ip_len + 4..ip_len + 8)?;
        Some(Segment {
            v6,
            ip_len,
            tcp_len,
            seq: u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]),
            payload: p.len() - ip_len - tcp_len,
            flags,
        })
    }
}

/// One packet to write: a segment on its own, or a run of them.
struct Run {
    /// The first segment's IP and TCP headers.
    headers: [u8; MAX_HEADERS],
    seg: Segment,
    /// The first segment (whole) and the payloads of those that follow, in the batch buffer.
    pieces: [Range<usize>; MAX_SEGMENTS],
    count: usize,
    /// The IP packet's length once merged.
    len: usize,
    next_seq: u32,
    /// No segment may join any more (one shorter than the first, or one with PSH, ended it; or
    /// another packet of its flow came that could not join).
    closed: bool,
    /// A candidate for coalescing at all (else written as it came).
    tcp: bool,
}

/// The packets of one batch for one device, coalesced where they can be.
pub(crate) struct Coalescer {
    runs: Vec<Run>,
    /// Open runs (indices into `runs`), newest last.
    open: Vec<usize>,
    /// Packets taken since the last write.
    taken: usize,
}

impl Coalescer {
    pub(crate) fn new() -> Coalescer {
        Coalescer {
            runs: Vec::with_capacity(MAX_RUNS),
            open: Vec::with_capacity(SEARCH),
            taken: 0,
        }
    }

    /// Whether another packet can be taken before [`write`](Self::write).
    pub(crate) fn is_full(&self) -> bool {
        self.runs.len() == MAX_RUNS
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The packets taken since the last [`write`](Self::write).
    pub(crate) fn taken(&self) -> usize {
        self.taken
    }

    /// Takes the IP packet `p`, which lies at `at` in the batch buffer that [`write`](Self::write)
    /// will be given. The caller writes first when [`is_full`](Self::is_full).
    pub(crate) fn push(&mut self, at: Range<usize>, p: &[u8]) {
        self.taken += 1;
        let seg = Segment::parse(p).filter(|s| checksum_valid(p, s));
        if let Some(seg) = seg {
            if let Some(slot) = self.flow(p, seg.v6) {
                let i = self.open[slot];
                if self.runs[i].accepts(p, &seg) {
                    self.runs[i].append(at, &seg);
                    if self.runs[i].closed {
                        self.open.remove(slot);
                    }
                    return;
                }
                // Later segments of the flow must not overtake this one into the earlier run.
                self.open.remove(slot);
            }
        } else if let Some(slot) = tcp_v6(p).and_then(|v6| self.flow(p, v6)) {
            self.open.remove(slot);
        }
        if self.runs.len() == MAX_RUNS {
            return;
        }
        let mut run = Run {
            headers: [0; MAX_HEADERS],
            seg: seg.unwrap_or(Segment {
                v6: false,
                ip_len: 0,
                tcp_len: 0,
                seq: 0,
                payload: 0,
                flags: 0,
            }),
            pieces: std::array::from_fn(|_| 0..0),
            count: 1,
            len: p.len(),
            next_seq: 0,
            closed: true,
            tcp: false,
        };
        run.pieces[0] = at;
        if let Some(s) = seg {
            let h = s.ip_len + s.tcp_len;
            run.headers[..h].copy_from_slice(&p[..h]);
            run.next_seq = s.seq.wrapping_add(s.payload as u32);
            run.closed = s.flags & PSH != 0;
            run.tcp = true;
            if !run.closed {
                if self.open.len() == SEARCH {
                    self.open.remove(0);
                }
                self.open.push(self.runs.len());
            }
        }
        self.runs.push(run);
    }

    /// The position in `open` of the run of the flow of `p`, a TCP segment (`v6`: over IPv6).
    fn flow(&self, p: &[u8], v6: bool) -> Option<usize> {
        self.open
            .iter()
            .rposition(|&i| self.runs[i].same_flow(p, v6))
    }

    /// Writes every packet taken, in order, to the device `dev` (a TUN device with the virtio
    /// header), from `buf`, the batch buffer; merged packets get their headers rewritten in
    /// place there first. A full device queue drops packets, as a congested link would.
    pub(crate) fn write(&mut self, dev: &impl AsFd, buf: &mut [u8], ifname: &str) {
        for run in &self.runs {
            let mut vnet = [0u8; VIRTIO_NET_HDR_LEN];
            if run.count > 1 {
                run.finish(buf, &mut vnet);
            }
            let mut iov: [IoSlice<'_>; MAX_SEGMENTS + 1] =
                std::array::from_fn(|_| IoSlice::new(&[]));
            iov[0] = IoSlice::new(&vnet);
            for (slot, piece) in iov[1..].iter_mut().zip(&run.pieces[..run.count]) {
                *slot = IoSlice::new(buf.get(piece.clone()).unwrap_or_default());
            }
            if let Err(e) = nix::sys::uio::writev(dev, &iov[..=run.count]) {
                tracing::debug!("{ifname}: write: {e}");
            }
        }
        self.runs.clear();
        self.open.clear();
        self.taken = 0;
    }
}

impl Run {
    fn same_flow(&self, p: &[u8], v6: bool) -> bool {
        let (addrs, ports) = if v6 {
            (8..40, 40..44)
        } else {
            (12..20, 20..24)
        };
        self.seg.v6 == v6
            && self.headers.get(addrs.clone()) == p.get(addrs)
            && self.headers.get(ports.clone()) == p.get(ports)
    }

    /// Whether `seg` (the packet `p`, of this run's flow) continues the run.
    fn accepts(&self, p: &[u8], seg: &Segment) -> bool {
        let h = &self.headers;
        let ip = if seg.v6 {
            // Traffic class, hop limit.
            h[0] == p[0] && h[1] >> 4 == p[1] >> 4 && h[7] == p[7]
        } else {
            // ToS, DF and the reserved bit, TTL.
            h[1] == p[1] && h[6] >> 5 == p[6] >> 5 && h[8] == p[8]
        };
        let tcp = self.seg.ip_len;
        ip && !self.closed
            && self.count < MAX_SEGMENTS
            && seg.tcp_len == self.seg.tcp_len
            && seg.seq == self.next_seq
            && seg.payload <= self.seg.payload
            && self.len + seg.payload <= MAX_PACKET
            // The acknowledgement number, and the options (timestamps) byte for byte.
            && h[tcp + 8..tcp + 12] == p[tcp + 8..tcp + 12]
            && h[tcp + 20..tcp + seg.tcp_len] == p[tcp + 20..tcp + seg.tcp_len]
    }

    fn append(&mut self, at: Range<usize>, seg: &Segment) {
        let headers = seg.ip_len + seg.tcp_len;
        self.pieces[self.count] = at.start + headers..at.end;
        self.count += 1;
        self.len += seg.payload;
        self.next_seq = seg.seq.wrapping_add(seg.payload as u32);
        if seg.payload < self.seg.payload || seg.flags & PSH != 0 {
            self.closed = true;
        }
        if seg.flags & PSH != 0 {
            self.headers[self.seg.ip_len + 13] |= PSH;
        }
    }

    /// Rewrites the first segment's headers in `buf` for the merged packet and fills its
    /// virtio header: TCP segmentation offload with the first segment's payload size, the TCP
    /// checksum left to the kernel (seeded with the pseudo-header's sum).
    fn finish(&self, buf: &mut [u8], vnet: &mut [u8; VIRTIO_NET_HDR_LEN]) {
        let s = &self.seg;
        let Some(p) = buf.get_mut(self.pieces[0].clone()) else {
            return;
        };
        let (ip, tcp) = (s.ip_len, s.tcp_len);
        let len = u16::try_from(self.len).unwrap_or(u16::MAX);
        let tcp_total = self.len - ip;
        p[ip + 13] = self.headers[ip + 13];
        let pseudo = if s.v6 {
            p[4..6].copy_from_slice(&(len - 40).to_be_bytes());
            sum(&p[8..40], u32::from(TCP) + tcp_total as u32)
        } else {
            p[2..4].copy_from_slice(&len.to_be_bytes());
            p[10..12].fill(0);
            let check = !fold(sum(&p[..20], 0));
            p[10..12].copy_from_slice(&check.to_be_bytes());
            sum(&p[12..20], u32::from(TCP) + tcp_total as u32)
        };
        p[ip + 16..ip + 18].copy_from_slice(&fold(pseudo).to_be_bytes());
        let gso_type = if s.v6 {
            VIRTIO_NET_HDR_GSO_TCPV6
        } else {
            VIRTIO_NET_HDR_GSO_TCPV4
        };
        let fields = [
            (ip + tcp) as u16,
            s.payload as u16,
            ip as u16,
            16, // the TCP checksum's offset
        ];
        vnet[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        vnet[1] = gso_type;
        for (i, f) in fields.iter().enumerate() {
            vnet[2 + 2 * i..4 + 2 * i].copy_from_slice(&f.to_ne_bytes());
        }
    }
}

/// Whether `p` is a TCP segment over IPv6 (`Some(true)`) or over IPv4 without options
/// (`Some(false)`), whatever its flags: what identifies the flow of a segment that cannot join.
fn tcp_v6(p: &[u8]) -> Option<bool> {
    match (p.first()?, p.len()) {
        (0x45, 24..) if p[9] == TCP => Some(false),
        (b, 44..) if b >> 4 == 6 && p[6] == TCP => Some(true),
        _ => None,
    }
}

/// The one's complement sum of `data` (big-endian 16-bit words, an odd byte padded) onto
/// `initial`, not folded. The sum is taken over native 32-bit words, which the compiler
/// vectorizes, and swapped at the end: a one's complement sum commutes with swapping the bytes
/// of every word (RFC 1071 section 2).
fn sum(data: &[u8], initial: u32) -> u64 {
    let mut acc = 0u64;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut rest = words.remainder().chunks_exact(2);
    for w in &mut rest {
        acc += u64::from(u16::from_ne_bytes([w[0], w[1]]));
    }
    if let [b] = rest.remainder() {
        acc += u64::from(u16::from_ne_bytes([*b, 0]));
    }
    u64::from(initial) + u64::from(u16::from_be(fold(acc)))
}

/// `sum` folded to 16 bits.
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Whether the TCP checksum of the segment `p` is right.
fn checksum_valid(p: &[u8], s: &Segment) -> bool {
    let tcp_total = (p.len() - s.ip_len) as u32;
    let addrs = if s.v6 { &p[8..40] } else { &p[12..20] };
    let pseudo = sum(addrs, u32::from(TCP) + tcp_total);
    fold(sum(&p[s.ip_len..], 0) + pseudo) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 TCP segment with a valid checksum.
    fn segment(seq: u32, payload: &[u8], flags: u8, ttl: u8) -> Vec<u8> {
        let total = 20 + 32 + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[6] = 0x40; // DF
        p[8] = ttl;
        p[9] = TCP;
        p[12..16].copy_from_slice(&[10, 1, 0, 1]);
        p[16..20].copy_from_slice(&[10, 2, 0, 1]);
        let check = !fold(sum(&p[..20], 0));
        p[10..12].copy_from_slice(&check.to_be_bytes());
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&5201u16.to_be_bytes());
        t[2..4].copy_from_slice(&40000u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&77u32.to_be_bytes());
        t[12] = 8 << 4; // 32-byte header: timestamps
        t[13] = flags;
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
        t[32..].copy_from_slice(payload);
        let pseudo = sum(&p[12..20], u32::from(TCP) + (total - 20) as u32);
        let check = !fold(sum(&p[20..], 0) + pseudo);
        p[36..38].copy_from_slice(&check.to_be_bytes());
        p
    }

    /// An IPv6 TCP segment (no options) with a valid checksum.
    fn segment6(seq: u32, payload: &[u8], flags: u8) -> Vec<u8> {
        let total = 40 + 20 + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&u16::try_from(total - 40).unwrap().to_be_bytes());
        p[6] = TCP;
        p[7] = 64;
        p[8..24].copy_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p[24..40].copy_from_slice(&[0xfd, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let t = &mut p[40..];
        t[0..2].copy_from_slice(&5201u16.to_be_bytes());
        t[2..4].copy_from_slice(&40000u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t[20..].copy_from_slice(payload);
        let pseudo = sum(
            &p[8..40],
            u32::from(TCP) + u32::try_from(total - 40).unwrap(),
        );
        let check = !fold(sum(&p[40..], 0) + pseudo);
        p[56..58].copy_from_slice(&check.to_be_bytes());
        p
    }

    /// The batch buffer holding `packets` one after the other, and their places.
    fn batch(packets: &[Vec<u8>]) -> (Vec<u8>, Vec<Range<usize>>) {
        let mut buf = Vec::new();
        let mut at = Vec::new();
        for p in packets {
            at.push(buf.len()..buf.len() + p.len());
            buf.extend_from_slice(p);
        }
        (buf, at)
    }

    /// What `write` would hand the device: each packet's virtio header and bytes.
    fn written(c: &Coalescer, buf: &mut [u8]) -> Vec<([u8; VIRTIO_NET_HDR_LEN], Vec<u8>)> {
        c.runs
            .iter()
            .map(|run| {
                let mut vnet = [0u8; VIRTIO_NET_HDR_LEN];
                if run.count > 1 {
                    run.finish(buf, &mut vnet);
                }
                let bytes = run.pieces[..run.count]
                    .iter()
                    .flat_map(|r| buf[r.clone()].to_vec())
                    .collect();
                (vnet, bytes)
            })
            .collect()
    }

    #[test]
    fn a_stream_becomes_one_packet_with_tso_and_a_seeded_checksum() {
        let pkts: Vec<Vec<u8>> = (0..5u32)
            .map(|i| {
                let flags = if i == 4 { ACK | PSH } else { ACK };
                let len = if i == 4 { 300 } else { 1000 };
                segment(
                    1000 + i * 1000,
                    &vec![u8::try_from(i).unwrap(); len],
                    flags,
                    64,
                )
            })
            .collect();
        let (mut buf, at) = batch(&pkts);
        let mut c = Coalescer::new();
        for (r, p) in at.iter().zip(&pkts) {
            c.push(r.clone(), p);
        }
        let out = written(&c, &mut buf);
        assert_eq!(out.len(), 1);
        let (vnet, p) = &out[0];
        assert_eq!(vnet[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
        assert_eq!(vnet[1], VIRTIO_NET_HDR_GSO_TCPV4);
        assert_eq!(u16::from_ne_bytes([vnet[2], vnet[3]]), 52);
        assert_eq!(u16::from_ne_bytes([vnet[4], vnet[5]]), 1000);
        assert_eq!(u16::from_ne_bytes([vnet[6], vnet[7]]), 20);
        assert_eq!(u16::from_ne_bytes([vnet[8], vnet[9]]), 16);
        assert_eq!(p.len(), 52 + 4300);
        assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), p.len());
        assert_eq!(fold(sum(&p[..20], 0)), 0xffff, "IPv4 header checksum");
        assert_eq!(p[33], ACK | PSH, "the last segment's PSH");
        // Completing the seeded checksum over the segment gives a valid one.
        let mut full = p.clone();
        let seed = u16::from_be_bytes([full[36], full[37]]);
        full[36..38].fill(0);
        let check = !fold(sum(&full[20..], u32::from(seed)));
        full[36..38].copy_from_slice(&check.to_be_bytes());
        let s = Segment::parse(&full).unwrap();
        assert!(checksum_valid(&full, &s));
        let payload: Vec<u8> = pkts.iter().flat_map(|q| q[52..].to_vec()).collect();
        assert_eq!(&p[52..], &payload[..]);
    }

    #[test]
    fn what_cannot_join_is_written_alone_and_in_flow_order() {
        let a = segment(0, &[1; 500], ACK, 64);
        let gap = segment(900, &[2; 500], ACK, 64); // not adjacent
        let next = segment(1400, &[3; 500], ACK, 64); // continues `gap`
        let ttl = segment(1900, &[4; 500], ACK, 63); // another TTL
        let fin = segment(2400, &[5; 10], ACK | 0x01, 64);
        let mut bad = segment(2410, &[6; 500], ACK, 64);
        bad[60] ^= 0xff; // damaged payload: checksum fails
        let udp = {
            let mut u = segment(0, &[7; 100], ACK, 64);
            u[9] = 17;
            u
        };
        // Would continue `ttl`'s run, but the FIN of that flow came first.
        let late = segment(1900 + 500, &[8; 100], ACK, 63);
        let pkts = vec![a, gap, next, ttl, fin, late, bad, udp];
        let (mut buf, at) = batch(&pkts);
        let mut c = Coalescer::new();
        for (r, p) in at.iter().zip(&pkts) {
            c.push(r.clone(), p);
        }
        let out = written(&c, &mut buf);
        let sizes: Vec<usize> = out.iter().map(|(_, p)| p.len()).collect();
        assert_eq!(sizes, vec![552, 1052, 552, 62, 152, 552, 152]);
        assert!(out.iter().filter(|(v, _)| v[1] != 0).count() == 1);
        assert_eq!(out[1].1[52..552], [2; 500]);
        assert_eq!(out[1].1[552..], [3; 500]);
    }

    #[test]
    fn runs_stop_at_the_packet_size_limit_and_after_a_short_segment() {
        let pkts: Vec<Vec<u8>> = (0..70u32)
            .map(|i| segment(i * 1400, &[9; 1400], ACK, 64))
            .collect();
        let (mut buf, at) = batch(&pkts);
        let mut c = Coalescer::new();
        for (r, p) in at.iter().zip(&pkts) {
            c.push(r.clone(), p);
        }
        let out = written(&c, &mut buf);
        assert!(out.iter().all(|(_, p)| p.len() <= MAX_PACKET));
        assert_eq!(
            out.iter().map(|(_, p)| p.len() - 52).sum::<usize>(),
            70 * 1400
        );
        assert_eq!(out.len(), 2);

        let short = vec![
            segment(0, &[1; 800], ACK, 64),
            segment(800, &[1; 100], ACK, 64),
            segment(900, &[1; 100], ACK, 64),
        ];
        let (mut buf, at) = batch(&short);
        let mut c = Coalescer::new();
        for (r, p) in at.iter().zip(&short) {
            c.push(r.clone(), p);
        }
        let sizes: Vec<usize> = written(&c, &mut buf).iter().map(|(_, p)| p.len()).collect();
        assert_eq!(sizes, vec![52 + 900, 152]);
    }

    #[test]
    fn ipv6_segments_coalesce_with_their_payload_length() {
        let pkts = vec![
            segment6(7, &[1; 1200], ACK),
            segment6(1207, &[2; 1200], ACK),
            segment6(2407, &[3; 10], ACK | PSH),
        ];
        assert!(Segment::parse(&pkts[0]).is_some_and(|s| checksum_valid(&pkts[0], &s)));
        let (mut buf, at) = batch(&pkts);
        let mut c = Coalescer::new();
        for (r, p) in at.iter().zip(&pkts) {
            c.push(r.clone(), p);
        }
        let out = written(&c, &mut buf);
        assert_eq!(out.len(), 1);
        let (vnet, p) = &out[0];
        assert_eq!(vnet[1], VIRTIO_NET_HDR_GSO_TCPV6);
        assert_eq!(u16::from_ne_bytes([vnet[4], vnet[5]]), 1200);
        assert_eq!(u16::from_ne_bytes([vnet[6], vnet[7]]), 40);
        assert_eq!(p.len(), 60 + 2410);
        assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), p.len() - 40);
        assert_eq!(p[53], ACK | PSH);
    }

    #[test]
    fn the_sum_is_that_of_big_endian_words() {
        let data: Vec<u8> = (0..1500u32)
            .map(|i| u8::try_from((i * 7919 + 13) % 251).unwrap())
            .collect();
        for len in [0, 1, 2, 3, 5, 8, 9, 20, 63, 1400, 1499, 1500] {
            let d = &data[..len];
            let mut naive = 0x1234u64;
            for w in d.chunks(2) {
                naive += u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0));
            }
            assert_eq!(fold(sum(d, 0x1234)), fold(naive), "length {len}");
        }
    }

    #[test]
    fn malformed_packets_never_panic() {
        let mut c = Coalescer::new();
        let good = segment(0, &[1; 40], ACK, 64);
        for cut in 0..good.len() {
            c.push(0..cut, &good[..cut]);
        }
        for b in 0..=255u8 {
            c.push(0..3, &[b, b, b]);
        }
        let mut buf = good.clone();
        assert!(!written(&c, &mut buf).is_empty());
    }
}
