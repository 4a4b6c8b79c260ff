"""The bsdnet mechanism driver inside a real neutron-server: what it binds
and how (vrouter for vxlan, bridge for flat on a mapped physical network),
what it refuses so that ML2 tries the next driver (a segment type it
cannot carry, an unmapped physical network, a VNI outside the label
window, a dead agent), and a flat network working end to end through the
network driver (bridge, uplink, the node's dnsmasq)."""
from __future__ import annotations

import signal

import pytest

from bsdnet.neutron import constants as c
from bsdnet.sandbox import neutron as sbneutron
from bsdnet.sandbox import orchestrate, procs

from datapath.helpers import wait_for

pytestmark = pytest.mark.root


def _net(nsandbox, neutron, name, **provider):
    p = nsandbox.plan.neutron["project_id"]
    net = neutron.create("network", name=f"{nsandbox.plan.prefix}-{name}", project_id=p,
                         **{f"provider:{k}": v for k, v in provider.items()})
    neutron.create("subnet", network_id=net["id"], ip_version=4, cidr="172.31.0.0/24",
                   project_id=p, dns_nameservers=["172.31.0.53"],
                   host_routes=[{"destination": "203.0.113.0/24", "nexthop": "172.31.0.254"}])
    return net


def _bind(nsandbox, neutron, net, node="n1"):
    return neutron.create("port", network_id=net["id"],
                          project_id=nsandbox.plan.neutron["project_id"],
                          device_owner="compute:nova",
                          **{"binding:host_id": nsandbox.node(node).host})


def _cleanup(neutron, net):
    for p in neutron.find("port", network_id=net["id"]):
        neutron.delete("port", p["id"])
    neutron.delete("network", net["id"])


@pytest.mark.parametrize("provider, why", [
    ({"network_type": "gre", "segmentation_id": 77}, "a segment type bsdnet does not carry"),
    ({"network_type": "vxlan", "segmentation_id": 4500}, "a VNI outside the label window"),
    ({"network_type": "flat", "physical_network": "physnet9"}, "an unmapped physical network"),
])
def test_refused_segments_fail_the_binding(nsandbox, neutron, provider, why):
    net = _net(nsandbox, neutron, "refused", **provider)
    try:
        port = _bind(nsandbox, neutron, net)
        assert port["binding:vif_type"] == "binding_failed", (why, port)
    finally:
        _cleanup(neutron, net)


def test_vlan_on_a_mapped_physnet_binds_as_bridge(nsandbox, neutron):
    net = _net(nsandbox, neutron, "vlan", network_type="vlan", physical_network="physnet1",
               segmentation_id=150)
    try:
        port = _bind(nsandbox, neutron, net)
        assert port["binding:vif_type"] == "bridge", port
        d = port["binding:vif_details"]
        assert (d["vlan"], d["physical_network"]) == ("150", "physnet1")
    finally:
        _cleanup(neutron, net)


def test_dead_agent_is_refused_and_binds_again_once_back(nsandbox, neutron):
    n2 = nsandbox.node("n2")
    net = {"id": nsandbox.plan.neutron["networks"]["red"]}
    procs.signal_role(n2.rundir, "agent", signal.SIGSTOP)
    try:
        wait_for(lambda: not neutron.alive(n2.host, c.AGENT_TYPE),
                 "n2's agent dead in Neutron", 40, pause=1)
        port = _bind(nsandbox, neutron, net, "n2")
        assert port["binding:vif_type"] == "binding_failed"
    finally:
        procs.signal_role(n2.rundir, "agent", signal.SIGCONT)
    try:
        wait_for(lambda: neutron.alive(n2.host, c.AGENT_TYPE),
                 "n2's agent alive again", 40, pause=1)
        # Nova retries the binding by setting the host again
        port = neutron.update("port", port["id"], **{"binding:host_id": n2.host})
        assert port["binding:vif_type"] == "vrouter"
    finally:
        neutron.delete("port", port["id"])


def test_flat_network_through_the_network_driver(nsandbox, neutron):
    net = _net(nsandbox, neutron, "flat", network_type="flat", physical_network="physnet1")
    ports = [neutron.create("port", network_id=net["id"],
                            project_id=nsandbox.plan.neutron["project_id"]) for _ in range(2)]
    vms = []
    try:
        for i, p in enumerate(ports):
            vms.append(sbneutron.add_vm(nsandbox.plan, nsandbox.rundir, f"flat{i}",
                                        f"n{i + 1}", p["id"]))
        for vm, p in zip(vms, ports):
            port = neutron.show("port", p["id"])
            assert port["binding:vif_type"] == "bridge" and port["status"] == "ACTIVE"
            assert port["binding:vif_details"]["bridge_name"] == "bnb" + \
                net["id"].replace("-", "")[:12]
            # the node's dnsmasq gave Neutron's address, DNS and host routes
            assert vm.ip == port["fixed_ips"][0]["ip_address"]
            from bsdnet.sandbox.netns import ns_exec
            assert "nameserver 172.31.0.53" in open(
                f"/etc/netns/{vm.namespace}/resolv.conf").read()
            assert "203.0.113.0/24 via 172.31.0.254" in ns_exec(
                vm.namespace, ["ip", "-4", "route"]).stdout
        # across the nodes over physnet1, as plain Ethernet (no datapath)
        assert orchestrate.ping(vms[0].namespace, vms[1].ip, count=2)
        for node in ("n1", "n2"):
            assert not any(p["id"] in nsandbox.state(node).get("ports", {}) for p in ports)
    finally:
        for vm in vms:
            sbneutron.del_vm(nsandbox.plan, nsandbox.rundir, vm.name)
        for p in ports:
            wait_for(lambda p=p: neutron.show("port", p["id"])["status"] == "DOWN",
                     "port DOWN once unplugged", 10)
        _cleanup(neutron, net)
