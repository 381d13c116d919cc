//! Every binary answers `--help` and `--version`, and a bad option is an error that names the
//! option and exits 2 (no privileges needed: nothing here gets as far as `mtcp_init`).

use std::process::{Command, Output};

const BINS: [&str; 6] = [
    env!("CARGO_BIN_EXE_epserver"),
    env!("CARGO_BIN_EXE_epwget"),
    env!("CARGO_BIN_EXE_mtcp-echo"),
    env!("CARGO_BIN_EXE_mtcp-perf"),
    env!("CARGO_BIN_EXE_mtcp-demo"),
    env!("CARGO_BIN_EXE_mtcp-bench"),
];

fn run(bin: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(bin).args(args).output().expect("binary runs");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn every_binary_answers_help_and_version() {
    for bin in BINS {
        let (code, out, err) = run(bin, &["--help"]);
        assert_eq!(code, Some(0), "{bin} --help: {out}{err}");
        assert!(out.contains("Usage:"), "{bin} --help: {out}");
        let (code, out, _) = run(bin, &["--version"]);
        assert_eq!(code, Some(0), "{bin} --version");
        assert!(out.contains(env!("CARGO_PKG_VERSION")), "{bin}: {out}");
    }
}

#[test]
fn mtcp_flags_are_the_documented_ones() {
    let (_, out, _) = run(BINS[0], &["--help"]);
    for flag in ["-p <www_dir>", "-f <mtcp.conf>", "-N <cores>", "-c <core>"] {
        assert!(out.contains(flag), "epserver lacks {flag}: {out}");
    }
    let (_, out, _) = run(BINS[1], &["--help"]);
    for flag in [
        "-f <mtcp.conf>",
        "-N <cores>",
        "-c <concurrency>",
        "-o <out>",
    ] {
        assert!(out.contains(flag), "epwget lacks {flag}: {out}");
    }
}

#[test]
fn bad_options_name_the_option_and_exit_2() {
    let cases: [(&str, &[&str], &str); 6] = [
        (BINS[0], &["-p", "www", "-f", "x.conf", "-N", "two"], "-N"),
        (BINS[0], &["-p", "www"], "-f"),
        (
            BINS[1],
            &["198.18.0.1/", "ten", "-f", "x.conf"],
            "#requests",
        ),
        (
            BINS[2],
            &["client", "198.18.0.1", "--kernel", "-m", "x"],
            "-m",
        ),
        (BINS[3], &["server", "--kernel", "-f", "x.conf"], "--kernel"),
        (BINS[4], &["--cores", "0"], "--cores"),
    ];
    for (bin, args, option) in cases {
        let (code, out, err) = run(bin, args);
        assert_eq!(code, Some(2), "{bin} {args:?}: {out}{err}");
        assert!(
            err.contains(option),
            "{bin} {args:?} should name {option}: {err}"
        );
    }
}
