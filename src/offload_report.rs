//! S1's run report: one line per offloaded backup (its inhibit window in simulated
//! time, what it flushed and held, and how the backup ended), and the worst window.

use crate::cli::fmt_ns;
use model::files::{BackupOutcome, FileHistory};
use sim::RunResult;

/// One backup's windows summed up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    pub file_server: String,
    pub backup: u64,
    pub file: String,
    /// Inhibit windows opened for it (more than one after a refused or lost split).
    pub windows: usize,
    /// The length of each window in simulated ns, in order; `None` for one a
    /// file-server crash cut short.
    pub window_ns: Vec<Option<u64>>,
    pub flushed_blocks: u64,
    pub held_writes: u64,
    pub outcome: String,
    /// From the request to the tape being complete.
    pub duration_ns: Option<u64>,
}

/// Every backup of every file server, in order.
pub fn summaries(r: &RunResult, host_names: &[String]) -> Vec<BackupSummary> {
    r.files.iter().flat_map(|f| per_file_server(f, &host_names[f.host.0 as usize])).collect()
}

fn per_file_server(f: &FileHistory, host: &str) -> Vec<BackupSummary> {
    f.tape
        .iter()
        .map(|t| {
            let windows: Vec<_> = f.windows.iter().filter(|w| w.backup == t.backup).collect();
            BackupSummary {
                file_server: host.to_string(),
                backup: t.backup,
                file: f.files[t.file as usize].name.clone(),
                windows: windows.len(),
                window_ns: windows.iter().map(|w| w.end_ns.map(|e| e - w.start_ns)).collect(),
                flushed_blocks: windows.iter().map(|w| w.flushed_blocks).sum(),
                held_writes: windows.iter().map(|w| w.held_writes).sum(),
                outcome: match &t.outcome {
                    BackupOutcome::Complete => "complete".to_string(),
                    BackupOutcome::Failed(why) => format!("failed: {why}"),
                    BackupOutcome::Unfinished => "unfinished".to_string(),
                },
                duration_ns: t.finished_ns.map(|e| e - t.requested_ns),
            }
        })
        .collect()
}

/// The longest inhibit window of the run, in simulated ns.
pub fn worst_window_ns(r: &RunResult) -> Option<u64> {
    r.files.iter().flat_map(|f| f.windows.iter().filter_map(|w| w.end_ns.map(|e| e - w.start_ns))).max()
}

/// The text lines of `run` and `replay`.
pub fn lines(r: &RunResult, host_names: &[String]) -> Vec<String> {
    summaries(r, host_names)
        .iter()
        .map(|s| {
            let windows: Vec<String> =
                s.window_ns.iter().map(|n| n.map_or("cut by a crash".to_string(), fmt_ns)).collect();
            format!(
                "backup {} of {}:{:<10} inhibit {} ({} window{}), flushed {:>4} blocks, held {:>4} writes, {}{}",
                s.backup,
                s.file_server,
                s.file,
                if windows.is_empty() { "-".to_string() } else { windows.join(" + ") },
                s.windows,
                if s.windows == 1 { "" } else { "s" },
                s.flushed_blocks,
                s.held_writes,
                s.outcome,
                s.duration_ns.map(|d| format!(" in {}", fmt_ns(d))).unwrap_or_default()
            )
        })
        .collect()
}

/// The backups as JSON values (for `--format json`).
pub fn json(r: &RunResult, host_names: &[String]) -> Vec<serde_json::Value> {
    summaries(r, host_names)
        .iter()
        .map(|s| {
            serde_json::json!({
                "file_server": s.file_server,
                "backup": s.backup,
                "file": s.file,
                "windows": s.windows,
                "inhibit_ns": s.window_ns,
                "flushed_blocks": s.flushed_blocks,
                "held_writes": s.held_writes,
                "outcome": s.outcome,
                "duration_ns": s.duration_ns,
            })
        })
        .collect()
}
