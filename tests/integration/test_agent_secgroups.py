"""Security groups and flow quotas through the real datapath.

Node n1's agent is restarted with a per-vif flow quota and long-lived drop
flows (so a verdict that changes can only come from re-evaluation, never
from a drop flow aging out).  Four VMs are plugged through the port API in
one network, 10.9.0.0/24 (closed TCP connections age after 1 s):

  a  10.9.0.10  group out  (egress only: nothing may connect to it)
  b  10.9.0.11  group srv  (tcp 5000 from anywhere, udp 6000 from a only)
  c  10.9.0.12  group out
  q  10.9.0.13  group out  (fills its flow quota)
"""
from __future__ import annotations

import os
import subprocess

import pytest

from bsdnet.sandbox import orchestrate

from . import agenttools as at
from . import vmtools

pytestmark = pytest.mark.root

QUOTA = 40
NET = at.new_id()


def _groups(extra_b=()):
    out = {"id": "out", "name": "egress only",
           "rules": [{"id": "out-eg", "direction": "egress"}]}
    srv = {"id": "srv", "name": "server", "rules": [
        {"id": "srv-eg", "direction": "egress"},
        {"id": "srv-tcp", "direction": "ingress", "protocol": "tcp",
         "port_range_min": 5000, "port_range_max": 5000,
         "remote_ip_prefix": "0.0.0.0/0"},
        {"id": "srv-udp", "direction": "ingress", "protocol": "udp",
         "port_range_min": 6000, "port_range_max": 6000,
         "remote_ip_prefix": "10.9.0.10/32"}, *extra_b]}
    return out, srv


@pytest.fixture(scope="module")
def env(sandbox):
    n1 = sandbox.node("n1")
    at.restart_agent(sandbox, "n1", {"agent": {
        "vif_flow_quota": str(QUOTA), "drop_flow_timeout": "600",
        "udp_idle_timeout": "600", "tcp_closed_timeout": "1"}})
    node = n1
    ns = n1.namespace
    at.api(node, "POST", "/network", {"id": NET, "name": "sg", "subnets": [
        {"cidr": "10.9.0.0/24", "gateway": "10.9.0.1"}]})
    for g in _groups():
        at.api(node, "POST", "/security-group", g)
    vms = {}
    try:
        for i, (name, group) in enumerate((("a", "out"), ("b", "srv"),
                                          ("c", "out"), ("q", "out"))):
            vm = at.ApiVm(f"{sandbox.plan.prefix}-n1-s{name}", f"taps{name}",
                          f"02:5e:00:00:00:{i + 1:02x}", f"10.9.0.{10 + i}",
                          at.new_id(), ns)
            at.plug(ns, vm.namespace, vm.tap, vm.mac,
                    address=f"{vm.ip}/24")
            vms[name] = vm
            at.api(node, "POST", "/port", at.port_body(vm, NET, [group]))
        yield sandbox, vms
    finally:
        for vm in vms.values():
            at.api(node, "DELETE", f"/port/{vm.port_id}", want=None)
            at.unplug(vm.namespace)


def _tcp_ok(src, dst, port, timeout=2.0):
    return vmtools.run(src.namespace, at.TCP_CONNECT, dst.ip, str(port),
                       str(timeout)).returncode == 0


@pytest.fixture
def tcp_listeners(env):
    _, vms = env
    procs = [vmtools.spawn(vms[v].namespace, at.TCP_ACCEPT, str(p))
             for v, p in (("b", 5000), ("b", 5001), ("a", 5002))]
    for p in procs:
        vmtools.wait_ready(p)
    yield
    for p in procs:
        vmtools.kill_tree(p)


@pytest.fixture
def udp_echo_b(env):
    _, vms = env
    p = vmtools.spawn(vms["b"].namespace, vmtools.UDP_ECHO, "6000")
    vmtools.wait_ready(p)
    yield
    vmtools.kill_tree(p)


def test_tcp_allowed_by_port_with_replies(env):
    _, vms = env
    src, dst = vms["a"], vms["b"]
    sink = vmtools.spawn(dst.namespace, vmtools.TCP_SINK, "5000")
    try:
        vmtools.wait_ready(sink)
        # a has no ingress rule at all: the replies (SYN-ACK, ACKs) pass
        # because the connection was allowed on its first packet.
        sent = vmtools.run(src.namespace, vmtools.TCP_SOURCE, dst.ip, "5000",
                           str(300000))
        assert sent.returncode == 0, sent.stderr
        out, _ = sink.communicate(timeout=60)
    finally:
        vmtools.kill_tree(sink)
    assert out.split() == sent.stdout.split()


def test_tcp_denied_by_port_and_by_default_ingress(env, tcp_listeners):
    sandbox, vms = env
    r = at.Region(sandbox, "n1")
    before = r.drop("FLOW_ACTION_DROP")
    assert not _tcp_ok(vms["a"], vms["b"], 5001)     # no rule for 5001
    assert not _tcp_ok(vms["b"], vms["a"], 5002)     # a takes no ingress
    assert r.drop("FLOW_ACTION_DROP") > before
    assert _tcp_ok(vms["c"], vms["b"], 5000)         # 5000 is open to all


def test_udp_allowed_by_cidr_only(env, udp_echo_b):
    _, vms = env
    b = vms["b"]
    assert vmtools.retry(lambda: vmtools.udp_ask(vms["a"].namespace, b.ip,
                                                 6000, 41000, "from-a"))
    assert not vmtools.udp_ask(vms["c"].namespace, b.ip, 6000, 41001,
                               "from-c", timeout=1.0)


def test_changed_rules_reevaluate_existing_flows(env, udp_echo_b):
    sandbox, vms = env
    node, b, c = sandbox.node("n1"), vms["b"], vms["c"]

    def ask(msg):
        return vmtools.udp_ask(c.namespace, b.ip, 6000, 41010, msg, 1.0)

    assert not ask("denied")            # a DROP flow now holds this tuple
    allow_c = {"id": "srv-udp-c", "direction": "ingress", "protocol": "udp",
               "port_range_min": 6000, "port_range_max": 6000,
               "remote_ip_prefix": "10.9.0.12/32"}
    at.api(node, "POST", "/security-group", _groups([allow_c])[1])
    try:
        # Same tuple, drop flows live 600 s: only re-evaluation opens it.
        assert ask("allowed-now")
    finally:
        at.api(node, "POST", "/security-group", _groups()[1])
    assert not ask("denied-again")      # the live flow flipped back


def test_detach_and_attach_groups_on_a_live_port(env, udp_echo_b):
    sandbox, vms = env
    node, a, b = sandbox.node("n1"), vms["a"], vms["b"]

    def ask(msg):
        return vmtools.udp_ask(a.namespace, b.ip, 6000, 41020, msg, 1.0)

    assert vmtools.retry(lambda: ask("attached"))
    at.api(node, "PUT", f"/port/{b.port_id}/security-groups",
           {"security-groups": []})
    try:
        assert not ask("detached")      # no group: ingress denied
    finally:
        at.api(node, "PUT", f"/port/{b.port_id}/security-groups",
               {"security-groups": ["srv"]})
    assert ask("attached-again")


def _flows(sandbox, **match):
    import json
    import sys
    vrctl = os.path.join(os.path.dirname(sys.executable), "bsdnet-vrctl")
    r = subprocess.run([vrctl, "--shm", sandbox.node("n1").shm, "--json",
                        "flow"], capture_output=True, text=True, check=True)
    return [f for f in json.loads(r.stdout)
            if all(f[k] == v for k, v in match.items())]


def test_closed_tcp_connections_age_fast_udp_flows_stay(env, tcp_listeners,
                                                        udp_echo_b):
    sandbox, vms = env
    a, b = vms["a"], vms["b"]
    assert vmtools.retry(lambda: vmtools.udp_ask(a.namespace, b.ip, 6000,
                                                 41030, "stays"))
    assert _tcp_ok(a, b, 5000)          # connect, then FIN both ways
    at.wait_until(lambda: not _flows(sandbox, proto="tcp", src=a.ip,
                                     dst=b.ip, dport=5000),
                  "the closed connection's flows to age")
    assert _flows(sandbox, proto="udp", src=a.ip, dst=b.ip, sport=41030)


def test_quota_exhausted_by_one_vm_leaves_others_working(env, tcp_listeners):
    sandbox, vms = env
    q, b = vms["q"], vms["b"]
    r = at.Region(sandbox, "n1")
    vif = at.vif_of(orchestrate.paths(sandbox.node("n1"))["state_dir"],
                    q.port_id)
    before = r.drop("FLOW_QUOTA")
    sport = 30000
    for _ in range(2 * QUOTA // 10 + 2):
        # In rounds, so the quota is reached by flows already installed
        # and not only by flows still being decided.
        vmtools.run(q.namespace, at.UDP_SPRAY, b.ip, "7000", str(sport),
                    "10")
        sport += 10
        at.wait_until(lambda: r.vif_flows(vif) >= QUOTA or
                      r.drop("FLOW_QUOTA") > before or
                      r.vif_flows(vif) >= (sport - 30000) // 2,
                      "q's flows to be installed")
        if r.drop("FLOW_QUOTA") > before:
            break
    assert r.drop("FLOW_QUOTA") > before
    assert r.vif_flows(vif) <= QUOTA + 10
    # q's new flows are refused, everybody else's still work.
    assert not _tcp_ok(q, b, 5000)
    assert _tcp_ok(vms["c"], b, 5000)
    assert _tcp_ok(vms["a"], b, 5000)
