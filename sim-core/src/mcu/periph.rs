//! Peripherals enough to boot: a small table per board of the registers
//! that startup code and a first program touch (clock control, flash wait
//! states, GPIO, a UART's data and status registers), and the SysTick
//! timer every Cortex-M core has. A register in the table reads its value
//! (its reset value until written); a clock-control register whose enable
//! bits are set reports the matching "ready" bits at once, as if each
//! oscillator and PLL settled instantly, so a vendor SystemInit that polls
//! them reaches main. Any other address in the peripheral region
//! (0x40000000-0x5fffffff) or the system region reads as 0 and ignores
//! writes: not modelled, as QEMU treats its unimplemented devices.

use super::*;

/// How a register behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// It holds what is written.
    Plain,
    /// Clock control: for each (enable bit, ready bit), the ready bit reads
    /// as the enable bit (the oscillator or PLL is ready at once).
    Ready(&'static [(u32, u32)]),
    /// A clock configuration register whose status field (SWS, bits 3:2)
    /// reads as the switch field written (SW, bits 1:0).
    Switch,
    /// A GPIO bit set/reset register (`BSRR`): writing sets the low 16 bits
    /// of the output register at `odr` and clears the high 16.
    SetReset {
        /// The output data register.
        odr: u32,
    },
    /// A UART's transmit data register: each byte written goes to the console.
    UartData,
    /// A status register that always reads `value` (a transmitter that is always ready).
    Fixed(u32),
}

/// One register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Register {
    /// Its address.
    pub addr: u32,
    /// Its name in the vendor's reference manual (`RCC_CR`).
    pub name: &'static str,
    /// Its value after reset.
    pub reset: u32,
    /// How it behaves.
    pub behaviour: Behaviour,
}

const fn reg(addr: u32, name: &'static str, reset: u32, behaviour: Behaviour) -> Register {
    Register { addr, name, reset, behaviour }
}

use Behaviour::*;

/// STM32F1 (RM0008, the STM32F10x reference manual): RCC_CR with HSION/HSIRDY set
/// from reset, HSEON (16) -> HSERDY (17), PLLON (24) -> PLLRDY (25).
const STM32F1: &[Register] = &[
    reg(0x4002_1000, "RCC_CR", 0x0000_0083, Ready(&[(1 << 16, 1 << 17), (1 << 24, 1 << 25), (1, 2)])),
    reg(0x4002_1004, "RCC_CFGR", 0, Switch),
    reg(0x4002_1008, "RCC_CIR", 0, Plain),
    reg(0x4002_1014, "RCC_AHBENR", 0x0000_0014, Plain),
    reg(0x4002_1018, "RCC_APB2ENR", 0, Plain),
    reg(0x4002_101c, "RCC_APB1ENR", 0, Plain),
    reg(0x4002_2000, "FLASH_ACR", 0x0000_0030, Plain),
    reg(0x4001_0800, "GPIOA_CRL", 0x4444_4444, Plain),
    reg(0x4001_0804, "GPIOA_CRH", 0x4444_4444, Plain),
    reg(0x4001_080c, "GPIOA_ODR", 0, Plain),
    reg(0x4001_0810, "GPIOA_BSRR", 0, SetReset { odr: 0x4001_080c }),
    reg(0x4001_1000, "GPIOC_CRL", 0x4444_4444, Plain),
    reg(0x4001_1004, "GPIOC_CRH", 0x4444_4444, Plain),
    reg(0x4001_100c, "GPIOC_ODR", 0, Plain),
    reg(0x4001_1010, "GPIOC_BSRR", 0, SetReset { odr: 0x4001_100c }),
    reg(0x4001_3800, "USART1_SR", 0x0000_00c0, Fixed(0x0000_00c0)),
    reg(0x4001_3804, "USART1_DR", 0, UartData),
    reg(0x4001_380c, "USART1_CR1", 0, Plain),
];

/// STM32F405/407 (RM0090, the STM32F4 reference manual): RCC_CR HSEON (16) -> HSERDY (17),
/// PLLON (24) -> PLLRDY (25); RCC_CFGR SW -> SWS.
const STM32F4: &[Register] = &[
    reg(0x4002_3800, "RCC_CR", 0x0000_0083, Ready(&[(1 << 16, 1 << 17), (1 << 24, 1 << 25), (1 << 26, 1 << 27), (1, 2)])),
    reg(0x4002_3804, "RCC_PLLCFGR", 0x2400_3010, Plain),
    reg(0x4002_3808, "RCC_CFGR", 0, Switch),
    reg(0x4002_380c, "RCC_CIR", 0, Plain),
    reg(0x4002_3830, "RCC_AHB1ENR", 0x0010_0000, Plain),
    reg(0x4002_3840, "RCC_APB1ENR", 0, Plain),
    reg(0x4002_3c00, "FLASH_ACR", 0, Plain),
    reg(0x4000_7000, "PWR_CR", 0x0000_4000, Plain),
    reg(0x4002_0c00, "GPIOD_MODER", 0, Plain),
    reg(0x4002_0c14, "GPIOD_ODR", 0, Plain),
    reg(0x4002_0c18, "GPIOD_BSRR", 0, SetReset { odr: 0x4002_0c14 }),
    reg(0x4000_4400, "USART2_SR", 0x0000_00c0, Fixed(0x0000_00c0)),
    reg(0x4000_4404, "USART2_DR", 0, UartData),
];

/// LM3S6965 (its datasheet's System Control and UART chapters): SYSCTL RIS reports the PLL locked;
/// UART0's data register and its flag register (TXFF clear: never full).
const LM3S6965: &[Register] = &[
    // Reset value 0; held at PLLLRIS (bit 6): the PLL locks at once.
    reg(0x400f_e050, "SYSCTL_RIS", 0, Fixed(0x0000_0040)),
    reg(0x400f_e060, "SYSCTL_RCC", 0x078e_3ad1, Plain),
    reg(0x400f_e070, "SYSCTL_RCC2", 0x0780_2810, Plain),
    reg(0x4000_c000, "UART0_DR", 0, UartData),
    reg(0x4000_c018, "UART0_FR", 0x0000_0090, Fixed(0x0000_0090)),
];

/// nRF51 and nRF52 (reference manual / product specification, GPIO and
/// UART): P0's OUT and DIR; UART0's TXD.
const NRF: &[Register] =
    &[reg(0x5000_0504, "P0_OUT", 0, Plain), reg(0x5000_0514, "P0_DIR", 0, Plain), reg(0x4000_251c, "UART0_TXD", 0, UartData)];

/// RP2040 (its datasheet's SIO and UART chapters): SIO's GPIO_OUT and GPIO_OE; UART0's UARTDR and UARTFR.
const RP2040: &[Register] = &[
    reg(0xd000_0010, "SIO_GPIO_OUT", 0, Plain),
    reg(0xd000_0020, "SIO_GPIO_OE", 0, Plain),
    reg(0x4003_4000, "UART0_UARTDR", 0, UartData),
    reg(0x4003_4018, "UART0_UARTFR", 0x0000_0090, Fixed(0x0000_0090)),
];

/// SysTick (ARMv6-M and ARMv7-M, B3.3): SYST_CSR, SYST_RVR, SYST_CVR,
/// SYST_CALIB. Its counter is computed from the instructions executed.
pub const SYST_CSR: u32 = 0xe000_e010;
/// The reload value register.
pub const SYST_RVR: u32 = 0xe000_e014;
/// The current value register.
pub const SYST_CVR: u32 = 0xe000_e018;

/// The board's register table.
pub fn registers(board: &str) -> &'static [Register] {
    match board {
        "stm32f103" => STM32F1,
        "stm32f4" => STM32F4,
        "lm3s6965" => LM3S6965,
        "microbit" | "nrf52840" => NRF,
        "rp2040" => RP2040,
        _ => &[],
    }
}

/// A register by address on a board.
pub fn register(board: &str, addr: u32) -> Option<&'static Register> {
    registers(board).iter().find(|r| r.addr == addr)
}

/// The SysTick registers' names.
pub fn systick_name(addr: u32) -> Option<&'static str> {
    match addr {
        SYST_CSR => Some("SYST_CSR"),
        SYST_RVR => Some("SYST_RVR"),
        SYST_CVR => Some("SYST_CVR"),
        0xe000_e01c => Some("SYST_CALIB"),
        _ => None,
    }
}

/// Whether an address is in the peripheral or system regions of the
/// ARMv6-M/ARMv7-M default memory map (device memory, not flash or RAM).
pub fn device(addr: u32) -> bool {
    (0x4000_0000..0x6000_0000).contains(&addr) || addr >= 0xa000_0000
}

/// The SysTick timer's state, kept with the core.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysTick {
    /// SYST_CSR: ENABLE (bit 0), TICKINT (1), CLKSOURCE (2), COUNTFLAG (16).
    pub csr: u32,
    /// SYST_RVR: the reload value.
    pub rvr: u32,
    /// The instruction count at which the counter was last loaded.
    pub epoch: u64,
    /// The value it was loaded with.
    pub start: u32,
}

impl SysTick {
    /// SYST_CVR at `steps` instructions: one count per instruction
    /// executed (a simplification: a real core counts clock cycles, and
    /// most instructions take one or more). From `start` it counts down to
    /// 0, then reloads from RVR.
    pub fn cvr(&self, steps: u64) -> u32 {
        if self.csr & 1 == 0 {
            return self.start;
        }
        let t = steps.saturating_sub(self.epoch);
        if t <= u64::from(self.start) {
            return self.start - t as u32;
        }
        let period = u64::from(self.rvr) + 1;
        let after = (t - u64::from(self.start) - 1) % period;
        self.rvr - after as u32
    }

    /// Whether the counter reaches 0 at exactly `steps` (the moment
    /// COUNTFLAG is set and, with TICKINT, the exception pends): `start`
    /// counts after the epoch, then every RVR + 1 (a counter at 0 reloads
    /// on the next count, so from 0 the first zero is RVR + 1 later).
    pub fn wraps_at(&self, steps: u64) -> bool {
        if self.csr & 1 == 0 || self.rvr == 0 {
            return false;
        }
        let t = steps.saturating_sub(self.epoch);
        if t == 0 || t < u64::from(self.start) {
            return false;
        }
        (t - u64::from(self.start)) % (u64::from(self.rvr) + 1) == 0
    }

    /// Counts until the counter next reaches 0 after `steps` (None when
    /// the timer cannot interrupt: disabled, TICKINT clear or RVR 0).
    pub fn until_zero(&self, steps: u64) -> Option<u64> {
        if self.csr & 3 != 3 || self.rvr == 0 {
            return None;
        }
        let t = steps.saturating_sub(self.epoch);
        let start = u64::from(self.start);
        let period = u64::from(self.rvr) + 1;
        let next = if t < start { start } else { start + ((t - start) / period + 1) * period };
        Some(next - t)
    }
}

/// What the core's peripherals hold: every register written (unwritten
/// ones read their reset value) and what the UART printed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Io {
    /// Register values by address.
    pub regs: OrdMap<u32, u32>,
    /// The UART's output.
    pub console: String,
}

/// A peripheral register's value as a load sees it.
pub(super) fn read_register(board: &str, io: &Io, addr: u32) -> Option<u32> {
    let r = register(board, addr)?;
    let v = io.regs.get(&addr).copied().unwrap_or(r.reset);
    Some(match r.behaviour {
        Plain | SetReset { .. } | UartData => v,
        Ready(pairs) => pairs.iter().fold(v, |v, (on, ready)| if v & on != 0 { v | ready } else { v & !ready }),
        Switch => (v & !0xc) | ((v & 3) << 2),
        Fixed(x) => x,
    })
}

/// What a store to a peripheral register changes: (address, new value)
/// pairs, and a byte for the console.
pub(super) fn write_register(board: &str, io: &Io, addr: u32, value: u32) -> (Vec<(u32, u32)>, Option<u8>) {
    let Some(r) = register(board, addr) else { return (Vec::new(), None) };
    match r.behaviour {
        SetReset { odr } => {
            let old = read_register(board, io, odr).unwrap_or(0);
            (vec![(odr, (old | (value & 0xffff)) & !(value >> 16))], None)
        }
        UartData => (Vec::new(), Some(value as u8)),
        Fixed(_) => (Vec::new(), None),
        Plain | Ready(_) | Switch => (vec![(addr, value)], None),
    }
}

crate::wire_struct! {
    SysTick { csr, rvr, epoch, start }
    Io { regs, console }
}
