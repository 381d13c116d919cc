//! Many more connections than the listen backlog, and a server that accepts them slowly: every
//! client is still served and none is reset. Like Linux, the engine answers SYNs beyond the
//! SYN queue with cookies, ignores handshake ACKs a full accept queue cannot take, and lets the
//! peers' retransmissions bring them back once `accept` made room.

mod common;

use common::{A, B, LinkParams, Sim};
use mtcp_tcp::{Config, Event, Handle};

const PORT: u16 = 80;
const CLIENTS: usize = 64;
const BACKLOG: usize = 4;

/// How a storm ended: clients answered, reset, failed otherwise.
type Tally = (usize, usize, usize);

/// `CLIENTS` echo clients, one connecting every `spread_ms`, against a server with a backlog of
/// `BACKLOG` that accepts one connection every `accept_every_ms`, for at most `limit_ms`.
fn storm(config: Config, spread_ms: u64, accept_every_ms: u64, limit_ms: u64) -> Tally {
    let mut sim = Sim::new(config.clone(), config, LinkParams::perfect(1), 7);
    sim.b.listen(B, PORT, BACKLOG).unwrap();
    let start = sim.now;
    let mut clients: Vec<Handle> = Vec::new();
    let mut answered = [false; CLIENTS];
    let (mut resets, mut errors) = (0, 0);
    let mut served: Vec<Handle> = Vec::new();
    let mut next_accept = sim.now;
    let mut buf = [0u8; 256];
    sim.run_until(limit_ms, |s| {
        while clients.len() < CLIENTS && s.now >= start + clients.len() as u64 * spread_ms {
            let port = 20_000 + clients.len() as u16;
            let now = s.instant();
            clients.push(s.a.connect(now, A, port, B, PORT).unwrap());
        }
        while let Some((h, ev)) = s.a.poll_event() {
            let i = clients.iter().position(|&c| c == h);
            match (ev, i) {
                (Event::Connected, Some(_)) => {
                    s.a.send(h, b"ping").unwrap();
                }
                (Event::Readable, Some(i)) => {
                    answered[i] |= s.a.recv(h, &mut buf).unwrap_or(0) == 4;
                }
                (Event::Reset, _) => resets += 1,
                (Event::Error(_), _) => errors += 1,
                _ => {}
            }
        }
        while s.b.poll_event().is_some() {}
        if s.now >= next_accept {
            served.extend(s.b.accept(PORT));
            next_accept = s.now + accept_every_ms;
        }
        for &h in &served {
            if let Ok(n @ 1..) = s.b.recv(h, &mut buf) {
                let _ = s.b.send(h, &buf[..n]);
            }
        }
        answered.iter().all(|&a| a) || resets + errors == CLIENTS
    });
    (answered.iter().filter(|&&a| a).count(), resets, errors)
}

#[test]
fn a_slow_acceptor_behind_a_small_backlog_serves_every_client() {
    // 64 clients in 320 ms, one accept every 50 ms: the accept queue overflows for seconds.
    let tally = storm(Config::default(), 5, 50, 300_000);
    assert_eq!(tally, (CLIENTS, 0, 0), "clients answered, reset, failed");
}

#[test]
fn without_syn_cookies_too() {
    let config = Config {
        syn_cookies: false,
        ..Config::default()
    };
    let tally = storm(config, 5, 50, 300_000);
    assert_eq!(tally, (CLIENTS, 0, 0), "clients answered, reset, failed");
}
