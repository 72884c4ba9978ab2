//! The recording fuzzer's seeds are recordings of built-in lessons in
//! today's format: a seed in an older format would only exercise the
//! magic-number check. `UPDATE_SEEDS=1` rewrites them.

use scenarios::Recording;
use std::path::PathBuf;

#[test]
fn recording_seeds_are_current_recordings_of_their_lessons() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/recording");
    for id in ["bpf-map-sharing", "paging-walk"] {
        let path = dir.join(format!("{id}.trace"));
        let fresh = Recording::from(scenarios::open::builtin(id).expect(id)).encode();
        if std::env::var_os("UPDATE_SEEDS").is_some() {
            std::fs::write(&path, &fresh).expect("write the seed");
            continue;
        }
        let seed = std::fs::read(&path).expect("the seed is committed");
        let decoded = Recording::decode(&seed).unwrap_or_else(|e| panic!("{id}.trace does not decode ({e}); run with UPDATE_SEEDS=1"));
        assert_eq!(decoded.encode(), fresh, "{id}.trace is not today's recording of the lesson; run with UPDATE_SEEDS=1");
    }
}
