"""Helpers shared by the network driver tests (the fixtures are in conftest):
the fixture files, the FreeBSD stand-in environment, the Linux namespaces."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from bsdnet.driver.net import get_driver
from bsdnet.driver.net.fbsd_sim import FreeBSDHost
from bsdnet.driver.net.freebsd import FreeBSDBackend
from bsdnet.driver.net.network import NetworkDriver
from bsdnet.driver.net.runner import SimRunner, SubprocessRunner

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


@dataclass
class Env:
    """What a scenario needs, whatever the backend."""
    kind: str
    driver: NetworkDriver
    uplink: str                 # physical-like interface with 192.0.2.10/24
    gateway: str                # default gateway on the uplink's network
    open_tap: Callable[[str], object]   # make a tap 'in use' (as bhyve would)
    host: FreeBSDHost | None = None
    state_file: Path | None = None

    def host_now(self) -> FreeBSDHost:
        if self.state_file is None:
            return self.host
        return FreeBSDHost.from_json(self.state_file.read_text())

    def edit_host(self, fn) -> None:
        h = self.host_now()
        fn(h)
        if self.state_file is not None:
            self.state_file.write_text(h.to_json())


def make_fbsd_env(tmp_path: Path, member_ifaddrs: str = "0", executable: bool = False) -> Env:
    """executable=True: ifconfig & co. are fake_freebsd.py, run by fork/exec
    exactly as the real tools would be; False: the same stand-in in-process
    (the machine is shared, and a Python start per ifconfig call is slow)."""
    host = FreeBSDHost.from_ifconfig(
        fixture_text("host-two-nics.txt"),
        sysctls={"net.link.bridge.member_ifaddrs": member_ifaddrs})
    host.default_route = ("192.0.2.1", "em0")
    host.routes["10.20.0.0/16"] = ("192.0.2.254", "em0")
    state = None
    if executable:
        state = tmp_path / "fbsd-host.json"
        state.write_text(host.to_json())
        prefix = [sys.executable, "-S", str(HERE / "fake_freebsd.py"), str(state)]
        runner = SubprocessRunner({t: prefix + [t] for t in ("ifconfig", "sysctl", "route", "netstat")})
    else:
        runner = SimRunner(host)
    drv = get_driver({"state_dir": str(tmp_path / "state"), "dhcp": False},
                     backend=FreeBSDBackend(runner))
    env = Env("freebsd", drv, "em0", "192.0.2.1", lambda tap: None, host=host,
              state_file=state)

    def open_tap(tap: str, env=env) -> None:
        env.edit_host(lambda h: h.open_tap(tap, 4242))
    env.open_tap = open_tap
    return env


# ---------------------------------------------------------------- Linux
def linux_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if not shutil.which("ip"):
        return "iproute2 missing"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class LinuxNS:
    """A namespace with a veth uplink (192.0.2.10/24, default via .1) whose
    peer lives in a second namespace acting as the outside network."""

    def __init__(self) -> None:
        sfx = secrets.token_hex(3)
        self.ns = f"bnt{sfx}"
        self.outer = f"bno{sfx}"
        self.uplink = f"up{sfx}"
        self.peer = f"pe{sfx}"
        self.made: list[str] = []
        for ns in (self.ns, self.outer):
            _ip("netns", "add", ns)
            self.made.append(ns)
        _ip("-n", self.ns, "link", "add", self.uplink, "type", "veth", "peer", "name", self.peer)
        _ip("-n", self.ns, "link", "set", self.peer, "netns", self.outer)
        _ip("-n", self.ns, "addr", "add", "192.0.2.10/24", "dev", self.uplink)
        _ip("-n", self.ns, "link", "set", self.uplink, "up")
        _ip("-n", self.ns, "link", "set", "lo", "up")
        _ip("-n", self.outer, "addr", "add", "192.0.2.1/24", "dev", self.peer)
        _ip("-n", self.outer, "link", "set", self.peer, "up")
        _ip("-n", self.ns, "route", "add", "default", "via", "192.0.2.1")
        _ip("-n", self.ns, "route", "add", "10.20.0.0/16", "via", "192.0.2.254")

    def exec(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv],
                              capture_output=True, text=True, **kw)

    def close(self) -> None:
        for ns in self.made:
            subprocess.run(["ip", "netns", "pids", ns], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class TapOpener:
    """Attach to a persistent tap as bhyve would, giving it carrier."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.open = self._open

    def _open(self, tap: str) -> None:
        import fcntl
        import struct
        from bsdnet.driver.net.linux import IFF_NO_PI, IFF_TAP, TUNSETIFF
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", tap.encode(), IFF_TAP | IFF_NO_PI))
        self.fds.append(fd)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def dhcp_tools() -> str:
    """udhcpc's path, skipping the test unless dnsmasq and busybox's
    udhcpc are installed."""
    udhcpc = shutil.which("udhcpc") or "/usr/sbin/udhcpc"
    if not os.path.exists("/usr/sbin/dnsmasq"):
        pytest.skip("dnsmasq (dnsmasq-base) is not installed")
    if not os.path.exists(udhcpc):
        pytest.skip("udhcpc (busybox) is not installed")
    return udhcpc
