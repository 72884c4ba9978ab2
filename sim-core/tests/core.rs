//! Core behaviour, run natively and under wasm32 (wasm-bindgen-test in Node).

use sim_core::LinuxOp;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use sim_core::arch::PagingFormat;
use sim_core::{Config, Machine, Outcome, Pid, Translation, VirtAddr};

fn write(m: &mut Machine, pid: u32, addr: u64, value: u64) -> Outcome {
    m.apply(&LinuxOp::Write { pid: Pid(pid), addr, value: Some(value), size: 8, text: None }).expect("write").outcome
}

fn peek(m: &Machine, pid: u32, va: u64) -> u8 {
    let st = m.state();
    let (_, _, e) = st.linux.leaf(Pid(pid), VirtAddr(va)).expect("mapped");
    st.linux.frame_bytes(st.linux.format.pte_pfn(e), (va & 0xfff) as usize, 1)[0]
}

#[test]
fn teaching_format_walks_two_levels_of_256_byte_pages() {
    let mut m = Machine::new(&Config { paging: PagingFormat::Teaching16, frames: 128, tlb_entries: 2, aslr_seed: None });
    m.apply(&LinuxOp::Spawn { name: "t".into() }).expect("spawn");
    m.apply(&LinuxOp::Mmap { pid: Pid(1), addr: Some(0x1200), len: 0x100, prot: sim_core::Prot::RW, shared: false, file: None, offset: 0 })
        .expect("mmap");
    assert_eq!(write(&mut m, 1, 0x1234, 0xab), Outcome::Ok);
    let st = m.state();
    let root = st.linux.procs[&Pid(1)].mm.as_ref().expect("mm").root;
    match st.linux.translate(root, VirtAddr(0x1234)) {
        Translation::Mapped { walk, pa, .. } => {
            assert_eq!(walk.len(), 2);
            assert_eq!(walk[0].index, 0x1, "bits 15-12");
            assert_eq!(walk[1].index, 0x2, "bits 11-8");
            assert_eq!(pa.0 & 0xff, 0x34, "the offset is the low 8 bits");
            assert_eq!(st.linux.read_pte(walk[1].table, 2) & 0x7f00, pa.0 & 0x7f00, "the 2-byte entry holds the frame");
        }
        other => panic!("{other:?}"),
    }
    // The 16-bit space ends at 0x10000: anything above is not an address.
    let o = m.apply(&LinuxOp::Access { pid: Pid(1), addr: 0x10000, access: sim_core::Access::Read }).expect("access").outcome;
    assert!(matches!(o, Outcome::Segv { .. }));
}

#[test]
fn fork_shares_frames_until_a_write_and_the_last_writer_reuses() {
    let mut m = Machine::new(&Config::default());
    m.apply(&LinuxOp::Spawn { name: "p".into() }).expect("spawn");
    m.apply(&LinuxOp::Mmap {
        pid: Pid(1),
        addr: Some(0x10000000),
        len: 4096,
        prot: sim_core::Prot::RW,
        shared: false,
        file: None,
        offset: 0,
    })
    .expect("mmap");
    write(&mut m, 1, 0x10000000, 1);
    let frames = m.state().linux.frames.len();
    assert_eq!(m.apply(&LinuxOp::Fork { pid: Pid(1) }).expect("fork").outcome, Outcome::Pid { pid: Pid(2) });
    // Only page tables were added (PML4, PDPT, PD, PT for the child).
    assert_eq!(m.state().linux.frames.len(), frames + 4);
    write(&mut m, 2, 0x10000000, 2);
    assert_eq!(m.state().linux.frames.len(), frames + 5, "the child's write copied one frame");
    write(&mut m, 1, 0x10000000, 3);
    assert_eq!(m.state().linux.frames.len(), frames + 5, "the parent's write reused its frame");
    assert_eq!((peek(&m, 1, 0x10000000), peek(&m, 2, 0x10000000)), (3, 2));
}

#[test]
fn non_canonical_addresses_fault_without_a_walk() {
    let mut m = Machine::new(&Config::default());
    m.apply(&LinuxOp::Spawn { name: "p".into() }).expect("spawn");
    let r = m.apply(&LinuxOp::Access { pid: Pid(1), addr: 0x0000_9000_0000_0000, access: sim_core::Access::Read }).expect("access");
    match r.outcome {
        Outcome::Segv { reason, .. } => assert!(reason.contains("not canonical"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn shared_mappings_are_not_copied_on_write() {
    let mut m = Machine::new(&Config::default());
    m.apply(&LinuxOp::Spawn { name: "p".into() }).expect("spawn");
    m.apply(&LinuxOp::Mmap {
        pid: Pid(1),
        addr: Some(0x20000000),
        len: 4096,
        prot: sim_core::Prot::RW,
        shared: true,
        file: None,
        offset: 0,
    })
    .expect("mmap");
    write(&mut m, 1, 0x20000000, 5);
    m.apply(&LinuxOp::Fork { pid: Pid(1) }).expect("fork");
    write(&mut m, 2, 0x20000000, 9);
    assert_eq!(peek(&m, 1, 0x20000000), 9, "MAP_SHARED: the parent sees the child's write");
}
