"""The sandbox driven by a real Neutron (bsdnet-sandbox up --neutron).

Each node's agent runs in Neutron mode: it reaches RabbitMQ over the
node's management interface, reports itself, and learns everything else
from Neutron.  The sandbox then does what a cloud user and Nova would:
networks, subnets and ports are made through Neutron's REST API (one
project, its default security group), each port bound to its node
(binding:host_id), plugged through the node's port API as Nova's os-vif
plugin does, and each VM namespace gets its address from a stock DHCP
client (busybox udhcpc).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

from bsdnet.agent import apiclient
from bsdnet.common import names
from bsdnet.common.progress import Progress

from . import netns, orchestrate, procs
from .neutronapi import Neutron
from .plan import MGMT_SUBNET, PHYSNET, PROVIDER_IF, VM, VM_SUBNET, Plan

LOG = logging.getLogger(__name__)
AGENT_TYPE = "bsdnet agent"
# How long a plug may stay pending before the sandbox gives up on it
# (Nova's vif_plugging_timeout is 300 s; a sandbox should fail sooner).
PLUG_WAIT = 60.0
_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,15}")

# busybox udhcpc's stock script sets address, mask, MTU, router and DNS;
# option 121 (host routes) needs these few lines, as in every udhcpc
# deployment that wants it.
UDHCPC_HOOK = """#!/bin/sh
/etc/udhcpc/default.script "$@" || exit $?
case "$1" in bound|renew)
    set -- $staticroutes
    while [ $# -ge 2 ]; do
        ip -4 route replace "$1" via "$2" dev "$interface"
        shift 2
    done;;
esac
"""


def api(plan: Plan) -> Neutron:
    return Neutron(plan.neutron["url"], os.environ.get("OS_TOKEN"))


def node_transport_url(url: str) -> str:
    """The RabbitMQ URL as a node reaches it: through the management
    network's host end instead of the host's own loopback."""
    u = urlsplit(url)
    gw = str(MGMT_SUBNET.network_address + 1)
    creds = u.netloc.rpartition("@")
    host = f"{gw}:{u.port}" if u.port else gw
    return urlunsplit((u.scheme, f"{creds[0]}@{host}" if creds[1] else host,
                       u.path, u.query, u.fragment))


def agent_conf(plan: Plan, node) -> str:
    p = orchestrate.paths(node)
    neighbors = ",".join(f"{n.fabric_address}:{n.fabric_mac}"
                         for n in plan.nodes if n is not node)
    return (f"[DEFAULT]\ntransport_url = {node_transport_url(plan.neutron['transport_url'])}\n\n"
            f"[datapath]\nshm_name = {node.shm}\ncontrol_socket = {p['control']}\n"
            f"trap_socket = {p['trap']}\n\n"
            f"[agent]\nstate_dir = {p['state_dir']}\ntopology_file = {p['topology']}\n"
            f"pid_file = {os.path.join(node.rundir, 'agent.pid.d')}\n"
            f"api_socket = {p['api']}\n\n"
            f"[fabric]\ninterface = {node.fabric_interface}\naddress = {node.fabric_address}\n"
            f"mac = {node.fabric_mac}\n"
            # The nodes' fabric addresses live in their datapaths, not on
            # the hosts, so nothing answers ARP for them: say the MACs.
            f"neighbors = {neighbors}\n\n"
            f"[neutron]\nenabled = true\nhost = {node.host}\nreport_interval = 5\n"
            f"bridge_mappings = {PHYSNET}:{PROVIDER_IF}\n")


def up(plan: Plan, rundir: str, ready_timeout: float) -> None:
    """Nodes with agents in Neutron mode; networks, subnets and ports made
    in Neutron; VMs plugged and addressed by DHCP; a ping across."""
    sdir = os.path.join(rundir, plan.prefix)
    with open(os.path.join(sdir, "udhcpc.sh"), "w") as f:
        f.write(UDHCPC_HOOK)
    os.chmod(os.path.join(sdir, "udhcpc.sh"), 0o755)
    with Progress("starting nodes", len(plan.nodes)) as p:
        for node in plan.nodes:
            orchestrate.prepare_node(node, agent_conf(plan, node))
            orchestrate.start_datapath(plan, node)
            orchestrate.start_agent(plan, node)
            p.step(note=node.name)
    n = api(plan)
    for node in plan.nodes:
        n.wait(f"the agent of {node.name} to show alive in Neutron (see "
               f"{node.rundir}/agent.log)", lambda node=node: n.alive(node.host, AGENT_TYPE),
               60)
    project = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{plan.prefix}.bsdnet-sandbox"))
    plan.neutron["project_id"] = project
    for name in plan.networks:
        net = n.create("network", name=f"{plan.prefix}-{name}", project_id=project)
        n.create("subnet", network_id=net["id"], ip_version=4, cidr=str(VM_SUBNET),
                 name=f"{plan.prefix}-{name}", project_id=project)
        plan.neutron["networks"][name] = net["id"]
    with Progress("VMs: port, plug, DHCP", len(plan.vms)) as p:
        for vm in plan.vms:
            port = n.create("port", network_id=plan.neutron["networks"][vm.network],
                            project_id=project, name=vm.name, mac_address=vm.mac)
            vm.port_id = port["id"]
            attach(plan, vm)
            p.step(note=vm.name)
    orchestrate.save(plan, rundir)
    orchestrate.check_reachability(plan, ready_timeout)


def attach(plan: Plan, vm: VM) -> None:
    """What Nova does for a port once the VM is scheduled to a node (bind
    and plug), then the VM asks DHCP for its address."""
    plug(plan, vm)
    vm.ip, vm.prefixlen = dhcp(plan, vm)
    LOG.info("%s got %s/%d from DHCP", vm.name, vm.ip, vm.prefixlen)


def plug(plan: Plan, vm: VM) -> None:
    """Bind the port to the VM's node and plug it: through the node's port
    API, as os-vif's vrouter plugin does (and, for a bridged port, on the
    network driver's bridge first, as Nova's bridge VIF plugging does)."""
    n = api(plan)
    node = plan.node(vm.node)
    vm.instance_id = vm.instance_id or str(uuid.uuid4())
    port = n.update("port", vm.port_id, **{"binding:host_id": node.host,
                                           "device_owner": "compute:nova",
                                           "device_id": vm.instance_id})
    vif_type = port["binding:vif_type"]
    if vif_type == "bridge":
        bridge_network(plan, vm, port)
    elif vif_type != "vrouter":
        raise orchestrate.SandboxError(
            f"port {vm.port_id} bound as {vif_type!r} on {node.host} (is the agent alive, "
            f"can it carry the network's segment?)")
    status, doc = apiclient.request(orchestrate.api_url(node), "POST", "/port", {
        "id": vm.port_id, "instance-id": vm.instance_id, "vn-id": port["network_id"],
        "mac-address": port["mac_address"], "system-name": vm.host_interface,
        "display-name": vm.name}, timeout=60)
    want = "bound" if vif_type == "vrouter" else "bridged"
    if status == 200 and doc.get("status") == "pending":
        # The agent kept the plug but Neutron has not answered within its
        # plug_timeout (a RabbitMQ restart loses in-flight replies): wait
        # for it as Nova waits for network-vif-plugged.
        LOG.info("%s: port %s pending on %s, waiting for Neutron", vm.name, vm.port_id,
                 node.name)
        status, doc = _plug_settled(node, vm.port_id)
    if status != 200 or not doc.get("status", "bound").startswith(want):
        raise orchestrate.SandboxError(f"{node.name} did not plug port {vm.port_id}: "
                                       f"{status} {doc}")


def _plug_settled(node, port_id: str, timeout: float = PLUG_WAIT) -> tuple[int, dict]:
    """The node's GET /plugs entry for port_id once it is no longer
    pending, or the last one seen when timeout runs out."""
    deadline = time.monotonic() + timeout
    while True:
        status, plugs = apiclient.request(orchestrate.api_url(node), "GET", "/plugs")
        doc = next((p for p in plugs or [] if p.get("id") == port_id), {}) \
            if status == 200 else {"answer": plugs}
        if doc.get("status") != "pending" or time.monotonic() > deadline:
            return status, doc
        time.sleep(0.5)


def _netdrv(plan: Plan, node, *argv: str) -> None:
    """bsdnet-net, the network driver's command, on the node."""
    cmd = [procs.tool("bsdnet-net"), "--netns", node.namespace, "--state-dir",
           netdrv_dir(node), *argv]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise orchestrate.SandboxError(f"{' '.join(cmd[1:])}: {r.stderr.strip()}")


def netdrv_dir(node) -> str:
    """The network driver's state: out of the node's run directory (mode
    0700), since dnsmasq, as nobody, must reach its host file."""
    sandbox_dir = os.path.dirname(node.rundir)
    return os.path.join(f"{sandbox_dir}.netdrv", os.path.basename(node.rundir))


def bridge_network(plan: Plan, vm: VM, port: dict) -> None:
    """What Nova's bridge VIF plugging does for a flat or VLAN port: the
    network driver makes the network's bridge on the node (the physical
    network's uplink as member) and puts the VM's tap on it, with the
    port's address as a static lease of the node's dnsmasq, which answers
    from the address of the node's DHCP port on the network in Neutron."""
    n = api(plan)
    node = plan.node(vm.node)
    net = n.show("network", port["network_id"])
    subnet = next((s for s in (n.show("subnet", sid) for sid in net["subnets"])
                   if s["ip_version"] == 4), None)
    if subnet is None:
        raise orchestrate.SandboxError(f"network {net['id']} has no IPv4 subnet")
    server = dhcp_port_address(n, net, subnet, node.host)
    plen = ipaddress.ip_network(subnet["cidr"]).prefixlen
    argv = ["ensure-network", "--id", net["id"], "--uplink", PROVIDER_IF,
            "--bridge", port["binding:vif_details"]["bridge_name"], "--mtu", str(net["mtu"]),
            "--cidr", subnet["cidr"], "--bridge-address", f"{server}/{plen}", "--dhcp"]
    if subnet.get("gateway_ip"):
        argv += ["--gateway", subnet["gateway_ip"]]
    for d in subnet.get("dns_nameservers") or []:
        argv += ["--dns", d]
    for r in subnet.get("host_routes") or []:
        argv += ["--route", f"{r['destination']},{r['nexthop']}"]
    if net["provider:network_type"] == "vlan":
        argv += ["--vlan", str(net["provider:segmentation_id"])]
    _netdrv(plan, node, *argv)
    ip = next(f["ip_address"] for f in port["fixed_ips"] if f["subnet_id"] == subnet["id"])
    _netdrv(plan, node, "plug", "--port", vm.port_id, "--network", net["id"],
            "--mac", port["mac_address"], "--ip", ip, "--tap", vm.host_interface,
            "--hostname", vm.name, "--adopt")


def dhcp_port_address(n: Neutron, net: dict, subnet: dict, host: str) -> str:
    """The address of this node's DHCP port on the network (made, as a
    Neutron DHCP agent's is, if there is none): what the node's dnsmasq
    answers from.  One per node, as with several DHCP agents on a network:
    a client's request names its server, and no other one answers it."""
    device = f"dhcp-{host}"
    for p in n.find("port", network_id=net["id"], device_owner="network:dhcp",
                    device_id=device):
        for f in p["fixed_ips"]:
            if f["subnet_id"] == subnet["id"]:
                return f["ip_address"]
    p = n.create("port", network_id=net["id"], project_id=net["project_id"],
                 device_owner="network:dhcp", device_id=device,
                 fixed_ips=[{"subnet_id": subnet["id"]}], name=device)
    return p["fixed_ips"][0]["ip_address"]


def dhcp(plan: Plan, vm: VM) -> tuple[str, int]:
    """Run busybox udhcpc, a stock client, in the VM until it has a lease."""
    if shutil.which("udhcpc") is None or not os.path.exists("/etc/udhcpc/default.script"):
        raise orchestrate.SandboxError("busybox udhcpc (Debian package udhcpc) is needed")
    # The client writes resolv.conf: give the namespace its own.
    os.makedirs(f"/etc/netns/{vm.namespace}", exist_ok=True)
    open(f"/etc/netns/{vm.namespace}/resolv.conf", "a").close()
    hook = os.path.join(os.path.dirname(plan.node(vm.node).rundir), "udhcpc.sh")
    r = netns.ns_exec(vm.namespace, ["udhcpc", "-i", vm.interface, "-f", "-q", "-n",
                                     "-t", "15", "-T", "1", "-s", hook, "-O", "mtu",
                                     "-O", "staticroutes"], check=False, timeout=60)
    if r.returncode != 0:
        raise orchestrate.SandboxError(f"{vm.name}: no DHCP lease: {r.stdout}{r.stderr}")
    out = netns.ns_exec(vm.namespace, ["ip", "-4", "-o", "addr", "show", "dev",
                                       vm.interface]).stdout.split()
    iface = ipaddress.IPv4Interface(out[out.index("inet") + 1])
    return str(iface.ip), iface.network.prefixlen


def add_vm(plan: Plan, rundir: str, name: str, node_name: str, port_id: str) -> VM:
    """bsdnet-sandbox vm add: a VM namespace on an existing Neutron port."""
    if not plan.neutron:
        raise orchestrate.SandboxError("vm add needs a sandbox made with up --neutron")
    if not _NAME_RE.fullmatch(name):
        raise orchestrate.SandboxError(f"VM name {name!r}: 1-16 of a-z, 0-9 and '-', "
                                       f"starting with a letter")
    if any(v.name == name for v in plan.vms):
        raise orchestrate.SandboxError(f"there is a VM {name!r} already")
    try:
        node = plan.node(node_name)
    except KeyError:
        raise orchestrate.SandboxError(f"no node {node_name!r}") from None
    port_id = str(uuid.UUID(port_id))
    if any(v.port_id == port_id for v in plan.vms):
        raise orchestrate.SandboxError(f"port {port_id} is plugged already")
    port = api(plan).show("port", port_id)
    net = api(plan).show("network", port["network_id"])
    vm = VM(name=name, node=node.name, namespace=f"{plan.prefix}-{name}", interface="eth0",
            host_interface=names.tap_name(port_id), ip="", prefixlen=0,
            mac=port["mac_address"], network=net.get("name") or net["id"], port_id=port_id,
            instance_id=port.get("device_id") or "")
    try:
        netns.build_vm(plan, vm)
        attach(plan, vm)
    except BaseException:
        _remove_vm(plan, vm)
        raise
    plan.vms.append(vm)
    orchestrate.save(plan, rundir)
    return vm


def del_vm(plan: Plan, rundir: str, name: str) -> VM:
    """bsdnet-sandbox vm del: unplug (as Nova would) and remove the VM."""
    try:
        vm = plan.vm(name)
    except KeyError:
        raise orchestrate.SandboxError(f"no VM {name!r}") from None
    _remove_vm(plan, vm)
    plan.vms.remove(vm)
    orchestrate.save(plan, rundir)
    return vm


def _remove_vm(plan: Plan, vm: VM) -> None:
    node = plan.node(vm.node)
    try:
        st, doc = apiclient.request(orchestrate.api_url(node), "DELETE",
                                    f"/port/{vm.port_id}", timeout=60)
    except OSError as e:
        LOG.warning("unplugging %s: %s", vm.port_id, e)
    try:
        _netdrv(plan, node, "unplug", "--port", vm.port_id)
    except orchestrate.SandboxError as e:
        LOG.debug("network driver: %s", e)       # not a bridged port
    if vm.namespace in netns.owned_namespaces(plan.prefix):
        subprocess.run(["ip", "netns", "del", vm.namespace], check=False)
    shutil.rmtree(f"/etc/netns/{vm.namespace}", ignore_errors=True)


def delete_objects(plan: Plan) -> None:
    """down: the ports, subnets and networks `up` made in Neutron."""
    n = api(plan)
    project = plan.neutron.get("project_id")
    if not project:
        return
    for port in n.find("port", project_id=project):
        n.delete("port", port["id"])
    for net in n.find("network", project_id=project):
        n.delete("network", net["id"])
