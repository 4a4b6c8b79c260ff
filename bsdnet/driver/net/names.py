"""The network driver's interface names and ownership marks.

Names are checked by bsdnet.common.names (IFNAMSIZ, a small safe
alphabet), raising this driver's InvalidName.
"""

from __future__ import annotations

import hashlib
import re

from bsdnet.common import names
from bsdnet.common.names import IFNAME_MAX

from .errors import InvalidName

#: Interface group (FreeBSD) naming everything bsdnet makes.  Group names may
#: not end in a digit (ifconfig(8)'s setifgroup rule).
OWNER_GROUP = "bsdnet"
#: Prefix of the description every bsdnet interface carries.
MARK_PREFIX = "bsdnet"


def check_ifname(name: str) -> str:
    """Return name if it is a usable interface name, else raise InvalidName."""
    return names.check_ifname(name, error=InvalidName)


def check_id(ident: str, what: str = "id") -> str:
    """Network and port ids end up in names, descriptions and file names."""
    return names.check_id(ident, what, error=InvalidName)


def check_mac(mac: str) -> str:
    return names.check_mac(mac, error=InvalidName)


def _fit(prefix: str, ident: str) -> str:
    """prefix + ident, shortened with a hash when it would not fit."""
    body = re.sub(r"[^A-Za-z0-9]", "", ident)
    room = IFNAME_MAX - len(prefix)
    if len(body) <= room:
        return prefix + body
    digest = hashlib.sha1(ident.encode()).hexdigest()
    # Nova and Neutron cut the id at 11 characters; keep that readable
    # start and spend what is left on a hash so two ids sharing a prefix
    # do not collide.
    keep = room - 4
    return prefix + body[:keep] + digest[:4]


def bridge_name(network_id: str) -> str:
    """Default bridge name of a network (bsdnet.common.names)."""
    return names.bridge_name(network_id, error=InvalidName)


def tap_name(port_id: str) -> str:
    """Default tap name of a port: Nova's devname (bsdnet.common.names)."""
    return names.tap_name(port_id, error=InvalidName)


def vlan_name(uplink: str, tag: int) -> str:
    """VLAN interface name: 'uplink.tag' (FreeBSD's own style) when it fits."""
    name = f"{uplink}.{tag}"
    if len(name) <= IFNAME_MAX:
        return check_ifname(name)
    return check_ifname(_fit("bnv", f"{uplink}{tag}")[: IFNAME_MAX - 5] + f".{tag}")


def make_mark(kind: str, **fields: str) -> str:
    """Description naming what an interface is for: 'bsdnet kind=tap port=..'."""
    parts = [MARK_PREFIX, f"kind={kind}"]
    parts += [f"{k}={v}" for k, v in sorted(fields.items())]
    return " ".join(parts)


def parse_mark(description: str | None) -> dict[str, str] | None:
    """The fields of a bsdnet description, or None when it is not ours."""
    if not description:
        return None
    words = description.split()
    if not words or words[0] != MARK_PREFIX:
        return None
    out: dict[str, str] = {}
    for w in words[1:]:
        key, sep, val = w.partition("=")
        if sep:
            out[key] = val
    return out if "kind" in out else None
