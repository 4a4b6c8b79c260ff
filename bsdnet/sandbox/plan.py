"""What a sandbox is made of: names, addresses, MACs, labels to come.

Pure data, no side effects, so the plan can be checked without root and
`status` can be rebuilt from the saved plan alone.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re

from bsdnet.common import names

NETWORK_NAMES = ("red", "blue", "green", "amber", "cyan", "olive", "plum", "teal")
VM_SUBNET = ipaddress.IPv4Network("10.0.0.0/24")   # reused by every network
FABRIC_SUBNET = ipaddress.IPv4Network("192.0.2.0/24")
# With Neutron: the nodes' management network, where RabbitMQ is reached
# (the host's end of it, on a bridge in the root namespace, is the first
# address).
MGMT_SUBNET = ipaddress.IPv4Network("198.51.100.0/24")
# With Neutron: each node's uplink for flat networks, on physical network
# physnet1: a segment of its own (a bridge in the fabric's namespace).
PHYSNET = "physnet1"
PROVIDER_IF = "phy0"
PROVIDER_BRIDGE = "provider0"
VM_MTU = 1400          # leaves room for the 28 bytes of MPLS over GRE
FABRIC_MTU = 1500
_PREFIX_RE = re.compile(r"[a-z][a-z0-9]{0,5}")


class PlanError(ValueError):
    """The requested sandbox cannot be built."""


@dataclasses.dataclass
class Node:
    index: int
    name: str
    namespace: str
    fabric_interface: str
    fabric_peer: str          # its end on the fabric bridge
    fabric_address: str
    fabric_mac: str
    shm: str
    rundir: str
    host: str = ""            # with Neutron: binding:host_id of its ports
    mgmt_address: str = ""    # with Neutron: its address on the mgmt network
    mgmt_peer: str = ""       # with Neutron: its mgmt veth's root-side end
    provider_peer: str = ""   # with Neutron: its physnet1 veth's far end


@dataclasses.dataclass
class VM:
    name: str
    node: str
    namespace: str
    interface: str            # inside the VM
    host_interface: str       # on the node, attached to the datapath
    ip: str
    prefixlen: int
    mac: str
    network: str
    port_id: str
    label: int | None = None
    vif: int | None = None
    instance_id: str = ""     # with Neutron: the port's device_id


@dataclasses.dataclass
class Plan:
    prefix: str
    fabric_namespace: str
    fabric_bridge: str
    networks: list[str]
    nodes: list[Node]
    vms: list[VM]
    # With Neutron: {"url", "transport_url", "project_id", "mgmt_bridge",
    # "networks": {name: id}}; None for the hand-fed sandbox.
    neutron: dict | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        return cls(prefix=d["prefix"], fabric_namespace=d["fabric_namespace"],
                   fabric_bridge=d["fabric_bridge"], networks=list(d["networks"]),
                   nodes=[Node(**n) for n in d["nodes"]],
                   vms=[VM(**v) for v in d["vms"]], neutron=d.get("neutron"))

    def vm(self, name: str) -> VM:
        for v in self.vms:
            if v.name == name:
                return v
        raise KeyError(name)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def _check_ifname(name: str) -> str:
    return names.check_ifname(name, error=PlanError)


def make_plan(prefix: str = "bsx", nodes: int = 2, vms_per_node: int = 2,
              networks: int = 2, rundir: str = "/run/bsdnet-sandbox",
              neutron: dict | None = None) -> Plan:
    """Lay out `nodes` nodes with `vms_per_node` VMs each, spread over
    `networks` virtual networks that all reuse VM_SUBNET.  With neutron
    ({"url", "transport_url"}), the nodes get a management network and a
    Neutron host name, and the VMs' addresses come from Neutron (DHCP)."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise PlanError(f"prefix {prefix!r}: 1-6 lower-case letters or digits, starting with a letter")
    if not 1 <= nodes <= 50:
        raise PlanError("nodes must be between 1 and 50")
    if not 1 <= vms_per_node <= 50:
        raise PlanError("vms per node must be between 1 and 50")
    if not 1 <= networks <= len(NETWORK_NAMES):
        raise PlanError(f"networks must be between 1 and {len(NETWORK_NAMES)}")
    nets = list(NETWORK_NAMES[:networks])
    hosts = list(VM_SUBNET.hosts())
    per_net = -(-nodes * vms_per_node // networks)
    if per_net > len(hosts):
        raise PlanError(f"{per_net} VMs in one network do not fit {VM_SUBNET}")
    next_host = {n: 0 for n in nets}
    node_list: list[Node] = []
    vm_list: list[VM] = []
    for i in range(1, nodes + 1):
        node_list.append(Node(
            index=i, name=f"n{i}", namespace=f"{prefix}-n{i}",
            fabric_interface="fab0", fabric_peer=_check_ifname(f"{prefix}f{i}"),
            fabric_address=str(FABRIC_SUBNET.network_address + i),
            fabric_mac=f"02:bd:ff:00:{i:02x}:00",
            shm=f"{prefix}-n{i}", rundir=f"{rundir}/{prefix}/n{i}"))
        if neutron is not None:
            node_list[-1].host = f"{prefix}-n{i}"
            node_list[-1].mgmt_address = str(MGMT_SUBNET.network_address + 10 + i)
            node_list[-1].mgmt_peer = _check_ifname(f"{prefix}g{i}")
            node_list[-1].provider_peer = _check_ifname(f"{prefix}p{i}")
        for j in range(1, vms_per_node + 1):
            net = nets[(j - 1) % len(nets)]
            ip = hosts[next_host[net]]
            next_host[net] += 1
            vm_list.append(VM(
                name=f"n{i}-vm{j}", node=f"n{i}", namespace=f"{prefix}-n{i}-vm{j}",
                interface="eth0", host_interface=_check_ifname(f"tap{i}v{j}"),
                ip=str(ip), prefixlen=VM_SUBNET.prefixlen,
                mac=f"02:bd:{i:02x}:{j:02x}:00:01", network=net,
                port_id=f"{prefix}-port-n{i}-vm{j}"))
    if neutron is not None:
        neutron = {**neutron, "mgmt_bridge": _check_ifname(f"{prefix}mgmt"),
                   "networks": {}}
        for v in vm_list:
            v.ip, v.prefixlen = "", 0          # Neutron's, by DHCP
    return Plan(prefix=prefix, fabric_namespace=f"{prefix}-fab",
                fabric_bridge="fabric0", networks=nets, nodes=node_list, vms=vm_list,
                neutron=neutron)
