//! A packetdrill-like script runner. Each `tests/scripts/*.pkt` file plays the peer against one
//! engine (local 198.18.0.1:40000, peer 198.18.0.2:80), one line per step:
//!
//! ```text
//! +40 > . 1:1(0) ack 1001 win 65535        # after 40 ms the engine must send this
//! 0   < P. 1:1001(1000) ack 1 win 65535     # the peer sends this
//! 0   send 1000 | recv 1000 | close | shutdown | abort | connect | listen | accept
//! 0   state Established | event Readable | silence
//! ```
//!
//! Sequence numbers are relative, as in packetdrill: ours to our ISS, the peer's to 100000.
//! Options go in `<...>`: `mss N`, `wscale N`, `sackOK`, `TS val N ecr N`, `sack L:R`.
//! Expected options are only checked when given.

mod common;

use std::path::Path;

use common::peer::*;
use common::{A, B, Packet};
use mtcp_tcp::{Config, Duration, Event, State};
use mtcp_wire::tcp::{SackBlock, SeqNumber, TcpFlags, TcpOptions, Timestamps};

struct Seg {
    flags: TcpFlags,
    seq: u32,
    len: u32,
    ack: Option<u32>,
    win: Option<u16>,
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

fn parse_options(s: &str, base_sack: u32) -> TcpOptions {
    let mut o = TcpOptions::default();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let w: Vec<&str> = part.split_whitespace().collect();
        match w[0] {
            "mss" => o.mss = Some(w[1].parse().unwrap()),
            "wscale" => o.window_scale = Some(w[1].parse().unwrap()),
            "sackOK" => o.sack_permitted = true,
            "TS" => {
                o.timestamps = Some(Timestamps {
                    tsval: w[2].parse().unwrap(),
                    tsecr: w[4].parse().unwrap(),
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
    o
}

/// `FLAGS start:end(len) [ack N] [win N] [<options>]`; options are parsed by the caller.
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
    let seq: u32 = start.parse().unwrap();
    let end: u32 = end.parse().unwrap();
    let mut seg = Seg {
        flags,
        seq,
        len: end - seq,
        ack: None,
        win: None,
    };
    let mut i = 2;
    while i < w.len() {
        match w[i] {
            "ack" => seg.ack = Some(w[i + 1].parse().unwrap()),
            "win" => seg.win = Some(w[i + 1].parse().unwrap()),
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

fn parse_event(s: &str) -> Event {
    match s {
        "Connected" => Event::Connected,
        "Readable" => Event::Readable,
        "Writable" => Event::Writable,
        "Closed" => Event::Closed,
        "Reset" => Event::Reset,
        "TimedOut" => Event::Error(mtcp_tcp::Error::TimedOut),
        other => panic!("unknown event {other}"),
    }
}

fn run_script(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let config = Config {
        time_wait: Duration::from_millis(1_000),
        ..Config::default()
    };
    let mut t = Harness::new(config);
    let mut pending: Vec<Packet> = Vec::new();
    let mut our_iss: Option<u32> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let ctx = format!("{}:{}: {line}", path.display(), n + 1);
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
        let (cmd, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        match cmd {
            ">" => {
                assert!(!pending.is_empty(), "{ctx}: engine sent nothing");
                let p = pending.remove(0);
                let (want, opts) = parse_segment(args);
                let r = &p.repr;
                assert_eq!(r.flags, want.flags, "{ctx}: flags of {r:?}");
                if want.flags.contains(SYN) && our_iss.is_none() {
                    our_iss = Some(r.seq_number.0.wrapping_sub(want.seq));
                    t.iss = our_iss.unwrap();
                }
                let iss = our_iss.unwrap_or(0);
                assert_eq!(r.seq_number.0.wrapping_sub(iss), want.seq, "{ctx}: seq");
                assert_eq!(p.payload.len() as u32, want.len, "{ctx}: length");
                if let Some(a) = want.ack {
                    assert_eq!(r.ack_number.0.wrapping_sub(PEER_ISS), a, "{ctx}: ack");
                }
                if let Some(w) = want.win {
                    assert_eq!(r.window_len, w, "{ctx}: window");
                }
                if let Some(o) = opts {
                    let mut want_o = parse_options(&o, PEER_ISS);
                    // TS values are the engine's clock: compare presence only.
                    if let (Some(w), Some(g)) = (&mut want_o.timestamps, r.options.timestamps) {
                        *w = g;
                    }
                    assert_eq!(r.options, want_o, "{ctx}: options");
                }
            }
            "<" => {
                let (seg, opts) = parse_segment(args);
                let iss = our_iss.unwrap_or(0);
                let o = opts.map(|o| parse_options(&o, iss)).unwrap_or_default();
                let payload = vec![b'x'; seg.len as usize];
                let ack = seg.ack.map_or(0, |a| iss.wrapping_add(a));
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
                t.h = Some(t.e.connect(now, A, LOCAL_PORT, B, PEER_PORT).unwrap());
            }
            "listen" => t.e.listen(A, LOCAL_PORT, 8).unwrap(),
            "accept" => {
                t.h = Some(
                    t.e.accept(LOCAL_PORT)
                        .unwrap_or_else(|| panic!("{ctx}: nothing to accept")),
                )
            }
            "send" => {
                let len: usize = args.parse().unwrap();
                assert_eq!(t.e.send(t.handle(), &vec![b'y'; len]), Ok(len), "{ctx}");
            }
            "recv" => {
                let len: usize = args.parse().unwrap();
                let mut buf = vec![0u8; len + 1];
                assert_eq!(t.e.recv(t.handle(), &mut buf), Ok(len), "{ctx}");
            }
            "close" => t.e.close(t.handle()).unwrap(),
            "shutdown" => t.e.shutdown_write(t.handle()).unwrap(),
            "abort" => t.e.abort(t.handle()).unwrap(),
            "state" => assert_eq!(t.state(), Some(parse_state(args)), "{ctx}"),
            "gone" => assert!(t.state().is_none(), "{ctx}: connection still exists"),
            "event" => {
                let ev = parse_event(args);
                assert!(t.took_event(ev), "{ctx}: no {ev:?} in {:?}", t.events);
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
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "pkt"))
    {
        eprintln!("running {}", f.display());
        run_script(f);
    }
}
