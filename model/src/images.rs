//! Point-in-time images (SPEC §2 S4; LVM and dm snapshots, VSS shadow copies).
//!
//! `snapshot(vol, image)` makes `image` := `vol` at its linearization point: from then
//! on the image is a volume of its own (a VLUN), readable and writable, and its writes
//! are private. Writes to the origin after the snapshot never reach the image. A
//! volume may have many images (generations); `delete_snapshot(image)` removes one.
//!
//! Naming: the client names the image with an id from [`VolumeId::IMAGE_BASE`] up
//! (scenario files bind a name to it in the snapshot's timeline entry, as S2 binds pair
//! names), so the command's result is a plain `done` and the model stays
//! deterministic under any linearization. An image id may be used again after its
//! image was deleted.
//!
//! The rules of `snapshot`, in the order they are checked (the engine checks the same):
//! the volume exists (a declared volume, or an image that exists) else `NoSuchVolume`;
//! the volume is not itself an image and the image id is in the images' range else
//! `InvalidImage`; no image has the id else `ImageExists`; the volume is in no mirror
//! pair else `InPair`; the volume holds no backup's region (S0) else `HasBackups`; the volume is
//! not an inconsistent mirror else `Inconsistent`; then S3's rules for a volume in a
//! remote pair (`crate::remote`, "Snapshots"): a fenced primary `fenced`, the
//! secondary of an async group `in_pair`, a sync secondary with no consistent image
//! in place `inconsistent`.
//! `delete_snapshot` of an id that is no image: `NoSuchImage`. A volume with images
//! cannot join a pair (`HasImages`), and an image never can (`InvalidPair`).
//!
//! In the model an image is a structurally shared copy of the origin's block map, so
//! a snapshot costs O(1) here as well.

use crate::ids::VolumeId;
use crate::ops::{ErrorKind, OpResult, Reply};
use crate::storage::{StorageModel, Volume, data_digest};

impl StorageModel {
    /// `image` := `vol` now (see the module doc for the rules).
    pub(crate) fn snapshot(&mut self, vol: VolumeId, image: VolumeId) -> OpResult {
        let v = self.volumes.get(&vol).ok_or(ErrorKind::NoSuchVolume)?;
        if vol.is_image() || !image.is_image() {
            return Err(ErrorKind::InvalidImage);
        }
        if self.volumes.contains_key(&image) {
            return Err(ErrorKind::ImageExists);
        }
        if self.pair_of(vol).is_some() {
            return Err(ErrorKind::InPair);
        }
        if self.has_backups(vol) {
            return Err(ErrorKind::HasBackups);
        }
        if v.inconsistent {
            return Err(ErrorKind::Inconsistent);
        }
        self.remote_snapshot_allowed(vol)?;
        // A following sync secondary shows its primary's data (S3).
        let data = &self.volumes[&self.remote_data_volume(vol).unwrap_or(vol)].data;
        let copy = Volume { blocks: v.blocks, data: data.clone(), inconsistent: false };
        self.digest = self.digest.wrapping_add(data_digest(image, &copy.data));
        self.volumes.insert(image, copy);
        self.images.insert(image, vol);
        Ok(Reply::Done)
    }

    /// Removes an image.
    pub(crate) fn delete_snapshot(&mut self, image: VolumeId) -> OpResult {
        if self.images.remove(&image).is_none() {
            return Err(ErrorKind::NoSuchImage);
        }
        let gone = self.volumes.remove(&image).expect("an image is a volume");
        self.digest = self.digest.wrapping_sub(data_digest(image, &gone.data));
        Ok(Reply::Done)
    }

    /// True if some image has `vol` as its origin.
    pub fn has_images(&self, vol: VolumeId) -> bool {
        self.images.values().any(|o| *o == vol)
    }

    /// The origin of an image; `None` if `image` is no image now.
    pub fn image_origin(&self, image: VolumeId) -> Option<VolumeId> {
        self.images.get(&image).copied()
    }

    /// The images that exist now, with their origins, in id order.
    pub fn images(&self) -> impl Iterator<Item = (VolumeId, VolumeId)> + '_ {
        self.images.iter().map(|(i, o)| (*i, *o))
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::{PairId, Value, VolumeId};
    use crate::ops::{ErrorKind, Op, OpResult, PairEvent, Reply};
    use crate::storage::{StorageModel, VolumeSpec};

    const V: VolumeId = VolumeId(0);
    const W: VolumeId = VolumeId(1);

    fn img(n: u32) -> VolumeId {
        VolumeId(VolumeId::IMAGE_BASE + n)
    }

    fn model() -> StorageModel {
        StorageModel::new(&[VolumeSpec { id: V, blocks: 16 }, VolumeSpec { id: W, blocks: 16 }])
    }

    fn w(m: &mut StorageModel, vol: VolumeId, block: u64, seq: u32) -> OpResult {
        m.apply(&Op::Write { vol, block, values: vec![Value::pack(1, seq, 0)] })
    }

    fn r(m: &mut StorageModel, vol: VolumeId, block: u64) -> OpResult {
        m.apply(&Op::Read { vol, block, len: 1 })
    }

    fn vals(seq: u32) -> OpResult {
        Ok(Reply::Values(vec![if seq == 0 { Value::ZERO } else { Value::pack(1, seq, 0) }]))
    }

    fn snap(m: &mut StorageModel, vol: VolumeId, image: VolumeId) -> OpResult {
        m.apply(&Op::Snapshot { vol, image })
    }

    #[test]
    fn an_image_is_the_origin_at_the_snapshot_and_its_writes_stay_private() {
        let mut m = model();
        w(&mut m, V, 1, 1).unwrap();
        assert_eq!(r(&mut m, img(0), 1), Err(ErrorKind::NoSuchVolume), "no image before the snapshot");
        snap(&mut m, V, img(0)).unwrap();
        w(&mut m, V, 1, 2).unwrap();
        assert_eq!(r(&mut m, img(0), 1), vals(1), "origin writes after L never reach the image");
        assert_eq!(r(&mut m, V, 1), vals(2));
        w(&mut m, img(0), 2, 3).unwrap();
        assert_eq!(r(&mut m, img(0), 2), vals(3), "the image is writable");
        assert_eq!(r(&mut m, V, 2), vals(0), "image writes stay on the image");
        assert_eq!(m.apply(&Op::Read { vol: img(0), block: 15, len: 2 }), Err(ErrorKind::OutOfRange));
        assert_eq!(m.image_origin(img(0)), Some(V));
    }

    #[test]
    fn many_generations_and_deletes() {
        let mut m = model();
        for g in 0..5 {
            w(&mut m, V, 0, g + 1).unwrap();
            snap(&mut m, V, img(g)).unwrap();
        }
        for g in 0..5 {
            assert_eq!(r(&mut m, img(g), 0), vals(g + 1), "generation {g}");
        }
        m.apply(&Op::DeleteSnapshot { image: img(2) }).unwrap();
        assert_eq!(r(&mut m, img(2), 0), Err(ErrorKind::NoSuchVolume));
        assert_eq!(m.apply(&Op::DeleteSnapshot { image: img(2) }), Err(ErrorKind::NoSuchImage));
        assert_eq!(r(&mut m, img(3), 0), vals(4), "deleting one generation leaves the others");
        // An id may be used again after its delete, for the origin's content now.
        snap(&mut m, V, img(2)).unwrap();
        assert_eq!(r(&mut m, img(2), 0), vals(5));
        assert_eq!(m.images().count(), 5);
    }

    #[test]
    fn refusals_in_order() {
        let mut m = model();
        assert_eq!(snap(&mut m, VolumeId(9), img(0)), Err(ErrorKind::NoSuchVolume));
        assert_eq!(snap(&mut m, img(5), img(0)), Err(ErrorKind::NoSuchVolume), "an absent image");
        assert_eq!(snap(&mut m, V, W), Err(ErrorKind::InvalidImage), "a declared volume's id");
        snap(&mut m, V, img(0)).unwrap();
        assert_eq!(snap(&mut m, img(0), img(1)), Err(ErrorKind::InvalidImage), "no images of images");
        assert_eq!(snap(&mut m, W, img(0)), Err(ErrorKind::ImageExists));
        assert_eq!(m.apply(&Op::DeleteSnapshot { image: V }), Err(ErrorKind::NoSuchImage));
        // Pairs and images exclude each other.
        let p = PairId(1);
        assert_eq!(m.apply(&Op::PairCreate { pair: p, source: V, mirror: W }), Err(ErrorKind::HasImages));
        assert_eq!(m.apply(&Op::PairCreate { pair: p, source: W, mirror: V }), Err(ErrorKind::HasImages));
        m.apply(&Op::DeleteSnapshot { image: img(0) }).unwrap();
        m.apply(&Op::PairCreate { pair: p, source: V, mirror: W }).unwrap();
        assert_eq!(snap(&mut m, V, img(0)), Err(ErrorKind::InPair));
        assert_eq!(snap(&mut m, W, img(0)), Err(ErrorKind::InPair));
        m.apply(&Op::PairDelete { pair: p }).unwrap();
        assert_eq!(snap(&mut m, W, img(0)), Err(ErrorKind::Inconsistent), "a mirror deleted mid-copy");
        m.apply(&Op::PairCreate { pair: p, source: V, mirror: W }).unwrap();
        m.apply(&Op::PairEvent { pair: p, event: PairEvent::CopyDone }).unwrap();
        m.apply(&Op::PairDelete { pair: p }).unwrap();
        snap(&mut m, W, img(0)).unwrap();
        let big = StorageModel::new(&[VolumeSpec { id: V, blocks: 16 }, VolumeSpec { id: W, blocks: 16 }]);
        assert_eq!(big.validate_static(&Op::Read { vol: img(0), block: 99, len: 1 }), Ok(()));
    }

    #[test]
    fn states_with_different_images_differ() {
        let mut a = model();
        let mut b = model();
        snap(&mut a, V, img(0)).unwrap();
        snap(&mut b, W, img(0)).unwrap();
        assert_ne!(a, b, "the same id, different origins");
        b.apply(&Op::DeleteSnapshot { image: img(0) }).unwrap();
        snap(&mut b, V, img(0)).unwrap();
        assert_eq!(a, b);
    }
}
