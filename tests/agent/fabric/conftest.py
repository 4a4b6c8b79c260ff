"""Fixtures for the fabric next-hop tests: FreeBSD ARP images, namespaces."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

# tests/ is on sys.path (rootdir-relative packages): the routing-socket
# tests' ELF reader and zig driver, not a copy of them.
from routesock.elfimages import ARCHES, elf_symbols, zig_cc

HERE = Path(__file__).parent


@pytest.fixture(scope="session", params=sorted(ARCHES))
def arp_images(request, tmp_path_factory) -> tuple[str, dict[str, bytes]]:
    """(arch, {image name: bytes}) of c/llinfo.c for each FreeBSD arch."""
    arch = request.param
    obj = tmp_path_factory.mktemp(f"llinfo-{arch}") / "llinfo.o"
    res = zig_cc(ARCHES[arch], HERE / "c" / "llinfo.c", obj)
    assert res.returncode == 0, res.stderr
    syms = elf_symbols(obj)
    return arch, {k.removeprefix("bsdnet_img_"): v for k, v in syms.items()
                  if k.startswith("bsdnet_img_")}


def suffix() -> str:
    return secrets.token_hex(3)


def ip(ns: str, *argv: str) -> None:
    """``ip -n ns ...``; raise with its stderr on failure."""
    res = subprocess.run(["ip", "-n", ns, *argv], capture_output=True,
                         text=True, timeout=30)
    if res.returncode != 0:
        raise AssertionError(f"ip -n {ns} {' '.join(argv)}: "
                             f"{res.stderr.strip()}")


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace with a random name, deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    name = f"fab-{secrets.token_hex(4)}"
    res = subprocess.run(["ip", "netns", "add", name], capture_output=True,
                         text=True, timeout=30)
    if res.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {res.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True,
                       timeout=30)
