//! Any bytes as ARM firmware: the reader, then flash, reset and a short run.
#![no_main]
use sim_core::{McuOp};
use libfuzzer_sys::fuzz_target;
use sim_core::{Config, Machine};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let _ = sim_core::mcu::Firmware::parse(data);
    let mut m = Machine::new(&Config::default());
    m.install_file("/fw", Arc::from(data));
    if let Ok(a) = m.apply(&McuOp::McuLoad { path: "/fw".into(), board: None, flash_kib: None, ram_kib: None, seed: 1, keep_ram: false }) {
        if a.outcome == sim_core::Outcome::Ok && m.apply(&McuOp::McuReset {}).is_ok() {
            let _ = m.apply(&McuOp::McuRun { until: None, max: 2_000 });
        }
    }
});
