//! mTCP's threaded run mode: a stack thread per context that polls the ports (receive, timers,
//! transmit) while the application thread makes its calls, with one hand-off per application
//! loop turn instead of one per call.
//!
//! ```text
//!   application thread (Threads)          slot: AtomicCell<Option<Box<Stack>>>        stack thread
//!     call: take the stack ──────────────►  ◄──── swap ────►  ◄─────────────── quiet app: take it,
//!           run it here, put it back                                           poll, wait for frames
//!     epoll_wait ── Request::Epoll ─── bounded(1) ──►  poll until the instance may have events
//!                ◄── Reply::Ready ──── bounded(1) ───  (or the deadline), put the stack back
//! ```
//!
//! The stack lives in one lock-free slot (`crossbeam_utils::atomic::AtomicCell` over a
//! `Box`: one atomic swap to take it, one to put it back). An application call takes it,
//! runs the call on the application thread (as mTCP's `mtcp_read`/`mtcp_write` copy from and
//! into the socket buffers themselves) and puts it back: no message, no context switch, no
//! allocation, and the errno of every call is exactly the run-to-completion one.
//!
//! The stack thread polls in two situations:
//! - the application is in `epoll_wait` (it hands the stack over with [`Request::Epoll`]):
//!   the stack thread polls, so everything the application wrote in its loop turn leaves
//!   together (mTCP sends at the end of its loop: epserver's header and body in one segment),
//!   and it hands the stack back once the instance may have events or the deadline passed;
//! - the application has gone quiet: no call for [`QUIET_CHECK`], or a loop turn longer than
//!   [`QUIET_CHECK`] x [`BUSY_CHECKS`] without `epoll_wait` (a program that spins on `read`).
//!   The stack thread then takes the stack from the slot and keeps the connections going
//!   (acknowledges, retransmits, accepts) while the application sleeps or computes. The
//!   application's next call finds the slot empty and asks for the stack back
//!   ([`Request::Want`]), once.
//!
//! Idle: the stack thread that holds the stack and has nothing to do yields the CPU
//! [`IDLE_YIELDS`] times (the thread it waits for usually needs it where threads outnumber
//! cores), then waits: on the in-memory switch for frames and requests together
//! ([`mtcp_io::doorbell`]: the application rings it with each request); on a queue with a
//! descriptor (AF_XDP, AF_PACKET) in `poll(2)` on it and on the doorbell's eventfd, so a
//! frame or a request ends the wait (inside `epoll_wait`, where no request comes, in the
//! queue's `wait_rx`); elsewhere parked (a request's ring unparks it); for 20 µs, 200 µs once
//! idle for 20 ms, 1 ms once idle for a second (1 ms on a descriptor once idle at all).
//! Waiting for the application's next request, it parks at once.
//!
//! Measured (`mtcp-bench --links mem --run-mode threaded --quick`, a 2-core machine shared
//! with other builds, so only large differences count): yielding a few times before parking
//! while the application has the stack cut `short64` to about 30 k conn/s from 60-300 k (a
//! yielding thread loses its CPU share on a loaded machine; a parked one is woken at once);
//! spinning on the reply, or polling again before handing the stack back, made no visible
//! difference. Two idle contexts use 7-8 % of one core (`tests/threaded_idle.rs`).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use crossbeam_utils::atomic::AtomicCell;
use mtcp_io::Queue;

use crate::epoll::EpollEvent;
use crate::error::{Error, Result};
use crate::stack::Stack;

/// How often the stack thread looks whether the application, which holds the slot between
/// its `epoll_wait`s, has gone quiet (made no call since the last look).
pub const QUIET_CHECK: Duration = Duration::from_micros(250);
/// Looks after which the stack thread takes the stack even from a busy application: a loop
/// turn this long without `epoll_wait` (about 1 ms) gets the stack polled once.
pub const BUSY_CHECKS: u32 = 4;
/// Turns in which a stack thread that has just run out of work gives the CPU away
/// (`yield_now`) and polls again, before it waits.
const IDLE_YIELDS: u32 = 2;
/// How long the idle stack thread waits for frames or a request before it polls again.
const IDLE_WAIT: Duration = Duration::from_micros(20);
/// After this long without work, the idle wait grows to [`LONG_IDLE_WAIT`].
const LONG_IDLE_AFTER: Duration = Duration::from_millis(20);
/// The idle wait of a stack thread that has had nothing to do for a while.
const LONG_IDLE_WAIT: Duration = Duration::from_micros(200);
/// After this long without work, the idle wait grows to [`SLEEPY_IDLE_WAIT`].
const SLEEPY_IDLE_AFTER: Duration = Duration::from_secs(1);
/// The idle wait of a stack thread that has had nothing to do for a second.
const SLEEPY_IDLE_WAIT: Duration = Duration::from_millis(1);

/// Longest wait of a stack thread in `epoll_wait` on a queue with a descriptor whose `poll`
/// ends with a frame (AF_PACKET, AF_XDP), once it has been idle for a while.
const FRAME_WAIT: Duration = Duration::from_millis(1);

/// Longest park of an application thread waiting for a reply (the stack thread unparks it
/// when it answers; this bounds the wait should the stack thread be gone).
const REPLY_PARK: Duration = Duration::from_millis(10);

/// A boxed call on the stack (control path).
type Job<Q> = Box<dyn FnOnce(&mut Stack<Q>) -> Box<dyn Any + Send> + Send>;

/// What the application thread asks of the stack thread. Every request leaves the stack in
/// the slot when it is answered.
enum Request<Q: Queue> {
    /// Put the stack back in the slot (the application found it empty).
    Want,
    /// Poll once (`Context::poll`).
    Poll,
    /// Poll until `epid` may have events or `deadline` passes (`epoll_wait`).
    Epoll {
        epid: i32,
        deadline: Option<Instant>,
    },
    /// Run a job on the stack thread (`Context::with`, the drain).
    Job(Job<Q>),
}

/// The stack thread's answer: the stack is in the slot again.
enum Reply {
    /// For [`Request::Want`], [`Request::Poll`] (the work done) and [`Request::Epoll`].
    Ready(usize),
    /// The result of [`Request::Job`].
    Job(Box<dyn Any + Send>),
}

/// What both threads see.
struct Shared<Q: Queue> {
    /// The stack, when neither thread is using it.
    slot: AtomicCell<Option<Box<Stack<Q>>>>,
    /// Calls the application has made (how the stack thread tells a quiet application).
    calls: AtomicU64,
    /// The stack thread's doorbell ([`mtcp_io::doorbell`]), rung with each request.
    bell: Arc<mtcp_io::doorbell::Bell>,
    /// The application thread waiting for a reply, unparked by the stack thread's answer.
    waiter: AtomicCell<Option<std::thread::Thread>>,
}

/// The application side of a threaded context.
pub(crate) struct Threads<Q: Queue + 'static> {
    shared: Arc<Shared<Q>>,
    requests: Option<Sender<Request<Q>>>,
    replies: Receiver<Reply>,
    thread: Option<JoinHandle<()>>,
    /// This side's count of calls (stored into `shared.calls`: a plain store per call).
    calls: u64,
}

impl<Q: Queue + 'static> Threads<Q> {
    /// Starts the stack thread `mtcp-stack-{cpu}` over `stack` (`ENOMEM` if it cannot start).
    pub(crate) fn spawn(cpu: usize, stack: Stack<Q>) -> Result<Threads<Q>> {
        let (req_tx, req_rx) = crossbeam_channel::bounded(1);
        let (rep_tx, rep_rx) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared {
            slot: AtomicCell::new(Some(Box::new(stack))),
            calls: AtomicU64::new(0),
            bell: Arc::default(),
            waiter: AtomicCell::new(None),
        });
        let driver = Driver {
            shared: shared.clone(),
            requests: req_rx,
            replies: rep_tx,
            held: None,
            seen_calls: 0,
            checks: 0,
            next_check: Instant::now() + QUIET_CHECK,
            probed: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("mtcp-stack-{cpu}"))
            .spawn(move || driver.run())
            .map_err(|_| Error::NoMem)?;
        // Neither thread blocks in crossbeam (whose first blocking wait on a thread or a
        // channel allocates its waiting context and waiter list): the application waits for
        // replies in `wait_reply`, the stack thread for requests in its idle wait.
        Ok(Threads {
            shared,
            requests: Some(req_tx),
            replies: rep_rx,
            thread: Some(thread),
            calls: 0,
        })
    }

    /// Sends `req` and waits for its reply; `EBADF` once the stack thread is gone.
    fn round_trip(&mut self, req: Request<Q>) -> Result<Reply> {
        let tx = self.requests.as_ref().ok_or(Error::BadF)?;
        // The stack thread unparks this thread when it answers.
        self.shared.waiter.store(Some(std::thread::current()));
        // Never blocks: a request is answered before the next is sent, so the channel is empty.
        tx.send(req).map_err(|_| Error::BadF)?;
        // Wake a stack thread that waits on its queue (for frames) rather than on the channel.
        if let Some(t) = &self.thread {
            mtcp_io::doorbell::ring(&self.shared.bell, t.thread());
        }
        self.wait_reply()
    }

    /// Spins and yields briefly (most replies come within microseconds), then parks until the
    /// stack thread's unpark. Not crossbeam's blocking `recv`: its first blocking wait on a
    /// thread allocates, which on a loaded machine fell inside an application's steady state.
    fn wait_reply(&self) -> Result<Reply> {
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            match self.replies.try_recv() {
                Ok(reply) => return Ok(reply),
                Err(TryRecvError::Disconnected) => return Err(Error::BadF),
                Err(TryRecvError::Empty) if !backoff.is_completed() => backoff.snooze(),
                Err(TryRecvError::Empty) => std::thread::park_timeout(REPLY_PARK),
            }
        }
    }

    /// Takes the stack from the slot, asking the stack thread for it if it holds it.
    fn take(&mut self) -> Result<Box<Stack<Q>>> {
        self.calls = self.calls.wrapping_add(1);
        self.shared.calls.store(self.calls, Ordering::Relaxed);
        loop {
            if let Some(s) = self.shared.slot.take() {
                return Ok(s);
            }
            // The stack thread puts it back. It may take it again before this thread runs
            // (a loaded machine: it then saw no call for a while): ask again.
            if let Reply::Job(_) = self.round_trip(Request::Want)? {
                return Err(Error::BadF);
            }
        }
    }

    /// Runs `f` on the stack on this thread (an API call).
    pub(crate) fn on<R>(&mut self, f: impl FnOnce(&mut Stack<Q>) -> Result<R>) -> Result<R> {
        let mut stack = self.take()?;
        let r = f(&mut stack);
        self.shared.slot.store(Some(stack));
        r
    }

    /// Runs `f` on the stack thread (a boxed job: the control path).
    pub(crate) fn job<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Stack<Q>) -> R + Send + 'static,
    ) -> Result<R> {
        let job = Box::new(move |s: &mut Stack<Q>| Box::new(f(s)) as Box<dyn Any + Send>);
        match self.round_trip(Request::Job(job))? {
            Reply::Job(r) => r.downcast::<R>().map(|r| *r).map_err(|_| Error::BadF),
            Reply::Ready(_) => Err(Error::BadF),
        }
    }

    /// One turn of the stack, on the stack thread; the work done (0 if the thread is gone).
    pub(crate) fn poll(&mut self) -> usize {
        match self.round_trip(Request::Poll) {
            Ok(Reply::Ready(n)) => n,
            _ => 0,
        }
    }

    /// `epoll_wait`: the stack thread polls until `epid` may have events or `deadline`
    /// passes (`poll_only`: one turn), then this thread collects them.
    pub(crate) fn epoll_wait(
        &mut self,
        epid: i32,
        out: &mut [EpollEvent],
        deadline: Option<Instant>,
        poll_only: bool,
    ) -> Result<usize> {
        loop {
            let until = if poll_only {
                Some(Instant::now())
            } else {
                deadline
            };
            let req = Request::Epoll {
                epid,
                deadline: until,
            };
            if let Reply::Job(_) = self.round_trip(req)? {
                return Err(Error::BadF);
            }
            let n = self.on(|s| s.epoll_collect(epid, out))?;
            if n > 0 || poll_only || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(n);
            }
        }
    }
}

impl<Q: Queue + 'static> Drop for Threads<Q> {
    fn drop(&mut self) {
        // Without a sender the stack thread's next look at the channel ends it; the stack
        // is dropped with the slot, or by the thread if it holds it.
        self.requests = None;
        if let Some(t) = self.thread.take() {
            mtcp_io::doorbell::ring(&self.shared.bell, t.thread());
            let _ = t.join();
        }
    }
}

/// How long an idle stack thread waits, after `idle` without work.
fn idle_wait(idle: Duration) -> Duration {
    if idle < LONG_IDLE_AFTER {
        IDLE_WAIT
    } else if idle < SLEEPY_IDLE_AFTER {
        LONG_IDLE_WAIT
    } else {
        SLEEPY_IDLE_WAIT
    }
}

/// When a stack thread ran out of work, and how often it yielded since.
#[derive(Default)]
struct Idle {
    since: Option<Instant>,
    yields: u32,
}

impl Idle {
    /// Work was done: not idle.
    fn reset(&mut self) {
        *self = Idle::default();
    }

    /// Nothing to do: `None` after yielding the CPU (look again at once), else how long to wait.
    fn next(&mut self) -> Option<Duration> {
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.yields < IDLE_YIELDS {
            self.yields += 1;
            std::thread::yield_now();
            return None;
        }
        self.yields = 0;
        Some(idle_wait(since.elapsed()))
    }
}

/// The stack thread.
struct Driver<Q: Queue + 'static> {
    shared: Arc<Shared<Q>>,
    requests: Receiver<Request<Q>>,
    replies: Sender<Reply>,
    /// The stack while this thread keeps it (the application was quiet).
    held: Option<Box<Stack<Q>>>,
    /// `shared.calls` at the last look.
    seen_calls: u64,
    /// Looks since the stack went back to the application.
    checks: u32,
    /// When to look next.
    next_check: Instant,
    /// Whether the queue was asked once whether it heeds the doorbell.
    probed: bool,
}

impl<Q: Queue + 'static> Driver<Q> {
    /// Runs until the application side drops its request sender.
    fn run(mut self) {
        mtcp_io::doorbell::install(self.shared.bell.clone());
        let mut idle = Idle::default();
        loop {
            let go_on = if self.held.is_some() {
                self.hold_turn(&mut idle)
            } else {
                self.app_turn()
            };
            if !go_on {
                return;
            }
        }
    }

    /// The application has the slot: wait for its request, and take the stack when it has
    /// gone quiet (see the module docs). False once the application side is gone.
    fn app_turn(&mut self) -> bool {
        // Cleared before looking for requests: one sent after this look rings again.
        self.shared.bell.swap(false, Ordering::AcqRel);
        match self.requests.try_recv() {
            Ok(req) => return self.serve(req),
            Err(TryRecvError::Disconnected) => return false,
            Err(TryRecvError::Empty) => {}
        }
        let now = Instant::now();
        if now < self.next_check {
            // The request's ring unparks this thread (not crossbeam's blocking receive,
            // which allocates the first time it blocks: see `spawn`).
            std::thread::park_timeout(self.next_check - now);
            return true;
        }
        self.next_check = now + QUIET_CHECK;
        let calls = self.shared.calls.load(Ordering::Relaxed);
        self.checks += 1;
        if calls == self.seen_calls || self.checks >= BUSY_CHECKS {
            // `None` while the application is inside a call: look again later.
            self.held = self.shared.slot.take();
        }
        self.seen_calls = calls;
        true
    }

    /// This thread keeps the stack: serve a request, or poll, or wait for frames and
    /// requests. False once the application side is gone.
    fn hold_turn(&mut self, idle: &mut Idle) -> bool {
        // Cleared before looking for requests: one sent after this look rings again.
        self.shared.bell.swap(false, Ordering::AcqRel);
        match self.requests.try_recv() {
            Ok(req) => return self.serve(req),
            Err(TryRecvError::Disconnected) => return false,
            Err(TryRecvError::Empty) => {}
        }
        let Some(stack) = self.held.as_mut() else {
            return true;
        };
        probe(&mut self.probed, stack);
        stack.epolls.notified = false;
        if stack.poll() > 0 {
            idle.reset();
            return true;
        }
        let Some(wait) = idle.next() else {
            return true;
        };
        // Frames and requests both end these waits (the loop then serves and polls).
        let port = stack.ports.first_mut();
        let fd = port.as_ref().and_then(|p| p.queue.rx_fd());
        match (port, fd) {
            (Some(port), _) if mtcp_io::doorbell::heeded() => {
                let _ = port.queue.wait_rx(wait);
            }
            // A queue with a descriptor (AF_XDP, AF_PACKET): `poll(2)` on it and on the
            // doorbell's eventfd, which a request writes while this thread sleeps there.
            (Some(_), Some(fd)) => {
                let _ = mtcp_io::doorbell::poll_fd(fd, wait);
            }
            // A request rings and unparks this thread.
            _ => std::thread::park_timeout(wait),
        }
        true
    }

    /// Answers `req` and leaves the stack in the slot. False once the application is gone.
    fn serve(&mut self, req: Request<Q>) -> bool {
        let Some(mut stack) = self.held.take().or_else(|| self.shared.slot.take()) else {
            // Only a dead stack loses the stack: nothing to answer with.
            return false;
        };
        probe(&mut self.probed, &mut stack);
        let reply = match req {
            Request::Want => Reply::Ready(0),
            Request::Poll => Reply::Ready(stack.poll()),
            Request::Epoll { epid, deadline } => {
                drive(&mut stack, epid, deadline);
                Reply::Ready(0)
            }
            Request::Job(job) => Reply::Job(job(&mut stack)),
        };
        self.shared.slot.store(Some(stack));
        self.seen_calls = self.shared.calls.load(Ordering::Relaxed);
        self.checks = 0;
        self.next_check = Instant::now() + QUIET_CHECK;
        let sent = self.replies.send(reply).is_ok();
        if let Some(waiter) = self.shared.waiter.take() {
            waiter.unpark();
        }
        sent
    }
}

/// Asks the queue once whether it heeds the doorbell (it says so when it waits): until then
/// [`mtcp_io::doorbell::heeded`] is false and the idle waits could not end with a frame.
fn probe<Q: Queue>(probed: &mut bool, stack: &mut Stack<Q>) {
    if !*probed {
        *probed = true;
        if let Some(port) = stack.ports.first_mut() {
            let _ = port.queue.wait_rx(Duration::ZERO);
        }
    }
}

/// Polls `stack` until `epid` may have events or `deadline` passes, at least once. The
/// application waits in `epoll_wait` meanwhile, so no request comes: the idle waits are on
/// the queue (frames) where it can wait, else timed.
fn drive<Q: Queue>(stack: &mut Stack<Q>, epid: i32, deadline: Option<Instant>) {
    let mut idle = Idle::default();
    loop {
        // A doorbell rung after this look (a frame another core forwarded) ends the wait.
        mtcp_io::doorbell::clear();
        let work = stack.poll();
        stack.epolls.notified = false;
        if stack.epoll_maybe_ready(epid) {
            return;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return;
        }
        if work > 0 {
            idle.reset();
            continue;
        }
        let Some(blind) = idle.next() else {
            continue;
        };
        let clip = |w: Duration| deadline.map_or(w, |d| w.min(d - now));
        match stack.ports.first_mut() {
            // A frame, and a frame another core forwarded, end this wait.
            Some(port) if mtcp_io::doorbell::heeded() => {
                let _ = port.queue.wait_rx(clip(blind));
            }
            // A frame ends this wait. The descriptor's `poll` counts milliseconds: the short
            // waits of the first idle moments are looks (the thread stays runnable, which on
            // a loaded machine keeps its share of the CPU), the longer ones block.
            Some(port) if port.queue.rx_fd().is_some() => {
                let w = if blind <= IDLE_WAIT {
                    blind
                } else {
                    FRAME_WAIT
                };
                let _ = port.queue.wait_rx(clip(w));
            }
            _ => std::thread::park_timeout(clip(blind)),
        }
    }
}
