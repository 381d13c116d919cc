//! The packetdrill-like scripts of `tests/scripts/*.pkt` played against the Linux kernel's TCP: a
//! second, independent system under test for the expectations we wrote for our engine.
//!
//! ```text
//!   script (the peer, 198.18.0.2:80) ──frames──► TAP ──► Linux TCP (198.18.0.1:40000)
//!   runner thread inside the namespace ◄── frames ──┘        ▲ socket calls (listen, accept,
//!                                                            │ connect, send, recv, close, ...)
//! ```
//!
//! Each script gets a fresh network namespace (removed afterwards) holding one TAP device; the
//! runner thread enters it (setns), writes the script's peer segments to the TAP, reads back
//! what the kernel sends, and makes the kernel side's socket calls. Nothing else is on the link:
//! the peer's MAC is a permanent neighbour entry, IPv6 is off. Time is real: every line waits
//! for its script time, counted from the last segment or call (so the runner's own lateness on
//! a loaded machine does not count as the kernel's). A segment the script expects must not come
//! more than 50 ms + 10 % of the line's delay before the line's time, nor later than 50 ms +
//! 1/4 of the time since the last segment or call (Linux' timer wheel fires a timer up to 1/8
//! of its length late; the rest is for a busy machine); a pure ACK may be 200 ms late
//! (TCP_DELACK_MAX: Linux' delayed-ACK timeout adapts to the arrival pattern). `state` and
//! `gone` wait as long.
//!
//! The kernel is pinned per namespace to what our engine does by default: `tcp_ecn=0`,
//! `tcp_autocorking=0` (a small write goes out at once, as ours), `tcp_comp_sack_nr=0` (SACKs not
//! delayed), `tcp_frto=0` (no F-RTO), `tcp_invalid_ratelimit=0` and `tcp_challenge_ack_limit=1000`
//! (RFC 5961 challenge ACKs limited engine-wide only, as ours), `tcp_rto_min_us=200000`,
//! `tcp_rto_max_ms=60000`, `tcp_syn_linear_timeouts=0` (SYN backoff exponential from the first
//! retransmission), `tcp_early_retrans=3` and `tcp_recovery=1` (TLP and RACK, the defaults),
//! `tcp_dsack=1`, `tcp_no_metrics_save=1`, `tcp_tw_reuse=1` with `tcp_tw_reuse_delay=1` (ms), and
//! TCP_QUICKACK=0 before each peer segment of a synchronized connection (delayed ACKs from the
//! start, as ours). A script's `config` line is translated: `sack=off`, `ts=off`, `wscale=off`,
//! `cookies=off` to the `tcp_sack`, `tcp_timestamps`, `tcp_window_scaling`, `tcp_syncookies`
//! sysctls; `mtu=N` to the TAP's MTU; `retries=N`, `syn_retries=N` to `tcp_retries2`,
//! `tcp_syn_retries`; `time_wait=MS` to `tcp_fin_timeout` (Linux' TIME-WAIT is a fixed 60 s);
//! `nodelay`, `sndbuf`, `rcvbuf`, `keepalive` (whole seconds), `cc` to socket options.
//! `idle_timeout` and `delack` have no Linux equivalent. The engine-only checks (`deadline`,
//! `info` and `bbr`, which read our `TcpInfo`, `noevent`, `event Closed` and `event Writable`,
//! which are edges of our event queue) are skipped;
//! `event Readable` is a peek, `event Connected` a connected socket, `event Reset`/`TimedOut` the
//! socket's error, `state`/`gone` the kernel's own table (`/proc/net/tcp` of the namespace).
//!
//! Where the kernel and the script differ, the script is listed with the reason in
//! `tests/scripts/DIFFERENCES`; a difference not listed there fails this test if it shows again
//! when the script is rerun (a listed script that agrees is reported). Needs root:
//! `cargo test -p mtcp-tcp --test scripts_linux -- --include-ignored` (`SCRIPT=name` selects).
//!
//! `scripts_against_linux_over_ipv6` plays every script again over IPv6, as the engine's own
//! replay does (`scripts_over_ipv6`): the kernel at 2001:2::1, the peer at 2001:2::2, the TAP's
//! MTU 20 bytes above the script's so that the MSS is the same, an IPv6-only socket
//! (`IPV6_V6ONLY`), the connection's state from `/proc/net/tcp6` ([`family`]). Its differences
//! are those of `DIFFERENCES` plus any listed in `tests/scripts/DIFFERENCES-ipv6`; a script
//! whose MTU is under IPv6's 1280 is skipped.

mod common;
#[path = "scripts_linux/family.rs"]
mod family;

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use common::Packet;
use common::peer::{ACK, LOCAL_PORT, PEER_PORT};
use common::script::{Sut, config_line, panic_message, run_script, select_scripts};
use family::Family;
use mtcp_io::tap::{TapConfig, TapDevice, TapQueue};
use mtcp_io::{Burst, Device, Queue, TxFrame};
use mtcp_testkit::{Netns, require_root, unique_name};
use mtcp_wire::{ChecksumCapabilities, EthernetAddress, TcpRepr};
use socket2::{Socket, TcpKeepalive, Type};

/// The kernel interface's MAC (set on the TAP); the peer's is the TAP's user side.
const KERNEL_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0x18, 0, 1]);
/// Timing slack of an expected segment: this, plus a tenth of the line's delay.
const SLACK_MS: u64 = 50;
/// Linux' longest delay of an ACK (TCP_DELACK_MAX), the late slack of a pure ACK; RFC 9293
/// §3.8.6.3 allows 500 ms.
const DELACK_MAX_MS: u64 = 200;
/// How long a `silence` or the end of a script waits for stray segments.
const QUIET_MS: u64 = 20;

/// Linux errno values the socket calls map to the engine's errors.
const EINPROGRESS: i32 = 115;
const EALREADY: i32 = 114;
const EISCONN: i32 = 106;

/// Socket options from the script's `config` line.
#[derive(Clone, Default)]
struct SockOpts {
    nodelay: bool,
    sndbuf: Option<usize>,
    rcvbuf: Option<usize>,
    keepalive: Option<TcpKeepalive>,
    cc: Option<&'static [u8]>,
}

/// The Linux kernel as a system under test, driven from a thread inside the namespace.
struct Kernel {
    family: Family,
    q: TapQueue,
    peer_mac: EthernetAddress,
    caps: ChecksumCapabilities,
    start: StdInstant,
    /// Script time of the current line (ms since the start).
    script_ms: u64,
    /// Delay of the current line.
    delta_ms: u64,
    /// Script time of the last segment sent or received or call made (when a timer was armed).
    last_event_ms: u64,
    /// Real time (ms since the start) of that event: later lines are timed from it, so that
    /// the runner's own lateness (a loaded machine) does not count as the kernel's.
    last_event_real_ms: u64,
    /// Real time at which the script's clock reached the current line's time: a segment the
    /// line expects may have been sent from then on (by any of the lines at that time).
    time_reached_real_ms: u64,
    /// Arrival times (ms since the start) of the segments in the runner's `pending`, in order.
    arrivals: VecDeque<u64>,
    opts: SockOpts,
    listener: Option<Socket>,
    conn: Option<Socket>,
    /// The current connection's peer port (for its entry in the kernel's table).
    conn_port: u16,
    /// An error taken from the socket by an `event` check, for the next call to report.
    sticky: Option<std::io::Error>,
}

fn map_err(e: &std::io::Error) -> mtcp_tcp::Error {
    use mtcp_tcp::Error as E;
    match e.kind() {
        ErrorKind::WouldBlock => E::WouldBlock,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused => E::Reset,
        ErrorKind::TimedOut => E::TimedOut,
        ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable => E::AddrInUse,
        _ => match e.raw_os_error() {
            Some(EALREADY) | Some(EISCONN) => E::InvalidState,
            _ => E::InvalidState,
        },
    }
}

impl Kernel {
    /// The kernel's state of the current connection (see [`Family::kernel_state`]).
    fn kernel_state(&self) -> Option<&'static str> {
        self.family.kernel_state(LOCAL_PORT, self.conn_port)
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Real time of the current line: its script time, counted from the last event.
    fn line_real_ms(&self) -> u64 {
        self.last_event_real_ms + (self.script_ms - self.last_event_ms)
    }

    /// The kernel's state of the current connection, once `ok` holds or the late slack after
    /// the line's script time has passed (a timer due at the script time may fire late).
    fn settled_state(&self, ok: impl Fn(Option<&'static str>) -> bool) -> Option<&'static str> {
        let timer_ms = self.script_ms - self.last_event_ms;
        let until = self.line_real_ms() + SLACK_MS + timer_ms / 4;
        loop {
            let got = self.kernel_state();
            if ok(got) || self.now_ms() >= until {
                return got;
            }
            std::thread::sleep(StdDuration::from_millis(2));
        }
    }

    /// A segment was sent or received, or a call made, now (its line's script time).
    fn event_at(&mut self, real_ms: u64) {
        self.last_event_ms = self.script_ms;
        self.last_event_real_ms = real_ms;
    }

    /// Receives the kernel's frames until `until_ms` (at least one non-blocking pass).
    fn receive(&mut self, until_ms: u64, pending: &mut VecDeque<Packet>, stop_at_one: bool) {
        loop {
            let mut rx: Burst<_> = Burst::new();
            let _ = self.q.rx_burst(&mut rx);
            let at = self.now_ms();
            for buf in rx.iter() {
                if let Some(p) = self.family.parse(buf, &self.caps) {
                    pending.push_back(p);
                    self.arrivals.push_back(at);
                }
            }
            let now = self.now_ms();
            if now >= until_ms || (stop_at_one && !pending.is_empty()) {
                return;
            }
            let wait = (until_ms - now).min(5);
            let _ = self.q.wait_rx(StdDuration::from_millis(wait));
        }
    }

    fn socket(&self) -> std::io::Result<Socket> {
        let s = Socket::new(self.family.domain(), Type::STREAM, None)?;
        if self.family == Family::V6 {
            s.set_only_v6(true)?;
        }
        s.set_reuse_address(true)?;
        s.set_nodelay(self.opts.nodelay)?;
        if let Some(n) = self.opts.sndbuf {
            s.set_send_buffer_size(n)?;
        }
        if let Some(n) = self.opts.rcvbuf {
            s.set_recv_buffer_size(n)?;
        }
        if let Some(k) = &self.opts.keepalive {
            s.set_keepalive(true)?;
            s.set_tcp_keepalive(k)?;
        }
        if let Some(cc) = self.opts.cc {
            s.set_tcp_congestion(cc)?;
        }
        Ok(s)
    }

    fn conn(&self, ctx: &str) -> &Socket {
        self.conn
            .as_ref()
            .unwrap_or_else(|| panic!("{ctx}: no connection"))
    }

    fn connect(&mut self) -> Result<(), mtcp_tcp::Error> {
        let s = self.socket().map_err(|e| map_err(&e))?;
        s.bind(&self.family.kernel_at(LOCAL_PORT).into())
            .map_err(|e| map_err(&e))?;
        s.set_nonblocking(true).unwrap();
        match s.connect(&self.family.peer_at(PEER_PORT).into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
            Err(e) => return Err(map_err(&e)),
        }
        self.conn = Some(s);
        self.conn_port = PEER_PORT;
        Ok(())
    }

    fn listen(&mut self, backlog: i32) -> Result<(), mtcp_tcp::Error> {
        let s = self.socket().map_err(|e| map_err(&e))?;
        s.bind(&self.family.kernel_at(LOCAL_PORT).into())
            .map_err(|e| map_err(&e))?;
        s.listen(backlog).map_err(|e| map_err(&e))?;
        s.set_nonblocking(true).unwrap();
        self.listener = Some(s);
        Ok(())
    }

    /// The socket's pending error (kept for the next call that reports errors).
    fn socket_error(&mut self, ctx: &str) -> Option<mtcp_tcp::Error> {
        if self.sticky.is_none() {
            self.sticky = self.conn(ctx).take_error().unwrap();
        }
        self.sticky.as_ref().map(map_err)
    }

    fn event(&mut self, ctx: &str, ev: &str) {
        match ev {
            "Readable" => {
                let mut b = [std::mem::MaybeUninit::uninit(); 1];
                let r = self.conn(ctx).peek(&mut b);
                assert!(
                    !matches!(&r, Err(e) if e.kind() == ErrorKind::WouldBlock),
                    "{ctx}: not readable"
                );
            }
            "Connected" => {
                assert!(self.socket_error(ctx).is_none(), "{ctx}: {:?}", self.sticky);
                assert!(self.conn(ctx).peer_addr().is_ok(), "{ctx}: not connected");
            }
            // The event reports the error (and takes it, as our event queue does).
            "Reset" | "TimedOut" => {
                let got = self.socket_error(ctx);
                self.sticky = None;
                let want = common::script::parse_error(ev);
                assert_eq!(got, Some(want), "{ctx}: socket error {got:?}");
            }
            // Edges of our event queue with no socket-level counterpart.
            _ => {}
        }
    }

    /// An error of a call on the connection: once the kernel has freed the connection (after a
    /// reset, a timeout, or the end of TIME-WAIT) our engine's handle is stale, `InvalidHandle`.
    fn call_error(&self, e: &std::io::Error) -> mtcp_tcp::Error {
        let gone = matches!(self.kernel_state(), None | Some("Closed"));
        let reported = matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::TimedOut);
        if gone && !reported {
            mtcp_tcp::Error::InvalidHandle
        } else {
            map_err(e)
        }
    }

    fn send(&mut self, len: usize) -> Result<usize, mtcp_tcp::Error> {
        if let Some(e) = self.sticky.take() {
            return Err(map_err(&e));
        }
        let conn = self.conn.as_ref().ok_or(mtcp_tcp::Error::InvalidHandle)?;
        (&*conn)
            .write(&vec![b'y'; len])
            .map_err(|e| self.call_error(&e))
    }

    fn recv(&mut self, len: usize) -> Result<usize, mtcp_tcp::Error> {
        if let Some(e) = self.sticky.take() {
            return Err(map_err(&e));
        }
        let conn = self.conn.as_ref().ok_or(mtcp_tcp::Error::InvalidHandle)?;
        let mut buf = vec![0u8; len.max(1)];
        (&*conn).read(&mut buf).map_err(|e| self.call_error(&e))
    }
}

impl Sut for Kernel {
    fn strict(&self) -> bool {
        false
    }

    /// Applied when the namespace was set up ([`setup`]).
    fn config(&mut self, _args: &str) {}

    fn advance(&mut self, delta_ms: u64, pending: &mut VecDeque<Packet>) {
        self.script_ms += delta_ms;
        self.delta_ms = delta_ms;
        let until = self.line_real_ms();
        self.receive(until, pending, false);
        if delta_ms > 0 {
            self.time_reached_real_ms = until;
        }
    }

    fn collect(&mut self, pending: &mut VecDeque<Packet>) {
        self.receive(0, pending, false);
    }

    fn next_sent(&mut self, ctx: &str, pending: &mut VecDeque<Packet>) -> Option<Packet> {
        let slack = SLACK_MS + self.delta_ms / 10;
        let timer_ms = self.script_ms - self.last_event_ms;
        let due = self.line_real_ms();
        let wait = (SLACK_MS + timer_ms / 4).max(DELACK_MAX_MS);
        self.receive(due + wait, pending, true);
        if pending.is_empty() {
            // For the report: when does the next segment come, if at all (within 3 s)?
            self.receive(self.now_ms() + 3_000, pending, true);
            let next = pending.front().map(|p| {
                (
                    self.arrivals[0] as i64 - due as i64,
                    p.repr.flags,
                    p.payload.len(),
                )
            });
            panic!("{ctx}: sent nothing by +{wait} ms; next (ms from due): {next:?}");
        }
        let p = pending.pop_front()?;
        let at = self.arrivals.pop_front().unwrap();
        // A pure ACK may be late by Linux' longest ACK delay (in interactive mode).
        let pure_ack = p.repr.flags == ACK && p.payload.is_empty();
        // Linux' timer wheel fires a timer up to 1/8 of its length late; twice that for load.
        let late = SLACK_MS + timer_ms / 4;
        let late = if pure_ack {
            late.max(DELACK_MAX_MS)
        } else {
            late
        };
        assert!(
            at + slack >= self.time_reached_real_ms && at <= due + late,
            "{ctx}: sent {} ms from the script's time (-{slack}/+{late})",
            at as i64 - due as i64,
        );
        self.event_at(at.max(due));
        Some(p)
    }

    fn inject(&mut self, seg: &TcpRepr<'_>) {
        let now = self.now_ms();
        self.event_at(now);
        // Delayed ACKs as ours: TCP_QUICKACK=0 (interactive mode) before every segment of a
        // synchronized connection (Linux leaves that mode when a delayed ACK fires; in SYN-SENT
        // it would delay the handshake's ACK, which neither Linux by default nor we do).
        if let Some(c) = &self.conn {
            if !matches!(self.kernel_state(), None | Some("SynSent")) {
                let _ = c.set_quickack(false);
            }
        }
        let mut buf = self.q.tx_alloc().expect("TAP buffer");
        let n = self
            .family
            .emit(buf.whole_mut(), self.peer_mac, KERNEL_MAC, seg, &self.caps);
        buf.set_len(n.max(60));
        let mut burst: Burst<_> = Burst::new();
        let _ = burst.push(buf);
        assert_eq!(self.q.tx_burst(&mut burst).unwrap(), 1, "TAP write");
    }

    fn finish(&mut self, pending: &mut VecDeque<Packet>) {
        let until = self.now_ms() + QUIET_MS;
        self.receive(until, pending, false);
    }

    fn call(&mut self, ctx: &str, cmd: &str, args: &str, want: Option<&str>) {
        use common::script::{check, parse_error};
        if !matches!(
            cmd,
            "state" | "gone" | "event" | "noevent" | "deadline" | "info" | "bbr"
        ) {
            let now = self.now_ms();
            self.event_at(now);
        }
        match cmd {
            "connect" => match want {
                Some(w) => assert_eq!(self.connect().err(), Some(parse_error(w)), "{ctx}"),
                None => self.connect().unwrap_or_else(|e| panic!("{ctx}: {e:?}")),
            },
            "listen" => {
                let backlog = args.parse().unwrap_or(8);
                check(ctx, self.listen(backlog), (), want)
            }
            "accept" => {
                let l = self.listener.as_ref().expect("listener");
                match (l.accept(), want) {
                    (Err(e), Some("none")) if e.kind() == ErrorKind::WouldBlock => {}
                    (Ok((s, addr)), None) => {
                        s.set_nonblocking(true).unwrap();
                        self.conn_port = addr.as_socket().unwrap().port();
                        self.conn = Some(s);
                        self.sticky = None;
                    }
                    (got, _) => panic!("{ctx}: accept gave {:?}", got.map(|(_, a)| a)),
                }
            }
            "nodelay" => self.conn(ctx).set_nodelay(true).unwrap(),
            "send" => {
                let len: usize = args.parse().unwrap();
                let ok = want.and_then(|w| w.parse().ok()).unwrap_or(len);
                let got = self.send(len);
                check(ctx, got, ok, want);
            }
            "recv" => {
                let len: usize = args.parse().unwrap();
                let ok = want.and_then(|w| w.parse().ok()).unwrap_or(len);
                let got = self.recv(len);
                check(ctx, got, ok, want);
            }
            "close" => {
                let got = self
                    .conn
                    .take()
                    .map(drop)
                    .ok_or(mtcp_tcp::Error::InvalidHandle);
                check(ctx, got, (), want)
            }
            "shutdown" => {
                let got = self
                    .conn(ctx)
                    .shutdown(Shutdown::Write)
                    .map_err(|e| map_err(&e));
                check(ctx, got, (), want)
            }
            "abort" => {
                let got = self.conn.take().ok_or(mtcp_tcp::Error::InvalidHandle);
                let got = got.map(|s| s.set_linger(Some(StdDuration::ZERO)).unwrap());
                check(ctx, got, (), want)
            }
            "state" => {
                let got = self.settled_state(|s| s.unwrap_or("Closed") == args);
                assert!(got.unwrap_or("Closed") == args, "{ctx}: state {got:?}");
            }
            "gone" => {
                let got = self.settled_state(|s| matches!(s, None | Some("Closed")));
                assert!(
                    matches!(got, None | Some("Closed")),
                    "{ctx}: connection still exists ({got:?})"
                );
            }
            "event" => self.event(ctx, args),
            // `info` and `bbr` read our TcpInfo; the segments around them are still compared.
            "noevent" | "deadline" | "info" | "bbr" => {}
            other => panic!("{ctx}: unknown command {other}"),
        }
    }
}

/// Sysctls of every namespace (see the crate doc above).
const PINNED: &[(&str, &str)] = &[
    ("tcp_ecn", "0"),
    ("tcp_autocorking", "0"),
    ("tcp_comp_sack_nr", "0"),
    ("tcp_frto", "0"),
    ("tcp_invalid_ratelimit", "0"),
    ("tcp_challenge_ack_limit", "1000"),
    ("tcp_rto_min_us", "200000"),
    ("tcp_rto_max_ms", "60000"),
    ("tcp_syn_linear_timeouts", "0"),
    ("tcp_early_retrans", "3"),
    ("tcp_recovery", "1"),
    ("tcp_dsack", "1"),
    ("tcp_no_metrics_save", "1"),
    ("tcp_tw_reuse", "1"),
    ("tcp_tw_reuse_delay", "1"),
    ("tcp_sack", "1"),
    ("tcp_timestamps", "1"),
    ("tcp_window_scaling", "1"),
    ("tcp_syncookies", "1"),
    ("tcp_fin_timeout", "1"),
];

/// The sysctls, interface settings and socket options of a script's `config` line.
fn translate_config(args: &str) -> (Vec<(String, String)>, Option<u16>, SockOpts) {
    let mut sysctls: Vec<(String, String)> = PINNED
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut set = |k: &str, v: String| sysctls.push((k.to_string(), v));
    let (mut mtu, mut opts) = (None, SockOpts::default());
    for kv in args.split_whitespace() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let on = if v == "off" { "0" } else { "1" };
        match k {
            "nodelay" => opts.nodelay = true,
            "sack" => set("tcp_sack", on.into()),
            "ts" => set("tcp_timestamps", on.into()),
            "wscale" => set("tcp_window_scaling", on.into()),
            "cookies" => set("tcp_syncookies", on.into()),
            "sndbuf" => opts.sndbuf = v.parse().ok(),
            "rcvbuf" => opts.rcvbuf = v.parse().ok(),
            "mtu" => mtu = v.parse().ok(),
            "retries" => set("tcp_retries2", v.into()),
            "syn_retries" => set("tcp_syn_retries", v.into()),
            "time_wait" => {
                let s = v.parse::<u64>().unwrap().div_ceil(1000).max(1);
                set("tcp_fin_timeout", s.to_string());
            }
            "cc" => {
                opts.cc = Some(match v {
                    "reno" => b"reno",
                    "bbr" => b"bbr",
                    _ => b"cubic",
                })
            }
            "keepalive" => {
                let p: Vec<u64> = v.split(',').map(|x| x.parse().unwrap()).collect();
                let secs = |ms: u64| StdDuration::from_secs(ms.div_ceil(1000).max(1));
                opts.keepalive = Some(
                    TcpKeepalive::new()
                        .with_time(secs(p[0]))
                        .with_interval(secs(p[1]))
                        .with_retries(p[2] as u32),
                );
            }
            // No Linux counterpart (stated in DIFFERENCES where it matters).
            "idle_timeout" | "delack" => {}
            other => panic!("unknown config {other}"),
        }
    }
    (sysctls, mtu, opts)
}

/// What a script's `config` line sets on the Linux side beyond [`PINNED`], as the `# linux:` line
/// every script's header carries (checked by `script_headers_state_the_linux_settings`).
fn linux_settings(config: &str) -> String {
    let (sysctls, mtu, opts) = translate_config(config);
    let mut out = String::from("# linux: PINNED sysctls of scripts_linux.rs");
    for (k, v) in &sysctls[PINNED.len()..] {
        if PINNED.iter().any(|(pk, pv)| pk == k && pv == v) {
            continue;
        }
        out += &format!(", {k}={v}");
    }
    if let Some(m) = mtu {
        out += &format!(", mtu {m}");
    }
    if opts.nodelay {
        out += ", TCP_NODELAY";
    }
    if let Some(n) = opts.sndbuf {
        out += &format!(", SO_SNDBUF={n}");
    }
    if let Some(n) = opts.rcvbuf {
        out += &format!(", SO_RCVBUF={n}");
    }
    if let Some(k) = &opts.keepalive {
        out += &format!(", SO_KEEPALIVE with {k:?}");
    }
    if let Some(cc) = opts.cc {
        out += &format!(", TCP_CONGESTION={}", String::from_utf8_lossy(cc));
    }
    out
}

/// Every script states in its header what it pins on the Linux side (`# linux:` after the leading
/// comment), derived from its `config` line; `SCRIPTS_BLESS=1` writes the lines.
#[test]
fn script_headers_state_the_linux_settings() {
    let bless = std::env::var_os("SCRIPTS_BLESS").is_some();
    let mut wrong = Vec::new();
    for path in select_scripts() {
        let text = std::fs::read_to_string(&path).unwrap();
        let want = linux_settings(&config_line(&text));
        if text.lines().any(|l| l == want) {
            continue;
        }
        if !bless {
            wrong.push(path.file_name().unwrap().to_string_lossy().into_owned());
            continue;
        }
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("# linux:"))
            .collect();
        let head = lines.iter().take_while(|l| l.starts_with('#')).count();
        let mut out: Vec<&str> = lines[..head].to_vec();
        out.push(&want);
        out.extend_from_slice(&lines[head..]);
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
    }
    assert!(
        wrong.is_empty(),
        "scripts without their `# linux:` header line (SCRIPTS_BLESS=1 writes them): {wrong:?}"
    );
}

/// A namespace with a TAP whose kernel side has `family`'s kernel address (198.18.0.1/24 or
/// 2001:2::1/64) and is configured for `config`.
fn setup(config: &str, family: Family) -> (Netns, TapQueue, EthernetAddress, SockOpts) {
    let ns = Netns::new(&unique_name("scr")).expect("netns");
    let tap = unique_name("scrt");
    let name = tap.clone();
    let mut dev = ns
        .run(move || TapDevice::open(&TapConfig::new(&name)))
        .expect("run")
        .expect("tap");
    let peer_mac = dev.info().mac;
    let (sysctls, mtu, opts) = translate_config(config);
    let kmac = format!("{KERNEL_MAC}");
    ns.exec_ok(&["ip", "link", "set", &tap, "address", &kmac])
        .unwrap();
    family.set_up_link(&ns, &tap, mtu.unwrap_or(1500), &format!("{peer_mac}"));
    // The net.ipv4.tcp_* settings are TCP's over IPv6 too.
    for (k, v) in &sysctls {
        ns.exec_ok(&["sysctl", "-qw", &format!("net.ipv4.{k}={v}")])
            .unwrap();
    }
    let q = dev.queue(0).expect("queue");
    (ns, q, peer_mac, opts)
}

/// Plays one script against a fresh kernel; `Err` holds the first disagreement.
fn run_against_linux(path: &Path, family: Family) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap();
    let (ns, q, peer_mac, opts) = setup(&config_line(&text), family);
    let path = path.to_path_buf();
    let result = ns.run(move || {
        let mut k = Kernel {
            family,
            q,
            peer_mac,
            caps: ChecksumCapabilities::software(),
            start: StdInstant::now(),
            script_ms: 0,
            delta_ms: 0,
            last_event_ms: 0,
            last_event_real_ms: 0,
            time_reached_real_ms: 0,
            arrivals: VecDeque::new(),
            opts,
            listener: None,
            conn: None,
            conn_port: PEER_PORT,
            sticky: None,
        };
        catch_unwind(AssertUnwindSafe(|| run_script(&path, &mut k)))
            .map_err(|e| panic_message(&*e).replace('\n', " "))
    });
    result.map_err(|e| e.to_string())?
}

/// Whether a script can run over IPv6: IPv6 needs a link MTU of 1280 (RFC 8200 §5), so a script
/// whose MTU (plus [`family::IPV6_EXTRA_MTU`]) is smaller is skipped, as the engine's IPv6
/// replay skips it.
fn runs_over_ipv6(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap();
    let (_, mtu, _) = translate_config(&config_line(&text));
    mtu.unwrap_or(1500) + family::IPV6_EXTRA_MTU >= 1280
}

/// One family's run at a time: each plays two scripts at once, in real time.
static ONE_RUN: Mutex<()> = Mutex::new(());

#[test]
#[ignore = "needs root (network namespace, TAP)"]
fn scripts_against_linux() {
    run_all_against_linux(Family::V4);
}

/// Every script again with the kernel and the peer on IPv6 addresses (2001:2::1 and ::2, the MTU
/// 20 bytes larger so that the MSS is the IPv4 run's), as the engine's IPv6 replay.
#[test]
#[ignore = "needs root (network namespace, TAP)"]
fn scripts_against_linux_over_ipv6() {
    run_all_against_linux(Family::V6);
}

fn run_all_against_linux(family: Family) {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    require_root("scripts_against_linux");
    let listed = Arc::new(family.differences());
    // Disagreements are panics caught per script and reported below: keep the default hook's
    // output (a backtrace note per script) out of the log.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut scripts = select_scripts();
    if family == Family::V6 {
        scripts.retain(|f| {
            let runs = runs_over_ipv6(f);
            if !runs {
                eprintln!("skipping {} over IPv6: its MTU is under 1280", f.display());
            }
            runs
        });
    }
    let files: Arc<Mutex<Vec<PathBuf>>> = Arc::new(Mutex::new(scripts));
    let total = files.lock().unwrap().len();
    let results = Arc::new(Mutex::new(Vec::new()));
    // Scripts run in real time (one of them ~100 s); two at once, each in its own namespace.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (files, results) = (files.clone(), results.clone());
            let listed = listed.clone();
            std::thread::spawn(move || {
                loop {
                    let Some(f) = files.lock().unwrap().pop() else {
                        return;
                    };
                    let name = f.file_name().unwrap().to_string_lossy().into_owned();
                    let mut r = run_against_linux(&f, family);
                    // The kernel's RTT samples are real: a runner delayed by a loaded machine
                    // skews its timers. An unlisted difference must show twice to count.
                    if r.is_err() && !listed.contains_key(&name) {
                        eprintln!("retrying {name}: {}", r.unwrap_err());
                        r = run_against_linux(&f, family);
                    }
                    results.lock().unwrap().push((name, r));
                }
            })
        })
        .collect();
    let joined: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
    std::panic::set_hook(hook);
    for j in joined {
        j.expect("a worker failed outside a script (namespace or TAP setup)");
    }
    let mut results = results.lock().unwrap().clone();
    results.sort();
    let mut unexpected = Vec::new();
    let mut agree = 0;
    for (name, r) in &results {
        match (r, listed.get(name)) {
            (Ok(()), None) => agree += 1,
            // Timing differences can come and go with the machine's load: a note, not a failure.
            (Ok(()), Some(_)) => {
                agree += 1;
                eprintln!("note: {name} agrees with Linux in this run but is listed")
            }
            (Err(e), Some(_)) => eprintln!("listed difference {name}: {e}"),
            (Err(e), None) => unexpected.push(format!("{name}: {e}")),
        }
    }
    eprintln!(
        "{family:?}: {agree} of {total} scripts agree with Linux; {} listed differences, {} unlisted",
        total - agree - unexpected.len(),
        unexpected.len()
    );
    assert!(
        unexpected.is_empty(),
        "unlisted differences:\n{}",
        unexpected.join("\n")
    );
}
