"""Bridged guests get their DHCP lease: the compute driver on test:///default,
the bridge VIF driver on bsdnet's network driver whose FreeBSD backend runs
against the FreeBSD stand-in, libvirt's tap steps played by ``FreeBSDTaps``,
and dnsmasq by ``fake_dnsmasq.py`` (the stand-in's bridge is not real).
What is checked is what dnsmasq reads: the network's host file, and that it
was told to re-read it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from bsdnet.driver.compute import images
from bsdnet.driver.compute.config import DriverConfig
from bsdnet.driver.compute.driver import RUNNING, SHUTDOWN, BhyveDriver
from bsdnet.driver.vif import BridgeVifDriver, VifPlugError
from tests.driver.helpers import libvirt, make_instance, make_vif
from tests.driver.libvirt_taps import FreeBSDTaps, TapConn
from tests.driver.xmlcheck import ValidatingConn

net = pytest.importorskip("bsdnet.driver.net", reason="network driver not present")
from bsdnet.driver.net.fbsd_sim import FreeBSDHost  # noqa: E402
from bsdnet.driver.net.freebsd import FreeBSDBackend  # noqa: E402
from bsdnet.driver.net.names import parse_mark  # noqa: E402
from bsdnet.driver.net.runner import SimRunner  # noqa: E402
from bsdnet.driver.vif.netadapter import NetworkDriverAdapter  # noqa: E402
from tests.driver.helpers import HOST  # noqa: E402

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}
HERE = Path(__file__).parent


def dhcp_vif(ip: str = "10.0.0.5", net_id: str | None = None) -> dict:
    vif = make_vif(net_id=net_id, ip=ip)
    vif["network"]["subnets"][0]["meta"] = {"dhcp_server": "10.0.0.2"}
    return vif


class Stack:
    def __init__(self, tmp_path: Path, image_dir: Path) -> None:
        self.host = FreeBSDHost.from_ifconfig(HOST)
        fake = tmp_path / "dnsmasq"
        fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "fake_dnsmasq.py"}" "$@"\n')
        fake.chmod(0o755)
        self.net = net.get_driver({"state_dir": str(tmp_path / "state"), "dhcp": True, "dnsmasq": str(fake)},
                                  backend=FreeBSDBackend(SimRunner(self.host)))
        self.tapconn: TapConn | None = None

        def connect(uri: str) -> TapConn:
            self.tapconn = TapConn(libvirt.open(uri), FreeBSDTaps(self.host))
            return ValidatingConn(self.tapconn)

        cfg = DriverConfig(connection_uri="test:///default", instances_path=str(tmp_path / "instances"),
                           image_cache_path=str(tmp_path / "cache"))
        self.compute = BhyveDriver(config=cfg, vif_driver=BridgeVifDriver(NetworkDriverAdapter(self.net), "em0"),
                                   fetcher=images.local_fetcher(str(image_dir)), connect=connect)
        self.compute.poll_interval = 0.01
        self.compute.init_host("testhost")

    def hosts(self, vif: dict) -> list[str]:
        f = Path(self.net.dhcp.root) / vif["network"]["id"] / "hosts"
        return f.read_text().splitlines() if f.exists() else []

    def hups(self, vif: dict, at_least: int) -> int:
        """SIGHUPs the stand-in dnsmasq has handled, once it has at least
        ``at_least`` (signals arrive asynchronously; the wait is generous)."""
        f = Path(self.net.dhcp.root) / vif["network"]["id"] / "hups"
        for _ in range(3000):
            n = int(f.read_text()) if f.exists() else 0
            if n >= at_least:
                return n
            time.sleep(0.01)
        return n

    def close(self) -> None:
        for dom in self.compute._our_domains():
            if dom.name().startswith("bsdt-"):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
        self.compute.cleanup_host("testhost")
        for n in self.net.dhcp.networks():
            self.net.dhcp.stop(n)


@pytest.fixture
def stack(tmp_path, image_dir):
    s = Stack(tmp_path, image_dir)
    try:
        yield s
    finally:
        s.close()


def test_lease_follows_the_guest(stack) -> None:
    inst = make_instance(hostname="web-1")
    vif = dhcp_vif()
    tap = vif["devname"]
    stack.compute.spawn(None, inst, IMAGE, network_info=[vif])
    try:
        assert stack.hosts(vif) == [f"{vif['address']},10.0.0.5,web-1"]
        pid = stack.net.dhcp.pid(vif["network"]["id"])
        assert pid is not None and stack.hups(vif, 1) >= 1  # told to re-read, not restarted
        st = stack.net.backend.get(tap)
        assert parse_mark(st.description) == {"kind": "tap", "port": vif["id"], "net": vif["network"]["id"],
                                              "made": "adopted"}
        assert st.master == "bnb" + vif["network"]["id"].replace("-", "")[:12] and st.up
        bridge = stack.net.backend.get(st.master)
        assert "10.0.0.2/24" in bridge.inet  # dnsmasq answers from the bridge

        # libvirt makes a new tap at every start; each is adopted again.
        stack.compute.reboot(None, inst, [vif], "HARD")
        assert parse_mark(stack.net.backend.get(tap).description)["made"] == "adopted"
        stack.compute.power_off(inst)
        assert stack.net.backend.get(tap) is None
        assert stack.hosts(vif) == [f"{vif['address']},10.0.0.5,web-1"]  # a stopped guest keeps its address
        stack.compute.power_on(None, inst, [vif])
        assert stack.compute.get_info(inst).state == RUNNING
        assert parse_mark(stack.net.backend.get(tap).description)["made"] == "adopted"
        stack.compute.power_on(None, inst, [vif])  # running already: idempotent
        assert stack.hosts(vif) == [f"{vif['address']},10.0.0.5,web-1"]
        assert stack.net.dhcp.pid(vif["network"]["id"]) == pid
    finally:
        stack.compute.destroy(None, inst, [vif])
    assert stack.hosts(vif) == []
    assert stack.net.store.port(vif["id"]) is None
    assert stack.net.backend.get(tap) is None
    stack.compute.destroy(None, inst, [vif])  # idempotent


def test_two_guests_one_network(stack) -> None:
    a = dhcp_vif("10.0.0.5")
    b = dhcp_vif("10.0.0.6", net_id=a["network"]["id"])
    ia, ib = make_instance(), make_instance()
    stack.compute.spawn(None, ia, IMAGE, network_info=[a])
    try:
        stack.compute.spawn(None, ib, IMAGE, network_info=[b])
        try:
            assert sorted(stack.hosts(a)) == sorted([f"{a['address']},10.0.0.5", f"{b['address']},10.0.0.6"])
        finally:
            stack.compute.destroy(None, ib, [b])
        assert stack.hosts(a) == [f"{a['address']},10.0.0.5"]
    finally:
        stack.compute.destroy(None, ia, [a])
    assert stack.hosts(a) == []


def test_missing_tap_fails_spawn_and_leaves_nothing(stack) -> None:
    inst = make_instance()
    good = dhcp_vif("10.0.0.5")
    bad = dhcp_vif("10.0.0.6", net_id=good["network"]["id"])  # a flat network has the uplink to itself
    stack.compute.conn  # connect, so the tap stand-in exists
    stack.tapconn.skip.add(bad["devname"])  # libvirt 'forgot' this tap
    with pytest.raises(VifPlugError, match=f"tap {bad['devname']}.*does not exist"):
        stack.compute.spawn(None, inst, IMAGE, network_info=[good, bad])
    assert not stack.compute.instance_exists(inst)
    assert not os.path.exists(os.path.join(stack.compute.config.instances_path, inst.uuid))
    assert stack.hosts(good) == [] and stack.hosts(bad) == []
    assert stack.net.store.ports() == []
    assert stack.net.backend.get(good["devname"]) is None


def test_power_on_stops_a_guest_whose_port_fails(stack) -> None:
    inst = make_instance()
    vif = dhcp_vif()
    stack.compute.spawn(None, inst, IMAGE, network_info=[vif])
    try:
        stack.compute.power_off(inst)
        stack.tapconn.skip.add(vif["devname"])
        with pytest.raises(VifPlugError):
            stack.compute.power_on(None, inst, [vif])
        assert stack.compute.get_info(inst).state == SHUTDOWN
        stack.tapconn.skip.clear()
        stack.compute.power_on(None, inst, [vif])
        assert stack.compute.get_info(inst).state == RUNNING
    finally:
        stack.compute.destroy(None, inst, [vif])
    assert stack.hosts(vif) == []


def test_interfaces_attached_and_detached(stack) -> None:
    inst = make_instance()
    first = dhcp_vif("10.0.0.5")
    second = dhcp_vif("10.0.0.7", net_id=first["network"]["id"])
    stack.compute.spawn(None, inst, IMAGE, network_info=[first])
    try:
        stack.compute.attach_interface(None, inst, IMAGE, second)
        # bhyve has no hot-plug: the NIC and its tap come at the next boot.
        assert stack.hosts(first) == [f"{first['address']},10.0.0.5"]
        stack.compute.reboot(None, inst, [first, second], "HARD")
        assert sorted(stack.hosts(first)) == sorted([f"{first['address']},10.0.0.5",
                                                     f"{second['address']},10.0.0.7"])
        stack.compute.detach_interface(None, inst, second)
        assert stack.hosts(first) == [f"{first['address']},10.0.0.5"]
        assert stack.net.store.port(second["id"]) is None
    finally:
        stack.compute.destroy(None, inst, [first])
    assert stack.hosts(first) == []


def test_subnet_without_dhcp_server_registers_port_without_dnsmasq(stack) -> None:
    inst = make_instance()
    vif = make_vif()  # no meta.dhcp_server: Neutron's DHCP agent serves this subnet
    stack.compute.spawn(None, inst, IMAGE, network_info=[vif])
    try:
        assert stack.net.store.port(vif["id"]).tap == vif["devname"]
        assert stack.net.dhcp.pid(vif["network"]["id"]) is None and stack.hosts(vif) == []
    finally:
        stack.compute.destroy(None, inst, [vif])
    assert stack.net.store.port(vif["id"]) is None
