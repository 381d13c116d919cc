//! epserver over TAP and over AF_PACKET on a veth, fetched by the kernel's HTTP clients inside
//! the namespace: curl and wget byte-exact (SHA-256), keep-alive and close, 404; ab and wrk
//! with 1 and 1000 concurrent connections; in both run modes.

mod common;

use common::*;

const PROGRAMS: &[&str] = &["curl", "wget", "ab", "wrk", "sha256sum", "ethtool"];

fn serve_and_fetch(tag: &str, link: Link, mode: &str) {
    let env = Env::new(tag, link, &format!("run_mode = {mode}\n"));
    let www = env.site(&[("index.html", 1024, 1), ("big.bin", 3 << 20, 2)]);
    let srv = env.spawn(
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", www.to_str().unwrap(), "-f", env.conf()],
    );
    srv.wait_for("listening", 20);
    let base = format!("http://{OUR_IP}");

    // curl: two files on one keep-alive connection, then with Connection: close.
    let (a, b) = (env.dir.join("a"), env.dir.join("b"));
    let out = env.run(&[
        "curl",
        "-sS",
        "-m",
        "30",
        "-o",
        a.to_str().unwrap(),
        &format!("{base}/big.bin"),
        "-o",
        b.to_str().unwrap(),
        &format!("{base}/index.html"),
        "-w",
        "%{num_connects} ",
    ]);
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1 0",
        "keep-alive reused"
    );
    assert_eq!(sha256(&a), sha256(&www.join("big.bin")));
    assert_eq!(sha256(&b), sha256(&www.join("index.html")));
    let c = env.dir.join("c");
    let out = env.run(&[
        "curl",
        "-sS",
        "-m",
        "30",
        "-H",
        "Connection: close",
        "-D",
        "-",
        "-o",
        c.to_str().unwrap(),
        &format!("{base}/big.bin"),
    ]);
    let head = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && head.contains("Connection: Close"),
        "{head}"
    );
    assert!(
        head.contains("Date: ")
            && head.contains("Server: ")
            && head.contains("Content-Length: 3145728")
    );
    assert_eq!(sha256(&c), sha256(&www.join("big.bin")));
    let out = env.run(&[
        "curl",
        "-s",
        "-m",
        "10",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/missing"),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");

    // wget (HTTP/1.1 keep-alive by default).
    env.wget_verified(&format!("{base}/big.bin"), &www.join("big.bin"));

    // ab: one connection, then 1000 concurrent; with and without keep-alive.
    for (n, c, k) in [(500, 1, false), (3000, 1000, false), (3000, 1000, true)] {
        ab_no_failures(&env, &format!("{base}/index.html"), n, c, k);
    }

    // wrk: 1000 keep-alive connections for 3 s, then one.
    for (t, c) in [("2", "1000"), ("1", "1")] {
        let cmd =
            format!("ulimit -n 8192; wrk -t {t} -c {c} -d 3s --timeout 10s {base}/index.html");
        let out = env.run(&["sh", "-c", &cmd]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        println!("wrk -c {c}:\n{text}");
        assert!(
            out.status.success(),
            "wrk: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("requests in"), "{text}");
        assert!(!text.contains("Socket errors"), "{text}");
        assert!(!text.contains("Non-2xx"), "{text}");
    }
    drop(srv);
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epserver_over_tap_serves_kernel_clients() {
    can_run("epserver_over_tap_serves_kernel_clients", PROGRAMS);
    serve_and_fetch("eps", Link::Tap, "rtc");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epserver_over_afpacket_serves_kernel_clients() {
    can_run("epserver_over_afpacket_serves_kernel_clients", PROGRAMS);
    serve_and_fetch("epa", Link::AfPacket, "rtc");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epserver_threaded_over_afpacket_serves_kernel_clients() {
    can_run(
        "epserver_threaded_over_afpacket_serves_kernel_clients",
        PROGRAMS,
    );
    serve_and_fetch("ept", Link::AfPacket, "threaded");
}
