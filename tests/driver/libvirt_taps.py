"""Stand-ins for what libvirt's bhyve driver does to taps, for test:///default
(which makes none): when a domain starts, each ``<interface type='bridge'>``
gets its tap, on its bridge, with the guest MAC's first octet set to fe; when
the domain stops, the tap goes.  ``TapConn`` wraps a libvirt connection so
the compute driver runs unchanged against it.

Two tap makers: ``FreeBSDTaps`` runs libvirt's ifconfig steps against the
FreeBSD stand-in; ``LinuxVethTaps`` makes a veth named like the tap whose
peer, in a client namespace and with the guest's MAC, plays the guest (a
tap cannot carry a client without a process behind it).
"""

from __future__ import annotations

import subprocess
from typing import Any, Protocol

from bsdnet.driver.domain import Domain


class TapMaker(Protocol):
    def make(self, tap: str, bridge: str, mac: str) -> None: ...

    def remove(self, tap: str) -> None: ...


class TapDom:
    """A libvirt domain whose start and stop make and remove its taps."""

    def __init__(self, real: Any, taps: TapMaker, skip: set[str]) -> None:
        self.real, self.taps, self.skip = real, taps, skip

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _nics(self) -> list[tuple[str, str, str]]:
        model = Domain.from_xml(self.real.XMLDesc(0))
        return [(i.target_dev, i.source_bridge, i.mac) for i in model.interfaces
                if i.target_dev and i.source_bridge and i.mac]

    def create(self, *args: Any) -> Any:
        ret = self.real.create(*args)
        for tap, bridge, mac in self._nics():
            if tap not in self.skip:
                self.taps.make(tap, bridge, mac)
        return ret

    def _gone(self) -> None:
        for tap, _bridge, _mac in self._nics():
            self.taps.remove(tap)

    def destroy(self, *args: Any) -> Any:
        self._gone()
        return self.real.destroy(*args)

    def shutdown(self, *args: Any) -> Any:
        # test:///default stops the domain at once, as bhyve does on ACPI poweroff.
        self._gone()
        return self.real.shutdown(*args)


class TapConn:
    """A libvirt connection handing out TapDoms.  ``skip``: tap names libvirt
    'fails' to make (to test the driver's error path)."""

    def __init__(self, real: Any, taps: TapMaker) -> None:
        self.real, self.taps = real, taps
        self.skip: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _wrap(self, dom: Any) -> TapDom:
        return TapDom(dom, self.taps, self.skip)

    def defineXMLFlags(self, *args: Any) -> TapDom:  # noqa: N802 - libvirt's name
        return self._wrap(self.real.defineXMLFlags(*args))

    def lookupByUUIDString(self, uuid: str) -> TapDom:  # noqa: N802
        return self._wrap(self.real.lookupByUUIDString(uuid))

    def listAllDomains(self, *args: Any) -> list[TapDom]:  # noqa: N802
        return [self._wrap(d) for d in self.real.listAllDomains(*args)]


class FreeBSDTaps:
    """libvirt's bhyve driver's tap steps (virNetDevTapCreateInBridgePort,
    virNetDevTapDelete), as ifconfig commands on the FreeBSD stand-in."""

    def __init__(self, host: Any) -> None:
        self.host = host

    def _ifconfig(self, *args: str) -> str:
        rc, out, err = self.host.run(["ifconfig", *args])
        if rc != 0:
            raise RuntimeError(f"ifconfig {' '.join(args)}: {err.strip()}")
        return out

    def make(self, tap: str, bridge: str, mac: str) -> None:
        unit = self._ifconfig("tap", "create").strip()
        self._ifconfig(unit, "name", tap)
        self._ifconfig(tap, "ether", "fe" + mac[2:])
        self._ifconfig(bridge, "addm", tap)
        self._ifconfig(tap, "up")
        self.host.open_tap(tap, 4242)  # bhyve holds it open

    def remove(self, tap: str) -> None:
        if tap in self.host.ifaces:
            self._ifconfig(tap, "destroy")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class LinuxVethTaps:
    """In namespace ``ns``, a veth named like the tap on the bridge; its peer
    (``peer_of(tap)``) in ``client_ns`` carries the guest MAC and is where a
    DHCP client runs as the guest would."""

    def __init__(self, ns: str, client_ns: str, peers: dict[str, str]) -> None:
        self.ns, self.client_ns, self.peers = ns, client_ns, peers

    def make(self, tap: str, bridge: str, mac: str) -> None:
        peer = self.peers[tap]
        _ip("-n", self.ns, "link", "add", tap, "address", "fe" + mac[2:], "type", "veth",
            "peer", "name", peer, "address", mac, "netns", self.client_ns)
        _ip("-n", self.ns, "link", "set", tap, "master", bridge, "up")
        _ip("-n", self.client_ns, "link", "set", peer, "up")

    def remove(self, tap: str) -> None:
        subprocess.run(["ip", "-n", self.ns, "link", "del", tap], capture_output=True)
