//! The same GETs over Linux's own TCP (std::net over 127.0.0.1, no privileges), so `mtcp-demo`
//! can print its time next to the kernel's, measured in the same run.
//!
//! Blocking sockets, a thread per connection at a time on each side: the server has `threads`
//! threads accepting on one listener, the client `threads` threads each working through its share
//! of the requests one connection after another (HTTP/1.0, a connection per request as epwget).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::Request;
use crate::http;
use crate::server::{ServerConfig, respond};

/// What a run over Linux sockets did.
#[derive(Debug)]
pub struct LinuxRun {
    /// Responses complete and byte-for-byte as expected.
    pub completes: usize,
    /// Requests that failed or came back wrong.
    pub errors: usize,
    /// From the first connect to the last response.
    pub elapsed: Duration,
}

fn serve_one(cfg: &ServerConfig, mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    let head_len = loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(len) = http::head_len(&buf) {
            break len;
        }
    };
    let path = http::parse_request(&buf[..head_len]).map_or("/", |(p, _)| p);
    let (head, body) = respond(cfg, path, false);
    s.write_all(&head)?;
    if let Some(body) = body {
        s.write_all(&body)?;
    }
    s.shutdown(Shutdown::Write)
}

fn fetch(server: SocketAddr, req: &Request, buf: &mut Vec<u8>) -> bool {
    let Ok(mut s) = TcpStream::connect(server) else {
        return false;
    };
    let get = format!("GET {} HTTP/1.0\r\nHost: localhost\r\n\r\n", req.path);
    buf.clear();
    if s.write_all(get.as_bytes()).is_err() || s.read_to_end(buf).is_err() {
        return false;
    }
    let Some(head) = http::head_len(buf) else {
        return false;
    };
    match (&req.expected, http::parse_response(&buf[..head])) {
        (Some(want), Some((200, _))) => buf[head..] == want[..],
        (None, Some((200, len))) => len.is_none_or(|l| l == buf.len() - head),
        _ => false,
    }
}

/// Runs `requests` against a server of `cfg`'s files, `threads` connections at a time.
pub fn run(cfg: &ServerConfig, requests: &[Request], threads: usize) -> std::io::Result<LinuxRun> {
    let threads = threads.max(1);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let server = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut servers = Vec::new();
    for _ in 0..threads {
        let (l, cfg, stop) = (listener.try_clone()?, cfg.clone(), Arc::clone(&stop));
        servers.push(std::thread::spawn(move || {
            for s in l.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(s) = s {
                    let _ = serve_one(&cfg, s);
                }
            }
        }));
    }
    let started = Instant::now();
    let (completes, errors) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut buf = Vec::new();
                    let mine = requests.iter().skip(t).step_by(threads);
                    mine.fold((0, 0), |(ok, bad), r| {
                        if fetch(server, r, &mut buf) {
                            (ok + 1, bad)
                        } else {
                            (ok, bad + 1)
                        }
                    })
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap_or((0, 0)))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    let elapsed = started.elapsed();
    // Wake each server thread (blocked in accept) once so it sees `stop`.
    stop.store(true, Ordering::Relaxed);
    for _ in 0..threads {
        let _ = TcpStream::connect(server);
    }
    for s in servers {
        let _ = s.join();
    }
    Ok(LinuxRun {
        completes,
        errors,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Right bodies count as completes; a 404 counts as an error.
    #[test]
    fn gets_over_loopback_are_checked() {
        let body = Arc::new(http::test_content(5000, 3));
        let mut files = HashMap::new();
        files.insert("/a".to_string(), Arc::clone(&body));
        let cfg = ServerConfig {
            files,
            ..ServerConfig::new()
        };
        let good = Request {
            path: "/a".into(),
            expected: Some(body),
        };
        let missing = Request {
            path: "/nope".into(),
            expected: None,
        };
        let reqs = vec![good.clone(), good.clone(), missing, good];
        let r = run(&cfg, &reqs, 2).unwrap();
        assert_eq!((r.completes, r.errors), (3, 1));
    }
}
