//! loom models of the engine's race-prone interactions (`engine/src/shared/`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p mirrorsim-engine --test loom --release`
//! (its own target directory: see `.ci/run`). loom runs each model under every
//! interleaving of its threads (bounded by `LOOM_MAX_PREEMPTIONS`). Each model has a
//! twin that runs it with the protection removed (the structure's `unprotected`
//! variant) and must fail with the model's own assertion: a model that cannot fail
//! proves nothing.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use mirrorsim_engine::shared::{
    Blocks, Broken, ChangeMap, Gate, ImageIx, Interlock, Layout, LookupTable, ThreadedArray,
};
use model::{Op, PairId, Reply, Value, VolumeId};

/// Host write versus copier on the same block. The chunk differs (its bit is set:
/// source 1, mirror 0). A host write holds the chunk, sets its bit and writes 2 to
/// the source; the copier claims the chunk, clears its bit and copies it. After
/// both, a final pass copies what is still marked: the mirror must equal the source.
fn host_write_vs_copier(protected: bool) {
    loom::model(move || {
        let lock = Arc::new(if protected { Interlock::new() } else { Interlock::unprotected() });
        let map = Arc::new(ChangeMap::new(1));
        let source = Arc::new(Blocks::new(1));
        let mirror = Arc::new(Blocks::new(1));
        source.store(0, 1);
        map.set(0);

        let writer = {
            let (lock, map, source) = (lock.clone(), map.clone(), source.clone());
            thread::spawn(move || {
                let _hold = lock.write(0..1);
                map.set(0);
                source.store(0, 2);
            })
        };
        // The hold lives through the body: the copy happens while the chunk is held.
        if let Some(_hold) = lock.try_copy(0)
            && map.test_and_clear(0)
        {
            mirror.store(0, source.load(0));
        }
        writer.join().unwrap();
        if map.test_and_clear(0) {
            mirror.store(0, source.load(0));
        }
        assert_eq!(
            mirror.load(0),
            source.load(0),
            "copier lost a host write: mirror stale with its bit clear"
        );
    });
}

#[test]
fn host_write_vs_copier_on_the_same_block() {
    host_write_vs_copier(true);
}

#[test]
#[should_panic(expected = "copier lost a host write")]
fn host_write_vs_copier_fails_without_the_interlock() {
    host_write_vs_copier(false);
}

/// Bit set versus resync clear in one word: a host write sets chunk 1's bit while the
/// copier clears chunk 0's. Chunk 1's bit must survive, chunk 0's must be gone.
fn bit_set_vs_resync_clear(protected: bool) {
    loom::model(move || {
        let map = Arc::new(if protected { ChangeMap::new(2) } else { ChangeMap::unprotected(2) });
        map.set(0);
        let writer = {
            let map = map.clone();
            thread::spawn(move || {
                map.set(1);
            })
        };
        let was = map.test_and_clear(0);
        writer.join().unwrap();
        assert!(was, "chunk 0 was marked");
        assert!(map.is_set(1), "bit race: a host write's bit was lost to a concurrent clear");
        assert!(!map.is_set(0), "bit race: a cleared bit came back (a set undid a concurrent clear)");
    });
}

#[test]
fn bit_set_vs_resync_clear_in_one_word() {
    bit_set_vs_resync_clear(true);
}

#[test]
#[should_panic(expected = "bit race")]
fn bit_set_vs_resync_clear_fails_without_atomic_updates() {
    bit_set_vs_resync_clear(false);
}

/// Lookup insert versus read versus snapshot creation. The volume's block holds 1; a
/// host writes 2 to it while another thread takes a snapshot, reads the volume,
/// then reads the image. If the volume still read 1 after the snapshot, the write
/// came after the snapshot's instant, so the image must hold 1; and the image never
/// changes after it was read (a third look after the write is done).
fn lookup_insert_vs_read_vs_snapshot(protected: bool) {
    loom::model(move || {
        let table = Arc::new(if protected { LookupTable::new() } else { LookupTable::unprotected() });
        let data = Arc::new(Blocks::new(1));
        data.store(0, 1);
        let writer = {
            let (table, data) = (table.clone(), data.clone());
            thread::spawn(move || table.write_volume(&data, 0, 2))
        };
        let image = table.snapshot();
        assert_eq!(image, ImageIx(0));
        let volume_after = data.load(0);
        let image_first = table.read_image_range(&data, image, 0, 1).expect("the image exists")[0];
        writer.join().unwrap();
        let image_last = table.read_image_range(&data, image, 0, 1).expect("the image exists")[0];
        if volume_after == 1 {
            assert_eq!(image_first, 1, "the image shows a write that came after the snapshot");
        }
        assert_eq!(image_first, image_last, "the image changed after the snapshot");
        assert_eq!(data.load(0), 2, "the volume lost its write");
    });
}

#[test]
fn lookup_insert_vs_read_vs_snapshot_creation() {
    lookup_insert_vs_read_vs_snapshot(true);
}

#[test]
#[should_panic(expected = "the image")]
fn lookup_insert_vs_read_vs_snapshot_fails_when_the_data_is_written_outside_the_lock() {
    lookup_insert_vs_read_vs_snapshot(false);
}

/// Inhibit gate versus writes in flight: two host writes pass the gate and each
/// writes its block in two steps (1, then 2: a multi-block write half done); the
/// inhibitor must never see a half-done state, and a write held by the inhibit is
/// delayed, never lost (a lost wake-up would be a deadlock, which loom reports).
fn inhibit_vs_writes_in_flight(protected: bool) {
    loom::model(move || {
        let gate = Arc::new(if protected { Gate::new() } else { Gate::unprotected() });
        let data = Arc::new(Blocks::new(2));
        let writers: Vec<_> = (0..2)
            .map(|b| {
                let (gate, data) = (gate.clone(), data.clone());
                thread::spawn(move || {
                    let _pass = gate.enter();
                    data.store(b, 1);
                    data.store(b, 2);
                })
            })
            .collect();
        {
            let _inhibit = gate.inhibit();
            for b in 0..2 {
                let seen = data.load(b);
                assert!(seen == 0 || seen == 2, "the inhibitor saw a write in flight half done");
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!((data.load(0), data.load(1)), (2, 2), "a held write was lost");
    });
}

#[test]
fn inhibit_gate_vs_writes_in_flight() {
    inhibit_vs_writes_in_flight(true);
}

#[test]
#[should_panic(expected = "half done")]
fn inhibit_gate_fails_when_the_inhibit_does_not_wait() {
    inhibit_vs_writes_in_flight(false);
}

/// The threaded array itself (`ThreadedArray`, built on the same structures), one
/// block per chunk and one chunk: a resync's copier and a host write to the source
/// race, then the copy ends. The mirror must equal the source (the engine's own
/// invariant, checked at the copy's end) and the host's write must be on both.
fn array_resync_vs_host_write(broken: Broken) {
    loom::model(move || {
        let a = Arc::new(ThreadedArray::with_broken(&layout(), broken));
        setup_split(&a, 1);
        assert_eq!(a.execute(&Op::Resync { pair: PAIR }), Ok(Reply::Done));
        let writer = {
            let a = a.clone();
            thread::spawn(move || a.execute(&write(SOURCE, 2)))
        };
        a.copy_pass();
        assert_eq!(writer.join().unwrap(), Ok(Reply::Done));
        a.finish_copy(|| ()).expect("the pair was copying");
        assert_eq!(a.violations(), Vec::<String>::new(), "the array broke its invariant");
    });
}

#[test]
fn array_resync_vs_host_write_on_the_same_chunk() {
    array_resync_vs_host_write(Broken::default());
}

#[test]
#[should_panic(expected = "the array broke its invariant")]
fn array_resync_vs_host_write_fails_without_the_interlock() {
    array_resync_vs_host_write(Broken { interlock: true, ..Broken::default() });
}

/// A restore's copier and a host read of the source race: the read must see the
/// mirror's image (2), whether the chunk was restored yet or not.
fn array_restore_vs_host_read(broken: Broken) {
    loom::model(move || {
        let a = Arc::new(ThreadedArray::with_broken(&layout(), broken));
        setup_split(&a, 1);
        assert_eq!(a.execute(&write(MIRROR, 2)), Ok(Reply::Done));
        assert_eq!(a.execute(&Op::Restore { pair: PAIR, protected: false }), Ok(Reply::Done));
        let reader = {
            let a = a.clone();
            thread::spawn(move || a.execute(&Op::Read { vol: SOURCE, block: 0, len: 1 }))
        };
        a.copy_pass();
        let seen = reader.join().unwrap();
        assert_eq!(seen, Ok(Reply::Values(vec![Value(2)])), "a read during the restore missed the image");
        a.finish_copy(|| ()).expect("the pair was copying");
        assert_eq!(a.violations(), Vec::<String>::new(), "the array broke its invariant");
    });
}

#[test]
fn array_restore_vs_host_read_of_the_source() {
    array_restore_vs_host_read(Broken::default());
}

const SOURCE: VolumeId = VolumeId(0);
const MIRROR: VolumeId = VolumeId(1);
const PAIR: PairId = PairId(1);

fn layout() -> Layout {
    Layout {
        volumes: vec![(SOURCE, 1), (MIRROR, 1)],
        grain: 1,
        pair: Some((PAIR, SOURCE, MIRROR)),
        snapshot: None,
        perturb: false,
    }
}

fn write(vol: VolumeId, v: u64) -> Op {
    Op::Write { vol, block: 0, values: vec![Value(v)] }
}

/// Single-threaded set-up: the pair created, copied, split, and the source written
/// with `v` (so the chunk differs and is marked).
fn setup_split(a: &ThreadedArray, v: u64) {
    let create = Op::PairCreate { pair: PAIR, source: SOURCE, mirror: MIRROR };
    assert_eq!(a.execute(&create), Ok(Reply::Done));
    a.finish_copy(|| ()).expect("the initial copy");
    assert_eq!(a.execute(&Op::Split { pair: PAIR }), Ok(Reply::Done));
    assert_eq!(a.execute(&write(SOURCE, v)), Ok(Reply::Done));
}
