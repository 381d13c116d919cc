//! Smoke test: the demo binary runs a small load in both run modes and exits 0.

use std::process::Command;

fn run(extra: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_mtcp-demo"))
        .args(["--requests", "300", "--big", "2", "--concurrency", "20"])
        .args(extra)
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("[CPU 0] Completed 302 connections, errors: 0 incompletes: 0"),
        "{stdout}"
    );
    assert!(stdout.contains("[ ALL ] mem0 flows:"), "{stdout}");
}

#[test]
fn demo_run_to_completion() {
    run(&[]);
}

#[test]
fn demo_threaded() {
    run(&["--threaded"]);
}
