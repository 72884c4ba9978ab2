// Lets an instructor check their own lesson file under wasm32:
// `LESSON_FILE=/path/to/lesson.toml cargo test --target wasm32-unknown-unknown -p scenarios --test wasm`
// copies the file into the build so the wasm test can run it.
fn main() {
    println!("cargo:rerun-if-env-changed=LESSON_FILE");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("extra_lesson.txt");
    let text = match std::env::var("LESSON_FILE") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            std::fs::read_to_string(&path).unwrap_or_else(|e| format!("# LESSON_FILE {path}: {e}"))
        }
        _ => String::new(),
    };
    let _ = std::fs::write(out, text);
}
