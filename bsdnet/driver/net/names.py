"""Interface names and ownership marks.

FreeBSD's IFNAMSIZ is 16 bytes including the NUL, so names have at most 15
characters (Linux has the same limit).  We refuse anything outside a small
safe alphabet even though argv lists make shell metacharacters harmless: a
name that starts with '-' would still be read by ifconfig as an option, and
odd names confuse every operator tool downstream.
"""

from __future__ import annotations

import hashlib
import re

from .errors import InvalidName

IFNAMSIZ = 16
MAX_IFNAME = IFNAMSIZ - 1
#: Interface group (FreeBSD) naming everything bsdnet makes.  Group names may
#: not end in a digit (ifconfig(8)'s setifgroup rule).
OWNER_GROUP = "bsdnet"
#: Prefix of the description every bsdnet interface carries.
MARK_PREFIX = "bsdnet"

_IFNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*\Z")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}\Z")


def check_ifname(name: str) -> str:
    """Return name if it is a usable interface name, else raise InvalidName."""
    if not isinstance(name, str) or not name:
        raise InvalidName("interface name is empty")
    if len(name) > MAX_IFNAME:
        raise InvalidName(
            f"interface name {name!r} is {len(name)} characters; "
            f"FreeBSD and Linux allow at most {MAX_IFNAME} (IFNAMSIZ {IFNAMSIZ})")
    if not _IFNAME_RE.match(name):
        raise InvalidName(
            f"interface name {name!r} must start with a letter and hold only "
            "letters, digits, '_', '.' and '-'")
    return name


def check_id(ident: str, what: str = "id") -> str:
    """Network and port ids end up in names, descriptions and file names."""
    if not isinstance(ident, str) or not _ID_RE.match(ident):
        raise InvalidName(
            f"{what} {ident!r} must be 1-64 characters of letters, digits, "
            "'_' and '-', starting with a letter or digit")
    return ident


def check_mac(mac: str) -> str:
    mac = mac.lower()
    if not _MAC_RE.match(mac):
        raise InvalidName(f"MAC address {mac!r} is not of the form aa:bb:cc:dd:ee:ff")
    if int(mac[:2], 16) & 1:
        raise InvalidName(f"MAC address {mac} is multicast; a port needs a unicast one")
    return mac


def _fit(prefix: str, ident: str) -> str:
    """prefix + ident, shortened with a hash when it would not fit."""
    body = re.sub(r"[^A-Za-z0-9]", "", ident)
    room = MAX_IFNAME - len(prefix)
    if len(body) <= room:
        return prefix + body
    digest = hashlib.sha1(ident.encode()).hexdigest()
    # Nova and Neutron cut the id at 11 characters; keep that readable
    # start and spend what is left on a hash so two ids sharing a prefix
    # do not collide.
    keep = room - 4
    return prefix + body[:keep] + digest[:4]


def bridge_name(network_id: str) -> str:
    """Default bridge name of a network: 'bnb' + id (Neutron's 'brq' idea)."""
    return check_ifname(_fit("bnb", check_id(network_id, "network id")))


def tap_name(port_id: str) -> str:
    """Default tap name of a port: ('tap' + id)[:14], Nova's devname
    (nova.network.model.NIC_NAME_LEN), e.g. tap3f2a9c1e-7b."""
    check_id(port_id, "port id")
    return check_ifname(("tap" + port_id)[:14])


def vlan_name(uplink: str, tag: int) -> str:
    """VLAN interface name: 'uplink.tag' (FreeBSD's own style) when it fits."""
    name = f"{uplink}.{tag}"
    if len(name) <= MAX_IFNAME:
        return check_ifname(name)
    return check_ifname(_fit("bnv", f"{uplink}{tag}")[: MAX_IFNAME - 5] + f".{tag}")


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
