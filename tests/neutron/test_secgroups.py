"""Security groups edited in Neutron take effect on running traffic within
2 s: a rule added opens, a rule removed closes a flow that was passing,
and a port joining a remote group is let in by the rules naming it."""
from __future__ import annotations

import time

import pytest

from integration import agenttools as at
from integration import vmtools

from datapath.helpers import wait_for

pytestmark = pytest.mark.root

WITHIN = 2.0


def _vms(nsandbox):
    red = {v.node: v for v in nsandbox.plan.vms if v.network == "red"}
    return red["n1"], red["n2"]


def _tcp(src, dst, port) -> bool:
    return vmtools.run(src.namespace, at.TCP_CONNECT, dst.ip, str(port), "0.3").returncode == 0


def _udp(src, dst, dport, sport) -> bool:
    return vmtools.udp_ask(src.namespace, dst.ip, dport, sport, f"q{sport}", 0.3)


def _takes(fn, want: bool) -> float:
    """Seconds until fn() == want, polling; fails past WITHIN."""
    t0 = time.monotonic()
    while fn() != want:
        assert time.monotonic() - t0 < WITHIN, f"not {want} within {WITHIN} s"
    return time.monotonic() - t0


@pytest.fixture
def groups(nsandbox, neutron):
    """The server VM (red, n2) in a group of its own with no ingress rule;
    a second group for membership; both ports back to default after."""
    src, dst = _vms(nsandbox)
    project = nsandbox.plan.neutron["project_id"]
    srv = neutron.create("security_group", name="srv", project_id=project)
    club = neutron.create("security_group", name="club", project_id=project)
    before = {p: neutron.show("port", p)["security_groups"] for p in (src.port_id, dst.port_id)}
    neutron.update("port", dst.port_id, security_groups=[srv["id"]])
    procs = [vmtools.spawn(dst.namespace, at.TCP_ACCEPT, "8080"),
             vmtools.spawn(dst.namespace, vmtools.UDP_ECHO, "6000"),
             vmtools.spawn(dst.namespace, vmtools.UDP_ECHO, "6001")]
    try:
        for p in procs:
            vmtools.wait_ready(p)
        # the port's new groups applied: default's ingress is gone
        wait_for(lambda: not _udp(src, dst, 6000, 41999), "srv group applied", 10, pause=0)
        yield src, dst, srv, club
    finally:
        for p in procs:
            vmtools.kill_tree(p)
        for port, sgs in before.items():
            neutron.update("port", port, security_groups=sgs)
        for g in (srv, club):
            wait_for(lambda g=g: _try_delete(neutron, g["id"]), "group unused", 10)


def _try_delete(neutron, gid) -> bool:
    from bsdnet.sandbox.neutronapi import NeutronError
    try:
        neutron.delete("security_group", gid)
    except NeutronError as e:
        if e.status == 409:     # the port update is still going through
            return False
        raise
    return True


def test_rule_added_opens_within_2s(groups, neutron):
    src, dst, srv, _ = groups
    assert not _tcp(src, dst, 8080)
    neutron.add_rule(srv["id"], direction="ingress", ethertype="IPv4", protocol="tcp",
                     port_range_min=8080, port_range_max=8080, remote_ip_prefix="10.0.0.0/24")
    _takes(lambda: _tcp(src, dst, 8080), True)


def test_rule_removed_stops_a_running_flow_within_2s(groups, neutron):
    src, dst, srv, _ = groups
    rule = neutron.add_rule(srv["id"], direction="ingress", ethertype="IPv4",
                            protocol="udp", port_range_min=6000, port_range_max=6000)
    _takes(lambda: _udp(src, dst, 6000, 42000), True)
    assert _udp(src, dst, 6000, 42000)          # the same 5-tuple: a live flow
    neutron.delete("security_group_rule", rule["id"])
    _takes(lambda: _udp(src, dst, 6000, 42000), False)


def test_member_added_to_remote_group_is_let_in_within_2s(groups, neutron):
    src, dst, srv, club = groups
    neutron.add_rule(srv["id"], direction="ingress", ethertype="IPv4", protocol="udp",
                     port_range_min=6001, port_range_max=6001, remote_group_id=club["id"])
    time.sleep(0.5)
    assert not _udp(src, dst, 6001, 42001)      # not a member yet
    sgs = neutron.show("port", src.port_id)["security_groups"]
    neutron.update("port", src.port_id, security_groups=sgs + [club["id"]])
    _takes(lambda: _udp(src, dst, 6001, 42001), True)
