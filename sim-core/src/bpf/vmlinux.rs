//! The simulated kernel's BTF: the types of the reference kernel's
//! /sys/kernel/btf/vmlinux (Linux 6.18.44, build `6.18.44-fc-v1272`) that
//! BPF objects name, with what they contain by value. `cargo xtask
//! kernel-btf` writes it (sim-core/data/README.md says how it is chosen).
//! CO-RE matches against it; ids are the real kernel's.

use super::btf::Btf;
use std::sync::OnceLock;

/// sim-core/data/vmlinux.kbtf: `KBTF`, version, count N, N original ids,
/// then a standard BTF blob.
const KBTF: &[u8] = include_bytes!("../../data/vmlinux.kbtf");

/// The kernel's BTF and, for each of its types, the id it has in the real
/// vmlinux (0 for a forward declaration the subset made).
#[derive(Debug)]
pub struct KernelBtf {
    pub(super) btf: Btf,
    ids: Vec<u32>,
}

impl KernelBtf {
    /// Reads a `.kbtf` file.
    pub(super) fn parse(d: &[u8]) -> Result<KernelBtf, String> {
        let word = |o: usize| d.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or("truncated");
        if d.get(..4) != Some(b"KBTF") || word(4)? != 1 {
            return Err("not a version 1 .kbtf file".into());
        }
        let n = word(8)? as usize;
        let ids = (0..n).map(|i| word(12 + 4 * i)).collect::<Result<Vec<u32>, _>>()?;
        let btf = Btf::parse(d.get(12 + 4 * n..).ok_or("truncated")?)?;
        if btf.len() as usize != n {
            return Err(format!("{n} ids for {} types", btf.len()));
        }
        Ok(KernelBtf { btf, ids })
    }

    /// `btf__find_by_name_kind`: the real id of the type named `name` of
    /// BTF kind `kind`.
    pub fn find(&self, name: &str, kind: u32) -> Option<u32> {
        (1..=self.btf.len())
            .find(|&i| self.btf.kind(i) == Ok(kind) && self.btf.ty(i).is_ok_and(|t| self.btf.name(t.0) == name))
            .map(|i| self.real_id(i))
    }

    /// The id a type has in the real kernel's BTF.
    pub fn real_id(&self, id: u32) -> u32 {
        if id == 0 {
            return 0;
        }
        self.ids.get(id as usize - 1).copied().unwrap_or(0)
    }
}

/// The modelled kernel's BTF, read once.
pub fn vmlinux() -> &'static KernelBtf {
    static K: OnceLock<KernelBtf> = OnceLock::new();
    K.get_or_init(|| {
        KernelBtf::parse(KBTF).expect("sim-core/data/vmlinux.kbtf is written by `cargo xtask kernel-btf` and checked by its tests")
    })
}

/// The reference kernel build's configuration (the `CONFIG_*=value` lines
/// of its /proc/config.gz), as libbpf reads it for `__kconfig` externs.
const KCONFIG: &str = include_str!("../../data/kconfig");

/// `(CONFIG_NAME, value)` for every set option of the modelled kernel.
pub fn kernel_config() -> Vec<(&'static str, &'static str)> {
    KCONFIG.lines().filter_map(|l| l.split_once('=')).collect()
}

/// libbpf's `get_kernel_version()`: `KERNEL_VERSION(major, minor, patch)`
/// of the release (`uname -r`), the patch level capped at 255.
pub fn kernel_version() -> u64 {
    let release = super::REFERENCE_KERNEL_BUILD;
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b, c) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a << 16) + (b << 8) + c.min(255)
}
