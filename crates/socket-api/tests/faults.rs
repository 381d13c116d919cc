//! The `fault_*` keys of mtcp.conf: two instances on one in-memory switch whose ports drop,
//! duplicate, reorder and delay frames still move data byte-exact, and the impairment is really
//! there (the transfer needs retransmissions).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Error, Mtcp, MtcpConf};

const LEN: usize = 1_000_000;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 9)) as u8
}

fn conf(port: &str, ip: &str, seed: u32) -> MtcpConf {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\nmax_concurrency = 64\n\
         rcvbuf = 65536\nrun_mode = rtc\nfault_loss = 0.02\nfault_reorder = 0.02\n\
         fault_duplicate = 0.01\nfault_delay_ms = 1\nfault_seed = {seed}\n\
         drain_timeout_ms = 200\n"
    ))
    .unwrap()
}

#[test]
fn byte_exact_through_loss_reorder_duplicate_delay() {
    let switch = MemSwitch::new(MemConfig::default()).unwrap();
    let server = Mtcp::with_switch(conf("mem0", "198.18.0.1", 1), &switch, 0).unwrap();
    let client = Mtcp::with_switch(conf("mem1", "198.18.0.2", 2), &switch, 1).unwrap();
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    s.setsock_nonblock(l).unwrap();
    s.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000))
        .unwrap();
    s.listen(l, 4).unwrap();
    let cs = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    c.setsock_nonblock(cs).unwrap();
    match c.connect(cs, SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 7000)) {
        Ok(()) | Err(Error::InProgress) => {}
        Err(e) => panic!("connect: {e}"),
    }
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    let (mut sent, mut got, mut a) = (0usize, Vec::with_capacity(LEN), None);
    let mut shut = false;
    let mut retrans = 0;
    let mut buf = vec![0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "timed out: sent {sent}, got {}",
            got.len()
        );
        s.poll();
        c.poll();
        if a.is_none() {
            a = s.accept(l).ok().map(|(id, _)| id);
        }
        if sent < LEN {
            match c.write(cs, &data[sent..]) {
                Ok(n) => sent += n,
                Err(Error::Again | Error::NotConn) => {}
                Err(e) => panic!("write: {e}"),
            }
        } else if !shut {
            retrans = c.tcp_info(cs).unwrap().total_retrans;
            c.shutdown(cs, libc::SHUT_WR).unwrap();
            shut = true;
        }
        if let Some(a) = a {
            match s.read(a, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(Error::Again) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
    assert_eq!(got.len(), LEN);
    assert!(got == data, "data differs");
    // With 2 % loss each way over ~700 segments, no retransmission at all means no impairment.
    assert!(
        retrans > 0,
        "no retransmissions: the fault_* keys had no effect"
    );
    println!("client retransmissions: {retrans}");
}
