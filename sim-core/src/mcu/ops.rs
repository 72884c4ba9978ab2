//! The board operations a lesson applies, each declared once.

use super::{Ctx, Outcome, R};

crate::operations! {
    /// An operation on the microcontroller.
    pub enum McuOp (f, k: Ctx<'_>) -> R<Outcome> {
        /// Program a firmware ELF into a microcontroller's flash and power it on.
        McuLoad = "mcu_load" {
            /// The firmware file.
            path: String = f.need_str("path")?,
            /// The board preset (`microbit`, `rp2040`, `lm3s6965`, `stm32f103`,
            /// `nrf52840`, `stm32f4`); the first one the firmware fits when absent.
            board: Option<String> = f.one_of("board", &super::BOARDS.iter().map(|b| b.id).collect::<Vec<_>>(), "a board preset")?,
            /// Flash size in KiB, instead of the board's.
            flash_kib: Option<u32> = f.int("flash_kib")?,
            /// RAM size in KiB, instead of the board's.
            ram_kib: Option<u32> = f.int("ram_kib")?,
            /// Seed of the RAM's power-up garbage.
            seed: u64 = f.u64("seed")?.unwrap_or(1),
            /// Reflash without a power cycle (a debugger's `load` and reset):
            /// RAM keeps what the last program left in it.
            keep_ram: bool = f.bool("keep_ram")?.unwrap_or(false),
        }
        pid None;
        describe match (board, keep_ram) {
            (_, true) => format!("flash {path} without a power cycle"),
            (Some(b), false) => format!("flash {path} into the {b} board and power on"),
            (None, false) => format!("flash {path} and power on"),
        };
        apply k.mcu_load(path, board.as_deref(), *flash_kib, *ram_kib, *seed, *keep_ram);

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
