#!/usr/bin/env python3
"""Which BPF helpers the running kernel's verifier lets each program type
call: for every (program type, helper id) it loads `call HELPER; r0 = 0;
exit` with bpf(BPF_PROG_LOAD) and reads the verifier's log. "unknown func"
or "cannot use helper" means refused; any other outcome (loaded, or a
complaint about the call's arguments) means the type may call the helper.

  helper_probe.py            prints `TYPE: ID ID ...` per program type

Run as root. tests/tests/bpf_kernel.rs compares the simulator's table
(sim-core/src/bpf/helpers.rs) with this on the machine it runs on."""
import ctypes, os, struct, sys

SYS_bpf = 321
BPF_PROG_LOAD = 5
libc = ctypes.CDLL(None, use_errno=True)

# Program types that load without an attach target (tracing, lsm, ext and
# struct_ops need BTF ids; netfilter needs an attach type; lirc_mode2 a device).
TYPES = {
    "socket_filter": (1, 0), "kprobe": (2, 0), "sched_cls": (3, 0), "sched_act": (4, 0),
    "tracepoint": (5, 0), "xdp": (6, 0), "perf_event": (7, 0), "cgroup_skb": (8, 0),
    "cgroup_sock": (9, 2), "lwt_in": (10, 0), "lwt_out": (11, 0), "lwt_xmit": (12, 0),
    "sock_ops": (13, 0), "sk_skb": (14, 0), "cgroup_device": (15, 6), "sk_msg": (16, 0),
    "raw_tracepoint": (17, 0), "cgroup_sock_addr": (18, 10), "lwt_seg6local": (19, 0),
    "sk_reuseport": (21, 0), "flow_dissector": (22, 0), "cgroup_sysctl": (23, 18),
    "raw_tracepoint_writable": (24, 0), "cgroup_sockopt": (25, 21), "sk_lookup": (30, 36),
    "syscall": (31, 0),
}
# BPF_F_SLEEPABLE: syscall programs can only be sleepable.
FLAGS = {"syscall": 1 << 4}

def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)

def load(name, ptype, attach, helper):
    prog = insn(0x85, imm=helper) + insn(0xb7, 0, 0, 0, 0) + insn(0x95)
    buf = ctypes.create_string_buffer(prog)
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    # union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license,
    # log_level, log_size, log_buf, kern_version, prog_flags, prog_name[16],
    # prog_ifindex, expected_attach_type.
    attr = struct.pack("<IIQQIIQII16sII", ptype, 3, ctypes.addressof(buf), ctypes.addressof(lic),
                       1, len(log), ctypes.addressof(log), 0, FLAGS.get(name, 0), b"probe", 0, attach)
    attr += b"\0" * (144 - len(attr))
    a = ctypes.create_string_buffer(attr)
    fd = libc.syscall(SYS_bpf, BPF_PROG_LOAD, a, len(attr))
    text = log.value.decode(errors="replace")
    if fd >= 0:
        os.close(fd)
        return True
    if "(85) call" not in text:
        sys.exit(f"{name}: the verifier stopped before the call: {text.strip()[:200]}")
    return not ("unknown func" in text or "cannot use helper" in text or "invalid func" in text)

for name, (ptype, attach) in TYPES.items():
    ok = [h for h in range(1, 212) if load(name, ptype, attach, h)]
    print(f"{name}: {' '.join(map(str, ok))}")
