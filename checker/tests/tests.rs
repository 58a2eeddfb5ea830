//! The checker's tests, one binary (table of contents):
//!
//! - `backup`: S0 histories: a backup's destination against its source at the backup point.
//! - `brute`: a brute-force checker (every order consistent with real time), the
//!   reference the fast one is cross-checked against.
//! - `gen`: small random histories for the cross-check.
//! - `classic`: hand-written classic cases, each pinning a verdict and counterexample.
//! - `crosscheck`: proptest: fast checker and brute force agree on every case.
//! - `format`: the JSON-lines history format: parsing, errors, verdicts.
//! - `offload`: the S1 offload check on hand-written file histories, rule by rule.

mod backup;
mod brute;
mod classic;
mod crosscheck;
mod format;
mod r#gen;
mod offload;
