//! The packetdrill-like scripts of `tests/scripts/*.pkt`: their parser and one runner that plays
//! a script against any system under test ([`Sut`]): our engine (`tests/scripts.rs`) or the Linux
//! kernel behind a TAP (`tests/scripts_linux.rs`). Each script plays the peer (198.18.0.2:80)
//! against the system under test (198.18.0.1:40000), one line per step; `#` starts a comment
//! and every script opens with a comment naming the RFC behaviour it checks.
//!
//! ```text
//! config nodelay sack=off ts=off wscale=off sndbuf=N rcvbuf=N mtu=N cookies=off
//!        keepalive=IDLE,INTVL,PROBES idle_timeout=MS time_wait=MS retries=N syn_retries=N
//!        cc=reno|cubic|bbr delack=MS               # first line only; time_wait defaults to 1000
//! +40 > . 1:1(0) ack 1001 win 65535        # after 40 ms the engine must send this
//! 0   < P. 1:1001(1000) ack 1 win 65535     # the peer sends this (win defaults to 65535)
//! 0   < S 0:0(0) port 81                    # `port N`: the peer's port (inbound: source,
//!                                           #   outbound: checked destination; default 80)
//! 0   send 1000 | recv 1000 | close | shutdown | abort | connect | listen [BACKLOG]
//! 0   accept | nodelay                      # accept makes the new connection current
//! 0   send 3000 = 2048 | recv 10 = WouldBlock | accept = none   # expected result
//! 0   state Established | gone | event Readable | noevent Writable | silence
//! 0   deadline 200 | deadline none          # next_deadline() is 200 ms from now / none
//! 0   info pacing_rate 2856150 | info cwnd 20000..30000   # TcpInfo's field (pacing_rate,
//!                                           #   pacing_gain, cwnd_gain, cwnd): a value or range
//! 0   bbr Startup | Drain | ProbeBw | ProbeRtt   # BBR's state, named by its gains
//! ```
//!
//! An outbound SYN written `> S. *:0(0)` starts a new ISS on its port (a reopened connection).
//! Time is in ms (`+N` or `N`, both relative to the previous line); timers due inside a gap
//! fire at their own time. Sequence numbers are relative, as in packetdrill: ours to our ISS
//! (per peer port), the peer's to 100000. Options go in `<...>`: `mss N`, `wscale N`, `sackOK`,
//! `TS val N ecr N`, `sack L:R ...`, `nop`. Expected options are checked (all of them, exactly;
//! their order on the wire is free) only when given. TS values of our clock are relative too:
//! the first TSval we send on a port is the script's `val`, and the peer's `ecr` is added to
//! that base (`val *` skips the check). Errors: `WouldBlock`, `InvalidState`, `InvalidHandle`,
//! `AddrInUse`, `Reset`, `TimedOut`.
//!
//! Checks where the RFCs leave the sender a choice are relaxed for a system under test that is
//! not ours ([`Sut::strict`] false): the ISN (always mapped), the window (only zero / non-zero),
//! the window-scale shift (only present / absent), TSval (only TSecr is checked), PSH.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use super::Packet;
use super::peer::{ACK, FIN, LOCAL_PORT, PEER_ISS, PEER_PORT, PSH, RST, SYN};
use mtcp_tcp::{Error, Event, State};
use mtcp_wire::tcp::{SackBlock, SeqNumber, TcpFlags, TcpOptions, TcpRepr, Timestamps};

pub struct Seg {
    pub flags: TcpFlags,
    pub seq: u32,
    pub len: u32,
    pub ack: Option<u32>,
    pub win: Option<u16>,
    pub port: u16,
    pub new_iss: bool,
}

pub fn parse_flags(s: &str) -> TcpFlags {
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
pub fn parse_options(
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
pub fn parse_segment(s: &str) -> (Seg, Option<String>) {
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

pub fn parse_state(s: &str) -> State {
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

pub fn parse_error(s: &str) -> Error {
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

pub fn parse_event(s: &str) -> Event {
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

/// Per peer port: the system's ISS and the base of its TS clock, learnt from its first segments.
#[derive(Default, Clone, Copy, Debug)]
pub struct Flow {
    pub iss: Option<u32>,
    pub ts_base: Option<u32>,
}

/// A system under test: what the runner needs from our engine or from the Linux kernel.
pub trait Sut {
    /// Whether the exact values the RFCs leave open (window, wscale shift, TSval, PSH) are checked.
    fn strict(&self) -> bool;
    /// A `config` line.
    fn config(&mut self, args: &str);
    /// Lets `delta_ms` pass; what the system sends meanwhile is appended to `pending`.
    fn advance(&mut self, delta_ms: u64, pending: &mut VecDeque<Packet>);
    /// Appends what the system has sent by now to `pending`.
    fn collect(&mut self, pending: &mut VecDeque<Packet>);
    /// The next segment the system sends, if it comes in time (a `>` line); panics (with `ctx`)
    /// if it comes at the wrong time.
    fn next_sent(&mut self, ctx: &str, pending: &mut VecDeque<Packet>) -> Option<Packet>;
    /// The peer sends `seg` (from port `seg.src_port` to [`LOCAL_PORT`]).
    fn inject(&mut self, seg: &TcpRepr<'_>);
    /// The script ended: appends what the system still sends (a real one gets a moment).
    fn finish(&mut self, pending: &mut VecDeque<Packet>) {
        self.collect(pending);
    }
    /// A call or check (`connect`, `send`, `state`, `event`, ...); panics (with `ctx`) when the
    /// result is not `want` (`None`: success).
    fn call(&mut self, ctx: &str, cmd: &str, args: &str, want: Option<&str>);
}

/// `N` or `LO..HI` (inclusive) of an `info` line.
pub fn parse_range(ctx: &str, s: &str) -> (u64, u64) {
    let num = |v: &str| -> u64 {
        v.parse()
            .unwrap_or_else(|_| panic!("{ctx}: bad number {v}"))
    };
    match s.split_once("..") {
        Some((lo, hi)) => (num(lo), num(hi)),
        None => (num(s), num(s)),
    }
}

/// BBR's state from its pacing and cwnd gains in thousandths (`TcpInfo`, or Linux's
/// `tcp_bbr_info` scaled from 1/256): STARTUP paces and sizes the window at 2/ln 2, DRAIN
/// paces at its inverse, PROBE_BW's window gain is 2 and PROBE_RTT's 1.
pub fn bbr_mode(pacing_gain: u32, cwnd_gain: u32) -> &'static str {
    match (pacing_gain, cwnd_gain) {
        (p, c) if p > 2_000 && c > 2_000 => "Startup",
        (p, c) if p < 500 && c > 2_000 => "Drain",
        (_, 1_900..=2_100) => "ProbeBw",
        (900..=1_100, 900..=1_100) => "ProbeRtt",
        _ => "unknown",
    }
}

/// Checks a call's result against the script's `= RESULT` (default: success).
pub fn check<T: std::fmt::Debug + PartialEq>(
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

/// Checks a sent segment `p` against the `>` line's `args`.
fn check_sent(ctx: &str, p: &Packet, args: &str, flows: &mut HashMap<u16, Flow>, strict: bool) {
    let (want, opts) = parse_segment(args);
    let r = &p.repr;
    assert_eq!(r.dst_port, want.port, "{ctx}: port");
    let loose = if strict { 0 } else { PSH.0 };
    assert_eq!(r.flags.0 & !loose, want.flags.0 & !loose, "{ctx}: flags");
    let flow = flows.entry(want.port).or_default();
    if want.flags.contains(SYN) && (flow.iss.is_none() || want.new_iss) {
        flow.iss = Some(r.seq_number.0.wrapping_sub(want.seq));
    }
    let iss = flow.iss.unwrap_or(0);
    assert_eq!(r.seq_number.0.wrapping_sub(iss), want.seq, "{ctx}: seq");
    assert_eq!(p.payload.len() as u32, want.len, "{ctx}: length");
    if let Some(a) = want.ack {
        assert!(r.flags.contains(ACK), "{ctx}: no ACK flag");
        assert_eq!(r.ack_number.0.wrapping_sub(PEER_ISS), a, "{ctx}: ack");
    }
    match want.win {
        Some(w) if strict => assert_eq!(r.window_len, w, "{ctx}: window"),
        Some(w) => assert_eq!(r.window_len == 0, w == 0, "{ctx}: window"),
        None => {}
    }
    let Some(o) = opts else { return };
    let (probe, _) = parse_options(&o, 0, 0, 0);
    if let (Some(want_ts), Some(got), None) = (probe.timestamps, r.options.timestamps, flow.ts_base)
    {
        flow.ts_base = Some(got.tsval.wrapping_sub(want_ts.tsval));
    }
    let (mut want_o, check_val) = parse_options(&o, PEER_ISS, flow.ts_base.unwrap_or(0), 0);
    if let (Some(w), Some(g)) = (&mut want_o.timestamps, r.options.timestamps) {
        if !check_val || !strict {
            w.tsval = g.tsval;
        }
    }
    if !strict {
        if let (Some(w), Some(g)) = (&mut want_o.window_scale, r.options.window_scale) {
            *w = g;
        }
    }
    assert_eq!(r.options, want_o, "{ctx}: options");
}

/// The peer's segment of a `<` line.
fn inbound(args: &str, flows: &HashMap<u16, Flow>) -> (TcpRepr<'static>, usize) {
    let (seg, opts) = parse_segment(args);
    let flow = flows.get(&seg.port).copied().unwrap_or_default();
    let iss = flow.iss.unwrap_or(0);
    let options = opts
        .map(|o| parse_options(&o, iss, 0, flow.ts_base.unwrap_or(0)).0)
        .unwrap_or_default();
    let repr = TcpRepr {
        src_port: seg.port,
        dst_port: LOCAL_PORT,
        seq_number: SeqNumber(PEER_ISS.wrapping_add(seg.seq)),
        ack_number: SeqNumber(seg.ack.map_or(0, |a| iss.wrapping_add(a))),
        flags: seg.flags,
        window_len: seg.win.unwrap_or(65_535),
        urgent_pointer: 0,
        options,
        payload: &[],
    };
    (repr, seg.len as usize)
}

/// The first line of a script that starts with `config`, without the keyword.
pub fn config_line(text: &str) -> String {
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .find(|l| !l.is_empty())
        .and_then(|l| l.strip_prefix("config"))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A sent segment in the scripts' notation (sequence numbers relative to the flow's ISS and to
/// the peer's), for failure messages.
pub fn brief(p: &Packet, flows: &HashMap<u16, Flow>) -> String {
    let r = &p.repr;
    let iss = flows.get(&r.dst_port).and_then(|f| f.iss).unwrap_or(0);
    let mut flags = String::new();
    for (f, c) in [(SYN, 'S'), (FIN, 'F'), (RST, 'R'), (PSH, 'P'), (ACK, '.')] {
        if r.flags.contains(f) {
            flags.push(c);
        }
    }
    let seq = r.seq_number.0.wrapping_sub(iss);
    let end = seq.wrapping_add(p.payload.len() as u32);
    let mut s = format!("> {flags} {seq}:{end}({})", p.payload.len());
    if r.flags.contains(ACK) {
        s += &format!(" ack {}", r.ack_number.0.wrapping_sub(PEER_ISS));
    }
    s += &format!(" win {} port {} {:?}", r.window_len, r.dst_port, r.options);
    s
}

fn brief_all(pending: &VecDeque<Packet>, flows: &HashMap<u16, Flow>) -> String {
    let all: Vec<String> = pending.iter().map(|p| brief(p, flows)).collect();
    all.join("; ")
}

/// Plays the script at `path` against `sut`; panics at the first line where they disagree.
pub fn run_script(path: &Path, sut: &mut impl Sut) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut pending: VecDeque<Packet> = VecDeque::new();
    let mut flows: HashMap<u16, Flow> = HashMap::new();
    let payload = vec![b'x'; 1 << 16];
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let ctx = format!("{}:{}: {line}", path.display(), n + 1);
        if let Some(args) = line.strip_prefix("config") {
            sut.config(args);
            continue;
        }
        let (time, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let delta: u64 = time
            .trim_start_matches('+')
            .parse()
            .unwrap_or_else(|_| panic!("{ctx}: bad time"));
        if delta > 0 {
            // Time passes: what the system sends meanwhile must be expected by later lines.
            sut.advance(delta, &mut pending);
        }
        sut.collect(&mut pending);
        let (rest, want) = match rest.trim().split_once(" = ") {
            Some((r, w)) => (r.trim(), Some(w.trim())),
            None => (rest.trim(), None),
        };
        let (cmd, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let args = args.trim();
        match cmd {
            ">" => {
                let p = sut.next_sent(&ctx, &mut pending);
                let p = p.unwrap_or_else(|| panic!("{ctx}: sent nothing"));
                let got = brief(&p, &flows);
                let ctx = format!("{ctx} (sent: {got})");
                check_sent(&ctx, &p, args, &mut flows, sut.strict());
            }
            "<" => {
                let (mut seg, len) = inbound(args, &flows);
                seg.payload = &payload[..len];
                sut.inject(&seg);
            }
            "silence" => {
                sut.collect(&mut pending);
                assert!(
                    pending.is_empty(),
                    "{ctx}: unexpected {}",
                    brief_all(&pending, &flows)
                );
            }
            _ => sut.call(&ctx, cmd, args, want),
        }
        sut.collect(&mut pending);
    }
    sut.finish(&mut pending);
    assert!(
        pending.is_empty(),
        "{}: unexpected segments at the end: {}",
        path.display(),
        brief_all(&pending, &flows)
    );
}

/// The scripts `SCRIPT=<filter>` selects (all without it); a filter that matches none fails.
pub fn select_scripts() -> Vec<std::path::PathBuf> {
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
    files.retain(|f| f.file_name().unwrap().to_string_lossy().contains(&filter));
    assert!(!files.is_empty(), "SCRIPT={filter} matches no script");
    files
}

/// The message of a caught panic.
pub fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}
