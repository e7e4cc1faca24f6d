//! IP fragment reassembly (RFC 791 section 3.2, RFC 8200 section 4.5), so that an IKE_AUTH
//! carrying certificates, which peers without IKE fragmentation send as IP fragments, can still be
//! decoded.
//!
//! Fragments are grouped by source, destination, protocol and Identification. The work is
//! bounded: at most [`MAX_PENDING`] datagrams in progress (the oldest is dropped for a new one),
//! [`MAX_PIECES`] fragments each, and [`MAX_DATAGRAM`] bytes per datagram. Overlapping fragments
//! are accepted, the later bytes winning, as a capture has no policy to enforce.

use super::net::Fragment;
use std::net::IpAddr;

/// Datagrams being reassembled at once.
pub const MAX_PENDING: usize = 64;
/// Fragments of one datagram.
pub const MAX_PIECES: usize = 64;
/// Largest reassembled payload: the IPv4 limit (IPv6 jumbograms are not fragmented).
pub const MAX_DATAGRAM: usize = 65_535;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    id: u32,
}

#[derive(Debug)]
struct Pending {
    key: Key,
    /// `(offset, bytes)` in order of arrival.
    pieces: Vec<(usize, Vec<u8>)>,
    /// The payload length, once the last fragment (More Fragments clear) is in.
    total: Option<usize>,
}

/// What became of a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept until the other fragments arrive; `pieces` are held for this datagram.
    Held {
        /// Fragments held for the datagram so far.
        pieces: usize,
    },
    /// The datagram is complete: its payload and the number of fragments it came from.
    Complete(Vec<u8>, usize),
    /// The datagram was abandoned (and its fragments forgotten) for the given reason.
    Dropped(&'static str),
}

/// Fragments waiting for the rest of their datagram.
#[derive(Debug, Default)]
pub struct Reassembly {
    pending: Vec<Pending>,
}

impl Reassembly {
    /// Datagrams still incomplete.
    pub fn incomplete(&self) -> usize {
        self.pending.len()
    }

    /// Adds one fragment's payload.
    pub fn add(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        fragment: Fragment,
        data: &[u8],
    ) -> Outcome {
        let key = Key {
            src,
            dst,
            protocol,
            id: fragment.id,
        };
        let offset = fragment.offset as usize;
        let end = offset.saturating_add(data.len());
        let index = match self.pending.iter().position(|p| p.key == key) {
            Some(i) => i,
            None => {
                if self.pending.len() >= MAX_PENDING {
                    self.pending.remove(0);
                }
                self.pending.push(Pending {
                    key,
                    pieces: Vec::new(),
                    total: None,
                });
                self.pending.len() - 1
            }
        };
        let p = &mut self.pending[index];
        let problem = if end > MAX_DATAGRAM {
            Some("reassembled datagram longer than 65535 bytes")
        } else if p.pieces.len() >= MAX_PIECES {
            Some("too many fragments")
        } else if !fragment.more && p.total.is_some_and(|t| t != end) {
            Some("two last fragments with different lengths")
        } else if p.total.is_some_and(|t| end > t) {
            Some("fragment beyond the last one")
        } else {
            None
        };
        if let Some(reason) = problem {
            self.pending.remove(index);
            return Outcome::Dropped(reason);
        }
        if !fragment.more {
            if p.pieces.iter().any(|(o, d)| o + d.len() > end) {
                self.pending.remove(index);
                return Outcome::Dropped("fragment beyond the last one");
            }
            p.total = Some(end);
        }
        p.pieces.push((offset, data.to_vec()));
        let Some(total) = p.total else {
            return Outcome::Held {
                pieces: p.pieces.len(),
            };
        };
        let mut spans: Vec<(usize, usize)> =
            p.pieces.iter().map(|(o, d)| (*o, o + d.len())).collect();
        spans.sort_unstable();
        let mut covered = 0;
        for (start, stop) in spans {
            if start > covered {
                return Outcome::Held {
                    pieces: p.pieces.len(),
                };
            }
            covered = covered.max(stop);
        }
        if covered < total {
            return Outcome::Held {
                pieces: p.pieces.len(),
            };
        }
        let done = self.pending.remove(index);
        let mut buf = vec![0; total];
        for (o, d) in &done.pieces {
            // Every piece ends at or before `total` (checked above).
            if let Some(dst) = buf.get_mut(*o..o + d.len()) {
                dst.copy_from_slice(d);
            }
        }
        Outcome::Complete(buf, done.pieces.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn frag(id: u32, offset: u32, more: bool) -> Fragment {
        Fragment { id, offset, more }
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let data: Vec<u8> = (0..=255).collect();
        let mut r = Reassembly::default();
        assert_eq!(
            r.add(A, B, 17, frag(1, 200, false), &data[200..]),
            Outcome::Held { pieces: 1 }
        );
        // Another datagram in between does not disturb the first.
        assert_eq!(
            r.add(B, A, 17, frag(1, 0, true), &data[..8]),
            Outcome::Held { pieces: 1 }
        );
        assert_eq!(
            r.add(A, B, 17, frag(1, 0, true), &data[..104]),
            Outcome::Held { pieces: 2 }
        );
        // Overlapping the first piece.
        assert_eq!(
            r.add(A, B, 17, frag(1, 96, true), &data[96..200]),
            Outcome::Complete(data.clone(), 3)
        );
        assert_eq!(r.incomplete(), 1);
    }

    #[test]
    fn inconsistent_or_oversized_datagrams_are_dropped() {
        let mut r = Reassembly::default();
        r.add(A, B, 17, frag(2, 0, true), &[0; 16]);
        assert_eq!(
            r.add(A, B, 17, frag(2, 8, false), &[0; 4]),
            Outcome::Dropped("fragment beyond the last one")
        );
        assert_eq!(r.incomplete(), 0);
        r.add(A, B, 17, frag(3, 16, false), &[0; 8]);
        assert_eq!(
            r.add(A, B, 17, frag(3, 16, false), &[0; 16]),
            Outcome::Dropped("two last fragments with different lengths")
        );
        assert_eq!(
            r.add(A, B, 17, frag(4, 65_528, false), &[0; 16]),
            Outcome::Dropped("reassembled datagram longer than 65535 bytes")
        );
        for i in 0..MAX_PIECES {
            r.add(A, B, 17, frag(5, 8 * i as u32 + 8, true), &[0; 8]);
        }
        assert_eq!(
            r.add(A, B, 17, frag(5, 0, true), &[0; 8]),
            Outcome::Dropped("too many fragments")
        );
    }

    #[test]
    fn pending_datagrams_are_bounded() {
        let mut r = Reassembly::default();
        for id in 0..(MAX_PENDING as u32 + 5) {
            r.add(A, B, 17, frag(id, 8, false), &[0; 8]);
        }
        assert_eq!(r.incomplete(), MAX_PENDING);
        // The oldest were forgotten: completing datagram 0 no longer works.
        assert_eq!(
            r.add(A, B, 17, frag(0, 0, true), &[0; 8]),
            Outcome::Held { pieces: 1 }
        );
    }
}
