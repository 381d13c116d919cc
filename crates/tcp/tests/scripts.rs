//! A packetdrill-like script runner. Each `tests/scripts/*.pkt` file plays the peer against one
//! engine (local 198.18.0.1:40000, peer 198.18.0.2:80), one line per step; `#` starts a comment
//! and every script opens with a comment naming the RFC behaviour it checks.
//!
//! ```text
//! config nodelay sack=off ts=off wscale=off sndbuf=N rcvbuf=N mtu=N cookies=off
//!        keepalive=IDLE,INTVL,PROBES idle_timeout=MS time_wait=MS retries=N syn_retries=N
//!        cc=reno|cubic delack=MS                 # first line only; time_wait defaults to 1000
//! +40 > . 1:1(0) ack 1001 win 65535        # after 40 ms the engine must send this
//! 0   < P. 1:1001(1000) ack 1 win 65535     # the peer sends this (win defaults to 65535)
//! 0   < S 0:0(0) port 81                    # `port N`: the peer's port (inbound: source,
//!                                           #   outbound: checked destination; default 80)
//! 0   send 1000 | recv 1000 | close | shutdown | abort | connect | listen [BACKLOG]
//! 0   accept | nodelay                      # accept makes the new connection current
//! 0   send 3000 = 2048 | recv 10 = WouldBlock | accept = none   # expected result
//! 0   state Established | gone | event Readable | noevent Writable | silence
//! 0   deadline 200 | deadline none          # next_deadline() is 200 ms from now / none
//! ```
//!
//! An outbound SYN written `> S. *:0(0)` starts a new ISS on its port (a reopened connection).
//! Time is in ms (`+N` or `N`, both relative to the previous line). Sequence numbers are
//! relative, as in packetdrill: ours to our ISS (per peer port), the peer's to 100000. Options
//! go in `<...>`: `mss N`, `wscale N`, `sackOK`, `TS val N ecr N`, `sack L:R ...`, `nop`.
//! Expected options are checked (all of them, exactly) only when given. TS values of our
//! clock are relative too: the first TSval we send on a port is the script's `val`, and the
//! peer's `ecr` is added to that base (`val *` skips the check). Errors: `WouldBlock`,
//! `InvalidState`, `InvalidHandle`, `AddrInUse`. Set `SCRIPT=name` to run matching scripts only.

mod common;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::peer::*;
use common::{A, B, Packet};
use mtcp_tcp::cc::CcAlgorithm;
use mtcp_tcp::{Config, Duration, Error, Event, Keepalive, State};
use mtcp_wire::tcp::{SackBlock, SeqNumber, TcpFlags, TcpOptions, Timestamps};

struct Seg {
    flags: TcpFlags,
    seq: u32,
    len: u32,
    ack: Option<u32>,
    win: Option<u16>,
    port: u16,
    new_iss: bool,
}

fn parse_flags(s: &str) -> TcpFlags {
    let mut f = TcpFlags::empty();
    for c in s.chars() {
        f |= match c {
            'S' => SYN,
            'F' => FIN,
            'R' => RST,
            'P' => PSH,
            '.' => ACK,
            _ => panic!("bad flag {c}"),
        };
    }
    f
}

/// Options; `base_sack` is added to SACK edges, `base_ts` to TS values marked relative.
/// Returns the options and whether the TSval is to be checked.
fn parse_options(
    s: &str,
    base_sack: u32,
    ts_val_base: u32,
    ts_ecr_base: u32,
) -> (TcpOptions, bool) {
    let mut o = TcpOptions::default();
    let mut check_val = true;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let w: Vec<&str> = part.split_whitespace().collect();
        match w[0] {
            "mss" => o.mss = Some(w[1].parse().unwrap()),
            "wscale" => o.window_scale = Some(w[1].parse().unwrap()),
            "sackOK" => o.sack_permitted = true,
            "TS" => {
                let tsval = if w[2] == "*" {
                    check_val = false;
                    0
                } else {
                    ts_val_base.wrapping_add(w[2].parse().unwrap())
                };
                o.timestamps = Some(Timestamps {
                    tsval,
                    tsecr: ts_ecr_base.wrapping_add(w[4].parse().unwrap()),
                })
            }
            "sack" => {
                for b in &w[1..] {
                    let (l, r) = b.split_once(':').unwrap();
                    let l: u32 = l.parse().unwrap();
                    let r: u32 = r.parse().unwrap();
                    o.sack_blocks
                        .push(SackBlock {
                            left: SeqNumber(base_sack.wrapping_add(l)),
                            right: SeqNumber(base_sack.wrapping_add(r)),
                        })
                        .unwrap();
                }
            }
            "nop" => {}
            other => panic!("unknown option {other}"),
        }
    }
    (o, check_val)
}

/// `FLAGS start:end(len) [ack N] [win N] [port N] [<options>]`; options are parsed by the caller.
fn parse_segment(s: &str) -> (Seg, Option<String>) {
    let (head, opts) = match s.split_once('<') {
        Some((h, o)) => (h, Some(o.trim_end().trim_end_matches('>').to_string())),
        None => (s, None),
    };
    let w: Vec<&str> = head.split_whitespace().collect();
    let flags = parse_flags(w[0]);
    let range = w[1];
    let (start, rest) = range.split_once(':').unwrap();
    let end = rest.split('(').next().unwrap();
    // `*` (outbound SYNs only): a new ISS, learnt from this segment.
    let new_iss = start == "*";
    let seq: u32 = if new_iss { 0 } else { start.parse().unwrap() };
    let end: u32 = end.parse().unwrap();
    let mut seg = Seg {
        flags,
        seq,
        len: if new_iss { end } else { end.wrapping_sub(seq) },
        ack: None,
        win: None,
        port: PEER_PORT,
        new_iss,
    };
    let mut i = 2;
    while i < w.len() {
        match w[i] {
            "ack" => seg.ack = Some(w[i + 1].parse().unwrap()),
            "win" => seg.win = Some(w[i + 1].parse().unwrap()),
            "port" => seg.port = w[i + 1].parse().unwrap(),
            other => panic!("unexpected {other}"),
        }
        i += 2;
    }
    (seg, opts)
}

fn parse_state(s: &str) -> State {
    match s {
        "SynSent" => State::SynSent,
        "SynReceived" => State::SynReceived,
        "Established" => State::Established,
        "FinWait1" => State::FinWait1,
        "FinWait2" => State::FinWait2,
        "CloseWait" => State::CloseWait,
        "Closing" => State::Closing,
        "LastAck" => State::LastAck,
        "TimeWait" => State::TimeWait,
        "Closed" => State::Closed,
        other => panic!("unknown state {other}"),
    }
}

fn parse_error(s: &str) -> Error {
    match s {
        "WouldBlock" => Error::WouldBlock,
        "InvalidState" => Error::InvalidState,
        "InvalidHandle" => Error::InvalidHandle,
        "AddrInUse" => Error::AddrInUse,
        "Reset" => Error::Reset,
        "TimedOut" => Error::TimedOut,
        other => panic!("unknown error {other}"),
    }
}

fn parse_event(s: &str) -> Event {
    match s {
        "Connected" => Event::Connected,
        "Readable" => Event::Readable,
        "Writable" => Event::Writable,
        "Closed" => Event::Closed,
        "Reset" => Event::Reset,
        "TimedOut" => Event::Error(Error::TimedOut),
        other => panic!("unknown event {other}"),
    }
}

fn parse_config(args: &str) -> Config {
    let mut c = Config {
        time_wait: Duration::from_millis(1_000),
        ..Config::default()
    };
    for kv in args.split_whitespace() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let num = || -> u64 { v.parse().unwrap_or_else(|_| panic!("bad value in {kv}")) };
        match k {
            "nodelay" => c.no_delay = true,
            "sack" => c.sack = v != "off",
            "ts" => c.timestamps = v != "off",
            "wscale" => c.window_scaling = v != "off",
            "cookies" => c.syn_cookies = v != "off",
            "sndbuf" => c.send_buffer_bytes = num() as usize,
            "rcvbuf" => c.recv_buffer_bytes = num() as usize,
            "mtu" => c.mtu = num() as u16,
            "idle_timeout" => c.idle_timeout = Some(Duration::from_millis(num())),
            "time_wait" => c.time_wait = Duration::from_millis(num()),
            "retries" => c.max_retries = num() as u32,
            "syn_retries" => c.syn_retries = num() as u32,
            "delack" => c.delayed_ack = Duration::from_millis(num()),
            "cc" => {
                c.congestion_control = match v {
                    "reno" => CcAlgorithm::NewReno,
                    "cubic" => CcAlgorithm::Cubic,
                    _ => panic!("unknown cc {v}"),
                }
            }
            "keepalive" => {
                let p: Vec<u64> = v.split(',').map(|x| x.parse().unwrap()).collect();
                c.keepalive = Some(Keepalive {
                    idle: Duration::from_millis(p[0]),
                    interval: Duration::from_millis(p[1]),
                    probes: p[2] as u32,
                });
            }
            other => panic!("unknown config {other}"),
        }
    }
    c
}

/// Checks a call's result against the script's `= RESULT` (default: success).
fn check<T: std::fmt::Debug + PartialEq>(
    ctx: &str,
    got: Result<T, Error>,
    ok: T,
    want: Option<&str>,
) {
    match want {
        None => assert_eq!(got, Ok(ok), "{ctx}"),
        Some(w) if w.starts_with(|c: char| c.is_ascii_uppercase()) => {
            assert_eq!(got, Err(parse_error(w)), "{ctx}")
        }
        Some(_) => assert_eq!(got, Ok(ok), "{ctx}"),
    }
}

/// Per peer port: our ISS and the base of our TS clock, learnt from our first segments.
#[derive(Default, Clone, Copy)]
struct Flow {
    iss: Option<u32>,
    ts_base: Option<u32>,
}

fn run_script(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut t = Harness::new(parse_config(""));
    let mut pending: Vec<Packet> = Vec::new();
    let mut flows: HashMap<u16, Flow> = HashMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let ctx = format!("{}:{}: {line}", path.display(), n + 1);
        if let Some(args) = line.strip_prefix("config") {
            t = Harness::new(parse_config(args));
            continue;
        }
        let (time, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let delta: u64 = time
            .trim_start_matches('+')
            .parse()
            .unwrap_or_else(|_| panic!("{ctx}: bad time"));
        if delta > 0 {
            // Time passes: what the engine sends meanwhile must be expected by later lines.
            t.advance(delta);
        }
        pending.extend(t.output());
        let (rest, want) = match rest.split_once(" = ") {
            Some((r, w)) => (r.trim(), Some(w.trim())),
            None => (rest, None),
        };
        let (cmd, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let args = args.trim();
        match cmd {
            ">" => {
                assert!(!pending.is_empty(), "{ctx}: engine sent nothing");
                let p = pending.remove(0);
                let (want, opts) = parse_segment(args);
                let r = &p.repr;
                assert_eq!(r.dst_port, want.port, "{ctx}: port of {r:?}");
                assert_eq!(r.flags, want.flags, "{ctx}: flags of {r:?}");
                let flow = flows.entry(want.port).or_default();
                if want.flags.contains(SYN) && (flow.iss.is_none() || want.new_iss) {
                    flow.iss = Some(r.seq_number.0.wrapping_sub(want.seq));
                    if want.port == PEER_PORT {
                        t.iss = flow.iss.unwrap();
                    }
                }
                let iss = flow.iss.unwrap_or(0);
                assert_eq!(
                    r.seq_number.0.wrapping_sub(iss),
                    want.seq,
                    "{ctx}: seq of {r:?}"
                );
                assert_eq!(p.payload.len() as u32, want.len, "{ctx}: length of {r:?}");
                if let Some(a) = want.ack {
                    assert!(r.flags.contains(ACK), "{ctx}: no ACK flag");
                    assert_eq!(
                        r.ack_number.0.wrapping_sub(PEER_ISS),
                        a,
                        "{ctx}: ack of {r:?}"
                    );
                }
                if let Some(w) = want.win {
                    assert_eq!(r.window_len, w, "{ctx}: window of {r:?}");
                }
                if let Some(o) = opts {
                    let (probe, _) = parse_options(&o, 0, 0, 0);
                    if let (Some(want_ts), Some(got), None) =
                        (probe.timestamps, r.options.timestamps, flow.ts_base)
                    {
                        flow.ts_base = Some(got.tsval.wrapping_sub(want_ts.tsval));
                    }
                    let (mut want_o, check_val) =
                        parse_options(&o, PEER_ISS, flow.ts_base.unwrap_or(0), 0);
                    if let (Some(w), Some(g), false) =
                        (&mut want_o.timestamps, r.options.timestamps, check_val)
                    {
                        w.tsval = g.tsval;
                    }
                    assert_eq!(r.options, want_o, "{ctx}: options");
                }
            }
            "<" => {
                let (seg, opts) = parse_segment(args);
                let flow = flows.get(&seg.port).copied().unwrap_or_default();
                let iss = flow.iss.unwrap_or(0);
                let o = opts
                    .map(|o| parse_options(&o, iss, 0, flow.ts_base.unwrap_or(0)).0)
                    .unwrap_or_default();
                let payload = vec![b'x'; seg.len as usize];
                let ack = seg.ack.map_or(0, |a| iss.wrapping_add(a));
                t.peer_port = seg.port;
                t.inject(
                    seg.flags,
                    PEER_ISS.wrapping_add(seg.seq),
                    ack,
                    seg.win.unwrap_or(65_535),
                    o,
                    &payload,
                );
            }
            "connect" => {
                let now = t.instant();
                let r = t.e.connect(now, A, LOCAL_PORT, B, PEER_PORT);
                match want {
                    Some(w) => assert_eq!(r.err(), Some(parse_error(w)), "{ctx}"),
                    None => t.h = Some(r.unwrap()),
                }
            }
            "listen" => {
                let backlog = if args.is_empty() {
                    8
                } else {
                    args.parse().unwrap()
                };
                check(&ctx, t.e.listen(A, LOCAL_PORT, backlog), (), want);
            }
            "accept" => match (t.e.accept(LOCAL_PORT), want) {
                (None, Some("none")) => {}
                (Some(h), None) => t.h = Some(h),
                (got, _) => panic!("{ctx}: accept gave {got:?}"),
            },
            "nodelay" => t.e.set_nodelay(t.handle(), true).unwrap(),
            "send" => {
                let len: usize = args.parse().unwrap();
                let ok = want.and_then(|w| w.parse().ok()).unwrap_or(len);
                check(&ctx, t.e.send(t.handle(), &vec![b'y'; len]), ok, want);
            }
            "recv" => {
                let len: usize = args.parse().unwrap();
                let ok = want.and_then(|w| w.parse().ok()).unwrap_or(len);
                // A buffer of exactly N bytes (`recv 0` uses one byte: it expects end of stream).
                let mut buf = vec![0u8; len.max(1)];
                check(&ctx, t.e.recv(t.handle(), &mut buf), ok, want);
            }
            "close" => check(&ctx, t.e.close(t.handle()), (), want),
            "shutdown" => check(&ctx, t.e.shutdown_write(t.handle()), (), want),
            "abort" => check(&ctx, t.e.abort(t.handle()), (), want),
            "state" => assert_eq!(t.state(), Some(parse_state(args)), "{ctx}"),
            "gone" => assert!(t.state().is_none(), "{ctx}: connection still exists"),
            "event" => {
                let ev = parse_event(args);
                assert!(t.took_event(ev), "{ctx}: no {ev:?} in {:?}", t.events);
            }
            "noevent" => {
                let ev = parse_event(args);
                assert!(!t.took_event(ev), "{ctx}: unexpected {ev:?}");
            }
            "deadline" => {
                let got = t.e.next_deadline().map(|d| d.millis() - t.now);
                let want = (args != "none").then(|| args.parse::<u64>().unwrap());
                assert_eq!(got, want, "{ctx}: next_deadline (ms from now)");
            }
            "silence" => assert!(pending.is_empty(), "{ctx}: unexpected {pending:#?}"),
            other => panic!("{ctx}: unknown command {other}"),
        }
        pending.extend(t.output());
    }
    assert!(
        pending.is_empty(),
        "{}: unexpected segments at the end: {pending:#?}",
        path.display()
    );
}

#[test]
fn scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let filter = std::env::var("SCRIPT").unwrap_or_default();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|e| e == "pkt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 60 || !filter.is_empty(),
        "only {} scripts",
        files.len()
    );
    files.retain(|f| f.to_string_lossy().contains(&filter));
    assert!(!files.is_empty(), "SCRIPT={filter:?} matches no script");
    let mut failed = Vec::new();
    for f in &files {
        eprintln!("running {}", f.display());
        if catch_unwind(AssertUnwindSafe(|| run_script(f))).is_err() {
            failed.push(f.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(failed.is_empty(), "failed scripts: {failed:?}");
}
