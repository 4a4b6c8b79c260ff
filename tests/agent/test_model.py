"""The topology file and the port API's store as one model."""
import uuid

from bsdnet.agent import model
from bsdnet.agent.portstore import Network, Port, PortStore, Route
from bsdnet.agent.topology import parse

from .helpers import fabric_topology

NET = str(uuid.uuid4())


def store(tmp_path):
    s = PortStore(str(tmp_path))
    s.commit("network", NET, Network.from_json(
        {"id": NET, "mtu": 1450, "subnets": [{"cidr": "10.5.0.0/24"}]}))
    p = Port.from_json({
        "id": str(uuid.uuid4()), "instance-id": str(uuid.uuid4()),
        "vn-id": NET, "ip-address": "10.5.0.9",
        "mac-address": "02:00:00:00:09:09", "system-name": "tap9",
        "allowed-address-pairs": [{"ip-address": "10.5.0.99"}]})
    s.commit("port", p.id, p)
    r = Route.from_json({"network": NET, "prefix": "10.5.1.0/24", "paths": [
        {"node": "192.0.2.2", "label": 20},
        {"node": "192.0.2.7", "label": 21}]})
    s.commit("route", r.id, r)
    return s, p


def test_merge_adds_store_objects_to_the_file(tmp_path):
    s, p = store(tmp_path)
    topo = model.merge(parse(fabric_topology()), s, vif_quota=5,
                       neighbors={"192.0.2.2": "02:00:00:00:00:02"},
                       up=lambda name: name != "tap9")
    assert topo["networks"] == ["red", "blue", NET]
    ports = {x["id"]: x for x in topo["ports"]}
    assert ports["port-a"]["quota"] == 5
    mine = ports[p.id]
    assert mine == {"id": p.id, "network": NET, "interface": "tap9",
                    "mac": "02:00:00:00:09:09", "ip": "10.5.0.9",
                    "policy": True, "secure": True, "mtu": 1450,
                    "gateway": "", "quota": 5, "up": False,
                    "pairs": ["10.5.0.99"]}
    # the path to a node of unknown MAC is left out
    mine_r = [r for r in topo["remote"] if r["network"] == NET]
    assert mine_r == [{"network": NET, "prefix": "10.5.1.0/24",
                       "node": "192.0.2.2", "node_mac": "02:00:00:00:00:02",
                       "label": 20}]
    assert model.addresses(p) == (0x0a050009, 0x0a050063)


def test_nexthop_mac_covers_unknown_nodes(tmp_path):
    s, _ = store(tmp_path)
    topo = model.merge(parse({}), s, nexthop_mac="02:00:00:00:00:fe")
    assert {r["node_mac"] for r in topo["remote"]} == {"02:00:00:00:00:fe"}
    assert len(topo["remote"]) == 2
