"""FreeBSD-only behaviour of the ifconfig backend, against the stand-in."""

from __future__ import annotations

import pytest

from bsdnet.driver.net import AddressConflict, InvalidName, Network, NotOwned, Port
from bsdnet.driver.net.names import tap_name

from .netdrv_env import make_fbsd_env


def test_flat_scenario_through_the_executable_stand_in(tmp_path):
    """fork/exec of argv lists, exactly as on a FreeBSD host."""
    env = make_fbsd_env(tmp_path, executable=True)
    drv = env.driver
    br = drv.ensure_network(Network(id="n1", uplink="em0", move_address=True))["bridge"]
    t = drv.plug_port(Port(id="p1", network_id="n1", mac="52:54:00:00:00:01"))["tap"]
    host = env.host_now()
    assert host.ifaces[br].members == ["em0", t]
    assert host.ifaces[br].inet == ["192.0.2.10/24"] and host.ifaces["em0"].inet == []
    assert host.default_route == ("192.0.2.1", br)
    made = [a for a in host.log if a[:3] == ["ifconfig", "tap", "create"]]
    assert made == [["ifconfig", "tap", "create", "group", "bsdnet", "description",
                     "bsdnet kind=tap made=bsdnet net=n1 port=p1", "name", t,
                     "mtu", "1500", "ether", "fe:54:00:00:00:01", "up"]]
    drv.unplug_port("p1")
    drv.delete_network("n1")
    host = env.host_now()
    assert set(host.ifaces) == {"em0", "em1", "lo0"}
    assert host.ifaces["em0"].inet == ["192.0.2.10/24"]
    # member_ifaddrs=0 made bsdnet take the link-local off em0; it is back.
    assert host.ifaces["em0"].inet6 == ["fe80::5054:ff:fe12:3456%em0/64"]


def test_member_ifaddrs_zero_refuses_without_move_and_makes_nothing(tmp_path):
    env = make_fbsd_env(tmp_path, member_ifaddrs="0")
    with pytest.raises(AddressConflict, match="member_ifaddrs=0"):
        env.driver.ensure_network(Network(id="n1", uplink="em0"))
    assert set(env.host.ifaces) == {"em0", "em1", "lo0"}


def test_member_ifaddrs_one_keeps_address_on_uplink(tmp_path):
    env = make_fbsd_env(tmp_path, member_ifaddrs="1")
    br = env.driver.ensure_network(Network(id="n1", uplink="em0"))["bridge"]
    assert env.host.ifaces["em0"].inet == ["192.0.2.10/24"]
    assert env.host.ifaces[br].members == ["em0"]


def test_jumbo_uplink_mtu_follows_network(tmp_path):
    """em1 runs at 9000; a 1500 network fixes the member before addm, and
    ports get the bridge's MTU."""
    env = make_fbsd_env(tmp_path)
    drv = env.driver
    br = drv.ensure_network(Network(id="n1", uplink="em1", mtu=1500))["bridge"]
    assert env.host.ifaces["em1"].mtu == 1500 and env.host.ifaces[br].mtu == 1500
    t = drv.plug_port(Port(id="p1", network_id="n1", mac="52:54:00:00:00:01"))["tap"]
    assert env.host.ifaces[t].mtu == 1500
    # Raising the network's MTU later goes through the bridge to every member.
    drv.ensure_network(Network(id="n1", uplink="em1", mtu=9000))
    assert {env.host.ifaces[n].mtu for n in (br, "em1", t)} == {9000}


def test_vlan_network_and_conflicts(tmp_path):
    env = make_fbsd_env(tmp_path)
    drv = env.driver
    info = drv.ensure_network(Network(id="n1", uplink="em1", vlan=42, mtu=1500, stp=True))
    v = env.host.ifaces[info["uplink"]]
    assert (v.name, v.vlan_tag, v.vlan_parent, v.mtu) == ("em1.42", 42, "em1", 1500)
    assert env.host.ifaces[info["bridge"]].member_stp == {"em1.42": True}
    # Another network may not take over the same VLAN interface.
    with pytest.raises(NotOwned):
        drv.ensure_network(Network(id="n2", uplink="em1", vlan=42))
    with pytest.raises(InvalidName):
        drv.ensure_network(Network(id="n3", uplink="em1", vlan=4095))
    drv.delete_network("n1")
    assert set(env.host.ifaces) == {"em0", "em1", "lo0"}


def test_taps_are_brought_up_without_up_on_open(tmp_path):
    env = make_fbsd_env(tmp_path)
    assert env.host.sysctls["net.link.tap.up_on_open"] == "0"
    env.driver.ensure_network(Network(id="n1", uplink="em1"))
    t = env.driver.plug_port(Port(id="p1", network_id="n1", mac="52:54:00:00:00:01"))["tap"]
    assert "UP" in env.host.ifaces[t].flags


def test_failed_rename_leftover_is_found_by_cleanup(tmp_path):
    """A create whose `name` fails leaves tapN behind; it carries the mark
    (group and description come first in the argv), so cleanup removes it."""
    env = make_fbsd_env(tmp_path)
    be = env.driver.backend
    rc, _, err = env.host.run(["ifconfig", "tap", "create", "group", "bsdnet", "description",
                               "bsdnet kind=tap made=bsdnet net=n1 port=p9", "name", "em0"])
    assert rc == 1 and "File exists" in err
    assert be.group_members("bsdnet") == ["tap0"]
    assert env.driver.cleanup() == ["tap0"]
    assert "tap0" not in env.host.ifaces


def test_plug_into_a_bridge_that_vanished_is_an_error(tmp_path):
    env = make_fbsd_env(tmp_path)
    drv = env.driver
    br = drv.ensure_network(Network(id="n1", uplink="em1"))["bridge"]
    env.host.run(["ifconfig", br, "destroy"])
    with pytest.raises(Exception, match="does not exist"):
        drv.plug_port(Port(id="p1", network_id="n1", mac="52:54:00:00:00:01"))
    assert tap_name("p1") not in env.host.ifaces
