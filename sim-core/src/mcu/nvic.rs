//! The NVIC and the System Control Block's exception registers: which
//! exceptions are enabled, pending and active, their priorities, and which
//! one the core takes next (ARMv7-M Architecture Reference Manual, B1.5
//! "ARMv7-M exception model" and B3.4 "Nested Vectored Interrupt
//! Controller"; ARMv6-M B1.5 and B3.4 for the Cortex-M0/M0+).
//!
//! Modelled: NVIC_ISER/ICER/ISPR/ICPR/IABR/IPR, STIR, ICSR's set/clear-pending
//! bits and VECTACTIVE/VECTPENDING/ISRPENDING/RETTOBASE, AIRCR.PRIGROUP,
//! SHPR1-3; the execution priority (active exceptions, PRIMASK, FAULTMASK,
//! BASEPRI) and preemption by group priority. A pended exception is taken
//! at the next instruction boundary (as after the DSB; ISB that CMSIS puts
//! after pending one). Not modelled: tail-chaining and late arrival as
//! timing (an exception pending at a return is taken right after the
//! unstacking, with the same frame the hardware would keep), and
//! AIRCR.SYSRESETREQ.

use super::MemMap;
use serde::{Deserialize, Serialize};

/// Exception numbers the model keeps: 16 system ones and up to 112 IRQs.
pub const EXCEPTIONS: u32 = 128;

/// Exception states, by exception number n (bit n % 32 of word n / 32):
/// 14 PendSV, 15 SysTick, 16 + k IRQ k.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nvic {
    /// Enabled (IRQs only; the system exceptions are always enabled).
    pub enabled: [u32; 4],
    /// Pending.
    pub pending: [u32; 4],
    /// Active (entered and not yet returned from; nested ones too).
    pub active: [u32; 4],
    /// Priority bytes, four per word as SHPR1-3 and NVIC_IPR lay them out:
    /// word 1 is SHPR1 (exceptions 4-7), 3 is SHPR3 (12-15), 4 is IPR0 (IRQs 0-3).
    pub prio: [u32; 32],
    /// AIRCR.PRIGROUP (ARMv7-M): priority bits [PRIGROUP:0] are subpriority.
    pub prigroup: u8,
}

crate::wire_struct! {
    Nvic { enabled, pending, active, prio, prigroup }
}

fn bit(set: &[u32; 4], e: u32) -> bool {
    e < EXCEPTIONS && set[(e / 32) as usize] & (1 << (e % 32)) != 0
}

fn put(set: &mut [u32; 4], e: u32, on: bool) {
    if e < EXCEPTIONS {
        let w = &mut set[(e / 32) as usize];
        if on {
            *w |= 1 << (e % 32);
        } else {
            *w &= !(1 << (e % 32));
        }
    }
}

/// The exceptions in `set`, lowest number first.
fn members(set: &[u32; 4]) -> impl Iterator<Item = u32> + '_ {
    (0..4u32).flat_map(move |w| {
        let mut bits = set[w as usize];
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                32 * w + b
            })
        })
    })
}

/// An exception's name as the manuals write it.
pub fn exception_name(e: u32) -> String {
    match e {
        1 => "Reset".into(),
        2 => "NMI".into(),
        3 => "HardFault".into(),
        4 => "MemManage".into(),
        5 => "BusFault".into(),
        6 => "UsageFault".into(),
        11 => "SVCall".into(),
        12 => "DebugMonitor".into(),
        14 => "PendSV".into(),
        15 => "SysTick".into(),
        n if n >= 16 => format!("IRQ {}", n - 16),
        n => format!("exception {n}"),
    }
}

/// A priority as the manuals and CMSIS write it: 0x40; -1 for HardFault's
/// fixed one; 256 for thread mode's execution priority with nothing active.
pub fn priority_text(p: i32) -> String {
    match p {
        256 => "256 (thread mode, nothing active)".into(),
        p if p < 0 => p.to_string(),
        p => format!("{p:#x}"),
    }
}

/// What pends `e` when nothing writes it, for narration.
pub fn pended_by(e: u32) -> &'static str {
    match e {
        15 => " (the counter reached 0 with TICKINT set)",
        _ => "",
    }
}

/// Where the registers are.
const ICTR: u32 = 0xE000_E004;
const ISER: u32 = 0xE000_E100;
const ICER: u32 = 0xE000_E180;
const ISPR: u32 = 0xE000_E200;
const ICPR: u32 = 0xE000_E280;
const IABR: u32 = 0xE000_E300;
const IPR: u32 = 0xE000_E400;
const ICSR: u32 = 0xE000_ED04;
const AIRCR: u32 = 0xE000_ED0C;
const SHPR1: u32 = 0xE000_ED18;
const SHPR3: u32 = 0xE000_ED20;
const STIR: u32 = 0xE000_EF00;

/// The name of the NVIC or SCB register at word `addr`, if it is one of these.
pub fn register_name(addr: u32) -> Option<String> {
    let n = |base: u32| (addr - base) / 4;
    Some(match addr {
        ICTR => "ICTR".into(),
        ISER..ICER => format!("NVIC_ISER{}", n(ISER)),
        ICER..ISPR => format!("NVIC_ICER{}", n(ICER)),
        ISPR..ICPR => format!("NVIC_ISPR{}", n(ISPR)),
        ICPR..IABR => format!("NVIC_ICPR{}", n(ICPR)),
        IABR..0xE000_E380 => format!("NVIC_IABR{}", n(IABR)),
        IPR..0xE000_E5F0 => format!("NVIC_IPR{}", n(IPR)),
        ICSR => "SCB ICSR".into(),
        AIRCR => "SCB AIRCR".into(),
        SHPR1..=SHPR3 => format!("SCB SHPR{}", n(SHPR1) + 1),
        STIR => "STIR".into(),
        _ => return None,
    })
}

impl Nvic {
    /// Whether anything is pending (a cheap test before each instruction).
    pub fn any_pending(&self) -> bool {
        self.pending != [0; 4]
    }

    /// The active exceptions, lowest number first.
    pub fn active_list(&self) -> Vec<u32> {
        members(&self.active).collect()
    }

    /// The pending exceptions (an IRQ also when disabled), lowest number first.
    pub fn pending_list(&self) -> Vec<u32> {
        members(&self.pending).collect()
    }

    /// Whether `e` is pending.
    pub fn is_pending(&self, e: u32) -> bool {
        bit(&self.pending, e)
    }

    /// Pends `e` (a set-pending write, SysTick reaching 0, STIR).
    pub fn set_pending(&mut self, e: u32) {
        put(&mut self.pending, e, true);
    }

    /// Enters `e`: no longer pending, now active.
    pub fn activate(&mut self, e: u32) {
        put(&mut self.pending, e, false);
        put(&mut self.active, e, true);
    }

    /// Returns from `e`.
    pub fn deactivate(&mut self, e: u32) {
        put(&mut self.active, e, false);
    }

    /// The priority of `e`: Reset -3, NMI -2, HardFault -1 (fixed), else
    /// its programmed byte (0 from reset).
    pub fn priority(&self, e: u32) -> i16 {
        match e {
            0..=1 => -3,
            2 => -2,
            3 => -1,
            e if e < EXCEPTIONS => ((self.prio[(e / 4) as usize] >> (8 * (e % 4))) & 0xff) as i16,
            _ => 256,
        }
    }

    /// The group priority of priority `p` (B1.5.4: the bits above PRIGROUP).
    pub fn group(&self, p: i16) -> i16 {
        if p < 0 {
            p
        } else {
            p & !((2i16 << self.prigroup) - 1)
        }
    }

    /// The execution priority (B1.5.4, ExecutionPriority()): the highest
    /// group priority of the active exceptions (256 in thread mode with
    /// none), boosted by PRIMASK to 0, FAULTMASK to -1 and BASEPRI to its
    /// group priority.
    pub fn execution_priority(&self, primask: bool, faultmask: bool, basepri: u8) -> i16 {
        let mut p = members(&self.active).map(|e| self.group(self.priority(e))).min().unwrap_or(256);
        if basepri != 0 {
            p = p.min(self.group(i16::from(basepri)));
        }
        if primask {
            p = p.min(0);
        }
        if faultmask {
            p = p.min(-1);
        }
        p
    }

    /// The highest-priority pending exception (lowest priority value, then
    /// lowest number; an IRQ only when enabled), whatever the execution
    /// priority: ICSR.VECTPENDING.
    pub fn highest_pending(&self) -> Option<u32> {
        members(&self.pending).filter(|e| *e < 16 || bit(&self.enabled, *e)).min_by_key(|e| (self.priority(*e), *e))
    }

    /// The exception taken next at execution priority `exec`: the highest
    /// pending one if its group priority is higher (numerically lower).
    pub fn preempting(&self, exec: i16) -> Option<u32> {
        self.highest_pending().filter(|e| self.group(self.priority(*e)) < exec)
    }

    /// Whether exception `e` could preempt at execution priority `exec`.
    pub fn can_preempt(&self, e: u32, exec: i16) -> bool {
        self.group(self.priority(e)) < exec
    }

    /// A read of `size` bytes at `addr` from these registers, if it is one;
    /// `ipsr` is the exception being handled.
    pub fn read(&self, addr: u32, size: u32, map: &MemMap, ipsr: u32) -> Option<u32> {
        let word = addr & !3;
        let v7 = map.core.v7();
        let irqs = u32::from(map.irqs);
        let irq_bits = |set: &[u32; 4], k: u32| -> u32 {
            (0..32).filter(|b| 32 * k + b < irqs && bit(set, 16 + 32 * k + b)).fold(0, |a, b| a | 1 << b)
        };
        let v = match word {
            ICTR if v7 => irqs.div_ceil(32).saturating_sub(1),
            ISER..ICER => irq_bits(&self.enabled, (word - ISER) / 4),
            ICER..ISPR => irq_bits(&self.enabled, (word - ICER) / 4),
            ISPR..ICPR => irq_bits(&self.pending, (word - ISPR) / 4),
            ICPR..IABR => irq_bits(&self.pending, (word - ICPR) / 4),
            IABR..0xE000_E380 if v7 => irq_bits(&self.active, (word - IABR) / 4),
            IPR..0xE000_E5F0 => {
                let first = 16 + 4 * ((word - IPR) / 4);
                if first - 16 >= irqs {
                    0
                } else {
                    self.prio.get((first / 4) as usize).copied().unwrap_or(0)
                }
            }
            ICSR => {
                let pending = self.highest_pending().unwrap_or(0);
                let isr = members(&self.pending).any(|e| e >= 16);
                // RETTOBASE: no active exception but the one handled. In
                // thread mode the manual leaves it UNKNOWN; QEMU (the
                // oracle) sets it there too, as this does.
                let rettobase = members(&self.active).count() <= 1;
                ipsr | u32::from(v7 && rettobase) << 11
                    | (pending & 0x1ff) << 12
                    | u32::from(isr) << 22
                    | u32::from(self.is_pending(15)) << 26
                    | u32::from(self.is_pending(14)) << 28
                    | u32::from(self.is_pending(2)) << 31
            }
            AIRCR => 0xFA05_0000 | if v7 { u32::from(self.prigroup) << 8 } else { 0 },
            SHPR1 if v7 => self.prio[1],
            0xE000_ED1C | SHPR3 => self.prio[((word - SHPR1) / 4 + 1) as usize],
            _ => return None,
        };
        let shift = (addr & 3) * 8;
        Some((v >> shift) & super::thumb::mask(size))
    }

    /// A write of the low `size` bytes of `value` at `addr`, if it is one of
    /// these registers (else false). Priorities keep the board's implemented
    /// bits (the top `prio_bits`; the rest read as zero); on ARMv6-M the
    /// priority registers take words only.
    pub fn write(&mut self, addr: u32, size: u32, value: u32, map: &MemMap) -> bool {
        let word = addr & !3;
        let v7 = map.core.v7();
        let irqs = u32::from(map.irqs);
        let prio_mask = (0xffu32 << (8 - u32::from(map.prio_bits.min(8)))) & 0xff;
        let irq_set = |set: &mut [u32; 4], k: u32, on: bool| {
            for b in (0..32).filter(|b| value & (1 << b) != 0 && 32 * k + b < irqs) {
                put(set, 16 + 32 * k + b, on);
            }
        };
        match word {
            ISER..ICER if size == 4 => irq_set(&mut self.enabled, (word - ISER) / 4, true),
            ICER..ISPR if size == 4 => irq_set(&mut self.enabled, (word - ICER) / 4, false),
            ISPR..ICPR if size == 4 => irq_set(&mut self.pending, (word - ISPR) / 4, true),
            ICPR..IABR if size == 4 => irq_set(&mut self.pending, (word - ICPR) / 4, false),
            IPR..0xE000_E5F0 | SHPR1..=SHPR3 if size == 4 || v7 => {
                let first = if word < SHPR1 { 16 + (word - IPR) } else { 4 * ((word - SHPR1) / 4 + 1) };
                let Some(&old) = self.prio.get((first / 4) as usize) else {
                    return true;
                };
                // The system exceptions with a programmable priority: 4-6
                // (ARMv7-M), 11, 12 (ARMv7-M), 14, 15.
                let programmable = |e: u32| {
                    if e >= 16 {
                        e - 16 < irqs
                    } else {
                        matches!(e, 11 | 14 | 15) || (v7 && matches!(e, 4..=6 | 12))
                    }
                };
                let shift = (addr & 3) * 8;
                let bytes = super::thumb::mask(size) << shift;
                let mut w = old;
                for k in 0..4 {
                    let lane = 0xffu32 << (8 * k);
                    if bytes & lane != 0 && programmable(first + k) {
                        w = (w & !lane) | (((value << shift) >> (8 * k)) & prio_mask) << (8 * k);
                    }
                }
                self.prio[(first / 4) as usize] = w;
            }
            ICSR if size == 4 => {
                if value & (1 << 31) != 0 {
                    self.set_pending(2);
                }
                if value & (1 << 28) != 0 {
                    self.set_pending(14);
                } else if value & (1 << 27) != 0 {
                    put(&mut self.pending, 14, false);
                }
                if value & (1 << 26) != 0 {
                    self.set_pending(15);
                } else if value & (1 << 25) != 0 {
                    put(&mut self.pending, 15, false);
                }
            }
            // Written only with VECTKEY 0x05FA in the top half.
            AIRCR if size == 4 => {
                if value >> 16 == 0x05FA && v7 {
                    self.prigroup = ((value >> 8) & 7) as u8;
                }
            }
            STIR if v7 && size == 4 => {
                if value & 0x1ff < irqs {
                    self.set_pending(16 + (value & 0x1ff));
                }
            }
            ICTR | IABR..0xE000_E380 => {}
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(core: super::super::Core, prio_bits: u8) -> MemMap {
        MemMap { core, flash_base: 0, alias_zero: false, ram_base: 0x2000_0000, vectors: 0, irqs: 32, prio_bits }
    }

    #[test]
    fn priorities_keep_the_implemented_bits_and_armv6m_takes_words_only() {
        let m0 = map(super::super::Core::M0, 2);
        let mut n = Nvic::default();
        assert!(n.write(IPR, 4, 0xffff_ff7f, &m0));
        assert_eq!(n.read(IPR, 4, &m0, 0), Some(0xc0c0_c040), "the top 2 bits of each byte");
        // A byte write to IPR is not an ARMv6-M access: left alone.
        assert!(!n.write(IPR + 1, 1, 0, &m0));
        assert_eq!(n.priority(16), 0x40);
        // SHPR3: PendSV and SysTick; the reserved bytes read as zero.
        assert!(n.write(SHPR3, 4, 0xffff_ffff, &m0));
        assert_eq!(n.read(SHPR3, 4, &m0, 0), Some(0xc0c0_0000));
        // No STIR and no PRIGROUP on ARMv6-M.
        assert!(!n.write(STIR, 4, 3, &m0));
        n.write(AIRCR, 4, 0x05fa_0700, &m0);
        assert_eq!(n.prigroup, 0);
    }

    #[test]
    fn preemption_is_by_group_priority_and_masks_boost_the_execution_priority() {
        let m3 = map(super::super::Core::M3, 3);
        let mut n = Nvic::default();
        n.write(IPR, 4, 0x0000_4020, &m3); // IRQ0 0x20, IRQ1 0x40
        n.write(ISER, 4, 3, &m3);
        n.write(ISPR, 4, 2, &m3);
        assert_eq!(n.preempting(256), Some(17));
        assert_eq!(n.preempting(n.execution_priority(true, false, 0)), None, "PRIMASK");
        assert_eq!(n.preempting(n.execution_priority(false, false, 0x40)), None, "BASEPRI 0x40 masks priority 0x40");
        n.activate(17);
        n.write(STIR, 4, 0, &m3);
        assert_eq!(n.preempting(n.execution_priority(false, false, 0)), Some(16), "0x20 preempts 0x40");
        // PRIGROUP 6: bits [6:0] are subpriority, so both are group 0.
        n.write(AIRCR, 4, 0x05fa_0600, &m3);
        assert_eq!(n.preempting(n.execution_priority(false, false, 0)), None);
        assert_eq!(n.highest_pending(), Some(16));
        // A disabled IRQ is pending but not taken.
        n.write(ICER, 4, 1, &m3);
        assert_eq!((n.highest_pending(), n.read(ISPR, 4, &m3, 17)), (None, Some(1)));
    }
}
