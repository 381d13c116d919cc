//! Timer-wheel micro-benchmarks (mtcp-tcp's `TimerWheel` alone, no engine): re-arming,
//! cancelling, idle ticks, `next_deadline` and large clock jumps with 100 000 nodes whose
//! deadlines are far away (keepalive, TIME-WAIT and idle timeouts of many idle connections).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mtcp_tcp::Instant;
use mtcp_tcp::internals::{TimerId, TimerWheel};

const N: usize = 100_000;
/// Deadlines are drawn from [START + 60 s, START + 2 h): nothing is due within a wheel turn.
const START: u64 = 1_000;
const FAR_MIN: u64 = 60_000;
const FAR_SPAN: u64 = 7_200_000 - FAR_MIN;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn far(&mut self, now: u64) -> u64 {
        now + FAR_MIN + self.next() % FAR_SPAN
    }
}

/// A wheel at `START` with `N` nodes, each armed for a far deadline.
fn far_wheel(rng: &mut Rng) -> (TimerWheel, Vec<TimerId>) {
    let mut w = TimerWheel::new(Instant(START));
    let ids: Vec<_> = (0..N as u32).map(|i| w.alloc(i)).collect();
    for &id in &ids {
        w.arm(id, Instant(rng.far(START)));
    }
    (w, ids)
}

fn timer_wheel(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_wheel");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);

    // Re-arm a random one of 100 000 armed nodes to another far deadline.
    let (mut w, ids) = far_wheel(&mut rng);
    g.bench_function("rearm_random_of_100k", |b| {
        b.iter(|| {
            let k = (rng.next() % N as u64) as usize;
            w.arm(ids[k], Instant(rng.far(START)));
        });
    });
    // Cancel a random node and arm it again.
    g.bench_function("cancel_arm_random_of_100k", |b| {
        b.iter(|| {
            let k = (rng.next() % N as u64) as usize;
            w.cancel(ids[k]);
            w.arm(ids[k], Instant(rng.far(START)));
        });
    });
    // What the socket layer asks on every poll: the earliest deadline, none within a turn.
    g.bench_function("next_deadline_100k_far", |b| {
        b.iter(|| black_box(w.next_deadline()));
    });
    // A poll loop step in the worst order for a cached minimum: the connection whose timer is
    // the earliest re-arms (round robin over 100 000 deadlines 60 ms apart, the pattern of
    // traffic reaching the longest idle connection), then the earliest deadline is asked for.
    let mut order: std::collections::VecDeque<_> = ids.iter().copied().collect();
    let mut last = START + FAR_MIN;
    for &id in &order {
        last += 60;
        w.arm(id, Instant(last));
    }
    g.bench_function("rearm_earliest_then_next_deadline_100k_far", |b| {
        b.iter(|| {
            let id = order.pop_front().unwrap();
            last += 60;
            w.arm(id, Instant(last));
            order.push_back(id);
            black_box(w.next_deadline())
        });
    });
    drop(w);

    // An idle 1 ms tick with 100 000 far-away timers (nothing fires).
    let (mut w, _ids) = far_wheel(&mut rng);
    let mut now = START;
    g.bench_function("advance_1ms_idle_100k_far", |b| {
        b.iter(|| {
            now += 1;
            w.advance(Instant(now), |o| {
                black_box(o);
            });
        });
    });
    drop(w);

    // 100 000 nodes armed 1 s ahead; one advance by 1 s fires them all (keepalive pattern),
    // then each is re-armed.
    let mut w = TimerWheel::new(Instant(START));
    let ids: Vec<_> = (0..N as u32).map(|i| w.alloc(i)).collect();
    let mut now = START;
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("arm_100k_then_advance_1s_fires_all", |b| {
        b.iter(|| {
            for &id in &ids {
                w.arm(id, Instant(now + 1_000));
            }
            now += 1_000;
            let mut fired = 0u32;
            w.advance(Instant(now), |_| fired += 1);
            assert_eq!(fired as usize, N);
        });
    });
    drop(w);

    // One advance jumping 3 hours over 100 000 deadlines spread across 2 hours (all fire).
    g.bench_function("advance_3h_jump_fires_100k", |b| {
        b.iter_batched(
            || far_wheel(&mut rng).0,
            |mut w| {
                let mut fired = 0u32;
                w.advance(Instant(START + 3 * 3_600_000), |_| fired += 1);
                assert_eq!(fired as usize, N);
                w
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, timer_wheel);
criterion_main!(benches);
