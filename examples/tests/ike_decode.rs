//! `ike-decode` run as a program on the strongSwan captures of `testdata/strongswan-x25519/` and on
//! captures derived from them here (truncated, damaged, converted to pcapng and other link types).

use ipsec_examples::decode::net::{self, Transport};
use ipsec_examples::pcap::{self, write, DataLink};
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ike-decode");

fn testdata(name: &str) -> String {
    format!(
        "{}/../testdata/strongswan-x25519/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A fresh scratch file path for this test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ike_decode");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The headlines (unindented lines) of a text run, without the file header and summary.
fn headlines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with('#')).collect()
}

/// The frames of a capture file as `(timestamp ns, bytes)`, with its link type.
fn frames_of(path: &str) -> (DataLink, Vec<(u64, Vec<u8>)>) {
    let bytes = std::fs::read(path).unwrap();
    let cap = pcap::read(&bytes).unwrap();
    let mut link = DataLink::ETHERNET;
    let frames = cap
        .records
        .iter()
        .map(|r| {
            let f = r.as_ref().unwrap();
            link = f.link_type;
            (f.timestamp_ns, f.data.to_vec())
        })
        .collect();
    (link, frames)
}

/// An IPv4/UDP packet (raw IP, no link header).
fn ipv4_udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(28 + payload.len()).unwrap();
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[198, 51, 100, 1, 198, 51, 100, 2]);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&(total - 20).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// The UDP payload of an Ethernet frame of the captures.
fn udp_payload(frame: &[u8]) -> Vec<u8> {
    match net::parse(DataLink::ETHERNET, frame).unwrap().transport {
        Transport::Udp { payload, .. } => payload.to_vec(),
        other => panic!("not UDP: {other:?}"),
    }
}

#[test]
fn all_six_messages_are_shown_with_every_sk_payload_decrypted() {
    let (code, out, err) = run(&[&testdata("ike_all.pcap"), "--keys", &testdata("keys.txt")]);
    assert_eq!(code, 0, "{err}");
    let heads = headlines(&out);
    let expected = [
        (
            "IKE_SA_INIT I request msgid=0",
            "192.0.2.1:500 -> 192.0.2.2:500",
        ),
        (
            "IKE_SA_INIT R response msgid=0",
            "192.0.2.2:500 -> 192.0.2.1:500",
        ),
        (
            "IKE_AUTH I request msgid=1",
            "192.0.2.1:4500 -> 192.0.2.2:4500",
        ),
        (
            "IKE_AUTH R response msgid=1",
            "192.0.2.2:4500 -> 192.0.2.1:4500",
        ),
        ("INFORMATIONAL R request msgid=0", "192.0.2.2:4500"),
        ("INFORMATIONAL I response msgid=0", "192.0.2.1:4500"),
    ];
    assert_eq!(heads.len(), 6, "{out}");
    for (head, (what, addrs)) in heads.iter().zip(expected) {
        assert!(head.contains(what), "{head} lacks {what}");
        assert!(head.contains(addrs), "{head} lacks {addrs}");
        assert!(head.contains("spi_i=f5b9d1ee4555cab4"), "{head}");
    }
    assert!(heads[1].contains("spi_r=a1d2eec743532a67"));
    // Every SK payload decrypted, none left encrypted.
    assert_eq!(out.matches("\n  SK ").count(), 4, "{out}");
    assert_eq!(out.matches(" decrypted").count(), 4, "{out}");
    assert!(
        !out.contains("encrypted\n") && !out.contains("not_decrypted"),
        "{out}"
    );
    // The IKE_SA_INIT payloads with their key fields.
    for line in [
        "    proposal 1 IKE encr=ENCR_AES_GCM_16-256 prf=PRF_HMAC_SHA2_256 ke=CURVE25519",
        "  KE group=CURVE25519 len=32",
        "  Ni len=32",
        "  Nr len=32",
        "  N NAT_DETECTION_SOURCE_IP data=",
        "  N IKEV2_FRAGMENTATION_SUPPORTED",
        "  N CHILDLESS_IKEV2_SUPPORTED",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    // The inner payloads of IKE_AUTH, indented under their SK payload.
    for line in [
        "  SK next=IDi len=240 decrypted\n    IDi FQDN left.ike.test\n",
        "    IDr FQDN right.ike.test\n",
        "    AUTH method=SHARED_KEY_MIC len=32\n",
        "      proposal 1 ESP spi=0x2f214d5a encr=ENCR_AES_GCM_16-128 esn=NO_ESN\n",
        "      proposal 1 ESP spi=0x2418309d encr=ENCR_AES_GCM_16-128 esn=NO_ESN\n",
        "    TSi 10.1.0.0/24\n",
        "    TSr 10.2.0.0/24\n",
        "  SK next=N len=33 decrypted\n    N NO_ADDITIONAL_ADDRESSES\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    assert!(out.contains("6 records: 6 IKE, 0 ESP"), "{out}");
}

#[test]
fn without_keys_sk_payloads_show_as_encrypted() {
    let (code, out, _) = run(&[&testdata("ike_all.pcap")]);
    assert_eq!(code, 0);
    assert_eq!(headlines(&out).len(), 6);
    assert_eq!(out.matches(" encrypted\n").count(), 4, "{out}");
    assert!(out.contains("  SK next=IDi len=240 encrypted\n#4"), "{out}");
    assert!(!out.contains("left.ike.test"));
    assert!(!out.contains("decrypted"));
}

#[test]
fn esp_packets_are_listed_by_spi_and_sequence_number() {
    let (code, out, _) = run(&[&testdata("esp.pcap")]);
    assert_eq!(code, 0);
    for spi in ["0x2418309d", "0x2f214d5a"] {
        let seqs: Vec<u32> = headlines(&out)
            .iter()
            .filter(|l| l.contains(&format!("ESP spi={spi} ")))
            .map(|l| {
                let seq = l.split("seq=").nth(1).unwrap();
                seq.split(' ').next().unwrap().parse().unwrap()
            })
            .collect();
        assert_eq!(seqs, (1..=7).collect::<Vec<_>>(), "{spi}:\n{out}");
    }
    let (from_i, from_r) = (
        "192.0.2.1:4500 -> 192.0.2.2:4500 ESP spi=0x2418309d",
        "192.0.2.2:4500 -> 192.0.2.1:4500 ESP spi=0x2f214d5a",
    );
    assert!(out.contains(from_i) && out.contains(from_r), "{out}");
    assert!(out.contains("14 records: 0 IKE, 14 ESP"), "{out}");
    assert!(
        out.contains("ESP spi=0x2418309d 192.0.2.1:4500 -> 192.0.2.2:4500: 7 packets, seq 1..7"),
        "{out}"
    );
}

#[test]
fn a_truncated_capture_is_reported_after_the_messages_before_the_cut() {
    let mut bytes = std::fs::read(testdata("ike_all.pcap")).unwrap();
    // Cut the file in the middle of the fourth record.
    let (_, frames) = frames_of(&testdata("ike_all.pcap"));
    let cut = 24 + frames[..3].iter().map(|(_, f)| 16 + f.len()).sum::<usize>() + 16 + 40;
    bytes.truncate(cut);
    let path = scratch("truncated.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let (code, out, _) = run(&[path.to_str().unwrap(), "--keys", &testdata("keys.txt")]);
    assert_eq!(code, 0, "a damaged capture is still a capture");
    let heads = headlines(&out);
    assert_eq!(heads.len(), 4, "{out}");
    assert!(heads[2].contains("IKE_AUTH I request"));
    assert!(
        heads[3].starts_with("#4 ") && heads[3].contains("ERROR layer=capture truncated record"),
        "{out}"
    );
    assert!(heads[3].contains("needs 281 bytes, 56 left"), "{out}");
    assert!(out.contains("left.ike.test"), "{out}");
}

#[test]
fn garbage_packets_are_reported_and_decoding_goes_on() {
    let (_, frames) = frames_of(&testdata("ike_all.pcap"));
    let init_req = udp_payload(&frames[0].1);
    let init_resp = udp_payload(&frames[1].1);
    let mut bad_len = init_req.clone();
    bad_len[24..28].copy_from_slice(&4000u32.to_be_bytes()); // IKE length beyond the datagram
    let mut bad_payload = init_resp.clone();
    bad_payload[28 + 2..28 + 4].copy_from_slice(&2u16.to_be_bytes()); // SA length below 4
    let mut short_ip = ipv4_udp(500, 500, &init_req);
    short_ip.truncate(17);
    let records = vec![
        (1_000, ipv4_udp(500, 500, &init_req)),
        (2_000, ipv4_udp(500, 500, b"not an IKE message")),
        (3_000, ipv4_udp(500, 500, &bad_len)),
        (4_000, short_ip),
        (5_000, ipv4_udp(53, 53, b"dns, skipped")),
        (6_000, ipv4_udp(4500, 4500, &[1, 2, 3])),
        (7_000, ipv4_udp(4500, 4500, &[0xff])),
        (8_000, ipv4_udp(500, 500, &bad_payload)),
        (9_000, ipv4_udp(500, 500, &init_resp)),
    ];
    let path = scratch("garbage.pcap");
    std::fs::write(
        &path,
        write::pcap(DataLink::RAW, false, false, &records).unwrap(),
    )
    .unwrap();
    let (code, out, _) = run(&[path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let heads = headlines(&out);
    let expect = [
        ("#1 ", "IKE_SA_INIT I request"),
        (
            "#2 ",
            "ERROR layer=ike IKE header: 18 bytes, shorter than the 28-byte header",
        ),
        (
            "#3 ",
            "ERROR layer=ike IKE header: length field says 4000 bytes, the datagram has 232",
        ),
        ("#4 ", "ERROR layer=network truncated IPv4 header"),
        ("#6 ", "ERROR layer=udp 3-byte datagram on port 4500"),
        ("#7 ", "NAT-keepalive"),
        ("#8 ", "IKE_SA_INIT R response"),
        ("#9 ", "IKE_SA_INIT R response"),
    ];
    assert_eq!(heads.len(), expect.len(), "{out}");
    for (h, (num, what)) in heads.iter().zip(expect) {
        assert!(
            h.starts_with(num) && h.contains(what),
            "{h} is not {num}{what}"
        );
    }
    // The damaged SA payload is reported inside its message.
    assert!(
        out.contains("#8 ") && out.contains("\n  ERROR bad length"),
        "{out}"
    );
    assert!(
        out.contains("1 NAT-keepalive, 0 IP fragments, 4 errors, 1 skipped"),
        "{out}"
    );
}

/// Runs the decoder on `path` with the keys, returning stdout without its `== file` line.
fn decoded(path: &str) -> String {
    let (code, out, err) = run(&[path, "--keys", &testdata("keys.txt")]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .filter(|l| !l.starts_with("== "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn pcapng_and_other_encodings_decode_the_same_as_the_original() {
    for name in ["ike_all.pcap", "esp.pcap"] {
        let original = decoded(&testdata(name));
        let (link, frames) = frames_of(&testdata(name));
        assert_eq!(link, DataLink::ETHERNET);
        // pcapng, both byte orders, nanosecond and default (microsecond) timestamps.
        for (big, tsresol) in [(false, Some(9)), (true, None)] {
            let file = write::pcapng(big, link, tsresol, &frames).unwrap();
            let path = scratch(&format!("{name}.{big}.pcapng"));
            std::fs::write(&path, file).unwrap();
            assert_eq!(
                decoded(path.to_str().unwrap()),
                original,
                "pcapng big={big}"
            );
        }
        // Classic pcap, big-endian with nanosecond timestamps.
        let path = scratch(&format!("{name}.be-nano.pcap"));
        std::fs::write(&path, write::pcap(link, true, true, &frames).unwrap()).unwrap();
        assert_eq!(
            decoded(path.to_str().unwrap()),
            original,
            "big-endian nano pcap"
        );
        // The same packets without Ethernet (raw IP) and behind a Linux cooked v2 header.
        let raw: Vec<_> = frames.iter().map(|(t, f)| (*t, f[14..].to_vec())).collect();
        let path = scratch(&format!("{name}.raw.pcap"));
        std::fs::write(
            &path,
            write::pcap(DataLink::RAW, false, false, &raw).unwrap(),
        )
        .unwrap();
        assert_eq!(decoded(path.to_str().unwrap()), original, "raw IP");
        let sll2: Vec<_> = raw
            .iter()
            .map(|(t, ip)| {
                let mut f = vec![0x08, 0x00];
                f.extend_from_slice(&[0; 18]);
                f.extend_from_slice(ip);
                (*t, f)
            })
            .collect();
        let file = write::pcapng(false, DataLink::LINUX_SLL2, Some(9), &sll2).unwrap();
        let path = scratch(&format!("{name}.sll2.pcapng"));
        std::fs::write(&path, file).unwrap();
        assert_eq!(decoded(path.to_str().unwrap()), original, "SLL2 pcapng");
    }
}

#[test]
fn json_output_is_one_object_per_message() {
    let (code, out, _) = run(&[
        &testdata("ike_all.pcap"),
        &testdata("esp.pcap"),
        "--keys",
        &testdata("keys.txt"),
        "--json",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 6 + 14, "{out}");
    let names: Vec<&str> = lines[..6]
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "IKE_SA_INIT",
            "IKE_SA_INIT",
            "IKE_AUTH",
            "IKE_AUTH",
            "INFORMATIONAL",
            "INFORMATIONAL"
        ]
    );
    assert!(lines[..6].iter().all(|v| v["kind"] == "ike"));
    assert_eq!(lines[0]["msgid"], 0);
    assert_eq!(lines[0]["spi_i"], "f5b9d1ee4555cab4");
    assert_eq!(lines[2]["role"], "request");
    assert_eq!(lines[2]["sender"], "I");
    let sk = &lines[2]["children"][0];
    assert_eq!(sk["name"], "SK");
    assert_eq!(sk["state"], "decrypted");
    assert_eq!(sk["children"][0]["name"], "IDi");
    assert_eq!(sk["children"][0]["value"], "left.ike.test");
    let ts: Vec<&serde_json::Value> = sk["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "TSi")
        .collect();
    assert_eq!(ts[0]["selectors"], "10.1.0.0/24");
    let esp = &lines[6];
    assert_eq!(esp["kind"], "esp");
    assert_eq!(esp["spi"], "0x2418309d");
    assert_eq!(esp["seq"], 1);
    assert!(esp["file"].as_str().unwrap().ends_with("esp.pcap"));
}

#[test]
fn exit_status_says_whether_the_files_could_be_read() {
    let missing = scratch("does-not-exist.pcap");
    let _ = std::fs::remove_file(&missing);
    let (code, out, err) = run(&[missing.to_str().unwrap(), &testdata("ike_all.pcap")]);
    assert_eq!(code, 1);
    assert!(err.contains("does-not-exist.pcap"), "{err}");
    assert_eq!(
        headlines(&out).len(),
        6,
        "the readable file is still decoded"
    );
    let (code, _, err) = run(&[&testdata("keys.txt")]);
    assert_eq!(code, 1);
    assert!(err.contains("not a pcap or pcapng file"), "{err}");
    let bad_keys = scratch("bad-keys.txt");
    std::fs::write(&bad_keys, "sk_ei = xyz\n").unwrap();
    let (code, _, err) = run(&[
        &testdata("ike_all.pcap"),
        "--keys",
        bad_keys.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("line 1"), "{err}");
    assert_eq!(run(&[]).0, 2);
    assert_eq!(run(&["--bogus", &testdata("ike_all.pcap")]).0, 2);
}

#[test]
fn wrong_keys_are_reported_not_fatal() {
    let keys = scratch("wrong-keys.txt");
    std::fs::write(
        &keys,
        format!("sk_ei = {}\nsk_er = {}\n", "11".repeat(36), "22".repeat(36)),
    )
    .unwrap();
    let (code, out, _) = run(&[&testdata("ike_all.pcap"), "--keys", keys.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(headlines(&out).len(), 6);
    assert_eq!(
        out.matches("encrypted not_decrypted=integrity check failed")
            .count(),
        4,
        "{out}"
    );
}

/// `ip` (an IPv4 packet without options) cut into fragments of `size` payload bytes.
fn ipv4_fragments(ip: &[u8], size: usize, id: u16) -> Vec<Vec<u8>> {
    let payload = &ip[20..];
    let chunks: Vec<&[u8]> = payload.chunks(size).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut f = ip[..20].to_vec();
            f[2..4].copy_from_slice(&u16::try_from(20 + chunk.len()).unwrap().to_be_bytes());
            f[4..6].copy_from_slice(&id.to_be_bytes());
            let more = if i + 1 < chunks.len() { 0x2000 } else { 0 };
            let offset = u16::try_from(i * size / 8).unwrap();
            f[6..8].copy_from_slice(&(more | offset).to_be_bytes());
            f.extend_from_slice(chunk);
            f
        })
        .collect()
}

#[test]
fn ip_fragments_are_reassembled_into_their_ike_message() {
    let (_, frames) = frames_of(&testdata("ike_all.pcap"));
    let raw: Vec<Vec<u8>> = frames.iter().map(|(_, f)| f[14..].to_vec()).collect();
    let frags = ipv4_fragments(&raw[2], 72, 0x4242);
    assert_eq!(frags.len(), 4);
    let mut records: Vec<(u64, Vec<u8>)> = vec![(1, raw[0].clone()), (2, raw[1].clone())];
    // Out of order, with the first fragment (the one showing the ports) second.
    for (t, i) in [(3, 2), (4, 0), (5, 3), (6, 1)] {
        records.push((t, frags[i].clone()));
    }
    records.push((7, raw[3].clone()));
    let path = scratch("ip-fragments.pcap");
    std::fs::write(
        &path,
        write::pcap(DataLink::RAW, false, false, &records).unwrap(),
    )
    .unwrap();
    let (code, out, _) = run(&[path.to_str().unwrap(), "--keys", &testdata("keys.txt")]);
    assert_eq!(code, 0);
    let heads = headlines(&out);
    assert_eq!(heads.len(), 5, "{out}");
    assert!(
        heads[2].starts_with("#4 ")
            && heads[2]
                .contains("192.0.2.1:4500 -> 192.0.2.2:4500 IP-fragment id=0x4242 offset=0 held=2"),
        "{out}"
    );
    assert!(
        heads[3].starts_with("#6 ") && heads[3].contains("IKE_AUTH I request msgid=1"),
        "{out}"
    );
    assert!(heads[3].contains("ip_fragments=4"), "{out}");
    assert!(
        out.contains("decrypted\n    IDi FQDN left.ike.test"),
        "{out}"
    );
    assert!(heads[4].contains("IKE_AUTH R response"), "{out}");
    assert!(out.contains("3 IP fragments, 0 errors"), "{out}");
}

/// An IPv4/UDP packet rewritten as IPv6 with a Destination Options header, 192.0.2.x becoming
/// 2001:db8::x.
fn to_ipv6(ip: &[u8]) -> Vec<u8> {
    let udp = &ip[20..];
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&u16::try_from(8 + udp.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&[60, 64]);
    for host in [ip[15], ip[19]] {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = host;
        p.extend_from_slice(&a);
    }
    p.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // Destination Options: PadN
    p.extend_from_slice(udp);
    p
}

#[test]
fn ipv6_captures_decode_like_ipv4_ones() {
    for name in ["ike_all.pcap", "esp.pcap"] {
        let original = decoded(&testdata(name))
            .replace("192.0.2.1:", "[2001:db8::1]:")
            .replace("192.0.2.2:", "[2001:db8::2]:");
        let (_, frames) = frames_of(&testdata(name));
        let v6: Vec<_> = frames
            .iter()
            .map(|(t, f)| (*t, to_ipv6(&f[14..])))
            .collect();
        let path = scratch(&format!("{name}.ipv6.pcap"));
        std::fs::write(
            &path,
            write::pcap(DataLink::RAW, false, false, &v6).unwrap(),
        )
        .unwrap();
        let out = decoded(path.to_str().unwrap());
        assert!(out.contains("[2001:db8::1]:"), "{out}");
        assert_eq!(out, original);
    }
}
