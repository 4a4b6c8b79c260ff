"""bring a sandbox up, report on it, tear it down.

Order of `up`: namespaces and links; per node the datapath (which creates
its shared tables), then the agent with the node's local ports; once every
agent has allocated its labels, each node learns the others' VMs (prefix,
node address, label) and the agents reconcile; finally a ping between VMs
of each network on different nodes proves the overlay carries traffic.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import time

from bsdnet.common.files import write_atomic
from bsdnet.common.progress import Progress

from . import netns, procs
from .plan import FABRIC_MTU, Plan

LOG = logging.getLogger(__name__)
PLAN_FILE = "sandbox.json"


class SandboxError(RuntimeError):
    """The sandbox could not be brought up or inspected."""


def _sandbox_dir(rundir: str, prefix: str) -> str:
    return os.path.join(rundir, prefix)


def paths(node) -> dict[str, str]:
    return {
        "control": os.path.join(node.rundir, "dp-ctl.sock"),
        "trap": os.path.join(node.rundir, "agent-trap.sock"),
        "state_dir": os.path.join(node.rundir, "state"),
        "topology": os.path.join(node.rundir, "topology.json"),
        "agent_conf": os.path.join(node.rundir, "agent.conf"),
        "dp_pid": os.path.join(node.rundir, "datapath.pid.d"),
        "api": os.path.join(node.rundir, "port-api.sock"),
    }


def _wait(what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SandboxError(f"timed out after {timeout:.0f}s waiting for {what}")


def _write_json(path: str, data) -> None:
    # Remade from the plan after a crash: old or new is enough, no fsync.
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True), durable=False)


def topology(plan: Plan, node, with_remote: bool) -> dict:
    """The agent's view of its node: fabric, networks, local ports, and
    (once labels are known) the VMs on other nodes."""
    local = [v for v in plan.vms if v.node == node.name]
    topo = {
        "fabric": {"interface": node.fabric_interface, "address": node.fabric_address,
                   "mac": node.fabric_mac, "mtu": FABRIC_MTU},
        "networks": [{"name": n} for n in plan.networks],
        "ports": [{"id": v.port_id, "network": v.network, "interface": v.host_interface,
                   "mac": v.mac, "ip": v.ip, "policy": True} for v in local],
        "remote": [],
    }
    if with_remote:
        for v in plan.vms:
            if v.node == node.name:
                continue
            peer = plan.node(v.node)
            topo["remote"].append({"network": v.network, "prefix": f"{v.ip}/32",
                                   "node": peer.fabric_address, "node_mac": peer.fabric_mac,
                                   "label": v.label})
    return topo


def _agent_conf(node) -> str:
    p = paths(node)
    return (f"[datapath]\nshm_name = {node.shm}\ncontrol_socket = {p['control']}\n"
            f"trap_socket = {p['trap']}\n\n"
            f"[agent]\nstate_dir = {p['state_dir']}\ntopology_file = {p['topology']}\n"
            f"pid_file = {os.path.join(node.rundir, 'agent.pid.d')}\n"
            f"api_socket = {p['api']}\n\n"
            f"[fabric]\ninterface = {node.fabric_interface}\naddress = {node.fabric_address}\n"
            f"mac = {node.fabric_mac}\n")


def start_datapath(plan: Plan, node) -> int:
    p = paths(node)
    argv = [procs.tool("bsdnet-datapath"), "--shm", node.shm, "--trap-socket", p["control"],
            "--agent-socket", p["trap"], "--pidfile", p["dp_pid"]]
    pid = procs.start(node.namespace, node.rundir, "datapath", argv)
    _wait(f"datapath of {node.name} (see {node.rundir}/datapath.log)",
          lambda: os.path.exists(f"/dev/shm/{node.shm}") and os.path.exists(p["control"]),
          15)
    return pid


def start_agent(plan: Plan, node) -> int:
    p = paths(node)
    argv = [procs.tool("bsdnet-agent"), "--config-file", p["agent_conf"]]
    return procs.start(node.namespace, node.rundir, "agent", argv)


def read_state(node) -> dict:
    try:
        with open(os.path.join(paths(node)["state_dir"], "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _ports_allocated(plan: Plan, node) -> bool:
    ports = read_state(node).get("ports", {})
    return all(v.port_id in ports and ports[v.port_id].get("label")
               for v in plan.vms if v.node == node.name)


def ping(namespace: str, ip: str, count: int = 1, timeout: int = 1) -> bool:
    r = netns.ns_exec(namespace, ["ping", "-n", "-q", "-c", str(count), "-W", str(timeout), ip],
                      check=False)
    return r.returncode == 0


def reachability_pairs(plan: Plan) -> list[tuple]:
    """(from VM, to VM) for each network: its first VM to every VM of the
    same network on another node."""
    pairs = []
    for net in plan.networks:
        members = [v for v in plan.vms if v.network == net]
        if not members:
            continue
        src = members[0]
        pairs += [(src, v) for v in members[1:] if v.node != src.node]
    return pairs


def prepare_node(node, agent_conf: str, topo: dict | None = None) -> None:
    """A node's run directory, state directory, topology and agent.conf."""
    os.makedirs(node.rundir, mode=0o700, exist_ok=True)
    p = paths(node)
    os.makedirs(p["state_dir"], mode=0o700, exist_ok=True)
    _write_json(p["topology"], topo or {})
    with open(p["agent_conf"], "w") as f:
        f.write(agent_conf)


def api_url(node) -> str:
    """The node agent's port API, on its unix socket."""
    return "unix://" + paths(node)["api"]


def save(plan: Plan, rundir: str) -> None:
    _write_json(os.path.join(_sandbox_dir(rundir, plan.prefix), PLAN_FILE), plan.to_dict())


def check_reachability(plan: Plan, timeout: float) -> None:
    pairs = reachability_pairs(plan)
    with Progress("pings across the fabric", len(pairs)) as p:
        for src, dst in pairs:
            _wait(f"{src.name} ({src.network}) to reach {dst.name} at {dst.ip}",
                  lambda s=src, d=dst: ping(s.namespace, d.ip), timeout)
            LOG.info("%s reaches %s (%s) across the fabric", src.name, dst.name, dst.ip)
            p.step(note=f"{src.name} -> {dst.name}")


def up(plan: Plan, rundir: str, ready_timeout: float = 30.0) -> Plan:
    """Build the sandbox; on any failure remove what was made and raise."""
    sdir = _sandbox_dir(rundir, plan.prefix)
    if netns.owned_namespaces(plan.prefix) or os.path.exists(os.path.join(sdir, PLAN_FILE)):
        raise SandboxError(f"a sandbox with prefix {plan.prefix!r} exists: "
                           f"run `bsdnet-sandbox --prefix {plan.prefix} down` first")
    try:
        os.makedirs(sdir, mode=0o700, exist_ok=True)
        _remove_shm(plan.prefix)          # stale tables of a crashed run
        netns.build(plan)
        if plan.neutron:
            from . import neutron
            save(plan, rundir)            # down finds what to delete
            neutron.up(plan, rundir, ready_timeout)
            return plan
        with Progress("starting nodes", len(plan.nodes)) as p:
            for node in plan.nodes:
                prepare_node(node, _agent_conf(node), topology(plan, node, with_remote=False))
                start_datapath(plan, node)
                start_agent(plan, node)
                p.step(note=node.name)
        for node in plan.nodes:
            _wait(f"agent of {node.name} to program its ports (see {node.rundir}/agent.log)",
                  lambda node=node: _ports_allocated(plan, node), 20)
            ports = read_state(node)["ports"]
            for v in plan.vms:
                if v.node == node.name:
                    v.label = int(ports[v.port_id]["label"])
                    v.vif = int(ports[v.port_id]["vif"])
        save(plan, rundir)
        for node in plan.nodes:
            _write_json(paths(node)["topology"], topology(plan, node, with_remote=True))
            procs.signal_role(node.rundir, "agent", signal.SIGHUP)
        check_reachability(plan, ready_timeout)
    except BaseException:
        kept = _keep_logs(plan, rundir)
        LOG.error("sandbox %s failed to come up; removing what was made (logs kept in %s)",
                  plan.prefix, kept)
        down(plan.prefix, rundir)
        raise
    return plan


def _keep_logs(plan: Plan, rundir: str) -> str:
    """Copy the nodes' logs out of the run directory `down` removes."""
    dest = os.path.join(rundir, f"{plan.prefix}.failed")
    shutil.rmtree(dest, ignore_errors=True)
    for node in plan.nodes:
        for log in glob.glob(os.path.join(node.rundir, "*.log")):
            os.makedirs(os.path.join(dest, node.name), exist_ok=True)
            shutil.copy(log, os.path.join(dest, node.name))
    return dest


def load(prefix: str, rundir: str) -> Plan:
    path = os.path.join(_sandbox_dir(rundir, prefix), PLAN_FILE)
    try:
        with open(path) as f:
            return Plan.from_dict(json.load(f))
    except FileNotFoundError:
        raise SandboxError(f"no sandbox with prefix {prefix!r} (no {path})") from None


def status(prefix: str, rundir: str) -> dict:
    plan = load(prefix, rundir)
    out = {"prefix": plan.prefix, "fabric": {"namespace": plan.fabric_namespace,
                                             "bridge": plan.fabric_bridge},
           "networks": plan.networks, "nodes": [], "vms": []}
    for node in plan.nodes:
        out["nodes"].append({
            "name": node.name, "namespace": node.namespace,
            "fabric_interface": node.fabric_interface, "fabric_address": node.fabric_address,
            "fabric_mac": node.fabric_mac, "shm": node.shm, "rundir": node.rundir,
            "datapath_pid": procs.pid_of(node.rundir, "datapath"),
            "agent_pid": procs.pid_of(node.rundir, "agent")})
    states = {n.name: read_state(n) for n in plan.nodes} if plan.neutron else {}
    for v in plan.vms:
        vm = {"name": v.name, "node": v.node, "namespace": v.namespace,
              "interface": v.interface, "host_interface": v.host_interface,
              "ip": v.ip, "prefixlen": v.prefixlen, "mac": v.mac, "network": v.network,
              "port_id": v.port_id, "mpls_label": v.label, "vif": v.vif}
        if plan.neutron:
            # The label on the wire is the network's; the vif, the node's.
            st = states[v.node]
            port = st.get("ports", {}).get(v.port_id, {})
            net = next((x for x in st.get("networks", {}).values()
                        if x.get("vrf") == port.get("vrf")), {})
            vm.update(neutron_port=v.port_id, vif=port.get("vif"),
                      mpls_label=net.get("label"))
        out["vms"].append(vm)
    if plan.neutron:
        out["neutron"] = {"url": plan.neutron["url"],
                          "project_id": plan.neutron.get("project_id"),
                          "networks": plan.neutron.get("networks", {})}
        for n, node in zip(out["nodes"], plan.nodes):
            n.update(host=node.host, mgmt_address=node.mgmt_address)
    return out


def _remove_shm(prefix: str) -> None:
    for path in glob.glob(f"/dev/shm/{prefix}-n*"):
        os.unlink(path)


def _kill_namespace_pids(namespace: str) -> None:
    r = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    for tok in r.stdout.split():
        try:
            os.kill(int(tok), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


def down(prefix: str, rundir: str) -> list[str]:
    """Remove everything a sandbox with this prefix made; safe to repeat."""
    sdir = _sandbox_dir(rundir, prefix)
    try:
        plan = load(prefix, rundir)
    except (SandboxError, ValueError, KeyError):
        plan = None
    if plan is not None and plan.neutron:
        from . import neutron
        try:
            neutron.delete_objects(plan)
        except Exception as exc:        # Neutron gone: the rest still goes
            LOG.warning("removing the sandbox's Neutron objects: %s", exc)
        for v in plan.vms:
            shutil.rmtree(f"/etc/netns/{v.namespace}", ignore_errors=True)
    for nd in sorted(glob.glob(os.path.join(sdir, "n*"))):
        for role in ("agent", "datapath"):
            try:
                procs.stop(nd, role)
            except OSError as exc:
                LOG.warning("stopping %s in %s: %s", role, nd, exc)
    for ns in netns.owned_namespaces(prefix):
        _kill_namespace_pids(ns)
    gone = netns.remove(prefix)
    _remove_shm(prefix)
    shutil.rmtree(sdir, ignore_errors=True)
    shutil.rmtree(f"{sdir}.netdrv", ignore_errors=True)
    LOG.info("sandbox %s removed (%d namespaces)", prefix, len(gone))
    return gone
