//! Shrinking a failing run: the smallest scenario (found greedily) on which the same
//! seed still gives the same verdict (`violation:durability`, `ending:settle_timeout`,
//! ...).
//!
//! Passes, each a list of candidate changes tried in order; a candidate is kept when
//! it is a valid scenario and reproduces the verdict, and the pass starts over on the
//! smaller scenario. The passes repeat until none changes anything (a fixpoint):
//!
//! 1. remove timeline entries (halves, then quarters, ..., then one at a time);
//! 2. remove random fault kinds;
//! 3. remove hosts, then workloads, arrays, volumes and links (with every reference
//!    to them: links to a removed host, timeline entries and fault targets naming it);
//! 4. fewer operations per host, lower concurrency;
//! 5. simpler properties: no drops, duplicates, reorders or torn writes, no slow
//!    tail, no think time, one-block operations, uniform blocks, single flaps, smaller
//!    volumes;
//! 6. shorter limits (just above what the failing run used).
//!
//! Everything is deterministic: the same file and seed shrink to the same scenario.
//! Every candidate goes through the validator, so the result is a valid scenario file.

use super::generate::to_json;
use crate::runner::{self, RunReport};
use crate::scenario::format::*;
use crate::scenario::{self, ScenarioFile};
use engine::EngineFactory;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// How big a scenario (and its failing run) is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub arrays: usize,
    pub volumes: usize,
    pub hosts: usize,
    pub links: usize,
    pub timeline: usize,
    pub random_faults: usize,
    pub ops: u64,
    pub events: u64,
}

impl Size {
    fn of(f: &ScenarioFile, run: &RunReport) -> Size {
        let rf = &f.random_faults;
        Size {
            arrays: f.arrays.len(),
            volumes: f.arrays.iter().map(|a| a.volumes.len()).sum(),
            hosts: f.hosts.len(),
            links: f.links.len(),
            timeline: f.timeline.len(),
            random_faults: [rf.link_flap.is_some(), rf.array_crash.is_some(), rf.host_crash.is_some()]
                .iter()
                .filter(|x| **x)
                .count(),
            ops: run.stats.ops,
            events: run.events,
        }
    }

    /// One line comparing two sizes: `hosts 5 -> 1, ...`.
    pub fn compare(&self, after: &Size) -> String {
        let rows: [(&str, u64, u64); 8] = [
            ("arrays", self.arrays as u64, after.arrays as u64),
            ("volumes", self.volumes as u64, after.volumes as u64),
            ("hosts", self.hosts as u64, after.hosts as u64),
            ("links", self.links as u64, after.links as u64),
            ("timeline entries", self.timeline as u64, after.timeline as u64),
            ("random fault kinds", self.random_faults as u64, after.random_faults as u64),
            ("ops", self.ops, after.ops),
            ("events", self.events, after.events),
        ];
        rows.iter().map(|(k, a, b)| format!("{k} {a} -> {b}")).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} arrays, {} volumes, {} hosts, {} links, {} timeline entries, {} random fault kinds, {} ops, {} events",
            self.arrays,
            self.volumes,
            self.hosts,
            self.links,
            self.timeline,
            self.random_faults,
            self.ops,
            self.events
        )
    }
}

/// A finished shrink.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub file: ScenarioFile,
    /// The verdict kept throughout (`violation:durability`, ...).
    pub verdict: String,
    pub before: Size,
    pub after: Size,
    /// Candidate runs simulated.
    pub runs: u64,
    /// Candidates kept.
    pub steps: u64,
    /// The details of the final failing run.
    pub details: Option<String>,
}

/// Why a shrink could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShrinkError {
    Invalid(String),
    /// The scenario does not fail with this seed: nothing to shrink.
    Passes {
        seed: u64,
        verdict: String,
    },
}

impl fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShrinkError::Invalid(e) => f.write_str(e),
            ShrinkError::Passes { seed, verdict } => write!(
                f,
                "the scenario does not fail with seed {seed} (verdict {verdict}): nothing to shrink"
            ),
        }
    }
}

struct Shrinker<'a> {
    seed: u64,
    factory: &'a dyn EngineFactory,
    target: String,
    path: &'a Path,
    /// Every candidate tried, by its JSON: whether it reproduced.
    tried: BTreeMap<String, bool>,
    runs: u64,
    last: Option<RunReport>,
}

impl Shrinker<'_> {
    /// Whether `f` is valid and gives the target verdict.
    fn reproduces(&mut self, f: &ScenarioFile) -> bool {
        let key = to_json(f);
        if let Some(&r) = self.tried.get(&key) {
            return r;
        }
        let ok = match scenario::validate(self.path, f.clone()) {
            Err(_) => false,
            Ok(sc) => {
                self.runs += 1;
                let r = runner::run(&sc, self.seed, self.factory, false);
                let ok = r.verdict.code() == self.target;
                if ok {
                    self.last = Some(r);
                }
                ok
            }
        };
        self.tried.insert(key, ok);
        ok
    }
}

/// A pass: the candidates to try on a scenario, given its last failing run.
type Pass = fn(&ScenarioFile, &RunReport) -> Vec<ScenarioFile>;

const PASSES: &[Pass] = &[
    |f, _| timeline_chunks(f),
    |f, _| drop_random_faults(f),
    |f, _| remove_hosts(f),
    |f, _| drop_workloads(f),
    |f, _| remove_arrays(f),
    |f, _| remove_volumes(f),
    |f, _| remove_links(f),
    |f, _| fewer_ops(f),
    |f, _| lower_concurrency(f),
    |f, _| simplify(f),
    shorter_limits,
];

/// Shrinks `file` while `seed` on `factory` keeps its failing verdict. `progress` is
/// told the size after every kept step.
pub fn shrink(
    file: &ScenarioFile,
    seed: u64,
    factory: &dyn EngineFactory,
    path: &Path,
    mut progress: impl FnMut(&Size),
) -> Result<Shrunk, ShrinkError> {
    let sc = scenario::validate(path, file.clone()).map_err(|e| ShrinkError::Invalid(e.to_string()))?;
    let first = runner::run(&sc, seed, factory, false);
    let target = first.verdict.code();
    if !matches!(first.verdict, runner::Verdict::Violation { .. } | runner::Verdict::Ending(_)) {
        return Err(ShrinkError::Passes { seed, verdict: target });
    }
    let before = Size::of(file, &first);
    let mut s = Shrinker { seed, factory, target, path, tried: BTreeMap::new(), runs: 1, last: None };
    s.tried.insert(to_json(file), true);
    let mut cur = file.clone();
    let mut last_run = first;
    let mut steps = 0;
    loop {
        let mut changed = false;
        for pass in PASSES {
            'again: loop {
                for cand in pass(&cur, &last_run) {
                    if s.reproduces(&cand) {
                        cur = cand;
                        if let Some(r) = s.last.take() {
                            last_run = r;
                        }
                        steps += 1;
                        changed = true;
                        progress(&Size::of(&cur, &last_run));
                        continue 'again;
                    }
                }
                break;
            }
        }
        if !changed {
            break;
        }
    }
    let after = Size::of(&cur, &last_run);
    Ok(Shrunk { file: cur, verdict: s.target, before, after, runs: s.runs, steps, details: last_run.details })
}

// ---- candidates -------------------------------------------------------------------

/// Index ranges to remove from a list of `n`: halves, quarters, ..., single items.
fn chunks(n: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let mut size = n.div_ceil(2);
    loop {
        out.extend((0..n).step_by(size).map(|start| start..(start + size).min(n)));
        if size == 1 {
            return out;
        }
        size = size.div_ceil(2);
    }
}

fn with(f: &ScenarioFile, change: impl FnOnce(&mut ScenarioFile)) -> ScenarioFile {
    let mut g = f.clone();
    change(&mut g);
    g
}

fn timeline_chunks(f: &ScenarioFile) -> Vec<ScenarioFile> {
    chunks(f.timeline.len())
        .into_iter()
        .map(|r| {
            with(f, |g| {
                g.timeline.drain(r);
            })
        })
        .collect()
}

fn drop_random_faults(f: &ScenarioFile) -> Vec<ScenarioFile> {
    let rf = &f.random_faults;
    let mut out = Vec::new();
    if rf.link_flap.is_some() {
        out.push(with(f, |g| g.random_faults.link_flap = None));
    }
    if rf.array_crash.is_some() {
        out.push(with(f, |g| g.random_faults.array_crash = None));
    }
    if rf.host_crash.is_some() {
        out.push(with(f, |g| g.random_faults.host_crash = None));
    }
    out
}

/// Whether a JSON value mentions `name` as a string anywhere: how a timeline entry
/// refers to a host, array, link or volume, whatever kind of action it is.
fn mentions(v: &serde_json::Value, name: &str) -> bool {
    match v {
        serde_json::Value::String(s) => s == name,
        serde_json::Value::Array(a) => a.iter().any(|x| mentions(x, name)),
        serde_json::Value::Object(o) => o.values().any(|x| mentions(x, name)),
        _ => false,
    }
}

/// Removes every timeline entry and random fault target that names one of `names`.
fn remove_refs(g: &mut ScenarioFile, names: &[String]) {
    g.timeline.retain(|t| {
        let v = serde_json::to_value(&t.action).expect("actions serialize");
        !names.iter().any(|n| mentions(&v, n))
    });
    let rf = &mut g.random_faults;
    for r in [&mut rf.link_flap, &mut rf.array_crash, &mut rf.host_crash].into_iter().flatten() {
        r.targets.retain(|t| !names.contains(t));
    }
}

/// The links with an end among `names` (hosts or arrays).
fn links_touching(g: &ScenarioFile, names: &[String]) -> Vec<String> {
    g.links.iter().filter(|l| l.between.iter().any(|e| names.contains(e))).map(|l| l.name.clone()).collect()
}

fn remove_link_names(g: &mut ScenarioFile, names: &[String]) {
    g.links.retain(|l| !names.contains(&l.name));
    remove_refs(g, names);
}

fn remove_host_names(g: &mut ScenarioFile, names: &[String]) {
    g.hosts.retain(|h| !names.contains(&h.name));
    let links = links_touching(g, names);
    remove_link_names(g, &links);
    remove_refs(g, names);
}

fn remove_volume_names(g: &mut ScenarioFile, names: &[String]) {
    for a in &mut g.arrays {
        a.volumes.retain(|v| !names.contains(&v.name));
    }
    for h in &mut g.hosts {
        if let Some(w) = &mut h.workload {
            w.volumes.retain(|v| !names.contains(v));
            if w.volumes.is_empty() {
                h.workload = None;
            }
        }
    }
    remove_refs(g, names);
}

fn remove_array_names(g: &mut ScenarioFile, names: &[String]) {
    let volumes: Vec<String> = g
        .arrays
        .iter()
        .filter(|a| names.contains(&a.name))
        .flat_map(|a| a.volumes.iter().map(|v| v.name.clone()))
        .collect();
    remove_volume_names(g, &volumes);
    g.arrays.retain(|a| !names.contains(&a.name));
    let links = links_touching(g, names);
    remove_link_names(g, &links);
    remove_refs(g, names);
}

fn remove_named(
    f: &ScenarioFile,
    names: Vec<String>,
    remove: fn(&mut ScenarioFile, &[String]),
) -> Vec<ScenarioFile> {
    chunks(names.len()).into_iter().map(|r| with(f, |g| remove(g, &names[r]))).collect()
}

fn remove_hosts(f: &ScenarioFile) -> Vec<ScenarioFile> {
    remove_named(f, f.hosts.iter().map(|h| h.name.clone()).collect(), remove_host_names)
}

fn remove_arrays(f: &ScenarioFile) -> Vec<ScenarioFile> {
    remove_named(f, f.arrays.iter().map(|a| a.name.clone()).collect(), remove_array_names)
}

fn remove_volumes(f: &ScenarioFile) -> Vec<ScenarioFile> {
    let names = f.arrays.iter().flat_map(|a| a.volumes.iter().map(|v| v.name.clone())).collect();
    remove_named(f, names, remove_volume_names)
}

fn remove_links(f: &ScenarioFile) -> Vec<ScenarioFile> {
    remove_named(f, f.links.iter().map(|l| l.name.clone()).collect(), remove_link_names)
}

fn drop_workloads(f: &ScenarioFile) -> Vec<ScenarioFile> {
    (0..f.hosts.len())
        .filter(|&i| f.hosts[i].workload.is_some())
        .map(|i| with(f, |g| g.hosts[i].workload = None))
        .collect()
}

/// Smaller values to try instead of `n` (smallest first), each at least `min`.
fn smaller(n: u64, min: u64) -> Vec<u64> {
    let mut v: Vec<u64> = [min, n / 2, n - n / 4, n - n / 8, n.saturating_sub(1)]
        .into_iter()
        .filter(|&x| x >= min && x < n)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn fewer_ops(f: &ScenarioFile) -> Vec<ScenarioFile> {
    let mut out = Vec::new();
    for (i, h) in f.hosts.iter().enumerate() {
        if let Some(w) = &h.workload {
            for n in smaller(w.ops, 1) {
                out.push(with(f, |g| g.hosts[i].workload.as_mut().expect("has a workload").ops = n));
            }
        }
    }
    out
}

fn lower_concurrency(f: &ScenarioFile) -> Vec<ScenarioFile> {
    let mut out = Vec::new();
    for (i, h) in f.hosts.iter().enumerate() {
        if let Some(w) = &h.workload {
            for c in smaller(u64::from(w.concurrency), 1) {
                out.push(with(f, |g| {
                    g.hosts[i].workload.as_mut().expect("has a workload").concurrency = c as u32
                }));
            }
        }
    }
    out
}

fn unslowed(d: &DistDef<Duration>) -> Option<DistDef<Duration>> {
    match d {
        DistDef::Bimodal { fast, .. } => Some(DistDef::Uniform(*fast)),
        _ => None,
    }
}

fn simplify(f: &ScenarioFile) -> Vec<ScenarioFile> {
    let never = RatioDef(0, 1);
    let mut out = Vec::new();
    for (i, l) in f.links.iter().enumerate() {
        if l.drop != never {
            out.push(with(f, |g| g.links[i].drop = never));
        }
        if l.duplicate != never {
            out.push(with(f, |g| g.links[i].duplicate = never));
        }
        if l.reorder != never {
            out.push(with(f, |g| g.links[i].reorder = never));
        }
        if let Some(d) = unslowed(&l.latency) {
            out.push(with(f, |g| g.links[i].latency = d));
        }
    }
    for (i, a) in f.arrays.iter().enumerate() {
        if a.media.torn_writes {
            out.push(with(f, |g| g.arrays[i].media.torn_writes = false));
        }
        for (k, d) in [&a.media.read, &a.media.write, &a.media.meta].into_iter().enumerate() {
            if let Some(d) = unslowed(d) {
                out.push(with(f, |g| {
                    let m = &mut g.arrays[i].media;
                    *[&mut m.read, &mut m.write, &mut m.meta].into_iter().nth(k).expect("three") = d;
                }));
            }
        }
    }
    for (i, h) in f.hosts.iter().enumerate() {
        let Some(w) = &h.workload else { continue };
        let edit = |change: fn(&mut WorkloadDef)| {
            with(f, |g| change(g.hosts[i].workload.as_mut().expect("has a workload")))
        };
        if w.think != DistDef::Constant(Duration(0)) {
            out.push(edit(|w| w.think = DistDef::Constant(Duration(0))));
        }
        if w.len != DistDef::Constant(1) {
            out.push(edit(|w| w.len = DistDef::Constant(1)));
        }
        if matches!(w.blocks, BlockDistDef::HotSet { .. }) {
            out.push(edit(|w| w.blocks = BlockDistDef::Uniform));
        }
        if w.volumes.len() > 1 {
            for k in 0..w.volumes.len() {
                out.push(with(f, |g| {
                    g.hosts[i].workload.as_mut().expect("has a workload").volumes.remove(k);
                }));
            }
        }
    }
    for (i, t) in f.timeline.iter().enumerate() {
        if let ActionDef::LinkFlap { times, .. } = t.action
            && times > 1
        {
            out.push(with(f, |g| {
                if let ActionDef::LinkFlap { times, .. } = &mut g.timeline[i].action {
                    *times = 1;
                }
            }));
        }
    }
    for (i, a) in f.arrays.iter().enumerate() {
        for (j, v) in a.volumes.iter().enumerate() {
            for b in smaller(v.blocks, 1).into_iter().take(2) {
                out.push(with(f, |g| g.arrays[i].volumes[j].blocks = b));
            }
        }
    }
    out
}

/// Limits just above what the failing run used (the validator rejects a timeline
/// that would fall past them).
fn shorter_limits(f: &ScenarioFile, run: &RunReport) -> Vec<ScenarioFile> {
    let mut out = Vec::new();
    let round = |x: u64| {
        let mut p = 1u64;
        while p < x {
            p = p.saturating_mul(10);
        }
        p
    };
    let max_time = round(run.sim_ns.saturating_mul(2).max(1_000_000));
    if max_time < f.limits.max_time.0 {
        out.push(with(f, |g| g.limits.max_time = Duration(max_time)));
    }
    let max_events = round(run.events.saturating_mul(2).max(1_000));
    if max_events < f.limits.max_events {
        out.push(with(f, |g| g.limits.max_events = max_events));
    }
    out
}
