//! The apps over DPDK (`io = dpdk`, cargo feature `dpdk`), each DPDK process a subprocess started
//! inside a namespace the test makes (so DPDK's virtual devices appear there):
//! - `net_tap`: epserver serves a file that the kernel's curl fetches byte-exact (SHA-256);
//! - `net_af_packet` on a veth pair: mtcp-echo server against the kernel's echo client;
//! - `net_memif` between two DPDK processes: epwget against epserver, every request answered;
//! - `mtcp-bench` over its memif link (and the in-memory one) completes every run.

#![cfg(feature = "dpdk")]

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(unique_name("mtcpdpdk"));
        std::fs::create_dir_all(&dir).expect("tempdir");
        Scratch(dir)
    }

    /// Writes a DPDK mtcp.conf named `name` for port `port` at `ip`, with `eal` as EAL arguments.
    fn conf(&self, name: &str, port: &str, ip: &str, eal: &str) -> PathBuf {
        let path = self.0.join(name);
        let prefix = unique_name(&format!("md{}", &name[..1]));
        std::fs::write(
            &path,
            format!(
                "io = dpdk\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\n\
                 max_concurrency = 10000\nmax_num_buffers = 10000\nrcvbuf = 65536\nsndbuf = 65536\n\
                 tcp_timewait = 0\n\
                 dpdk_eal_args = {eal} --no-huge --no-shconf -m 256 --file-prefix {prefix} \
                 --log-level=lib.eal:warning\n"
            ),
        )
        .expect("conf");
        path
    }

    /// A site with `big.bin` of `bytes` bytes.
    fn site(&self, bytes: usize) -> PathBuf {
        let www = self.0.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("big.bin"), mtcp_apps::http::test_content(bytes, 7)).unwrap();
        www
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn run_ok(ns: &Netns, args: &[&str]) -> String {
    let out = ns.exec(args).expect("exec");
    assert!(
        out.status.success(),
        "{args:?}: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root: DPDK EAL, TAPs and network namespaces"]
fn epserver_over_net_tap_serves_curl() {
    can_run("epserver_over_net_tap_serves_curl", &["curl", "sha256sum"]);
    let ns = Netns::new(&unique_name("dtn")).expect("netns");
    let dir = Scratch::new();
    let www = dir.site(3 << 20);
    let tap = unique_name("dtap");
    let conf = dir.conf(
        "srv.conf",
        "net_tap0",
        OUR_IP,
        &format!("--vdev net_tap0,iface={tap} --no-pci"),
    );
    // The port's MAC comes from mtcp.conf: the kernel must learn exactly this one by ARP.
    const OUR_MAC: &str = "02:00:5e:18:00:02";
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!("net_tap0.mac = {OUR_MAC}\n"));
    std::fs::write(&conf, text).unwrap();
    let srv = spawn_in(
        &ns,
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", s(&www), "-f", s(&conf)],
    );
    srv.wait_for("listening", 30);
    // DPDK created the TAP in the namespace when the EAL started: give the kernel its side.
    run_ok(
        &ns,
        &["ip", "addr", "add", &format!("{KERNEL_IP}/24"), "dev", &tap],
    );
    run_ok(&ns, &["ip", "link", "set", &tap, "up"]);
    let got = dir.0.join("got.bin");
    run_ok(
        &ns,
        &[
            "curl",
            "-sS",
            "-m",
            "60",
            "--retry",
            "3",
            "--retry-connrefused",
            "-o",
            s(&got),
            &format!("http://{OUR_IP}/big.bin"),
        ],
    );
    assert_eq!(sha256(&got), sha256(&www.join("big.bin")));
    let neigh = run_ok(&ns, &["ip", "neigh", "show", OUR_IP]);
    assert!(
        neigh.contains(OUR_MAC),
        "the kernel learned another MAC: {neigh}"
    );
}

#[test]
#[ignore = "needs root: DPDK EAL, TAPs and network namespaces"]
fn mtcp_echo_over_net_af_packet_with_kernel_client() {
    can_run(
        "mtcp_echo_over_net_af_packet_with_kernel_client",
        &["ethtool"],
    );
    let ns = Netns::new(&unique_name("dap")).expect("netns");
    let (ours, kernel) = ns.veth_pair("dva", "dvb").expect("veth");
    ns.disable_offloads(&ours).expect("offloads");
    ns.disable_offloads(&kernel).expect("offloads");
    run_ok(
        &ns,
        &[
            "ip",
            "addr",
            "add",
            &format!("{KERNEL_IP}/24"),
            "dev",
            &kernel,
        ],
    );
    let dir = Scratch::new();
    let conf = dir.conf(
        "echo.conf",
        "net_af_packet0",
        OUR_IP,
        &format!("--vdev net_af_packet0,iface={ours} --no-pci"),
    );
    let echo = env!("CARGO_BIN_EXE_mtcp-echo");
    let srv = spawn_in(&ns, echo, &["server", "-f", s(&conf), "-p", "7"]);
    srv.wait_for("server on", 30);
    let target = format!("{OUR_IP}:7");
    let out = run_ok(
        &ns,
        &[
            echo, "client", &target, "--kernel", "-n", "8", "-m", "300", "-t", "2",
        ],
    );
    println!("{}", out.trim());
    assert!(out.contains("errors 0"), "{out}");
}

#[test]
#[ignore = "needs root: DPDK EAL, TAPs and network namespaces"]
fn epwget_over_net_memif_against_epserver_over_net_memif() {
    const REQUESTS: usize = 10_000;
    can_run("epwget_over_net_memif_against_epserver_over_net_memif", &[]);
    // memif needs no interface; the namespace keeps the processes away from the root's anyway.
    let ns = Netns::new(&unique_name("dmf")).expect("netns");
    let dir = Scratch::new();
    let www = dir.site(4096);
    let socket = dir.0.join("memif.sock");
    let srv_conf = dir.conf(
        "srv.conf",
        "net_memif0",
        OUR_IP,
        &format!(
            "--vdev net_memif0,role=server,socket={} --no-pci",
            s(&socket)
        ),
    );
    let cli_conf = dir.conf(
        "cli.conf",
        "net_memif0",
        "198.18.0.3",
        &format!(
            "--vdev net_memif0,role=client,socket={} --no-pci",
            s(&socket)
        ),
    );
    let srv = spawn_in(
        &ns,
        env!("CARGO_BIN_EXE_epserver"),
        &["-p", s(&www), "-f", s(&srv_conf)],
    );
    srv.wait_for("listening", 30);
    let out = dir.0.join("out.bin");
    let n = REQUESTS.to_string();
    let cli = spawn_in(
        &ns,
        env!("CARGO_BIN_EXE_epwget"),
        &[
            &format!("{OUR_IP}/big.bin"),
            &n,
            "-c",
            "50",
            "-f",
            s(&cli_conf),
            "-o",
            s(&out),
        ],
    );
    let (ok, lines) = cli.finish(300);
    let summary = format!("[CPU 0] Completed {REQUESTS} connections, errors: 0 incompletes: 0");
    assert!(
        ok && lines.iter().any(|l| l == &summary),
        "epwget: {lines:?}"
    );
    assert_eq!(sha256(&out), sha256(&www.join("big.bin")));
    drop(srv);
}

/// `mtcp-bench`'s memif link end to end with small figures: its server and client processes are
/// itself (`--as mtcp-echo`/`--as mtcp-perf`, nothing else built), every run must complete (a
/// failed run is a row without a value and a non-zero exit), in both run modes, beside the
/// in-memory link, bulk9000 included (`dpdk_mtu = 9000`); speeds are not checked.
#[test]
#[ignore = "needs root: DPDK EAL, TAPs and network namespaces"]
fn bench_runs_the_memif_link() {
    can_run("bench_runs_the_memif_link", &[]);
    let bench = env!("CARGO_BIN_EXE_mtcp-bench");
    let json = std::env::temp_dir().join(unique_name("mbj"));
    let out = std::process::Command::new(bench)
        .args([
            "--quick",
            "--links",
            "memif,mem",
            "--workloads",
            "echo64x64,bulk1500,bulk9000",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run mtcp-bench");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{err}");
    let doc = std::fs::read_to_string(&json).expect("json written");
    let _ = std::fs::remove_file(&json);
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("valid JSON");
    // `--run-mode both` (the default): a row with a value per link, workload and run mode.
    for link in ["memif", "mem"] {
        for workload in ["echo64x64", "bulk1500", "bulk9000"] {
            for mode in ["rtc", "threaded"] {
                let row = doc["rows"].as_array().and_then(|rows| {
                    rows.iter().find(|r| {
                        r["workload"] == workload && r["link"] == link && r["run_mode"] == mode
                    })
                });
                let value = row.and_then(|r| r["value"].as_f64());
                assert!(
                    value.is_some_and(|v| v > 0.0),
                    "{workload} {link} {mode}: {row:?}\n{text}"
                );
            }
        }
    }
    // `--as` runs the apps themselves: a usage error is theirs, exit status 2.
    let usage = std::process::Command::new(bench)
        .args(["--as", "mtcp-echo", "bogus"])
        .output()
        .expect("run mtcp-bench --as");
    assert_eq!(usage.status.code(), Some(2));
    let err = String::from_utf8_lossy(&usage.stderr);
    assert!(
        err.contains("unrecognized subcommand 'bogus'") && err.contains("mtcp-echo"),
        "{err}"
    );
}
