"""A sandbox driven by a real Neutron: agents in Neutron's agent list, VMs
addressed by Neutron's DHCP data, same-network VMs reaching each other
across nodes as MPLS over GRE with the network's label, the other network
(same CIDR) never seen."""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest

from bsdnet.neutron import constants as c
from bsdnet.sandbox import orchestrate
from bsdnet.sandbox.netns import ns_exec

from integration import vmtools

pytestmark = pytest.mark.root


def test_agents_alive_in_neutrons_agent_list(nsandbox, neutron):
    agents = {a["host"]: a for a in neutron.find("agent", agent_type=c.AGENT_TYPE)}
    for node in nsandbox.plan.nodes:
        a = agents[node.host]
        assert a["alive"] and a["binary"] == c.AGENT_BINARY
        conf = a["configurations"]
        assert conf["tunneling_ip"] == node.fabric_address
        assert conf["tunnel_types"] == ["vxlan"] and conf["l2_population"] is True
        assert conf["mpls_label_base"] == 1024 and conf["mpls_label_count"] == 4096


def test_vms_have_neutrons_addresses_and_ports_are_active(nsandbox, neutron):
    for vm in nsandbox.plan.vms:
        port = neutron.show("port", vm.port_id)
        assert port["status"] == "ACTIVE", port
        assert port["binding:host_id"] == nsandbox.node(vm.node).host
        assert port["binding:vif_type"] == "vrouter"
        assert vm.ip == port["fixed_ips"][0]["ip_address"]
        assert ipaddress.ip_address(vm.ip) in ipaddress.ip_network("10.0.0.0/24")
        # DHCP gave the subnet's gateway and the network's MTU too
        out = ns_exec(vm.namespace, ["ip", "-4", "route"]).stdout
        assert "default via 10.0.0.1" in out, out
        mtu = ns_exec(vm.namespace, ["cat", f"/sys/class/net/{vm.interface}/mtu"]).stdout
        assert int(mtu) == neutron.show("network", port["network_id"])["mtu"] == 1450


def test_same_network_across_nodes_never_the_other_network(nsandbox, tmp_path):
    nets = {}
    for vm in nsandbox.plan.vms:
        nets.setdefault(vm.network, {})[vm.node] = vm
    red, blue = nets["red"], nets["blue"]
    assert orchestrate.ping(red["n1"].namespace, red["n2"].ip, count=3)
    assert orchestrate.ping(blue["n2"].namespace, blue["n1"].ip, count=3)
    # Same CIDR: a blue VM's address must not be reachable from red on the
    # other node, even where no red VM has it (where one has, DHCP gave both
    # networks the same address, and the red one may answer), and no echo
    # request red sends reaches the blue VM (its own ARP refreshes may).
    red_ips = {v.ip for v in red.values()}
    for target in blue.values():
        src = next(v for v in red.values() if v.node != target.node)
        pcap = str(tmp_path / f"{target.name}.pcap")
        with vmtools.capture(target.namespace, target.interface, pcap, "icmp"):
            answered = orchestrate.ping(src.namespace, target.ip, count=2)
        assert not answered or target.ip in red_ips, f"{src.name} reached {target.name}"
        assert vmtools.tshark_rows(pcap, ["ip.src", "icmp.type"]) == [], \
            f"{src.name}'s pings reached {target.name}"


def test_fabric_carries_mpls_over_gre_with_the_networks_label(nsandbox, neutron, tmp_path):
    red = {vm.node: vm for vm in nsandbox.plan.vms if vm.network == "red"}
    src, dst = red["n1"], red["n2"]
    n1, n2 = nsandbox.node("n1"), nsandbox.node("n2")
    net = neutron.show("network", nsandbox.plan.neutron["networks"]["red"])
    label = 1024 + net["provider:segmentation_id"]
    pcap = str(tmp_path / "fabric.pcap")
    with vmtools.capture(nsandbox.plan.fabric_namespace, n2.fabric_peer, pcap, "ip proto 47"):
        assert orchestrate.ping(src.namespace, dst.ip, count=4)
    rows = vmtools.tshark_rows(pcap, ["ip.src", "ip.dst", "gre.proto", "mpls.label",
                                      "mpls.bottom", "icmp.type"])
    both = [x for x in rows if x["icmp.type"] in ("8", "0")]
    assert len(both) >= 6, rows
    for x in both:
        outer = (x["ip.src"].split(",")[0], x["ip.dst"].split(",")[0])
        inner = (x["ip.src"].split(",")[1], x["ip.dst"].split(",")[1])
        assert int(x["gre.proto"], 16) == 0x8847
        assert x["mpls.bottom"] in ("1", "True")
        # One label for the network, the same on both nodes.
        assert int(x["mpls.label"]) == label
        assert {outer, inner} <= {(n1.fabric_address, n2.fabric_address),
                                  (n2.fabric_address, n1.fabric_address),
                                  (src.ip, dst.ip), (dst.ip, src.ip)}


def test_status_json_names_neutron_and_ports(nsandbox):
    r = subprocess.run([sys.executable, "-m", "bsdnet.cmd.sandbox", "--prefix",
                        nsandbox.plan.prefix, "--rundir", nsandbox.rundir, "status", "--json"],
                       capture_output=True, text=True, check=True)
    st = json.loads(r.stdout)
    assert st["neutron"]["url"] == nsandbox.server.url
    assert set(st["neutron"]["networks"]) == {"red", "blue"}
    for vm in st["vms"]:
        assert vm["neutron_port"] == nsandbox.vm(vm["name"]).port_id
        assert vm["mpls_label"] > 1024 and vm["vif"] > 0


def test_metrics_of_a_node_in_neutron_mode(nsandbox):
    from prometheus_client.parser import text_string_to_metric_families
    red = {v.node: v for v in nsandbox.plan.vms if v.network == "red"}
    assert orchestrate.ping(red["n1"].namespace, red["n2"].ip, count=2)
    out = ns_exec(nsandbox.node("n1").namespace,
                  ["curl", "-sf", "http://127.0.0.1:9192/metrics"]).stdout
    m = {(s.name, tuple(sorted(s.labels.items()))): s.value
         for f in text_string_to_metric_families(out) for s in f.samples}

    def get(name, **labels):
        return [v for (n, ls), v in m.items() if n == name and set(labels.items()) <= set(ls)]
    assert get("bsdnet_neutron_connected") == [1]
    assert get("bsdnet_neutron_reporting") == [1]
    assert get("bsdnet_neutron_events_total", event="resyncs")[0] >= 1
    assert get("bsdnet_neutron_rpc_seconds_count", method="report_state")[0] >= 1
    assert get("bsdnet_neutron_plugs", status="bound") == [2]
    vm_port = red["n1"].port_id
    assert get("bsdnet_vif_rx_packets_total", port=vm_port)[0] >= 2
    net = nsandbox.plan.neutron["networks"]["red"]
    assert get("bsdnet_vrf_tx_packets_total", network=net)[0] >= 2


def _endpoints(node) -> dict[str, list[str]]:
    """vrctl endpoint on node: {endpoint address: its networks}."""
    r = subprocess.run([sys.executable, "-m", "bsdnet.cmd.vrctl", "--shm", node.shm,
                        "--state-dir", f"{node.rundir}/state", "--json", "endpoint"],
                       capture_output=True, text=True, check=True)
    return {e["endpoint"]: sorted(e["networks"]) for e in json.loads(r.stdout)}


def test_tunnel_endpoints_follow_l2population(nsandbox, tmp_path):
    """Each node takes MPLS only from the other, into the networks both
    carry; when l2population says n2's last red port is gone, n2 stops
    being an endpoint of red on n1, and is one again when it comes back."""
    import oslo_messaging
    from oslo_config import cfg

    from bsdnet.neutron.rpc import AGENT, Rpc
    from integration.vmtools import retry

    nets = nsandbox.plan.neutron["networks"]
    n1, n2 = nsandbox.node("n1"), nsandbox.node("n2")
    red = {vm.node: vm for vm in nsandbox.plan.vms if vm.network == "red"}
    both = sorted(nets.values())
    assert _endpoints(n1) == {n2.fabric_address: both}
    assert _endpoints(n2) == {n1.fabric_address: both}

    conf = cfg.ConfigOpts()
    (tmp_path / "c.conf").write_text(f"[DEFAULT]\ntransport_url = "
                                     f"{nsandbox.server.transport_url}\n")
    conf(args=["--config-file", str(tmp_path / "c.conf")], default_config_files=[])
    rpc = Rpc(conf, "l2pop-caster", "l2pop-caster", 5)
    fdb = {nets["red"]: {"network_type": "vxlan", "segment_id": 1, "ports": {
        n2.fabric_address: [[red["n2"].mac, red["n2"].ip]]}}}
    client = rpc._client(oslo_messaging.Target(topic=f"{AGENT}-l2population-update",
                                               fanout=True))
    try:
        client.prepare().cast(rpc.context, "remove_fdb_entries", fdb_entries=fdb)
        assert retry(lambda: _endpoints(n1) == {n2.fabric_address: [nets["blue"]]},
                     50, 0.2), _endpoints(n1)
    finally:
        client.prepare().cast(rpc.context, "add_fdb_entries", fdb_entries=fdb)
        rpc.close()
    assert retry(lambda: _endpoints(n1) == {n2.fabric_address: both}, 50, 0.2), \
        _endpoints(n1)
    assert orchestrate.ping(red["n1"].namespace, red["n2"].ip, count=2)
