"""Ports whose tap is the hypervisor's (plugged with create=False, as the
compute driver's bridge VIF driver does): a restart's reconcile never makes
a tap of that name (libvirt would then fail to make its own at the guest's
next start), keeps the lease, and adopts the tap again if the guest runs."""

from __future__ import annotations

from bsdnet.driver.net import Network, Port, get_driver

from .netdrv_env import make_fbsd_env

NET = "net1"
MAC = "52:54:00:00:00:05"


def libvirt_tap(env, name: str, bridge: str) -> None:
    """libvirt's bhyve driver's steps for a guest's tap, on the stand-in."""
    def run(*args: str) -> str:
        rc, out, err = env.host.run(["ifconfig", *args])
        assert rc == 0, err
        return out
    unit = run("tap", "create").strip()
    run(unit, "name", name)
    run(bridge, "addm", name)
    run(name, "up")


def test_reconcile_leaves_the_hypervisors_tap_to_it(tmp_path) -> None:
    env = make_fbsd_env(tmp_path)
    drv = env.driver
    net = Network(id=NET, uplink=env.uplink, move_address=True)
    br = drv.ensure_network(net)["bridge"]
    libvirt_tap(env, "tapvm1", br)
    drv.plug_port(Port(id="vm1", network_id=NET, mac=MAC, ip="10.0.0.5", tap="tapvm1"), create=False)
    assert drv.store.port("vm1").adopted
    drv.plug_port(Port(id="vm1", network_id=NET, mac=MAC, ip="10.0.0.5", tap="tapvm1"), create=False)
    assert drv.store.port("vm1").adopted  # plugging again keeps knowing whose tap it is

    env.host.run(["ifconfig", "tapvm1", "destroy"])  # the guest stopped; so did we
    again = get_driver({"state_dir": str(drv.store.path), "dhcp": False}, backend=drv.backend)
    res = again.reconcile()
    assert res["ports"] == 1 and res["removed"] == []
    assert drv.backend.get("tapvm1") is None  # not made by bsdnet
    assert again.store.port("vm1").ip == "10.0.0.5"  # still wanted, lease and all

    libvirt_tap(env, "tapvm1", br)  # the guest starts again, without our mark
    again.reconcile()
    st = drv.backend.get("tapvm1")
    assert "made=adopted" in st.description and st.master == br
    again.unplug_port("vm1")
    assert drv.backend.get("tapvm1") is not None  # the hypervisor's to remove


def test_made_ports_are_still_remade(tmp_path) -> None:
    env = make_fbsd_env(tmp_path)
    drv = env.driver
    drv.ensure_network(Network(id=NET, uplink=env.uplink, move_address=True))
    drv.plug_port(Port(id="p1", network_id=NET, mac=MAC, tap="tapp1"))
    assert not drv.store.port("p1").adopted
    drv.backend.destroy("tapp1")
    get_driver({"state_dir": str(drv.store.path), "dhcp": False}, backend=drv.backend).reconcile()
    assert drv.backend.get("tapp1") is not None
