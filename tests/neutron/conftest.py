"""A real Neutron (scripts/neutron-dev.sh: MariaDB, RabbitMQ, neutron-server
from PyPI) once per test session, and a two-node sandbox it drives."""
from __future__ import annotations

import glob
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "neutron-dev.sh")
# Short, so that a dead agent shows dead in a test's time; the sandbox's
# agents report every 5 s.
AGENT_DOWN_TIME = "16"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (services, network namespaces)"
    for tool in ("mysqladmin", "rabbitmq-server", "curl", "ip", "udhcpc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup-linux.sh installs it)"
    if not os.access(os.path.join(os.path.dirname(sys.executable), "neutron-db-manage"),
                     os.X_OK):
        return "Neutron is not installed in this venv (the 'neutron' extra)"
    return None


@dataclass
class Server:
    url: str
    transport_url: str
    dir: str

    def script(self, *args: str) -> None:
        subprocess.run([SCRIPT, *args], check=True, timeout=300,
                       env={**os.environ, "AGENT_DOWN_TIME": AGENT_DOWN_TIME})


@pytest.fixture(scope="session")
def neutron_server():
    why = _missing()
    if why:
        pytest.skip(why)
    env = {**os.environ, "AGENT_DOWN_TIME": AGENT_DOWN_TIME}
    was_up = subprocess.run([SCRIPT, "status"], capture_output=True).returncode == 0
    # (restarts a running server only if it has another agent_down_time)
    subprocess.run([SCRIPT, "up"], env=env, check=True, timeout=600)
    out = subprocess.run([SCRIPT, "env"], capture_output=True, text=True, check=True).stdout
    v = dict(line.split("=", 1) for line in out.split())
    try:
        yield Server(v["NEUTRON_URL"], v["TRANSPORT_URL"], v["NEUTRON_DEV_DIR"])
    finally:
        if not was_up:
            subprocess.run([SCRIPT, "down"], timeout=300)


@pytest.fixture(scope="session")
def neutron(neutron_server):
    from bsdnet.sandbox.neutronapi import Neutron
    return Neutron(neutron_server.url)


class NeutronSandbox:
    def __init__(self, plan, rundir, server):
        self.plan, self.rundir, self.server = plan, rundir, server

    def vm(self, name):
        return self.plan.vm(name)

    def node(self, name):
        return self.plan.node(name)

    def state(self, node):
        from bsdnet.sandbox import orchestrate
        return orchestrate.read_state(self.node(node))

    def reload(self):
        from bsdnet.sandbox import orchestrate
        self.plan = orchestrate.load(self.plan.prefix, self.rundir)


@pytest.fixture(scope="session")
def nsandbox(neutron_server):
    """Two nodes, two networks that reuse 10.0.0.0/24, a VM of each
    network on each node, all from Neutron."""
    from bsdnet.sandbox import orchestrate
    from bsdnet.sandbox.plan import make_plan
    prefix = "q" + "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
    # Not under pytest's base directory (mode 0700): the nodes' dnsmasq
    # runs as nobody and reads its host file below the run directory.
    rundir = tempfile.mkdtemp(prefix="bsdnet-nsandbox-", dir="/run")
    os.chmod(rundir, 0o755)
    plan = make_plan(prefix, nodes=2, vms_per_node=2, networks=2, rundir=rundir,
                     neutron={"url": neutron_server.url,
                              "transport_url": neutron_server.transport_url})
    try:
        try:
            orchestrate.up(plan, rundir, ready_timeout=60)
        except Exception as e:
            raise AssertionError(f"{e}\n{_kept_logs(rundir, prefix)}") from e
        yield NeutronSandbox(plan, rundir, neutron_server)
    finally:
        orchestrate.down(prefix, rundir)
        shutil.rmtree(rundir, ignore_errors=True)


def _kept_logs(rundir: str, prefix: str) -> str:
    """The tails of the logs a failed up kept (the directory goes after)."""
    out = []
    for log in sorted(glob.glob(os.path.join(rundir, f"{prefix}.failed", "*", "*.log"))):
        lines = open(log, errors="replace").read().splitlines()
        out += [f"--- {log}"] + lines[-30:]
    return "\n".join(out)
