//! Arbitrary segments never make the engine panic, in any state.

mod common;

use common::peer::*;
use mtcp_tcp::{Config, Duration, State};
use mtcp_wire::tcp::{SackBlock, SeqNumber, TcpFlags, TcpOptions, Timestamps};
use proptest::prelude::*;

fn states() -> impl Strategy<Value = State> {
    prop::sample::select(vec![
        State::SynSent,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::Closing,
        State::TimeWait,
        State::CloseWait,
        State::LastAck,
    ])
}

#[derive(Debug, Clone)]
struct Seg {
    flags: u16,
    seq_off: i64,
    ack_off: i64,
    window: u16,
    len: usize,
    ts: Option<(u32, u32)>,
    sack: Vec<(i64, i64)>,
    wait_ms: u64,
}

fn segs() -> impl Strategy<Value = Seg> {
    (
        0u16..0x200,
        -70_000i64..70_000,
        -70_000i64..70_000,
        any::<u16>(),
        0usize..3000,
        proptest::option::of((any::<u32>(), any::<u32>())),
        proptest::collection::vec((-5000i64..5000, -5000i64..5000), 0..4),
        0u64..3000,
    )
        .prop_map(
            |(flags, seq_off, ack_off, window, len, ts, sack, wait_ms)| Seg {
                flags,
                seq_off,
                ack_off,
                window,
                len,
                ts,
                sack,
                wait_ms,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_segments_do_not_panic(state in states(), list in proptest::collection::vec(segs(), 1..30), sack in any::<bool>()) {
        let config = Config { time_wait: Duration::from_millis(500), recv_buffer_bytes: 8192, send_buffer_bytes: 8192, ..Config::default() };
        let mut t = if sack {
            let mut t = Harness::established_with(config, full_options());
            t.e.close(t.handle()).unwrap();
            t
        } else {
            Harness::in_state(config, state)
        };
        let payload = vec![0xAB; 3000];
        if let Some(h) = t.h {
            let _ = t.e.send(h, &payload[..1000]);
        }
        for s in list {
            let base_seq = PEER_ISS as i64 + 1;
            let base_ack = t.our(0) as i64;
            let mut o = TcpOptions::default();
            if let Some((a, b)) = s.ts {
                o.timestamps = Some(Timestamps { tsval: a, tsecr: b });
            }
            for (l, r) in s.sack {
                let _ = o.sack_blocks.push(SackBlock {
                    left: SeqNumber((base_ack + l) as u32),
                    right: SeqNumber((base_ack + r) as u32),
                });
            }
            t.inject(
                TcpFlags(s.flags),
                (base_seq + s.seq_off) as u32,
                (base_ack + s.ack_off) as u32,
                s.window,
                o,
                &payload[..s.len],
            );
            let _ = t.output();
            t.advance(s.wait_ms);
            let _ = t.output();
            if let Some(h) = t.h {
                let mut buf = [0u8; 512];
                let _ = t.e.recv(h, &mut buf);
            }
        }
    }
}
