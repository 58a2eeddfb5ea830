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
