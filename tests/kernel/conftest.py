"""Building the kernel harness once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.freebsd import xcompile

from . import khbuild


@pytest.fixture(scope="session")
def kernel_sys_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not xcompile.zig_available():
        pytest.skip("ziglang is not installed: no FreeBSD headers")
    if khbuild.toolchain() is None:
        pytest.skip("clang, objcopy or nm is missing")
    return xcompile.kernel_include_tree(
        tmp_path_factory.mktemp("khsys") / "sys", "x86_64")


@pytest.fixture(scope="session")
def khbuild_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("khbuild")


@pytest.fixture(scope="session")
def khtest(kernel_sys_tree: Path, khbuild_dir: Path) -> Path:
    return khbuild.build(khbuild_dir / "main", kernel_sys_tree,
                         objdir=khbuild_dir / "obj")
