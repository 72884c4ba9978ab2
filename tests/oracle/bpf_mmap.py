#!/usr/bin/env python3
"""mmap of BPF maps' fds on the running kernel, as the global-variables
lesson does them: BPF_OBJ_GET on each pin, then mmap with the protection,
flags and length given, one line per request:

  bpf_mmap.py PIN:PROT:FLAGS:LEN[:HOLE] | freeze:PIN | unmap:N ...

PROT is rw-, r--, r-x...; FLAGS shared or private; LEN in bytes; HOLE, if
given, the offset of one page to munmap from the new mapping. `freeze:PIN`
is BPF_MAP_FREEZE on the pin's fd (`freeze PIN -> ok` or the errno);
`unmap:N` munmaps the N-th mapping that worked (counting from 0). Each line
is `PIN PROT FLAGS LEN -> ok` or `-> ERRNO_NAME`; after them, `value PIN N`
with the first 8 bytes read through each mapping that worked (little-endian),
and the /proc/self/maps lines of the mappings (addresses as they are).

With FORK=1 in the environment it then forks: the child prints `child
value PIN N` for each mapping, stores 9 through each writable one, prints
its own /proc/self/maps lines and exits; the parent prints `parent value
PIN N` again.

Run as root. tests/tests/bpf_kernel.rs compares the simulator with it."""
import ctypes, errno, os, struct, sys

SYS_bpf = 321
BPF_OBJ_GET = 7
BPF_MAP_FREEZE = 22
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
MAP_FAILED = ctypes.c_void_p(-1).value


def obj_get(path):
    p = ctypes.create_string_buffer(path.encode())
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("Q", attr, 0, ctypes.addressof(p))
    fd = libc.syscall(SYS_bpf, BPF_OBJ_GET, attr, 128)
    if fd < 0:
        sys.exit(f"BPF_OBJ_GET {path}: {os.strerror(ctypes.get_errno())}")
    return fd


def prot_bits(s):
    return (1 if s[0] == "r" else 0) | (2 if s[1] == "w" else 0) | (4 if s[2] == "x" else 0)


def freeze(fd):
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("I", attr, 0, fd)
    r = libc.syscall(SYS_bpf, BPF_MAP_FREEZE, attr, 128)
    return "ok" if r == 0 else errno.errorcode[ctypes.get_errno()]


libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
fds, mapped, made = {}, [], []
for arg in sys.argv[1:]:
    if arg.startswith("freeze:"):
        pin = arg.split(":", 1)[1]
        print(f"freeze {pin} -> {freeze(fds.setdefault(pin, obj_get(pin)))}")
        continue
    if arg.startswith("unmap:"):
        n = int(arg.split(":", 1)[1])
        pin, a, length = made[n]
        libc.munmap(ctypes.c_void_p(a), length)
        mapped = [m for m in mapped if m[1] != a]
        print(f"unmap {n}")
        continue
    pin, prot, flags, length, *hole = arg.split(":")
    fd = fds.setdefault(pin, obj_get(pin))
    f = 1 if flags == "shared" else 2
    a = libc.mmap(None, int(length), prot_bits(prot), f, fd, 0)
    if a in (None, MAP_FAILED):
        print(f"{pin} {prot} {flags} {length} -> {errno.errorcode[ctypes.get_errno()]}")
    else:
        print(f"{pin} {prot} {flags} {length} -> ok")
        made.append((pin, a, int(length)))
        if hole:
            libc.munmap(ctypes.c_void_p(a + int(hole[0])), 4096)
            if int(hole[0]) == 0:
                a += 4096
        mapped.append((pin, a, prot[1] == "w"))
def values(who):
    for pin, a, _ in mapped:
        print(f"{who}{pin} {struct.unpack('<Q', ctypes.string_at(a, 8))[0]}")


def maps():
    with open("/proc/self/maps") as m:
        for line in m:
            if "anon_inode:bpf-map" in line:
                print(line, end="")


values("value ")
maps()
if os.environ.get("FORK") == "1":
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        values("child value ")
        for _, a, writable in mapped:
            if writable:
                ctypes.memmove(a, struct.pack("<Q", 9), 8)
        maps()
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(child, 0)
    values("parent value ")
