//! `--report`: the HTML report of a failing run or a checked history file. Its
//! content (the violation's operations highlighted, the prefix, the seed and replay
//! command, faults and states), the CLI's refusal to overwrite, and the page in
//! headless Chromium (loads, its script runs without error, the violation is shown).

use mirrorsim::fuzz::planted::{self, PlantedBugs};
use mirrorsim::report_html::{from_run, render};
use mirrorsim::runner::{self, Verdict};
use mirrorsim::scenario;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A run the checks fail: the planted bug `bug` on `file`.
fn failing_run(bug: &str, file: &str) -> (scenario::Scenario, runner::RunReport) {
    let factory = planted::factory(&PlantedBugs::parse(&[bug]).unwrap());
    let sc = scenario::load(Path::new(file)).unwrap_or_else(|e| panic!("{e}"));
    let r = runner::run(&sc, sc.file.seed, factory.as_ref(), false);
    assert!(matches!(r.verdict, Verdict::Violation { .. }), "{bug} on {file}: {}", r.verdict);
    (sc, r)
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mirrorsim-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const BAD_HISTORY: &str = r#"{"process": 0, "type": "invoke", "f": "write", "value": 1}
{"process": 0, "type": "ok", "f": "write", "value": 1}
{"process": 1, "type": "invoke", "f": "write", "value": 2}
{"process": 1, "type": "ok", "f": "write", "value": 2}
{"process": 2, "type": "invoke", "f": "read", "value": null}
{"process": 2, "type": "ok", "f": "read", "value": 1}
"#;

#[test]
fn a_linearizability_violation_shows_its_culprit_prefix_seed_and_replay() {
    let (sc, r) = failing_run("restore-overwrites-host-write", "scenarios/s2-protected-restore.json");
    let d = from_run(&sc, &r);
    let html = render(&d);
    let culprit = d.culprit.expect("the violation names an operation");
    assert!(html.contains("class=\"bar culprit"), "no highlighted operation");
    assert!(html.contains(&format!("id=\"op-{culprit}\"")));
    assert!(html.contains(&format!("<td id=\"seed\">{}</td>", r.seed)));
    assert!(html.contains(&format!("mirrorsim replay {} --seed {}", r.path, r.seed)));
    assert!(html.contains(&format!("<td id=\"failed-check\">{}</td>", d.failed_check.clone().unwrap())));
    if let Verdict::Violation { check: scenario::CheckName::Linearizability, .. } = r.verdict {
        let prefix = d.prefix.as_ref().expect("the checker's prefix");
        assert!(html.contains(&format!("{} operations of partition {}", prefix.len(), d.partition)));
        assert!(html.contains(" lin"), "prefix operations are outlined");
    }
    // The pair's states over time, and the self-contained page (no external resource).
    assert!(html.contains("class=\"label\">pair 0</div>"), "a lane for the pair");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[test]
fn another_check_highlights_the_operations_on_the_failing_block() {
    let (sc, r) = failing_run("bit-after-data", "tests/planted/bit-after-data.json");
    let d = from_run(&sc, &r);
    let html = render(&d);
    assert!(d.culprit.is_some() || d.focus_time.is_some(), "{:?}", r.details);
    assert!(html.contains("Injected faults"), "the crash that exposes the bug is listed");
    assert!(html.contains("crashed"));
}

fn mirrorsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mirrorsim")).args(args).output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_writes_a_report_and_never_overwrites_without_force() {
    let dir = temp_dir("cli");
    let hist = dir.join("h.jsonl");
    std::fs::write(&hist, BAD_HISTORY).unwrap();
    let out = dir.join("r.html");
    let (h, o) = (hist.to_str().unwrap(), out.to_str().unwrap());
    let (code, _, err) = mirrorsim(&["check", h, "--model", "cas-register", "--report", o]);
    assert_eq!(code, 1, "{err}");
    let html = std::fs::read_to_string(&out).unwrap();
    // Line 5's read is the culprit; the two writes are the rest of the minimal set.
    assert!(html.contains("class=\"bar culprit\" id=\"op-5\""), "{html}");
    assert!(html.contains("id=\"op-1\"") && html.contains("involved"));
    std::fs::write(&out, "mine").unwrap();
    let (code, _, err) = mirrorsim(&["check", h, "--model", "cas-register", "--report", o]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine");
    let (code, _, _) = mirrorsim(&["check", h, "--model", "cas-register", "--report", o, "--force"]);
    assert_eq!(code, 1);
    assert!(std::fs::read_to_string(&out).unwrap().contains("bar culprit"));
    // run and replay refuse the same way, before running anything.
    for cmd in ["run", "replay"] {
        let (code, _, err) = mirrorsim(&[cmd, "scenarios/steady-state.json", "--report", o]);
        assert_eq!(code, 2, "{cmd}: {err}");
        assert!(err.contains("already exists"), "{cmd}: {err}");
    }
    let fresh = dir.join("run.html");
    let (code, _, err) =
        mirrorsim(&["replay", "scenarios/steady-state.json", "--report", fresh.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&fresh).unwrap().contains("<td id=\"verdict\">pass</td>"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Debian's Chromium: found, or installed with apt-get when this is a Debian machine
/// we are root on. `None` (with the reason) where it cannot be had.
fn chromium() -> Result<PathBuf, String> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let bin = PathBuf::from("/usr/bin/chromium");
    if bin.exists() {
        return Ok(bin);
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        return Err("no /usr/bin/chromium and no apt-get to install Debian's chromium".into());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        return Err("no /usr/bin/chromium, and not root to `apt-get install chromium`".into());
    }
    eprintln!("installing Debian's chromium for the headless report test (apt-get)...");
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    let _ = ok(Command::new("apt-get").args(["update", "-q"]));
    if !ok(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
        || !bin.exists()
    {
        return Err("`apt-get install chromium` failed".into());
    }
    Ok(bin)
}

/// The DOM after the page's scripts ran, and Chromium's stderr (console messages).
fn headless(bin: &Path, page: &Path, profile: &Path) -> (String, String) {
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_report_loads_in_headless_chromium_and_shows_the_violation() {
    let bin = match chromium() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("SKIPPED the_report_loads_in_headless_chromium_and_shows_the_violation: {why}");
            return;
        }
    };
    let dir = temp_dir("chromium");
    let (sc, r) = failing_run("restore-overwrites-host-write", "scenarios/s2-protected-restore.json");
    let d = from_run(&sc, &r);
    let page = dir.join("report.html");
    std::fs::write(&page, render(&d)).unwrap();
    let (dom, log) = headless(&bin, &page, &dir.join("profile"));
    assert!(dom.contains("id=\"script-ok\""), "the page's script did not finish:\n{log}\n{dom}");
    assert!(!dom.contains("id=\"script-error\""), "a script error:\n{dom}");
    assert!(!log.contains("Uncaught"), "console errors:\n{log}");
    let culprit = d.culprit.unwrap();
    assert!(dom.contains(&format!("id=\"op-{culprit}\"")), "the violation's operation is on the page");
    // The script ran: the culprit is selected in the detail panel.
    assert!(dom.contains("violation: #"), "{dom}");

    // A page whose script throws is caught by the same probe (the test can fail).
    let broken = dir.join("broken.html");
    std::fs::write(&broken, render(&d).replace("var ok=document", "undefinedFunction();var ok=document"))
        .unwrap();
    let (dom, _) = headless(&bin, &broken, &dir.join("profile2"));
    assert!(dom.contains("id=\"script-error\"") && !dom.contains("id=\"script-ok\""), "{dom}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fuzz_writes_a_report_beside_each_saved_failure() {
    let dir = temp_dir("fuzz");
    let d = dir.to_str().unwrap();
    let (code, out, err) = mirrorsim(&[
        "fuzz",
        "--seed-start",
        "3",
        "--seeds",
        "1",
        "--planted",
        "canary",
        "--failures",
        d,
        "--report",
        "--quiet",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let html = dir.join("fuzz-seed-3-durability.html");
    assert!(err.contains(&format!("report: {}", html.display())), "{err}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<td id=\"failed-check\">durability</td>"), "{page}");
    assert!(page.contains("fuzz-seed-3-durability.json --seed 3 --planted canary"), "{page}");
    assert!(page.contains("class=\"bar culprit"), "the failing read is highlighted");
    std::fs::remove_dir_all(&dir).unwrap();
}
