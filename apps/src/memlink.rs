//! Our stack twice in one process on the in-memory switch, running the echo workload and then
//! one bulk transfer (what `mtcp-bench`'s `mem` link grew from; its addresses are the bench's).
//!
//! ```text
//!   server thread: echo::mtcp_serve, then perf::mtcp_serve      this thread: the clients
//!        │ Context (core 0)                                          │ Context (core 0)
//!   Mtcp instance A ── MemSwitch port 0 ═══════════ port 1 ── Mtcp instance B
//! ```
//!
//! Both listeners are created on this thread before the server thread is spawned, so no SYN
//! can meet a closed port however late that thread runs (a SYN that did would be refused with
//! RST and counted as a failed connection).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

use crate::echo::{self, EchoConfig, EchoReport};
use crate::perf::{self, PerfReport};

/// The server's address on the switch.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The client's address on the switch.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
const ECHO_PORT: u16 = 7;
const BULK_PORT: u16 = 5001;

/// What to run.
#[derive(Clone, Debug)]
pub struct MemLink {
    /// `run_mode` of both instances (`rtc` or `threaded`).
    pub run_mode: String,
    /// Echo connections.
    pub connections: usize,
    /// Echo message size.
    pub message_bytes: usize,
    /// How long the echo clients start rounds.
    pub echo_duration: Duration,
    /// Bulk bytes each way.
    pub bulk_bytes: u64,
    /// How long the server thread waits before serving: a busy machine may start it late;
    /// tests set it to show that the clients do not depend on when it runs.
    pub server_start_delay: Duration,
}

/// What the two workloads measured.
#[derive(Clone, Debug)]
pub struct MemLinkReport {
    /// The echo client's report.
    pub echo: EchoReport,
    /// The bulk client's report.
    pub bulk: PerfReport,
}

fn conf(port: &str, ip: Ipv4Addr, mode: &str) -> Result<MtcpConf, String> {
    MtcpConf::parse(&format!(
        "io = mem\nnum_cores = 1\nport = {port}\n{port}.ip = {ip}/24\nmax_concurrency = 10000\n\
         rcvbuf = 65536\nsndbuf = 65536\ntcp_timewait = 0\nrun_mode = {mode}\n"
    ))
    .map_err(|(line, e)| format!("mem config line {line}: {e}"))
}

impl MemLink {
    /// Runs the echo workload, then the bulk transfer; `Err` on a setup error (a failed
    /// connection is in the reports, not an `Err`).
    pub fn run(&self) -> Result<MemLinkReport, String> {
        let switch = MemSwitch::new(MemConfig {
            ring_size: 4096,
            pool_size: 4096,
            ..MemConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let srv = Mtcp::with_switch(conf("mem0", SERVER_IP, &self.run_mode)?, &switch, 0)
            .map_err(|e| e.to_string())?;
        let cli = Mtcp::with_switch(conf("mem1", CLIENT_IP, &self.run_mode)?, &switch, 1)
            .map_err(|e| e.to_string())?;
        let mut sctx = srv.create_context(0).map_err(|e| e.to_string())?;
        let mut cctx = cli.create_context(0).map_err(|e| e.to_string())?;
        let any = |port| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let echo_l = echo::mtcp_listen(&mut sctx, any(ECHO_PORT)).map_err(|e| e.to_string())?;
        let bulk_l = perf::mtcp_listen(&mut sctx, any(BULK_PORT)).map_err(|e| e.to_string())?;
        let echo_stop = Arc::new(AtomicBool::new(false));
        let bulk_stop = Arc::new(AtomicBool::new(false));
        let (es, bs) = (Arc::clone(&echo_stop), Arc::clone(&bulk_stop));
        let delay = self.server_start_delay;
        let server = std::thread::spawn(move || -> Result<(), String> {
            std::thread::sleep(delay);
            echo::mtcp_serve(&mut sctx, echo_l, &es).map_err(|e| e.to_string())?;
            perf::mtcp_serve(&mut sctx, bulk_l, true, &bs, |_| {}).map_err(|e| e.to_string())
        });
        let cfg = EchoConfig {
            server: SocketAddr::from((SERVER_IP, ECHO_PORT)),
            connections: self.connections,
            message_bytes: self.message_bytes,
            duration: self.echo_duration,
        };
        let echo = echo::mtcp_client(&mut cctx, &cfg);
        // The bulk connection waits in the listener's backlog until the server thread moves on.
        echo_stop.store(true, Ordering::Relaxed);
        let never = AtomicBool::new(false);
        let bulk = echo.as_ref().ok().map(|_| {
            perf::mtcp_client(
                &mut cctx,
                SocketAddr::from((SERVER_IP, BULK_PORT)),
                self.bulk_bytes,
                self.bulk_bytes,
                &never,
            )
        });
        bulk_stop.store(true, Ordering::Relaxed);
        server.join().map_err(|_| "server thread panicked")??;
        let echo = echo.map_err(|e| format!("echo client: {e}"))?;
        let bulk = bulk
            .ok_or("no bulk run")?
            .map_err(|e| format!("bulk client: {e}"))?;
        Ok(MemLinkReport { echo, bulk })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench's parameters (8 connections of 64 B) with the server thread starting late:
    /// before the listeners were created ahead of it, threaded mode refused the SYNs that came
    /// first (RST, counted as failed connections — the bench once saw 2 of 8).
    fn late_server(mode: &str) {
        for delay_ms in [0, 30, 150] {
            let link = MemLink {
                run_mode: mode.into(),
                connections: 8,
                message_bytes: 64,
                echo_duration: Duration::from_millis(300),
                bulk_bytes: 200_000,
                server_start_delay: Duration::from_millis(delay_ms),
            };
            let mut r = link.run().unwrap();
            let cfg = EchoConfig {
                server: SocketAddr::from((SERVER_IP, ECHO_PORT)),
                connections: 8,
                message_bytes: 64,
                duration: link.echo_duration,
            };
            let line = r.echo.line(mode, &cfg);
            assert_eq!(r.echo.errors, 0, "delay {delay_ms} ms: {line}");
            assert!(r.echo.transactions >= 8, "delay {delay_ms} ms: {line}");
            assert!(r.bulk.ok, "delay {delay_ms} ms: {}", r.bulk.line("mem"));
        }
    }

    #[test]
    fn echo_with_late_server_threaded() {
        late_server("threaded");
    }

    #[test]
    fn echo_with_late_server_rtc() {
        late_server("rtc");
    }
}
