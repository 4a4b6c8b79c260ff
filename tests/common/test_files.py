"""write_atomic(): old or new, never a part; fsync as each caller needs."""
from __future__ import annotations

import os
import stat

import pytest

from bsdnet.agent import portstore as ps
from bsdnet.agent import state as agent_state
from bsdnet.common import files
from bsdnet.common.files import write_atomic
from bsdnet.driver.net import Network
from bsdnet.driver.net.state import StateStore


@pytest.fixture
def fsyncs(monkeypatch):
    """What was fsynced: 'file' or 'dir', in order."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        seen.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)
    monkeypatch.setattr(files.os, "fsync", fsync)
    return seen


def test_replaces_whole_with_its_mode(tmp_path):
    p = tmp_path / "f"
    write_atomic(p, "old")
    write_atomic(p, b"new", mode=0o644)
    assert p.read_bytes() == b"new"
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    write_atomic(p, "private")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    p = tmp_path / "f"
    write_atomic(p, "old")

    def crash(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        write_atomic(p, "new")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["f"]


@pytest.mark.parametrize("kw, want", [
    ({}, ["file", "dir"]),                          # durable
    ({"sync_dir": False}, ["file"]),                # the caller syncs the directory
    ({"durable": False}, []),                       # a process crash only
])
def test_fsync_policy(tmp_path, fsyncs, kw, want):
    write_atomic(tmp_path / "f", "x", **kw)
    assert fsyncs == want


def test_each_store_keeps_its_promise(tmp_path, fsyncs):
    # The network driver's state: durable, one file per object.
    StateStore(tmp_path / "net").put_network(Network(id="n1", uplink="em0"))
    assert fsyncs == ["file", "dir"]
    fsyncs.clear()
    # The port store: each file durable, each directory synced once per flush.
    store = ps.PortStore(str(tmp_path / "ports"))
    net = ps.Network.from_json({"id": "38ced7ff-fdfc-4f17-9547-17ff4fb45da9"})
    store.commit("network", net.id, net, persist=False)
    store.flush()
    assert fsyncs == ["file", "dir"]
    fsyncs.clear()
    # state.json describes live tables, void after a reboot: not durable.
    agent_state.save(str(tmp_path / "agent"), agent_state.empty_state(1))
    assert fsyncs == []
