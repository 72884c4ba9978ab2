//! The page's narrator: the sentences of events, as a module of their own.
//!
//! The viewer steps through recordings whose event records stay sealed
//! (their category, what they point at and their bytes); it imports this
//! module after its first render and asks it for each event's words as the
//! event is shown. Keeping every subsystem's record types and sentences
//! here, with the Thumb interpreter that says an instruction, keeps them
//! out of the page's first download.

use std::cell::RefCell;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

/// The board's parts that do not change while a lesson runs (the
/// firmware's description, the flash and the lesson's text files), under
/// the viewer's key.
type Fixed = (u32, (String, sim_core::mcu::MemMap, Arc<sim_core::mcu::Firmware>), Arc<Vec<u8>>, Vec<(String, String)>);

thread_local! {
    static FIXED: RefCell<Option<Fixed>> = const { RefCell::new(None) };
}

/// The sentence and the mechanism of a sealed event record (`what`: its own
/// bytes, as the viewer's recording holds them), separated by U+0001.
#[wasm_bindgen]
pub fn narrate(what: &[u8]) -> String {
    let (text, mechanism) = sim_core::narrate(what, None);
    format!("{text}\u{1}{mechanism}")
}

/// The memory picture (SVG) of a scene the viewer read from the state
/// ([`pictures::memory_scene`], encoded); empty if it does not decode.
#[wasm_bindgen]
pub fn picture_memory(scene: &[u8]) -> String {
    pictures::MemoryScene::decode(scene).map(|s| pictures::memory_svg(&s)).unwrap_or_default()
}

/// The page-table walk (SVG) of a scene the viewer read from the state
/// ([`pictures::walk::walk_scene`], encoded); empty if it does not decode.
#[wasm_bindgen]
pub fn picture_walk(scene: &[u8]) -> String {
    pictures::walk::WalkScene::decode(scene).map(|s| pictures::walk::walk_svg(&s)).unwrap_or_default()
}

/// The BPF view (object graph and tables, HTML) of what the viewer read
/// from the state ([`pictures::objects::BpfTables::of`], encoded); empty if
/// it does not decode.
#[wasm_bindgen]
pub fn view_bpf(tables: &[u8]) -> String {
    pictures::objects::BpfTables::decode(tables).map(|t| pictures::objects::bpf_html(&t)).unwrap_or_default()
}

/// The Windows view (handle graph and tables, HTML) of what the viewer read
/// from the state ([`pictures::objects::NtTables::of`], encoded); empty if
/// it does not decode.
#[wasm_bindgen]
pub fn view_nt(tables: &[u8]) -> String {
    pictures::objects::NtTables::decode(tables).map(|t| pictures::objects::nt_html(&t)).unwrap_or_default()
}

/// Whether the board's fixed parts under `key` are here.
#[wasm_bindgen]
pub fn has_board(key: u32) -> bool {
    FIXED.with(|f| f.borrow().as_ref().is_some_and(|(k, ..)| *k == key))
}

/// Keeps the board's fixed parts: its preset, memory map and the
/// firmware's description (encoded together), the flash, and the lesson's
/// text files (encoded; [`pictures::mcu::text_files`]).
#[wasm_bindgen]
pub fn set_board(key: u32, info: &[u8], flash: Vec<u8>, files: &[u8]) -> Result<(), String> {
    let info = sim_core::wire::decode::<(String, sim_core::mcu::MemMap, Arc<sim_core::mcu::Firmware>)>(info).map_err(|e| e.to_string())?;
    let files = sim_core::wire::decode::<Vec<(String, String)>>(files).map_err(|e| e.to_string())?;
    FIXED.with(|f| *f.borrow_mut() = Some((key, info, Arc::new(flash), files)));
    Ok(())
}

/// The board under `key` with the core (encoded) and RAM given, and the
/// peripherals (encoded; empty for none).
fn board(key: u32, cpu: &[u8], ram: &[u8], io: &[u8]) -> Option<sim_core::mcu::McuState> {
    FIXED.with(|f| {
        let f = f.borrow();
        let (k, (board, map, info), flash, _) = f.as_ref()?;
        let cpu = sim_core::wire::decode::<sim_core::mcu::Cpu>(cpu).ok()?;
        let io = if io.is_empty() { sim_core::mcu::Io::default() } else { sim_core::wire::decode::<sim_core::mcu::Io>(io).ok()? };
        (*k == key).then(|| sim_core::mcu::McuState {
            firmware: String::new(),
            board: board.clone(),
            map: *map,
            info: info.clone(),
            flash: sim_core::mcu::Flash(flash.clone()),
            ram: sim_core::mcu::Ram::from_bytes(ram, 0),
            io,
            cpu,
        })
    })
}

/// A microcontroller record's sentence and mechanism, given the core
/// (encoded) and RAM just before it and the fixed parts kept under `key`.
#[wasm_bindgen]
pub fn narrate_mcu(what: &[u8], key: u32, cpu: &[u8], ram: Vec<u8>) -> String {
    let (text, mechanism) = sim_core::narrate(what, board(key, cpu, &ram, &[]).as_ref());
    format!("{text}\u{1}{mechanism}")
}

/// The microcontroller's view ([`pictures::mcu::mcu_html`]) of the board
/// under `key` with this step's core, RAM and peripherals (encoded), the
/// firmware's path, and `extra` ([`pictures::mcu::McuExtra`], encoded; its
/// files are those kept with the board); empty if any does not decode.
#[wasm_bindgen]
pub fn view_mcu(key: u32, cpu: &[u8], ram: Vec<u8>, io: &[u8], firmware: String, extra: &[u8]) -> String {
    let (Some(mut mcu), Ok(mut x)) = (board(key, cpu, &ram, io), pictures::mcu::McuExtra::decode(extra)) else {
        return String::new();
    };
    x.files = FIXED.with(|f| f.borrow().as_ref().map(|(.., files)| files.clone()).unwrap_or_default());
    mcu.firmware = firmware;
    pictures::mcu::mcu_html(&mcu, &x)
}
