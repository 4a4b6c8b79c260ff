"""Writers of the agent-owned tables: VRFs, vifs, nexthops, MPLS labels,
routes (mtrie.py) and known tunnel endpoints.  The agent is their single
writer.

Vifs and nexthops are written whole through the C seqlock writers (odd
sequence while writing, release store of the next even one); labels and
route words with release stores.  Index 0 of vifs, nexthops and VRFs is
never handed out: 0 means "none" in the words that refer to them.
Tables.adopt() reads live tables back so a restarted agent continues with
the same indices.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .abi import ffi, lib
from .mtrie import BucketPool, VrfRoutes, parse_prefix

if TYPE_CHECKING:
    from .region import Region

LOG = logging.getLogger(__name__)


class TableError(Exception):
    pass


def ip_to_int(ip: str | int) -> int:
    return ip if isinstance(ip, int) else int(ipaddress.IPv4Address(ip))


def int_to_ip(v: int) -> str:
    return str(ipaddress.IPv4Address(v))


def mac_to_bytes(mac: str | bytes) -> bytes:
    if isinstance(mac, bytes):
        return mac
    b = bytes(int(x, 16) for x in mac.split(":"))
    if len(b) != 6:
        raise TableError(f"bad MAC {mac!r}")
    return b


def bytes_to_mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


@dataclass
class Vif:
    """struct bsdnet_vif without its sequence word."""
    type: int = 0
    flags: int = 0
    vrf: int = 0
    ip: int = 0
    nh: int = 0
    mtu: int = 1500
    mac: bytes = b"\0" * 6
    name: str = ""
    flow_quota: int = 0
    gw: int = 0             # source of the ICMP errors the datapath sends
    os_index: int = 0       # (d): read only, ignored when comparing

    def same(self, other: "Vif") -> bool:
        return all(getattr(self, f.name) == getattr(other, f.name)
                   for f in fields(self) if f.name != "os_index")


@dataclass
class Nexthop:
    """struct bsdnet_nh without its sequence word."""
    type: int = 0
    vrf: int = 0
    vif: int = 0
    dmac: bytes = b"\0" * 6
    smac: bytes = b"\0" * 6
    tun_src: int = 0
    tun_dst: int = 0
    label: int = 0
    members: tuple[int, ...] = field(default_factory=tuple)
    flags: int = 0


class IndexPool:
    """Lowest-free-first allocator of [lo, n)."""

    def __init__(self, lo: int, n: int, what: str) -> None:
        self.lo, self.n, self.what = lo, n, what
        self.used: set[int] = set()
        self._next = lo

    def alloc(self) -> int:
        for i in range(self._next, self.n):
            if i not in self.used:
                self.used.add(i)
                self._next = i + 1
                return i
        raise TableError(
            f"{self.what} table full ({self.n - self.lo} entries)")

    def take(self, i: int) -> None:
        if not self.lo <= i < self.n:
            raise TableError(f"{self.what} {i} out of range")
        self.used.add(i)

    def free(self, i: int) -> None:
        self.used.discard(i)
        self._next = min(self._next, i)


class VifTable:
    def __init__(self, region: Region) -> None:
        self.region = region
        self.pool = IndexPool(1, len(region.vifs), "vif")

    def read(self, idx: int) -> Vif:
        c = ffi.new("struct bsdnet_vif *")
        if lib.bsdnet_agent_vif_read(ffi.addressof(self.region.vifs, idx), c):
            raise TableError(f"vif {idx}: sequence stuck odd")
        return Vif(type=c.vif_type, flags=c.vif_flags, vrf=c.vif_vrf,
                   ip=c.vif_ip, nh=c.vif_nh, mtu=c.vif_mtu,
                   mac=bytes(ffi.buffer(c.vif_mac)),
                   name=ffi.string(c.vif_name, lib.BSDNET_IFNAMSIZ).decode(),
                   flow_quota=c.vif_flow_quota, gw=c.vif_gw,
                   os_index=c.vif_os_index)

    def write(self, idx: int, v: Vif) -> None:
        name = v.name.encode()
        if len(name) >= lib.BSDNET_IFNAMSIZ:
            raise TableError(f"vif name {v.name!r} too long")
        c = ffi.new("struct bsdnet_vif *")
        c.vif_type, c.vif_flags, c.vif_vrf = v.type, v.flags, v.vrf
        c.vif_ip, c.vif_nh, c.vif_mtu = ip_to_int(v.ip), v.nh, v.mtu
        ffi.memmove(c.vif_mac, mac_to_bytes(v.mac), 6)
        ffi.memmove(c.vif_name, name, len(name))
        c.vif_flow_quota = v.flow_quota
        c.vif_gw = ip_to_int(v.gw)
        # vif_os_index is the datapath's: the C writer leaves it alone.
        lib.bsdnet_agent_vif_write(ffi.addressof(self.region.vifs, idx), c)

    def add(self, v: Vif) -> int:
        idx = self.pool.alloc()
        self.write(idx, v)
        return idx

    def update(self, idx: int, v: Vif) -> bool:
        """Rewrite idx if it differs from v.  True if written."""
        if self.read(idx).same(v):
            return False
        self.write(idx, v)
        return True

    def delete(self, idx: int) -> None:
        self.write(idx, Vif(type=lib.BSDNET_VIF_NONE, mtu=0))
        self.pool.free(idx)

    def adopt(self) -> None:
        for i in range(1, len(self.region.vifs)):
            if self.region.vifs[i].vif_type != lib.BSDNET_VIF_NONE:
                self.pool.take(i)

    def live(self) -> list[tuple[int, Vif]]:
        return [(i, self.read(i)) for i in range(len(self.region.vifs))
                if self.region.vifs[i].vif_type != lib.BSDNET_VIF_NONE]


class NexthopTable:
    def __init__(self, region: Region) -> None:
        self.region = region
        self.pool = IndexPool(1, len(region.nexthops), "nexthop")

    def read(self, idx: int) -> Nexthop:
        c = ffi.new("struct bsdnet_nh *")
        src = ffi.addressof(self.region.nexthops, idx)
        if lib.bsdnet_agent_nh_read(src, c):
            raise TableError(f"nexthop {idx}: sequence stuck odd")
        n = min(c.nh_nmembers, lib.BSDNET_ECMP_MAX)
        return Nexthop(type=c.nh_type, vrf=c.nh_vrf, vif=c.nh_vif,
                       dmac=bytes(ffi.buffer(c.nh_dmac)),
                       smac=bytes(ffi.buffer(c.nh_smac)),
                       tun_src=c.nh_tun_src, tun_dst=c.nh_tun_dst,
                       label=c.nh_label,
                       members=tuple(c.nh_members[i] for i in range(n)),
                       flags=c.nh_flags)

    def _check(self, n: Nexthop) -> None:
        t = n.type
        if t == lib.BSDNET_NH_ECMP:
            if not 1 <= len(n.members) <= lib.BSDNET_ECMP_MAX:
                raise TableError(
                    f"ECMP needs 1..{lib.BSDNET_ECMP_MAX} members")
            for m in n.members:
                mt = self.region.nexthops[m].nh_type if 0 < m < len(
                    self.region.nexthops) else lib.BSDNET_NH_NONE
                if mt not in (lib.BSDNET_NH_ENCAP, lib.BSDNET_NH_TUNNEL):
                    raise TableError(f"ECMP member {m} is not ENCAP or TUNNEL")
        elif n.members:
            raise TableError("only ECMP nexthops have members")
        if t == lib.BSDNET_NH_TUNNEL and not 0 <= n.label < (1 << 20):
            raise TableError(f"label {n.label} does not fit 20 bits")
        if t in (lib.BSDNET_NH_ENCAP, lib.BSDNET_NH_TUNNEL) and not (
                0 < n.vif < len(self.region.vifs)):
            raise TableError(f"nexthop vif {n.vif} out of range")
        if t == lib.BSDNET_NH_NONE or t not in range(lib.BSDNET_NH_DISCARD,
                                                     lib.BSDNET_NH_VRF + 1):
            raise TableError(f"bad nexthop type {t}")

    def write(self, idx: int, n: Nexthop) -> None:
        if n.type != lib.BSDNET_NH_NONE:
            self._check(n)
        c = ffi.new("struct bsdnet_nh *")
        c.nh_type, c.nh_flags, c.nh_vrf = n.type, n.flags, n.vrf
        c.nh_nmembers, c.nh_vif = len(n.members), n.vif
        ffi.memmove(c.nh_dmac, mac_to_bytes(n.dmac), 6)
        ffi.memmove(c.nh_smac, mac_to_bytes(n.smac), 6)
        c.nh_tun_src, c.nh_tun_dst = ip_to_int(n.tun_src), ip_to_int(n.tun_dst)
        c.nh_label = n.label
        for i, m in enumerate(n.members):
            c.nh_members[i] = m
        lib.bsdnet_agent_nh_write(ffi.addressof(self.region.nexthops, idx), c)

    def add(self, n: Nexthop) -> int:
        self._check(n)
        idx = self.pool.alloc()
        try:
            self.write(idx, n)
        except Exception:
            self.pool.free(idx)
            raise
        return idx

    def update(self, idx: int, n: Nexthop) -> bool:
        if self.read(idx) == n:
            return False
        self.write(idx, n)
        return True

    def delete(self, idx: int) -> None:
        self.write(idx, Nexthop())
        self.pool.free(idx)

    def adopt(self) -> None:
        for i in range(1, len(self.region.nexthops)):
            if self.region.nexthops[i].nh_type != lib.BSDNET_NH_NONE:
                self.pool.take(i)

    def live(self) -> list[tuple[int, Nexthop]]:
        return [(i, self.read(i)) for i in range(len(self.region.nexthops))
                if self.region.nexthops[i].nh_type != lib.BSDNET_NH_NONE]


class LabelTable:
    """MPLS labels: those of ports, local to this node, allocated from
    BSDNET_LABEL_MIN up to fixed_base; from fixed_base to the end of the
    table, labels whose number the whole fabric agrees on (a network's:
    set_fixed)."""

    def __init__(self, region: Region, fixed_base: int | None = None) -> None:
        self.region = region
        n = len(region.labels)
        self.fixed_base = n if fixed_base is None else \
            max(lib.BSDNET_LABEL_MIN, min(fixed_base, n))
        self.pool = IndexPool(lib.BSDNET_LABEL_MIN, self.fixed_base,
                              "label")

    def set_fixed(self, label: int, nh: int) -> bool:
        """Point a fixed label at nh.  True if changed."""
        if not self.fixed_base <= label < len(self.region.labels):
            raise TableError(
                f"label {label} is outside the window of network labels "
                f"[{self.fixed_base}, {len(self.region.labels)})")
        if self.get(label) == nh:
            return False
        self._store(label, nh)
        return True

    def free_fixed(self, label: int) -> None:
        if self.fixed_base <= label < len(self.region.labels):
            self._store(label, 0)

    def _store(self, label: int, nh: int) -> None:
        lib.bsdnet_agent_store_rel32(
            ffi.addressof(self.region.labels[label], "lbl_nh"), nh)

    def alloc(self, nh: int) -> int:
        label = self.pool.alloc()
        self._store(label, nh)
        return label

    def set(self, label: int, nh: int) -> bool:
        """Point an allocated (or adopted) label at nh.  True if changed."""
        self.pool.take(label)
        if self.get(label) == nh:
            return False
        self._store(label, nh)
        return True

    def get(self, label: int) -> int:
        return lib.bsdnet_agent_load_acq32(
            ffi.addressof(self.region.labels[label], "lbl_nh"))

    def free(self, label: int) -> None:
        self._store(label, 0)
        self.pool.free(label)

    def adopt(self) -> None:
        for i in range(lib.BSDNET_LABEL_MIN, self.fixed_base):
            if self.get(i):
                self.pool.take(i)

    def live(self) -> list[tuple[int, int]]:
        return [(i, self.get(i)) for i in range(len(self.region.labels))
                if self.get(i)]


class VrfTable:
    """VRFs by virtual network name; routes per VRF through VrfRoutes."""

    IN_USE = 1

    def __init__(self, region: Region, grace: float) -> None:
        self.region = region
        self.pool = IndexPool(1, len(region.vrfs), "VRF")
        self.buckets = BucketPool(len(region.rtbuckets), grace)
        self.by_name: dict[str, int] = {}
        self.routes: dict[int, VrfRoutes] = {}

    def alloc(self, name: str) -> int:
        if name in self.by_name:
            return self.by_name[name]
        idx = self.pool.alloc()
        self.bind(name, idx)
        return idx

    def bind(self, name: str, idx: int) -> None:
        self.pool.take(idx)
        self.by_name[name] = idx
        if idx not in self.routes:
            self.routes[idx] = VrfRoutes(self.region, idx, self.buckets)
        v = self.region.vrfs[idx]
        if not v.vrf_flags & self.IN_USE:
            lib.bsdnet_agent_store_rel32(ffi.addressof(v, "vrf_flags"),
                                         self.IN_USE)

    def adopt(self, names: dict[str, int]) -> None:
        """Take over live VRFs; names come from the state file."""
        for i in range(1, len(self.region.vrfs)):
            if self.region.vrfs[i].vrf_flags & self.IN_USE:
                self.pool.take(i)
                r = self.routes[i] = VrfRoutes(self.region, i, self.buckets)
                r.adopt()
        for name, idx in names.items():
            if idx in self.routes:
                self.by_name[name] = idx

    def free(self, name: str) -> None:
        idx = self.by_name.pop(name)
        self.routes.pop(idx).clear()
        lib.bsdnet_agent_store_rel32(
            ffi.addressof(self.region.vrfs[idx], "vrf_flags"), 0)
        self.pool.free(idx)

    def add_route(self, vrf: int, prefix: str, nh: int) -> bool:
        addr, plen = parse_prefix(prefix)
        return self.routes[vrf].add(addr, plen, nh)

    def delete_route(self, vrf: int, prefix: str) -> bool:
        addr, plen = parse_prefix(prefix)
        return self.routes[vrf].delete(addr, plen)


class EndpointTable:
    """Known tunnel endpoints: the (outer source, VRF) pairs the datapath
    takes encapsulated packets from, written through the datapath's own
    code (kmod/core/bsdnet_endpoint.h).  Every node listed also gets its
    (node, BSDNET_EP_VRF_ANY) entry, by which the datapath tells a stranger
    (UNKNOWN_ENDPOINT) from a node using a label of another network
    (ENDPOINT_VRF)."""

    ANY = lib.BSDNET_EP_VRF_ANY

    def __init__(self, region: Region) -> None:
        self.region = region
        self.have: set[tuple[int, int]] = set()

    def live(self) -> list[tuple[int, int]]:
        """(address, VRF) of every entry, sorted."""
        return sorted((w >> 32, (w >> 16) & 0xffff)
                      for w in self.region.endpoint_words())

    def adopt(self) -> None:
        self.have = set(self.live())

    def sync(self, pairs: set[tuple[int, int]]) -> tuple[int, int]:
        """Make the table hold exactly pairs (and each address's ANY
        entry): removals first, so they make room for additions.
        Returns (added, removed); raises TableError, after doing all it
        can, if some pairs found no room."""
        want = pairs | {(a, self.ANY) for a, _ in pairs}
        gone = sorted(self.have - want)
        for a, v in gone:
            lib.bsdnet_agent_ep_del(self.region.endpoints, a, v)
            self.have.discard((a, v))
        added, full = 0, []
        for a, v in sorted(want - self.have):
            if lib.bsdnet_agent_ep_add(self.region.endpoints, a, v) != 0:
                full.append((a, v))
                continue
            self.have.add((a, v))
            added += 1
        if full:
            raise TableError(
                f"endpoint table full: {len(full)} (node, VRF) pairs left "
                f"out, first {int_to_ip(full[0][0])} VRF {full[0][1]}")
        return added, len(gone)


class Tables:
    """All agent-written tables of one region."""

    def __init__(self, region: Region, grace: float = 1.0,
                 label_base: int | None = None) -> None:
        self.region = region
        self.vifs = VifTable(region)
        self.nexthops = NexthopTable(region)
        self.labels = LabelTable(region, label_base)
        self.vrfs = VrfTable(region, grace)
        self.endpoints = EndpointTable(region)

    def adopt(self, vrf_names: dict[str, int] | None = None) -> None:
        """Continue from what a previous agent left in the region."""
        self.vifs.adopt()
        self.nexthops.adopt()
        self.labels.adopt()
        self.vrfs.adopt(vrf_names or {})
        self.endpoints.adopt()

    def counts(self) -> dict[str, Any]:
        return {"vifs": len(self.vifs.pool.used),
                "nexthops": len(self.nexthops.pool.used),
                "labels": len(self.labels.pool.used),
                "vrfs": len(self.vrfs.pool.used),
                "endpoints": len(self.endpoints.have),
                "rtbuckets": self.vrfs.buckets.in_use()}
