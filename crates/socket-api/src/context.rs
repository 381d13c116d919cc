//! A per-core context: the handle through which every API call reaches one stack, in either
//! run mode.
//!
//! - **Run-to-completion**: the context owns its stack; `epoll_wait` drives it (receive, timers,
//!   transmit) on the application's thread. No locks, no other thread.
//! - **Threaded** (mTCP's model): a stack thread per context polls the ports (receive, timers,
//!   transmit). The stack sits in a lock-free slot both threads share; an API call takes it,
//!   runs on the application thread and puts it back (two atomic swaps, no message), so a
//!   call costs what it costs in run-to-completion and answers the same errno. `epoll_wait`
//!   hands the stack to the stack thread, which sends what the application's turn wrote
//!   (together: header and body in one segment) and polls until an event may be ready; an
//!   application that goes quiet (sleeps, computes) leaves the stack to the stack thread
//!   within about 1 ms, so its connections keep going. One hand-off per loop turn, not one
//!   per call. See `threaded.rs`. A context whose stack thread died answers `EBADF`.
//!
//! Stopping (`mtcp_destroy_context`): [`Context::destroy`], [`Context::stop`], and dropping a
//! context, close every socket and keep the stack running until the connections have finished
//! or `drain_timeout_ms` (mtcp.conf, 5 s by default) has passed, so data accepted by `write`
//! reaches the peer; then the stack (and its thread) stop. See `drain.rs`. A stopped context
//! answers every call with `EPERM`.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use mtcp_io::Queue;

use crate::backend::AnyQueue;
use crate::config::RunMode;
use crate::epoll::EpollEvent;
use crate::error::{Error, Result};
use crate::socket::SockType;
use crate::stack::Stack;
use crate::threaded::Threads;

pub(crate) enum Mode<Q: Queue + 'static> {
    Rtc(Box<Stack<Q>>),
    Threaded(Threads<Q>),
    /// Stopped ([`Context::stop`]): every call gives `EPERM`.
    Stopped,
}

/// One core's context (`mctx_t`): socket ids are valid only in the context that made them.
///
/// Dropping a context stops it as [`Context::stop`] does: its connections drain first.
pub struct Context<Q: Queue + 'static = AnyQueue> {
    cpu: usize,
    mode: Mode<Q>,
    drain_timeout: Duration,
}

impl<Q: Queue + 'static> Context<Q> {
    /// A context over `stack`; in threaded mode this starts the stack thread (`ENOMEM` if the
    /// thread cannot be started).
    /// `drain_timeout` bounds the drain when the context stops.
    pub(crate) fn new(
        cpu: usize,
        stack: Stack<Q>,
        mode: RunMode,
        drain_timeout: Duration,
    ) -> Result<Context<Q>> {
        let mode = match mode {
            RunMode::RunToCompletion => Mode::Rtc(Box::new(stack)),
            RunMode::Threaded => Mode::Threaded(Threads::spawn(cpu, stack)?),
        };
        Ok(Context {
            cpu,
            mode,
            drain_timeout,
        })
    }

    /// `mtcp_destroy_context`: [`Context::stop`], then frees the context. `Ok` when every
    /// connection finished, `Err(TimedOut)` when the drain deadline cut some short.
    pub fn destroy(mut self) -> Result<()> {
        self.stop()
    }

    /// [`Context::destroy`] with its own drain deadline instead of `drain_timeout_ms`.
    pub fn destroy_within(mut self, limit: Duration) -> Result<()> {
        self.stop_within(limit)
    }

    /// Stops the context once its flows drain: closes every socket (listeners stop accepting
    /// and reset what they hold unaccepted; streams send a FIN after their buffered data, or
    /// a RST with unread data or `SO_LINGER` 0 s, as `close`), drives the stack until every
    /// connection has finished (its data and FIN acknowledged by the peer; the peer's own FIN
    /// and TIME-WAIT are not waited for) or `drain_timeout_ms` (mtcp.conf, default 5 s) has
    /// passed, then stops the stack and joins its thread. Afterwards every call gives `EPERM`
    /// (as in mTCP, a context that is shutting down refuses calls), and so does a second `stop`.
    ///
    /// `Err(TimedOut)`: the deadline passed with connections unfinished (their data is lost).
    pub fn stop(&mut self) -> Result<()> {
        let limit = self.drain_timeout;
        self.stop_within(limit)
    }

    /// [`Context::stop`] with its own drain deadline.
    pub fn stop_within(&mut self, limit: Duration) -> Result<()> {
        let left = match std::mem::replace(&mut self.mode, Mode::Stopped) {
            Mode::Stopped => return Err(Error::Perm),
            Mode::Rtc(mut stack) => stack.drain(limit),
            Mode::Threaded(mut t) => {
                // The stack thread drains; a dead one has nothing left to send.
                let left = t.job(move |s| s.drain(limit)).unwrap_or(0);
                drop(t);
                left
            }
        };
        if left == 0 {
            Ok(())
        } else {
            Err(Error::TimedOut)
        }
    }

    /// Whether the context was stopped (every call gives `EPERM`).
    pub fn is_stopped(&self) -> bool {
        matches!(self.mode, Mode::Stopped)
    }

    /// The core this context belongs to (`mctx->cpu`).
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// Whether a stack thread drives this context.
    pub fn is_threaded(&self) -> bool {
        matches!(self.mode, Mode::Threaded(_))
    }

    /// Runs `f` on the stack: directly in run-to-completion mode, on the stack thread in
    /// threaded mode (a boxed job: the control path, not for per-packet work). `EBADF` if the
    /// stack thread is gone.
    pub fn with<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Stack<Q>) -> R + Send + 'static,
    ) -> Result<R> {
        match &mut self.mode {
            Mode::Rtc(stack) => Ok(f(stack)),
            Mode::Threaded(t) => t.job(f),
            Mode::Stopped => Err(Error::Perm),
        }
    }

    /// Drives the stack once (receive, timers, transmit); returns the work done. In threaded
    /// mode the stack thread runs the turn (a hand-off and back).
    pub fn poll(&mut self) -> usize {
        match &mut self.mode {
            Mode::Rtc(stack) => stack.poll(),
            Mode::Threaded(t) => t.poll(),
            Mode::Stopped => 0,
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
        let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        let stack = match &mut self.mode {
            Mode::Rtc(stack) => stack,
            Mode::Threaded(t) => {
                let deadline = timeout.map(|t| Instant::now() + t);
                return t.epoll_wait(epid, out, deadline, timeout_ms == 0);
            }
            Mode::Stopped => return Err(Error::Perm),
        };
        // The time comes from each turn's own clock read (the first turn's starts the timeout):
        // two more reads per turn were a tenth of a one-connection ping-pong's CPU.
        let mut deadline = None;
        loop {
            // A doorbell rung after this look (a frame another core forwarded) ends the wait.
            mtcp_io::doorbell::clear();
            let work = stack.poll();
            let n = stack.epoll_collect(epid, out)?;
            if n > 0 || timeout_ms == 0 {
                return Ok(n);
            }
            let now = stack.polled_at();
            let deadline = *deadline.get_or_insert_with(|| timeout.map(|t| now + t));
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
        }
    }

    /// Runs an API call on the stack, on this thread in either mode (threaded: the stack
    /// is taken from the slot it shares with the stack thread and put back, see `threaded.rs`).
    fn on<R>(&mut self, f: impl FnOnce(&mut Stack<Q>) -> Result<R>) -> Result<R> {
        match &mut self.mode {
            Mode::Rtc(s) => f(s),
            Mode::Threaded(t) => t.on(f),
            Mode::Stopped => Err(Error::Perm),
        }
    }

    /// `mtcp_socket`.
    pub fn socket(&mut self, domain: i32, ty: i32, protocol: i32) -> Result<i32> {
        self.on(|s| s.socket(domain, ty, protocol))
    }

    /// `mtcp_bind`.
    pub fn bind(&mut self, sockid: i32, addr: impl Into<SocketAddr>) -> Result<()> {
        let addr = addr.into();
        self.on(|s| s.bind(sockid, addr))
    }

    /// `mtcp_listen`.
    pub fn listen(&mut self, sockid: i32, backlog: i32) -> Result<()> {
        self.on(|s| s.listen(sockid, backlog))
    }

    /// `mtcp_accept`.
    pub fn accept(&mut self, sockid: i32) -> Result<(i32, SocketAddr)> {
        self.on(|s| s.accept(sockid))
    }

    /// `mtcp_init_rss`.
    pub fn init_rss(
        &mut self,
        saddr_base: Ipv4Addr,
        num_addr: i32,
        daddr: Ipv4Addr,
        dport: u16,
    ) -> Result<()> {
        self.on(|s| s.init_rss(saddr_base, num_addr, daddr, dport))
    }

    /// `mtcp_connect` (non-blocking: `Err(InProgress)`, then EPOLLOUT or EPOLLERR).
    pub fn connect(&mut self, sockid: i32, addr: impl Into<SocketAddr>) -> Result<()> {
        let addr = addr.into();
        self.on(|s| s.connect(sockid, addr))
    }

    /// `mtcp_shutdown`.
    pub fn shutdown(&mut self, sockid: i32, how: i32) -> Result<()> {
        self.on(|s| s.shutdown(sockid, how))
    }

    /// `mtcp_close`.
    pub fn close(&mut self, sockid: i32) -> Result<()> {
        self.on(|s| s.close(sockid))
    }

    /// `mtcp_abort`.
    pub fn abort(&mut self, sockid: i32) -> Result<()> {
        self.on(|s| s.abort(sockid))
    }

    /// `mtcp_getsockname`.
    pub fn getsockname(&mut self, sockid: i32) -> Result<SocketAddr> {
        self.on(|s| s.getsockname(sockid))
    }

    /// `mtcp_getpeername`.
    pub fn getpeername(&mut self, sockid: i32) -> Result<SocketAddr> {
        self.on(|s| s.getpeername(sockid))
    }

    /// `mtcp_setsock_nonblock`.
    pub fn setsock_nonblock(&mut self, sockid: i32) -> Result<()> {
        self.on(|s| s.setsock_nonblock(sockid))
    }

    /// `mtcp_getsockopt` for an `int` option.
    pub fn getsockopt(&mut self, sockid: i32, level: i32, optname: i32) -> Result<i32> {
        self.on(|s| s.getsockopt(sockid, level, optname))
    }

    /// `mtcp_setsockopt` for an `int` option.
    pub fn setsockopt(&mut self, sockid: i32, level: i32, optname: i32, value: i32) -> Result<()> {
        self.on(|s| s.setsockopt(sockid, level, optname, value))
    }

    /// TCP_INFO-like statistics.
    pub fn tcp_info(&mut self, sockid: i32) -> Result<mtcp_tcp::TcpInfo> {
        self.on(|s| s.tcp_info(sockid))
    }

    /// mTCP's socket type of an id.
    pub fn sock_type(&mut self, sockid: i32) -> Result<SockType> {
        self.on(|s| s.sock_type(sockid))
    }

    /// The address family of an id: `AF_INET6` for an IPv6 socket, else `AF_INET`.
    pub fn socket_domain(&mut self, sockid: i32) -> Result<i32> {
        self.on(|s| s.socket_domain(sockid))
    }

    /// `mtcp_epoll_create`.
    pub fn epoll_create(&mut self, size: i32) -> Result<i32> {
        self.on(|s| s.epoll_create(size))
    }

    /// `mtcp_epoll_create1`.
    pub fn epoll_create1(&mut self, flags: i32) -> Result<i32> {
        self.on(|s| s.epoll_create1(flags))
    }

    /// `mtcp_epoll_ctl`.
    pub fn epoll_ctl(
        &mut self,
        epid: i32,
        op: i32,
        sockid: i32,
        event: Option<EpollEvent>,
    ) -> Result<()> {
        self.on(|s| s.epoll_ctl(epid, op, sockid, event))
    }

    /// `mtcp_pipe`.
    pub fn pipe(&mut self) -> Result<[i32; 2]> {
        self.on(|s| s.pipe())
    }

    /// `mtcp_read`.
    pub fn read(&mut self, sockid: i32, buf: &mut [u8]) -> Result<usize> {
        self.on(|s| s.recv(sockid, buf, 0))
    }

    /// `mtcp_recv`: `flags` 0 or `MSG_PEEK`.
    pub fn recv(&mut self, sockid: i32, buf: &mut [u8], flags: i32) -> Result<usize> {
        self.on(|s| s.recv(sockid, buf, flags))
    }

    /// `mtcp_readv`.
    pub fn readv(&mut self, sockid: i32, iov: &mut [IoSliceMut<'_>]) -> Result<usize> {
        self.on(|s| s.readv(sockid, iov))
    }

    /// `mtcp_write`.
    pub fn write(&mut self, sockid: i32, data: &[u8]) -> Result<usize> {
        self.on(|s| s.write(sockid, data))
    }

    /// `mtcp_writev`.
    pub fn writev(&mut self, sockid: i32, iov: &[IoSlice<'_>]) -> Result<usize> {
        self.on(|s| s.writev(sockid, iov))
    }

    /// `mtcp_socket_ioctl` (`FIONREAD`, `FIONBIO`).
    pub fn socket_ioctl(&mut self, sockid: i32, request: u64, arg: Option<&mut i32>) -> Result<()> {
        self.on(|s| s.socket_ioctl(sockid, request, arg))
    }
}

impl<Q: Queue + 'static> Drop for Context<Q> {
    /// Stops the context as [`Context::stop`] does (a bounded drain) unless it was stopped.
    fn drop(&mut self) {
        if !self.is_stopped() {
            let _ = self.stop();
        }
    }
}
