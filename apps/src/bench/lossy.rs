//! `lossy1` and `lossy3`: one transfer to a Linux receiver across a veth pair between two
//! namespaces (MTU 1500, offloads off), with nft dropping the stated share of the data segments
//! that reach the receiver (`numgen random`); the figure is the receiver's completion time.
//! Senders, in the same run: Linux with each of CUBIC and BBR (`TCP_CONGESTION` on the sending
//! socket, [`sender_main`]; an algorithm missing from
//! `/proc/sys/net/ipv4/tcp_available_congestion_control`, or one the socket may not select,
//! gives an `unavailable` row, since modules cannot be loaded here), and ours over each of the
//! run's veth links (AF_PACKET, AF_XDP) with each `--cc` algorithm (mtcp.conf's
//! `tcp_cc = X`; a stack that rejects the key gives an `unsupported` row, except for `cubic`,
//! its only algorithm so far, which then runs without the key). They take turns: each round
//! runs one transfer of every sender, and a row is the median of its sender's rounds
//! (`--lossy-runs`), so a slow spell of the machine falls on all of them alike.
//!
//! Each transfer runs as on two hosts of one core each ([`Placement`]): the sender on the first
//! CPU the bench may use, the receiver on the second, and the kernel's receive work of each
//! end's frames (RPS) on that end's CPU.
//!
//! Rows: workload `lossy1_cubic` (etc.), link `kernel-1500` with run mode `kernel` for Linux's
//! senders, link `afpacket` or `afxdp` with our run mode for ours.
//!
//! With `MTCP_PERF_INFO=1` in the environment our sender prints its `TcpInfo` when the receiver's
//! EOF arrives (retransmissions, timeouts, fast recoveries, tail loss probes, lost
//! retransmissions, D-SACKs, undos) and the bench repeats it beside each transfer's line.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mtcp_socket_api::MtcpConf;

use super::proc::{Child, run_client, sh};
use super::sub::number_before;
use super::topo::Topo;
use super::{Link, Params, Row, Workload};

const SERVER_IP: &str = "198.18.3.1";
const CLIENT_IP: &str = "198.18.3.2";
const PORT: u16 = 5001;
/// Linux's senders, in this order.
const LINUX_CC: [&str; 2] = ["cubic", "bbr"];

/// The workload's share of dropped data segments in thousandths; `MTCP_BENCH_LOSS_PERMILLE`
/// in the environment overrides it (0 measures the lossless path beside a lossy run).
fn loss_permille(w: Workload) -> u32 {
    if let Some(p) = std::env::var("MTCP_BENCH_LOSS_PERMILLE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return p;
    }
    if w == Workload::Lossy3 { 30 } else { 10 }
}

/// The nft ruleset of the receiver: drop `permille` thousandths of the TCP segments with data that arrive
/// for the bench's port (a frame longer than 200 bytes carries data; ACKs and SYNs pass).
fn ruleset(permille: u32) -> String {
    format!(
        "table inet mtcpbenchloss {{\n chain i {{ type filter hook input priority 0; \
         tcp dport {PORT} meta length > 200 numgen random mod 1000 < {} counter drop\n }}\n}}\n",
        permille
    )
}

/// Segments the receiver's rule dropped since it was loaded.
fn dropped(topo: &Topo) -> Option<u64> {
    let ns = topo.server_ns().name();
    let text = sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "nft",
        "list",
        "table",
        "inet",
        "mtcpbenchloss",
    ])
    .ok()?;
    let at = text.find("counter packets ")? + "counter packets ".len();
    text[at..].split_whitespace().next()?.parse().ok()
}

fn set_loss(topo: &Topo, permille: u32) -> Result<(), String> {
    let ns = topo.server_ns().name();
    let _ = sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "nft",
        "delete",
        "table",
        "inet",
        "mtcpbenchloss",
    ]);
    let file = std::env::temp_dir().join(format!("mtcpbench-loss-{}.nft", std::process::id()));
    std::fs::write(&file, ruleset(permille)).map_err(|e| e.to_string())?;
    let r = sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "nft",
        "-f",
        &file.to_string_lossy(),
    ]);
    let _ = std::fs::remove_file(&file);
    r.map(|_| ())
}

/// Where a transfer's two ends run, as on two hosts of one core each: the receiver, and the
/// softirq work of the frames reaching it (RPS on the server's veth end), on one CPU; the sender,
/// and the softirq work of the frames coming back to it (RPS on the client's end), on another.
/// On a veth pair a frame is otherwise received on the CPU that sent it (`veth_xmit` queues it
/// to that CPU's backlog), so a sender that keeps its CPU busy pays for the receiver's TCP as
/// well. Linux's senders and ours get the same placement; `MTCP_BENCH_PLACE=0` in the
/// environment turns it off (the scheduler places the processes, the kernel receives on the
/// sending CPU).
#[derive(Clone, Copy, Debug)]
struct Placement {
    sender: usize,
    receiver: usize,
}

/// The first two CPUs this process may run on, or `None` with fewer (or when turned off).
fn placement() -> Option<Placement> {
    if std::env::var("MTCP_BENCH_PLACE").is_ok_and(|v| v == "0") {
        return None;
    }
    let mask = affinity()?;
    let mut cpus = (0..64usize).filter(|&c| {
        // SAFETY: `c` < CPU_SETSIZE; CPU_ISSET only reads the set.
        unsafe { libc::CPU_ISSET(c, &mask) }
    });
    Some(Placement {
        sender: cpus.next()?,
        receiver: cpus.next()?,
    })
}

fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: an all-zero cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into `set`.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    (rc == 0).then_some(set)
}

fn set_affinity(set: &libc::cpu_set_t) {
    // SAFETY: sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of a live set; on failure
    // the thread keeps its mask (placement is a measurement aid, not a requirement).
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) };
}

/// Runs `f` with this thread bound to `cpu` (when given), so that processes it starts inherit
/// the binding; then restores the thread's mask.
fn on_cpu<T>(cpu: Option<usize>, f: impl FnOnce() -> T) -> T {
    let (Some(cpu), Some(old)) = (cpu, affinity()) else {
        return f();
    };
    // SAFETY: an all-zero cpu_set_t is an empty set; `cpu` < 64 (see `placement`).
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    set_affinity(&one);
    let r = f();
    set_affinity(&old);
    r
}

/// Steers the frames arriving at each end of the veth pair to that end's CPU (RPS).
fn steer(topo: &Topo, at: Placement) -> Result<(), String> {
    for (ns, ifname, cpu) in [
        (topo.server_ns().name(), &topo.server_if, at.receiver),
        (topo.client_ns().name(), &topo.client_if, at.sender),
    ] {
        let cmd = format!(
            "echo {:x} > /sys/class/net/{ifname}/queues/rx-0/rps_cpus",
            1u64 << cpu
        );
        sh(&["ip", "netns", "exec", ns, "sh", "-c", &cmd])?;
    }
    Ok(())
}

/// One transfer of `p.lossy_bytes`; the receiver's seconds.
fn transfer_once(topo: &Topo, app: &str, stack: &[String], p: &Params) -> Result<f64, String> {
    let srv_args: Vec<String> = [
        "server", "--kernel", "-a", SERVER_IP, "-p", "5001", "--once",
    ]
    .map(String::from)
    .to_vec();
    let before = dropped(topo).unwrap_or(0);
    let at = placement();
    let mut srv = on_cpu(at.map(|a| a.receiver), || {
        Child::spawn(topo.server_ns().name(), "mtcp-perf", &srv_args)
    })?;
    srv.wait_line("server on", Duration::from_secs(30))?;
    let mut args = vec![
        "client".to_string(),
        format!("{SERVER_IP}:{PORT}"),
        "--send".into(),
        p.lossy_bytes.to_string(),
        "--recv".into(),
        "0".into(),
    ];
    args.extend(stack.iter().cloned());
    let out = on_cpu(at.map(|a| a.sender), || {
        run_client(
            topo.client_ns().name(),
            app,
            &args,
            Duration::from_secs(120),
        )
    });
    if let Ok(said) = &out {
        // Its TcpInfo (MTCP_PERF_INFO=1) and frames AF_PACKET lost for a full receive ring.
        for l in said
            .iter()
            .filter(|l| l.contains("TcpInfo") || l.contains("AF_PACKET: the kernel dropped"))
        {
            eprintln!("mtcp-bench: sender {l}");
        }
    }
    if let Err(e) = &out {
        if let Some(at) = e.find("unavailable:") {
            return Err(e[at..].to_string());
        }
    }
    let line = srv
        .wait_line("perf[", Duration::from_secs(30))
        .map_err(|e| match &out {
            Err(c) => format!("{e}; sender: {c}"),
            Ok(_) => e,
        })?;
    if !line.contains("verified") {
        return Err(format!("failed: {line}"));
    }
    let drops = dropped(topo).unwrap_or(0).saturating_sub(before);
    eprintln!("mtcp-bench: lossy transfer, {drops} data segments dropped at the receiver: {line}");
    let rest = &line[line.find("received").unwrap_or(0)..];
    number_before(rest, " s,").ok_or_else(|| format!("failed: unexpected line {line}"))
}

/// `mtcp-bench --as mtcp-lossy-sender client ADDR:PORT --send N --recv 0 --cc ALGO`: a Linux
/// sender of the perf protocol ([`crate::perf`]) whose socket uses congestion control `ALGO`.
#[derive(clap::Parser, Debug)]
#[command(name = "mtcp-lossy-sender")]
struct SenderArgs {
    /// `client` (the only role).
    role: String,
    /// The receiver's `ip:port`.
    target: String,
    /// Bytes to send.
    #[arg(long)]
    send: u64,
    /// Bytes to receive (must be 0).
    #[arg(long, default_value_t = 0)]
    recv: u64,
    /// TCP_CONGESTION of the socket.
    #[arg(long)]
    cc: String,
}

fn set_congestion(s: &TcpStream, cc: &str) -> std::io::Result<()> {
    // SAFETY: setsockopt on an open socket with a pointer/length pair of a live byte slice.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            cc.as_ptr().cast(),
            cc.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn send(a: &SenderArgs) -> Result<(), String> {
    let server = crate::cli::parse_addr(&a.target, PORT)?;
    let mut s = TcpStream::connect(server).map_err(|e| format!("{server}: {e}"))?;
    set_congestion(&s, &a.cc).map_err(|e| format!("unavailable: TCP_CONGESTION {}: {e}", a.cc))?;
    let mut header = a.send.to_le_bytes().to_vec();
    header.extend_from_slice(&a.recv.to_le_bytes());
    let io = |e: std::io::Error| e.to_string();
    s.write_all(&header).map_err(io)?;
    let mut sent = 0;
    while sent < a.send {
        let piece = crate::perf::pattern(sent, (a.send - sent) as usize);
        s.write_all(piece).map_err(io)?;
        sent += piece.len() as u64;
    }
    s.shutdown(Shutdown::Write).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(io)?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).map_err(io)?;
    println!("mtcp-lossy-sender: sent {sent} bytes with {}", a.cc);
    Ok(())
}

/// `mtcp-lossy-sender <args>` (without the program name).
pub fn sender_main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let first = std::iter::once("mtcp-lossy-sender".to_string());
    let a = match <SenderArgs as clap::Parser>::try_parse_from(first.chain(args)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    match send(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtcp-lossy-sender: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `tcp_cc` line for `cc`: `Ok(None)` when the stack has no such key and `cc` is its only
/// algorithm (CUBIC), `Err` when it rejects the algorithm.
fn cc_line(cc: &str) -> Result<Option<String>, String> {
    let line = format!("tcp_cc = {cc}\n");
    match MtcpConf::parse(&format!("io = mem\n{line}")) {
        Ok(_) => Ok(Some(line)),
        Err((_, e)) if cc == "cubic" && e.contains("unknown key") => Ok(None),
        Err((_, e)) => Err(format!(
            "unsupported: the stack rejects `tcp_cc = {cc}` ({e})"
        )),
    }
}

/// One sender of the lossy rows: Linux's with an algorithm, or ours over a link in a run mode
/// with one.
struct Sender {
    /// The row's workload suffix (the algorithm), link and run mode.
    cc: String,
    link: &'static str,
    mode: String,
    /// The program (`mtcp-lossy-sender` or `mtcp-perf`) and its stack arguments.
    app: &'static str,
    args: Vec<String>,
    /// Our stack: it owns the client's address, which the kernel there must let go.
    ours: bool,
    /// Our sender's mtcp.conf, removed when the run ends.
    conf: Option<PathBuf>,
    /// Why it cannot run at all (an algorithm Linux lacks, one our stack rejects).
    unusable: Option<String>,
}

impl Sender {
    /// Linux's sender with `cc`, unusable when the kernel lacks it.
    fn linux(cc: &str) -> Sender {
        let available =
            std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
                .unwrap_or_default();
        // A namespace may set its default only to an algorithm of
        // tcp_allowed_congestion_control unless it has CAP_NET_ADMIN in the initial namespace
        // (a container's root may not), so the sender picks it per socket (TCP_CONGESTION).
        let unusable = (!available.split_whitespace().any(|a| a == cc)).then(|| {
            format!(
                "unavailable: {cc} is not in tcp_available_congestion_control ({})",
                available.trim()
            )
        });
        Sender {
            cc: cc.into(),
            link: "kernel-1500",
            mode: "kernel".into(),
            app: "mtcp-lossy-sender",
            args: vec!["--cc".into(), cc.into()],
            ours: false,
            conf: None,
            unusable,
        }
    }

    /// Our sender over `link` (one of [`Link::veth_io`]'s) in `mode` with `cc`: writes its
    /// mtcp.conf.
    fn ours(topo: &Topo, link: Link, cc: &str, mode: &str) -> Sender {
        let mut s = Sender {
            cc: cc.into(),
            link: link.name(),
            mode: mode.into(),
            app: "mtcp-perf",
            args: Vec::new(),
            ours: true,
            conf: None,
            unusable: None,
        };
        let Some(backend) = link.veth_io() else {
            s.unusable = Some("unsupported: not a veth link".into());
            return s;
        };
        let cc_line = match cc_line(cc) {
            Ok(l) => l.unwrap_or_default(),
            Err(why) => {
                s.unusable = Some(why);
                return s;
            }
        };
        let port = &topo.client_if;
        let conf = std::env::temp_dir().join(format!(
            "mtcpbench-lossy-{}-{backend}-{mode}-{cc}.conf",
            std::process::id()
        ));
        let text = format!(
            "io = {backend}\nnum_cores = 1\nport = {port}\n{port}.ip = {CLIENT_IP}/24\nrun_mode = {mode}\n\
             max_concurrency = 64\nrcvbuf = 262144\nsndbuf = 4194304\ntcp_timewait = 0\ndrain_timeout_ms = 60000\n{cc_line}"
        );
        match std::fs::write(&conf, text) {
            Ok(()) => {
                s.args = vec!["-f".into(), conf.to_string_lossy().into_owned()];
                s.conf = Some(conf);
            }
            Err(e) => s.unusable = Some(format!("failed: {}: {e}", conf.display())),
        }
        s
    }

    /// The row of workload `w` from this sender's transfers (their median) or its failure.
    fn row(&self, w: Workload, secs: &Result<Vec<f64>, String>) -> Row {
        let name = format!("{w}_{}", self.cc);
        let mut secs = match (&self.unusable, secs) {
            (Some(why), _) => return Row::missing(&name, self.link, &self.mode, why),
            (None, Err(e)) if e.starts_with("unavailable:") => {
                return Row::missing(&name, self.link, &self.mode, e);
            }
            (None, Err(e)) => {
                return Row::missing(&name, self.link, &self.mode, &format!("failed: {e}"));
            }
            (None, Ok(secs)) => secs.clone(),
        };
        secs.sort_by(f64::total_cmp);
        // The median (of an even count, the upper of the middle two).
        let Some(&median) = secs.get(secs.len() / 2) else {
            return Row::missing(&name, self.link, &self.mode, "failed: no transfer");
        };
        if secs.len() > 1 {
            let all: Vec<String> = secs.iter().map(|s| format!("{s:.4}")).collect();
            eprintln!(
                "mtcp-bench: lossy: {name} {} {}: median {median:.4} s of {}",
                self.link,
                self.mode,
                all.join(", ")
            );
        }
        Row::new(&name, self.link, &self.mode, median, "s")
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if let Some(conf) = &self.conf {
            let _ = std::fs::remove_file(conf);
        }
    }
}

/// Gives the client's address to the kernel (for Linux's senders) or takes it away (for ours,
/// whose stack answers for it then), when it is not already so.
fn hand_address(topo: &Topo, to_ours: bool, now_ours: &mut Option<bool>) -> Result<(), String> {
    if *now_ours == Some(to_ours) {
        return Ok(());
    }
    let (ns, dev) = (topo.client_ns().name(), topo.client_if.as_str());
    if to_ours {
        sh(&["ip", "netns", "exec", ns, "ip", "addr", "flush", "dev", dev])?;
        let server = topo.server_ns().name();
        let _ = sh(&["ip", "netns", "exec", server, "ip", "neigh", "flush", "all"]);
    } else {
        let addr = format!("{CLIENT_IP}/24");
        sh(&[
            "ip", "netns", "exec", ns, "ip", "addr", "replace", &addr, "dev", dev,
        ])?;
    }
    *now_ours = Some(to_ours);
    Ok(())
}

/// `p.lossy_runs` rounds of one transfer of each usable sender, each round starting one sender
/// later so that none always follows the same one (or the hand-over of the client's address):
/// per sender, its transfers' seconds, or its first failure (which ends its turns).
/// `now_ours` tracks who holds the client's address ([`hand_address`]).
fn take_turns(
    topo: &Topo,
    senders: &[Sender],
    p: &Params,
    now_ours: &mut Option<bool>,
) -> Vec<Result<Vec<f64>, String>> {
    let mut secs: Vec<Result<Vec<f64>, String>> = vec![Ok(Vec::new()); senders.len()];
    for round in 0..p.lossy_runs.max(1) {
        for k in 0..senders.len() {
            let i = (k + round) % senders.len();
            let s = &senders[i];
            let Ok(done) = &mut secs[i] else { continue };
            if s.unusable.is_some() {
                continue;
            }
            match hand_address(topo, s.ours, now_ours)
                .and_then(|()| transfer_once(topo, s.app, &s.args, p))
            {
                Ok(t) => done.push(t),
                Err(e) => secs[i] = Err(e),
            }
        }
    }
    secs
}

/// Runs the lossy workloads `ws`: Linux's senders when `linux`, ours over each of `ours` (veth
/// links) in each of `modes` with each of `p.cc`. The senders take turns, one transfer each per
/// round for `p.lossy_runs` rounds, so that what slows the machine for a while slows every
/// sender alike; each row is its sender's median. A sender whose transfer fails (or whose
/// client address could not be handed over) gets a `failed` row; the others go on.
pub fn run(
    ws: &[Workload],
    linux: bool,
    ours: &[Link],
    modes: &[&str],
    p: &Params,
) -> Result<Vec<Row>, String> {
    let topo = Topo::veth("bl", 1500)?;
    topo.kernel_addrs(SERVER_IP, CLIENT_IP)?;
    if let Some(at) = placement() {
        // Without RPS (a kernel built without it) the processes are still placed.
        if let Err(e) = steer(&topo, at) {
            eprintln!("mtcp-bench: lossy: receive work not steered ({e})");
        }
    }
    let mut senders: Vec<Sender> = Vec::new();
    if linux {
        senders.extend(LINUX_CC.iter().map(|cc| Sender::linux(cc)));
    }
    for &link in ours {
        for cc in &p.cc {
            for mode in modes {
                senders.push(Sender::ours(&topo, link, cc, mode));
            }
        }
    }
    let mut now_ours = None;
    let mut rows = Vec::new();
    for &w in ws {
        set_loss(&topo, loss_permille(w))?;
        let secs = take_turns(&topo, &senders, p, &mut now_ours);
        let new: Vec<Row> = senders
            .iter()
            .zip(&secs)
            .map(|(s, t)| s.row(w, t))
            .collect();
        eprint!("{}", super::report::table(&new));
        rows.extend(new);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_runs_without_the_key_and_unknown_algorithms_are_unsupported() {
        // Whatever the stack accepts today, `cubic` runs and a made-up algorithm does not.
        assert!(cc_line("cubic").is_ok());
        let e = cc_line("no-such-cc").unwrap_err();
        assert!(e.starts_with("unsupported:"), "{e}");
        assert!(ruleset(30).contains("mod 1000 < 30 counter drop"));
    }
}
