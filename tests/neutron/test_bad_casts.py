"""Garbage on the agents' own topics, cast over the real RabbitMQ as
neutron-server would cast: each agent logs it and carries on, and
forwarding, its state reports and its next real change are unaffected."""
from __future__ import annotations

import time

import oslo_messaging
import pytest
from oslo_config import cfg

from bsdnet.neutron import constants as c
from bsdnet.neutron.rpc import AGENT, Rpc
from bsdnet.sandbox import orchestrate, procs

from datapath.helpers import wait_for

pytestmark = pytest.mark.root

GARBAGE = [
    ("port-update", "port_update", {"port": "junk", "network_type": 7}),
    ("port-update", "port_update", {"port": {"id": "../../../etc/passwd"}}),
    ("port-delete", "port_delete", {"port_id": ["not", "a", "string"]}),
    ("network-delete", "network_delete", {"network_id": None}),
    ("network-update", "network_update", {"network": {"id": {"x": 1}}}),
    ("security_group-update", "security_groups_rule_updated",
     {"security_groups": ["no-such-group", 5, None]}),
    ("security_group-update", "security_groups_member_updated", {"security_groups": "abc"}),
    ("l2population-update", "add_fdb_entries", {"fdb_entries": {"x": {"ports": "y"}}}),
    ("l2population-update", "add_fdb_entries", {"fdb_entries": {
        "00000000-0000-4000-8000-000000000000": {"network_type": "vxlan", "ports": {
            "192.0.2.200": [["fa:16:3e:00:00:01", "10.0.0.250"]]}}}}),
    ("l2population-update", "remove_fdb_entries", {"fdb_entries": [1, 2, 3]}),
    ("l2population-update", "update_fdb_entries", {"fdb_entries": {"chg_ip": {"a": 1}}}),
]


def test_garbage_casts_are_logged_and_survived(nsandbox, neutron, tmp_path):
    conf = cfg.ConfigOpts()
    (tmp_path / "c.conf").write_text(f"[DEFAULT]\ntransport_url = "
                                     f"{nsandbox.server.transport_url}\n")
    conf(args=["--config-file", str(tmp_path / "c.conf")], default_config_files=[])
    rpc = Rpc(conf, "bad-caster", "bad-caster", 5)
    pids = {n.name: procs.pid_of(n.rundir, "agent") for n in nsandbox.plan.nodes}
    logs = {n.name: len(open(f"{n.rundir}/agent.log").read()) for n in nsandbox.plan.nodes}
    try:
        for topic, method, kw in GARBAGE:
            client = rpc._client(oslo_messaging.Target(topic=f"{AGENT}-{topic}", fanout=True))
            client.prepare().cast(rpc.context, method, **kw)
    finally:
        rpc.close()
    time.sleep(2)
    red = {v.node: v for v in nsandbox.plan.vms if v.network == "red"}
    assert orchestrate.ping(red["n1"].namespace, red["n2"].ip, count=2)
    for node in nsandbox.plan.nodes:
        assert procs.pid_of(node.rundir, "agent") == pids[node.name], "the agent died"
        assert neutron.alive(node.host, c.AGENT_TYPE)
        st = nsandbox.state(node.name)
        # the fdb entry of a network no node carries made no route
        assert not any(k.startswith("00000000-0000-4000-8000") for k in st["remote"])
        new = open(f"{node.rundir}/agent.log").read()[logs[node.name]:]
        assert "Traceback" not in new, new
        assert new.count("from Neutron ignored") >= 7, new
    # the next real change still goes through
    sg = neutron.create("security_group", name="after-garbage",
                        project_id=nsandbox.plan.neutron["project_id"])
    neutron.delete("security_group", sg["id"])
    wait_for(lambda: all(neutron.alive(n.host, c.AGENT_TYPE) for n in nsandbox.plan.nodes),
             "agents still report", 20)
