"""Names and identifiers, checked the same way everywhere they are taken:
interface names, MAC addresses, UUIDs, ids, and the tap name of a port.

Each check returns the value (normalised where it says so) or raises
`error`, InvalidName unless the caller's layer has its own error type
(DomainConfigError, the network driver's InvalidName, the port API's
ValidationError), so a refusal reaches the user the way that layer speaks.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

# FreeBSD's and Linux's IFNAMSIZ, the NUL included: at most 15 characters.
IFNAMSIZ = 16
IFNAME_MAX = IFNAMSIZ - 1
# Nova's devname: "tap" and the first 11 characters of the port id
# (nova.network.model.NIC_NAME_LEN is 14); os-vif and Neutron agree.
TAP_PREFIX = "tap"
TAP_ID_CHARS = 11
# A network's bridge: "bnb" and 12 hex digits of its UUID (Neutron's
# Linux bridge agent names its bridges "brq" + 11 characters).
BRIDGE_PREFIX = "bnb"
BRIDGE_ID_CHARS = IFNAME_MAX - len(BRIDGE_PREFIX)

# A letter first, as FreeBSD names interfaces (driver, then unit), and
# never a leading '-', which ifconfig(8) would read as an option.
_IFNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_UUID_HEX_RE = re.compile(r"[0-9a-fA-F]{32}")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

ErrorType = type[Exception]


class InvalidName(ValueError):
    """A name, address or identifier that is refused."""


def check_ifname(name: Any, what: str = "interface name",
                 error: ErrorType = InvalidName) -> str:
    """An interface name that fits IFNAMSIZ and ifconfig's argv."""
    if not isinstance(name, str) or not name:
        raise error(f"{what} must be a non-empty interface name")
    if len(name) > IFNAME_MAX:
        raise error(f"{what} {name!r} is longer than {IFNAME_MAX} characters "
                    f"(IFNAMSIZ {IFNAMSIZ} with the NUL, FreeBSD and Linux)")
    if not _IFNAME_RE.fullmatch(name):
        raise error(f"{what} {name!r} must start with a letter and may only "
                    "hold letters, digits, '_', '.' and '-'")
    return name


def check_mac(mac: Any, what: str = "MAC address",
              error: ErrorType = InvalidName) -> str:
    """A unicast, non-zero MAC address, colon- or dash-separated: returned
    lower case with colons."""
    norm = mac.replace("-", ":").lower() if isinstance(mac, str) else ""
    if not _MAC_RE.fullmatch(norm):
        raise error(f"{what} must be a MAC address xx:xx:xx:xx:xx:xx, "
                    f"not {mac!r}")
    if int(norm[:2], 16) & 1:
        raise error(f"{what} {norm} is multicast; a port needs a unicast one")
    if norm == "00:00:00:00:00:00":
        raise error(f"{what} must not be all zeroes")
    return norm


def check_uuid(value: Any, what: str = "UUID",
               error: ErrorType = InvalidName) -> str:
    """A UUID, 8-4-4-4-12 hex or, as Keystone writes project ids, 32 hex
    digits: returned in the 8-4-4-4-12 form, lower case."""
    if isinstance(value, str) and _UUID_HEX_RE.fullmatch(value):
        value = "-".join((value[:8], value[8:12], value[12:16], value[16:20],
                          value[20:]))
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        raise error(f"{what} must be a UUID (8-4-4-4-12 hex), not {value!r}")
    return value.lower()


def check_id(ident: Any, what: str = "id",
             error: ErrorType = InvalidName) -> str:
    """An id that may end up in interface names, descriptions and file
    names: 1-64 of letters, digits, '_' and '-', not starting with '_'
    or '-'."""
    if not isinstance(ident, str) or not _ID_RE.fullmatch(ident):
        raise error(f"{what} {ident!r} must be 1-64 characters of letters, "
                    "digits, '_' and '-', starting with a letter or digit")
    return ident


def tap_name(port_id: str, error: ErrorType = InvalidName) -> str:
    """The tap of a port, as Nova names it: 'tap' + the first 11
    characters of the port id (tap3f2a9c1e-7b)."""
    check_id(port_id, "port id", error)
    return check_ifname(TAP_PREFIX + port_id[:TAP_ID_CHARS], error=error)


def bridge_name(network_id: str, error: ErrorType = InvalidName) -> str:
    """The bridge of a network on every node (ML2 tells Nova the same name
    in the port's binding): 'bnb' + the first 12 hex digits of a UUID
    (bnb3f2a9c1e7b4d), 'bnb' + a short id as it is (bnbpub), and for a
    longer id that is not a UUID, its first 8 characters and 4 hex digits
    of its hash, so that two ids sharing a prefix get two bridges."""
    check_id(network_id, "network id", error)
    body = network_id.replace("-", "").replace("_", "")
    if len(body) > BRIDGE_ID_CHARS and not _UUID_RE.fullmatch(network_id):
        digest = hashlib.sha1(network_id.encode()).hexdigest()
        body = body[:BRIDGE_ID_CHARS - 4] + digest[:4]
    return check_ifname(BRIDGE_PREFIX + body[:BRIDGE_ID_CHARS], error=error)
