//! The whole stack under attack and overload on the in-memory switch (no privileges): a server
//! context (198.18.0.1, port 0) serving a pattern download, a legitimate client context
//! (198.18.0.2, port 1) fetching it, and a raw attacker queue (port 2) whose frames `mtcp-wire`
//! builds (and then damages byte by byte where the attack is a malformed header).
//!
//! Each test asserts that the stack lives, that the legitimate download stays byte-exact and
//! finishes within a bound relative to the same download without the attack (measured first in
//! the same test), that the server's buffer memory (the stack's own accounting) and resident
//! memory stay under bounds derived from the configuration, and that buffer memory comes back
//! afterwards.

mod lab;

use lab::*;

/// One million SYNs from random sources in 198.18.0.0/15 beside a download: half-open
/// connections hold no buffer memory, the SYN queue stays within the backlog (SYN cookies
/// answer the rest), and the download is unaffected beyond the bound.
#[test]
fn syn_flood_of_a_million_syns() {
    let _serial = serial();
    const SYNS: usize = 1_000_000;
    const PER_TURN: usize = 256;
    let mut lab = Lab::new(1024, 64, 4);
    let rss_before = rss_bytes();
    let mut rng = Rng(0x5eed);
    let sent = std::cell::Cell::new(0usize);
    let mut flood = |lab: &mut Lab, _: &Flow| {
        let frames: Vec<Vec<u8>> = (0..PER_TURN.min(SYNS - sent.get()))
            .map(|_| {
                let r = rng.next();
                // Sources outside the server's /24 (no route back: the SYN-ACKs die there).
                let src = Ipv4Addr::new(198, 19, (r >> 8) as u8, r as u8);
                lab.tcp_frame(src, &syn((r >> 16) as u16 | 1024, (r >> 32) as u32))
            })
            .collect();
        sent.set(sent.get() + lab.inject(&frames));
    };
    assert_survives(&mut lab, "SYN flood", &mut flood);
    while sent.get() < SYNS {
        flood(
            &mut lab,
            &Flow {
                client_port: 0,
                turn: 0,
            },
        );
        lab.turn();
    }
    lab.turn();
    let received = lab._server_mtcp.snapshots()[0].counters.rx_packets;
    eprintln!(
        "SYN flood: {} SYNs sent, the server received {received} frames, the switch dropped {}",
        sent.get(),
        lab._switch.drops()
    );
    assert!(
        received >= SYNS as u64,
        "only {received} frames reached the server"
    );
    let conns = lab.connections();
    // Half-open connections: the SYN queue (backlog) and nothing else.
    assert!(
        conns <= BACKLOG as usize + 4,
        "{conns} connections after {SYNS} SYNs (backlog {BACKLOG})"
    );
    // The flood itself took no buffer memory; only the two downloads did.
    assert!(
        lab.peak_buffer_bytes <= 2 * (SNDBUF + RCVBUF),
        "peak buffer memory {} during a SYN flood",
        lab.peak_buffer_bytes
    );
    // Resident memory: the connection table bound (2 x max_concurrency connections of a few KiB)
    // and the buffer cap, plus the switch's buffers and slack for the allocator.
    let rss_after = rss_bytes();
    let bound = 2 * 1024 * 8192 + 64 * (SNDBUF + RCVBUF) + (64 << 20);
    assert!(
        rss_after.saturating_sub(rss_before) <= bound,
        "resident memory grew from {rss_before} to {rss_after} (bound {bound})"
    );
    assert_eq!(lab.settle(), 0, "buffer memory did not come back");
    // The service still answers afterwards.
    lab.download(&mut |_, _| {});
    assert!(lab.server_errors.is_empty(), "{:?}", lab.server_errors);
}

/// Malformed and blind frames, each kind many times, to the listener and to the download's
/// own 4-tuple: all dropped or answered (challenge ACKs, RSTs), none breaks the download.
#[test]
fn malformed_and_blind_frames() {
    let _serial = serial();
    let mut lab = Lab::new(256, 64, 4);
    let mut rng = Rng(0xbad);
    let injected = std::cell::Cell::new(0usize);
    let errors_before = lab._server_mtcp.snapshots()[0].counters.rx_errors;
    let mut attack = |lab: &mut Lab, flow: &Flow| {
        if flow.client_port == 0 {
            return;
        }
        let mut frames = Vec::new();
        for i in 0..16 {
            // Every variant in turn, the rest of the frame random.
            let r = rng.next() & !(0xf << 8) | ((flow.turn * 16 + i) % 16) << 8;
            frames.extend(malformed(lab, flow.client_port, r));
        }
        // Blind in-window attacks: RST, SYN and data sprayed over the sequence space in steps
        // of half a window, on the download's 4-tuple (an attacker can learn the ports).
        let step = (RCVBUF / 2) as u32;
        for k in 0..64u32 {
            let seq = (flow.turn as u32)
                .wrapping_mul(64)
                .wrapping_add(k)
                .wrapping_mul(step)
                .wrapping_add(7);
            let r = rng.next();
            let mut seg = syn(flow.client_port, seq);
            seg.options = TcpOptions::default();
            seg.flags = match r % 4 {
                0 => TcpFlags::RST,
                1 => TcpFlags::RST | TcpFlags::ACK,
                2 => TcpFlags::SYN,
                _ => TcpFlags::ACK | TcpFlags::PSH,
            };
            seg.ack_number = SeqNumber((r >> 32) as u32);
            let payload = [0xEEu8; 100];
            if r % 4 == 3 {
                seg.payload = &payload;
            }
            frames.push(lab.tcp_frame(CLIENT, &seg));
        }
        injected.set(injected.get() + lab.inject(&frames));
    };
    assert_survives(&mut lab, "malformed and blind frames", &mut attack);
    let errors = lab._server_mtcp.snapshots()[0].counters.rx_errors - errors_before;
    eprintln!(
        "{} frames injected, {errors} counted as damaged",
        injected.get()
    );
    assert!(
        injected.get() >= 1000 && errors >= 100,
        "the attack did not reach the stack: {} frames, {errors} errors",
        injected.get()
    );
    assert_eq!(lab.settle(), 0, "buffer memory did not come back");
    assert!(lab.server_errors.is_empty(), "{:?}", lab.server_errors);
}

/// 9000-byte frames on a switch that carries them (the server segments for 9000 too, and its receive
/// window is 64 KiB): blind data on the download's 4-tuple, data to the listener from strangers,
/// and SYNs carrying 8960 bytes, 16 a turn beside the download. The stack takes each whole
/// (no panic, nothing read out of bounds), answers or drops it, and its buffers stay bounded.
#[test]
fn nine_thousand_byte_frames() {
    let _serial = serial();
    const IP_LEN: usize = 9000;
    let mut lab = Lab::with_mtu(IP_LEN, 256, 64, 4);
    assert!(
        lab.atk.tx_alloc().unwrap().capacity() >= 14 + IP_LEN,
        "the switch does not carry 9000-byte frames"
    );
    let rss_before = rss_bytes();
    let before = lab._server_mtcp.snapshots()[0].counters;
    let mut rng = Rng(0x9000);
    let injected = std::cell::Cell::new(0usize);
    let payload = vec![0x5au8; IP_LEN - 40];
    let mut attack = |lab: &mut Lab, flow: &Flow| {
        if flow.client_port == 0 {
            return;
        }
        let frames: Vec<Vec<u8>> = (0..16)
            .map(|_| {
                let r = rng.next();
                let mut seg = syn(flow.client_port, (r >> 32) as u32);
                seg.options = TcpOptions::default();
                seg.payload = &payload;
                seg.ack_number = SeqNumber(r as u32);
                let stranger = Ipv4Addr::new(198, 19, (r >> 8) as u8, r as u8);
                let src = match r % 3 {
                    // Blind data on the download's own 4-tuple, anywhere in sequence space.
                    0 => {
                        seg.flags = TcpFlags::ACK | TcpFlags::PSH;
                        CLIENT
                    }
                    // Data to the listener from nobody it knows (a RST answers).
                    1 => {
                        seg.flags = TcpFlags::ACK | TcpFlags::PSH;
                        seg.src_port = (r >> 16) as u16 | 1024;
                        stranger
                    }
                    // A SYN with 8960 bytes of data.
                    _ => {
                        seg.src_port = (r >> 16) as u16 | 1024;
                        seg.ack_number = SeqNumber(0);
                        stranger
                    }
                };
                let f = lab.tcp_frame(src, &seg);
                assert_eq!(f.len(), 14 + IP_LEN);
                f
            })
            .collect();
        injected.set(injected.get() + lab.inject(&frames));
    };
    assert_survives(&mut lab, "9000-byte frames", &mut attack);
    lab.turn();
    let after = lab._server_mtcp.snapshots()[0].counters;
    let big = after.rx_bytes - before.rx_bytes;
    eprintln!(
        "{} 9000-byte frames injected; the server received {big} bytes, {} frames; switch drops {}",
        injected.get(),
        after.rx_packets - before.rx_packets,
        lab._switch.drops()
    );
    assert!(
        injected.get() >= 1000 && big >= (injected.get() * IP_LEN) as u64,
        "the jumbo frames did not reach the server whole: {} sent, {big} bytes received",
        injected.get()
    );
    assert!(
        lab.peak_buffer_bytes <= 2 * (SNDBUF + RCVBUF),
        "peak buffer memory {} under 9000-byte frames",
        lab.peak_buffer_bytes
    );
    // The switch's own buffers (3 ports x 8192 transmit buffers + 4096 receive slots, 9 KiB
    // each) come on top of the stack's: the bound is theirs, the two connections' buffers and
    // the connection table's slots.
    let switch = 3 * (8192 + 4096) * (IP_LEN + 18);
    let bound = switch + 2 * 256 * 8192 + 64 * (SNDBUF + RCVBUF) + (64 << 20);
    let rss_after = rss_bytes();
    assert!(
        rss_after.saturating_sub(rss_before) <= bound,
        "resident memory grew from {rss_before} to {rss_after} (bound {bound})"
    );
    assert_eq!(lab.settle(), 0, "buffer memory did not come back");
    assert!(lab.server_errors.is_empty(), "{:?}", lab.server_errors);
}

/// Frames damaged in every header field the issue lists (`mtcp_testkit::attack::damaged`);
/// `r` picks the variant (bits 8-11), the port (bit 0), the flags (bit 1) and a payload (bit 2).
fn malformed(lab: &Lab, client_port: u16, r: u64) -> Vec<Vec<u8>> {
    let sport = if r & 1 == 0 { client_port } else { 2000 };
    let mut seg = syn(sport, (r >> 32) as u32);
    if r & 2 != 0 {
        seg.flags = TcpFlags::ACK | TcpFlags::PSH;
        seg.options = TcpOptions::default();
    }
    let payload = [0x42u8; 64];
    seg.payload = if r & 4 != 0 { &payload } else { &[] };
    let good = lab.tcp_frame(CLIENT, &seg);
    // Sixteen picks: the last two both damage the options (or the flags).
    mtcp_testkit::attack::damaged(&good, (((r >> 8) % 16) as usize).min(14))
}

/// Many connections that ask for the download and never read: the server's writes stop at the
/// buffer cap with ENOMEM (never a crash, never past the cap); when the clients go, the memory
/// comes back and the download runs as fast as before.
#[test]
fn twenty_thousand_non_reading_connections() {
    let _serial = serial();
    const CLIENTS: usize = 20_000;
    // The cap: 256 buffers of each kind, 32 MiB, far below 20 000 full send buffers (1.25 GiB).
    let mut lab = Lab::new(CLIENTS + 64, 256, CLIENTS + 64);
    let base = lab.download(&mut |_, _| {});
    let rss_before = rss_bytes();
    let mut socks = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let s = lab.c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
        lab.c
            .bind(s, SocketAddrV4::new(CLIENT, 10_000 + i as u16))
            .unwrap();
        match lab.c.connect(s, SocketAddrV4::new(SERVER, PORT)) {
            Ok(()) | Err(Error::InProgress) => {}
            Err(e) => panic!("connect {i}: {e}"),
        }
        socks.push(s);
        if i % 64 == 63 {
            lab.turn();
        }
    }
    let start = Instant::now();
    let mut report = Instant::now();
    while lab.served.len() < CLIENTS && start.elapsed() < Duration::from_secs(60) {
        lab.turn();
        if report.elapsed() > Duration::from_secs(2) {
            report = Instant::now();
            let conns = lab.connections();
            eprintln!(
                "{:?}: {} served, {conns} connections, {} buffer bytes, errors {:?}",
                start.elapsed(),
                lab.served.len(),
                lab.buffer_bytes(),
                lab.server_errors
            );
        }
    }
    // A few more turns for the windows to fill.
    for _ in 0..50 {
        lab.turn();
    }
    let conns = lab.connections();
    assert_eq!(
        lab.served.len(),
        CLIENTS,
        "not every connection was accepted ({conns} in the engine, errors {:?})",
        lab.server_errors
    );
    assert!(
        lab.server_errors.iter().any(|(e, _)| *e == Error::NoMem),
        "the server never hit the buffer cap (peak {})",
        lab.peak_buffer_bytes
    );
    assert!(lab.peak_buffer_bytes <= lab.buffer_cap);
    let rss_full = rss_bytes();
    // 20 000 connections on each side (a few KiB each), the server's cap, and the client's
    // receive buffers (20 000 full windows: RCVBUF each).
    let bound = 2 * CLIENTS * 8192 + lab.buffer_cap + CLIENTS * RCVBUF + (64 << 20);
    assert!(
        rss_full.saturating_sub(rss_before) <= bound,
        "resident memory grew from {rss_before} to {rss_full} (bound {bound})"
    );
    // The clients go away (RST), and the memory comes back.
    for s in socks {
        lab.c.abort(s).unwrap();
    }
    assert_eq!(lab.settle(), 0, "buffer memory did not come back");
    // Resident memory comes back once the buffers are freed (the stack hands the allocator's
    // free pages back within a second or two of its clock): what stays are the connection and
    // socket tables, sized for the most connections seen, both sides: a slot holds a connection
    // control block (under 1 KiB: RACK's send records, the SACK scoreboard and the reassembly
    // ranges are boxed, freed with the connection; ~1 KiB per connection measured, both tables
    // and the 4-tuple index together).
    for _ in 0..3 {
        lab.advance(1_000, true);
        lab.turn();
    }
    let rss_idle = rss_bytes();
    eprintln!("resident memory: {rss_before} before, {rss_full} loaded, {rss_idle} idle");
    let tables = 2 * CLIENTS * 1024 + (16 << 20);
    assert!(
        rss_idle.saturating_sub(rss_before) <= tables,
        "resident memory stayed at {rss_idle} after the load ({rss_before} before, \
         {rss_full} loaded; bound {tables} above the start)"
    );
    lab.server_errors.clear();
    let after = lab.download(&mut |_, _| {});
    eprintln!("download {base:?} before, {after:?} after 20 000 non-reading connections");
    assert!(
        after <= base.max(Duration::from_millis(50)).mul_f64(MAX_SLOWDOWN),
        "download took {after:?} after the load, {base:?} before"
    );
}

/// More clients than the server has sockets: the engine completes only the handshakes the
/// socket layer can accept, now or once ids free up (the ids left plus the listener's backlog:
/// `accept` gives ENFILE meanwhile and the connection waits in the queue, as with Linux's
/// descriptor limit); the other SYNs are dropped, as Linux drops them with a full accept queue,
/// and every waiting client is served once sockets free up.
#[test]
fn handshakes_stop_at_the_sockets_left() {
    let _serial = serial();
    // The smallest table the listener's backlog (128, at most 2 x max_concurrency) allows.
    const SOCKETS: usize = 64;
    const CLIENTS: usize = 100;
    let mut lab = Lab::new(SOCKETS, 64, 128);
    let mut accepted = Vec::new();
    let mut accept_errors = Vec::new();
    let turn = |lab: &mut Lab, accepted: &mut Vec<i32>, accept_errors: &mut Vec<Error>| {
        lab.s.poll();
        loop {
            match lab.s.accept(lab.listener) {
                Ok((sock, _)) => accepted.push(sock),
                Err(Error::Again) => break,
                Err(e) => {
                    accept_errors.push(e);
                    break;
                }
            }
        }
        lab.c.poll();
    };
    let clients: Vec<i32> = (0..CLIENTS)
        .map(|_| {
            let s = lab.c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
            match lab.c.connect(s, SocketAddrV4::new(SERVER, PORT)) {
                Ok(()) | Err(Error::InProgress) => s,
                Err(e) => panic!("connect: {e}"),
            }
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        turn(&mut lab, &mut accepted, &mut accept_errors);
    }
    // The listener holds one of the sockets.
    assert_eq!(accepted.len(), SOCKETS - 1, "accepted");
    // Beside the accepted ones, at most the backlog's worth waiting for a socket id (queued or
    // half-open); `accept` said ENFILE for them and nothing else.
    let conns = lab.connections();
    assert!(
        conns <= SOCKETS - 1 + BACKLOG as usize,
        "the engine holds {conns} connections for {} sockets",
        SOCKETS - 1
    );
    assert!(
        accept_errors.iter().all(|e| matches!(e, Error::NFile)),
        "accept failed: {accept_errors:?}"
    );
    accept_errors.clear();
    // Twenty sockets free up: twenty more clients get in with their SYN retransmissions.
    for s in accepted.drain(..20) {
        lab.s.abort(s).unwrap();
    }
    let start = Instant::now();
    while accepted.len() < SOCKETS - 1 && start.elapsed() < Duration::from_secs(10) {
        turn(&mut lab, &mut accepted, &mut accept_errors);
    }
    assert_eq!(accepted.len(), SOCKETS - 1, "accepted after twenty closed");
    assert!(
        accept_errors.iter().all(|e| matches!(e, Error::NFile)),
        "accept failed: {accept_errors:?}"
    );
    drop(clients);
}

/// A burst of short connections leaves the buffer pieces they freed in the server's pool, for
/// the next connections to take without allocating; once the burst is over, the pool shrinks
/// to its floor within two seconds of the stack's clock.
#[test]
fn spare_buffers_shrink_to_the_floor_after_a_burst() {
    let _serial = serial();
    // Within the backlog, so that every client gets in at once; a 64 MiB cap keeps the pool's
    // room (an eighth of the cap, at most 4 MiB of 1 KiB pieces) above the burst.
    const CLIENTS: usize = 100;
    const REPLY: usize = 1000;
    let mut lab = Lab::new(1024, 512, 1024);
    let socks: Vec<i32> = (0..CLIENTS).map(|_| lab.connect()).collect();
    let mut open = [true; CLIENTS];
    let mut got = [0usize; CLIENTS];
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while open.iter().any(|&o| o) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "burst stuck: {} of {CLIENTS} clients done",
            open.iter().filter(|&&o| !o).count()
        );
        while lab.s.poll() > 0 {}
        // The server: a short reply to each, then close.
        while let Ok((sock, _)) = lab.s.accept(lab.listener) {
            assert_eq!(lab.s.write(sock, &lab.data[..REPLY]).unwrap(), REPLY);
            lab.s.close(sock).unwrap();
        }
        while lab.c.poll() > 0 {}
        for (i, &sock) in socks.iter().enumerate() {
            if !open[i] {
                continue;
            }
            match lab.c.read(sock, &mut buf) {
                Ok(0) => {
                    assert_eq!(got[i], REPLY, "client {i}");
                    lab.c.close(sock).unwrap();
                    open[i] = false;
                }
                Ok(n) => {
                    assert_eq!(&buf[..n], &lab.data[got[i]..got[i] + n], "client {i}");
                    got[i] += n;
                }
                Err(Error::Again | Error::NotConn) => {}
                Err(e) => panic!("client {i}: {e}"),
            }
        }
    }
    assert_eq!(lab.settle(), 0, "buffer memory did not come back");
    let pooled = lab.s.with(|st| st.pooled_buffer_bytes()).unwrap();
    for _ in 0..3 {
        lab.advance(1_000, true);
        lab.turn();
    }
    let pooled_idle = lab.s.with(|st| st.pooled_buffer_bytes()).unwrap();
    eprintln!("spare buffer memory: {pooled} bytes after the burst, {pooled_idle} idle");
    assert!(
        pooled > POOL_FLOOR,
        "the burst left no more than the floor in the pool ({pooled}): nothing to show"
    );
    assert!(
        pooled_idle <= POOL_FLOOR,
        "the idle pool kept {pooled_idle} bytes (floor {POOL_FLOOR})"
    );
}

/// A reader that keeps a zero window for two (virtual) minutes, then reads everything: the
/// server probes the window with backoff, keeps the connection, holds at most one send
/// buffer for it, and the stream arrives byte-exact.
#[test]
fn zero_window_reader_for_two_minutes() {
    let _serial = serial();
    let mut lab = Lab::new(64, 64, 4);
    let sock = lab.connect();
    // Let the server fill the client's window and its own send buffer.
    for _ in 0..200 {
        lab.turn();
    }
    for _ in 0..120 {
        lab.advance(1_000, true);
        lab.turn();
        assert!(
            lab.buffer_bytes() <= SNDBUF + RCVBUF,
            "server holds {} buffer bytes for one stalled reader",
            lab.buffer_bytes()
        );
    }
    assert_eq!(
        lab.served.len(),
        1,
        "the server dropped the stalled connection"
    );
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(30), "stuck at {got}");
        lab.turn();
        match lab.c.read(sock, &mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for (k, &b) in buf[..n].iter().enumerate() {
                    assert_eq!(b, pattern(got + k), "byte {}", got + k);
                }
                got += n;
            }
            Err(Error::Again) => {}
            Err(e) => panic!("read after {got}: {e}"),
        }
    }
    assert_eq!(got, TOTAL);
    lab.c.close(sock).unwrap();
    assert_eq!(lab.settle(), 0, "buffer memory did not come back");
}

/// A client that dies mid-transfer (never answers again, sends no FIN or RST): the server
/// retransmits with backoff, gives up at its retry limit, and its memory comes back; a new
/// download is as fast as before.
#[test]
fn client_killed_mid_transfer() {
    let _serial = serial();
    let mut lab = Lab::new(64, 64, 4);
    let base = lab.download(&mut |_, _| {});
    let sock = lab.connect();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    let start = Instant::now();
    while got < TOTAL / 4 {
        assert!(start.elapsed() < Duration::from_secs(30), "stuck at {got}");
        lab.turn();
        if let Ok(n) = lab.c.read(sock, &mut buf) {
            got += n;
        }
    }
    // The client is gone: nothing polls it any more. Virtual time runs on the server only.
    let mut freed = false;
    for _ in 0..400 {
        lab.advance(5_000, false);
        for _ in 0..4 {
            lab.s.poll();
        }
        lab.serve();
        if lab.buffer_bytes() == 0 && lab.served.is_empty() {
            freed = true;
            break;
        }
    }
    assert!(
        freed,
        "after 2000 s the server still holds {} buffer bytes and {} connections",
        lab.buffer_bytes(),
        lab.connections()
    );
    assert!(
        lab.server_errors.iter().any(|(e, _)| *e == Error::TimedOut),
        "the server's write never reported the timeout: {:?}",
        lab.server_errors
    );
    // The client comes back (a new process would have no state; this one resets its old
    // connection when the server does not know it).
    let _ = lab.c.abort(sock);
    let after = lab.download(&mut |_, _| {});
    assert!(
        after <= base.max(Duration::from_millis(50)).mul_f64(MAX_SLOWDOWN),
        "download took {after:?} after, {base:?} before"
    );
}
