"""Build bsdnet._abi, the cffi view of the shared-memory ABI.

The cdef is kmod/include/bsdnet_abi.h and bsdnet_layout.h themselves, run
through the C preprocessor with -DBSDNET_ABI_CFFI (which hides the includes
and _Static_asserts pycparser cannot read), so no layout is written twice.
The module is compiled in API mode: the C compiler, not cffi's guess, fixes
every size and offset.
"""
import glob
import os
import runpy
import shutil
import subprocess

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCLUDE = os.path.join(ROOT, "kmod", "include")
CORE = os.path.join(ROOT, "kmod", "core")
HEADERS = ("bsdnet_abi.h", "bsdnet_layout.h")
# C compiled into the module: the region geometry code the datapath uses,
# and the agent's table helpers (atomics, seqlocks) in C where Python has
# no memory model.
# The flow table and its hash are the datapath's own code, so the agent
# claims, publishes and hashes exactly as the datapath does.
SOURCES = [os.path.join(CORE, f) for f in
           ("bsdnet_layout.c", "bsdnet_flowtab.c")]
AGENT_C = os.path.join(ROOT, "bsdnet", "agent", "abi_helpers.c")
AGENT_H = os.path.join(ROOT, "bsdnet", "agent", "abi_helpers.h")
_CF = runpy.run_path(os.path.join(ROOT, "kmod", "cflags.py"))["CFLAGS"]


def preprocessed_cdef() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
    text = []
    headers = list(HEADERS) + [AGENT_H]
    for h in headers:
        path = h if os.path.isabs(h) else os.path.join(INCLUDE, h)
        out = subprocess.run(
            [cc, "-E", "-P", "-DBSDNET_ABI_CFFI", "-I", INCLUDE, "-I", CORE,
             path],
            check=True, capture_output=True, text=True).stdout
        text.append(out)
    # Each header includes bsdnet_abi.h; keep one copy of each definition.
    return dedupe_blocks("\n".join(text))


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
             '#include "abi_helpers.h"\n')
# abi_helpers.c and its siblings (abi_trapio.c: batched socket I/O).
_sources = SOURCES + sorted(glob.glob(os.path.join(os.path.dirname(AGENT_C), "abi_*.c")))
ffibuilder.set_source(
    "bsdnet._abi", _includes,
    sources=[os.path.relpath(s, ROOT) for s in _sources],
    include_dirs=[INCLUDE, CORE, os.path.dirname(AGENT_C)],
    extra_compile_args=_CF["CSTD"] + _CF["CWARN"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
