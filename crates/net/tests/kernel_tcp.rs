//! The whole receive/send path under real TCP: a Linux client in a namespace the test creates
//! connects over a TAP to the `mtcp-tcp` engine behind our `Interface`, sends 200 KB and reads
//! them back (an echo server on our side). ARP, demux, checksums and frame building all have to
//! be right for the bytes to match.

mod common;

use core::net::{Ipv4Addr, SocketAddr};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::link;
use mtcp_net::SendResult;
use mtcp_tcp::{Config, Engine};
use mtcp_testkit::require_root;

#[test]
#[ignore = "needs root: a network namespace and a TAP"]
fn kernel_tcp_client_is_echoed_through_interface_and_engine() {
    require_root("kernel_tcp_client_is_echoed_through_interface_and_engine");
    let us = Ipv4Addr::new(198, 18, 22, 2);
    let mut l = link("nkt", "198.18.22.1", us);
    let mut engine = Engine::new(Config::default(), [7; 16]);
    engine.listen(us, 7, 16).unwrap();

    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sent = data.clone();
    let client =
        l.ns.spawn(move || -> std::io::Result<Vec<u8>> {
            let addr = SocketAddr::from((us, 7));
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut w = s.try_clone()?;
            let writer = std::thread::spawn(move || {
                w.write_all(&sent)?;
                w.shutdown(Shutdown::Write)
            });
            let mut back = Vec::new();
            s.read_to_end(&mut back)?;
            writer.join().unwrap()?;
            Ok(back)
        })
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16384];
    let mut closed = false;
    let mut queued = 0;
    while !client.is_finished() && Instant::now() < deadline {
        l.run(Duration::from_millis(1), |now, src, dst, seg| {
            engine.on_segment(mtcp_tcp::Instant::from_millis(now), src, dst, seg);
            false
        });
        let now = mtcp_tcp::Instant::from_millis(l.now_ms());
        engine.poll_timers(now);
        while engine.poll_event().is_some() {}
        if conn.is_none() {
            conn = engine.accept(7);
        }
        if let Some(h) = conn {
            loop {
                if !pending.is_empty() {
                    match engine.send(h, &pending) {
                        Ok(n) => drop(pending.drain(..n)),
                        Err(_) => break,
                    }
                    if !pending.is_empty() {
                        break;
                    }
                }
                match engine.recv(h, &mut buf) {
                    Ok(0) => {
                        if !closed {
                            engine.close(h).unwrap();
                            closed = true;
                        }
                        break;
                    }
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        engine.dispatch(now, |src, dst, seg| {
            if l.send_tcp(src, dst, seg) == SendResult::Queued {
                queued += 1;
            }
        });
        l.flush();
    }
    assert!(client.is_finished(), "timed out; {:?}", l.iface.counters());
    let back = client.join().unwrap().unwrap().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "echoed bytes differ");
    let c = l.iface.counters();
    assert!(closed, "our side saw the client's FIN");
    assert_eq!(
        queued, 0,
        "the kernel's ARP request taught us its MAC first"
    );
    assert!(c.rx_tcp > 100 && c.arp_tx_replies >= 1, "{c:?}");
    assert_eq!(c.rx_dropped_total(), 0, "{c:?}");
}
