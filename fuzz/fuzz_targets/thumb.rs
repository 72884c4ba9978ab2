//! Any halfwords as Thumb code: placed after a vector table in flash, run
//! from reset on the Cortex-M0 (ARMv6-M) and the Cortex-M4 (ARMv7E-M,
//! Thumb-2 decoded by yaxpeax-arm); each instruction executes or stops the
//! core with a clear error (a fault taken, lockup, unsupported encoding).
#![no_main]
use sim_core::{McuOp};
use libfuzzer_sys::fuzz_target;
use sim_core::{Config, Machine};
use std::sync::Arc;

/// A minimal ARM ELF: one PT_LOAD of `code` at flash address 0.
fn elf(code: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 52 + 32];
    v[..4].copy_from_slice(b"\x7fELF");
    v[4] = 1; // 32-bit
    v[5] = 1; // little-endian
    v[6] = 1;
    v[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    v[18..20].copy_from_slice(&40u16.to_le_bytes()); // EM_ARM
    v[20..24].copy_from_slice(&1u32.to_le_bytes());
    v[24..28].copy_from_slice(&9u32.to_le_bytes()); // entry (Thumb)
    v[28..32].copy_from_slice(&52u32.to_le_bytes()); // phoff
    v[40..42].copy_from_slice(&52u16.to_le_bytes()); // ehsize
    v[42..44].copy_from_slice(&32u16.to_le_bytes()); // phentsize
    v[44..46].copy_from_slice(&1u16.to_le_bytes()); // phnum
    let ph = 52;
    v[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    v[ph + 4..ph + 8].copy_from_slice(&84u32.to_le_bytes()); // offset
    v[ph + 16..ph + 20].copy_from_slice(&(code.len() as u32).to_le_bytes());
    v[ph + 20..ph + 24].copy_from_slice(&(code.len() as u32).to_le_bytes());
    v[ph + 24..ph + 28].copy_from_slice(&5u32.to_le_bytes()); // R+X
    v.extend_from_slice(code);
    v
}

fuzz_target!(|data: &[u8]| {
    // Vector table: initial SP at the top of RAM, reset handler at 8 (Thumb bit set).
    let mut code = Vec::new();
    code.extend_from_slice(&0x2000_4000u32.to_le_bytes());
    code.extend_from_slice(&9u32.to_le_bytes());
    code.extend_from_slice(&data[..data.len().min(4096)]);
    for board in ["microbit", "nrf52840"] {
        let mut m = Machine::new(&Config::default());
        m.install_file("/fw", Arc::from(elf(&code)));
        let load = McuOp::McuLoad { path: "/fw".into(), board: Some(board.into()), flash_kib: None, ram_kib: None, seed: 7, keep_ram: false };
        if m.apply(&load).is_ok() && m.apply(&McuOp::McuReset {}).is_ok() {
            let _ = m.apply(&McuOp::McuRun { until: None, max: 3_000 });
        }
    }
});
