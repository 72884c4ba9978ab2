//! Native benchmarks for the README (`cargo xtask bench`). Prints one line
//! per measurement; nothing here asserts a time.

use sim_core::{Access, Config, Machine, Pid, Timeline};
use sim_core::{LinuxOp, McuOp};
use std::time::Instant;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// 200 seeks to random positions: (mean, worst) in ms.
fn jumps(tl: &mut Timeline, mut seed: u64) -> (f64, f64) {
    let n = tl.len().max(1);
    let t = Instant::now();
    let mut worst = 0f64;
    for _ in 0..200 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let t1 = Instant::now();
        tl.seek((seed >> 33) as usize % n);
        worst = worst.max(ms(t1));
    }
    (ms(t) / 200.0, worst)
}

fn write(m: &mut Machine, addr: u64) {
    m.apply(&LinuxOp::Write { pid: Pid(1), addr, value: Some(1), size: 1, text: None }).expect("write");
}

/// The process's resident memory in bytes.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm").ok().and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok()).unwrap_or(0) * 4096
}

/// `bench [linux|tlb|thumb|bpf]...`: those groups only (all by default), e.g.
/// to profile one under perf.
fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let want = |g: &str| only.is_empty() || only.iter().any(|o| o == g);
    if want("linux") {
        linux();
    }
    if want("tlb") {
        tlb_hits();
    }
    if want("thumb") {
        thumb();
    }
    if want("bpf") {
        bpf();
    }
    if want("load") {
        load();
    }
}

/// Reading the e2e test's million-event recording as the page reads it
/// (`cargo xtask bench` writes it and names it in `BENCH_TRACE`).
fn load() {
    let path = std::env::var("BENCH_TRACE").unwrap_or_default();
    let Ok(bytes) = std::fs::read(&path) else {
        println!("load: no recording at BENCH_TRACE={path:?} (run through cargo xtask bench)");
        return;
    };
    let t = Instant::now();
    let mut rec = scenarios::SealedRecording::decode_indexed(&bytes).expect("decode");
    let n = rec.timeline.len();
    println!("a {n}-event recording ({} MB): indexed in {:.1} ms", bytes.len() >> 20, ms(t));
    let t = Instant::now();
    rec.timeline.build(usize::MAX).expect("builds");
    println!("  its events checked, applied and checkpointed in {:.1} ms", ms(t));
}

fn linux() {
    // fork of a process with 1 GiB mapped and touched (262,144 pages).
    let mut m = Machine::new(&Config { frames: 1 << 20, ..Config::default() });
    m.apply(&LinuxOp::Spawn { name: "big".into() }).expect("spawn");
    let base = 0x1000_0000u64;
    m.apply(&LinuxOp::Mmap { pid: Pid(1), addr: Some(base), len: 1 << 30, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 })
        .expect("mmap");
    let t = Instant::now();
    for i in 0..262_144u64 {
        write(&mut m, base + i * 4096);
    }
    println!("touch 262144 pages (demand faults):        {:8.1} ms", ms(t));
    let tables = m.state().linux.frames.values().filter(|f| matches!(f.kind, sim_core::linux::FrameKind::PageTable { .. })).count();
    let t = Instant::now();
    let r = m.apply(&LinuxOp::Fork { pid: Pid(1) }).expect("fork");
    println!("fork with 1 GiB mapped ({tables} table pages): {:8.1} ms ({} events)", ms(t), r.events.len());

    // The same fork with 1/8 of the pages: cost scales with what is mapped.
    let mut small = Machine::new(&Config::default());
    small.apply(&LinuxOp::Spawn { name: "s".into() }).expect("spawn");
    small
        .apply(&LinuxOp::Mmap {
            pid: Pid(1),
            addr: Some(base),
            len: 1 << 27,
            prot: sim_core::Prot::RW,
            shared: false,
            file: None,
            offset: 0,
        })
        .expect("mmap");
    for i in 0..32_768u64 {
        write(&mut small, base + i * 4096);
    }
    let t = Instant::now();
    small.apply(&LinuxOp::Fork { pid: Pid(1) }).expect("fork");
    println!("fork with 128 MiB mapped:                   {:8.1} ms", ms(t));

    // Sparse memory: one page at each end of the 47-bit user space.
    let mut sparse = Machine::new(&Config::default());
    sparse.apply(&LinuxOp::Spawn { name: "s".into() }).expect("spawn");
    sparse
        .apply(&LinuxOp::Mmap {
            pid: Pid(1),
            addr: Some(0x1000),
            len: 4096,
            prot: sim_core::Prot::RW,
            shared: false,
            file: None,
            offset: 0,
        })
        .expect("mmap");
    sparse
        .apply(&LinuxOp::Mmap {
            pid: Pid(1),
            addr: Some(0x7fff_ffff_e000),
            len: 4096,
            prot: sim_core::Prot::RW,
            shared: false,
            file: None,
            offset: 0,
        })
        .expect("mmap");
    write(&mut sparse, 0x1000);
    sparse.apply(&LinuxOp::Write { pid: Pid(1), addr: 0x7fff_ffff_e000, value: Some(1), size: 1, text: None }).expect("write");
    println!(
        "sparse: 2 pages 128 TiB apart use           {:8} frames ({} KiB)",
        sparse.state().linux.frames.len(),
        sparse.state().linux.frames.len() * 4
    );

    // Translations per second, TLB hits and misses.
    let mut t_m = Machine::new(&Config { tlb_entries: 8, ..Config::default() });
    t_m.apply(&LinuxOp::Spawn { name: "t".into() }).expect("spawn");
    t_m.apply(&LinuxOp::Mmap {
        pid: Pid(1),
        addr: Some(base),
        len: 64 * 4096,
        prot: sim_core::Prot::RW,
        shared: false,
        file: None,
        offset: 0,
    })
    .expect("mmap");
    for i in 0..64u64 {
        t_m.apply(&LinuxOp::Write { pid: Pid(1), addr: base + i * 4096, value: Some(1), size: 1, text: None }).expect("write");
    }
    for (name, stride) in [("TLB hits", 0u64), ("TLB misses", 4096)] {
        let n = 100_000u64;
        let t = Instant::now();
        for i in 0..n {
            let addr = base + (i * stride) % (64 * 4096);
            t_m.apply(&LinuxOp::Access { pid: Pid(1), addr, access: Access::Read }).expect("access");
        }
        let secs = t.elapsed().as_secs_f64();
        println!("translations, {name:<10} (narrated events): {:8.0} per second", n as f64 / secs);
    }

    // Scale: 10,000,000 recorded events (TLB-hit translations, one event
    // each) in one timeline; memory per event from the process's RSS.
    let before = rss();
    let mut long = Timeline::new(t_m.state().clone());
    let n = 10_000_000usize;
    let t = Instant::now();
    for i in 0..n {
        let r = t_m.apply(&LinuxOp::Access { pid: Pid(1), addr: base, access: Access::Read }).expect("access");
        long.record(i, r.events);
    }
    let secs = t.elapsed().as_secs_f64();
    let grown = rss().saturating_sub(before);
    println!(
        "{n} recorded events: {secs:.1} s, {:.1} bytes per event (RSS growth; {:.1} of them the encoded events)",
        grown as f64 / n as f64,
        long.encoded_bytes() as f64 / n as f64
    );
    let (mean, worst) = jumps(&mut long, 11);
    println!("jump to a random step of {n} events:     {mean:8.3} ms mean, {worst:.3} ms worst");
    drop(long);

    // Rewind: a 20,000-event trace, jumps to random positions.
    let mut big = Machine::new(&Config::default());
    let mut tl = Timeline::new(big.state().clone());
    let mut ops = vec![
        LinuxOp::Spawn { name: "p".into() },
        LinuxOp::Mmap { pid: Pid(1), addr: Some(base), len: 1 << 26, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 },
    ];
    for i in 0..1400u64 {
        ops.push(LinuxOp::Write { pid: Pid(1), addr: base + i * 4096 * 3, value: Some(i), size: 8, text: None });
    }
    for (i, op) in ops.iter().enumerate() {
        let r = big.apply(op).expect("op");
        tl.record(i, r.events);
    }
    let n = tl.len();
    let (mean, worst) = jumps(&mut tl, 7);
    println!("jump to a random step of {n} events:        {mean:8.3} ms mean, {worst:.3} ms worst");
    let t = Instant::now();
    for _ in 0..1000 {
        if !tl.step_forward() {
            tl.seek(0);
        }
    }
    println!("step forward:                               {:8.4} ms", ms(t) / 1000.0);
}

/// TLB hits alone, long enough to profile: 5,000,000 operations (or
/// `BENCH_N`), each one translation and its event, the events dropped.
fn tlb_hits() {
    let base = 0x1000_0000u64;
    let mut m = Machine::new(&Config { tlb_entries: 8, ..Config::default() });
    m.apply(&LinuxOp::Spawn { name: "t".into() }).expect("spawn");
    m.apply(&LinuxOp::Mmap { pid: Pid(1), addr: Some(base), len: 4096, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 })
        .expect("mmap");
    write(&mut m, base);
    // BENCH_N: fewer, to count instructions under callgrind.
    let n = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000_000u64);
    let t = Instant::now();
    for _ in 0..n {
        m.apply(&LinuxOp::Access { pid: Pid(1), addr: base, access: Access::Read }).expect("access");
    }
    let secs = t.elapsed().as_secs_f64();
    println!("translations, TLB hits, {n} in a row:     {:8.0} per second", n as f64 / secs);
}

fn thumb() {
    // The Thumb interpreter: the Reset handler copying 64 KiB of .data.
    let mut mcu = Machine::new(&Config::default());
    mcu.install_file("/fw", std::sync::Arc::from(&include_bytes!("../../../fixtures/mcu/bigdata.elf")[..]));
    mcu.apply(&McuOp::McuLoad { path: "/fw".into(), board: None, flash_kib: None, ram_kib: Some(128), seed: 3, keep_ram: false })
        .expect("load");
    mcu.apply(&McuOp::McuReset {}).expect("reset");
    let t = Instant::now();
    let r = mcu.apply(&McuOp::McuRun { until: Some("main".into()), max: 200_000 }).expect("run");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "64 KiB .data copy to main: {} instructions in {:.1} ms = {:.2} M instructions/s",
        r.events.len(),
        secs * 1e3,
        r.events.len() as f64 / secs / 1e6
    );

    // Thumb-2 at scale: a Cortex-M3 delay loop of 10,000,000 instructions
    // (MOVW/MOVT of 5,000,000, then SUBS/BNE), recorded in one timeline.
    let code: Vec<u8> = [0x2001_0000u32, 0x41]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .chain(std::iter::repeat_n(0, 0x38))
        .chain([0xf644u16, 0x3040, 0xf2c0, 0x004c, 0x3801, 0xd1fd, 0xe7fe].iter().flat_map(|h| h.to_le_bytes()))
        .collect();
    let mut m3 = Machine::new(&Config::default());
    m3.install_file("/fw", std::sync::Arc::from(sim_tests::qemu::elf32(&code)));
    m3.apply(&McuOp::McuLoad {
        path: "/fw".into(),
        board: Some("lm3s6965".into()),
        flash_kib: None,
        ram_kib: None,
        seed: 3,
        keep_ram: false,
    })
    .expect("load");
    m3.apply(&McuOp::McuReset {}).expect("reset");
    let before = rss();
    let mut long = Timeline::new(m3.state().clone());
    let t = Instant::now();
    // BENCH_N: fewer, to count instructions under callgrind.
    let max = std::env::var("BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_010u64);
    let r = m3.apply(&McuOp::McuRun { until: None, max }).expect("run");
    let secs = t.elapsed().as_secs_f64();
    let n = r.events.len();
    long.record(0, r.events);
    let grown = rss().saturating_sub(before);
    println!(
        "Cortex-M3 delay loop: {n} events in {:.2} s = {:.2} M instructions/s, {:.1} bytes per event (RSS growth; {:.1} of them the encoded events)",
        secs,
        n as f64 / secs / 1e6,
        grown as f64 / n as f64,
        long.encoded_bytes() as f64 / n as f64
    );
    let (mean, worst) = jumps(&mut long, 11);
    println!("jump to a random step of the delay loop:    {mean:8.3} ms mean, {worst:.3} ms worst");
    drop(long);
}

fn bpf() {
    // The BPF interpreter beside rbpf's, same program: a 100,000-iteration loop.
    let prog = sim_core::bpf::vm::sum_loop(100_000);
    let n = 2 + 3 * 100_000 + 1;
    let mut vm = sim_core::bpf::vm::Vm::new(&prog, vec![], Default::default(), Default::default());
    let t = Instant::now();
    let r = vm.run(false).expect("runs").0;
    let ours = t.elapsed().as_secs_f64();
    let bytes: Vec<u8> = prog.iter().flatten().copied().collect();
    let rb = rbpf::EbpfVmNoData::new(Some(&bytes)).expect("rbpf");
    let t = Instant::now();
    let r2 = rb.execute_program().expect("rbpf runs");
    let theirs = t.elapsed().as_secs_f64();
    assert_eq!(r, r2);
    println!("BPF interpreter, {n} instructions: ours {:.1} ns/insn, rbpf {:.1} ns/insn", ours * 1e9 / n as f64, theirs * 1e9 / n as f64);
}
