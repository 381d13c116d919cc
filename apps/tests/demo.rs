//! Smoke test: the demo binary runs a small load with one and with two cores per instance
//! (Toeplitz steering by the switch, and the switch's opaque steering that the stacks must
//! correct in software), in both run modes, over IPv4 and then IPv6, and exits 0.

use std::process::Command;

fn run(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mtcp-demo"))
        .args(["--requests", "300", "--big", "2", "--concurrency", "20"])
        .args(extra)
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("[ ALL ] mem0 flows:"), "{stdout}");
    // The IPv6 run follows the IPv4 one, as complete and as exact.
    assert!(stdout.contains("the same GETs over IPv6"), "{stdout}");
    assert_eq!(
        stdout.matches(" responses verified byte for byte").count(),
        2,
        "an IPv4 and an IPv6 run: {stdout}"
    );
    assert!(stdout.contains(", IPv6 TCP RX:"), "{stdout}");
    stdout
}

fn one_core(extra: &[&str]) {
    let stdout = run(&[&["--cores", "1"], extra].concat());
    assert!(
        stdout.contains("[CPU 0] Completed 302 connections, errors: 0 incompletes: 0"),
        "{stdout}"
    );
}

fn two_cores(extra: &[&str]) {
    let stdout = run(&[&["--cores", "2"], extra].concat());
    for cpu in 0..2 {
        assert!(
            stdout.contains(&format!(
                "[CPU {cpu}] Completed 151 connections, errors: 0 incompletes: 0"
            )),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("302 responses verified byte for byte"),
        "{stdout}"
    );
}

#[test]
fn demo_run_to_completion() {
    one_core(&[]);
}

#[test]
fn demo_threaded() {
    one_core(&["--threaded"]);
}

#[test]
fn demo_two_cores_run_to_completion() {
    two_cores(&[]);
    two_cores(&["--opaque"]);
}

#[test]
fn demo_two_cores_threaded() {
    two_cores(&["--threaded"]);
    two_cores(&["--threaded", "--opaque"]);
}

/// The README's command: no arguments (two cores by default).
#[test]
fn demo_default_is_two_cores() {
    let out = Command::new(env!("CARGO_BIN_EXE_mtcp-demo"))
        .args(["--requests", "100", "--big", "1"])
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("2 core(s)") && stdout.contains("[CPU 1] Completed"),
        "{stdout}"
    );
}
