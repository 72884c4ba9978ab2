//! Checks on the microcontroller: memory words, registers, lockup.

use super::*;

crate::checks! {
    /// A check on the microcontroller.
    pub enum McuCheck (f, st, outcome) {
        /// A word of microcontroller memory (flash or RAM), `equals` or not.
        McuMem = "mcu_mem" {
            /// Address.
            addr: u32 = f.need_int("addr")?,
            /// The value to compare with.
            value: u32 = f.need_int("value")?,
            /// Whether it must equal (true) or differ (false).
            equals: bool = f.bool("equals")?.unwrap_or(true),
        }
        eval {
            let what = format!("the word at {addr:#x} {} {value:#x}", if *equals { "is" } else { "is not" });
            match st.mcu.as_deref().map(|m| m.peek(*addr)) {
                Some(Some(v)) => (what, if (v == *value) == *equals { Ok(()) } else { Err(format!("{v:#x}")) }),
                Some(None) => (what, Err("no memory there".into())),
                None => (what, Err("no microcontroller".into())),
            }
        };

        /// The word at a firmware symbol (a variable, or a linker-script name), `equals` or not.
        McuVar = "mcu_var" {
            /// The symbol.
            symbol: String = f.need_str("symbol")?,
            /// The value to compare with.
            value: u32 = f.need_int("value")?,
            /// Whether it must equal (true) or differ (false).
            equals: bool = f.bool("equals")?.unwrap_or(true),
        }
        eval {
            let what = format!("{symbol} {} {value:#x}", if *equals { "is" } else { "is not" });
            match st.mcu.as_deref() {
                Some(m) => match m.info.symbols.iter().find(|(n, _)| n == symbol).map(|(_, a)| m.peek(*a)) {
                    Some(Some(v)) => (what, if (v == *value) == *equals { Ok(()) } else { Err(format!("{v:#x}")) }),
                    Some(None) => (what, Err("no memory there".into())),
                    None => (what, Err(format!("the firmware has no symbol {symbol}"))),
                },
                None => (what, Err("no microcontroller".into())),
            }
        };

        /// What the UART has printed.
        McuConsole = "mcu_console" {
            /// The text expected.
            equals: String = f.need_str("equals")?,
        }
        eval {
            match st.mcu.as_deref() {
                Some(m) => (format!("the console shows {equals:?}"), eq(format!("{:?}", m.io.console), format!("{equals:?}"))),
                None => ("the console".into(), Err("no microcontroller".into())),
            }
        };

        /// A microcontroller register: r0-r12, sp, lr, pc.
        McuReg = "mcu_reg" {
            /// Register name.
            reg: McuRegName = f.need_choice("reg")?,
            /// Expected value.
            equals: u32 = f.need_int("equals")?,
        }
        eval {
            let what = format!("{reg} is {equals:#x}");
            match st.mcu.as_deref() {
                Some(m) => (what, eq(format!("{:#x}", m.cpu.r[reg.index()]), format!("{equals:#x}"))),
                None => (what, Err("no microcontroller".into())),
            }
        };

        /// The exception the core is handling (IPSR: 0 in thread mode, 3 HardFault, 15 SysTick).
        McuException = "mcu_exception" {
            /// Expected exception number.
            number: u32 = f.need_int("number")?,
        }
        eval {
            let what = if *number == 0 { "the core is in thread mode".to_string() } else { format!("the core is handling exception {number}") };
            match st.mcu.as_deref() {
                Some(m) => (what, eq(m.cpu.ipsr.to_string(), number.to_string())),
                None => (what, Err("no microcontroller".into())),
            }
        };

        /// Whether the core is locked up.
        McuLockup = "mcu_lockup" {
            /// Expected.
            locked: bool = f.need_bool("locked")?,
        }
        eval {
            let is = st.mcu.as_deref().is_some_and(|m| m.cpu.lockup.is_some());
            (
                format!("the core is {}", if *locked { "locked up" } else { "not locked up" }),
                if is == *locked { Ok(()) } else { Err(format!("locked = {is}")) },
            )
        };
    }
}
