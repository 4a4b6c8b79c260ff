"""bsdnet-compute install-nova-shim: the file it writes, and that the Nova
installed here then loads ``compute_driver = bsdnet.BhyveComputeDriver``.
The shim only ever goes into temporary directories (a subprocess puts one on
nova.virt's package path); the venv's site-packages is only read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bsdnet.cmd import compute as compute_cli
from bsdnet.driver.compute import nova_shim

ROOT = Path(__file__).resolve().parents[3]


def run(*argv: str) -> int:
    return compute_cli.main(["install-nova-shim", *argv])


def test_install_check_remove(tmp_path, capsys) -> None:
    shim = tmp_path / "bsdnet.py"
    assert run("--check", "--target", str(tmp_path)) == 1
    assert run("--target", str(tmp_path)) == 0
    assert shim.read_text() == nova_shim.SHIM_TEXT
    assert "from bsdnet.driver.compute.nova import *" in shim.read_text()
    assert oct(shim.stat().st_mode & 0o777) == "0o644"
    assert run("--check", "--target", str(tmp_path)) == 0
    assert run("--target", str(tmp_path)) == 0  # idempotent
    assert "already installed" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bsdnet.py"]  # no temporary file left
    assert run("--remove", "--target", str(tmp_path)) == 0
    assert not shim.exists()
    assert run("--remove", "--target", str(tmp_path)) == 0  # absent is fine
    assert run("--check", "--target", str(tmp_path)) == 1


def test_someone_elses_file_is_left_alone(tmp_path, capsys) -> None:
    shim = tmp_path / "bsdnet.py"
    shim.write_text("# somebody else's driver\n")
    assert run("--target", str(tmp_path)) == 2
    assert run("--remove", "--target", str(tmp_path)) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert shim.read_text() == "# somebody else's driver\n"
    assert run("--check", "--target", str(tmp_path)) == 1
    assert run("--force", "--target", str(tmp_path)) == 0
    assert shim.read_text() == nova_shim.SHIM_TEXT
    assert run("--target", str(tmp_path / "missing")) == 2


def _nova_virt() -> Path:
    try:
        return nova_shim.nova_virt_dir()
    except nova_shim.ShimError as exc:
        pytest.skip(f"Nova not installed: {exc}")


def test_default_target_is_this_pythons_nova(capsys) -> None:
    virt = _nova_virt()
    assert virt.parent.parent == Path(nova_shim.importlib.util.find_spec("nova").origin).parent.parent
    before = (virt / "bsdnet.py").exists()
    code = run("--check")
    assert capsys.readouterr().out.startswith(f"{virt / 'bsdnet.py'}: ")
    assert code == (0 if before else 1)
    assert (virt / "bsdnet.py").exists() == before  # --check writes nothing


LOAD = """
import sys
import nova.virt
nova.virt.__path__.append(sys.argv[1])  # the shim's directory, as if it were nova/virt
import bsdnet.driver.compute.nova as bnova
from nova.virt import driver

class Net:  # no network driver: this only checks that Nova loads the class
    def __getattr__(self, name):
        raise AssertionError(name)

bnova.default_net_driver = lambda *a: Net()
drv = driver.load_compute_driver(None, bnova.NOVA_DRIVER_NAME)
assert type(drv) is bnova.BhyveComputeDriver, type(drv)
assert sys.modules["nova.virt.bsdnet"].__file__.startswith(sys.argv[1])
print("loaded", type(drv).__module__, type(drv).__name__)
"""


def test_nova_loads_the_driver_through_the_shim(tmp_path) -> None:
    _nova_virt()
    assert run("--target", str(tmp_path)) == 0
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300, env=env)
    if r.returncode != 0 and "No module named" in r.stderr and "nova" in r.stderr.splitlines()[-1]:
        pytest.skip(f"Nova not importable: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("loaded bsdnet.driver.compute.nova BhyveComputeDriver")
    # Without the shim, the same load fails: the shim is what makes it work.
    assert run("--remove", "--target", str(tmp_path)) == 0
    r = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300, env=env)
    assert r.returncode != 0 and "No module named 'nova.virt.bsdnet'" in r.stderr, r.stderr[-3000:]
