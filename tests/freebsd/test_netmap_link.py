"""bsdnet-netmap links into a FreeBSD executable (amd64 and arm64) from its
own files, the daemon the userspace homes share (kmod/daemon) and the
core, and borrows nothing from the Linux home."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from . import xcompile

MAKEFILE = xcompile.NETMAP / "Makefile"


def _make_dirs() -> set[Path]:
    """The directories kmod/netmap/Makefile takes sources or headers from."""
    text = MAKEFILE.read_text()
    dirs = {xcompile.NETMAP}
    for m in re.finditer(r"^\w+=\s*(\.\./\w+)\s*$", text, re.M):
        dirs.add((xcompile.NETMAP / m.group(1)).resolve())
    for m in re.finditer(r"-I(\.\./\w+)", text):
        dirs.add((xcompile.NETMAP / m.group(1)).resolve())
    return dirs


def test_built_from_its_own_files_and_the_shared_daemon() -> None:
    dirs = _make_dirs()
    assert {xcompile.DAEMON, xcompile.CORE, xcompile.INCLUDE} <= dirs
    assert xcompile.LINUX not in dirs
    for src in sorted(xcompile.NETMAP.glob("*.[ch]")):
        text = src.read_text()
        assert "lnx" not in text and "kmod/linux" not in text, src.name


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_links_freebsd_executable(arch: str, zig: None,
                                  tmp_path: Path) -> None:
    """`make -C kmod/netmap`, as documented, with ziglang as the FreeBSD
    cross-compiler (GNU make here; the Makefile is written for both)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
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
