"""bsdnetctl (the hand tool kmod/README uses) links as a FreeBSD program
against the module's ioctl header and the ABI."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from . import xcompile

SRC = xcompile.FREEBSD / "bsdnetctl" / "bsdnetctl.c"


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_bsdnetctl_links(arch: str, zig: None, tmp_path: Path) -> None:
    exe = tmp_path / "bsdnetctl"
    argv = xcompile.zig_cc() + xcompile.userland_cflags(f"{arch}-freebsd")
    argv += ["-I", str(xcompile.FREEBSD), "-I", str(xcompile.INCLUDE),
             "-o", str(exe), str(SRC)]
    res = xcompile.run(argv)
    assert res.ok, res.output
    file_cmd = shutil.which("file")
    if file_cmd is None:
        pytest.skip("file(1) is not installed")
    out = xcompile.run([file_cmd, str(exe)])
    assert "FreeBSD" in out.output, out.output


def test_readme_commands_exist() -> None:
    """Every bsdnetctl sub-command kmod/README uses is one the tool has."""
    readme = (xcompile.KMOD / "README").read_text()
    used = {line.split()[1] for line in readme.splitlines()
            if line.strip().startswith("bsdnetctl ")
            for line in [line.strip()]}
    assert used, "kmod/README shows no bsdnetctl command"
    src = SRC.read_text()
    for cmd in used:
        assert f'"{cmd}"' in src, f"bsdnetctl has no '{cmd}'"
