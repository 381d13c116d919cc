//! mtcp-demo (epserver and epwget over the in-memory switch, no privileges) runs clean in both
//! run modes.

use std::process::Command;

#[test]
fn demo_completes_every_request() {
    for extra in [&[][..], &["--threaded"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_mtcp-demo"))
            .args(["--requests", "300", "--big", "3", "--concurrency", "50"])
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{extra:?}: {text}");
        assert!(
            text.contains("[CPU 0] Completed 303 connections, errors: 0 incompletes: 0"),
            "{text}"
        );
    }
}
