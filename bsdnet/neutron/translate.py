"""Neutron's RPC payloads as bsdnet's model: ports, networks, security
groups and the routes of l2population's forwarding entries.

Everything that arrives from Neutron is checked here the way the port API
checks a client (the same portstore validators); what does not pass raises
Refused with a reason, and the caller logs it and carries on without that
object.  Nothing here talks to Neutron or touches a table.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any, Iterable

from bsdnet.agent import portstore as ps
from bsdnet.agent.portapi import PortApi
from bsdnet.agent.secgroups import SecGroupError, SecurityGroup

from . import constants as c

LOG = logging.getLogger(__name__)

# A port with port security and no security group passes nothing (as
# Neutron's firewalls do): it is given this group, which has no rule.
NO_GROUPS = "bsdnet-no-security-groups"


class Refused(ValueError):
    """A Neutron object bsdnet will not use; the message says why."""


@dataclass(frozen=True)
class Plug:
    """A port plugged on this node through the port API (Nova's VIF
    plugging): which tap it is, for which instance.  Neutron says the rest."""
    id: str
    system_name: str
    instance_id: str
    mac_address: str
    network_id: str
    display_name: str = ""

    kind = "plug"

    @classmethod
    def from_request(cls, body: Any) -> "Plug":
        """From a port API request (vRouter's JSON); addresses and groups
        in it are ignored: Neutron's are the ones that count."""
        port = ps.Port.from_json(body)
        return cls(id=port.id, system_name=port.system_name,
                   instance_id=port.instance_id,
                   mac_address=port.mac_address, network_id=port.vn_id,
                   display_name=port.display_name)

    @classmethod
    def from_json(cls, d: Any) -> "Plug":
        d = ps._obj(d, "plug")
        ps._unknown(d, {"id", "system-name", "instance-id", "mac-address",
                        "vn-id", "display-name"}, "plug")
        return cls(id=ps.v_uuid(d.get("id"), "id"),
                   system_name=ps.v_ifname(d.get("system-name"),
                                           "system-name"),
                   instance_id=ps.v_uuid(d.get("instance-id"), "instance-id"),
                   mac_address=ps.v_mac(d.get("mac-address"), "mac-address"),
                   network_id=ps.v_uuid(d.get("vn-id"), "vn-id"),
                   display_name=ps.v_str(d.get("display-name"),
                                         "display-name"))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "system-name": self.system_name,
                "instance-id": self.instance_id,
                "mac-address": self.mac_address, "vn-id": self.network_id,
                "display-name": self.display_name}


@dataclass(frozen=True)
class Binding:
    """What Neutron's device details say of a plugged port."""
    port_id: str
    network_id: str
    network_type: str
    segmentation_id: int | None
    physical_network: str | None
    mtu: int
    admin_state_up: bool

    @property
    def overlay(self) -> bool:
        return self.network_type in c.OVERLAY_TYPES


def bound(details: Any) -> bool:
    """Do device details describe a port bound to the asking host?"""
    return isinstance(details, dict) and "network_id" in details and \
        not details.get("no_active_binding")


def _check(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ps.ValidationError as e:
        raise Refused(str(e)) from None


def binding_from(details: dict[str, Any]) -> Binding:
    seg = details.get("segmentation_id")
    ntype = details.get("network_type")
    if not isinstance(ntype, str) or \
            ntype not in c.OVERLAY_TYPES + c.BRIDGED_TYPES:
        raise Refused(f"segment type {ntype!r} is not one bsdnet carries")
    if seg is not None and (isinstance(seg, bool) or not isinstance(seg, int)
                            or not 0 <= seg < 1 << 24):
        raise Refused(f"segmentation id {seg!r} is not a VNI or VLAN")
    mtu = details.get("mtu") or 1500
    return Binding(
        port_id=_check(ps.v_uuid, details.get("port_id"), "port_id"),
        network_id=_check(ps.v_uuid, details.get("network_id"), "network_id"),
        network_type=ntype, segmentation_id=seg,
        physical_network=details.get("physical_network"),
        mtu=_check(ps.v_int, mtu, "mtu", 576, 9000),
        admin_state_up=bool(details.get("admin_state_up", True)))


def _v4(ip: Any) -> bool:
    try:
        return ipaddress.ip_address(ip).version == 4
    except (ValueError, TypeError):
        return False


def port_from(plug: Plug, details: dict[str, Any],
              sg_device: dict[str, Any] | None,
              network: ps.Network | None = None) -> ps.Port:
    """The port as the datapath carries it: the plug's tap, Neutron's
    addresses (the first IPv4 fixed IP is the one DHCP offers; the others
    and the allowed address pairs may be sources too and are routed to
    the port), security groups and port security.  With the network, its
    address must be a host address of one of the network's subnets."""
    if details.get("mac_address", plug.mac_address).lower() != \
            plug.mac_address:
        raise Refused(f"plugged with MAC {plug.mac_address}, Neutron says "
                      f"{details.get('mac_address')}")
    fixed = [f.get("ip_address") for f in details.get("fixed_ips") or []
             if isinstance(f, dict)]
    v4 = [ip for ip in fixed if _v4(ip)]
    secure = details.get("port_security_enabled", True) is not False
    pairs = [{"ip-address": ip} for ip in v4[1:]]
    for p in details.get("allowed_address_pairs") or []:
        ip, mac = (p.get("ip_address"), p.get("mac_address")) \
            if isinstance(p, dict) else (None, None)
        try:
            net = ipaddress.ip_network(ip, strict=False)
        except (ValueError, TypeError):
            raise Refused(f"allowed address pair {ip!r} is not an address "
                          f"or prefix") from None
        if net.version != 4:
            continue
        if mac and str(mac).lower() != plug.mac_address:
            LOG.warning("port %s: allowed address pair %s with MAC %s left "
                        "out: a vif has one MAC", plug.id, ip, mac)
            continue
        pairs.append({"ip-address": str(net) if net.prefixlen < 32
                      else str(net.network_address)})
    groups: list[str] = []
    if secure:
        groups = list((sg_device or {}).get("security_groups") or
                      [NO_GROUPS])
    body = {"id": plug.id, "instance-id": plug.instance_id,
            "vn-id": details.get("network_id"),
            "mac-address": plug.mac_address,
            "system-name": plug.system_name,
            "display-name": plug.display_name,
            "ip-address": v4[0] if v4 else None,
            "security-groups": groups,
            "allowed-address-pairs": list({p["ip-address"]: p
                                           for p in pairs}.values()),
            "port-security-enabled": secure,
            "admin-state-up": details.get("admin_state_up", True) is not False}
    port = _check(ps.Port.from_json, body)
    if network is not None:
        try:
            PortApi._check_port_in(port, network)
        except ps.ConflictError as e:
            raise Refused(str(e)) from None
    return port


def network_from(binding: Binding, info: dict[str, Any] | None,
                 label: int) -> ps.Network:
    """The overlay network: Neutron's MTU, its IPv4 subnets (gateway, DNS,
    host routes, DHCP on or off), and its label."""
    subnets = []
    for s in (info or {}).get("subnets") or []:
        if not isinstance(s, dict) or s.get("ip_version") != 4:
            continue
        sub = {"cidr": s.get("cidr"), "gateway": s.get("gateway_ip"),
               "dns-servers": [d for d in s.get("dns_nameservers") or []
                               if _v4(d)],
               "host-routes": [{"destination": r.get("destination"),
                                "nexthop": r.get("nexthop")}
                               for r in s.get("host_routes") or []
                               if isinstance(r, dict) and
                               _v4(r.get("nexthop"))],
               "dhcp": bool(s.get("enable_dhcp", True))}
        try:
            subnets.append(ps.Subnet.from_json(sub).to_json())
        except ps.ValidationError as e:
            LOG.warning("network %s: subnet %s left out: %s",
                        binding.network_id, s.get("id"), e)
    mtu = (info or {}).get("mtu") or binding.mtu
    return _check(ps.Network.from_json, {
        "id": binding.network_id, "mtu": mtu, "subnets": subnets,
        "mpls-label": label})


def _rule_id(group: str, rule: dict[str, Any]) -> str:
    # The security-group RPC sends rules without their ids: name each by
    # its content, so an unchanged rule keeps its name across updates.
    h = hashlib.sha256(json.dumps(rule, sort_keys=True,
                                  default=str).encode()).hexdigest()
    return f"{group[:8]}-{h[:16]}"


def rule_from(group: str, rule: dict[str, Any]) -> dict[str, Any]:
    """A rule of the security-group RPC as the port API writes it."""
    if not isinstance(rule, dict):
        raise Refused("a rule is not an object")
    prefix = rule.get("source_ip_prefix") if \
        rule.get("direction") == "ingress" else rule.get("dest_ip_prefix")
    remote = rule.get("remote_group_id") or \
        rule.get("remote_address_group_id")
    return {"id": _rule_id(group, rule), "direction": rule.get("direction"),
            "ethertype": rule.get("ethertype", "IPv4"),
            "protocol": rule.get("protocol"),
            "port_range_min": rule.get("port_range_min"),
            "port_range_max": rule.get("port_range_max"),
            "remote_ip_prefix": prefix or rule.get("remote_ip_prefix"),
            "remote_group_id": remote}


def _members(entries: Any) -> list[str]:
    out = []
    for e in entries or []:
        ip = e[0] if isinstance(e, (list, tuple)) and e else e
        try:
            out.append(str(ipaddress.ip_network(ip, strict=False)))
        except (ValueError, TypeError):
            LOG.warning("security group member %r left out: not an address",
                        ip)
    return out


def groups_from(sg_info: dict[str, Any]) -> dict[str, SecurityGroup]:
    """Every group the security-group RPC described: rules (a rule that
    does not validate is left out, with a log line: a group with fewer
    rules lets less through) and, for groups other rules name as remote,
    their members on every node.  A remote address group becomes a group
    of its own with members and no rules."""
    members = sg_info.get("sg_member_ips") or {}
    out: dict[str, SecurityGroup] = {}
    for gid, rules in (sg_info.get("security_groups") or {}).items():
        good = []
        for r in rules or []:
            try:
                d = rule_from(gid, r)
                SecurityGroup.from_json({"id": gid, "rules": [d]})
            except (Refused, SecGroupError) as e:
                LOG.warning("security group %s: rule %s left out: %s", gid,
                            r, e)
                continue
            good.append(d)
        out[gid] = _group(gid, "", good, members.get(gid))
    for gid, m in members.items():
        if gid not in out:
            out[gid] = _group(gid, "remote address group", [], m)
    out[NO_GROUPS] = SecurityGroup(id=NO_GROUPS,
                                   name="a port without security groups")
    return out


def _group(gid: str, name: str, rules: list[dict[str, Any]],
           members: Any) -> SecurityGroup:
    doc: dict[str, Any] = {"id": gid, "name": name, "rules": rules}
    if members is not None:
        doc["members"] = _members((members or {}).get("IPv4"))
    try:
        return SecurityGroup.from_json(doc)
    except SecGroupError as e:
        raise Refused(f"security group {gid}: {e}") from None


@dataclass(frozen=True, order=True)
class FdbPath:
    network: str
    prefix: str          # a remote port's IPv4 address, as a /32
    node: str            # the tunnel endpoint (the remote agent's tunneling_ip)


def fdb_paths(fdb: Any, own_ip: str,
              networks: Iterable[str]) -> list[FdbPath]:
    """The remote ports of l2population's add/remove entries, as routes:
    only IPv4 ports, of overlay networks this node carries, on other
    nodes.  Entries that do not parse are left out with a log line."""
    wanted = set(networks)
    out = []
    if not isinstance(fdb, dict):
        LOG.warning("l2population entries ignored: not an object")
        return out
    for net, entry in fdb.items():
        if net not in wanted or not isinstance(entry, dict):
            continue
        if entry.get("network_type") not in c.OVERLAY_TYPES:
            continue
        for node, ports in (entry.get("ports") or {}).items():
            if node == own_ip or not _v4(node):
                continue
            for p in ports or []:
                ip = p[1] if isinstance(p, (list, tuple)) and len(p) > 1 \
                    else None
                if not _v4(ip) or ip == "0.0.0.0":
                    continue        # IPv6, garbage, or the flooding entry
                out.append(FdbPath(net, f"{ipaddress.ip_address(ip)}/32",
                                   str(ipaddress.ip_address(node))))
    return out


def fdb_changes(fdb: Any, own_ip: str, networks: Iterable[str]
                ) -> tuple[list[FdbPath], list[FdbPath]]:
    """update_fdb_entries' chg_ip: (paths gone, paths new)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    chg = fdb.get("chg_ip") if isinstance(fdb, dict) else None
    if not isinstance(chg, dict):
        return [], []
    for net, nodes in chg.items():
        if not isinstance(nodes, dict):
            continue
        for node, ch in nodes.items():
            if not isinstance(ch, dict):
                continue
            for side, acc in (("before", before), ("after", after)):
                acc.setdefault(net, {"network_type": c.OVERLAY_TYPES[0],
                                     "ports": {}})["ports"][node] = \
                    ch.get(side) or []
    return (fdb_paths(before, own_ip, networks),
            fdb_paths(after, own_ip, networks))
