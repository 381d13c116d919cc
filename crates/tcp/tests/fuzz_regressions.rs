//! Reproducers for engine bugs found by the `tcp_engine` fuzz target (fuzz/corpus/tcp_engine/
//! seed-crash-*), replayed through the public API. Each asserts what went wrong, so it fails in
//! release builds too (not only through the engine's `debug_assert`s).

use std::net::{IpAddr, Ipv4Addr};

use mtcp_tcp::{Config, Engine, Instant};
use mtcp_wire::tcp::TcpRepr;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

type Wire = Vec<(IpAddr, IpAddr, TcpRepr<'static>, Vec<u8>)>;

/// Emits from `from` and delivers to `to`, dropping the first `drop` segments.
fn hop(now: u64, from: &mut Engine, to: &mut Engine, drop: &mut usize, trace: &str) {
    let t = Instant::from_millis(now);
    let mut wire: Wire = Vec::new();
    from.dispatch(t, |s, d, seg| {
        let r = TcpRepr {
            payload: &[],
            ..seg.clone()
        };
        wire.push((s, d, r, seg.payload.to_vec()))
    });
    for (s, d, r, p) in wire {
        let lost = *drop > 0;
        *drop = drop.saturating_sub(1);
        eprintln!(
            "{now:>6} {trace} {s}->{d} flags={:03x} seq={} ack={} len={} lost={lost}",
            r.flags.0,
            r.seq_number.0,
            r.ack_number.0,
            p.len()
        );
        // The applications never send: a segment carrying data is the bug.
        assert!(p.is_empty(), "{trace} sent {} bytes nobody wrote", p.len());
        if !lost {
            to.on_segment(t, s, d, &TcpRepr { payload: &p, ..r });
        }
    }
}

/// fuzz/corpus/tcp_engine/seed-crash-emit-plan-peek(-min). B's SYN retransmission timer fires
/// (conn.rs `on_timer`: go back N, `snd_nxt = snd_una = iss`), then the SYN-ACK arrives before
/// B dispatched the retransmitted SYN. `on_segment_syn_sent` (input.rs) sets
/// `snd_una = ack = iss + 1` and goes ESTABLISHED but leaves `snd_nxt = iss`, so the next
/// `dispatch` plans one byte of "data" at `iss`, before the send buffer: `emit_plan`'s
/// `debug_assert_eq!(n, p.len)` fires (output.rs:261); in release builds a 1-byte segment with
/// `seq = iss` and a stale scratch byte would go out. Likely fix: after accepting the SYN-ACK,
/// `if snd_nxt < snd_una { snd_nxt = snd_una }` (as `process_ack` does).
#[test]
fn syn_ack_arrives_after_syn_rto_before_retransmission() {
    let config = Config {
        send_buffer_bytes: 16 * 1024,
        recv_buffer_bytes: 8 * 1024,
        time_wait: mtcp_tcp::Duration::from_millis(3_000),
        ..Config::default()
    };
    let mut a = Engine::new(config.clone(), [1; 16]);
    let mut b = Engine::new(config, [2; 16]);
    a.listen(A, 40_003, 0).unwrap();
    let mut now = 1_000;
    let client = b
        .connect(Instant::from_millis(now), B, 0, A, 40_003)
        .unwrap();
    // B's SYN reaches A at t=1000; A's SYN-ACK (same millisecond) is lost. At t=2000 both
    // retransmission timers fire; A's SYN-ACK reaches B before B dispatched its SYN again.
    hop(now, &mut b, &mut a, &mut 0, "B");
    let mut drop = 1;
    for _ in 0..10 {
        hop(now, &mut a, &mut b, &mut drop, "A");
        hop(now, &mut b, &mut a, &mut 0, "B");
        now += 500;
        a.poll_timers(Instant::from_millis(now));
        b.poll_timers(Instant::from_millis(now));
        a.events().for_each(|e| eprintln!("A event {e:?}"));
        b.events().for_each(|e| eprintln!("B event {e:?}"));
    }
    assert_eq!(
        b.state(client),
        Ok(mtcp_tcp::State::Established),
        "the client connection did not survive"
    );
}
