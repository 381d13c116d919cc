//! Any bytes as a script of operations against two TCP engines, a client at 198.18.0.1 and a
//! server at 198.18.0.2 listening on port 80, that start with one established connection:
//! arbitrary inbound segments (to the listener, to the established connections with sequence
//! numbers near the real ones, from strangers), deliveries between the engines with fuzz-chosen
//! drops, time advances of up to a minute, and API calls (send, recv, close, shutdown, abort,
//! nodelay, connect, accept, listen).
//!
//! Nothing may panic, and these invariants must hold:
//! - every emitted segment serialises with mtcp-wire;
//! - a segment carrying data lies within what the application sent on that 4-tuple (after the
//!   SYN that began it) and carries exactly those bytes (applications send a known pattern);
//!   segments with SYN, RST, or from a 4-tuple without a SYN, carry no data;
//! - `recv` never returns more than the buffer, nor more in total than the payload bytes
//!   delivered on that 4-tuple; on a 4-tuple no fuzzed segment touched, what `recv` returns is
//!   exactly the peer's pattern, in order.
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use mtcp_tcp::{Config, Engine, FourTuple, Handle, Instant};
use mtcp_wire::checksum::Checksum;
use mtcp_wire::tcp::{SackBlock, SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

#[path = "common/cursor.rs"]
mod cursor;
use cursor::In;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const STRANGER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 9);

/// Period of the application byte pattern (a prime, so streams with different ISNs differ).
const PERIOD: usize = 65_521;

/// The pattern, twice over, so that any window of up to `PERIOD` bytes is one slice. Checks and
/// sends copy or compare whole slices: a loop per byte, with libFuzzer's comparison hooks on
/// every iteration, cost most of the run time (about 700 executions/s).
fn table() -> &'static [u8] {
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let one: Vec<u8> = (0..PERIOD)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        [one.as_slice(), one.as_slice()].concat()
    })
}

/// The application bytes at stream offsets `off..off + len` (`len <= PERIOD`) of the stream
/// that began with ISS `iss`.
fn pattern(iss: u32, off: u64, len: usize) -> &'static [u8] {
    let start = ((off + u64::from(iss)) % PERIOD as u64) as usize;
    &table()[start..start + len]
}

/// Whether `data` is the pattern at `off` of the stream with ISS `iss`; the first differing
/// offset otherwise.
fn check(iss: u32, off: u64, data: &[u8]) -> Result<(), u64> {
    let mut at = 0;
    for chunk in data.chunks(PERIOD) {
        if chunk != pattern(iss, off + at as u64, chunk.len()) {
            let k = chunk
                .iter()
                .zip(pattern(iss, off + at as u64, chunk.len()))
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(off + (at + k) as u64);
        }
        at += chunk.len();
    }
    Ok(())
}

/// What the harness knows about one 4-tuple, seen from the engine that owns its local side.
#[derive(Default)]
struct Stream {
    handle: Option<Handle>,
    /// ISS of the latest SYN this side emitted on the tuple.
    iss: Option<u32>,
    /// Bytes the application sent since that SYN.
    app_sent: u64,
    /// Peer's ISS (latest SYN delivered on the tuple).
    peer_iss: Option<u32>,
    /// Payload bytes delivered to this side on the tuple.
    delivered: u64,
    /// Bytes `recv` returned.
    received: u64,
    /// A fuzzed segment was injected on this tuple: received content is no longer known.
    tainted: bool,
}

struct Side {
    engine: Engine,
    addr: Ipv4Addr,
    streams: HashMap<FourTuple, Stream>,
    handles: Vec<Handle>,
}

struct World {
    /// `TCP_FUZZ_TRACE` is set: print every segment.
    trace: bool,
    now: u64,
    sides: [Side; 2],
    buf: Vec<u8>,
}

fn tuple_of(src: Ipv4Addr, dst: Ipv4Addr, seg: &TcpRepr<'_>) -> FourTuple {
    FourTuple {
        local_addr: src.into(),
        local_port: seg.src_port,
        remote_addr: dst.into(),
        remote_port: seg.dst_port,
    }
}

impl World {
    fn new() -> World {
        // Small buffers: full windows, zero windows and persist probes are reachable.
        let config = Config {
            time_wait: mtcp_tcp::Duration::from_millis(3_000),
            send_buffer_bytes: 16 * 1024,
            recv_buffer_bytes: 8 * 1024,
            ..Config::default()
        };
        let side = |addr, secret| Side {
            engine: Engine::new(config.clone(), [secret; 16]),
            addr,
            streams: HashMap::new(),
            handles: Vec::new(),
        };
        World {
            trace: std::env::var_os("TCP_FUZZ_TRACE").is_some(),
            now: 1_000,
            sides: [side(A, 1), side(B, 2)],
            buf: vec![0; 70_000],
        }
    }

    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// Dispatches side `i`, checks every segment, and returns them (owned).
    fn output(&mut self, i: usize) -> Vec<(Ipv4Addr, Ipv4Addr, TcpRepr<'static>, Vec<u8>)> {
        let now = self.instant();
        let mut out = Vec::new();
        self.sides[i].engine.dispatch(now, |s, d, seg| {
            let (IpAddr::V4(s), IpAddr::V4(d)) = (s, d) else {
                panic!("IPv6 segment from IPv4 connections: {s} -> {d}");
            };
            out.push((
                s,
                d,
                TcpRepr {
                    payload: &[],
                    ..seg.clone()
                },
                seg.payload.to_vec(),
            ));
        });
        let side = &mut self.sides[i];
        for (src, dst, repr, payload) in &out {
            if self.trace {
                eprintln!(
                    "{:>6} {src}:{} -> {dst}:{} flags={:03x} seq={} ack={} win={} len={}",
                    self.now,
                    repr.src_port,
                    repr.dst_port,
                    repr.flags.0,
                    repr.seq_number.0,
                    repr.ack_number.0,
                    repr.window_len,
                    payload.len()
                );
            }
            assert_eq!(*src, side.addr, "segment from a foreign address");
            let full = TcpRepr {
                payload,
                ..repr.clone()
            };
            let mut bytes = vec![0u8; full.buffer_len()];
            full.emit(&mut bytes, *src, *dst, Checksum::Both)
                .expect("engine output serialises");
            let tuple = tuple_of(*src, *dst, repr);
            let flags = repr.flags;
            if flags.contains(TcpFlags::SYN) {
                assert!(!flags.contains(TcpFlags::RST), "SYN+RST emitted");
                assert!(payload.is_empty(), "data on a SYN: {repr:?}");
                let st = side.streams.entry(tuple).or_default();
                if st.iss != Some(repr.seq_number.0) {
                    st.iss = Some(repr.seq_number.0);
                    // A new incarnation: sends before its SYN (connect + send) still count.
                    let live = st.handle.is_some_and(|h| side.engine.state(h).is_ok());
                    if !live {
                        st.app_sent = 0;
                    }
                }
            }
            if payload.is_empty() {
                continue;
            }
            assert!(!flags.contains(TcpFlags::RST), "data on a RST: {repr:?}");
            let st = side
                .streams
                .get(&tuple)
                .unwrap_or_else(|| panic!("data on unknown tuple {tuple:?}"));
            let iss = st
                .iss
                .unwrap_or_else(|| panic!("data before any SYN on {tuple:?}"));
            let off = u64::from(repr.seq_number.0.wrapping_sub(iss.wrapping_add(1)));
            assert!(
                off + payload.len() as u64 <= st.app_sent,
                "data outside what was sent: offset {off} len {} but app sent {} on {tuple:?}",
                payload.len(),
                st.app_sent
            );
            if let Err(at) = check(iss, off, payload) {
                panic!("wrong byte at offset {at}");
            }
        }
        out
    }

    /// Hands a segment to side `i`, accounting for it.
    fn deliver(
        &mut self,
        i: usize,
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        seg: &TcpRepr<'_>,
        fuzzed: bool,
    ) {
        let (src, dst) = (src.into(), dst.into());
        let now = self.instant();
        let side = &mut self.sides[i];
        let tuple = FourTuple {
            local_addr: dst.into(),
            local_port: seg.dst_port,
            remote_addr: src.into(),
            remote_port: seg.src_port,
        };
        let st = side.streams.entry(tuple).or_default();
        st.delivered += seg.payload.len() as u64;
        st.tainted |= fuzzed;
        // A genuine SYN starts a new peer stream unless this side has a synchronized
        // connection on the tuple (which would not accept it).
        let synchronized = st
            .handle
            .and_then(|h| side.engine.state(h).ok())
            .is_some_and(|s| s.is_synchronized());
        if seg.flags.contains(TcpFlags::SYN) && !fuzzed && !synchronized {
            st.peer_iss = Some(seg.seq_number.0);
        }
        side.engine.on_segment(now, src, dst, seg);
    }

    /// Both sides emit; segments between A and B are delivered unless `drops` says otherwise.
    /// Returns how many segments were emitted.
    fn exchange(&mut self, mut drops: u32) -> usize {
        let mut emitted = 0;
        for i in 0..2 {
            let out = self.output(i);
            emitted += out.len();
            for (src, dst, repr, payload) in out {
                let lost = drops & 1 == 1;
                drops = drops.rotate_right(1);
                if lost || dst != self.sides[1 - i].addr {
                    continue;
                }
                let seg = TcpRepr {
                    payload: &payload,
                    ..repr
                };
                self.deliver(1 - i, src, dst, &seg, false);
            }
        }
        emitted
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        let now = self.instant();
        for s in &mut self.sides {
            s.engine.poll_timers(now);
            let _ = s.engine.events().count();
        }
    }

    /// Tracks a new handle; `active` for `connect` (its SYN, hence ISS, is still to come).
    fn register(&mut self, i: usize, h: Handle, active: bool) {
        let side = &mut self.sides[i];
        if let Ok(t) = side.engine.tuple(h) {
            let st = side.streams.entry(t).or_default();
            st.handle = Some(h);
            if active {
                st.iss = None;
                st.peer_iss = None;
            }
            st.app_sent = 0;
            st.received = 0;
            side.handles.push(h);
        }
    }

    fn pick(&self, i: usize, k: u8) -> Option<(Handle, FourTuple)> {
        let side = &self.sides[i];
        let live: Vec<Handle> = side
            .handles
            .iter()
            .copied()
            .filter(|&h| side.engine.state(h).is_ok())
            .collect();
        let h = *live.get(usize::from(k) % live.len().max(1))?;
        Some((h, side.engine.tuple(h).ok()?))
    }

    fn send(&mut self, i: usize, k: u8, len: usize) {
        let Some((h, t)) = self.pick(i, k) else {
            return;
        };
        let side = &mut self.sides[i];
        let st = side.streams.entry(t).or_default();
        // The stream's ISS may not be known yet (connect then send): bytes follow the pattern
        // of the ISS the SYN will carry, which the engine already chose.
        // Send only once the stream's SYN (hence its ISS and the pattern) is known.
        let Some(iss) = st.iss else { return };
        // A little more than fits, so partial sends happen too.
        let room = side.engine.send_capacity(h).unwrap_or(0);
        let len = len.min(room + 1_000).min(PERIOD);
        let data = pattern(iss, st.app_sent, len);
        if let Ok(n) = side.engine.send(h, data) {
            assert!(n <= data.len(), "send accepted more than offered");
            st.app_sent += n as u64;
        }
    }

    fn recv(&mut self, i: usize, k: u8, len: usize) {
        let Some((h, t)) = self.pick(i, k) else {
            return;
        };
        let side = &mut self.sides[i];
        let len = len.min(self.buf.len());
        let Ok(n) = side.engine.recv(h, &mut self.buf[..len]) else {
            return;
        };
        assert!(n <= len, "recv returned {n} > buffer {len}");
        let st = side.streams.entry(t).or_default();
        let start = st.received;
        st.received += n as u64;
        assert!(
            st.received <= st.delivered,
            "recv returned {} bytes in total but only {} were delivered on {t:?}",
            st.received,
            st.delivered
        );
        if !st.tainted && n > 0 {
            let peer_iss = st.peer_iss.expect("data without the peer's SYN");
            if let Err(at) = check(peer_iss, start, &self.buf[..n]) {
                panic!("received byte {at} differs");
            }
        }
    }

    /// A fuzzed segment: fields from the input, sequence numbers near the stream's real ones.
    fn fuzzed_segment<'a>(
        &self,
        inp: &mut In<'a>,
        tuple: Option<(usize, FourTuple)>,
    ) -> TcpRepr<'a> {
        let flags = TcpFlags(u16::from(inp.u8()) | (u16::from(inp.u8() & 1) << 8));
        let mode = inp.u8();
        let (mut seq, mut ack) = (inp.u32(), inp.u32());
        if let Some((i, t)) = tuple {
            // Relative to what the target engine expects: small signed deltas.
            let side = &self.sides[i];
            if let Some(st) = side.streams.get(&t) {
                let h = st.handle.filter(|&h| side.engine.state(h).is_ok());
                let info = h.and_then(|h| side.engine.info(h).ok());
                if mode & 1 == 1 {
                    let rcv = st
                        .peer_iss
                        .unwrap_or(0)
                        .wrapping_add(1)
                        .wrapping_add(info.map_or(0, |i| i.bytes_received as u32));
                    seq = rcv.wrapping_add(seq as i16 as i32 as u32);
                }
                if mode & 2 == 2 {
                    let una = st
                        .iss
                        .unwrap_or(0)
                        .wrapping_add(1)
                        .wrapping_add(info.map_or(0, |i| i.bytes_acked as u32));
                    ack = una.wrapping_add(ack as i16 as i32 as u32);
                }
            }
        }
        let mut options = TcpOptions::default();
        let o = inp.u8();
        if o & 1 != 0 {
            options.mss = Some(inp.u16());
        }
        if o & 2 != 0 {
            options.window_scale = Some(inp.u8());
        }
        options.sack_permitted = o & 4 != 0;
        if o & 8 != 0 {
            options.timestamps = Some(Timestamps {
                tsval: inp.u32(),
                tsecr: inp.u32(),
            });
        }
        for _ in 0..(o >> 4) % 4 {
            let left = seq.wrapping_add(u32::from(inp.u16()));
            let right = left.wrapping_add(u32::from(inp.u16()));
            let _ = options.sack_blocks.push(SackBlock {
                left: SeqNumber(left),
                right: SeqNumber(right),
            });
        }
        let window = inp.u16();
        let len = usize::from(inp.u16() % 2_000);
        TcpRepr {
            src_port: 0,
            dst_port: 0,
            seq_number: SeqNumber(seq),
            ack_number: SeqNumber(ack),
            flags,
            window_len: window,
            urgent_pointer: inp.u16(),
            options,
            payload: inp.take(len),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = In(data);
    let mut w = World::new();
    w.sides[1].engine.listen(B, 80, 4).unwrap();
    // One established connection to start from.
    let now = w.instant();
    let c = w.sides[0].engine.connect(now, A, 40_000, B, 80).unwrap();
    w.register(0, c, true);
    for _ in 0..4 {
        let _ = w.exchange(0);
    }
    if let Some(s) = w.sides[1].engine.accept(80) {
        w.register(1, s, false);
    }

    let mut ops = 0;
    while !inp.is_empty() && ops < 400 {
        ops += 1;
        let op = inp.u8();
        let i = usize::from(op >> 7);
        match op % 12 {
            // A segment to the server's listener (or another port) from a stranger.
            0 => {
                let sport = 1_000 + inp.u16() % 4;
                let dport = if inp.u8() & 1 == 0 { 80 } else { inp.u16() };
                let mut seg = w.fuzzed_segment(&mut inp, None);
                seg.src_port = sport;
                seg.dst_port = dport;
                w.deliver(1, STRANGER, B, &seg, true);
            }
            // A segment on one of side i's connections, as if from its peer.
            1 | 2 => {
                let Some((_, t)) = w.pick(i, inp.u8()) else {
                    continue;
                };
                let mut seg = w.fuzzed_segment(&mut inp, Some((i, t)));
                seg.src_port = t.remote_port;
                seg.dst_port = t.local_port;
                w.deliver(i, t.remote_addr, t.local_addr, &seg, true);
            }
            3 | 4 => {
                let drops = if op & 16 == 0 { 0 } else { inp.u32() };
                let _ = w.exchange(drops);
            }
            5 => {
                let ms = match inp.u8() % 4 {
                    0 => u64::from(inp.u8()),
                    1 => u64::from(inp.u16()),
                    _ => 200,
                };
                w.advance(ms);
            }
            6 => {
                let k = inp.u8();
                let len = usize::from(inp.u16()) * 4;
                w.send(i, k, len);
            }
            7 => {
                let k = inp.u8();
                let len = usize::from(inp.u16());
                w.recv(i, k, len);
            }
            8 => {
                let k = inp.u8();
                let Some((h, _)) = w.pick(i, k) else { continue };
                let e = &mut w.sides[i].engine;
                let _ = match inp.u8() % 4 {
                    0 => e.close(h),
                    1 => e.shutdown_write(h),
                    2 => e.abort(h),
                    _ => e.set_nodelay(h, op & 32 != 0),
                };
            }
            9 => {
                let now = w.instant();
                let port = if op & 32 == 0 {
                    0
                } else {
                    40_000 + inp.u16() % 4
                };
                let (local, remote) = (w.sides[i].addr, w.sides[1 - i].addr);
                let dport = if op & 64 == 0 {
                    80
                } else {
                    40_000 + inp.u16() % 4
                };
                if let Ok(h) = w.sides[i].engine.connect(now, local, port, remote, dport) {
                    w.register(i, h, true);
                }
            }
            10 => {
                let port = if op & 32 == 0 {
                    80
                } else {
                    40_000 + inp.u16() % 4
                };
                if let Some(h) = w.sides[i].engine.accept(port) {
                    w.register(i, h, false);
                }
            }
            _ => {
                let port = 40_000 + inp.u16() % 4;
                let addr = w.sides[i].addr;
                let _ = w.sides[i]
                    .engine
                    .listen(addr, port, usize::from(inp.u8() % 8));
            }
        }
        for s in &mut w.sides {
            let _ = s.engine.events().count();
        }
    }
    // Let everything settle: deliveries, reads and timers, no more fuzz.
    for _ in 0..50 {
        let _ = w.exchange(0);
        for i in 0..2 {
            for k in 0..4 {
                w.recv(i, k, 65_536);
            }
        }
        w.advance(500);
    }
});
