"""Building the kernel harness: bsdnet.ko's sources for Linux userspace.

Three kinds of object, one program:

  module   kmod/freebsd/*.c and kmod/core/*.c, unchanged, compiled as
           the kernel build compiles them (-D_KERNEL -DKLD_MODULE,
           -nostdinc, FreeBSD's own headers from ziglang) plus
           INVARIANTS and WITNESS, but for x86-64 Linux and under
           ASan/UBSan;
  kernel   tests/kernel/kern/*.c: the stand-in of the FreeBSD kernel
           interfaces the module uses, built the same way;
  host     kern/kh_host.c and user/*.c (the scenarios), against glibc.

The kernel's malloc(9), free(9), printf(9) and a few more share their
names with libc's; after compiling, every symbol the module and kernel
objects define that libc also exports is renamed in those objects
(objcopy --redefine-sym), as linking them into a kernel would keep them
apart.  The module's .data and .bss move to sections of their own, so
that each kldload starts from the module's initial image.  `python tests/kernel/khbuild.py OUTDIR` builds it by hand.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from tests.freebsd import xcompile  # noqa: E402

KMOD = REPO / "kmod"
MODULE_SOURCES = sorted((KMOD / "freebsd").glob("*.c")) + \
    sorted((KMOD / "core").glob("*.c"))
KERNEL_SOURCES = sorted(p for p in (HERE / "kern").glob("*.c")
                        if p.name != "kh_host.c")
HOST_SOURCES = [HERE / "kern" / "kh_host.c"] + \
    sorted((HERE / "user").glob("*.c")) + \
    [REPO / "tests/core/th_frames.c", REPO / "tests/core/th_tables.c"]

SANITIZE = xcompile.CFLAGS["CSAN"] + xcompile.CFLAGS["CDEBUG"]
WARN = xcompile.WARN


class BuildError(RuntimeError):
    """A compile or link failed; the message has the compiler's output."""


@dataclass(frozen=True)
class Toolchain:
    cc: str
    objcopy: str
    nm: str


def toolchain() -> Toolchain | None:
    """clang (for ASan/UBSan on Linux), objcopy and nm, or None."""
    cc, objcopy, nm = (shutil.which(t) for t in ("clang", "objcopy", "nm"))
    if not (cc and objcopy and nm):
        return None
    return Toolchain(cc, objcopy, nm)


def kernel_flags(tree: Path, module: bool) -> list[str]:
    """The kernel build's view of a file, for x86-64 Linux userspace."""
    std = "-std=c99" if module else "-std=gnu11"
    return ["--target=x86_64-linux-gnu", std, "-D_KERNEL", "-DKLD_MODULE",
            f"-D__FreeBSD_version={xcompile.FREEBSD_VERSION}",
            "-D__FreeBSD__=14", "-U__linux__", "-U__linux", "-Ulinux",
            "-U__gnu_linux__", "-ffreestanding", "-fno-common", "-nostdinc",
            "-include", str(HERE / "include" / "opt_global.h"),
            "-I", str(KMOD / "freebsd" / "include"),
            "-I", str(KMOD / "freebsd"), "-I", str(KMOD / "core"),
            "-I", str(KMOD / "include"), "-I", str(HERE / "kern"),
            "-I", str(KMOD / "freebsd" / "compat-xcheck"),
            "-isystem", str(tree)] + SANITIZE + WARN + \
        (xcompile.KERNEL_CWARNFLAGS if module else [])


def host_flags() -> list[str]:
    return ["-std=gnu11", "-D_GNU_SOURCE", "-I", str(HERE / "kern"),
            "-I", str(KMOD / "include" / "compat"), "-I", str(HERE / "user"),
            "-I", str(KMOD / "include"), "-I", str(KMOD / "core"),
            "-I", str(KMOD / "freebsd"), "-I", str(REPO / "tests" / "core"),
            ] + SANITIZE + WARN


def _run(argv: list[str]) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise BuildError(" ".join(argv) + "\n" + res.stdout + res.stderr)


def _compile(tc: Toolchain, src: Path, flags: list[str], objdir: Path
             ) -> Path:
    key = hashlib.sha256(src.read_bytes() + "\0".join(flags).encode()
                         ).hexdigest()[:16]
    obj = objdir / f"{src.stem}-{key}.o"
    if not obj.exists():
        tmp = obj.with_suffix(".tmp.o")
        _run([tc.cc, *flags, "-c", str(src), "-o", str(tmp)])
        os.replace(tmp, obj)
    return obj


def _libc_symbols(tc: Toolchain) -> set[str]:
    out = set()
    for lib in ("libc.so.6", "libm.so.6"):
        path = subprocess.run([tc.cc, f"-print-file-name={lib}"],
                              capture_output=True, text=True,
                              check=False).stdout.strip()
        if not os.path.exists(path):
            continue
        res = subprocess.run([tc.nm, "-D", "--defined-only", path],
                             capture_output=True, text=True, check=False)
        out |= {line.split()[-1].split("@")[0]
                for line in res.stdout.splitlines() if line.strip()}
    return out


def _defined(tc: Toolchain, objs: list[Path]) -> set[str]:
    res = subprocess.run([tc.nm, "--defined-only", *map(str, objs)],
                         capture_output=True, text=True, check=False)
    return {p[2] for p in (line.split() for line in res.stdout.splitlines())
            if len(p) == 3 and p[1] in "TDBRW"}


def build(outdir: Path, tree: Path, module_sources: list[Path] | None = None,
          objdir: Path | None = None) -> Path:
    """Compile and link the harness into outdir/khtest.  module_sources
    replaces kmod's files (a mutated copy, for the tests that show the
    harness catches a fault); objdir, shared between builds, keeps the
    objects of unchanged files."""
    tc = toolchain()
    if tc is None:
        raise BuildError("clang, objcopy and nm are needed")
    objdir = objdir or outdir / "obj"
    objdir.mkdir(parents=True, exist_ok=True)
    outdir.mkdir(parents=True, exist_ok=True)
    mods = module_sources or MODULE_SOURCES
    jobs = [(s, kernel_flags(tree, True)) for s in mods] + \
        [(s, kernel_flags(tree, False)) for s in KERNEL_SOURCES] + \
        [(s, host_flags()) for s in HOST_SOURCES]
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        objs = list(ex.map(lambda j: _compile(tc, j[0], j[1], objdir), jobs))
    kobjs = objs[:len(mods) + len(KERNEL_SOURCES)]
    clash = sorted(_defined(tc, kobjs) & _libc_symbols(tc))
    renamed = []
    symfile = outdir / "kernel-symbols.txt"
    symfile.write_text("".join(f"{s} kh_k_{s}\n" for s in clash))
    for i, obj in enumerate(kobjs):
        dst = outdir / ("k-" + obj.name)
        # The module's writable data in sections of their own: kldload
        # starts from the .ko's image every time (kern_linker.c).
        sections = [] if i >= len(mods) else [
            "--rename-section", ".data=kh_module_data",
            "--rename-section", ".bss=kh_module_bss"]
        _run([tc.objcopy, f"--redefine-syms={symfile}", *sections, str(obj),
              str(dst)])
        renamed.append(dst)
    exe = outdir / "khtest"
    _run([tc.cc, *SANITIZE, "-pthread", "-o", str(exe), *map(str, renamed),
          *map(str, objs[len(kobjs):])])
    return exe


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else REPO / "build" / "kernel"
    tree = xcompile.kernel_include_tree(out / "sys", "x86_64")
    print(build(out, tree))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
