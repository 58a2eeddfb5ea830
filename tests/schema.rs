//! The JSON Schema of scenario files: the committed `scenarios/schema.json` is what
//! the format types generate, and every library scenario points its editor at it.

use mirrorsim::scenario::schema::{REFRESH_COMMAND, schema_json};
use std::path::{Path, PathBuf};

#[test]
fn the_committed_schema_is_what_the_types_generate() {
    let committed = std::fs::read_to_string("scenarios/schema.json").unwrap_or_default();
    let fresh = schema_json();
    if committed != fresh {
        let line = committed.lines().zip(fresh.lines()).position(|(a, b)| a != b);
        panic!(
            "scenarios/schema.json is stale (first differing line: {}); refresh it with `{REFRESH_COMMAND}`",
            line.map_or_else(|| "past the end of the shorter".to_string(), |l| (l + 1).to_string())
        );
    }
}

#[test]
fn the_schema_describes_the_format() {
    let s: serde_json::Value = serde_json::from_str(&schema_json()).unwrap();
    // deny_unknown_fields is additionalProperties: false, and `$schema` is allowed.
    assert_eq!(s["additionalProperties"], false);
    assert!(s["properties"]["$schema"].is_object());
    assert_eq!(s["required"], serde_json::json!(["name", "arrays"]));
    // Every timeline action is listed (spot-check one of each scenario family).
    let actions = serde_json::to_string(&s["$defs"]["ActionDef"]).unwrap();
    for a in ["link_flap", "pair_create", "offload_backup", "remote_pair_create", "snapshot"] {
        assert!(actions.contains(&format!("\"{a}\"")), "{a} missing from ActionDef");
    }
    // Model enums embedded in the format come with their values.
    let fences: Vec<_> =
        s["$defs"]["Fence"]["oneOf"].as_array().unwrap().iter().map(|v| &v["const"]).collect();
    assert_eq!(fences, [&serde_json::json!("data"), &serde_json::json!("never")]);
    // The hand-written value schemas accept both forms.
    assert_eq!(s["$defs"]["Duration"]["anyOf"].as_array().map(Vec::len), Some(2));
}

fn library_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["scenarios", "tests/regression", "tests/planted"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") && p.file_name().is_some_and(|n| n != "schema.json")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_library_scenario_points_at_the_schema() {
    let schema = std::fs::canonicalize("scenarios/schema.json").unwrap();
    let files = library_files();
    assert!(files.len() > 30, "{files:?}");
    for f in &files {
        let sc = mirrorsim::scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        let rel = sc.file.schema.unwrap_or_else(|| panic!("{}: no \"$schema\"", f.display()));
        let target = f.parent().unwrap_or(Path::new(".")).join(&rel);
        assert_eq!(
            std::fs::canonicalize(&target).ok().as_ref(),
            Some(&schema),
            "{}: \"$schema\": {rel:?} does not resolve to scenarios/schema.json",
            f.display()
        );
    }
}

#[test]
fn the_loader_ignores_schema_but_still_rejects_unknown_keys() {
    let ok = r#"{"$schema": "anything", "name": "x", "arrays": [{"name": "A"}]}"#;
    assert!(mirrorsim::scenario::parse(Path::new("x.json"), ok).is_ok());
    let bad = r#"{"$schema": "anything", "$schemas": 1, "name": "x", "arrays": [{"name": "A"}]}"#;
    let e = mirrorsim::scenario::parse(Path::new("x.json"), bad).unwrap_err();
    assert!(e.to_string().contains("$schemas"), "{e}");
}
