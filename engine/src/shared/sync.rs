//! The synchronisation façade: `std`'s primitives in ordinary builds, loom's under
//! `--cfg loom`, so the same structures run on real threads and under the model
//! checker that explores their interleavings.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard, RwLock};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, RwLock};

/// Locks `m`. A poisoned lock means a thread panicked while holding it; the panic is
/// the report, so the structures propagate it instead of limping on.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("a thread panicked while holding an engine lock")
}

/// Waits on `cv` with `g`, propagating poison as [`lock`] does.
pub(crate) fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(g).expect("a thread panicked while holding an engine lock")
}
