"""The agent's Prometheus metrics, scraped over HTTP: the datapath's
counters as the region holds them, labelled with what the agent knows
(interface, network, port), and the agent's own."""
from __future__ import annotations

import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bsdnet.agent import apiclient
from bsdnet.shm.abi import lib

from .helpers import fabric_topology


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text.decode())
            for s in fam.samples}


def one(samples, name: str, **labels: str) -> float:
    got = [v for (n, ls), v in samples.items()
           if n == name and set(labels.items()) <= ls]
    assert len(got) == 1, (name, labels, [k for k in samples if k[0] == name])
    return got[0]


def test_datapath_and_agent_counters_scraped(agent):
    port = free_port()
    agent.write_topology(fabric_topology())
    agent.start("--agent-metrics_port", str(port), "--agent-nowatch_host").wait_serving()
    st = agent.state()
    vif = st["ports"]["port-a"]["vif"]
    vs = agent.region.vifstats[vif]
    vs.vs_rx_pkts, vs.vs_rx_bytes, vs.vs_tx_pkts, vs.vs_drops = 5, 500, 4, 1
    agent.region.stats.st_drops[lib.BSDNET_DROP_SPOOFED_IP] = 3
    agent.region.stats.st_rx_pkts = 9
    agent.region.stats.st_mss_clamped = 2
    url = (agent.state_dir / "api-url").read_text().split()[0]
    assert apiclient.request(url, "GET", "/ports")[0] == 200
    m = scrape(port)
    assert one(m, "bsdnet_agent_up") == 1
    assert one(m, "bsdnet_vif_rx_packets_total", interface="vmtapA", network="red") == 5
    assert one(m, "bsdnet_vif_rx_bytes_total", interface="vmtapA") == 500
    assert one(m, "bsdnet_vif_drops_total", interface="vmtapA") == 1
    assert one(m, "bsdnet_vrf_rx_packets_total", network="red") == 5
    assert one(m, "bsdnet_vrf_tx_packets_total", network="red") == 4
    assert one(m, "bsdnet_vrf_rx_packets_total", network="blue") == 0
    assert one(m, "bsdnet_drops_total", reason="SPOOFED_IP") == 3
    assert one(m, "bsdnet_drops_total", reason="NO_ROUTE") == 0
    assert one(m, "bsdnet_datapath_rx_pkts_total") == 9
    assert one(m, "bsdnet_datapath_mss_clamped_total") == 2
    assert one(m, "bsdnet_datapath_icmp_too_big_total") == 0
    assert one(m, "bsdnet_flow_entries", state="size") == agent.region.nflows
    assert one(m, "bsdnet_flow_entries", state="active") == 0
    assert one(m, "bsdnet_port_api_request_seconds_count", method="GET", resource="ports",
               status="200") == 1
    assert one(m, "bsdnet_trap_queue_bytes") == 0
    # a second scrape reads the counters again, it copies nothing
    agent.region.stats.st_drops[lib.BSDNET_DROP_SPOOFED_IP] = 4
    assert one(scrape(port), "bsdnet_drops_total", reason="SPOOFED_IP") == 4


def test_metrics_port_taken_stops_the_agent(agent):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        agent.write_topology(fabric_topology())
        agent.start("--agent-metrics_port", str(s.getsockname()[1]), "--agent-nowatch_host")
        assert agent.proc.wait(timeout=60) == 1
    assert "metrics on 127.0.0.1" in agent.log_text()
