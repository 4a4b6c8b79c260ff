"""Fixtures for the network driver tests; the helpers are in netdrv_env.

fbsd: a NetworkDriver on the FreeBSD backend whose ifconfig/sysctl/route are
the stand-in, seeded from real ifconfig output.  linux: a NetworkDriver on
the pyroute2 backend inside a fresh network namespace with a veth 'uplink'.
env: the same scenario on both.  Names carry a random suffix; everything is
removed on teardown, also when a test fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from bsdnet.driver.net import get_driver

from .netdrv_env import Env, LinuxNS, TapOpener, linux_skip_reason, make_fbsd_env


@pytest.fixture
def linux_ns():
    reason = linux_skip_reason()
    if reason:
        pytest.skip(reason)
    ns = LinuxNS()
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def linux(linux_ns):
    from pyroute2 import netns as pr_netns
    from bsdnet.driver.net.linux import LinuxBackend

    # dnsmasq drops to 'nobody': its state directory must be reachable.
    state = Path(tempfile.mkdtemp(prefix="bsdnet-netdrv-"))
    os.chmod(state, 0o755)
    opener = TapOpener()
    pr_netns.pushns(linux_ns.ns)
    drv = None
    try:
        drv = get_driver({"state_dir": str(state), "dhcp": True}, backend=LinuxBackend())
        env = Env("linux", drv, linux_ns.uplink, "192.0.2.1", opener.open)
        env.ns = linux_ns
        yield env
    finally:
        opener.close()
        if drv is not None:
            for n in os.listdir(state / "dhcp") if (state / "dhcp").exists() else []:
                drv.dhcp.stop(n)
            drv.backend.close()
        pr_netns.popns()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(params=["freebsd", "linux"])
def env(request, tmp_path):
    """The same scenario on both backends."""
    if request.param == "freebsd":
        return make_fbsd_env(tmp_path)
    return request.getfixturevalue("linux")
