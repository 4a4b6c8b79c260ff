"""Cross-compiling bsdnet's C for FreeBSD (and Linux) with ziglang.

No FreeBSD host is available, so the kernel glue and the netmap daemon are
checked by compiling them against the FreeBSD headers ziglang ships (an
installed /usr/include: most kernel headers are there, under sys/, vm/,
net/).  A kernel build sees /usr/src/sys with -nostdinc, never libc's
top-level headers, so kernel_include_tree() rebuilds that view from
symlinks to ziglang's subdirectories: a glue file that leans on
<stdint.h> and friends fails here as it would on FreeBSD.
"""
from __future__ import annotations

import logging
import os
import runpy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
KMOD = REPO / "kmod"
FREEBSD = KMOD / "freebsd"
NETMAP = KMOD / "netmap"
CORE = KMOD / "core"
LINUX = KMOD / "linux"
DAEMON = KMOD / "daemon"
INCLUDE = KMOD / "include"
COMPAT = FREEBSD / "compat-xcheck"

# ziglang target triple -> the per-architecture header directory.
ARCHES = {
    "x86_64": "x86_64-freebsd-none",
    "aarch64": "aarch64-freebsd-none",
}

# What sys/conf/kern.mk and kmod.mk (14.x) give every kernel object,
# common to all architectures.  CSTD is gnu99 on 14.x.
KERNEL_CFLAGS = ["-O2", "-fno-strict-aliasing", "-D_KERNEL", "-DKLD_MODULE",
                 "-nostdinc", "-fno-common", "-fno-omit-frame-pointer",
                 "-ffreestanding", "-fwrapv", "-fstack-protector",
                 "-std=gnu99"]

# kern.mk's CWARNFLAGS, with FORMAT_EXTENSIONS for clang: every
# __printf__ format attribute checks against the kernel's printf(9).  A
# module Makefile that sets CWARNFLAGS itself before bsd.kmod.mk loses
# all of these (kern.mk assigns them with ?=).
KERNEL_CWARNFLAGS = ["-Wall", "-Wstrict-prototypes", "-Wmissing-prototypes",
                     "-Wpointer-arith", "-Wcast-qual", "-Wundef",
                     "-Wno-pointer-sign", "-D__printf__=__freebsd_kprintf__",
                     "-Wmissing-include-dirs", "-fdiagnostics-show-option",
                     "-Wno-unknown-pragmas", "-Wswitch",
                     "-Wno-error=tautological-compare",
                     "-Wno-error=empty-body",
                     "-Wno-error=parentheses-equality",
                     "-Wno-error=unused-function",
                     "-Wno-error=pointer-sign",
                     "-Wno-error=shift-negative-value",
                     "-Wno-address-of-packed-member",
                     "-Wno-format-zero-length"]

# kern.mk's per-architecture flags: they change what the headers declare
# and how code must be generated in the kernel.
KERNEL_ARCH_FLAGS = {
    "x86_64": ["-mcmodel=kernel", "-mno-red-zone", "-mno-mmx", "-mno-sse",
               "-msoft-float", "-fno-asynchronous-unwind-tables",
               "-mno-aes", "-mno-avx", "-mno-omit-leaf-frame-pointer"],
    # x18 holds the kernel's per-CPU pointer; no FP/SIMD in the kernel;
    # BTI+PAC; atomics inline: the kernel has no __aarch64_* helpers
    # (clang calls them by default since LLVM 12).
    "aarch64": ["-ffixed-x18", "-mgeneral-regs-only",
                "-mbranch-protection=standard", "-mno-outline-atomics"],
}

# The libgcc/compiler-rt helpers outline atomics call: a module that
# needs one does not load (the kernel does not define them).
OUTLINE_ATOMICS_PREFIX = "__aarch64_"

# ziglang's top-level directories that are userland-only.
USERLAND_DIRS = {"arpa", "protocols", "rpcsvc", "xlocale", "ssp"}

# kmod/cflags.mk: the project's C flags, read, not restated.
CFLAGS = runpy.run_path(str(KMOD / "cflags.py"))["CFLAGS"]
WARN = CFLAGS["CWARN"]


@dataclass(frozen=True)
class Result:
    """One compiler run."""

    argv: list[str]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def zig_available() -> bool:
    """True if ziglang is importable by the interpreter running the tests."""
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return False
    return True


def zig_include_root() -> Path:
    import ziglang

    return Path(ziglang.__file__).resolve().parent / "lib" / "libc" / "include"


def zig_cc() -> list[str]:
    return [sys.executable, "-m", "ziglang", "cc"]


def zig_clang() -> list[str]:
    return [sys.executable, "-m", "ziglang", "clang"]


def run(argv: list[str], cwd: Path | None = None) -> Result:
    """Run a compiler; output is kept for the assertion message."""
    LOG.debug("running %s", argv)
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                          check=False)
    return Result(argv, proc.returncode, proc.stdout + proc.stderr)


def _merge(src: Path, dest: Path) -> None:
    """Link src's entries into the real directory dest; what dest already
    has wins (the architecture's headers come first)."""
    for entry in sorted(src.iterdir()):
        link = dest / entry.name
        if not link.exists():
            os.symlink(entry, link)
        elif entry.is_dir() and link.is_dir():
            if link.is_symlink():
                first = link.resolve()
                link.unlink()
                link.mkdir()
                _merge(first, link)
            _merge(entry, link)


def kernel_include_tree(dest: Path, arch: str) -> Path:
    """Symlink farm that looks like -I/usr/src/sys plus machine/: every
    header subdirectory of ziglang's FreeBSD headers (the architecture's
    over the generic ones, merged file by file), no top-level file."""
    root = zig_include_root()
    dest.mkdir(parents=True, exist_ok=True)
    for base in (root / ARCHES[arch], root / "generic-freebsd"):
        for entry in sorted(base.iterdir()):
            if not entry.is_dir() or entry.name in USERLAND_DIRS:
                continue
            link = dest / entry.name
            if not link.exists():
                os.symlink(entry, link)
                continue
            if link.is_symlink():
                first = link.resolve()
                link.unlink()
                link.mkdir()
                _merge(first, link)
            _merge(entry, link)
    return dest


# __FreeBSD_version of the headers' oldest supported release; zig cc
# passes it on the command line (its param.h leaves it to the compiler).
FREEBSD_VERSION = 1400500


def kernel_cflags(tree: Path, arch: str, vimage: bool = True) -> list[str]:
    """What bsd.kmod.mk would pass, as far as it matters to a compile.

    For `zig clang`, the plain clang driver: `zig cc` adds ziglang's libc
    include directories even under -nostdinc, which would hide a glue file
    that needs libc.  -Wextra beyond kern.mk's set: the project's bar."""
    flags = ["-target", f"{arch}-unknown-freebsd14.0",
             f"-D__FreeBSD_version={FREEBSD_VERSION}", "-fno-sanitize=all"]
    flags += KERNEL_CFLAGS + KERNEL_ARCH_FLAGS[arch]
    if vimage:
        flags += ["-include", str(COMPAT / "opt_global.h")]
    flags += ["-I", str(FREEBSD / "include"), "-I", str(FREEBSD),
              "-I", str(CORE), "-I", str(INCLUDE), "-I", str(COMPAT),
              "-isystem", str(tree)]
    return flags + KERNEL_CWARNFLAGS + WARN


def compile_kernel_object(src: Path, out: Path, tree: Path, arch: str,
                          vimage: bool = True) -> Result:
    argv = zig_clang() + kernel_cflags(tree, arch, vimage) + [
        "-c", str(src), "-o", str(out)]
    return run(argv)


def userland_cflags(target: str) -> list[str]:
    """FreeBSD or Linux userland, optimised, without ziglang's default
    UBSan runtime (the target has none to link)."""
    return ["-target", target, *CFLAGS["CSTD"], *CFLAGS["COPT"],
            "-fno-sanitize=all", "-D_DEFAULT_SOURCE"] + WARN


def core_sources() -> list[Path]:
    return sorted(CORE.glob("*.c"))


def daemon_sources() -> list[Path]:
    return sorted(DAEMON.glob("*.c"))


def core_defines(symbol: str) -> bool:
    """Has the core (being written alongside) landed this function?"""
    needle = f"\n{symbol}("
    return any(needle in p.read_text(errors="replace")
               for p in core_sources())
