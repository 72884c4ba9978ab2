//! Tight loops in a run of instructions, found once when a run is
//! recorded, so the text trace and the page can fold them ("the loop at
//! 0x48-0x4a ran 4,999,998 more times: r0 0x4c4b3f -> 0x1") while every
//! instruction stays in the timeline, reachable by jump.

use serde::Serialize;

/// The longest loop body looked for, in instructions.
pub const LOOP_BODY: usize = 64;
/// Iterations from which a loop is folded.
pub const FOLD_FROM: usize = 4;

/// A loop: `reps` runs in a row of the same `len` instruction addresses,
/// starting at event `first` of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Loop {
    /// The event of the first instruction of the first iteration.
    pub first: usize,
    /// Instructions in one iteration.
    pub len: usize,
    /// Iterations.
    pub reps: usize,
    /// The lowest and highest instruction address in the body.
    pub lo: u32,
    /// See `lo`.
    pub hi: u32,
    /// The registers (r0-r14) that differ between the end of the first
    /// iteration and the start of the last: (register, then, later).
    pub changed: Vec<(u8, u32, u32)>,
}

crate::wire_struct! {
    Loop { first, len, reps, lo, hi, changed }
}

/// Register names, r0-r15.
pub const REG_NAMES: [&str; 16] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"];

impl Loop {
    /// The first event after the loop.
    pub fn end(&self) -> usize {
        self.first.saturating_add(self.len.saturating_mul(self.reps))
    }

    /// The events folded: every iteration but the first and the last
    /// (`first + len .. first + len * (reps - 1)`).
    pub fn folded(&self) -> std::ops::Range<usize> {
        self.first.saturating_add(self.len)..self.first.saturating_add(self.len.saturating_mul(self.reps.saturating_sub(1)))
    }

    /// Fills [`Loop::changed`] from the registers at the end of the first
    /// iteration (`then`) and at the start of the last (`later`).
    pub fn note_registers(&mut self, then: &[u32; 16], later: &[u32; 16]) {
        self.changed =
            (0..15u8).filter(|r| then[*r as usize] != later[*r as usize]).map(|r| (r, then[r as usize], later[r as usize])).collect();
    }
}

/// What the folded events did, numbered from 1: "events 5-9: the loop at
/// 0x48-0x4a (2 instructions) ran 2 more times: r0 0x4 -> 0x2".
impl std::fmt::Display for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.folded();
        write!(
            f,
            "events {}-{}: the loop at {:#x}-{:#x} ({} instruction{}) ran {} more times",
            r.start + 1,
            r.end,
            self.lo,
            self.hi,
            self.len,
            if self.len == 1 { "" } else { "s" },
            self.reps.saturating_sub(2)
        )?;
        for (i, (reg, a, b)) in self.changed.iter().enumerate() {
            let name = REG_NAMES.get(*reg as usize).copied().unwrap_or("r?");
            write!(f, "{}{name} {a:#x} -> {b:#x}", if i == 0 { ": " } else { ", " })?;
        }
        Ok(())
    }
}

/// The loops among `n` events (event `k`'s instruction address is
/// `pc(k)`, `None` for an event that is not an instruction; event `k` is
/// event `base + k` of the timeline) that run [`FOLD_FROM`] times or more:
/// at each event, the shortest body of at most [`LOOP_BODY`] instructions
/// whose addresses repeat right after it. A body of length `len` has
/// `pc(i + len) == pc(i)`, so only those lengths are tried. Registers are
/// left for the caller ([`Loop::note_registers`]).
pub fn find(n: usize, pc: impl Fn(usize) -> Option<u32>, base: usize) -> Vec<Loop> {
    let at = |k: usize| if k < n { pc(k) } else { None };
    let same = |a: usize, b: usize, len: usize| (0..len).all(|k| matches!((at(a + k), at(b + k)), (Some(x), Some(y)) if x == y));
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let Some(first) = at(i) else {
            i += 1;
            continue;
        };
        let found = (1..=LOOP_BODY).filter(|len| at(i + len) == Some(first)).find(|len| same(i, i + len, *len));
        match found {
            Some(len) => {
                let mut reps = 2;
                while same(i, i + reps * len, len) {
                    reps += 1;
                }
                if reps >= FOLD_FROM {
                    let body = || (i..i + len).filter_map(at);
                    let (lo, hi) = (body().min().unwrap_or(0), body().max().unwrap_or(0));
                    out.push(Loop { first: base + i, len, reps, lo, hi, changed: Vec::new() });
                    // The last iteration is shown, and may start another loop.
                    i += len * (reps - 1);
                } else {
                    i += 1;
                }
            }
            None => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_shortest_repeating_body_and_leaves_short_runs() {
        // 0x40, then a 2-instruction loop run 5 times, then 0x50 twice (no fold).
        let mut pcs = vec![Some(0x40)];
        for _ in 0..5 {
            pcs.extend([Some(0x44), Some(0x46)]);
        }
        pcs.extend([Some(0x50), Some(0x50), None, Some(0x60)]);
        let l = find(pcs.len(), |k| pcs[k], 10);
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!((l[0].first, l[0].len, l[0].reps, l[0].lo, l[0].hi), (11, 2, 5, 0x44, 0x46));
        assert_eq!(l[0].end(), 21);
        assert_eq!(l[0].folded(), 13..19);
        assert_eq!(l[0].to_string(), "events 14-19: the loop at 0x44-0x46 (2 instructions) ran 3 more times");
    }

    #[test]
    fn a_branch_to_itself_is_a_one_instruction_loop_with_its_registers() {
        let pcs = [Some(0x80); 9];
        let mut l = find(pcs.len(), |k| pcs[k], 0).remove(0);
        assert_eq!((l.len, l.reps), (1, 9));
        let mut later = [0u32; 16];
        later[3] = 7;
        l.note_registers(&[0; 16], &later);
        assert_eq!(l.to_string(), "events 2-8: the loop at 0x80-0x80 (1 instruction) ran 7 more times: r3 0x0 -> 0x7");
    }
}
