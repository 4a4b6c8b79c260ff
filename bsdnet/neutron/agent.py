"""The agent's Neutron mode: a Neutron L2 agent feeding bsdnet's store.

Roadmap:
  plug()/unplug()   the port API (Nova's VIF plugging): a plug is kept
                    (plugs.PlugStore) and Neutron asked about the port;
                    only what Neutron bound to this host is programmed
  run()             the sync thread: queued casts, and full resyncs (at
                    start, after any failed call, when Neutron says the
                    agent was revived, every resync_interval)
  report()          the report thread: state reports every report_interval,
                    on their own so that a long resync or a call waiting
                    for a lost reply never lets Neutron take the agent for
                    dead (as Neutron's agents run theirs in a looping call)
  _devices()        device details, network info and security-group info
                    for some ports, as store objects (translate), then
                    update_device_list: ports go ACTIVE or DOWN in Neutron
  _fdb_*()          l2population's entries as routes: a remote port's /32
                    through its node, with its network's label
  _sweep_*()        after a resync, routes that l2population did not
                    confirm before our own marker came back are removed

Everything that changes tables goes through the store (commit with the
daemon's apply callback, as the port API does), under the daemon's lock,
so a resync writes only what differs and nothing that forwards stops
forwarding while it runs.  RPC calls are made without that lock.

Labels: an overlay network has one MPLS label on every node, its VNI plus
[neutron] mpls_label_base (constants.network_label); it points at a VRF
nexthop, so the receiving node looks the inner destination up in the
network's VRF.  No node reads another's state.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
import uuid
from typing import Any, Callable, Iterable, Iterator

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bsdnet.agent import portstore as ps
from bsdnet.agent.metrics import BUCKETS
from bsdnet.common.progress import Progress
from bsdnet.agent.portapi import ECMP_MAX

from . import constants as c
from . import translate as tr
from .plugs import PlugStore

LOG = logging.getLogger(__name__)

BACKOFF_MAX = 30.0


class NeutronAgent:
    """One node's Neutron L2 agent, inside bsdnet-agent."""

    def __init__(self, agent: Any, conf: Any) -> None:
        self.agent = agent
        self.conf = conf
        self.host = conf.neutron.host
        self.agent_id = f"bsdnet-agent-{self.host}"
        self.store: ps.PortStore = agent.store
        self.plugs = PlugStore(os.path.join(conf.agent.state_dir, "neutron",
                                            "plugs"))
        self.rpc: Any = None
        self.counters: collections.Counter[str] = collections.Counter()
        self._cv = threading.Condition()
        self._events: collections.deque[tuple[str, Any]] = \
            collections.deque()
        self._dirty: set[str] = set()        # ports to ask Neutron about
        self._down: set[str] = set()         # ports to report DOWN
        self._resync = True
        self._start_flag = True
        self._outcome: dict[str, str] = {}   # plug id -> what became of it
        self._bridged: dict[str, tr.Binding] = {}
        self._unconfirmed: set[tuple[str, ps.RoutePath]] | None = None
        self._marker: str | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self._reporter: threading.Thread | None = None
        self.connected: bool | None = None     # None: not tried yet
        self.reporting: bool | None = None     # None: no report tried yet

    # ---- life ---------------------------------------------------------------
    def load(self) -> None:
        self.plugs.load()

    def start(self) -> None:
        m = self.agent.metrics
        m.registry.register(_Collector(self))
        self._rpc_seconds = Histogram(
            "bsdnet_neutron_rpc_seconds", "Calls to neutron-server, by "
            "method, and how long each took to be answered", ["method"],
            buckets=BUCKETS, registry=m.registry)
        self._thread = threading.Thread(target=self.run, name="neutron",
                                        daemon=True)
        self._thread.start()
        self._reporter = threading.Thread(target=self.report,
                                          name="neutron-report", daemon=True)
        self._reporter.start()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        for t in (self._thread, self._reporter):
            # Each leaves its loop at once; daemon threads, they are not
            # waited for longer (a teardown can outlast the process's own).
            if t is not None:
                t.join(timeout=0.2)
        if self.rpc is not None:
            self.rpc.close()
            self.rpc = None

    # ---- the port API (HTTP threads) ----------------------------------------
    def plug(self, body: Any) -> dict[str, Any]:
        """Nova plugged a port: keep it, ask Neutron, answer with the port
        as programmed, or refuse it if Neutron bound it elsewhere."""
        plug = tr.Plug.from_request(body)
        with self.store.lock:
            other = self.plugs.by_tap(plug.system_name)
            if other is not None and other.id != plug.id:
                raise ps.ConflictError(f"interface {plug.system_name} "
                                       f"belongs to port {other.id}")
            same = self.plugs.get(plug.id) == plug
            self.plugs.put(plug)
        if same and self.store.find("port", plug.id) is not None:
            return self.store.get("port", plug.id).to_json()
        with self._cv:
            self._outcome.pop(plug.id, None)
            self._dirty.add(plug.id)
            self._cv.notify_all()
            deadline = time.monotonic() + self.conf.neutron.plug_timeout
            while plug.id not in self._outcome and not self._stop:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            outcome = self._outcome.pop(plug.id, "pending")
        LOG.info("port %s plugged on %s: %s", plug.id, plug.system_name,
                 outcome)
        if outcome.startswith("refused"):
            self.plugs.remove(plug.id)
            raise ps.ConflictError(f"port {plug.id}: {outcome}")
        port = self.store.find("port", plug.id)
        if port is not None:
            return port.to_json()
        return {**plug.to_json(), "status": outcome}

    def unplug(self, pid: str) -> dict[str, Any]:
        pid = ps.v_uuid(pid, "port id")
        plug = self.plugs.remove(pid)
        if plug is None:
            raise ps.NotFoundError(f"port {pid} is not plugged here")
        with self.store.lock:
            self._forget_ports([pid])
        self.store.flush()
        with self._cv:
            self._bridged.pop(pid, None)
            self._down.add(pid)
            self._cv.notify_all()
        LOG.info("port %s unplugged from %s", pid, plug.system_name)
        return plug.to_json()

    def plugged(self) -> list[dict[str, Any]]:
        """GET /plugs: every plug and what became of it."""
        out = []
        for p in sorted(self.plugs.all(), key=lambda x: x.id):
            b = self._bridged.get(p.id)
            status = "bound" if self.store.find("port", p.id) is not None \
                else f"bridged ({b.network_type})" if b else "pending"
            out.append({**p.to_json(), "status": status})
        return out

    # ---- casts from Neutron (RPC threads: queue and return) ---------------
    def cast(self, kind: str, payload: Any) -> None:
        with self._cv:
            self._events.append((kind, payload))
            self._cv.notify_all()

    # ---- the sync thread ------------------------------------------------------
    def run(self) -> None:
        n = self.conf.neutron
        backoff = n.retry_interval
        next_resync = time.monotonic() + n.resync_interval
        while not self._stop:
            try:
                if self.rpc is None:
                    self._connect()
                    with self._cv:
                        self._cv.notify_all()   # the reporter waits for it
                now = time.monotonic()
                if n.resync_interval and now >= next_resync:
                    self._resync = True
                    next_resync = now + n.resync_interval
                if self._resync:
                    self._full_sync()
                self._drain()
                backoff = n.retry_interval
                if self.connected is False:
                    LOG.info("Neutron reachable again")
                self.connected = True
            except Exception as e:      # Neutron, RabbitMQ or a bug: retry
                self.counters["rpc_failures"] += 1
                if self.connected is not False:
                    LOG.warning("Neutron: %s: %s; retrying every %gs up to "
                                "%gs, forwarding carries on", type(e).__name__,
                                e, backoff, BACKOFF_MAX,
                                exc_info=not _is_rpc_error(e))
                self.connected = False
                self._resync = True
                with self._cv:
                    self._cv.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            with self._cv:
                if not (self._events or self._dirty or self._down or
                        self._stop or self._resync):
                    self._cv.wait(max(0.0, next_resync - time.monotonic())
                                  if n.resync_interval else None)

    def _connect(self) -> None:
        from .rpc import Rpc
        # As Neutron's agents wait for a report's answer: report_interval,
        # but not less than 15 s (a busy server answers slowly, and each
        # timeout means a full resync).
        rpc = Rpc(self.conf, self.host, self.agent_id,
                  report_timeout=max(self.conf.neutron.report_interval, 15.0),
                  observe=lambda m, s: self._rpc_seconds.labels(m).observe(s))
        try:
            rpc.listen(_Endpoint(self))
        except BaseException:
            rpc.close()
            raise
        self.rpc = rpc
        LOG.info("listening to Neutron as host %s (agent %s)", self.host,
                 self.agent_id)

    # ---- the report thread ----------------------------------------------------
    def report(self) -> None:
        """A state report every report_interval once connected; a report
        that fails is logged and counted, and the next is sent on time."""
        n = self.conf.neutron
        while True:
            with self._cv:
                while self.rpc is None and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
            t0 = time.monotonic()
            try:
                self._report()
                if self.reporting is False:
                    LOG.info("state reports reach Neutron again")
                self.reporting = True
            except Exception as e:      # Neutron, RabbitMQ or a bug
                self.counters["report_failures"] += 1
                if self.reporting is not False:
                    LOG.warning("state report to Neutron failed: %s: %s; "
                                "the next in %gs", type(e).__name__, e,
                                n.report_interval,
                                exc_info=not _is_rpc_error(e))
                self.reporting = False
            with self._cv:
                if not self._stop:
                    self._cv.wait(max(0.0, t0 + n.report_interval -
                                      time.monotonic()))

    def _report(self) -> None:
        r = self.rpc.report_state(self.state())
        self.counters["reports"] += 1
        if self._start_flag:
            LOG.info("registered with Neutron as %r on %s", c.AGENT_TYPE,
                     self.host)
        self._start_flag = False
        if r == "revived":
            LOG.info("Neutron had taken this agent for dead: full resync")
            with self._cv:
                self._resync = True
                self._cv.notify_all()

    def state(self) -> dict[str, Any]:
        """The report_state document: what `openstack network agent show`
        lists as the agent's configuration."""
        n = self.conf.neutron
        base, count = self.label_window()
        return {"binary": c.AGENT_BINARY, "host": self.host, "topic": "N/A",
                "agent_type": c.AGENT_TYPE, "start_flag": self._start_flag,
                "configurations": {
                    c.CONF_TUNNELING_IP: self.tunneling_ip(),
                    c.CONF_TUNNEL_TYPES: list(c.OVERLAY_TYPES),
                    c.CONF_L2POP: True,
                    c.CONF_BRIDGE_MAPPINGS: dict(n.bridge_mappings or {}),
                    c.CONF_LABEL_BASE: base, c.CONF_LABEL_COUNT: count,
                    c.CONF_ENCAPSULATIONS: ["mplsogre"],
                    "devices": len(self.plugs.all()),
                    "in_distributed_mode": False}}

    def tunneling_ip(self) -> str:
        return self.agent.fabric_address_now() or ""

    def label_window(self) -> tuple[int, int]:
        base = self.conf.neutron.mpls_label_base
        region = self.agent.region
        n = len(region.labels) if region is not None else 0
        return base, max(0, n - base)

    # ---- full resync ----------------------------------------------------------
    def _full_sync(self) -> None:
        t0 = time.monotonic()
        calls, waited = self.rpc.calls.copy(), self.rpc.waited.copy()
        plugs = [p.id for p in self.plugs.all()]
        LOG.info("full resync with Neutron: %d plugged ports", len(plugs))
        with self._cv:
            self._dirty.difference_update(plugs)
        with Progress("resync: device details", len(plugs)) as p:
            up, outcome = self._devices(plugs, full=True, progress=p.step)
        self._begin_sweep()
        # l2population answers a device up with refresh_tunnels by sending
        # its network's whole forwarding table: once per network is enough
        # (each costs the server a query of the network's ports).
        first: dict[str, str] = {}
        for pid in up:
            port = self.store.find("port", pid)
            net = port.vn_id if isinstance(port, ps.Port) else \
                self.plugs.get(pid).network_id
            first.setdefault(net, pid)
        try:
            with Progress("resync: ports up", len(up)) as p:
                self.rpc.update_devices(sorted(first.values()), [],
                                        refresh_tunnels=True, progress=p.step)
                self.rpc.update_devices(
                    sorted(set(up) - set(first.values())), [],
                    progress=p.step)
        finally:
            self._answer(outcome)
        self.rpc.mark(self._marker)
        self._resync = False
        self.counters["resyncs"] += 1
        # What the resync cost; the report thread's calls are not its own.
        calls = self.rpc.calls - calls
        waited = self.rpc.waited - waited
        calls.pop("report_state", None)
        LOG.info("full resync done in %.2fs: %d ports up, %d RPC messages "
                 "sent (%s)", time.monotonic() - t0, len(up),
                 sum(calls.values()), ", ".join(
                     f"{m} {n} in {waited[m]:.2f}s"
                     for m, n in sorted(calls.items())))

    # ---- queued work ----------------------------------------------------------
    def _drain(self) -> None:
        while True:
            with self._cv:
                if self._events:
                    kind, payload = self._events.popleft()
                elif self._dirty:
                    ids, self._dirty = self._dirty, set()
                    kind, payload = "devices", ids
                elif self._down:
                    ids, self._down = self._down, set()
                    kind, payload = "down", ids
                else:
                    return
            try:
                self._handle(kind, payload)
            except Exception:
                if kind == "devices":
                    with self._cv:
                        self._dirty |= payload
                elif kind == "down":
                    with self._cv:
                        self._down |= payload
                raise

    def _handle(self, kind: str, payload: Any) -> None:
        self.counters[f"cast_{kind}"] += 1
        if kind == "devices":
            # A plug is answered once Neutron knows the port is up, so that
            # l2population has told the other nodes when Nova starts the VM.
            up, outcome = self._devices(sorted(payload))
            try:
                if up:
                    self.rpc.update_devices(up, [])
            finally:
                self._answer(outcome)
        elif kind == "down":
            self.rpc.update_devices([], sorted(payload))
        elif kind == "port_update":
            if self.plugs.get(payload) is not None:
                with self._cv:
                    self._dirty.add(payload)
        elif kind == "port_delete":
            self._port_deleted(payload)
        elif kind == "network_update":
            with self._cv:
                self._dirty |= {p.id for p in self.plugs.all()
                                if p.network_id == payload}
        elif kind == "network_delete":
            self._network_deleted(payload)
        elif kind == "groups":
            self._groups_changed(set(payload))
        elif kind in ("fdb_add", "fdb_remove", "fdb_update"):
            self._fdb(kind, payload)
        elif kind == "marker":
            self._end_sweep(payload)

    # ---- devices ----------------------------------------------------------------
    def _devices(self, ids: list[str], full: bool = False,
                 progress: Callable[[int], None] | None = None
                 ) -> tuple[list[str], dict[str, str]]:
        """Ask Neutron about these plugged ports and program what it says.
        Returns the ports to report up (bound here and programmed) and
        what became of each, for the plugs waiting (_answer)."""
        ids = [i for i in ids if self.plugs.get(i) is not None]
        if not ids and not full:
            return [], {}
        details, failed = self.rpc.device_details(ids, progress)
        if failed:
            LOG.warning("Neutron failed to give details of %s: asking again",
                        failed)
            with self._cv:
                self._dirty |= set(failed)
        bound: dict[str, tuple[dict[str, Any], tr.Binding]] = {}
        outcome: dict[str, str] = {}
        for d in details:
            pid = d.get("device") if isinstance(d, dict) else None
            if self.plugs.get(pid) is None:
                continue
            if not tr.bound(d):
                outcome[pid] = f"refused: Neutron has not bound it to host " \
                    f"{self.host}"
                continue
            try:
                bound[pid] = (d, tr.binding_from(d))
            except tr.Refused as e:
                outcome[pid] = f"refused: {e}"
        overlay = {pid: v for pid, v in bound.items() if v[1].overlay}
        infos = {}
        for nid in sorted({b.network_id for _, b in overlay.values()}):
            infos[nid] = self.rpc.network_info(nid)
        sg = self.rpc.security_group_info(
            [pid for pid, (d, _) in overlay.items()
             if d.get("port_security_enabled", True) is not False]) \
            if overlay else {}
        groups = tr.groups_from(sg) if overlay else {}
        ports, nets = {}, {}
        base, count = self.label_window()
        for pid, (d, b) in overlay.items():
            label = c.network_label(b.segmentation_id or 0, base, count)
            try:
                if label is None:
                    raise tr.Refused(f"VNI {b.segmentation_id} is outside "
                                     f"this node's label window")
                net = tr.network_from(b, infos.get(b.network_id), label)
                ports[pid] = tr.port_from(self.plugs.get(pid), d,
                                          (sg.get("devices") or {}).get(pid),
                                          net)
                nets[b.network_id] = net
            except tr.Refused as e:
                outcome[pid] = f"refused: {e}"
        bridged = {pid: b for pid, (_, b) in bound.items() if not b.overlay}
        with self.store.lock:
            for net in nets.values():
                self._commit("network", net.id, net)
            for g in groups.values():
                self._commit("security-group", g.id, g)
            for pid, port in ports.items():
                self._commit("port", pid, port)
                outcome[pid] = "bound"
            gone = [pid for pid in ids if pid not in ports and
                    pid not in failed]
            if full:        # and ports a lost plug left behind
                gone += [p.id for p in self.store.list("port")
                         if self.plugs.get(p.id) is None]
            self._forget_ports(gone)
        self.store.flush()
        with self._cv:
            for pid, b in bridged.items():
                self._bridged[pid] = b
                outcome[pid] = "bridged"
            for pid in outcome:
                if pid not in bridged:
                    self._bridged.pop(pid, None)
        for pid, why in outcome.items():
            if why.startswith("refused"):
                LOG.warning("port %s not programmed: %s", pid, why)
        # An administratively down port is wired but forwards nothing:
        # Neutron shows it DOWN, as with its own agents.
        down = {pid for pid, port in ports.items() if not port.admin_up}
        if down:
            with self._cv:
                self._down |= down
        return sorted((set(ports) - down) | set(bridged)), outcome

    def _answer(self, outcome: dict[str, str]) -> None:
        """Tell the port API's waiting plugs what became of their ports."""
        with self._cv:
            self._outcome.update(outcome)
            self._cv.notify_all()

    def _commit(self, kind: str, oid: str, obj: ps.Obj | None) -> None:
        """Change one object (store lock held) unless it is the same."""
        if obj is not None and self.store.find(kind, oid) == obj:
            return
        if obj is None and self.store.find(kind, oid) is None:
            return
        self.store.commit(kind, oid, obj, self.agent.apply_change,
                          persist=False)

    def _forget_ports(self, ids: Iterable[str]) -> None:
        """Unprogram ports (store lock held), then what nothing uses any
        more: groups, and networks with no local port (routes first)."""
        for pid in ids:
            self._commit("port", pid, None)
        ports = [p for p in self.store.list("port")
                 if isinstance(p, ps.Port)]
        used_nets = {p.vn_id for p in ports}
        for r in self.store.list("route"):
            if isinstance(r, ps.Route) and r.network not in used_nets:
                self._commit("route", r.id, None)
        for n in self.store.list("network"):
            if n.id not in used_nets:
                self._commit("network", n.id, None)
        groups = {g.id: g for g in self.store.list("security-group")
                  if isinstance(g, ps.SecurityGroup)}
        used = {gid for p in ports for gid in p.security_groups}
        used |= {r.remote_group_id for gid in list(used) if gid in groups
                 for r in groups[gid].rules if r.remote_group_id}
        for gid in groups:
            if gid not in used:
                self._commit("security-group", gid, None)

    def _port_deleted(self, pid: str) -> None:
        if self.plugs.remove(pid) is None:
            return
        LOG.info("port %s deleted in Neutron: unplugged", pid)
        with self.store.lock:
            self._forget_ports([pid])
        self.store.flush()
        with self._cv:
            self._bridged.pop(pid, None)

    def _network_deleted(self, nid: str) -> None:
        gone = [p.id for p in self.plugs.all() if p.network_id == nid]
        for pid in gone:
            self.plugs.remove(pid)
        with self.store.lock:
            self._forget_ports(gone)
            for r in self.store.list("route"):
                if isinstance(r, ps.Route) and r.network == nid:
                    self._commit("route", r.id, None)
            self._commit("network", nid, None)
        self.store.flush()
        LOG.info("network %s deleted in Neutron: %d ports unplugged", nid,
                 len(gone))

    def _groups_changed(self, gids: set[str]) -> None:
        """Rules or members of these groups changed: ask again for the
        ports that are in them or name them as remote."""
        groups = {g.id: g for g in self.store.list("security-group")
                  if isinstance(g, ps.SecurityGroup)}
        naming = {gid for gid, g in groups.items()
                  if any(r.remote_group_id in gids for r in g.rules)}
        hit = [p.id for p in self.store.list("port")
               if isinstance(p, ps.Port) and
               set(p.security_groups) & (gids | naming)]
        if not hit:
            return
        sg = self.rpc.security_group_info(hit)
        new = tr.groups_from(sg)
        with self.store.lock:
            for g in new.values():
                self._commit("security-group", g.id, g)
        self.store.flush()
        LOG.info("security groups %s changed: %d ports re-evaluated",
                 sorted(gids), len(hit))

    # ---- l2population -----------------------------------------------------------
    def _labels(self) -> dict[str, int]:
        return {n.id: n.label for n in self.store.list("network")
                if isinstance(n, ps.Network) and n.label}

    def _fdb(self, kind: str, fdb: Any) -> None:
        labels = self._labels()
        own = self.tunneling_ip()
        if kind == "fdb_update":
            gone, new = tr.fdb_changes(fdb, own, labels)
        elif kind == "fdb_add":
            gone, new = [], tr.fdb_paths(fdb, own, labels)
        else:
            gone, new = tr.fdb_paths(fdb, own, labels), []
        with self.store.lock:
            for p in gone:
                self._route_path(p, labels[p.network], add=False)
            for p in new:
                self._route_path(p, labels[p.network], add=True)
        self.store.flush()

    def _route_path(self, p: tr.FdbPath, label: int, add: bool) -> None:
        rid = f"{p.network}:{p.prefix}"
        path = ps.RoutePath(p.node, label)
        old = self.store.find("route", rid)
        paths = set(old.paths) if isinstance(old, ps.Route) else set()
        if add:
            if self._unconfirmed is not None:
                self._unconfirmed.discard((rid, path))
            paths.add(path)
            if len(paths) > ECMP_MAX:
                LOG.warning("route %s: more than %d nodes, %s left out",
                            rid, ECMP_MAX, p.node)
                return
        else:
            paths.discard(path)
        new = ps.Route(p.network, p.prefix, tuple(sorted(paths))) \
            if paths else None
        self._commit("route", rid, new)

    def _begin_sweep(self) -> None:
        with self.store.lock:
            self._unconfirmed = {(r.id, path) for r in
                                 self.store.list("route")
                                 if isinstance(r, ps.Route)
                                 for path in r.paths}
        self._marker = uuid.uuid4().hex

    def _end_sweep(self, token: str) -> None:
        if token != self._marker or self._unconfirmed is None:
            return
        stale, self._unconfirmed = self._unconfirmed, None
        with self.store.lock:
            for rid, path in sorted(stale):
                r = self.store.find("route", rid)
                if not isinstance(r, ps.Route) or path not in r.paths:
                    continue
                left = tuple(x for x in r.paths if x != path)
                self._commit("route", rid, ps.Route(r.network, r.prefix, left)
                             if left else None)
        self.store.flush()
        if stale:
            LOG.info("resync: %d remote paths l2population no longer lists "
                     "removed", len(stale))


class _Collector(Collector):
    """The Neutron mode's counters, for the agent's Prometheus metrics."""

    def __init__(self, owner: NeutronAgent) -> None:
        self.o = owner

    def collect(self) -> Iterator[Any]:
        o = self.o
        up = GaugeMetricFamily("bsdnet_neutron_connected",
                               "1 while calls to neutron-server succeed")
        up.add_metric([], 1 if o.connected else 0)
        yield up
        rep = GaugeMetricFamily("bsdnet_neutron_reporting",
                                "1 while state reports reach neutron-server")
        rep.add_metric([], 1 if o.reporting else 0)
        yield rep
        c = CounterMetricFamily("bsdnet_neutron_events", "Resyncs, state "
                                "reports, failed calls and casts handled, by "
                                "kind", labels=["event"])
        for k, v in sorted(o.counters.items()):
            c.add_metric([k], v)
        yield c
        plugs = GaugeMetricFamily("bsdnet_neutron_plugs",
                                  "Ports plugged here, by what Neutron said",
                                  labels=["status"])
        by: collections.Counter[str] = collections.Counter(
            p["status"].split(" ")[0] for p in o.plugged())
        for k in ("bound", "bridged", "pending"):
            plugs.add_metric([k], by.get(k, 0))
        yield plugs


class _Endpoint:
    """What neutron-server casts to L2 agents, checked and queued for the
    sync thread (a cast that does not have the shape Neutron gives it is
    logged and dropped here)."""

    def __init__(self, owner: NeutronAgent) -> None:
        import oslo_messaging
        self.target = oslo_messaging.Target(version="1.7")
        self.o = owner

    def _bad(self, method: str, what: Any) -> None:
        self.o.counters["casts_ignored"] += 1
        LOG.warning("%s from Neutron ignored: %.200r", method, what)

    def _id(self, method: str, v: Any) -> str | None:
        if isinstance(v, str) and 0 < len(v) <= 64:
            return v
        self._bad(method, v)
        return None

    def _cast(self, kind: str, method: str, oid: Any) -> None:
        oid = self._id(method, oid)
        if oid is not None:
            self.o.cast(kind, oid)

    def port_update(self, context: Any, **kw: Any) -> None:
        port = kw.get("port")
        self._cast("port_update", "port_update",
                   port.get("id") if isinstance(port, dict) else port)

    def port_delete(self, context: Any, **kw: Any) -> None:
        self._cast("port_delete", "port_delete", kw.get("port_id"))

    def network_update(self, context: Any, **kw: Any) -> None:
        net = kw.get("network")
        self._cast("network_update", "network_update",
                   net.get("id") if isinstance(net, dict) else net)

    def network_delete(self, context: Any, **kw: Any) -> None:
        self._cast("network_delete", "network_delete", kw.get("network_id"))

    def binding_activate(self, context: Any, **kw: Any) -> None:
        self._cast("port_update", "binding_activate", kw.get("port_id"))

    def binding_deactivate(self, context: Any, **kw: Any) -> None:
        self._cast("port_update", "binding_deactivate", kw.get("port_id"))

    def _groups(self, method: str, kw: dict[str, Any]) -> None:
        gids = kw.get("security_groups")
        if not isinstance(gids, list):
            return self._bad(method, gids)
        good = [g for g in gids if self._id(method, g) is not None]
        if good:
            self.o.cast("groups", good)

    def security_groups_rule_updated(self, context: Any, **kw: Any) -> None:
        self._groups("security_groups_rule_updated", kw)

    def security_groups_member_updated(self, context: Any, **kw: Any) -> None:
        self._groups("security_groups_member_updated", kw)

    def security_groups_provider_updated(self, context: Any, **kw: Any
                                         ) -> None:
        pass        # DHCP and RA provider rules: bsdnet answers DHCP itself

    def _fdb(self, kind: str, method: str, fdb: Any) -> None:
        if isinstance(fdb, dict):
            self.o.cast(kind, fdb)
        else:
            self._bad(method, fdb)

    def add_fdb_entries(self, context: Any, fdb_entries: Any = None,
                        host: Any = None) -> None:
        self._fdb("fdb_add", "add_fdb_entries", fdb_entries)

    def remove_fdb_entries(self, context: Any, fdb_entries: Any = None,
                           host: Any = None) -> None:
        self._fdb("fdb_remove", "remove_fdb_entries", fdb_entries)

    def update_fdb_entries(self, context: Any, fdb_entries: Any = None,
                           host: Any = None) -> None:
        self._fdb("fdb_update", "update_fdb_entries", fdb_entries)

    def bsdnet_sync_marker(self, context: Any, token: Any = None) -> None:
        self.o.cast("marker", token)


def _is_rpc_error(e: Exception) -> bool:
    try:
        import oslo_messaging
    except ImportError:
        return False
    return isinstance(e, (oslo_messaging.MessagingException, OSError))
