"""bsdnet-agent: program the datapath's tables and decide trapped flows.

Life cycle:
  1. open the region the datapath created (waiting for it, up to
     datapath.region_wait seconds);
  2. adopt what a previous agent left (state.json and the live tables, if
     the region is the same instance), then program the topology file:
     only entries that differ are written, flows are never flushed;
  3. write state.json, bind the trap socket, serve traps; heartbeat every
     second, age idle flows;
  4. SIGHUP: re-read the topology and reconcile; SIGTERM/SIGINT: exit.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import Any

from oslo_config import cfg

from . import opts
from . import state as statefile
from . import topology
from .abi import ffi, lib
from .flows import FlowManager, Policy, TrapChannel, allow_all
from .program import Programmer
from .region import Region, RegionError, region_path
from .mtrie import RouteError
from .tables import TableError, Tables

LOG = logging.getLogger("bsdnet.agent")

HEARTBEAT_S = 1.0


def wait_region(shm_name: str, timeout: float,
                stopped=lambda: False) -> Region:
    """Open the region, retrying while the datapath has not created (or
    finished formatting) it."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            return Region.open(shm_name)
        except RegionError as e:
            if stopped():
                raise RegionError("stopped while waiting for the region") \
                    from None
            if time.monotonic() >= deadline:
                raise RegionError(f"gave up after {timeout:g}s: {e}") from None
            if not said:
                LOG.info("waiting up to %gs for the datapath's region %s (%s)",
                         timeout, region_path(shm_name), e)
                said = True
            time.sleep(0.1)


class Agent:
    def __init__(self, conf: cfg.ConfigOpts,
                 policy: Policy = allow_all) -> None:
        self.conf = conf
        self.policy = policy
        self.region: Region | None = None
        self.tables: Tables | None = None
        self.programmer: Programmer | None = None
        self.flows: FlowManager | None = None
        self.channel: TrapChannel | None = None
        self._hup = False
        self._stop = False
        self._region_id: tuple[int, int] = (0, 0)
        self._topology: dict[str, Any] = topology.parse({})

    # ---- start ------------------------------------------------------------

    def start(self) -> None:
        c = self.conf
        self._write_pid()
        self._attach(initial=True)
        self.channel = TrapChannel(c.datapath.trap_socket,
                                   c.datapath.control_socket)
        self.flows = FlowManager(self.region, self.channel, self.policy,
                                 fabric_vif=self._fabric_vif())
        # The datapath rescans vifs on its own tick; this makes it now.
        self.channel.send_ctl(lib.BSDNET_CTL_VIF_SYNC)
        LOG.info("serving traps on %s", c.datapath.trap_socket)

    def _attach(self, initial: bool) -> None:
        """Open the region, adopt or start the state, program the topology."""
        c = self.conf
        self.region = wait_region(c.datapath.shm_name, c.datapath.region_wait,
                                  lambda: self._stop)
        self.region.heartbeat()
        self._region_id = (os.stat(self.region.path).st_ino,
                           self.region.instance)
        LOG.info("region %s: instance %#x, geometry %s", self.region.path,
                 self.region.instance, self.region.geometry())
        self.tables = Tables(self.region)
        st = statefile.load(c.agent.state_dir)
        if st is not None and st["instance"] == self.region.instance:
            LOG.info("adopting live tables (state of instance %#x)",
                     self.region.instance)
            names = {n: v["vrf"] for n, v in st["networks"].items()}
        else:
            if st is not None:
                LOG.info("state file is for instance %#x, region is %#x: "
                         "programming from scratch", st["instance"],
                         self.region.instance)
            st = statefile.empty_state(self.region.instance)
            names = {}
        self.tables.adopt(names)
        self.programmer = Programmer(self.tables, st)
        self.programmer.reserve()
        topo = self._read_topology(initial=initial)
        if topo is None:            # unreadable now: the last good one
            topo = self._topology
        self._apply(topo)

    def _fabric_vif(self) -> int:
        return self.programmer.state["fabric"].get("vif", 0)

    def _region_replaced(self) -> bool:
        """True if the datapath made new tables (a new file, or the file
        reformatted in place with a new instance)."""
        try:
            ino = os.stat(self.region.path).st_ino
        except FileNotFoundError:
            return False            # going or coming: look again later
        magic = lib.bsdnet_agent_load_acq32(
            ffi.addressof(self.region.hdr, "rh_magic"))
        return (ino, self.region.instance) != self._region_id or \
            magic != lib.BSDNET_MAGIC

    def _reattach(self) -> None:
        LOG.warning("region %s was replaced by the datapath: reprogramming "
                    "the new one", self.region.path)
        self.flows = None
        self.tables = self.programmer = None
        self.region.close()
        self._attach(initial=False)
        self.flows = FlowManager(self.region, self.channel, self.policy,
                                 fabric_vif=self._fabric_vif())
        self.channel.send_ctl(lib.BSDNET_CTL_VIF_SYNC)

    def _write_pid(self) -> None:
        if self.conf.agent.pid_file:
            with open(self.conf.agent.pid_file, "w", encoding="ascii") as f:
                f.write(f"{os.getpid()}\n")

    def _read_topology(self, initial: bool = False) -> dict[str, Any] | None:
        path = self.conf.agent.topology_file
        if initial and not os.path.exists(path):
            LOG.warning("no topology file %s yet: programming the fabric "
                        "only", path)
            topo = topology.parse({})
        else:
            try:
                topo = topology.load(path)
            except topology.TopologyError as e:
                if initial:
                    raise
                LOG.error("topology not applied, keeping the current one: %s",
                          e)
                return None
        if topo["fabric"] is None and self.conf.fabric.interface:
            f = self.conf.fabric
            topo["fabric"] = topology.parse({"fabric": {
                "interface": f.interface, "address": f.address,
                "mac": f.mac}})["fabric"]
        if topo["remote"] and topo["fabric"] is None:
            e = topology.TopologyError("remote prefixes need a fabric "
                                       "(topology or [fabric] options)")
            if initial:
                raise e
            LOG.error("topology not applied, keeping the current one: %s", e)
            return None
        return topo

    def _apply(self, topo: dict[str, Any]) -> None:
        self._topology = topo
        try:
            changes = self.programmer.apply(topo)
        except (TableError, RouteError) as e:
            # A table is full: what was programmed stays (and is in the
            # state), the rest waits for the next SIGHUP.
            LOG.error("topology only partly applied: %s", e)
            changes = self.programmer.changes
        statefile.save(self.conf.agent.state_dir, self.programmer.state)
        if self.channel is not None and changes:
            self.channel.send_ctl(lib.BSDNET_CTL_VIF_SYNC)
        if self.flows is not None:
            self.flows.routes_changed()
            self.flows.fabric_vif = self._fabric_vif()
        LOG.info("topology applied: %s",
                 dict(changes) if changes else "no change")

    # ---- run --------------------------------------------------------------

    def install_signals(self) -> None:
        """Before start(): a SIGHUP or SIGTERM while the agent waits for
        the region must not kill it with the default action.  Python's
        handlers are installed without SA_RESTART, so a signal also ends
        the blocking recvmmsg in serve() early (EINTR)."""
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)

    def run(self) -> None:
        idle = self.conf.agent.flow_idle_timeout
        age_every = max(1.0, min(idle / 4.0, 10.0))
        next_beat = next_age = 0.0
        try:
            while not self._stop:
                now = time.monotonic()
                if now >= next_beat:
                    if self._region_replaced():
                        self._reattach()
                    self.region.heartbeat()
                    next_beat = now + HEARTBEAT_S
                if now >= next_age:
                    self.flows.age(idle)
                    next_age = now + age_every
                self.flows.serve()
                if self._hup:
                    self._hup = False
                    LOG.info("SIGHUP: re-reading %s",
                             self.conf.agent.topology_file)
                    topo = self._read_topology()
                    if topo is not None:
                        self._apply(topo)
        finally:
            self.stop()

    def _on_hup(self, signum, frame) -> None:
        self._hup = True

    def _on_stop(self, signum, frame) -> None:
        self._stop = True

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.flows is not None:
            LOG.info("exiting: %s", dict(self.flows.counters))
        pid = self.conf.agent.pid_file
        if pid:
            try:
                os.unlink(pid)
            except FileNotFoundError:
                pass


def build_conf(argv: list[str] | None) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf(args=argv, project="bsdnet", prog="bsdnet-agent",
         default_config_files=[],
         description="The bsdnet agent: programs the datapath's shared "
                     "tables from a topology file and sets up flows.")
    return conf


def main(argv: list[str] | None = None) -> int:
    conf = build_conf(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent = Agent(conf)
    agent.install_signals()
    try:
        agent.start()
    except (RegionError, topology.TopologyError, OSError) as e:
        agent.stop()
        if agent._stop:
            LOG.info("stopped before serving")
            return 0
        LOG.error("cannot start: %s", e)
        return 1
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
