//! A conformance suite every backend runs: give it two connected queues (what `a` sends, `b`
//! receives) and it checks the contract of [`Queue`].
//!
//! Checks:
//! - [`burst_in_order`]: bursts arrive complete, intact and in order;
//! - [`partial_tx`]: when a device takes only part of a burst, the rest stays in the caller's burst,
//!   in order and intact (and whether a partial burst was seen at all is reported, since a backend
//!   whose kernel never pushes back cannot show it);
//! - [`pool_exhaustion`]: an empty pool gives `None`, never a panic, and every buffer comes back
//!   after being sent, received and dropped;
//! - [`max_size_frames`]: frames of the full MTU pass intact.
//!
//! Backends in other crates (netmap, DPDK) depend on `mtcp-io` and call [`run_all`] (or single
//! checks) from their tests with any two queues wired together: two ports cabled back to back, a
//! virtual device pair (netmap pipes, DPDK `net_ring`/`net_memif`), or a veth pair.
//!
//! Test frames carry the local experimental EtherType 0x88b5, a magic word and a per-run tag;
//! anything else the receiver sees (e.g. kernel chatter on a veth) is ignored.
//!
//! ```
//! use mtcp_io::conformance::{self, Ctx};
//! use mtcp_io::mem::MemSwitch;
//! use mtcp_io::Device;
//!
//! let (mut pa, mut pb) = MemSwitch::pair();
//! let ctx = Ctx::new(pa.info().mac, pb.info().mac);
//! let (mut a, mut b) = (pa.queue(0).unwrap(), pb.queue(0).unwrap());
//! conformance::run_all(&mut a, &mut b, &ctx, 1500).unwrap();
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use crate::{Burst, EthernetAddress, MAX_BURST, Queue, TxFrame};

/// The EtherType of test frames (IEEE local experimental).
pub const ETHERTYPE: u16 = 0x88b5;
const MAGIC: &[u8; 8] = b"MTCPCONF";
/// Ethernet header + magic + tag + sequence number + length.
const HEADER: usize = 14 + 8 + 4 + 4 + 2;

/// A failed check, with what was expected.
#[derive(Debug)]
pub struct Failure {
    /// Which check failed.
    pub check: &'static str,
    /// What went wrong.
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check `{}` failed: {}",
            self.check, self.detail
        )
    }
}

impl std::error::Error for Failure {}

fn fail<T>(check: &'static str, detail: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        check,
        detail: detail.into(),
    })
}

/// Addresses and limits of a run.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Source MAC of test frames (the sender's).
    pub src: EthernetAddress,
    /// Destination MAC of test frames (the receiver's).
    pub dst: EthernetAddress,
    /// How long to wait for frames that should arrive.
    pub timeout: Duration,
    /// Tag that tells this run's frames from any other.
    pub tag: u32,
}

impl Ctx {
    /// A context with a 5 s timeout and a tag unique to this process and moment.
    pub fn new(src: EthernetAddress, dst: EthernetAddress) -> Ctx {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Ctx {
            src,
            dst,
            timeout: Duration::from_secs(5),
            tag: nanos ^ std::process::id().rotate_left(16),
        }
    }
}

fn pattern(seq: u32, i: usize) -> u8 {
    (seq as usize).wrapping_mul(31).wrapping_add(i) as u8
}

/// Fills `frame` as test frame `seq` of `len` bytes (at least [`HEADER`]).
fn build<T: TxFrame>(frame: &mut T, ctx: &Ctx, seq: u32, len: usize) {
    frame.set_len(len);
    frame[0..6].copy_from_slice(&ctx.dst.0);
    frame[6..12].copy_from_slice(&ctx.src.0);
    frame[12..14].copy_from_slice(&ETHERTYPE.to_be_bytes());
    frame[14..22].copy_from_slice(MAGIC);
    frame[22..26].copy_from_slice(&ctx.tag.to_be_bytes());
    frame[26..30].copy_from_slice(&seq.to_be_bytes());
    frame[30..32].copy_from_slice(&(len as u16).to_be_bytes());
    for (i, b) in frame[HEADER..].iter_mut().enumerate() {
        *b = pattern(seq, i);
    }
}

/// The sequence number of a test frame of this run, or `None` for foreign frames.
/// A frame of this run that is damaged is an error.
fn parse(frame: &[u8], ctx: &Ctx) -> Result<Option<u32>, String> {
    if frame.len() < HEADER
        || frame[12..14] != ETHERTYPE.to_be_bytes()
        || &frame[14..22] != MAGIC
        || frame[22..26] != ctx.tag.to_be_bytes()
    {
        return Ok(None);
    }
    let seq = u32::from_be_bytes([frame[26], frame[27], frame[28], frame[29]]);
    let len = usize::from(u16::from_be_bytes([frame[30], frame[31]]));
    // Short frames may be padded to the Ethernet minimum on the way.
    if frame.len() < len || (len >= 60 && frame.len() != len) {
        return Err(format!(
            "frame {seq}: length {} but built with {len}",
            frame.len()
        ));
    }
    if frame[0..6] != ctx.dst.0 || frame[6..12] != ctx.src.0 {
        return Err(format!("frame {seq}: addresses changed"));
    }
    if let Some(i) = frame[HEADER..len]
        .iter()
        .enumerate()
        .position(|(i, &b)| b != pattern(seq, i))
    {
        return Err(format!("frame {seq}: payload byte {i} corrupted"));
    }
    Ok(Some(seq))
}

/// Receives into `on_frame` until it returns `true` (done) or the timeout passes.
fn receive<B: Queue>(
    b: &mut B,
    ctx: &Ctx,
    check: &'static str,
    mut on_frame: impl FnMut(u32, usize) -> Result<bool, Failure>,
) -> Result<bool, Failure> {
    let deadline = Instant::now() + ctx.timeout;
    let mut burst: Burst<B::Rx> = Burst::new();
    loop {
        burst.clear();
        let n = b
            .rx_burst(&mut burst)
            .or_else(|e| fail(check, format!("rx_burst: {e}")))?;
        for frame in burst.iter() {
            match parse(frame, ctx) {
                Ok(Some(seq)) => {
                    if on_frame(seq, frame.len())? {
                        return Ok(true);
                    }
                }
                Ok(None) => {}
                Err(e) => return fail(check, e),
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        if n == 0 {
            b.wait_rx((deadline - now).min(Duration::from_millis(10)))
                .or_else(|e| fail(check, format!("wait_rx: {e}")))?;
        }
    }
}

/// Sends `count` frames of sizes 60..=`60 + 2 * 97` in bursts (retrying partial bursts) and
/// checks that `b` receives each exactly once, intact and in order.
pub fn burst_in_order<A: Queue, B: Queue>(
    a: &mut A,
    b: &mut B,
    ctx: &Ctx,
    count: u32,
) -> Result<(), Failure> {
    const CHECK: &str = "burst_in_order";
    let size = |seq: u32| 60 + (seq as usize % 97) * 2;
    let mut next_tx = 0u32;
    let mut next_rx = 0u32;
    let mut burst: Burst<A::Tx> = Burst::new();
    let deadline = Instant::now() + ctx.timeout;
    while next_rx < count {
        while next_tx < count && !burst.is_full() {
            let Some(mut f) = a.tx_alloc() else { break };
            build(&mut f, ctx, next_tx, size(next_tx));
            let _ = burst.push(f);
            next_tx += 1;
        }
        if !burst.is_empty() {
            a.tx_burst(&mut burst)
                .or_else(|e| fail(CHECK, format!("tx_burst: {e}")))?;
        }
        // Take what has arrived so far (with a short timeout), so that rings do not fill up.
        let short = Ctx {
            timeout: Duration::ZERO,
            ..ctx.clone()
        };
        receive(b, &short, CHECK, |seq, len| {
            if seq != next_rx {
                return fail(CHECK, format!("expected frame {next_rx}, got {seq}"));
            }
            if len < size(seq).min(60) {
                return fail(CHECK, format!("frame {seq} shrank to {len}"));
            }
            next_rx += 1;
            Ok(false)
        })?;
        if Instant::now() > deadline {
            return fail(
                CHECK,
                format!(
                    "only {next_rx} of {count} frames arrived ({next_tx} sent) within {:?}",
                    ctx.timeout
                ),
            );
        }
        if burst.is_empty() && next_tx == count && next_rx < count {
            b.wait_rx(Duration::from_millis(5))
                .or_else(|e| fail(CHECK, format!("wait_rx: {e}")))?;
        }
    }
    Ok(())
}

/// What [`partial_tx`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialTx {
    /// A `tx_burst` took fewer frames than offered at least once.
    pub observed: bool,
    /// Frames the device took in all.
    pub sent: u64,
}

/// Sends up to `max_frames` frames without receiving, checking after every `tx_burst` that exactly
/// the frames not taken remain in the burst, in order and intact. Then drains `b`.
pub fn partial_tx<A: Queue, B: Queue>(
    a: &mut A,
    b: &mut B,
    ctx: &Ctx,
    max_frames: u32,
) -> Result<PartialTx, Failure> {
    const CHECK: &str = "partial_tx";
    let mut burst: Burst<A::Tx> = Burst::new();
    let mut seq = 0u32;
    let mut sent = 0u64;
    let mut observed = false;
    while seq < max_frames || !burst.is_empty() {
        while seq < max_frames && !burst.is_full() {
            let Some(mut f) = a.tx_alloc() else { break };
            build(&mut f, ctx, seq, 64 + (seq as usize % 13));
            let _ = burst.push(f);
            seq += 1;
        }
        if burst.is_empty() {
            break; // Pool exhausted and nothing left to send.
        }
        let before = burst.len();
        let first = parse(&burst[0], ctx).ok().flatten().unwrap_or(0);
        let n = a
            .tx_burst(&mut burst)
            .or_else(|e| fail(CHECK, format!("tx_burst: {e}")))?;
        if n + burst.len() != before {
            return fail(
                CHECK,
                format!(
                    "tx_burst returned {n} but the burst went from {before} to {} frames",
                    burst.len()
                ),
            );
        }
        for (i, f) in burst.iter().enumerate() {
            match parse(f, ctx) {
                Ok(Some(s)) if s == first + (n + i) as u32 => {}
                other => {
                    return fail(
                        CHECK,
                        format!(
                            "frame {i} left in the burst is not frame {} ({other:?})",
                            first + (n + i) as u32
                        ),
                    );
                }
            }
        }
        sent += n as u64;
        if n < before {
            observed = true;
            break;
        }
    }
    drop(burst);
    drain(b, ctx.timeout.min(Duration::from_millis(200)));
    Ok(PartialTx { observed, sent })
}

/// Receives and drops everything `b` gets until it has been quiet for `quiet`.
pub fn drain<B: Queue>(b: &mut B, quiet: Duration) {
    let mut burst: Burst<B::Rx> = Burst::new();
    let mut last = Instant::now();
    while last.elapsed() < quiet {
        burst.clear();
        match b.rx_burst(&mut burst) {
            Ok(0) => {
                let _ = b.wait_rx(Duration::from_millis(5));
            }
            Ok(_) => last = Instant::now(),
            Err(_) => break,
        }
    }
}

/// Takes buffers from `a` until the pool is empty (at most `limit`), returns how many, and drops them.
fn exhaust<A: Queue>(a: &mut A, limit: usize) -> Result<usize, Failure> {
    let mut held: Vec<A::Tx> = Vec::new();
    while held.len() < limit {
        match a.tx_alloc() {
            Some(f) => held.push(f),
            None => return Ok(held.len()),
        }
    }
    fail(
        "pool_exhaustion",
        format!("pool still gave buffers after {limit}: not a fixed pool"),
    )
}

/// Checks that `a`'s pool runs dry with `None` (within `limit` buffers), and that after sending
/// frames that `b` receives and drops, exactly as many buffers can be taken again (no leak).
pub fn pool_exhaustion<A: Queue, B: Queue>(
    a: &mut A,
    b: &mut B,
    ctx: &Ctx,
    limit: usize,
) -> Result<usize, Failure> {
    const CHECK: &str = "pool_exhaustion";
    let first = exhaust(a, limit)?;
    if first == 0 {
        return fail(CHECK, "the pool is empty from the start");
    }
    // Twice the burst size: buffers must travel and come back.
    burst_in_order(a, b, ctx, (2 * MAX_BURST) as u32)?;
    drain(b, Duration::from_millis(50));
    // Buffers may come back asynchronously (e.g. after the kernel sent them): give them time.
    let deadline = Instant::now() + ctx.timeout;
    loop {
        let again = exhaust(a, limit)?;
        if again == first {
            return Ok(first);
        }
        if again > first || Instant::now() > deadline {
            return fail(
                CHECK,
                format!("pool gave {first} buffers, after traffic {again}"),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends a few frames of exactly `14 + mtu` bytes and checks that they arrive intact.
pub fn max_size_frames<A: Queue, B: Queue>(
    a: &mut A,
    b: &mut B,
    ctx: &Ctx,
    mtu: usize,
) -> Result<(), Failure> {
    const CHECK: &str = "max_size_frames";
    let len = 14 + mtu;
    if len > u16::MAX as usize {
        return fail(
            CHECK,
            format!("MTU {mtu} too large for the test frame format"),
        );
    }
    let mut burst: Burst<A::Tx> = Burst::new();
    for seq in 0..3 {
        let Some(mut f) = a.tx_alloc() else {
            return fail(CHECK, "no buffer");
        };
        if f.capacity() < len {
            return fail(CHECK, format!("buffer capacity {} < {len}", f.capacity()));
        }
        build(&mut f, ctx, seq, len);
        let _ = burst.push(f);
    }
    let deadline = Instant::now() + ctx.timeout;
    while !burst.is_empty() {
        a.tx_burst(&mut burst)
            .or_else(|e| fail(CHECK, format!("tx_burst: {e}")))?;
        if Instant::now() > deadline {
            return fail(CHECK, "device never took the frames");
        }
    }
    let mut next = 0;
    let done = receive(b, ctx, CHECK, |seq, got| {
        if seq != next || got != len {
            return fail(
                CHECK,
                format!("expected frame {next} of {len} bytes, got {seq} of {got}"),
            );
        }
        next += 1;
        Ok(next == 3)
    })?;
    if !done {
        return fail(CHECK, format!("{next} of 3 maximum-size frames arrived"));
    }
    Ok(())
}

/// Runs every check in order: in-order bursts (1000 frames), maximum-size frames, pool exhaustion
/// (limit 1 << 20 buffers), partial bursts (up to 8192 frames).
pub fn run_all<A: Queue, B: Queue>(
    a: &mut A,
    b: &mut B,
    ctx: &Ctx,
    mtu: usize,
) -> Result<PartialTx, Failure> {
    burst_in_order(a, b, ctx, 1000)?;
    max_size_frames(a, b, ctx, mtu)?;
    pool_exhaustion(a, b, ctx, 1 << 20)?;
    partial_tx(
        a,
        b,
        &Ctx {
            tag: ctx.tag.wrapping_add(1),
            ..ctx.clone()
        },
        8192,
    )
}
