//! `mtcp_destroy_context` drains the context's connections, and while it does, every call on
//! the context fails with `EPERM` (mtcp-api.md). The C handle stays a pointer during the
//! drain, so the case is observable from a signal handler that runs on the destroying thread
//! (mTCP's scenario: a ^C handler calling into the stack) — the way tested here, in both run
//! modes. The drain is made to last by delaying every frame (`fault_delay_ms`): the FINs of
//! the open connection take several delays to be acknowledged, and meanwhile another thread
//! keeps signalling the destroying one until its handler has seen `EPERM`.
//!
//! The handler calls `mtcp_write` with a NULL buffer: on a live context that fails with
//! `EFAULT` before touching the stack, so the handler is harmless whenever it runs.

use std::ffi::{c_char, c_int, c_void};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use mtcp as _;

type Mctx = *mut c_void;

unsafe extern "C" {
    fn mtcp_init(config_file: *const c_char) -> c_int;
    fn mtcp_destroy();
    fn mtcp_create_context(cpu: c_int) -> Mctx;
    fn mtcp_destroy_context(mctx: Mctx);
    fn mtcp_register_signal(
        signum: c_int,
        handler: Option<unsafe extern "C" fn(c_int)>,
    ) -> Option<unsafe extern "C" fn(c_int)>;
    fn mtcp_socket(mctx: Mctx, domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn mtcp_bind(mctx: Mctx, sockid: c_int, addr: *const libc::sockaddr, len: u32) -> c_int;
    fn mtcp_listen(mctx: Mctx, sockid: c_int, backlog: c_int) -> c_int;
    fn mtcp_setsock_nonblock(mctx: Mctx, sockid: c_int) -> c_int;
    fn mtcp_connect(mctx: Mctx, sockid: c_int, addr: *const libc::sockaddr, len: u32) -> c_int;
    fn mtcp_accept(mctx: Mctx, sockid: c_int, addr: *mut libc::sockaddr, len: *mut u32) -> c_int;
    fn mtcp_write(mctx: Mctx, sockid: c_int, buf: *const c_char, len: usize) -> isize;
    fn mtcp_epoll_create(mctx: Mctx, size: c_int) -> c_int;
    fn mtcp_epoll_wait(
        mctx: Mctx,
        epid: c_int,
        events: *mut [u64; 2],
        maxevents: c_int,
        timeout: c_int,
    ) -> c_int;
}

/// The context the handler calls into.
static MCTX: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// Set once `mtcp_destroy_context` has returned: the handler must not touch the context.
static DESTROYED: AtomicBool = AtomicBool::new(false);
/// The errno of the handler's last call (0: none yet).
static SEEN: AtomicI32 = AtomicI32::new(0);
/// Set when a handler call saw `EPERM`.
static SAW_EPERM: AtomicBool = AtomicBool::new(false);

fn errno() -> c_int {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() }
}

unsafe extern "C" fn on_usr1(_: c_int) {
    if DESTROYED.load(Ordering::SeqCst) {
        return;
    }
    let saved = errno();
    let m = MCTX.load(Ordering::SeqCst);
    // SAFETY: `m` is live or being destroyed (DESTROYED is not set); a NULL buffer fails
    // before the stack is touched.
    let r = unsafe { mtcp_write(m, 0, std::ptr::null(), 1) };
    if r == -1 {
        let e = errno();
        SEEN.store(e, Ordering::SeqCst);
        if e == libc::EPERM {
            SAW_EPERM.store(true, Ordering::SeqCst);
        }
    }
    // SAFETY: restores this thread's errno.
    unsafe { *libc::__errno_location() = saved };
}

fn write_conf(dir: &Path, run_mode: &str) -> PathBuf {
    std::fs::write(
        dir.join("arp.conf"),
        "ARP_ENTRY 2\n198.18.0.1/32 02:00:00:00:00:01\n198.18.0.2/32 02:00:00:00:00:02\n",
    )
    .unwrap();
    std::fs::write(dir.join("route.conf"), "ROUTES 1\n198.18.0.1/32 mem1\n").unwrap();
    let conf = dir.join("mtcp.conf");
    std::fs::write(
        &conf,
        format!(
            "io = mem\nnum_cores = 1\nport = mem0 mem1\n\
             mem0.ip = 198.18.0.1/24\nmem1.ip = 198.18.0.2/24\nmax_concurrency = 100\n\
             rcvbuf = 16384\nsndbuf = 16384\ntcp_timewait = 0\n\
             fault_delay_ms = 100\ndrain_timeout_ms = 20000\n\
             run_mode = {run_mode}\narp_conf = {}\nroute_conf = {}\n",
            dir.join("arp.conf").display(),
            dir.join("route.conf").display()
        ),
    )
    .unwrap();
    conf
}

fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// One run: a connection inside one context (server on mem0, client on mem1), some data in
/// flight, then `mtcp_destroy_context` while another thread signals this one.
fn eperm_while_draining(run_mode: &str) {
    let dir = std::env::temp_dir().join(format!(
        "mtcp-capi-{}-destroy-{run_mode}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = write_conf(&dir, run_mode);
    let path = std::ffi::CString::new(conf.to_str().unwrap()).unwrap();
    DESTROYED.store(false, Ordering::SeqCst);
    SAW_EPERM.store(false, Ordering::SeqCst);
    SEEN.store(0, Ordering::SeqCst);
    // SAFETY: the calls below follow mtcp_api.h's contracts: valid C strings, sockaddrs of
    // the size given, buffers of the length given, and a context used by this thread only
    // (the handler runs on this thread).
    unsafe {
        assert_eq!(mtcp_init(path.as_ptr()), 0, "mtcp_init");
        let m = mtcp_create_context(0);
        assert!(!m.is_null(), "mtcp_create_context: errno {}", errno());
        MCTX.store(m, Ordering::SeqCst);
        let server = sockaddr(Ipv4Addr::new(198, 18, 0, 1), 8000);
        let l = mtcp_socket(m, libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(l >= 0);
        assert_eq!(mtcp_setsock_nonblock(m, l), 0);
        let len = std::mem::size_of::<libc::sockaddr_in>() as u32;
        let sa = (&raw const server).cast::<libc::sockaddr>();
        assert_eq!(mtcp_bind(m, l, sa, len), 0, "bind: errno {}", errno());
        assert_eq!(mtcp_listen(m, l, 4), 0);
        let c = mtcp_socket(m, libc::AF_INET, libc::SOCK_STREAM, 0);
        assert_eq!(mtcp_setsock_nonblock(m, c), 0);
        let r = mtcp_connect(m, c, sa, len);
        assert!(
            r == 0 || errno() == libc::EINPROGRESS,
            "connect: errno {}",
            errno()
        );
        let ep = mtcp_epoll_create(m, 4);
        assert!(ep >= 0);
        let mut evs = [[0u64; 2]; 4];
        let deadline = Instant::now() + Duration::from_secs(20);
        let a = loop {
            assert!(Instant::now() < deadline, "no connection");
            mtcp_epoll_wait(m, ep, evs.as_mut_ptr(), 4, 10);
            let a = mtcp_accept(m, l, std::ptr::null_mut(), std::ptr::null_mut());
            if a >= 0 {
                break a;
            }
            assert_eq!(errno(), libc::EAGAIN);
        };
        // No data: the FINs of both sides, each delayed, keep the drain going for a while.
        assert!(a >= 0);
        assert!(mtcp_register_signal(libc::SIGUSR1, Some(on_usr1)).is_none());
        let me = libc::pthread_self();
        let signaller = std::thread::spawn(move || {
            let mut sent = 0u32;
            while !SAW_EPERM.load(Ordering::SeqCst) && !DESTROYED.load(Ordering::SeqCst) {
                // SAFETY: `me` is the test thread, alive until it joins this one.
                libc::pthread_kill(me, libc::SIGUSR1);
                sent += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            sent
        });
        mtcp_destroy_context(m);
        DESTROYED.store(true, Ordering::SeqCst);
        let sent = signaller.join().unwrap();
        mtcp_register_signal(libc::SIGUSR1, None);
        assert!(
            SAW_EPERM.load(Ordering::SeqCst),
            "no EPERM during the drain ({sent} signals, last errno {})",
            SEEN.load(Ordering::SeqCst)
        );
        mtcp_destroy();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One test (the instance is process-global): both run modes in turn.
#[test]
fn calls_during_destroy_get_eperm() {
    eperm_while_draining("rtc");
    eperm_while_draining("threaded");
}
