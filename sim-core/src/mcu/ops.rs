//! The board operations a lesson applies, each declared once.

use super::{Ctx, Outcome, R};

crate::operations! {
    /// An operation on the microcontroller.
    pub enum McuOp (f, k: Ctx<'_>) -> R<Outcome> {
        /// Program a firmware ELF into a microcontroller's flash and power it on.
        McuLoad = "mcu_load" {
            /// The firmware file.
            path: String = f.need_str("path")?,
            /// Flash size in KiB.
            flash_kib: u32 = f.int("flash_kib")?.unwrap_or(256),
            /// RAM size in KiB.
            ram_kib: u32 = f.int("ram_kib")?.unwrap_or(16),
            /// Seed of the RAM's power-up garbage.
            seed: u64 = f.u64("seed")?.unwrap_or(1),
        }
        pid None;
        describe format!("flash {path} and power on");
        apply k.mcu_load(path, *flash_kib, *ram_kib, *seed);

        /// Reprogram one word of flash.
        McuWriteFlash = "mcu_write_flash" {
            /// Word address.
            addr: u32 = f.need_int("addr")?,
            /// New value.
            value: u32 = f.need_int("value")?,
        }
        pid None;
        describe format!("reprogram flash word {addr:#x} = {value:#010x}");
        apply k.mcu_write_flash(*addr, *value);

        /// Reset the core: SP and PC from the vector table.
        McuReset = "mcu_reset" {}
        pid None;
        describe "reset".to_string();
        apply k.mcu_reset();

        /// Run instructions until PC reaches `until` (a symbol or an address), or
        /// until the program idles in a branch-to-self loop.
        McuRun = "mcu_run" {
            /// Where to stop.
            until: Option<String> = f.str("until")?,
            /// At most this many instructions.
            max: u64 = f.u64("max")?.unwrap_or(10_000),
        }
        pid None;
        describe match until {
            Some(u) => format!("run until {u} (at most {max} instructions)"),
            None => format!("run until the program idles (at most {max} instructions)"),
        };
        apply k.mcu_run(until.as_deref(), *max);
    }
}
