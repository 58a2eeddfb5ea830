//! The vocabulary of mirrorsim and its sequential reference model.
//!
//! This crate is the specification: small enough to be obviously right. It depends
//! on no other crate of ours. Everything the engine, the simulator and the checker
//! say to each other about client-visible behaviour is spelled in these types.
//!
//! - [`ids`]: identifiers and block values (with the unique-value packing of SPEC §1).
//! - [`ops`]: operations, their results and their errors.
//! - [`storage`]: the sequential reference model of volumes and mirror pairs (S2).
//! - [`files`]: S1's file-level history (application writes, inhibit windows, tape).
//! - [`remote`]: remote pairs and consistency groups (S3), part of the same model.
//! - [`images`]: point-in-time images (S4): `snapshot`, `delete_snapshot`.
//! - [`backup`]: backup with a catalog (S0): `backup`, `record_backup`, `list_backups`,
//!   `restore_backup`, and the catalog entries' states.
//! - [`history`]: a client history (invocations and completions) as the checker reads it.

pub mod backup;
pub mod files;
pub mod history;
pub mod ids;
pub mod images;
pub mod ops;
pub mod remote;
pub mod storage;

pub use backup::{BackupEvent, BackupId, BackupInfo, BackupState, CatalogEntry, Region};
pub use history::{Completion, History, HistoryOp, ProcessId};
pub use ids::{ArrayId, GroupId, HostId, PairId, Value, VolumeId};
pub use ops::{ErrorKind, Op, OpResult, PairEvent, PairState, Reply};
pub use remote::{Fence, RemoteEvent, RemoteMode, RemoteState, SplitBrainPolicy};
pub use storage::{StorageModel, VolumeSpec};
