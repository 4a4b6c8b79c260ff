"""Linux backend: the same operations through rtnetlink (pyroute2).

Linux has no interface groups by name, so the ownership mark is the numeric
link group (IFLA_GROUP, `ip link set X group N`) derived from the group
name, plus the interface alias (IFLA_IFALIAS) as the description.  The
backend works in the network namespace of the calling thread: tests and
`bsdnet-net --netns` enter the namespace first (pyroute2.netns.pushns), so
taps made with the tun ioctl and dnsmasq started as a child land there too.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import logging
import os
import socket
import struct
import subprocess
import zlib
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .backend import Backend
from .errors import BackendError
from .model import IfState

LOG = logging.getLogger(__name__)

_IFF = [("UP", 0x1), ("BROADCAST", 0x2), ("DEBUG", 0x4), ("LOOPBACK", 0x8),
        ("POINTOPOINT", 0x10), ("RUNNING", 0x40), ("NOARP", 0x80),
        ("PROMISC", 0x100), ("ALLMULTI", 0x200), ("MULTICAST", 0x1000),
        ("LOWER_UP", 0x10000)]
_KINDS = {"bridge": "bridge", "tun": "tap", "vlan": "vlan", "veth": "epair"}

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
RTPROT_RA = 9   # linux/rtnetlink.h: route installed from a router advertisement


def group_id(group: str) -> int:
    """Stable numeric link group for a group name (never 0, the default)."""
    return (zlib.crc32(group.encode()) & 0x7FFF) | 0x8000


class LinuxBackend(Backend):
    name = "linux"

    def __init__(self, groups: tuple[str, ...] = ("bsdnet",)) -> None:
        self.ipr = IPRoute()
        self._groups: dict[int, str] = {group_id(g): g for g in groups}

    def close(self) -> None:
        self.ipr.close()

    # ----- helpers
    def _idx(self, name: str) -> int:
        link = self._get_link(name)
        if link is None:
            raise BackendError(name, "no such interface")
        return link["index"]

    def _get_link(self, name: str):
        """One RTM_GETLINK by name (not a dump: hosts have thousands of taps)."""
        try:
            return self.ipr.link("get", ifname=name)[0]
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise BackendError(f"get {name}", os.strerror(exc.code)) from None

    def _call(self, what: str, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except NetlinkError as exc:
            raise BackendError(what, f"{os.strerror(exc.code)} (netlink error {exc.code})") \
                from None
        except OSError as exc:
            raise BackendError(what, str(exc)) from None

    def _link(self, what: str, name: str, **kw) -> None:
        # By name: the kernel resolves it, saving a lookup round trip.
        self._call(what, self.ipr.link, "set", ifname=name, **kw)

    # ----- reads
    def list_names(self) -> list[str]:
        return [link.get_attr("IFLA_IFNAME") for link in self.ipr.get_links()]

    def get(self, name: str, detail: bool = True) -> IfState | None:
        link = self._get_link(name)
        if link is None:
            return None
        return self._state(link, detail)

    def _state(self, link, detail: bool) -> IfState:
        idx = link["index"]
        st = IfState(name=link.get_attr("IFLA_IFNAME"),
                     flags=[n for n, b in _IFF if link["flags"] & b],
                     mtu=link.get_attr("IFLA_MTU") or 0,
                     ether=link.get_attr("IFLA_ADDRESS"),
                     description=link.get_attr("IFLA_IFALIAS") or None)
        gid = link.get_attr("IFLA_GROUP") or 0
        if gid in self._groups:
            st.groups = [self._groups[gid]]
        info = link.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info else None
        st.kind = _KINDS.get(kind or "", "ether" if kind is None else kind)
        if kind == "vlan":
            data = info.get_attr("IFLA_INFO_DATA")
            st.vlan_tag = data.get_attr("IFLA_VLAN_ID") if data else None
            parent = link.get_attr("IFLA_LINK")
            if parent:
                st.vlan_parent = self._name_of(parent)
        master = link.get_attr("IFLA_MASTER")
        if master:
            st.master = self._name_of(master)
        if not detail:
            return st
        for fam, out in ((socket.AF_INET, st.inet), (socket.AF_INET6, st.inet6)):
            for a in self.ipr.get_addr(family=fam, index=idx):
                out.append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
        if st.kind == "bridge":
            st.members = [lk.get_attr("IFLA_IFNAME") for lk in self.ipr.get_links()
                          if lk.get_attr("IFLA_MASTER") == idx]
            stp = self._bridge_stp(st.name)
            st.member_stp = {m: stp for m in st.members}
        return st

    def _bridge_stp(self, name: str) -> bool:
        p = Path(f"/sys/class/net/{name}/bridge/stp_state")
        try:
            return p.read_text().strip() != "0"
        except OSError:
            return False

    def _name_of(self, idx: int) -> str | None:
        try:
            return self.ipr.get_links(idx)[0].get_attr("IFLA_IFNAME")
        except NetlinkError:
            return None

    def group_members(self, group: str) -> list[str]:
        gid = group_id(group)
        self._groups[gid] = group
        return [lk.get_attr("IFLA_IFNAME") for lk in self.ipr.get_links()
                if lk.get_attr("IFLA_GROUP") == gid]

    def vlan_support(self) -> tuple[bool, str]:
        # /proc/net/vlan appears (per namespace) once 8021q is loaded.
        if Path("/proc/net/vlan").exists():
            return True, ""
        subprocess.run(["modprobe", "-q", "8021q"], capture_output=True, check=False)
        if Path("/proc/net/vlan").exists():
            return True, ""
        return False, (f"the running kernel ({os.uname().release}) has no 802.1Q support: "
                       "module 8021q is neither loaded nor loadable")

    def default_route(self) -> tuple[str, str] | None:
        for r in self.ipr.get_routes(family=socket.AF_INET, table=254):
            if r["dst_len"] == 0 and r.get_attr("RTA_GATEWAY"):
                return r.get_attr("RTA_GATEWAY"), self._name_of(r.get_attr("RTA_OIF"))
        return None

    def in_use(self, st: IfState) -> bool:
        # A tap with no process attached has no carrier.
        return st.kind == "tap" and "LOWER_UP" in st.flags

    # ----- creation
    def create_bridge(self, name: str, description: str, group: str) -> None:
        gid = group_id(group)
        self._groups[gid] = group
        # The group goes in with the create so a crash before the alias is
        # set still leaves a link cleanup can find.
        self._call(f"create bridge {name}", self.ipr.link, "add", ifname=name,
                   kind="bridge", group=gid)
        self.mark(name, description, group)
        self.set_up(name)

    def create_tap(self, name: str, description: str, group: str,
                   mtu: int | None, ether: str | None) -> None:
        ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR)
        except OSError as exc:
            raise BackendError(f"create tap {name}", str(exc)) from None
        try:
            fcntl.ioctl(fd, TUNSETIFF, ifr)
            fcntl.ioctl(fd, TUNSETPERSIST, 1)
        except OSError as exc:
            raise BackendError(f"create tap {name}", str(exc)) from None
        finally:
            os.close(fd)
        self.mark(name, description, group)
        if mtu:
            self.set_mtu(name, mtu)
        if ether:
            self.set_ether(name, ether)
        self.set_up(name)

    def create_vlan(self, name: str, parent: str, tag: int,
                    description: str, group: str) -> None:
        gid = group_id(group)
        self._groups[gid] = group
        self._call(f"create vlan {name}", self.ipr.link, "add", ifname=name, kind="vlan",
                   link=self._idx(parent), vlan_id=tag, group=gid)
        self.mark(name, description, group)
        self.set_up(name)

    def create_epair(self, name: str, description: str, group: str) -> tuple[str, str]:
        a, b = f"{name}a", f"{name}b"
        gid = group_id(group)
        self._groups[gid] = group
        self._call(f"create veth {a}", self.ipr.link, "add", ifname=a, kind="veth",
                   peer={"ifname": b, "group": gid}, group=gid)
        for n in (a, b):
            self.mark(n, description, group)
            self.set_up(n)
        return a, b

    def destroy(self, name: str) -> None:
        self._call(f"destroy {name}", self.ipr.link, "del", ifname=name)

    # ----- changes
    def mark(self, name: str, description: str, group: str) -> None:
        gid = group_id(group)
        self._groups[gid] = group
        self._link(f"mark {name}", name, ifalias=description, group=gid)

    def set_up(self, name: str) -> None:
        self._link(f"up {name}", name, state="up")

    def set_mtu(self, name: str, mtu: int) -> None:
        self._link(f"mtu {name} {mtu}", name, mtu=mtu)

    def set_ether(self, name: str, mac: str) -> None:
        self._link(f"ether {name} {mac}", name, address=mac)

    def add_member(self, bridge: str, member: str) -> None:
        self._link(f"addm {bridge} {member}", member,
                   master=self._idx(bridge))

    def del_member(self, bridge: str, member: str) -> None:
        self._link(f"deletem {bridge} {member}", member, master=0)

    def set_stp(self, bridge: str, member: str, on: bool) -> None:
        # Linux runs STP per bridge, not per member.
        self._link(f"stp {bridge}", bridge, kind="bridge",
                   br_stp_state=1 if on else 0)

    def add_address(self, name: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        self._call(f"add {cidr} to {name}", self.ipr.addr, "add", index=self._idx(name),
                   address=str(iface.ip), prefixlen=iface.network.prefixlen)

    def del_address(self, name: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        self._call(f"remove {cidr} from {name}", self.ipr.addr, "del", index=self._idx(name),
                   address=str(iface.ip), prefixlen=iface.network.prefixlen)

    def gateway_routes(self, name: str) -> list[tuple[str, str]]:
        idx = self._idx(name)
        out = []
        for fam, anyaddr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            for r in self.ipr.get_routes(family=fam, table=254):
                gw = r.get_attr("RTA_GATEWAY")
                # Routes learned from router advertisements stay with the
                # kernel: they expire, and the bridge learns its own.
                if not gw or r.get_attr("RTA_OIF") != idx or r["proto"] == RTPROT_RA:
                    continue
                if gw.startswith("fe80:"):
                    gw = f"{gw}%{name}"
                out.append((f"{r.get_attr('RTA_DST') or anyaddr}/{r['dst_len']}", gw))
        return out

    def replace_route(self, dst: str, gateway: str) -> None:
        ip, _, scope = gateway.partition("%")
        kw: dict[str, int] = {"family": socket.AF_INET6 if ":" in dst else socket.AF_INET}
        if scope:
            # A link-local gateway is on-link only on the interface named.
            kw["oif"] = self._idx(scope)
        self._call(f"route {dst} via {gateway}", self.ipr.route, "replace",
                   dst=dst, gateway=ip, **kw)
