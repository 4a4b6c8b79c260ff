"""kmod/linux/Makefile builds the daemon pip installs (setup.py), from the
same sources, and the Linux home holds Linux code only."""
from __future__ import annotations

import re
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "kmod" / "linux"


def _make(*args: str) -> subprocess.CompletedProcess:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    return subprocess.run([make, "-C", str(LINUX), *args],
                          capture_output=True, text=True, timeout=600)


def test_make_and_setup_build_the_same_sources() -> None:
    p = _make("-n", "PROG=/nonexistent/bsdnet-datapath")
    assert p.returncode == 0, p.stderr
    made = {(LINUX / s).resolve() for s in re.findall(r"(\S+\.c)\b",
                                                     p.stdout)}
    ns = runpy.run_path(str(ROOT / "setup.py"), run_name="setup_test")
    setup = {Path(s).resolve() for s in ns["datapath_sources"]("linux")}
    assert made == setup
    assert {p.parent.name for p in made} == {"core", "daemon", "linux"}


def test_make_builds_the_daemon(tmp_path: Path) -> None:
    exe = tmp_path / "bsdnet-datapath"
    p = _make(f"PROG={exe}")
    assert p.returncode == 0, p.stdout + p.stderr
    h = subprocess.run([str(exe), "--help"], capture_output=True, text=True,
                       timeout=60)
    assert h.returncode == 0
    assert h.stdout.startswith("NAME\n     bsdnet-datapath - ")
    assert "--steal MODE" in h.stdout and "AF_PACKET" in h.stdout


def test_linux_home_is_linux_only() -> None:
    for src in sorted(LINUX.glob("*.[ch]")):
        assert "__FreeBSD__" not in src.read_text(), src.name
