"""Security groups: Neutron's semantics, compiled for the flow-miss path.

A port is allowed a packet in a direction when any rule of any of its
groups matches; rules allow only, and only the first packet of a
connection is asked (the reverse flow is written with the forward one).
A rule matches on direction, IPv4 protocol, a port range (tcp, udp,
udplite, sctp, dccp) or ICMP type/code, and at most one remote: a prefix,
or the members of a group.  A port without groups may send, not receive.

GroupsIndex compiles each port's rules once into integer tuples, until
the port or a group it depends on changes; decide() is then a dict lookup
and a few compares.  affected_ports() and flips() re-decide live flows
when groups change.
"""
from __future__ import annotations

import ipaddress
import logging
from bisect import bisect_right
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple

LOG = logging.getLogger(__name__)

INGRESS = "ingress"
EGRESS = "egress"
DIRECTIONS = (INGRESS, EGRESS)

# Protocol names Neutron accepts, as IP protocol numbers.
PROTOCOLS: dict[str, int] = {
    "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17,
    "dccp": 33, "ipv6-encap": 41, "gre": 47, "esp": 50, "ah": 51,
    "ipv6-icmp": 58, "icmpv6": 58, "ospf": 89, "pgm": 113, "vrrp": 112,
    "sctp": 132, "udplite": 136,
}
# Protocols whose rules may carry a port range.
PORT_PROTOCOLS = frozenset({6, 17, 33, 132, 136})
ICMP = 1
ANY = -1            # protocol "any" in compiled form


class SecGroupError(ValueError):
    """A rule or group that does not validate; the message says why."""


class FlowKey(NamedTuple):
    """What decide() needs of a flow: IPv4 addresses as host-order ints.

    Mirrors struct bsdnet_flow_key (vrf, proto, src, dst, sport, dport).
    The flow key has no room for ICMP type and code, so the agent passes
    them from the trapped packet; -1 means unknown (rules that name a type
    then do not match).
    """
    proto: int
    src: int
    dst: int
    sport: int = 0
    dport: int = 0
    icmp_type: int = -1
    icmp_code: int = -1
    vrf: int = 0


def flow_key_from_abi(fk: Any, icmp_type: int = -1,
                      icmp_code: int = -1) -> FlowKey:
    """A FlowKey from a struct bsdnet_flow_key (cffi) or anything with its
    fk_* fields; ICMP type and code come from the trapped packet."""
    return FlowKey(int(fk.fk_proto), int(fk.fk_src), int(fk.fk_dst),
                   int(fk.fk_sport), int(fk.fk_dport), icmp_type, icmp_code,
                   int(fk.fk_vrf))


class Verdict(NamedTuple):
    allow: bool
    rule_id: str | None     # the matching rule, or None (default policy)


ALLOW_DEFAULT = Verdict(True, None)
DENY_DEFAULT = Verdict(False, None)


def _opt_int(v: Any, name: str, lo: int, hi: int) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise SecGroupError(f"{name} must be an integer, not {v!r}")
    if not lo <= v <= hi:
        raise SecGroupError(f"{name} {v} out of range {lo}..{hi}")
    return v


def _protocol(v: Any) -> int | None:
    """None for any; otherwise an IP protocol number."""
    if v is None or v == "any" or v == "":
        return None
    if isinstance(v, bool):
        raise SecGroupError(f"protocol {v!r} is not a protocol")
    if isinstance(v, str):
        if v.lower() in PROTOCOLS:
            return PROTOCOLS[v.lower()]
        if v.isdigit():
            v = int(v)
        else:
            raise SecGroupError(f"unknown protocol {v!r}")
    if not isinstance(v, int) or not 0 <= v <= 255:
        raise SecGroupError(f"protocol {v!r} out of range 0..255")
    return v


@dataclass(frozen=True)
class Rule:
    """One security-group rule, validated."""
    id: str
    direction: str
    ethertype: str = "IPv4"
    protocol: int | None = None         # None: any
    port_range_min: int | None = None   # ICMP: type
    port_range_max: int | None = None   # ICMP: code
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None

    @classmethod
    def from_json(cls, d: Any) -> "Rule":
        if not isinstance(d, dict):
            raise SecGroupError("a rule must be a JSON object")
        known = {"id", "direction", "ethertype", "protocol", "port_range_min",
                 "port_range_max", "remote_ip_prefix", "remote_group_id",
                 "description"}
        extra = set(d) - known
        if extra:
            raise SecGroupError(f"unknown rule fields: {sorted(extra)}")
        rid = d.get("id") or str(uuid.uuid4())
        if not isinstance(rid, str) or not 0 < len(rid) <= 64:
            raise SecGroupError(f"rule id {rid!r} must be a string of 1..64")
        direction = d.get("direction")
        if direction not in DIRECTIONS:
            raise SecGroupError(f"direction must be ingress or egress, "
                                f"not {direction!r}")
        ethertype = d.get("ethertype", "IPv4")
        if ethertype not in ("IPv4", "IPv6"):
            raise SecGroupError(f"ethertype must be IPv4 or IPv6, "
                                f"not {ethertype!r}")
        proto = _protocol(d.get("protocol"))
        pmin = _opt_int(d.get("port_range_min"), "port_range_min", 0, 65535)
        pmax = _opt_int(d.get("port_range_max"), "port_range_max", 0, 65535)
        if proto == ICMP:
            # Neutron: type and code are 0..255; a code needs a type.
            for v, n in ((pmin, "ICMP type"), (pmax, "ICMP code")):
                if v is not None and v > 255:
                    raise SecGroupError(f"{n} {v} out of range 0..255")
            if pmax is not None and pmin is None:
                raise SecGroupError("an ICMP code needs an ICMP type")
        elif proto in PORT_PROTOCOLS:
            if (pmin is None) != (pmax is None):
                # Neutron fills a lone bound; be explicit instead.
                pmin = pmax if pmin is None else pmin
                pmax = pmin if pmax is None else pmax
            if pmin is not None and pmin > pmax:
                raise SecGroupError(f"port_range_min {pmin} > "
                                    f"port_range_max {pmax}")
            if pmin == 0:
                raise SecGroupError("port 0 is not a valid port_range_min")
        elif pmin is not None or pmax is not None:
            raise SecGroupError("port ranges need protocol tcp, udp, "
                                "udplite, sctp, dccp or icmp")
        prefix = d.get("remote_ip_prefix")
        group = d.get("remote_group_id")
        if prefix is not None and group is not None:
            raise SecGroupError("remote_ip_prefix and remote_group_id are "
                                "mutually exclusive")
        if prefix is not None:
            try:
                net = ipaddress.ip_network(prefix, strict=False)
            except (ValueError, TypeError) as e:
                raise SecGroupError(f"bad remote_ip_prefix {prefix!r}: {e}")
            if (net.version == 4) != (ethertype == "IPv4"):
                raise SecGroupError(f"remote_ip_prefix {prefix} does not "
                                    f"match ethertype {ethertype}")
            prefix = str(net)
        if group is not None and (not isinstance(group, str) or
                                  not 0 < len(group) <= 64):
            raise SecGroupError(f"bad remote_group_id {group!r}")
        return cls(id=rid, direction=direction, ethertype=ethertype,
                   protocol=proto, port_range_min=pmin, port_range_max=pmax,
                   remote_ip_prefix=prefix, remote_group_id=group)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "direction": self.direction,
                "ethertype": self.ethertype, "protocol": self.protocol,
                "port_range_min": self.port_range_min,
                "port_range_max": self.port_range_max,
                "remote_ip_prefix": self.remote_ip_prefix,
                "remote_group_id": self.remote_group_id}


class AddrSet:
    """IPv4 addresses and prefixes (host order), asked with ``a in s``:
    a remote group's members, or the sources a port may use."""

    __slots__ = ("hosts", "nets")

    def __init__(self, hosts: Iterable[int] = (),
                 nets: Iterable[tuple[int, int]] = ()) -> None:
        self.hosts = frozenset(hosts)
        self.nets = tuple(sorted(set(nets)))    # (network, mask)

    @classmethod
    def parse(cls, items: Iterable[str]) -> "AddrSet":
        """From addresses and a.b.c.d/n prefixes (IPv4 ones only)."""
        hosts, nets = [], []
        for x in items:
            n = ipaddress.ip_network(x, strict=False)
            if n.version != 4:
                continue
            if n.prefixlen == 32:
                hosts.append(int(n.network_address))
            else:
                nets.append((int(n.network_address), int(n.netmask)))
        return cls(hosts, nets)

    def __contains__(self, a: object) -> bool:
        if a in self.hosts:
            return True
        return isinstance(a, int) and any(a & m == n for n, m in self.nets)

    def __or__(self, other: "AddrSet") -> "AddrSet":
        return AddrSet(self.hosts | other.hosts, self.nets + other.nets)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AddrSet) and \
            (self.hosts, self.nets) == (other.hosts, other.nets)

    def __hash__(self) -> int:
        return hash((self.hosts, self.nets))

    def __repr__(self) -> str:
        return f"AddrSet({len(self.hosts)} hosts, {len(self.nets)} prefixes)"


def _members_from_json(v: Any) -> tuple[str, ...] | None:
    """A group's member addresses as the control plane gave them (None:
    the members are this node's ports of the group)."""
    if v is None:
        return None
    if not isinstance(v, list) or len(v) > 65536:
        raise SecGroupError("members must be a list of at most 65536 "
                            "addresses")
    out = []
    for x in v:
        try:
            n = ipaddress.ip_network(x, strict=True)
        except (ValueError, TypeError):
            raise SecGroupError(f"member {x!r} is not an address or "
                                f"prefix") from None
        out.append(str(n.network_address) if n.prefixlen == n.max_prefixlen
                   else str(n))
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class SecurityGroup:
    """A group and its rules.  members, when the control plane knows the
    group's members on every node (Neutron), lists their addresses and
    prefixes; None means the members are the ports of this node that are
    in the group (the port API's hand-fed mode)."""
    id: str
    name: str = ""
    rules: tuple[Rule, ...] = ()
    members: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, d: Any) -> "SecurityGroup":
        if not isinstance(d, dict):
            raise SecGroupError("a security group must be a JSON object")
        extra = set(d) - {"id", "name", "rules", "description", "members"}
        if extra:
            raise SecGroupError(f"unknown security-group fields: "
                                f"{sorted(extra)}")
        gid = d.get("id")
        if not isinstance(gid, str) or not 0 < len(gid) <= 64:
            raise SecGroupError(f"security-group id {gid!r} must be a "
                                f"string of 1..64")
        name = d.get("name", "")
        if not isinstance(name, str) or len(name) > 255:
            raise SecGroupError("name must be a string of at most 255")
        rules = d.get("rules", [])
        if not isinstance(rules, list):
            raise SecGroupError("rules must be a list")
        parsed = tuple(Rule.from_json(r) for r in rules)
        ids = [r.id for r in parsed]
        if len(set(ids)) != len(ids):
            raise SecGroupError("rule ids must be unique within a group")
        return cls(id=gid, name=name, rules=parsed,
                   members=_members_from_json(d.get("members")))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "name": self.name,
                             "rules": [r.to_json() for r in self.rules]}
        if self.members is not None:
            d["members"] = list(self.members)
        return d


def neutron_default_group(group_id: str, name: str = "default"
                          ) -> SecurityGroup:
    """Neutron's default group: all egress, ingress from members only."""
    return SecurityGroup(id=group_id, name=name, rules=(
        Rule(id=f"{group_id}-egress-v4", direction=EGRESS),
        Rule(id=f"{group_id}-egress-v6", direction=EGRESS, ethertype="IPv6"),
        Rule(id=f"{group_id}-ingress-v4", direction=INGRESS,
             remote_group_id=group_id),
        Rule(id=f"{group_id}-ingress-v6", direction=INGRESS,
             ethertype="IPv6", remote_group_id=group_id),
    ))


@dataclass(frozen=True)
class PortBinding:
    """What the index needs of a port: its id, IPv4 addresses (and the
    prefixes of its allowed address pairs, as (network, mask)) and
    groups."""
    id: str
    ips: tuple[int, ...] = ()
    groups: tuple[str, ...] = ()
    nets: tuple[tuple[int, int], ...] = ()


# Compiled rule: (lo, hi, net, mask, members, rule_id).  For port protocols
# lo..hi bounds the destination port of the connection (Neutron matches the
# destination port in both directions); other protocols get 0..65535.  For
# ICMP lo is the type (-1: any) and hi the code (-1: any).  members is None
# for prefix rules (net/mask; 0/0 when no remote is given), else the
# AddrSet of the remote group's members.
_Compiled = tuple[int, int, int, int, "AddrSet | None", str]


# A port-range index of one protocol's rules: bounds[i] starts the i-th
# interval of destination ports over which the set of covering rules does
# not change; cells[i] holds those rules as (mask, {net: rule_id}) pairs,
# one per distinct prefix length, and (members, rule_id) pairs.  A lookup
# is one bisect and one dict probe per distinct mask, however many rules
# share the range.
_Cell = tuple[tuple[tuple[int, dict[int, str]], ...],
              tuple[tuple[AddrSet, str], ...]]
_PortIndex = tuple[list[int], list[_Cell]]

INDEX_MIN_RULES = 16        # below this, a linear scan is as fast
_NOBODY = AddrSet()
INDEX_MAX_RULES = 512       # building is O(rules x intervals): bound it


def _build_index(lst: list[_Compiled]) -> _PortIndex:
    bounds = sorted({0} | {lo for lo, *_ in lst} |
                    {hi + 1 for _, hi, *_ in lst if hi < 65535})
    cells: list[_Cell] = []
    last_key: tuple[str, ...] | None = None
    for b in bounds:
        cover = [c for c in lst if c[0] <= b <= c[1]]
        key = tuple(c[5] for c in cover)
        if key == last_key:
            cells.append(cells[-1])     # same rules: share the cell
            continue
        last_key = key
        masks: dict[int, dict[int, str]] = {}
        groups: list[tuple[AddrSet, str]] = []
        for _lo, _hi, net, mask, mset, rid in cover:
            if mset is None:
                masks.setdefault(mask, {}).setdefault(net, rid)
            else:
                groups.append((mset, rid))
        cells.append((tuple(masks.items()), tuple(groups)))
    return bounds, cells


@dataclass
class CompiledPolicy:
    """One port's rules, per direction, per protocol (ANY for "any"), and
    port-range indexes of the longer non-ICMP lists."""
    has_groups: bool
    rules: dict[str, dict[int, list[_Compiled]]] = field(default_factory=dict)
    index: dict[str, dict[int, _PortIndex]] = field(default_factory=dict)


def _compile_rule(r: Rule, members: dict[str, AddrSet]
                  ) -> tuple[int, _Compiled] | None:
    if r.ethertype != "IPv4":
        return None
    proto = ANY if r.protocol is None else r.protocol
    if proto == ICMP:
        lo = -1 if r.port_range_min is None else r.port_range_min
        hi = -1 if r.port_range_max is None else r.port_range_max
    elif proto in PORT_PROTOCOLS and r.port_range_min is not None:
        lo, hi = r.port_range_min, r.port_range_max  # type: ignore[assignment]
    else:
        lo, hi = 0, 65535
    net = mask = 0
    mset: AddrSet | None = None
    if r.remote_group_id is not None:
        mset = members.get(r.remote_group_id, _NOBODY)
    elif r.remote_ip_prefix is not None:
        n = ipaddress.IPv4Network(r.remote_ip_prefix)
        net, mask = int(n.network_address), int(n.netmask)
    return proto, (lo, hi, net, mask, mset, r.id)


class GroupsIndex:
    """Groups, port memberships and a cache of compiled per-port policy.

    Thread-safe for one writer and many deciders: writers take the lock and
    drop cache entries; decide() reads the cache without the lock and
    compiles under it on a miss.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.groups: dict[str, SecurityGroup] = {}
        self.ports: dict[str, PortBinding] = {}
        self._cache: dict[str, CompiledPolicy] = {}
        self._members: dict[str, AddrSet] = {}

    # -- changes -----------------------------------------------------------
    def set_group(self, g: SecurityGroup) -> set[str]:
        """Add or replace a group; returns the ports whose policy moved."""
        with self._lock:
            self.groups[g.id] = g
            self._members.pop(g.id, None)   # members may come with it
            hit = self._ports_depending_on({g.id})
            self._drop(hit)
            return hit

    def remove_group(self, gid: str) -> set[str]:
        with self._lock:
            self.groups.pop(gid, None)
            self._members.pop(gid, None)
            hit = self._ports_depending_on({gid})
            self._drop(hit)
            return hit

    def set_port(self, p: PortBinding) -> set[str]:
        """Add or replace a port; its groups' members change too."""
        with self._lock:
            old = self.ports.get(p.id)
            self.ports[p.id] = p
            touched = set(p.groups) | (set(old.groups) if old else set())
            for g in touched:
                self._members.pop(g, None)
            hit = {p.id}
            if old is None or (old.ips, old.nets, old.groups) != \
                    (p.ips, p.nets, p.groups):
                hit |= self._ports_depending_on(touched, members_only=True)
            self._drop(hit)
            return hit

    def remove_port(self, pid: str) -> set[str]:
        """Forget a port; returns the *other* ports whose decisions may
        change (the removed port's own flows go with it)."""
        with self._lock:
            old = self.ports.pop(pid, None)
            hit = {pid}
            if old is not None:
                for g in old.groups:
                    self._members.pop(g, None)
                hit |= self._ports_depending_on(set(old.groups),
                                                members_only=True)
            self._drop(hit)
            return hit - {pid}

    def affected_ports(self, changed_groups: Iterable[str]) -> set[str]:
        """Ports whose decisions may change when these groups change:
        members of them, and ports with rules naming them as remote."""
        with self._lock:
            return self._ports_depending_on(set(changed_groups))

    def _ports_depending_on(self, gids: set[str],
                            members_only: bool = False) -> set[str]:
        # Groups that refer to one of gids as remote: their members'
        # compiled member sets embed gids' membership.
        referring = {g.id for g in self.groups.values()
                     if any(r.remote_group_id in gids for r in g.rules)}
        if not members_only:
            referring |= gids
        return {p.id for p in self.ports.values()
                if referring.intersection(p.groups)}

    def _drop(self, pids: Iterable[str]) -> None:
        for pid in pids:
            self._cache.pop(pid, None)

    # -- compile and decide ------------------------------------------------
    def members(self, gid: str) -> AddrSet:
        """Addresses of group gid's members: the control plane's list when
        the group carries one, else this node's ports in the group
        (cached: many ports' rules name the same remote group)."""
        m = self._members.get(gid)
        if m is None:
            g = self.groups.get(gid)
            if g is not None and g.members is not None:
                m = AddrSet.parse(g.members)
            else:
                ports = [p for p in self.ports.values() if gid in p.groups]
                m = AddrSet((ip for p in ports for ip in p.ips),
                            (n for p in ports for n in p.nets))
            self._members[gid] = m
        return m

    def compiled(self, port: PortBinding | str) -> CompiledPolicy:
        pid = port if isinstance(port, str) else port.id
        c = self._cache.get(pid)
        if c is not None:
            return c
        with self._lock:
            return self._compile(pid)

    def _compile(self, pid: str) -> CompiledPolicy:
        p = self.ports.get(pid)
        groups = [self.groups[g] for g in (p.groups if p else ())
                  if g in self.groups]
        if p is not None and len(groups) != len(p.groups):
            LOG.warning("port %s names unknown groups %s", pid,
                        sorted(set(p.groups) - set(self.groups)))
        remote = {r.remote_group_id for g in groups for r in g.rules
                  if r.remote_group_id is not None}
        members = {gid: self.members(gid) for gid in remote}
        pol = CompiledPolicy(has_groups=bool(p and p.groups),
                             rules={INGRESS: {}, EGRESS: {}})
        for g in groups:
            for r in g.rules:
                c = _compile_rule(r, members)
                if c is not None:
                    pol.rules[r.direction].setdefault(c[0], []).append(c[1])
        pol.index = {d: {proto: _build_index(lst)
                         for proto, lst in by.items()
                         if proto != ICMP and
                         INDEX_MIN_RULES <= len(lst) <= INDEX_MAX_RULES}
                     for d, by in pol.rules.items()}
        if p is not None:
            self._cache[pid] = pol
        return pol


def _lookup(ix: _PortIndex, remote: int, port: int) -> str | None:
    bounds, cells = ix
    masks, groups = cells[bisect_right(bounds, port) - 1]
    for mask, nets in masks:
        rid = nets.get(remote & mask)
        if rid is not None:
            return rid
    for mset, rid in groups:
        if remote in mset:
            return rid
    return None


def _match(lst: list[_Compiled], remote: int, lo_key: int,
           hi_key: int, icmp: bool) -> str | None:
    if icmp:
        for lo, hi, net, mask, mset, rid in lst:
            if lo != -1 and lo != lo_key:
                continue
            if hi != -1 and hi != hi_key:
                continue
            if mset is None:
                if remote & mask == net:
                    return rid
            elif remote in mset:
                return rid
        return None
    for lo, hi, net, mask, mset, rid in lst:
        if lo <= lo_key <= hi:
            if mset is None:
                if remote & mask == net:
                    return rid
            elif remote in mset:
                return rid
    return None


def decide(flow_key: FlowKey, direction: str, port: PortBinding | str,
           groups_index: GroupsIndex) -> Verdict:
    """May this new connection pass port's groups in this direction?

    flow_key: a FlowKey, or anything with proto, src, dst and dport
    (bsdnet.agent.flows.FlowKey), oriented as the connection's first
    packet: for egress the
    port is the source, for ingress the destination.  The remote address is
    the other end; the port range is matched on the destination port.
    """
    pol = groups_index.compiled(port)
    if not pol.has_groups:
        return ALLOW_DEFAULT if direction == EGRESS else DENY_DEFAULT
    by_proto = pol.rules[direction]
    remote = flow_key.dst if direction == EGRESS else flow_key.src
    proto = flow_key.proto
    icmp = proto == ICMP
    if icmp:
        # flows.FlowKey (the daemon's) has no ICMP fields: type unknown.
        a = getattr(flow_key, "icmp_type", -1)
        b = getattr(flow_key, "icmp_code", -1)
    else:
        a = b = flow_key.dport
    index = pol.index[direction]
    ix = None if icmp else index.get(proto)
    if ix is not None:
        rid = _lookup(ix, remote, a)
    else:
        lst = by_proto.get(proto)
        rid = _match(lst, remote, a, b, icmp) if lst else None
    if rid is not None:
        return Verdict(True, rid)
    # "any protocol" rules carry no range (0..65535): match them with
    # port key 0, never as ICMP type/code.
    ix = index.get(ANY)
    if ix is not None:
        rid = _lookup(ix, remote, 0)
    else:
        lst = by_proto.get(ANY)
        rid = _match(lst, remote, 0, 0, False) if lst else None
    if rid is not None:
        return Verdict(True, rid)
    return DENY_DEFAULT


class Flow(NamedTuple):
    """An existing flow as the re-evaluation sees it."""
    handle: Any             # the caller's (index, generation), opaque here
    key: FlowKey
    direction: str
    port: str               # port id whose groups decided it
    allowed: bool           # verdict in force now


class Flip(NamedTuple):
    flow: Flow
    verdict: Verdict        # the new verdict (allow != flow.allowed)


def flips(flows: Iterable[Flow], groups_index: GroupsIndex,
          ports: set[str] | None = None) -> list[Flip]:
    """Re-decide existing flows; return those whose verdict changed.

    ports, if given (e.g. from affected_ports()), limits the work to flows
    of those ports: the others cannot have changed.
    """
    out: list[Flip] = []
    for f in flows:
        if ports is not None and f.port not in ports:
            continue
        v = decide(f.key, f.direction, f.port, groups_index)
        if v.allow != f.allowed:
            out.append(Flip(f, v))
    return out


def decide_connection(flow_key: FlowKey, src_port: PortBinding | str | None,
                      dst_port: PortBinding | str | None,
                      groups_index: GroupsIndex) -> Verdict:
    """A new connection between two ends, either of which may be a local
    port (None: not ours, e.g. across the fabric).  It passes when the
    source's egress and the destination's ingress both allow it; the
    verdict names the deciding rule (the ingress one when both match)."""
    v = ALLOW_DEFAULT
    if src_port is not None:
        v = decide(flow_key, EGRESS, src_port, groups_index)
        if not v.allow:
            return v
    if dst_port is not None:
        v = decide(flow_key, INGRESS, dst_port, groups_index)
    return v


def reevaluate(flows: Iterable[Flow], changed_groups: Iterable[str],
               groups_index: GroupsIndex) -> list[Flip]:
    """After groups changed (already applied to groups_index): the flows,
    among those given, whose verdict flips."""
    return flips(flows, groups_index,
                 groups_index.affected_ports(changed_groups))


def icmp_type_code(frame: bytes) -> tuple[int, int]:
    """ICMP type and code of an Ethernet/IPv4 frame, (-1, -1) if it is
    not an unfragmented ICMP packet long enough to say."""
    off = 14
    if len(frame) >= 18 and frame[12:14] == b"\x81\x00":
        off = 18
    if len(frame) < off + 20 or frame[off - 2:off] != b"\x08\x00":
        return -1, -1
    ihl = (frame[off] & 0x0f) * 4
    frag = int.from_bytes(frame[off + 6:off + 8], "big") & 0x1fff
    if frame[off + 9] != ICMP or frag or ihl < 20 or \
            len(frame) < off + ihl + 2:
        return -1, -1
    return frame[off + ihl], frame[off + ihl + 1]


class SecGroupPolicy:
    """Security groups as the flow manager's policy: who is at each end.

    port_for_vif(vif) names the local port a trapped packet came from (None
    for the fabric or the host); port_for_addr(vrf, ip) names the local
    port holding a destination address (None if it is on another node,
    whose agent checks the ingress side).  Calling it with a flow key and
    a trap (anything with .vif and .frame) gives the Verdict; the daemon
    turns it into its flow action.
    """

    def __init__(self, index: GroupsIndex,
                 port_for_vif: Callable[[int], str | None],
                 port_for_addr: Callable[[int, int], str | None]) -> None:
        self.index = index
        self.port_for_vif = port_for_vif
        self.port_for_addr = port_for_addr

    def __call__(self, key: Any, trap: Any) -> Verdict:
        if key.proto == ICMP:
            t, c = icmp_type_code(trap.frame)
            key = FlowKey(key.proto, key.src, key.dst, key.sport, key.dport,
                          t, c, getattr(key, "vrf", 0))
        return decide_connection(key, self.port_for_vif(trap.vif),
                                 self.port_for_addr(getattr(key, "vrf", 0),
                                                    key.dst),
                                 self.index)
