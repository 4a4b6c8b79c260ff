"""Host events reach the tables: a registered port's tap appearing, going
and changing link state, and the fabric address moving."""
from __future__ import annotations

import os
import sys

import pytest
from pyroute2 import NetNS

from bsdnet.shm.abi import lib
from bsdnet.sandbox import orchestrate
from bsdnet.sandbox.netns import ns_exec

from . import agenttools as at
from . import vmtools

pytestmark = pytest.mark.root

NET = at.new_id()


def _vif(sandbox, port_id):
    """The port's vif as the datapath sees it (flags, os_index, ip)."""
    from bsdnet.shm.region import Region
    from bsdnet.shm.tables import VifTable
    st = orchestrate.read_state(sandbox.node("n1"))
    idx = st["ports"][port_id]["vif"] if port_id in st.get("ports", {}) \
        else st["fabric"]["vif"]
    r = Region.open(sandbox.node("n1").shm, readonly=True)
    try:
        return VifTable(r).read(idx)
    finally:
        r.close()


def _up(sandbox, port_id):
    return bool(_vif(sandbox, port_id).flags & lib.BSDNET_VIF_F_UP)


def test_tap_appears_changes_state_and_goes(sandbox):
    node = sandbox.node("n1")
    ns = node.namespace
    at.wait_api(node)
    at.api(node, "POST", "/network", {"id": NET, "name": "hw", "subnets": [
        {"cidr": "10.6.0.0/24", "gateway": "10.6.0.1"}]})
    at.api(node, "POST", "/security-group", {"id": "all", "rules": [
        {"id": "eg", "direction": "egress"},
        {"id": "in", "direction": "ingress"}]})
    vms = [at.ApiVm(f"{sandbox.plan.prefix}-n1-h{i}", f"taph{i}",
                    f"02:5c:00:00:00:0{i}", f"10.6.0.1{i}", at.new_id(), ns)
           for i in (1, 2)]
    try:
        # Ports first: Nova plugs before the tap exists, through
        # bsdnet-port-control (vrouter-port-control's options) for one.
        pc = os.path.join(os.path.dirname(sys.executable),
                          "bsdnet-port-control")
        r = ns_exec(ns, [pc, "--oper", "add", "--uuid", vms[0].port_id,
                         "--instance_uuid", at.new_id(), "--vn_uuid", NET,
                         "--ip_address", vms[0].ip, "--mac", vms[0].mac,
                         "--tap_name", vms[0].tap, "--vm_name", "h1",
                         "--agent", at.api_url(node)],
                    check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        at.api(node, "PUT", f"/port/{vms[0].port_id}/security-groups",
               {"security-groups": ["all"]})
        at.api(node, "POST", "/port", at.port_body(vms[1], NET, ["all"]))
        assert not _up(sandbox, vms[0].port_id)
        for vm in vms:
            at.plug(ns, vm.namespace, vm.tap, vm.mac, address=f"{vm.ip}/24")
        for vm in vms:
            at.wait_until(lambda vm=vm: _up(sandbox, vm.port_id) and
                          _vif(sandbox, vm.port_id).os_index,
                          f"{vm.tap} attached")
        assert vmtools.retry(lambda: orchestrate.ping(vms[0].namespace,
                                                      vms[1].ip))
        with NetNS(ns) as n:
            n.link("set", index=n.link_lookup(ifname=vms[1].tap)[0],
                   state="down")
        at.wait_until(lambda: not _up(sandbox, vms[1].port_id),
                      "link down to reach the vif")
        with NetNS(ns) as n:
            n.link("set", index=n.link_lookup(ifname=vms[1].tap)[0],
                   state="up")
        at.wait_until(lambda: _up(sandbox, vms[1].port_id),
                      "link up to reach the vif")
        at.unplug(vms[1].namespace)     # the veth goes with its namespace
        at.wait_until(lambda: not _up(sandbox, vms[1].port_id),
                      "the tap's removal to reach the vif")
    finally:
        for vm in vms:
            at.api(node, "DELETE", f"/port/{vm.port_id}", want=None)
            at.unplug(vm.namespace)


def test_fabric_address_follows_the_host(sandbox):
    n1 = sandbox.node("n1")
    configured = _vif(sandbox, None).ip
    with NetNS(n1.namespace) as n:
        idx = n.link_lookup(ifname=n1.fabric_interface)[0]
        n.addr("add", index=idx, address="198.51.100.7", prefixlen=24)
    try:
        at.wait_until(lambda: _vif(sandbox, None).ip == 0xc6336407,
                      "the tunnel source to follow the host")
    finally:
        with NetNS(n1.namespace) as n:
            n.addr("del", index=idx, address="198.51.100.7", prefixlen=24)
    at.wait_until(lambda: _vif(sandbox, None).ip == configured,
                  "the configured tunnel source back")
    src, dst = sandbox.vm("n1-vm1"), sandbox.vm("n2-vm1")
    assert orchestrate.ping(src.namespace, dst.ip, count=3)
