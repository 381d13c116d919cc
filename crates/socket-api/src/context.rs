//! A per-core context: the handle through which every API call reaches one stack, in either
//! run mode.
//!
//! - **Run-to-completion**: the context owns its stack; `epoll_wait` drives it (receive, timers,
//!   transmit) on the application's thread. No locks, no other thread.
//! - **Threaded** (mTCP's model): a stack thread per context polls the queues; the application
//!   thread's calls meet it at the stack. The hand-over is a mutex held for one call or one poll
//!   turn (not mTCP's lock-free job queues: a known deviation), and epoll wake-ups cross threads
//!   through a condition variable.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mtcp_io::Queue;

use crate::backend::AnyQueue;
use crate::config::RunMode;
use crate::epoll::EpollEvent;
use crate::error::{Error, Result};
use crate::stack::Stack;

struct Shared<Q: Queue> {
    stack: Mutex<Stack<Q>>,
    seq: Mutex<u64>,
    cv: Condvar,
    stop: AtomicBool,
}

enum Mode<Q: Queue> {
    Rtc(Box<Stack<Q>>),
    Threaded {
        shared: Arc<Shared<Q>>,
        thread: Option<JoinHandle<()>>,
    },
}

/// One core's context (`mctx_t`): socket ids are valid only in the context that made them.
pub struct Context<Q: Queue + 'static = AnyQueue> {
    cpu: usize,
    mode: Mode<Q>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

macro_rules! forward {
    ($( $(#[$doc:meta])* fn $name:ident(&mut self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $(
            $(#[$doc])*
            pub fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                self.with(|s| s.$name($($arg),*))
            }
        )*
    };
}

impl<Q: Queue + 'static> Context<Q> {
    pub(crate) fn new(cpu: usize, stack: Stack<Q>, mode: RunMode) -> Context<Q> {
        let mode = match mode {
            RunMode::RunToCompletion => Mode::Rtc(Box::new(stack)),
            RunMode::Threaded => {
                let shared = Arc::new(Shared {
                    stack: Mutex::new(stack),
                    seq: Mutex::new(0),
                    cv: Condvar::new(),
                    stop: AtomicBool::new(false),
                });
                let s = Arc::clone(&shared);
                let thread = std::thread::Builder::new()
                    .name(format!("mtcp-stack-{cpu}"))
                    .spawn(move || stack_thread(&s))
                    .ok();
                Mode::Threaded { shared, thread }
            }
        };
        Context { cpu, mode }
    }

    /// The core this context belongs to (`mctx->cpu`).
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// Whether a stack thread drives this context.
    pub fn is_threaded(&self) -> bool {
        matches!(self.mode, Mode::Threaded { .. })
    }

    /// Runs `f` on the stack (directly, or under the hand-over lock in threaded mode).
    pub fn with<R>(&mut self, f: impl FnOnce(&mut Stack<Q>) -> R) -> R {
        match &mut self.mode {
            Mode::Rtc(stack) => f(stack),
            Mode::Threaded { shared, .. } => f(&mut lock(&shared.stack)),
        }
    }

    /// Drives the stack once (receive, timers, transmit); returns the work done. In threaded
    /// mode the stack thread does this and the call only returns 0.
    pub fn poll(&mut self) -> usize {
        match &mut self.mode {
            Mode::Rtc(stack) => stack.poll(),
            Mode::Threaded { .. } => 0,
        }
    }

    /// `mtcp_epoll_wait`: up to `out.len()` events; `timeout_ms` -1 blocks, 0 polls.
    pub fn epoll_wait(
        &mut self,
        epid: i32,
        out: &mut [EpollEvent],
        timeout_ms: i32,
    ) -> Result<usize> {
        if out.is_empty() || timeout_ms < -1 {
            return Err(Error::Inval);
        }
        let deadline =
            (timeout_ms >= 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
        match &mut self.mode {
            Mode::Rtc(stack) => loop {
                let work = stack.poll();
                let n = stack.epoll_collect(epid, out)?;
                if n > 0 || timeout_ms == 0 {
                    return Ok(n);
                }
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Ok(0);
                }
                if work == 0 && !stack.epoll_maybe_ready(epid) {
                    let mut wait = Duration::from_millis(1);
                    if let Some(d) = deadline {
                        wait = wait.min(d - now);
                    }
                    if let Some(port) = stack.ports.first_mut() {
                        let _ = port.queue.wait_rx(wait);
                    }
                }
            },
            Mode::Threaded { shared, .. } => loop {
                let seen = *lock(&shared.seq);
                let n = lock(&shared.stack).epoll_collect(epid, out)?;
                if n > 0 || timeout_ms == 0 {
                    return Ok(n);
                }
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Ok(0);
                }
                let mut wait = Duration::from_millis(10);
                if let Some(d) = deadline {
                    wait = wait.min(d - now);
                }
                let guard = lock(&shared.seq);
                if *guard == seen {
                    let _ = shared.cv.wait_timeout(guard, wait);
                }
            },
        }
    }

    forward! {
        /// `mtcp_socket`.
        fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> Result<i32>;
        /// `mtcp_bind`.
        fn bind(&mut self, sockid: i32, addr: SocketAddrV4) -> Result<()>;
        /// `mtcp_listen`.
        fn listen(&mut self, sockid: i32, backlog: i32) -> Result<()>;
        /// `mtcp_accept`.
        fn accept(&mut self, sockid: i32) -> Result<(i32, SocketAddrV4)>;
        /// `mtcp_init_rss`.
        fn init_rss(&mut self, saddr_base: Ipv4Addr, num_addr: i32, daddr: Ipv4Addr, dport: u16) -> Result<()>;
        /// `mtcp_connect` (non-blocking: `Err(InProgress)`, then EPOLLOUT or EPOLLERR).
        fn connect(&mut self, sockid: i32, addr: SocketAddrV4) -> Result<()>;
        /// `mtcp_read`.
        fn read(&mut self, sockid: i32, buf: &mut [u8]) -> Result<usize>;
        /// `mtcp_recv`.
        fn recv(&mut self, sockid: i32, buf: &mut [u8], flags: i32) -> Result<usize>;
        /// `mtcp_readv`.
        fn readv(&mut self, sockid: i32, iov: &mut [IoSliceMut<'_>]) -> Result<usize>;
        /// `mtcp_write`.
        fn write(&mut self, sockid: i32, data: &[u8]) -> Result<usize>;
        /// `mtcp_writev`.
        fn writev(&mut self, sockid: i32, iov: &[IoSlice<'_>]) -> Result<usize>;
        /// `mtcp_shutdown`.
        fn shutdown(&mut self, sockid: i32, how: i32) -> Result<()>;
        /// `mtcp_close`.
        fn close(&mut self, sockid: i32) -> Result<()>;
        /// `mtcp_abort`.
        fn abort(&mut self, sockid: i32) -> Result<()>;
        /// `mtcp_getsockname`.
        fn getsockname(&mut self, sockid: i32) -> Result<SocketAddrV4>;
        /// `mtcp_getpeername`.
        fn getpeername(&mut self, sockid: i32) -> Result<SocketAddrV4>;
        /// `mtcp_setsock_nonblock`.
        fn setsock_nonblock(&mut self, sockid: i32) -> Result<()>;
        /// `mtcp_socket_ioctl` (`FIONREAD`, `FIONBIO`).
        fn socket_ioctl(&mut self, sockid: i32, request: u64, arg: Option<&mut i32>) -> Result<()>;
        /// `mtcp_getsockopt` for an `int` option.
        fn getsockopt(&mut self, sockid: i32, level: i32, optname: i32) -> Result<i32>;
        /// `mtcp_setsockopt` for an `int` option.
        fn setsockopt(&mut self, sockid: i32, level: i32, optname: i32, value: i32) -> Result<()>;
        /// TCP_INFO-like statistics.
        fn tcp_info(&mut self, sockid: i32) -> Result<mtcp_tcp::TcpInfo>;
        /// mTCP's socket type of an id.
        fn sock_type(&mut self, sockid: i32) -> Result<crate::socket::SockType>;
        /// `mtcp_epoll_create`.
        fn epoll_create(&mut self, size: i32) -> Result<i32>;
        /// `mtcp_epoll_create1`.
        fn epoll_create1(&mut self, flags: i32) -> Result<i32>;
        /// `mtcp_epoll_ctl`.
        fn epoll_ctl(&mut self, epid: i32, op: i32, sockid: i32, event: Option<EpollEvent>) -> Result<()>;
        /// `mtcp_pipe`.
        fn pipe(&mut self) -> Result<[i32; 2]>;
    }
}

fn stack_thread<Q: Queue>(shared: &Shared<Q>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let (work, notified) = {
            let mut s = lock(&shared.stack);
            let w = s.poll();
            (w, std::mem::take(&mut s.notified))
        };
        if notified {
            *lock(&shared.seq) += 1;
            shared.cv.notify_all();
        }
        if work == 0 {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

impl<Q: Queue + 'static> Drop for Context<Q> {
    fn drop(&mut self) {
        if let Mode::Threaded { shared, thread } = &mut self.mode {
            shared.stop.store(true, Ordering::Relaxed);
            if let Some(t) = thread.take() {
                let _ = t.join();
            }
        }
    }
}
