"""Stand-ins the agent/fabric tests share: a FreeBSD kernel that also
answers the ARP dump, and the agent and UDP socket the Watcher calls."""
from __future__ import annotations

from bsdnet.routesock.layout import CONSTANTS as C
from routesock.fakekernel import FakeKernel

MAC1, MAC2 = "02:00:5e:00:00:01", "02:00:5e:00:00:02"


class ArpKernel(FakeKernel):
    """FakeKernel that also answers the ARP dump."""

    def __init__(self, arp: bytes) -> None:
        super().__init__()
        self.arp = arp

    def dump(self, what: int, arg: int) -> bytes:
        if what == C["NET_RT_FLAGS"]:
            self.sysctl_calls.append((what, arg))
            return self.arp
        return super().dump(what, arg)


class FakeAgent:
    def __init__(self):
        self.calls = []

    def host_link(self, name):
        self.calls.append(("link", name))

    def fabric_address(self, addr):
        self.calls.append(("address", addr))

    def fabric_next_hop(self, what, node=None):
        self.calls.append(("nexthop", node))


class FakeUdp:
    def __init__(self):
        self.sent = []

    def sendto(self, data, addr):
        self.sent.append(addr[0])

    def close(self):
        pass


def nexthops(agent):
    """The fabric_next_hop calls' nodes (fabric_address is called on
    every fabric change and ignored by the agent when equal)."""
    return [c[1] for c in agent.calls if c[0] == "nexthop"]
