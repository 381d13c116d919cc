//! mtcp-dpdk-bench: the same two workloads — echo (64 B messages, 8 connections) and bulk
//! transfer (both directions, every byte checked) — over three links, with ratios:
//!
//! - `memif`: our stack in two DPDK processes (mtcp-echo / mtcp-perf, `io = dpdk`) linked by
//!   `net_memif` (shared memory, no kernel);
//! - `mem`: our stack twice in this process on the in-memory switch (`io = mem`,
//!   [`mtcp_apps::memlink`]);
//! - `kernel`: mtcp-echo / mtcp-perf `--kernel` (Linux TCP over loopback).
//!
//! Needs root (a network namespace for the processes, DPDK) and the `dpdk` feature:
//! `cargo build --release -p mtcp-apps --features dpdk --bin mtcp-dpdk-bench`, then
//! `sudo target/release/mtcp-dpdk-bench [-t secs] [--bytes n] [--run-mode rtc|threaded|both]`.
//! `--run-mode` picks mtcp.conf's `run_mode` of our stacks on the memif and mem links (default
//! `both`: a row per workload and run mode; the kernel runs once). The server and client
//! processes are this binary again (`mtcp-dpdk-bench --as mtcp-echo ...`), so no other binary
//! has to be built. Addresses are 198.18.0.0/15 only.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use mtcp_apps::commands;
use mtcp_apps::memlink::{CLIENT_IP, MemLink, SERVER_IP};

const USAGE: &str = "usage: mtcp-dpdk-bench [-t secs] [--bytes n] [--run-mode rtc|threaded|both]\n       (as root; build with\n       cargo build --release -p mtcp-apps --features dpdk --bin mtcp-dpdk-bench)";
const MESSAGE: usize = 64;
const CONNS: usize = 8;

/// One measurement: echo transactions/s and bulk Gbit/s (both directions together).
#[derive(Clone, Copy, Debug, Default)]
struct Result2 {
    echo_tps: f64,
    bulk_gbps: f64,
}

/// One figure of a [`Result2`].
type Metric = fn(&Result2) -> f64;

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
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

/// This binary, re-executed as `mtcp-echo` or `mtcp-perf` (see `--as` in `main`).
fn self_exe() -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    Ok(exe.to_string_lossy().into_owned())
}

/// A server process (this binary `--as app`) in the namespace, stopped on drop.
struct Server {
    child: Child,
    app: &'static str,
    lines: mpsc::Receiver<String>,
}

fn forward_lines(
    out: impl std::io::Read + Send + 'static,
    tag: &'static str,
    tx: mpsc::Sender<String>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(format!("{tag}{line}")).is_err() {
                break;
            }
        }
    });
}

impl Server {
    /// Starts `app server args...` and waits until it printed `server on` (its listener
    /// exists), or fails with what it printed.
    fn start(ns: &Ns, app: &'static str, args: &[&str]) -> Result<Server, String> {
        let exe = self_exe()?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.0, &exe, "--as", app, "server"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{app} server: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let stdout: Option<ChildStdout> = child.stdout.take();
        if let Some(out) = stdout {
            forward_lines(out, "", tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward_lines(err, "stderr: ", tx);
        }
        let server = Server { child, app, lines };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&self) -> Result<(), String> {
        // DPDK's EAL and a memif connection take a few seconds on a busy machine.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut said = String::new();
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains("server on") => return Ok(()),
                Ok(line) => {
                    said.push_str(&line);
                    said.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "{} server exited before listening:\n{said}",
                        self.app
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        Err(format!(
            "{} server did not listen within 60 s:\n{said}",
            self.app
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid (`ip netns exec` execs the server in place).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `app client args...` in the namespace; its stdout, or an error with all it printed.
fn client(ns: &Ns, app: &str, args: &[&str]) -> Result<String, String> {
    let exe = self_exe()?;
    let mut all = vec![exe.as_str(), "--as", app, "client"];
    all.extend_from_slice(args);
    ns.exec(&all)
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

fn kernel(ns: &Ns, secs: u64, bytes: u64) -> Result<Result2, String> {
    let srv = Server::start(
        ns,
        "mtcp-echo",
        &["--kernel", "-a", "198.18.0.1", "-p", "7"],
    )?;
    let line = client(
        ns,
        "mtcp-echo",
        &[
            "198.18.0.1:7",
            "--kernel",
            "-n",
            &CONNS.to_string(),
            "-m",
            &MESSAGE.to_string(),
            "-t",
            &secs.to_string(),
        ],
    )?;
    let echo_tps = echo_tps(&line)?;
    drop(srv);
    let _srv = Server::start(
        ns,
        "mtcp-perf",
        &["--kernel", "-a", "198.18.0.1", "-p", "5001", "--once"],
    )?;
    let b = bytes.to_string();
    let line = client(
        ns,
        "mtcp-perf",
        &["198.18.0.1:5001", "--kernel", "--send", &b, "--recv", &b],
    )?;
    Ok(Result2 {
        echo_tps,
        bulk_gbps: bulk_gbps(&line)?,
    })
}

fn memif_conf(dir: &Path, role: &str, ip: Ipv4Addr, mode: &str) -> Result<String, String> {
    let path = dir.join(format!("{role}-{mode}.conf"));
    // One core each, and not the same one: the EAL pins the thread that starts it (the one
    // that polls in run-to-completion mode; a threaded context's stack thread inherits the
    // mask) to its first core, and with `num_cores = 1` both processes would get core 0.
    let mask = if role == "server" { "0x1" } else { "0x2" };
    let socket = dir.join("memif.sock");
    std::fs::write(
        &path,
        format!(
            "io = dpdk\nnum_cores = 1\ncore_mask = {mask}\nrun_mode = {mode}\nport = net_memif0\n\
             net_memif0.ip = {ip}/24\nmax_concurrency = 10000\nrcvbuf = 65536\nsndbuf = 65536\ntcp_timewait = 0\n\
             dpdk_eal_args = --vdev net_memif0,role={role},socket={} --no-pci --no-huge \
             --no-shconf -m 256 --file-prefix mdbench-{role}-{} --log-level=lib.eal:warning\n",
            socket.display(),
            std::process::id()
        ),
    )
    .map_err(|e| e.to_string())?;
    Ok(path.to_string_lossy().into_owned())
}

fn memif(ns: &Ns, dir: &Path, mode: &str, secs: u64, bytes: u64) -> Result<Result2, String> {
    let srv_conf = memif_conf(dir, "server", SERVER_IP, mode)?;
    let cli_conf = memif_conf(dir, "client", CLIENT_IP, mode)?;
    let target = |port: u16| SocketAddrV4::new(SERVER_IP, port).to_string();
    let srv = Server::start(ns, "mtcp-echo", &["-f", &srv_conf, "-p", "7"])?;
    let line = client(
        ns,
        "mtcp-echo",
        &[
            &target(7),
            "-f",
            &cli_conf,
            "-n",
            &CONNS.to_string(),
            "-m",
            &MESSAGE.to_string(),
            "-t",
            &secs.to_string(),
        ],
    )?;
    let echo_tps = echo_tps(&line)?;
    drop(srv);
    let _srv = Server::start(ns, "mtcp-perf", &["-f", &srv_conf, "-p", "5001", "--once"])?;
    let b = bytes.to_string();
    let line = client(
        ns,
        "mtcp-perf",
        &[&target(5001), "-f", &cli_conf, "--send", &b, "--recv", &b],
    )?;
    Ok(Result2 {
        echo_tps,
        bulk_gbps: bulk_gbps(&line)?,
    })
}

fn mem(mode: &str, secs: u64, bytes: u64) -> Result<Result2, String> {
    let link = MemLink {
        run_mode: mode.into(),
        connections: CONNS,
        message_bytes: MESSAGE,
        echo_duration: Duration::from_secs(secs),
        bulk_bytes: bytes,
        server_start_delay: Duration::ZERO,
    };
    let mut r = link.run()?;
    let cfg = mtcp_apps::echo::EchoConfig {
        server: SocketAddrV4::new(SERVER_IP, 7),
        connections: CONNS,
        message_bytes: MESSAGE,
        duration: link.echo_duration,
    };
    Ok(Result2 {
        echo_tps: echo_tps(&r.echo.line("mem", &cfg))?,
        bulk_gbps: bulk_gbps(&r.bulk.line("mem"))?,
    })
}

fn run(modes: &[&str], secs: u64, bytes: u64) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (network namespace, DPDK)".into());
    }
    let ns = Ns::new()?;
    let dir = PathBuf::from(format!("/tmp/mdbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let m: Vec<_> = modes
        .iter()
        .map(|mode| memif(&ns, &dir, mode, secs, bytes))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let k = kernel(&ns, secs, bytes);
    let e: Vec<_> = modes.iter().map(|mode| mem(mode, secs, bytes)).collect();
    let mut failed = false;
    let named = modes
        .iter()
        .zip(&m)
        .map(|(mode, r)| (format!("memif {mode}"), r))
        .chain(std::iter::once(("kernel".to_string(), &k)))
        .chain(
            modes
                .iter()
                .zip(&e)
                .map(|(mode, r)| (format!("mem {mode}"), r)),
        );
    for (name, r) in named {
        if let Err(err) = r {
            eprintln!("mtcp-dpdk-bench: {name}: {err}");
            failed = true;
        }
    }
    let cell = |r: &Result<Result2, String>, f: Metric| r.as_ref().map_or(f64::NAN, f);
    println!(
        "workload                       run mode  memif (DPDK)        mem       kernel   memif/mem  \
         memif/kernel  mem/kernel"
    );
    let workloads: [(String, Metric); 2] = [
        (format!("echo {MESSAGE} B x {CONNS} conns (trans/s)"), |r| {
            r.echo_tps
        }),
        ("bulk both ways (Gbit/s)".into(), |r| r.bulk_gbps),
    ];
    for (what, f) in &workloads {
        for (i, mode) in modes.iter().enumerate() {
            let (mv, ev, kv) = (cell(&m[i], *f), cell(&e[i], *f), cell(&k, *f));
            println!(
                "{what:<31}{mode:<9}{mv:>13.3} {ev:>10.3} {kv:>12.3} {:>10.2} {:>13.2} {:>11.2}",
                mv / ev,
                mv / kv,
                ev / kv
            );
        }
    }
    if failed {
        return Err("some runs failed (NaN above)".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let first = argv.next();
    if first.as_deref() == Some("--as") {
        // A server or client process of the memif and kernel links.
        return match argv.next().as_deref() {
            Some("mtcp-echo") => commands::echo_main(argv),
            Some("mtcp-perf") => commands::perf_main(argv),
            other => {
                eprintln!("mtcp-dpdk-bench: --as {other:?}: expected mtcp-echo or mtcp-perf");
                ExitCode::from(2)
            }
        };
    }
    let cli = BenchCli::parse_from(
        std::iter::once("mtcp-dpdk-bench".to_string())
            .chain(first)
            .chain(argv),
    );
    let modes: &[&str] = match cli.run_mode {
        RunMode::Both => &["rtc", "threaded"],
        RunMode::Rtc => &["rtc"],
        RunMode::Threaded => &["threaded"],
    };
    match run(modes, cli.secs, cli.bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtcp-dpdk-bench: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum RunMode {
    Rtc,
    Threaded,
    Both,
}

/// Benchmarks mTCP over DPDK against the kernel (as root).
#[derive(clap::Parser, Debug)]
#[command(name = "mtcp-dpdk-bench", version, after_help = USAGE)]
struct BenchCli {
    /// Seconds per echo run.
    #[arg(short = 't', default_value_t = 3)]
    secs: u64,
    /// Bytes per perf run.
    #[arg(long, default_value_t = 50_000_000)]
    bytes: u64,
    /// Which run modes.
    #[arg(long, value_enum, default_value_t = RunMode::Both)]
    run_mode: RunMode,
}
