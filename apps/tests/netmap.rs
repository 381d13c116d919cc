//! The apps over netmap (`io = netmap`) on two ports of a VALE switch: mtcp-echo against
//! mtcp-echo, and epwget against epserver. They need the netmap kernel module; they are
//! `#[ignore]`d and named `netmap_module_*`, which `scripts/test-all` skips (no module on our CI
//! machines); run with `--include-ignored` where `/dev/netmap` exists. The VALE switch
//! is netmap's own and carries no traffic onto any interface.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn netmap_here(test: &str) {
    assert!(
        Path::new("/dev/netmap").exists(),
        "{test}: /dev/netmap does not exist (the netmap module is not loaded)"
    );
    can_run(test, &[]);
}

/// Writes an `io = netmap` config for VALE port `port` at `ip` into `dir`.
fn conf(dir: &Path, port: &str, ip: &str) -> PathBuf {
    let path = dir.join(format!("{}.conf", port.replace(':', "-")));
    std::fs::write(
        &path,
        format!(
            "io = netmap\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\ntcp_timewait = 1\n"
        ),
    )
    .expect("conf");
    path
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name("mtcpnm"));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}

#[test]
#[ignore = "needs the netmap kernel module (/dev/netmap)"]
fn netmap_module_mtcp_echo_against_mtcp_echo_over_vale() {
    netmap_here("mtcp_echo_against_mtcp_echo_over_vale");
    let ns = Netns::new(&unique_name("nme")).expect("netns");
    let dir = scratch();
    let vale = unique_name("vale");
    let srv_conf = conf(&dir, &format!("{vale}:srv"), OUR_IP);
    let cli_conf = conf(&dir, &format!("{vale}:cli"), "198.18.0.3");
    let echo = env!("CARGO_BIN_EXE_mtcp-echo");
    let srv = spawn_in(
        &ns,
        echo,
        &["server", "-f", srv_conf.to_str().unwrap(), "-p", "7"],
    );
    srv.wait_for("server on", 30);
    let target = format!("{OUR_IP}:7");
    let cli = spawn_in(
        &ns,
        echo,
        &[
            "client",
            &target,
            "-f",
            cli_conf.to_str().unwrap(),
            "-n",
            "8",
            "-m",
            "64",
            "-t",
            "2",
        ],
    );
    let (ok, lines) = cli.finish(60);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        ok && lines.iter().any(|l| l.contains("errors 0")),
        "{lines:?}"
    );
    drop(srv);
}

#[test]
#[ignore = "needs the netmap kernel module (/dev/netmap)"]
fn netmap_module_epwget_against_epserver_over_vale() {
    netmap_here("epwget_against_epserver_over_vale");
    let ns = Netns::new(&unique_name("nmw")).expect("netns");
    let dir = scratch();
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("page.bin"), mtcp_apps::http::test_content(4096, 3)).unwrap();
    let vale = unique_name("vale");
    let srv_conf = conf(&dir, &format!("{vale}:srv"), OUR_IP);
    let cli_conf = conf(&dir, &format!("{vale}:cli"), "198.18.0.3");
    let srv = spawn_in(
        &ns,
        env!("CARGO_BIN_EXE_epserver"),
        &[
            "-p",
            www.to_str().unwrap(),
            "-f",
            srv_conf.to_str().unwrap(),
        ],
    );
    srv.wait_for("listening", 30);
    let cli = spawn_in(
        &ns,
        env!("CARGO_BIN_EXE_epwget"),
        &[
            &format!("{OUR_IP}/page.bin"),
            "1000",
            "-c",
            "20",
            "-f",
            cli_conf.to_str().unwrap(),
        ],
    );
    let (ok, lines) = cli.finish(120);
    let _ = std::fs::remove_dir_all(&dir);
    let summary = "[CPU 0] Completed 1000 connections, errors: 0 incompletes: 0";
    assert!(ok && lines.iter().any(|l| l == summary), "{lines:?}");
    drop(srv);
}
