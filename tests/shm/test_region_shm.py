"""Named regions are POSIX shared memory, opened with shm_open(3): the
agent must find them where FreeBSD keeps them too (not in the file
system), as the datapaths create them (shm_open("/NAME"))."""
from __future__ import annotations

import os
import secrets

import pytest

from bsdnet.shm import region as region_mod
from bsdnet.shm.region import Region


@pytest.fixture
def name() -> str:
    n = f"bsdnet-shmtest-{secrets.token_hex(4)}"
    yield n
    try:
        os.unlink(f"/dev/shm/{n}")
    except FileNotFoundError:
        pass


def test_name_opened_without_a_path(name: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    Region.create(name).close()
    real_open = os.open

    def no_dev_shm(path, *a, **kw):
        assert not str(path).startswith("/dev/shm"), \
            f"{path} opened as a file"
        return real_open(path, *a, **kw)

    monkeypatch.setattr(os, "open", no_dev_shm)
    r = Region.open(name)
    try:
        assert r.instance != 0
    finally:
        r.close()
    r = Region.open("/" + name, readonly=True)     # shm_open's spelling
    r.close()


def test_path_still_a_file(tmp_path) -> None:
    path = str(tmp_path / "region")
    Region.create(path).close()
    Region.open(path).close()


def test_missing_region_message(name: str) -> None:
    with pytest.raises(region_mod.RegionError, match="no such region"):
        Region.open(name)


def test_region_path_names_freebsd_shm(monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    monkeypatch.setattr(region_mod.sys, "platform", "freebsd14")
    assert region_mod.region_path("bsdnet") == "shm:/bsdnet"
    monkeypatch.setattr(region_mod.sys, "platform", "linux")
    assert region_mod.region_path("bsdnet") == "/dev/shm/bsdnet"
    assert region_mod.region_path("/tmp/x/r") == "/tmp/x/r"
