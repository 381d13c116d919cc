//! mtcp-echo: an echo server and a request/response client reporting transactions/s and latency
//! percentiles, over our stack (`-f mtcp.conf`) or over the kernel's sockets (`--kernel`).
//!
//! Usage:
//! - `mtcp-echo server (-f <mtcp.conf> | --kernel) [-a addr] [-p port] [-N cores]`
//! - `mtcp-echo client <ip[:port]> (-f <mtcp.conf> | --kernel) [-n conns] [-m bytes] [-t secs]`
//!
//! The client exits non-zero when any connection failed or echoed wrong bytes.

use std::process::ExitCode;

fn main() -> ExitCode {
    mtcp_apps::commands::echo_main(std::env::args().skip(1))
}
