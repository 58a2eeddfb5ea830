use mirrorsim::scenario;
use std::path::PathBuf;

/// Each `tests/broken/NAME.json` must be rejected with exactly `tests/broken/NAME.err`.
#[test]
fn broken_scenario_files_give_their_expected_errors() {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/broken")
        .expect("tests/broken exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "the broken-file corpus holds at least a dozen cases");
    let mut wrong = Vec::new();
    for f in files {
        let expected = std::fs::read_to_string(f.with_extension("err"))
            .unwrap_or_else(|_| panic!("{} has no .err file", f.display()));
        match scenario::load(&f) {
            Ok(_) => wrong.push(format!("{}: accepted, expected: {}", f.display(), expected.trim())),
            Err(e) if e.to_string() != expected.trim() => {
                wrong.push(format!("{}:\n  got:      {e}\n  expected: {}", f.display(), expected.trim()))
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
