//! epwget over TAP fetches from nginx and from `python3 -m http.server` run inside the
//! namespace: every request completes with 0 errors, and the saved body (`-o`) is byte-exact;
//! nginx in both run modes.

mod common;

use common::*;

fn fetch(env: &Env, www: &std::path::Path, target: &str, n: &str) {
    let out_file = env.dir.join("out.bin");
    let p = env.spawn(
        env!("CARGO_BIN_EXE_epwget"),
        &[
            target,
            n,
            "-c",
            "20",
            "-f",
            env.conf(),
            "-o",
            out_file.to_str().unwrap(),
        ],
    );
    let (ok, lines) = p.finish(120);
    let summary = format!("[CPU 0] Completed {n} connections, errors: 0 incompletes: 0");
    assert!(
        ok && lines.iter().any(|l| l == &summary),
        "epwget {target}: {lines:?}"
    );
    assert_eq!(sha256(&out_file), sha256(&www.join("big.bin")));
}

fn from_nginx(tag: &str, mode: &str) {
    let env = Env::new(tag, Link::Tap, &format!("run_mode = {mode}\n"));
    let www = env.site(&[("big.bin", 200_000, 3)]);
    let _nginx = env.nginx(&format!("{KERNEL_IP}:80"), &www);
    env.wait_http(&format!("http://{KERNEL_IP}/big.bin"));
    fetch(&env, &www, &format!("{KERNEL_IP}/big.bin"), "300");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epwget_fetches_from_nginx() {
    can_run("epwget_fetches_from_nginx", &["nginx", "curl", "sha256sum"]);
    from_nginx("ewn", "rtc");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epwget_threaded_fetches_from_nginx() {
    can_run(
        "epwget_threaded_fetches_from_nginx",
        &["nginx", "curl", "sha256sum"],
    );
    from_nginx("ewt", "threaded");
}

#[test]
#[ignore = "needs root: network namespaces, veth and a Linux peer"]
fn epwget_fetches_from_python_http_server() {
    can_run(
        "epwget_fetches_from_python_http_server",
        &["python3", "curl", "sha256sum"],
    );
    let env = Env::new("ewp", Link::Tap, "");
    let www = env.site(&[("big.bin", 200_000, 3)]);
    let _py = env.python_http_server(&www, 8000, "big.bin");
    fetch(&env, &www, &format!("{KERNEL_IP}:8000/big.bin"), "100");
}
