"""The region: created 0600 with the asked geometry, reused across
restarts (clean or SIGKILL), refused when invalid unless --reformat."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from bsdnet.shm.abi import lib
from bsdnet.shm.region import Region
from bsdnet.datapath.process import binary_path
from bsdnet.datapath.process import DatapathError

from .conftest import SMALL_GEOMETRY, read_log

pytestmark = pytest.mark.root


def _open(shm: str) -> Region:
    return Region.open(shm)


def test_created_mode_0600_with_geometry(datapath, shm_name, sockdir):
    dp = datapath()
    path = Path("/dev/shm", shm_name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sock = sockdir / "dp.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert (sockdir / "dp.pid").read_text().strip() == str(dp.pid)
    r = _open(shm_name)
    try:
        assert r.geometry() == SMALL_GEOMETRY
        assert r.dp_heartbeat()[0] == dp.pid
        assert r.instance != 0
        assert r.router_mac == bytes.fromhex("00005e000100")
    finally:
        r.close()
    assert "formatted region" in read_log(sockdir)
    assert dp.stop() == 0
    # A clean stop removes pid file and socket; the region stays.
    assert not (sockdir / "dp.pid").exists()
    assert not sock.exists()
    assert path.exists()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_restart_reuses_region(datapath, shm_name, sockdir, how):
    dp = datapath()
    r = _open(shm_name)
    try:
        instance = r.instance
        key = (r.hdr.rh_hash_key[0], r.hdr.rh_hash_key[1])
    finally:
        r.close()
    getattr(dp, how)()
    # Other geometry on the command line: ignored, the region is kept.
    dp2 = datapath(extra_args=["--vifs", "32"])
    r = _open(shm_name)
    try:
        assert r.instance == instance
        assert (r.hdr.rh_hash_key[0], r.hdr.rh_hash_key[1]) == key
        assert r.geometry()["nvifs"] == SMALL_GEOMETRY["nvifs"]
        assert r.dp_heartbeat()[0] == dp2.pid
    finally:
        r.close()
    assert "reusing region" in read_log(sockdir)


def _start_fails(datapath) -> str:
    with pytest.raises(DatapathError) as ei:
        datapath()
    return str(ei.value)


def test_garbage_refused_then_reformatted(datapath, shm_name, sockdir):
    path = Path("/dev/shm", shm_name)
    garbage = os.urandom(64 * 1024)
    path.write_bytes(garbage)
    msg = _start_fails(datapath)
    assert "exited with 1" in msg
    assert "not a usable bsdnet region" in msg
    assert "--reformat" in msg
    assert path.read_bytes() == garbage     # untouched
    datapath(reformat=True)
    r = _open(shm_name)
    try:
        assert r.geometry() == SMALL_GEOMETRY
    finally:
        r.close()


def test_wrong_version_refused_then_reformatted(datapath, shm_name, sockdir):
    r = Region.create(shm_name, dict(SMALL_GEOMETRY))
    old_instance = r.instance
    r.hdr.rh_abi_version = lib.BSDNET_ABI_VERSION + 1
    r.close()
    msg = _start_fails(datapath)
    assert "another ABI version" in msg
    datapath(reformat=True)
    r = _open(shm_name)
    try:
        assert r.hdr.rh_abi_version == lib.BSDNET_ABI_VERSION
        assert r.instance != old_instance
    finally:
        r.close()


def test_second_datapath_on_same_region_refused(datapath, shm_name,
                                                sockdir, tmp_path):
    datapath()
    argv = [str(binary_path()), "--shm", shm_name]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "in use by another datapath" in p.stderr


def test_trap_socket_of_live_datapath_not_stolen(datapath, shm_name,
                                                 sockdir):
    """A second datapath (another region) pointed at a trap socket a live
    one is bound to refuses; the first keeps its socket."""
    datapath()
    other = shm_name + "b"
    try:
        msg = _start_fails(lambda: datapath(shm=other))
        assert "in use by a running process" in msg
        assert (sockdir / "dp.sock").exists()
    finally:
        Path("/dev/shm", other).unlink(missing_ok=True)


def test_help_and_usage_errors():
    p = subprocess.run([str(binary_path()), "--help"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0
    for word in ("SYNOPSIS", "--shm", "--trap-socket", "--agent-socket",
                 "--reformat", "--flow-buckets", "SIGTERM"):
        assert word in p.stdout
    for bad in ([], ["--shm", "a/b"], ["--shm", "x", "--vifs", "many"],
                ["--shm", "x", "--flow-buckets", "3"], ["--bogus"],
                ["--shm", "x", "--log-level", "loud"]):
        p = subprocess.run([str(binary_path())] + bad, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 2, bad
        assert p.stderr



def test_reformat_never_touches_a_valid_region(datapath, shm_name, sockdir):
    dp = datapath()
    r = _open(shm_name)
    try:
        instance = r.instance
    finally:
        r.close()
    dp.stop()
    datapath(reformat=True)
    r = _open(shm_name)
    try:
        assert r.instance == instance
    finally:
        r.close()
    assert "reusing region" in read_log(sockdir)
