"""The core includes no OS header, and compiles unchanged in all three
homes (kernel objects are checked in test_kmod_xcompile.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from . import xcompile

ALLOWED_SYSTEM = {"stdint.h", "stddef.h", "stdbool.h"}
_INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def os_includes(text: str, local: set[str]) -> list[str]:
    """Includes in `text` that are neither freestanding C headers nor
    files of the core and the ABI (names in `local`)."""
    bad = []
    for kind, name in _INCLUDE.findall(text):
        if kind == "<" and name in ALLOWED_SYSTEM:
            continue
        if kind == '"' and name in local:
            continue
        bad.append(name)
    return bad


def _local_headers() -> set[str]:
    return {p.name for d in (xcompile.CORE, xcompile.INCLUDE)
            for p in d.glob("*.h")}


def test_checker_flags_os_headers() -> None:
    local = {"bsdnet_core.h"}
    text = ('#include <stdint.h>\n#include "bsdnet_core.h"\n'
            "#include <sys/mbuf.h>\n#  include <string.h>\n"
            '#include "linux/skbuff.h"\n')
    assert os_includes(text, local) == ["sys/mbuf.h", "string.h",
                                        "linux/skbuff.h"]


CORE_FILES = sorted(xcompile.CORE.glob("*.[ch]")) + sorted(
    xcompile.INCLUDE.glob("*.h"))


@pytest.mark.parametrize("path", CORE_FILES, ids=[p.name for p in CORE_FILES])
def test_core_includes_no_os_header(path: Path) -> None:
    assert os_includes(path.read_text(), _local_headers()) == []


USER_TARGETS = ["x86_64-freebsd", "aarch64-freebsd", "x86_64-linux-gnu"]
CORE_SOURCES = xcompile.core_sources()


@pytest.mark.parametrize("target", USER_TARGETS)
def test_core_compiles_in_userland(target: str, zig: None,
                                   tmp_path: Path) -> None:
    """The netmap daemon (FreeBSD) and the Linux daemon build the core as
    is; one compiler run per target keeps this quick."""
    if not CORE_SOURCES:
        pytest.skip("kmod/core has no sources yet")
    argv = xcompile.zig_cc() + xcompile.userland_cflags(target) + [
        "-I", str(xcompile.CORE), "-I", str(xcompile.INCLUDE), "-c"]
    argv += [str(p) for p in CORE_SOURCES]
    res = xcompile.run(argv, cwd=tmp_path)
    assert res.ok, res.output
