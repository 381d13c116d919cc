//! mtcp-perf: bulk transfer in both directions with every byte checked, reporting Gbit/s, over
//! our stack (`-f mtcp.conf`) or over the kernel's sockets (`--kernel`).
//!
//! Usage:
//! - `mtcp-perf server (-f <mtcp.conf> | --kernel) [-a addr] [-p port] [--once]`
//! - `mtcp-perf client <ip[:port]> (-f <mtcp.conf> | --kernel) [--send bytes] [--recv bytes]`
//!
//! The client sends `--send` bytes and asks the server for `--recv` bytes (default 100 MB
//! each way); both exit non-zero when a byte was wrong or missing.

use std::process::ExitCode;

fn main() -> ExitCode {
    mtcp_apps::commands::perf_main(std::env::args().skip(1))
}
