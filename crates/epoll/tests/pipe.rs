//! `mtcp_pipe` through epoll: IN on the read end, OUT on the write end, EOF and HUP on close.

use std::thread;
use std::time::Duration;

use mtcp_epoll::{Epoll, EpollEvent, EpollOp, Error, Events, Pipe, ReadinessBoard, Timeout};

const R: u32 = 4;
const W: u32 = 5;

fn drain(ep: &mut Epoll) -> Vec<(u64, Events)> {
    let mut out = [EpollEvent::default(); 8];
    let n = ep.poll(&mut out);
    out[..n].iter().map(|e| (e.data, e.events)).collect()
}

/// A pipe of `cap` bytes on ids 4 → 5... (read 4, write 5), both ends registered.
fn setup(cap: usize, read_mask: Events, write_mask: Events) -> (Epoll, Pipe) {
    let mut ep = Epoll::new(8);
    let mut pipe = Pipe::new(R, W, cap).unwrap();
    ep.ctl(EpollOp::Add, R, read_mask, u64::from(R)).unwrap();
    ep.ctl(EpollOp::Add, W, write_mask, u64::from(W)).unwrap();
    pipe.report(&mut ep).unwrap();
    (ep, pipe)
}

#[test]
fn read_write_eagain_and_eof() {
    let mut p = Pipe::new(R, W, 4).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(p.read(&mut buf), Err(Error::WouldBlock));
    assert_eq!(p.read(&mut buf).unwrap_err().errno(), libc::EAGAIN);
    assert_eq!(p.write(b"abcdef"), Ok(4), "partial write");
    assert_eq!(p.write(b"g"), Err(Error::WouldBlock), "full");
    assert_eq!(p.buffered_bytes(), 4);
    assert_eq!(p.write(b""), Ok(0));
    p.close_write().unwrap();
    assert_eq!(p.read(&mut buf[..3]), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(p.read(&mut buf), Ok(1), "buffered bytes survive the writer");
    assert_eq!(buf[0], b'd');
    assert_eq!(p.read(&mut buf), Ok(0), "EOF");
    assert_eq!(p.read(&mut buf), Ok(0), "EOF again");
    p.close_read().unwrap();
    assert!(p.is_closed());
    assert_eq!(p.read(&mut buf), Err(Error::Closed(R)));
    assert_eq!(p.read(&mut buf).unwrap_err().errno(), libc::EBADF);
}

#[test]
fn write_after_reader_closed_is_epipe() {
    let mut p = Pipe::new(R, W, 4).unwrap();
    p.write(b"ab").unwrap();
    p.close(R).unwrap();
    assert_eq!(p.write(b"c"), Err(Error::BrokenPipe));
    assert_eq!(Error::BrokenPipe.errno(), libc::EPIPE);
}

#[test]
fn level_triggered_pipe_through_epoll() {
    let (mut ep, mut p) = setup(4, Events::IN, Events::OUT);
    // Empty pipe: writable, not readable.
    assert_eq!(drain(&mut ep), [(5, Events::OUT)]);
    p.write(b"xyzw").unwrap();
    p.report(&mut ep).unwrap();
    // Full: readable, no longer writable.
    assert_eq!(drain(&mut ep), [(4, Events::IN)]);
    assert_eq!(drain(&mut ep), [(4, Events::IN)], "level-triggered repeats");
    let mut buf = [0u8; 4];
    assert_eq!(p.read(&mut buf), Ok(4));
    p.report(&mut ep).unwrap();
    assert_eq!(drain(&mut ep), [(5, Events::OUT)]);
}

#[test]
fn edge_triggered_reader_hears_every_write() {
    let (mut ep, mut p) = setup(64, Events::IN | Events::ET, Events::OUT | Events::ET);
    assert_eq!(drain(&mut ep), [(5, Events::OUT)]);
    assert_eq!(drain(&mut ep), []);
    for chunk in [&b"one"[..], b"two", b"three"] {
        p.write(chunk).unwrap();
        p.report(&mut ep).unwrap();
        assert_eq!(drain(&mut ep), [(4, Events::IN)], "write of {chunk:?}");
        assert_eq!(drain(&mut ep), []);
    }
    // A report with nothing new is silent.
    p.report(&mut ep).unwrap();
    assert_eq!(drain(&mut ep), []);
}

#[test]
fn edge_triggered_writer_hears_room_after_full() {
    let (mut ep, mut p) = setup(4, Events::IN, Events::OUT | Events::ET);
    assert_eq!(drain(&mut ep), [(5, Events::OUT)]);
    p.write(b"1234").unwrap();
    p.report(&mut ep).unwrap();
    assert_eq!(drain(&mut ep), [(4, Events::IN)]);
    let mut buf = [0u8; 1];
    p.read(&mut buf).unwrap();
    p.report(&mut ep).unwrap();
    assert_eq!(drain(&mut ep), [(4, Events::IN), (5, Events::OUT)]);
}

#[test]
fn closing_the_write_end_gives_eof_and_hup_to_the_reader() {
    let (mut ep, mut p) = setup(16, Events::IN, Events::OUT);
    assert_eq!(drain(&mut ep), [(5, Events::OUT)]);
    p.write(b"bye").unwrap();
    p.close_write().unwrap();
    ep.forget(W).unwrap(); // the socket layer frees the closed id
    p.report(&mut ep).unwrap();
    assert_eq!(drain(&mut ep), [(4, Events::IN | Events::HUP)]);
    let mut buf = [0u8; 16];
    assert_eq!(p.read(&mut buf), Ok(3));
    p.report(&mut ep).unwrap();
    // Drained: still IN (a read returns EOF at once) and HUP.
    assert_eq!(drain(&mut ep), [(4, Events::IN | Events::HUP)]);
    assert_eq!(p.read(&mut buf), Ok(0));
}

#[test]
fn hup_reaches_a_reader_that_registered_nothing() {
    let (mut ep, mut p) = setup(16, Events::empty(), Events::OUT);
    p.write(b"data").unwrap();
    p.report(&mut ep).unwrap();
    assert_eq!(drain(&mut ep), [(5, Events::OUT)], "IN not registered");
    p.close_write().unwrap();
    ep.forget(W).unwrap();
    p.report(&mut ep).unwrap();
    assert_eq!(drain(&mut ep), [(4, Events::HUP)]);
}

#[test]
fn closing_the_read_end_gives_err_and_hup_to_the_writer() {
    let (mut ep, mut p) = setup(16, Events::IN, Events::OUT | Events::ET);
    assert_eq!(drain(&mut ep), [(5, Events::OUT)]);
    p.close_read().unwrap();
    ep.forget(R).unwrap();
    p.report(&mut ep).unwrap();
    assert_eq!(drain(&mut ep), [(5, Events::ERR | Events::HUP)]);
    assert_eq!(p.write(b"x"), Err(Error::BrokenPipe));
}

#[test]
fn reader_thread_blocks_until_a_writer_thread_writes() {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut ep = Epoll::new(8);
        let pipe = std::sync::Arc::new(std::sync::Mutex::new(Pipe::new(R, W, 64).unwrap()));
        ep.ctl(EpollOp::Add, R, Events::IN, 4).unwrap();
        let board = ReadinessBoard::new(8, ep.notifier().clone());
        let (writer_pipe, mut writer_board) = (pipe.clone(), board.clone());
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            let mut p = writer_pipe.lock().unwrap();
            p.write(b"ping").unwrap();
            p.report(&mut writer_board).unwrap();
        });
        let mut out = [EpollEvent::default(); 2];
        let n = ep.wait(&mut out, Timeout::Infinite, |ep| {
            board.apply(ep);
        });
        let mut buf = [0u8; 8];
        let read = pipe.lock().unwrap().read(&mut buf);
        writer.join().unwrap();
        let _ = tx.send((n, out[0], read, buf));
    });
    let (n, ev, read, buf) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("reader never woke up");
    assert_eq!(n, Ok(1));
    assert_eq!(ev, EpollEvent::new(Events::IN, 4));
    assert_eq!(read, Ok(4));
    assert_eq!(&buf[..4], b"ping");
}
