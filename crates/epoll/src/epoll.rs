//! One epoll instance: the interest table and the ready list, indexed by socket id.

use std::time::{Duration, Instant};

use crate::{EpollEvent, EpollOp, Error, Events, Notifier};

/// End of the intrusive ready list.
const NIL: u32 = u32::MAX;

/// A registration made by `ctl(ADD/MOD)`.
#[derive(Clone, Copy, Debug)]
struct Interest {
    /// Registered bits, including the ET/ONESHOT modes.
    events: Events,
    /// User data returned with every report.
    data: u64,
    /// False once a ONESHOT entry has reported, until MOD.
    armed: bool,
}

impl Interest {
    /// Conditions this entry reports: what was asked for plus ERR and HUP.
    fn wanted(&self) -> Events {
        (self.events & Events::CONDITIONS) | Events::ALWAYS
    }
}

/// Per-socket record. Every socket id has one, registered or not, so that the level state
/// reported by the socket layer is known when a socket gets registered later.
#[derive(Clone, Copy, Debug)]
struct Slot {
    interest: Option<Interest>,
    /// Conditions currently true, as last reported by the socket layer.
    state: Events,
    /// Edges (rising bits, new arrivals) not yet reported; used by ET entries.
    pending: Events,
    /// Whether the slot is linked into the ready list.
    queued: bool,
    /// Next slot in the ready list.
    next: u32,
}

const EMPTY_SLOT: Slot = Slot {
    interest: None,
    state: Events::empty(),
    pending: Events::empty(),
    queued: false,
    next: NIL,
};

impl Slot {
    /// What a report would say now (empty: nothing to report).
    fn readiness(&self) -> Events {
        let Some(interest) = self.interest else {
            return Events::empty();
        };
        if !interest.armed {
            return Events::empty();
        }
        let wanted = interest.wanted();
        if interest.events.contains(Events::ET) && (self.pending & wanted).is_empty() {
            return Events::empty();
        }
        // Like Linux, an edge-triggered report carries every condition that holds now.
        self.state & wanted
    }
}

/// How long [`Epoll::wait`] may block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Block until an event or an interrupt (`timeout_ms < 0`).
    Infinite,
    /// Give up after this long; `Duration::ZERO` polls (`timeout_ms >= 0`).
    After(Duration),
}

impl Timeout {
    /// Poll without blocking.
    pub const POLL: Timeout = Timeout::After(Duration::ZERO);

    /// From `mtcp_epoll_wait`'s `timeout` argument: negative blocks (as in Linux, not only −1),
    /// 0 polls, positive is milliseconds.
    pub fn from_millis(timeout_ms: i32) -> Self {
        match u64::try_from(timeout_ms) {
            Ok(ms) => Timeout::After(Duration::from_millis(ms)),
            Err(_) => Timeout::Infinite,
        }
    }

    /// The instant this timeout ends, counting from `now` (`None`: never).
    pub fn deadline(self, now: Instant) -> Option<Instant> {
        match self {
            Timeout::Infinite => None,
            Timeout::After(d) => now.checked_add(d),
        }
    }
}

/// What a wait does when nothing is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Idle {
    /// Sleep until a [`Notifier`] wake-up (a stack thread produces events).
    Park,
    /// Spin: the caller's refresh closure drives the stack (run-to-completion).
    Spin,
}

/// An epoll instance: which sockets are watched for what, and which are ready.
///
/// The instance is owned by one thread (`&mut self`, no locks). Socket ids are `0..capacity`.
/// The socket layer reports readiness with [`set_state`](Self::set_state) (conditions that hold
/// now) and [`notify`](Self::notify) (something new happened); [`poll`](Self::poll) collects
/// reports without blocking and [`wait`](Self::wait) blocks until an event, a timeout or an
/// interrupt. Readiness produced on another thread goes through a
/// [`ReadinessBoard`](crate::ReadinessBoard).
#[derive(Debug)]
pub struct Epoll {
    slots: Box<[Slot]>,
    /// Ready list: FIFO linked through `Slot::next`. Entries whose readiness vanished
    /// (DEL, state cleared) stay linked and are dropped when popped.
    head: u32,
    tail: u32,
    queued: usize,
    /// This instance's own id in the socket-id space, if it has one (it cannot watch itself).
    own_id: Option<u32>,
    notifier: Notifier,
}

impl Epoll {
    /// An instance for socket ids `0..capacity` (mTCP's `max_concurrency`); all memory is
    /// allocated here.
    pub fn new(capacity: usize) -> Self {
        Epoll {
            slots: vec![EMPTY_SLOT; capacity].into_boxed_slice(),
            head: NIL,
            tail: NIL,
            queued: 0,
            own_id: None,
            notifier: Notifier::new(),
        }
    }

    /// Uses `notifier` instead of a fresh one, e.g. to let one stack thread wake every epoll
    /// instance of its context with one handle.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Records the instance's own socket id, which `ctl` then refuses with `EINVAL`.
    pub fn with_own_id(mut self, id: u32) -> Self {
        self.own_id = Some(id);
        self
    }

    /// Number of socket ids this instance covers.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// A handle that wakes or interrupts [`wait`](Self::wait) from any thread.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// `mtcp_epoll_ctl` with C arguments: checks the id (`EBADF`), the instance's own id
    /// (`EINVAL`), then the operation (`EINVAL`).
    pub fn ctl_raw(&mut self, op: i32, sockid: i32, events: u32, data: u64) -> Result<(), Error> {
        let id = u32::try_from(sockid).map_err(|_| Error::BadId(sockid.into()))?;
        self.check_id(id)?;
        let op = EpollOp::try_from(op)?;
        self.ctl(op, id, Events::from_bits_retain(events), data)
    }

    /// Adds, modifies or deletes the registration of `sockid`.
    ///
    /// ADD and MOD look at the socket's current state at once, as Linux does: a socket that is
    /// already ready is reported by the next wait, even when edge-triggered. MOD re-arms a
    /// ONESHOT entry. Errors: `EBADF` for an id out of range, `EINVAL` for the instance's own
    /// id, `EEXIST` on ADD of a registered socket, `ENOENT` on MOD or DEL of an unregistered one.
    pub fn ctl(
        &mut self,
        op: EpollOp,
        sockid: u32,
        events: Events,
        data: u64,
    ) -> Result<(), Error> {
        let slot = self.slot_mut(sockid)?;
        match (op, slot.interest.is_some()) {
            (EpollOp::Add, true) => return Err(Error::AlreadyRegistered(sockid)),
            (EpollOp::Mod | EpollOp::Del, false) => return Err(Error::NotRegistered(sockid)),
            (EpollOp::Del, true) => {
                slot.interest = None;
                slot.pending = Events::empty();
                return Ok(());
            }
            (EpollOp::Add | EpollOp::Mod, _) => {
                slot.interest = Some(Interest {
                    events,
                    data,
                    armed: true,
                });
                slot.pending = slot.state;
            }
        }
        self.enqueue_if_ready(sockid);
        Ok(())
    }

    /// Whether `sockid` is registered.
    pub fn is_registered(&self, sockid: u32) -> bool {
        self.slots
            .get(sockid as usize)
            .is_some_and(|s| s.interest.is_some())
    }

    /// Reports the conditions that hold now for `sockid` (IN: data, EOF or a non-empty accept
    /// queue; OUT: send space; ERR; HUP; RDHUP; ...). Bits that were clear before count as
    /// edges for edge-triggered entries. Mode bits (ET, ONESHOT) are ignored.
    pub fn set_state(&mut self, sockid: u32, current: Events) -> Result<(), Error> {
        let slot = self.slot_mut(sockid)?;
        let current = current & Events::CONDITIONS;
        let rising = current - slot.state;
        slot.state = current;
        if slot.interest.is_some() {
            slot.pending |= rising;
        }
        self.enqueue_if_ready(sockid);
        Ok(())
    }

    /// Reports that `edge` happened anew on `sockid`: more data arrived on a socket that was
    /// already readable, another connection joined a non-empty accept queue, more send space
    /// was freed. The bits now hold, and edge-triggered entries report again.
    pub fn notify(&mut self, sockid: u32, edge: Events) -> Result<(), Error> {
        let slot = self.slot_mut(sockid)?;
        let edge = edge & Events::CONDITIONS;
        slot.state |= edge;
        if slot.interest.is_some() {
            slot.pending |= edge;
        }
        self.enqueue_if_ready(sockid);
        Ok(())
    }

    /// The socket `sockid` was closed: drops its registration and state, as closing a file
    /// descriptor removes it from Linux epoll sets. The id may then be reused.
    pub fn forget(&mut self, sockid: u32) -> Result<(), Error> {
        let slot = self.slot_mut(sockid)?;
        slot.interest = None;
        slot.state = Events::empty();
        slot.pending = Events::empty();
        Ok(())
    }

    /// Collects ready events into `out` without blocking; returns how many it wrote.
    ///
    /// Sockets are reported in the order they became ready. A level-triggered socket goes back
    /// to the end of the ready list and is reported again while its condition holds; an
    /// edge-triggered one waits for its next edge; a ONESHOT one is disarmed until MOD.
    pub fn poll(&mut self, out: &mut [EpollEvent]) -> usize {
        self.collect(out, None)
    }

    /// [`poll`](Self::poll) for a socket layer that computes readiness on demand: each socket
    /// taken from the ready list first gets its conditions from `current(sockid)` (as with
    /// [`set_state`](Self::set_state)), so a condition that ended since the last report is not
    /// reported and a level-triggered socket leaves the list once nothing holds. The events are
    /// written as any `T` made from an [`EpollEvent`] (e.g. an API's own record of the same
    /// layout).
    pub fn poll_current<T: From<EpollEvent>>(
        &mut self,
        out: &mut [T],
        mut current: impl FnMut(u32) -> Events,
    ) -> usize {
        self.collect(out, Some(&mut current))
    }

    fn collect<T: From<EpollEvent>>(
        &mut self,
        out: &mut [T],
        mut current: Option<&mut dyn FnMut(u32) -> Events>,
    ) -> usize {
        let mut written = 0;
        // Visit each entry queued now at most once, so re-queued level-triggered entries are
        // not reported twice in one call.
        let mut budget = self.queued;
        while written < out.len() && budget > 0 {
            budget -= 1;
            let Some(id) = self.pop_front() else { break };
            let state = current.as_mut().map(|f| f(id) & Events::CONDITIONS);
            let slot = &mut self.slots[id as usize];
            if let Some(state) = state {
                if slot.interest.is_some() {
                    slot.pending |= state - slot.state;
                }
                slot.state = state;
            }
            let report = slot.readiness();
            slot.pending = Events::empty();
            let Some(interest) = slot.interest.as_mut() else {
                continue;
            };
            if report.is_empty() {
                continue;
            }
            out[written] = EpollEvent::new(report, interest.data).into();
            written += 1;
            if interest.events.contains(Events::ONESHOT) {
                interest.armed = false;
            } else if !interest.events.contains(Events::ET) {
                self.push_back(id);
            }
        }
        written
    }

    /// Whether a [`poll`](Self::poll) might report something (some socket is in the ready list).
    pub fn has_ready(&self) -> bool {
        self.queued > 0
    }

    /// `mtcp_epoll_wait` for a context whose stack runs on another thread: calls `refresh`
    /// (e.g. [`ReadinessBoard::apply`](crate::ReadinessBoard::apply)), collects events, and
    /// sleeps until the [`notifier`](Self::notifier) wakes it, the timeout passes, or an
    /// interrupt comes.
    ///
    /// Returns the number of events (0 on timeout). Errors: `EINVAL` if `out` is empty,
    /// `EINTR` if interrupted while no event was ready.
    pub fn wait(
        &mut self,
        out: &mut [EpollEvent],
        timeout: Timeout,
        mut refresh: impl FnMut(&mut Epoll),
    ) -> Result<usize, Error> {
        self.wait_with(out, timeout, &mut refresh, Idle::Park)
    }

    /// `mtcp_epoll_wait` for run-to-completion mode: `drive` runs the stack (receive, timers,
    /// transmit, reporting readiness to this instance) and is called again and again, without
    /// sleeping, until an event, the timeout or an interrupt.
    pub fn wait_driving(
        &mut self,
        out: &mut [EpollEvent],
        timeout: Timeout,
        mut drive: impl FnMut(&mut Epoll),
    ) -> Result<usize, Error> {
        self.wait_with(out, timeout, &mut drive, Idle::Spin)
    }

    fn wait_with(
        &mut self,
        out: &mut [EpollEvent],
        timeout: Timeout,
        refresh: &mut dyn FnMut(&mut Epoll),
        idle: Idle,
    ) -> Result<usize, Error> {
        if out.is_empty() {
            return Err(Error::InvalidArgument(
                "maxevents must be greater than zero",
            ));
        }
        let deadline = match timeout {
            Timeout::After(Duration::ZERO) => Some(None),
            t => t.deadline(Instant::now()).map(Some),
        };
        let notifier = self.notifier.clone();
        let mut registration = None;
        loop {
            notifier.take_wake();
            refresh(self);
            let n = self.poll(out);
            if n > 0 {
                return Ok(n);
            }
            if notifier.take_interrupt() {
                return Err(Error::Interrupted);
            }
            // `Some(None)`: poll only; `Some(Some(t))`: until t; `None`: forever.
            let until = match deadline {
                Some(None) => return Ok(0),
                Some(Some(t)) if Instant::now() >= t => return Ok(0),
                Some(Some(t)) => Some(t),
                None => None,
            };
            match idle {
                Idle::Spin => std::hint::spin_loop(),
                Idle::Park if registration.is_none() => {
                    // Register, then look again before sleeping: a wake-up that raced with the
                    // look above is seen either by that second look or by the unpark.
                    registration = Some(notifier.register());
                }
                Idle::Park => notifier.park(until),
            }
        }
    }

    fn check_id(&self, sockid: u32) -> Result<(), Error> {
        if sockid as usize >= self.slots.len() {
            return Err(Error::BadId(sockid.into()));
        }
        if self.own_id == Some(sockid) {
            return Err(Error::InvalidArgument(
                "an epoll instance cannot watch itself",
            ));
        }
        Ok(())
    }

    fn slot_mut(&mut self, sockid: u32) -> Result<&mut Slot, Error> {
        self.check_id(sockid)?;
        Ok(&mut self.slots[sockid as usize])
    }

    fn enqueue_if_ready(&mut self, sockid: u32) {
        let slot = &self.slots[sockid as usize];
        if !slot.queued && !slot.readiness().is_empty() {
            self.push_back(sockid);
        }
    }

    fn push_back(&mut self, sockid: u32) {
        let slot = &mut self.slots[sockid as usize];
        slot.queued = true;
        slot.next = NIL;
        match self.tail {
            NIL => self.head = sockid,
            tail => self.slots[tail as usize].next = sockid,
        }
        self.tail = sockid;
        self.queued += 1;
    }

    fn pop_front(&mut self) -> Option<u32> {
        let id = self.head;
        if id == NIL {
            return None;
        }
        let slot = &mut self.slots[id as usize];
        self.head = slot.next;
        slot.next = NIL;
        slot.queued = false;
        if self.head == NIL {
            self.tail = NIL;
        }
        self.queued -= 1;
        Some(id)
    }
}
