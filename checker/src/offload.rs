//! The offload check (SPEC §2 S1): judges a file server's [`FileHistory`] together
//! with the array-level [`History`] its flushes and its backup server's mirror reads
//! are part of.
//!
//! **The application's view.** Writes to one file are applied in the order they were
//! issued (the file server's contract, itself checked below), so the content the
//! application sees of a file block at instant `T` is the value of the last write to
//! it issued before `T`. A file-server crash at `C` loses the cache: a block no write
//! since `C` touched shows whatever the volume held at `C`, which the array-level
//! history bounds: the last flush of that block acknowledged before `C` (or 0), or any
//! flush of it still unanswered at `C`. So the view of a block is a small set of
//! candidate values, usually one.
//!
//! The check, in order:
//! 1. **Held writes.** A write claimed held by an inhibit window is on the window's
//!    file, issued within the window, and completes no earlier than its end; a write
//!    to a file issued strictly inside one of the file's windows is held.
//! 2. **Other files are not inhibited.** A write not held completes within the
//!    cache's worst-case latency (a longer one was delayed by something).
//! 3. **Never reordered.** Per file, writes complete in the order they were issued.
//! 4. **Never lost.** A write never acknowledged is followed by a file-server crash.
//! 5. **The tape.** Every complete tape record names a window whose split succeeded,
//!    of its file, and holds exactly the view of the file at that window's start (the
//!    instant the inhibit began): cached writes included.
//! 6. **The files survive** (a completed run only): the audit reads of the volume
//!    show the view of every written block at the end.

use model::files::{BackupOutcome, FileHistory};
use model::{Completion, History, Op, Reply, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What the check found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

fn fail<T>(rule: &'static str, message: String) -> Result<T, Violation> {
    Err(Violation { rule, message })
}

/// The array-level flushes of the file server's volume, per block.
struct Flush {
    value: Value,
    invoke_ns: u64,
    /// When it was acknowledged, if it was.
    acked_ns: Option<u64>,
}

struct Views<'a> {
    files: &'a FileHistory,
    /// Per file, per offset: the writes touching it, in issue order (write index).
    writes: BTreeMap<(u32, u64), Vec<usize>>,
    flushes: BTreeMap<u64, Vec<Flush>>,
}

impl Views<'_> {
    /// The values the application may see at `offset` of `file` at instant `t`
    /// (writes issued strictly before `t`, plus those issued at `t` that `before`
    /// accepts).
    fn at(&self, file: u32, offset: u64, t: u64, before: impl Fn(usize) -> bool) -> BTreeSet<Value> {
        let crash = self.files.crashes.iter().copied().filter(|&c| c < t).max();
        let issued = |w: usize| {
            let x = &self.files.writes[w];
            (x.invoke_ns < t || x.invoke_ns == t && before(w)) && crash.is_none_or(|c| x.invoke_ns > c)
        };
        let recs = self.writes.get(&(file, offset)).map_or(&[][..], Vec::as_slice);
        if let Some(&w) = recs.iter().rev().find(|&&w| issued(w)) {
            let x = &self.files.writes[w];
            return BTreeSet::from([x.values[(offset - x.offset) as usize]]);
        }
        let Some(c) = crash else { return BTreeSet::from([Value::ZERO]) };
        // No write since the crash: what the volume held at the crash.
        let block = self.files.files[file as usize].block_of(offset).expect("an offset inside its file");
        let flushes = self.flushes.get(&block).map_or(&[][..], Vec::as_slice);
        let mut out = BTreeSet::new();
        let last_acked =
            flushes.iter().filter(|f| f.acked_ns.is_some_and(|a| a <= c)).max_by_key(|f| f.acked_ns);
        out.insert(last_acked.map_or(Value::ZERO, |f| f.value));
        for f in flushes.iter().filter(|f| f.invoke_ns <= c && f.acked_ns.is_none_or(|a| a > c)) {
            out.insert(f.value);
        }
        out
    }
}

fn show(set: &BTreeSet<Value>) -> String {
    let v: Vec<String> = set.iter().map(ToString::to_string).collect();
    if v.len() == 1 { v[0].clone() } else { format!("one of {{{}}}", v.join(", ")) }
}

/// Judges one file server. `audit_start` is where the audit reads begin in
/// `history`; `completed` says whether the run settled (so the audit is complete).
pub fn check(
    history: &History,
    files: &FileHistory,
    audit_start: usize,
    completed: bool,
) -> Result<(), Violation> {
    let name = |f: u32| files.files[f as usize].name.as_str();
    let mut writes: BTreeMap<(u32, u64), Vec<usize>> = BTreeMap::new();
    for (i, w) in files.writes.iter().enumerate() {
        for o in 0..w.values.len() as u64 {
            writes.entry((w.file, w.offset + o)).or_default().push(i);
        }
    }
    let mut flushes: BTreeMap<u64, Vec<Flush>> = BTreeMap::new();
    for h in &history.ops[..audit_start.min(history.ops.len())] {
        let Op::Write { vol, block, values } = &h.op else { continue };
        if *vol != files.volume {
            continue;
        }
        let acked_ns = match h.completion {
            Completion::Returned(Ok(Reply::Done)) => h.complete_ns,
            _ => None,
        };
        for (i, v) in values.iter().enumerate() {
            flushes.entry(block + i as u64).or_default().push(Flush {
                value: *v,
                invoke_ns: h.invoke_ns,
                acked_ns,
            });
        }
    }
    let views = Views { files, writes, flushes };

    // 1. Held writes are held by a window of their file, within it.
    for (i, w) in files.writes.iter().enumerate() {
        if let Some(k) = w.held_by {
            let win = &files.windows[k];
            let end = win.end_ns.unwrap_or(u64::MAX);
            if win.file != w.file || w.invoke_ns < win.start_ns || w.invoke_ns > end {
                return fail(
                    "held writes",
                    format!(
                        "write #{i} to {:?} issued at {} ns was held by window #{k} of {:?} ({}..{end} ns)",
                        name(w.file),
                        w.invoke_ns,
                        name(win.file),
                        win.start_ns
                    ),
                );
            }
            if w.complete_ns.is_some_and(|c| c < end) {
                return fail(
                    "held writes",
                    format!(
                        "write #{i} to {:?} held by window #{k} completed before the window closed",
                        name(w.file)
                    ),
                );
            }
        } else if let Some((k, win)) = files.windows.iter().enumerate().find(|(_, win)| {
            win.file == w.file && win.start_ns < w.invoke_ns && win.end_ns.is_none_or(|e| w.invoke_ns < e)
        }) && files.crashes.iter().all(|&c| c < win.start_ns || c > w.invoke_ns)
        {
            return fail(
                "held writes",
                format!(
                    "write #{i} to {:?} issued at {} ns, inside inhibit window #{k} ({}.. ns), was not held",
                    name(w.file),
                    w.invoke_ns,
                    win.start_ns
                ),
            );
        }
    }
    // 2. A write that was not held is never delayed.
    for (i, w) in files.writes.iter().enumerate() {
        if w.held_by.is_none()
            && let Some(c) = w.complete_ns
            && c - w.invoke_ns > files.cache_write_ns_max
        {
            let during = files
                .windows
                .iter()
                .enumerate()
                .find(|(_, x)| x.start_ns <= w.invoke_ns && x.end_ns.is_none_or(|e| w.invoke_ns < e))
                .map(|(k, x)| format!(", during inhibit window #{k} of {:?}", name(x.file)))
                .unwrap_or_default();
            return fail(
                "other files not inhibited",
                format!(
                    "write #{i} to {:?} was not held but took {} ns (the cache takes at most {} ns){during}",
                    name(w.file),
                    c - w.invoke_ns,
                    files.cache_write_ns_max
                ),
            );
        }
    }
    // 3. Per file, completions in issue order.
    let mut last: BTreeMap<u32, (usize, u64)> = BTreeMap::new();
    for (i, w) in files.writes.iter().enumerate() {
        let Some(c) = w.complete_ns else { continue };
        if let Some(&(j, prev)) = last.get(&w.file)
            && c < prev
        {
            return fail(
                "never reordered",
                format!(
                    "write #{i} to {:?} completed at {c} ns, before the earlier write #{j} (completed at {prev} ns)",
                    name(w.file)
                ),
            );
        }
        last.insert(w.file, (i, c));
    }
    // 4. Never lost without a crash.
    if completed {
        for (i, w) in files.writes.iter().enumerate() {
            if w.complete_ns.is_none() && files.crashes.iter().all(|&c| c < w.invoke_ns) {
                return fail(
                    "never lost",
                    format!(
                        "write #{i} to {:?} issued at {} ns was never acknowledged, and the file server did not crash",
                        name(w.file),
                        w.invoke_ns
                    ),
                );
            }
        }
    }
    // 5. The tape.
    for t in &files.tape {
        if t.outcome != BackupOutcome::Complete {
            continue;
        }
        let Some(k) = t.window else {
            return fail("tape", format!("backup {} is complete but no split answered it", t.backup));
        };
        let win = &files.windows[k];
        if !win.split || win.file != t.file || win.backup != t.backup {
            return fail(
                "tape",
                format!(
                    "backup {} of {:?} copied window #{k}, which is not a split of that file for it",
                    t.backup,
                    name(t.file)
                ),
            );
        }
        let blocks = files.files[t.file as usize].blocks();
        if t.values.len() as u64 != blocks {
            return fail(
                "tape",
                format!(
                    "backup {} of {:?} holds {} blocks, the file has {blocks}",
                    t.backup,
                    name(t.file),
                    t.values.len()
                ),
            );
        }
        for (o, v) in t.values.iter().enumerate() {
            let want = views.at(t.file, o as u64, win.start_ns, |w| files.writes[w].held_by != Some(k));
            if !want.contains(v) {
                return fail(
                    "tape",
                    format!(
                        "backup {} of {:?}: block {o} of the file on tape is {v}, but when the inhibit began (window #{k}, {} ns) the application saw {}",
                        t.backup,
                        name(t.file),
                        win.start_ns,
                        show(&want)
                    ),
                );
            }
        }
    }
    // 6. The files survive.
    if completed {
        // Blocks the audit could not read (an injected media error) prove nothing.
        let mut audited: BTreeMap<u64, Option<Value>> = BTreeMap::new();
        for h in &history.ops[audit_start.min(history.ops.len())..] {
            let Op::Read { vol, block, len } = h.op else { continue };
            if vol != files.volume {
                continue;
            }
            match &h.completion {
                Completion::Returned(Ok(Reply::Values(v))) => {
                    for (i, x) in v.iter().enumerate() {
                        audited.insert(block + i as u64, Some(*x));
                    }
                }
                _ => {
                    for i in 0..u64::from(len) {
                        audited.insert(block + i, None);
                    }
                }
            }
        }
        for &(file, offset) in views.writes.keys() {
            let block = files.files[file as usize].block_of(offset).expect("inside");
            let Some(actual) = audited.get(&block).copied().unwrap_or(Some(Value::ZERO)) else { continue };
            let want = views.at(file, offset, u64::MAX, |_| true);
            if !want.contains(&actual) {
                return fail(
                    "files survive",
                    format!(
                        "block {offset} of {:?} (volume block {block}) holds {actual} after everything settled; the application last wrote {}",
                        name(file),
                        show(&want)
                    ),
                );
            }
        }
    }
    Ok(())
}
