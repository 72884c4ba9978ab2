//! `inspect`: what the loader sees in an ELF file.

use serde_json::{json, Value};
use sim_core::elf::{ElfError, ExecImage};

/// Inspects an ELF file and returns its description as JSON, or the reason
/// it cannot be read.
pub fn inspect(data: &[u8]) -> Result<Value, ElfError> {
    // Machine dispatch: x86-64 executables today; the loader for each other
    // kind of ELF names itself in its error until it exists.
    if data.len() >= 20 && &data[..4] == b"\x7fELF" {
        let machine = u16::from_le_bytes([data[18], data[19]]);
        if machine != 62 {
            return Err(ElfError::WrongMachine(machine));
        }
    }
    let image = ExecImage::parse(data, 1 << 47)?;
    Ok(json!({
        "kind": "executable",
        "type": image.e_type,
        "entry": image.entry,
        "interp": image.interp,
        "segments": image.segments,
    }))
}
