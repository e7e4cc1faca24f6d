//! Hash indexes that keep validation and pair checks linear in the number of objects.
//!
//! A configuration can hold hundreds of thousands of proxy IDs (one per protected subnet pair on
//! a hub) and thousands of gateways; a check that compares every object with every other one
//! would take minutes. Every "is this name used twice", "is this name defined" and "does the peer
//! have the mirror image" question is answered through a hash set built once.

use super::{CertificateObject, Config, IkeCryptoProfile, IpsecCryptoProfile, TunnelInterface};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// The positions of the keys that repeat an earlier key, in order.
pub(crate) fn repeats<K: Hash + Eq>(keys: impl IntoIterator<Item = K>) -> Vec<usize> {
    let mut seen = HashSet::new();
    keys.into_iter()
        .enumerate()
        .filter_map(|(i, k)| (!seen.insert(k)).then_some(i))
        .collect()
}

/// The positions of the `wanted` keys that are not among the `present` ones, in order.
pub(crate) fn missing<K: Hash + Eq>(
    wanted: impl IntoIterator<Item = K>,
    present: impl IntoIterator<Item = K>,
) -> Vec<usize> {
    let present: HashSet<K> = present.into_iter().collect();
    wanted
        .into_iter()
        .enumerate()
        .filter_map(|(i, k)| (!present.contains(&k)).then_some(i))
        .collect()
}

/// Maps each name to the first object that has it, as the linear `Config` lookups do.
fn first_by_name<'a, T>(
    items: &'a [T],
    name: impl Fn(&'a T) -> &'a str,
) -> HashMap<&'a str, &'a T> {
    let mut m = HashMap::with_capacity(items.len());
    for o in items {
        m.entry(name(o)).or_insert(o);
    }
    m
}

/// Name lookups over one configuration, built once per check.
pub(crate) struct Names<'a> {
    certificates: HashMap<&'a str, &'a CertificateObject>,
    certificate_profiles: HashSet<&'a str>,
    ike_crypto_profiles: HashMap<&'a str, &'a IkeCryptoProfile>,
    ipsec_crypto_profiles: HashMap<&'a str, &'a IpsecCryptoProfile>,
    ike_gateways: HashSet<&'a str>,
    tunnel_interfaces: HashMap<&'a str, &'a TunnelInterface>,
    zones: HashSet<&'a str>,
    /// Interface name -> the zones listing it, in zone order, each once.
    zones_listing: HashMap<&'a str, Vec<&'a str>>,
    /// Interfaces named by a gateway's local address.
    gateway_interfaces: HashSet<&'a str>,
}

impl<'a> Names<'a> {
    pub(crate) fn new(c: &'a Config) -> Self {
        let mut zones_listing: HashMap<&str, Vec<&str>> = HashMap::new();
        for z in &c.zones {
            for i in &z.interfaces {
                let list = zones_listing.entry(i.as_str()).or_default();
                if list.last() != Some(&z.name.as_str()) {
                    list.push(&z.name);
                }
            }
        }
        Names {
            certificates: first_by_name(&c.certificates, |o| &o.name),
            certificate_profiles: c
                .certificate_profiles
                .iter()
                .map(|o| o.name.as_str())
                .collect(),
            ike_crypto_profiles: first_by_name(&c.ike_crypto_profiles, |o| &o.name),
            ipsec_crypto_profiles: first_by_name(&c.ipsec_crypto_profiles, |o| &o.name),
            ike_gateways: c.ike_gateways.iter().map(|o| o.name.as_str()).collect(),
            tunnel_interfaces: first_by_name(&c.tunnel_interfaces, |o| &o.name),
            zones: c.zones.iter().map(|o| o.name.as_str()).collect(),
            zones_listing,
            gateway_interfaces: c
                .ike_gateways
                .iter()
                .map(|g| g.local_address.interface.as_str())
                .collect(),
        }
    }

    pub(crate) fn certificate(&self, name: &str) -> Option<&'a CertificateObject> {
        self.certificates.get(name).copied()
    }

    pub(crate) fn has_certificate_profile(&self, name: &str) -> bool {
        self.certificate_profiles.contains(name)
    }

    pub(crate) fn ike_crypto_profile(&self, name: &str) -> Option<&'a IkeCryptoProfile> {
        self.ike_crypto_profiles.get(name).copied()
    }

    pub(crate) fn ipsec_crypto_profile(&self, name: &str) -> Option<&'a IpsecCryptoProfile> {
        self.ipsec_crypto_profiles.get(name).copied()
    }

    pub(crate) fn has_ike_gateway(&self, name: &str) -> bool {
        self.ike_gateways.contains(name)
    }

    pub(crate) fn tunnel_interface(&self, name: &str) -> Option<&'a TunnelInterface> {
        self.tunnel_interfaces.get(name).copied()
    }

    pub(crate) fn has_zone(&self, name: &str) -> bool {
        self.zones.contains(name)
    }

    /// The zones whose interface lists name `interface`, in zone order.
    pub(crate) fn zones_listing(&self, interface: &str) -> &[&'a str] {
        self.zones_listing.get(interface).map_or(&[], Vec::as_slice)
    }

    /// A tunnel interface must be defined; another interface (`ethernet1/1`) is known when a zone
    /// lists it or a gateway uses it.
    pub(crate) fn interface_known(&self, name: &str) -> bool {
        if name.starts_with("tunnel.") {
            return self.tunnel_interface(name).is_some();
        }
        self.zones_listing.contains_key(name) || self.gateway_interfaces.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static COMPARISONS: Cell<u64> = const { Cell::new(0) };
    }

    /// A key that counts how often it is compared.
    struct Counted(u64);

    impl std::hash::Hash for Counted {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }

    impl PartialEq for Counted {
        fn eq(&self, other: &Self) -> bool {
            COMPARISONS.with(|c| c.set(c.get() + 1));
            self.0 == other.0
        }
    }
    impl Eq for Counted {}

    fn comparisons() -> u64 {
        COMPARISONS.with(|c| c.replace(0))
    }

    // Comparing each key with the ones before it would take 2 * 10^10 comparisons.
    const N: u64 = 200_000;

    #[test]
    fn repeats_compares_each_key_about_once() {
        comparisons();
        let keys = (0..N).map(Counted).chain([Counted(7), Counted(N - 1)]);
        assert_eq!(repeats(keys), vec![N as usize, N as usize + 1]);
        let work = comparisons();
        assert!(work >= 2, "the repeats were found by comparing");
        assert!(work < N / 10, "{work} comparisons for {N} keys");
    }

    #[test]
    fn missing_compares_each_key_about_once() {
        comparisons();
        let wanted = (0..N).map(Counted);
        let present = (1..N).filter(|k| k % 20_000 != 0).map(Counted);
        let gaps: Vec<usize> = (0..N as usize).step_by(20_000).collect();
        assert_eq!(missing(wanted, present), gaps);
        let work = comparisons();
        assert!(work >= N - 10, "each present key was found by comparing");
        assert!(work < 2 * N, "{work} comparisons for {N} keys");
    }
}
