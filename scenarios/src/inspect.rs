//! `inspect`: what the loader sees in an ELF file.

use serde_json::{json, Value};
use sim_core::linux::elf::{ElfError, ExecImage};
use sim_core::mcu::{Firmware, FirmwareError};
use thiserror::Error;

/// Why a file cannot be inspected.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum InspectError {
    /// An executable the exec loader refuses.
    #[error("{0}")]
    Elf(#[from] ElfError),
    /// A firmware image the microcontroller loader refuses.
    #[error("{0}")]
    Firmware(#[from] FirmwareError),
    /// A BPF object libbpf would refuse.
    #[error("libbpf: {0}")]
    Bpf(#[from] sim_core::bpf::BpfObjectError),
}

/// Firmware (ARM): its architecture (`Tag_CPU_arch`), the board preset it
/// fits first (or why none), sections with VMA and LMA, the startup
/// symbols and data objects, and whether it has a line table.
fn firmware(data: &[u8]) -> Result<Value, InspectError> {
    let fw = Firmware::parse(data)?;
    let symbols: serde_json::Map<String, Value> = fw.symbols.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
    let board = match sim_core::mcu::pick(&fw, None, None) {
        Ok((b, _)) => json!(b.id),
        Err(why) => json!({ "none": why.iter().map(|(b, e)| format!("{b}: {e}")).collect::<Vec<_>>() }),
    };
    Ok(json!({
        "kind": "firmware",
        "entry": fw.entry,
        "arch": fw.arch.map(|a| a.name()),
        "board": board,
        "sections": fw.sections,
        "symbols": symbols,
        "line_table_rows": fw.lines.len(),
    }))
}

/// Inspects an ELF file and returns its description as JSON, or the reason
/// it cannot be read.
pub fn inspect(data: &[u8]) -> Result<Value, InspectError> {
    // Machine dispatch: x86-64 executables today; the loader for each other
    // kind of ELF names itself in its error until it exists.
    if data.len() >= 20 && &data[..4] == b"\x7fELF" {
        let machine = u16::from_le_bytes([data[18], data[19]]);
        if machine == 40 {
            return firmware(data);
        }
        if machine == 247 {
            let o = sim_core::bpf::BpfObject::parse(data)?;
            let mut v =
                json!({ "kind": "bpf_object", "maps": o.maps, "programs": o.programs, "relocations": o.relocations, "license": o.license });
            if !o.struct_ops.is_empty() {
                v["struct_ops"] = json!(o.struct_ops);
            }
            return Ok(v);
        }
        if machine != 62 {
            return Err(InspectError::Elf(ElfError::WrongMachine(machine)));
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
