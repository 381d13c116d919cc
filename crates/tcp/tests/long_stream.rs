//! A stream longer than 2^31 bytes between two engines (segments handed over directly).
//!
//! Regression test for a stall after 2^31 acknowledged bytes: `Conn::buf_start()` used to compare
//! `snd_una` with the data start in modular sequence order, which turns true again after 2^31
//! bytes, so the send ring stopped draining. Found by the `send_dispatch` benchmark.
//! It moves 2 GiB in about a second (`mtcp-tcp` is optimised in the dev profile too), so it runs
//! with every `cargo test`.

use std::net::{IpAddr, Ipv4Addr};

use mtcp_tcp::{Config, Engine, Instant};
use mtcp_wire::tcp::TcpRepr;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

#[test]
fn more_than_2_gib_in_one_stream() {
    let config = Config {
        mtu: 9000,
        send_buffer_bytes: 1 << 20,
        recv_buffer_bytes: 1 << 20,
        ..Config::default()
    };
    let mut a = Engine::new(config.clone(), [1; 16]);
    let mut b = Engine::new(config, [2; 16]);
    b.listen(B, 80, 4).unwrap();
    let mut now = 1_000;
    let c = a.connect(Instant::from_millis(now), A, 0, B, 80).unwrap();
    let total: u64 = (1 << 31) + (64 << 20);
    let chunk = vec![0x5Au8; 256 * 1024];
    let mut buf = vec![0u8; 1 << 20];
    let (mut sent, mut received) = (0u64, 0u64);
    let mut server = None;
    let mut wire: Vec<(IpAddr, IpAddr, TcpRepr<'static>, Vec<u8>)> = Vec::new();
    let mut idle_rounds = 0;
    while received < total {
        let t = Instant::from_millis(now);
        if a.state(c).is_ok_and(|s| s.can_send()) && sent < total {
            let n = (total - sent).min(chunk.len() as u64) as usize;
            sent += a.send(c, &chunk[..n]).unwrap_or(0) as u64;
        }
        let mut moved = 0;
        for from_a in [true, false] {
            let (from, to) = if from_a {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            from.dispatch(t, |s, d, seg| {
                let r = TcpRepr {
                    payload: &[],
                    ..seg.clone()
                };
                wire.push((s, d, r, seg.payload.to_vec()))
            });
            moved += wire.len();
            for (s, d, r, p) in wire.drain(..) {
                to.on_segment(t, s, d, &TcpRepr { payload: &p, ..r });
            }
        }
        if server.is_none() {
            server = b.accept(80);
        }
        if let Some(s) = server {
            while let Ok(n) = b.recv(s, &mut buf) {
                if n == 0 {
                    break;
                }
                received += n as u64;
            }
        }
        now += 1;
        a.poll_timers(Instant::from_millis(now));
        b.poll_timers(Instant::from_millis(now));
        a.events().for_each(drop);
        b.events().for_each(drop);
        idle_rounds = if moved == 0 { idle_rounds + 1 } else { 0 };
        assert!(
            idle_rounds < 5_000,
            "transfer stalled after {received} bytes received, {sent} accepted by send: {:?}",
            a.info(c)
        );
    }
    assert_eq!(received, total);
}
