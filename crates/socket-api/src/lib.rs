//! mTCP's socket API over per-core contexts.
//!
//! (Being assembled: the configuration files are here; contexts, sockets and epoll follow.)

pub mod config;
