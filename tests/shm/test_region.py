"""Region open and validation: every way a region can be wrong gives a
clear RegionError, never a crash."""
import os

import pytest

from bsdnet.shm.abi import ffi, lib
from bsdnet.shm.region import Region, RegionError, geometry, region_path, \
    small_geometry


def _make(tmp_path):
    path = str(tmp_path / "r")
    Region.create(path, small_geometry()).close()
    return path


def _poke(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_create_then_open_sees_same_instance(tmp_path):
    path = str(tmp_path / "r")
    a = Region.create(path, small_geometry())
    b = Region.open(path)
    assert b.instance == a.instance
    assert b.geometry()["nvifs"] == 64
    assert b.router_mac == bytes.fromhex("00005e000100")
    assert b.nflows == (256 + 64) * lib.BSDNET_FLOW_WAYS
    a.close()
    b.close()


def test_missing_region(tmp_path):
    with pytest.raises(RegionError, match="no such region"):
        Region.open(str(tmp_path / "nothing"))


def test_bad_magic(tmp_path):
    path = _make(tmp_path)
    _poke(path, 0, b"\0\0\0\0")
    with pytest.raises(RegionError, match="bad magic"):
        Region.open(path)


def test_bad_version(tmp_path):
    path = _make(tmp_path)
    off = ffi.offsetof("struct bsdnet_region_hdr", "rh_abi_version")
    _poke(path, off, (lib.BSDNET_ABI_VERSION + 1).to_bytes(4, "little"))
    with pytest.raises(RegionError, match="ABI version"):
        Region.open(path)


def test_truncated_file(tmp_path):
    path = _make(tmp_path)
    os.truncate(path, os.path.getsize(path) - 4096)
    with pytest.raises(RegionError, match="truncated"):
        Region.open(path)


def test_shorter_than_header(tmp_path):
    path = str(tmp_path / "tiny")
    with open(path, "wb") as f:
        f.write(b"BNET")
    with pytest.raises(RegionError, match="truncated"):
        Region.open(path)


@pytest.mark.parametrize("field", ["rh_off_flows", "rh_off_flowtags"])
def test_offset_that_disagrees_with_layout(tmp_path, field):
    path = _make(tmp_path)
    off = ffi.offsetof("struct bsdnet_region_hdr", field)
    _poke(path, off, (4096).to_bytes(8, "little"))
    with pytest.raises(RegionError, match=field):
        Region.open(path)


def test_geometry_out_of_range(tmp_path):
    path = _make(tmp_path)
    off = ffi.offsetof("struct bsdnet_region_hdr", "rh_nflowbuckets")
    _poke(path, off, (3).to_bytes(4, "little"))   # not a power of two
    with pytest.raises(RegionError, match="geometry"):
        Region.open(path)


def test_create_refuses_bad_geometry(tmp_path):
    with pytest.raises(RegionError, match="bad geometry"):
        Region.create(str(tmp_path / "r"), geometry(nflowbuckets=3))


def test_tables_are_bounds_checked(region):
    with pytest.raises(IndexError):
        region.vifs[len(region.vifs)]
    with pytest.raises(IndexError):
        region.flows[region.nflows]
    with pytest.raises(IndexError):
        region.vrfs[0].vrf_root[256]


def test_heartbeat(region):
    region.heartbeat(pid=4242)
    assert region.hdr.rh_agent_pid == 4242


def test_region_path():
    assert region_path("bsdnet0") == "/dev/shm/bsdnet0"
    assert region_path("/bsdnet0") == "/dev/shm/bsdnet0"
    assert region_path("/tmp/x/r") == "/tmp/x/r"


def test_readonly_open(tmp_path):
    path = _make(tmp_path)
    r = Region.open(path, readonly=True)
    assert r.vifs[1].vif_type == lib.BSDNET_VIF_NONE
    r.close()


def test_flow_states_view(region):
    region.flows[5].fe_state = 0x302
    states = region.flow_states()
    assert len(states) == region.nflows
    assert states[5] == 0x302 and states[4] == 0
