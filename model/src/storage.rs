//! The sequential reference model of volumes.
//!
//! A volume is a sparse map from block to value; an absent block holds 0. Cost
//! follows the blocks touched, never the volume size (volumes of 2^40 blocks are
//! ordinary).

use crate::ids::{Value, VolumeId};
use crate::ops::{ErrorKind, Op, OpResult, Reply};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A volume's identity and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub id: VolumeId,
    pub blocks: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Volume {
    blocks: u64,
    data: BTreeMap<u64, Value>,
}

/// The reference model: every operation applied one at a time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StorageModel {
    volumes: BTreeMap<VolumeId, Volume>,
}

impl StorageModel {
    /// A model holding the given volumes, all blocks 0.
    pub fn new(volumes: &[VolumeSpec]) -> StorageModel {
        let volumes =
            volumes.iter().map(|v| (v.id, Volume { blocks: v.blocks, data: BTreeMap::new() })).collect();
        StorageModel { volumes }
    }

    /// Checks that `op` addresses an existing volume and a non-empty extent inside it.
    /// This is the rejection rule shared by every operation on a volume.
    pub fn validate(&self, op: &Op) -> Result<(), ErrorKind> {
        let vol = self.volumes.get(&op.volume()).ok_or(ErrorKind::NoSuchVolume)?;
        let (first, count) = op.extent();
        let end = first.checked_add(count).ok_or(ErrorKind::OutOfRange)?;
        if count == 0 || end > vol.blocks {
            return Err(ErrorKind::OutOfRange);
        }
        Ok(())
    }

    /// Applies one operation and returns its result.
    pub fn apply(&mut self, op: &Op) -> OpResult {
        self.validate(op)?;
        let vol = self.volumes.get_mut(&op.volume()).expect("validated");
        match op {
            Op::Read { block, len, .. } => {
                let values = (0..u64::from(*len))
                    .map(|i| vol.data.get(&(block + i)).copied().unwrap_or(Value::ZERO))
                    .collect();
                Ok(Reply::Values(values))
            }
            Op::Write { block, values, .. } => {
                for (i, v) in values.iter().enumerate() {
                    vol.data.insert(block + i as u64, *v);
                }
                Ok(Reply::Done)
            }
        }
    }

    /// The value of one block (0 if never written); `None` if the address is invalid.
    pub fn block(&self, vol: VolumeId, block: u64) -> Option<Value> {
        let v = self.volumes.get(&vol)?;
        (block < v.blocks).then(|| v.data.get(&block).copied().unwrap_or(Value::ZERO))
    }

    /// The size of a volume in blocks.
    pub fn volume_blocks(&self, vol: VolumeId) -> Option<u64> {
        self.volumes.get(&vol).map(|v| v.blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> StorageModel {
        StorageModel::new(&[VolumeSpec { id: VolumeId(0), blocks: 1 << 40 }])
    }

    #[test]
    fn unwritten_blocks_read_zero_and_writes_are_read_back() {
        let mut m = model();
        let v = VolumeId(0);
        let w = Value::pack(1, 1, 0);
        let big = (1u64 << 40) - 2;
        assert_eq!(
            m.apply(&Op::Read { vol: v, block: big, len: 2 }),
            Ok(Reply::Values(vec![Value::ZERO; 2]))
        );
        assert_eq!(
            m.apply(&Op::Write { vol: v, block: big, values: vec![w, Value::pack(1, 1, 1)] }),
            Ok(Reply::Done)
        );
        assert_eq!(m.block(v, big), Some(w));
        assert_eq!(
            m.apply(&Op::Read { vol: v, block: big + 1, len: 1 }),
            Ok(Reply::Values(vec![Value::pack(1, 1, 1)]))
        );
    }

    #[test]
    fn rejections() {
        let mut m = model();
        assert_eq!(m.apply(&Op::Read { vol: VolumeId(9), block: 0, len: 1 }), Err(ErrorKind::NoSuchVolume));
        assert_eq!(
            m.apply(&Op::Read { vol: VolumeId(0), block: 1 << 40, len: 1 }),
            Err(ErrorKind::OutOfRange)
        );
        assert_eq!(
            m.apply(&Op::Read { vol: VolumeId(0), block: u64::MAX, len: 2 }),
            Err(ErrorKind::OutOfRange)
        );
        assert_eq!(m.apply(&Op::Read { vol: VolumeId(0), block: 0, len: 0 }), Err(ErrorKind::OutOfRange));
        assert_eq!(
            m.apply(&Op::Write { vol: VolumeId(0), block: 0, values: vec![] }),
            Err(ErrorKind::OutOfRange)
        );
    }
}
