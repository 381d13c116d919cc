//! `io = netmap` opens every `port` as a netmap port. Where the netmap module is not loaded (as on
//! our CI machines) `init` must fail with an error that names the backend and the port; where it
//! is loaded, two VALE ports open and hand out a context.

use std::path::Path;

use mtcp_socket_api::Mtcp;

#[test]
fn netmap_ports_open_or_fail_clearly() {
    let dir = std::env::temp_dir().join(format!("mtcp-netmap-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("mtcp.conf");
    std::fs::write(
        &conf,
        "io = netmap\nnum_cores = 1\nport = vale0:mtcpa\nvale0:mtcpa.ip = 198.18.60.1/24\n",
    )
    .unwrap();
    let result = Mtcp::init(&conf);
    std::fs::remove_dir_all(&dir).unwrap();
    if Path::new("/dev/netmap").exists() {
        let mtcp = result.expect("netmap is loaded: the VALE port opens");
        drop(mtcp);
    } else {
        let err = result
            .err()
            .expect("no /dev/netmap: init fails")
            .to_string();
        assert!(err.contains("netmap: port `vale0:mtcpa`"), "{err}");
        assert!(
            err.contains("/dev/netmap"),
            "the error should say what is missing: {err}"
        );
    }
}
