"""SIGKILL of an agent, a restart of RabbitMQ, a restart of neutron-server:
a ping running through each loses no packet, and afterwards the node is in
step with Neutron again (alive, and a new port plugged there works)."""
from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from bsdnet.neutron import constants as c
from bsdnet.sandbox import neutron as sbneutron
from bsdnet.sandbox import orchestrate, procs

from datapath.helpers import wait_for

pytestmark = [pytest.mark.root, pytest.mark.slow]


class Pinger:
    """ping -i 0.05 from one VM to another for as long as the block runs."""

    def __init__(self, src, dst) -> None:
        self.src, self.dst = src, dst

    def __enter__(self) -> "Pinger":
        assert orchestrate.ping(self.src.namespace, self.dst.ip, count=2)
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(["ip", "netns", "exec", self.src.namespace, "ping", "-n",
                                   "-i", "0.05", self.dst.ip],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # Its flow decided (a new ping is a new flow, its first packet the
        # agent's to decide): what follows tests an established flow.
        time.sleep(1.0)
        return self

    def __exit__(self, *exc) -> None:
        # and a while after: what the restarted part did must not drop it
        time.sleep(max(2.0, 3.0 - (time.monotonic() - self.t0)))
        self.p.send_signal(signal.SIGINT)
        out = self.p.communicate(timeout=30)[0]
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, out
        self.sent, self.received = int(m.group(1)), int(m.group(2))
        # ping stops at SIGINT without waiting for the answer to its last
        # request: that one may be in flight, every earlier one must be in.
        answered = {int(n) for n in re.findall(r"icmp_seq=(\d+) ttl=", out)}
        self.lost = [n for n in range(1, self.sent) if n not in answered]


def _converged(nsandbox, neutron, node_name: str) -> None:
    node = nsandbox.node(node_name)
    wait_for(lambda: neutron.alive(node.host, c.AGENT_TYPE),
             f"{node.host} alive in Neutron", 60, pause=0.5)
    port = neutron.create("port", network_id=nsandbox.plan.neutron["networks"]["red"],
                          project_id=nsandbox.plan.neutron["project_id"])
    try:
        vm = sbneutron.add_vm(nsandbox.plan, nsandbox.rundir, "after", node_name, port["id"])
    except orchestrate.SandboxError as e:
        raise AssertionError(f"{e}\n--- {node_name} agent.log ---\n"
                             + open(f"{node.rundir}/agent.log").read()[-6000:]) from e
    try:
        peer = next(v for v in nsandbox.plan.vms if v.network == "red" and v.node != node_name
                    and v.name != "after")
        assert wait_for(lambda: orchestrate.ping(peer.namespace, vm.ip),
                        "the new port reached from the other node", 20, pause=0.2,
                        log=lambda: _logs(nsandbox))
    finally:
        sbneutron.del_vm(nsandbox.plan, nsandbox.rundir, "after")
        neutron.delete("port", port["id"])


def _red(nsandbox):
    red = {v.node: v for v in nsandbox.plan.vms if v.network == "red"}
    return red["n1"], red["n2"]


def test_agent_sigkill_loses_no_established_flow(nsandbox, neutron):
    src, dst = _red(nsandbox)
    n2 = nsandbox.node("n2")
    log = f"{n2.rundir}/agent.log"
    with Pinger(src, dst) as ping:
        resyncs = open(log).read().count("full resync done")
        procs.signal_role(n2.rundir, "agent", signal.SIGKILL)
        orchestrate.start_agent(nsandbox.plan, n2)
        wait_for(lambda: open(log).read().count("full resync done") > resyncs,
                 "the restarted agent's full resync", 60, pause=0.2)
    assert ping.sent > 20 and not ping.lost, _logs(nsandbox, ping)
    _converged(nsandbox, neutron, "n2")


def _logs(nsandbox, ping=None) -> str:
    out = [f"{ping.received} of {ping.sent} pings answered, lost: {ping.lost}"] if ping else []
    for node in nsandbox.plan.nodes:
        lines = open(f"{node.rundir}/agent.log").read().splitlines()
        out += [f"-- {node.name}"] + [x for x in lines[-40:] if " bsdnet." in x]
    return "\n".join(out)


def test_rabbitmq_restart_loses_no_established_flow(nsandbox, neutron):
    src, dst = _red(nsandbox)
    with Pinger(src, dst) as ping:
        nsandbox.server.script("restart", "rabbitmq")
    assert ping.sent > 20 and not ping.lost, _logs(nsandbox, ping)
    _converged(nsandbox, neutron, "n1")


def test_neutron_server_restart_loses_no_established_flow(nsandbox, neutron):
    src, dst = _red(nsandbox)
    with Pinger(src, dst) as ping:
        nsandbox.server.script("restart", "rpc")
        nsandbox.server.script("restart", "api")
    assert ping.sent > 20 and not ping.lost, _logs(nsandbox, ping)
    _converged(nsandbox, neutron, "n2")
