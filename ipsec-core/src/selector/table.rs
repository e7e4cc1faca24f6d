//! [`SelectorTable`]: packet to Child SA lookup for the datapath.
//!
//! Entries are kept sorted from most to least specific, and a lookup returns the first entry that
//! matches, so the **most specific** selector pair wins whatever the insertion order. That is what
//! an admin expects from overlapping proxy IDs (`10.0.0.0/16` and `10.0.5.0/24` to the same peer:
//! the `/24` SA carries its subnet), in the way a routing table prefers the longest prefix. Order
//! of specificity, compared in turn: fewer remote addresses, fewer local addresses, a specific
//! protocol before "any", fewer remote ports, fewer local ports; ties keep insertion order (RFC
//! 4301 section 4.4.1 ordered-SPD semantics among equals).
//!
//! Cost: `lookup_*` is a linear scan, O(N) with a handful of integer comparisons per entry and no
//! allocation; `insert` is O(N). Proxy IDs per tunnel are few (each one costs a tunnel of the
//! platform's capacity on PAN-OS), so a scan beats a trie at the sizes seen in practice.

use super::addr;
use super::traffic_selector::Parts;
use super::{Packet5Tuple, SelectorError, TrafficSelector};

/// Rank key: smaller is more specific.
type Specificity = (u128, u128, u8, u32, u32);

#[derive(Clone, Debug)]
struct Entry<T> {
    local: TrafficSelector,
    remote: TrafficSelector,
    local_parts: Parts,
    remote_parts: Parts,
    rank: Specificity,
    value: T,
}

/// A set of `(local selector, remote selector, value)` entries searched by packet. `T` is whatever
/// the datapath needs, typically an outbound SA handle.
#[derive(Clone, Debug)]
pub struct SelectorTable<T> {
    entries: Vec<Entry<T>>,
}

impl<T> Default for SelectorTable<T> {
    fn default() -> Self {
        SelectorTable {
            entries: Vec::new(),
        }
    }
}

impl<T> SelectorTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry; fails when a selector is invalid (see [`TrafficSelector::validate`]).
    pub fn insert(
        &mut self,
        local: TrafficSelector,
        remote: TrafficSelector,
        value: T,
    ) -> Result<(), SelectorError> {
        let local_parts = local.parts_checked()?;
        let remote_parts = remote.parts_checked()?;
        let rank = (
            remote_parts.hi - remote_parts.lo,
            local_parts.hi - local_parts.lo,
            u8::from(local_parts.protocol == 0 && remote_parts.protocol == 0),
            remote_parts.ports.size(),
            local_parts.ports.size(),
        );
        // After every entry ranked the same or more specific: ties keep insertion order.
        let at = self.entries.partition_point(|e| e.rank <= rank);
        self.entries.insert(
            at,
            Entry {
                local,
                remote,
                local_parts,
                remote_parts,
                rank,
                value,
            },
        );
        Ok(())
    }

    /// Removes every entry whose value satisfies `pred`; returns how many were removed.
    pub fn remove_where(&mut self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !pred(&e.value));
        before - self.entries.len()
    }

    /// The most specific entry whose local selector admits the packet's source and whose remote
    /// selector admits its destination: the SA for an outbound packet.
    pub fn lookup_outbound(&self, packet: &Packet5Tuple) -> Option<&T> {
        let (sf, sv) = addr::to_u128(packet.src);
        let (df, dv) = addr::to_u128(packet.dst);
        self.entries
            .iter()
            .find(|e| {
                e.remote_parts
                    .admits_value(df, dv, packet.protocol, packet.dst_port)
                    && e.local_parts
                        .admits_value(sf, sv, packet.protocol, packet.src_port)
            })
            .map(|e| &e.value)
    }

    /// The most specific entry whose remote selector admits the packet's source and whose local
    /// selector admits its destination: the check of a decrypted inbound packet (RFC 4301 section
    /// 5.2).
    pub fn lookup_inbound(&self, packet: &Packet5Tuple) -> Option<&T> {
        self.lookup_outbound(&packet.reversed())
    }

    /// The entries, most specific first, as `(local, remote, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&TrafficSelector, &TrafficSelector, &T)> {
        self.entries.iter().map(|e| (&e.local, &e.remote, &e.value))
    }
}
