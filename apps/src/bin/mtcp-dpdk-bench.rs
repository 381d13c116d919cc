//! mtcp-dpdk-bench: the same two workloads — echo (64 B messages, 8 connections) and bulk
//! transfer (both directions, every byte checked) — over three links, with ratios:
//!
//! - `memif`: our stack in two DPDK processes (mtcp-echo / mtcp-perf, `io = dpdk`) linked by
//!   `net_memif` (shared memory, no kernel);
//! - `mem`: our stack twice in this process on the in-memory switch (`io = mem`);
//! - `kernel`: mtcp-echo / mtcp-perf `--kernel` (Linux TCP over loopback).
//!
//! Needs root (a network namespace for the processes, DPDK) and the `dpdk` feature. The DPDK and
//! kernel runs start the sibling binaries `mtcp-echo` and `mtcp-perf`, so build them with the same
//! profile: `cargo build --release -p mtcp-apps --features dpdk --bins`, then
//! `sudo target/release/mtcp-dpdk-bench [-t secs] [--bytes n]`. Addresses are 198.18.0.0/15 only.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mtcp_apps::cli::Args;
use mtcp_apps::{echo, perf};
use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

const USAGE: &str = "usage: mtcp-dpdk-bench [-t secs] [--bytes n]   (as root)";
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
const MESSAGE: usize = 64;
const CONNS: usize = 8;

/// One measurement: echo transactions/s and bulk Gbit/s (both directions together).
#[derive(Clone, Copy, Debug, Default)]
struct Result2 {
    echo_tps: f64,
    bulk_gbps: f64,
}

/// A namespace for the subprocesses, deleted on drop.
struct Ns(String);

impl Ns {
    fn new() -> Result<Ns, String> {
        let name = format!("mdbench{}", std::process::id());
        sh(&["ip", "netns", "add", &name])?;
        let ns = Ns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        ns.exec(&["ip", "addr", "add", "198.18.0.1/32", "dev", "lo"])?;
        Ok(ns)
    }

    fn exec(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["ip", "netns", "exec", &self.0];
        all.extend_from_slice(args);
        sh(&all)
    }

    fn spawn(&self, args: &[&str]) -> Result<Child, String> {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{args:?}: {e}"))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

/// A server process, stopped on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{}: {}{}",
            args.join(" "),
            text,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The number before `unit` in `line` (`... = 1234 transactions/s`).
fn number_before(line: &str, unit: &str) -> Option<f64> {
    let head = &line[..line.find(unit)?];
    head.split_whitespace()
        .last()?
        .trim_start_matches('(')
        .parse()
        .ok()
}

/// Bulk Gbit/s of a `perf[...]: sent S bytes (...), received R bytes (...) in T s, verified` line.
fn bulk_gbps(line: &str) -> Result<f64, String> {
    if !line.contains("verified") {
        return Err(format!("bulk transfer failed: {line}"));
    }
    let sent = number_before(line, "bytes (").ok_or_else(|| format!("bad line {line}"))?;
    let rest = &line[line
        .find("received")
        .ok_or_else(|| format!("bad line {line}"))?..];
    let recv = number_before(rest, "bytes (").ok_or_else(|| format!("bad line {line}"))?;
    let secs = number_before(rest, " s,").ok_or_else(|| format!("bad line {line}"))?;
    Ok((sent + recv) * 8.0 / secs.max(1e-9) / 1e9)
}

fn echo_tps(line: &str) -> Result<f64, String> {
    if !line.contains("errors 0") {
        return Err(format!("echo failed: {line}"));
    }
    number_before(line, "transactions/s").ok_or_else(|| format!("bad line {line}"))
}

fn sibling(name: &str) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = exe.with_file_name(name);
    if !path.is_file() {
        return Err(format!(
            "{} not found: build the apps' binaries with the same profile",
            path.display()
        ));
    }
    Ok(path.to_string_lossy().into_owned())
}

/// Waits until `ns` has a TCP listener on `port` (or the server died).
fn wait_listening(ns: &Ns, port: u16, server: &mut Server) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(st)) = server.0.try_wait() {
            return Err(format!("server exited: {st}"));
        }
        // Our stack's listener is not in the kernel: give it time to start the EAL instead.
        let out = ns.exec(&["ss", "-Htln", &format!("sport = :{port}")])?;
        if !out.trim().is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("nothing listens on port {port}"))
}

fn kernel(ns: &Ns, secs: u64, bytes: u64) -> Result<Result2, String> {
    let (echo_bin, perf_bin) = (sibling("mtcp-echo")?, sibling("mtcp-perf")?);
    let mut srv = Server(ns.spawn(&[
        &echo_bin,
        "server",
        "--kernel",
        "-a",
        "198.18.0.1",
        "-p",
        "7",
    ])?);
    wait_listening(ns, 7, &mut srv)?;
    let line = ns.exec(&[
        &echo_bin,
        "client",
        "198.18.0.1:7",
        "--kernel",
        "-n",
        &CONNS.to_string(),
        "-m",
        &MESSAGE.to_string(),
        "-t",
        &secs.to_string(),
    ])?;
    let echo_tps = echo_tps(&line)?;
    drop(srv);
    let mut srv = Server(ns.spawn(&[
        &perf_bin,
        "server",
        "--kernel",
        "-a",
        "198.18.0.1",
        "-p",
        "5001",
        "--once",
    ])?);
    wait_listening(ns, 5001, &mut srv)?;
    let b = bytes.to_string();
    let line = ns.exec(&[
        &perf_bin,
        "client",
        "198.18.0.1:5001",
        "--kernel",
        "--send",
        &b,
        "--recv",
        &b,
    ])?;
    Ok(Result2 {
        echo_tps,
        bulk_gbps: bulk_gbps(&line)?,
    })
}

fn memif_conf(dir: &Path, role: &str, ip: Ipv4Addr) -> Result<String, String> {
    let path = dir.join(format!("{role}.conf"));
    let socket = dir.join("memif.sock");
    std::fs::write(
        &path,
        format!(
            "io = dpdk\nnum_cores = 1\nport = net_memif0\nnet_memif0.ip = {ip}/24\n\
             max_concurrency = 10000\nrcvbuf = 65536\nsndbuf = 65536\ntcp_timewait = 0\n\
             dpdk_eal_args = --vdev net_memif0,role={role},socket={} --no-pci --no-huge \
             --no-shconf -m 256 --file-prefix mdbench-{role}-{} --log-level=lib.eal:warning\n",
            socket.display(),
            std::process::id()
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok(path.to_string_lossy().into_owned())
}

fn memif(ns: &Ns, dir: &Path, secs: u64, bytes: u64) -> Result<Result2, String> {
    let (echo_bin, perf_bin) = (sibling("mtcp-echo")?, sibling("mtcp-perf")?);
    let srv_conf = memif_conf(dir, "server", SERVER_IP)?;
    let cli_conf = memif_conf(dir, "client", CLIENT_IP)?;
    let target = |port: u16| SocketAddrV4::new(SERVER_IP, port).to_string();
    let srv = Server(ns.spawn(&[&echo_bin, "server", "-f", &srv_conf, "-p", "7"])?);
    // Our stack's listener is invisible to `ss`: wait for the EAL and the memif socket instead.
    std::thread::sleep(Duration::from_secs(2));
    let line = ns.exec(&[
        &echo_bin,
        "client",
        &target(7),
        "-f",
        &cli_conf,
        "-n",
        &CONNS.to_string(),
        "-m",
        &MESSAGE.to_string(),
        "-t",
        &secs.to_string(),
    ])?;
    let echo_tps = echo_tps(&line)?;
    drop(srv);
    let _srv = Server(ns.spawn(&[&perf_bin, "server", "-f", &srv_conf, "-p", "5001", "--once"])?);
    std::thread::sleep(Duration::from_secs(2));
    let b = bytes.to_string();
    let line = ns.exec(&[
        &perf_bin,
        "client",
        &target(5001),
        "-f",
        &cli_conf,
        "--send",
        &b,
        "--recv",
        &b,
    ])?;
    Ok(Result2 {
        echo_tps,
        bulk_gbps: bulk_gbps(&line)?,
    })
}

fn mem_conf(port: &str, ip: Ipv4Addr) -> Result<MtcpConf, String> {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\nmax_concurrency = 10000\n\
         rcvbuf = 65536\nsndbuf = 65536\ntcp_timewait = 0\n"
    ))
    .map_err(|(line, e)| format!("mem config line {line}: {e}"))
}

fn mem(secs: u64, bytes: u64) -> Result<Result2, String> {
    static STOP: AtomicBool = AtomicBool::new(false);
    let switch = MemSwitch::new(MemConfig {
        ring_size: 4096,
        pool_size: 4096,
        ..MemConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let srv =
        Mtcp::with_switch(mem_conf("mem0", SERVER_IP)?, &switch, 0).map_err(|e| e.to_string())?;
    let cli =
        Mtcp::with_switch(mem_conf("mem1", CLIENT_IP)?, &switch, 1).map_err(|e| e.to_string())?;
    let mut sctx = srv.create_context(0).map_err(|e| e.to_string())?;
    let mut cctx = cli.create_context(0).map_err(|e| e.to_string())?;
    let server = std::thread::spawn(move || {
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7);
        echo::mtcp_server(&mut sctx, any, &STOP).map_err(|e| e.to_string())?;
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5001);
        STOP.store(false, Ordering::Relaxed);
        perf::mtcp_server(&mut sctx, any, true, &STOP, |_| {}).map_err(|e| e.to_string())
    });
    let cfg = echo::EchoConfig {
        server: SocketAddrV4::new(SERVER_IP, 7),
        connections: CONNS,
        message_bytes: MESSAGE,
        duration: Duration::from_secs(secs),
    };
    let mut r = echo::mtcp_client(&mut cctx, &cfg).map_err(|e| e.to_string())?;
    let echo_tps = echo_tps(&r.line("mem", &cfg))?;
    STOP.store(true, Ordering::Relaxed);
    // The server thread clears STOP when it moves to the bulk listener.
    while STOP.load(Ordering::Relaxed) && !server.is_finished() {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let never = AtomicBool::new(false);
    let r = perf::mtcp_client(
        &mut cctx,
        SocketAddrV4::new(SERVER_IP, 5001),
        bytes,
        bytes,
        &never,
    )
    .map_err(|e| e.to_string())?;
    let bulk = bulk_gbps(&r.line("mem"))?;
    STOP.store(true, Ordering::Relaxed);
    server.join().map_err(|_| "server thread panicked")??;
    Ok(Result2 {
        echo_tps,
        bulk_gbps: bulk,
    })
}

fn run(secs: u64, bytes: u64) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (network namespace, DPDK)".into());
    }
    let ns = Ns::new()?;
    let dir = PathBuf::from(format!("/tmp/mdbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let m = memif(&ns, &dir, secs, bytes);
    let _ = std::fs::remove_dir_all(&dir);
    let k = kernel(&ns, secs, bytes);
    let e = mem(secs, bytes);
    let mut failed = false;
    for (name, r) in [("memif", &m), ("kernel", &k), ("mem", &e)] {
        if let Err(err) = r {
            eprintln!("mtcp-dpdk-bench: {name}: {err}");
            failed = true;
        }
    }
    let cell = |r: &Result<Result2, String>, f: fn(&Result2) -> f64| r.as_ref().map_or(f64::NAN, f);
    let row = |what: &str, f: fn(&Result2) -> f64| {
        let (mv, ev, kv) = (cell(&m, f), cell(&e, f), cell(&k, f));
        println!(
            "{what:<31}{mv:>12.3} {ev:>10.3} {kv:>12.3} {:>10.2} {:>12.2}",
            mv / ev,
            mv / kv
        );
    };
    println!(
        "workload                       memif (DPDK)        mem       kernel   memif/mem  memif/kernel"
    );
    row(
        &format!("echo {MESSAGE} B x {CONNS} conns (trans/s)"),
        |r| r.echo_tps,
    );
    row("bulk both ways (Gbit/s)", |r| r.bulk_gbps);
    if failed {
        return Err("some runs failed (NaN above)".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse(std::env::args().skip(1), &[]);
    let parsed =
        (|| Ok::<_, String>((args.num("-t", 3u64)?, args.num("--bytes", 50_000_000u64)?)))();
    let result = parsed.and_then(|(secs, bytes)| run(secs, bytes));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtcp-dpdk-bench: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
