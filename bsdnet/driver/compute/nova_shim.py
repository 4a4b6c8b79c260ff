"""The one-line module that lets a stock Nova load the bhyve driver.

Nova's ``load_compute_driver`` imports ``compute_driver`` relative to the
``nova.virt`` package only, so ``compute_driver = bsdnet.BhyveComputeDriver``
needs a module ``nova/virt/bsdnet.py`` next to Nova's own drivers.  This
writes (or checks, or removes) exactly that file::

    bsdnet-compute install-nova-shim            # into the nova.virt of this Python
    bsdnet-compute install-nova-shim --check    # 0: installed and current, 1: not
    bsdnet-compute install-nova-shim --remove
    bsdnet-compute install-nova-shim --target DIR   # another nova/virt directory

A file of that name with other content is never overwritten or removed
without ``--force``: it is somebody else's.  Reinstall after upgrading Nova
(a package upgrade may wipe the directory); ``--check`` tells.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from bsdnet.common.files import write_atomic

LOG = logging.getLogger(__name__)

SHIM_NAME = "bsdnet.py"
DRIVER_NAME = "bsdnet.BhyveComputeDriver"  # nova.conf's compute_driver once the shim is there
SHIM_TEXT = """\
# Installed by `bsdnet-compute install-nova-shim` (remove with --remove).
# Nova imports compute_driver from the nova.virt package only; this module
# makes `compute_driver = bsdnet.BhyveComputeDriver` load bsdnet's bhyve driver.
from bsdnet.driver.compute.nova import *  # noqa: F401,F403
"""

INSTALLED, ABSENT, FOREIGN = "installed", "absent", "foreign"


class ShimError(Exception):
    pass


def nova_virt_dir() -> Path:
    """nova/virt of the Nova this Python imports (found without importing Nova)."""
    spec = importlib.util.find_spec("nova")
    if spec is None or not spec.submodule_search_locations:
        raise ShimError("Nova is not installed in this Python; give --target NOVA/virt")
    virt = Path(list(spec.submodule_search_locations)[0]) / "virt"
    if not (virt / "driver.py").is_file():
        raise ShimError(f"{virt} is not Nova's virt package (no driver.py); give --target")
    return virt


def shim_path(target: str | os.PathLike[str] | None = None) -> Path:
    return Path(target or nova_virt_dir()) / SHIM_NAME


def status(target: str | os.PathLike[str] | None = None) -> tuple[str, Path]:
    """(INSTALLED | ABSENT | FOREIGN, the shim's path)."""
    path = shim_path(target)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ABSENT, path
    return (INSTALLED if text == SHIM_TEXT else FOREIGN), path


def install(target: str | os.PathLike[str] | None = None, force: bool = False) -> tuple[bool, Path]:
    """Write the shim; (changed, path).  Idempotent."""
    state, path = status(target)
    if state == INSTALLED:
        return False, path
    if state == FOREIGN and not force:
        raise ShimError(f"{path} exists with other content; not overwriting it (--force to replace)")
    if not path.parent.is_dir():
        raise ShimError(f"{path.parent} is not a directory")
    # Written whole, so nova-compute never imports half a file.
    write_atomic(path, SHIM_TEXT, mode=0o644)
    LOG.info("wrote %s", path)
    return True, path


def remove(target: str | os.PathLike[str] | None = None, force: bool = False) -> tuple[bool, Path]:
    """Remove the shim (absent is fine); (changed, path)."""
    state, path = status(target)
    if state == ABSENT:
        return False, path
    if state == FOREIGN and not force:
        raise ShimError(f"{path} is not bsdnet's shim; not removing it (--force to remove)")
    path.unlink()
    # Python may have cached the module's bytecode next to it.
    for pyc in (path.parent / "__pycache__").glob("bsdnet.*.pyc"):
        pyc.unlink(missing_ok=True)
    return True, path
