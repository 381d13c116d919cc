//! The `mem` link of `mtcp-dpdk-bench` alone, for profiling (`perf record -e cpu-clock -g`) and
//! quick before/after figures without root, DPDK or the kernel runs:
//! `cargo run --release -p mtcp-apps --example memlink -- [rtc|threaded] [secs] [bulk bytes]`.

use std::time::Duration;

use mtcp_apps::echo::EchoConfig;
use mtcp_apps::memlink::{MemLink, SERVER_IP};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "rtc".into());
    let secs: u64 = args
        .next()
        .map_or(Ok(3), |s| s.parse())
        .map_err(|e| format!("secs: {e}"))?;
    let bulk: u64 = args
        .next()
        .map_or(Ok(100_000_000), |s| s.parse())
        .map_err(|e| format!("bulk bytes: {e}"))?;
    let link = MemLink {
        run_mode: mode.clone(),
        connections: 8,
        message_bytes: 64,
        echo_duration: Duration::from_secs(secs),
        bulk_bytes: bulk,
        server_start_delay: Duration::ZERO,
    };
    let mut r = link.run()?;
    let cfg = EchoConfig {
        server: (SERVER_IP, 7).into(),
        connections: 8,
        message_bytes: 64,
        duration: link.echo_duration,
    };
    println!("{}", r.echo.line(&format!("mem {mode}"), &cfg));
    println!("{}", r.bulk.line(&format!("mem {mode}")));
    Ok(())
}
