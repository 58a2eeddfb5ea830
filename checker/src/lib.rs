//! Checkers: each property family in a module of its own.
//!
//! - [`differential`]: one client, no faults: the engine answers exactly as the model.
//! - [`durability`]: every acknowledged write survives crashes.
pub mod differential;
pub mod durability;
