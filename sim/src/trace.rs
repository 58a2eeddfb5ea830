//! The typed event trace and its rolling hash.
//!
//! Every event the simulator processes is described by a [`TraceKind`] (numbers only:
//! cheap to build on the hot path) and folded into a rolling 64-bit hash. Recording
//! the events themselves is optional (`replay --trace`, determinism diagnostics).

use std::hash::{Hash, Hasher};

/// Why a message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    LinkDown,
    /// The link was reset (an endpoint crashed or the link went down) since it was sent.
    StaleEpoch,
    Random,
    EndpointDown,
}

/// One traced event. Columns of `replay --trace`: `index time_ns kind fields...`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TraceKind {
    /// A host slot invoked an operation.
    Invoke {
        host: u32,
        process: u32,
        req: u64,
        write: bool,
        vol: u32,
        block: u64,
        len: u32,
    },
    /// A host got an answer (`ok` false for a model error).
    Complete {
        host: u32,
        process: u32,
        req: u64,
        ok: bool,
    },
    /// A host gave up waiting (outcome unknown).
    Timeout {
        host: u32,
        process: u32,
        req: u64,
    },
    /// A host found no path to the array: the operation failed without being sent.
    NoPath {
        host: u32,
        req: u64,
    },
    Send {
        link: u32,
        to_array: bool,
        req: u64,
        copies: u8,
    },
    Deliver {
        link: u32,
        to_array: bool,
        req: u64,
    },
    Drop {
        link: u32,
        req: u64,
        reason: DropReason,
    },
    MediaSubmit {
        array: u32,
        io: u64,
        kind: u8,
        space: u32,
        block: u64,
        len: u32,
    },
    MediaDone {
        array: u32,
        io: u64,
        kind: u8,
    },
    EngineTimer {
        array: u32,
        timer: u64,
    },
    ArrayCrash {
        array: u32,
        torn: u32,
        landed: u32,
        lost: u32,
    },
    ArrayRestart {
        array: u32,
    },
    HostCrash {
        host: u32,
        open: u32,
    },
    HostRestart {
        host: u32,
    },
    LinkDown {
        link: u32,
    },
    LinkUp {
        link: u32,
    },
    /// The workload and faults are over; everything is repaired and left to settle.
    Settle,
    /// The harness read a block range directly from an engine to audit it.
    Audit {
        array: u32,
        vol: u32,
        block: u64,
        len: u32,
    },
    /// A host invoked an admin command (`pair` names its pair).
    Admin {
        host: u32,
        process: u32,
        req: u64,
        pair: u32,
    },
    /// An engine announced a pair transition (0 copy done, 1 suspended), a copy start
    /// (2) or a copy end (3).
    Notice {
        array: u32,
        pair: u32,
        what: u8,
    },
    /// A media fault was injected: the block reads with an error until written.
    MediaFault {
        array: u32,
        space: u32,
        block: u64,
    },
    /// An engine reported a broken invariant.
    Invariant {
        array: u32,
    },
}

impl TraceKind {
    /// Faults and repairs, admin commands, engine notices, invariant reports and the
    /// start of settling: the events worth keeping for every run (a few per run), as
    /// opposed to the I/O traffic.
    pub fn notable(&self) -> bool {
        match self {
            TraceKind::Drop { reason, .. } => *reason == DropReason::Random,
            TraceKind::Send { copies, .. } => *copies > 1,
            TraceKind::ArrayCrash { .. }
            | TraceKind::ArrayRestart { .. }
            | TraceKind::HostCrash { .. }
            | TraceKind::HostRestart { .. }
            | TraceKind::LinkDown { .. }
            | TraceKind::LinkUp { .. }
            | TraceKind::Settle
            | TraceKind::Admin { .. }
            | TraceKind::Notice { .. }
            | TraceKind::MediaFault { .. }
            | TraceKind::Invariant { .. } => true,
            _ => false,
        }
    }
}

/// A recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    pub index: u64,
    pub time_ns: u64,
    pub kind: TraceKind,
}

impl TraceEvent {
    /// One line of `replay --trace`: index, time, kind, then `key=value` fields.
    pub fn line(&self) -> String {
        let k = format!("{:?}", self.kind);
        let (name, rest) = match k.find(' ') {
            Some(i) => (&k[..i], k[i..].trim().trim_start_matches('{').trim_end_matches('}').trim()),
            None => (k.as_str(), ""),
        };
        let fields = rest.replace(": ", "=").replace(", ", " ");
        format!("{:>8} {:>15} {:<12} {}", self.index, self.time_ns, name, fields).trim_end().to_string()
    }
}

/// A deterministic 64-bit hasher (a multiply-xorshift mix over 64-bit words): the
/// same value hashes the same on every platform and every run.
#[derive(Clone, Copy, Debug)]
pub struct StableHasher(u64);

impl StableHasher {
    pub fn new() -> StableHasher {
        StableHasher(0x9E37_79B9_7F4A_7C15)
    }

    fn mix(&mut self, x: u64) {
        let mut h = (self.0 ^ x).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
        self.0 = h.wrapping_mul(0x94D0_49BB_1331_11EB) ^ (h >> 29);
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher::new()
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(w) ^ ((chunk.len() as u64) << 56));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.mix(i as u64);
    }
}

/// The trace: a rolling hash of every event, and optionally the events.
#[derive(Debug, Default)]
pub struct Trace {
    hash: u64,
    record: bool,
    pub events: Vec<TraceEvent>,
    /// The notable events ([`TraceKind::notable`]: faults, repairs, admin commands,
    /// engine notices), kept even when the trace is not recorded: a few per run, and
    /// what a campaign's coverage report is computed from.
    pub notable: Vec<TraceEvent>,
}

impl Trace {
    pub fn new(record: bool) -> Trace {
        Trace { hash: 0, record, events: Vec::new(), notable: Vec::new() }
    }

    /// Folds one event into the hash (and records it if recording).
    pub fn push(&mut self, index: u64, time_ns: u64, kind: TraceKind) {
        let mut h = StableHasher::new();
        self.hash.hash(&mut h);
        index.hash(&mut h);
        time_ns.hash(&mut h);
        kind.hash(&mut h);
        self.hash = h.finish();
        if kind.notable() {
            self.notable.push(TraceEvent { index, time_ns, kind: kind.clone() });
        }
        if self.record {
            self.events.push(TraceEvent { index, time_ns, kind });
        }
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format_is_columns() {
        let e = TraceEvent { index: 3, time_ns: 1500, kind: TraceKind::LinkDown { link: 2 } };
        assert_eq!(e.line(), "       3            1500 LinkDown     link=2");
        let e = TraceEvent { index: 4, time_ns: 1, kind: TraceKind::Settle };
        assert_eq!(e.line(), "       4               1 Settle");
    }

    #[test]
    fn hash_depends_on_order_and_content() {
        let mut a = Trace::new(false);
        a.push(0, 1, TraceKind::LinkDown { link: 1 });
        a.push(1, 2, TraceKind::LinkUp { link: 1 });
        let mut b = Trace::new(false);
        b.push(0, 1, TraceKind::LinkUp { link: 1 });
        b.push(1, 2, TraceKind::LinkDown { link: 1 });
        assert_ne!(a.hash(), b.hash());
        let mut c = Trace::new(true);
        c.push(0, 1, TraceKind::LinkDown { link: 1 });
        c.push(1, 2, TraceKind::LinkUp { link: 1 });
        assert_eq!(a.hash(), c.hash());
        assert_eq!(c.events.len(), 2);
    }
}
