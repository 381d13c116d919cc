//! The `mem` link: our stack twice in this process on the in-memory switch, the server on a
//! thread of its own and the client on the calling thread (a core each on a 2-core machine),
//! running the same client and server functions as the other links. Also prints the cycles
//! per segment of each side ([`super::cycles`]) and, run to completion, the stack cost per
//! transaction apart from scheduling ([`super::stackcost`]). The `mem6` link is the same over IPv6
//! (2001:2::3 to 2001:2::2, the server listening on `::`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::backend::AnyQueue;
use mtcp_socket_api::{Context, EpollEvent, Mtcp, MtcpConf};

use super::cycles::{Mark, segments, thread_cpu_ns};
use super::{ECHO_CONNS, MANY_CONNS, MESSAGE_BYTES, Params, Row, SHORT_INFLIGHT, Workload};
use crate::echo::{self, EchoConfig};
use crate::memlink::{CLIENT_IP, SERVER_IP};
use crate::perf;

const PORT: u16 = 7;
/// The server's and the client's IPv6 addresses (the `mem6` link).
const SERVER_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const CLIENT_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 3);

/// The link's name and the server's address (IPv4 on `mem`, IPv6 on `mem6`).
fn family(ipv6: bool) -> (&'static str, IpAddr) {
    if ipv6 {
        ("mem6", SERVER_IP6.into())
    } else {
        ("mem", SERVER_IP.into())
    }
}

/// What the server thread returns: the bulk receiver's report, and its CPU time (ns).
type ServerOut = (Option<perf::PerfReport>, u64);

/// The two instances and their contexts (the switch outlives them).
pub(super) struct Pair {
    pub(super) srv: Mtcp,
    pub(super) cli: Mtcp,
    pub(super) sctx: Context<AnyQueue>,
    pub(super) cctx: Context<AnyQueue>,
    pub(super) _switch: MemSwitch,
}

/// Socket buffers per workload, as on the other links (`super::sub`): the echo family's are
/// sized for 10 000 connections.
pub(super) fn buffers(w: Workload) -> usize {
    match w {
        Workload::Bulk1500 | Workload::Bulk9000 => 1 << 20,
        _ => 16 * 1024,
    }
}

/// The drain at the end of a run is bounded (200 ms): the bulk client drives its own stack until
/// the receiver has everything, and the echo connections still open at the end are dropped.
fn conf(
    port: &str,
    (ip, ip6): (Ipv4Addr, Ipv6Addr),
    mode: &str,
    bufs: usize,
) -> Result<MtcpConf, String> {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\n{port}.ip6 = {ip6}/64\n\
         max_concurrency = 20000\n\
         rcvbuf = {bufs}\nsndbuf = {bufs}\ntcp_timewait = 0\nrun_mode = {mode}\n\
         drain_timeout_ms = 200\n"
    ))
    .map_err(|(line, e)| format!("mem config line {line}: {e}"))
}

/// Receive ring and buffer pool sizes per workload, as one sizes a NIC's rings. The pools hand
/// buffers out first in, first out, so every free buffer is touched in turn and the working set
/// is the whole pool: 16 384 x 1.5 KiB = 24 MiB missed the caches on every frame (a third of
/// echo64x64's CPU time), so pools are small. A ring smaller than the pool makes a full ring,
/// not an empty pool, push back on the sender (the stack keeps its segments queued instead of
/// losing them). One pool's buffers can fill both rings, though: a receiver hands the frames it
/// received to its own transmissions (`Queue::recycle`), so the echo sends a client's buffers
/// back to it. Each ring is therefore under half the pool, less both sides' recycle caches
/// (128) and bursts in hand (2 x 64): with conns10k's rings of 4096 and a pool of 8192, the
/// client's pool ran dry, its segments were lost when built (a few thousand a run), and their
/// retransmissions (RTOs among them) made conns10k's 200 ms p999. conns10k's 10 000
/// connections each answer at once: a deep ring, as for a NIC serving that many flows.
fn rings(w: Workload) -> (usize, usize) {
    match w {
        Workload::Conns10k => (3584, 8192),
        _ => (512, 1024),
    }
}

pub(super) fn pair(w: Workload, mode: &str, mtu: usize, bufs: usize) -> Result<Pair, String> {
    let (ring_size, pool_size) = rings(w);
    let switch = MemSwitch::new(MemConfig {
        ring_size,
        pool_size,
        mtu,
        // As the NICs of the other links: checksums are the device's work, not the stack's.
        checksum_offload: true,
        ..MemConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let srv = Mtcp::with_switch(
        conf("mem0", (SERVER_IP, SERVER_IP6), mode, bufs)?,
        &switch,
        0,
    )
    .map_err(|e| e.to_string())?;
    let cli = Mtcp::with_switch(
        conf("mem1", (CLIENT_IP, CLIENT_IP6), mode, bufs)?,
        &switch,
        1,
    )
    .map_err(|e| e.to_string())?;
    let sctx = srv.create_context(0).map_err(|e| e.to_string())?;
    let cctx = cli.create_context(0).map_err(|e| e.to_string())?;
    Ok(Pair {
        srv,
        cli,
        sctx,
        cctx,
        _switch: switch,
    })
}

/// Runs `client` against the echo server (or, for bulk, the perf server) and prints the cycles
/// per segment of each side; the server's bulk report comes back through `bulk`.
fn with_server<T>(
    (w, ipv6): (Workload, bool),
    mode: &str,
    client: impl FnOnce(&mut Context<AnyQueue>) -> Result<T, String>,
) -> Result<(T, Option<perf::PerfReport>), String> {
    let link = family(ipv6).0;
    let bulk = matches!(w, Workload::Bulk1500 | Workload::Bulk9000);
    let mtu = if w == Workload::Bulk9000 { 9000 } else { 1500 };
    let Pair {
        srv,
        cli,
        mut sctx,
        mut cctx,
        _switch,
    } = pair(w, mode, mtu, buffers(w))?;
    let any: IpAddr = if ipv6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let any = SocketAddr::new(any, PORT);
    let l = if bulk {
        perf::mtcp_listen(&mut sctx, any)
    } else {
        echo::mtcp_listen(&mut sctx, any)
    }
    .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let server = std::thread::spawn(move || -> Result<ServerOut, String> {
        let cpu = thread_cpu_ns();
        let got = if bulk {
            let mut got = None;
            perf::mtcp_serve(&mut sctx, l, true, &s2, |r| got = Some(r))
                .map_err(|e| e.to_string())?;
            got
        } else {
            echo::mtcp_serve(&mut sctx, l, &s2).map_err(|e| e.to_string())?;
            None
        };
        Ok((got, thread_cpu_ns() - cpu))
    });
    let (ms, mc) = (Mark::now(&srv), Mark::now(&cli));
    let client_cpu = thread_cpu_ns();
    let out = client(&mut cctx);
    if bulk {
        // The client is done when its last byte is in its send buffer: keep its stack running
        // until the receiver has it all (its thread ends after one transfer).
        drive_until(&mut cctx, || server.is_finished());
    }
    let client_cpu = thread_cpu_ns() - client_cpu;
    let (cs, cc) = (ms.per_segment(&srv), mc.per_segment(&cli));
    stop.store(true, Ordering::Relaxed);
    let (report, server_cpu) = server.join().map_err(|_| "server thread panicked")??;
    if let (Some(s), Some(c)) = (cs, cc) {
        eprintln!(
            "mtcp-bench: {w} {link} {mode}: {s:.0} cycles/segment server side, {c:.0} client side"
        );
    }
    // In threaded mode the stack threads do the work: the application threads' CPU time says
    // little.
    let segs = segments(&cli).max(1) as f64;
    eprintln!(
        "mtcp-bench: {w} {link} {mode}: CPU time per segment {:.0} ns server thread, {:.0} ns client thread",
        server_cpu as f64 / segs,
        client_cpu as f64 / segs
    );
    drop(cctx);
    Ok((out?, report))
}

/// Keeps `ctx`'s stack running (an `epoll_wait` drives it in run-to-completion mode) until
/// `done`, at most 30 s.
fn drive_until(ctx: &mut Context<AnyQueue>, done: impl Fn() -> bool) {
    let Ok(ep) = ctx.epoll_create(1) else {
        return;
    };
    let mut evs = [EpollEvent::default(); 1];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() && Instant::now() < deadline {
        if ctx.epoll_wait(ep, &mut evs, 1).is_err() {
            break;
        }
    }
    let _ = ctx.close(ep);
}

fn echo_rows(w: Workload, mode: &str, p: &Params, ipv6: bool) -> Result<Vec<Row>, String> {
    let (link, server) = family(ipv6);
    let (conns, secs) = match w {
        Workload::Echo64x64 => (ECHO_CONNS, p.secs),
        Workload::Latency64 => (1, p.secs),
        _ => (MANY_CONNS, p.conns10k_secs),
    };
    let cfg = EchoConfig {
        server: SocketAddr::new(server, PORT),
        connections: conns,
        message_bytes: MESSAGE_BYTES,
        duration: Duration::from_secs_f64(secs),
    };
    let (mut r, _) = with_server((w, ipv6), mode, |ctx| {
        echo::mtcp_client(ctx, &cfg).map_err(|e| e.to_string())
    })?;
    let line = r.line(link, &cfg);
    eprintln!(
        "mtcp-bench: {w} {link} {mode}: {line}; every connection up after {:.2} s",
        r.ramp.as_secs_f64()
    );
    if mode == "rtc" && !ipv6 && w != Workload::Conns10k {
        match super::stackcost::per_transaction(conns) {
            Ok(ns) => eprintln!(
                "mtcp-bench: {w} {link} {mode}: stack cost {ns:.0} ns CPU per transaction, both \
                 stacks on one thread ({conns} connection{}; scheduling apart)",
                if conns == 1 { "" } else { "s" }
            ),
            Err(e) => eprintln!("mtcp-bench: {w} {link} {mode}: {e}"),
        }
    }
    super::sub::echo_rows(w, link, mode, &line)
}

fn short_rows(mode: &str, p: &Params, ipv6: bool) -> Result<Vec<Row>, String> {
    let (link, server) = family(ipv6);
    let server = SocketAddr::new(server, PORT);
    let (r, _) = with_server((Workload::Short64, ipv6), mode, |ctx| {
        super::short::mtcp_client(ctx, server, SHORT_INFLIGHT, p.duration())
            .map_err(|e| e.to_string())
    })?;
    super::sub::short_rows(link, mode, &r.line(link))
}

fn bulk_rows(w: Workload, mode: &str, p: &Params, ipv6: bool) -> Result<Vec<Row>, String> {
    let rows = super::sized_bulk(p, |bytes| bulk_transfer(w, mode, bytes, ipv6))?;
    let link = family(ipv6).0;
    if mode == "rtc" && !ipv6 {
        let mtu = if w == Workload::Bulk9000 { 9000 } else { 1500 };
        match super::stackcost::per_megabyte(w, mtu) {
            Ok(c) => eprintln!(
                "mtcp-bench: {w} {link} {mode}: stack cost {:.0} ns CPU per megabyte, both \
                 stacks on one thread (scheduling apart; frames of {:.0} bytes)",
                c.ns_per_mb, c.frame_bytes
            ),
            Err(e) => eprintln!("mtcp-bench: {w} {link} {mode}: {e}"),
        }
    }
    Ok(rows)
}

fn bulk_transfer(w: Workload, mode: &str, bytes: u64, ipv6: bool) -> Result<Vec<Row>, String> {
    let (link, server) = family(ipv6);
    let server = SocketAddr::new(server, PORT);
    let never = AtomicBool::new(false);
    let (sent, got) = with_server((w, ipv6), mode, |ctx| {
        perf::mtcp_client(ctx, server, bytes, 0, &never).map_err(|e| e.to_string())
    })?;
    let got = got.ok_or_else(|| format!("no server report; client: {}", sent.line(link)))?;
    eprintln!(
        "mtcp-bench: {w} {link} {mode}: receiver {}; sender {}",
        got.line(link),
        sent.line(link)
    );
    super::sub::bulk_rows(w, link, mode, &got.line(link))
}

/// Runs workload `w` in run mode `mode` on the `mem` link.
pub fn run(w: Workload, mode: &str, p: &Params) -> Result<Vec<Row>, String> {
    run_family(w, mode, p, false)
}

/// Runs workload `w` in run mode `mode` on the `mem6` link: `mem` over IPv6.
pub fn run_ipv6(w: Workload, mode: &str, p: &Params) -> Result<Vec<Row>, String> {
    run_family(w, mode, p, true)
}

fn run_family(w: Workload, mode: &str, p: &Params, ipv6: bool) -> Result<Vec<Row>, String> {
    match w {
        Workload::Echo64x64 | Workload::Latency64 | Workload::Conns10k => {
            echo_rows(w, mode, p, ipv6)
        }
        Workload::Short64 => short_rows(mode, p, ipv6),
        Workload::Bulk1500 | Workload::Bulk9000 => bulk_rows(w, mode, p, ipv6),
        Workload::Lossy1 | Workload::Lossy3 => Err("lossy workloads run on afpacket".into()),
    }
}
