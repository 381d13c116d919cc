//! `mtcp-bench --quick` restricted to a few links and workloads: every row it promises is in its
//! JSON report with a value (or, for the memif link of a build without DPDK, says why not), the
//! lossy workload runs our senders (AF_PACKET and AF_XDP) and Linux's against a Linux receiver,
//! and the plot is an SVG.
//! Figures are not checked: speed targets live in the recorded runs of BENCHMARKS.md.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn row<'a>(doc: &'a Value, workload: &str, link: &str, mode: &str) -> Option<&'a Value> {
    doc["rows"]
        .as_array()?
        .iter()
        .find(|r| r["workload"] == workload && r["link"] == link && r["run_mode"] == mode)
}

fn value(doc: &Value, workload: &str, link: &str, mode: &str) -> Option<f64> {
    row(doc, workload, link, mode).and_then(|r| r["value"].as_f64())
}

/// Runs `mtcp-bench args --json FILE`, asserts it succeeded; its report, stdout and stderr.
fn bench_json(args: &[&str]) -> (Value, String, String) {
    let json = std::env::temp_dir().join(unique_name("mbj"));
    let out = Command::new(env!("CARGO_BIN_EXE_mtcp-bench"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run mtcp-bench");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{text}\n{err}"));
    let _ = std::fs::remove_file(&json);
    assert!(out.status.success(), "{text}\n{err}");
    (doc, text, err)
}

#[test]
#[ignore = "needs root: network namespaces, veth pairs and nft"]
fn quick_bench_reports_every_row() {
    can_run("quick_bench_reports_every_row", &["ethtool", "nft"]);
    let dir = std::env::temp_dir().join(unique_name("mbt"));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("bench.svg");
    let (doc, text, _) = bench_json(&[
        "--quick",
        "--run-mode",
        "rtc",
        "--links",
        "mem,kernel,afpacket,afxdp,kernel-1500",
        "--workloads",
        "echo64x64,latency64,bulk1500,lossy1",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    let plot = std::fs::read_to_string(&svg).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    for (link, mode) in [
        ("mem", "rtc"),
        ("afpacket", "rtc"),
        ("afxdp", "rtc"),
        ("kernel", "kernel"),
    ] {
        for w in ["echo64x64", "latency64", "latency64_p99", "bulk1500"] {
            let v = value(&doc, w, link, mode);
            assert!(
                v.is_some_and(|v| v > 0.0),
                "{w} {link} {mode}: {v:?}\n{text}"
            );
        }
    }
    for w in ["echo64x64", "bulk1500"] {
        assert!(
            value(&doc, w, "kernel-1500", "kernel").is_some(),
            "{w}\n{text}"
        );
    }
    // Our CUBIC sender against the Linux receiver, and Linux's own senders: BBR where the
    // namespace may select it, otherwise a row that says why.
    for link in ["afpacket", "afxdp"] {
        assert!(
            value(&doc, "lossy1_cubic", link, "rtc").is_some_and(|s| s > 0.0),
            "{link}\n{text}"
        );
    }
    for cc in ["cubic", "bbr"] {
        let r = row(&doc, &format!("lossy1_{cc}"), "kernel-1500", "kernel");
        let r = r.unwrap_or_else(|| panic!("no lossy1_{cc} Linux row:\n{text}"));
        assert!(
            r["value"].as_f64().is_some()
                || r["unit"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("unavailable:")),
            "{r}"
        );
    }
    // Exactly the five keys per row.
    for r in doc["rows"].as_array().unwrap() {
        let mut keys: Vec<_> = r.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["link", "run_mode", "unit", "value", "workload"]);
    }
    assert!(
        plot.contains("<svg") && plot.contains("echo64x64 mem rtc"),
        "{plot}"
    );
}

#[test]
fn bench_rejects_bad_arguments_and_reports_missing_links() {
    let bench = env!("CARGO_BIN_EXE_mtcp-bench");
    let run = |args: &[&str]| {
        Command::new(bench)
            .args(args)
            .output()
            .expect("run mtcp-bench")
    };
    let bad = run(&["--links", "nosuchlink"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown link `nosuchlink`"));
    let bad = run(&["--workloads", "echo1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown workload `echo1`"));
    let bad = run(&["--cores", "2"]);
    assert_eq!(bad.status.code(), Some(2));
    // memif without the dpdk feature: a row that says so, not a failure.
    if !cfg!(feature = "dpdk") {
        let dir = std::env::temp_dir().join(unique_name("mbu"));
        let out = Command::new(bench)
            .args([
                "--quick",
                "--links",
                "memif",
                "--workloads",
                "echo64x64",
                "--json",
            ])
            .arg(&dir)
            .output()
            .expect("run mtcp-bench");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&dir).unwrap()).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert!(out.status.success());
        let r = row(&doc, "echo64x64", "memif", "-").expect("memif row");
        assert!(r["value"].is_null());
        assert_eq!(r["unit"], "unavailable: built without --features dpdk");
    }
}

/// The Linux rows of the connection-heavy workloads run: the kernel's echo client and server
/// are one thread each on epoll, as ours, so 10 000 connections are 10 000 sockets, not 20 000
/// threads; short64 too, every connection checked and closed.
#[test]
#[ignore = "needs root: network namespaces"]
fn kernel_rows_of_short_and_conns10k() {
    let (doc, text, err) = bench_json(&[
        "--quick",
        "--links",
        "kernel",
        "--workloads",
        "short64,conns10k",
    ]);
    for w in ["short64", "conns10k"] {
        let v = value(&doc, w, "kernel", "kernel");
        assert!(v.is_some_and(|v| v > 0.0), "{w}: {v:?}\n{text}\n{err}");
    }
    // Every one of the 10 000 connections came up and echoed without an error.
    let line = err
        .lines()
        .find(|l| l.contains("echo[kernel]: 10000 conns x 64 B:"))
        .unwrap_or_else(|| panic!("no conns10k client line:\n{err}"));
    assert!(line.ends_with("errors 0"), "{line}");
}

/// `--verbose` shows what the bench's children write to stderr (here the AF_XDP echo
/// server's and client's port lines), tagged with the child's program; without it the bench
/// keeps them to itself.
#[test]
#[ignore = "needs root: network namespaces, veth pairs and AF_XDP"]
fn verbose_shows_the_childrens_stderr() {
    can_run("verbose_shows_the_childrens_stderr", &["ethtool"]);
    let args = [
        "--quick",
        "--run-mode",
        "rtc",
        "--links",
        "afxdp",
        "--workloads",
        "latency64",
    ];
    let tagged = |err: &str| {
        err.lines()
            .filter(|l| l.starts_with("mtcp-bench: [mtcp-echo] [mtcp] port "))
            .count()
    };
    let (_, _, quiet) = bench_json(&args);
    assert_eq!(tagged(&quiet), 0, "{quiet}");
    let (doc, _, loud) = bench_json(&[&args[..], &["--verbose"]].concat());
    // The server and the client each said which port they opened.
    assert!(tagged(&loud) >= 2, "{loud}");
    assert!(value(&doc, "latency64", "afxdp", "rtc").is_some_and(|v| v > 0.0));
}
