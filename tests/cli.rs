use std::process::Command;

fn mirrorsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mirrorsim")).args(args).output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_json_has_the_documented_fields() {
    let (code, out, err) = mirrorsim(&["run", "scenarios/steady-state.json", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    for k in
        ["scenario", "seed", "verdict", "expected_met", "trace_hash", "ops", "events", "sim_ns", "wall_ms"]
    {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["expected_met"], true);
}

#[test]
fn seed_override_changes_the_run_and_replay_prints_the_trace() {
    let (_, a, _) = mirrorsim(&["run", "scenarios/steady-state.json", "--format", "json", "--seed", "77"]);
    let v: serde_json::Value = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    assert_eq!(v["seed"], 77);
    let (code, out, _) = mirrorsim(&["replay", "scenarios/steady-state.json", "--seed", "77", "--trace"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("# columns:"), "{}", &out[..200.min(out.len())]);
    assert!(out.contains(" Invoke "), "the trace names event kinds");
    assert!(
        out.contains(&format!("trace hash {}", v["trace_hash"].as_str().unwrap())),
        "replay reproduces the run's trace hash"
    );
}

#[test]
fn bad_input_exits_2_with_the_place_and_the_problem() {
    let (code, _, err) = mirrorsim(&["run", "tests/broken/unknown-volume.json"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "tests/broken/unknown-volume.json: at hosts[0].workload.volumes[0]: unknown volume \"w\""
        ),
        "{err}"
    );
    let (code, _, err) = mirrorsim(&["run", "no/such/file.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such file"), "{err}");
    let (code, _, _) = mirrorsim(&["run", "scenarios", "--seed", "not-a-number"]);
    assert_eq!(code, 2);
}

#[test]
fn an_unmet_expectation_exits_1() {
    let dir = std::env::temp_dir().join(format!("mirrorsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("expects-violation.json");
    std::fs::write(
        &f,
        r#"{ "name": "expects-violation",
             "arrays": [{ "name": "A", "volumes": [{ "name": "v", "blocks": 64 }] }],
             "hosts": [{ "name": "h", "workload": { "volumes": ["v"], "ops": 50 } }],
             "links": [{ "name": "l", "between": ["h", "A"] }],
             "expect": { "violation": "durability" } }"#,
    )
    .unwrap();
    let (code, out, _) = mirrorsim(&["run", f.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("pass UNEXPECTED"), "{out}");
}

/// A bad scenario file is shown as a diagnostic: the one-line form, the offending
/// source line with a caret under the value, and a help line; exit code 2.
#[test]
fn a_bad_scenario_file_gets_a_diagnostic_with_its_source_line() {
    let (code, _, err) = mirrorsim(&["run", "tests/broken/bad-duration.json"]);
    assert_eq!(code, 2);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("error: tests/broken/bad-duration.json:4:34: at timeline[0].at"), "{err}");
    let src =
        lines.iter().position(|l| l.contains("\"5 minutes\"") && l.contains(" | ")).expect("source line");
    let caret = lines[src + 1];
    assert_eq!(caret.find('^'), lines[src].find("\"5 minutes\""), "{err}");
    assert!(err.contains("help: write a duration"), "{err}");
}

/// `--require-coverage` fails a campaign that missed an important combination (one
/// seed reaches few of them) and names what was missed.
#[test]
fn require_coverage_fails_a_campaign_that_missed_important_combinations() {
    let dir = std::env::temp_dir().join(format!("mirrorsim-cov-{}", std::process::id()));
    let (code, out, err) = mirrorsim(&[
        "fuzz",
        "--seeds",
        "1",
        "--quiet",
        "--require-coverage",
        "--failures",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--require-coverage") && err.contains("never reached"), "{err}");
    assert!(out.contains("NOT REACHED"), "{out}");
}

/// `merge` combines shards and exits 2, naming the file and line, on bad input.
#[test]
fn merge_combines_shards_and_rejects_bad_lines() {
    let dir = std::env::temp_dir().join(format!("mirrorsim-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.jsonl");
    let b = dir.join("b.jsonl");
    std::fs::write(&a, "{\"type\":\"seed\",\"seed\":0,\"verdict\":\"pass\",\"trace_hash\":\"01\"}\n")
        .unwrap();
    std::fs::write(
        &b,
        "{\"type\":\"seed\",\"seed\":1,\"verdict\":\"violation:durability\",\"trace_hash\":\"02\"}\n",
    )
    .unwrap();
    let (code, text, _) = mirrorsim(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 1, "a failed seed");
    assert!(text.contains("2 seeds") && text.contains("FAILED seed 1"), "{text}");
    std::fs::write(&b, "{\"type\":\"seed\",\"seed\":1}\n").unwrap();
    let (code, _, err) = mirrorsim(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("b.jsonl:1:"), "{err}");
}

/// Shards of different profiles do not merge (their seeds mean different scenarios);
/// a `full` campaign's important combinations are the S3 and S0 ones.
#[test]
fn merge_refuses_mixed_profiles_and_judges_coverage_by_the_profile() {
    let dir = std::env::temp_dir().join(format!("mirrorsim-merge-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let summary = |profile: &str| {
        format!(
            "{{\"type\":\"summary\",\"wall_s\":1.0,\"coverage\":{{\"runs\":1,\"profile\":\"{profile}\",\"facts\":[]}}}}\n"
        )
    };
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    std::fs::write(&a, summary("full")).unwrap();
    std::fs::write(&b, summary("standard")).unwrap();
    let (code, _, err) = mirrorsim(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("b.jsonl:1:") && err.contains("full profile"), "{err}");
    std::fs::write(&b, summary("fast")).unwrap();
    let (code, _, err) = mirrorsim(&["merge", b.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("\"fast\" is no profile"), "{err}");
    let (code, text, err) = mirrorsim(&["merge", a.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(v["coverage"]["profile"], "full");
    let missing: Vec<&str> =
        v["coverage"]["important_missing"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(missing, mirrorsim::fuzz::coverage::IMPORTANT_FULL);
}

#[test]
fn replay_json_has_runs_fields_and_the_asked_lines() {
    let (code, out, err) =
        mirrorsim(&["replay", "scenarios/steady-state.json", "--format", "json", "--trace", "--history"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["expected_met"], true);
    assert!(v["trace_hash"].is_string() && v["replay"].is_string());
    let (trace, history) = (v["trace"].as_array().unwrap(), v["history"].as_array().unwrap());
    assert!(
        trace.len() > 100 && trace[0].as_str().is_some_and(|l| l.contains("Invoke") || l.contains("Send")),
        "{:?}",
        &trace[..3]
    );
    assert!(history.len() as u64 >= v["ops"].as_u64().unwrap());
    // Without the flags, no arrays.
    let (_, out, _) = mirrorsim(&["replay", "scenarios/steady-state.json", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v.get("trace").is_none() && v.get("history").is_none());
}

#[test]
fn run_quiet_prints_the_same_table() {
    let (code, out, err) =
        mirrorsim(&["run", "scenarios/steady-state.json", "scenarios/concurrent-hosts.json", "--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("steady-state") && out.contains("concurrent-hosts"), "{out}");
    assert!(err.is_empty(), "no progress output on stderr: {err}");
}

#[test]
fn bench_json_is_one_object_a_line_with_a_heading_per_section() {
    let (code, out, err) = mirrorsim(&["bench", "--quick", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let mut heading: Option<String> = None;
    let mut sections = Vec::new();
    for (i, line) in out.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", i + 1));
        let section = v["section"].as_str().unwrap_or_else(|| panic!("line {}: no section: {line}", i + 1));
        if v.get("about").is_some() {
            assert!(v["about"].as_str().is_some_and(|s| !s.is_empty()), "line {}: {line}", i + 1);
            heading = Some(section.to_string());
            sections.push(section.to_string());
            continue;
        }
        assert_eq!(
            heading.as_deref(),
            Some(section),
            "line {}: a measurement outside its section's heading",
            i + 1
        );
        let numbers = v.as_object().unwrap().values().filter(|x| x.is_number()).count();
        assert!(numbers > 0, "line {}: a measurement without numbers: {line}", i + 1);
    }
    let reference = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["section"] == "reference" && v.get("events").is_some())
        .expect("the reference measurement");
    assert!(reference["events"].as_u64().unwrap() > 0);
    assert!(reference["events_per_s"].as_f64().unwrap() > 0.0);
    let remote = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v.get("foundation_events_per_s").is_some())
        .expect("the two-array measurement next to the Foundation figure");
    assert!(remote["events_per_s"].as_f64().unwrap() > 0.0);
    assert!(sections.len() >= 8, "sections: {sections:?}");
    let mut unique = sections.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sections.len(), "a section heading twice: {sections:?}");
}

#[test]
fn replay_planted_switches_the_bug_on_and_rejects_unknown_names() {
    let file = "tests/planted/split-without-drain.json";
    let (code, out, err) = mirrorsim(&["replay", file]);
    assert_eq!(code, 0, "the correct engine passes its planted scenario: {out}{err}");
    let (code, out, err) = mirrorsim(&["replay", file, "--planted", "split-without-drain"]);
    assert_eq!(code, 1, "with the bug on the run fails: {out}{err}");
    assert!(out.contains("--planted split-without-drain"), "the reproduce line keeps the bug: {out}");
    let (code, _, err) = mirrorsim(&["replay", file, "--planted", "no-such-bug"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--planted") && err.contains("no-such-bug"), "{err}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mirrorsim"))
        .args(["run", "scenarios/", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then the pipe closes
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "a closed pipe made the CLI panic: {err}");
}
