"""Build and remove the sandbox's namespaces and links (pyroute2).

Everything made here is named from the plan, so removal works from the
names alone, also after an `up` that failed halfway.
"""
from __future__ import annotations

import logging
import os
import subprocess

from pyroute2 import IPRoute, NetNS, netns

from .plan import FABRIC_MTU, MGMT_SUBNET, PROVIDER_BRIDGE, PROVIDER_IF, VM_MTU, Plan

LOG = logging.getLogger(__name__)
# Offloads that would hand AF_PACKET partial checksums or 64 KB GSO frames.
_OFFLOADS_OFF = ["tx", "off", "tso", "off", "gso", "off", "gro", "off"]


def ns_exec(namespace: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
    """Run argv inside a namespace (iproute2's `ip netns exec`, no shell)."""
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], **kw)


def _quiet_ipv6(namespace: str) -> None:
    # The overlay is IPv4; router solicitations would only show up as drops.
    ns_exec(namespace, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])
    ns_exec(namespace, ["sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"])


def _deep_trap_queue(namespace: str) -> None:
    # Traps and RELEASEs travel as unix datagrams; the per-namespace default
    # queue of 10 would cap the agent's batches at 10.
    ns_exec(namespace, ["sysctl", "-q", "-w", "net.unix.max_dgram_qlen=512"])


def _offloads_off(namespace: str, ifname: str) -> None:
    ns_exec(namespace, ["ethtool", "-K", ifname, *_OFFLOADS_OFF], check=False)


def _veth_into(ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
    """A veth pair with one end in each namespace (made in the root ns)."""
    tmp_a, tmp_b = f"bsxa{os.getpid() % 100000}", f"bsxb{os.getpid() % 100000}"
    with IPRoute() as ip:
        ip.link("add", ifname=tmp_a, kind="veth", peer={"ifname": tmp_b})
        ip.link("set", index=ip.link_lookup(ifname=tmp_a)[0], net_ns_fd=ns_a)
        ip.link("set", index=ip.link_lookup(ifname=tmp_b)[0], net_ns_fd=ns_b)
    for ns, tmp, name in ((ns_a, tmp_a, name_a), (ns_b, tmp_b, name_b)):
        with NetNS(ns) as n:
            n.link("set", index=n.link_lookup(ifname=tmp)[0], ifname=name)


def build(plan: Plan) -> None:
    """Create the fabric, the nodes and the VMs of the plan."""
    netns.create(plan.fabric_namespace)
    _quiet_ipv6(plan.fabric_namespace)
    with NetNS(plan.fabric_namespace) as fab:
        fab.link("add", ifname=plan.fabric_bridge, kind="bridge")
        fab.link("set", index=fab.link_lookup(ifname=plan.fabric_bridge)[0],
                 state="up", mtu=FABRIC_MTU)
        fab.link("set", index=fab.link_lookup(ifname="lo")[0], state="up")
    for node in plan.nodes:
        LOG.info("node %s: namespace %s, fabric %s %s", node.name, node.namespace,
                 node.fabric_address, node.fabric_mac)
        netns.create(node.namespace)
        _quiet_ipv6(node.namespace)
        _deep_trap_queue(node.namespace)
        _veth_into(node.namespace, node.fabric_interface,
                   plan.fabric_namespace, node.fabric_peer)
        with NetNS(plan.fabric_namespace) as fab:
            br = fab.link_lookup(ifname=plan.fabric_bridge)[0]
            fab.link("set", index=fab.link_lookup(ifname=node.fabric_peer)[0],
                     master=br, state="up", mtu=FABRIC_MTU)
        with NetNS(node.namespace) as n:
            n.link("set", index=n.link_lookup(ifname="lo")[0], state="up")
            # No address on fab0: the datapath owns the fabric address.
            n.link("set", index=n.link_lookup(ifname=node.fabric_interface)[0],
                   address=node.fabric_mac, mtu=FABRIC_MTU, state="up")
        _offloads_off(node.namespace, node.fabric_interface)
        _offloads_off(plan.fabric_namespace, node.fabric_peer)
    if plan.neutron:
        _mgmt(plan)
        _provider(plan)
    for vm in plan.vms:
        build_vm(plan, vm)


def build_vm(plan: Plan, vm) -> None:
    """A VM: a namespace whose interface is a veth ending in its node.
    Hand-fed VMs get their address here; Neutron's get it by DHCP, their
    MTU too (1500 until then)."""
    node = plan.node(vm.node)
    LOG.info("vm %s: %s %s on network %s, %s on node %s", vm.name, vm.ip or "(DHCP)",
             vm.mac, vm.network, vm.host_interface, vm.node)
    mtu = VM_MTU if vm.ip else FABRIC_MTU
    netns.create(vm.namespace)
    _quiet_ipv6(vm.namespace)
    _veth_into(vm.namespace, vm.interface, node.namespace, vm.host_interface)
    with NetNS(vm.namespace) as n:
        n.link("set", index=n.link_lookup(ifname="lo")[0], state="up")
        idx = n.link_lookup(ifname=vm.interface)[0]
        n.link("set", index=idx, address=vm.mac, mtu=mtu, state="up")
        if vm.ip:
            n.addr("add", index=idx, address=vm.ip, prefixlen=vm.prefixlen)
    with NetNS(node.namespace) as n:
        n.link("set", index=n.link_lookup(ifname=vm.host_interface)[0],
               mtu=mtu, state="up")
    _offloads_off(vm.namespace, vm.interface)
    _offloads_off(node.namespace, vm.host_interface)


def _provider(plan: Plan) -> None:
    """physnet1: a second segment between the nodes, for flat networks
    (the network driver bridges it), apart from the fabric."""
    with NetNS(plan.fabric_namespace) as fab:
        fab.link("add", ifname=PROVIDER_BRIDGE, kind="bridge")
        fab.link("set", index=fab.link_lookup(ifname=PROVIDER_BRIDGE)[0], state="up",
                 mtu=FABRIC_MTU)
    for node in plan.nodes:
        _veth_into(node.namespace, PROVIDER_IF, plan.fabric_namespace, node.provider_peer)
        with NetNS(plan.fabric_namespace) as fab:
            br = fab.link_lookup(ifname=PROVIDER_BRIDGE)[0]
            fab.link("set", index=fab.link_lookup(ifname=node.provider_peer)[0],
                     master=br, state="up", mtu=FABRIC_MTU)
        with NetNS(node.namespace) as n:
            n.link("set", index=n.link_lookup(ifname=PROVIDER_IF)[0], mtu=FABRIC_MTU,
                   state="up")
        _offloads_off(node.namespace, PROVIDER_IF)
        _offloads_off(plan.fabric_namespace, node.provider_peer)


def _mgmt(plan: Plan) -> None:
    """The management network: a bridge in the root namespace holding the
    host's address (RabbitMQ, the Neutron API), a veth mgmt0 to each node."""
    br = plan.neutron["mgmt_bridge"]
    gw = str(MGMT_SUBNET.network_address + 1)
    with IPRoute() as ip:
        ip.link("add", ifname=br, kind="bridge")
        idx = ip.link_lookup(ifname=br)[0]
        ip.link("set", index=idx, state="up")
        ip.addr("add", index=idx, address=gw, prefixlen=MGMT_SUBNET.prefixlen)
    for node in plan.nodes:
        tmp = f"bsxm{os.getpid() % 100000}"
        with IPRoute() as ip:
            ip.link("add", ifname=node.mgmt_peer, kind="veth", peer={"ifname": tmp})
            ip.link("set", index=ip.link_lookup(ifname=tmp)[0], net_ns_fd=node.namespace)
            ip.link("set", index=ip.link_lookup(ifname=node.mgmt_peer)[0],
                    master=ip.link_lookup(ifname=br)[0], state="up")
        with NetNS(node.namespace) as n:
            idx = n.link_lookup(ifname=tmp)[0]
            n.link("set", index=idx, ifname="mgmt0")
            n.link("set", index=idx, state="up")
            n.addr("add", index=idx, address=node.mgmt_address,
                   prefixlen=MGMT_SUBNET.prefixlen)


def owned_namespaces(prefix: str) -> list[str]:
    """Namespaces a sandbox with this prefix made (by name)."""
    return sorted(n for n in netns.listnetns() if n.startswith(f"{prefix}-"))


def remove(prefix: str) -> list[str]:
    """Delete every namespace of the sandbox (links inside go with them)
    and its management bridge."""
    with IPRoute() as ip:
        for idx in ip.link_lookup(ifname=f"{prefix}mgmt"):
            ip.link("del", index=idx)
    gone = []
    for name in owned_namespaces(prefix):
        try:
            netns.remove(name)
            gone.append(name)
        except OSError as exc:
            LOG.warning("could not remove namespace %s: %s", name, exc)
    return gone
