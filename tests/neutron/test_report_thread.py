"""State reports go on while the sync thread waits on Neutron.

A full resync of a thousand ports takes minutes, and a call whose reply
RabbitMQ lost waits rpc_response_timeout: if reports waited behind them,
Neutron would take the agent for dead (and refuse to bind ports to it)
and, once the report came, answer "revived", so another full resync.
This checks the agent's own threads; the calls themselves are run against
a real neutron-server by the other tests here (test_restarts.py kills
RabbitMQ under a running agent)."""
from __future__ import annotations

import collections
import threading
import time
import types

from oslo_config import cfg

from bsdnet.agent import opts
from bsdnet.agent import portstore as ps
from bsdnet.agent.metrics import Metrics
from bsdnet.neutron.agent import NeutronAgent

INTERVAL = 1.0


class StuckRpc:
    """The agent's Rpc whose every call but report_state waits until
    released, as a call does whose reply was lost."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.waited: collections.Counter[str] = collections.Counter()
        self.released = threading.Event()
        self.stuck = threading.Event()
        self.reports: list[float] = []
        self.revive = False

    def report_state(self, state):
        self.reports.append(time.monotonic())
        assert state["agent_type"] and state["host"] == "node-a"
        if self.revive:
            self.revive = False
            return "revived"
        return "alive"

    def _wait(self, method: str) -> None:
        self.calls[method] += 1
        self.stuck.set()
        self.released.wait(30)

    # What a full resync of no ports calls, with the answers' shapes.
    def device_details(self, devices, progress=None):
        self._wait("get_devices_details_list_and_failed_devices")
        return [], []

    def update_devices(self, up, down, refresh_tunnels=False, progress=None):
        self._wait("update_device_list")
        return []

    def mark(self, token):
        self._wait("bsdnet_sync_marker")

    def close(self) -> None:
        self.released.set()


def _agent(tmp_path):
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf([], project="bsdnet-test")
    conf.set_override("state_dir", str(tmp_path), group="agent")
    conf.set_override("host", "node-a", group="neutron")
    conf.set_override("report_interval", INTERVAL, group="neutron")
    host = types.SimpleNamespace(store=ps.PortStore(str(tmp_path / "store")),
                                 metrics=Metrics(), region=None,
                                 fabric_address_now=lambda: "192.0.2.1")
    a = NeutronAgent(host, conf)
    a.load()
    return a


def test_reports_keep_time_while_a_resync_waits(tmp_path):
    a = _agent(tmp_path)
    rpc = a.rpc = StuckRpc()
    a.start()
    try:
        assert rpc.stuck.wait(10), "the sync thread never called Neutron"
        t0 = time.monotonic()
        time.sleep(3.5 * INTERVAL)
        during = [t for t in rpc.reports if t >= t0]
        assert len(during) >= 3, f"{len(during)} reports in {3.5 * INTERVAL}s of a stuck resync"
        assert a.reporting is True and a.counters["reports"] >= 3
    finally:
        a.stop()


def test_revived_answer_asks_the_sync_thread_for_a_resync(tmp_path):
    a = _agent(tmp_path)
    rpc = a.rpc = StuckRpc()
    rpc.released.set()             # calls answer at once
    a.start()
    try:
        deadline = time.monotonic() + 10
        while a.counters["resyncs"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert a.counters["resyncs"] == 1
        rpc.revive = True
        deadline = time.monotonic() + 3 * INTERVAL + 5
        while a.counters["resyncs"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert a.counters["resyncs"] == 2, "a revived answer did not start a full resync"
    finally:
        a.stop()
