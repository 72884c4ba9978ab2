//! The `scenarios` command: list, run and inspect lessons headless.

use scenarios::lesson::{parse_lesson, BUILTIN};
use scenarios::render::{trace_json, trace_text};
use std::process::ExitCode;

const USAGE: &str = "usage:
  scenarios list                      list the built-in lessons
  scenarios run ID|FILE [--json] [--state] [--stop-at entry|main] [--board NAME] [--compare N]
                                      run a lesson and check its expectations; FILE is
                                      a lesson file or an ELF file (an x86-64 program,
                                      ARM firmware or a BPF object), run as the page runs it;
                                      --state prints the final state as JSON, with each
                                      process's /proc/PID/maps; --stop-at entry stops an
                                      x86-64 program where execve returns to user space,
                                      --stop-at main (the default) when main is entered;
                                      --board runs ARM firmware on that board preset
                                      (microbit, rp2040, lm3s6965, stm32f103, nrf52840,
                                      stm32f4) instead of the first one it fits;
                                      --compare N runs the lesson's Nth variant
                                      ([[compare]]: one knob changed) instead
  scenarios inspect FILE [--json]     show what the loader sees in an ELF file
  scenarios schema                    print the JSON Schema of lesson files (draft-07)
  scenarios exercise ID SEED          print the seeded exercise ID (exercise-translate,
                                      exercise-fork) for SEED as a lesson file

exit status: 0 all expectations hold, 1 an expectation failed, 2 invalid input";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let state = args.iter().any(|a| a == "--state");
    let stop = args.iter().position(|a| a == "--stop-at").map(|i| args.get(i + 1).cloned().unwrap_or_default());
    let at_entry = match stop.as_deref() {
        None => false,
        Some("entry") => true,
        Some("main") => false,
        Some(other) => {
            eprintln!("--stop-at {other:?}: use entry or main");
            return ExitCode::from(2);
        }
    };
    let board = args.iter().position(|a| a == "--board").map(|i| args.get(i + 1).cloned().unwrap_or_default());
    let compare = match args.iter().position(|a| a == "--compare").map(|i| args.get(i + 1).cloned().unwrap_or_default()) {
        None => None,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if n >= 1 => Some(n - 1),
            _ => {
                eprintln!("--compare {n:?}: give the variant's number, 1 for the first");
                return ExitCode::from(2);
            }
        },
    };
    let mut skip: Vec<usize> = args.iter().position(|a| a == "--stop-at").map(|i| vec![i, i + 1]).unwrap_or_default();
    skip.extend(args.iter().position(|a| a == "--board").map(|i| [i, i + 1]).into_iter().flatten());
    skip.extend(args.iter().position(|a| a == "--compare").map(|i| [i, i + 1]).into_iter().flatten());
    let rest: Vec<&str> =
        args.iter().enumerate().filter(|(i, a)| *a != "--json" && *a != "--state" && !skip.contains(i)).map(|(_, a)| a.as_str()).collect();
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
        ["run", what] => run(what, json, state, at_entry, board.as_deref(), compare),
        ["inspect", file] => inspect(file),
        ["exercise", id, seed] => {
            match seed.parse::<u64>().map_err(|e| format!("seed `{seed}`: {e}")).and_then(|n| scenarios::exercise::text(id, n)) {
                Ok(t) => {
                    print!("{t}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        ["schema"] => {
            println!("{}", serde_json::to_string_pretty(&scenarios::schema::lesson_schema()).unwrap_or_default());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(what: &str, json: bool, state: bool, at_entry: bool, board: Option<&str>, compare: Option<usize>) -> ExitCode {
    let run = match BUILTIN.iter().find(|(id, _)| *id == what) {
        Some((id, src)) => lesson_run(&format!("<built-in {id}>"), src, compare),
        None if compare.is_some() => match std::fs::read_to_string(what) {
            Ok(s) => lesson_run(what, &s, compare),
            Err(e) => Err(format!("{what}: --compare takes a lesson file: {e}")),
        },
        None => match std::fs::read(what) {
            Ok(bytes) if board.is_some() => scenarios::open::bytes_on(what, &bytes, board),
            Ok(bytes) if at_entry && scenarios::open::is_elf(&bytes) => scenarios::open::own_elf_until(what, &bytes, true),
            Ok(bytes) if scenarios::open::is_elf(&bytes) => scenarios::open::bytes(what, &bytes).map_err(|e| e.to_string()),
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) => lesson_run(what, &s, None),
                Err(e) => {
                    Err(format!("{what}:1:1: the file is neither an ELF file nor UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
                }
            },
            Err(e) => Err(format!("{what}: not a built-in lesson and not a readable file: {e}")),
        },
    };
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let name = what;
    if state {
        // Each process as /proc shows it (its maps in the kernel's format),
        // and what the machine holds.
        let st = run.timeline.state();
        let procs: serde_json::Map<String, serde_json::Value> = st
            .linux
            .procs
            .iter()
            .map(|(pid, p)| {
                let v = serde_json::json!({
                    "comm": p.comm,
                    "state": serde_json::to_value(&p.state).unwrap_or_default(),
                    "regs": serde_json::to_value(p.regs).unwrap_or_default(),
                    "fds": p.fds.keys().map(|f| f.0).collect::<Vec<_>>(),
                    "maps": st.linux.maps(*pid),
                });
                (pid.0.to_string(), v)
            })
            .collect();
        let mut v = serde_json::json!({
            "processes": procs,
            "frames_in_use": st.linux.frames_in_use(),
            "bpf": serde_json::to_value(&st.bpf).unwrap_or_default(),
        });
        if let Some(m) = st.mcu.as_deref() {
            v["mcu"] = mcu_state(m);
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return if run.failures().is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) };
    }
    if json {
        println!("{}", trace_json(&run));
    } else {
        print!("{}", trace_text(&run));
    }
    let failures = scenarios::open::failures_text(name, &run);
    eprint!("{failures}");
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Parses and runs a lesson file's text; the files it brings (`src`) are
/// read beside it. Errors name the file.
fn lesson_run(name: &str, text: &str, compare: Option<usize>) -> Result<scenarios::Run, String> {
    let dir = std::path::Path::new(name).parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    scenarios::open::variant_text_with(name, text, compare, |src| {
        let p = dir.join(src);
        std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    })
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

/// The board as `--state` prints it: the preset, the core's registers, and
/// every data symbol's address and the words there (a symbol's words up to
/// the next symbol, at most 4), and what the UART printed.
fn mcu_state(m: &sim_core::mcu::McuState) -> serde_json::Value {
    let names = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"];
    let regs: serde_json::Map<String, serde_json::Value> =
        names.iter().zip(m.cpu.r.iter()).map(|(n, v)| (n.to_string(), serde_json::json!(format!("{v:#010x}")))).collect();
    let mut addrs: Vec<u32> = m.info.symbols.iter().map(|(_, a)| *a).collect();
    addrs.sort_unstable();
    let symbols: Vec<serde_json::Value> = m
        .info
        .symbols
        .iter()
        .map(|(n, a)| {
            let next = addrs.iter().find(|x| **x > *a).copied().unwrap_or(a.saturating_add(4));
            let words: Vec<String> =
                (0..((next - a) / 4).clamp(1, 4)).filter_map(|i| m.peek(a + 4 * i)).map(|w| format!("{w:#010x}")).collect();
            serde_json::json!({ "name": n, "address": format!("{a:#010x}"), "place": m.place(*a), "words": words })
        })
        .collect();
    serde_json::json!({
        "board": m.board,
        "core": m.map.core.name(),
        "registers": regs,
        "xpsr": format!("{:#010x}", m.cpu.xpsr()),
        "mode": if m.cpu.ipsr == 0 { "thread".to_string() } else { format!("handler (exception {})", m.cpu.ipsr) },
        "lockup": m.cpu.lockup,
        "instructions": m.cpu.steps,
        "cfsr": format!("{:#010x}", m.cpu.sys.cfsr),
        "hfsr": format!("{:#010x}", m.cpu.sys.hfsr),
        "symbols": symbols,
        "console": m.io.console,
    })
}
