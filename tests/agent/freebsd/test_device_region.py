"""The region over /dev/bsdnet: GEOMETRY/CREATE, mmap, validation, and
the errors an operator sees (no module, not root, no tables, bad tables)."""
import errno
import os

import pytest

from bsdnet.agent import daemon, transport as transports
from bsdnet.cmd import agent as agent_cmd
from bsdnet.shm.region import RegionError
from bsdnet.agent.transport_device import DeviceTransport

from .fakedev import SMALL
from .fakedev import oserror


def test_create_map_and_share(fake, transport):
    r = transport.open_region()
    try:
        assert r.geometry() == SMALL
        assert r.instance == fake.instance
        assert r.path == "/dev/bsdnet"
        # The same pages as the module's: what the agent writes, it sees.
        r.vifs[5].vif_mtu = 1234
        assert fake.region.vifs[5].vif_mtu == 1234
    finally:
        r.close()


def test_existing_tables_are_mapped_not_created(fake, transport):
    transport.open_region().close()
    first = fake.instance
    other = DeviceTransport("/dev/bsdnet", create=False, ops=fake)
    try:
        r = other.open_region()
        assert r.instance == first
        assert r.geometry() == SMALL
        r.close()
    finally:
        other.close()


def test_default_sizes_are_bsdnet_abi_h(fake):
    t = DeviceTransport("/dev/bsdnet", create=True,
                        sizes={"nflowbuckets": 512}, ops=fake)
    try:
        r = t.open_region()
        g = r.geometry()
        r.close()
    finally:
        t.close()
    assert g["nflowbuckets"] == 512
    assert g["nvifs"] == 4096      # the header's default


def test_no_tables_and_not_told_to_create(fake):
    t = DeviceTransport("/dev/bsdnet", create=False, ops=fake)
    try:
        with pytest.raises(RegionError, match="no tables yet"):
            t.open_region()
        assert fake.region is None
    finally:
        t.close()


def test_no_device(fake, transport):
    fake.loaded = False
    with pytest.raises(RegionError, match="no such device.*kldload"):
        transport.open_region()


def test_permission_denied(fake, transport):
    fake.root = False
    with pytest.raises(RegionError, match="permission denied"):
        transport.open_region()


def test_refused_geometry(fake):
    t = DeviceTransport("/dev/bsdnet", create=True,
                        sizes={**SMALL, "nvifs": 0}, ops=fake)
    try:
        with pytest.raises(RegionError, match="creating the tables.*"
                           + os.strerror(errno.EINVAL)):
            t.open_region()
        assert fake.region is None
    finally:
        t.close()


def test_unknown_or_bad_size_fails_at_start(fake):
    with pytest.raises(RegionError, match="unknown geometry sizes"):
        DeviceTransport("/dev/bsdnet", create=True, sizes={"nvfis": 3},
                        ops=fake)
    with pytest.raises(RegionError, match="must be counts"):
        DeviceTransport("/dev/bsdnet", create=True, sizes={"nvifs": "x"},
                        ops=fake)


def test_created_by_someone_else_meanwhile(fake, transport, monkeypatch):
    # bsdnetctl create ran between the agent's GEOMETRY (ENXIO) and its
    # CREATE (EEXIST): the agent maps the tables that are there.
    other = DeviceTransport("/dev/bsdnet", create=True,
                            sizes={**SMALL, "nvifs": 32}, ops=fake)
    other.open_region().close()
    real = fake._geometry
    first = [True]

    def geometry(ig):
        if first:
            first.clear()
            raise oserror(errno.ENXIO)
        real(ig)

    monkeypatch.setattr(fake, "_geometry", geometry)
    r = transport.open_region()
    try:
        assert r.instance == fake.instance
        assert r.geometry()["nvifs"] == 32      # theirs, not ours
    finally:
        r.close()
        other.close()


def test_reported_size_below_the_header(fake, transport):
    transport.open_region().close()
    fake.size = 100
    with pytest.raises(RegionError, match="smaller than its header"):
        transport.open_region()


def test_layout_not_bsdnet_layout(fake, transport):
    transport.open_region().close()
    fake.region.hdr.rh_off_flows += 64
    with pytest.raises(RegionError, match="rh_off_flows"):
        transport.open_region()


def test_bad_magic(fake, transport):
    transport.open_region().close()
    fake.region.hdr.rh_magic = 0
    with pytest.raises(RegionError, match="bad magic"):
        transport.open_region()


def test_instance_differs_from_the_module(fake, transport):
    transport.open_region().close()
    fake.instance ^= 1
    with pytest.raises(RegionError, match="instance"):
        transport.open_region()


def test_mmap_refused(fake, transport, monkeypatch):
    transport.open_region().close()
    monkeypatch.setattr(fake, "mmap", lambda fd, size, ro: (_ for _ in ()).throw(
        oserror(errno.EINVAL)))
    with pytest.raises(RegionError, match="mmap of"):
        transport.open_region()


def test_daemon_waits_then_gives_up_with_the_reason(fake):
    t = DeviceTransport("/dev/bsdnet", create=False, ops=fake)
    try:
        with pytest.raises(RegionError, match="gave up.*no tables yet"):
            daemon.wait_region(t.open_region, 0.0, where=t.where())
    finally:
        t.close()


def test_config_chooses_the_transport():
    conf = agent_cmd.build_conf([])
    assert isinstance(transports.from_conf(conf), transports.ShmTransport)
    conf = agent_cmd.build_conf(["--datapath-transport", "device",
                              "--datapath-device", "/dev/bsdnet7",
                              "--datapath-device_create",
                              "--datapath-device_geometry",
                              "nvifs:128,nflowbuckets:1024"])
    t = transports.from_conf(conf)
    assert isinstance(t, DeviceTransport)
    assert (t.path, t.create) == ("/dev/bsdnet7", True)
    assert t.sizes == {"nvifs": "128", "nflowbuckets": "1024"}
    assert t.where() == "/dev/bsdnet7"


def test_module_unloading(fake, transport, monkeypatch):
    def dying(path, flags):
        raise OSError(errno.ENXIO, os.strerror(errno.ENXIO), path)

    monkeypatch.setattr(fake, "open", dying)
    with pytest.raises(RegionError, match=os.strerror(errno.ENXIO)):
        transport.open_region()
