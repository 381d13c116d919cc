//! epserver's loop keeps serving when the context runs out of socket ids (`ENFILE`), as mTCP's
//! epserver does: it stops accepting for that turn, serves what is open, and accepts the waiting
//! connections later. Before, the accept loop returned the error and the server thread ended.
//! In memory, no privileges.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mtcp_apps::client::{self, ClientConfig, ClientStats, Request};
use mtcp_apps::http::test_content;
use mtcp_apps::server::{self, ServerConfig, ServerStats};
use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn conf(port: &str, ip: Ipv4Addr, max_concurrency: usize) -> MtcpConf {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\n\
         max_concurrency = {max_concurrency}\nrcvbuf = 16384\nsndbuf = 16384\ntcp_timewait = 0\n"
    ))
    .expect("test config parses")
}

/// Runs 120 GETs of a 20 KB file, 24 connections at a time, between a server and a client whose
/// contexts have `server_ids` and `client_ids` socket ids; returns (completes, errors,
/// incompletes), and whether the server loop was still running at the end.
fn run_gets(server_ids: usize, client_ids: usize) -> ((u64, u64, u64), bool) {
    let switch = MemSwitch::new(MemConfig::default()).unwrap();
    let srv = Mtcp::with_switch(conf("mem0", SERVER_IP, server_ids), &switch, 0).unwrap();
    let cli = Mtcp::with_switch(conf("mem1", CLIENT_IP, client_ids), &switch, 1).unwrap();
    let body = Arc::new(test_content(20_000, 5));
    let mut files = HashMap::new();
    files.insert("/f".to_string(), Arc::clone(&body));
    let cfg = ServerConfig {
        files,
        backlog: server_ids.min(64) as i32,
        ..ServerConfig::new()
    };
    let mut sctx = srv.create_context(0).unwrap();
    let listener = server::listen(&mut sctx, &cfg).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(ServerStats::default());
    let (s2, st2) = (Arc::clone(&stop), Arc::clone(&stats));
    let srv_thread =
        std::thread::spawn(move || server::serve(&mut sctx, listener, &cfg, &st2, &s2));

    let mut cctx = cli.create_context(0).unwrap();
    let requests = vec![
        Request {
            path: "/f".into(),
            expected: Some(body),
        };
        120
    ];
    let ccfg = ClientConfig {
        server: (SERVER_IP, 80).into(),
        requests,
        concurrency: 24,
        stall_timeout: Duration::from_secs(20),
        keep_body: false,
    };
    let outcome = client::run(&mut cctx, &ccfg, &ClientStats::default()).unwrap();
    let server_still_running = !srv_thread.is_finished();
    stop.store(true, Ordering::Relaxed);
    let served = srv_thread.join().expect("server thread did not panic");
    if server_still_running {
        served.expect("server loop ends cleanly when stopped");
    }
    assert!(
        outcome.completes != 120 || stats.responses.load(Ordering::Relaxed) == 120,
        "responses counted"
    );
    (
        (outcome.completes, outcome.errors, outcome.incompletes),
        server_still_running,
    )
}

#[test]
fn server_keeps_serving_when_out_of_socket_ids() {
    // 6 socket ids on the server: the listener, the epoll instance, and 4 connections at most,
    // while the client keeps 24 connections open at once.
    let (outcome, server_still_running) = run_gets(6, 1000);
    assert!(
        server_still_running,
        "the server loop ended under socket pressure"
    );
    assert_eq!(outcome, (120, 0, 0), "every request is served in the end");
}

/// The client side: with 8 socket ids it cannot open 24 connections at once; it opens what it
/// can each turn and still completes every request.
#[test]
fn client_keeps_going_when_out_of_socket_ids() {
    let (outcome, server_still_running) = run_gets(1000, 8);
    assert!(server_still_running);
    assert_eq!(outcome, (120, 0, 0), "every request is served in the end");
}
