//! An idle threaded context does not spin: its stack thread waits for frames and requests
//! (spin, then park), so a process whose contexts have nothing to do does not burn a core per
//! context. Alone in its file: the CPU time measured is the whole process's.

mod common;

use std::time::{Duration, Instant};

use mtcp_socket_api::{EPOLL_CTL_ADD, EpollEvent, events};

/// CPU time (user + system) of the whole process so far.
fn process_cpu() -> Duration {
    // SAFETY: `getrusage` writes one `rusage` into the zeroed value it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut u), 0);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Share of one core the process used while `f` ran.
fn cpu_share(f: impl FnOnce()) -> f64 {
    let (cpu, wall) = (process_cpu(), Instant::now());
    f();
    (process_cpu() - cpu).as_secs_f64() / wall.elapsed().as_secs_f64()
}

/// Two threaded contexts with a connection between them, idle for a second and a half: once
/// while the application makes no call, once while it is blocked in `epoll_wait`. A spinning
/// stack thread would use a whole core each (2.0 here); waiting ones use a few percent.
#[test]
fn idle_threaded_contexts_do_not_spin() {
    let (_sw, server, client) = common::pair("threaded");
    let mut s = server.create_context(0).unwrap();
    let mut c = client.create_context(0).unwrap();
    let l = s.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let addr = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(198, 18, 0, 1), 80);
    s.bind(l, addr).unwrap();
    s.listen(l, 4).unwrap();
    let ep = s.epoll_create(4).unwrap();
    let ev = EpollEvent {
        events: events::IN,
        data: l as u64,
    };
    s.epoll_ctl(ep, EPOLL_CTL_ADD, l, Some(ev)).unwrap();
    let k = c.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let _ = c.connect(k, addr);
    let mut evs = [EpollEvent::default(); 4];
    assert_eq!(s.epoll_wait(ep, &mut evs, 5_000), Ok(1));
    assert!(s.accept(l).is_ok());

    let no_calls = cpu_share(|| std::thread::sleep(Duration::from_millis(1500)));
    let other = s.epoll_create(1).unwrap();
    let in_epoll_wait = cpu_share(|| assert_eq!(s.epoll_wait(other, &mut evs, 1500), Ok(0)));
    eprintln!("idle: {no_calls:.3} of a core without calls, {in_epoll_wait:.3} in epoll_wait");
    assert!(
        no_calls < 0.3 && in_epoll_wait < 0.3,
        "idle contexts used {no_calls:.2} and {in_epoll_wait:.2} of a core"
    );
}
