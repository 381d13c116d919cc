//! Two engines over a simulated lossy link: transfers must end byte-exact.

mod common;

use common::*;
use mtcp_tcp::cc::CcAlgorithm;
use mtcp_tcp::{Config, Event, State};

struct Outcome {
    received: Vec<u8>,
    client_closed: bool,
    server_closed: bool,
    retrans: u64,
}

fn transfer(len: usize, link: LinkParams, seed: u64, config: Config) -> Outcome {
    let mut sim = Sim::new(config.clone(), config, link, seed);
    sim.b.listen(B, 5001, 8).unwrap();
    let data = pattern(len, seed);
    let now = sim.instant();
    let c = sim.a.connect(now, A, 0, B, 5001).unwrap();
    let mut sent = 0usize;
    let mut server = None;
    let mut received = Vec::with_capacity(len);
    let mut buf = vec![0u8; 65536];
    let mut client_closed = false;
    let mut server_closed = false;
    let mut client_shut = false;
    let mut server_shut = false;
    let mut retrans = 0;
    sim.run_until(600_000, |sim| {
        if sent < data.len() && sim.a.state(c).is_ok_and(|s| s == State::Established) {
            if let Ok(n) = sim.a.send(c, &data[sent..]) {
                sent += n;
            }
        }
        if let Ok(info) = sim.a.info(c) {
            retrans = info.total_retrans;
        }
        if sent == data.len() && !client_shut {
            client_shut = sim.a.close(c).is_ok();
        }
        if server.is_none() {
            server = sim.b.accept(5001);
        }
        if let Some(s) = server {
            loop {
                match sim.b.recv(s, &mut buf) {
                    Ok(0) => {
                        if !server_shut {
                            server_shut = sim.b.close(s).is_ok();
                        }
                        break;
                    }
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        for (h, e) in sim.a.events() {
            if h == c && e == Event::Closed {
                client_closed = true;
            }
            assert!(
                !matches!(e, Event::Reset | Event::Error(_)),
                "client: {e:?}"
            );
        }
        for (h, e) in sim.b.events() {
            if Some(h) == server && e == Event::Closed {
                server_closed = true;
            }
            assert!(
                !matches!(e, Event::Reset | Event::Error(_)),
                "server: {e:?}"
            );
        }
        client_closed && server_closed
    });
    if std::env::var_os("SIM_TRACE").is_some() {
        eprintln!(
            "sent={sent} client={:?} {:?}",
            sim.a.state(c),
            sim.a.info(c)
        );
        if let Some(s) = server {
            eprintln!(
                "server={:?} {:?} queued={:?}",
                sim.b.state(s),
                sim.b.info(s),
                sim.b.recv_queue(s)
            );
        }
    }
    Outcome {
        received,
        client_closed,
        server_closed,
        retrans,
    }
}

fn check(len: usize, link: LinkParams, seed: u64, config: Config) {
    let o = transfer(len, link, seed, config);
    let data = pattern(len, seed);
    assert_eq!(o.received.len(), data.len(), "length");
    if let Some(i) = o.received.iter().zip(&data).position(|(a, b)| a != b) {
        let j = o.received[i..]
            .iter()
            .zip(&data[i..])
            .position(|(a, b)| a == b)
            .unwrap_or(0);
        panic!("payload differs from byte {i} for about {j} bytes");
    }
    assert!(o.server_closed, "server did not close");
    assert!(o.client_closed, "client did not close (TIME-WAIT end)");
    if link.loss > 0.0 {
        assert!(o.retrans > 0, "loss without retransmissions?");
    }
}

fn short_tw() -> Config {
    Config {
        time_wait: mtcp_tcp::Duration::from_millis(2_000),
        ..Config::default()
    }
}

#[test]
fn clean_1mb() {
    check(1 << 20, LinkParams::perfect(5), 1, short_tw());
}

#[test]
fn loss_1_percent_2mb() {
    check(2 << 20, LinkParams::lossy(0.01, 5), 2, short_tw());
}

#[test]
fn loss_5_percent_1mb() {
    check(1 << 20, LinkParams::lossy(0.05, 5), 3, short_tw());
}

#[test]
fn loss_5_percent_newreno_no_sack_no_ts() {
    let config = Config {
        congestion_control: CcAlgorithm::NewReno,
        sack: false,
        timestamps: false,
        window_scaling: false,
        ..short_tw()
    };
    check(1 << 20, LinkParams::lossy(0.05, 5), 4, config);
}

#[test]
fn small_buffers_and_mtu() {
    let config = Config {
        send_buffer_bytes: 4096,
        recv_buffer_bytes: 3000,
        mtu: 576,
        ..short_tw()
    };
    check(300_000, LinkParams::lossy(0.02, 2), 5, config);
}

#[test]
fn tiny_clean() {
    check(100_000, LinkParams::perfect(5), 9, short_tw());
}

#[test]
fn clean_10mb_cubic_and_newreno() {
    check(10 << 20, LinkParams::perfect(10), 10, short_tw());
    let nr = Config {
        congestion_control: CcAlgorithm::NewReno,
        ..short_tw()
    };
    check(10 << 20, LinkParams::perfect(10), 11, nr);
}

#[test]
fn many_seeds_at_1_and_5_percent() {
    for seed in 20..26 {
        check(512 << 10, LinkParams::lossy(0.01, 3), seed, short_tw());
        check(
            512 << 10,
            LinkParams::lossy(0.05, 3),
            seed + 100,
            short_tw(),
        );
    }
}

#[test]
fn heavy_reordering_and_duplication() {
    let link = LinkParams {
        loss: 0.02,
        duplicate: 0.1,
        reorder: 0.3,
        delay_ms: 4,
        reorder_extra_ms: 20,
    };
    check(1 << 20, link, 7, short_tw());
}

#[test]
fn ten_percent_loss_still_completes() {
    check(256 << 10, LinkParams::lossy(0.10, 5), 8, short_tw());
}

/// Both directions at once, with a simultaneous open (each side connects to the other).
#[test]
fn simultaneous_open_and_bidirectional_transfer() {
    let mut sim = Sim::new(short_tw(), short_tw(), LinkParams::lossy(0.02, 5), 42);
    let now = sim.instant();
    let ca = sim.a.connect(now, A, 7000, B, 7001).unwrap();
    let cb = sim.b.connect(now, B, 7001, A, 7000).unwrap();
    let da = pattern(300_000, 1);
    let db = pattern(200_000, 2);
    let (mut sa, mut sb) = (0, 0);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    let done = sim.run_until(300_000, |sim| {
        if sim
            .a
            .state(ca)
            .is_ok_and(|s| s == State::Established || s == State::CloseWait)
            && sa < da.len()
        {
            sa += sim.a.send(ca, &da[sa..]).unwrap_or(0);
            if sa == da.len() {
                sim.a.shutdown_write(ca).unwrap();
            }
        }
        if sim
            .b
            .state(cb)
            .is_ok_and(|s| s == State::Established || s == State::CloseWait)
            && sb < db.len()
        {
            sb += sim.b.send(cb, &db[sb..]).unwrap_or(0);
            if sb == db.len() {
                sim.b.shutdown_write(cb).unwrap();
            }
        }
        while let Ok(n) = sim.a.recv(ca, &mut buf) {
            if n == 0 {
                break;
            }
            ra.extend_from_slice(&buf[..n]);
        }
        while let Ok(n) = sim.b.recv(cb, &mut buf) {
            if n == 0 {
                break;
            }
            rb.extend_from_slice(&buf[..n]);
        }
        ra.len() == db.len()
            && rb.len() == da.len()
            && sim.a.state(ca).is_err()
            && sim.b.state(cb).is_err()
    });
    assert!(
        ra == db && rb == da,
        "payload mismatch: {} {}",
        ra.len(),
        rb.len()
    );
    assert!(done, "connections did not finish closing");
}
