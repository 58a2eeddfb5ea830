//! The command line's shared pieces: finding scenario files, formatting.

use crate::scenario::{self, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// Expands files and directories (recursively, `*.json` only, sorted; `schema.json`
/// skipped) into scenario paths.
pub fn scenario_paths(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            collect_dir(p, &mut out)
                .map_err(|e| format!("{}: cannot read the directory: {e}", p.display()))?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    if out.is_empty() {
        return Err("no scenario files found (looked for *.json)".into());
    }
    Ok(out)
}

fn collect_dir(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect_dir(&e, out)?;
        } else if e.extension().is_some_and(|x| x == "json")
            && e.file_name().is_some_and(|n| n != "schema.json")
        {
            out.push(e);
        }
    }
    Ok(())
}

/// Loads every scenario; all errors are returned together.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let (ok, errs): (Vec<_>, Vec<_>) = paths.iter().map(|p| scenario::load(p)).partition(Result::is_ok);
    if errs.is_empty() {
        Ok(ok.into_iter().map(Result::unwrap).collect())
    } else {
        Err(errs.into_iter().map(|e| e.unwrap_err()).collect())
    }
}

/// A scenario error for a person: the file's offending line with a caret and a help
/// line when the file can be read (colored on a terminal), else the one-line form.
pub fn describe_scenario_error(e: &ScenarioError) -> String {
    use std::io::IsTerminal;
    match std::fs::read_to_string(&e.file) {
        Ok(text) if e.position.is_some() || e.path.is_some() => {
            scenario::diagnostic::render(e, &text, std::io::stderr().is_terminal())
        }
        _ => format!("error: {e}"),
    }
}

/// Simulated nanoseconds, human-readable.
pub fn fmt_ns(ns: u64) -> String {
    match ns {
        n if n >= 1_000_000_000 => format!("{:.3}s", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.3}ms", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}us", n as f64 / 1e3),
        n => format!("{n}ns"),
    }
}

/// A progress bar on stderr for `len` items of `what`, hidden with `hidden` (`--quiet`)
/// or when stderr is not a terminal. Print other output inside
/// [`indicatif::ProgressBar::suspend`] so the bar is redrawn below it.
/// With `len` `None` (a time bound), a spinner with the count so far.
pub fn progress_bar(len: impl Into<Option<u64>>, what: &str, hidden: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if hidden || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = match len.into() {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            format!("{{spinner}} {{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {what}  {{msg}}"),
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            format!("{{spinner}} {{elapsed_precise}} {{pos}} {what}  {{msg}}"),
        ),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(&template).expect("a valid template").progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
