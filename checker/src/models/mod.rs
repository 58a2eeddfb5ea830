//! The models shipped with the checker.
//!
//! - [`cas`]: one compare-and-set register.
//! - [`kv`]: a key-value store of strings with get, put and append, partitioned per key.
//! - [`storage`]: mirrorsim's volumes ([`model::StorageModel`]), partitioned per block.

pub mod cas;
pub mod kv;
pub mod storage;
