"""Prometheus metrics of the agent and of the datapath it programs, on
[agent] metrics_host:metrics_port (127.0.0.1:9192 by default; port 0: none).

The datapath's counters are read from the shared region at each scrape
(nothing is copied between scrapes): per vif, per VRF, drops by reason,
flow table occupancy.  The agent's own are its flow manager's and DHCP's
counters, and histograms of its port API's requests; the control plane
(Neutron mode) registers its own collector in the same registry.
"""
from __future__ import annotations

import fcntl
import logging
import struct
import termios
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bsdnet.shm.abi import drop_reason_names, lib, vif_type_name
from bsdnet.shm.tables import VifTable

LOG = logging.getLogger(__name__)

# Request durations, from a tenth of a millisecond to seconds.
BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
           0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DATAPATH = ("rx_pkts", "tx_pkts", "traps", "flow_hits", "flow_misses",
            "encaps", "decaps", "arp_replies", "icmp_too_big",
            "icmp_rate_limited", "mss_clamped")


class Metrics:
    """The agent's registry, its HTTP endpoint, and what it observes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.api_seconds = Histogram(
            "bsdnet_port_api_request_seconds",
            "Port API requests, by method and resource, and how long each "
            "took to answer", ["method", "resource", "status"],
            buckets=BUCKETS, registry=self.registry)
        self._server: Any = None

    def serve(self, host: str, port: int) -> None:
        self._server, _ = start_http_server(port, host, registry=self.registry)
        LOG.info("Prometheus metrics on http://%s:%d/metrics", host,
                 self._server.server_port)

    @property
    def port(self) -> int:
        return self._server.server_port if self._server else 0

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def api_request(self, method: str, path: str, status: int,
                    seconds: float) -> None:
        resource = path.strip("/").split("/", 1)[0].split("?", 1)[0] or "/"
        self.api_seconds.labels(method, resource, str(status)).observe(seconds)


class AgentCollector(Collector):
    """The datapath's counters and the agent's, read at scrape time."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Any]:
        a = self.agent
        up = GaugeMetricFamily("bsdnet_agent_up",
                               "1 while the agent has the datapath's region")
        region = a.region
        up.add_metric([], 1 if region is not None else 0)
        yield up
        if region is None:
            return
        yield from self._vifs(region)
        yield from self._datapath(region)
        yield from self._agent()

    def _labels(self) -> tuple[dict[int, str], dict[int, str]]:
        """vif -> port id, VRF -> network name, as the agent knows them."""
        a = self.agent
        st = a.programmer.state if a.programmer is not None else {}
        nets = {v["vrf"]: name for name, v in st.get("networks", {}).items()}
        return dict(a._vif_port), nets

    def _vifs(self, r: Any) -> Iterator[Any]:
        ports, nets = self._labels()
        names = ["vif", "interface", "type", "network", "port"]
        fam = {k: CounterMetricFamily(f"bsdnet_vif_{k}", f"{what}, by vif",
                                      labels=names)
               for k, what in (("rx_packets", "Packets received"),
                               ("rx_bytes", "Bytes received"),
                               ("tx_packets", "Packets sent"),
                               ("tx_bytes", "Bytes sent"),
                               ("drops", "Packets dropped"),
                               ("traps", "Packets trapped to the agent"))}
        vflows = GaugeMetricFamily("bsdnet_vif_flows",
                                   "Flows charged to the vif", labels=names)
        vrf = {k: CounterMetricFamily(f"bsdnet_vrf_{k}", f"{what}, by VRF "
                                      f"(the sum over its vifs)",
                                      labels=["vrf", "network"])
               for k, what in (("rx_packets", "Packets received"),
                               ("rx_bytes", "Bytes received"),
                               ("tx_packets", "Packets sent"),
                               ("tx_bytes", "Bytes sent"),
                               ("drops", "Packets dropped"))}
        sums: dict[int, list[int]] = {}
        for i, v in VifTable(r).live():
            s = r.vifstats[i]
            vals = (s.vs_rx_pkts, s.vs_rx_bytes, s.vs_tx_pkts, s.vs_tx_bytes,
                    s.vs_drops, s.vs_traps)
            lv = [str(i), v.name, vif_type_name(v.type),
                  nets.get(v.vrf, ""), ports.get(i, "")]
            for f, x in zip(fam.values(), vals):
                f.add_metric(lv, int(x))
            vflows.add_metric(lv, int(s.vs_flows))
            if v.type == lib.BSDNET_VIF_VIRTUAL:
                acc = sums.setdefault(v.vrf, [0] * 5)
                for j in range(5):
                    acc[j] += int(vals[j])
        vrf_flows = GaugeMetricFamily("bsdnet_vrf_flows",
                                      "Flows charged to the VRF",
                                      labels=["vrf", "network"])
        for idx in sorted(set(sums) | set(nets)):
            lv = [str(idx), nets.get(idx, "")]
            for f, x in zip(vrf.values(), sums.get(idx, [0] * 5)):
                f.add_metric(lv, x)
            if idx < len(r.vrfs):
                vrf_flows.add_metric(lv, int(r.vrfs[idx].vrf_nflows))
        yield from fam.values()
        yield vflows
        yield from vrf.values()
        yield vrf_flows

    def _datapath(self, r: Any) -> Iterator[Any]:
        st = r.stats
        drops = CounterMetricFamily("bsdnet_drops", "Packets the datapath "
                                    "dropped, by reason", labels=["reason"])
        for i, name in enumerate(drop_reason_names()):
            if i > 0:
                drops.add_metric([name], int(st.st_drops[i]))
        yield drops
        for f in DATAPATH:
            c = CounterMetricFamily(f"bsdnet_datapath_{f}",
                                    f"The datapath's {f.replace('_', ' ')}")
            c.add_metric([], int(getattr(st, "st_" + f)))
            yield c
        holds = GaugeMetricFamily("bsdnet_flow_holds",
                                  "Flow entries held for the agent's decision")
        holds.add_metric([], int(st.st_holds))
        yield holds
        mask, active = lib.BSDNET_FLOW_STATE_MASK, lib.BSDNET_FLOW_ACTIVE
        n = sum(1 for w in r.flow_states() if w & mask == active)
        occ = GaugeMetricFamily("bsdnet_flow_entries",
                                "Flow table entries, by state",
                                labels=["state"])
        occ.add_metric(["active"], n)
        occ.add_metric(["size"], r.nflows)
        yield occ

    def _agent(self) -> Iterator[Any]:
        a = self.agent
        flows = a.flows.counters if a.flows is not None else {}
        setups = CounterMetricFamily("bsdnet_flow_setups",
                                     "Flows the agent decided and installed")
        setups.add_metric([], int(flows.get("installed", 0)))
        yield setups
        fc = CounterMetricFamily("bsdnet_agent_flow_events",
                                 "The flow manager's counters, by name",
                                 labels=["event"])
        for k, v in sorted(flows.items()):
            fc.add_metric([k], int(v))
        yield fc
        dhcp = CounterMetricFamily("bsdnet_dhcp_messages",
                                   "DHCP messages handled, by kind",
                                   labels=["kind"])
        for k, v in sorted((a.dhcp.counters if a.dhcp else {}).items()):
            dhcp.add_metric([k], int(v))
        yield dhcp
        q = GaugeMetricFamily("bsdnet_trap_queue_bytes",
                              "Bytes of traps waiting in the agent's socket")
        q.add_metric([], trap_queue(a.channel))
        yield q
        beat = GaugeMetricFamily(
            "bsdnet_datapath_heartbeat",
            "The datapath's heartbeat (it counts seconds while the datapath "
            "lives: alert when it stops changing)")
        beat.add_metric([], a.region.dp_heartbeat()[1])
        yield beat


def trap_queue(channel: Any) -> int:
    """Bytes queued on the trap socket (0 where the channel is a device)."""
    sock = getattr(channel, "sock", None)
    if sock is None:
        return 0
    try:
        buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4)
    except OSError:
        return 0
    return struct.unpack("i", buf)[0]
