"""The agent against the real Linux datapath (bsdnet-datapath) in network
namespaces: two VMs (veth ends in their own namespaces) on one node, one
virtual network.  A ping is trapped, decided by the agent and forwarded;
after an agent SIGKILL and restart the flows are still there and new ones
are decided.  Needs root, ip(8) and the built datapath; skipped
otherwise."""
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys

import pytest

from bsdnet.shm.abi import lib
from bsdnet.shm.region import Region
from tests.datapath.helpers import wait_for as wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
DATAPATH = os.path.join(ROOT, "bsdnet", "_bin", "bsdnet-datapath")
WAIT = 60.0

pytestmark = pytest.mark.root


def _need():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    if not shutil.which("ip"):
        pytest.skip("needs ip(8)")
    if not os.access(DATAPATH, os.X_OK):
        pytest.skip("bsdnet-datapath not built (setup.py build_ext)")


def run(*argv, check=True, **kw):
    return subprocess.run(list(argv), check=check, capture_output=True,
                          text=True, **kw)


wait_for = functools.partial(wait_until, timeout=WAIT)


@pytest.fixture
def node(tmp_path, sockdir):
    _need()
    sfx = secrets.token_hex(3)
    ns, vms = f"bnd{sfx}", [f"bnv1{sfx}", f"bnv2{sfx}"]
    shm = f"bnagt{sfx}"
    procs = []
    made = []
    try:
        for n in [ns] + vms:
            run("ip", "netns", "add", n)
            made.append(n)
        macs = []
        for i, vm in enumerate(vms, 1):
            run("ip", "-n", ns, "link", "add", f"tap{i}", "type", "veth",
                "peer", "name", "eth0", "netns", vm)
            run("ip", "-n", ns, "link", "set", f"tap{i}", "up")
            run("ip", "-n", vm, "link", "set", "lo", "up")
            run("ip", "-n", vm, "link", "set", "eth0", "up")
            run("ip", "-n", vm, "addr", "add", f"10.0.0.{i}/24", "dev", "eth0")
            link = json.loads(run("ip", "-n", vm, "-j", "link", "show",
                                  "eth0").stdout)
            macs.append(link[0]["address"])
        topo = {"networks": [{"name": "red"}], "ports": [
            {"id": f"p{i}", "network": "red", "interface": f"tap{i}",
             "mac": macs[i - 1], "ip": f"10.0.0.{i}", "policy": True}
            for i in (1, 2)]}
        (tmp_path / "topo.json").write_text(json.dumps(topo))
        dp_sock = os.path.join(sockdir, "dp.sock")
        ag_sock = os.path.join(sockdir, "ag.sock")
        dp = subprocess.Popen(
            ["ip", "netns", "exec", ns, DATAPATH, "--shm", shm,
             "--trap-socket", dp_sock, "--agent-socket", ag_sock,
             "--vifs", "64", "--nexthops", "256", "--labels", "64",
             "--vrfs", "16", "--rt-buckets", "64", "--flow-buckets", "256",
             "--overflow-buckets", "64", "--max-hold", "128"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "dp.log", "wb"))
        procs.append(dp)
        agent_argv = [
            "ip", "netns", "exec", ns, sys.executable, "-m",
            "bsdnet.cmd.agent", "--datapath-shm_name", shm,
            "--datapath-trap_socket", ag_sock,
            "--datapath-control_socket", dp_sock,
            "--agent-state_dir", str(tmp_path / "state"),
            "--agent-topology_file", str(tmp_path / "topo.json")]

        def start_agent():
            log = open(tmp_path / "agent.log", "ab")
            p = subprocess.Popen(agent_argv, stdout=log, stderr=log)
            procs.append(p)
            return p

        yield {"ns": ns, "vms": vms, "shm": shm, "start_agent": start_agent,
               "log": tmp_path / "agent.log", "tmp": tmp_path}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for n in made:
            run("ip", "netns", "del", n, check=False)
        try:
            os.unlink(f"/dev/shm/{shm}")
        except FileNotFoundError:
            pass


def ping(vm, dst):
    return run("ip", "netns", "exec", vm, "ping", "-c", "1", "-W", "2", dst,
               check=False).returncode == 0


def active_flows(shm):
    r = Region.open(shm, readonly=True)
    try:
        return sum(1 for w in r.flow_states()
                   if w & 0xff == lib.BSDNET_FLOW_ACTIVE)
    finally:
        r.close()


def test_ping_through_agent_and_restart(node):
    agent = node["start_agent"]()
    wait_for(lambda: node["log"].exists() and
             "serving traps" in node["log"].read_text(), "agent serving")
    v1, v2 = node["vms"]
    # The first ping may race the datapath's attach of the taps.
    wait_for(lambda: ping(v1, "10.0.0.2"), "ping 10.0.0.1 -> 10.0.0.2")
    flows = active_flows(node["shm"])
    assert flows >= 2                             # forward and reverse
    state = json.loads((node["tmp"] / "state" / "state.json").read_text())
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    node["start_agent"]()
    wait_for(lambda: node["log"].read_text().count("serving traps") == 2,
             "agent restart")
    assert "adopting live tables" in node["log"].read_text()
    assert json.loads((node["tmp"] / "state" / "state.json").read_text()) \
        == state
    assert active_flows(node["shm"]) >= flows     # nothing flushed
    # A new flow (other direction, new ICMP id) is decided by the new agent.
    assert ping(v2, "10.0.0.1") or ping(v2, "10.0.0.1")
