//! Two engines over a simulated link (loss, duplication, reordering, delay, bottleneck bandwidth
//! and drop-tail queue): transfers must end byte-exact. `sim_results_table` recomputes the
//! checked-in `tests/sim_expected.txt` (10 MiB at 0/1/5/10 % loss, NewReno, CUBIC and BBR: simulated
//! completion time, retransmissions, drops) and fails on any difference; run
//! `MTCP_SIM_BLESS=1 cargo test -p mtcp-tcp --test sim sim_results_table` to rewrite it after a
//! deliberate behaviour change, and commit the new table with the change.

mod common;

use common::*;
use mtcp_tcp::cc::CcAlgorithm;
use mtcp_tcp::{Config, Event, State};

struct Outcome {
    received: Vec<u8>,
    client_closed: bool,
    server_closed: bool,
    retrans: u64,
    /// Simulated ms from `connect` until the receiver had read every byte.
    completion_ms: u64,
    /// Segments lost at random / dropped by the full bottleneck queue.
    dropped: u64,
    queue_drops: u64,
    /// The sender's pacing rate (bytes/s) when 3/4 of the data had arrived (0: not paced).
    mid_pacing_rate: u64,
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
    let mut mid_pacing_rate = None;
    let start = sim.now;
    let mut completion_ms = None;
    sim.run_until(600_000, |sim| {
        if sent < data.len() && sim.a.state(c).is_ok_and(|s| s == State::Established) {
            if let Ok(n) = sim.a.send(c, &data[sent..]) {
                sent += n;
            }
        }
        if let Ok(info) = sim.a.info(c) {
            if std::env::var_os("SIM_INFO").is_some() && info.total_retrans != retrans {
                eprintln!("{:?} {info:?}", sim.now);
            }
            retrans = info.total_retrans;
            if mid_pacing_rate.is_none() && received.len() >= len * 3 / 4 {
                mid_pacing_rate = Some(info.pacing_rate);
            }
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
        if completion_ms.is_none() && received.len() >= len {
            completion_ms = Some(sim.now - start);
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
    eprintln!(
        "len={len} loss={} sim_time={}ms segments={} dropped={} queue_drops={} client_retrans={retrans}",
        link.loss,
        sim.now - 1_000,
        sim.sent,
        sim.dropped,
        sim.queue_drops,
    );
    Outcome {
        received,
        client_closed,
        server_closed,
        retrans,
        completion_ms: completion_ms.unwrap_or(u64::MAX),
        dropped: sim.dropped,
        queue_drops: sim.queue_drops,
        mid_pacing_rate: mid_pacing_rate.unwrap_or(0),
    }
}

/// Issue 17: at 5 % random loss over the table's bottleneck (100 Mbit/s, 20 ms RTT), BBR
/// keeps its rate where CUBIC's window collapses, paces near the bottleneck rate while
/// cruising, and still delivers byte-exact; CUBIC is not paced.
#[test]
fn bbr_keeps_its_rate_under_random_loss_and_paces_near_the_bottleneck() {
    let link = LinkParams::lossy(0.05, 10).with_bottleneck(100_000_000, 100);
    let config = |cc| Config {
        congestion_control: cc,
        send_buffer_bytes: 1 << 20,
        recv_buffer_bytes: 1 << 20,
        ..short_tw()
    };
    let bbr = checked(8 << 20, link, 77, config(CcAlgorithm::Bbr));
    let cubic = checked(8 << 20, link, 77, config(CcAlgorithm::Cubic));
    assert!(
        bbr.completion_ms * 5 < cubic.completion_ms,
        "bbr {} ms, cubic {} ms",
        bbr.completion_ms,
        cubic.completion_ms
    );
    // 100 Mbit/s = 12.5 MB/s; PROBE_BW's gains run from 0.75 to 1.25.
    let rate = bbr.mid_pacing_rate;
    assert!(
        (8_000_000..=17_000_000).contains(&rate),
        "pacing rate {rate} B/s"
    );
    assert_eq!(cubic.mid_pacing_rate, 0);
}

fn check(len: usize, link: LinkParams, seed: u64, config: Config) {
    checked(len, link, seed, config);
}

/// Runs a transfer and checks it ended byte-exact and closed on both sides.
fn checked(len: usize, link: LinkParams, seed: u64, config: Config) -> Outcome {
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
    o
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
        bandwidth_bps: 0,
        queue_packets: 0,
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

// ---------------------------------------------------------------------------------------------
// The results table: 10 MB over a bottleneck at 0/1/5/10 % loss, NewReno and CUBIC.
// ---------------------------------------------------------------------------------------------

/// Where the checked-in table lives.
const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sim_expected.txt");
/// Set to rewrite the table from the current engine (a deliberate behaviour change).
const BLESS_VAR: &str = "MTCP_SIM_BLESS";
const TABLE_LEN: usize = 10 << 20;
/// 100 Mbit/s bottleneck, 10 ms one way (20 ms RTT, BDP about 250 kB), 100-segment queue.
const TABLE_BANDWIDTH_BPS: u64 = 100_000_000;
const TABLE_DELAY_MS: u64 = 10;
const TABLE_QUEUE: usize = 100;

/// The algorithms of the table, one group of columns each.
const TABLE_CCS: [CcAlgorithm; 3] = [CcAlgorithm::NewReno, CcAlgorithm::Cubic, CcAlgorithm::Bbr];
const TABLE_LOSSES: [u32; 4] = [0, 1, 5, 10];

/// One algorithm's cells of one row: completion ms, retransmissions, random losses, queue drops.
fn table_cell(cc: CcAlgorithm, loss_pct: u32) -> String {
    let link = LinkParams::lossy(f64::from(loss_pct) / 100.0, TABLE_DELAY_MS)
        .with_bottleneck(TABLE_BANDWIDTH_BPS, TABLE_QUEUE);
    // Buffers larger than BDP + queue, so the window can overrun the bottleneck queue.
    let config = Config {
        congestion_control: cc,
        send_buffer_bytes: 1 << 20,
        recv_buffer_bytes: 1 << 20,
        ..short_tw()
    };
    // One fixed seed per case: the whole run is a pure function of it.
    let seed = 1_000
        + u64::from(loss_pct)
        + match cc {
            CcAlgorithm::NewReno => 0,
            CcAlgorithm::Cubic => 500,
            CcAlgorithm::Bbr => 700,
        };
    let o = checked(TABLE_LEN, link, seed, config);
    table_cells(
        &o.completion_ms.to_string(),
        &o.retrans.to_string(),
        &o.dropped.to_string(),
        &o.queue_drops.to_string(),
    )
}

/// Cells of one algorithm: completion, retransmissions, random losses, queue drops.
fn table_cells(ms: &str, rtx: &str, lost: &str, qdrop: &str) -> String {
    format!("{ms:>10} {rtx:>5} {lost:>5} {qdrop:>5}")
}

fn table_group(name: &str) -> String {
    table_cells(&format!("{name} ms"), "rtx", "lost", "qdrop")
}

fn table_header() -> String {
    format!(
        "# Simulated 10 MiB transfers (tests/sim.rs, `sim_results_table`): {} Mbit/s bottleneck,\n\
         # {}-segment drop-tail queue, {} ms one-way delay, 1 MiB socket buffers; random loss as\n\
         # given, duplication loss/5, reordering loss/2. Regenerate deliberately with {BLESS_VAR}=1.\n\
         # Per algorithm: ms = simulated time from connect() until the receiver read every byte;\n\
         # rtx = the sender's retransmitted segments; lost = random losses; qdrop = drop-tail\n\
         # losses at the bottleneck (each algorithm runs with its own seed).\n\
         # loss | {} | {} | {}",
        TABLE_BANDWIDTH_BPS / 1_000_000,
        TABLE_QUEUE,
        TABLE_DELAY_MS,
        table_group("newreno"),
        table_group("cubic"),
        table_group("bbr"),
    )
}

/// Recomputes the table and compares it with the checked-in one, row by row: any change in
/// simulated completion time or retransmissions is a behaviour change that must be blessed.
#[test]
fn sim_results_table() {
    // SIM_ONLY=Cubic5 computes one cell (the others show `-`; do not bless such a table).
    let wanted = |cc: CcAlgorithm, l: u32| {
        std::env::var("SIM_ONLY").map_or(true, |v| v == format!("{cc:?}{l}"))
    };
    let cells: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = TABLE_LOSSES
            .iter()
            .flat_map(|&loss| TABLE_CCS.map(|cc| (cc, loss)))
            .map(|(cc, loss)| {
                s.spawn(move || {
                    if wanted(cc, loss) {
                        table_cell(cc, loss)
                    } else {
                        table_cells("-", "-", "-", "-")
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut actual = table_header();
    for (loss, row) in TABLE_LOSSES.iter().zip(cells.chunks(TABLE_CCS.len())) {
        actual.push_str(&format!("\n{loss:>6} | {}", row.join(" | ")));
    }
    actual.push('\n');
    if std::env::var_os(BLESS_VAR).is_some() {
        std::fs::write(TABLE, &actual).expect("write table");
        eprintln!("wrote {TABLE}:\n{actual}");
        return;
    }
    let expected = std::fs::read_to_string(TABLE)
        .unwrap_or_else(|e| panic!("{TABLE}: {e}; run with {BLESS_VAR}=1 to create it"));
    let data = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    let (want, got) = (data(&expected), data(&actual));
    if want != got {
        let mut msg = String::from("simulation results differ from tests/sim_expected.txt\n");
        for i in 0..want.len().max(got.len()) {
            let w = want.get(i).map_or("-", String::as_str);
            let g = got.get(i).map_or("-", String::as_str);
            let mark = if w == g { " " } else { "!" };
            msg.push_str(&format!("{mark} expected: {w:<50} got: {g}\n"));
        }
        msg.push_str(&format!(
            "if the change is intended, rerun with {BLESS_VAR}=1 and commit the table"
        ));
        panic!("{msg}");
    }
}
