//! Fuzzing and reproduction: generation, campaigns, failures saved, shrinking, the
//! planted canary, the command line.

use mirrorsim::fuzz::campaign::{self, Interrupt, Options, Seeds, Shard};
use mirrorsim::fuzz::generate::{Profile, fault_kinds, generate, generate_with, to_json};
use mirrorsim::fuzz::planted::{self, CATALOG, PlantedBugs};
use mirrorsim::fuzz::{save, shrink};
use mirrorsim::runner;
use mirrorsim::scenario;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A fresh temporary directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mirrorsim-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mirrorsim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mirrorsim")).args(args).output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn options(start: u64, count: u64, failures_dir: Option<PathBuf>, planted: PlantedBugs) -> Options {
    Options {
        seeds: Seeds { start, count: Some(count), shard: None },
        time: None,
        jobs: 2,
        failures_dir,
        planted,
        profile: Profile::Standard,
    }
}

#[test]
fn same_seed_same_scenario() {
    for seed in 0..50 {
        let a = generate(seed);
        let b = generate(seed);
        assert_eq!(a.to_json(), b.to_json(), "seed {seed} generated two different scenarios");
        assert_eq!(a.swarm, b.swarm);
        assert_eq!(a.file.seed, seed);
    }
    assert_ne!(generate(1).to_json(), generate(2).to_json());
}

#[test]
fn generated_scenarios_are_valid_and_serialize_faithfully() {
    for (seed, profile) in
        (0..400).map(|s| (s, Profile::Standard)).chain((0..100).map(|s| (s, Profile::Full)))
    {
        let json = generate_with(seed, profile).to_json();
        let sc = scenario::parse(Path::new("gen.json"), &json)
            .unwrap_or_else(|e| panic!("seed {seed}: the generated scenario is invalid: {e}\n{json}"));
        assert_eq!(to_json(&sc.file), json, "seed {seed}: parsing and writing again changes the file");
    }
}

#[test]
fn swarm_testing_enables_each_fault_kind_on_some_seeds_only() {
    let swarms: Vec<_> = (0..300).map(|s| generate_with(s, Profile::Full).swarm).collect();
    // The standard profile draws neither the S3 two-array seeds nor S0 backups, and
    // its other seeds are the full profile's scenarios.
    for s in 0..100 {
        let (std, full) = (generate(s), generate_with(s, Profile::Full));
        assert!(
            std.swarm.faults.keys().all(|k| Profile::Standard.allows(k)),
            "seed {s}: {:?}",
            std.swarm.faults
        );
        if full.swarm.faults.keys().all(|k| Profile::Standard.allows(k))
            && full.swarm.remote_groups.is_empty()
        {
            assert_eq!(std.to_json(), full.to_json(), "seed {s}");
        }
    }
    for kind in fault_kinds() {
        let on = swarms.iter().filter(|s| s.faults.contains_key(kind)).count();
        if kind.starts_with("remote_") {
            // Only remote seeds (one in four) have groups; takeovers need a sync
            // group with fence data.
            assert!(on > 3 && on < 100, "fault kind {kind} enabled on {on} of 300 seeds");
            continue;
        }
        assert!(on > 30 && on < 270, "fault kind {kind} enabled on {on} of 300 seeds");
    }
    let calm = swarms.iter().filter(|s| s.calm).count();
    assert!(calm > 10, "{calm} calm seeds of 300");
    assert!(swarms.iter().all(|s| s.calm == s.faults.is_empty() || !s.calm));
    for (n, what) in [(1, "arrays"), (3, "arrays")] {
        assert!(swarms.iter().any(|s| s.arrays == n), "some seed has {n} {what}");
    }
    assert!(swarms.iter().any(|s| s.hosts == 6) && swarms.iter().any(|s| s.hosts == 1));
}

#[test]
fn a_generated_scenario_written_and_loaded_replays_identically() {
    let dir = temp_dir("roundtrip");
    for seed in 0..15 {
        let g = generate(seed);
        let in_memory = scenario::validate(Path::new("mem"), g.file.clone()).unwrap();
        let a = runner::run(&in_memory, seed, &engine::ControllerFactory::default(), false);
        let path = dir.join(format!("s{seed}.json"));
        std::fs::write(&path, g.to_json()).unwrap();
        let loaded = scenario::load(&path).unwrap();
        assert_eq!(loaded.file.seed, seed, "the file carries its seed");
        let b = runner::run(&loaded, loaded.file.seed, &engine::ControllerFactory::default(), false);
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}: the written scenario replays differently");
        assert_eq!(a.verdict, b.verdict);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_campaign_on_the_correct_engine_finds_nothing() {
    let mut seen = Vec::new();
    let s = campaign::run(&options(0, 80, None, PlantedBugs::none()), &Arc::new(Interrupt::default()), |r| {
        assert!(!r.failed(), "seed {} failed: {:?}", r.seed, r.details);
        seen.push(r.seed);
    });
    assert_eq!(s.failed, 0);
    assert_eq!(s.seeds_run, 80);
    assert_eq!(seen, (0..80).collect::<Vec<_>>(), "results come in seed order");
}

#[test]
fn results_do_not_depend_on_the_number_of_jobs() {
    let collect = |jobs| {
        let mut out = Vec::new();
        let mut o = options(100, 24, None, PlantedBugs::none());
        o.jobs = jobs;
        campaign::run(&o, &Arc::new(Interrupt::default()), |r| {
            out.push((r.seed, r.verdict.code(), r.trace_hash, r.events))
        });
        out
    };
    assert_eq!(collect(1), collect(3));
}

#[test]
fn the_canary_is_caught_saved_and_shrunk() {
    let canary = CATALOG.iter().find(|b| b.name == "canary").expect("the test build has the canary");
    let bugs = PlantedBugs::parse(&["canary"]).unwrap();
    let dir = temp_dir("canary");
    let mut results = Vec::new();
    let s = campaign::run(
        // From seed 3: seed 1 (a 3-block volume whose only audit read meets an injected
        // media error) gives the canary nothing to corrupt, and seed 2 (a pair cycle:
        // its volumes are left to linearizability) is caught by linearizability.
        &options(3, 10, Some(dir.clone()), bugs.clone()),
        &Arc::new(Interrupt::default()),
        |r| results.push(r.clone()),
    );
    assert_eq!(s.failed, 10, "the canary fails every seed");
    let factory = planted::factory(&bugs);
    for r in &results {
        let check = r.check.expect("a violation names its check");
        assert!(canary.caught_by.contains(&check), "seed {}: caught by {}", r.seed, check.name());
        let saved = r.saved.as_ref().expect("the failure is saved");
        assert!(saved.starts_with(&dir));
        let replay = r.replay.as_deref().unwrap();
        assert!(
            replay.contains(&format!("--seed {}", r.seed)) && replay.contains("--planted canary"),
            "{replay}"
        );
        assert!(r.details.as_deref().unwrap().contains(replay), "the details end with the replay command");
        // The saved file replays the failure, from its own seed.
        let sc = scenario::load(saved).unwrap();
        assert_eq!(sc.file.seed, r.seed);
        let again = runner::run(&sc, sc.file.seed, factory.as_ref(), false);
        assert_eq!(again.verdict.code(), r.verdict.code());
        assert_eq!(again.trace_hash, r.trace_hash);
    }
    // Shrinking keeps the violation and leaves a much smaller scenario.
    // (The third seed: the generator as it is shrinks it to one host, a handful of
    // operations and at most one timeline entry.)
    let first = &results[2];
    let sc = scenario::load(first.saved.as_ref().unwrap()).unwrap();
    let shrunk = shrink::shrink(&sc.file, first.seed, factory.as_ref(), Path::new("x"), |_| {}).unwrap();
    assert_eq!(shrunk.verdict, first.verdict.code());
    assert!(shrunk.after.ops < shrunk.before.ops, "{:?} -> {:?}", shrunk.before, shrunk.after);
    assert!(
        shrunk.after.ops <= 8 && shrunk.after.hosts == 1 && shrunk.after.timeline <= 1,
        "{:?}",
        shrunk.after
    );
    let min = scenario::validate(Path::new("min"), shrunk.file.clone()).unwrap();
    assert_eq!(runner::run(&min, first.seed, factory.as_ref(), false).verdict.code(), shrunk.verdict);
    // Deterministic.
    let twice = shrink::shrink(&sc.file, first.seed, factory.as_ref(), Path::new("x"), |_| {}).unwrap();
    assert_eq!(to_json(&twice.file), to_json(&shrunk.file));
    // Without the canary the shrunk scenario passes: nothing to shrink.
    let err = shrink::shrink(
        &shrunk.file,
        first.seed,
        &engine::ControllerFactory::default(),
        Path::new("x"),
        |_| {},
    );
    assert!(matches!(err, Err(shrink::ShrinkError::Passes { .. })), "{err:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn saving_never_overwrites_and_is_atomic() {
    let dir = temp_dir("save");
    let a = save::save_new(&dir, "fuzz-seed-1-durability", "first\n").unwrap();
    let b = save::save_new(&dir, "fuzz-seed-1-durability", "second\n").unwrap();
    let c = save::save_new(&dir, "fuzz-seed-1-durability", "third\n").unwrap();
    assert_eq!(a, dir.join("fuzz-seed-1-durability.json"));
    assert_eq!(b, dir.join("fuzz-seed-1-durability-2.json"));
    assert_eq!(c, dir.join("fuzz-seed-1-durability-3.json"));
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "first\n");
    let err = save::write_atomic(&a, "clobber\n", false).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "first\n");
    save::write_atomic(&a, "forced\n", true).unwrap();
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "forced\n");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "no temporary file is left behind: {names:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shards_partition_the_seeds() {
    for (start, count, n) in [(0u64, 50u64, 3u64), (7, 50, 4), (5, 3, 8), (u64::MAX - 9, 10, 3)] {
        let mut all = Vec::new();
        for i in 0..n {
            let seeds = Seeds { start, count: Some(count), shard: Some(Shard { index: i, count: n }) };
            let mine: Vec<u64> = (0..).map_while(|k| seeds.nth(k)).collect();
            assert!(mine.iter().all(|s| s % n == i));
            assert_eq!(seeds.len(), Some(mine.len() as u64));
            all.extend(mine);
        }
        all.sort();
        let want: Vec<u64> = (0..count).map(|k| start + k).collect();
        assert_eq!(all, want, "shards of {start}+{count} over {n}");
    }
    assert!(Shard::parse("2/2").is_err() && Shard::parse("1/0").is_err() && Shard::parse("a/b").is_err());
    // Through the command line.
    let (code, out, err) =
        mirrorsim(&["fuzz", "--seeds", "12", "--shard", "1/3", "--format", "json", "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seeds: Vec<u64> =
        lines.iter().filter(|l| l["type"] == "seed").map(|l| l["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [1, 4, 7, 10]);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["shard"], "1/3");
    assert_eq!(summary["seeds"], 4);
}

#[test]
fn fuzz_json_lines_carry_the_seed_and_its_swarm() {
    let (code, out, err) = mirrorsim(&["fuzz", "--seeds", "3", "--seed-start", "40", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "no progress bar when stderr is not a terminal: {err}");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    for k in ["seed", "verdict", "check", "events", "sim_ns", "wall_ms", "trace_hash", "swarm"] {
        assert!(first.get(k).is_some(), "missing {k} in {first}");
    }
    assert_eq!(first["seed"], 40);
    assert_eq!(first["swarm"]["seed"], 40);
    assert!(first["swarm"]["faults"].is_object());
}

#[test]
fn the_canary_through_the_command_line() {
    let dir = temp_dir("cli-canary");
    let d = dir.to_str().unwrap();
    let (code, out, err) =
        mirrorsim(&["fuzz", "--seed-start", "3", "--seeds", "2", "--planted", "canary", "--failures", d]);
    assert_eq!(code, 1, "failures exit 1: {out}{err}");
    let header = out.find("=== FAILURE seed 3").expect("the failure is reported");
    let seed_line = out.find("seed: 3").unwrap();
    let replay = out.find("replay: mirrorsim replay").unwrap();
    let details = out.find("durability violation").unwrap();
    assert!(
        header < seed_line && seed_line < replay && replay < details,
        "seed and replay come first:\n{out}"
    );
    assert!(out.contains("2 failed"), "{out}");
    let saved = dir.join("fuzz-seed-3-durability.json");
    assert!(saved.exists());
    // Replay reproduces it (exit 1: not as expected), shrink minimises it.
    let (code, out, _) = mirrorsim(&["replay", saved.to_str().unwrap(), "--planted", "canary"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("verdict violation:durability"), "{out}");
    let (code, out, err) = mirrorsim(&["shrink", saved.to_str().unwrap(), "--planted", "canary"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("before:") && out.contains("after:") && out.contains("hosts"), "{out}");
    let min = dir.join("fuzz-seed-3-durability.min.json");
    assert!(min.exists(), "{out}");
    // The output exists now: never overwritten without --force.
    let (code, _, err) = mirrorsim(&["shrink", saved.to_str().unwrap(), "--planted", "canary"]);
    assert_eq!(code, 2);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    let (code, _, err) = mirrorsim(&["shrink", saved.to_str().unwrap(), "--planted", "canary", "--force"]);
    assert_eq!(code, 0, "{err}");
    // Without the canary the minimal scenario passes: nothing to shrink (exit 1).
    let (code, _, err) =
        mirrorsim(&["shrink", min.to_str().unwrap(), "--out", dir.join("x.json").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nothing to shrink"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_flags_exit_2_with_a_clear_message() {
    for (args, want) in [
        (&["fuzz", "--shard", "3/3"][..], "the index must be below the count"),
        (&["fuzz", "--shard", "x"][..], "invalid shard"),
        (&["fuzz", "--jobs", "0"][..], "--jobs"),
        (&["fuzz", "--seeds", "0"][..], "--seeds"),
        (&["fuzz", "--time", "5parsecs"][..], "invalid duration"),
        (&["fuzz", "--seeds", "5", "--time", "1s"][..], "cannot be used with"),
        (&["fuzz", "--planted", "no-such-bug"][..], "unknown planted bug \"no-such-bug\"; known: canary"),
        (&["fuzz", "--seed-start", "18446744073709551615", "--seeds", "2"][..], "past the largest seed"),
        (&["shrink", "no/such/file.json"][..], "no/such/file.json: cannot read the file"),
        (&["shrink", "tests/broken/unknown-volume.json"][..], "unknown volume"),
    ] {
        let (code, out, err) = mirrorsim(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: expected {want:?} in {err}");
    }
}
