//! The write-inhibit gate: hold new writes off, wait for the writes in flight, do
//! something that must see no write half-done, then let the held writes go.
//!
//! It is the offloaded backup's inhibit (SPEC §2 S1: the file server inhibits new
//! writes to a file and waits for writes in flight before it flushes and splits) and
//! the command gate of a mirror pair (a split, a resync start, a copy's end hold
//! host I/O, drain what is in flight, change the pair's state, and release the held
//! I/O). A held write is delayed, never lost or reordered with respect to the
//! inhibit: it enters after the inhibit is lifted.
//!
//! The race it exists for is *inhibit versus writes in flight*: an inhibitor that
//! does not wait for writes already past the gate sees them half-done. The loom
//! model `inhibit_vs_writes_in_flight` (`engine/tests/loom.rs`) checks it, and its
//! unprotected variant (an inhibit that does not wait) fails.
//!
//! **Correspondence with the sans-IO controller** (`controller.rs`): its command
//! gate holds host requests in a queue, counts I/O in flight per volume
//! (`Volume::inflight`) and makes the new pair record durable once the count is zero;
//! here a host thread blocks in [`Gate::enter`] instead of being queued.

use super::sync::{Condvar, Mutex, lock, wait};

#[derive(Debug, Default)]
struct State {
    inhibited: bool,
    inflight: u64,
    /// Writes that found the gate inhibited and waited (a count for reports).
    held_total: u64,
}

/// Writes pass while the gate is open; an inhibitor closes it and waits for the
/// writes in flight.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<State>,
    changed: Condvar,
    protect: bool,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    pub fn new() -> Gate {
        Gate { state: Mutex::new(State::default()), changed: Condvar::new(), protect: true }
    }

    /// The gate with its protection removed: an inhibitor does not wait for the
    /// writes in flight. Only for showing that the loom models catch it.
    #[cfg(any(loom, feature = "planted-bugs"))]
    pub fn unprotected() -> Gate {
        Gate { protect: false, ..Gate::new() }
    }

    /// Passes the gate (waiting while it is inhibited); the pass is held until
    /// dropped.
    pub fn enter(&self) -> Pass<'_> {
        let mut s = lock(&self.state);
        if s.inhibited {
            s.held_total += 1;
        }
        while s.inhibited {
            s = wait(&self.changed, s);
        }
        s.inflight += 1;
        Pass { gate: self }
    }

    /// Inhibits new passes and waits until none is in flight; lifted when the
    /// returned value is dropped. Inhibitors exclude each other.
    pub fn inhibit(&self) -> Inhibit<'_> {
        let mut s = lock(&self.state);
        while s.inhibited {
            s = wait(&self.changed, s);
        }
        s.inhibited = true;
        while self.protect && s.inflight > 0 {
            s = wait(&self.changed, s);
        }
        Inhibit { gate: self }
    }

    /// How many passes had to wait for an inhibit so far.
    pub fn held_total(&self) -> u64 {
        lock(&self.state).held_total
    }
}

/// A write's pass through the gate.
#[derive(Debug)]
pub struct Pass<'a> {
    gate: &'a Gate,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.gate.state);
        s.inflight -= 1;
        let last = s.inflight == 0;
        drop(s);
        if last {
            self.gate.changed.notify_all();
        }
    }
}

/// An inhibit in force; lifted when dropped.
#[derive(Debug)]
pub struct Inhibit<'a> {
    gate: &'a Gate,
}

impl Drop for Inhibit<'_> {
    fn drop(&mut self) {
        lock(&self.gate.state).inhibited = false;
        self.gate.changed.notify_all();
    }
}
