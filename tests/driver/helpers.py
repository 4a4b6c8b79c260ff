"""What the driver tests share besides fixtures (tests/driver/conftest.py):
libvirt's test driver, a recording network driver, Nova-like VIFs and
instances, a stand-in of the agent's port API, and the zfs, iscsictl and
ssh stand-ins as executables."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import uuid as _uuid
from typing import Any

import pytest

libvirt = pytest.importorskip("libvirt")

from bsdnet.agent import portstore as ps  # noqa: E402
from bsdnet.driver.compute.instance import Flavor, InstanceSpec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = "/work/shared/reference/libvirt-bhyve"
if not os.path.isdir(CORPUS):
    CORPUS = os.path.join(HERE, "..", "..", "..", "shared", "reference", "libvirt-bhyve")


class FakeNet:
    """Records what a VIF driver asks of the network driver."""

    def __init__(self) -> None:
        self.bridges: dict[str, list[str]] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.ports: dict[str, Any] = {}  # registered with plug_port, by port id

    def ensure_network(self, network_id: str, bridge: str, uplink: str | None, vlan: int | None,
                       mtu: int | None, dhcp: Any = None) -> None:
        self.calls.append(("ensure_network", network_id, bridge, uplink, vlan, mtu))
        member = f"{uplink}.{vlan}" if vlan else uplink
        if member is not None and member not in self.bridges.setdefault(bridge, []):
            self.bridges[bridge].append(member)
        self.bridges.setdefault(bridge, [])

    def ensure_bridge(self, name: str, mtu: int | None = None) -> None:
        self.calls.append(("ensure_bridge", name, mtu))
        self.bridges.setdefault(name, [])

    def delete_bridge(self, name: str) -> None:
        self.calls.append(("delete_bridge", name))
        self.bridges.pop(name, None)

    def plug_port(self, port: Any) -> None:
        self.calls.append(("plug_port", port.id, port.tap, port.mac, port.ip))
        self.ports[port.id] = port

    def unplug_port(self, port_id: str) -> None:
        self.calls.append(("unplug_port", port_id))
        self.ports.pop(port_id, None)


def remove_test_domains(drv) -> None:
    """Destroy and undefine the domains the tests made (names bsdt-*)."""
    for dom in drv._our_domains():
        if dom.name().startswith("bsdt-"):
            if dom.isActive():
                dom.destroy()
            dom.undefine()


def make_vif(net_id: str | None = None, ip: str = "10.0.0.5", bridge: str | None = None,
             vlan: int | None = None) -> dict[str, Any]:
    port = str(_uuid.uuid4())
    net = {"id": net_id or str(_uuid.uuid4()), "bridge": bridge, "meta": {"mtu": 1500},
           "subnets": [{"cidr": "10.0.0.0/24", "gateway": {"address": "10.0.0.1"},
                        "ips": [{"address": ip}], "dns": [{"address": "10.0.0.2"}], "routes": []}]}
    mac = "fa:16:3e:%02x:%02x:%02x" % tuple(os.urandom(3))
    return {"id": port, "address": mac, "type": "bridge", "devname": "tap" + port[:11],
            "network": net, "details": {"vlan": vlan} if vlan else {}}


def make_instance(**kw: Any) -> InstanceSpec:
    u = str(_uuid.uuid4())
    flavor = kw.pop("flavor", Flavor(name="m1.tiny", memory_mb=256, vcpus=1, root_gb=0))
    return InstanceSpec(uuid=u, name="bsdt-" + u[:8], display_name="vm " + u[:4], flavor=flavor,
                        project_id=str(_uuid.uuid4()), user_id=str(_uuid.uuid4()), **kw)


class PortApiHandler(http.server.BaseHTTPRequestHandler):
    """Checks ports with the agent's own parser (no network needed), records them."""

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _reply(self, code: int, body: str = "") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        server = self.server
        if self.path != "/port":
            return self._reply(404, "no such path")
        if self.headers.get("Content-Type") != "application/json":
            return self._reply(415, "json only")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            ps.Port.from_json(body)
        except ps.ValidationError as e:
            server.requests.append(("POST-rejected", str(e)))  # type: ignore[attr-defined]
            return self._reply(400, str(e))
        server.requests.append(("POST", body))  # type: ignore[attr-defined]
        server.ports[body["id"]] = body  # type: ignore[attr-defined]
        return self._reply(server.status)  # type: ignore[attr-defined]

    def do_DELETE(self) -> None:  # noqa: N802
        server = self.server
        if not self.path.startswith("/port/"):
            return self._reply(404)
        port = self.path[len("/port/"):]
        server.requests.append(("DELETE", port))  # type: ignore[attr-defined]
        if server.ports.pop(port, None) is None:  # type: ignore[attr-defined]
            return self._reply(404)
        return self._reply(200)


class ZfsHost:
    """The zfs/zpool stand-in (zfs_standin.py) with one pool, 'tank', and
    the two commands as executables, for the ZFS image backend's tests."""

    def __init__(self, root) -> None:
        import sys
        from tests.driver import zfs_standin
        self.root = str(root)
        zfs_standin.init(self.root, "tank", 64 * 2 ** 30)
        script = os.path.join(HERE, "zfs_standin.py")
        self.bins = {}
        for cmd in ("zfs", "zpool"):
            path = os.path.join(self.root, cmd)
            with open(path, "w") as f:
                f.write(f'#!/bin/sh\nexec "{sys.executable}" "{script}" --root "{self.root}" {cmd} "$@"\n')
            os.chmod(path, 0o755)
            self.bins[cmd] = path
        self.dev_dir = os.path.join(self.root, "dev", "zvol")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.bins["zfs"], *args], capture_output=True, text=True)

    def datasets(self) -> dict[str, Any]:
        with open(os.path.join(self.root, "state.json")) as f:
            return json.load(f)["datasets"]


class IscsiHost:
    """The iscsictl stand-in (iscsictl_standin.py) and its targets."""

    def __init__(self, root) -> None:
        import sys
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.bin = os.path.join(self.root, "iscsictl")
        script = os.path.join(HERE, "iscsictl_standin.py")
        with open(self.bin, "w") as f:
            f.write(f'#!/bin/sh\nexec "{sys.executable}" "{script}" --root "{self.root}" "$@"\n')
        os.chmod(self.bin, 0o755)
        self.dev_dir = os.path.join(self.root, "dev")
        self.targets: dict[str, Any] = {}

    def target(self, portal: str, iqn: str, luns: dict[int, str], chap: tuple[str, str] | None = None) -> None:
        self.targets.setdefault(portal, {})[iqn] = {"luns": {str(k): v for k, v in luns.items()},
                                                    "chap": list(chap) if chap else None}
        with open(os.path.join(self.root, "targets.json"), "w") as f:
            json.dump(self.targets, f)

    def sessions(self) -> list[dict[str, Any]]:
        path = os.path.join(self.root, "sessions.json")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return json.load(f)


def ssh_standin(workdir: str, hosts: dict[str, list[tuple[str, str]]]) -> str | None:
    """An ssh for ssh_standin.py reaching ``hosts`` (each: bind mounts, its
    own directory over one of this machine's); None without root or
    unshare(1), which the mount namespace needs."""
    import shutil
    import sys
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return None
    table = os.path.join(workdir, "ssh-hosts.json")
    with open(table, "w") as f:
        json.dump({h: [list(m) for m in mounts] for h, mounts in hosts.items()}, f)
    ssh = os.path.join(workdir, "ssh")
    script = os.path.join(HERE, "ssh_standin.py")
    with open(ssh, "w") as f:
        f.write(f'#!/bin/sh\nexec "{sys.executable}" "{script}" --hosts "{table}" "$@"\n')
    os.chmod(ssh, 0o755)
    return ssh


# A FreeBSD host's ifconfig -a: one uplink, em0.
HOST = """\
em0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\toptions=4e504bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM,LRO,VLAN_HWFILTER,VLAN_HWTSO,RXCSUM_IPV6,TXCSUM_IPV6,HWSTATS,MEXTPG>
\tether 52:54:00:12:34:56
\tmedia: Ethernet autoselect (1000baseT <full-duplex>)
\tstatus: active
\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>
"""


def no_support(what: str) -> libvirt.libvirtError:
    """The error libvirt raises for a call its driver does not have."""
    exc = libvirt.libvirtError(f"this function is not supported by the connection driver: {what}")
    exc.err = (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_FROM_BHYVE, exc.args[0], 2, None, None, None, 0, 0)
    return exc


class BhyveLikeDom:
    """A domain whose driver lacks what libvirt's bhyve driver lacks."""

    LACKS = ("suspend", "resume", "managedSave", "injectNMI", "setUserPassword")

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name):
        if name in self.LACKS:
            def refuse(*args):
                raise no_support(f"virDomain{name[0].upper()}{name[1:]}")
            return refuse
        return getattr(self.real, name)


class BhyveLikeConn:
    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def lookupByUUIDString(self, uuid):  # noqa: N802 - libvirt's name
        return BhyveLikeDom(self.real.lookupByUUIDString(uuid))
