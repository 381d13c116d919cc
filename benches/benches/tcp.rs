//! TCP engine benchmarks (mtcp-tcp, engine only: segments are handed over as `TcpRepr`, not
//! serialised): the established fast path per segment, connection setup and teardown between
//! two engines (beside the Linux kernel doing the same over loopback sockets), and per-segment
//! and timer costs with 10 000 and 100 000 open connections.

use std::hint::black_box;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mtcp_tcp::{Config, Duration, Engine, Handle, Instant, Keepalive, State};
use mtcp_wire::tcp::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 80;
const MSS: usize = 1448;

/// A segment with an owned payload.
struct Seg {
    src: IpAddr,
    dst: IpAddr,
    repr: TcpRepr<'static>,
    payload: Vec<u8>,
}

impl Seg {
    fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            payload: &self.payload,
            ..self.repr.clone()
        }
    }
}

fn collect(e: &mut Engine, now: Instant, out: &mut Vec<Seg>) -> usize {
    e.dispatch(now, |src, dst, seg| {
        out.push(Seg {
            src,
            dst,
            repr: TcpRepr {
                payload: &[],
                ..seg.clone()
            },
            payload: seg.payload.to_vec(),
        });
    })
}

/// Segments in flight between two engines. Their payload buffers are reused, so once warmed up
/// moving a segment allocates nothing: the timed loops measure the engines, not the allocator.
#[derive(Default)]
struct Wire {
    segs: Vec<Seg>,
    spare: Vec<Seg>,
}

impl Wire {
    /// Everything `e` has to send, copied onto the wire; returns the count.
    fn collect(&mut self, e: &mut Engine, now: Instant) -> usize {
        let Wire { segs, spare } = self;
        e.dispatch(now, |src, dst, seg| {
            let repr = TcpRepr {
                payload: &[],
                ..seg.clone()
            };
            let mut s = spare.pop().unwrap_or_else(|| Seg {
                src,
                dst,
                repr: repr.clone(),
                payload: Vec::new(),
            });
            (s.src, s.dst, s.repr) = (src, dst, repr);
            s.payload.clear();
            s.payload.extend_from_slice(seg.payload);
            segs.push(s);
        })
    }

    /// Hands every segment on the wire to `e`, in order.
    fn deliver(&mut self, e: &mut Engine, now: Instant) {
        let Wire { segs, spare } = self;
        for s in segs.drain(..) {
            e.on_segment(now, s.src, s.dst, &s.repr());
            spare.push(s);
        }
    }

    fn pop(&mut self) -> Option<Seg> {
        self.segs.pop()
    }
}

/// Two engines joined back to back (no loss, zero delay).
struct Pair {
    a: Engine,
    b: Engine,
    now: u64,
    wire: Wire,
}

impl Pair {
    fn new(config: Config) -> Pair {
        let mut b = Engine::new(config.clone(), [2; 16]);
        b.listen(B, PORT, 1024).unwrap();
        Pair {
            a: Engine::new(config, [1; 16]),
            b,
            now: 1_000,
            wire: Wire::default(),
        }
    }
    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }
    /// Lets both engines emit and delivers everything until both are quiet; returns segments.
    fn shuttle(&mut self) -> usize {
        let now = self.instant();
        let mut total = 0;
        loop {
            let mut n = self.wire.collect(&mut self.a, now);
            self.wire.deliver(&mut self.b, now);
            n += self.wire.collect(&mut self.b, now);
            self.wire.deliver(&mut self.a, now);
            total += n;
            if n == 0 && !self.a.has_output() && !self.b.has_output() {
                return total;
            }
        }
    }
    /// A full connection life: handshake, client close, server close, TIME-WAIT reaped.
    fn setup_teardown(&mut self) -> usize {
        let now = self.instant();
        let c = self.a.connect(now, A, 0, B, PORT).unwrap();
        let mut segs = self.shuttle();
        let s = self.b.accept(PORT).expect("accepted");
        self.a.close(c).unwrap();
        segs += self.shuttle();
        assert_eq!(self.b.recv(s, &mut [0u8; 16]), Ok(0));
        self.b.close(s).unwrap();
        segs += self.shuttle();
        // TIME-WAIT (1 ms here) ends.
        self.now += 2;
        let now = self.instant();
        self.a.poll_timers(now);
        self.b.poll_timers(now);
        self.a.events().for_each(drop);
        self.b.events().for_each(drop);
        segs
    }
}

fn pair_config() -> Config {
    Config {
        time_wait: Duration::from_millis(1),
        ..Config::default()
    }
}

/// An established connection between a pair; returns (client, server) handles.
fn established(p: &mut Pair) -> (Handle, Handle) {
    let now = p.instant();
    let c = p.a.connect(now, A, 0, B, PORT).unwrap();
    p.shuttle();
    let s = p.b.accept(PORT).unwrap();
    p.a.set_nodelay(c, true).unwrap();
    p.a.events().for_each(drop);
    p.b.events().for_each(drop);
    (c, s)
}

/// A sender with an established connection and a template ACK from its peer.
struct Sender {
    p: Pair,
    c: Handle,
    ack: Seg,
    now: Instant,
    next_ack: u32,
    sent: u64,
}

impl Sender {
    fn new() -> Sender {
        let mut p = Pair::new(pair_config());
        let (c, _s) = established(&mut p);
        p.a.send(c, &[7u8; MSS]).unwrap();
        p.shuttle();
        p.now += 200; // the server's delayed ACK
        let now = p.instant();
        p.b.poll_timers(now);
        p.wire.collect(&mut p.b, now);
        let ack = p.wire.pop().expect("delayed ACK");
        assert!(ack.payload.is_empty());
        p.a.on_segment(now, ack.src, ack.dst, &ack.repr());
        let next_ack = ack.repr.ack_number.0;
        Sender {
            p,
            c,
            ack,
            now,
            next_ack,
            sent: 0,
        }
    }
    /// Sends `data`, dispatches, acknowledges what went out; returns the segments emitted.
    fn round(&mut self, data: &[u8]) -> u64 {
        let Sender {
            p,
            c,
            ack,
            now,
            next_ack,
            sent,
        } = self;
        assert_eq!(p.a.send(*c, data), Ok(data.len()), "{:?}", p.a.info(*c));
        *sent += data.len() as u64;
        let n = p.a.dispatch(*now, |_, _, seg| {
            let end = seg.seq_number.0.wrapping_add(seg.payload.len() as u32);
            if end.wrapping_sub(*next_ack) as i32 > 0 {
                *next_ack = end;
            }
        });
        let seg = TcpRepr {
            ack_number: SeqNumber(*next_ack),
            window_len: u16::MAX,
            ..ack.repr.clone()
        };
        p.a.on_segment(*now, ack.src, ack.dst, &seg);
        n as u64
    }
}

fn fast_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_fast_path");

    // Data in → ACK out, at the receiver: a 1448-byte in-sequence segment (replayed from a
    // real one with the sequence number advanced), the application reads it, and every second
    // segment dispatch emits the ACK.
    {
        let mut p = Pair::new(pair_config());
        let (c, s) = established(&mut p);
        let now = p.instant();
        p.a.send(c, &[7u8; MSS]).unwrap();
        p.wire.collect(&mut p.a, now);
        let template = p.wire.pop().expect("a data segment");
        assert_eq!(template.payload.len(), MSS);
        p.b.on_segment(now, template.src, template.dst, &template.repr());
        let first = template.repr.seq_number.0.wrapping_add(MSS as u32);
        let mut seq = first;
        let mut buf = vec![0u8; 4 * MSS];
        let mut acks = 0u64;
        g.throughput(Throughput::Elements(2));
        g.bench_function("data_in_ack_out_1448B_per_2_segments", |bench| {
            bench.iter(|| {
                for _ in 0..2 {
                    let seg = TcpRepr {
                        seq_number: SeqNumber(seq),
                        payload: &template.payload,
                        ..template.repr.clone()
                    };
                    p.b.on_segment(now, template.src, template.dst, &seg);
                    seq = seq.wrapping_add(MSS as u32);
                    black_box(p.b.recv(s, &mut buf).unwrap());
                }
                acks += p.b.dispatch(now, |_, _, seg| {
                    black_box(seg.ack_number);
                }) as u64;
                p.b.events().for_each(drop);
            });
        });
        // (Criterion runs nothing when the benchmark is filtered out.)
        assert!(acks > 0 || seq == first, "the receiver never acknowledged");
        assert_eq!(p.b.state(s), Ok(State::Established));
    }

    // Data out: send 10 segments' worth, dispatch emits them, one cumulative ACK (crafted from
    // a real one) acknowledges everything emitted. A fresh connection every GiB: the engine
    // stalls once 2^31 bytes were acknowledged (see crates/tcp/tests/long_stream.rs).
    {
        let mut st = Sender::new();
        let data = vec![9u8; 10 * MSS];
        let (mut emitted, mut iters) = (0u64, 0u64);
        g.throughput(Throughput::Elements(10));
        g.bench_function("send_dispatch_1448B_per_10_segments", |bench| {
            bench.iter(|| {
                if st.sent > 1 << 30 {
                    st = Sender::new();
                }
                emitted += st.round(&data);
                iters += 1;
            });
        });
        assert_eq!(emitted, 10 * iters, "the sender held data back");
    }

    // Both engines, bulk transfer one way: the client (engine a) sends 64 KiB to the server
    // (engine b), which reads it all; b's ACKs flow back to a. Segments travel through reused
    // buffers (`Wire`), so nothing is allocated in the timed loop. A fresh connection every
    // GiB, as above.
    {
        let mut p = Pair::new(pair_config());
        let (mut c, mut s) = established(&mut p);
        let mut total = 0u64;
        let data = vec![5u8; 64 * 1024];
        let mut buf = vec![0u8; 64 * 1024];
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function("engine_pair_bulk_64KiB_client_to_server", |bench| {
            bench.iter(|| {
                if total > 1 << 30 {
                    p = Pair::new(pair_config());
                    (c, s) = established(&mut p);
                    total = 0;
                }
                total += data.len() as u64;
                let mut sent = 0;
                let mut got = 0;
                while got < data.len() {
                    if sent < data.len() {
                        sent += p.a.send(c, &data[sent..]).unwrap_or(0);
                    }
                    p.shuttle();
                    while let Ok(n) = p.b.recv(s, &mut buf) {
                        got += n;
                    }
                    p.now += 1;
                    let now = p.instant();
                    p.a.poll_timers(now);
                    p.b.poll_timers(now);
                }
            });
        });
    }
    g.finish();
}

/// One connection's life over the Linux kernel's loopback: connect, accept, client close,
/// server reads EOF and closes.
fn linux_setup_teardown(listener: &TcpListener) {
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    drop(client);
    assert_eq!(server.read(&mut [0u8; 16]).unwrap(), 0);
    drop(server);
}

fn setup_teardown(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_setup_teardown");
    g.throughput(Throughput::Elements(1));
    let mut p = Pair::new(pair_config());
    let mut segs = None;
    g.bench_function("engine_pair", |bench| {
        bench.iter(|| segs = Some(p.setup_teardown()));
    });
    if let Some(segs) = segs {
        assert!(
            segs >= 6,
            "a connection's life takes at least 6 segments, saw {segs}"
        );
    }
    assert_eq!(p.a.connection_count() + p.b.connection_count(), 0);

    // The same with 8 KiB socket buffers: how much of the above is buffer allocation.
    let mut small = Pair::new(Config {
        send_buffer_bytes: 8 * 1024,
        recv_buffer_bytes: 8 * 1024,
        ..pair_config()
    });
    g.bench_function("engine_pair_8KiB_buffers", |bench| {
        bench.iter(|| small.setup_teardown());
    });

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    g.bench_function("linux_loopback_sockets", |bench| {
        bench.iter(|| linux_setup_teardown(&listener));
    });
    g.finish();

    // The same two jobs timed back to back in this run, printed as a ratio.
    let n = 5_000u32;
    let t = std::time::Instant::now();
    for _ in 0..n {
        p.setup_teardown();
    }
    let ours = t.elapsed() / n;
    let t = std::time::Instant::now();
    for _ in 0..n {
        small.setup_teardown();
    }
    let ours_small = t.elapsed() / n;
    let t = std::time::Instant::now();
    for _ in 0..n {
        linux_setup_teardown(&listener);
    }
    let linux = t.elapsed() / n;
    let ratio = |d: std::time::Duration| linux.as_secs_f64() / d.as_secs_f64();
    println!(
        "setup+teardown per connection, {n} back to back: Linux loopback sockets {linux:?}; \
         mtcp-tcp engine pair {ours:?} (Linux / engine = {:.1}x), with 8 KiB buffers \
         {ours_small:?} ({:.1}x)",
        ratio(ours),
        ratio(ours_small)
    );
}

/// One engine (the server at B) holding `n` established connections, opened by hand-played
/// clients at 198.18.{1..}.x; returns the engine, handles, and each client's next seq/ack.
struct Many {
    e: Engine,
    conns: Vec<(Handle, Ipv4Addr, u16, u32, u32)>,
    template: TcpRepr<'static>,
}

fn many(n: usize, keepalive: Option<Keepalive>) -> Many {
    let config = Config {
        send_buffer_bytes: 2048,
        recv_buffer_bytes: 2048,
        max_connections: n + 16,
        timestamps: false,
        keepalive,
        ..Config::default()
    };
    let mut e = Engine::new(config, [3; 16]);
    e.listen(B, PORT, 64).unwrap();
    let now = Instant::from_millis(1_000);
    let mut conns = Vec::with_capacity(n);
    let mut out = Vec::new();
    let syn = TcpRepr {
        src_port: 0,
        dst_port: PORT,
        seq_number: SeqNumber(1_000),
        ack_number: SeqNumber(0),
        flags: TcpFlags::SYN,
        window_len: 65_535,
        urgent_pointer: 0,
        options: TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
        payload: &[],
    };
    for i in 0..n {
        let ip = Ipv4Addr::new(198, 18, 1 + (i / 50_000) as u8, (i % 200) as u8 + 1);
        let port = 10_000 + ((i / 200) % 250) as u16;
        let seg = TcpRepr {
            src_port: port,
            ..syn.clone()
        };
        e.on_segment(now, ip, B, &seg);
        collect(&mut e, now, &mut out);
        let synack = out.pop().expect("SYN-ACK");
        let our_ack = synack.repr.seq_number.0.wrapping_add(1);
        let ack = TcpRepr {
            src_port: port,
            seq_number: SeqNumber(1_001),
            ack_number: SeqNumber(our_ack),
            flags: TcpFlags::ACK,
            options: TcpOptions::default(),
            ..syn.clone()
        };
        e.on_segment(now, ip, B, &ack);
        let h = e.accept(PORT).expect("accepted");
        conns.push((h, ip, port, 1_001, our_ack));
    }
    e.events().for_each(drop);
    assert_eq!(e.connection_count(), n);
    let template = TcpRepr {
        flags: TcpFlags::ACK | TcpFlags::PSH,
        options: TcpOptions::default(),
        ..syn
    };
    Many { e, conns, template }
}

fn many_connections(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_many_connections");
    g.sample_size(20);
    let payload = [1u8; 64];
    let mut buf = [0u8; 256];
    for n in [1usize, 10_000, 100_000] {
        // A 64-byte data segment to a pseudo-random connection: 4-tuple lookup, input
        // processing, the read, and the ACK it triggers (out-of-line every second segment).
        let mut m = many(n, None);
        let now = Instant::from_millis(1_000);
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("data_segment_random_conn", n), |bench| {
            bench.iter(|| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let k = (rng % n as u64) as usize;
                let (h, ip, port, seq, ack) = m.conns[k];
                let seg = TcpRepr {
                    src_port: port,
                    seq_number: SeqNumber(seq),
                    ack_number: SeqNumber(ack),
                    payload: &payload,
                    ..m.template.clone()
                };
                m.e.on_segment(now, ip, B, &seg);
                m.conns[k].3 = seq.wrapping_add(payload.len() as u32);
                black_box(m.e.recv(h, &mut buf).unwrap());
                m.e.dispatch(now, |_, _, s| {
                    black_box(s.ack_number);
                });
            });
        });
        m.e.events().for_each(drop);
        assert_eq!(m.e.connection_count(), n);
    }
    for n in [10_000usize, 100_000] {
        // Timer processing: with keepalive every second (idle 1 s), advancing the clock by a
        // second fires every connection's timer, which emits one probe each.
        let ka = Keepalive {
            idle: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            probes: u32::MAX,
        };
        let mut m = many(n, Some(ka));
        let mut now = 1_000u64;
        let mut fired = 0u64;
        let mut iters = 0u64;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("keepalive_timers_fire_all", n), |bench| {
            bench.iter(|| {
                now += 1_000;
                let t = Instant::from_millis(now);
                m.e.poll_timers(t);
                fired += m.e.dispatch(t, |_, _, s| {
                    black_box(s.seq_number);
                }) as u64;
                iters += 1;
                m.e.events().for_each(drop);
            });
        });
        assert_eq!(
            fired,
            n as u64 * iters,
            "every connection sends one probe per second"
        );

        // An idle tick: the clock advances by 1 ms and no timer is due (keepalive armed
        // ~115 days ahead, beyond any number of iterations).
        let ka = Keepalive {
            idle: Duration::from_secs(10_000_000),
            ..ka
        };
        let mut m = many(n, Some(ka));
        m.e.dispatch(Instant::from_millis(1_000), |_, _, _| {});
        let mut now = 1_000u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new("idle_tick_1ms", n), |bench| {
            bench.iter(|| {
                now += 1;
                m.e.poll_timers(Instant::from_millis(now));
            });
        });
        assert!(!m.e.has_output(), "an idle tick produced output");
    }
    g.finish();
}

criterion_group!(benches, fast_path, setup_teardown, many_connections);
criterion_main!(benches);
