//! The process-global calls: `mtcp_init`, `mtcp_destroy`, configuration, contexts, CPU
//! affinity and signals. The instance sits behind a mutex taken only by these calls, never on
//! the per-socket path.

use std::ffi::{CStr, OsStr, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mtcp_socket_api::{Error, Mtcp, MtcpConf, MtcpConfC};

use crate::errno::{guard, guard_void, init_errno, set_errno};
use crate::{
    CONTEXT_DEAD, CONTEXT_DRAINING, CONTEXT_MAGIC, ContextBody, MtcpContext, magic, mctx_t,
    mtcp_sighandler_t,
};

/// The instance made by `mtcp_init`.
static INSTANCE: Mutex<Option<Arc<Mtcp>>> = Mutex::new(None);

/// Every context header ever made (never freed; see [`MtcpContext`]).
static TOMBSTONES: Mutex<Vec<&'static MtcpContext>> = Mutex::new(Vec::new());

/// `mtcp_setconf` values given before `mtcp_init` (fields > 0 apply).
static PENDING: Mutex<MtcpConfC> = Mutex::new(MtcpConfC {
    num_cores: 0,
    max_concurrency: 0,
    max_num_buffers: 0,
    rcvbuf_size: 0,
    sndbuf_size: 0,
    tcp_timewait: 0,
    tcp_timeout: 0,
});

/// Bumped by every registered signal; a context whose `epoll_wait` has not seen the current
/// value returns `EINTR` once.
pub(crate) static SIGNAL_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The application's handler of each signal (a function pointer, 0 for none).
static HANDLERS: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn instance() -> Option<Arc<Mtcp>> {
    lock(&INSTANCE).clone()
}

/// Builds the instance from the file with what `mtcp_setconf` gave before init applied over
/// it (mTCP's order: `num_cores` from `mtcp_setconf` overrides the file's), on every backend.
fn open(path: &Path, pending: &MtcpConfC) -> Result<Mtcp, c_int> {
    let mut conf = MtcpConf::load(path).map_err(|e| {
        eprintln!("mtcp_init: {e}");
        libc::EINVAL
    })?;
    pending.apply(&mut conf, true);
    let mtcp = Mtcp::from_conf(conf).map_err(|e| {
        eprintln!("mtcp_init: {e}");
        init_errno(&e)
    })?;
    // Pool sizes and timeouts set before init apply to every context.
    let _ = mtcp.setconf(pending);
    Ok(mtcp)
}

/// `int mtcp_init(const char *config_file)`: reads mtcp.conf (and the arp.conf / route.conf it
/// names) and opens the I/O backend. `EFAULT` for NULL, `EEXIST` if already initialized,
/// `EINVAL` for a bad configuration (the reason is printed on stderr).
///
/// # Safety
/// `config_file` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_init(config_file: *const c_char) -> c_int {
    if config_file.is_null() {
        set_errno(libc::EFAULT);
        return -1;
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    let path = unsafe { CStr::from_ptr(config_file) };
    let path = Path::new(OsStr::from_bytes(path.to_bytes()));
    guard(|| {
        let mut slot = lock(&INSTANCE);
        if slot.is_some() {
            return Err(Error::Exist);
        }
        let pending = *lock(&PENDING);
        match open(path, &pending) {
            Ok(m) => {
                *slot = Some(Arc::new(m));
                Ok(0)
            }
            Err(errno) => {
                drop(slot);
                set_errno(errno);
                Ok(-1)
            }
        }
    })
}

/// `void mtcp_destroy(void)`: forgets the instance (contexts still alive keep their queues
/// until `mtcp_destroy_context`); `mtcp_init` may be called again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_destroy() {
    guard_void(|| {
        lock(&INSTANCE).take();
        *lock(&PENDING) = MtcpConfC::default();
    });
}

/// `int mtcp_getconf(struct mtcp_conf *conf)`: the configuration in effect (before
/// `mtcp_init`: the defaults with what `mtcp_setconf` gave). `EINVAL` for NULL.
///
/// # Safety
/// `conf` is NULL or points to a writable `struct mtcp_conf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_getconf(conf: *mut MtcpConfC) -> c_int {
    guard(|| {
        if conf.is_null() {
            return Err(Error::Inval);
        }
        let value = match instance() {
            Some(m) => m.getconf(),
            None => {
                let mut c = MtcpConf::default();
                lock(&PENDING).apply(&mut c, true);
                MtcpConfC::from(&c)
            }
        };
        // SAFETY: non-null and writable by the caller's contract; unaligned-safe write.
        unsafe { conf.write_unaligned(value) };
        Ok(0)
    })
}

/// `int mtcp_setconf(const struct mtcp_conf *conf)`: applies the fields > 0; `num_cores`
/// only before `mtcp_init`, pool sizes before the first context. `EINVAL` for NULL.
///
/// # Safety
/// `conf` is NULL or points to a readable `struct mtcp_conf`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_setconf(conf: *const MtcpConfC) -> c_int {
    guard(|| {
        if conf.is_null() {
            return Err(Error::Inval);
        }
        // SAFETY: non-null and readable by the caller's contract.
        let c = unsafe { conf.read_unaligned() };
        match instance() {
            Some(m) => m.setconf(&c)?,
            None => {
                let mut p = lock(&PENDING);
                let keep = |dst: &mut i32, src: i32| {
                    if src > 0 {
                        *dst = src;
                    }
                };
                keep(&mut p.num_cores, c.num_cores);
                keep(&mut p.max_concurrency, c.max_concurrency);
                keep(&mut p.max_num_buffers, c.max_num_buffers);
                keep(&mut p.rcvbuf_size, c.rcvbuf_size);
                keep(&mut p.sndbuf_size, c.sndbuf_size);
                keep(&mut p.tcp_timewait, c.tcp_timewait);
                keep(&mut p.tcp_timeout, c.tcp_timeout);
            }
        }
        Ok(0)
    })
}

/// `int mtcp_core_affinitize(int cpu)`: pins the calling thread to `cpu`. `EINVAL` for a
/// negative or absent CPU.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_core_affinitize(cpu: c_int) -> c_int {
    guard(|| {
        if cpu < 0 || cpu as usize >= libc::CPU_SETSIZE as usize {
            return Err(Error::Inval);
        }
        // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `cpu` is below CPU_SETSIZE (checked above).
        unsafe { libc::CPU_SET(cpu as usize, &mut set) };
        // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
        let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
        // On failure libc has set errno.
        Ok(if r == 0 { 0 } else { -1 })
    })
}

/// `mctx_t mtcp_create_context(int cpu)`: the context of core `cpu`; NULL with `EINVAL` if
/// not initialized or `cpu >= num_cores`, `EEXIST` if that core's context exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_create_context(cpu: c_int) -> mctx_t {
    guard(|| {
        let mtcp = instance().ok_or(Error::Inval)?;
        let cpu_index = usize::try_from(cpu).map_err(|_| Error::Inval)?;
        let inner = mtcp.create_context(cpu_index)?;
        let body = Box::into_raw(Box::new(ContextBody {
            seen_signals: SIGNAL_GENERATION.load(Ordering::Relaxed),
            inner,
            block: Default::default(),
        }));
        // The header is never freed: it is the tombstone that keeps every later call on this
        // handle (after `mtcp_destroy_context`) reading live memory. It stays reachable from
        // `TOMBSTONES` (so leak checkers do not report it).
        let header: &'static MtcpContext = Box::leak(Box::new(MtcpContext {
            cpu,
            magic: AtomicU64::new(CONTEXT_MAGIC),
            body: AtomicPtr::new(body),
        }));
        lock(&TOMBSTONES).push(header);
        Ok(std::ptr::from_ref(header).cast_mut())
    })
}

/// `void mtcp_destroy_context(mctx_t mctx)`: stops the context once its flows drain, then
/// frees it. Every socket is closed (listeners reset their unaccepted connections; streams
/// send their buffered data and a FIN), and the stack keeps running until every connection's
/// data and FIN are acknowledged or `drain_timeout_ms` (mtcp.conf, default 5 s) has passed;
/// then the stack thread, if any, is joined. While it drains, every call on the context
/// (from a signal handler, or another thread) fails with `EPERM`, a second
/// `mtcp_destroy_context` included. NULL or an already destroyed context is ignored
/// (`errno` = `EINVAL`).
///
/// # Safety
/// `mctx` is NULL or was returned by `mtcp_create_context`; no other thread is inside a call
/// on it when the destroy begins.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_destroy_context(mctx: mctx_t) {
    guard_void(|| {
        if mctx.is_null() {
            set_errno(libc::EINVAL);
            return;
        }
        // SAFETY: non-null; forwarded contract.
        let mark = unsafe { magic(mctx) };
        if let Err(now) = mark.compare_exchange(
            CONTEXT_MAGIC,
            CONTEXT_DRAINING,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            let e = if now == CONTEXT_DRAINING {
                Error::Perm
            } else {
                Error::Inval
            };
            set_errno(e.errno());
            return;
        }
        // SAFETY: the header is never freed; `body` is only swapped here, after the state
        // left `CONTEXT_MAGIC` (which only this call could do), so it is still the live Box.
        let body = unsafe { &*std::ptr::addr_of!((*mctx).body) }.load(Ordering::SeqCst);
        // SAFETY: live (above) and ours alone from here: calls that look at the context see
        // `CONTEXT_DRAINING` and stay away from the body.
        if let Some(b) = unsafe { body.as_mut() } {
            // A drain cut short by its deadline is not an error of this call (it returns
            // void).
            let _ = b.inner.stop();
        }
        mark.store(CONTEXT_DEAD, Ordering::SeqCst);
        // SAFETY: as above; the header is never freed.
        let body = unsafe { &*std::ptr::addr_of!((*mctx).body) }
            .swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !body.is_null() {
            // SAFETY: made by `Box::into_raw` in `mtcp_create_context` and freed only here,
            // once (the compare-exchange above admits one destroy); the context is stopped,
            // so dropping it does not drain again.
            drop(unsafe { Box::from_raw(body) });
        }
    });
}

extern "C" fn on_signal(signum: c_int) {
    SIGNAL_GENERATION.fetch_add(1, Ordering::SeqCst);
    let h = HANDLERS
        .get(signum as usize)
        .map_or(0, |h| h.load(Ordering::SeqCst));
    if h != 0 {
        // SAFETY: only `mtcp_register_signal` stores here, and it stores a non-null
        // `unsafe extern "C" fn(c_int)` given by the application.
        let f: unsafe extern "C" fn(c_int) = unsafe { std::mem::transmute(h) };
        // SAFETY: the application's own signal handler, called with its signal.
        unsafe { f(signum) };
    }
}

/// `mtcp_sighandler_t mtcp_register_signal(int signum, mtcp_sighandler_t handler)`: on
/// `signum`, every context's next (or current) `mtcp_epoll_wait` returns -1 with `EINTR`, and
/// `handler` is called. Returns the previous handler (NULL with `EINVAL` for a bad signal).
///
/// # Safety
/// `handler` is NULL or a function safe to call from a signal handler.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtcp_register_signal(
    signum: c_int,
    handler: mtcp_sighandler_t,
) -> mtcp_sighandler_t {
    let ok = (1..HANDLERS.len() as c_int).contains(&signum)
        && signum != libc::SIGKILL
        && signum != libc::SIGSTOP;
    if !ok {
        set_errno(libc::EINVAL);
        return None;
    }
    let new = handler.map_or(0, |f| f as usize);
    let old = HANDLERS[signum as usize].swap(new, Ordering::SeqCst);
    // SAFETY: sigaction is plain data; all-zero is "no flags, empty mask".
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = on_signal as extern "C" fn(c_int) as usize;
    // SAFETY: `act.sa_mask` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut act.sa_mask) };
    act.sa_flags = libc::SA_RESTART;
    // SAFETY: valid signal number (checked) and a fully initialized `act`; the old action is
    // not needed.
    if unsafe { libc::sigaction(signum, &act, std::ptr::null_mut()) } != 0 {
        HANDLERS[signum as usize].store(old, Ordering::SeqCst);
        return None;
    }
    if old == 0 {
        None
    } else {
        // SAFETY: the stored value came from a non-null `unsafe extern "C" fn(c_int)`.
        Some(unsafe { std::mem::transmute::<usize, unsafe extern "C" fn(c_int)>(old) })
    }
}
