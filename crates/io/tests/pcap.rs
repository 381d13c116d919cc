//! The pcap wrapper writes files that tcpdump reads.

use std::process::Command;

use mtcp_io::mem::MemSwitch;
use mtcp_io::pcap::{self, Pcap};
use mtcp_io::{Burst, Device, Queue, TxFrame};

#[test]
fn capture_holds_both_directions_and_tcpdump_reads_it() {
    let dir = std::env::temp_dir().join(format!("mtcp-io-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("both.pcap");
    let (pa, mut pb) = MemSwitch::pair();
    let (mac_a, mac_b) = (pa.info().mac, pb.info().mac);
    let mut a = Pcap::create(pa, &path).unwrap();
    let (mut qa, mut qb) = (a.queue(0).unwrap(), pb.queue(0).unwrap());
    let udp = |f: &mut mtcp_io::pool::PoolBuf, src: [u8; 6], dst: [u8; 6], id: u8| {
        f.set_len(60);
        f.fill(0);
        f[0..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&src);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&28u16.to_be_bytes());
        f[22] = 64;
        f[23] = 17;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&[198, 18, 0, 2]);
        f[34..36].copy_from_slice(&1234u16.to_be_bytes());
        f[36..38].copy_from_slice(&(5000 + u16::from(id)).to_be_bytes());
        f[38..40].copy_from_slice(&8u16.to_be_bytes());
    };
    let mut burst = Burst::new();
    for i in 0..5 {
        let mut f = qa.tx_alloc().unwrap();
        udp(&mut f, mac_a.0, mac_b.0, i);
        let _ = burst.push(f);
    }
    assert_eq!(qa.tx_burst(&mut burst).unwrap(), 5);
    let mut burst = Burst::new();
    for i in 0..3 {
        let mut f = qb.tx_alloc().unwrap();
        udp(&mut f, mac_b.0, mac_a.0, 100 + i);
        let _ = burst.push(f);
    }
    qb.tx_burst(&mut burst).unwrap();
    let mut rx = Burst::new();
    assert_eq!(qa.rx_burst(&mut rx).unwrap(), 3);
    drop((rx, qa, qb, a));

    let bytes = std::fs::read(&path).unwrap();
    let records = pcap::read(&bytes).unwrap();
    assert_eq!(records.len(), 8);
    assert!(
        records
            .iter()
            .all(|r| r.data.len() == 60 && r.orig_len == 60)
    );
    assert_eq!(&records[0].data[0..6], &mac_b.0);
    assert_eq!(&records[7].data[0..6], &mac_a.0);

    match Command::new("tcpdump")
        .args(["-r"])
        .arg(&path)
        .arg("-nn")
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "tcpdump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(text.lines().count(), 8, "{text}");
            assert!(
                text.contains("198.18.0.1.1234 > 198.18.0.2.5000: UDP"),
                "{text}"
            );
            assert!(text.contains("198.18.0.2.5102"), "{text}");
        }
        Err(e) => eprintln!("tcpdump not available ({e}); checked the file with pcap::read only"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn garbage_is_not_a_pcap_file() {
    assert!(pcap::read(b"not a pcap file at all, really").is_err());
    let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&65535u32.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&[0; 10]); // A record header cut short.
    assert!(pcap::read(&bytes).is_err());
}
