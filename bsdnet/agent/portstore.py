"""Ports, networks, routes and security groups: the port API's validated
model, and its persistence under state_dir/<kind>/, one file per object.

Objects are built only through from_json(), which checks every field and
raises ValidationError with a reason a client can act on; the keys are
vRouter's port IPC's ("ip-address", "vn-id", ...).  load() reads every
file back the same way and raises CorruptStateError naming the file
rather than start with half the state.  commit() changes an object and
calls the apply callback, putting the old one back if that raises;
flush() writes what changed, outside the lock (ARCHITECTURE.md).
"""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from bsdnet.common import names
from bsdnet.common.files import TMP_PREFIX, fsync_dir, write_atomic

from .secgroups import GroupsIndex, PortBinding, SecGroupError, SecurityGroup

LOG = logging.getLogger(__name__)

FORMAT = 1
# In dependency order: iterating a store yields what a thing refers to
# before the thing (a restarted daemon can apply objects in this order).
KINDS = ("network", "security-group", "port", "route")

_DOMAIN_RE = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                        r"[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                        r"[A-Za-z0-9])?)*\.?")

# Keys vrouter-port-control and its variants send that bsdnet does not use:
# accepted (so the stock sender works) and dropped.
_PORT_IGNORED = frozenset({"author", "time", "vhostuser-mode",
                           "vhostsocket-dir", "vhostsocket-filename",
                           "link-state", "vm-name"})


class ValidationError(ValueError):
    """A request or stored object that is not acceptable: 400."""


class ConflictError(ValueError):
    """Valid on its own but inconsistent with what is stored: 409."""


class NotFoundError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class CorruptStateError(Exception):
    """A file in the state directory that cannot be trusted."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# -- field validators ------------------------------------------------------

def _obj(d: Any, what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ValidationError(f"{what} must be a JSON object")
    return d


def _unknown(d: dict[str, Any], known: set[str] | frozenset[str],
             what: str) -> None:
    extra = set(d) - set(known)
    if extra:
        raise ValidationError(f"unknown {what} fields: {sorted(extra)}")


def v_uuid(v: Any, name: str, optional: bool = False) -> str:
    if optional and (v is None or v == ""):
        return ""
    return names.check_uuid(v, name, ValidationError)


def v_str(v: Any, name: str, maxlen: int = 255) -> str:
    if v is None:
        return ""
    if not isinstance(v, str) or len(v) > maxlen:
        raise ValidationError(f"{name} must be a string of at most "
                              f"{maxlen} characters")
    if any(ord(c) < 32 for c in v):
        raise ValidationError(f"{name} must not contain control characters")
    return v


def v_mac(v: Any, name: str) -> str:
    return names.check_mac(v, name, ValidationError)


def v_ipv4(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise ValidationError(f"{name} must be an IPv4 address string")
    try:
        return str(ipaddress.IPv4Address(v))
    except ValueError:
        raise ValidationError(f"{name} {v!r} is not an IPv4 address") \
            from None


def v_ipv4_or_net(v: Any, name: str) -> str:
    """An IPv4 address, or a prefix a.b.c.d/n (a /32 becomes the
    address)."""
    if isinstance(v, str) and "/" in v:
        n = v_ipv4_net(v, name)
        return str(n.network_address) if n.prefixlen == 32 else str(n)
    return v_ipv4(v, name)


def v_ipv4_net(v: Any, name: str) -> ipaddress.IPv4Network:
    if not isinstance(v, str) or "/" not in v:
        raise ValidationError(f"{name} must be an IPv4 prefix a.b.c.d/n, "
                              f"not {v!r}")
    try:
        return ipaddress.IPv4Network(v, strict=True)
    except ValueError as e:
        raise ValidationError(f"{name} {v!r}: {e}") from None


def v_ifname(v: Any, name: str) -> str:
    return names.check_ifname(v, name, ValidationError)


def v_int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValidationError(f"{name} must be an integer, not {v!r}")
    if not lo <= v <= hi:
        raise ValidationError(f"{name} {v} out of range {lo}..{hi}")
    return v


def v_vlan(v: Any, name: str) -> int:
    if v is None:
        return -1
    if isinstance(v, str) and re.fullmatch(r"-?\d{1,5}", v):
        v = int(v)      # vrouter-port-control sends strings on some paths
    if v == -1:
        return -1
    return v_int(v, name, 0, 4094)


def v_list(v: Any, name: str, maxlen: int = 1024) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > maxlen:
        raise ValidationError(f"{name} must be a list of at most {maxlen}")
    return v


def v_group_id(v: Any, name: str) -> str:
    if not isinstance(v, str) or not 0 < len(v) <= 64 or \
            not re.fullmatch(r"[A-Za-z0-9_.:-]+", v):
        raise ValidationError(f"{name} {v!r} is not a security-group id")
    return v


# -- model -----------------------------------------------------------------

@dataclass(frozen=True)
class AddressPair:
    ip: str                 # an address, or a prefix a.b.c.d/n
    mac: str = ""           # "" means the port's own MAC

    @property
    def prefix(self) -> str:
        return self.ip if "/" in self.ip else f"{self.ip}/32"

    def to_json(self) -> dict[str, str]:
        return {"ip-address": self.ip, "mac-address": self.mac}


@dataclass(frozen=True)
class Port:
    id: str
    instance_id: str
    vn_id: str
    mac_address: str
    system_name: str
    ip_address: str = "0.0.0.0"     # vRouter's "not known": DHCP offers none
    ip6_address: str = ""
    display_name: str = ""
    vm_project_id: str = ""
    type: int = 0                   # 0 VM, 1 namespace, 2 ESXi
    rx_vlan_id: int = -1
    tx_vlan_id: int = -1
    security_groups: tuple[str, ...] = ()
    allowed_address_pairs: tuple[AddressPair, ...] = ()
    # False: no anti-spoofing and no security groups on this port
    # (Neutron's port_security_enabled).
    port_security: bool = True
    # False: the port forwards nothing (Neutron's admin_state_up).
    admin_up: bool = True

    kind = "port"

    @property
    def has_ip(self) -> bool:
        return self.ip_address != "0.0.0.0"

    def binding(self) -> PortBinding:
        """What security-group evaluation needs of this port: its own
        address and its allowed pairs' addresses count as members."""
        ips = [self.ip_address] if self.has_ip else []
        ips += [p.ip for p in self.allowed_address_pairs if "/" not in p.ip]
        nets = [ipaddress.IPv4Network(p.ip)
                for p in self.allowed_address_pairs if "/" in p.ip]
        return PortBinding(self.id, tuple(int(ipaddress.IPv4Address(a))
                                          for a in dict.fromkeys(ips)),
                           self.security_groups,
                           tuple((int(n.network_address), int(n.netmask))
                                 for n in nets))

    @classmethod
    def from_json(cls, d: Any) -> "Port":
        d = _obj(d, "port")
        known = {"id", "instance-id", "ip-address", "ip6-address", "vn-id",
                 "display-name", "vm-project-id", "mac-address",
                 "system-name", "type", "rx-vlan-id", "tx-vlan-id",
                 "security-groups", "allowed-address-pairs",
                 "port-security-enabled", "admin-state-up"}
        _unknown(d, known | _PORT_IGNORED, "port")
        for k in ("id", "instance-id", "vn-id", "mac-address",
                  "system-name"):
            if k not in d:
                raise ValidationError(f"port: {k} is required")
        ptype = v_int(d.get("type", 0), "type", 0, 2)
        sysname = d.get("system-name")
        if ptype == 2:
            # ESXi ports name a vSwitch port, not a host interface.
            if not isinstance(sysname, str) or not \
                    re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", sysname):
                raise ValidationError(f"system-name {sysname!r} invalid")
        else:
            sysname = v_ifname(sysname, "system-name")
        ip6 = d.get("ip6-address")
        if ip6 in (None, "", "None"):
            ip6 = ""
        else:
            if not isinstance(ip6, str):
                raise ValidationError("ip6-address must be a string")
            try:
                ip6 = str(ipaddress.IPv6Address(ip6))
            except ValueError:
                raise ValidationError(f"ip6-address {ip6!r} is not an IPv6 "
                                      f"address") from None
        ip = d.get("ip-address")
        ip = "0.0.0.0" if ip in (None, "") else v_ipv4(ip, "ip-address")
        groups = tuple(v_group_id(g, "security-groups[]")
                       for g in v_list(d.get("security-groups"),
                                       "security-groups", 64))
        if len(set(groups)) != len(groups):
            raise ValidationError("security-groups has duplicates")
        pairs = []
        for p in v_list(d.get("allowed-address-pairs"),
                        "allowed-address-pairs", 64):
            p = _obj(p, "allowed address pair")
            _unknown(p, {"ip-address", "mac-address"}, "address pair")
            mac = p.get("mac-address")
            mac = "" if mac in (None, "") else v_mac(mac, "pair mac-address")
            # The datapath holds one MAC per vif: a pair with a MAC of its
            # own would pass the API and then be dropped as SPOOFED_MAC.
            if mac and mac != v_mac(d.get("mac-address"), "mac-address"):
                raise ValidationError(
                    f"allowed pair {p.get('ip-address')}: a mac-address other than "
                    "the port's own is not supported")
            pairs.append(AddressPair(
                v_ipv4_or_net(p.get("ip-address"), "allowed pair ip-address"),
                mac))
        secure = d.get("port-security-enabled", True)
        admin = d.get("admin-state-up", True)
        if not isinstance(secure, bool) or not isinstance(admin, bool):
            raise ValidationError("port-security-enabled and admin-state-up "
                                  "must be true or false")
        return cls(
            id=v_uuid(d["id"], "id"),
            instance_id=v_uuid(d["instance-id"], "instance-id"),
            vn_id=v_uuid(d["vn-id"], "vn-id"),
            mac_address=v_mac(d["mac-address"], "mac-address"),
            system_name=sysname,
            ip_address=ip, ip6_address=ip6,
            display_name=v_str(d.get("display-name"), "display-name"),
            vm_project_id=v_uuid(d.get("vm-project-id"), "vm-project-id",
                                 optional=True),
            type=ptype,
            rx_vlan_id=v_vlan(d.get("rx-vlan-id"), "rx-vlan-id"),
            tx_vlan_id=v_vlan(d.get("tx-vlan-id"), "tx-vlan-id"),
            security_groups=groups,
            allowed_address_pairs=tuple(pairs),
            port_security=secure, admin_up=admin)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "instance-id": self.instance_id,
                "ip-address": self.ip_address,
                "ip6-address": self.ip6_address, "vn-id": self.vn_id,
                "display-name": self.display_name,
                "vm-project-id": self.vm_project_id,
                "mac-address": self.mac_address,
                "system-name": self.system_name, "type": self.type,
                "rx-vlan-id": self.rx_vlan_id, "tx-vlan-id": self.tx_vlan_id,
                "security-groups": list(self.security_groups),
                "allowed-address-pairs":
                    [p.to_json() for p in self.allowed_address_pairs],
                "port-security-enabled": self.port_security,
                "admin-state-up": self.admin_up}


@dataclass(frozen=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True)
class Subnet:
    cidr: str
    gateway: str = ""               # "" means no gateway (no router option)
    dns_servers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    dhcp: bool = True

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)

    @classmethod
    def from_json(cls, d: Any) -> "Subnet":
        d = _obj(d, "subnet")
        _unknown(d, {"cidr", "gateway", "dns-servers", "host-routes",
                     "dhcp"}, "subnet")
        net = v_ipv4_net(d.get("cidr"), "subnet cidr")
        if net.prefixlen > 30:
            raise ValidationError(f"subnet {net} leaves no room for hosts "
                                  f"(at most /30)")
        gw = d.get("gateway")
        if gw in (None, ""):
            gw = ""
        else:
            gw = v_ipv4(gw, "gateway")
            ga = ipaddress.IPv4Address(gw)
            if ga not in net or ga in (net.network_address,
                                       net.broadcast_address):
                raise ValidationError(f"gateway {gw} is not a host "
                                      f"address of {net}")
        dns = tuple(v_ipv4(x, "dns-servers[]") for x in
                    v_list(d.get("dns-servers"), "dns-servers", 8))
        routes = []
        for r in v_list(d.get("host-routes"), "host-routes", 64):
            r = _obj(r, "host route")
            _unknown(r, {"destination", "nexthop"}, "host route")
            dst = v_ipv4_net(r.get("destination"), "host route destination")
            nh = v_ipv4(r.get("nexthop"), "host route nexthop")
            routes.append(HostRoute(str(dst), nh))
        dhcp = d.get("dhcp", True)
        if not isinstance(dhcp, bool):
            raise ValidationError("dhcp must be true or false")
        return cls(cidr=str(net), gateway=gw, dns_servers=dns,
                   host_routes=tuple(routes), dhcp=dhcp)

    def to_json(self) -> dict[str, Any]:
        return {"cidr": self.cidr, "gateway": self.gateway,
                "dns-servers": list(self.dns_servers),
                "host-routes": [{"destination": r.destination,
                                 "nexthop": r.nexthop}
                                for r in self.host_routes],
                "dhcp": self.dhcp}


def _v_label(v: Any) -> int:
    label = v_int(v, "mpls-label", 0, (1 << 20) - 1)
    if 0 < label < 16:
        raise ValidationError(f"mpls-label {label}: labels 1..15 are "
                              f"reserved by MPLS")
    return label


@dataclass(frozen=True)
class Network:
    id: str
    name: str = ""
    mtu: int = 1500
    dns_domain: str = ""
    subnets: tuple[Subnet, ...] = ()
    # The network's own MPLS label, the same on every node (0: none; then
    # labels name ports).  With Neutron: label_base + VNI.
    label: int = 0

    kind = "network"

    def subnet_of(self, ip: str) -> Subnet | None:
        a = ipaddress.IPv4Address(ip)
        for s in self.subnets:
            if a in s.network:
                return s
        return None

    @classmethod
    def from_json(cls, d: Any) -> "Network":
        d = _obj(d, "network")
        _unknown(d, {"id", "name", "mtu", "dns-domain", "subnets",
                     "mpls-label"}, "network")
        if "id" not in d:
            raise ValidationError("network: id is required")
        domain = d.get("dns-domain") or ""
        if domain and (not isinstance(domain, str) or
                       not _DOMAIN_RE.fullmatch(domain)):
            raise ValidationError(f"dns-domain {domain!r} is not a domain")
        subnets = tuple(Subnet.from_json(s) for s in
                        v_list(d.get("subnets"), "subnets", 16))
        nets = [s.network for s in subnets]
        for i, a in enumerate(nets):
            for b in nets[i + 1:]:
                if a.overlaps(b):
                    raise ValidationError(f"subnets {a} and {b} overlap")
        return cls(id=v_uuid(d["id"], "id"),
                   name=v_str(d.get("name"), "name"),
                   mtu=v_int(d.get("mtu", 1500), "mtu", 576, 9000),
                   dns_domain=domain.rstrip("."), subnets=subnets,
                   label=_v_label(d.get("mpls-label", 0)))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "mtu": self.mtu,
                "dns-domain": self.dns_domain,
                "subnets": [s.to_json() for s in self.subnets],
                "mpls-label": self.label}


@dataclass(frozen=True, order=True)
class RoutePath:
    node: str       # fabric address of the node holding the destination
    label: int      # MPLS label that node allocated


@dataclass(frozen=True)
class Route:
    """A prefix in a network's VRF, reached through one or more paths
    (several: ECMP)."""
    network: str
    prefix: str
    paths: tuple[RoutePath, ...] = field(default=())

    kind = "route"

    @property
    def id(self) -> str:
        return f"{self.network}:{self.prefix}"

    @staticmethod
    def path_from_json(d: dict[str, Any]) -> RoutePath:
        return RoutePath(v_ipv4(d.get("node"), "node"),
                         v_int(d.get("label"), "label", 16, (1 << 20) - 1))

    @classmethod
    def from_json(cls, d: Any) -> "Route":
        """The stored form: {"network", "prefix", "paths": [...]}."""
        d = _obj(d, "route")
        _unknown(d, {"network", "prefix", "paths"}, "route")
        paths = tuple(sorted(set(
            cls.path_from_json(_obj(p, "route path"))
            for p in v_list(d.get("paths"), "paths", 8))))
        if not paths:
            raise ValidationError("a route needs at least one path")
        return cls(network=v_uuid(d.get("network"), "network"),
                   prefix=str(v_ipv4_net(d.get("prefix"), "prefix")),
                   paths=paths)

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "prefix": self.prefix,
                "paths": [{"node": p.node, "label": p.label}
                          for p in self.paths]}


def group_from_json(d: Any) -> SecurityGroup:
    try:
        g = SecurityGroup.from_json(d)
    except SecGroupError as e:
        raise ValidationError(str(e)) from None
    v_group_id(g.id, "id")
    return g


Obj = Port | Network | Route | SecurityGroup
PARSERS: dict[str, Callable[[Any], Obj]] = {
    "port": Port.from_json, "network": Network.from_json,
    "route": Route.from_json, "security-group": group_from_json,
}


def kind_of(obj: Obj) -> str:
    return "security-group" if isinstance(obj, SecurityGroup) else obj.kind


@dataclass(frozen=True)
class Change:
    """What apply callbacks receive: old None = created, new None =
    deleted, both set = replaced."""
    kind: str
    old: Obj | None
    new: Obj | None


ApplyFn = Callable[[Change], None]


def update_index(index: GroupsIndex, change: Change) -> set[str]:
    """Keep a security-group index in step with the store: call it from
    the apply callback.  Returns the ids of the ports whose decisions may
    have changed; their existing flows are the ones to re-evaluate
    (secgroups.flips(flows, index, ports=...))."""
    if change.kind == "security-group":
        if change.new is not None:
            assert isinstance(change.new, SecurityGroup)
            return index.set_group(change.new)
        assert change.old is not None
        return index.remove_group(change.old.id)
    if change.kind == "port":
        if change.new is not None:
            assert isinstance(change.new, Port)
            return index.set_port(change.new.binding())
        assert change.old is not None
        return index.remove_port(change.old.id)
    return set()


def index_from(objs: "Iterator[Obj] | list[Obj]") -> GroupsIndex:
    """A security-group index of everything in a store (after restart)."""
    index = GroupsIndex()
    for o in objs:
        update_index(index, Change(kind_of(o), None, o))
    return index


# -- the store -------------------------------------------------------------

def _fname(oid: str) -> str:
    # Route ids hold '/' and ':'; keep file names portable and reversible.
    return oid.replace("/", "_").replace(":", "@") + ".json"


class StoreWriteError(OSError):
    """Applied, but not written to the state directory (yet)."""


class PortStore:
    """The objects of the port API, in memory and under state_dir."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.lock = threading.RLock()
        self._wlock = threading.Lock()       # file writes, outside lock
        self._dirty: set[tuple[str, str]] = set()
        self._objs: dict[str, dict[str, Obj]] = {k: {} for k in KINDS}
        for k in KINDS:
            os.makedirs(os.path.join(state_dir, k), mode=0o750,
                        exist_ok=True)

    # -- reading -----------------------------------------------------------
    def load(self) -> None:
        """Read every object back; CorruptStateError on the first bad one.

        Left-over temporary files (a crash between mkstemp and rename)
        are removed: the rename never happened, so the old file stands.
        """
        objs: dict[str, dict[str, Obj]] = {k: {} for k in KINDS}
        for kind in KINDS:
            d = os.path.join(self.state_dir, kind)
            for name in sorted(os.listdir(d)):
                path = os.path.join(d, name)
                if name.startswith(TMP_PREFIX):
                    LOG.warning("removing unfinished write %s", path)
                    os.unlink(path)
                    continue
                if not name.endswith(".json"):
                    continue
                obj = self._read(path, kind)
                oid = obj.id
                if _fname(oid) != name:
                    raise CorruptStateError(path, f"holds {kind} {oid!r}, "
                                            f"which belongs in "
                                            f"{_fname(oid)}")
                objs[kind][oid] = obj
        with self.lock:
            self._objs = objs
        for problem in self.check():
            LOG.warning("state %s: %s", self.state_dir, problem)
        LOG.info("state loaded from %s: %s", self.state_dir,
                 ", ".join(f"{len(v)} {k}s" for k, v in objs.items()))

    @staticmethod
    def _read(path: str, kind: str) -> Obj:
        try:
            with open(path, "rb") as f:
                doc = json.loads(f.read().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CorruptStateError(path, f"unreadable: {e}") from None
        if not isinstance(doc, dict) or doc.get("kind") != kind or \
                "object" not in doc:
            raise CorruptStateError(path, f"not a bsdnet {kind} record")
        if doc.get("format") != FORMAT:
            raise CorruptStateError(path, f"format {doc.get('format')!r}, "
                                    f"this agent reads format {FORMAT}")
        try:
            return PARSERS[kind](doc["object"])
        except ValidationError as e:
            raise CorruptStateError(path, f"invalid {kind}: {e}") from None

    def check(self) -> list[str]:
        """References that do not resolve (files removed by hand, or
        written by another version): reported, not fatal, so that one
        lost file does not keep every other port off the network."""
        o = self._objs
        out = []
        for p in o["port"].values():
            assert isinstance(p, Port)
            if p.vn_id not in o["network"]:
                out.append(f"port {p.id}: network {p.vn_id} missing")
            out += [f"port {p.id}: security group {g} missing"
                    for g in p.security_groups if g not in
                    o["security-group"]]
        for r in o["route"].values():
            assert isinstance(r, Route)
            if r.network not in o["network"]:
                out.append(f"route {r.id}: network {r.network} missing")
        for g in o["security-group"].values():
            assert isinstance(g, SecurityGroup)
            out += [f"security group {g.id}: rule {x.id} names missing "
                    f"group {x.remote_group_id}" for x in g.rules
                    if x.remote_group_id is not None and
                    x.remote_group_id not in o["security-group"]]
        return out

    def get(self, kind: str, oid: str) -> Obj:
        try:
            return self._objs[kind][oid]
        except KeyError:
            raise NotFoundError(f"{kind} {oid} not found") from None

    def find(self, kind: str, oid: str) -> Obj | None:
        return self._objs[kind].get(oid)

    def list(self, kind: str) -> list[Obj]:
        with self.lock:
            return list(self._objs[kind].values())

    def __iter__(self) -> Iterator[Obj]:
        """Every object, networks and groups before ports and routes."""
        with self.lock:
            return iter([o for k in KINDS for o in self._objs[k].values()])

    # -- writing -----------------------------------------------------------
    def _path(self, kind: str, oid: str) -> str:
        return os.path.join(self.state_dir, kind, _fname(oid))

    def _write(self, kind: str, oid: str, obj: Obj | None) -> str:
        """One object's file, its directory left to sync; returns it."""
        path = self._path(kind, oid)
        if obj is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        else:
            doc = {"format": FORMAT, "kind": kind, "object": obj.to_json()}
            write_atomic(path, json.dumps(doc, indent=1, sort_keys=True)
                         .encode() + b"\n", sync_dir=False)
        return os.path.dirname(path)

    def commit(self, kind: str, oid: str, new: Obj | None,
               apply: ApplyFn | None = None, persist: bool = True) -> Change:
        """Change an object, then apply it; on error put the old one back
        (in memory: nothing was written yet) and re-raise.  The file is
        written after the lock is let go (flush()), so traps and other
        changes do not wait for the disk; persist=False leaves that to the
        caller's flush(), which then writes a whole batch at once."""
        with self.lock:
            old = self._objs[kind].get(oid)
            change = Change(kind, old, new)
            if old is None and new is None:
                raise NotFoundError(f"{kind} {oid} not found")
            self._set(kind, oid, new)
            if apply is not None:
                try:
                    apply(change)
                except BaseException:
                    LOG.exception("apply of %s %s failed; rolling back",
                                  kind, oid)
                    self._set(kind, oid, old)
                    raise
            self._dirty.add((kind, oid))
        if persist:
            self.flush()
        return change

    def _set(self, kind: str, oid: str, obj: Obj | None) -> None:
        if obj is None:
            self._objs[kind].pop(oid, None)
        else:
            self._objs[kind][oid] = obj

    def flush(self) -> None:
        """Write what changed since the last flush: each object as it is
        now (so writers racing each other both leave the newest), then
        each directory synced once.  StoreWriteError if the disk said no;
        what was not written stays to be written by the next flush."""
        with self._wlock:
            with self.lock:
                dirty, self._dirty = self._dirty, set()
                todo = [(k, oid, self._objs[k].get(oid))
                        for k, oid in sorted(dirty)]
            dirs: set[str] = set()
            try:
                while todo:
                    kind, oid, obj = todo[0]
                    dirs.add(self._write(kind, oid, obj))
                    todo.pop(0)
                for d in sorted(dirs):
                    fsync_dir(d)
            except OSError as e:
                with self.lock:
                    self._dirty.update((k, oid) for k, oid, _ in todo)
                raise StoreWriteError(f"state not saved in "
                                      f"{self.state_dir}: {e}") from e
