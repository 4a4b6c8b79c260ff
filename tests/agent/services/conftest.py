"""Fixtures shared by the agent service tests: sample objects and a veth
pair with one end in a throw-away network namespace."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from typing import Iterator

import pytest

from bsdnet.agent import portstore


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True,
                          timeout=kw.pop("timeout", 30), **kw)


def sample_network(third: int = 1, **over) -> portstore.Network:
    d = {"id": str(uuid.uuid4()), "name": "net", "mtu": 1400,
         "dns-domain": "example.org",
         "subnets": [{"cidr": f"10.{third}.0.0/24",
                      "gateway": f"10.{third}.0.1",
                      "dns-servers": [f"10.{third}.0.2", "192.0.2.53"],
                      "host-routes": [{"destination": "192.168.5.0/24",
                                       "nexthop": f"10.{third}.0.254"}]}]}
    d.update(over)
    return portstore.Network.from_json(d)


def sample_port(net: portstore.Network, ip: str, **over) -> portstore.Port:
    d = {"id": str(uuid.uuid4()), "instance-id": str(uuid.uuid4()),
         "vn-id": net.id, "mac-address": "02:75:3a:65:ef:91",
         "system-name": "tap-1234", "ip-address": ip,
         "display-name": "VM one"}
    d.update(over)
    return portstore.Port.from_json(d)


@pytest.fixture
def network() -> portstore.Network:
    return sample_network()


@pytest.fixture
def port(network: portstore.Network) -> portstore.Port:
    return sample_port(network, "10.1.0.5")


@dataclass
class VethNs:
    ns: str         # namespace holding `inner`
    outer: str      # end left in the test's namespace
    inner: str


@pytest.fixture
def veth_ns() -> Iterator[VethNs]:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces and veth")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed")
    sfx = secrets.token_hex(3)
    v = VethNs(ns=f"bsdsvc-{sfx}", outer=f"dso{sfx}", inner=f"dsi{sfx}")
    etc = f"/etc/netns/{v.ns}"
    try:
        run(["ip", "netns", "add", v.ns])
        # ip netns exec bind-mounts these over /etc: scripts that write
        # resolv.conf write the namespace's copy, not the host's.
        os.makedirs(etc, exist_ok=True)
        with open(f"{etc}/resolv.conf", "w"):
            pass
        run(["ip", "link", "add", v.outer, "type", "veth", "peer", "name",
             v.inner, "netns", v.ns])
        subprocess.run(["sysctl", "-qw",
                        f"net.ipv6.conf.{v.outer}.disable_ipv6=1"],
                       capture_output=True)
        run(["ip", "link", "set", v.outer, "up"])
        run(["ip", "-n", v.ns, "link", "set", "lo", "up"])
        yield v
    finally:
        subprocess.run(["ip", "link", "del", v.outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", v.ns], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)
