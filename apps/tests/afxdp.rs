//! The apps over AF_XDP (`io = afxdp`) on a veth whose other end is the Linux kernel, inside
//! namespaces the tests create: epserver serves curl byte-exact and ab with no failure (both run
//! modes); mtcp-perf moves 100 MB each way byte-exact through the fault wrapper and nft loss; two
//! cores with the software mesh on a two-queue veth; and no XDP program stays attached after the
//! app stops, whether by SIGINT or SIGKILL.

mod common;

use common::*;

const LOSS: &str = "table inet loss {
 chain i { type filter hook input priority 0; meta l4proto tcp numgen random mod 100 0 drop
 }
 chain o { type filter hook output priority 0; meta l4proto tcp numgen random mod 100 0 drop
 }
}
";

/// The `ip link show` line of our interface (the one in mtcp.conf's `port`).
fn our_link(env: &Env) -> String {
    let conf = std::fs::read_to_string(&env.conf).unwrap();
    let port = conf
        .lines()
        .find_map(|l| l.strip_prefix("port = "))
        .unwrap()
        .to_owned();
    let out = env.run(&["ip", "link", "show", &port]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fetch_exact(env: &Env, www: &std::path::Path, file: &str, out_name: &str) {
    let f = env.dir.join(out_name);
    let out = env.run(&[
        "curl",
        "-sS",
        "-m",
        "30",
        "-o",
        f.to_str().unwrap(),
        &format!("http://{OUR_IP}/{file}"),
    ]);
    assert!(
        out.status.success(),
        "curl {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256(&f), sha256(&www.join(file)), "curl {file}");
}

fn epserver(tag: &str, cores: usize, extra: &str) {
    let env = Env::with_cores(tag, Link::AfXdp, cores, extra);
    let www = env.site(&[("index.html", 1024, 1), ("big.bin", 3 << 20, 2)]);
    let n = cores.to_string();
    let srv = env.spawn(
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", www.to_str().unwrap(), "-f", env.conf(), "-N", &n],
    );
    let line = srv.wait_for("listening", 20);
    assert!(line.contains(&format!("on {cores} core(s)")), "{line}");
    assert!(our_link(&env).contains("prog/xdp"), "{}", our_link(&env));
    // Separate connections (different source ports: with two cores, both cores own some).
    for i in 0..10 {
        fetch_exact(&env, &www, "big.bin", &format!("c{i}"));
    }
    fetch_exact(&env, &www, "index.html", "small");
    ab_no_failures(
        &env,
        &format!("http://{OUR_IP}/index.html"),
        2000,
        100,
        false,
    );
    ab_no_failures(
        &env,
        &format!("http://{OUR_IP}/index.html"),
        2000,
        100,
        true,
    );
    // SIGINT stops the app cleanly; the program is gone with it.
    // SAFETY: kill(2) on our own child's pid (`ip netns exec` execs the app in place).
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGINT) };
    let (_, lines) = srv.finish(30);
    println!("{lines:?}");
    let link = our_link(&env);
    assert!(!link.contains("prog/xdp"), "program left attached: {link}");
}

#[test]
#[ignore = "needs root: network namespaces, veth, XDP; curl, ab, sha256sum, ethtool"]
fn epserver_over_afxdp_serves_curl_and_ab() {
    epserver("xep", 1, "run_mode = rtc\n");
}

#[test]
#[ignore = "needs root: network namespaces, veth, XDP; curl, ab, sha256sum, ethtool"]
fn epserver_threaded_over_afxdp_serves_curl_and_ab() {
    epserver("xet", 1, "run_mode = threaded\n");
}

#[test]
#[ignore = "needs root: network namespaces, two-queue veth, XDP; curl, ab, sha256sum, ethtool"]
fn epserver_two_cores_over_afxdp_with_the_mesh() {
    epserver("xe2", 2, "run_mode = rtc\n");
}

/// Generic XDP: veth hands every frame to receive queue 0, so the mesh moves the other core's
/// flows to it.
#[test]
#[ignore = "needs root: network namespaces, two-queue veth, XDP; curl, ab, sha256sum, ethtool"]
fn epserver_two_cores_over_generic_xdp() {
    epserver("xeg", 2, "run_mode = rtc\nxdp_mode = generic\n");
}

/// A killed app runs no destructor; the kernel still detaches the program (bpf_link).
#[test]
#[ignore = "needs root: network namespaces, veth, XDP; curl, ethtool"]
fn sigkill_leaves_no_program_attached() {
    let env = Env::new("xek", Link::AfXdp, "run_mode = rtc\n");
    let www = env.site(&[("index.html", 1024, 1)]);
    let mut srv = env.spawn(
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", www.to_str().unwrap(), "-f", env.conf()],
    );
    srv.wait_for("listening", 20);
    fetch_exact(&env, &www, "index.html", "small");
    assert!(our_link(&env).contains("prog/xdp"));
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();
    let mut link = our_link(&env);
    // The link is released with the process's last descriptor; allow the kernel a moment.
    for _ in 0..50 {
        if !link.contains("prog/xdp") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        link = our_link(&env);
    }
    assert!(!link.contains("prog/xdp"), "program left attached: {link}");
}

/// 100 MB each way, byte-exact, with ~2 % loss each way (nft on the kernel's side, the fault
/// wrapper with reordering, duplication and delay on ours). `MTCP_PERF_BYTES=N` runs another size.
#[test]
#[ignore = "needs root: network namespaces, veth, XDP; nft, ethtool"]
fn perf_over_afxdp_byte_exact_with_loss() {
    let faults = "fault_loss = 0.01\nfault_reorder = 0.02\nfault_duplicate = 0.01\n\
                  fault_delay_ms = 1\nfault_seed = 7\n";
    let env = Env::new("xpf", Link::AfXdp, &format!("{faults}run_mode = rtc\n"));
    let rules = env.dir.join("loss.nft");
    std::fs::write(&rules, LOSS).unwrap();
    env.ns
        .exec_ok(&["nft", "-f", rules.to_str().unwrap()])
        .expect("nft");
    let bytes = std::env::var("MTCP_PERF_BYTES").unwrap_or_else(|_| "100000000".into());
    env.perf_both_ways(
        ("0.0.0.0", OUR_IP),
        (KERNEL_IP, KERNEL_IP),
        (&bytes, &bytes),
    );
}

/// epwget on two cores fetches from the kernel's HTTP server: every connection completes on
/// both cores and the file arrives byte-exact.
#[test]
#[ignore = "needs root: network namespaces, two-queue veth, XDP; python3, sha256sum, ethtool"]
fn epwget_two_cores_over_afxdp() {
    let env = Env::with_cores("xew", Link::AfXdp, 2, "run_mode = rtc\n");
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

/// mtcp-echo: our server with a kernel client, then our client with a kernel server.
#[test]
#[ignore = "needs root: network namespaces, veth, XDP; ethtool"]
fn echo_over_afxdp_both_ways() {
    let env = Env::new("xec", Link::AfXdp, "run_mode = rtc\n");
    let log = env.echo_both_ways(("0.0.0.0", OUR_IP), (KERNEL_IP, KERNEL_IP));
    // `xdp_zero_copy = auto` on veth: the startup log says what the kernel granted.
    assert!(
        log.contains("AF_XDP, Native XDP, copy mode, 1 queue(s)"),
        "startup log: {log}"
    );
}

/// `xdp_zero_copy = on` on veth (no AF_XDP zero copy): the app does not start, and says why,
/// naming the driver; nothing stays attached.
#[test]
#[ignore = "needs root: network namespaces, veth, XDP; ethtool"]
fn zero_copy_on_veth_is_a_clear_error_naming_the_driver() {
    let env = Env::new("xez", Link::AfXdp, "run_mode = rtc\nxdp_zero_copy = on\n");
    let www = env.site(&[("index.html", 1024, 1)]);
    let out = env.run(&[
        env!("CARGO_BIN_EXE_epserver"),
        "-p",
        www.to_str().unwrap(),
        "-f",
        env.conf(),
    ]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started with zero copy on veth: {log}"
    );
    assert!(
        log.contains("zero copy") && log.contains("driver `veth`"),
        "{log}"
    );
    assert!(!our_link(&env).contains("prog/xdp"), "{}", our_link(&env));
}
