//! Identifiers and block values.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A volume, numbered across the whole simulated world (not per array).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VolumeId(pub u32);

/// A disk array (storage controller).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ArrayId(pub u32);

/// A host computer issuing I/O and admin commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HostId(pub u32);

/// A mirror pair (a source volume and its mirror), named by the client that creates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PairId(pub u32);

/// A consistency group of remote pairs (S3), named by the client that creates its
/// first pair. The group suspends, resumes, takes over and fails back as one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupId(pub u32);

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group{}", self.0)
    }
}

impl fmt::Display for PairId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pair{}", self.0)
    }
}

impl VolumeId {
    /// The first id of a point-in-time image (S4). Ids from here up name images, which
    /// a `snapshot` command creates and `delete_snapshot` removes; ids below name the
    /// volumes a topology declares.
    pub const IMAGE_BASE: u32 = 1 << 31;

    /// True for the id of a point-in-time image.
    pub fn is_image(self) -> bool {
        self.0 >= VolumeId::IMAGE_BASE
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_image() {
            write!(f, "img{}", self.0 - VolumeId::IMAGE_BASE)
        } else {
            write!(f, "vol{}", self.0)
        }
    }
}

/// The content of one block. `Value(0)` means never written.
///
/// Every host write writes values no other write ever wrote (SPEC §1): the value packs
/// the writer, the writer's sequence number and the block's offset inside the write,
/// so a read names the exact write it saw.
///
/// Layout (most significant first): `writer:16 | seq:32 | offset:16`. Writer ids start
/// at 1, so a written value is never 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Value(pub u64);

/// The parts of a packed [`Value`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteTag {
    pub writer: u16,
    pub seq: u32,
    pub offset: u16,
}

impl Value {
    pub const ZERO: Value = Value(0);
    /// Largest number of blocks one write may carry (the offset field is 16 bits).
    pub const WRITE_LEN_MAX: u32 = 1 << 16;

    /// Packs a unique value. `writer` must be non-zero so the result is never 0.
    pub fn pack(writer: u16, seq: u32, offset: u16) -> Value {
        assert!(writer != 0, "writer 0 is reserved: it would make value 0 possible");
        Value((u64::from(writer) << 48) | (u64::from(seq) << 16) | u64::from(offset))
    }

    /// The writer, sequence number and offset packed in this value; `None` for 0.
    pub fn unpack(self) -> Option<WriteTag> {
        if self.0 == 0 {
            return None;
        }
        Some(WriteTag { writer: (self.0 >> 48) as u16, seq: (self.0 >> 16) as u32, offset: self.0 as u16 })
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unpack() {
            None => write!(f, "0"),
            Some(t) => write!(f, "w{}#{}+{}", t.writer, t.seq, t.offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip_and_never_zero() {
        for (w, s, o) in [(1, 0, 0), (65535, u32::MAX, 65535), (7, 12345, 3)] {
            let v = Value::pack(w, s, o);
            assert_ne!(v, Value::ZERO);
            assert_eq!(v.unpack(), Some(WriteTag { writer: w, seq: s, offset: o }));
        }
        assert_eq!(Value::ZERO.unpack(), None);
    }

    #[test]
    #[should_panic(expected = "writer 0 is reserved")]
    fn writer_zero_is_rejected() {
        Value::pack(0, 1, 0);
    }
}
