//! The core count against the ports' queues: the default (every online CPU) is lowered to what
//! the ports allow; a count that was asked for is not, and the error names the key to set.

use mtcp_io::mem::{MemConfig, MemSwitch};
use mtcp_socket_api::{Mtcp, MtcpConf};

fn conf(cores: Option<usize>) -> MtcpConf {
    let mut c = MtcpConf::parse("io = mem\nport = mem0\nmem0.ip = 198.18.0.1/24\n").unwrap();
    assert!(!c.num_cores_set);
    if let Some(n) = cores {
        c = MtcpConf::parse(&format!(
            "io = mem\nnum_cores = {n}\nport = mem0\nmem0.ip = 198.18.0.1/24\n"
        ))
        .unwrap();
        assert!(c.num_cores_set);
    }
    c
}

fn one_queue_switch() -> MemSwitch {
    MemSwitch::new(MemConfig {
        ports: 1,
        queues: 1,
        ..MemConfig::default()
    })
    .unwrap()
}

#[test]
fn the_default_core_count_fits_a_single_queue_port() {
    let mut c = conf(None);
    // As on a machine with more CPUs than the port has queues.
    c.num_cores = 4;
    let m = Mtcp::with_switch(c, &one_queue_switch(), 0).unwrap();
    assert_eq!(m.getconf().num_cores, 1);
    assert!(m.create_context(0).is_ok());
}

#[test]
fn an_asked_for_core_count_is_not_lowered_and_the_error_names_the_key() {
    let e = Mtcp::with_switch(conf(Some(2)), &one_queue_switch(), 0)
        .err()
        .expect("two cores on a one-queue port must fail");
    let text = e.to_string();
    assert!(text.contains("has 1 queues for 2 cores"), "{text}");
    assert!(text.contains("num_cores = 1"), "{text}");
}
