"""Parse FreeBSD ifconfig(8) output into IfState.

The formats are sbin/ifconfig's: the status header printed by status()
("NAME: flags=HEX<BITS> metric N mtu N"), "\\tdescription: ...",
af_link's "\\tether", af_inet's "\\tinet A netmask 0xMASK broadcast B",
af_inet6's "\\tinet6 A prefixlen N", ifbridge.c's "\\tmember: IF flags=..."
block, ifvlan.c's "\\tvlan: TAG vlanproto: P vlanpcp: N parent interface: IF",
ifgroup.c's "\\tgroups: a b" and if_tap's "\\tOpened by PID N".  Unknown
lines are ignored: media, nd6 options, capabilities vary by driver.
"""

from __future__ import annotations

import ipaddress
import re

from .model import IfState

_HEADER = re.compile(
    r"^(?P<name>[^:\s]+): flags=(?P<hex>[0-9a-f]+)<(?P<bits>[^>]*)>"
    r"(?: metric (?P<metric>\d+))?(?: mtu (?P<mtu>\d+))?")
_INET = re.compile(r"^inet (?P<addr>\S+) netmask (?P<mask>0x[0-9a-f]+)")
_INET6 = re.compile(r"^inet6 (?P<addr>\S+) prefixlen (?P<plen>\d+)")
_MEMBER = re.compile(r"^member: (?P<name>\S+) flags=[0-9a-f]+<(?P<bits>[^>]*)>")
_VLAN = re.compile(
    r"^vlan: (?P<tag>\d+)(?: vlanproto: \S+)?(?: vlanpcp: \d+)?"
    r" parent interface: (?P<parent>\S+)")
_OPENED = re.compile(r"^Opened by PID (?P<pid>\d+)")

#: ifconfig prints a driver group for every cloned interface; it tells us
#: the kind when nothing else does.
_KIND_GROUPS = ("bridge", "tap", "vlan", "epair", "lo")


def mask_to_prefixlen(mask: str) -> int:
    value = int(mask, 16)
    plen = bin(value).count("1")
    if value != ((1 << 32) - 1) ^ ((1 << (32 - plen)) - 1):
        raise ValueError(f"non-contiguous netmask {mask}")
    return plen


def prefixlen_to_mask(plen: int) -> str:
    return "0x%08x" % (((1 << 32) - 1) ^ ((1 << (32 - plen)) - 1))


def parse_interface(text: str) -> IfState:
    """Parse the output of `ifconfig IF` (one interface)."""
    states = parse_all(text)
    if len(states) != 1:
        raise ValueError(f"expected one interface in ifconfig output, got {len(states)}")
    return states[0]


def parse_all(text: str) -> list[IfState]:
    """Parse `ifconfig -a` style output (any number of interfaces)."""
    out: list[IfState] = []
    cur: IfState | None = None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if not raw[0].isspace():
            m = _HEADER.match(raw)
            if not m:
                raise ValueError(f"not an ifconfig header line: {raw!r}")
            cur = IfState(name=m["name"],
                          flags=[b for b in m["bits"].split(",") if b],
                          mtu=int(m["mtu"] or 0))
            out.append(cur)
            continue
        if cur is None:
            raise ValueError(f"ifconfig output starts with an indented line: {raw!r}")
        _parse_line(cur, raw.strip())
    for st in out:
        if st.kind is None:
            st.kind = next((g for g in _KIND_GROUPS if g in st.groups), "ether")
    return out


def _parse_line(st: IfState, line: str) -> None:
    if line.startswith("description: "):
        st.description = line[len("description: "):]
    elif line.startswith("ether "):
        st.ether = line.split()[1].lower()
    elif m := _INET.match(line):
        st.inet.append(f"{m['addr']}/{mask_to_prefixlen(m['mask'])}")
    elif m := _INET6.match(line):
        st.inet6.append(f"{m['addr']}/{m['plen']}")
    elif m := _MEMBER.match(line):
        st.members.append(m["name"])
        st.member_stp[m["name"]] = "STP" in m["bits"].split(",")
        st.kind = "bridge"
    elif line.startswith("id ") and " hellotime " in line:
        st.kind = "bridge"
    elif m := _VLAN.match(line):
        st.vlan_tag = int(m["tag"])
        st.vlan_parent = None if m["parent"] == "<none>" else m["parent"]
        st.kind = "vlan"
    elif line.startswith("groups:"):
        st.groups = line.split()[1:]
    elif m := _OPENED.match(line):
        st.opened_by = int(m["pid"])


def parse_list(text: str) -> list[str]:
    """`ifconfig -l`: names on one line, separated by spaces."""
    return text.split()


def parse_group(text: str) -> list[str]:
    """`ifconfig -g GROUP`: one member name per line (ifconfig's printgroup)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def inet_line(cidr: str) -> str:
    """af_inet's status line for an address, as ifconfig prints it."""
    iface = ipaddress.ip_interface(cidr)
    net = iface.network
    return (f"\tinet {iface.ip} netmask {prefixlen_to_mask(net.prefixlen)}"
            f" broadcast {net.broadcast_address}")
