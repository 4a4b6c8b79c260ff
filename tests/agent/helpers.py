"""Shared test data for the agent tests."""
from __future__ import annotations


def fabric_topology(**over) -> dict:
    topo = {
        "fabric": {"interface": "fab0", "address": "192.0.2.1",
                   "mac": "02:00:00:00:00:01", "mtu": 1500},
        "networks": [{"name": "red"}, {"name": "blue"}],
        "ports": [
            {"id": "port-a", "network": "red", "interface": "vmtapA",
             "mac": "02:00:00:00:01:0a", "ip": "10.0.0.1", "policy": True},
            {"id": "port-b", "network": "blue", "interface": "vmtapB",
             "mac": "02:00:00:00:01:0b", "ip": "10.0.0.1"},
        ],
        "remote": [
            {"network": "red", "prefix": "10.0.0.2/32", "node": "192.0.2.2",
             "node_mac": "02:00:00:00:00:02", "label": 17},
            {"network": "red", "prefix": "10.0.1.0/24", "node": "192.0.2.2",
             "node_mac": "02:00:00:00:00:02", "label": 18},
            {"network": "red", "prefix": "10.0.1.0/24", "node": "192.0.2.3",
             "node_mac": "02:00:00:00:00:03", "label": 19},
        ],
    }
    topo.update(over)
    return topo
