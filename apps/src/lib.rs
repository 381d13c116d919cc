//! mTCP's example applications as reusable modules: an epoll HTTP server after `epserver`
//! ([`server`]) and an HTTP/1.0 load generator after `epwget` ([`client`]), both written against
//! the per-core [`mtcp_socket_api::Context`] API. The `mtcp-demo` binary runs both in one
//! process over the in-memory switch; epserver/epwget binaries can be built from the same parts.
//!
//! ```text
//!   server::run (epserver)         client::run (epwget)
//!        │ Context (core 0)              │ Context (core 0)
//!   Mtcp instance A ── MemSwitch port 0 ═══ port 1 ── Mtcp instance B
//! ```
//!
//! Example: see `src/bin/mtcp-demo.rs`.
//!
//! Dependency: the binaries' command lines are `clap` derives (help, version, errors that name
//! the option and exit 2), instead of a hand-written parser.

pub mod accept;
pub mod bench;
pub mod cli;
pub mod client;
pub mod commands;
pub mod echo;
pub mod http;
pub mod linux_http;
pub mod memlink;
pub mod perf;
pub mod server;
