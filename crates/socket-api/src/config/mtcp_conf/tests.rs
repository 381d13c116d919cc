use super::*;

const SAMPLE: &str = "\
# mTCP configuration
io = mem
num_cores = 2
port = mem0 mem1
mem0.ip = 198.18.0.1/24
mem1.ip = 198.18.1.1
mem1.netmask = 255.255.255.0
mem1.mac = 02:00:00:00:01:01
max_concurrency = 1000   # per core
max_num_buffers = 1000
rcvbuf = 16384
tcp_timeout = -1
tcp_timewait = 2
stat_print = mem0
run_mode = rtc
";

#[test]
fn sample_parses() {
    let c = MtcpConf::parse(SAMPLE).unwrap();
    assert_eq!(c.io, IoBackend::Mem);
    assert_eq!(c.num_cores, 2);
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.ports[0].ip, Some(Ipv4Addr::new(198, 18, 0, 1)));
    assert_eq!(c.ports[0].netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(c.ports[1].netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(c.ports[1].mac, Some(EthernetAddress([2, 0, 0, 0, 1, 1])));
    assert_eq!(c.max_concurrency, 1000);
    assert_eq!((c.rcvbuf_size, c.sndbuf_size), (16384, 16384));
    assert_eq!(c.tcp_timeout_secs, None);
    assert_eq!(c.tcp_timewait_secs, 2);
    assert_eq!(c.stat_print, vec!["mem0".to_string()]);
    assert_eq!(c.run_mode, RunMode::RunToCompletion);
}

#[test]
fn xdp_keys() {
    use mtcp_io_xdp::{XdpMode, ZeroCopy};
    let c = MtcpConf::parse(
        "io = afxdp\nport = veth0\nveth0.ip = 198.18.0.2/24\nxdp_mode = generic\n\
         xdp_zero_copy = off\nxdp_frames = 8192\nxdp_fill_size = 1024\nxdp_ring_size = 512\n\
         xdp_pass_foreign = 1",
    )
    .unwrap();
    assert_eq!(c.io, IoBackend::AfXdp);
    assert_eq!(
        (c.xdp.mode, c.xdp.zero_copy),
        (XdpMode::Generic, ZeroCopy::Off)
    );
    let d = c.xdp.device(&c.ports[0], 2);
    assert!(d.pass_foreign);
    assert_eq!(d.local_addrs, [Ipv4Addr::new(198, 18, 0, 2)]);
    assert_eq!(
        (d.queues, d.frame_count, d.fill_size, d.ring_size),
        (2, 8192, 1024, 512)
    );
    assert_eq!(d.validate(), Ok(()));
    assert_eq!(MtcpConf::default().xdp.mode, XdpMode::Auto);
    for (text, want) in [
        ("xdp_mode = turbo", "bad xdp_mode `turbo`"),
        ("xdp_zero_copy = maybe", "bad xdp_zero_copy"),
        ("xdp_frames = 1000", "power of two"),
        ("xdp_ring_size = 32", "power of two"),
        ("xdp_fill_size = x", "not a valid number"),
        ("xdp_bogus = 1", "unknown key `xdp_bogus`"),
        ("xdp_pass_foreign = 2", "not 0 or 1"),
    ] {
        let err = MtcpConf::parse(text).unwrap_err().1;
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn afpacket_rx_frames_key_and_default() {
    let port = |text: &str| {
        let c = MtcpConf::parse(&format!("io = afpacket\nport = veth0\n{text}")).unwrap();
        let d = c.afpacket_device(&c.ports[0], 2);
        (d.queues, d.rx_ring_bytes, d.rx_frames, d.rx_ring_limit)
    };
    let dev = mtcp_io::afpacket::AfPacketConfig::new("x");
    let (bytes, limit) = (dev.rx_ring_bytes, dev.rx_ring_limit);
    // The device's bytes, or a slot per connection (a power of two, at most 16384) within its
    // limit.
    assert_eq!(port(""), (2, bytes, 16384, limit));
    assert_eq!(port("max_concurrency = 5000"), (2, bytes, 8192, limit));
    assert_eq!(port("max_concurrency = 100"), (2, bytes, 128, limit));
    assert_eq!(port("max_concurrency = 100000"), (2, bytes, 16384, limit));
    // Given: that many slots, no more and no limit.
    assert_eq!(
        port("afpacket_rx_frames = 65536"),
        (2, 0, 65536, usize::MAX)
    );
    for text in [
        "afpacket_rx_frames = 1000",
        "afpacket_rx_frames = 32",
        "afpacket_rx_frames = 524288",
    ] {
        let err = MtcpConf::parse(text).unwrap_err().1;
        assert!(err.contains("power of two in 64..=262144"), "{text}: {err}");
    }
}

#[test]
fn drain_timeout_key() {
    assert_eq!(MtcpConf::default().drain_timeout, DEFAULT_DRAIN_TIMEOUT);
    let c = MtcpConf::parse("drain_timeout_ms = 250").unwrap();
    assert_eq!(c.drain_timeout, Duration::from_millis(250));
    let c = MtcpConf::parse("drain_timeout_ms = 0").unwrap();
    assert_eq!(c.drain_timeout, Duration::ZERO);
    assert!(MtcpConf::parse("drain_timeout_ms = 600001").is_err());
    assert!(MtcpConf::parse("drain_timeout_ms = -1").is_err());
}

#[test]
fn tcp_cc_key() {
    use mtcp_tcp::cc::CcAlgorithm;
    assert_eq!(MtcpConf::default().tcp_cc, CcAlgorithm::Cubic);
    let c = MtcpConf::parse("tcp_cc = newreno").unwrap();
    assert_eq!(c.tcp_cc, CcAlgorithm::NewReno);
    let e = MtcpConf::parse("tcp_cc = vegas").unwrap_err();
    assert!(e.1.contains("vegas"), "{e:?}");
    assert_eq!(MtcpConf::default().tcp_rto_min_ms, 200);
    let c = MtcpConf::parse("tcp_rto_min_ms = 5").unwrap();
    assert_eq!(c.tcp_rto_min_ms, 5);
    assert!(MtcpConf::parse("tcp_rto_min_ms = 0").is_err());
    assert_eq!(MtcpConf::default().tcp_mtu, None);
    assert_eq!(
        MtcpConf::parse("tcp_mtu = 1500").unwrap().tcp_mtu,
        Some(1500)
    );
    for bad in ["tcp_mtu = 500", "tcp_mtu = 70000", "tcp_mtu = big"] {
        assert!(MtcpConf::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn defaults_are_mtcps() {
    let c = MtcpConf::parse("").unwrap();
    assert_eq!((c.max_concurrency, c.max_num_buffers), (10_000, 10_000));
    assert_eq!((c.rcvbuf_size, c.sndbuf_size), (8192, 8192));
    assert_eq!((c.tcp_timeout_secs, c.tcp_timewait_secs), (Some(30), 0));
    assert_eq!(c.tcp_fin_timeout_secs, 60);
}

#[test]
fn fin_timeout_key() {
    let c = MtcpConf::parse("tcp_timewait = 0\ntcp_fin_timeout = 15").unwrap();
    assert_eq!((c.tcp_timewait_secs, c.tcp_fin_timeout_secs), (0, 15));
    let (line, err) = MtcpConf::parse("tcp_fin_timeout = 0").unwrap_err();
    assert_eq!(line, 1);
    assert!(err.contains("at least 1 second"), "{err}");
}

#[test]
fn every_error_names_its_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("io = mem\nbogus = 1", 2, "unknown key `bogus`"),
        ("num_cores", 1, "expected `key = value`"),
        ("num_cores =", 1, "has no value"),
        ("num_cores = two", 1, "not a valid number"),
        ("num_cores = 0", 1, "at least 1"),
        ("io = psio", 1, "unknown io backend"),
        ("core_mask = xyz", 1, "not hexadecimal"),
        ("core_mask = 0", 1, "selects no core"),
        ("rcvbuf = 10", 1, "at least 64"),
        ("tcp_timeout = -5", 1, "-1 (off)"),
        ("num_cores = 1\nnum_cores = 2", 2, "set twice"),
        ("port = a\nb.ip = 198.18.0.1", 2, "not in the `port` list"),
        ("port = a\na.ip = 198.18.0.300", 2, "not an IPv4 address"),
        ("port = a\na.ip = 198.18.0.1/33", 2, "prefix length"),
        ("port = a\na.netmask = 255.0.255.0", 2, "contiguous"),
        ("port = a\na.mac = 02:00:00:00:00", 2, "not a MAC address"),
        ("port = a\na.mtu = 9000", 2, "unknown port setting"),
        ("port = a\nstat_print = b", 2, "not in the `port` list"),
        ("run_mode = fast", 1, "unknown run_mode"),
        (
            "io = mem\nfault_loss = 1.5",
            2,
            "fault_loss: `1.5` is not a fraction",
        ),
        ("fault_loss = -0.1", 1, "not a fraction"),
        ("fault_loss = NaN", 1, "not a fraction"),
        (
            "fault_duplicate = lots",
            1,
            "fault_duplicate: `lots` is not a fraction",
        ),
        (
            "\nfault_reorder = 2",
            2,
            "fault_reorder: `2` is not a fraction",
        ),
        (
            "fault_delay_ms = -1",
            1,
            "fault_delay_ms: `-1` is not a valid number",
        ),
        ("fault_delay_ms = 0.5", 1, "not a valid number"),
        ("fault_delay_ms = 10001", 1, "at most 10000 ms"),
        ("fault_seed = x", 1, "fault_seed: `x` is not a valid number"),
        ("fault_direction = up", 1, "unknown fault_direction"),
        ("fault_seed = 1\nfault_seed = 2", 2, "set twice"),
    ];
    for (text, line, problem) in cases {
        let (l, p) = MtcpConf::parse(text).unwrap_err();
        assert_eq!(l, *line, "{text}: {p}");
        assert!(p.contains(problem), "{text}: `{p}` lacks `{problem}`");
    }
}

#[test]
fn fault_keys_parse() {
    let c = MtcpConf::parse("").unwrap();
    assert!(c.fault.is_none());
    let c = MtcpConf::parse(
        "fault_loss = 0.02\nfault_duplicate = 0.01\nfault_reorder = 0.05\n\
         fault_delay_ms = 3\nfault_seed = 42\nfault_direction = rx\n",
    )
    .unwrap();
    assert!(!c.fault.is_none());
    assert_eq!(c.fault.config.loss, 0.02);
    assert_eq!(c.fault.config.duplicate, 0.01);
    assert_eq!(c.fault.config.reorder, 0.05);
    assert_eq!(c.fault.config.delay, Duration::from_millis(3));
    assert_eq!(c.fault.config.seed, 42);
    let (tx, rx) = c.fault.tx_rx();
    assert!(tx.is_none());
    assert_eq!(rx, c.fault.config);
    let c = MtcpConf::parse("fault_delay_ms = 1").unwrap();
    let (tx, rx) = c.fault.tx_rx();
    assert_eq!(
        (tx.delay, rx.delay),
        (Duration::from_millis(1), Duration::from_millis(1))
    );
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("mtcp-conf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mtcp.conf");
    std::fs::write(&path, "io = mem\nsndbuf = 1\n").unwrap();
    let err = MtcpConf::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}:2: sndbuf must be at least 64 bytes", path.display())
    );
    std::fs::write(&path, "io = mem\n").unwrap();
    let conf = MtcpConf::load(&path).unwrap();
    assert_eq!(conf.arp_conf, Some(dir.join("arp.conf")));
    let missing = MtcpConf::load(&dir.join("nope.conf")).unwrap_err();
    assert!(
        missing.to_string().contains("nope.conf: cannot read"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
