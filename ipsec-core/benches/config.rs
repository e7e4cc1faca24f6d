//! Criterion benchmarks of configuration checks at growing sizes.
//!
//! Validation and the two-firewall pair check must stay linear in the number of proxy IDs and
//! objects: at ten times the size they should take about ten times as long (a pairwise check
//! would take a hundred times as long).
//!
//! - `validate/proxy_ids/N`: `Config::validate` on a hub whose tunnel carries N proxy IDs; the
//!   1,000 case is the **baseline** for the ratio;
//! - `validate/gateways/N`: the same with N gateways, each with its own tunnel;
//! - `validate/certificate_profiles/N`: N CA certificate objects and N certificate profiles,
//!   each naming one of the CAs;
//! - `check_pair/proxy_ids/N`: `check_pair` of the hub and a branch with the N mirrored proxy IDs.
//!
//! Run: `cargo bench -p ipsec-core --bench config -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ipsec_core::config::{
    check_pair, AuthName, Authentication, CertificateObject, CertificateProfile, CipherName,
    Config, IkeCryptoProfile, IkeGateway, IpsecCryptoProfile, IpsecTunnel, LocalAddress,
    PeerAddress, PreSharedKey, ProxyId, TunnelInterface, Zone,
};
use ipsec_core::selector::IpPrefix;

const SIZES: [u32; 2] = [1_000, 10_000];
const HUB: [u8; 4] = [192, 0, 2, 1];
const BRANCH: [u8; 4] = [198, 18, 0, 1];

fn v4(x: u32, len: u8) -> IpPrefix {
    IpPrefix::new(IpAddr::V4(Ipv4Addr::from(x)), len).unwrap()
}

/// Proxy ID `i`: a /24 behind the hub to a /32 behind the branch (or its mirror image).
fn proxy(i: u32, mirrored: bool) -> ProxyId {
    let hub = v4(0x0a00_0000 + (i << 8), 24);
    let branch = v4(0xac10_0000 + i, 32);
    let (local, remote) = if mirrored {
        (branch, hub)
    } else {
        (hub, branch)
    };
    ProxyId::new(format!("p{i}"), local, remote)
}

fn gateway(name: String, local: [u8; 4], peer: IpAddr) -> IkeGateway {
    IkeGateway::new(
        name,
        LocalAddress {
            interface: "ethernet1/1".into(),
            ip: Some(local.into()),
        },
        PeerAddress::Ip(peer),
        Authentication::PreSharedKey(PreSharedKey::new("a shared key of some length")),
        "ike",
    )
}

fn base() -> Config {
    let mut c = Config::new();
    c.ike_crypto_profiles.push(IkeCryptoProfile::new("ike"));
    c.ipsec_crypto_profiles.push(IpsecCryptoProfile::esp(
        "esp",
        vec![CipherName::Aes256Gcm],
        vec![AuthName::None],
    ));
    let mut ti = TunnelInterface::new("tunnel.1");
    ti.zone = Some("vpn".into());
    c.tunnel_interfaces.push(ti);
    c.zones.push(Zone::new("vpn", vec!["tunnel.1".into()]));
    c
}

/// A hub with `gateways` static peers (one tunnel each); the first tunnel carries `proxy_ids`.
fn hub(gateways: u32, proxy_ids: u32) -> Config {
    let mut c = base();
    for g in 0..gateways {
        let peer = if g == 0 {
            IpAddr::from(BRANCH)
        } else {
            IpAddr::V4(Ipv4Addr::from(0xc633_0000 + g))
        };
        c.ike_gateways.push(gateway(format!("gw{g}"), HUB, peer));
        c.ipsec_tunnels.push(IpsecTunnel::auto_key(
            format!("t{g}"),
            "tunnel.1",
            format!("gw{g}"),
            "esp",
        ));
    }
    c.ipsec_tunnels[0].proxy_ids = (0..proxy_ids).map(|i| proxy(i, false)).collect();
    c
}

fn branch(proxy_ids: u32) -> Config {
    let mut c = base();
    c.ike_gateways
        .push(gateway("to-hub".into(), BRANCH, IpAddr::from(HUB)));
    c.ipsec_tunnels
        .push(IpsecTunnel::auto_key("to-hub", "tunnel.1", "to-hub", "esp"));
    c.ipsec_tunnels[0].proxy_ids = (0..proxy_ids).map(|i| proxy(i, true)).collect();
    c
}

fn validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    for n in SIZES {
        let config = hub(1, n);
        assert!(config.validate().is_ok());
        group.bench_with_input(BenchmarkId::new("proxy_ids", n), &config, |b, c| {
            b.iter(|| black_box(c).validate())
        });
    }
    for n in SIZES {
        let config = hub(n, 1);
        assert!(config.validate().is_ok());
        group.bench_with_input(BenchmarkId::new("gateways", n), &config, |b, c| {
            b.iter(|| black_box(c).validate())
        });
    }
    let root = CertificateObject::from_pem(
        "root",
        include_str!("../../testdata/pki/ed25519/root-ca.crt"),
        None,
    )
    .unwrap();
    for n in SIZES {
        let mut config = hub(1, 1);
        for i in 0..n {
            let mut ca = root.clone();
            ca.name = format!("ca{i}");
            config.certificates.push(ca);
            config.certificate_profiles.push(CertificateProfile::new(
                format!("cp{i}"),
                vec![format!("ca{}", n - 1 - i)],
            ));
        }
        assert!(config.validate().is_ok());
        group.bench_with_input(
            BenchmarkId::new("certificate_profiles", n),
            &config,
            |b, c| b.iter(|| black_box(c).validate()),
        );
    }
    group.finish();
}

fn pair(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_pair");
    for n in SIZES {
        let (a, b) = (hub(1, n), branch(n));
        assert!(check_pair(&a, &b).is_empty());
        group.bench_with_input(
            BenchmarkId::new("proxy_ids", n),
            &(a, b),
            |bench, (a, b)| bench.iter(|| check_pair(black_box(a), black_box(b))),
        );
    }
    group.finish();
}

criterion_group!(benches, validate, pair);
criterion_main!(benches);
