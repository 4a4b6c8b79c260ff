"""A stand-in for a FreeBSD host's ifconfig(8), sysctl(8) and route(8).

It keeps interface state and enforces the rules the driver must live with:

- names fit IFNAMSIZ (15 characters); `name` to an existing name fails;
- a bridge takes its MTU from its first member and refuses a member whose
  MTU differs (if_bridge(4): "All additional members are required to have
  exactly the same value");
- with net.link.bridge.member_ifaddrs=0 (FreeBSD 15's default) an interface
  with an IPv4/IPv6 address cannot be added to a bridge and a member cannot
  be given one;
- a tap is created down; net.link.tap.up_on_open is honoured only when a
  process opens it, so whoever creates it must bring it up;
- vlan create needs both `vlan` and `vlandev`, a tag 1-4094 unique per parent;
- group names may not end in a digit; only cloned interfaces can be destroyed;
- route(8) reads addresses as inet unless given -inet6; an IPv6 gateway is
  taken when on-link: inside an inet6 prefix of an interface, or link-local
  with its scope (fe80::1%em0) naming an interface that has a link-local
  address of its own (a new interface has none: nd6 IFDISABLED, until
  `ifconfig X inet6 -ifdisabled auto_linklocal`); a route goes when the
  address its gateway depended on does.

It prints state in ifconfig's real format (see ifconfig_parse for the
sources of each line), and is used three ways: in-process by unit tests, as
an executable by tests/driver/net/fake_freebsd.py, and by `bsdnet-net --dry-run`
to answer the reads the FreeBSD backend makes while planning.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import asdict
from typing import Iterable

from bsdnet.common.names import IFNAMSIZ

from .ifconfig_parse import inet_line, parse_all
from .model import IfState

_CLONERS = ("bridge", "tap", "vlan", "epair")
# ifconfig(8)'s inet6 nd6 flags (af_inet6.c), which take no address.
_ND6_FLAGS = ("ifdisabled", "-ifdisabled", "auto_linklocal", "-auto_linklocal",
              "accept_rtadv", "-accept_rtadv", "nud", "-nud", "perform_nud",
              "-perform_nud", "no_radr", "-no_radr", "no_dad", "-no_dad")
# sys/net/if.h bit values, in the order ifconfig's IFFBITS prints them.
IFF_BITS = [
    ("UP", 0x1), ("BROADCAST", 0x2), ("DEBUG", 0x4), ("LOOPBACK", 0x8),
    ("POINTOPOINT", 0x10), ("RUNNING", 0x40), ("NOARP", 0x80),
    ("PROMISC", 0x100), ("ALLMULTI", 0x200), ("OACTIVE", 0x400),
    ("SIMPLEX", 0x800), ("LINK0", 0x1000), ("LINK1", 0x2000),
    ("LINK2", 0x4000), ("MULTICAST", 0x8000), ("PPROMISC", 0x20000),
    ("MONITOR", 0x40000), ("STATICARP", 0x80000), ("STICKYARP", 0x100000),
    ("NOGROUP", 0x800000), ("LOWER_UP", 0x1000000),
]
# if_bridgevar.h IFBIF_* for a member's flags line.
IFBIF_BITS = [("LEARNING", 0x1), ("DISCOVER", 0x2), ("STP", 0x4), ("SPAN", 0x8),
              ("STICKY", 0x10), ("EDGE", 0x20), ("AUTOEDGE", 0x40),
              ("PTP", 0x80), ("AUTOPTP", 0x100)]

DEFAULT_SYSCTLS = {
    "net.link.bridge.member_ifaddrs": "0",   # FreeBSD 15.0's default
    "net.link.tap.up_on_open": "0",
    "net.link.bridge.inherit_mac": "0",
}


def _unscoped(cidr: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """fe80::1%em0/64 as an interface without its scope, for prefix tests."""
    ip, _, plen = cidr.partition("/")
    return ipaddress.ip_interface(f"{ip.split('%')[0]}/{plen}" if plen else ip.split("%")[0])


class SimError(Exception):
    """An ifconfig/route/sysctl failure: message as the tool prints it."""


def printb(value: int, bits: list[tuple[str, int]]) -> str:
    names = [n for n, b in bits if value & b]
    return "%x<%s>" % (value, ",".join(names))


class FreeBSDHost:
    """Interface state of one simulated FreeBSD host."""

    def __init__(self, ifaces: Iterable[IfState] = (), sysctls: dict[str, str] | None = None):
        self.ifaces: dict[str, IfState] = {}
        self.sysctls = dict(DEFAULT_SYSCTLS)
        self.sysctls.update(sysctls or {})
        self.routes: dict[str, tuple[str, str]] = {}   # dst cidr -> (gateway, ifname)
        self.units: dict[str, int] = {}
        self.log: list[list[str]] = []
        self._macseq = 0x10
        for st in ifaces:
            self.ifaces[st.name] = st

    @property
    def default_route(self) -> tuple[str, str] | None:
        return self.routes.get("0.0.0.0/0")

    @default_route.setter
    def default_route(self, value: tuple[str, str] | None) -> None:
        if value is None:
            self.routes.pop("0.0.0.0/0", None)
        else:
            self.routes["0.0.0.0/0"] = (value[0], value[1])

    # ----- persistence (the executable stand-in keeps state in a file)
    def to_json(self) -> str:
        return json.dumps({
            "ifaces": [asdict(s) for s in self.ifaces.values()],
            "sysctls": self.sysctls, "routes": self.routes,
            "units": self.units, "macseq": self._macseq, "log": self.log})

    @classmethod
    def from_json(cls, text: str) -> "FreeBSDHost":
        d = json.loads(text)
        host = cls([IfState(**s) for s in d["ifaces"]], d["sysctls"])
        host.routes = {k: (v[0], v[1]) for k, v in d["routes"].items()}
        host.units = d["units"]
        host._macseq = d["macseq"]
        host.log = d.get("log", [])
        return host

    @classmethod
    def from_ifconfig(cls, text: str, sysctls: dict[str, str] | None = None) -> "FreeBSDHost":
        """Seed from real `ifconfig -a` output (the fixtures)."""
        host = cls(parse_all(text), sysctls)
        for st in host.ifaces.values():
            for m in st.members:
                if m in host.ifaces:
                    host.ifaces[m].master = st.name
        return host

    # ----- entry point
    def run(self, argv: list[str]) -> tuple[int, str, str]:
        """Run one command; returns (exit status, stdout, stderr)."""
        self.log.append(list(argv))
        tool = os.path.basename(argv[0])
        try:
            if tool == "ifconfig":
                return 0, self._ifconfig(argv[1:]), ""
            if tool == "sysctl":
                return 0, self._sysctl(argv[1:]), ""
            if tool == "route":
                return 0, self._route(argv[1:]), ""
            if tool == "netstat":
                return 0, self._netstat(argv[1:]), ""
            raise SimError(f"{tool}: command not found")
        except SimError as exc:
            return 1, "", f"{exc}\n"

    # ----- ifconfig
    def _ifconfig(self, args: list[str]) -> str:
        if not args:
            return "".join(self.status(n) for n in self.ifaces)
        if args == ["-l"]:
            return " ".join(self.ifaces) + "\n"
        if args == ["-a"]:
            return "".join(self.status(n) for n in self.ifaces)
        if len(args) == 2 and args[0] == "-g":
            return "".join(f"{n}\n" for n, s in self.ifaces.items() if args[1] in s.groups)
        name, rest = args[0], args[1:]
        if len(name) >= IFNAMSIZ:
            raise SimError(f"ifconfig: interface name '{name}' too long")
        printname = False
        if rest and rest[0] == "create":
            name, rest, printname = self._create(name, rest[1:])
        elif name not in self.ifaces:
            raise SimError(f"ifconfig: interface {name} does not exist")
        if not rest and not printname:
            return self.status(name)
        name = self._commands(name, rest)
        return f"{name}\n" if printname else ""

    def _create(self, name: str, rest: list[str]) -> tuple[str, list[str], bool]:
        m = re.fullmatch(r"([a-z]+)(\d*)", name)
        if not m or m[1] not in _CLONERS:
            raise SimError(f"ifconfig: SIOCIFCREATE2 ({name}): Invalid argument")
        cloner, unit = m[1], m[2]
        if unit == "":
            n = self.units.get(cloner, 0)
            while any(x in self.ifaces for x in (f"{cloner}{n}", f"{cloner}{n}a")):
                n += 1
            self.units[cloner] = n + 1
            name, printname = f"{cloner}{n}", True
        else:
            printname = False
        if name in self.ifaces or f"{name}a" in self.ifaces:
            raise SimError(f"ifconfig: SIOCIFCREATE2 ({name}): File exists")
        # vlan's clone parameters are consumed at create time (ifvlan.c).
        tag = parent = None
        left: list[str] = []
        i = 0
        while i < len(rest):
            if cloner == "vlan" and rest[i] in ("vlan", "vlandev") and i + 1 < len(rest):
                if rest[i] == "vlan":
                    tag = rest[i + 1]
                else:
                    parent = rest[i + 1]
                i += 2
            else:
                left.append(rest[i])
                i += 1
        if cloner == "vlan":
            name = self._create_vlan(name, tag, parent)
        elif cloner == "epair":
            a, b = self._new(f"{name}a", "epair"), self._new(f"{name}b", "epair")
            a.flags.append("RUNNING")
            b.flags.append("RUNNING")
            name = a.name
        else:
            st = self._new(name, cloner)
            if cloner == "bridge":
                st.flags = ["BROADCAST", "SIMPLEX", "MULTICAST"]
                st.ether = self._mac("58:9c:fc:10")
        return name, left, printname

    def _create_vlan(self, name: str, tag: str | None, parent: str | None) -> str:
        if (tag is None) != (parent is None):
            raise SimError("ifconfig: both vlan and vlandev must be specified")
        st = self._new(name, "vlan")
        st.ether = "00:00:00:00:00:00"
        st.vlan_tag = 0
        if tag is not None:
            try:
                self._set_vlan(st, tag, parent)
            except SimError:
                del self.ifaces[name]
                raise
        return name

    def _set_vlan(self, st: IfState, tag: str, parent: str | None) -> None:
        if not tag.isdigit() or not 1 <= int(tag) <= 4094:
            raise SimError("ifconfig: SIOCIFCREATE2 (vlan): Invalid argument")
        p = self.ifaces.get(parent or "")
        if p is None:
            raise SimError("ifconfig: SIOCIFCREATE2 (vlan): No such file or directory")
        for o in self.ifaces.values():
            if o.kind == "vlan" and o.vlan_parent == parent and o.vlan_tag == int(tag):
                raise SimError("ifconfig: SIOCIFCREATE2 (vlan): File exists")
        st.vlan_tag, st.vlan_parent = int(tag), parent
        st.mtu, st.ether = p.mtu, p.ether
        st.flags = ["BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST"]

    def _new(self, name: str, kind: str) -> IfState:
        st = IfState(name=name, kind=kind, flags=["BROADCAST", "SIMPLEX", "MULTICAST"],
                     mtu=1500, ether=self._mac("58:9c:fc:00"), groups=[kind])
        self.ifaces[name] = st
        return st

    def _mac(self, prefix: str) -> str:
        self._macseq += 1
        return f"{prefix}:{(self._macseq >> 8) & 0xff:02x}:{self._macseq & 0xff:02x}"

    def _commands(self, name: str, rest: list[str]) -> str:
        i = 0

        def arg() -> str:
            nonlocal i
            if i + 1 >= len(rest):
                raise SimError(f"ifconfig: '{rest[i]}' requires argument")
            i += 1
            return rest[i]

        while i < len(rest):
            cmd = rest[i]
            st = self.ifaces[name]
            if cmd == "up":
                self._set_flag(st, "UP", True)
            elif cmd == "down":
                self._set_flag(st, "UP", False)
            elif cmd == "mtu":
                self._set_mtu(st, arg())
            elif cmd == "ether" or cmd == "lladdr":
                self._set_ether(st, arg())
            elif cmd == "name":
                name = self._rename(st, arg())
            elif cmd in ("description", "descr"):
                d = arg()
                if len(d) > int(self.sysctls.get("net.ifdescr_maxlen", "1024")):
                    raise SimError("ifconfig: ioctl (set descr): File name too long")
                st.description = d or None
            elif cmd in ("-description", "-descr"):
                st.description = None
            elif cmd == "group":
                self._add_group(st, arg())
            elif cmd == "-group":
                g = arg()
                if g in st.groups:
                    st.groups.remove(g)
            elif cmd == "addm":
                self._addm(st, arg())
            elif cmd == "deletem":
                self._deletem(st, arg())
            elif cmd in ("stp", "-stp"):
                self._stp(st, arg(), cmd == "stp")
            elif cmd == "destroy":
                self._destroy(st)
                return name
            elif cmd == "inet6" and i + 1 < len(rest) and rest[i + 1] in _ND6_FLAGS:
                while i + 1 < len(rest) and rest[i + 1] in _ND6_FLAGS:
                    i += 1
                    self._nd6_flag(st, rest[i])
            elif cmd in ("inet", "inet6"):
                i = self._addr(st, cmd, rest, i)
            elif cmd in ("vlan", "vlandev"):
                raise SimError("ifconfig: both vlan and vlandev must be specified")
            else:
                raise SimError(f"ifconfig: {cmd}: bad value")
            i += 1
        return name

    def _set_flag(self, st: IfState, flag: str, on: bool) -> None:
        if on and flag not in st.flags:
            st.flags.append(flag)
            if flag == "UP" and st.kind in ("bridge", "vlan", "epair", "ether", "lo"):
                if "RUNNING" not in st.flags:
                    st.flags.append("RUNNING")
        elif not on and flag in st.flags:
            st.flags.remove(flag)

    def _nd6_flag(self, st: IfState, flag: str) -> None:
        """ifconfig's nd6 flags (SIOCSIFINFO_IN6).  Clearing ifdisabled with
        auto_linklocal set runs in6_ifattach, which gives the interface its
        EUI-64 link-local address, except on a bridge member that may carry
        no address (member_ifaddrs=0)."""
        if flag not in ("-ifdisabled", "auto_linklocal"):
            return
        if any(a.startswith("fe80:") for a in st.inet6) or not st.ether:
            return
        if st.master is not None and self.sysctls.get(
                "net.link.bridge.member_ifaddrs", "1") == "0":
            return
        o = [int(x, 16) for x in st.ether.split(":")]
        eui = [o[0] ^ 2, o[1], o[2], 0xff, 0xfe, o[3], o[4], o[5]]
        iid = ":".join(f"{eui[k] << 8 | eui[k + 1]:x}" for k in range(0, 8, 2))
        st.inet6.append(f"{ipaddress.ip_address('fe80::' + iid)}%{st.name}/64")

    def _set_mtu(self, st: IfState, val: str) -> None:
        bad = SimError("ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument")
        if not val.isdigit() or not 72 <= int(val) <= 65535:
            raise bad
        mtu = int(val)
        if st.kind == "vlan" and st.vlan_parent:
            if mtu > self.ifaces[st.vlan_parent].mtu:
                raise bad
        if st.kind == "bridge":
            # The bridge pushes a new MTU to every member (bridge_ioctl_smtu);
            # members that cannot take it make the whole call fail.
            for m in st.members:
                self.ifaces[m].mtu = mtu
        elif st.master:
            raise SimError(
                "ifconfig: ioctl SIOCSIFMTU (set mtu): Invalid argument")
        st.mtu = mtu

    def _set_ether(self, st: IfState, mac: str) -> None:
        if not re.fullmatch(r"([0-9a-fA-F]{1,2}:){5}[0-9a-fA-F]{1,2}", mac):
            raise SimError("ifconfig: malformed link-level address")
        octets = [int(x, 16) for x in mac.split(":")]
        if octets[0] & 1:
            raise SimError("ifconfig: ioctl (SIOCSIFLLADDR): Invalid argument")
        st.ether = ":".join(f"{o:02x}" for o in octets)

    def _rename(self, st: IfState, new: str) -> str:
        if len(new) >= IFNAMSIZ:
            raise SimError("ifconfig: ioctl SIOCSIFNAME (set name): File name too long")
        if new in self.ifaces:
            raise SimError("ifconfig: ioctl SIOCSIFNAME (set name): File exists")
        old = st.name
        self.ifaces = {(new if k == old else k): v for k, v in self.ifaces.items()}
        st.name = new
        for o in self.ifaces.values():
            o.members = [new if m == old else m for m in o.members]
            if old in o.member_stp:
                o.member_stp[new] = o.member_stp.pop(old)
            if o.vlan_parent == old:
                o.vlan_parent = new
            if o.master == old:
                o.master = new
        self.routes = {d: (g.replace(f"%{old}", f"%{new}") if i == old else g,
                           new if i == old else i) for d, (g, i) in self.routes.items()}
        return new

    def _add_group(self, st: IfState, g: str) -> None:
        if len(g) >= IFNAMSIZ:
            raise SimError("ifconfig: setifgroup: group name too long")
        if g and g[-1].isdigit():
            raise SimError("ifconfig: setifgroup: group names may not end in a digit")
        if g not in st.groups:   # SIOCAIFGROUP's EEXIST is ignored by ifconfig
            st.groups.append(g)

    def _addm(self, br: IfState, member: str) -> None:
        what = f"ifconfig: BRDGADD {member}"
        if br.kind != "bridge":
            raise SimError(f"{what}: Inappropriate ioctl for device")
        m = self.ifaces.get(member)
        if m is None:
            raise SimError(f"{what}: No such file or directory")
        if m.master == br.name:
            raise SimError(f"{what}: File exists")
        if m.master is not None or m.kind in ("bridge", "lo"):
            raise SimError(f"{what}: {'Device busy' if m.master else 'Invalid argument'}")
        # bridge_ioctl_add refuses a member with any AF_INET or AF_INET6
        # address, link-local included, when member_ifaddrs is 0.
        if self.sysctls.get("net.link.bridge.member_ifaddrs", "1") == "0" and (
                m.inet or m.inet6):
            raise SimError(f"{what}: Invalid argument")
        if br.members and m.mtu != br.mtu:
            raise SimError(f"{what}: Invalid argument")
        if not br.members:
            br.mtu = m.mtu
        br.members.append(member)
        br.member_stp[member] = False
        m.master = br.name
        if "PROMISC" not in m.flags:
            m.flags.append("PROMISC")

    def _deletem(self, br: IfState, member: str) -> None:
        if member not in br.members:
            raise SimError(f"ifconfig: BRDGDEL {member}: No such file or directory")
        br.members.remove(member)
        br.member_stp.pop(member, None)
        m = self.ifaces[member]
        m.master = None
        if "PROMISC" in m.flags:
            m.flags.remove("PROMISC")

    def _stp(self, br: IfState, member: str, on: bool) -> None:
        if member not in br.members:
            raise SimError("ifconfig: unable to get bridge flags: No such file or directory")
        br.member_stp[member] = on

    def _destroy(self, st: IfState) -> None:
        if st.kind not in _CLONERS:
            raise SimError("ifconfig: SIOCIFDESTROY: Invalid argument")
        names = [st.name]
        if st.kind == "epair":   # destroying one end takes the pair
            base = st.name[:-1]
            peer = base + ("b" if st.name.endswith("a") else "a")
            if peer in self.ifaces and self.ifaces[peer].kind == "epair":
                names.append(peer)
        for n in names:
            if self.ifaces[n].master:
                self._deletem(self.ifaces[self.ifaces[n].master], n)
            gone = self.ifaces.pop(n)
            for m in list(gone.members):
                self.ifaces[m].master = None
                if "PROMISC" in self.ifaces[m].flags:
                    self.ifaces[m].flags.remove("PROMISC")
            for o in self.ifaces.values():   # vlan_ifdetach: vlans lose their trunk
                if o.vlan_parent == n:
                    o.vlan_parent = None
            self._drop_routes(n)

    def _addr(self, st: IfState, family: str, rest: list[str], i: int) -> int:
        if i + 1 >= len(rest):
            raise SimError(f"ifconfig: '{family}' requires argument")
        addr = rest[i + 1]
        op = rest[i + 2] if i + 2 < len(rest) else "alias"
        if op not in ("alias", "-alias", "delete", "remove"):
            op, consumed = "alias", i + 1
        else:
            consumed = i + 2
        lst = st.inet if family == "inet" else st.inet6
        try:
            iface = ipaddress.ip_interface(addr)
        except ValueError:
            raise SimError(f"ifconfig: {addr}: bad value") from None
        if op == "alias":
            if (self.sysctls.get("net.link.bridge.member_ifaddrs", "1") == "0"
                    and st.master is not None):
                raise SimError("ifconfig: ioctl (SIOCAIFADDR): Invalid argument")
            if "/" not in addr:
                addr = f"{iface.ip}/{32 if family == 'inet' else 64}"
                iface = ipaddress.ip_interface(addr)
            for o in self.ifaces.values():
                if any(ipaddress.ip_interface(a).ip == iface.ip for a in o.inet + o.inet6):
                    if o is st:
                        return consumed
                    raise SimError("ifconfig: ioctl (SIOCAIFADDR): File exists")
            lst.append(str(iface))
            self._set_flag(st, "UP", True)   # in_control brings the interface up
        else:
            hit = [a for a in lst if ipaddress.ip_interface(a).ip == iface.ip]
            if not hit:
                raise SimError("ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address")
            lst.remove(hit[0])
            self._drop_routes(st.name)
        return consumed

    def _drop_routes(self, ifname: str) -> None:
        """Routes whose gateway is no longer on-link on their interface go."""
        st = self.ifaces.get(ifname)
        for dst, (gw, ifn) in list(self.routes.items()):
            if ifn != ifname:
                continue
            if st is None or not self._on_link(st, gw):
                del self.routes[dst]

    @staticmethod
    def _on_link(st: IfState, gw: str) -> bool:
        """Does st have an address whose prefix holds gw?  A link-local
        gateway's scope is st's own link, so any link-local of st will do."""
        ip, _, _ = gw.partition("%")
        gwa = ipaddress.ip_address(ip)
        addrs = st.inet if gwa.version == 4 else st.inet6
        return any(gwa in _unscoped(a).network for a in addrs)

    # ----- sysctl(8)
    def _sysctl(self, args: list[str]) -> str:
        if len(args) == 2 and args[0] == "-n":
            if args[1] not in self.sysctls:
                raise SimError(f"sysctl: unknown oid '{args[1]}'")
            return self.sysctls[args[1]] + "\n"
        if len(args) == 1 and "=" in args[0]:
            name, value = args[0].split("=", 1)
            if name not in self.sysctls:
                raise SimError(f"sysctl: unknown oid '{name}'")
            old, self.sysctls[name] = self.sysctls[name], value
            return f"{name}: {old} -> {value}\n"
        raise SimError("usage: sysctl [-n] name | name=value")

    # ----- route(8): get/add/delete of IPv4 and IPv6 gateway routes
    @staticmethod
    def _addr_of(text: str, v6: bool) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """route.c's getaddr: inet_aton for inet, getaddrinfo (which takes
        a %scope) for inet6; anything else is a bad address."""
        try:
            a = ipaddress.ip_address(text)
        except ValueError:
            a = None
        if a is None or a.version != (6 if v6 else 4) or (not v6 and "%" in text):
            raise SimError(f"route: bad address: {text}")
        return a

    def _dst(self, args: list[str], v6: bool) -> tuple[str, list[str]]:
        if args[:1] == ["-net"]:
            args = args[1:]
        if not args:
            raise SimError("usage: route [-n] command [-net] destination gateway")
        if args[0] == "default":
            return ("::/0" if v6 else "0.0.0.0/0"), args[1:]
        addr, _, plen = args[0].partition("/")
        self._addr_of(addr, v6)
        try:
            return str(ipaddress.ip_network(args[0], strict=False)), args[1:]
        except ValueError:
            raise SimError(f"route: bad address: {args[0]}") from None

    def _gateway(self, text: str, v6: bool) -> tuple[str, str] | None:
        """(gateway as the table shows it, interface it is on-link on)."""
        gw = self._addr_of(text, v6)
        if v6 and gw.is_link_local:
            scope = getattr(gw, "scope_id", None)
            if not scope:
                # sa6_embedscope: a link-local address means nothing
                # without its link.
                raise SimError("route: writing to routing socket: Invalid argument")
            st = self.ifaces.get(scope)
            if st is None:
                raise SimError(f"route: bad address: {text}")
            return (text, scope) if self._on_link(st, text) else None
        for st in self.ifaces.values():
            if self._on_link(st, str(gw)):
                return str(gw), st.name
        return None

    def _route(self, args: list[str]) -> str:
        if args[:1] == ["-n"]:
            args = args[1:]
        if not args:
            raise SimError("usage: route [-n] command [[modifiers] args]")
        cmd, rest = args[0], args[1:]
        v6 = rest[:1] == ["-inet6"]
        if rest[:1] in (["-inet6"], ["-inet"]):
            rest = rest[1:]
        dst, rest = self._dst(rest, v6)
        shown = "default" if dst in ("0.0.0.0/0", "::/0") else dst
        if cmd == "get":
            if dst not in self.routes:
                raise SimError("route: route has not been found")
            gw, ifn = self.routes[dst]
            mtu = self.ifaces[ifn].mtu
            return (f"   route to: {shown}\ndestination: {shown}\n       mask: default\n"
                    f"    gateway: {gw}\n        fib: 0\n  interface: {ifn}\n"
                    "      flags: <UP,GATEWAY,DONE,STATIC>\n"
                    " recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire\n"
                    f"       0         0         0         0      {mtu:4d}         1         0 \n")
        if cmd == "delete":
            if dst not in self.routes:
                raise SimError("route: writing to routing socket: No such process\n"
                               f"delete net {shown}: not in table")
            gw = self.routes.pop(dst)[0]
            return f"delete net {shown}: gateway {gw}\n"
        if cmd == "add" and len(rest) == 1:
            gw = rest[0]
            if dst in self.routes:
                raise SimError("route: writing to routing socket: File exists\n"
                               f"add net {shown}: gateway {gw}: route already in table")
            found = self._gateway(gw, v6)
            if found is not None:
                self.routes[dst] = found
                return f"add net {shown}: gateway {gw}\n"
            raise SimError("route: writing to routing socket: Network is unreachable\n"
                           f"add net {shown}: gateway {gw} fib 0: Network is unreachable")
        raise SimError("route: unsupported arguments in the stand-in: " + " ".join(args))

    # ----- netstat(1): the IPv4 and IPv6 routing tables
    def _netstat(self, args: list[str]) -> str:
        if args not in (["-rn", "-f", "inet"], ["-rn", "-f", "inet6"]):
            raise SimError("netstat: the stand-in knows only -rn -f inet|inet6")
        v6 = args[2] == "inet6"
        rows = []
        for dst, (gw, ifn) in self.routes.items():
            if (":" in dst) == v6:
                rows.append(("default" if dst in ("0.0.0.0/0", "::/0") else dst,
                             gw, "UGS", ifn))
        for idx, st in enumerate(self.ifaces.values(), start=1):
            for a in (st.inet6 if v6 else st.inet):
                ip, plen = a.split("/")
                iface = _unscoped(a)
                scope = f"%{st.name}" if "%" in ip else ""
                if iface.network.prefixlen < iface.max_prefixlen:
                    net = str(iface.network.network_address) + scope
                    rows.append((f"{net}/{plen}", f"link#{idx}", "U", st.name))
                rows.append((ip, f"link#{idx}", "UHS", "lo0"))
        if v6:
            out = ["Routing tables", "", "Internet6:",
                   f"{'Destination':<32} {'Gateway':<26} {'Flags':<9} {'Netif'} Expire"]
            out += [f"{d:<32} {g:<26} {f:<9} {i:>5}" for d, g, f, i in rows]
            return "\n".join(out) + "\n"
        out = ["Routing tables", "", "Internet:",
               f"{'Destination':<18} {'Gateway':<18} {'Flags':<9} {'Netif'} Expire"]
        out += [f"{d:<18} {g:<18} {f:<9} {i:>5}" for d, g, f, i in rows]
        return "\n".join(out) + "\n"

    # ----- output in ifconfig's format
    def status(self, name: str) -> str:
        st = self.ifaces[name]
        flags = 0
        for fname, bit in IFF_BITS:
            if fname in st.flags:
                flags |= bit
        if st.kind == "lo":
            flags |= 0x8
        lines = [f"{name}: flags={printb(flags, IFF_BITS)} metric 0 mtu {st.mtu}"]
        if st.description:
            lines.append(f"\tdescription: {st.description}")
        opts = {"bridge": "0", "tap": "80000<LINKSTATE>", "vlan": "0",
                "epair": "8<VLAN_MTU>"}.get(st.kind or "", None)
        if opts is not None:
            lines.append(f"\toptions={opts}")
        if st.ether and st.kind != "lo":
            lines.append(f"\tether {st.ether}")
        lines += [inet_line(a) for a in st.inet]
        for a in st.inet6:
            addr, plen = a.rsplit("/", 1)
            extra = ""
            if addr.startswith("fe80:") and "%" in addr:
                extra = f" scopeid 0x{list(self.ifaces).index(name) + 1:x}"
            lines.append(f"\tinet6 {addr} prefixlen {plen}{extra}")
        if st.kind == "bridge":
            lines += [
                f"\tid {st.ether} priority 32768 hellotime 2 fwddelay 15",
                "\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200",
                "\troot id 00:00:00:00:00:00 priority 32768 ifcost 0 port 0"]
            for port, m in enumerate(st.members, start=1):
                mflags = 0x143 | (0x4 if st.member_stp.get(m) else 0)
                lines.append(f"\tmember: {m} flags={printb(mflags, IFBIF_BITS)}")
                lines.append(f"\t        ifmaxaddr 0 port {port} priority 128 path cost 2000000"
                             + (" proto rstp\n\t        role disabled state disabled"
                                if st.member_stp.get(m) else ""))
        if st.groups:
            lines.append("\tgroups: " + " ".join(st.groups))
        if st.kind == "vlan":
            lines.append(f"\tvlan: {st.vlan_tag} vlanproto: 802.1q vlanpcp: 0 "
                         f"parent interface: {st.vlan_parent or '<none>'}")
        if st.kind in ("tap", "vlan", "epair", "ether"):
            lines.append("\tmedia: Ethernet autoselect")
            active = st.kind != "tap" or st.opened_by is not None
            lines.append(f"\tstatus: {'active' if active else 'no carrier'}")
        lines.append("\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>")
        if st.kind == "tap" and st.opened_by is not None:
            lines.append(f"\tOpened by PID {st.opened_by}")
        return "\n".join(lines) + "\n"

    # ----- test helpers (what a process such as bhyve would do)
    def open_tap(self, name: str, pid: int) -> None:
        st = self.ifaces[name]
        st.opened_by = pid
        if self.sysctls.get("net.link.tap.up_on_open") == "1":
            self._set_flag(st, "UP", True)
        if "RUNNING" not in st.flags:
            st.flags.append("RUNNING")
