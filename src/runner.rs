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
    pub result: RunResult,
}

impl RunReport {
    /// The command that reproduces this run.
    pub fn replay_command(&self) -> String {
        format!("mirrorsim replay {} --seed {}", shell_quote(&self.path), self.seed)
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
    let result = sim::run(&scenario.config, factory, &RunOptions { seed, record_trace });
    let (verdict, details) = judge(scenario, &result);
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
        result,
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

fn judge(scenario: &Scenario, r: &RunResult) -> (Verdict, Option<String>) {
    let completed = r.ending == Ending::Completed;
    let volumes = scenario.config.volume_specs();
    let mut unknown = None;
    for &check in &scenario.checks {
        match check {
            CheckName::Differential => {
                match checker::differential::check(&answered_prefix(&r.history), &volumes) {
                    Ok(Ok(())) => {}
                    Ok(Err(m)) => {
                        let around =
                            neighbourhood(&r.history, m.index, m.op.volume(), m.block.map(|b| b.1), scenario);
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
                if let Err(v) = checker::durability::check(&r.history, r.audit_start) {
                    let around = neighbourhood(&r.history, v.audit_read, v.vol, Some(v.block), scenario);
                    return violation(check, v.to_string(), around);
                }
            }
            CheckName::Durability => {} // No audit without settling; the ending is the verdict.
            CheckName::Linearizability => match crate::linearizability::check(&r.history, &volumes) {
                Outcome::Linearizable => {}
                Outcome::Violation(explanation) => return violation(check, explanation, String::new()),
                Outcome::Unknown(reason) => unknown = unknown.or(Some((check, reason))),
            },
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
        o.op.volume() == vol
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
    let vol_name = scenario.config.volumes.get(vol.0 as usize).map_or("?", |v| v.name.as_str());
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
        Completion::Returned(Err(e)) => format!("error: {e}"),
        Completion::Failed(why) => format!("failed: {why}"),
        Completion::Unknown => "no response (unknown)".to_string(),
    };
    let op = match &o.op {
        Op::Write { values, .. } if values.len() > 8 => {
            let (first, n) = o.op.extent();
            format!("write({}, {first}, {n} blocks from {})", o.op.volume(), values[0])
        }
        op => op.to_string(),
    };
    let who = if o.process.0 == u32::MAX { "audit".to_string() } else { format!("p{}", o.process.0) };
    format!("#{i} {who} {}..{end} {op} -> {outcome}", o.invoke_ns)
}
