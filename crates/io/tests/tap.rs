//! The TAP backend against the Linux kernel, inside network namespaces the tests create.
use mtcp_testkit::responder as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mtcp_io::conformance::{self, Ctx};
use mtcp_io::tap::{TapConfig, TapDevice};
use mtcp_io::{Device, Steering};
use mtcp_testkit::{Netns, require_root, unique_name};

fn open_in(ns: &Netns, cfg: TapConfig) -> TapDevice {
    ns.run(move || TapDevice::open(&cfg)).unwrap().unwrap()
}

#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn kernel_pings_our_responder_over_tap() {
    require_root("kernel_pings_our_responder_over_tap");
    let ns = Netns::new(&unique_name("iot")).unwrap();
    let name = unique_name("tap");
    let mut dev = open_in(&ns, TapConfig::new(&name));
    assert_eq!(dev.info().name, name);
    assert_eq!(dev.info().mtu, 1500);
    assert_eq!(dev.info().steering, Steering::None);
    ns.exec_ok(&["ip", "addr", "add", "198.18.1.1/24", "dev", &name])
        .unwrap();
    ns.exec_ok(&["ip", "link", "set", &name, "up"]).unwrap();
    let q = dev.queue(0).unwrap();
    assert!(dev.queue(0).is_err(), "a queue handed out twice");
    let mac = dev.info().mac;
    common::kernel_pings_responder(&ns, q, mac, "198.18.1.2".parse().unwrap());
}

#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn tap_passes_conformance_through_a_kernel_bridge() {
    require_root("tap_passes_conformance_through_a_kernel_bridge");
    let ns = Netns::new(&unique_name("ioc")).unwrap();
    let (na, nb, br) = (unique_name("tpa"), unique_name("tpb"), unique_name("br"));
    let mut a = open_in(&ns, TapConfig::new(&na));
    let mut b = open_in(&ns, TapConfig::new(&nb));
    ns.exec_ok(&["ip", "link", "add", &br, "type", "bridge"])
        .unwrap();
    for tap in [&na, &nb] {
        ns.exec_ok(&["ip", "link", "set", tap, "master", &br])
            .unwrap();
        ns.exec_ok(&["ip", "link", "set", tap, "up"]).unwrap();
    }
    ns.exec_ok(&["ip", "link", "set", &br, "up"]).unwrap();
    let ctx = Ctx::new(a.info().mac, b.info().mac);
    let mtu = a.info().mtu;
    let (mut qa, mut qb) = (a.queue(0).unwrap(), b.queue(0).unwrap());
    let partial = conformance::run_all(&mut qa, &mut qb, &ctx, mtu).unwrap();
    // Writing to a TAP never pushes back, so a partial burst is not expected here.
    eprintln!("tap partial tx: {partial:?}");
}

#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn multi_queue_tap_opens_every_queue() {
    require_root("multi_queue_tap_opens_every_queue");
    let ns = Netns::new(&unique_name("iom")).unwrap();
    let name = unique_name("tmq");
    let mut cfg = TapConfig::new(&name);
    cfg.queues = 4;
    let mut dev = open_in(&ns, cfg);
    assert_eq!(dev.info().num_queues, 4);
    assert_eq!(dev.info().steering, Steering::Opaque);
    for i in 0..4 {
        dev.queue(i).unwrap();
    }
    assert!(dev.queue(4).is_err());
}

#[test]
fn bad_tap_name_is_an_error() {
    let err = TapDevice::open(&TapConfig::new("this-name-is-far-too-long")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

/// The way tests impair a link to the Linux kernel: the fault wrapper drops some of our replies,
/// the pcap wrapper records what really went out, and ping counts the losses.
#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn kernel_sees_losses_injected_by_the_fault_wrapper() {
    use mtcp_io::fault::{Fault, FaultConfig};
    use mtcp_io::pcap::{self, Pcap};
    require_root("kernel_sees_losses_injected_by_the_fault_wrapper");
    let ns = Netns::new(&unique_name("iol")).unwrap();
    let name = unique_name("tap");
    let tap = open_in(&ns, TapConfig::new(&name));
    ns.exec_ok(&["ip", "addr", "add", "198.18.4.1/24", "dev", &name])
        .unwrap();
    ns.exec_ok(&["ip", "link", "set", &name, "up"]).unwrap();
    let mac = tap.info().mac;
    let loss = FaultConfig {
        seed: 2024,
        loss: 0.3,
        ..FaultConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("mtcp-io-tap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lossy.pcap");
    let mut dev = Pcap::create(Fault::new(tap, loss, FaultConfig::default()), &path).unwrap();
    let q = dev.queue(0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let responder = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || common::respond(q, mac, "198.18.4.2".parse().unwrap(), stop))
    };
    let out = ns
        .exec(&["ping", "-c", "20", "-i", "0.05", "-W", "1", "198.18.4.2"])
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let seen = responder.join().unwrap();
    drop(dev);
    let text = String::from_utf8_lossy(&out.stdout);
    let received = common::ping_received(&text);
    assert!(seen.echo >= 20, "responder saw {seen:?}: {text}");
    assert!(
        received > 0 && received < 20,
        "expected some but not all replies: {text}"
    );
    // The capture records what we transmitted before the wrapper dropped part of it.
    let records = pcap::read(&std::fs::read(&path).unwrap()).unwrap();
    let replies = records
        .iter()
        .filter(|r| r.data.len() > 34 && r.data[12..14] == [8, 0] && r.data[34] == 0)
        .count();
    assert!(
        replies as u32 >= seen.echo,
        "capture holds {replies} echo replies, responder sent {}",
        seen.echo
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With `IFF_MULTI_QUEUE` the kernel spreads flows over the queues: 64 UDP flows from the kernel
/// each arrive once, each flow on one queue, and more than one queue is used.
#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn multi_queue_tap_spreads_kernel_flows() {
    use mtcp_io::{Burst, Queue};
    require_root("multi_queue_tap_spreads_kernel_flows");
    if !mtcp_testkit::have_program("python3") {
        eprintln!("skipping multi_queue_tap_spreads_kernel_flows: python3 is not installed");
        return;
    }
    let ns = Netns::new(&unique_name("ios")).unwrap();
    let name = unique_name("tmq");
    let mut cfg = TapConfig::new(&name);
    cfg.queues = 4;
    let mut dev = open_in(&ns, cfg);
    let mac = dev.info().mac.to_string();
    ns.exec_ok(&["ip", "addr", "add", "198.18.5.1/24", "dev", &name])
        .unwrap();
    ns.exec_ok(&["ip", "link", "set", &name, "up"]).unwrap();
    ns.exec_ok(&[
        "ip",
        "neigh",
        "replace",
        "198.18.5.2",
        "lladdr",
        &mac,
        "dev",
        &name,
        "nud",
        "permanent",
    ])
    .unwrap();
    let mut qs: Vec<_> = (0..4).map(|i| dev.queue(i).unwrap()).collect();
    let script = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor p in range(20000,20064):\n    s.sendto(b'mq',('198.18.5.2',p))\n";
    ns.exec_ok(&["python3", "-c", script]).unwrap();
    let mut flow_queue = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut got = 0;
    while got < 64 && std::time::Instant::now() < deadline {
        for (qi, q) in qs.iter_mut().enumerate() {
            let mut burst = Burst::new();
            q.rx_burst(&mut burst).unwrap();
            for f in burst.iter() {
                if f.len() >= 42
                    && f[12..14] == [8, 0]
                    && f[23] == 17
                    && f[30..34] == [198, 18, 5, 2]
                {
                    let port = u16::from_be_bytes([f[36], f[37]]);
                    assert!(
                        flow_queue.insert(port, qi).is_none(),
                        "flow {port} arrived twice"
                    );
                    got += 1;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(got, 64, "datagrams lost");
    let used: std::collections::HashSet<_> = flow_queue.values().collect();
    assert!(used.len() > 1, "all flows on one queue: {used:?}");
}
