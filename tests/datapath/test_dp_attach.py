"""Vifs attached and detached while the datapath runs."""
from __future__ import annotations

import pytest

from bsdnet.shm.abi import lib
from bsdnet.shm.tables import Vif
from bsdnet.datapath.control import ControlClient

from .conftest import read_log
from .helpers import open_tables, os_index, wait_for, write_raw_vif
from .nsutil import ifindex, ip, suffix

pytestmark = pytest.mark.root


def _node(namespaces):
    ns = namespaces.add("bdn")
    a, b = f"va{suffix()}", f"vb{suffix()}"
    namespaces.veth(ns, a, ns, b)
    return ns, a, b


def test_attach_detach_on_vif_sync(datapath, namespaces, sockdir):
    ns, a, _ = _node(namespaces)
    dp = datapath(netns=ns)
    region, tables = open_tables(dp.config.shm)
    try:
        vif = tables.vifs.add(Vif(type=lib.BSDNET_VIF_VIRTUAL, name=a))
        with ControlClient(dp.config.trap_socket) as ctl:
            ctl.vif_sync()
            want = ifindex(ns, a)
            assert want > 0
            wait_for(lambda: os_index(region, vif) == want, "attach")
            assert f"vif {vif}: attached to {a}" in read_log(sockdir)
            tables.vifs.delete(vif)
            ctl.vif_sync()
            wait_for(lambda: os_index(region, vif) == 0, "detach")
        assert f"vif {vif}: detached from {a}" in read_log(sockdir)
        assert dp.alive()
    finally:
        region.close()


def test_attach_waits_for_interface_and_follows_it(datapath, namespaces,
                                                   sockdir):
    """A vif naming an interface that does not exist yet is attached when
    it appears (tick scan, no VIF_SYNC), detached when it disappears and
    attached again to its successor."""
    ns = namespaces.add("bdn")
    a, b = f"va{suffix()}", f"vb{suffix()}"
    dp = datapath(netns=ns)
    region, tables = open_tables(dp.config.shm)
    try:
        vif = tables.vifs.add(Vif(type=lib.BSDNET_VIF_FABRIC, name=a))
        wait_for(lambda: "not present yet" in read_log(sockdir), "retry log")
        assert os_index(region, vif) == 0
        namespaces.veth(ns, a, ns, b)
        first = ifindex(ns, a)
        wait_for(lambda: os_index(region, vif) == first, "late attach")
        ip("link", "del", a, ns=ns)
        wait_for(lambda: os_index(region, vif) == 0, "detach on removal")
        namespaces.veth(ns, a, ns, b)
        second = ifindex(ns, a)
        assert second != first
        wait_for(lambda: os_index(region, vif) == second, "re-attach")
        assert dp.alive()
    finally:
        region.close()


def test_changed_name_moves_port(datapath, namespaces):
    ns, a, b = _node(namespaces)
    dp = datapath(netns=ns)
    region, tables = open_tables(dp.config.shm)
    try:
        vif = tables.vifs.add(Vif(type=lib.BSDNET_VIF_VIRTUAL, name=a))
        wait_for(lambda: os_index(region, vif) == ifindex(ns, a), "attach a")
        tables.vifs.update(vif, Vif(type=lib.BSDNET_VIF_VIRTUAL, name=b))
        wait_for(lambda: os_index(region, vif) == ifindex(ns, b), "move to b")
    finally:
        region.close()


def test_untrusted_entries_ignored_and_logged_once(datapath, namespaces,
                                                   sockdir):
    ns, a, _ = _node(namespaces)
    dp = datapath(netns=ns)
    region, tables = open_tables(dp.config.shm)
    try:
        # Name filling all 16 bytes (no NUL), an unknown type, a HOST vif
        # (not ours to attach), all naming a real interface.
        write_raw_vif(region, 3, lib.BSDNET_VIF_VIRTUAL,
                      (a.encode() * 4)[:lib.BSDNET_IFNAMSIZ])
        write_raw_vif(region, 4, 77, a.encode())
        write_raw_vif(region, 5, lib.BSDNET_VIF_HOST, a.encode())
        with ControlClient(dp.config.trap_socket) as ctl:
            for _ in range(5):
                ctl.vif_sync()
            # A good vif after the bad ones: once it is attached, the scans
            # above have all run.
            good = tables.vifs.add(Vif(type=lib.BSDNET_VIF_VIRTUAL, name=a))
            ctl.vif_sync()
            wait_for(lambda: os_index(region, good) == ifindex(ns, a),
                     "good vif attached")
        log = read_log(sockdir)
        assert log.count("vif 3: ignoring entry") == 1
        assert "name not NUL-terminated" in log
        assert log.count("vif 4: ignoring entry") == 1
        assert "unknown vif type" in log
        assert "vif 5:" not in log
        for bad in (3, 4, 5):
            assert os_index(region, bad) == 0
        assert dp.alive()
    finally:
        region.close()


def test_stale_os_index_cleared_and_detach_on_stop(datapath, namespaces):
    """After SIGKILL the table still says attached; a new datapath puts it
    right, and a clean stop leaves every vif_os_index at 0."""
    ns, a, _ = _node(namespaces)
    dp = datapath(netns=ns)
    region, tables = open_tables(dp.config.shm)
    try:
        vif = tables.vifs.add(Vif(type=lib.BSDNET_VIF_VIRTUAL, name=a))
        want = ifindex(ns, a)
        wait_for(lambda: os_index(region, vif) == want, "attach")
        dp.kill()
        assert os_index(region, vif) == want    # nobody cleared it
        tables.vifs.delete(vif)
        dp2 = datapath(netns=ns)
        wait_for(lambda: os_index(region, vif) == 0, "stale index cleared")
        vif2 = tables.vifs.add(Vif(type=lib.BSDNET_VIF_VIRTUAL, name=a))
        wait_for(lambda: os_index(region, vif2) == want, "attach again")
        assert dp2.stop() == 0
        assert os_index(region, vif2) == 0
    finally:
        region.close()


def test_one_interface_one_vif(datapath, namespaces, sockdir):
    """Two entries naming one interface: the second waits until the first
    lets go (a frame must not be processed twice)."""
    ns, a, _ = _node(namespaces)
    dp = datapath(netns=ns)
    region, tables = open_tables(dp.config.shm)
    try:
        want = ifindex(ns, a)
        first = tables.vifs.add(Vif(type=lib.BSDNET_VIF_VIRTUAL, name=a))
        wait_for(lambda: os_index(region, first) == want, "first attached")
        second = tables.vifs.add(Vif(type=lib.BSDNET_VIF_FABRIC, name=a))
        wait_for(lambda: f"is already attached as vif {first}" in
                 read_log(sockdir), "refusal logged")
        assert os_index(region, second) == 0
        tables.vifs.delete(first)
        wait_for(lambda: os_index(region, second) == want, "second attached")
        assert os_index(region, first) == 0
        assert dp.alive()
    finally:
        region.close()
