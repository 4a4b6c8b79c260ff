"""The core stays freestanding and builds for FreeBSD kernels.

Every kmod/core/*.c is compiled with ziglang's clang for x86_64-freebsd,
aarch64-freebsd and powerpc64-freebsd (big-endian) as kernel code
(-ffreestanding -D_KERNEL, warnings as errors), and no core file includes
anything but the allowed headers.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core_paths import CFLAGS, CORE, INCLUDE

ALLOWED_SYSTEM = {"stdint.h", "stddef.h", "stdbool.h"}
ALLOWED_PROJECT = {"bsdnet_abi.h", "bsdnet_layout.h", "bsdnet_core.h",
                   "bsdnet_flowtab.h", "bsdnet_port.h"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def have_zig() -> bool:
    res = subprocess.run([sys.executable, "-m", "ziglang", "version"],
                         capture_output=True, text=True, check=False)
    return res.returncode == 0


def core_files() -> list[Path]:
    return sorted(CORE.glob("*.c")) + sorted(CORE.glob("*.h"))


def bad_includes(path: Path, private: set[str]) -> list[str]:
    """Includes of path outside the allowed set."""
    bad = []
    for kind, name in INCLUDE_RE.findall(path.read_text()):
        if kind == "<" and name in ALLOWED_SYSTEM:
            continue
        if kind == '"' and (name in ALLOWED_PROJECT or name in private):
            continue
        bad.append(f"<{name}>" if kind == "<" else f'"{name}"')
    return bad


def test_include_checker_catches_os_headers(tmp_path: Path) -> None:
    f = tmp_path / "x.c"
    f.write_text('#include <stdint.h>\n#include <sys/mbuf.h>\n'
                 '# include "bsdnet_priv.h"\n#include "linux/skbuff.h"\n')
    assert bad_includes(f, {"bsdnet_priv.h"}) == ["<sys/mbuf.h>",
                                                   '"linux/skbuff.h"']


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.name)
def test_core_includes_only_allowed_headers(path: Path) -> None:
    private = {p.name for p in CORE.glob("*.h")}
    assert bad_includes(path, private) == []


# powerpc64: FreeBSD's big-endian tier-2 target, for the byte-order
# branches (the flow tags' lane order).
@pytest.mark.parametrize("target", ["x86_64-freebsd", "aarch64-freebsd",
                                    "powerpc64-freebsd"])
def test_core_compiles_freestanding_for_freebsd(target: str,
                                                tmp_path: Path) -> None:
    if not have_zig():
        pytest.skip("ziglang is not installed in this Python")
    sources = sorted(CORE.glob("*.c"))
    assert sources
    failures = []
    for src in sources:
        argv = [sys.executable, "-m", "ziglang", "cc", "-target", target,
                "-ffreestanding", "-D_KERNEL", *CFLAGS["CSTD"],
                *CFLAGS["CWARN"], "-I", str(INCLUDE), "-I", str(CORE),
                "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))]
        res = subprocess.run(argv, capture_output=True, text=True,
                             check=False)
        if res.returncode != 0:
            failures.append(f"{src.name}:\n{res.stderr}")
    assert not failures, "\n".join(failures)
