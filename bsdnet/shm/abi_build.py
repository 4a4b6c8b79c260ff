"""Build bsdnet.shm._abi, the cffi view of the shared-memory ABI and of
/dev/bsdnet's ioctls.

The cdef is kmod/include/bsdnet_abi.h, bsdnet_layout.h and
kmod/freebsd/bsdnet_ioctl.h themselves, run through the C preprocessor
with -DBSDNET_ABI_CFFI (which hides the includes and _Static_asserts
pycparser cannot read), so no layout is written twice.  The module is
compiled in API mode: the C compiler, not cffi's guess, fixes every size,
offset and ioctl request number.
"""
import glob
import os
import re
import runpy
import shutil
import subprocess
import sys

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCLUDE = os.path.join(ROOT, "kmod", "include")
CORE = os.path.join(ROOT, "kmod", "core")
FREEBSD = os.path.join(ROOT, "kmod", "freebsd")
HEADERS = ("bsdnet_abi.h", "bsdnet_layout.h")
IOCTL_H = os.path.join(FREEBSD, "bsdnet_ioctl.h")
# FreeBSD's <sys/ioccom.h> where the C library is another's: the request
# numbers are FreeBSD's whatever the build host.
COMPAT = [] if sys.platform.startswith("freebsd") else \
    [os.path.join(INCLUDE, "compat")]
# The ioccom constants the agent decodes requests with.
IOCCOM = ("IOCPARM_MASK", "IOC_VOID", "IOC_OUT", "IOC_IN", "IOC_DIRMASK")
# C compiled into the module: the region geometry code the datapath uses,
# and the agent's table helpers (atomics, seqlocks) in C where Python has
# no memory model.
# The flow table and its hash are the datapath's own code, so the agent
# claims, publishes and hashes exactly as the datapath does.
SOURCES = [os.path.join(CORE, f) for f in
           ("bsdnet_layout.c", "bsdnet_flowtab.c")]
HERE = os.path.dirname(os.path.abspath(__file__))
AGENT_H = os.path.join(HERE, "abi_helpers.h")
_CF = runpy.run_path(os.path.join(ROOT, "kmod", "cflags.py"))["CFLAGS"]


def _cc() -> str:
    return os.environ.get("CC") or shutil.which("cc") or "gcc"


def preprocessed_cdef() -> str:
    text = []
    headers = list(HEADERS) + [AGENT_H, IOCTL_H]
    for h in headers:
        path = h if os.path.isabs(h) else os.path.join(INCLUDE, h)
        out = subprocess.run(
            [_cc(), "-E", "-P", "-DBSDNET_ABI_CFFI", "-I", INCLUDE, "-I", CORE,
             path],
            check=True, capture_output=True, text=True).stdout
        text.append(out)
    # Each header includes bsdnet_abi.h; keep one copy of each definition.
    return dedupe_blocks("\n".join(text)) + "\n" + ioctl_requests_cdef()


def ioctl_requests_cdef() -> str:
    """`#define NAME ...` for every request macro of bsdnet_ioctl.h, as the
    preprocessor lists them, and the ioccom constants: the compiler fills
    in their values."""
    macros = subprocess.run(
        [_cc(), "-E", "-dM", *sum((["-I", d] for d in COMPAT), []), IOCTL_H],
        check=True, capture_output=True, text=True).stdout
    names = re.findall(r"^#define (BSDNET_IOC_\w+) _IO", macros, re.M)
    if not names:
        raise RuntimeError(f"{IOCTL_H}: no BSDNET_IOC_* request")
    return "".join(f"#define {n} ...\n" for n in list(IOCCOM) + names)


def dedupe_blocks(src: str) -> str:
    seen = set()
    out = []
    block = []
    depth = 0
    for line in src.splitlines():
        if not line.strip() and depth == 0:
            continue
        block.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0 and line.rstrip().endswith(";"):
            text = "\n".join(block)
            if text not in seen:
                seen.add(text)
                out.append(text)
            block = []
    return "\n".join(out)


ffibuilder = FFI()
ffibuilder.cdef(preprocessed_cdef())
_includes = ('#include "bsdnet_abi.h"\n#include "bsdnet_layout.h"\n'
             '#include "abi_helpers.h"\n#include "bsdnet_ioctl.h"\n')
# abi_helpers.c and its siblings (abi_trapio.c: batched socket I/O).
_sources = SOURCES + sorted(glob.glob(os.path.join(HERE, "abi_*.c")))
ffibuilder.set_source(
    "bsdnet.shm._abi", _includes,
    sources=[os.path.relpath(s, ROOT) for s in _sources],
    include_dirs=[INCLUDE, CORE, HERE, FREEBSD] + COMPAT,
    extra_compile_args=_CF["CSTD"] + _CF["CWARN"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
