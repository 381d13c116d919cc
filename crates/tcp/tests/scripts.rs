//! Our engine as the system under test of the packetdrill-like scripts in `tests/scripts/*.pkt`
//! (format and runner: `tests/common/script.rs`; the same scripts against the Linux kernel:
//! `tests/scripts_linux.rs`). Set `SCRIPT=name` to run matching scripts only.

mod common;

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::Packet;
use common::peer::*;
use common::script::*;
use mtcp_tcp::cc::CcAlgorithm;
use mtcp_tcp::{Config, Duration, Keepalive};
use mtcp_wire::tcp::TcpRepr;

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
                    "bbr" => CcAlgorithm::Bbr,
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

/// Moves the clock `delta_ms` forward through every deadline inside the gap: timers fire at
/// their own time (and what they send is taken then, with that time's timestamps), not all
/// together at the end of the gap.
fn step_clock(t: &mut Harness, delta_ms: u64, pending: &mut VecDeque<Packet>) {
    let end = t.now + delta_ms;
    // A deadline that does not move after its timers ran would spin: stop at a repeat.
    let mut last = None;
    while let Some(due) = t.e.next_deadline().map(|d| d.millis()) {
        if due >= end || last == Some(due) {
            break;
        }
        last = Some(due);
        t.advance(due.saturating_sub(t.now));
        pending.extend(t.output());
    }
    t.advance(end - t.now);
}

impl Sut for Harness {
    fn strict(&self) -> bool {
        true
    }

    fn config(&mut self, args: &str) {
        *self = if self.is_ipv6() {
            Harness::new_ipv6(parse_config(args))
        } else {
            Harness::new(parse_config(args))
        };
    }

    fn advance(&mut self, delta_ms: u64, pending: &mut VecDeque<Packet>) {
        step_clock(self, delta_ms, pending);
    }

    fn collect(&mut self, pending: &mut VecDeque<Packet>) {
        pending.extend(self.output());
    }

    fn next_sent(&mut self, _ctx: &str, pending: &mut VecDeque<Packet>) -> Option<Packet> {
        pending.pop_front()
    }

    fn inject(&mut self, seg: &TcpRepr<'_>) {
        let now = self.instant();
        self.e.on_segment(now, self.remote, self.local, seg);
        self.events.extend(self.e.events());
    }

    fn call(&mut self, ctx: &str, cmd: &str, args: &str, want: Option<&str>) {
        let t = self;
        match cmd {
            "connect" => {
                let now = t.instant();
                let r = t.e.connect(now, t.local, LOCAL_PORT, t.remote, PEER_PORT);
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
                check(ctx, t.e.listen(t.local, LOCAL_PORT, backlog), (), want);
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
                check(ctx, t.e.send(t.handle(), &vec![b'y'; len]), ok, want);
            }
            "recv" => {
                let len: usize = args.parse().unwrap();
                let ok = want.and_then(|w| w.parse().ok()).unwrap_or(len);
                // A buffer of exactly N bytes (`recv 0` uses one byte: it expects end of stream).
                let mut buf = vec![0u8; len.max(1)];
                check(ctx, t.e.recv(t.handle(), &mut buf), ok, want);
            }
            "close" => check(ctx, t.e.close(t.handle()), (), want),
            "shutdown" => check(ctx, t.e.shutdown_write(t.handle()), (), want),
            "abort" => check(ctx, t.e.abort(t.handle()), (), want),
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
            "info" => {
                let (field, range) = args.split_once(char::is_whitespace).unwrap();
                let info = t.e.info(t.handle()).unwrap();
                let got = match field {
                    "pacing_rate" => info.pacing_rate,
                    "pacing_gain" => u64::from(info.pacing_gain),
                    "cwnd_gain" => u64::from(info.cwnd_gain),
                    "cwnd" => u64::from(info.cwnd),
                    other => panic!("{ctx}: unknown info field {other}"),
                };
                let (lo, hi) = parse_range(ctx, range.trim());
                assert!(
                    (lo..=hi).contains(&got),
                    "{ctx}: {field} is {got}, not in {lo}..={hi}"
                );
            }
            "bbr" => {
                let info = t.e.info(t.handle()).unwrap();
                let got = bbr_mode(info.pacing_gain, info.cwnd_gain);
                assert_eq!(got, args, "{ctx}: BBR's state (gains {info:?})");
            }
            other => panic!("{ctx}: unknown command {other}"),
        }
    }
}

#[test]
fn scripts() {
    run_all(false);
}

/// Every script again with the engine and the peer on IPv6 addresses (the MTU 20 bytes larger,
/// so that the MSS is the same): the engine's behaviour does not depend on the family.
#[test]
fn scripts_over_ipv6() {
    run_all(true);
}

/// Scripts whose IPv6 run differs on purpose, with the reason.
const IPV6_DIFFERS: &[(&str, &str)] = &[
    (
        "hs-mss-clamp.pkt",
        "an MTU of 1000 (1020 here): IPv6's MSS is never under 1220 (RFC 8200 §5), IPv4's is 960",
    ),
    (
        "hs-active-no-options.pkt",
        "no MSS option from the peer: the send MSS is 1220 over IPv6, 536 over IPv4 (RFC 9293 \
         §3.7.1, MUST-15), so the 1000-byte write leaves whole (tests/ipv6.rs checks both)",
    ),
    (
        "hs-passive-no-options.pkt",
        "no MSS option from the peer: the send MSS is 1220 over IPv6, 536 over IPv4 (RFC 9293 \
         §3.7.1, MUST-15), so the 1000-byte write leaves whole (tests/ipv6.rs checks both)",
    ),
];

fn run_all(ipv6: bool) {
    let mut failed = Vec::new();
    for f in select_scripts() {
        let name = f.file_name().unwrap().to_string_lossy();
        if let Some((_, why)) = IPV6_DIFFERS.iter().find(|(n, _)| ipv6 && *n == name) {
            eprintln!("skipping {name} over IPv6: {why}");
            continue;
        }
        eprintln!("running {}", f.display());
        let mut t = if ipv6 {
            Harness::new_ipv6(parse_config(""))
        } else {
            Harness::new(parse_config(""))
        };
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| run_script(&f, &mut t))) {
            eprintln!("{}", panic_message(&*e));
            failed.push(f.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(failed.is_empty(), "failed scripts: {failed:?}");
}

/// The clock steps through every deadline inside a gap: the two RTO expiries inside one 1 s gap
/// each send their retransmission, stamped with their own time (one `poll_timers` at the end
/// of the gap, as before, sent a single retransmission stamped 1 s).
#[test]
fn clock_steps_through_deadlines_in_a_gap() {
    let mut t = Harness::established_with(parse_config(""), full_options());
    let h = t.handle();
    t.e.send(h, b"0123456789").unwrap();
    let first = t.expect_one();
    let mut pending = VecDeque::new();
    step_clock(&mut t, 1_000, &mut pending);
    pending.extend(t.output());
    let ts = |p: &Packet| p.repr.options.timestamps.unwrap().tsval;
    let sent_at: Vec<u32> = pending
        .iter()
        .map(|p| ts(p).wrapping_sub(ts(&first)))
        .collect();
    // The tail loss probe, whose timeout (2 x SRTT + WCDelAckT for a lone segment) is brought
    // forward to the RTO's (200 ms, the minimum), then the restarted RTO 200 ms later, then the
    // RTO backed off to 400 ms (RFC 8985 §7.2-7.3, as Linux).
    assert_eq!(sent_at, [200, 400, 800], "{sent_at:?}");
    assert!(pending.iter().all(|p| p.payload == b"0123456789"));
}
