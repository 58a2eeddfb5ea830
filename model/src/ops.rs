//! Operations, results and errors: what a client asks and what it is told.

use crate::ids::{Value, VolumeId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A client-visible operation.
///
/// Multi-block operations are atomic per block only, as on a SCSI or NVMe device: a
/// read concurrent with a multi-block write may see some blocks old and some new.
/// The checker therefore judges each block independently (P-compositionality).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Read `len` blocks starting at `block`.
    Read { vol: VolumeId, block: u64, len: u32 },
    /// Write `values` to consecutive blocks starting at `block`.
    Write { vol: VolumeId, block: u64, values: Vec<Value> },
}

impl Op {
    /// The volume this operation addresses.
    pub fn volume(&self) -> VolumeId {
        match self {
            Op::Read { vol, .. } | Op::Write { vol, .. } => *vol,
        }
    }

    /// The blocks this operation touches: `(first, count)`.
    pub fn extent(&self) -> (u64, u64) {
        match self {
            Op::Read { block, len, .. } => (*block, u64::from(*len)),
            Op::Write { block, values, .. } => (*block, values.len() as u64),
        }
    }

    pub fn is_write(&self) -> bool {
        matches!(self, Op::Write { .. })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Read { vol, block, len } => write!(f, "read({vol}, {block}, len {len})"),
            Op::Write { vol, block, values } => {
                write!(f, "write({vol}, {block}, [")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        write!(f, " ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "])")
            }
        }
    }
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The values read, one per block.
    Values(Vec<Value>),
    /// The command took effect.
    Done,
}

/// Why the model (and so the engine) rejects an operation. An error is a result: the
/// model says exactly when each is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The volume does not exist.
    NoSuchVolume,
    /// The extent runs past the end of the volume, or is empty.
    OutOfRange,
    /// The volume is not host-accessible in its current role.
    NotAccessible,
    /// The data is unreadable.
    MediaError,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::NoSuchVolume => "no such volume",
            ErrorKind::OutOfRange => "out of range",
            ErrorKind::NotAccessible => "not accessible",
            ErrorKind::MediaError => "media error",
        };
        f.write_str(s)
    }
}

/// The result of an operation, as the model defines it.
pub type OpResult = Result<Reply, ErrorKind>;
