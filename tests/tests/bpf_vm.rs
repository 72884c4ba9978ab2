//! The BPF interpreter, side by side with the rbpf crate's interpreter on
//! programs without maps or helpers, and running the real sockops program.

use sim_core::bpf::vm::{insn, sum_loop, Maps, Vm, VmError};
use std::collections::BTreeMap;

/// Programs exercising ALU64, ALU32, jumps (signed and unsigned), loops,
/// stack loads and stores of every size, ld_imm64 and byte swaps.
pub fn programs() -> Vec<(&'static str, Vec<[u8; 8]>)> {
    vec![
        ("add", vec![insn(0xb7, 0, 0, 0, 1), insn(0x07, 0, 0, 0, 41), insn(0x95, 0, 0, 0, 0)]),
        ("loop sum 1..10", sum_loop(10)),
        (
            "stack sizes",
            vec![
                insn(0x18, 1, 0, 0, 0x55667788u32 as i32),
                insn(0x00, 0, 0, 0, 0x11223344),
                insn(0x7b, 10, 1, -8, 0),
                insn(0x61, 0, 10, -8, 0),
                insn(0x69, 2, 10, -6, 0),
                insn(0x0f, 0, 2, 0, 0),
                insn(0x71, 3, 10, -1, 0),
                insn(0x0f, 0, 3, 0, 0),
                insn(0x62, 10, 0, -16, -2),
                insn(0x61, 4, 10, -16, 0),
                insn(0x0f, 0, 4, 0, 0),
                insn(0x95, 0, 0, 0, 0),
            ],
        ),
        (
            "mul div mod xor shifts",
            vec![
                insn(0xb7, 0, 0, 0, 7),
                insn(0x27, 0, 0, 0, 6),
                insn(0x37, 0, 0, 0, 4),
                insn(0x97, 0, 0, 0, 4),
                insn(0xa7, 0, 0, 0, 0xff),
                insn(0x67, 0, 0, 0, 8),
                insn(0x77, 0, 0, 0, 4),
                insn(0xb7, 1, 0, 0, -64),
                insn(0xc7, 1, 0, 0, 2),
                insn(0x0f, 0, 1, 0, 0),
                insn(0x95, 0, 0, 0, 0),
            ],
        ),
        (
            "alu32 wraps and zero-extends",
            vec![
                insn(0xb4, 0, 0, 0, -1),
                insn(0x04, 0, 0, 0, 2),
                insn(0x18, 1, 0, 0, -1),
                insn(0x00, 0, 0, 0, -1),
                insn(0xbc, 2, 1, 0, 0),
                insn(0x0f, 0, 2, 0, 0),
                insn(0x95, 0, 0, 0, 0),
            ],
        ),
        (
            "signed and unsigned compares",
            vec![
                insn(0xb7, 1, 0, 0, -5),
                insn(0xb7, 0, 0, 0, 0),
                insn(0x65, 1, 0, 1, 0),
                insn(0x07, 0, 0, 0, 1),
                insn(0x25, 1, 0, 1, 0),
                insn(0x07, 0, 0, 0, 10),
                insn(0xc5, 1, 0, 1, 0),
                insn(0x07, 0, 0, 0, 100),
                insn(0x95, 0, 0, 0, 0),
            ],
        ),
        (
            "byte swaps",
            vec![
                insn(0xb7, 0, 0, 0, 0x1234),
                insn(0xdc, 0, 0, 0, 16),
                insn(0x18, 1, 0, 0, 0x04030201),
                insn(0x00, 0, 0, 0, 0x08070605),
                insn(0xdc, 1, 0, 0, 64),
                insn(0x0f, 0, 1, 0, 0),
                insn(0x95, 0, 0, 0, 0),
            ],
        ),
        (
            "jset and neg",
            vec![
                insn(0xb7, 1, 0, 0, 6),
                insn(0xb7, 0, 0, 0, 3),
                insn(0x45, 1, 0, 1, 4),
                insn(0x87, 0, 0, 0, 0),
                insn(0x87, 0, 0, 0, 0),
                insn(0x95, 0, 0, 0, 0),
            ],
        ),
    ]
}

fn ours(p: &[[u8; 8]]) -> Result<u64, VmError> {
    Vm::new(p, vec![], Maps::new(), BTreeMap::new()).run(false).map(|(r0, _)| r0)
}

fn theirs(p: &[[u8; 8]]) -> u64 {
    let bytes: Vec<u8> = p.iter().flatten().copied().collect();
    let vm = rbpf::EbpfVmNoData::new(Some(&bytes)).expect("rbpf accepts the program");
    vm.execute_program().expect("rbpf runs it")
}

#[test]
fn results_agree_with_rbpf() {
    for (name, p) in programs() {
        assert_eq!(ours(&p).expect(name), theirs(&p), "{name}");
    }
}

#[test]
fn bad_programs_stop_with_an_error() {
    assert!(matches!(ours(&[insn(0xb7, 0, 0, 0, 1)]), Err(VmError::OutOfRange { pc: 1 })), "no exit");
    assert!(matches!(ours(&[insn(0x05, 0, 0, -1, 0)]), Err(VmError::Budget)), "endless loop");
    assert!(matches!(ours(&[insn(0x79, 0, 1, 0, 0), insn(0x95, 0, 0, 0, 0)]), Err(VmError::BadAccess { .. })), "empty context");
    assert!(matches!(ours(&[insn(0x7a, 10, 0, 8, 1), insn(0x95, 0, 0, 0, 0)]), Err(VmError::BadAccess { .. })), "above the stack");
    assert!(matches!(ours(&[insn(0xff, 0, 0, 0, 0)]), Err(VmError::BadOpcode { .. })));
    assert!(matches!(ours(&[insn(0x85, 0, 0, 0, 9999), insn(0x95, 0, 0, 0, 0)]), Err(VmError::BadHelper { .. })));
}

#[test]
fn the_sockops_program_increments_its_counter() {
    let o = sim_core::bpf::BpfObject::parse(include_bytes!("../../fixtures/bpf/sockops_lookup.o")).expect("parses");
    let mut insns = o.programs[0].insns.clone();
    // What libbpf's relocation does: src_reg = BPF_PSEUDO_MAP_FD, imm = the map's fd (3).
    let r = o.relocations[0].insn_index;
    insns[r][1] = (insns[r][1] & 0x0f) | 0x10;
    insns[r][4..8].copy_from_slice(&3i32.to_le_bytes());
    let mut maps = Maps::new();
    let entries: BTreeMap<Vec<u8>, Vec<u8>> = (0u32..10).map(|k| (k.to_le_bytes().to_vec(), vec![0u8; 8])).collect();
    maps.insert(1, (8, 10, true, entries));
    let fds = BTreeMap::from([(3, 1u32)]);
    let mut vm = Vm::new(&insns, vec![0; 64], maps, fds);
    for _ in 0..3 {
        let (r0, _) = vm.run(false).expect("runs");
        assert_eq!(r0, 1);
    }
    let value = &vm.maps[&1].3[&1u32.to_le_bytes().to_vec()];
    assert_eq!(u64::from_le_bytes(value[..8].try_into().expect("8 bytes")), 3, "counters[1] counted three runs");
}

/// `bpf_tail_call` as the interpreter's JMP_TAIL_CALL runs it: a program
/// that tail-calls itself through slot 0 of a prog array runs 1 + 33 times
/// (MAX_TAIL_CALL_CNT), registers kept across each call; then the call falls
/// through. An empty slot falls through at once.
#[test]
fn tail_calls_stop_after_33() {
    use sim_core::bpf::vm::MAX_TAIL_CALL_CNT;
    let prog = vec![
        insn(0x07, 6, 0, 0, 1), // r6 += 1
        insn(0x18, 2, 1, 0, 5), // r2 = map 5 (BPF_PSEUDO_MAP_FD)
        insn(0x00, 0, 0, 0, 0),
        insn(0xb7, 3, 0, 0, 0),  // r3 = 0
        insn(0x85, 0, 0, 0, 12), // bpf_tail_call(ctx, r2, r3)
        insn(0xbf, 0, 6, 0, 0),  // r0 = r6
        insn(0x95, 0, 0, 0, 0),
    ];
    let slots = |filled: bool| {
        let e: BTreeMap<Vec<u8>, Vec<u8>> =
            if filled { BTreeMap::from([(vec![0, 0, 0, 0], 7u32.to_le_bytes().to_vec())]) } else { BTreeMap::new() };
        Maps::from([(5, (4, 1, false, e))])
    };
    let run = |filled| {
        Vm::new(&prog, vec![0; 64], slots(filled), BTreeMap::from([(5, 5u32)]))
            .with_tail_calls(BTreeMap::from([(7, prog.clone())]))
            .run(false)
            .map(|(r0, _)| r0)
    };
    assert_eq!(run(true), Ok(u64::from(MAX_TAIL_CALL_CNT) + 1));
    assert_eq!(run(false), Ok(1), "an empty slot falls through");
}
