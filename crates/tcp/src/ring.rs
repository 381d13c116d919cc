//! A fixed-capacity byte ring buffer, allocated once when a connection is created.

use alloc::vec;
use alloc::vec::Vec;

/// Byte ring: `len` readable bytes start at `head`. Out-of-order data may be written past the
/// readable part (`write_at`) and made readable later (`commit`).
#[derive(Debug)]
pub struct RingBuffer {
    storage: Vec<u8>,
    head: usize,
    len: usize,
}

impl RingBuffer {
    /// A ring holding up to `capacity` bytes.
    pub fn new(capacity: usize) -> RingBuffer {
        RingBuffer {
            storage: vec![0; capacity],
            head: 0,
            len: 0,
        }
    }
    /// Total capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }
    /// Readable bytes.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether no byte is readable.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Free space after the readable bytes.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }
    /// Appends as much of `data` as fits; returns the count written.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(0, data);
        self.len += n;
        n
    }
    /// Writes `data` at `offset` bytes past the readable part, without making it readable;
    /// returns how many bytes fitted.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let cap = self.capacity();
        if offset >= self.free() {
            return 0;
        }
        let n = data.len().min(self.free() - offset);
        let start = (self.head + self.len + offset) % cap.max(1);
        let first = n.min(cap - start);
        self.storage[start..start + first].copy_from_slice(&data[..first]);
        self.storage[..n - first].copy_from_slice(&data[first..n]);
        n
    }
    /// Makes `n` bytes already written past the readable part readable.
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.capacity());
    }
    /// Copies up to `out.len()` readable bytes starting `offset` bytes in, without consuming.
    pub fn peek(&self, offset: usize, out: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let cap = self.capacity();
        let n = out.len().min(self.len - offset);
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        out[..first].copy_from_slice(&self.storage[start..start + first]);
        out[first..n].copy_from_slice(&self.storage[..n - first]);
        n
    }
    /// Drops `n` readable bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if self.capacity() > 0 {
            self.head = (self.head + n) % self.capacity();
        }
        // The head is not reset when empty: out-of-order data may sit past the readable part.
        self.len -= n;
    }
    /// Copies and consumes up to `out.len()` readable bytes.
    pub fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.consume(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_reassembles() {
        let mut r = RingBuffer::new(8);
        assert_eq!(r.push(b"abcdef"), 6);
        let mut o = [0; 4];
        assert_eq!(r.pop(&mut o), 4);
        assert_eq!(&o, b"abcd");
        assert_eq!(r.write_at(2, b"ghij"), 4);
        assert_eq!(r.push(b"xy"), 2);
        r.commit(4);
        let mut o = [0; 8];
        assert_eq!(r.pop(&mut o), 8);
        assert_eq!(&o, b"efxyghij");
        assert_eq!(r.write_at(8, b"z"), 0);
    }
}
