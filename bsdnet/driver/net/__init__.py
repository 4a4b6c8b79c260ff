"""bsdnet's network driver: bridges, taps and VLANs with FreeBSD's ifconfig,
the same through pyroute2 on Linux, and dnsmasq for DHCP.

Entry point for the compute driver (the `bridge` VIF type)::

    from bsdnet.driver.net import get_driver, Network, Port

    drv = get_driver({"backend": "freebsd", "state_dir": "/var/db/bsdnet/net"})
    drv.ensure_network(Network(id="net1", uplink="em0", vlan=100, mtu=1500))
    info = drv.plug_port(Port(id=port_id, network_id="net1", mac=mac),
                         create=False)      # libvirt made the tap
    # info == {"port": .., "tap": ("tap" + id)[:14], "bridge": "bnb<net>", "mtu": ..}
    drv.unplug_port(port_id)
    drv.delete_network("net1")              # refuses while ports remain

All calls are idempotent and may be repeated after a crash.  Names to put
in the domain XML before plugging: `bridge_name(network_id)` (or
Network.bridge) for <source bridge=..>, `tap_name(port_id)` (or Port.tap)
for <target dev=..>.  create=True makes the tap; create=False adopts the
one libvirt's bhyve driver made (marks it, fixes its MTU, brings it up,
adds it to the bridge; unplug then leaves it for libvirt to destroy).

After a restart, `drv.reconcile()` re-ensures every network and port the
state directory remembers and removes bsdnet-marked interfaces nobody
wants or uses (`drv.cleanup()` alone does only the latter).  Errors are
NetDriverError subclasses: InvalidName, NotOwned (a name exists without
bsdnet's mark), MtuMismatch, AddressConflict (net.link.bridge.member_ifaddrs
=0 and an uplink with addresses), Unsupported (no 802.1Q), BackendError.
`drv.backend` is the raw Backend (create_bridge, mark, destroy, ...) for
callers with their own kinds of interface.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from .backend import Backend
from .errors import (AddressConflict, BackendError, InvalidName, MtuMismatch,
                     NetDriverError, NotOwned, Unsupported)
from .model import IfState, Network, Port
from .names import OWNER_GROUP, bridge_name, tap_name, vlan_name
from .network import NetworkDriver

__all__ = [
    "get_driver", "make_backend", "NetworkDriver", "Backend", "Network", "Port",
    "IfState", "bridge_name", "tap_name", "vlan_name", "NetDriverError",
    "InvalidName", "NotOwned", "MtuMismatch", "AddressConflict", "Unsupported",
    "BackendError",
]

DEFAULTS: dict[str, Any] = {
    "backend": "auto",          # freebsd | linux | auto (by uname)
    "state_dir": "/var/db/bsdnet/net",
    "dhcp": True,               # run dnsmasq for networks with dhcp=True
    "dnsmasq": None,            # path; default per OS
    "group": OWNER_GROUP,
    "tools": None,              # FreeBSD: {"ifconfig": [argv prefix], ...}
}


def _conf(conf: Mapping[str, Any] | Any | None) -> dict[str, Any]:
    out = dict(DEFAULTS)
    if conf is None:
        return out
    for key in DEFAULTS:
        if isinstance(conf, Mapping):
            if key in conf:
                out[key] = conf[key]
        elif hasattr(conf, key):      # an oslo.config group works too
            out[key] = getattr(conf, key)
    return out


def make_backend(kind: str = "auto", tools: dict[str, list[str]] | None = None,
                 group: str = OWNER_GROUP) -> Backend:
    if kind == "auto":
        kind = "freebsd" if os.uname().sysname == "FreeBSD" else "linux"
    if kind == "freebsd":
        from .freebsd import FreeBSDBackend
        from .runner import SubprocessRunner
        return FreeBSDBackend(SubprocessRunner(tools))
    if kind == "linux":
        from .linux import LinuxBackend
        return LinuxBackend(groups=(group,))
    raise NetDriverError(f"unknown network backend {kind!r} (freebsd, linux or auto)")


def get_driver(conf: Mapping[str, Any] | Any | None = None,
               backend: Backend | None = None) -> NetworkDriver:
    """Build the network driver from a dict (or oslo.config group) of
    DEFAULTS' keys.  `backend` overrides conf['backend'] (tests, dry runs)."""
    from .dnsmasq import DEFAULT_DNSMASQ, DnsmasqManager
    from .state import StateStore

    c = _conf(conf)
    be = backend or make_backend(c["backend"], c["tools"], c["group"])
    store = StateStore(c["state_dir"]) if c["state_dir"] else StateStore(None)
    dhcp = None
    if c["dhcp"] and c["state_dir"]:
        dhcp = DnsmasqManager(os.path.join(c["state_dir"], "dhcp"),
                              c["dnsmasq"] or DEFAULT_DNSMASQ)
    return NetworkDriver(be, store, dhcp, c["group"])
