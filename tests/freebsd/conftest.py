"""Shared fixtures of the FreeBSD cross-compile checks."""
from __future__ import annotations

from pathlib import Path

import pytest

from . import xcompile


@pytest.fixture(scope="session")
def zig() -> None:
    if not xcompile.zig_available():
        pytest.skip("ziglang is not installed: no FreeBSD cross-compiler")


@pytest.fixture(scope="session")
def kernel_tree(tmp_path_factory: pytest.TempPathFactory, zig: None
                ) -> dict[str, Path]:
    """Per architecture, the -I/usr/src/sys look-alike (see xcompile)."""
    base = tmp_path_factory.mktemp("ksys")
    return {arch: xcompile.kernel_include_tree(base / arch, arch)
            for arch in xcompile.ARCHES}
