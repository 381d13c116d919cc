//! `mtcp_pipe`: a one-way byte pipe inside the stack whose ends can be watched with epoll.

use crate::{Error, Events, Readiness};

/// A bounded pipe between two socket ids of one context (read end, write end).
///
/// The socket layer allocates the two ids and keeps the `Pipe`; reads and writes never block
/// (`EAGAIN` when empty or full). After each call, [`report`](Self::report) tells epoll what
/// holds now:
///
/// | end   | condition                         | events        |
/// |-------|-----------------------------------|---------------|
/// | read  | bytes buffered                    | `IN`          |
/// | read  | write end closed (EOF)            | `IN \| HUP`   |
/// | write | room in the buffer, reader open   | `OUT`         |
/// | write | read end closed (writes fail)     | `ERR \| HUP`  |
///
/// Linux reports a drained pipe without writers as `HUP` alone; we add `IN` because a read
/// then returns 0 (EOF) at once, which is what `IN` means for mTCP sockets.
#[derive(Debug)]
pub struct Pipe {
    buf: Box<[u8]>,
    /// Index of the oldest buffered byte.
    head: usize,
    /// Number of buffered bytes.
    len: usize,
    read_id: u32,
    write_id: u32,
    read_open: bool,
    write_open: bool,
    /// Bytes were written since the last report: an edge for edge-triggered readers.
    new_data: bool,
    /// Room was freed since the last report: an edge for edge-triggered writers.
    new_room: bool,
}

impl Pipe {
    /// Buffer size used by `mtcp_pipe` (Linux's default pipe size).
    pub const DEFAULT_CAPACITY: usize = 64 * 1024;

    /// A pipe from `write_id` to `read_id` holding up to `capacity_bytes`.
    pub fn new(read_id: u32, write_id: u32, capacity_bytes: usize) -> Result<Self, Error> {
        if capacity_bytes == 0 {
            return Err(Error::InvalidArgument(
                "pipe capacity must be greater than zero",
            ));
        }
        if read_id == write_id {
            return Err(Error::InvalidArgument("pipe ends need two different ids"));
        }
        Ok(Pipe {
            buf: vec![0; capacity_bytes].into_boxed_slice(),
            head: 0,
            len: 0,
            read_id,
            write_id,
            read_open: true,
            write_open: true,
            new_data: false,
            new_room: false,
        })
    }

    /// The read end's id (`pipeid[0]`).
    pub fn read_id(&self) -> u32 {
        self.read_id
    }

    /// The write end's id (`pipeid[1]`).
    pub fn write_id(&self) -> u32 {
        self.write_id
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn buffered_bytes(&self) -> usize {
        self.len
    }

    /// Total buffer size.
    pub fn capacity_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Whether both ends are closed (the socket layer may drop the pipe).
    pub fn is_closed(&self) -> bool {
        !self.read_open && !self.write_open
    }

    /// Reads up to `out.len()` bytes. `Ok(0)` means EOF (write end closed and drained) or an
    /// empty `out`; `EAGAIN` when empty while the writer is open; `EBADF` after `close_read`.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if !self.read_open {
            return Err(Error::Closed(self.read_id));
        }
        if out.is_empty() {
            return Ok(0);
        }
        if self.len == 0 {
            return if self.write_open {
                Err(Error::WouldBlock)
            } else {
                Ok(0)
            };
        }
        let n = out.len().min(self.len);
        let cap = self.buf.len();
        let first = n.min(cap - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        self.head = (self.head + n) % cap;
        self.len -= n;
        self.new_room = true;
        Ok(n)
    }

    /// Writes as much of `data` as fits (partial writes, like `mtcp_write`). `EAGAIN` when full,
    /// `EPIPE` once the read end is closed, `EBADF` after `close_write`.
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Error> {
        if !self.write_open {
            return Err(Error::Closed(self.write_id));
        }
        if !self.read_open {
            return Err(Error::BrokenPipe);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let cap = self.buf.len();
        if self.len == cap {
            return Err(Error::WouldBlock);
        }
        let n = data.len().min(cap - self.len);
        let tail = (self.head + self.len) % cap;
        let first = n.min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        self.new_data = true;
        Ok(n)
    }

    /// Closes the read end: further writes fail with `EPIPE`, buffered bytes are dropped.
    pub fn close_read(&mut self) -> Result<(), Error> {
        if !self.read_open {
            return Err(Error::Closed(self.read_id));
        }
        self.read_open = false;
        self.len = 0;
        Ok(())
    }

    /// Closes the write end: the reader drains what is buffered, then sees EOF.
    pub fn close_write(&mut self) -> Result<(), Error> {
        if !self.write_open {
            return Err(Error::Closed(self.write_id));
        }
        self.write_open = false;
        Ok(())
    }

    /// Closes whichever end `id` names (`mtcp_close` on a pipe id); `EBADF` for another id.
    pub fn close(&mut self, id: u32) -> Result<(), Error> {
        if id == self.read_id {
            self.close_read()
        } else if id == self.write_id {
            self.close_write()
        } else {
            Err(Error::BadId(id.into()))
        }
    }

    /// Conditions of the read end (empty once it is closed).
    pub fn read_end_state(&self) -> Events {
        let mut ev = Events::empty();
        if self.read_open {
            if self.len > 0 || !self.write_open {
                ev |= Events::IN | Events::RDNORM;
            }
            if !self.write_open {
                ev |= Events::HUP;
            }
        }
        ev
    }

    /// Conditions of the write end (empty once it is closed).
    pub fn write_end_state(&self) -> Events {
        let mut ev = Events::empty();
        if self.write_open {
            if !self.read_open {
                ev |= Events::ERR | Events::HUP;
            } else if self.len < self.buf.len() {
                ev |= Events::OUT | Events::WRNORM;
            }
        }
        ev
    }

    /// Tells `sink` the state of each open end, plus the arrival of data or room since the last
    /// report (so edge-triggered watchers hear of every write). Closed ends are skipped: their
    /// ids belong to the socket layer again, which should `forget` them in its epoll.
    pub fn report(&mut self, sink: &mut impl Readiness) -> Result<(), Error> {
        if self.read_open {
            if std::mem::take(&mut self.new_data) && self.len > 0 {
                sink.notify(self.read_id, Events::IN | Events::RDNORM)?;
            }
            sink.set_state(self.read_id, self.read_end_state())?;
        }
        if self.write_open {
            if std::mem::take(&mut self.new_room) && self.read_open && self.len < self.buf.len() {
                sink.notify(self.write_id, Events::OUT | Events::WRNORM)?;
            }
            sink.set_state(self.write_id, self.write_end_state())?;
        }
        self.new_data = false;
        self.new_room = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around_the_ring() {
        let mut p = Pipe::new(0, 1, 8).unwrap();
        let mut out = [0u8; 8];
        assert_eq!(p.write(b"abcdef"), Ok(6));
        assert_eq!(p.read(&mut out[..4]), Ok(4));
        assert_eq!(&out[..4], b"abcd");
        // 2 buffered at offset 4; 6 more fit, wrapping past the end.
        assert_eq!(p.write(b"ghijklmn"), Ok(6));
        assert_eq!(p.write(b"x"), Err(Error::WouldBlock));
        assert_eq!(p.read(&mut out), Ok(8));
        assert_eq!(&out, b"efghijkl");
        assert_eq!(p.read(&mut out), Err(Error::WouldBlock));
    }

    #[test]
    fn bad_arguments() {
        assert!(matches!(Pipe::new(0, 1, 0), Err(Error::InvalidArgument(_))));
        assert!(matches!(
            Pipe::new(3, 3, 16),
            Err(Error::InvalidArgument(_))
        ));
        let mut p = Pipe::new(0, 1, 4).unwrap();
        assert_eq!(p.close(7), Err(Error::BadId(7)));
        assert_eq!(p.close(1), Ok(()));
        assert_eq!(p.close(1), Err(Error::Closed(1)));
        assert_eq!(p.write(b"a"), Err(Error::Closed(1)));
    }
}
