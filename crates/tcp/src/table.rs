//! The connection table: a slab with generational handles, indexed by 4-tuple.

use alloc::vec::Vec;

use hashbrown::HashMap;

use crate::conn::Conn;
use crate::isn::FourTuple;

/// Names a connection. Stale handles (of a freed connection) are detected by the generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    index: u32,
    generation: u32,
}

impl Handle {
    /// Slot index (stable while the connection lives; useful for per-connection arrays).
    pub fn index(self) -> u32 {
        self.index
    }
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// Slab of connections plus the 4-tuple index.
#[derive(Debug, Default)]
pub(crate) struct ConnTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_tuple: HashMap<FourTuple, u32>,
}

impl ConnTable {
    pub fn len(&self) -> usize {
        self.by_tuple.len()
    }
    /// The handle the next `insert` will use.
    pub fn next_handle(&self) -> Handle {
        match self.free.last() {
            Some(&i) => Handle {
                index: i,
                generation: self.slots[i as usize].generation,
            },
            None => Handle {
                index: self.slots.len() as u32,
                generation: 0,
            },
        }
    }
    /// Inserts a connection built with `next_handle()`.
    pub fn insert(&mut self, conn: Conn) -> Handle {
        let h = self.next_handle();
        debug_assert_eq!(conn.handle, h);
        self.by_tuple.insert(conn.tuple, h.index);
        if h.index as usize == self.slots.len() {
            self.slots.push(Slot {
                generation: 0,
                conn: Some(conn),
            });
        } else {
            self.free.pop();
            self.slots[h.index as usize].conn = Some(conn);
        }
        h
    }
    pub fn remove(&mut self, h: Handle) -> Option<Conn> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let conn = slot.conn.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(h.index);
        self.by_tuple.remove(&conn.tuple);
        Some(conn)
    }
    pub fn get(&self, h: Handle) -> Option<&Conn> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.conn.as_ref()
    }
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.conn.as_mut()
    }
    /// By slot index (timer owners).
    pub fn by_index(&self, index: u32) -> Option<&Conn> {
        self.slots.get(index as usize)?.conn.as_ref()
    }
    pub fn by_index_mut(&mut self, index: u32) -> Option<&mut Conn> {
        self.slots.get_mut(index as usize)?.conn.as_mut()
    }
    pub fn find(&self, t: &FourTuple) -> Option<Handle> {
        let &i = self.by_tuple.get(t)?;
        Some(Handle {
            index: i,
            generation: self.slots[i as usize].generation,
        })
    }
}
