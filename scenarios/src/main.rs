//! The `scenarios` command: list, run and inspect lessons headless.

use scenarios::lesson::{parse_lesson, BUILTIN};
use scenarios::render::{trace_json, trace_text};
use std::process::ExitCode;

const USAGE: &str = "usage:
  scenarios list                      list the built-in lessons
  scenarios run ID|FILE [--json]      run a lesson and check its expectations
  scenarios inspect FILE [--json]     show what the loader sees in an ELF file

exit status: 0 all expectations hold, 1 an expectation failed, 2 invalid input";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let rest: Vec<&str> = args.iter().filter(|a| *a != "--json").map(String::as_str).collect();
    match rest.as_slice() {
        ["list"] => {
            for (id, src) in BUILTIN {
                match parse_lesson(src) {
                    Ok(l) => println!("{id:<24} {}", l.title),
                    Err(e) => println!("{id:<24} (broken: {e})"),
                }
            }
            ExitCode::SUCCESS
        }
        ["run", what] => run(what, json),
        ["inspect", file] => inspect(file),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(what: &str, json: bool) -> ExitCode {
    let (name, src) = match BUILTIN.iter().find(|(id, _)| *id == what) {
        Some((id, src)) => (format!("<built-in {id}>"), src.to_string()),
        None => match std::fs::read(what) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) => (what.to_string(), s),
                Err(e) => {
                    eprintln!("{what}:1:1: the file is not UTF-8 text (byte {})", e.utf8_error().valid_up_to());
                    return ExitCode::from(2);
                }
            },
            Err(e) => {
                eprintln!("{what}: not a built-in lesson and not a readable file: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let lesson = match parse_lesson(&src) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{name}:{e}");
            return ExitCode::from(2);
        }
    };
    let run = match scenarios::run(&lesson) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        println!("{}", trace_json(&run));
    } else {
        print!("{}", trace_text(&run));
    }
    let failures = run.failures();
    for (step, c) in &failures {
        eprintln!("{name}: step {step}: expectation failed: {} (found: {})", c.what, c.found);
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn inspect(file: &str) -> ExitCode {
    let data = match std::fs::read(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{file}: cannot read: {e}");
            return ExitCode::from(2);
        }
    };
    match scenarios::inspect::inspect(&data) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{file}: {e}");
            ExitCode::from(2)
        }
    }
}
