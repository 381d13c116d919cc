//! Two cores against the Linux kernel over AF_PACKET fanout (two sockets in a `PACKET_FANOUT`
//! group on a veth) and over a multi-queue TAP: the kernel's flow hash spreads flows over the
//! queues (`Steering::Opaque`), so the stack steers flows to their cores in software and copies
//! ARP to both cores:
//! epserver -N 2 serves ab and curl from the kernel, epwget -N 2 fetches from a kernel server,
//! both with no failure, in both run modes.

mod common;

use common::*;

fn epserver_two_cores(tag: &str, link: Link, mode: &str) {
    let env = Env::with_cores(tag, link, 2, &format!("run_mode = {mode}\n"));
    let www = env.site(&[("index.html", 1024, 1), ("big.bin", 1 << 20, 2)]);
    let srv = env.spawn(
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", www.to_str().unwrap(), "-f", env.conf(), "-N", "2"],
    );
    let line = srv.wait_for("listening", 20);
    assert!(line.contains("on 2 core(s)"), "{line}");
    let base = format!("http://{OUR_IP}");

    // curl: a run of separate connections (different source ports, hence both cores), each
    // byte-exact.
    for i in 0..20 {
        let f = env.dir.join(format!("c{i}"));
        let out = env.run(&[
            "curl",
            "-sS",
            "-m",
            "20",
            "-o",
            f.to_str().unwrap(),
            &format!("{base}/big.bin"),
        ]);
        assert!(
            out.status.success(),
            "curl {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sha256(&f), sha256(&www.join("big.bin")), "curl {i}");
    }

    for k in [false, true] {
        ab_no_failures(&env, &format!("{base}/index.html"), 2000, 100, k);
    }
    drop(srv);
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epserver_two_cores_afpacket_rtc() {
    can_run(
        "epserver_two_cores_afpacket_rtc",
        &["curl", "ab", "sha256sum", "ethtool"],
    );
    epserver_two_cores("mce", Link::AfPacket, "rtc");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epserver_two_cores_afpacket_threaded() {
    can_run(
        "epserver_two_cores_afpacket_threaded",
        &["curl", "ab", "sha256sum", "ethtool"],
    );
    epserver_two_cores("mct", Link::AfPacket, "threaded");
}

fn epwget_two_cores(tag: &str, link: Link, mode: &str) {
    let env = Env::with_cores(tag, link, 2, &format!("run_mode = {mode}\n"));
    let www = env.site(&[("big.bin", 100_000, 3)]);
    let _py = env.python_http_server(&www, 8000, "big.bin");
    let out_file = env.dir.join("out.bin");
    let p = env.spawn(
        env!("CARGO_BIN_EXE_epwget"),
        &[
            &format!("{KERNEL_IP}:8000/big.bin"),
            "200",
            "-N",
            "2",
            "-c",
            "20",
            "-f",
            env.conf(),
            "-o",
            out_file.to_str().unwrap(),
        ],
    );
    let (ok, lines) = p.finish(180);
    for cpu in 0..2 {
        let summary = format!("[CPU {cpu}] Completed 100 connections, errors: 0 incompletes: 0");
        assert!(
            ok && lines.iter().any(|l| l == &summary),
            "epwget: {lines:?}"
        );
    }
    assert_eq!(sha256(&out_file), sha256(&www.join("big.bin")));
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epwget_two_cores_afpacket_rtc() {
    can_run(
        "epwget_two_cores_afpacket_rtc",
        &["python3", "curl", "sha256sum", "ethtool"],
    );
    epwget_two_cores("mwe", Link::AfPacket, "rtc");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epwget_two_cores_afpacket_threaded() {
    can_run(
        "epwget_two_cores_afpacket_threaded",
        &["python3", "curl", "sha256sum", "ethtool"],
    );
    epwget_two_cores("mwt", Link::AfPacket, "threaded");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epserver_two_cores_tap_rtc() {
    can_run("epserver_two_cores_tap_rtc", &["curl", "ab", "sha256sum"]);
    epserver_two_cores("mcp", Link::Tap, "rtc");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epwget_two_cores_tap_threaded() {
    can_run(
        "epwget_two_cores_tap_threaded",
        &["python3", "curl", "sha256sum"],
    );
    epwget_two_cores("mwp", Link::Tap, "threaded");
}
