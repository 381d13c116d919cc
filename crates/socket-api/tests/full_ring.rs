//! A receive ring far smaller than a burst of segments: the sending stack keeps what the device
//! refuses queued (in its batch and in the engine) and sends it when the ring drains, so 300
//! connections opened at once all come up and echo without a single frame lost (before, the
//! frames of a full ring were dropped and each lost SYN waited a 1 s retransmission).
//!
//! Both contexts run to completion on this thread, driven turn by turn (bounded in turns, not
//! in time).

use std::net::{Ipv4Addr, SocketAddrV4};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

const CONNS: usize = 300;
const PORT: u16 = 5000;

fn conf(port: &str, ip: &str) -> MtcpConf {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\nmax_concurrency = 1000\n\
         rcvbuf = 4096\nsndbuf = 4096\nrun_mode = rtc\ndrain_timeout_ms = 0\n"
    ))
    .unwrap()
}

#[test]
fn a_full_ring_holds_segments_back_instead_of_losing_them() {
    let switch = MemSwitch::new(MemConfig {
        ring_size: 16,
        pool_size: 256,
        ..MemConfig::default()
    })
    .unwrap();
    let server = Mtcp::with_switch(conf("mem0", "198.18.0.1"), &switch, 0).unwrap();
    let client = Mtcp::with_switch(conf("mem1", "198.18.0.2"), &switch, 1).unwrap();
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
        .unwrap();
    s.listen(l, CONNS as i32).unwrap();
    s.setsock_nonblock(l).unwrap();
    let to = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), PORT);
    let socks: Vec<i32> = (0..CONNS)
        .map(|_| {
            let k = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
            c.setsock_nonblock(k).unwrap();
            let _ = c.connect(k, to);
            k
        })
        .collect();
    let mut accepted = Vec::new();
    for _ in 0..100_000 {
        c.poll();
        s.poll();
        while let Ok((a, _)) = s.accept(l) {
            s.setsock_nonblock(a).unwrap();
            accepted.push(a);
        }
        if accepted.len() == CONNS {
            break;
        }
    }
    assert_eq!(
        accepted.len(),
        CONNS,
        "every connection came up; server {:?}, client {:?}",
        server.snapshots(),
        client.snapshots()
    );
    // One request on every connection at once, echoed back.
    for (i, &k) in socks.iter().enumerate() {
        assert_eq!(c.write(k, &[i as u8; 64]), Ok(64));
    }
    let mut buf = [0u8; 64];
    let mut echoed = 0;
    let mut answered = vec![false; CONNS];
    for _ in 0..100_000 {
        c.poll();
        s.poll();
        for &a in &accepted {
            if let Ok(n @ 1..) = s.read(a, &mut buf) {
                assert_eq!(s.write(a, &buf[..n]), Ok(n));
            }
        }
        for (i, &k) in socks.iter().enumerate() {
            if !answered[i] && c.read(k, &mut buf) == Ok(64) {
                assert_eq!(buf, [i as u8; 64], "echo on connection {i}");
                answered[i] = true;
                echoed += 1;
            }
        }
        if echoed == CONNS {
            break;
        }
    }
    assert_eq!(echoed, CONNS, "every request was echoed");
    for (side, m) in [("server", &server), ("client", &client)] {
        for snap in m.snapshots() {
            assert_eq!(snap.counters.tx_errors, 0, "{side} lost frames: {snap:?}");
            // Each connection: SYN or SYN-ACK, ACK, a request or an echo, and its ACK; a lost
            // frame would have been sent again (a retransmission adds a frame).
            assert!(
                snap.counters.tx_packets <= 4 * CONNS as u64 + 1,
                "{side} sent {} frames for {CONNS} connections",
                snap.counters.tx_packets
            );
        }
    }
}
