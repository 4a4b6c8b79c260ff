"""Restarts with ports of the port API: the agent killed and restarted
changes nothing and loses no flow; the datapath restarted with empty
tables is reprogrammed, including a port added while it was down."""
from __future__ import annotations

import os
import signal

import pytest

from bsdnet.sandbox import orchestrate, procs

from . import agenttools as at
from . import vmtools

pytestmark = pytest.mark.root

NET = at.new_id()


@pytest.fixture(scope="module")
def env(sandbox):
    node = sandbox.node("n1")
    ns = node.namespace
    at.wait_api(node)
    at.api(node, "POST", "/network", {"id": NET, "name": "rs", "subnets": [
        {"cidr": "10.7.0.0/24", "gateway": "10.7.0.1"}]})
    at.api(node, "POST", "/security-group", {"id": "out", "rules": [
        {"id": "out-eg", "direction": "egress"}]})
    at.api(node, "POST", "/security-group", {"id": "srv", "rules": [
        {"id": "srv-eg", "direction": "egress"},
        {"id": "srv-tcp", "direction": "ingress", "protocol": "tcp",
         "port_range_min": 5000, "port_range_max": 5000},
        {"id": "srv-udp", "direction": "ingress", "protocol": "udp",
         "port_range_min": 6000, "port_range_max": 6000,
         "remote_ip_prefix": "10.7.0.10/32"}]})
    vms = {}
    try:
        for i, (name, group) in enumerate((("a", "out"), ("b", "srv"),
                                          ("c", "out"), ("d", "out"))):
            vm = at.ApiVm(f"{sandbox.plan.prefix}-n1-r{name}", f"tapr{name}",
                          f"02:5d:00:00:00:{i + 1:02x}", f"10.7.0.{10 + i}",
                          at.new_id(), ns)
            at.plug(ns, vm.namespace, vm.tap, vm.mac,
                    address=f"{vm.ip}/24")
            vms[name] = vm
            vm.group = group
            if name != "d":     # d is plugged later, with the datapath down
                at.api(node, "POST", "/port", at.port_body(vm, NET, [group]))
        p = vmtools.spawn(vms["b"].namespace, vmtools.UDP_ECHO, "6000")
        q = vmtools.spawn(vms["b"].namespace, at.TCP_ACCEPT, "5000")
        try:
            vmtools.wait_ready(p)
            vmtools.wait_ready(q)
            yield sandbox, vms
        finally:
            vmtools.kill_tree(p)
            vmtools.kill_tree(q)
    finally:
        for vm in vms.values():
            at.api(node, "DELETE", f"/port/{vm.port_id}", want=None)
            at.unplug(vm.namespace)


def _state(sandbox):
    return orchestrate.read_state(sandbox.node("n1"))


def _ask(vm, dst, sport, msg, timeout=1.0):
    return vmtools.udp_ask(vm.namespace, dst.ip, 6000, sport, msg, timeout)


def _tcp_ok(src, dst, port=5000):
    return vmtools.run(src.namespace, at.TCP_CONNECT, dst.ip, str(port),
                       "2").returncode == 0


def test_agent_sigkill_and_restart_changes_nothing_loses_no_flow(env):
    sandbox, vms = env
    n1 = sandbox.node("n1")
    a, b, c = vms["a"], vms["b"], vms["c"]
    assert vmtools.retry(lambda: _ask(a, b, 42000, "before"))
    assert not _ask(c, b, 42001, "denied")
    before = _state(sandbox)
    log = os.path.join(n1.rundir, "agent.log")
    mark = os.path.getsize(log)
    assert procs.signal_role(n1.rundir, "agent", signal.SIGKILL) is not None
    try:
        for i in range(3):      # the decided flows carry on without it
            assert _ask(a, b, 42000, f"agent-dead-{i}", 2.0)
    finally:
        orchestrate.start_agent(sandbox.plan, n1)
        at.wait_api(n1)
    at.wait_until(lambda: "serving traps" in open(log).read()[mark:],
                  "the agent to serve again")
    after = _state(sandbox)
    assert after["instance"] == before["instance"]
    assert after["ports"] == before["ports"]
    assert after["networks"] == before["networks"]
    assert "topology applied: no change" in open(log).read()[mark:]
    _, ports = at.api(n1, "GET", "/ports")
    assert {a.port_id, b.port_id, c.port_id} <= {p["id"] for p in ports}
    assert _ask(a, b, 42000, "same-flow-after")
    assert _ask(a, b, 42002, "new-flow-after")
    assert not _ask(c, b, 42001, "still-denied")
    assert not _ask(c, b, 42003, "new-denied")


def test_datapath_restart_with_empty_tables_is_reprogrammed(env):
    sandbox, vms = env
    n1 = sandbox.node("n1")
    a, b, d = vms["a"], vms["b"], vms["d"]
    assert vmtools.retry(lambda: _ask(a, b, 42010, "before"))
    old = _state(sandbox)["instance"]
    assert procs.signal_role(n1.rundir, "datapath", signal.SIGKILL) is not None
    os.unlink(f"/dev/shm/{n1.shm}")
    # A port plugged while the datapath is away: stored and acknowledged...
    at.api(n1, "POST", "/port", at.port_body(d, NET, [d.group]))
    orchestrate.start_datapath(sandbox.plan, n1)
    # ...and applied, with everything else, to the datapath's new tables.
    at.wait_until(lambda: _state(sandbox).get("instance") != old and
                  d.port_id in _state(sandbox).get("ports", {}),
                  "the agent to reprogram the new region", timeout=60)
    st = _state(sandbox)
    assert {a.port_id, b.port_id, d.port_id} <= set(st["ports"])
    assert vmtools.retry(lambda: _ask(a, b, 42011, "after"), 40)
    assert vmtools.retry(lambda: _tcp_ok(d, b), 20)
    assert not _ask(vms["c"], b, 42012, "still-denied")
    # the topology file's ports and remote routes are back too
    src, dst = sandbox.vm("n1-vm1"), sandbox.vm("n2-vm1")
    assert vmtools.retry(lambda: orchestrate.ping(src.namespace, dst.ip), 40)
    assert _state(sandbox)["remote"]
