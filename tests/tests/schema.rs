//! The lesson JSON Schema (scenarios::schema, shipped as web/lesson.schema.json)
//! against the lessons: every built-in lesson and the instructor example
//! validate, and the catalogue's malformed lessons that are schema errors
//! are rejected by it as they are by the parser.

use serde_json::Value;

fn schema() -> Value {
    scenarios::schema::lesson_schema()
}

/// A lesson file's text as the generic value a schema validates (TOML, or JSON).
fn value(text: &str) -> Option<Value> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).ok()
    } else {
        basic_toml::from_str(text).ok()
    }
}

#[test]
fn the_shipped_schema_is_the_generated_one() {
    let path = sim_tests::root().join("web/lesson.schema.json");
    let generated = serde_json::to_string_pretty(&schema()).expect("json") + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write");
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(shipped == generated, "web/lesson.schema.json is stale: UPDATE_SCHEMA=1 cargo test -p sim-tests --test schema");
}

#[test]
fn every_builtin_lesson_and_the_instructor_example_validate() {
    let v = jsonschema::draft7::new(&schema()).expect("a valid draft-07 schema");
    let example = std::fs::read_to_string(sim_tests::root().join("examples/instructor/lesson.toml")).expect("example");
    for (id, text) in scenarios::lesson::BUILTIN.iter().copied().chain([("examples/instructor", example.as_str())]) {
        let lesson = value(text).unwrap_or_else(|| panic!("{id} parses as TOML"));
        let errors: Vec<String> = v.iter_errors(&lesson).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{id}: {errors:#?}");
    }
}

#[test]
fn malformed_lessons_the_parser_refuses_for_their_shape_are_refused_by_the_schema() {
    let v = jsonschema::draft7::new(&schema()).expect("schema");
    let catalogue = sim_tests::catalogue::catalogue();
    // Refused for their shape: a missing or mistyped field, an unknown op,
    // check, fixture or board, a src that is not relative. (A syntax error
    // is not a value; an unknown process or a firmware that does not fit
    // is found by running.)
    let shape = [
        "lesson-empty.toml",
        "lesson-unknown-op.toml",
        "lesson-missing-field.toml",
        "lesson-unknown-check.toml",
        "lesson-missing-fixture.toml",
        "lesson-json-wrong-type.json",
        "lesson-unknown-board.toml",
        "lesson-src-absolute.toml",
    ];
    for name in shape {
        let e = catalogue.iter().find(|e| e.name == name).unwrap_or_else(|| panic!("{name} in the catalogue"));
        let text = String::from_utf8_lossy(&e.bytes);
        assert!(scenarios::lesson::parse_lesson(&text).is_err(), "{name}: the parser refuses it");
        let lesson = value(&text).unwrap_or(Value::Null);
        assert!(!v.is_valid(&lesson), "{name}: the schema refuses it too");
    }
    // And they would pass once fixed: the same check on a good lesson holds.
    let good = value(scenarios::lesson::BUILTIN[0].1).expect("parses");
    assert!(v.is_valid(&good));
}
