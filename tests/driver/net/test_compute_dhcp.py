"""End to end on Linux: the compute driver (libvirt's test:///default) spawns
a bridged guest, the bridge VIF driver registers its port with the network
driver, whose real dnsmasq on a real bridge (in a namespace) then gives a
stock DHCP client the lease.  libvirt's tap is played by a veth named like
the tap, on the bridge; its peer, with the guest's MAC in a namespace of its
own, is the guest (a tap cannot carry a client without a VM behind it)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

libvirt = pytest.importorskip("libvirt")

from bsdnet.driver.compute import images  # noqa: E402
from bsdnet.driver.compute.config import DriverConfig  # noqa: E402
from bsdnet.driver.compute.driver import BhyveDriver  # noqa: E402
from bsdnet.driver.vif import BridgeVifDriver  # noqa: E402
from bsdnet.driver.vif.netadapter import NetworkDriverAdapter  # noqa: E402
from tests.driver.helpers import make_instance, make_vif, remove_test_domains  # noqa: E402
from tests.driver.libvirt_taps import LinuxVethTaps, TapConn  # noqa: E402
from tests.driver.xmlcheck import ValidatingConn  # noqa: E402
from .netdrv_env import dhcp_tools  # noqa: E402

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}
SCRIPT = """#!/bin/sh
# udhcpc calls this with deconfig/bound/renew; record what the server gave.
if [ "$1" = bound ]; then
  env | grep -E '^(ip|subnet|router|mtu|hostname)=' >> "$OUT"
fi
exit 0
"""


@pytest.fixture
def guest_ns():
    """The namespace the guest's NIC (the veth peer) lives in."""
    udhcpc = dhcp_tools()
    sfx = secrets.token_hex(3)
    ns = f"bng{sfx}"
    work = Path(tempfile.mkdtemp(prefix="bsdnet-cdhcp-"))
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        script = work / "script.sh"
        script.write_text(SCRIPT)
        script.chmod(0o755)

        def ask(ifname: str) -> dict[str, str]:
            out = work / "lease.txt"
            out.unlink(missing_ok=True)
            proc = subprocess.run(
                ["ip", "netns", "exec", ns, "env", f"OUT={out}", udhcpc, "-i", ifname, "-f", "-q", "-n",
                 "-t", "8", "-T", "1", "-A", "1", "-s", str(script), "-O", "mtu"],
                capture_output=True, text=True, timeout=60, check=False)
            assert proc.returncode == 0, proc.stderr + proc.stdout
            return dict(line.split("=", 1) for line in out.read_text().splitlines())

        yield ns, sfx, ask
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def make_compute(linux, guest_ns, image_dir, tmp_path, uplink: str | None, dhcp: bool = True):
    ns, sfx, _ask = guest_ns
    peers: dict[str, str] = {}
    taps = LinuxVethTaps(linux.ns.ns, ns, peers)
    cfg = DriverConfig(connection_uri="test:///default", instances_path=str(tmp_path / "instances"),
                       image_cache_path=str(tmp_path / "cache"))
    vifs = BridgeVifDriver(NetworkDriverAdapter(linux.driver), uplink, dhcp=dhcp)
    drv = BhyveDriver(config=cfg, vif_driver=vifs, fetcher=images.local_fetcher(str(image_dir)),
                      connect=lambda uri: ValidatingConn(TapConn(libvirt.open(uri), taps)))
    drv.poll_interval = 0.01
    drv.init_host("testhost")
    drv.peers = peers  # type: ignore[attr-defined]
    return drv


@pytest.fixture
def compute(linux, guest_ns, image_dir, tmp_path):
    drv = make_compute(linux, guest_ns, image_dir, tmp_path, linux.uplink)
    try:
        yield drv
    finally:
        remove_test_domains(drv)
        drv.cleanup_host("testhost")


def test_stock_client_gets_the_lease_the_compute_driver_registered(linux, guest_ns, compute) -> None:
    _ns, sfx, ask = guest_ns
    vif = make_vif(ip="10.77.0.50")
    vif["network"]["subnets"] = [{"cidr": "10.77.0.0/24", "gateway": {"address": "10.77.0.1"},
                                  "ips": [{"address": "10.77.0.50"}], "dns": [], "routes": [],
                                  "meta": {"dhcp_server": "10.77.0.1"}}]
    peer = f"vm{sfx}"
    compute.peers[vif["devname"]] = peer
    inst = make_instance(hostname=f"vm-{sfx}")
    hosts = Path(linux.driver.dhcp.root) / vif["network"]["id"] / "hosts"
    compute.spawn(None, inst, IMAGE, network_info=[vif])
    try:
        assert hosts.read_text() == f"{vif['address']},10.77.0.50,vm-{sfx}\n"
        got = ask(peer)
        assert got["ip"] == "10.77.0.50"
        assert got["subnet"] == "255.255.255.0"
        assert got["router"] == "10.77.0.1"
        assert got["mtu"] == "1500"
        assert got["hostname"] == f"vm-{sfx}"
        # The veth 'tap' was adopted: marked, on the network's bridge.
        st = linux.driver.backend.get(vif["devname"])
        assert "kind=tap" in st.description and "made=adopted" in st.description
        assert st.master == "bnb" + vif["network"]["id"].replace("-", "")[:12]
    finally:
        compute.destroy(None, inst, [vif])
    assert hosts.read_text() == ""
    assert linux.driver.store.port(vif["id"]) is None
    assert linux.driver.backend.get(vif["devname"]) is None


def subnet(prefix: str, ip: str) -> list[dict]:
    return [{"cidr": f"{prefix}.0/24", "gateway": {"address": f"{prefix}.1"}, "ips": [{"address": ip}],
             "dns": [], "routes": [], "meta": {"dhcp_server": f"{prefix}.1"}}]


def test_host_only_bridge_gives_leases(linux, guest_ns, image_dir, tmp_path) -> None:
    """No uplink: the network is the bridge alone, and still serves its guests."""
    _ns, sfx, ask = guest_ns
    drv = make_compute(linux, guest_ns, image_dir, tmp_path, uplink=None)
    vif = make_vif(ip="10.78.0.40")
    vif["network"]["subnets"] = subnet("10.78.0", "10.78.0.40")
    drv.peers[vif["devname"]] = f"vm{sfx}"
    inst = make_instance(hostname=f"ho-{sfx}")
    drv.spawn(None, inst, IMAGE, network_info=[vif])
    try:
        got = ask(f"vm{sfx}")
        assert (got["ip"], got["router"], got["hostname"]) == ("10.78.0.40", "10.78.0.1", f"ho-{sfx}")
        bridge = linux.driver.backend.get("bnb" + vif["network"]["id"].replace("-", "")[:12])
        assert bridge.members == [vif["devname"]]  # no uplink on it
        assert "10.78.0.1/24" in bridge.inet
    finally:
        drv.destroy(None, inst, [vif])
        remove_test_domains(drv)
        drv.cleanup_host("testhost")
    assert linux.driver.store.port(vif["id"]) is None


def _neutron_dhcp(ns: str, bridge: str, sfx: str, mac: str, ip: str, work: Path) -> subprocess.Popen:
    """A DHCP server on the bridge as Neutron's DHCP port would be: its own
    interface, the subnet's .1 address, a static lease for the guest."""
    port = f"nd{sfx}"
    subprocess.run(["ip", "-n", ns, "link", "add", port, "type", "veth", "peer", "name", f"nb{sfx}"], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", f"nb{sfx}", "master", bridge, "up"], check=True)
    subprocess.run(["ip", "-n", ns, "addr", "add", "10.79.0.1/24", "dev", port], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", port, "up"], check=True)
    return subprocess.Popen(["ip", "netns", "exec", ns, "/usr/sbin/dnsmasq", "--keep-in-foreground",
                             "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--port=0",
                             f"--interface={port}", "--bind-interfaces", "--dhcp-range=10.79.0.0,static",
                             f"--dhcp-host={mac},{ip}", f"--pid-file={work / 'neutron.pid'}",
                             f"--dhcp-leasefile={work / 'neutron.leases'}", "--user=root"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_local_dhcp_off_leaves_the_answer_to_neutron(linux, guest_ns, image_dir, tmp_path) -> None:
    """[bhyve] bridge_dhcp = false: the node serves nothing, so the guest's
    one answer is the Neutron DHCP port's, even though the subnet names the
    same server address this host would have answered from."""
    ns, sfx, ask = guest_ns
    drv = make_compute(linux, guest_ns, image_dir, tmp_path, linux.uplink, dhcp=False)
    vif = make_vif(ip="10.79.0.50")
    vif["network"]["subnets"] = subnet("10.79.0", "10.79.0.50")
    drv.peers[vif["devname"]] = f"vm{sfx}"
    inst = make_instance(hostname=f"nd-{sfx}")
    drv.spawn(None, inst, IMAGE, network_info=[vif])
    neutron = None
    try:
        bridge = "bnb" + vif["network"]["id"].replace("-", "")[:12]
        assert linux.driver.dhcp.pid(vif["network"]["id"]) is None  # no dnsmasq of this node
        assert not any(a.startswith("10.79.0.1/") for a in linux.driver.backend.get(bridge).inet)
        # With nobody serving, the guest gets nothing...
        with pytest.raises(AssertionError):
            ask(f"vm{sfx}")
        # ...and with Neutron's port on the bridge, its lease, from it alone.
        neutron = _neutron_dhcp(linux.ns.ns, bridge, sfx, vif["address"], "10.79.0.50", tmp_path)
        got = ask(f"vm{sfx}")
        assert got["ip"] == "10.79.0.50"
        assert vif["address"] in (tmp_path / "neutron.leases").read_text()  # Neutron's server gave it
        assert linux.driver.dhcp.pid(vif["network"]["id"]) is None
    finally:
        if neutron is not None:
            neutron.terminate()
            neutron.wait()
        drv.destroy(None, inst, [vif])
        remove_test_domains(drv)
        drv.cleanup_host("testhost")
