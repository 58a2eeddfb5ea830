//! Running one scenario with one seed, and judging it.
//!
//! The simulator produces a history and a trace; each check named by the scenario
//! judges the history; the verdict is compared with what the scenario expects. A
//! failure carries everything needed to understand and reproduce it: the seed, the
//! check, the event, the block, expected versus actual, the operations around it, and
//! the one command that replays it.

use crate::linearizability::Outcome;
use crate::scenario::{CheckName, Expect, Scenario};
use engine::EngineFactory;
use model::{Completion, History, HistoryOp, Op, VolumeId};
use sim::{Ending, RunOptions, RunResult, RunStats};
use std::fmt;

/// What a run's checks concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Completed, and every check passed.
    Pass,
    /// A check found a violation.
    Violation { check: CheckName, summary: String },
    /// A check ran out of budget: neither pass nor fail.
    Unknown { check: CheckName, reason: String },
    /// The run ended on a bound (no check found a violation before it).
    Ending(Ending),
}

impl Verdict {
    /// Short form for tables and JSON: `pass`, `violation:durability`,
    /// `unknown:linearizability`, `ending:max_events`.
    pub fn code(&self) -> String {
        match self {
            Verdict::Pass => "pass".into(),
            Verdict::Violation { check, .. } => format!("violation:{}", check.name()),
            Verdict::Unknown { check, .. } => format!("unknown:{}", check.name()),
            Verdict::Ending(e) => format!("ending:{}", e.name()),
        }
    }

    /// Whether this verdict is what `expect` asks for.
    pub fn meets(&self, expect: &Expect) -> bool {
        match (self, expect) {
            (Verdict::Pass, Expect::Pass) => true,
            (Verdict::Violation { check, .. }, Expect::Violation(want)) => check == want,
            (Verdict::Ending(e), Expect::Ending(want)) => e.name() == want,
            _ => false,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// The outcome of one run.
#[derive(Debug)]
pub struct RunReport {
    pub scenario: String,
    pub path: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub expected_met: bool,
    pub trace_hash: u64,
    pub events: u64,
    pub sim_ns: u64,
    pub stats: RunStats,
    pub ending: Ending,
    /// Human-readable details of a violation or unknown verdict.
    pub details: Option<String>,
    /// What a passing verdict rests on, where it is less than the full check.
    pub notes: Vec<String>,
    /// S3: the recovery point of every takeover and the data-loss report.
    pub remote: crate::remote_report::RemoteReport,
    pub result: RunResult,
    /// Flags the replay command needs besides the file and seed (e.g. ` --planted
    /// NAME` for a run on a planted bug); see [`RunReport::with_replay_args`].
    pub replay_args: String,
}

impl RunReport {
    /// The command that reproduces this run.
    pub fn replay_command(&self) -> String {
        format!("mirrorsim replay {} --seed {}{}", shell_quote(&self.path), self.seed, self.replay_args)
    }

    /// The same report with `args` added to its replay command, in the details too.
    pub fn with_replay_args(mut self, args: String) -> RunReport {
        let old = format!("reproduce: {}", self.replay_command());
        self.replay_args = args;
        let new = format!("reproduce: {}", self.replay_command());
        if let Some(d) = &mut self.details {
            *d = d.replace(&old, &new);
        }
        self
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs `scenario` with `seed` on the engine `factory` boots, and judges it.
pub fn run(scenario: &Scenario, seed: u64, factory: &dyn EngineFactory, record_trace: bool) -> RunReport {
    run_within(scenario, seed, factory, record_trace, &crate::linearizability::run_budget())
}

/// [`run`], with the linearizability check bounded by `budget` (a fuzz campaign's
/// seeds get [`crate::linearizability::fuzz_budget`]).
pub fn run_within(
    scenario: &Scenario,
    seed: u64,
    factory: &dyn EngineFactory,
    record_trace: bool,
    budget: &checker::Budget,
) -> RunReport {
    let result = sim::run(&scenario.config, factory, &RunOptions { seed, record_trace });
    let mut notes = Vec::new();
    let (verdict, details) = judge(scenario, &result, &mut notes, budget);
    let expected_met = verdict.meets(&scenario.file.expect);
    let mut report = RunReport {
        scenario: scenario.name().to_string(),
        path: scenario.path.display().to_string(),
        seed,
        verdict,
        expected_met,
        trace_hash: result.trace.hash(),
        events: result.events,
        sim_ns: result.sim_ns,
        stats: result.stats,
        ending: result.ending,
        details: None,
        notes,
        remote: crate::remote_report::analyse(&result.history),
        result,
        replay_args: String::new(),
    };
    report.details = details.map(|d| {
        format!(
            "SEED={seed} scenario {:?} ({})\n{d}\nreproduce: {}",
            report.scenario,
            report.path,
            report.replay_command()
        )
    });
    report
}

fn judge(
    scenario: &Scenario,
    r: &RunResult,
    notes: &mut Vec<String>,
    budget: &checker::Budget,
) -> (Verdict, Option<String>) {
    let completed = r.ending == Ending::Completed;
    let volumes = scenario.config.volume_specs();
    let mut unknown = None;
    // The cheap checks first: a broken invariant explains more than the history does.
    let mut order = scenario.checks.clone();
    order.sort_by_key(|c| match c {
        CheckName::Invariants => 0,
        CheckName::Differential => 1,
        CheckName::Durability => 2,
        CheckName::Linearizability => 3,
        CheckName::Offload => 4,
        CheckName::RemotePrefix => 5,
    });
    for &check in &order {
        match check {
            CheckName::Differential => {
                match checker::differential::check(&answered_prefix(&r.history), &volumes) {
                    Ok(Ok(())) => {}
                    Ok(Err(m)) => {
                        let around = neighbourhood(
                            &r.history,
                            m.index,
                            m.op.volume().unwrap_or(VolumeId(u32::MAX)),
                            m.block.map(|b| b.1),
                            scenario,
                        );
                        return violation(check, m.to_string(), around);
                    }
                    Err(e) => {
                        return violation(
                            check,
                            format!("the history is not sequential: {e:?}"),
                            String::new(),
                        );
                    }
                }
            }
            CheckName::Durability if completed => {
                let (history, audit_start) = unpaired(&r.history, r.audit_start);
                if let Err(v) = checker::durability::check(&history, audit_start) {
                    let around = neighbourhood(&history, v.audit_read, v.vol, Some(v.block), scenario);
                    return violation(check, v.to_string(), around);
                }
            }
            CheckName::Durability => {} // No audit without settling; the ending is the verdict.
            CheckName::Linearizability => match crate::linearizability::check_within(
                &crate::remote_report::linearizable_part(&r.history),
                &volumes,
                budget,
            ) {
                Outcome::Linearizable { whole } => {
                    if !whole && r.history.ops.iter().any(|o| !o.op.is_io()) {
                        notes.push(format!(
                            "linearizability: every block part passed; the whole-object pass stopped at its \
                             bound of {} steps, so the cross-block consistency of split, restore and snapshot images \
                             rests on the engine's invariant probes",
                            checker::models::storage::WHOLE_STEPS_MAX
                        ));
                    }
                }
                Outcome::Violation(explanation) => return violation(check, explanation, String::new()),
                Outcome::Unknown(reason) => unknown = unknown.or(Some((check, reason))),
            },
            CheckName::Offload => {
                for files in &r.files {
                    if let Err(v) = checker::offload::check(&r.history, files, r.audit_start, completed) {
                        let host = &scenario.config.hosts[files.host.0 as usize].name;
                        return violation(check, format!("file server {host:?}: {v}"), String::new());
                    }
                }
            }
            CheckName::RemotePrefix => {
                if let Err(v) = crate::remote_report::judge(scenario, r, notes) {
                    return violation(check, v.0, v.1);
                }
            }
            CheckName::Invariants => {
                if let Some(v) = r.violations.first() {
                    let array = &scenario.config.arrays[v.array.0 as usize].name;
                    return violation(
                        check,
                        format!("array {array:?} at event {} ({} ns): {}", v.event, v.time_ns, v.message),
                        String::new(),
                    );
                }
                if let Some((i, msg)) = unjustified_media_error(scenario, r) {
                    let vol = r.history.ops[i].op.volume().expect("a read");
                    let around = neighbourhood(&r.history, i, vol, None, scenario);
                    return violation(check, msg, around);
                }
            }
        }
    }
    if !completed {
        return (Verdict::Ending(r.ending), Some(format!("the run ended on its bound: {}", r.ending.name())));
    }
    match unknown {
        Some((check, reason)) => (
            Verdict::Unknown { check, reason: reason.clone() },
            Some(format!("{} check gave up: {reason}", check.name())),
        ),
        None => (Verdict::Pass, None),
    }
}

/// The history without admin commands and without the volumes they touched:
/// durability ("the last acknowledged write survives") does not hold for a volume a
/// resync or restore overwrites by design; linearizability judges those.
fn unpaired(h: &History, audit_start: usize) -> (std::borrow::Cow<'_, History>, usize) {
    let paired: std::collections::BTreeSet<VolumeId> = h
        .ops
        .iter()
        .filter_map(|o| match o.op {
            Op::PairCreate { source, mirror, .. } => Some([source, mirror]),
            Op::RemotePairCreate { primary, secondary, .. } => Some([primary, secondary]),
            // S0: a backup's destination and a restore's target are overwritten by design.
            Op::Backup { dst, .. } => Some([dst.vol, dst.vol]),
            Op::RestoreBackup { to, .. } => Some([to.vol, to.vol]),
            _ => None,
        })
        .flatten()
        .collect();
    // An audit read that hit an injected media fault cannot judge durability (the
    // invariants check judges whether that media error was justified).
    let unreadable =
        |o: &HistoryOp| matches!(o.completion, Completion::Returned(Err(model::ErrorKind::MediaError)));
    if h.ops.iter().all(|o| o.op.is_io() && !unreadable(o) && !o.op.volume().is_some_and(|v| v.is_image())) {
        return (std::borrow::Cow::Borrowed(h), audit_start);
    }
    // An image (S4) holds what its origin held at the snapshot: values written to
    // another volume, which linearizability judges.
    let keep = |o: &HistoryOp| {
        o.op.volume().is_some_and(|v| !paired.contains(&v) && !v.is_image()) && !unreadable(o)
    };
    let start = h.ops[..audit_start.min(h.ops.len())].iter().filter(|o| keep(o)).count();
    let ops = h.ops.iter().filter(|o| keep(o)).cloned().collect();
    (std::borrow::Cow::Owned(History { ops }), start)
}

/// A read answered with a media error although no media fault was injected under
/// it (at or before its answer): the engine invented an error.
fn unjustified_media_error(scenario: &Scenario, r: &RunResult) -> Option<(usize, String)> {
    for (i, o) in r.history.ops.iter().enumerate() {
        let Completion::Returned(Err(model::ErrorKind::MediaError)) = &o.completion else { continue };
        let (vol, block, len) = match &o.op {
            Op::Read { vol, block, len } => (*vol, *block, u64::from(*len)),
            // S0: a restore reads the backup's destination.
            Op::RestoreBackup { backup, .. } => {
                match crate::backup_report::backup_destination(&r.history, *backup) {
                    Some(dst) => (dst.vol, dst.start, dst.blocks),
                    None => continue,
                }
            }
            _ => continue,
        };
        let Some(array) = scenario.config.volume(vol).map(|v| v.array) else { continue };
        let end = o.complete_ns.unwrap_or(u64::MAX);
        let justified = r.media_faults.iter().any(|f| {
            // On the volume itself, or on a mirror the engine read instead.
            f.array == array && (block..block + len).contains(&f.block) && f.at_ns <= end
        });
        if !justified {
            return Some((
                i,
                format!("#{i} {} got a media error, but no media fault was injected under it", o.op),
            ));
        }
    }
    None
}

/// The operations before the first one whose outcome is unknown (a timeout: a slow
/// link can make one without any fault). Such an operation may still take effect at
/// any later moment, which a step-by-step comparison cannot follow; linearizability
/// and durability judge the whole history, this prefix is what differential judges.
fn answered_prefix(h: &History) -> std::borrow::Cow<'_, History> {
    match h.ops.iter().position(|o| o.completion == Completion::Unknown) {
        None => std::borrow::Cow::Borrowed(h),
        Some(i) => std::borrow::Cow::Owned(History { ops: h.ops[..i].to_vec() }),
    }
}

fn violation(check: CheckName, summary: String, around: String) -> (Verdict, Option<String>) {
    let details = format!("{} violation: {summary}\n{around}", check.name());
    (Verdict::Violation { check, summary }, Some(details.trim_end().to_string()))
}

/// The operations of the history around a failure: those touching `block` of `vol`
/// (the last 12 up to and including `index`), one line each.
pub fn neighbourhood(
    h: &History,
    index: usize,
    vol: VolumeId,
    block: Option<u64>,
    scenario: &Scenario,
) -> String {
    let touches = |o: &HistoryOp| {
        !o.op.is_io()
            || o.op.volume() == Some(vol)
                && block.is_none_or(|b| {
                    let (first, n) = o.op.extent();
                    first <= b && b < first + n
                })
    };
    let picked: Vec<usize> = h.ops[..=index.min(h.ops.len().saturating_sub(1))]
        .iter()
        .enumerate()
        .filter(|(i, o)| *i == index || touches(o))
        .map(|(i, _)| i)
        .collect();
    let skip = picked.len().saturating_sub(12);
    let vol_name = scenario.config.volume(vol).map_or("?", |v| v.name.as_str());
    let mut s = format!(
        "operations on volume {vol_name:?}{} (history index, process, invoke..complete ns, op, outcome):\n",
        block.map(|b| format!(" block {b}")).unwrap_or_default()
    );
    if skip > 0 {
        s += &format!("  ... {skip} earlier operations\n");
    }
    for &i in &picked[skip..] {
        s += &format!("  {}\n", op_line(i, &h.ops[i]));
    }
    s
}

/// One operation as a line: `#12 p3 1000..2000 write(vol0, 5, [w1#2+0]) -> Done`.
pub fn op_line(i: usize, o: &HistoryOp) -> String {
    let end = o.complete_ns.map_or("?".to_string(), |t| t.to_string());
    let outcome = match &o.completion {
        Completion::Returned(Ok(model::Reply::Done)) => "ok".to_string(),
        Completion::Returned(Ok(model::Reply::Values(v))) => {
            let shown: Vec<String> = v.iter().take(8).map(|x| x.to_string()).collect();
            format!("ok [{}{}]", shown.join(" "), if v.len() > 8 { " ..." } else { "" })
        }
        Completion::Returned(Ok(r @ model::Reply::Backups(_))) => {
            format!("ok {}", checker::models::storage::describe_result(&Ok(r.clone())))
        }
        Completion::Returned(Err(e)) => format!("error: {e}"),
        Completion::Failed(why) => format!("failed: {why}"),
        Completion::Unknown => "no response (unknown)".to_string(),
    };
    let op = match &o.op {
        Op::Write { values, .. } if values.len() > 8 => {
            let (first, n) = o.op.extent();
            format!("write({}, {first}, {n} blocks from {})", o.op.volume().expect("a write"), values[0])
        }
        op => op.to_string(),
    };
    let who = if o.process.0 == u32::MAX { "audit".to_string() } else { format!("p{}", o.process.0) };
    format!("#{i} {who} {}..{end} {op} -> {outcome}", o.invoke_ns)
}

/// The background copies of a run (SPEC §2: resync and restore copy exactly the union
/// of the change maps), one line each: pair, kind, blocks copied, the union, the
/// blocks that actually differed, amplification (copied / differing), simulated time.
pub fn copy_lines(r: &RunResult) -> Vec<String> {
    r.copies
        .iter()
        .map(|c| {
            let amp = if c.stats.differing_blocks == 0 {
                "-".to_string()
            } else {
                format!("{:.2}", c.stats.blocks_copied as f64 / c.stats.differing_blocks as f64)
            };
            let time = match c.finished_ns {
                Some(end) => crate::cli::fmt_ns(end - c.started_ns),
                None => "interrupted".to_string(),
            };
            format!(
                "copy {} {:<17} copied {:>6} blocks, union {:>6}, differing {:>6}, amplification {:>5}, {}",
                c.pair,
                c.kind.name(),
                c.stats.blocks_copied,
                c.stats.union_blocks,
                c.stats.differing_blocks,
                amp,
                time
            )
        })
        .collect()
}

/// The copies as JSON values (for `--format json`).
pub fn copies_json(r: &RunResult) -> Vec<serde_json::Value> {
    r.copies
        .iter()
        .map(|c| {
            serde_json::json!({
                "array": c.array.0,
                "pair": c.pair.0,
                "kind": c.kind.name(),
                "blocks_copied": c.stats.blocks_copied,
                "union_blocks": c.stats.union_blocks,
                "differing_blocks": c.stats.differing_blocks,
                "chunks": c.stats.chunks,
                "started_ns": c.started_ns,
                "finished_ns": c.finished_ns,
            })
        })
        .collect()
}
