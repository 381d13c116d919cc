//! Any bytes as a script against the whole stack: a server instance (198.18.0.1 and 2001:2::1,
//! listening on port 80 of both families: a dual-stack listener on `::`) and a client instance
//! (198.18.0.2 and 2001:2::2) on an in-memory switch, started with one established IPv4
//! connection over which the server streams a known pattern, and a raw port from which the
//! fuzzer sends frames. Operations: arbitrary frames (raw, or Ethernet and IPv4 or IPv6 headers
//! built by mtcp-wire in front of fuzzed TCP bytes, on the real connection's ports or others,
//! with or without correct checksums), turns of both stacks, clock jumps of up to a minute, and
//! socket calls on either side (read, write, close, abort, connect over IPv4 or IPv6, accept).
//!
//! Nothing may panic, and while no fuzzed frame claimed to come from the client's IPv4 address,
//! what the client reads on the first connection is exactly the server's pattern, in order
//! (frames from the client's IPv6 address belong to other flows and must not disturb it).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use libfuzzer_sys::fuzz_target;
use mtcp_io::mem::{MemConfig, MemQueue, MemSwitch};
use mtcp_io::{Burst, Device, Queue, TxFrame};
use mtcp_socket_api::{Context, Error, Mtcp, MtcpConf};
use mtcp_wire::checksum;
use mtcp_wire::{EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Repr, Ipv6Repr};

#[path = "common/cursor.rs"]
mod cursor;
use cursor::In;

const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const SOCK_STREAM: i32 = 1;
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const FUZZER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const FUZZER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 9);

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 9)) as u8
}

struct World {
    _switch: MemSwitch,
    _server: Mtcp,
    _client: Mtcp,
    s: Context,
    c: Context,
    raw: MemQueue,
    server_mac: EthernetAddress,
    raw_mac: EthernetAddress,
    listener: i32,
    /// The first connection: server side, client side, bytes the server wrote and the
    /// client read.
    first: (i32, i32, usize, usize),
    server_socks: Vec<i32>,
    client_socks: Vec<i32>,
    /// A fuzzed frame claimed the client's address: the first stream's content is unknown.
    tainted: bool,
    buf: Vec<u8>,
}

fn conf(port: &str, ip: Ipv4Addr, ip6: Ipv6Addr) -> MtcpConf {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\n{port}.ip6 = {ip6}/64\n\
         max_concurrency = 64\n\
         max_num_buffers = 16\nsndbuf = 16384\nrcvbuf = 8192\ntcp_timewait = 1\n\
         drain_timeout_ms = 0\nrun_mode = rtc\n"
    ))
    .expect("config")
}

impl World {
    fn new() -> Option<World> {
        let switch = MemSwitch::new(MemConfig {
            ports: 3,
            ring_size: 256,
            pool_size: 512,
            ..MemConfig::default()
        })
        .ok()?;
        let server = Mtcp::with_switch(conf("mem0", SERVER, SERVER6), &switch, 0).ok()?;
        let client = Mtcp::with_switch(conf("mem1", CLIENT, CLIENT6), &switch, 1).ok()?;
        let mut s = server.create_context(0).ok()?;
        let mut c = client.create_context(0).ok()?;
        let listener = s.socket(AF_INET6, SOCK_STREAM, 0).ok()?;
        s.bind(listener, SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 80))
            .ok()?;
        s.listen(listener, 8).ok()?;
        let cs = c.socket(AF_INET, SOCK_STREAM, 0).ok()?;
        let _ = c.connect(cs, SocketAddrV4::new(SERVER, 80));
        let mut ss = None;
        for _ in 0..50 {
            s.poll();
            c.poll();
            if let Ok((a, _)) = s.accept(listener) {
                ss = Some(a);
                break;
            }
        }
        let server_mac = switch.port(0).info().mac;
        let mut rp = switch.port(2);
        let raw_mac = rp.info().mac;
        let raw = rp.queue(0).ok()?;
        Some(World {
            _switch: switch,
            _server: server,
            _client: client,
            s,
            c,
            raw,
            server_mac,
            raw_mac,
            listener,
            first: (ss?, cs, 0, 0),
            server_socks: Vec::new(),
            client_socks: Vec::new(),
            tainted: false,
            buf: vec![0; 20_000],
        })
    }

    fn turn(&mut self) {
        self.s.poll();
        self.c.poll();
        let mut rx = Burst::new();
        while self.raw.rx_burst(&mut rx).unwrap_or(0) > 0 {
            rx.clear();
        }
        // The server streams the pattern on the first connection; the client checks it.
        let (ss, cs, mut wrote, mut read) = self.first;
        let chunk: Vec<u8> = (wrote..wrote + 4096).map(pattern).collect();
        if let Ok(n) = self.s.write(ss, &chunk) {
            wrote += n;
        }
        if let Ok(n) = self.c.read(cs, &mut self.buf) {
            if !self.tainted {
                for (k, &b) in self.buf[..n].iter().enumerate() {
                    assert_eq!(b, pattern(read + k), "byte {} of the stream", read + k);
                }
            }
            read += n;
            assert!(read <= wrote, "read {read} of {wrote} written");
        }
        self.first = (ss, cs, wrote, read);
    }

    fn send_raw(&mut self, frame: &[u8]) {
        let Some(mut buf) = self.raw.tx_alloc() else {
            return;
        };
        let len = frame.len().min(buf.capacity());
        buf.set_len(len);
        buf[..len].copy_from_slice(&frame[..len]);
        let mut burst = Burst::new();
        let _ = burst.push(buf);
        let _ = self.raw.tx_burst(&mut burst);
    }

    /// Ethernet and IPv4 or IPv6 headers by mtcp-wire in front of `tcp` (fuzzed bytes), from
    /// `src` to the server's address of its family: ports set to the first connection's when
    /// `on_flow`, the TCP checksum made right when `good_sum`.
    fn tcp_frame(&mut self, src: IpAddr, tcp: &[u8], on_flow: bool, good_sum: bool) -> Vec<u8> {
        let mut tcp = tcp.to_vec();
        if on_flow && tcp.len() >= 4 {
            let cport = self.c.getsockname(self.first.1).map_or(0, |a| a.port());
            tcp[..2].copy_from_slice(&cport.to_be_bytes());
            tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        }
        if good_sum && tcp.len() >= 18 {
            tcp[16] = 0;
            tcp[17] = 0;
            let pseudo = match src {
                IpAddr::V4(a) => checksum::pseudo_header_sum(a, SERVER, 6, tcp.len() as u16),
                IpAddr::V6(a) => {
                    checksum::pseudo_header_sum_ipv6(&a, &SERVER6, 6, tcp.len() as u32)
                }
            };
            let c = !checksum::fold(pseudo + checksum::sum(&tcp));
            tcp[16..18].copy_from_slice(&c.to_be_bytes());
        }
        let ethertype = match src {
            IpAddr::V4(_) => EtherType::Ipv4,
            IpAddr::V6(_) => EtherType::Ipv6,
        };
        let eth = EthernetRepr {
            src_addr: self.raw_mac,
            dst_addr: self.server_mac,
            vlan: None,
            ethertype,
        };
        let ip_len = if src.is_ipv4() { 20 } else { 40 };
        let mut out = vec![0u8; 14 + ip_len + tcp.len()];
        let n = eth.emit(&mut out).expect("ethernet");
        match src {
            IpAddr::V4(a) => {
                let ip = Ipv4Repr::new(a, SERVER, IpProtocol::Tcp, tcp.len());
                ip.emit(&mut out[n..], checksum::Checksum::Both)
                    .expect("ipv4");
            }
            IpAddr::V6(a) => {
                let ip = Ipv6Repr::new(a, SERVER6, IpProtocol::Tcp, tcp.len());
                ip.emit(&mut out[n..]).expect("ipv6");
            }
        }
        out[n + ip_len..].copy_from_slice(&tcp);
        out
    }

    /// One socket call on the server (`side` 0) or the client (1).
    fn call(&mut self, side: u8, op: u8, k: usize) {
        let (ctx, socks) = if side == 0 {
            (&mut self.s, &mut self.server_socks)
        } else {
            (&mut self.c, &mut self.client_socks)
        };
        let pick = socks.get(k % socks.len().max(1)).copied();
        match op % 6 {
            0 => {
                if let Some(s) = pick {
                    let _ = ctx.read(s, &mut self.buf[..k % 20_000]);
                }
            }
            1 => {
                if let Some(s) = pick {
                    let data: Vec<u8> = (0..k % 20_000).map(pattern).collect();
                    match ctx.write(s, &data) {
                        Ok(n) => assert!(n <= data.len()),
                        Err(Error::Again | Error::NoMem | Error::NotConn) => {}
                        Err(_) => {}
                    }
                }
            }
            2 | 3 => {
                if let Some(s) = pick {
                    let _ = if op % 6 == 2 {
                        ctx.close(s)
                    } else {
                        ctx.abort(s)
                    };
                    socks.retain(|&x| x != s);
                }
            }
            4 => {
                if side == 1 {
                    let (domain, server) = if k % 2 == 0 {
                        (AF_INET, SocketAddr::from(SocketAddrV4::new(SERVER, 80)))
                    } else {
                        (AF_INET6, SocketAddr::new(SERVER6.into(), 80))
                    };
                    if let Ok(s) = ctx.socket(domain, SOCK_STREAM, 0) {
                        let _ = ctx.connect(s, server);
                        socks.push(s);
                    }
                }
            }
            _ => {
                if side == 0 {
                    while let Ok((s, _)) = ctx.accept(self.listener) {
                        socks.push(s);
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(mut w) = World::new() else {
        return;
    };
    let mut inp = In(data);
    let mut ops = 0;
    while !inp.0.is_empty() && ops < 200 {
        ops += 1;
        let op = inp.u8();
        match op % 8 {
            // Any bytes as a frame, from the raw port.
            0 => {
                let len = usize::from(inp.u16() % 1600);
                let frame = inp.take(len).to_vec();
                w.send_raw(&frame);
            }
            // Fuzzed TCP bytes in good Ethernet and IPv4 or IPv6 headers.
            1 | 2 => {
                let flags = inp.u8();
                let len = usize::from(inp.u16() % 1500);
                let tcp = inp.take(len).to_vec();
                let src: IpAddr = match (flags & 1 != 0, flags & 8 != 0) {
                    (true, false) => CLIENT.into(),
                    (false, false) => FUZZER.into(),
                    (true, true) => CLIENT6.into(),
                    (false, true) => FUZZER6.into(),
                };
                w.tainted |= src == IpAddr::V4(CLIENT);
                let frame = w.tcp_frame(src, &tcp, flags & 2 != 0, flags & 4 == 0);
                w.send_raw(&frame);
            }
            3 | 4 => {
                for _ in 0..=inp.u8() % 8 {
                    w.turn();
                }
            }
            5 => {
                let ms = u64::from(inp.u16()).min(60_000);
                let _ = w.s.with(move |st| st.advance_clock(ms));
                let _ = w.c.with(move |st| st.advance_clock(ms));
            }
            _ => {
                let side = inp.u8();
                let k = usize::from(inp.u16());
                w.call(side & 1, side >> 1, k);
            }
        }
    }
    for _ in 0..20 {
        w.turn();
    }
});
