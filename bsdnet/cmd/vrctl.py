"""bsdnet-vrctl: look at the datapath's shared tables (like vRouter's
vif, nh, mpls, rt, flow and dropstats tools) and at what the agent made of
them (ports, networks, security-group decisions).  Read-only."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

from bsdnet.agent import portstore as ps
from bsdnet.agent import state as statefile
from bsdnet.agent.flows import Trap, flow_counts, flow_key
from bsdnet.agent.model import addresses
from bsdnet.agent.opts import STATE_DIR
from bsdnet.agent.secgroups import SecGroupPolicy
from bsdnet.agent.transport_device import DEFAULT_DEVICE, DeviceOps, open_device_region
from bsdnet.shm.abi import drop_reason_names, enum_names, lib, nh_type_name, vif_type_name
from bsdnet.shm.mtrie import format_prefix, walk
from bsdnet.shm.region import Region, RegionError
from bsdnet.shm.tables import (EndpointTable, LabelTable, NexthopTable, VifTable, bytes_to_mac,
                               int_to_ip)

DESCRIPTION = """\
Print the tables the bsdnet agent and datapath share: the userspace
datapaths' POSIX shared-memory region (--shm NAME, /dev/shm/NAME on
Linux; or a path), or the FreeBSD kernel module's tables behind
/dev/bsdnet (--device), mapped read-only.  Nothing is changed.
"""

EPILOG = """\
commands:
  vif          every vif: index, type, OS name, VRF, address, MAC, MTU,
               nexthop delivering to it, flags (P = policy, U = up), the
               OS ifindex the datapath attached it with (0: not attached),
               and its packet counters.
  nh           every nexthop: index, type (ENCAP, TUNNEL, ECMP, DISCARD,
               RECEIVE, VRF), VRF, vif and what it does: MACs written on
               output, the tunnel's outer addresses and MPLS label, or the
               members of an ECMP group.
  mpls         every local MPLS label and the nexthop it delivers to.
  rt           the routes of one VRF (--vrf N) or of every VRF in use, read
               back from the mtrie into prefixes, in address order.
  flow         ACTIVE flows (with --all, HOLD entries too): index, state,
               generation, key (VRF, protocol, source and destination),
               action, reverse flow, packets and bytes.
  endpoint     the known tunnel endpoints: each node MPLS over GRE is taken
               from and the VRFs (networks, named from the agent's state
               when it can be read) it may send into, and whether the
               datapath checks them ("enforced"; [fabric]
               check_endpoints).  Anything else is dropped as
               UNKNOWN_ENDPOINT or ENDPOINT_VRF.
  dropstats    datapath drop counters by reason name (non-zero only, unless
               --all).
  stats        global datapath counters, HOLD entries and table use.
  port         every port the agent programmed (port API and topology
               file): id, interface, network, VRF, address, vif, MPLS
               label, security groups, and the vif's counters (packets,
               drops, traps, flows charged to it).
  network      every network: name or id, VRF, subnets, MTU, ports.
  sg           security-group decisions: each ACTIVE flow that starts at
               or goes to a port of the API, its action in the table and
               the verdict its port's groups give now, with the deciding
               rule ("-": the default policy).

output:
  Tables for people by default; --json prints one JSON document (a list of
  objects, or an object for stats) for programs.

exit status:
  0 on success, 1 if the region cannot be opened or is not valid (the
  reason is printed on standard error), 2 on a usage error.  Without
  --shm or --device: /dev/bsdnet where it exists (FreeBSD with bsdnet.ko
  loaded), the region named bsdnet otherwise.

examples:
  bsdnet-vrctl --shm bsdnet vif
  bsdnet-vrctl --device /dev/bsdnet vif       # bsdnet.ko
  bsdnet-vrctl --shm bsdnet rt --vrf 1
  bsdnet-vrctl --shm /dev/shm/bsdnet --json dropstats --all
  bsdnet-vrctl --shm bsdnet --state-dir /var/lib/bsdnet port
"""

PROTOS = {1: "icmp", 6: "tcp", 17: "udp"}


def _state(word: int) -> tuple[str, int]:
    names = enum_names("flow_state")
    st = word & lib.BSDNET_FLOW_STATE_MASK
    return (names.get(st, str(st)).replace("BSDNET_FLOW_", ""),
            word >> lib.BSDNET_FLOW_GEN_SHIFT)


def vifs(r: Region, args) -> list[dict[str, Any]]:
    out = []
    for i, v in VifTable(r).live():
        s = r.vifstats[i]
        out.append({
            "vif": i, "type": vif_type_name(v.type), "name": v.name,
            "vrf": v.vrf, "ip": int_to_ip(v.ip), "mac": bytes_to_mac(v.mac),
            "mtu": v.mtu, "nh": v.nh, "flags": v.flags,
            "policy": bool(v.flags & lib.BSDNET_VIF_F_POLICY),
            "up": bool(v.flags & lib.BSDNET_VIF_F_UP),
            "os_index": v.os_index, "rx_pkts": s.vs_rx_pkts,
            "tx_pkts": s.vs_tx_pkts, "drops": s.vs_drops,
            "traps": s.vs_traps, "flows": s.vs_flows})
    return out


def nexthops(r: Region, args) -> list[dict[str, Any]]:
    out = []
    for i, n in NexthopTable(r).live():
        d: dict[str, Any] = {"nh": i, "type": nh_type_name(n.type),
                             "vrf": n.vrf, "vif": n.vif}
        if n.type in (lib.BSDNET_NH_ENCAP, lib.BSDNET_NH_TUNNEL):
            d.update(dmac=bytes_to_mac(n.dmac), smac=bytes_to_mac(n.smac))
        if n.type == lib.BSDNET_NH_TUNNEL:
            d.update(tun_src=int_to_ip(n.tun_src),
                     tun_dst=int_to_ip(n.tun_dst), label=n.label)
        if n.type == lib.BSDNET_NH_ECMP:
            d["members"] = list(n.members)
        out.append(d)
    return out


def labels(r: Region, args) -> list[dict[str, Any]]:
    return [{"label": lbl, "nh": nh} for lbl, nh in LabelTable(r).live()]


def routes(r: Region, args) -> list[dict[str, Any]]:
    if args.vrf is not None:
        if not 0 <= args.vrf < len(r.vrfs):
            raise RegionError(f"VRF {args.vrf} out of range "
                              f"(0..{len(r.vrfs) - 1})")
        vrfs: Iterable[int] = [args.vrf]
    else:
        vrfs = [i for i in range(len(r.vrfs)) if r.vrfs[i].vrf_flags & 1]
    out = []
    for v in vrfs:
        for addr, plen, nh, _ in walk(r, v):
            if addr is None:
                continue
            t = r.nexthops[nh].nh_type if nh < len(r.nexthops) else 0
            out.append({"vrf": v, "prefix": format_prefix(addr, plen),
                        "nh": nh, "nh_type": nh_type_name(t)})
    return out


def flows(r: Region, args) -> list[dict[str, Any]]:
    out = []
    want = {lib.BSDNET_FLOW_ACTIVE}
    if args.all:
        want.add(lib.BSDNET_FLOW_HOLD)
    actions = enum_names("flow_action")
    mask = lib.BSDNET_FLOW_STATE_MASK
    states = r.flow_states()
    for i in [i for i, w in enumerate(states) if w & mask in want]:
        fe = r.flows[i]
        w = fe.fe_state
        if w & mask not in want:        # changed since the snapshot
            continue
        st, gen = _state(w)
        pk, nb = flow_counts(fe)
        k = fe.fe_key
        rf = fe.fe_rflow
        out.append({
            "flow": i, "state": st, "gen": gen, "vrf": k.fk_vrf,
            "proto": PROTOS.get(k.fk_proto, str(k.fk_proto)),
            "src": int_to_ip(k.fk_src), "sport": k.fk_sport,
            "dst": int_to_ip(k.fk_dst), "dport": k.fk_dport,
            "action": actions.get(fe.fe_action, str(fe.fe_action)).replace(
                "BSDNET_FA_", ""),
            "rflow": None if rf == (lib.BSDNET_FLOW_NONE & 0xffffffff) else rf,
            "src_vif": fe.fe_src_vif,
            "reverse": bool(fe.fe_flags & lib.BSDNET_FE_F_REVERSE),
            "packets": pk, "bytes": nb})
    return out


def endpoints(r: Region, args) -> list[dict[str, Any]]:
    try:
        names = AgentView(args.state_dir).network_names()
    except (RegionError, ps.CorruptStateError, OSError):
        names = {}
    enforced = r.check_endpoints
    nodes: dict[int, list[int]] = {}
    for addr, vrf in EndpointTable(r).live():
        vrfs = nodes.setdefault(addr, [])
        if vrf != lib.BSDNET_EP_VRF_ANY:
            vrfs.append(vrf)
    return [{"endpoint": int_to_ip(a), "vrfs": v,
             "networks": [names.get(x, "") for x in v],
             "enforced": enforced} for a, v in sorted(nodes.items())]


def dropstats(r: Region, args) -> list[dict[str, Any]]:
    st = r.stats
    return [{"reason": name, "count": st.st_drops[i]}
            for i, name in enumerate(drop_reason_names())
            if i > 0 and (args.all or st.st_drops[i])]


def stats(r: Region, args) -> dict[str, Any]:
    st = r.stats
    out = {f: getattr(st, "st_" + f) for f in (
        "rx_pkts", "tx_pkts", "traps", "flow_hits", "flow_misses", "encaps",
        "decaps", "arp_replies", "holds", "icmp_too_big",
        "icmp_rate_limited", "mss_clamped")}
    out["drops"] = sum(st.st_drops[i] for i in range(lib.BSDNET_DROP_SLOTS))
    mask, active = lib.BSDNET_FLOW_STATE_MASK, lib.BSDNET_FLOW_ACTIVE
    out["flows_active"] = sum(1 for w in r.flow_states() if w & mask == active)
    h = r.hdr
    dp_pid, dp_beat = r.dp_heartbeat()
    out.update(instance=r.instance, flow_entries=r.nflows,
               max_hold=h.rh_maxhold, datapath_pid=dp_pid,
               datapath_heartbeat=dp_beat, agent_pid=h.rh_agent_pid,
               agent_heartbeat=h.rh_agent_heartbeat,
               router_mac=bytes_to_mac(r.router_mac), geometry=r.geometry(),
               mss_clamp=not h.rh_dp_flags & lib.BSDNET_DPF_NO_MSS_CLAMP,
               icmp_rate=h.rh_icmp_rate)
    return out


class AgentView:
    """What the agent wrote in its state directory: state.json (indices by
    port and network) and the port API's store."""

    def __init__(self, state_dir: str) -> None:
        st = statefile.load(state_dir)
        if st is None:
            raise RegionError(f"no agent state in {state_dir}")
        self.state = st
        self.objs: list[ps.Obj] = []
        d = os.path.join(state_dir, "ports")
        if os.path.isdir(d):        # an agent that never served the API
            store = ps.PortStore(d)
            store.load()
            self.objs = list(store)

    def of(self, cls: type) -> list[Any]:
        return [o for o in self.objs if isinstance(o, cls)]

    def api_ports(self) -> dict[str, ps.Port]:
        return {p.id: p for p in self.of(ps.Port)}

    def network_names(self) -> dict[int, str]:
        return {v["vrf"]: n for n, v in self.state["networks"].items()}


def _view(args) -> AgentView:
    return AgentView(args.state_dir)


def ports(r: Region, args) -> list[dict[str, Any]]:
    view = _view(args)
    api = view.api_ports()
    vifs = VifTable(r)
    out = []
    for pid, st in sorted(view.state["ports"].items()):
        v = vifs.read(st["vif"])
        s = r.vifstats[st["vif"]]
        p = api.get(pid)
        out.append({
            "id": pid, "source": "api" if p else "topology",
            "interface": v.name, "network": p.vn_id if p else
            view.network_names().get(st["vrf"], ""),
            "vrf": st["vrf"], "ip": int_to_ip(v.ip),
            "mac": bytes_to_mac(v.mac), "vif": st["vif"],
            "label": st["label"], "nh": st["nexthop"],
            "groups": list(p.security_groups) if p else [],
            "up": bool(v.flags & lib.BSDNET_VIF_F_UP),
            "attached": v.os_index != 0, "flow_quota": v.flow_quota,
            "rx_pkts": s.vs_rx_pkts, "tx_pkts": s.vs_tx_pkts,
            "drops": s.vs_drops, "traps": s.vs_traps, "flows": s.vs_flows})
    return out


def networks(r: Region, args) -> list[dict[str, Any]]:
    view = _view(args)
    nets = {n.id: n for n in view.of(ps.Network)}
    count: dict[int, int] = {}
    for st in view.state["ports"].values():
        count[st["vrf"]] = count.get(st["vrf"], 0) + 1
    out = []
    for name, st in sorted(view.state["networks"].items()):
        n = nets.get(name)
        vrf = st["vrf"]
        out.append({
            "network": name, "name": n.name if n else name, "vrf": vrf,
            "mtu": n.mtu if n else None,
            "subnets": [s.to_json() for s in n.subnets] if n else [],
            "ports": count.get(vrf, 0), "flows": r.vrfs[vrf].vrf_nflows,
            "flow_quota": r.vrfs[vrf].vrf_flow_quota})
    return out


def decisions(r: Region, args) -> list[dict[str, Any]]:
    view = _view(args)
    api = view.api_ports()
    index = ps.index_from(view.objs)
    vif_port, addr_port = {}, {}
    for pid, p in api.items():
        st = view.state["ports"].get(pid)
        if st is not None:
            vif_port[st["vif"]] = pid
            for a in addresses(p):
                addr_port[(st["vrf"], a)] = pid
    policy = SecGroupPolicy(index, vif_port.get,
                            lambda vrf, a: addr_port.get((vrf, a)))
    actions = enum_names("flow_action")
    mask, active = lib.BSDNET_FLOW_STATE_MASK, lib.BSDNET_FLOW_ACTIVE
    out = []
    for i in [i for i, w in enumerate(r.flow_states()) if w & mask == active]:
        fe = r.flows[i]
        if fe.fe_flags & lib.BSDNET_FE_F_REVERSE:
            continue
        k = fe.fe_key
        src = vif_port.get(fe.fe_src_vif)
        dst = addr_port.get((k.fk_vrf, k.fk_dst))
        if src is None and dst is None:
            continue
        v = policy(flow_key(fe), Trap(0, fe.fe_src_vif, k.fk_vrf, i, 0, 0,
                                      b""))
        out.append({
            "flow": i, "vrf": k.fk_vrf,
            "proto": PROTOS.get(k.fk_proto, str(k.fk_proto)),
            "src": int_to_ip(k.fk_src), "sport": k.fk_sport,
            "dst": int_to_ip(k.fk_dst), "dport": k.fk_dport,
            "src_port": src, "dst_port": dst,
            "action": actions.get(fe.fe_action, str(fe.fe_action)).replace(
                "BSDNET_FA_", ""),
            "verdict": "allow" if v.allow else "deny", "rule": v.rule_id,
            "packets": flow_counts(fe)[0]})
    return out


COLUMNS = {
    "vif": ("vif", "type", "name", "vrf", "ip", "mac", "mtu", "nh", "flags",
            "os_index", "rx_pkts", "tx_pkts", "drops"),
    "nh": ("nh", "type", "vrf", "vif", "detail"),
    "mpls": ("label", "nh"),
    "rt": ("vrf", "prefix", "nh", "nh_type"),
    "flow": ("flow", "state", "gen", "vrf", "proto", "source", "destination",
             "action", "rflow", "packets", "bytes"),
    "dropstats": ("reason", "count"),
    "endpoint": ("endpoint", "vrfs", "networks", "enforced"),
    "port": ("id", "interface", "ip", "vif", "label", "vrf", "groups",
             "flags", "rx_pkts", "tx_pkts", "drops", "traps", "flows"),
    "network": ("network", "name", "vrf", "mtu", "subnets", "ports",
                "flows"),
    "sg": ("flow", "proto", "source", "destination", "action", "verdict",
           "rule", "packets"),
}


def _row(cmd: str, d: dict[str, Any]) -> dict[str, Any]:
    d = dict(d)
    if cmd == "vif":
        d["flags"] = ("P" if d["policy"] else "") + ("U" if d["up"] else "")
    elif cmd == "nh":
        if d["type"] == "TUNNEL":
            d["detail"] = (f"{d['tun_src']} -> {d['tun_dst']} label "
                           f"{d['label']} dmac {d['dmac']}")
        elif d["type"] == "ENCAP":
            d["detail"] = f"dmac {d['dmac']} smac {d['smac']}"
        elif d["type"] == "ECMP":
            d["detail"] = "members " + ",".join(map(str, d["members"]))
        else:
            d["detail"] = ""
    elif cmd == "port":
        d["groups"] = ",".join(d["groups"]) or "-"
        d["flags"] = ("U" if d["up"] else "") + \
            ("A" if d["attached"] else "")
    elif cmd == "network":
        d["subnets"] = ",".join(x["cidr"] for x in d["subnets"]) or "-"
        d["mtu"] = "-" if d["mtu"] is None else d["mtu"]
    elif cmd == "endpoint":
        d["vrfs"] = ",".join(map(str, d["vrfs"])) or "-"
        d["networks"] = ",".join(n or "?" for n in d["networks"]) or "-"
        d["enforced"] = "yes" if d["enforced"] else "no"
    elif cmd == "sg":
        d["source"] = f"{d['src']}:{d['sport']}"
        d["destination"] = f"{d['dst']}:{d['dport']}"
        d["rule"] = d["rule"] or "-"
    elif cmd == "flow":
        d["source"] = f"{d['src']}:{d['sport']}"
        d["destination"] = f"{d['dst']}:{d['dport']}"
        d["rflow"] = "-" if d["rflow"] is None else d["rflow"]
    return d


def render(cmd: str, data: Any) -> str:
    if isinstance(data, dict):
        w = max(len(k) for k in data)
        return "\n".join(f"{k:<{w}}  {v}" for k, v in data.items())
    cols = COLUMNS[cmd]
    rows = [[str(_row(cmd, d)[c]) for c in cols] for d in data]
    widths = [max([len(c)] + [len(r[i]) for r in rows])
              for i, c in enumerate(cols)]
    lines = ["  ".join(c.upper().ljust(widths[i]) for i, c in enumerate(cols))
             .rstrip()]
    lines += ["  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip()
              for r in rows]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


COMMANDS = {"vif": vifs, "nh": nexthops, "mpls": labels, "rt": routes,
            "flow": flows, "endpoint": endpoints, "dropstats": dropstats,
            "stats": stats,
            "port": ports, "network": networks, "sg": decisions}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bsdnet-vrctl", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--shm", metavar="NAME",
                       help="region name (shm_open), or its path")
    where.add_argument("--device", metavar="PATH",
                       help=f"the kernel module's device, {DEFAULT_DEVICE}")
    p.add_argument("--json", action="store_true",
                   help="print JSON instead of a table")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    sub.add_parser("vif", help="list vifs")
    sub.add_parser("nh", help="list nexthops")
    sub.add_parser("mpls", help="list local MPLS labels")
    rt = sub.add_parser("rt", help="list routes")
    rt.add_argument("--vrf", type=int, metavar="N",
                    help="only VRF N (default: every VRF in use)")
    fl = sub.add_parser("flow", help="list flows")
    fl.add_argument("--all", action="store_true",
                    help="also list HOLD entries (flows being decided)")
    sub.add_parser("endpoint", help="known tunnel endpoints and their VRFs")
    ds = sub.add_parser("dropstats", help="drop counters by reason")
    ds.add_argument("--all", action="store_true",
                    help="also list reasons that counted nothing")
    sub.add_parser("stats", help="global counters")
    sub.add_parser("port", help="ports with their counters")
    sub.add_parser("network", help="networks")
    sub.add_parser("sg", help="security-group decisions of live flows")
    p.add_argument("--state-dir", default=STATE_DIR, metavar="DIR",
                   help="the agent's state directory, for port, network, "
                        f"sg and endpoint (default {STATE_DIR})")
    return p


def open_region(args: argparse.Namespace,
                ops: DeviceOps | None = None) -> Region:
    """The region the arguments name: the device, the shm region, or
    (neither given) /dev/bsdnet if it exists, else "bsdnet"."""
    device = args.device
    if device is None and args.shm is None and \
            os.path.exists(DEFAULT_DEVICE):
        device = DEFAULT_DEVICE
    if device is not None:
        return open_device_region(device, ops)
    return Region.open(args.shm or "bsdnet", readonly=True)


def main(argv: list[str] | None = None, ops: DeviceOps | None = None) -> int:
    """ops: the device's system calls (tests give a stand-in module)."""
    args = parser().parse_args(argv)
    try:
        region = open_region(args, ops)
        data = COMMANDS[args.cmd](region, args)
    except (RegionError, ps.CorruptStateError, OSError) as e:
        print(f"bsdnet-vrctl: {e}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(data, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(render(args.cmd, data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
