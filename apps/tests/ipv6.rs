//! The apps against Linux over IPv6, in a namespace addressed from 2001:2::/48 (the kernel
//! 2001:2::1, ours 2001:2::2, beside 198.18.0.1/.2): epserver serves curl, wget, ab and wrk
//! over IPv6 (and IPv4 from the same dual-stack listener) byte-exact, the kernel pings it
//! (ICMPv6 echo) and both sides learn each other by Neighbour Discovery; epwget fetches from
//! nginx over IPv6; mtcp-perf moves 100 MB each way byte-exact over IPv6 on a lossy link. An
//! IPv4 listener and an `IPV6_V6ONLY` one share port 80, as on Linux, each serving curl of its
//! family.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use mtcp_socket_api::{EpollEvent, Error, Mtcp};

/// The kernel's neighbour entry for our address: `lladdr` and a state once it resolved us.
fn kernel_knows_us(env: &Env) -> String {
    let out = env.run(&["ip", "-6", "neigh", "show", OUR_IP6]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn curl_ok(env: &Env, args: &[&str]) -> String {
    let out = env.run(&[&["curl", "-sS", "-m", "30"], args].concat());
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn epserver_over_ipv6(tag: &str, link: Link, mode: &str) {
    let env = Env::new(tag, link, &format!("run_mode = {mode}\n"));
    env.enable_ipv6();
    let www = env.site(&[("index.html", 1024, 1), ("big.bin", 3 << 20, 2)]);
    let srv = env.spawn(
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", www.to_str().unwrap(), "-f", env.conf()],
    );
    let line = srv.wait_for("listening", 20);
    assert!(line.contains("[::]:80"), "dual-stack listener: {line}");
    let base = format!("http://[{OUR_IP6}]");

    // ICMPv6 echo from the kernel: it resolves us by Neighbour Discovery first.
    let out = env.run(&["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", OUR_IP6]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("3 received"),
        "{text}"
    );
    let neigh = kernel_knows_us(&env);
    assert!(
        neigh.contains("lladdr"),
        "kernel's neighbour entry: {neigh}"
    );

    // curl: two files on one keep-alive connection, byte-exact; 404.
    let (a, b) = (env.dir.join("a"), env.dir.join("b"));
    let w = curl_ok(
        &env,
        &[
            "-o",
            a.to_str().unwrap(),
            &format!("{base}/big.bin"),
            "-o",
            b.to_str().unwrap(),
            &format!("{base}/index.html"),
            "-w",
            "%{num_connects} ",
        ],
    );
    assert_eq!(w.trim(), "1 0", "keep-alive reused");
    assert_eq!(sha256(&a), sha256(&www.join("big.bin")));
    assert_eq!(sha256(&b), sha256(&www.join("index.html")));
    let code = curl_ok(
        &env,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}/missing"),
        ],
    );
    assert_eq!(code, "404");
    // The same listener takes IPv4 too.
    let c = env.dir.join("c");
    curl_ok(
        &env,
        &[
            "-o",
            c.to_str().unwrap(),
            &format!("http://{OUR_IP}/big.bin"),
        ],
    );
    assert_eq!(sha256(&c), sha256(&www.join("big.bin")));

    // wget over IPv6.
    env.wget_verified(&format!("{base}/big.bin"), &www.join("big.bin"));

    // ab: one connection, then 1000 concurrent; with and without keep-alive.
    for (n, c, k) in [(300, 1, false), (3000, 1000, false), (3000, 1000, true)] {
        ab_no_failures(&env, &format!("{base}/index.html"), n, c, k);
    }

    // wrk: 1000 keep-alive connections for 3 s.
    let cmd = format!("ulimit -n 8192; wrk -t 2 -c 1000 -d 3s --timeout 10s {base}/index.html");
    let out = env.run(&["sh", "-c", &cmd]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    println!("wrk over IPv6:\n{text}");
    assert!(
        out.status.success() && text.contains("requests in"),
        "{text}"
    );
    assert!(
        !text.contains("Socket errors") && !text.contains("Non-2xx"),
        "{text}"
    );
    drop(srv);
}

const HTTP_PROGRAMS: &[&str] = &["curl", "wget", "ab", "wrk", "ping", "sha256sum", "ethtool"];

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epserver_over_afpacket_serves_kernel_clients_over_ipv6() {
    can_run(
        "epserver_over_afpacket_serves_kernel_clients_over_ipv6",
        HTTP_PROGRAMS,
    );
    epserver_over_ipv6("e6a", Link::AfPacket, "rtc");
}

#[test]
#[ignore = "needs root: network namespaces, TAP and a Linux peer"]
fn epserver_threaded_over_tap_serves_kernel_clients_over_ipv6() {
    can_run(
        "epserver_threaded_over_tap_serves_kernel_clients_over_ipv6",
        HTTP_PROGRAMS,
    );
    epserver_over_ipv6("e6t", Link::Tap, "threaded");
}

#[test]
#[ignore = "needs root: network namespaces, TAP and nginx"]
fn epwget_fetches_from_nginx_over_ipv6() {
    can_run(
        "epwget_fetches_from_nginx_over_ipv6",
        &["nginx", "curl", "sha256sum"],
    );
    let env = Env::new("w6n", Link::Tap, "run_mode = rtc\n");
    env.enable_ipv6();
    let www = env.site(&[("big.bin", 200_000, 3)]);
    let _nginx = env.nginx(&format!("[{KERNEL_IP6}]:80"), &www);
    let probe = format!("http://[{KERNEL_IP6}]/big.bin");
    let up = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        env.run(&["curl", "-s", "-m", "1", "-o", "/dev/null", &probe])
            .status
            .success()
    });
    let log = std::fs::read_to_string(env.dir.join("error.log")).unwrap_or_default();
    let addrs = env.run(&["ip", "-6", "addr"]);
    assert!(
        up,
        "nginx never answered: {log}\n{}",
        String::from_utf8_lossy(&addrs.stdout)
    );
    let out_file = env.dir.join("out.bin");
    let target = format!("{KERNEL_IP6}/big.bin");
    let p = env.spawn(
        env!("CARGO_BIN_EXE_epwget"),
        &[
            &target,
            "300",
            "-c",
            "20",
            "-f",
            env.conf(),
            "-o",
            out_file.to_str().unwrap(),
        ],
    );
    let (ok, lines) = p.finish(120);
    let summary = "[CPU 0] Completed 300 connections, errors: 0 incompletes: 0";
    assert!(
        ok && lines.iter().any(|l| l == summary),
        "epwget: {lines:?}"
    );
    assert_eq!(sha256(&out_file), sha256(&www.join("big.bin")));
    // The kernel never spoke first: every byte came after our Neighbour Discovery resolved it
    // (no static entries are configured). The kernel's entry for us went with the TAP's
    // carrier when epwget exited, so it is not checked here (the epserver test does).
}

/// Loses about 1 % of the TCP frames (both families) each way in the kernel's namespace.
const LOSS: &str = "table inet loss {
 chain i { type filter hook input priority 0; meta l4proto tcp numgen random mod 100 0 drop; }
 chain o { type filter hook output priority 0; meta l4proto tcp numgen random mod 100 0 drop; }
}
";

#[test]
#[ignore = "needs root: network namespaces, veth, nft and a Linux peer"]
fn perf_byte_exact_with_loss_over_ipv6() {
    can_run("perf_byte_exact_with_loss_over_ipv6", &["ethtool", "nft"]);
    // The IPv4 test's impairments: our fault wrapper both ways, nft loss on the kernel's side.
    let faults = "fault_loss = 0.01\nfault_reorder = 0.02\nfault_duplicate = 0.01\n\
                  fault_delay_ms = 1\nfault_seed = 7\ntcp_cc = bbr\nrun_mode = rtc\n";
    let env = Env::new("p6l", Link::AfPacket, faults);
    env.enable_ipv6();
    let rules = env.dir.join("loss.nft");
    std::fs::write(&rules, LOSS).unwrap();
    env.ns
        .exec_ok(&["nft", "-f", rules.to_str().unwrap()])
        .expect("nft");
    let bytes = std::env::var("MTCP_PERF_BYTES").unwrap_or_else(|_| "100000000".into());
    // Our client against the kernel's server, then our server (on ::) against a kernel client.
    env.perf_both_ways(
        ("::", &format!("[{OUR_IP6}]")),
        (KERNEL_IP6, &format!("[{KERNEL_IP6}]")),
        (&bytes, &bytes),
    );
}

/// `mtcp-bench`'s `mem6` link (the `mem` link over IPv6) reports a value for every row it
/// promises, beside `mem` in the same run. No privileges needed.
#[test]
fn bench_mem6_link_reports_its_rows() {
    let dir = std::env::temp_dir().join(unique_name("mb6"));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("out.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mtcp-bench"))
        .args(["--quick", "--run-mode", "rtc", "--links", "mem,mem6"])
        .args(["--workloads", "echo64x64,short64,bulk1500", "--json"])
        .arg(&json)
        .output()
        .expect("run mtcp-bench");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default())
            .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{text}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{text}");
    for link in ["mem", "mem6"] {
        for w in ["echo64x64", "short64", "bulk1500"] {
            let v = doc["rows"].as_array().and_then(|rows| {
                rows.iter()
                    .find(|r| r["workload"] == w && r["link"] == link && r["run_mode"] == "rtc")
                    .and_then(|r| r["value"].as_f64())
            });
            assert!(v.is_some_and(|v| v > 0.0), "{w} {link}: {v:?}\n{text}");
        }
    }
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn echo_with_kernel_client_and_server_over_ipv6() {
    can_run("echo_with_kernel_client_and_server_over_ipv6", &["ethtool"]);
    let env = Env::new("ec6", Link::AfPacket, "run_mode = rtc\n");
    env.enable_ipv6();
    // Our server on `::` with the kernel's client, then the kernel's server with our client.
    env.echo_both_ways(
        ("::", &format!("[{OUR_IP6}]")),
        (KERNEL_IP6, &format!("[{KERNEL_IP6}]")),
    );
}

/// Two cores over AF_PACKET fanout and IPv6: the kernel spreads the flows over both queues, the
/// stack steers each to its core by the Toeplitz hash of its IPv6 4-tuple (software steering),
/// and a neighbour advertisement reaches the core that solicited it. epserver -N 2 serves ab
/// and separate curls; epwget -N 2 fetches from nginx, all over IPv6.
#[test]
#[ignore = "needs root: network namespaces, veth, nginx and a Linux peer"]
fn two_cores_over_afpacket_and_ipv6() {
    can_run(
        "two_cores_over_afpacket_and_ipv6",
        &["curl", "ab", "nginx", "sha256sum", "ethtool"],
    );
    let env = Env::with_cores("m6", Link::AfPacket, 2, "run_mode = rtc\n");
    env.enable_ipv6();
    let www = env.site(&[("index.html", 1024, 1), ("big.bin", 1 << 20, 2)]);
    let srv = env.spawn(
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", www.to_str().unwrap(), "-f", env.conf(), "-N", "2"],
    );
    let line = srv.wait_for("listening", 20);
    assert!(line.contains("on 2 core(s)"), "{line}");
    let base = format!("http://[{OUR_IP6}]");
    for i in 0..10 {
        let f = env.dir.join(format!("c{i}"));
        curl_ok(
            &env,
            &["-o", f.to_str().unwrap(), &format!("{base}/big.bin")],
        );
        assert_eq!(sha256(&f), sha256(&www.join("big.bin")), "curl {i}");
    }
    ab_no_failures(&env, &format!("{base}/index.html"), 2000, 100, false);
    drop(srv);

    let _nginx = env.nginx(&format!("[{KERNEL_IP6}]:8080"), &www);
    env.wait_http(&format!("http://[{KERNEL_IP6}]:8080/index.html"));
    let target = format!("[{KERNEL_IP6}]:8080/index.html");
    let p = env.spawn(
        env!("CARGO_BIN_EXE_epwget"),
        &[&target, "200", "-N", "2", "-c", "20", "-f", env.conf()],
    );
    let (ok, lines) = p.finish(120);
    for cpu in 0..2 {
        let summary = format!("[CPU {cpu}] Completed 100 connections, errors: 0 incompletes: 0");
        assert!(
            ok && lines.iter().any(|l| l == &summary),
            "epwget: {lines:?}"
        );
    }
}

/// Sets the flag when dropped: a failed assertion still stops the server thread.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A listener of `domain` (IPV6_V6ONLY as `v6only`) on `addr`.
fn listener(
    ctx: &mut mtcp_socket_api::Context<mtcp_socket_api::backend::AnyQueue>,
    domain: i32,
    v6only: bool,
    addr: &str,
) -> Result<i32, Error> {
    let l = ctx.socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)?;
    if v6only {
        ctx.setsockopt(l, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    let r = ctx
        .bind(l, addr.parse::<SocketAddr>().unwrap())
        .and_then(|()| ctx.listen(l, 64));
    if r.is_err() {
        let _ = ctx.close(l);
    }
    r.map(|()| l)
}

/// Our stack with two listeners on port 80, `0.0.0.0` and `[::]` with IPV6_V6ONLY: each
/// connection gets one HTTP response naming the listener that accepted it and the peer it saw,
/// then is closed. Sends a line once listening (with what a dual-stack `[::]:80` beside them
/// got), and returns the responses written when `stop` is set.
fn serve_from_two_listeners(
    conf: PathBuf,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<String>,
) -> Result<usize, String> {
    let mtcp = Mtcp::init(&conf).map_err(|e| e.to_string())?;
    let mut ctx = mtcp.create_context(0).map_err(|e| e.to_string())?;
    let err = |e: Error| e.to_string();
    let l4 = listener(&mut ctx, libc::AF_INET, false, "0.0.0.0:80").map_err(err)?;
    let l6 = listener(&mut ctx, libc::AF_INET6, true, "[::]:80").map_err(err)?;
    let dual = listener(&mut ctx, libc::AF_INET6, false, "[::]:80");
    let ep = ctx.epoll_create(16).map_err(err)?;
    let _ = ready.send(format!(
        "listening; a dual-stack [::]:80 beside them: {dual:?}"
    ));
    let (mut conns, mut served) = (Vec::new(), 0);
    let mut evs = [EpollEvent::default(); 16];
    while !stop.load(Ordering::Relaxed) {
        ctx.epoll_wait(ep, &mut evs, 1).map_err(err)?;
        for (l, name) in [(l4, "ipv4 listener"), (l6, "ipv6-only listener")] {
            while let Ok((c, peer)) = ctx.accept(l) {
                conns.push((c, format!("{name} {peer}\n"), Vec::new()));
            }
        }
        conns.retain_mut(|(c, body, request)| {
            let mut buf = [0u8; 2048];
            while let Ok(n @ 1..) = ctx.read(*c, &mut buf) {
                request.extend_from_slice(&buf[..n]);
            }
            if !request.windows(4).any(|w| w == b"\r\n\r\n") {
                return true;
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if ctx.write(*c, response.as_bytes()) == Ok(response.len()) {
                served += 1;
            }
            let _ = ctx.close(*c);
            false
        });
    }
    Ok(served)
}

/// As Linux allows (and nginx's `listen [::]:80 ipv6only=on` beside `listen 80` relies on): one
/// program of ours listens on `0.0.0.0:80` and on `[::]:80` with IPV6_V6ONLY; `curl -4` reaches
/// the first (the peer an IPv4 address, not mapped), `curl -6` the second, alternately; a
/// dual-stack `[::]:80` beside them gets EADDRINUSE, as on Linux.
#[test]
#[ignore = "needs root: network namespaces, TAP and a Linux peer"]
fn ipv4_and_v6only_listeners_share_a_port_with_linux_clients() {
    can_run(
        "ipv4_and_v6only_listeners_share_a_port_with_linux_clients",
        &["curl"],
    );
    let env = Env::new("l46", Link::Tap, "run_mode = rtc\n");
    env.enable_ipv6();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(Arc::clone(&stop));
    let (tx, rx) = std::sync::mpsc::channel();
    let (conf, flag) = (env.conf.clone(), Arc::clone(&stop));
    let server = env
        .ns
        .spawn(move || serve_from_two_listeners(conf, flag, tx))
        .expect("server thread");
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the server listens");
    assert!(line.contains("Err(AddrInUse)"), "{line}");
    for i in 0..3 {
        let four = curl_ok(&env, &["-4", &format!("http://{OUR_IP}/")]);
        assert!(
            four.starts_with(&format!("ipv4 listener {KERNEL_IP}:")),
            "curl -4 #{i}: {four}"
        );
        let six = curl_ok(&env, &["-6", &format!("http://[{OUR_IP6}]/")]);
        assert!(
            six.starts_with(&format!("ipv6-only listener [{KERNEL_IP6}]:")),
            "curl -6 #{i}: {six}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let served = server.join().expect("joined").expect("in the namespace");
    assert_eq!(served, Ok(6));
}
