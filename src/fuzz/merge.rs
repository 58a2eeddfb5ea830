//! `mirrorsim merge`: the JSON-lines results of several `mirrorsim fuzz --format json`
//! runs (the shards of one campaign, run on different machines) become one result:
//! every seed once, in seed order, and one summary with the failures, the unknown
//! verdicts and the coverage of all of them.
//!
//! Seed lines are taken as they are (their `type` is `seed`); summary lines (`type`
//! `summary`) contribute their coverage and wall time. A seed that appears twice with
//! the same verdict and trace hash is counted once (a shard re-run); with different
//! ones it is an error: the two runs were not of the same binary or the same seed
//! meaning, and merging them would hide that.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// JSON-lines files written by `mirrorsim fuzz --format json` (`-` for stdin).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// text: a summary; json: every seed line in seed order, then one summary line.
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::cli::OutputFormat,
}

/// The merged campaign.
#[derive(Debug, Default)]
pub struct Merged {
    /// Seed lines by seed.
    pub seeds: BTreeMap<u64, Value>,
    /// Fact → (seeds reaching it, occurrences), summed over the shards' summaries.
    pub coverage: BTreeMap<String, (u64, u64)>,
    pub coverage_runs: u64,
    /// The shards' profile (their summaries' `coverage.profile`; `standard` when
    /// absent): it decides which combinations are important.
    pub profile: Option<super::generate::Profile>,
    pub summaries: u64,
    /// Sum of the shards' wall times (machine-seconds spent).
    pub wall_s: f64,
    pub interrupted: bool,
}

/// Why merging failed: the file, the line, the problem.
#[derive(Debug)]
pub struct MergeError(pub String);

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Merged {
    /// Adds one file's lines (`name` is how errors name the file).
    pub fn add_text(&mut self, name: &str, text: &str) -> Result<(), MergeError> {
        for (i, line) in text.lines().enumerate() {
            let at = |what: String| MergeError(format!("{name}:{}: {what}", i + 1));
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
            match v.get("type").and_then(Value::as_str) {
                Some("seed") => {
                    let seed = v
                        .get("seed")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| at("a seed line without a numeric \"seed\"".into()))?;
                    for key in ["verdict", "trace_hash"] {
                        if v.get(key).and_then(Value::as_str).is_none() {
                            return Err(at(format!("seed {seed}: no string \"{key}\"")));
                        }
                    }
                    if let Some(old) = self.seeds.get(&seed) {
                        if old["verdict"] != v["verdict"] || old["trace_hash"] != v["trace_hash"] {
                            return Err(at(format!(
                                "seed {seed} appears twice with different results ({} {} and {} {}): \
                                 were both shards run by the same binary?",
                                old["verdict"], old["trace_hash"], v["verdict"], v["trace_hash"]
                            )));
                        }
                        continue;
                    }
                    self.seeds.insert(seed, v);
                }
                Some("summary") => {
                    self.summaries += 1;
                    self.wall_s += v.get("wall_s").and_then(Value::as_f64).unwrap_or(0.0);
                    self.interrupted |= v.get("interrupted").and_then(Value::as_bool).unwrap_or(false);
                    if let Some(c) = v.get("coverage") {
                        let profile = match c.get("profile").and_then(Value::as_str).unwrap_or("standard") {
                            "standard" => super::generate::Profile::Standard,
                            "full" => super::generate::Profile::Full,
                            other => {
                                return Err(at(format!(
                                    "coverage.profile {other:?} is no profile (expected \"standard\" or \"full\")"
                                )));
                            }
                        };
                        if let Some(p) = self.profile
                            && p != profile
                        {
                            return Err(at(format!(
                                "a campaign of the {} profile merged with one of the {} profile: \
                                 their seeds mean different scenarios",
                                profile.name(),
                                p.name()
                            )));
                        }
                        self.profile = Some(profile);
                        self.coverage_runs += c.get("runs").and_then(Value::as_u64).unwrap_or(0);
                        for f in c.get("facts").and_then(Value::as_array).into_iter().flatten() {
                            let (Some(fact), Some(seeds), Some(count)) = (
                                f.get("fact").and_then(Value::as_str),
                                f.get("seeds").and_then(Value::as_u64),
                                f.get("count").and_then(Value::as_u64),
                            ) else {
                                return Err(at(
                                    "a coverage fact needs \"fact\", \"seeds\" and \"count\"".into()
                                ));
                            };
                            let e = self.coverage.entry(fact.to_string()).or_default();
                            e.0 += seeds;
                            e.1 += count;
                        }
                    }
                }
                Some(other) => {
                    return Err(at(format!("unknown line type {other:?} (expected seed or summary)")));
                }
                None => {
                    return Err(at("no \"type\" (expected a line of `mirrorsim fuzz --format json`)".into()));
                }
            }
        }
        Ok(())
    }

    fn verdicts<'a>(&'a self, pred: impl Fn(&str) -> bool + 'a) -> impl Iterator<Item = &'a Value> + 'a {
        self.seeds.values().filter(move |v| pred(v["verdict"].as_str().unwrap_or_default()))
    }

    /// The seed lines of failures (a violation, or a run that ended on a bound), in
    /// seed order, as `SeedResult::failed` counts them.
    pub fn failures(&self) -> impl Iterator<Item = &Value> {
        self.verdicts(|v| v.starts_with("violation") || v.starts_with("ending"))
    }

    pub fn failed(&self) -> usize {
        self.failures().count()
    }

    pub fn unknown(&self) -> usize {
        self.verdicts(|v| v.starts_with("unknown")).count()
    }

    /// The important coverage combinations no shard reached.
    pub fn missing(&self) -> Vec<&'static str> {
        super::coverage::important(self.profile.unwrap_or_default())
            .iter()
            .copied()
            .filter(|f| !self.coverage.contains_key(*f))
            .collect()
    }

    pub fn summary_json(&self) -> Value {
        let failures: Vec<Value> = self
            .failures()
            .map(|v| json!({ "seed": v["seed"], "verdict": v["verdict"], "saved": v["saved"], "replay": v["replay"] }))
            .collect();
        let facts: Vec<Value> = self
            .coverage
            .iter()
            .map(|(f, (seeds, n))| json!({ "fact": f, "seeds": seeds, "count": n }))
            .collect();
        json!({
            "type": "summary",
            "merged_files": self.summaries,
            "seeds": self.seeds.len(),
            "seed_first": self.seeds.keys().next(),
            "seed_last": self.seeds.keys().next_back(),
            "passed": self.seeds.len() - self.failed() - self.unknown(),
            "failed": self.failed(),
            "unknown": self.unknown(),
            "failures": failures,
            "interrupted": self.interrupted,
            "wall_s": (self.wall_s * 1000.0).round() / 1000.0,
            "coverage": {
                "runs": self.coverage_runs,
                "profile": self.profile.unwrap_or_default().name(),
                "facts": facts,
                "important_missing": self.missing()
            },
        })
    }
}

/// `mirrorsim merge`: exit 0 when no merged seed failed, 1 when one did, 2 on bad input.
pub fn merge(args: &MergeArgs) -> u8 {
    let mut m = Merged::default();
    for file in &args.files {
        let (name, text) = if file == Path::new("-") {
            let mut s = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                eprintln!("error: stdin: {e}");
                return 2;
            }
            ("stdin".to_string(), s)
        } else {
            match std::fs::read_to_string(file) {
                Ok(s) => (file.display().to_string(), s),
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    return 2;
                }
            }
        };
        if let Err(e) = m.add_text(&name, &text) {
            eprintln!("error: {e}");
            return 2;
        }
    }
    if m.summaries == 0 {
        eprintln!(
            "warning: no summary line in the input: coverage and wall time are missing (was a shard interrupted?)"
        );
    }
    if args.format == super::cli::OutputFormat::Json {
        for v in m.seeds.values() {
            println!("{v}");
        }
        println!("{}", m.summary_json());
    } else {
        // Gaps in the seed range: a shard missing or cut short.
        let gaps = match (m.seeds.keys().next(), m.seeds.keys().next_back()) {
            (Some(&a), Some(&b)) => (b - a + 1) - m.seeds.len() as u64,
            _ => 0,
        };
        println!(
            "merged {} files: {} seeds ({}..={}, {} missing in between), {} passed, {} failed, {} unknown; {:.1} machine-seconds",
            args.files.len(),
            m.seeds.len(),
            m.seeds.keys().next().copied().unwrap_or(0),
            m.seeds.keys().next_back().copied().unwrap_or(0),
            gaps,
            m.seeds.len() - m.failed() - m.unknown(),
            m.failed(),
            m.unknown(),
            m.wall_s
        );
        for v in m.failures() {
            println!(
                "  FAILED seed {}: {}{}",
                v["seed"],
                v["verdict"].as_str().unwrap_or_default(),
                v["replay"].as_str().map(|r| format!("  ({r})")).unwrap_or_default()
            );
        }
        let missing = m.missing();
        if m.coverage_runs > 0 && !missing.is_empty() {
            println!(
                "  coverage: {} important combinations not reached: {}",
                missing.len(),
                missing.join("; ")
            );
        }
    }
    u8::from(m.failed() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"type":"seed","seed":2,"verdict":"pass","trace_hash":"aa"}
{"type":"seed","seed":0,"verdict":"violation:durability","trace_hash":"bb","replay":"mirrorsim replay f --seed 0"}
{"type":"summary","wall_s":1.5,"coverage":{"runs":2,"facts":[{"fact":"fault link_down","seeds":1,"count":4}]}}
"#;
    const B: &str = r#"{"type":"seed","seed":1,"verdict":"unknown:linearizability","trace_hash":"cc"}
{"type":"summary","wall_s":2.0,"coverage":{"runs":1,"facts":[{"fact":"fault link_down","seeds":1,"count":1}]}}
"#;

    #[test]
    fn shards_merge_into_one_result_in_seed_order() {
        let mut m = Merged::default();
        m.add_text("a", A).unwrap();
        m.add_text("b", B).unwrap();
        assert_eq!(m.seeds.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!((m.failed(), m.unknown()), (1, 1));
        assert_eq!(m.coverage["fault link_down"], (2, 5));
        assert_eq!(m.coverage_runs, 3);
        let s = m.summary_json();
        assert_eq!(s["failed"], 1);
        assert_eq!(s["passed"], 1);
        assert_eq!(s["wall_s"], 3.5);
    }

    #[test]
    fn the_same_seed_twice_merges_only_when_identical() {
        let mut m = Merged::default();
        m.add_text("a", A).unwrap();
        m.add_text("a-again", A).unwrap();
        assert_eq!(m.seeds.len(), 2);
        let other = r#"{"type":"seed","seed":2,"verdict":"pass","trace_hash":"ff"}"#;
        let e = m.add_text("c", other).unwrap_err().to_string();
        assert!(e.starts_with("c:1: seed 2 appears twice with different results"), "{e}");
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let mut m = Merged::default();
        let e = m.add_text("x.jsonl", "\n{\"type\":\"seed\"}\n").unwrap_err().to_string();
        assert_eq!(e, "x.jsonl:2: a seed line without a numeric \"seed\"");
        let e = m.add_text("y", "nope").unwrap_err().to_string();
        assert!(e.starts_with("y:1: not JSON"), "{e}");
        let e = m.add_text("z", r#"{"seed":1}"#).unwrap_err().to_string();
        assert!(e.contains("no \"type\""), "{e}");
    }
}
