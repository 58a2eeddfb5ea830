//! mirrorsim: a deterministic simulation and verification harness for storage
//! replication. This package is the glue: scenario files, running and judging a
//! scenario, and the command line.

pub mod backup_report;
pub mod bench;
pub mod bench_offload;
pub mod bench_remote;
pub mod bench_s0;
pub mod bench_s4;
pub mod check_cmd;
pub mod cli;
pub mod fuzz;
pub mod linearizability;
pub mod offload_report;
pub mod remote_report;
pub mod report_html;
pub mod runner;
pub mod scenario;
pub mod stress;
