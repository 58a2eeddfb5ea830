//! mirrorsim's own array controller.
//!
//! Volumes map one-to-one onto media spaces. Host reads and writes are validated by
//! the same rule as the model, then become one media I/O each; a write is answered
//! only once the media reports it durable. Requests are de-duplicated per host with a
//! bounded window of recently seen sequence numbers (a SCSI target's tagged-command
//! check): a duplicate is dropped, the original answers.

use crate::iface::{
    ArrayConfig, ArrayEngine, EngineFactory, Input, IoId, MediaOp, MediaResult, Metadata, Output, ReqId,
    SpaceId,
};
use model::{ErrorKind, Op, Reply, VolumeId};
use std::collections::{BTreeMap, BTreeSet};

/// How many recent request ids per host the controller remembers for de-duplication.
/// A request older than the window is treated as a duplicate; hosts keep far fewer
/// operations open than this.
pub const DEDUP_WINDOW: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Volume {
    blocks: u64,
    space: SpaceId,
}

#[derive(Clone, Debug)]
enum Pending {
    HostRead { req: ReqId },
    HostWrite { req: ReqId },
}

#[derive(Debug, Default)]
struct SeenWindow {
    /// Every id at or below the floor counts as seen.
    floor: Option<u64>,
    recent: BTreeSet<u64>,
}

impl SeenWindow {
    /// Records `seq`; returns false if it was seen before (a duplicate).
    fn insert(&mut self, seq: u64) -> bool {
        if self.floor.is_some_and(|f| seq <= f) || !self.recent.insert(seq) {
            return false;
        }
        while self.recent.len() > DEDUP_WINDOW {
            let lowest = self.recent.pop_first().expect("non-empty");
            self.floor = Some(lowest);
        }
        true
    }
}

/// The controller's state. Everything here is controller memory, lost at a crash.
pub struct Controller {
    volumes: BTreeMap<VolumeId, Volume>,
    pending: BTreeMap<IoId, Pending>,
    seen: BTreeMap<u32, SeenWindow>,
    io_next: u64,
}

impl Controller {
    pub fn new(config: &ArrayConfig) -> Controller {
        let volumes = config
            .volumes
            .iter()
            .map(|&(id, blocks)| (id, Volume { blocks, space: SpaceId(id.0) }))
            .collect();
        Controller { volumes, pending: BTreeMap::new(), seen: BTreeMap::new(), io_next: 0 }
    }

    fn submit(&mut self, op: MediaOp, pending: Pending, out: &mut Vec<Output>) {
        let io = IoId(self.io_next);
        self.io_next += 1;
        self.pending.insert(io, pending);
        out.push(Output::Media { io, op });
    }

    /// The model's rejection rule, applied to this array's volumes.
    fn validate(&self, op: &Op) -> Result<Volume, ErrorKind> {
        let vol = *self.volumes.get(&op.volume()).ok_or(ErrorKind::NoSuchVolume)?;
        let (first, count) = op.extent();
        match first.checked_add(count) {
            Some(end) if count > 0 && end <= vol.blocks => Ok(vol),
            _ => Err(ErrorKind::OutOfRange),
        }
    }

    fn host(&mut self, req: ReqId, op: Op, out: &mut Vec<Output>) {
        if !self.seen.entry(req.host).or_default().insert(req.seq) {
            return; // A duplicate delivery: the original answers.
        }
        let vol = match self.validate(&op) {
            Ok(vol) => vol,
            Err(e) => {
                out.push(Output::Reply { req, result: Err(e) });
                return;
            }
        };
        match op {
            Op::Read { block, len, .. } => {
                self.submit(MediaOp::Read { space: vol.space, block, len }, Pending::HostRead { req }, out)
            }
            Op::Write { block, values, .. } => self.submit(
                MediaOp::Write { space: vol.space, block, values },
                Pending::HostWrite { req },
                out,
            ),
        }
    }

    fn media_done(&mut self, io: IoId, result: MediaResult, out: &mut Vec<Output>) {
        let pending = self.pending.remove(&io).expect("a completion for an I/O this incarnation submitted");
        match (pending, result) {
            (Pending::HostRead { req }, MediaResult::Read(values)) => {
                out.push(Output::Reply { req, result: Ok(Reply::Values(values)) })
            }
            (Pending::HostRead { req }, MediaResult::ReadError { .. }) => {
                out.push(Output::Reply { req, result: Err(ErrorKind::MediaError) })
            }
            (Pending::HostWrite { req }, MediaResult::Written) => {
                out.push(Output::Reply { req, result: Ok(Reply::Done) })
            }
            (p, r) => panic!("media result {r:?} does not match the I/O submitted for {p:?}"),
        }
    }
}

impl ArrayEngine for Controller {
    fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Host { req, op } => self.host(req, op, out),
            Input::MediaDone { io, result } => self.media_done(io, result, out),
            // Nothing to resume, no timers set, no peers spoken to (yet).
            Input::Started | Input::Timer { .. } | Input::Peer { .. } => {}
        }
    }

    fn describe(&self) -> String {
        format!("{} volumes, {} media I/Os pending", self.volumes.len(), self.pending.len())
    }
}

/// Boots [`Controller`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct ControllerFactory;

impl EngineFactory for ControllerFactory {
    fn name(&self) -> &str {
        "mirrorsim"
    }

    fn boot(&self, config: &ArrayConfig, _metadata: &Metadata) -> Box<dyn ArrayEngine> {
        Box::new(Controller::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Value;

    fn config() -> ArrayConfig {
        ArrayConfig { id: model::ArrayId(0), name: "A".into(), volumes: vec![(VolumeId(0), 1 << 40)] }
    }

    #[test]
    fn write_is_acknowledged_only_after_media_completion() {
        let mut c = Controller::new(&config());
        let mut out = Vec::new();
        let req = ReqId { host: 1, seq: 1 };
        let values = vec![Value::pack(1, 1, 0)];
        c.handle(
            Input::Host { req, op: Op::Write { vol: VolumeId(0), block: 5, values: values.clone() } },
            &mut out,
        );
        assert_eq!(
            out,
            vec![Output::Media { io: IoId(0), op: MediaOp::Write { space: SpaceId(0), block: 5, values } }]
        );
        out.clear();
        c.handle(Input::MediaDone { io: IoId(0), result: MediaResult::Written }, &mut out);
        assert_eq!(out, vec![Output::Reply { req, result: Ok(Reply::Done) }]);
    }

    #[test]
    fn duplicates_are_dropped_and_invalid_requests_rejected() {
        let mut c = Controller::new(&config());
        let mut out = Vec::new();
        let req = ReqId { host: 1, seq: 7 };
        let op = Op::Read { vol: VolumeId(0), block: 0, len: 1 };
        c.handle(Input::Host { req, op: op.clone() }, &mut out);
        c.handle(Input::Host { req, op }, &mut out);
        assert_eq!(out.len(), 1, "the duplicate must not be submitted again");
        out.clear();
        let bad = ReqId { host: 1, seq: 8 };
        c.handle(Input::Host { req: bad, op: Op::Read { vol: VolumeId(3), block: 0, len: 1 } }, &mut out);
        assert_eq!(out, vec![Output::Reply { req: bad, result: Err(ErrorKind::NoSuchVolume) }]);
    }

    #[test]
    fn dedup_window_is_bounded() {
        let mut w = SeenWindow::default();
        for s in 0..(DEDUP_WINDOW as u64 + 10) {
            assert!(w.insert(s));
        }
        assert!(w.recent.len() <= DEDUP_WINDOW);
        assert!(!w.insert(3), "ids below the floor count as seen");
        assert!(!w.insert(DEDUP_WINDOW as u64 + 5));
    }
}
