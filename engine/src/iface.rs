//! The engine interface (an API boundary).
//!
//! An array engine is a deterministic state machine driven by [`Input`]s and producing
//! [`Output`]s. The simulator delivers every input and carries out every output:
//!
//! - Host requests arrive as [`Input::Host`]; the engine answers each with exactly one
//!   [`Output::Reply`] (unless it crashes first). Requests may arrive twice (a link can
//!   duplicate messages): the engine must not apply a duplicate twice.
//! - Media I/O is asynchronous: [`Output::Media`] submits, [`Input::MediaDone`] completes.
//!   A media write is durable once its completion arrives, not before; at a crash,
//!   writes in flight may have landed wholly, partly (a torn multi-block write) or not
//!   at all. A write is acknowledged to a host only once the media says it is durable.
//! - Metadata the engine needs after a restart goes to the durable metadata area with
//!   [`MediaOp::MetaPut`]. A restarted controller is booted by
//!   [`EngineFactory::boot`] with exactly what was persisted there: controller memory
//!   is lost, media and metadata are kept.
//! - Timers: [`Output::Timer`] asks for [`Input::Timer`] after a delay. The engine
//!   never reads a clock.

use model::{ArrayId, Op, OpResult, Value, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A host request: the host and that host's request sequence number. Unique per host
/// for the whole run; a duplicate delivery carries the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReqId {
    pub host: u32,
    pub seq: u64,
}

/// A media I/O, numbered by the engine (unique within one controller incarnation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IoId(pub u64);

/// A timer, numbered by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// A sparse physical block space on the array's media. The engine decides how volumes
/// map to spaces (one space per volume, a shared pool for snapshots, ...). Spaces
/// hold 2^64 blocks; storage is sparse and an unwritten block reads 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpaceId(pub u32);

/// The durable metadata area: key → bytes. Survives controller crashes.
pub type Metadata = BTreeMap<String, Vec<u8>>;

/// What the engine is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The controller has just booted (first start or a restart). Always the first
    /// input of an incarnation: the place to resume background work.
    Started,
    /// A host request arrived.
    Host { req: ReqId, op: Op },
    /// A media I/O the engine submitted has completed.
    MediaDone { io: IoId, result: MediaResult },
    /// A timer the engine set has fired.
    Timer { timer: TimerId },
    /// A message from another array arrived over an array-to-array link.
    Peer { from: ArrayId, msg: Vec<u8> },
}

/// What the engine asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Submit a media I/O; its completion comes back as [`Input::MediaDone`].
    Media { io: IoId, op: MediaOp },
    /// Answer a host request.
    Reply { req: ReqId, result: OpResult },
    /// Ask for [`Input::Timer`] after `after_ns` simulated nanoseconds.
    Timer { timer: TimerId, after_ns: u64 },
    /// Send a message to another array. Links may drop, delay, duplicate or reorder
    /// it, and a link that is down loses it: the engine must tolerate all of these.
    Send { to: ArrayId, msg: Vec<u8> },
}

/// A media I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaOp {
    /// Read `len` consecutive blocks.
    Read { space: SpaceId, block: u64, len: u32 },
    /// Write consecutive blocks. Multi-block writes can tear at a crash.
    Write { space: SpaceId, block: u64, values: Vec<Value> },
    /// Store `value` under `key` in the durable metadata area (atomic per key).
    MetaPut { key: String, value: Vec<u8> },
    /// Remove `key` from the durable metadata area.
    MetaDelete { key: String },
}

/// The completion of a media I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaResult {
    /// The blocks read, in order.
    Read(Vec<Value>),
    /// The write or metadata update is durable.
    Written,
    /// The media could not read some block (a media error).
    ReadError { block: u64 },
}

/// The static configuration of one array: its volumes. Given at every boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayConfig {
    /// This array's id (the peers' ids are those of [`Input::Peer`] and [`Output::Send`]).
    pub id: ArrayId,
    pub name: String,
    pub volumes: Vec<(VolumeId, u64)>,
}

/// An array controller under test.
pub trait ArrayEngine {
    /// Handles one input, appending any outputs to `out` (which the caller empties).
    fn handle(&mut self, input: Input, out: &mut Vec<Output>);

    /// A short description of the engine's current state for traces and reports.
    fn describe(&self) -> String {
        String::new()
    }

    /// True while the engine has background work it will carry on by itself (a copy,
    /// a resync). The simulator lets a run settle until no engine is busy.
    fn busy(&self) -> bool {
        false
    }
}

/// Boots engines: at the start of a run and after every controller restart.
pub trait EngineFactory {
    /// The engine's name, for reports.
    fn name(&self) -> &str;

    /// A controller for `config` whose memory holds only what it can rebuild from
    /// `metadata` (empty on first boot).
    fn boot(&self, config: &ArrayConfig, metadata: &Metadata) -> Box<dyn ArrayEngine>;
}
