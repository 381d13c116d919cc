//! Cost of the per-socket readiness path: `set_state`/`notify` and collecting with `poll`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mtcp_epoll::{Epoll, EpollEvent, EpollOp, Events, ReadinessBoard};
use std::hint::black_box;

const SOCKETS: u32 = 10_000;

fn registered(mask: Events) -> Epoll {
    let mut ep = Epoll::new(SOCKETS as usize);
    for id in 0..SOCKETS {
        ep.ctl(EpollOp::Add, id, mask, u64::from(id)).unwrap();
    }
    ep
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("epoll");
    for ready in [1u32, 64, 1024] {
        g.throughput(Throughput::Elements(u64::from(ready)));
        g.bench_with_input(
            BenchmarkId::new("et_notify_poll", ready),
            &ready,
            |b, &ready| {
                let mut ep = registered(Events::IN | Events::ET);
                let mut out = vec![EpollEvent::default(); 1024];
                b.iter(|| {
                    for id in 0..ready {
                        ep.notify(black_box(id * 7 % SOCKETS), Events::IN).unwrap();
                    }
                    black_box(ep.poll(&mut out))
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("lt_set_state_poll", ready),
            &ready,
            |b, &ready| {
                let mut ep = registered(Events::IN);
                let mut out = vec![EpollEvent::default(); 1024];
                b.iter(|| {
                    for id in 0..ready {
                        ep.set_state(black_box(id), Events::IN).unwrap();
                    }
                    let n = ep.poll(&mut out);
                    for id in 0..ready {
                        ep.set_state(id, Events::empty()).unwrap();
                    }
                    black_box(n)
                });
            },
        );
        g.bench_with_input(
            BenchmarkId::new("board_publish_apply_poll", ready),
            &ready,
            |b, &ready| {
                let mut ep = registered(Events::IN | Events::ET);
                let board = ReadinessBoard::new(SOCKETS as usize, ep.notifier().clone());
                let mut out = vec![EpollEvent::default(); 1024];
                b.iter(|| {
                    for id in 0..ready {
                        board.notify(black_box(id), Events::IN).unwrap();
                    }
                    board.apply(&mut ep);
                    black_box(ep.poll(&mut out))
                });
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
