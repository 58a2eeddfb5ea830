//! Small random histories: a simulated concurrent execution against the model (so
//! the history is linearizable by construction), optionally mutated (so it usually
//! is not).

use mirrorsim_checker::models::cas::{CasRegister, RegOp, RegRet};
use mirrorsim_checker::models::kv::{Kv, KvOp, KvRet};
use mirrorsim_checker::models::storage::StorageSpec;
use mirrorsim_checker::{Model, Operation, Outcome, Partitioned, Projection};
use model::{ErrorKind, Op, OpResult, Reply, Value, VolumeId, VolumeSpec};

/// splitmix64: a tiny deterministic generator for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

enum Proc {
    Idle,
    Invoked(usize),
    Linearized(usize),
}

/// Runs `ops_total` operations from `processes` clients against the model, with
/// random invocation, linearization and return points; some operations fail (no
/// effect) and some end unknown (with or without effect). `unknown_pct` is the
/// percentage chance of an unknown outcome at each opportunity.
pub fn simulate<M: Model>(
    model: &M,
    rng: &mut Rng,
    processes: usize,
    ops_total: usize,
    unknown_pct: u64,
    mut gen_op: impl FnMut(&mut Rng) -> M::Op,
) -> Vec<Operation<M::Op, M::Ret>> {
    let mut state = model.init();
    let mut procs: Vec<Proc> = (0..processes).map(|_| Proc::Idle).collect();
    let mut ops: Vec<Operation<M::Op, M::Ret>> = Vec::new();
    let mut rets: Vec<Option<M::Ret>> = Vec::new();
    let mut t = 0u64;
    for _ in 0..ops_total * processes * 100 {
        let p = rng.below(processes as u64) as usize;
        match procs[p] {
            Proc::Idle if ops.len() < ops_total => {
                t += 1;
                ops.push(Operation {
                    id: ops.len() as u64,
                    process: p as u64,
                    op: gen_op(rng),
                    call: t,
                    outcome: Outcome::Unknown,
                });
                rets.push(None);
                procs[p] = Proc::Invoked(ops.len() - 1);
            }
            Proc::Idle => {}
            Proc::Invoked(i) => {
                if rng.chance(5, 100) {
                    ops[i].outcome = Outcome::Failed;
                    procs[p] = Proc::Idle;
                } else if rng.chance(unknown_pct / 2, 100) {
                    procs[p] = Proc::Idle; // unknown, never took effect
                } else {
                    let (ret, next) = model.step(&state, &ops[i].op);
                    if let Some(s) = next {
                        state = s;
                    }
                    rets[i] = Some(ret);
                    procs[p] = Proc::Linearized(i);
                }
            }
            Proc::Linearized(i) => {
                if !rng.chance(unknown_pct, 100) {
                    t += 1;
                    let value = rets[i].take().expect("linearized");
                    ops[i].outcome = Outcome::Returned { value, time: t };
                }
                procs[p] = Proc::Idle;
            }
        }
        if ops.len() == ops_total && procs.iter().all(|p| matches!(p, Proc::Idle)) {
            break;
        }
    }
    ops
}

/// Replaces the result of one random returned operation with a different one from
/// `f` (tries a few operations; a history with nothing to change stays as it is).
pub fn mutate<O, R: PartialEq>(
    ops: &mut [Operation<O, R>],
    rng: &mut Rng,
    mut f: impl FnMut(&mut Rng, &R) -> R,
) {
    let returned: Vec<usize> =
        (0..ops.len()).filter(|&i| matches!(ops[i].outcome, Outcome::Returned { .. })).collect();
    if returned.is_empty() {
        return;
    }
    for _ in 0..10 {
        let i = returned[rng.below(returned.len() as u64) as usize];
        if let Outcome::Returned { value, .. } = &mut ops[i].outcome {
            let new = f(rng, value);
            if new != *value {
                *value = new;
                return;
            }
        }
    }
}

pub fn cas_history(seed: u64, mutated: bool) -> Vec<Operation<RegOp, RegRet>> {
    cas_history_with(seed, mutated, 20)
}

pub fn cas_history_with(seed: u64, mutated: bool, unknown_pct: u64) -> Vec<Operation<RegOp, RegRet>> {
    cas_history_sized(seed, mutated, unknown_pct, 4, 9)
}

/// A CAS history of 1 to `ops_max` operations from 1 to `procs_max` processes.
pub fn cas_history_sized(
    seed: u64,
    mutated: bool,
    unknown_pct: u64,
    procs_max: u64,
    ops_max: u64,
) -> Vec<Operation<RegOp, RegRet>> {
    let mut rng = Rng(seed);
    let procs = 1 + rng.below(procs_max) as usize;
    let n = 1 + rng.below(ops_max) as usize;
    let mut ops = simulate(&CasRegister::default(), &mut rng, procs, n, unknown_pct, |r| match r.below(10) {
        0..4 => RegOp::Read,
        4..7 => RegOp::Write(1 + r.below(3)),
        _ => RegOp::Cas { expected: r.below(4), new: 1 + r.below(3) },
    });
    if mutated {
        mutate(&mut ops, &mut rng, |r, v| match *v {
            RegRet::Read(_) => RegRet::Read(r.below(4)),
            RegRet::Cas(b) => RegRet::Cas(!b),
            RegRet::Written => RegRet::Written,
        });
    }
    ops
}

pub fn kv_history(seed: u64, mutated: bool) -> Vec<Operation<KvOp, KvRet>> {
    kv_history_with(seed, mutated, 20)
}

pub fn kv_history_with(seed: u64, mutated: bool, unknown_pct: u64) -> Vec<Operation<KvOp, KvRet>> {
    let mut rng = Rng(seed);
    let procs = 1 + rng.below(4) as usize;
    let n = 1 + rng.below(9) as usize;
    let key = |r: &mut Rng| ["a", "b", "c"][r.below(3) as usize].to_string();
    let val = |r: &mut Rng| ["x", "y", "z"][r.below(3) as usize].to_string();
    let mut ops = simulate(&Kv, &mut rng, procs, n, unknown_pct, |r| match r.below(10) {
        0..4 => KvOp::Get(key(r)),
        4..7 => KvOp::Put(key(r), val(r)),
        _ => KvOp::Append(key(r), val(r)),
    });
    if mutated {
        mutate(&mut ops, &mut rng, |r, v| match v {
            KvRet::Value(s) => {
                let options = ["", "x", "y", "xy", "yx", "zz"];
                let mut n = options[r.below(options.len() as u64) as usize].to_string();
                if n == *s {
                    n.push('x');
                }
                KvRet::Value(n)
            }
            KvRet::Done => KvRet::Done,
        });
    }
    ops
}

pub fn storage_volumes() -> Vec<VolumeSpec> {
    vec![VolumeSpec { id: VolumeId(0), blocks: 4 }, VolumeSpec { id: VolumeId(1), blocks: 2 }]
}

pub fn storage_history(seed: u64, mutated: bool) -> Vec<Operation<Op, OpResult>> {
    let mut rng = Rng(seed);
    let procs = 1 + rng.below(4) as usize;
    let n = 1 + rng.below(5) as usize;
    let spec = StorageSpec::new(&storage_volumes());
    let mut seq = 0u32;
    let mut ops = simulate(&spec, &mut rng, procs, n, 20, |r| {
        let vol = VolumeId(r.below(3) as u32); // volume 2 does not exist
        let block = r.below(4);
        let len = if r.chance(1, 5) { 3 } else { 1 + r.below(2) as u32 };
        if r.chance(1, 2) {
            Op::Read { vol, block, len }
        } else {
            seq += 1;
            Op::Write { vol, block, values: (0..len).map(|i| Value::pack(1, seq, i as u16)).collect() }
        }
    });
    if mutated {
        mutate(&mut ops, &mut rng, |r, v| match v {
            Ok(Reply::Values(vs)) => {
                let mut vs = vs.clone();
                let i = r.below(vs.len() as u64) as usize;
                vs[i] = if r.chance(1, 3) {
                    Value::ZERO
                } else {
                    Value::pack(1, 1 + r.below(3) as u32, i as u16)
                };
                if r.chance(1, 10) {
                    vs.pop();
                }
                Ok(Reply::Values(vs))
            }
            Ok(Reply::Backups(_)) => Ok(Reply::Done),
            Ok(Reply::Done) => {
                if r.chance(1, 4) {
                    Err(ErrorKind::NotAccessible)
                } else {
                    Ok(Reply::Done)
                }
            }
            Err(e) => {
                if r.chance(1, 2) {
                    Ok(Reply::Done)
                } else {
                    Err(*e)
                }
            }
        });
    }
    ops
}

/// Three registers and a snapshot that reads all three at one instant: reads and
/// writes partition per register, a snapshot makes the history whole-object. The
/// stand-in for split and snapshot until the storage model has them.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapRegs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnapOp {
    Read(usize),
    Write(usize, u64),
    Snapshot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnapRet {
    Read(u64),
    Done,
    Snapshot([u64; 3]),
}

impl Model for SnapRegs {
    type Op = SnapOp;
    type Ret = SnapRet;
    type State = [u64; 3];

    fn init(&self) -> [u64; 3] {
        [0; 3]
    }

    fn step(&self, s: &[u64; 3], op: &SnapOp) -> (SnapRet, Option<[u64; 3]>) {
        match *op {
            SnapOp::Read(k) => (SnapRet::Read(s[k]), None),
            SnapOp::Write(k, v) => {
                let mut n = *s;
                n[k] = v;
                (SnapRet::Done, Some(n))
            }
            SnapOp::Snapshot => (SnapRet::Snapshot(*s), None),
        }
    }

    fn read_only(&self, op: &SnapOp, _ret: &SnapRet) -> bool {
        !matches!(op, SnapOp::Write(..))
    }
}

impl Partitioned for SnapRegs {
    type Key = usize;
    type Part = CasRegister;

    fn part_model(&self, _key: &usize) -> CasRegister {
        CasRegister::default()
    }

    fn project(&self, op: &SnapOp, ret: Option<&SnapRet>) -> Projection<usize, RegOp, RegRet> {
        match (*op, ret) {
            (SnapOp::Snapshot, _) => Projection::Whole,
            (SnapOp::Read(_), None) => Projection::Parts(vec![]),
            (SnapOp::Read(k), Some(SnapRet::Read(v))) => {
                Projection::Parts(vec![(k, RegOp::Read, Some(RegRet::Read(*v)))])
            }
            (SnapOp::Write(k, v), r) => {
                Projection::Parts(vec![(k, RegOp::Write(v), r.map(|_| RegRet::Written))])
            }
            (_, Some(_)) => {
                Projection::Impossible { expected: "a result of the operation's kind".to_string() }
            }
        }
    }
}

pub fn snap_history(seed: u64, mutated: bool) -> Vec<Operation<SnapOp, SnapRet>> {
    let mut rng = Rng(seed);
    let procs = 1 + rng.below(4) as usize;
    let n = 1 + rng.below(8) as usize;
    let with_snapshots = rng.chance(1, 2);
    let mut ops = simulate(&SnapRegs, &mut rng, procs, n, 20, |r| match r.below(10) {
        0..4 => SnapOp::Read(r.below(3) as usize),
        4..8 => SnapOp::Write(r.below(3) as usize, 1 + r.below(3)),
        _ if with_snapshots => SnapOp::Snapshot,
        _ => SnapOp::Read(0),
    });
    if mutated {
        mutate(&mut ops, &mut rng, |r, v| match *v {
            SnapRet::Read(_) => SnapRet::Read(r.below(4)),
            SnapRet::Snapshot(mut s) => {
                s[r.below(3) as usize] = r.below(4);
                SnapRet::Snapshot(s)
            }
            SnapRet::Done => SnapRet::Done,
        });
    }
    ops
}
