"""Helpers for the agent tests: the port API inside a node's namespace, and
VMs plugged through it (a VM namespace whose veth ends in the node)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass

from pyroute2 import NetNS, netns

from bsdnet.agent import apiclient
from bsdnet.sandbox import netns as sbnetns

def api(node, method: str, path: str, body=None, want: int | None = 200):
    """One request to a sandbox node's port API, on its unix socket."""
    status, doc = apiclient.request(api_url(node), method, path, body,
                                    timeout=60)
    if want is not None:
        assert status == want, (method, path, status, doc)
    return status, doc


def api_url(node) -> str:
    return "unix://" + os.path.join(node.rundir, "port-api.sock")


def wait_api(node, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if apiclient.request(api_url(node), "GET", "/ports",
                                 timeout=10)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"port API of {node.name} did not answer")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class ApiVm:
    namespace: str
    tap: str
    mac: str
    ip: str
    port_id: str
    node_ns: str


def plug(node_ns: str, vm_ns: str, tap: str, mac: str, mtu: int = 1400,
         address: str | None = None) -> None:
    """A VM namespace with eth0, its veth peer `tap` in the node."""
    netns.create(vm_ns)
    sbnetns._quiet_ipv6(vm_ns)
    sbnetns._veth_into(vm_ns, "eth0", node_ns, tap)
    with NetNS(vm_ns) as n:
        n.link("set", index=n.link_lookup(ifname="lo")[0], state="up")
        idx = n.link_lookup(ifname="eth0")[0]
        n.link("set", index=idx, address=mac, mtu=mtu, state="up")
        if address:
            ip, plen = address.split("/")
            n.addr("add", index=idx, address=ip, prefixlen=int(plen))
    with NetNS(node_ns) as n:
        n.link("set", index=n.link_lookup(ifname=tap)[0], mtu=mtu,
               state="up")
    sbnetns._offloads_off(vm_ns, "eth0")
    sbnetns._offloads_off(node_ns, tap)


def unplug(vm_ns: str) -> None:
    if vm_ns in netns.listnetns():
        r = subprocess.run(["ip", "netns", "pids", vm_ns],
                           capture_output=True, text=True)
        for tok in r.stdout.split():
            try:
                os.kill(int(tok), 9)
            except (ValueError, ProcessLookupError):
                pass
        netns.remove(vm_ns)
    shutil.rmtree(f"/etc/netns/{vm_ns}", ignore_errors=True)


def port_body(vm: ApiVm, network: str, groups=(), pairs=()) -> dict:
    return {"id": vm.port_id, "instance-id": new_id(),
            "ip-address": vm.ip, "vn-id": network,
            "display-name": vm.namespace, "mac-address": vm.mac,
            "system-name": vm.tap, "type": 0,
            "rx-vlan-id": -1, "tx-vlan-id": -1,
            "security-groups": list(groups),
            "allowed-address-pairs": [{"ip-address": p} for p in pairs]}


def vif_of(state_dir: str, port_id: str) -> int | None:
    try:
        with open(os.path.join(state_dir, "state.json")) as f:
            p = json.load(f)["ports"].get(port_id)
    except (OSError, ValueError):
        return None
    return p["vif"] if p else None


# Connects to argv[1]:argv[2] within argv[3] seconds; exit 0 if it did.
TCP_CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])),
                             timeout=float(sys.argv[3])).close()
except OSError:
    sys.exit(1)
"""

# Accepts and closes connections on port argv[1] until killed.
TCP_ACCEPT = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    s.accept()[0].close()
"""

# Sends one datagram from each source port argv[3].. argv[3]+argv[4]-1.
UDP_SPRAY = """
import socket, sys
for p in range(int(sys.argv[3]), int(sys.argv[3]) + int(sys.argv[4])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", p))
    s.sendto(b"x", (sys.argv[1], int(sys.argv[2])))
    s.close()
"""


def restart_agent(sandbox, node_name: str, extra: dict[str, dict[str, str]]
                  ) -> None:
    """Restart a node's agent with options added to its config file."""
    from bsdnet.sandbox import orchestrate, procs
    node = sandbox.node(node_name)
    path = os.path.join(node.rundir, "agent.conf")
    text = open(path).read()
    for section, values in extra.items():
        lines = "".join(f"{k} = {v}\n" for k, v in values.items())
        text = text.replace(f"[{section}]\n", f"[{section}]\n{lines}", 1)
    with open(path, "w") as f:
        f.write(text)
    procs.stop(node.rundir, "agent")
    orchestrate.start_agent(sandbox.plan, node)
    wait_api(node)


class Region:
    """Counters of a node's region, read live."""

    def __init__(self, sandbox, node_name: str) -> None:
        import mmap
        from bsdnet.shm.abi import ffi, lib
        self.ffi, self.lib = ffi, lib
        path = f"/dev/shm/{sandbox.node(node_name).shm}"
        with open(path, "rb") as f:
            self.map = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        buf = ffi.from_buffer(self.map)
        base = ffi.cast("uint8_t *", buf)
        self.hdr = ffi.cast("struct bsdnet_region_hdr *", buf)
        self.st = ffi.cast("struct bsdnet_stats *",
                           base + self.hdr.rh_off_stats)
        self.vs = ffi.cast("struct bsdnet_vif_stats *",
                           base + self.hdr.rh_off_vifstats)

    def drop(self, reason: str) -> int:
        return int(self.st.st_drops[getattr(self.lib,
                                            "BSDNET_DROP_" + reason)])

    def vif_flows(self, vif: int) -> int:
        return int(self.vs[vif].vs_flows)


def wait_until(pred, what: str, timeout: float = 30.0, pause: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(pause)
    raise AssertionError(f"timed out waiting for {what}")
