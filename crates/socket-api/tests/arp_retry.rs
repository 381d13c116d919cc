//! An unanswered ARP request is asked again: frames waiting for a next hop whose request (or
//! reply) was lost are not held forever. A connect to an address nobody answers makes one ARP
//! request at once and another when the SYN is retransmitted, and no more in between.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_io::{Burst, Device, Queue};
use mtcp_socket_api::{Error, Mtcp, MtcpConf};

/// ARP requests for `target` seen on `q` so far.
fn arp_requests<Q: Queue>(q: &mut Q, target: Ipv4Addr) -> usize {
    let mut rx: Burst<Q::Rx> = Burst::new();
    let n = q.rx_burst(&mut rx).unwrap();
    let mut count = 0;
    for f in rx.iter().take(n) {
        // Ethernet type ARP, operation request, target protocol address at bytes 38..42.
        if f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 1] {
            assert_eq!(f[38..42], target.octets());
            count += 1;
        }
    }
    count
}

#[test]
fn unanswered_arp_is_asked_again() {
    for mode in ["rtc", "threaded"] {
        let switch = MemSwitch::new(MemConfig::default()).unwrap();
        let ours = Mtcp::with_switch(
            MtcpConf::parse(&format!(
                "io = mem\nnum_cores = 1\nport = mem0\nmem0.ip = 198.18.0.2/24\nrun_mode = {mode}\n"
            ))
            .unwrap(),
            &switch,
            0,
        )
        .unwrap();
        let mut watch = switch.port(1).queue(0).unwrap();
        let mut c = ours.create_context(0).unwrap();
        let nobody = Ipv4Addr::new(198, 18, 0, 9);
        let s = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        assert_eq!(
            c.connect(s, SocketAddrV4::new(nobody, 80)),
            Err(Error::InProgress)
        );
        // The SYN's first retransmission comes after the initial RTO (1 s); wait for a second
        // request at most 10 s.
        let start = Instant::now();
        let mut seen = 0;
        let mut first_two = Vec::new();
        while seen < 2 && start.elapsed() < Duration::from_secs(10) {
            c.poll();
            let n = arp_requests(&mut watch, nobody);
            for _ in 0..n {
                first_two.push(start.elapsed());
            }
            seen += n;
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(seen >= 2, "{mode}: {seen} ARP request(s) in 10 s");
        // Not a storm: the second request is the retransmission's, not the next frame's.
        assert!(
            first_two[1] - first_two[0] >= Duration::from_millis(400),
            "{mode}: requests at {first_two:?}"
        );
    }
}
