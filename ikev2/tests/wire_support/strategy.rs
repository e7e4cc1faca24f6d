//! Proptest strategies over the owned wire representation: any value they produce is a
//! well-formed message, so `parse(emit(m)) == m` must hold.

use ikev2::wire::*;
use ipsec_core::crypto::TransformType;
use ipsec_core::selector::TrafficSelector;
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

pub(crate) fn header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(|(i, r, minor, ex, flags, id)| Header {
            initiator_spi: i,
            responder_spi: r,
            minor_version: minor,
            exchange_type: ExchangeType(ex),
            flags: Flags(flags),
            message_id: id,
        })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (0u16..0x8000, any::<u16>())
            .prop_map(|(attr_type, value)| Attribute::Tv { attr_type, value }),
        (0u16..0x8000, bytes(8)).prop_map(|(attr_type, value)| Attribute::Tlv { attr_type, value }),
    ]
}

fn transform() -> impl Strategy<Value = Transform> {
    let id = prop_oneof![
        (1u8..=5, any::<u16>()).prop_map(|(t, id)| TransformId::new(TransformType(t), id)),
        (prop_oneof![Just(0u8), 6u8..=255], any::<u16>())
            .prop_map(|(t, id)| TransformId::Other(TransformType(t), id)),
    ];
    (id, vec(attribute(), 0..3)).prop_map(|(id, attributes)| Transform { id, attributes })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u8>(), any::<u8>(), bytes(9), vec(transform(), 0..6)).prop_map(
        |(number, protocol, spi, transforms)| Proposal {
            number,
            protocol: ProtocolId(protocol),
            spi,
            transforms,
        },
    )
}

fn ts_entry() -> impl Strategy<Value = TsEntry> {
    let ports = (any::<u8>(), any::<u16>(), any::<u16>());
    prop_oneof![
        (ports, any::<u32>(), any::<u32>()).prop_map(|((p, sp, ep), a, b)| {
            TsEntry::Ip(TrafficSelector {
                protocol: p,
                start_port: sp,
                end_port: ep,
                start_addr: IpAddr::V4(Ipv4Addr::from(a)),
                end_addr: IpAddr::V4(Ipv4Addr::from(b)),
            })
        }),
        (ports, any::<u128>(), any::<u128>()).prop_map(|((p, sp, ep), a, b)| {
            TsEntry::Ip(TrafficSelector {
                protocol: p,
                start_port: sp,
                end_port: ep,
                start_addr: IpAddr::V6(Ipv6Addr::from(a)),
                end_addr: IpAddr::V6(Ipv6Addr::from(b)),
            })
        }),
        (
            any::<u8>().prop_filter("not an IP range", |t| *t != 7 && *t != 8),
            vec(any::<u8>(), 1..12)
        )
            .prop_map(|(t, body)| TsEntry::Other {
                ts_type: TsType(t),
                body
            }),
    ]
}

fn delete() -> impl Strategy<Value = Delete> {
    (any::<u8>(), 0u8..9, 0usize..5).prop_flat_map(|(protocol, spi_size, n)| {
        vec(vec(any::<u8>(), usize::from(spi_size)), n).prop_map(move |spis| Delete {
            protocol: ProtocolId(protocol),
            spi_size,
            spis,
        })
    })
}

/// Any payload except SK and SKF, which may only come last.
pub(crate) fn plain_payload() -> impl Strategy<Value = Payload> {
    let ts = || vec(ts_entry(), 0..4).prop_map(|selectors| TrafficSelectors { selectors });
    prop_oneof![
        vec(proposal(), 0..4).prop_map(|proposals| Payload::Sa(SecurityAssociation { proposals })),
        (any::<u16>(), bytes(64)).prop_map(|(g, data)| Payload::Ke(KeyExchange {
            group: ipsec_core::crypto::DhGroup(g),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(t, data)| Payload::IdI(Identification {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(t, data)| Payload::IdR(Identification {
            id_type: IdType(t),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(e, data)| Payload::Cert(Cert {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(41)).prop_map(|(e, authorities)| Payload::CertReq(CertReq {
            encoding: CertEncoding(e),
            authorities
        })),
        (any::<u8>(), bytes(32)).prop_map(|(m, data)| Payload::Auth(Auth {
            method: AuthMethod(m),
            data
        })),
        bytes(64).prop_map(|data| Payload::Nonce(Nonce { data })),
        (any::<u8>(), bytes(9), any::<u16>(), bytes(32)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(Notify {
                protocol: ProtocolId(p),
                spi,
                notify_type: NotifyType(t),
                data,
            })
        }),
        delete().prop_map(Payload::Delete),
        bytes(32).prop_map(|data| Payload::VendorId(VendorId { data })),
        ts().prop_map(Payload::TsI),
        ts().prop_map(Payload::TsR),
        (any::<u8>(), vec((0u16..0x8000, bytes(16)), 0..4)).prop_map(|(t, attrs)| Payload::Cp(
            Config {
                cfg_type: CfgType(t),
                attributes: attrs
                    .into_iter()
                    .map(|(a, value)| ConfigAttribute {
                        attr_type: ConfigAttributeType(a),
                        value
                    })
                    .collect()
            }
        )),
        bytes(32).prop_map(|data| Payload::Eap(Eap { data })),
        (prop_oneof![1u8..=32, 49u8..=52, 54u8..=255], bytes(32)).prop_map(|(t, body)| {
            Payload::Unknown {
                payload_type: PayloadType(t),
                critical: false,
                body,
            }
        }),
    ]
}

fn encrypted() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<u8>(), bytes(64)).prop_map(|(n, data)| Payload::Sk(Encrypted {
            next_payload: PayloadType(n),
            data
        })),
        (any::<u8>(), 1u16..200, any::<u16>(), bytes(64)).prop_map(|(n, total, k, data)| {
            Payload::Skf(EncryptedFragment {
                next_payload: PayloadType(n),
                fragment_number: 1 + k % total,
                total_fragments: total,
                data,
            })
        }),
    ]
}

/// Any well-formed message: plain payloads, optionally ending with SK or SKF.
pub(crate) fn message() -> impl Strategy<Value = Message> {
    (
        header(),
        vec(plain_payload(), 0..8),
        proptest::option::of(encrypted()),
    )
        .prop_map(|(header, mut payloads, enc)| {
            payloads.extend(enc);
            Message { header, payloads }
        })
}
