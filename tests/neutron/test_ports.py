"""Port and network life with Neutron: ACTIVE once plugged, DOWN once
unplugged, a port deleted in Neutron leaves the node, a network deleted in
Neutron leaves every node, and the node's port API only plugs what Neutron
bound to it."""
from __future__ import annotations

import uuid

import pytest

from bsdnet.agent import apiclient
from bsdnet.sandbox import neutron as sbneutron
from bsdnet.sandbox import orchestrate

from datapath.helpers import wait_for

pytestmark = pytest.mark.root


def _project(nsandbox) -> str:
    return nsandbox.plan.neutron["project_id"]


def _new_net(nsandbox, neutron, cidr="10.20.0.0/24"):
    p = _project(nsandbox)
    net = neutron.create("network", name=f"{nsandbox.plan.prefix}-x", project_id=p)
    neutron.create("subnet", network_id=net["id"], ip_version=4, cidr=cidr, project_id=p)
    return net


def _api(nsandbox, node, method, path, body=None):
    return apiclient.request(orchestrate.api_url(nsandbox.node(node)), method, path, body,
                             timeout=60)


def _port_on(nsandbox, node, port_id) -> bool:
    return port_id in nsandbox.state(node).get("ports", {})


def test_port_active_when_plugged_down_when_unplugged_gone_when_deleted(nsandbox, neutron):
    net = nsandbox.plan.neutron["networks"]["red"]
    port = neutron.create("port", network_id=net, project_id=_project(nsandbox))
    assert port["status"] == "DOWN"
    vm = sbneutron.add_vm(nsandbox.plan, nsandbox.rundir, "life", "n2", port["id"])
    try:
        status = lambda: neutron.show("port", port["id"])["status"]  # noqa: E731
        wait_for(lambda: status() == "ACTIVE", "port ACTIVE", 10)
        assert _port_on(nsandbox, "n2", port["id"])
        # reachable from the other node at the address DHCP gave it
        red_n1 = next(v for v in nsandbox.plan.vms if v.network == "red" and v.node == "n1")
        assert orchestrate.ping(red_n1.namespace, vm.ip, count=2)
        sbneutron.del_vm(nsandbox.plan, nsandbox.rundir, "life")
        wait_for(lambda: status() == "DOWN", "port DOWN", 10)
        assert not _port_on(nsandbox, "n2", port["id"])
        # Plugged again, then deleted in Neutron: the node lets it go.
        vm = sbneutron.add_vm(nsandbox.plan, nsandbox.rundir, "life", "n2", port["id"])
        wait_for(lambda: status() == "ACTIVE", "port ACTIVE again", 10)
        neutron.delete("port", port["id"])
        wait_for(lambda: not _port_on(nsandbox, "n2", port["id"]),
                 "the deleted port gone from n2", 10)
        st, plugs = _api(nsandbox, "n2", "GET", "/plugs")
        assert st == 200 and port["id"] not in {p["id"] for p in plugs}
        assert not orchestrate.ping(red_n1.namespace, vm.ip, count=1)
    finally:
        if any(v.name == "life" for v in nsandbox.plan.vms):
            sbneutron.del_vm(nsandbox.plan, nsandbox.rundir, "life")


def test_plug_of_a_port_bound_elsewhere_is_refused(nsandbox, neutron):
    net = nsandbox.plan.neutron["networks"]["red"]
    port = neutron.create("port", network_id=net, project_id=_project(nsandbox),
                          **{"binding:host_id": nsandbox.node("n1").host,
                             "device_owner": "compute:nova"})
    try:
        st, doc = _api(nsandbox, "n2", "POST", "/port", {
            "id": port["id"], "instance-id": str(uuid.uuid4()), "vn-id": net,
            "mac-address": port["mac_address"], "system-name": "tapelse0"})
        assert st == 409 and "has not bound it to host" in doc["error"], doc
        assert not _port_on(nsandbox, "n2", port["id"])
        st, plugs = _api(nsandbox, "n2", "GET", "/plugs")
        assert port["id"] not in {p["id"] for p in plugs}
    finally:
        neutron.delete("port", port["id"])


def test_port_api_leaves_networks_groups_and_routes_to_neutron(nsandbox):
    for path, body in (("/network", {"id": str(uuid.uuid4())}),
                       ("/security-group", {"id": "mine"}),
                       ("/route", {"network": str(uuid.uuid4()), "prefix": "10.9.9.9/32",
                                   "node": "192.0.2.9", "label": 99})):
        st, doc = _api(nsandbox, "n1", "POST", path, body)
        assert st == 403 and "Neutron" in doc["error"], (path, doc)
    net = nsandbox.plan.neutron["networks"]["red"]
    st, doc = _api(nsandbox, "n1", "DELETE", f"/network/{net}")
    assert st == 403
    st, nets = _api(nsandbox, "n1", "GET", "/networks")
    assert st == 200 and net in {n["id"] for n in nets}


def test_network_deleted_in_neutron_leaves_every_node(nsandbox, neutron):
    net = _new_net(nsandbox, neutron)
    ports = [neutron.create("port", network_id=net["id"], project_id=_project(nsandbox))
             for _ in range(2)]
    vms = [sbneutron.add_vm(nsandbox.plan, nsandbox.rundir, f"gone{i}", f"n{i + 1}", p["id"])
           for i, p in enumerate(ports)]
    try:
        assert orchestrate.ping(vms[0].namespace, vms[1].ip, count=2)
        for node in ("n1", "n2"):
            st = nsandbox.state(node)
            assert net["id"] in st["networks"]
            assert st["networks"][net["id"]]["label"] == 1024 + net["provider:segmentation_id"]
            assert any(k.startswith(net["id"]) for k in st["remote"])
    finally:
        for vm in vms:
            sbneutron.del_vm(nsandbox.plan, nsandbox.rundir, vm.name)
    for p in ports:
        neutron.delete("port", p["id"])
    neutron.delete("network", net["id"])
    for node in ("n1", "n2"):
        wait_for(lambda node=node: _gone(nsandbox.state(node), net["id"]),
                 f"network gone from {node}", 10)


def _gone(state: dict, net: str) -> bool:
    return net not in state["networks"] and \
        not any(k.startswith(net) for k in state["remote"])


def test_admin_down_port_forwards_nothing_and_shows_down(nsandbox, neutron):
    red = {v.node: v for v in nsandbox.plan.vms if v.network == "red"}
    src, dst = red["n1"], red["n2"]
    status = lambda: neutron.show("port", dst.port_id)["status"]  # noqa: E731
    assert orchestrate.ping(src.namespace, dst.ip, count=1)
    neutron.update("port", dst.port_id, admin_state_up=False)
    try:
        wait_for(lambda: status() == "DOWN", "port DOWN", 10)
        wait_for(lambda: not orchestrate.ping(src.namespace, dst.ip, count=1),
                 "no traffic to an admin-down port", 10)
    finally:
        neutron.update("port", dst.port_id, admin_state_up=True)
    wait_for(lambda: status() == "ACTIVE", "port ACTIVE again", 10)
    wait_for(lambda: orchestrate.ping(src.namespace, dst.ip, count=1), "traffic again", 10)
