//! The catalogue of malformed inputs (tests/src/catalogue.rs): each gives
//! its error, names the file, and nothing panics. The files are written to
//! target/malformed/ with an index, for the end-to-end test to feed to the
//! real page.

use sim_tests::catalogue::{catalogue, open, Kind};

#[test]
fn every_malformed_input_gives_its_error() {
    let all = catalogue();
    assert!(all.len() >= 40, "{} entries", all.len());
    let mut problems = Vec::new();
    for b in &all {
        match open(b) {
            None => problems.push(format!("{}: accepted", b.name)),
            Some(e) if !e.contains(b.error) => problems.push(format!("{}: {e:?} does not say {:?}", b.name, b.error)),
            Some(e) if b.kind == Kind::File && !e.contains(&b.name) => problems.push(format!("{}: {e:?} does not name the file", b.name)),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // For the end-to-end test: the files and an index (name, kind, error).
    let dir = sim_tests::root().join("target/malformed");
    std::fs::create_dir_all(&dir).expect("target/malformed");
    let mut index = Vec::new();
    for b in &all {
        std::fs::write(dir.join(&b.name), &b.bytes).expect("write");
        let kind = match b.kind {
            Kind::File => "file",
            Kind::Recording => "recording",
            Kind::Run => "run",
            Kind::Warn => "warn",
        };
        index.push(serde_json::json!({ "name": b.name, "kind": kind, "error": b.error }));
    }
    std::fs::write(dir.join("index.json"), serde_json::to_string_pretty(&index).expect("json")).expect("index");
}
