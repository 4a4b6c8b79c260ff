"""Image conversion with qemu-img: its progress on a terminal only."""
from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys

import pytest

from bsdnet.driver.compute import images

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None,
                                reason="qemu-img (Debian qemu-utils) not installed")


def qcow2(tmp_path):
    src = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "8M"], check=True)
    return src


def test_conversion_quiet_without_a_terminal(tmp_path, capsys):
    src = qcow2(tmp_path)
    images.convert_to_raw(str(src), str(tmp_path / "disk.raw"))
    assert (tmp_path / "disk.raw").stat().st_size == 8 << 20
    assert capsys.readouterr().err == ""


def test_conversion_counts_up_on_a_terminal(tmp_path, monkeypatch):
    src = qcow2(tmp_path)
    master, slave = pty.openpty()
    tty = os.fdopen(slave, "w")
    monkeypatch.setattr(sys, "stderr", tty)
    try:
        images.convert_to_raw(str(src), str(tmp_path / "disk.raw"))
    finally:
        tty.close()
    out = os.read(master, 65536).decode()
    os.close(master)
    assert "converting disk.qcow2 to raw, %: 100/100" in out, out
    assert (tmp_path / "disk.raw").stat().st_size == 8 << 20
    with pytest.raises(images.ImageError, match="qemu-img"):
        monkeypatch.setattr(sys, "stderr", open(os.devnull, "w"))
        images.qemu_convert(str(tmp_path / "none"), str(tmp_path / "x"), "raw", "raw")
