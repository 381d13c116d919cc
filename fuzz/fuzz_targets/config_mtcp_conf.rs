//! Any bytes as an mtcp.conf: the parser returns a configuration or an error with a line, never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtcp_socket_api::config::MtcpConf;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err((line, problem)) = MtcpConf::parse(text) {
            assert!(line <= text.lines().count());
            assert!(!problem.is_empty());
        }
    }
});
