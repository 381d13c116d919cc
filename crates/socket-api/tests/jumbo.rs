//! The engine's segments follow the link's MTU: on an in-memory switch that carries 9000-byte
//! frames a stream leaves in 8960-byte segments, on a 1500-byte one in 1460-byte segments
//! (the engine's MTU once started from 1500 whatever the port's, so a jumbo link carried six
//! times the segments it needed); `tcp_mtu = 1500` in mtcp.conf holds them to 1460 bytes.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Error, Mtcp, MtcpConf};

const BYTES: usize = 200_000;

fn conf(port: &str, ip: &str, extra: &str) -> MtcpConf {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\nmax_concurrency = 4\n\
         rcvbuf = 65536\nsndbuf = 65536\nrun_mode = rtc\ndrain_timeout_ms = 200\n{extra}"
    ))
    .unwrap()
}

/// Streams [`BYTES`] from the client to the server over a switch of IP MTU `mtu`, both
/// configs ending in `extra`; returns the client's frames sent and bytes sent over that time.
fn stream(mtu: usize, extra: &str) -> (u64, u64) {
    let switch = MemSwitch::new(MemConfig {
        mtu,
        ..MemConfig::default()
    })
    .unwrap();
    let server = Mtcp::with_switch(conf("mem0", "198.18.0.1", extra), &switch, 0).unwrap();
    let client = Mtcp::with_switch(conf("mem1", "198.18.0.2", extra), &switch, 1).unwrap();
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.setsock_nonblock(l).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5001))
        .unwrap();
    s.listen(l, 1).unwrap();
    let k = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    c.setsock_nonblock(k).unwrap();
    match c.connect(k, SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 5001)) {
        Ok(()) | Err(Error::InProgress) => {}
        Err(e) => panic!("connect: {e}"),
    }
    let before = client.snapshots()[0].counters;
    let deadline = Instant::now() + Duration::from_secs(10);
    let a = loop {
        c.poll();
        s.poll();
        if let Ok((a, _)) = s.accept(l) {
            break a;
        }
        assert!(Instant::now() < deadline, "no connection");
    };
    let data = vec![0x5a_u8; BYTES];
    let mut buf = vec![0u8; 64 * 1024];
    let (mut written, mut read) = (0, 0);
    while read < BYTES {
        assert!(Instant::now() < deadline, "{read} of {BYTES} bytes arrived");
        match c.write(k, &data[written..]) {
            Ok(n) => written += n,
            Err(Error::Again) => {}
            Err(e) => panic!("write: {e}"),
        }
        c.poll();
        s.poll();
        match s.read(a, &mut buf) {
            Ok(n) => read += n,
            Err(Error::Again) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let after = client.snapshots()[0].counters;
    (
        after.tx_packets - before.tx_packets,
        after.tx_bytes - before.tx_bytes,
    )
}

#[test]
fn segments_fill_a_jumbo_link_mtu() {
    let (frames, bytes) = stream(9000, "");
    // 23 full segments of 8960 bytes carry the stream, with the handshake's ACK and a few
    // segments cut short by the window.
    assert!(
        frames <= 40,
        "{frames} frames ({bytes} bytes) for {BYTES} bytes at MTU 9000"
    );
    assert!(bytes >= BYTES as u64);
}

#[test]
fn segments_fit_a_1500_byte_link_or_tcp_mtu() {
    for (mtu, extra) in [(1500, ""), (9000, "tcp_mtu = 1500\n")] {
        let (frames, bytes) = stream(mtu, extra);
        // At least 137 segments of at most 1460 bytes.
        assert!(
            frames >= BYTES.div_ceil(1460) as u64,
            "{frames} frames ({bytes} bytes) for {BYTES} bytes at MTU {mtu}, `{extra}`"
        );
    }
}
