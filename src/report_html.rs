//! `--report FILE`: a failing (or passing) run, or a checked history file, as one
//! self-contained HTML page (inline CSS and script, no network): one timeline per
//! client process with its operations as bars (as Porcupine draws them), the
//! violation's operations highlighted, the longest linearizable prefix the checker
//! found, the states of links, arrays, hosts and mirror pairs over time, the injected
//! faults, the check that failed, the seed and the replay command.
//!
//! It stays small on large histories: only the neighbourhood of the violation (at
//! most [`NEIGHBOURS`] operations either side of each operation of the violation, in
//! invocation order) is drawn; the rest is summarized as counts. The page is built
//! in Rust as static HTML (it shows everything without its script); the script only
//! adds the detail panel of a clicked bar, and marks that it ran
//! (`#script-ok`), while `window.onerror` writes `#script-error`, so a headless
//! browser test can tell a broken page from a working one.

use crate::runner::{RunReport, Verdict};
use crate::scenario::{CheckName, Scenario};
use checker::linearizability::{Operation, Outcome};
use model::{Completion, Op, PairEvent, RemoteEvent};
use sim::TraceKind;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Operations drawn on either side of each operation of the violation.
pub const NEIGHBOURS: usize = 100;
/// Rows at most in the faults and state-change tables (the rest counted).
const TABLE_MAX: usize = 200;

/// How an operation ended, for its bar's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Ok,
    /// The operation returned an error (a refusal: it did not take effect).
    Error,
    /// Failed without taking effect (not sent).
    Failed,
    /// No response: it may have taken effect at any later time.
    Unknown,
}

/// One operation.
#[derive(Clone, Debug)]
pub struct Bar {
    /// The id the checker reports (history index, or file line).
    pub id: u64,
    pub process: String,
    pub start: u64,
    pub end: Option<u64>,
    pub op: String,
    pub outcome: String,
    pub how: End,
}

/// One state segment of a lane: `[start, end)` (end `None`: to the end of the run).
#[derive(Clone, Debug)]
pub struct Segment {
    pub start: u64,
    pub end: Option<u64>,
    pub state: String,
    /// A fault state (down, crashed, suspended) drawn in the warning colour.
    pub bad: bool,
}

/// A link, array, host or pair, and its states over time.
#[derive(Clone, Debug)]
pub struct Lane {
    pub name: String,
    pub segments: Vec<Segment>,
}

/// Everything a report shows, whatever produced it.
#[derive(Clone, Debug, Default)]
pub struct ReportData {
    pub title: String,
    pub source: String,
    /// The time axis: "ns" (simulated) or "line" (history file lines).
    pub time_unit: &'static str,
    pub seed: Option<u64>,
    /// The verdict code (`pass`, `violation:linearizability`, ...).
    pub verdict: String,
    pub expected: Option<String>,
    /// The check that failed, if any.
    pub failed_check: Option<String>,
    /// The check's explanation, as the text output prints it.
    pub details: String,
    pub replay: Option<String>,
    pub bars: Vec<Bar>,
    /// The operation that cannot be placed (linearizability) or that shows the failure.
    pub culprit: Option<u64>,
    /// The other operations of the violation (the minimal set, or those on the block).
    pub involved: Vec<u64>,
    /// The longest linearizable prefix the checker found (ids), if it reported one,
    /// and the partition (block) it is of.
    pub prefix: Option<Vec<u64>>,
    pub partition: String,
    /// A time the failure was observed at, when no operation names it.
    pub focus_time: Option<u64>,
    pub lanes: Vec<Lane>,
    /// Injected faults and repairs: (time, text).
    pub faults: Vec<(u64, String)>,
}

/// Writes `html` to `path`, refusing to replace an existing file unless `force`.
pub fn write_new(path: &Path, html: &str, force: bool) -> Result<(), String> {
    if !force && path.exists() {
        return Err(format!(
            "--report: {} already exists; choose another name or pass --force to overwrite it",
            path.display()
        ));
    }
    std::fs::write(path, html).map_err(|e| format!("--report: cannot write {}: {e}", path.display()))
}

/// The report of a simulated run.
pub fn from_run(sc: &Scenario, r: &RunReport) -> ReportData {
    let h = &r.result.history;
    let bars = h
        .ops
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (outcome, how) = match &o.completion {
                Completion::Returned(Ok(_)) => ("ok".to_string(), End::Ok),
                Completion::Returned(Err(e)) => (format!("error: {e}"), End::Error),
                Completion::Failed(why) => (format!("failed: {why}"), End::Failed),
                Completion::Unknown => ("no response (unknown)".to_string(), End::Unknown),
            };
            let line = crate::runner::op_line(i, o);
            // op_line is "#i who start..end op -> outcome": keep the op and its answer.
            let op = line.splitn(4, ' ').nth(3).unwrap_or(&line).to_string();
            Bar {
                id: i as u64,
                process: if o.process.0 == u32::MAX { "audit".into() } else { format!("p{}", o.process.0) },
                start: o.invoke_ns,
                end: o.complete_ns,
                op,
                outcome,
                how,
            }
        })
        .collect();
    let mut d = ReportData {
        title: format!("mirrorsim: {} (seed {})", r.scenario, r.seed),
        source: r.path.clone(),
        time_unit: "ns",
        seed: Some(r.seed),
        verdict: r.verdict.code(),
        expected: serde_json::to_string(&sc.file.expect).ok(),
        failed_check: None,
        details: r.details.clone().unwrap_or_default(),
        replay: Some(r.replay_command()),
        bars,
        ..ReportData::default()
    };
    match &r.verdict {
        Verdict::Violation { check, .. } => {
            d.failed_check = Some(check.name().to_string());
            if *check == CheckName::Linearizability {
                // The runner keeps only the explanation; the check is deterministic,
                // so ask it again for the structured counterexample.
                let volumes = sc.config.volume_specs();
                let report = checker::models::storage::check_storage(
                    h,
                    &volumes,
                    &crate::linearizability::run_budget(),
                );
                if let Some(cx) = report.counterexample() {
                    set_counterexample(&mut d, cx);
                }
            } else {
                // The other checks list the operations on the failing block as op
                // lines ("  #12 p3 ..."); the last one shows the failure.
                let ids: Vec<u64> = d
                    .details
                    .lines()
                    .filter_map(|l| l.trim_start().strip_prefix('#')?.split(' ').next()?.parse().ok())
                    .filter(|&i: &u64| (i as usize) < h.ops.len())
                    .collect();
                d.culprit = ids.last().copied();
                d.involved = ids;
                if d.culprit.is_none() {
                    d.focus_time = r.result.violations.first().map(|v| v.time_ns);
                }
            }
        }
        Verdict::Unknown { check, .. } => d.failed_check = Some(format!("{} (unknown)", check.name())),
        _ => {}
    }
    d.lanes = lanes(sc, r);
    d.faults = faults(sc, r);
    d
}

/// `fuzz --report`: reruns a saved failure with its seed and writes its report
/// beside it (`NAME.html` for `NAME.json`), never over an existing file.
pub fn report_saved_failure(
    saved: &Path,
    seed: u64,
    planted: &crate::fuzz::PlantedBugs,
) -> Result<std::path::PathBuf, String> {
    let sc = crate::scenario::load(saved).map_err(|e| e.to_string())?;
    let factory = crate::fuzz::planted::factory(planted);
    let r = crate::runner::run(&sc, seed, factory.as_ref(), false);
    let mut d = from_run(&sc, &r);
    if !planted.is_empty() {
        d.replay = d.replay.map(|c| format!("{c}{}", planted.cli_args()));
    }
    let out = saved.with_extension("html");
    write_new(&out, &render(&d), false)?;
    Ok(out)
}

fn set_counterexample(d: &mut ReportData, cx: &checker::Counterexample) {
    d.culprit = Some(cx.culprit.id);
    let mut involved: BTreeSet<u64> = cx.minimal.iter().map(|o| o.id).collect();
    involved.extend(cx.concurrent_pending.iter().map(|o| o.id));
    d.involved = involved.into_iter().collect();
    d.prefix = Some(cx.prefix.clone());
    d.partition = cx.partition.clone();
    d.failed_check.get_or_insert_with(|| "linearizability".into());
}

/// The report of a history file judged by `mirrorsim check` (times are file lines).
pub fn from_check<O: std::fmt::Debug, R: std::fmt::Debug>(
    file: &Path,
    model: &str,
    ops: &[Operation<O, R>],
    report: &checker::Report,
) -> ReportData {
    let bars = ops
        .iter()
        .map(|o| {
            let (outcome, how) = match &o.outcome {
                Outcome::Returned { value, .. } => (format!("ok {value:?}"), End::Ok),
                Outcome::Failed => ("failed".to_string(), End::Failed),
                Outcome::Unknown => ("unknown".to_string(), End::Unknown),
            };
            Bar {
                id: o.id,
                process: format!("p{}", o.process),
                start: o.call,
                end: o.ret_time(),
                op: format!("{:?} -> {outcome}", o.op),
                outcome,
                how,
            }
        })
        .collect();
    let mut d = ReportData {
        title: format!("mirrorsim check: {} ({model})", file.display()),
        source: file.display().to_string(),
        time_unit: "line",
        verdict: match &report.verdict {
            checker::Verdict::Linearizable => "linearizable".into(),
            checker::Verdict::NotLinearizable(_) => "violation:linearizability".into(),
            checker::Verdict::Unknown { reason } => format!("unknown: {reason}"),
        },
        details: match &report.verdict {
            checker::Verdict::NotLinearizable(cx) => format!("{}\n{cx}", report.headline()),
            _ => report.headline(),
        },
        replay: Some(format!("mirrorsim check {} --model {model}", file.display())),
        bars,
        ..ReportData::default()
    };
    if let Some(cx) = report.counterexample() {
        set_counterexample(&mut d, cx);
    }
    d
}

/// The report of a history file's text, parsed for `kind`, judged as `report`.
pub fn from_history_text(
    file: &Path,
    kind: checker::history_format::ModelKind,
    text: &str,
    report: &checker::Report,
) -> ReportData {
    use checker::history_format::{ParsedHistory, parse};
    match parse(kind, text) {
        Ok(ParsedHistory::CasRegister { ops, .. }) => from_check(file, kind.name(), &ops, report),
        Ok(ParsedHistory::Kv { ops }) => from_check(file, kind.name(), &ops, report),
        Ok(ParsedHistory::Storage { ops, .. }) => from_check(file, kind.name(), &ops, report),
        Err(_) => from_check::<(), ()>(file, kind.name(), &[], report),
    }
}

/// Links, arrays and hosts (up/down, from the trace's notable events) and pairs and
/// groups (from the history's commands and the engines' announced transitions).
fn lanes(sc: &Scenario, r: &RunReport) -> Vec<Lane> {
    let cfg = &sc.config;
    let mut lanes: BTreeMap<(u8, u32), Lane> = BTreeMap::new();
    let mut set = |key: (u8, u32), name: &dyn Fn() -> String, t: u64, state: &str, bad: bool| {
        let lane = lanes.entry(key).or_insert_with(|| Lane { name: name(), segments: Vec::new() });
        if let Some(last) = lane.segments.last_mut() {
            if last.state == state {
                return;
            }
            last.end = Some(t);
        }
        lane.segments.push(Segment { start: t, end: None, state: state.to_string(), bad });
    };
    let link =
        |i: u32| move || format!("link {}", cfg.links.get(i as usize).map_or("?", |l| l.name.as_str()));
    let array =
        |i: u32| move || format!("array {}", cfg.arrays.get(i as usize).map_or("?", |a| a.name.as_str()));
    let host =
        |i: u32| move || format!("host {}", cfg.hosts.get(i as usize).map_or("?", |h| h.name.as_str()));
    for i in 0..cfg.links.len() as u32 {
        set((0, i), &link(i), 0, "up", false);
    }
    for i in 0..cfg.arrays.len() as u32 {
        set((1, i), &array(i), 0, "up", false);
    }
    for e in &r.result.trace.notable {
        let t = e.time_ns;
        match e.kind {
            TraceKind::LinkDown { link: l } => set((0, l), &link(l), t, "down", true),
            TraceKind::LinkUp { link: l } => set((0, l), &link(l), t, "up", false),
            TraceKind::ArrayCrash { array: a, .. } => set((1, a), &array(a), t, "crashed", true),
            TraceKind::ArrayRestart { array: a } => set((1, a), &array(a), t, "up", false),
            TraceKind::HostCrash { host: h, .. } => set((2, h), &host(h), t, "crashed", true),
            TraceKind::HostRestart { host: h } => set((2, h), &host(h), t, "up", false),
            _ => {}
        }
    }
    // Commands take effect somewhere inside their interval: the state is drawn from
    // the answer (a lower bound on when it held); announced events are instants.
    let mut ops: Vec<&model::HistoryOp> = r
        .result
        .history
        .ops
        .iter()
        .filter(|o| !o.op.is_io() && matches!(o.completion, Completion::Returned(Ok(_))))
        .collect();
    ops.sort_by_key(|o| o.complete_ns.unwrap_or(o.invoke_ns));
    for o in ops {
        let t = o.complete_ns.unwrap_or(o.invoke_ns);
        let (key, name, state, bad): ((u8, u32), String, &str, bool) = match &o.op {
            Op::PairCreate { pair, .. } => ((3, pair.0), format!("pair {}", pair.0), "copy", false),
            Op::Split { pair } => ((3, pair.0), format!("pair {}", pair.0), "split", false),
            Op::Resync { pair } => ((3, pair.0), format!("pair {}", pair.0), "resync", false),
            Op::Restore { pair, protected } => (
                (3, pair.0),
                format!("pair {}", pair.0),
                if *protected { "restore_protected" } else { "restore" },
                false,
            ),
            Op::PairDelete { pair } => ((3, pair.0), format!("pair {}", pair.0), "deleted", false),
            Op::PairEvent { pair, event } => (
                (3, pair.0),
                format!("pair {}", pair.0),
                match event {
                    PairEvent::CopyDone => "mirrored",
                    PairEvent::Suspended => "suspended",
                },
                matches!(event, PairEvent::Suspended),
            ),
            Op::RemotePairCreate { group, .. } => ((4, group.0), format!("group {}", group.0), "copy", false),
            Op::Suspend { group } => ((4, group.0), format!("group {}", group.0), "suspended", false),
            Op::Resume { group } => ((4, group.0), format!("group {}", group.0), "resync", false),
            Op::Takeover { group } => ((4, group.0), format!("group {}", group.0), "taken over", false),
            Op::Failback { group } => ((4, group.0), format!("group {}", group.0), "failback", false),
            Op::RemoteEvent { group, event } => (
                (4, group.0),
                format!("group {}", group.0),
                match event {
                    RemoteEvent::Synced => "pair",
                    RemoteEvent::LinkLost => "link lost",
                },
                matches!(event, RemoteEvent::LinkLost),
            ),
            _ => continue,
        };
        set(key, &|| name.clone(), t, state, bad);
    }
    lanes.into_values().collect()
}

fn faults(sc: &Scenario, r: &RunReport) -> Vec<(u64, String)> {
    let cfg = &sc.config;
    let name = |v: &[String], i: u32| v.get(i as usize).cloned().unwrap_or_else(|| i.to_string());
    let links: Vec<String> = cfg.links.iter().map(|l| l.name.clone()).collect();
    let arrays: Vec<String> = cfg.arrays.iter().map(|a| a.name.clone()).collect();
    let hosts: Vec<String> = cfg.hosts.iter().map(|h| h.name.clone()).collect();
    let mut drops = 0u64;
    let mut dups = 0u64;
    let mut out = Vec::new();
    for e in &r.result.trace.notable {
        let text = match e.kind {
            TraceKind::LinkDown { link } => format!("link {} down", name(&links, link)),
            TraceKind::LinkUp { link } => format!("link {} up", name(&links, link)),
            TraceKind::ArrayCrash { array, torn, landed, lost } => format!(
                "array {} crashed (writes in flight: {landed} landed, {torn} torn, {lost} lost)",
                name(&arrays, array)
            ),
            TraceKind::ArrayRestart { array } => format!("array {} restarted", name(&arrays, array)),
            TraceKind::HostCrash { host, open } => {
                format!("host {} crashed ({open} operations open)", name(&hosts, host))
            }
            TraceKind::HostRestart { host } => format!("host {} restarted", name(&hosts, host)),
            TraceKind::MediaFault { array, space, block } => {
                format!("media fault on array {} (space {space}, block {block})", name(&arrays, array))
            }
            TraceKind::Invariant { array } => {
                format!("array {} reported a broken invariant", name(&arrays, array))
            }
            TraceKind::Settle => "faults stop; settling".to_string(),
            TraceKind::Drop { .. } => {
                drops += 1;
                continue;
            }
            TraceKind::Send { .. } => {
                dups += 1;
                continue;
            }
            _ => continue,
        };
        out.push((e.time_ns, text));
    }
    if drops + dups > 0 {
        out.push((
            r.sim_ns,
            format!("in all: {drops} messages dropped at random, {dups} sent more than once"),
        ));
    }
    out
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The bars drawn in detail (indices into `bars`, in invocation order) and the
/// count of those summarized before, between and after.
fn window(d: &ReportData) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..d.bars.len()).collect();
    order.sort_by_key(|&i| (d.bars[i].start, d.bars[i].id));
    let focus: BTreeSet<u64> = d.culprit.iter().chain(&d.involved).copied().collect();
    let mut centres: Vec<usize> =
        order.iter().enumerate().filter(|(_, i)| focus.contains(&d.bars[**i].id)).map(|(p, _)| p).collect();
    if centres.is_empty() {
        let p = match d.focus_time {
            Some(t) => order.iter().position(|&i| d.bars[i].start >= t).unwrap_or(order.len()),
            None => NEIGHBOURS, // no violation: the start of the run
        };
        centres.push(p.min(order.len().saturating_sub(1)));
    }
    let mut keep = vec![false; order.len()];
    for &c in &centres {
        let lo = c.saturating_sub(NEIGHBOURS);
        let hi = (c + NEIGHBOURS).min(order.len().saturating_sub(1));
        for k in keep.iter_mut().take(hi + 1).skip(lo) {
            *k = true;
        }
    }
    let shown: Vec<usize> = order.iter().zip(&keep).filter(|(_, k)| **k).map(|(&i, _)| i).collect();
    let hidden = order.len() - shown.len();
    (shown, hidden)
}

/// The page.
pub fn render(d: &ReportData) -> String {
    let (shown, hidden) = window(d);
    let focus: BTreeSet<u64> = d.involved.iter().copied().collect();
    let prefix: BTreeSet<u64> = d.prefix.iter().flatten().copied().collect();
    let t0 = shown.iter().map(|&i| d.bars[i].start).min().unwrap_or(0);
    let t1_ops = shown.iter().map(|&i| d.bars[i].end.unwrap_or(d.bars[i].start)).max().unwrap_or(0);
    let t1 = t1_ops.max(t0 + 1);
    let span = (t1 - t0) as f64;
    let pos = |t: u64| (t.clamp(t0, t1) - t0) as f64 / span * 100.0;
    let unit = d.time_unit;

    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(h, "<title>{}</title>", esc(&d.title));
    h.push_str(CSS);
    h.push_str("<script>window.onerror=function(m,s,l){var e=document.createElement('div');e.id='script-error';e.textContent='script error: '+m+' (line '+l+')';document.body.appendChild(e);};</script>\n");
    h.push_str("</head><body>\n");
    let _ = writeln!(h, "<h1>{}</h1>", esc(&d.title));

    // The summary: verdict, check, seed, replay.
    h.push_str("<table class=\"kv\" id=\"summary\">\n");
    let row = |h: &mut String, k: &str, v: &str, id: &str| {
        let _ = writeln!(h, "<tr><th>{k}</th><td id=\"{id}\">{}</td></tr>", esc(v));
    };
    row(&mut h, "source", &d.source, "source");
    row(&mut h, "verdict", &d.verdict, "verdict");
    if let Some(e) = &d.expected {
        row(&mut h, "expected", e, "expected");
    }
    if let Some(c) = &d.failed_check {
        row(&mut h, "failed check", c, "failed-check");
    }
    if let Some(s) = d.seed {
        row(&mut h, "seed", &s.to_string(), "seed");
    }
    if let Some(r) = &d.replay {
        let _ = writeln!(h, "<tr><th>replay</th><td><code id=\"replay\">{}</code></td></tr>", esc(r));
    }
    if let Some(p) = &d.prefix {
        row(
            &mut h,
            "longest linearizable prefix",
            &format!("{} operations of partition {} (bars outlined in green)", p.len(), d.partition),
            "prefix",
        );
    }
    h.push_str("</table>\n");

    // The timeline.
    let _ = writeln!(
        h,
        "<h2>Operations</h2>\n<p class=\"note\" id=\"window\">Showing {} of {} operations ({} to {} {unit}){}. \
         <span class=\"key culprit\">violation</span> <span class=\"key involved\">involved</span> \
         <span class=\"key lin\">linearized prefix</span> <span class=\"key err\">error</span> \
         <span class=\"key unk\">no response</span></p>",
        shown.len(),
        d.bars.len(),
        t0,
        t1,
        if hidden > 0 {
            format!(
                "; {hidden} operations outside this window (the violation's neighbourhood, or the run's start) are not drawn"
            )
        } else {
            String::new()
        },
        unit = if unit == "line" { "lines" } else { unit },
    );
    let mut rows: BTreeMap<(u8, u64, String), Vec<usize>> = BTreeMap::new();
    for &i in &shown {
        let p = &d.bars[i].process;
        let num = p.trim_start_matches('p').parse::<u64>().unwrap_or(u64::MAX);
        rows.entry((u8::from(p == "audit"), num, p.clone())).or_default().push(i);
    }
    h.push_str("<div class=\"timeline\">\n");
    for ((_, _, name), idx) in &rows {
        let _ = write!(h, "<div class=\"row\"><div class=\"label\">{}</div><div class=\"track\">", esc(name));
        for &i in idx {
            let b = &d.bars[i];
            let left = pos(b.start);
            let right = b.end.map_or(100.0, pos);
            let width = (right - left).max(0.4);
            let mut class = String::from("bar");
            if d.culprit == Some(b.id) {
                class.push_str(" culprit");
            } else if focus.contains(&b.id) {
                class.push_str(" involved");
            }
            if prefix.contains(&b.id) {
                class.push_str(" lin");
            }
            class.push_str(match b.how {
                End::Ok => "",
                End::Error => " err",
                End::Failed => " failed",
                End::Unknown => " unk",
            });
            let end = b.end.map_or("?".to_string(), |e| e.to_string());
            let _ = write!(
                h,
                "<div class=\"{class}\" id=\"op-{}\" style=\"left:{left:.3}%;width:{width:.3}%\" \
                 title=\"#{} {} {}..{end} {unit}: {}\" data-op=\"{}\"></div>",
                b.id,
                b.id,
                esc(&b.process),
                b.start,
                esc(&b.op),
                esc(&format!("#{} {} {}..{end} {unit}: {}", b.id, b.process, b.start, b.op)),
            );
        }
        h.push_str("</div></div>\n");
    }
    // The lanes, on the same axis.
    for lane in &d.lanes {
        let _ = write!(
            h,
            "<div class=\"row lane\"><div class=\"label\">{}</div><div class=\"track\">",
            esc(&lane.name)
        );
        for s in &lane.segments {
            let end = s.end.unwrap_or(u64::MAX);
            if end < t0 || s.start > t1 {
                continue;
            }
            let left = pos(s.start);
            let right = pos(end.min(t1));
            let _ = write!(
                h,
                "<div class=\"seg{}\" style=\"left:{left:.3}%;width:{:.3}%\" title=\"{}\">{}</div>",
                if s.bad { " bad" } else { "" },
                (right - left).max(0.2),
                esc(&format!("{}: {} from {} {unit}", lane.name, s.state, s.start)),
                esc(&s.state)
            );
        }
        h.push_str("</div></div>\n");
    }
    h.push_str("</div>\n<pre id=\"detail\" class=\"detail\">Click an operation for its details.</pre>\n");

    // The violation's operations, listed.
    let listed: Vec<&Bar> =
        d.bars.iter().filter(|b| d.culprit == Some(b.id) || focus.contains(&b.id)).collect();
    if !listed.is_empty() {
        h.push_str("<h2>The violation's operations</h2>\n<table class=\"ops\" id=\"violation-ops\"><tr><th>id</th><th>process</th><th>start</th><th>end</th><th>operation</th></tr>\n");
        for b in listed {
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if d.culprit == Some(b.id) { "culprit" } else { "involved" },
                b.id,
                esc(&b.process),
                b.start,
                b.end.map_or("?".to_string(), |e| e.to_string()),
                esc(&b.op)
            );
        }
        h.push_str("</table>\n");
    }
    if !d.details.is_empty() {
        let _ = writeln!(h, "<h2>What the check says</h2>\n<pre id=\"details\">{}</pre>", esc(&d.details));
    }
    if !d.faults.is_empty() {
        h.push_str("<h2>Injected faults</h2>\n<table class=\"ops\" id=\"faults\"><tr><th>time (ns)</th><th>fault</th></tr>\n");
        for (t, f) in d.faults.iter().take(TABLE_MAX) {
            let _ = writeln!(h, "<tr><td>{t}</td><td>{}</td></tr>", esc(f));
        }
        if d.faults.len() > TABLE_MAX {
            let _ = writeln!(h, "<tr><td></td><td>... and {} more</td></tr>", d.faults.len() - TABLE_MAX);
        }
        h.push_str("</table>\n");
    }
    if d.lanes.iter().any(|l| l.segments.len() > 1) {
        h.push_str("<h2>State changes</h2>\n<table class=\"ops\" id=\"states\"><tr><th>time (ns)</th><th>what</th><th>state</th></tr>\n");
        let mut changes: Vec<(u64, &str, &str)> = d
            .lanes
            .iter()
            .flat_map(|l| {
                l.segments.iter().skip(1).map(move |s| (s.start, l.name.as_str(), s.state.as_str()))
            })
            .collect();
        changes.sort();
        for (t, n, s) in changes.iter().take(TABLE_MAX) {
            let _ = writeln!(h, "<tr><td>{t}</td><td>{}</td><td>{}</td></tr>", esc(n), esc(s));
        }
        if changes.len() > TABLE_MAX {
            let _ =
                writeln!(h, "<tr><td></td><td>... and {} more</td><td></td></tr>", changes.len() - TABLE_MAX);
        }
        h.push_str("</table>\n");
    }
    h.push_str(SCRIPT);
    h.push_str("</body></html>\n");
    h
}

const CSS: &str = "<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table.kv th{text-align:left;padding-right:1em;vertical-align:top}
table.ops{border-collapse:collapse;font:12px monospace}
table.ops td,table.ops th{border:1px solid #ccc;padding:2px 6px;text-align:left}
tr.culprit td{background:#fdd}tr.involved td{background:#fed}
.timeline{border:1px solid #ccc;padding:4px 0}
.row{display:flex;height:18px;margin:2px 0}
.row.lane{height:16px}
.label{width:12em;flex:none;font:11px monospace;padding-left:4px;overflow:hidden;white-space:nowrap}
.track{position:relative;flex:1;background:#fafafa;margin-right:8px}
.bar{position:absolute;top:2px;height:14px;background:#8ab4e0;border-radius:2px;cursor:pointer;box-sizing:border-box}
.bar.err{background:#c9c9c9}.bar.failed{background:#e0e0e0}
.bar.unk{background:repeating-linear-gradient(45deg,#8ab4e0,#8ab4e0 4px,#fff 4px,#fff 8px)}
.bar.lin{border:2px solid #2a9d3a}
.bar.involved{background:#f4a340}
.bar.culprit{background:#d62828;z-index:2}
.bar.sel{outline:2px solid #000}
.seg{position:absolute;top:1px;height:14px;background:#d8ecd8;font:10px monospace;overflow:hidden;white-space:nowrap;border-left:1px solid #888}
.seg.bad{background:#f7c0c0}
.key{display:inline-block;padding:0 6px;margin-left:6px;border-radius:2px;font-size:12px}
.key.culprit{background:#d62828;color:#fff}.key.involved{background:#f4a340}
.key.lin{border:2px solid #2a9d3a}.key.err{background:#c9c9c9}
.key.unk{background:repeating-linear-gradient(45deg,#8ab4e0,#8ab4e0 4px,#fff 4px,#fff 8px)}
.note{color:#555}
.detail{background:#f4f4f4;padding:6px;min-height:1.5em}
pre{white-space:pre-wrap}
#script-error{background:#d62828;color:#fff;padding:4px}
</style>
";

const SCRIPT: &str = "<script>
(function(){
  var detail=document.getElementById('detail');var sel=null;
  document.querySelectorAll('.bar').forEach(function(b){
    b.addEventListener('click',function(){
      if(sel){sel.classList.remove('sel');}
      sel=b;b.classList.add('sel');detail.textContent=b.getAttribute('data-op');
    });
  });
  var c=document.querySelector('.bar.culprit');
  if(c){c.scrollIntoView({block:'center'});detail.textContent='violation: '+c.getAttribute('data-op');}
  var ok=document.createElement('div');ok.id='script-ok';ok.hidden=true;document.body.appendChild(ok);
})();
</script>
";

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(id: u64, start: u64, end: u64) -> Bar {
        Bar {
            id,
            process: format!("p{}", id % 3),
            start,
            end: Some(end),
            op: format!("write(vol0, {id}) <x>"),
            outcome: "ok".into(),
            how: End::Ok,
        }
    }

    #[test]
    fn only_the_neighbourhood_of_the_violation_is_drawn() {
        let n = 10_000u64;
        let d = ReportData {
            bars: (0..n).map(|i| bar(i, i * 10, i * 10 + 15)).collect(),
            culprit: Some(5_000),
            involved: vec![4_990],
            prefix: Some((0..=4_990).collect()),
            time_unit: "ns",
            ..ReportData::default()
        };
        let html = render(&d);
        assert_eq!(html.matches("class=\"bar").count(), 2 * NEIGHBOURS + 1 + 10);
        assert!(html.contains("class=\"bar culprit\" id=\"op-5000\""), "culprit drawn and marked");
        assert!(html.contains("class=\"bar involved lin\" id=\"op-4990\""));
        assert!(!html.contains("id=\"op-100\""), "far operations are not drawn");
        assert!(html.contains(&format!("{} operations outside", n as usize - (2 * NEIGHBOURS + 11))));
        // Text is escaped.
        assert!(html.contains("&lt;x&gt;") && !html.contains("<x>"));
    }

    #[test]
    fn an_existing_file_is_not_overwritten_without_force() {
        let dir = std::env::temp_dir().join(format!("mirrorsim-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("r.html");
        std::fs::write(&f, "mine").unwrap();
        let e = write_new(&f, "new", false).unwrap_err();
        assert!(e.contains("already exists") && e.contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "mine");
        write_new(&f, "new", true).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
