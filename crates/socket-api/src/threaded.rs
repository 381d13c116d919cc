//! mTCP's threaded run mode: the stack thread that owns a context's [`Stack`], and the messages
//! the application thread exchanges with it.
//!
//! ```text
//!   application thread (Context)                      stack thread (owns the Stack)
//!     │ Request ──── bounded(1) crossbeam channel ────►  drain requests, serve each
//!     │ ◄──────────── bounded(1) ────────────── Reply    poll: rx, timers, events, tx
//!     │ ◄──────── bounded(1), try_send ───────── wake    (an epoll instance was notified)
//! ```
//!
//! Hot calls ([`Request::Io`], [`Request::Epoll`], [`Request::Call`]) are plain values: their
//! data travel in the context's own `Vec`s, which go to the stack thread with the request and
//! come back with the reply, so a warmed-up context allocates nothing per call. Anything else
//! goes as a boxed closure ([`Request::Job`], the control path of [`crate::Context::with`]).
//!
//! The idle stack thread waits for frames and requests together where its queue can
//! ([`mtcp_io::doorbell`]: the in-memory switch): the application rings the thread's doorbell
//! and unparks it after each request, a sender unparks it with a frame. Elsewhere it waits on
//! the request channel for a short while and polls the ports again.

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use mtcp_io::Queue;

use crate::context::Mode;
use crate::epoll::EpollEvent;
use crate::error::{Error, Result};
use crate::socket::SockType;
use crate::stack::Stack;

/// Turns in which a stack thread that has just run out of work gives the CPU away
/// (`yield_now`) and polls again, before it naps on the request channel. With more threads
/// than cores, the application thread it waits for usually needs that CPU.
const IDLE_YIELDS: u32 = 2;
/// How long the idle stack thread waits for a request before it polls the ports again.
const IDLE_WAIT: Duration = Duration::from_micros(20);
/// After this long without work, the idle wait grows to [`LONG_IDLE_WAIT`].
const LONG_IDLE_AFTER: Duration = Duration::from_millis(20);
/// The idle wait of a stack thread that has had nothing to do for a while.
const LONG_IDLE_WAIT: Duration = Duration::from_micros(200);
/// After this long without work, the idle wait grows to [`SLEEPY_IDLE_WAIT`].
const SLEEPY_IDLE_AFTER: Duration = Duration::from_secs(1);
/// The idle wait of a stack thread that has had nothing to do for a second: the first frame
/// after such a pause waits at most this long (an application call, not at all).
const SLEEPY_IDLE_WAIT: Duration = Duration::from_millis(1);

/// Longest the stack thread holds back data the application wrote while it waits for the
/// application's next call: its loop turn ends with a call that is not a write (`epoll_wait`,
/// `read`), and everything written in the turn then leaves together, as mTCP sends at the end of
/// its loop (epserver's header and body in one segment). Linux's autocorking holds data too.
/// Only an application whose last turn wrote more than once is waited for ([`Turns`]): a
/// single write per turn (echo) leaves at once, not one application call later, and so do
/// writes once a turn has written [`HOLD_BYTES`] (a full segment is ready: bulk is not held).
const WRITE_HOLD: Duration = Duration::from_millis(1);

/// A boxed call on the stack (control path).
pub(crate) type Job<Q> = Box<dyn FnOnce(&mut Stack<Q>) -> Box<dyn Any + Send> + Send>;

/// The data calls, whose bytes travel in [`Request::Io`]'s buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IoOp {
    /// `recv(sock, buf[..len], flags)` (`read` is `flags == 0`).
    Recv(i32),
    /// `readv` into `buf[..len]` cut at `lens`.
    Readv,
    /// `write(sock, buf[..len])`.
    Write,
    /// `writev` of `buf[..len]` cut at `lens`.
    Writev,
}

/// What the application thread asks of the stack thread.
pub(crate) enum Request<Q: Queue> {
    /// A data call on `sock`.
    Io {
        /// Which call.
        op: IoOp,
        /// The socket id.
        sock: i32,
        /// The bytes used of `buf`.
        len: usize,
        /// Data to write, or room to read into.
        buf: Vec<u8>,
        /// The vector's part lengths (`readv`, `writev`).
        lens: Vec<usize>,
    },
    /// Collect up to `len` ready events of `epid` into `events`.
    Epoll {
        /// The epoll instance.
        epid: i32,
        /// Room in `events`.
        len: usize,
        /// The events (returned with the reply).
        events: Vec<EpollEvent>,
    },
    /// A socket call whose arguments are plain values.
    Call(Call),
    /// `socket_ioctl`.
    Ioctl(Ioctl),
    /// Any other work on the stack.
    Job(Job<Q>),
}

/// The stack thread's answer to one [`Request`], in the same order.
pub(crate) enum Reply {
    /// The result of [`Request::Io`] and its buffers.
    Io {
        /// Bytes read or written, or the errno.
        res: Result<usize>,
        /// The buffer (read data at its start).
        buf: Vec<u8>,
        /// The lengths vector, for reuse.
        lens: Vec<usize>,
    },
    /// The result of [`Request::Epoll`] and its events.
    Epoll {
        /// Events collected, or the errno.
        res: Result<usize>,
        /// The events (the first `res` are valid).
        events: Vec<EpollEvent>,
    },
    /// The result of [`Request::Call`].
    Call(Answer),
    /// The result of [`Request::Job`].
    Job(Box<dyn Any + Send>),
}

macro_rules! calls {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident : $ty:ty),*) -> $ans:ident $ret:ty; )*) => {
        /// A socket call with plain-value arguments, named as the [`Stack`] method it runs.
        #[derive(Clone, Copy, Debug)]
        #[allow(missing_docs, non_camel_case_types)]
        pub(crate) enum Call {
            $( $name($($ty),*), )*
        }

        impl Call {
            fn run<Q: Queue>(self, stack: &mut Stack<Q>) -> Answer {
                match self {
                    $( Call::$name($($arg),*) => Answer::$ans(stack.$name($($arg),*)), )*
                }
            }
        }

        impl<Q: Queue + 'static> crate::context::Context<Q> {
            $(
                $(#[$doc])*
                pub fn $name(&mut self $(, $arg: $ty)*) -> $ret {
                    match &mut self.mode {
                        Mode::Rtc(s) => s.$name($($arg),*),
                        Mode::Threaded(t) => match t.call(Call::$name($($arg),*))? {
                            Answer::$ans(r) => r,
                            _ => Err(Error::BadF),
                        },
                        Mode::Stopped => Err(Error::Perm),
                    }
                }
            )*
        }
    };
}

/// The result of a [`Call`], by its type.
#[derive(Debug)]
pub(crate) enum Answer {
    /// `Result<()>`.
    Unit(Result<()>),
    /// A socket id or an `int` value.
    Int(Result<i32>),
    /// `accept`.
    Accept(Result<(i32, SocketAddrV4)>),
    /// An address.
    Addr(Result<SocketAddrV4>),
    /// `socket_ioctl` and its `int` argument after the call.
    Ioctl(Result<()>, Option<i32>),
    /// `tcp_info`.
    Info(Result<mtcp_tcp::TcpInfo>),
    /// `sock_type`.
    Type(Result<SockType>),
    /// `pipe`.
    Pipe(Result<[i32; 2]>),
}

calls! {
    /// `mtcp_socket`.
    fn socket(domain: i32, ty: i32, protocol: i32) -> Int Result<i32>;
    /// `mtcp_bind`.
    fn bind(sockid: i32, addr: SocketAddrV4) -> Unit Result<()>;
    /// `mtcp_listen`.
    fn listen(sockid: i32, backlog: i32) -> Unit Result<()>;
    /// `mtcp_accept`.
    fn accept(sockid: i32) -> Accept Result<(i32, SocketAddrV4)>;
    /// `mtcp_init_rss`.
    fn init_rss(saddr_base: Ipv4Addr, num_addr: i32, daddr: Ipv4Addr, dport: u16) -> Unit Result<()>;
    /// `mtcp_connect` (non-blocking: `Err(InProgress)`, then EPOLLOUT or EPOLLERR).
    fn connect(sockid: i32, addr: SocketAddrV4) -> Unit Result<()>;
    /// `mtcp_shutdown`.
    fn shutdown(sockid: i32, how: i32) -> Unit Result<()>;
    /// `mtcp_close`.
    fn close(sockid: i32) -> Unit Result<()>;
    /// `mtcp_abort`.
    fn abort(sockid: i32) -> Unit Result<()>;
    /// `mtcp_getsockname`.
    fn getsockname(sockid: i32) -> Addr Result<SocketAddrV4>;
    /// `mtcp_getpeername`.
    fn getpeername(sockid: i32) -> Addr Result<SocketAddrV4>;
    /// `mtcp_setsock_nonblock`.
    fn setsock_nonblock(sockid: i32) -> Unit Result<()>;
    /// `mtcp_getsockopt` for an `int` option.
    fn getsockopt(sockid: i32, level: i32, optname: i32) -> Int Result<i32>;
    /// `mtcp_setsockopt` for an `int` option.
    fn setsockopt(sockid: i32, level: i32, optname: i32, value: i32) -> Unit Result<()>;
    /// TCP_INFO-like statistics.
    fn tcp_info(sockid: i32) -> Info Result<mtcp_tcp::TcpInfo>;
    /// mTCP's socket type of an id.
    fn sock_type(sockid: i32) -> Type Result<SockType>;
    /// `mtcp_epoll_create`.
    fn epoll_create(size: i32) -> Int Result<i32>;
    /// `mtcp_epoll_create1`.
    fn epoll_create1(flags: i32) -> Int Result<i32>;
    /// `mtcp_epoll_ctl`.
    fn epoll_ctl(epid: i32, op: i32, sockid: i32, event: Option<EpollEvent>) -> Unit Result<()>;
    /// `mtcp_pipe`.
    fn pipe() -> Pipe Result<[i32; 2]>;
}

/// `socket_ioctl` with its `int` argument by value (copied in, copied back).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ioctl {
    pub sockid: i32,
    pub request: u64,
    pub arg: Option<i32>,
}

impl Ioctl {
    fn run<Q: Queue>(mut self, stack: &mut Stack<Q>) -> Answer {
        let res = stack.socket_ioctl(self.sockid, self.request, self.arg.as_mut());
        Answer::Ioctl(res, self.arg)
    }
}

/// `buf` cut into consecutive parts of `lens` bytes (shorter at the end if `buf` is).
fn parts_mut<'a>(mut buf: &'a mut [u8], lens: &'a [usize]) -> impl Iterator<Item = &'a mut [u8]> {
    lens.iter().map(move |&l| {
        let at = l.min(buf.len());
        let (part, rest) = std::mem::take(&mut buf).split_at_mut(at);
        buf = rest;
        part
    })
}

fn parts<'a>(mut buf: &'a [u8], lens: &'a [usize]) -> impl Iterator<Item = &'a [u8]> {
    lens.iter().map(move |&l| {
        let (part, rest) = buf.split_at(l.min(buf.len()));
        buf = rest;
        part
    })
}

fn serve<Q: Queue>(stack: &mut Stack<Q>, req: Request<Q>) -> Reply {
    match req {
        Request::Io {
            op,
            sock,
            len,
            mut buf,
            lens,
        } => {
            let res = match (op, buf.get_mut(..len)) {
                (_, None) => Err(Error::Inval),
                (IoOp::Recv(flags), Some(b)) => stack.recv(sock, b, flags),
                (IoOp::Readv, Some(b)) => stack.read_parts(sock, parts_mut(b, &lens)),
                (IoOp::Write, Some(b)) => stack.write(sock, b),
                (IoOp::Writev, Some(b)) => stack.write_parts(sock, parts(b, &lens)),
            };
            Reply::Io { res, buf, lens }
        }
        Request::Epoll {
            epid,
            len,
            mut events,
        } => {
            let res = match events.get_mut(..len) {
                Some(out) => stack.epoll_collect(epid, out),
                None => Err(Error::Inval),
            };
            Reply::Epoll { res, events }
        }
        Request::Call(c) => Reply::Call(c.run(stack)),
        Request::Ioctl(io) => Reply::Call(io.run(stack)),
        Request::Job(job) => Reply::Job(job(stack)),
    }
}

/// The bytes a write request offers (`None`: not a write).
fn write_len<Q: Queue>(req: &Request<Q>) -> Option<usize> {
    match req {
        Request::Io {
            op: IoOp::Write | IoOp::Writev,
            len,
            ..
        } => Some(*len),
        _ => None,
    }
}

/// Whether `reply` answers a write (of `write` bytes) that took them all: the application may
/// write more in this turn. A short or failed write ends the turn (it will wait for room).
fn took_all(write: Option<usize>, reply: &Reply) -> bool {
    matches!((write, reply), (Some(len), Reply::Io { res: Ok(n), .. }) if *n == len)
}

/// Bytes of small writes in one turn past which they are not held any more (about one MSS).
const HOLD_BYTES: usize = 1448;

/// What the stack thread learned of the application's turns: whether it writes several times
/// in one (then its writes are held, see [`WRITE_HOLD`]).
struct Turns {
    /// Whole writes since the application's last other call.
    writes: u32,
    /// Their bytes.
    bytes: usize,
    /// Hold writes: the last finished turn wrote more than once (at first: yes).
    hold: bool,
}

impl Turns {
    /// Notes a served request; true if it was a write that took all its bytes and the turn's
    /// writes are still small (the application may add to them in this turn).
    fn note(&mut self, write: Option<usize>, reply: &Reply) -> bool {
        if took_all(write, reply) {
            self.writes += 1;
            self.bytes += write.unwrap_or(0);
            if self.writes > 1 {
                self.hold = true;
            }
            return self.bytes < HOLD_BYTES;
        }
        if self.writes > 0 {
            self.hold = self.writes > 1;
        }
        self.writes = 0;
        self.bytes = 0;
        false
    }
}

/// After a write, serves the application's next calls without sending until one is not a write
/// that fitted whole, or [`WRITE_HOLD`] passes (see there). False once the application side is gone.
fn hold_writes<Q: Queue>(
    stack: &mut Stack<Q>,
    turns: &mut Turns,
    requests: &Receiver<Request<Q>>,
    replies: &Sender<Reply>,
) -> bool {
    let until = Instant::now() + WRITE_HOLD;
    loop {
        match requests.recv_deadline(until) {
            Ok(req) => {
                let write = write_len(&req);
                let reply = serve(stack, req);
                let more = turns.note(write, &reply);
                let _ = replies.send(reply);
                if !more {
                    return true;
                }
            }
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

/// The stack thread: owns `stack` until the application side drops its request sender.
pub(crate) fn run<Q: Queue>(
    mut stack: Stack<Q>,
    requests: Receiver<Request<Q>>,
    replies: Sender<Reply>,
    wake: Sender<()>,
    bell: Arc<AtomicBool>,
) {
    mtcp_io::doorbell::install(bell.clone());
    // A queue that heeds the doorbell says so when it waits: look once.
    if let Some(port) = stack.ports.first_mut() {
        let _ = port.queue.wait_rx(Duration::ZERO);
    }
    let heeded = mtcp_io::doorbell::heeded();
    let mut idle_since: Option<Instant> = None;
    let mut yields = 0;
    let mut turns = Turns {
        writes: 0,
        bytes: 0,
        hold: true,
    };
    loop {
        // Cleared before looking for requests: one sent after this look rings again. A swap,
        // so the look below is not ordered before the clear.
        bell.swap(false, Ordering::AcqRel);
        let mut served = 0;
        let mut wrote = false;
        loop {
            match requests.try_recv() {
                Ok(req) => {
                    let write = write_len(&req);
                    let reply = serve(&mut stack, req);
                    wrote = turns.note(write, &reply);
                    let _ = replies.send(reply);
                    served += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if wrote && turns.hold && !hold_writes(&mut stack, &mut turns, &requests, &replies) {
            return;
        }
        let work = stack.poll();
        if std::mem::take(&mut stack.epolls.notified) {
            // A full channel already holds a wake-up the application has not taken.
            let _ = wake.try_send(());
        }
        if work + served > 0 {
            idle_since = None;
            yields = 0;
            continue;
        }
        let since = *idle_since.get_or_insert_with(Instant::now);
        let idle = since.elapsed();
        // Just idle: let the other threads run (most likely the application thread whose next
        // call or whose peer's frames are this thread's next work), then look again.
        if yields < IDLE_YIELDS && idle < LONG_IDLE_AFTER {
            yields += 1;
            std::thread::yield_now();
            continue;
        }
        yields = 0;
        // Idle: sleep on the request channel, so an application call is served at once, and
        // poll the ports again after a short wait.
        let wait = if idle < LONG_IDLE_AFTER {
            IDLE_WAIT
        } else if idle < SLEEPY_IDLE_AFTER {
            LONG_IDLE_WAIT
        } else {
            SLEEPY_IDLE_WAIT
        };
        if heeded {
            // Frames and requests both end this wait (the loop then serves and polls).
            if let Some(port) = stack.ports.first_mut() {
                let _ = port.queue.wait_rx(wait);
            }
            continue;
        }
        match requests.recv_timeout(wait) {
            Ok(req) => {
                let write = write_len(&req);
                let reply = serve(&mut stack, req);
                let wrote = turns.note(write, &reply);
                let _ = replies.send(reply);
                idle_since = None;
                if wrote && turns.hold && !hold_writes(&mut stack, &mut turns, &requests, &replies)
                {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
