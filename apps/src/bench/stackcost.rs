//! The `mem` link's stack cost measured apart from scheduling: both stacks driven from this one
//! thread (run to completion, `epoll_wait` with timeout 0 in turn), echoing 64 B on `conns`
//! connections, and the thread's CPU time divided by the transactions. Each side's work per
//! transaction is all there (sockets, epoll, network layer, engine, switch) and the wait for
//! the peer is not: on a machine shared with other work, where the two-thread rows swing by
//! several times between runs, this figure moves by a few percent, so it shows what a change
//! to the hot path saves. (Both stacks share one core's caches here: no cross-core misses.)
//!
//! [`per_megabyte`] does the same for a bulk stream: one connection, the client writing and the
//! server reading (neither checks the bytes), CPU nanoseconds per megabyte moved.

use std::net::{Ipv4Addr, SocketAddr};

use mtcp_socket_api::backend::AnyQueue;
use mtcp_socket_api::{Context, EPOLL_CTL_ADD, EpollEvent, Error, events};

use super::cycles::thread_cpu_ns;
use super::{MESSAGE_BYTES, Workload};

/// Transactions measured, at least (after the connections are up and one round ran): about
/// a quarter of a second of CPU.
const TRANSACTIONS: usize = 250_000;

/// CPU nanoseconds per transaction (both sides) over `conns` connections.
pub fn per_transaction(conns: usize) -> Result<f64, String> {
    let w = if conns == 1 {
        Workload::Latency64
    } else {
        Workload::Echo64x64
    };
    let super::mem::Pair {
        mut sctx, mut cctx, ..
    } = super::mem::pair(w, "rtc", 1500, 16 * 1024)?;
    let e = |e: Error| format!("stack cost: {e}");
    let (s, c) = (&mut sctx, &mut cctx);
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).map_err(e)?;
    s.bind(l, SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 9))
        .map_err(e)?;
    s.listen(l, conns as i32).map_err(e)?;
    s.setsock_nonblock(l).map_err(e)?;
    let (sep, cep) = (
        s.epoll_create(conns as i32 + 1).map_err(e)?,
        c.epoll_create(conns as i32 + 1).map_err(e)?,
    );
    let server = SocketAddr::new(crate::memlink::SERVER_IP.into(), 9);
    let mut ks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let k = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).map_err(e)?;
        c.setsock_nonblock(k).map_err(e)?;
        match c.connect(k, server) {
            Ok(()) | Err(Error::InProgress) => {}
            Err(x) => return Err(e(x)),
        }
        watch(c, cep, k).map_err(e)?;
        ks.push(k);
    }
    let mut up = 0;
    for _ in 0..100_000 {
        c.poll();
        s.poll();
        while let Ok((a, _)) = s.accept(l) {
            s.setsock_nonblock(a).map_err(e)?;
            watch(s, sep, a).map_err(e)?;
            up += 1;
        }
        if up == conns {
            break;
        }
    }
    if up < conns {
        return Err(format!("stack cost: {up} of {conns} connections came up"));
    }
    let first = echo(s, c, (sep, cep), &ks, 1).map_err(e)?;
    let cpu = thread_cpu_ns();
    let rounds = TRANSACTIONS.div_ceil(conns);
    let n = echo(s, c, (sep, cep), &ks, rounds).map_err(e)?;
    let cpu = thread_cpu_ns().saturating_sub(cpu);
    if first < conns || n < conns * rounds {
        return Err(format!(
            "stack cost: {} of {} echoes came back",
            first + n,
            conns * (rounds + 1)
        ));
    }
    Ok(cpu as f64 / n as f64)
}

fn watch(ctx: &mut Context<AnyQueue>, ep: i32, id: i32) -> mtcp_socket_api::Result<()> {
    let ev = EpollEvent {
        events: events::IN,
        data: id as u64,
    };
    ctx.epoll_ctl(ep, EPOLL_CTL_ADD, id, Some(ev))
}

/// `rounds` echo rounds on each of the client's sockets `ks` (written once, then again each
/// time its echo is back); returns the transactions completed (bounded in turns).
fn echo(
    s: &mut Context<AnyQueue>,
    c: &mut Context<AnyQueue>,
    (sep, cep): (i32, i32),
    ks: &[i32],
    rounds: usize,
) -> mtcp_socket_api::Result<usize> {
    let msg = [0x5au8; MESSAGE_BYTES];
    let mut buf = [0u8; MESSAGE_BYTES];
    let mut evs = vec![EpollEvent::default(); ks.len() + 1];
    let want = ks.len() * rounds;
    for &k in ks {
        c.write(k, &msg)?;
    }
    let (mut written, mut done) = (ks.len(), 0);
    let mut turns = 0;
    while done < want && turns < 20 * want + 1000 {
        turns += 1;
        let m = s.epoll_wait(sep, &mut evs, 0)?;
        for ev in &evs[..m] {
            let a = ev.data as i32;
            if let Ok(k @ 1..) = s.read(a, &mut buf) {
                s.write(a, &buf[..k])?;
            }
        }
        let m = c.epoll_wait(cep, &mut evs, 0)?;
        for ev in &evs[..m] {
            let k = ev.data as i32;
            if c.read(k, &mut buf) == Ok(MESSAGE_BYTES) {
                done += 1;
                if written < want {
                    c.write(k, &msg)?;
                    written += 1;
                }
            }
        }
    }
    Ok(done)
}

/// Bytes the bulk stack cost moves after its first megabyte: 0.05-0.1 s of CPU.
const BULK_BYTES: usize = 256 << 20;

/// What [`per_megabyte`] measured.
#[derive(Clone, Copy, Debug)]
pub struct BulkCost {
    /// CPU nanoseconds per megabyte (10^6 bytes) moved, both sides.
    pub ns_per_mb: f64,
    /// The sender's mean frame length in bytes (its MTU at work: 1514 for full 1500-byte frames).
    pub frame_bytes: f64,
}

/// Streams one way over one connection at link MTU `mtu`, with workload `w`'s rings and
/// socket buffers, both sides on this thread.
pub fn per_megabyte(w: Workload, mtu: usize) -> Result<BulkCost, String> {
    let super::mem::Pair {
        mut sctx,
        mut cctx,
        cli,
        ..
    } = super::mem::pair(w, "rtc", mtu, super::mem::buffers(w))?;
    let e = |e: Error| format!("bulk stack cost: {e}");
    let (s, c) = (&mut sctx, &mut cctx);
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).map_err(e)?;
    s.bind(l, SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 9))
        .map_err(e)?;
    s.listen(l, 1).map_err(e)?;
    s.setsock_nonblock(l).map_err(e)?;
    let k = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).map_err(e)?;
    c.setsock_nonblock(k).map_err(e)?;
    match c.connect(k, SocketAddr::new(crate::memlink::SERVER_IP.into(), 9)) {
        Ok(()) | Err(Error::InProgress) => {}
        Err(x) => return Err(e(x)),
    }
    let mut a = None;
    for _ in 0..100_000 {
        c.poll();
        s.poll();
        if let Ok((id, _)) = s.accept(l) {
            s.setsock_nonblock(id).map_err(e)?;
            a = Some(id);
            break;
        }
    }
    let a = a.ok_or("bulk stack cost: the connection did not come up")?;
    let first = stream(s, c, (a, k), 1 << 20).map_err(e)?;
    let sent = |m: &mtcp_socket_api::Mtcp| {
        m.snapshots().iter().fold((0, 0), |(p, b), x| {
            (p + x.counters.tx_packets, b + x.counters.tx_bytes)
        })
    };
    let (frames, bytes) = sent(&cli);
    let cpu = thread_cpu_ns();
    let n = stream(s, c, (a, k), BULK_BYTES).map_err(e)?;
    let cpu = thread_cpu_ns().saturating_sub(cpu);
    let (frames2, bytes2) = sent(&cli);
    if first < 1 << 20 || n < BULK_BYTES {
        return Err(format!(
            "bulk stack cost: {} of {} bytes arrived",
            first + n,
            BULK_BYTES + (1 << 20)
        ));
    }
    Ok(BulkCost {
        ns_per_mb: cpu as f64 * 1e6 / n as f64,
        frame_bytes: (bytes2 - bytes) as f64 / (frames2 - frames).max(1) as f64,
    })
}

/// Moves `bytes` from the client's socket `k` to the server's `a` (both stacks polled in turn);
/// returns the bytes the server read (bounded in turns).
fn stream(
    s: &mut Context<AnyQueue>,
    c: &mut Context<AnyQueue>,
    (a, k): (i32, i32),
    bytes: usize,
) -> mtcp_socket_api::Result<usize> {
    const CHUNK: usize = 64 * 1024;
    let out = vec![0x5au8; CHUNK];
    let mut buf = vec![0u8; CHUNK];
    let (mut written, mut read) = (0, 0);
    let mut turns = 0;
    while read < bytes && turns < bytes / 64 + 100_000 {
        turns += 1;
        while written < bytes {
            match c.write(k, &out[..CHUNK.min(bytes - written)]) {
                Ok(n) => written += n,
                Err(Error::Again) => break,
                Err(x) => return Err(x),
            }
        }
        c.poll();
        s.poll();
        loop {
            match s.read(a, &mut buf) {
                Ok(0) => return Ok(read),
                Ok(n) => read += n,
                Err(Error::Again) => break,
                Err(x) => return Err(x),
            }
        }
    }
    Ok(read)
}
