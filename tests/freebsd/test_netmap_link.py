"""bsdnet-netmap links into a FreeBSD executable (amd64 and arm64) from the
netmap glue, the Linux home's shared files and the core."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from . import xcompile

# What nm.h says the daemon shares with kmod/linux, read from its Makefile
# so the test builds exactly what `make` would.
MAKEFILE = xcompile.NETMAP / "Makefile"


def _make_sources() -> list[Path]:
    text = MAKEFILE.read_text().replace("\\\n", " ")
    m = re.search(r"^SRCS=\s*(.*)$", text, re.M)
    assert m, "no SRCS in kmod/netmap/Makefile"
    srcs = []
    for word in m.group(1).split():
        if word == "$(CORE_SRCS)":
            srcs += xcompile.core_sources()
        else:
            srcs.append(xcompile.NETMAP / word.replace(
                "$(LINUX)", "../linux"))
    return [p.resolve() for p in srcs]


def test_shares_the_linux_home() -> None:
    names = {p.name for p in _make_sources()}
    assert {"dpl_region.c", "dpl_trap.c", "dpl_main.c", "dpl_os.c",
            "dpl_vif.c", "dpl_burst.c"} <= names
    assert "dpl_port.c" not in names and "dpl_loop.c" not in names


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_links_freebsd_executable(arch: str, zig: None,
                                  tmp_path: Path) -> None:
    """`make -C kmod/netmap`, as documented, with ziglang as the FreeBSD
    cross-compiler (GNU make here; the Makefile is written for both)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    missing = [p for p in _make_sources() if not p.exists()]
    if missing:
        pytest.skip(f"not landed yet: {[p.name for p in missing]}")
    if not xcompile.core_defines("bsdnet_dp_input"):
        pytest.skip("the core has not landed bsdnet_dp_input")
    exe = tmp_path / "bsdnet-netmap"
    cc = " ".join(xcompile.zig_cc() + ["-target", f"{arch}-freebsd"])
    res = xcompile.run([make, "-C", str(xcompile.NETMAP), f"PROG={exe}",
                        f"CC={cc}", "CFLAGS=-fno-sanitize=all"])
    assert res.ok, res.output
    assert exe.read_bytes()[:4] == b"\x7fELF"
    file_cmd = shutil.which("file")
    if file_cmd is None:
        pytest.skip("file(1) is not installed")
    out = xcompile.run([file_cmd, str(exe)])
    assert "FreeBSD" in out.output and "executable" in out.output, out.output
    want = "x86-64" if arch == "x86_64" else "aarch64"
    assert want in out.output, out.output
