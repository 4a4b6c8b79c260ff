"""The agent (bsdnet-agent, bsdnet/cmd/agent.py): programs the datapath's
tables and decides trapped flows.  Its life cycle, threads and lock are
in ARCHITECTURE.md ("The agent").
"""
from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from bsdnet.shm.abi import ffi, lib
from bsdnet.shm.mtrie import RouteError
from bsdnet.shm.region import Region, RegionError, region_path
from bsdnet.shm.tables import TableError, Tables

from . import model
from . import portstore as ps
from . import state as statefile
from . import topology
from . import transport as transports
from .dhcp import DhcpServer
from .flows import (AgeTimeouts, Decision, FlowKey, FlowManager, Policy,
                    TrapChannel, Trap, VerdictCache, allow_all)
from .metrics import AgentCollector, Metrics
from .portapi import PortApi, PortApiServer
from .program import Programmer
from .secgroups import AddrSet, SecGroupPolicy

LOG = logging.getLogger("bsdnet.agent")

# A flow from a port with allowed address pairs whose source is none of
# its addresses: a DROP flow whose entry names the reason.
SPOOFED = Decision(lib.BSDNET_FA_DROP, lib.BSDNET_DROP_SPOOFED_IP)

HEARTBEAT_S = 1.0
LOOK_S = 0.05          # how often the region file is checked for a new one


def wait_region(shm_name: str | Callable[[], Region], timeout: float,
                stopped=lambda: False, where: str | None = None) -> Region:
    """Open the region (a shm name, or a transport's opener), retrying
    while the datapath has not created (or finished formatting) it."""
    deadline = time.monotonic() + timeout
    said = False
    if callable(shm_name):
        opener = shm_name
    else:
        where = where or region_path(shm_name)
        opener = lambda: Region.open(shm_name)  # noqa: E731
    while True:
        try:
            return opener()
        except RegionError as e:
            if stopped():
                raise RegionError("stopped while waiting for the region") \
                    from None
            if time.monotonic() >= deadline:
                raise RegionError(f"gave up after {timeout:g}s: {e}") from None
            if not said:
                LOG.info("waiting up to %gs for the datapath's region %s (%s)",
                         timeout, where, e)
                said = True
            time.sleep(0.1)


class Agent:
    def __init__(self, conf: cfg.ConfigOpts,
                 policy: Policy | None = None,
                 control: Callable[[Agent, cfg.ConfigOpts], Any] | None = None
                 ) -> None:
        """control: what feeds the store besides the port API, made for
        this agent (with [neutron] enabled, bsdnet.neutron's L2 agent:
        bsdnet-agent passes it in, so this package never imports it)."""
        self.conf = conf
        # Region, trap channel and interface binding: shm or device.
        self.transport = transports.from_conf(conf)
        # None: security groups for API ports, the C fast path otherwise.
        self.fixed_policy = policy
        self.region: Region | None = None
        self.tables: Tables | None = None
        self.programmer: Programmer | None = None
        self.flows: FlowManager | None = None
        self.channel: TrapChannel | None = None
        self.api: PortApiServer | None = None
        self.watcher: Any = None
        self._hup = False
        self._stop = False
        self._region_id: tuple[int, int] = (0, 0)
        self._topology: dict[str, Any] = topology.parse({})
        self.store = ps.PortStore(os.path.join(conf.agent.state_dir,
                                               "ports"))
        # Serialises everything that writes tables or reads the policy's
        # index: trap batches (main thread), API changes (HTTP threads),
        # host events (watcher thread).  It is the store's own lock: an
        # API change holds it from validation to apply, and the model is
        # read from the store under it, so one lock means one order.
        self.lock = self.store.lock
        self.index = ps.GroupsIndex()
        self.dhcp: DhcpServer | None = None
        self.sg_policy = SecGroupPolicy(self.index, self._guarded_port,
                                        self._port_for_addr)
        # What the flow manager asks: cleared whenever ports or groups
        # change (_refresh, apply_change).
        self.verdicts = VerdictCache(self._decide)
        self._vif_port: dict[int, str] = {}
        # The same for ports under security groups (port security on).
        self._vif_guarded: dict[int, str] = {}
        # vif -> the sources it may use, for ports with allowed address
        # pairs (the datapath cannot check those: see Programmer).
        self._vif_sources: dict[int, AddrSet] = {}
        self._addr_port: dict[tuple[int, int], str] = {}
        # Per VRF, (network, mask, port) of allowed-address-pair prefixes:
        # asked when _addr_port has no exact entry.
        self._addr_nets: dict[int, list[tuple[int, int, str]]] = {}
        self._fabric_addr: str | None = None  # from the host, if any
        # Neutron mode: the L2 agent feeding the store (None: hand-fed).
        if conf.neutron.enabled and control is None:
            raise ValueError("[neutron] enabled, and no Neutron L2 agent "
                             "given to drive this agent")
        self.metrics = Metrics()
        self.neutron: Any = control(self, conf) if control else None

    # ---- start ------------------------------------------------------------

    def start(self) -> None:
        self._write_pid()
        self.store.load()
        if self.neutron is not None:
            self.neutron.load()
        self.index = ps.index_from(self.store)
        self.sg_policy.index = self.index
        self._start_metrics()
        self._start_api()
        self._start_watcher()
        self._attach(initial=True)
        self.channel = self.transport.open_channel()
        self._new_flows()
        # The datapath rescans vifs on its own tick; this makes it now.
        self.channel.send_ctl(lib.BSDNET_CTL_VIF_SYNC)
        LOG.info("serving traps on %s", self.channel.trap_path)
        if self.neutron is not None:
            self.neutron.start()

    def _start_api(self) -> None:
        a = self.conf.agent
        token = None
        if a.api_tcp:
            token = statefile.token(a.api_token_file or os.path.join(
                a.state_dir, "api-token"))
        try:
            self.api = PortApiServer(
                PortApi(self.store, self.apply_change, neutron=self.neutron),
                socket_path=a.api_socket or None,
                group=a.api_socket_group or None,
                tcp=(a.api_host, a.api_port) if a.api_tcp else None,
                token=token, observe=self.metrics.api_request)
        except ValueError as e:
            raise ValueError(f"port API: {e}") from None
        self.api.start()
        statefile.write_text(a.state_dir, "api-url",
                             "".join(u + "\n" for u in self.api.urls))

    def _start_metrics(self) -> None:
        """Prometheus metrics: the control plane adds its own collector
        to self.metrics.registry when it starts."""
        self.metrics.registry.register(AgentCollector(self))
        a = self.conf.agent
        if a.metrics_port:
            try:
                self.metrics.serve(a.metrics_host, a.metrics_port)
            except OSError as e:
                raise OSError(f"metrics on {a.metrics_host}:"
                              f"{a.metrics_port}: {e}") from None

    def _start_watcher(self) -> None:
        if not self.conf.agent.watch_host:
            return
        from .hostevents import Watcher
        try:
            self.watcher = Watcher(self, self.conf.fabric.interface or None)
        except OSError as e:
            LOG.warning("not following host interfaces: %s", e)
            return
        self.watcher.start()

    def _new_flows(self) -> None:
        self.flows = FlowManager(self.region, self.channel, allow_all,
                                 fabric_vif=self._fabric_vif())
        self.flows.lock = self.lock
        self.flows.handlers[lib.BSDNET_TRAP_DHCP] = self._on_dhcp
        self._refresh()

    def _attach(self, initial: bool) -> None:
        """Open the region, adopt or start the state, program the model."""
        c = self.conf
        region = wait_region(self.transport.open_region,
                             c.datapath.region_wait, lambda: self._stop,
                             self.transport.where())
        with self.lock:
            self.region = region
            self.region.heartbeat()
            self._region_id = self.transport.region_id(self.region) or \
                (0, self.region.instance)
            LOG.info("region %s: instance %#x, geometry %s",
                     self.region.path, self.region.instance,
                     self.region.geometry())
            self.tables = Tables(self.region, label_base=(
                c.neutron.mpls_label_base if c.neutron.enabled else None))
            st = statefile.load(c.agent.state_dir)
            if st is not None and st["instance"] == self.region.instance:
                LOG.info("adopting live tables (state of instance %#x)",
                         self.region.instance)
                names = {n: v["vrf"] for n, v in st["networks"].items()}
            else:
                if st is not None:
                    LOG.info("state file is for instance %#x, region is "
                             "%#x: programming from scratch",
                             st["instance"], self.region.instance)
                st = statefile.empty_state(self.region.instance)
                names = {}
            self.tables.adopt(names)
            self.region.set_path_mtu(c.agent.mss_clamp,
                                     c.agent.icmp_error_rate)
            self.region.set_check_endpoints(c.fabric.check_endpoints)
            self.programmer = Programmer(self.tables, st,
                                         c.agent.vrf_flow_quota)
            self.programmer.unbind = self.transport.unbind_vif
            self.programmer.reserve()
            self.dhcp = DhcpServer(self.region.router_mac,
                                   c.agent.dhcp_lease_time)
            topo = self._read_topology(initial=initial)
            if topo is None:            # unreadable now: the last good one
                topo = self._topology
            self._apply(topo)

    def fabric_address_now(self) -> str | None:
        """The tunnel source in force: the host's address on the fabric
        interface when followed, else the configured one."""
        fab = self._topology.get("fabric") or {}
        return self._fabric_addr or fab.get("address") or \
            self.conf.fabric.address or None

    def _fabric_vif(self) -> int:
        return self.programmer.state["fabric"].get("vif", 0)

    def _region_replaced(self) -> bool:
        """True if the datapath made new tables (a new file, or the file
        reformatted in place with a new instance)."""
        now = self.transport.region_id(self.region)
        if now is None:
            return False            # going or coming: look again later
        magic = lib.bsdnet_agent_load_acq32(
            ffi.addressof(self.region.hdr, "rh_magic"))
        return now != self._region_id or magic != lib.BSDNET_MAGIC

    def _reattach(self) -> None:
        LOG.warning("region %s was replaced by the datapath: reprogramming "
                    "the new one", self.region.path)
        t0 = time.monotonic()
        with self.lock:
            self.flows = None
            self.tables = self.programmer = None
            self.region.close()
        self._attach(initial=False)
        with self.lock:
            self._new_flows()
        self.channel.send_ctl(lib.BSDNET_CTL_VIF_SYNC)
        LOG.info("new region reprogrammed in %.3fs: %d ports",
                 time.monotonic() - t0, len(self.programmer.state["ports"]))

    def _write_pid(self) -> None:
        if self.conf.agent.pid_file:
            with open(self.conf.agent.pid_file, "w", encoding="ascii") as f:
                f.write(f"{os.getpid()}\n")

    def _read_topology(self, initial: bool = False) -> dict[str, Any] | None:
        path = self.conf.agent.topology_file
        if initial and not os.path.exists(path):
            LOG.warning("no topology file %s yet: programming the fabric "
                        "and the port API's objects only", path)
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

    def _model(self) -> dict[str, Any]:
        """The topology file and the store, as one topology."""
        f = self.conf.fabric
        topo = model.merge(self._topology, self.store,
                           vif_quota=self.conf.agent.vif_flow_quota,
                           neighbors=f.neighbors or {},
                           nexthop_mac=f.nexthop_mac, up=self._link_up,
                           resolve=self.watcher.resolve
                           if self.watcher is not None else None)
        if topo["fabric"] is not None and self._fabric_addr:
            topo["fabric"] = {**topo["fabric"], "address": self._fabric_addr}
        return topo

    def _apply(self, topo: dict[str, Any]) -> None:
        """Reconcile the tables with the topology file topo plus the
        store (start, SIGHUP, a new region, host events)."""
        with self.lock:
            self._topology = topo
            try:
                changes = self.programmer.apply(self._model())
            except (TableError, RouteError, ValueError) as e:
                # A table is full: what was programmed stays (and is in
                # the state), the rest waits for the next reconcile.
                LOG.error("topology only partly applied: %s", e)
                changes = self.programmer.changes
            self._programmed(changes)
            LOG.info("topology applied: %s",
                     dict(changes) if changes else "no change")

    def _programmed(self, changes) -> None:
        """After tables changed: state file, datapath, flow manager."""
        statefile.save(self.conf.agent.state_dir, self.programmer.state)
        if self.channel is not None and changes:
            self.channel.send_ctl(lib.BSDNET_CTL_VIF_SYNC)
        self._refresh()

    def _refresh(self) -> None:
        """Maps from vifs and addresses to API ports, the policy in force,
        the taps the watcher follows."""
        ports = self.programmer.state["ports"] if self.programmer else {}
        vif_port, guarded, addr_port, sources = {}, {}, {}, {}
        addr_nets: dict[int, list[tuple[int, int, str]]] = {}
        for o in self.store.list("port"):
            assert isinstance(o, ps.Port)
            st = ports.get(o.id)
            if st is None:
                continue
            vif_port[st["vif"]] = o.id
            if not o.port_security:
                continue        # no groups, no source check: as if remote
            guarded[st["vif"]] = o.id
            src = model.sources(o)
            for a in src.hosts:
                addr_port[(st["vrf"], a)] = o.id
            for net, mask in src.nets:
                addr_nets.setdefault(st["vrf"], []).append((net, mask, o.id))
            if o.allowed_address_pairs:
                sources[st["vif"]] = src
        self._vif_port, self._vif_guarded = vif_port, guarded
        self._addr_port, self._addr_nets = addr_port, addr_nets
        self._vif_sources = sources
        self.verdicts.clear()
        self._sync_ports()
        if self.flows is not None:
            self.flows.routes_changed()
            self.flows.fabric_vif = self._fabric_vif()
            if self.fixed_policy is not None:
                self.flows.policy = self.fixed_policy
            else:
                # Only API ports have security groups; without any, the
                # whole batch stays in C.
                self.flows.policy = self.verdicts if guarded \
                    else allow_all
        if self.watcher is not None:
            fab = self._topology.get("fabric") or {}
            # Taps of ports, and the uplinks of bridged networks.
            self.watcher.follow({p["interface"] for p in
                                 self._topology["ports"]} |
                                {o.system_name for o in
                                 self.store.list("port")} |
                                set((self.conf.neutron.bridge_mappings or
                                     {}).values()),
                                fabric=fab.get("interface") or None)

    def _sync_ports(self) -> None:
        """Interfaces to vifs as the vif table now says (the kernel
        module; a userspace datapath scans the table itself)."""
        if self.region is None:
            return
        try:
            self.transport.sync_ports(self.region)
        except (OSError, RegionError) as e:
            LOG.warning("binding interfaces to vifs: %s", e)

    def _link_up(self, name: str) -> bool:
        """The vif's UP flag: the tap is there and up (always, when the
        host is not followed)."""
        return self.watcher is None or self.watcher.present(name)

    def _decide(self, key: FlowKey, trap: Trap) -> object:
        """The flow policy of API ports: the source check of ports with
        allowed address pairs, then security groups."""
        allowed = self._vif_sources.get(trap.vif)
        if allowed is not None and key.src not in allowed:
            return SPOOFED
        return self.sg_policy(key, trap)

    def _guarded_port(self, vif: int) -> str | None:
        """The port a trapped packet came from, if security groups apply
        to it."""
        return self._vif_guarded.get(vif)

    def _port_for_addr(self, vrf: int, addr: int) -> str | None:
        pid = self._addr_port.get((vrf, addr))
        if pid is None:
            for net, mask, p in self._addr_nets.get(vrf, ()):
                if addr & mask == net:
                    return p
        return pid

    # ---- the port API -----------------------------------------------------

    def apply_change(self, change: ps.Change) -> None:
        """The port API's apply callback (store lock held, object already
        written): program the change, or raise and the store rolls it
        back.  Without a region (datapath not there yet) the change is
        only stored: attaching applies the whole store."""
        with self.lock:
            self.verdicts.clear()
            affected = ps.update_index(self.index, change)
            try:
                if self.programmer is not None:
                    self._program_change(change)
            except BaseException:
                ps.update_index(self.index, ps.Change(change.kind,
                                                      change.new,
                                                      change.old))
                raise
            if self.programmer is None:
                LOG.info("%s stored; applied when the datapath's region "
                         "appears", change.kind)
                return
            self.verdicts.clear()       # _program_change may not refresh
            if affected and self.flows is not None and \
                    _may_change_verdicts(change):
                n = self.flows.redecide()
                if n:
                    LOG.info("security groups of %d ports changed: %d "
                             "flows re-decided", len(affected), n)

    def _program_change(self, change: ps.Change) -> None:
        p = self.programmer
        new, old = change.new, change.old
        if change.kind == "port":
            if new is None:
                changes = p.remove_port(old.id)
            else:
                assert isinstance(new, ps.Port)
                net = self.store.find("network", new.vn_id)
                changes = p.apply_port(model.port_entry(
                    new, net, self.conf.agent.vif_flow_quota,
                    self._link_up(new.system_name)))
        elif change.kind == "network":
            if new is None:
                changes = p.remove_network(old.id)
            else:
                changes = p.apply_network(new.id, new.label)
                if old is not None and old.mtu != new.mtu:
                    changes = p.apply(self._model())
        elif change.kind == "route":
            changes = p.apply(self._model())
        else:
            return                  # security groups: only the index
        self._programmed(changes)

    # ---- services to VMs --------------------------------------------------

    def _on_dhcp(self, trap: Trap) -> None:
        pid = self._vif_port.get(trap.vif)
        port = self.store.find("port", pid) if pid else None
        if port is None:
            LOG.info("DHCP on vif %d: not a port of the API, not answered",
                     trap.vif)
            return
        assert isinstance(port, ps.Port)
        net = self.store.find("network", port.vn_id)
        reply = self.dhcp.handle(trap.frame, port, net)
        if reply is not None and not self.channel.xmit(trap.vif, reply):
            LOG.warning("DHCP reply to port %s not taken by the datapath",
                        port.id)

    # ---- host events (watcher thread) -------------------------------------

    def host_link(self, name: str) -> None:
        """A followed tap appeared, went, or changed link state: its vif's
        UP flag follows, and the datapath re-attaches vifs."""
        with self.lock:
            if self.programmer is None:
                return
            LOG.info("interface %s %s", name,
                     "up" if self.watcher.present(name) else "down or gone")
            self._apply(self._topology)

    def fabric_address(self, addr: str | None) -> None:
        """The fabric interface's address on the host changed: the tunnel
        source follows it (None: keep the configured one)."""
        with self.lock:
            if addr == self._fabric_addr:
                return
            self._fabric_addr = addr
            if self.programmer is not None:
                LOG.info("fabric address now %s", addr or "as configured")
                self._apply(self._topology)

    def fabric_next_hop(self, what: str, node: str | None = None) -> None:
        """The default route, its gateway's MAC or (node) a fabric
        neighbour's MAC changed: the TUNNEL nexthops' destination MAC
        follows (the reconcile writes only the entries that differ)."""
        with self.lock:
            if self.programmer is None or (
                    node is not None and node not in
                    model.route_nodes(self.store)):
                return
            LOG.info("fabric next hop: %s", what)
            self._apply(self._topology)

    # ---- run --------------------------------------------------------------

    def install_signals(self) -> None:
        """Before start(): a SIGHUP or SIGTERM while the agent waits for
        the region must not kill it with the default action.  Python's
        handlers are installed without SA_RESTART, so a signal also ends
        the blocking recvmmsg in serve() early (EINTR)."""
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)

    def timeouts(self) -> AgeTimeouts:
        a = self.conf.agent
        return AgeTimeouts(tcp=a.flow_idle_timeout,
                           tcp_closed=a.tcp_closed_timeout,
                           udp=a.udp_idle_timeout, icmp=a.icmp_idle_timeout,
                           other=a.other_idle_timeout,
                           drop=a.drop_flow_timeout)

    def run(self) -> None:
        idle = self.timeouts()
        age_every = max(1.0, min(idle.shortest() / 4.0, 10.0))
        next_beat = next_age = next_look = 0.0
        try:
            while not self._stop:
                now = time.monotonic()
                if now >= next_look:
                    # A stat() every turn (at most every LOOK_S): a
                    # restarted datapath is reprogrammed without waiting
                    # for the heartbeat.
                    if self._region_replaced():
                        self._reattach()
                        next_beat = 0.0
                    next_look = now + LOOK_S
                if now >= next_beat:
                    self.region.heartbeat()
                    next_beat = now + HEARTBEAT_S
                    with self.lock:
                        self._sync_ports()  # taps that were missing
                if now >= next_age:
                    with self.lock:
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
        if self.neutron is not None:
            self.neutron.stop()
        self.metrics.stop()
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        # Interfaces stay attached: the module keeps forwarding the flows
        # it has while the agent restarts.
        self.transport.close()
        if self.flows is not None:
            LOG.info("exiting: %s", dict(self.flows.counters))
        pid = self.conf.agent.pid_file
        if pid:
            try:
                os.unlink(pid)
            except FileNotFoundError:
                pass


def _may_change_verdicts(change: ps.Change) -> bool:
    """Can this change turn a live flow's verdict?  Groups changing, or a
    port's groups or addresses; not a new port (its flows are new too),
    nor a port going (its flows go with its vif)."""
    if change.kind == "security-group":
        return True
    if change.kind != "port" or change.old is None or change.new is None:
        return False
    o, n = change.old, change.new
    return (o.security_groups, o.ip_address, o.allowed_address_pairs,
            o.port_security) != (n.security_groups, n.ip_address,
                                 n.allowed_address_pairs, n.port_security)
