//! A per-core context: the handle through which every API call reaches one stack, in either
//! run mode.
//!
//! - **Run-to-completion**: the context owns its stack; `epoll_wait` drives it (receive, timers,
//!   transmit) on the application's thread. No locks, no other thread.
//! - **Threaded** (mTCP's model): a stack thread per context owns the stack alone and polls the
//!   ports; the application thread never touches the stack. Each call is a request on a
//!   lock-free crossbeam channel and the caller waits for the reply on another; read and write
//!   data travel in the context's own buffers, which go to the stack thread and come back, so
//!   the hot calls allocate nothing once warmed up. Epoll wake-ups come back on a third channel
//!   (one pending token, `try_send`). A stack thread that runs out of work first yields the CPU
//!   twice (polling again after each), as the application thread usually needs it when threads
//!   outnumber cores; then it sleeps on the request channel, so a call is served at once, and polls the ports again after 20 µs (200 µs once idle for 20 ms,
//!   1 ms once idle for a second), so an idle context costs little.
//!   See `threaded.rs` for the messages. A context whose stack thread died answers `EBADF`.
//!
//! Stopping (`mtcp_destroy_context`): [`Context::destroy`], [`Context::stop`], and dropping a
//! context, close every socket and keep the stack running until the connections have finished
//! or `drain_timeout_ms` (mtcp.conf, 5 s by default) has passed, so data accepted by `write`
//! reaches the peer; then the stack (and its thread) stop. See `drain.rs`. A stopped context
//! answers every call with `EPERM`.

use std::io::{IoSlice, IoSliceMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use mtcp_io::Queue;

use crate::backend::AnyQueue;
use crate::config::RunMode;
use crate::epoll::EpollEvent;
use crate::error::{Error, Result};
use crate::stack::Stack;
use crate::threaded::{Answer, IoOp, Ioctl, Reply, Request};

/// Longest wait of a threaded `epoll_wait` between two looks at the instance (a safety net:
/// every readiness change also sends a wake-up).
const EPOLL_RECHECK: Duration = Duration::from_millis(10);

/// The application side of a threaded context.
pub(crate) struct Threads<Q: Queue + 'static> {
    requests: Option<Sender<Request<Q>>>,
    replies: Receiver<Reply>,
    wake: Receiver<()>,
    buf: Vec<u8>,
    lens: Vec<usize>,
    events: Vec<EpollEvent>,
    thread: Option<JoinHandle<()>>,
    /// The stack thread's doorbell (see `threaded.rs`), rung after each request.
    bell: Arc<AtomicBool>,
}

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
    pub(crate) mode: Mode<Q>,
    drain_timeout: Duration,
}

impl<Q: Queue + 'static> Threads<Q> {
    fn spawn(cpu: usize, stack: Stack<Q>) -> Result<Threads<Q>> {
        let (req_tx, req_rx) = crossbeam_channel::bounded(1);
        let (rep_tx, rep_rx) = crossbeam_channel::bounded(1);
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let bell = Arc::new(AtomicBool::new(false));
        let stack_bell = bell.clone();
        let thread = std::thread::Builder::new()
            .name(format!("mtcp-stack-{cpu}"))
            .spawn(move || crate::threaded::run(stack, req_rx, rep_tx, wake_tx, stack_bell))
            .map_err(|_| Error::NoMem)?;
        Ok(Threads {
            requests: Some(req_tx),
            replies: rep_rx,
            wake: wake_rx,
            buf: Vec::new(),
            lens: Vec::new(),
            events: Vec::new(),
            thread: Some(thread),
            bell,
        })
    }

    /// Sends `req` and waits for its reply; `EBADF` once the stack thread is gone.
    fn round_trip(&mut self, req: Request<Q>) -> Result<Reply> {
        let tx = self.requests.as_ref().ok_or(Error::BadF)?;
        tx.send(req).map_err(|_| Error::BadF)?;
        // Wake a stack thread that waits on its queue (for frames) rather than on the channel.
        self.bell.store(true, Ordering::Release);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
        // No spinning of our own: crossbeam's `recv` spins briefly and yields a few times
        // before it parks, and a longer spin here (200 looks at the channel, as before) took
        // the CPU from the stack thread that has to answer whenever threads outnumber cores
        // (mtcp-demo --threaded on 2 cores: ~2-4 s instead of ~1.2 s).
        self.replies.recv().map_err(|_| Error::BadF)
    }

    /// Runs `f` on the stack thread (a boxed job: the control path).
    fn job<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Stack<Q>) -> R + Send + 'static,
    ) -> Result<R> {
        let job = Box::new(move |s: &mut Stack<Q>| Box::new(f(s)) as Box<dyn std::any::Any + Send>);
        match self.round_trip(Request::Job(job))? {
            Reply::Job(r) => r.downcast::<R>().map(|r| *r).map_err(|_| Error::BadF),
            _ => Err(Error::BadF),
        }
    }

    pub(crate) fn call(&mut self, call: crate::threaded::Call) -> Result<Answer> {
        match self.round_trip(Request::Call(call))? {
            Reply::Call(a) => Ok(a),
            _ => Err(Error::BadF),
        }
    }

    /// A data call: `buf` (and `lens`) go to the stack thread and come back with the result.
    fn io(&mut self, op: IoOp, sock: i32, len: usize) -> Result<usize> {
        let req = Request::Io {
            op,
            sock,
            len,
            buf: std::mem::take(&mut self.buf),
            lens: std::mem::take(&mut self.lens),
        };
        match self.round_trip(req)? {
            Reply::Io { res, buf, lens } => {
                self.buf = buf;
                self.lens = lens;
                res
            }
            _ => Err(Error::BadF),
        }
    }

    /// Room for `len` bytes at the start of the buffer (grown once, never shrunk).
    fn room(&mut self, len: usize) {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
    }

    fn recv(&mut self, sock: i32, out: &mut [u8], flags: i32) -> Result<usize> {
        self.room(out.len());
        let n = self.io(IoOp::Recv(flags), sock, out.len())?;
        let n = n.min(out.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        Ok(n)
    }

    fn readv(&mut self, sock: i32, iov: &mut [IoSliceMut<'_>]) -> Result<usize> {
        self.lens.clear();
        self.lens.extend(iov.iter().map(|b| b.len()));
        let total = self.lens.iter().sum();
        self.room(total);
        let n = self.io(IoOp::Readv, sock, total)?;
        // The parts fill in order, so what was read is the flat buffer's first `n` bytes.
        let mut at = 0;
        for b in iov.iter_mut() {
            if at >= n {
                break;
            }
            let k = b.len().min(n - at);
            b[..k].copy_from_slice(&self.buf[at..at + k]);
            at += k;
        }
        Ok(n)
    }

    fn write(&mut self, sock: i32, data: &[u8]) -> Result<usize> {
        self.buf.clear();
        self.buf.extend_from_slice(data);
        self.io(IoOp::Write, sock, data.len())
    }

    fn writev(&mut self, sock: i32, iov: &[IoSlice<'_>]) -> Result<usize> {
        self.buf.clear();
        self.lens.clear();
        for b in iov {
            self.buf.extend_from_slice(b);
            self.lens.push(b.len());
        }
        let len = self.buf.len();
        self.io(IoOp::Writev, sock, len)
    }

    fn epoll_collect(&mut self, epid: i32, out: &mut [EpollEvent]) -> Result<usize> {
        if self.events.len() < out.len() {
            self.events.resize(out.len(), EpollEvent::default());
        }
        let req = Request::Epoll {
            epid,
            len: out.len(),
            events: std::mem::take(&mut self.events),
        };
        match self.round_trip(req)? {
            Reply::Epoll { res, events } => {
                self.events = events;
                let n = res?.min(out.len());
                out[..n].copy_from_slice(&self.events[..n]);
                Ok(n)
            }
            _ => Err(Error::BadF),
        }
    }

    fn epoll_wait(
        &mut self,
        epid: i32,
        out: &mut [EpollEvent],
        deadline: Option<Instant>,
        poll_only: bool,
    ) -> Result<usize> {
        loop {
            let n = self.epoll_collect(epid, out)?;
            if n > 0 || poll_only {
                return Ok(n);
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(0);
            }
            let mut wait = EPOLL_RECHECK;
            if let Some(d) = deadline {
                wait = wait.min(d - now);
            }
            match self.wake.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Err(Error::BadF),
            }
        }
    }
}

impl<Q: Queue + 'static> Drop for Threads<Q> {
    fn drop(&mut self) {
        // Without a sender the stack thread's next look at the channel ends it.
        self.requests = None;
        self.bell.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
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
    /// mode the stack thread does this and the call only returns 0.
    pub fn poll(&mut self) -> usize {
        match &mut self.mode {
            Mode::Rtc(stack) => stack.poll(),
            Mode::Threaded(_) | Mode::Stopped => 0,
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
        let stack = match &mut self.mode {
            Mode::Rtc(stack) => stack,
            Mode::Threaded(t) => return t.epoll_wait(epid, out, deadline, timeout_ms == 0),
            Mode::Stopped => return Err(Error::Perm),
        };
        loop {
            // A doorbell rung after this look (a frame another core forwarded) ends the wait.
            mtcp_io::doorbell::clear();
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
        }
    }

    /// `mtcp_read`.
    pub fn read(&mut self, sockid: i32, buf: &mut [u8]) -> Result<usize> {
        self.recv(sockid, buf, 0)
    }

    /// `mtcp_recv`: `flags` 0 or `MSG_PEEK`.
    pub fn recv(&mut self, sockid: i32, buf: &mut [u8], flags: i32) -> Result<usize> {
        match &mut self.mode {
            Mode::Rtc(s) => s.recv(sockid, buf, flags),
            Mode::Threaded(t) => t.recv(sockid, buf, flags),
            Mode::Stopped => Err(Error::Perm),
        }
    }

    /// `mtcp_readv`.
    pub fn readv(&mut self, sockid: i32, iov: &mut [IoSliceMut<'_>]) -> Result<usize> {
        match &mut self.mode {
            Mode::Rtc(s) => s.readv(sockid, iov),
            Mode::Threaded(t) => t.readv(sockid, iov),
            Mode::Stopped => Err(Error::Perm),
        }
    }

    /// `mtcp_write`.
    pub fn write(&mut self, sockid: i32, data: &[u8]) -> Result<usize> {
        match &mut self.mode {
            Mode::Rtc(s) => s.write(sockid, data),
            Mode::Threaded(t) => t.write(sockid, data),
            Mode::Stopped => Err(Error::Perm),
        }
    }

    /// `mtcp_writev`.
    pub fn writev(&mut self, sockid: i32, iov: &[IoSlice<'_>]) -> Result<usize> {
        match &mut self.mode {
            Mode::Rtc(s) => s.writev(sockid, iov),
            Mode::Threaded(t) => t.writev(sockid, iov),
            Mode::Stopped => Err(Error::Perm),
        }
    }

    /// `mtcp_socket_ioctl` (`FIONREAD`, `FIONBIO`).
    pub fn socket_ioctl(&mut self, sockid: i32, request: u64, arg: Option<&mut i32>) -> Result<()> {
        let t = match &mut self.mode {
            Mode::Rtc(s) => return s.socket_ioctl(sockid, request, arg),
            Mode::Threaded(t) => t,
            Mode::Stopped => return Err(Error::Perm),
        };
        let io = Ioctl {
            sockid,
            request,
            arg: arg.as_deref().copied(),
        };
        match t.round_trip(Request::Ioctl(io))? {
            Reply::Call(Answer::Ioctl(res, value)) => {
                if let (Some(a), Some(v)) = (arg, value) {
                    *a = v;
                }
                res
            }
            _ => Err(Error::BadF),
        }
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
