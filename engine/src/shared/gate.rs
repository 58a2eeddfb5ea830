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

use super::sync::{AtomicU64, Condvar, Mutex, Ordering, lock, wait};

/// The inhibit flag in [`Gate::word`]; the bits below it count passes in flight.
const INHIBIT: u64 = 1 << 63;

#[derive(Debug, Default)]
struct State {
    /// An inhibitor holds the gate (inhibitors exclude each other).
    inhibiting: bool,
    /// Passes that found the gate inhibited and waited (a count for reports).
    held_total: u64,
}

/// Writes pass while the gate is open; an inhibitor closes it and waits for the
/// writes in flight.
///
/// The fast path is one compare-and-swap on one word (the inhibit flag and the count
/// of passes in flight together), so an open gate costs a host write no lock. The
/// flag and the count live in one word so that a write entering and an inhibitor
/// closing are ordered by that word alone. Waiting (a write for the lift, an
/// inhibitor for the last pass) uses the mutex and condition variable; the flag is
/// changed only with the mutex held, and a pass that leaves the gate last while it is
/// inhibited notifies under the mutex, so no wake-up is lost.
#[derive(Debug)]
pub struct Gate {
    word: AtomicU64,
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
        Gate {
            word: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            protect: true,
        }
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
        let mut w = self.word.load(Ordering::SeqCst);
        loop {
            if w & INHIBIT != 0 {
                let mut s = lock(&self.state);
                s.held_total += 1;
                while self.word.load(Ordering::SeqCst) & INHIBIT != 0 {
                    s = wait(&self.changed, s);
                }
                drop(s);
                w = self.word.load(Ordering::SeqCst);
                continue;
            }
            match self.word.compare_exchange(w, w + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Pass { gate: self },
                Err(now) => w = now,
            }
        }
    }

    /// Inhibits new passes and waits until none is in flight; lifted when the
    /// returned value is dropped. Inhibitors exclude each other.
    pub fn inhibit(&self) -> Inhibit<'_> {
        let mut s = lock(&self.state);
        while s.inhibiting {
            s = wait(&self.changed, s);
        }
        s.inhibiting = true;
        self.word.fetch_or(INHIBIT, Ordering::SeqCst);
        while self.protect && self.word.load(Ordering::SeqCst) & !INHIBIT != 0 {
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
        let old = self.gate.word.fetch_sub(1, Ordering::SeqCst);
        if old == INHIBIT | 1 {
            // The last pass out of an inhibited gate: wake the inhibitor.
            let _s = lock(&self.gate.state);
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
        let mut s = lock(&self.gate.state);
        s.inhibiting = false;
        self.gate.word.fetch_and(!INHIBIT, Ordering::SeqCst);
        drop(s);
        self.gate.changed.notify_all();
    }
}
