//! The links whose two sides are processes (`kernel`, `kernel-1500`, `afpacket`, `memif`): a
//! server and then a client, this binary re-executed as `mtcp-echo`, `mtcp-perf` or
//! `mtcp-short` in the link's namespaces, with the figures read from the lines they print.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::proc::{Child, run_client};
use super::topo::Topo;
use super::{ECHO_CONNS, Link, MANY_CONNS, MESSAGE_BYTES, Params, Row, SHORT_INFLIGHT, Workload};

/// How long a server may take to listen (DPDK's EAL and a memif connection take seconds).
const READY: Duration = Duration::from_secs(60);
/// What a client may take beyond its run (connection set-up, drain).
const GRACE: Duration = Duration::from_secs(90);

/// Whose stack runs on the link.
pub enum Stack {
    /// Linux sockets (`--kernel`).
    Kernel,
    /// Ours, with the first lines of each side's mtcp.conf (`io`, port, address).
    Ours {
        /// Where the generated mtcp.conf files go.
        dir: PathBuf,
        /// The server's `io`/port lines.
        server_io: String,
        /// The client's `io`/port lines.
        client_io: String,
    },
}

/// One link in one run mode.
pub struct SubLink<'a> {
    /// Which link.
    pub link: Link,
    /// Its namespaces.
    pub topo: &'a Topo,
    /// The server's address.
    pub server_ip: Ipv4Addr,
    /// Whose stack.
    pub stack: Stack,
    /// `rtc`, `threaded`, or `kernel`.
    pub mode: String,
    /// The server kept for the next workload, with its key (see [`SubLink::with_server`]).
    server: RefCell<Option<(String, Child)>>,
}

/// The mtcp.conf lines of a memif side (`role` is `server` or `client`), a core of its own.
/// Both sides trust the link's checksums (`dpdk_trust_checksums`: shared memory between two of
/// our processes cannot corrupt a frame), so memif pays no more for checksums than the `mem`
/// link, which offloads them.
pub fn memif_io(dir: &Path, role: &str, ip: Ipv4Addr) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    // The EAL pins the thread that starts it to its first core: not the same one for both.
    let mask = if role == "server" { "0x1" } else { "0x2" };
    format!(
        "io = dpdk\ncore_mask = {mask}\nport = net_memif0\nnet_memif0.ip = {ip}/24\n\
         max_num_buffers = 32768\ndpdk_trust_checksums = 1\n\
         dpdk_eal_args = --vdev net_memif0,role={role},socket={} --no-pci --no-huge \
         --no-shconf -m 512 --file-prefix mb{role}{}x{} --log-level=lib.eal:warning\n",
        dir.join("memif.sock").display(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the EAL runtime directories (`/run/dpdk/<file prefix>`) of this bench's memif
/// processes. A process that dies (a memif server hit by the driver's race when its client
/// leaves, see [`SubLink::with_server`], or one killed at a deadline) runs no exit handlers and
/// leaves its directory with the telemetry socket behind; seven piled up in an afternoon.
fn remove_runtime_dirs() {
    let pid = std::process::id();
    let ours = [format!("mbserver{pid}x"), format!("mbclient{pid}x")];
    let Ok(dir) = std::fs::read_dir("/run/dpdk") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        if ours
            .iter()
            .any(|p| name.to_string_lossy().starts_with(p.as_str()))
        {
            let _ = std::fs::remove_file(entry.path().join("dpdk_telemetry.v2"));
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

impl Drop for SubLink<'_> {
    fn drop(&mut self) {
        // The kept server first (it ends before this returns), then what dead ones left.
        *self.server.get_mut() = None;
        if self.link == Link::Memif {
            remove_runtime_dirs();
        }
    }
}

/// How DPDK reports a memif client the server did not (yet) take.
const MEMIF_REFUSED: &str = "memif_connect_client(): Failed to connect socket";

/// Socket buffers of our stack per workload.
fn buffers(w: Workload) -> usize {
    match w {
        Workload::Bulk1500 | Workload::Bulk9000 => 1 << 20,
        // The echo family shares a server, sized for 10 000 connections; 64 B messages.
        _ => 16 * 1024,
    }
}

impl<'a> SubLink<'a> {
    /// The link `link` over `topo`, its server at `server_ip`, in run mode `mode`.
    pub fn new(link: Link, topo: &'a Topo, server_ip: Ipv4Addr, stack: Stack, mode: &str) -> Self {
        SubLink {
            link,
            topo,
            server_ip,
            stack,
            mode: mode.into(),
            server: RefCell::new(None),
        }
    }

    /// Stops the kept server and switches to run mode `mode`.
    pub fn set_mode(&mut self, mode: &str) {
        *self.server.get_mut() = None;
        self.mode = mode.into();
    }

    /// The stack arguments of a side: `--kernel` (plus `-a ip` for a server), or `-f conf`
    /// (a conf written for this workload, with `extra` lines).
    pub fn stack_args(
        &self,
        server: bool,
        w: Workload,
        extra: &str,
    ) -> Result<Vec<String>, String> {
        let Stack::Ours {
            dir,
            server_io,
            client_io,
        } = &self.stack
        else {
            let mut a = vec!["--kernel".to_string()];
            if server {
                a.extend(["-a".into(), self.server_ip.to_string()]);
            }
            return Ok(a);
        };
        let (role, io) = if server {
            ("server", server_io)
        } else {
            ("client", client_io)
        };
        let bufs = buffers(w);
        // A sender's drain delivers what is still in its buffer after its last write: bounded
        // generously for bulk, short for the echo workloads (whose peers stop first).
        let drain_ms = if matches!(w, Workload::Bulk1500 | Workload::Bulk9000) {
            30_000
        } else {
            200
        };
        // The stack's connection limit, as a deployment would set it: room for conns10k's 10 000
        // connections, for the 64 and 100 at a time of echo and short, and for one bulk stream.
        // The AF_PACKET receive ring follows it (4 MiB, or a slot per connection if more): with
        // 2048 slots the kernel dropped thousands of conns10k's frames per run and their resends
        // held rounds for up to 2 s (0.5x the kernel); 16384 slots for every row cost the others
        // 2-17 % (a ring eight times the size).
        let max_conns = match w {
            Workload::Conns10k => 2 * MANY_CONNS,
            Workload::Bulk1500 | Workload::Bulk9000 => 64,
            _ => 1024,
        };
        // The engine's segments on a 9000-byte link were 1500 bytes until 6166644 (its MTU was
        // capped there); d398e2f then kept 1500-byte segments (`tcp_mtu = 1500`) on memif,
        // afpacket and afxdp. memif moves 9014-byte frames since io-dpdk sizes its buffers for
        // the MTU (with 2 KiB ones it delivered wrong bytes, see io-dpdk's `memif_bsize`); the
        // AF_PACKET and AF_XDP collapses (0.46 and 0.27 Gbit/s, one run at load 13) did not
        // come back: in rtc, 8948-byte segments beat 1448-byte ones on both, idle and under 8
        // busy loops, without retransmissions (see BENCHMARKS.md, "bulk9000 at MTU 9000").
        let path = dir.join(format!("{role}-{}-{w}.conf", self.mode));
        let io = if self.link == Link::Memif {
            let mut io = memif_io(dir, role, self.server_ip_of(role));
            if w == Workload::Bulk9000 {
                // Both sides' MTU: io-dpdk sizes memif's buffers and the mbufs for a whole
                // frame of it.
                io.push_str("dpdk_mtu = 9000\n");
            }
            io
        } else {
            io.clone()
        };
        std::fs::write(
            &path,
            format!(
                "{io}num_cores = 1\nrun_mode = {}\nmax_concurrency = {max_conns}\nrcvbuf = {bufs}\n\
                 sndbuf = {bufs}\ntcp_timewait = 0\ndrain_timeout_ms = {drain_ms}\n{extra}",
                self.mode
            ),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(vec!["-f".into(), path.to_string_lossy().into_owned()])
    }

    fn server_ip_of(&self, role: &str) -> Ipv4Addr {
        if role == "server" {
            self.server_ip
        } else {
            crate::memlink::CLIENT_IP
        }
    }

    /// Runs `f` with a server (`app server -p port` plus the stack arguments) that listens. The
    /// server of the last call is kept while `key` stays the same (a DPDK process takes
    /// seconds to start: the echo-family workloads share one, the bulk ones another), and
    /// stopped when `f` fails.
    pub fn with_server<T>(
        &self,
        (app, port, key): (&str, u16, &str),
        w: Workload,
        extra: &[&str],
        mut f: impl FnMut(&mut Child) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut slot = self.server.borrow_mut();
        // A kept server that died is started again, and a run that failed because its server
        // died is run once more, and the bench says so. A memif server can die when its
        // client leaves: DPDK 22.11's memif driver unmaps the shared rings on its interrupt
        // thread while the polling thread may be inside a burst (dmesg: segfaults in
        // librte_net_memif.so, e.g. at 0x8b03, the receive path's load of the ring's head; 3 in
        // 37 memif bench runs at load 8-16, one of which lost a row).
        let name = self.link.name();
        for again in [false, true] {
            if let Some((_, child)) = slot.as_mut()
                && let Some(status) = child.exited()
            {
                eprintln!("mtcp-bench: {w} {name}: the kept server had exited ({status}); again");
                *slot = None;
            }
            if slot.as_ref().is_none_or(|(k, _)| k != key) {
                *slot = None;
                let mut args = vec!["server".to_string(), "-p".into(), port.to_string()];
                args.extend(self.stack_args(true, w, "")?);
                args.extend(extra.iter().map(|s| s.to_string()));
                let mut child = Child::spawn(self.topo.server_ns().name(), app, &args)?;
                child.wait_line("server on", READY)?;
                *slot = Some((key.to_string(), child));
            }
            let Some((_, child)) = slot.as_mut() else {
                return Err("no server".into());
            };
            let r = f(child);
            // Died during the run: the check above says so and starts it again.
            if r.is_err() && !again && child.exited().is_some() {
                continue;
            }
            if r.is_err() {
                *slot = None;
            }
            return r;
        }
        Err("no server".into())
    }

    /// Runs a client (`app client ip:port args` plus the stack arguments) to its end; its output.
    pub fn client(
        &self,
        app: &str,
        port: u16,
        w: Workload,
        args: &[String],
        run: f64,
    ) -> Result<Vec<String>, String> {
        let mut all = vec!["client".to_string(), format!("{}:{port}", self.server_ip)];
        all.extend(args.iter().cloned());
        all.extend(self.stack_args(false, w, "")?);
        let timeout = Duration::from_secs_f64(run) + GRACE;
        let mut attempts = 0;
        loop {
            let r = run_client(self.topo.client_ns().name(), app, &all, timeout);
            attempts += 1;
            // A memif link is point to point: a client that starts while the kept server has
            // not yet seen the previous client go is refused at `rte_eth_dev_start`. Not a
            // result: start it again.
            match r {
                Err(e) if self.link == Link::Memif && attempts < 4 && e.contains(MEMIF_REFUSED) => {
                    eprintln!("mtcp-bench: {w} memif: the server refused the client; again");
                    std::thread::sleep(Duration::from_millis(200));
                }
                r => return r,
            }
        }
    }

    fn echo(&self, w: Workload, p: &Params) -> Result<Vec<Row>, String> {
        let (conns, secs) = match w {
            Workload::Echo64x64 => (ECHO_CONNS, p.secs),
            Workload::Latency64 => (1, p.secs),
            _ => (MANY_CONNS, p.conns10k_secs),
        };
        let args: Vec<String> = [
            "-n",
            &conns.to_string(),
            "-m",
            &MESSAGE_BYTES.to_string(),
            "-t",
            &secs.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // conns10k's server is configured for its 10 000 connections (see `stack_args`).
        let key = if w == Workload::Conns10k {
            "echo-many"
        } else {
            "echo"
        };
        let out = self.with_server(("mtcp-echo", 7, key), w, &[], |_| {
            self.client("mtcp-echo", 7, w, &args, secs)
        })?;
        let line = find(&out, "echo[")?;
        self.show(w, line);
        echo_rows(w, self.link.name(), &self.mode, line)
    }

    fn short(&self, p: &Params) -> Result<Vec<Row>, String> {
        let w = Workload::Short64;
        let server = match self.stack {
            Stack::Kernel => ("mtcp-short", 7, "short"),
            Stack::Ours { .. } => ("mtcp-echo", 7, "echo"),
        };
        let args = vec![
            "-n".into(),
            SHORT_INFLIGHT.to_string(),
            "-t".into(),
            p.secs.to_string(),
        ];
        let out = self.with_server(server, w, &[], |_| {
            self.client("mtcp-short", 7, w, &args, p.secs)
        })?;
        let line = find(&out, "short[")?;
        self.show(w, line);
        short_rows(self.link.name(), &self.mode, line)
    }

    fn bulk(&self, w: Workload, p: &Params) -> Result<Vec<Row>, String> {
        super::sized_bulk(p, |bytes| self.bulk_transfer(w, bytes))
    }

    fn bulk_transfer(&self, w: Workload, bytes: u64) -> Result<Vec<Row>, String> {
        let args = vec![
            "--send".into(),
            bytes.to_string(),
            "--recv".into(),
            "0".into(),
        ];
        let line = self.with_server(("mtcp-perf", 5001, w.name()), w, &[], |srv| {
            let out = self.client("mtcp-perf", 5001, w, &args, 10.0);
            // The receiver's report: from the first byte to the last, every byte checked.
            let line = srv.wait_line("perf[", Duration::from_secs(30));
            line.map_err(|e| match &out {
                Err(c) => format!("{e}; client: {c}"),
                Ok(_) => e,
            })
        })?;
        self.show(w, &line);
        bulk_rows(w, self.link.name(), &self.mode, &line)
    }

    /// Shows the line a run's figures come from on stderr (as the `mem` link does): latency
    /// percentiles, connection set-up time and errors beside the row's one figure.
    fn show(&self, w: Workload, line: &str) {
        eprintln!("mtcp-bench: {w} {} {}: {line}", self.link.name(), self.mode);
    }

    /// Runs workload `w` (not a lossy one) on this link.
    pub fn run(&self, w: Workload, p: &Params) -> Result<Vec<Row>, String> {
        match w {
            Workload::Echo64x64 | Workload::Latency64 | Workload::Conns10k => self.echo(w, p),
            Workload::Short64 => self.short(p),
            Workload::Bulk1500 => self.bulk(w, p),
            Workload::Bulk9000 => match self.link {
                Link::Kernel => self.bulk(w, p),
                // AF_XDP: a 9000-byte frame spans three 4 KiB UMEM chunks (multi-buffer).
                Link::AfPacket | Link::AfXdp => {
                    // A kept server's XDP program (attached for MTU 1500, without fragments)
                    // caps the veth's MTU: stop it before the change.
                    self.server.borrow_mut().take();
                    self.topo.set_mtu(9000)?;
                    let r = self.bulk(w, p);
                    self.topo.set_mtu(1500)?;
                    r
                }
                Link::Memif => self.bulk(w, p),
                Link::Kernel1500 => Err("unavailable: an MTU 1500 link".into()),
                _ => Err("unsupported: no MTU setting for this link yet".into()),
            },
            Workload::Lossy1 | Workload::Lossy3 => {
                Err("lossy workloads have their own runner".into())
            }
        }
    }
}

/// The first line of `out` that contains `needle`.
pub fn find<'a>(out: &'a [String], needle: &str) -> Result<&'a str, String> {
    out.iter()
        .find(|l| l.contains(needle))
        .map(String::as_str)
        .ok_or_else(|| format!("no `{needle}` line in: {}", out.join(" | ")))
}

/// The number before `unit` in `line` (`... = 1234 transactions/s`).
pub fn number_before(line: &str, unit: &str) -> Option<f64> {
    let head = &line[..line.find(unit)?];
    head.split_whitespace()
        .last()?
        .trim_start_matches('(')
        .parse()
        .ok()
}

/// Rows of an `echo[...]` line: trans/s, or (latency64) p50 and p99 in microseconds.
pub fn echo_rows(w: Workload, link: &str, mode: &str, line: &str) -> Result<Vec<Row>, String> {
    if !line.contains("errors 0") {
        return Err(format!("failed: {line}"));
    }
    let bad = || format!("failed: unexpected line {line}");
    if w == Workload::Latency64 {
        let p50 = number_before(line, "us, p99").ok_or_else(bad)?;
        let rest = &line[line.find("p99").ok_or_else(bad)?..];
        let p99 = number_before(rest, "us,").ok_or_else(bad)?;
        return Ok(vec![
            Row::new("latency64", link, mode, p50, "us"),
            Row::new("latency64_p99", link, mode, p99, "us"),
        ]);
    }
    let tps = number_before(line, "transactions/s").ok_or_else(bad)?;
    Ok(vec![Row::new(w.name(), link, mode, tps, "trans/s")])
}

/// Rows of a `short[...]` line.
pub fn short_rows(link: &str, mode: &str, line: &str) -> Result<Vec<Row>, String> {
    if !line.contains("errors 0") {
        return Err(format!("failed: {line}"));
    }
    let cps = number_before(line, "connections/s")
        .ok_or_else(|| format!("failed: unexpected line {line}"))?;
    Ok(vec![Row::new("short64", link, mode, cps, "conn/s")])
}

/// Rows of a receiver's `perf[...]` line: received Gbit/s, only when every byte was verified.
pub fn bulk_rows(w: Workload, link: &str, mode: &str, line: &str) -> Result<Vec<Row>, String> {
    if !line.contains("verified") {
        return Err(format!("failed: {line}"));
    }
    let rest = &line[line
        .find("received")
        .ok_or_else(|| format!("failed: {line}"))?..];
    let gbps =
        number_before(rest, "Gbit/s").ok_or_else(|| format!("failed: unexpected line {line}"))?;
    Ok(vec![Row::new(w.name(), link, mode, gbps, "Gbit/s")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_rows() {
        let echo = "echo[mtcp]: 1 conns x 64 B: 10 transactions in 1.00 s = 10 transactions/s, \
                    latency p50 12.4 us, p99 30.0 us, p999 31.2 us, errors 0";
        let r = echo_rows(Workload::Latency64, "mem", "rtc", echo).unwrap();
        assert_eq!(r[0], Row::new("latency64", "mem", "rtc", 12.4, "us"));
        assert_eq!(r[1], Row::new("latency64_p99", "mem", "rtc", 30.0, "us"));
        let r = echo_rows(Workload::Echo64x64, "mem", "rtc", echo).unwrap();
        assert_eq!(r[0].value, Some(10.0));
        assert!(
            echo_rows(
                Workload::Echo64x64,
                "mem",
                "rtc",
                &echo.replace("errors 0", "errors 2")
            )
            .is_err()
        );
        let perf = "perf[kernel]: sent 0 bytes (0.000 Gbit/s), received 5000 bytes (2.500 Gbit/s) in 0.0001 s, verified";
        assert_eq!(
            bulk_rows(Workload::Bulk1500, "kernel", "kernel", perf).unwrap()[0].value,
            Some(2.5)
        );
        assert!(bulk_rows(Workload::Bulk1500, "k", "k", "perf[x]: ... FAILED (wrong)").is_err());
        let short = "short[mtcp]: 50 connections in 1.000 s = 50 connections/s, errors 0";
        assert_eq!(
            short_rows("mem", "rtc", short).unwrap()[0].value,
            Some(50.0)
        );
    }
}
