//! The attack tests' laboratory: the server, the legitimate client and the raw attacker on one
//! in-memory switch, and the helpers the tests share.

pub(crate) use std::net::{Ipv4Addr, SocketAddrV4};
pub(crate) use std::time::{Duration, Instant};

pub(crate) use mtcp_io::mem::{MemConfig, MemQueue, MemSwitch};
pub(crate) use mtcp_io::{Burst, Device, Queue, TxFrame};
pub(crate) use mtcp_socket_api::{Context, Error, Mtcp, MtcpConf};
pub(crate) use mtcp_wire::frame::{Frame, Network, Transport};
pub(crate) use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};
pub(crate) use mtcp_wire::{
    ChecksumCapabilities, EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Repr,
};

pub(crate) const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub(crate) const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub(crate) const PORT: u16 = 80;
/// Bytes of the legitimate download.
pub(crate) const TOTAL: usize = 8 << 20;
pub(crate) const SNDBUF: usize = 64 * 1024;
pub(crate) const RCVBUF: usize = 64 * 1024;
pub(crate) const BACKLOG: i32 = 128;
/// Spare buffer memory an idle engine keeps (`mtcp_tcp::Config::buffer_pool_floor_bytes`'s
/// default).
pub(crate) const POOL_FLOOR: usize = 64 * 1024;
/// Slowest the attacked download may be, relative to the same download without the attack.
pub(crate) const MAX_SLOWDOWN: f64 = 10.0;

pub(crate) fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 9)) as u8
}

pub(crate) fn conf(
    port: &str,
    ip: Ipv4Addr,
    max_concurrency: usize,
    max_num_buffers: usize,
) -> MtcpConf {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\n\
         max_concurrency = {max_concurrency}\nmax_num_buffers = {max_num_buffers}\n\
         sndbuf = {SNDBUF}\nrcvbuf = {RCVBUF}\ntcp_timewait = 1\ndrain_timeout_ms = 200\nrun_mode = rtc\n\
         tcp_timeout = -1\n"
    ))
    .unwrap()
}

/// The tests of this file run one at a time: each measures the resident memory of the process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resident memory of this process, from /proc/self/statm.
pub(crate) fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A small deterministic generator (xorshift64*).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

pub(crate) fn count(errors: &mut Vec<(Error, usize)>, e: Error) {
    match errors.iter_mut().find(|(x, _)| *x == e) {
        Some((_, n)) => *n += 1,
        None => errors.push((e, 1)),
    }
}

pub(crate) struct Served {
    pub(crate) sock: i32,
    pub(crate) sent: usize,
}

/// The three parties on one switch, driven from this thread (run to completion).
pub(crate) struct Lab {
    pub(crate) _switch: MemSwitch,
    pub(crate) _server_mtcp: Mtcp,
    pub(crate) _client_mtcp: Mtcp,
    pub(crate) s: Context,
    pub(crate) c: Context,
    pub(crate) atk: MemQueue,
    pub(crate) server_mac: EthernetAddress,
    pub(crate) atk_mac: EthernetAddress,
    pub(crate) listener: i32,
    pub(crate) served: Vec<Served>,
    pub(crate) data: Vec<u8>,
    /// Errors other than EAGAIN that the server's `accept` and `write` returned, with counts.
    pub(crate) server_errors: Vec<(Error, usize)>,
    /// Most buffer memory the server held at any turn.
    pub(crate) peak_buffer_bytes: usize,
    pub(crate) buffer_cap: usize,
}

impl Lab {
    pub(crate) fn new(
        max_concurrency: usize,
        max_num_buffers: usize,
        client_concurrency: usize,
    ) -> Lab {
        Lab::with_mtu(1500, max_concurrency, max_num_buffers, client_concurrency)
    }

    /// [`Lab::new`] on a switch that carries frames of `mtu` bytes of IP (the stacks' TCP still
    /// segments for 1500).
    pub(crate) fn with_mtu(
        mtu: usize,
        max_concurrency: usize,
        max_num_buffers: usize,
        client_concurrency: usize,
    ) -> Lab {
        let switch = MemSwitch::new(MemConfig {
            ports: 3,
            ring_size: 4096,
            pool_size: 8192,
            mtu,
            ..MemConfig::default()
        })
        .unwrap();
        let server_mtcp = Mtcp::with_switch(
            conf("mem0", SERVER, max_concurrency, max_num_buffers),
            &switch,
            0,
        )
        .unwrap();
        let client_mtcp = Mtcp::with_switch(
            conf("mem1", CLIENT, client_concurrency, client_concurrency),
            &switch,
            1,
        )
        .unwrap();
        let mut s = server_mtcp.create_context(0).unwrap();
        let c = client_mtcp.create_context(0).unwrap();
        let listener = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        s.bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))
            .unwrap();
        s.listen(listener, BACKLOG).unwrap();
        let server_mac = switch.port(0).info().mac;
        let mut ap = switch.port(2);
        let atk_mac = ap.info().mac;
        let atk = ap.queue(0).unwrap();
        Lab {
            _switch: switch,
            _server_mtcp: server_mtcp,
            _client_mtcp: client_mtcp,
            s,
            c,
            atk,
            server_mac,
            atk_mac,
            listener,
            served: Vec::new(),
            data: (0..TOTAL).map(pattern).collect(),
            server_errors: Vec::new(),
            peak_buffer_bytes: 0,
            buffer_cap: max_num_buffers * (SNDBUF + RCVBUF),
        }
    }

    pub(crate) fn buffer_bytes(&mut self) -> usize {
        self.s.with(|st| st.buffer_bytes()).unwrap()
    }

    pub(crate) fn connections(&mut self) -> usize {
        self.s.with(|st| st.connection_count()).unwrap()
    }

    /// The server application: accepts what it can and sends every connection the pattern,
    /// then closes it. It keeps serving through errors (they are counted).
    pub(crate) fn serve(&mut self) {
        loop {
            match self.s.accept(self.listener) {
                Ok((sock, _)) => self.served.push(Served { sock, sent: 0 }),
                Err(Error::Again) => break,
                Err(e) => {
                    count(&mut self.server_errors, e);
                    break;
                }
            }
        }
        let (s, data, errors) = (&mut self.s, &self.data, &mut self.server_errors);
        // Once a write finds the buffer memory exhausted, the others wait for the next turn.
        let mut out_of_memory = false;
        self.served.retain_mut(|v| {
            while v.sent < TOTAL && !out_of_memory {
                match s.write(v.sock, &data[v.sent..TOTAL.min(v.sent + 64 * 1024)]) {
                    Ok(n) => v.sent += n,
                    Err(Error::Again) => return true,
                    Err(e) => {
                        if e != Error::NoMem {
                            // A peer reset: the connection is gone.
                            count(errors, e);
                            let _ = s.close(v.sock);
                            return false;
                        }
                        count(errors, e);
                        out_of_memory = true;
                        return true;
                    }
                }
            }
            if v.sent < TOTAL {
                return true;
            }
            let _ = s.close(v.sock);
            false
        });
    }

    /// One turn: the server, its application, the client; what reached the attacker is dropped.
    /// Each stack polls until its queue is drained (a busy-polling core keeps up with its link;
    /// one burst per turn would let any flood overrun the switch's rings and drop legitimate
    /// frames there, which would measure the link, not the stack).
    pub(crate) fn turn(&mut self) {
        for _ in 0..256 {
            if self.s.poll() == 0 {
                break;
            }
        }
        self.serve();
        for _ in 0..256 {
            if self.c.poll() == 0 {
                break;
            }
        }
        let mut rx = Burst::new();
        while self.atk.rx_burst(&mut rx).unwrap_or(0) > 0 {
            rx.clear();
        }
        let b = self.buffer_bytes();
        self.peak_buffer_bytes = self.peak_buffer_bytes.max(b);
        assert!(
            b <= self.buffer_cap,
            "buffer memory {b} past the cap {}",
            self.buffer_cap
        );
    }

    /// Sends frames from the attacker; returns how many the switch took (a full ring refuses
    /// the rest, as a NIC would drop them).
    pub(crate) fn inject(&mut self, frames: &[Vec<u8>]) -> usize {
        let mut taken = 0;
        for chunk in frames.chunks(32) {
            let mut burst = Burst::new();
            for f in chunk {
                let mut buf = self.atk.tx_alloc().expect("attacker tx buffer");
                let len = f.len().min(buf.capacity());
                buf.set_len(len);
                buf[..len].copy_from_slice(&f[..len]);
                let _ = burst.push(buf);
            }
            taken += self.atk.tx_burst(&mut burst).unwrap_or(0);
        }
        taken
    }

    /// A TCP frame from `src` to the server, built by mtcp-wire with correct checksums.
    pub(crate) fn tcp_frame(&self, src: Ipv4Addr, seg: &TcpRepr<'_>) -> Vec<u8> {
        let frame = Frame {
            ethernet: EthernetRepr {
                src_addr: self.atk_mac,
                dst_addr: self.server_mac,
                vlan: None,
                ethertype: EtherType::Ipv4,
            },
            network: Network::Ipv4(
                Ipv4Repr::new(src, SERVER, IpProtocol::Tcp, seg.buffer_len()),
                Transport::Tcp(seg.clone()),
            ),
        };
        let mut buf = vec![0; frame.buffer_len()];
        frame
            .emit(&mut buf, &ChecksumCapabilities::software())
            .unwrap();
        buf
    }

    /// Downloads the pattern with the legitimate client, calling `attack` every turn; checks
    /// every byte and returns how long it took.
    pub(crate) fn download(&mut self, attack: &mut dyn FnMut(&mut Lab, &Flow)) -> Duration {
        let start = Instant::now();
        let sock = self.c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        match self.c.connect(sock, SocketAddrV4::new(SERVER, PORT)) {
            Ok(()) | Err(Error::InProgress) => {}
            Err(e) => panic!("connect: {e}"),
        }
        let mut got = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        let mut flow = Flow {
            client_port: 0,
            turn: 0,
        };
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "download stuck at {got} of {TOTAL} bytes"
            );
            self.turn();
            flow.turn += 1;
            if flow.client_port == 0 {
                flow.client_port = self.c.getsockname(sock).map_or(0, |a| a.port());
            }
            attack(self, &flow);
            match self.c.read(sock, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for (k, &b) in buf[..n].iter().enumerate() {
                        assert_eq!(b, pattern(got + k), "byte {} of the download", got + k);
                    }
                    got += n;
                }
                Err(Error::Again | Error::NotConn) => {}
                Err(e) => panic!("download read after {got} bytes: {e}"),
            }
        }
        assert_eq!(got, TOTAL, "download ended early");
        self.c.close(sock).unwrap();
        start.elapsed()
    }

    /// Turns until the server holds no buffer memory (every connection finished), at most 10 s.
    pub(crate) fn settle(&mut self) -> usize {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            self.turn();
            if self.buffer_bytes() == 0 {
                return 0;
            }
        }
        self.buffer_bytes()
    }
}

/// What an attack may know of the legitimate flow (a blind attacker only its ports).
pub(crate) struct Flow {
    pub(crate) client_port: u16,
    pub(crate) turn: u64,
}

pub(crate) fn syn(sport: u16, seq: u32) -> TcpRepr<'static> {
    TcpRepr {
        src_port: sport,
        dst_port: PORT,
        seq_number: SeqNumber(seq),
        ack_number: SeqNumber(0),
        flags: TcpFlags::SYN,
        window_len: 64_240,
        urgent_pointer: 0,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some(Timestamps {
                tsval: seq,
                tsecr: 0,
            }),
            ..TcpOptions::default()
        },
        payload: &[],
    }
}

/// Baseline download, then `attack` beside a second one: byte-exact, within the bound.
pub(crate) fn assert_survives(lab: &mut Lab, name: &str, attack: &mut dyn FnMut(&mut Lab, &Flow)) {
    let base = lab.download(&mut |_, _| {});
    let attacked = lab.download(attack);
    let ratio = attacked.as_secs_f64() / base.as_secs_f64().max(0.001);
    eprintln!("{name}: download {base:?} alone, {attacked:?} under attack (x{ratio:.1})");
    assert!(
        attacked <= base.max(Duration::from_millis(50)).mul_f64(MAX_SLOWDOWN),
        "{name}: the download took {attacked:?} under attack, {base:?} without"
    );
}

impl Lab {
    /// Moves both stacks' clocks forward.
    pub(crate) fn advance(&mut self, ms: u64, client_too: bool) {
        let _ = self.s.with(move |st| st.advance_clock(ms));
        if client_too {
            let _ = self.c.with(move |st| st.advance_clock(ms));
        }
    }

    pub(crate) fn connect(&mut self) -> i32 {
        let sock = self.c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        match self.c.connect(sock, SocketAddrV4::new(SERVER, PORT)) {
            Ok(()) | Err(Error::InProgress) => sock,
            Err(e) => panic!("connect: {e}"),
        }
    }
}
