//! Calls on a destroyed context read only its tombstone: `EINVAL`, never freed memory. Run
//! under AddressSanitizer by `scripts/test-all` (`RUSTFLAGS=-Zsanitizer=address`), where a
//! read of the freed body would abort the test with `heap-use-after-free`.

use std::ffi::CString;

use crate::global::{mtcp_create_context, mtcp_destroy, mtcp_destroy_context, mtcp_init};
use crate::socket::mtcp_socket;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[test]
fn a_destroyed_context_gives_einval_on_every_later_call() {
    let dir = std::env::temp_dir().join(format!("mtcp-capi-handle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("mtcp.conf");
    std::fs::write(
        &conf,
        "io = mem\nnum_cores = 1\nport = mem0\nmem0.ip = 198.18.0.1/24\n\
         max_concurrency = 64\ndrain_timeout_ms = 0\n",
    )
    .unwrap();
    let path = CString::new(conf.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; the handles come from mtcp_create_context, one thread.
    unsafe {
        assert_eq!(mtcp_init(path.as_ptr()), 0);
        let m = mtcp_create_context(0);
        assert!(!m.is_null());
        assert_eq!((*m).cpu, 0);
        let s = mtcp_socket(m, libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(s >= 0);
        mtcp_destroy_context(m);
        // Allocate and free a little so the freed body's memory is likely reused.
        let churn: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 512]).collect();
        drop(churn);
        for _ in 0..3 {
            assert_eq!(mtcp_socket(m, libc::AF_INET, libc::SOCK_STREAM, 0), -1);
            assert_eq!(errno(), libc::EINVAL);
            crate::errno::set_errno(0);
            mtcp_destroy_context(m);
            assert_eq!(errno(), libc::EINVAL);
            assert_eq!(crate::epoll::mtcp_epoll_create(m, 16), -1);
            assert_eq!(errno(), libc::EINVAL);
        }
        // The tombstone still answers `mctx->cpu`.
        assert_eq!((*m).cpu, 0);
        mtcp_destroy();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
