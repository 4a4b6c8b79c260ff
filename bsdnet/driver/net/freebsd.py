"""FreeBSD backend: everything through ifconfig(8), sysctl(8) and route(8).

Each creation is one ifconfig invocation that creates, marks, names and
brings the interface up, e.g.

    ifconfig tap create group bsdnet description 'bsdnet kind=tap ..' \\
        name tapabc mtu 1500 up

The group and description come before `name` on purpose: if the rename
fails (the name was taken meanwhile), the leftover tapN already carries
bsdnet's mark and the cleanup pass finds and removes it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import shlex

from .backend import Backend
from .errors import BackendError
from .ifconfig_parse import parse_group, parse_interface, parse_list
from .model import IfState
from .runner import Runner

LOG = logging.getLogger(__name__)


class FreeBSDBackend(Backend):
    name = "freebsd"

    def __init__(self, runner: Runner):
        self.runner = runner

    # ----- helpers
    def _run(self, argv: list[str]) -> str:
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise BackendError(shlex.join(argv), (err or out).strip() or f"exit status {rc}")
        return out

    def ifconfig(self, *args: str) -> str:
        return self._run(["ifconfig", *args])

    # ----- reads
    def list_names(self) -> list[str]:
        return parse_list(self.ifconfig("-l"))

    def get(self, name: str, detail: bool = True) -> IfState | None:
        rc, out, err = self.runner(["ifconfig", name])
        if rc != 0:
            if "does not exist" in err:
                return None
            raise BackendError(f"ifconfig {name}", err.strip())
        st = parse_interface(out)
        if st.kind != "bridge":
            st.master = self._bridge_holding(name)
        return st

    def _bridge_holding(self, name: str) -> str | None:
        """ifconfig shows membership only on the bridge's side, so ask each
        bridge (every if_bridge is in the driver group 'bridge')."""
        for br in self.group_members("bridge"):
            rc, out, _ = self.runner(["ifconfig", br])
            if rc == 0 and name in parse_interface(out).members:
                return br
        return None

    def group_members(self, group: str) -> list[str]:
        return parse_group(self.ifconfig("-g", group))

    def member_ifaddrs(self) -> bool:
        # The oid exists from FreeBSD 15 on; before that members could
        # always carry addresses.
        rc, out, _ = self.runner(["sysctl", "-n", "net.link.bridge.member_ifaddrs"])
        return rc != 0 or out.strip() != "0"

    def default_route(self) -> tuple[str, str] | None:
        rc, out, _ = self.runner(["route", "-n", "get", "default"])
        if rc != 0:
            return None
        gw = re.search(r"^\s*gateway: (\S+)", out, re.M)
        ifn = re.search(r"^\s*interface: (\S+)", out, re.M)
        if not gw or not ifn:
            return None
        return gw[1], ifn[1]

    # ----- creation
    def create_bridge(self, name: str, description: str, group: str) -> None:
        self.ifconfig("bridge", "create", "group", group, "description", description,
                      "name", name, "up")

    def create_tap(self, name: str, description: str, group: str,
                   mtu: int | None, ether: str | None) -> None:
        argv = ["tap", "create", "group", group, "description", description, "name", name]
        if mtu:
            argv += ["mtu", str(mtu)]
        if ether:
            argv += ["ether", ether]
        # Brought up here rather than relying on net.link.tap.up_on_open.
        self.ifconfig(*argv, "up")

    def create_vlan(self, name: str, parent: str, tag: int,
                    description: str, group: str) -> None:
        self.ifconfig("vlan", "create", "vlan", str(tag), "vlandev", parent,
                      "group", group, "description", description, "name", name, "up")

    def create_epair(self, name: str, description: str, group: str) -> tuple[str, str]:
        made = self.ifconfig("epair", "create", "group", group,
                             "description", description).strip()
        base = made[:-1]   # ifconfig prints the 'a' end: epair3a
        a, b = f"{name}a", f"{name}b"
        self.ifconfig(f"{base}b", "group", group, "description", description, "name", b, "up")
        self.ifconfig(made, "name", a, "up")
        return a, b

    def destroy(self, name: str) -> None:
        self.ifconfig(name, "destroy")

    # ----- changes
    def mark(self, name: str, description: str, group: str) -> None:
        self.ifconfig(name, "group", group, "description", description)

    def set_up(self, name: str) -> None:
        self.ifconfig(name, "up")

    def set_mtu(self, name: str, mtu: int) -> None:
        self.ifconfig(name, "mtu", str(mtu))

    def set_ether(self, name: str, mac: str) -> None:
        self.ifconfig(name, "ether", mac)

    def add_member(self, bridge: str, member: str) -> None:
        self.ifconfig(bridge, "addm", member)

    def del_member(self, bridge: str, member: str) -> None:
        self.ifconfig(bridge, "deletem", member)

    def set_stp(self, bridge: str, member: str, on: bool) -> None:
        self.ifconfig(bridge, "stp" if on else "-stp", member)

    def add_address(self, name: str, cidr: str) -> None:
        self.ifconfig(name, "inet6" if ":" in cidr else "inet", cidr, "alias")

    def del_address(self, name: str, cidr: str) -> None:
        self.ifconfig(name, "inet6" if ":" in cidr else "inet", cidr.split("/")[0], "-alias")

    def gateway_routes(self, name: str) -> list[tuple[str, str]]:
        out = []
        for fam in ("inet", "inet6"):
            out += parse_netstat_gateways(self._run(["netstat", "-rn", "-f", fam]), name)
        return out

    def replace_route(self, dst: str, gateway: str) -> None:
        v6 = ":" in dst
        # route(8) reads every address as inet unless told -inet6.
        fam = ["-inet6"] if v6 else []
        target = ["default"] if dst in ("0.0.0.0/0", "::/0") else ["-net", dst]
        _, sep, scope = gateway.partition("%")
        if sep:
            # The kernel takes a link-local gateway only on an interface with
            # its own link-local address; a fresh bridge has IPv6 disabled
            # (nd6 IFDISABLED) and so none until told.
            self.ifconfig(scope, "inet6", "-ifdisabled", "auto_linklocal")
        self.runner(["route", "-n", "delete", *fam, *target])   # may already be gone
        self._run(["route", "-n", "add", *fam, *target, gateway])


def parse_netstat_gateways(text: str, ifname: str) -> list[tuple[str, str]]:
    """Rows of `netstat -rn -f inet` or `-f inet6` with the G flag leaving
    through ifname.

    Columns are Destination, Gateway, Flags, Netif[, Expire] (netstat's
    route.c); 'default' is 0.0.0.0/0 (::/0 in the Internet6 table) and a
    destination without a mask is a host route.  A link-local gateway is
    printed with its scope, fe80::1%em0, and kept so."""
    out = []
    v6 = False
    for line in text.splitlines():
        if line.startswith("Internet"):
            v6 = line.startswith("Internet6")
        cols = line.split()
        if len(cols) < 4 or "G" not in cols[2] or cols[3] != ifname:
            continue
        if "%" in cols[0]:
            continue    # a link-scoped destination belongs to its link
        dst = ("::/0" if v6 else "0.0.0.0/0") if cols[0] == "default" else cols[0]
        if "/" not in dst:
            dst += "/128" if v6 else "/32"
        try:
            out.append((str(ipaddress.ip_network(dst, strict=False)), cols[1]))
        except ValueError:
            continue    # e.g. FreeBSD's abbreviated "10.20/16": not ours to guess
    return out
