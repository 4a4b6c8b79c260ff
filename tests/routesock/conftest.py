"""Fixtures for the routing-socket tests: FreeBSD message images and namespaces."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from typing import Iterator

import pytest

from .elfimages import images


@pytest.fixture(scope="session", params=["amd64", "arm64"])
def fbsd(request, tmp_path_factory) -> tuple[str, dict[str, bytes]]:
    """(arch, {image name: bytes}) for each FreeBSD architecture."""
    arch = request.param
    return arch, images(arch, tmp_path_factory.mktemp(f"img-{arch}"))


def _can_netns() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return None


def ip(ns: str, *argv: str) -> None:
    """Run ``ip -n ns ...``; raise with its stderr on failure."""
    res = subprocess.run(["ip", "-n", ns, *argv], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise AssertionError(f"ip -n {ns} {' '.join(argv)}: {res.stderr.strip()}")


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh network namespace with a random name, deleted afterwards."""
    why = _can_netns()
    if why:
        pytest.skip(why)
    name = f"rs-{secrets.token_hex(4)}"
    res = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {res.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def suffix() -> str:
    return secrets.token_hex(3)
