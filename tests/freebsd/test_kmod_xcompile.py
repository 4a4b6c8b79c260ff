"""bsdnet.ko: every glue file and the core compile as FreeBSD kernel objects
(-D_KERNEL -DKLD_MODULE, amd64 and arm64), and together they define every
bsdnet_os_*() function the core declares."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from . import xcompile

GLUE = sorted(xcompile.FREEBSD.glob("*.c"))
KERNEL_SOURCES = GLUE + xcompile.core_sources()


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_glue_files_exist() -> None:
    names = {p.name for p in GLUE}
    assert {"bsdnet_kern_mod.c", "bsdnet_kern_dev.c", "bsdnet_kern_port.c",
            "bsdnet_kern_os.c", "bsdnet_kern_region.c"} <= names


def test_makefile_builds_what_is_checked() -> None:
    """bsd.kmod.mk compiles SRCS: every glue file checked here is in it,
    and the core comes in whole."""
    text = (xcompile.FREEBSD / "Makefile").read_text().replace("\\\n", " ")
    m = re.search(r"^SRCS=\s*(.*)$", text, re.M)
    assert m, "no SRCS in kmod/freebsd/Makefile"
    words = m.group(1).split()
    assert "${CORE_SRCS}" in words
    assert sorted(w for w in words if w.endswith(".c")) == \
        sorted(p.name for p in GLUE)
    assert "ls *.c" in text and "../core" in text


def test_makefile_keeps_kern_mk_warnings() -> None:
    """kern.mk assigns CWARNFLAGS with ?=: a Makefile that sets it before
    bsd.kmod.mk drops the kernel's warnings and printf(9) checking."""
    text = (xcompile.FREEBSD / "Makefile").read_text()
    assigned = re.findall(r"^\s*(CWARNFLAGS|WARNS|NO_WERROR|WERROR)\s*[+?:!]?=",
                          text, re.M)
    assert not assigned, f"kmod/freebsd/Makefile sets {assigned}"


def test_kernel_printf_format_checked(kernel_tree: dict[str, Path],
                                      tmp_path: Path) -> None:
    """The check compiles with kern.mk's FORMAT_EXTENSIONS: a format that
    printf(9) rejects fails, %b (kernel-only) passes."""
    src = tmp_path / "fmt.c"
    src.write_text("#include <sys/param.h>\n#include <sys/systm.h>\n"
                   "void f(int);\nvoid f(int x) { printf(\"%b\\n\", x, "
                   "\"\\20\\1A\"); printf(\"%s\\n\", x); }\n")
    res = xcompile.compile_kernel_object(src, tmp_path / "o.o",
                                         kernel_tree["x86_64"], "x86_64")
    assert not res.ok
    assert "format specifies type 'char *'" in res.output
    assert "%b" not in res.output.split("error:")[0]


@pytest.mark.parametrize("arch", sorted(xcompile.ARCHES))
@pytest.mark.parametrize("src", KERNEL_SOURCES, ids=_ids(KERNEL_SOURCES))
def test_kernel_object(src: Path, arch: str, kernel_tree: dict[str, Path],
                       tmp_path: Path) -> None:
    res = xcompile.compile_kernel_object(src, tmp_path / "o.o",
                                         kernel_tree[arch], arch)
    assert res.ok, res.output


@pytest.mark.parametrize("src", GLUE, ids=_ids(GLUE))
def test_glue_without_vimage(src: Path, kernel_tree: dict[str, Path],
                             tmp_path: Path) -> None:
    """A kernel without VIMAGE compiles the V_ and CURVNET macros away."""
    res = xcompile.compile_kernel_object(src, tmp_path / "o.o",
                                         kernel_tree["x86_64"], "x86_64",
                                         vimage=False)
    assert res.ok, res.output


def test_check_hides_libc(kernel_tree: dict[str, Path],
                          tmp_path: Path) -> None:
    """The check is faithful to -nostdinc: libc's headers are not there,
    so glue that needs them fails here as on FreeBSD."""
    src = tmp_path / "libc.c"
    src.write_text("#include <stdio.h>\nint x;\n")
    res = xcompile.compile_kernel_object(src, tmp_path / "o.o",
                                         kernel_tree["x86_64"], "x86_64")
    assert not res.ok
    assert "stdio.h" in res.output


def _declared_os_functions() -> set[str]:
    text = (xcompile.CORE / "bsdnet_core.h").read_text()
    return set(re.findall(r"\b(bsdnet_os_\w+)\s*\(", text))


def _symbols(nm: str, obj: Path) -> tuple[set[str], set[str]]:
    out = xcompile.run([nm, str(obj)])
    assert out.ok, out.output
    undefined, defined = set(), set()
    for line in out.output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBR":
            defined.add(parts[2])
    return undefined, defined


def _outline_atomics(undefined: set[str]) -> set[str]:
    return {s for s in undefined
            if s.startswith(xcompile.OUTLINE_ATOMICS_PREFIX)}


@pytest.mark.parametrize("arch", sorted(xcompile.ARCHES))
def test_module_links_up(kernel_tree: dict[str, Path], tmp_path: Path,
                         arch: str) -> None:
    """No bsdnet_* symbol is left undefined across glue + core, the glue
    defines each bsdnet_os_*() of bsdnet_core.h exactly once, and nothing
    needs a symbol the kernel lacks (libc, outline-atomics helpers)."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("binutils nm is not installed")
    defined: dict[str, int] = {}
    undefined: set[str] = set()
    for i, src in enumerate(KERNEL_SOURCES):
        obj = tmp_path / f"{i}.o"
        res = xcompile.compile_kernel_object(src, obj, kernel_tree[arch],
                                             arch)
        assert res.ok, res.output
        und, dfn = _symbols(nm, obj)
        undefined |= und
        for d in dfn:
            defined[d] = defined.get(d, 0) + 1
    missing = {s for s in undefined - defined.keys()
               if s.startswith("bsdnet_")}
    assert not missing, f"undefined in bsdnet.ko: {sorted(missing)}"
    os_funcs = _declared_os_functions()
    assert os_funcs, "bsdnet_core.h declares no bsdnet_os_*()"
    for f in os_funcs:
        assert defined.get(f) == 1, f"{f} defined {defined.get(f, 0)} times"
    # The module must not pull in libc.  The kernel has malloc(9), free,
    # printf and memcpy of its own; these exist only in userland.
    leaks = undefined & {"calloc", "fprintf", "clock_gettime", "__error",
                         "abort", "strerror", "__stderrp"}
    assert not leaks, f"userland symbols in the module: {sorted(leaks)}"
    helpers = _outline_atomics(undefined)
    assert not helpers, f"outline-atomics helpers: {sorted(helpers)}"


def test_outline_atomics_caught(kernel_tree: dict[str, Path],
                                tmp_path: Path) -> None:
    """Without kern.mk's -mno-outline-atomics an arm64 atomic becomes a
    call to an __aarch64_* helper, which the check reports."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("binutils nm is not installed")
    src = tmp_path / "atomic.c"
    src.write_text("int f(int *);\nint f(int *p) { return "
                   "__atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST); }\n")
    flags = xcompile.kernel_cflags(kernel_tree["aarch64"], "aarch64")
    flags = [f for f in flags if f != "-mno-outline-atomics"]
    res = xcompile.run(xcompile.zig_clang() + flags +
                       ["-moutline-atomics", "-c", str(src), "-o",
                        str(tmp_path / "a.o")])
    assert res.ok, res.output
    assert _outline_atomics(_symbols(nm, tmp_path / "a.o")[0])
    res = xcompile.compile_kernel_object(src, tmp_path / "b.o",
                                         kernel_tree["aarch64"], "aarch64")
    assert res.ok, res.output
    assert not _outline_atomics(_symbols(nm, tmp_path / "b.o")[0])
