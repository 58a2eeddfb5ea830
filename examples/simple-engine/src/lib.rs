//! A deliberately simple array engine, to show how to plug your own engine into
//! mirrorsim (docs/engines.md walks through it). It is correct for what it supports
//! and says so honestly for the rest:
//!
//! - **Supported**: host reads and writes (the Foundation scenarios). Every request
//!   is checked by the model's own rule ([`model::StorageModel::validate`]: an
//!   existing volume, a non-empty extent inside it); a write goes straight to the
//!   media (write-through, one media I/O per request, volume `v` on space `v`) and is
//!   acknowledged only when the media says it is durable; a read answers what the
//!   media returns, or `media_error`.
//! - **Duplicates**: a link may deliver a request twice. Each request id is remembered
//!   (per incarnation: a restart forgets, which is safe because the simulator never
//!   delivers after a crash a message sent before it); a duplicate is dropped and the
//!   original answers. Unlike the production controller's bounded window, the memory
//!   grows with the run: fine for an example, not for a product.
//! - **Crash recovery**: nothing to recover. There is no metadata: media holds every
//!   acknowledged write, and a write in flight at a crash was never acknowledged.
//! - **Refused**: every admin command (mirror pairs, remote groups, snapshots), with
//!   the model's error kind for "that object does not exist" (`no_such_pair`,
//!   `no_such_group`, `no_such_image`) and `invalid_pair` / `invalid_image` for the
//!   creating commands. The model expects a valid `pair_create` to succeed, so the
//!   checks rightly fail this engine on the S2, S3 and S4 scenarios: a harness that
//!   let it pass them would be broken.

use engine::{
    ArrayConfig, ArrayEngine, EngineFactory, Input, IoId, MediaOp, MediaResult, Metadata, Output, ReqId,
    SpaceId,
};
use model::{ErrorKind, Op, OpResult, Reply, StorageModel, VolumeSpec};
use std::collections::{BTreeMap, BTreeSet};

/// Boots [`SimpleEngine`]s: pass `&SimpleFactory` to `mirrorsim::runner::run`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleFactory;

impl EngineFactory for SimpleFactory {
    fn name(&self) -> &str {
        "simple"
    }

    fn boot(&self, config: &ArrayConfig, _metadata: &Metadata) -> Box<dyn ArrayEngine> {
        Box::new(SimpleEngine::new(config))
    }
}

/// One controller incarnation: what it knows is rebuilt from the configuration.
pub struct SimpleEngine {
    /// The model, used only for its validation rule (it holds no data here).
    rules: StorageModel,
    next_io: u64,
    /// Media I/O in flight and the request each one answers.
    in_flight: BTreeMap<IoId, ReqId>,
    /// Every request id seen in this incarnation.
    seen: BTreeSet<ReqId>,
}

impl SimpleEngine {
    pub fn new(config: &ArrayConfig) -> SimpleEngine {
        let specs: Vec<VolumeSpec> =
            config.volumes.iter().map(|&(id, blocks)| VolumeSpec { id, blocks }).collect();
        SimpleEngine {
            rules: StorageModel::new(&specs),
            next_io: 0,
            in_flight: BTreeMap::new(),
            seen: BTreeSet::new(),
        }
    }

    fn submit(&mut self, req: ReqId, op: MediaOp, out: &mut Vec<Output>) {
        let io = IoId(self.next_io);
        self.next_io += 1;
        self.in_flight.insert(io, req);
        out.push(Output::Media { io, op });
    }

    fn host(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        if !self.seen.insert(req) {
            return; // A duplicate delivery: the original answers.
        }
        let refuse = |kind| Output::Reply { req, result: Err(kind) };
        if let Err(kind) = self.rules.validate(&op) {
            out.push(refuse(kind));
            return;
        }
        match op {
            Op::Read { vol, block, len } => {
                self.submit(req, MediaOp::Read { space: SpaceId(vol.0), block, len }, out)
            }
            Op::Write { vol, block, values } => {
                self.submit(req, MediaOp::Write { space: SpaceId(vol.0), block, values }, out)
            }
            Op::PairCreate { .. } => out.push(refuse(ErrorKind::InvalidPair)),
            Op::Split { .. } | Op::Resync { .. } | Op::Restore { .. } | Op::PairDelete { .. } => {
                out.push(refuse(ErrorKind::NoSuchPair))
            }
            Op::RemotePairCreate { .. } => out.push(refuse(ErrorKind::InvalidPair)),
            Op::Suspend { .. } | Op::Resume { .. } | Op::Takeover { .. } | Op::Failback { .. } => {
                out.push(refuse(ErrorKind::NoSuchGroup))
            }
            Op::Snapshot { .. } => out.push(refuse(ErrorKind::InvalidImage)),
            Op::DeleteSnapshot { .. } => out.push(refuse(ErrorKind::NoSuchImage)),
            // Events are what an engine announces, never what a host sends.
            Op::PairEvent { .. } => out.push(refuse(ErrorKind::NoSuchPair)),
            Op::RemoteEvent { .. } => out.push(refuse(ErrorKind::NoSuchGroup)),
        }
    }
}

impl ArrayEngine for SimpleEngine {
    fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Started | Input::Timer { .. } | Input::Peer { .. } => {}
            Input::Host { req, op } => self.host(req, op, out),
            Input::MediaDone { io, result } => {
                let Some(req) = self.in_flight.remove(&io) else { return };
                let result: OpResult = match result {
                    MediaResult::Read(values) => Ok(Reply::Values(values)),
                    MediaResult::Written => Ok(Reply::Done),
                    MediaResult::ReadError { .. } => Err(ErrorKind::MediaError),
                    MediaResult::Allocated(_) => return, // never asked for
                };
                out.push(Output::Reply { req, result });
            }
        }
    }

    fn describe(&self) -> String {
        format!("simple: {} I/O in flight", self.in_flight.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Value, VolumeId};

    fn engine() -> SimpleEngine {
        SimpleEngine::new(&ArrayConfig {
            id: model::ArrayId(0),
            name: "A".into(),
            volumes: vec![(VolumeId(0), 16)],
            change_grain: 1,
            remote_volumes: vec![],
        })
    }

    #[test]
    fn a_write_is_acknowledged_only_after_the_media_and_duplicates_are_dropped() {
        let mut e = engine();
        let mut out = Vec::new();
        let req = ReqId { host: 0, seq: 1 };
        let op = Op::Write { vol: VolumeId(0), block: 3, values: vec![Value(7)] };
        e.handle(Input::Host { req, op: op.clone() }, &mut out);
        let [Output::Media { io, .. }] = out[..] else { panic!("{out:?}") };
        out.clear();
        e.handle(Input::Host { req, op }, &mut out);
        assert!(out.is_empty(), "a duplicate is neither submitted nor answered");
        e.handle(Input::MediaDone { io, result: MediaResult::Written }, &mut out);
        assert_eq!(out, [Output::Reply { req, result: Ok(Reply::Done) }]);
    }

    #[test]
    fn invalid_requests_and_admin_commands_are_refused_with_the_models_kinds() {
        let mut e = engine();
        let mut out = Vec::new();
        let req = ReqId { host: 0, seq: 1 };
        e.handle(Input::Host { req, op: Op::Read { vol: VolumeId(0), block: 15, len: 2 } }, &mut out);
        assert_eq!(out, [Output::Reply { req, result: Err(ErrorKind::OutOfRange) }]);
        out.clear();
        let req = ReqId { host: 0, seq: 2 };
        e.handle(Input::Host { req, op: Op::Split { pair: model::PairId(0) } }, &mut out);
        assert_eq!(out, [Output::Reply { req, result: Err(ErrorKind::NoSuchPair) }]);
    }
}
