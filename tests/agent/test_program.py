"""Programming a topology and reconciling changes, in process."""
import copy

import pytest

from bsdnet.agent import state as statefile
from bsdnet.agent import topology
from bsdnet.shm.abi import lib
from bsdnet.shm.mtrie import lookup
from bsdnet.agent.program import Programmer
from bsdnet.shm.tables import (EndpointTable, Nexthop, TableError, Tables,
                               int_to_ip, ip_to_int)

from .helpers import fabric_topology


def snapshot(region):
    """Raw bytes of every agent-written table (and the seq words in them)."""
    h = region.hdr
    import bsdnet.shm.abi as abi
    return bytes(abi.ffi.buffer(region.base + h.rh_off_vifs,
                                h.rh_off_flows - h.rh_off_vifs)) + \
        bytes(abi.ffi.buffer(region.endpoints))


def program(tables, doc, st=None):
    p = Programmer(tables, st or statefile.empty_state(tables.region.instance))
    p.apply(topology.parse(doc))
    return p


def test_initial_programming(region, tables, topo_doc):
    p = program(tables, topo_doc)
    st = p.state
    red, blue = st["networks"]["red"]["vrf"], st["networks"]["blue"]["vrf"]
    a = st["ports"]["port-a"]
    v = region.vifs[a["vif"]]
    assert v.vif_type == lib.BSDNET_VIF_VIRTUAL and v.vif_vrf == red
    assert v.vif_flags & lib.BSDNET_VIF_F_POLICY
    assert v.vif_nh == a["nexthop"]
    nh = region.nexthops[a["nexthop"]]
    assert nh.nh_type == lib.BSDNET_NH_ENCAP and nh.nh_vif == a["vif"]
    assert bytes(nh.nh_smac) == region.router_mac
    assert bytes(nh.nh_dmac) == bytes.fromhex("02000000010a")
    assert region.labels[a["label"]].lbl_nh == a["nexthop"]
    assert a["label"] >= lib.BSDNET_LABEL_MIN
    assert lookup(region, red, ip_to_int("10.0.0.1")) == (a["nexthop"], 32)
    b = st["ports"]["port-b"]
    assert not region.vifs[b["vif"]].vif_flags & lib.BSDNET_VIF_F_POLICY
    # Same address, other network: separate VRF, separate route.
    assert lookup(region, blue, ip_to_int("10.0.0.1")) == (b["nexthop"], 32)
    fab = region.vifs[st["fabric"]["vif"]]
    assert fab.vif_type == lib.BSDNET_VIF_FABRIC and fab.vif_mtu == 1500
    # Remote: a tunnel for the /32, an ECMP of two tunnels for the /24.
    t = region.nexthops[lookup(region, red, ip_to_int("10.0.0.2"))[0]]
    assert t.nh_type == lib.BSDNET_NH_TUNNEL and t.nh_label == 17
    assert t.nh_tun_src == ip_to_int("192.0.2.1")
    assert t.nh_tun_dst == ip_to_int("192.0.2.2")
    assert t.nh_vif == st["fabric"]["vif"]
    assert bytes(t.nh_smac) == bytes.fromhex("020000000001")
    e = region.nexthops[lookup(region, red, ip_to_int("10.0.1.77"))[0]]
    assert e.nh_type == lib.BSDNET_NH_ECMP and e.nh_nmembers == 2
    labels = {region.nexthops[e.nh_members[i]].nh_label for i in range(2)}
    assert labels == {18, 19}
    assert lookup(region, blue, ip_to_int("10.0.0.2")) is None


def test_reapply_unchanged_writes_nothing(region, tables, topo_doc):
    p = program(tables, topo_doc)
    before = snapshot(region)
    changes = p.apply(topology.parse(topo_doc))
    assert not changes
    assert snapshot(region) == before


def test_reconcile_add_change_delete(region, tables, topo_doc):
    p = program(tables, topo_doc)
    st = p.state
    b_before = dict(st["ports"]["port-b"])
    b_vif_seq = region.vifs[b_before["vif"]].vif_seq
    doc = copy.deepcopy(topo_doc)
    doc["ports"] = [q for q in doc["ports"] if q["id"] != "port-a"]
    doc["ports"].append({"id": "port-c", "network": "red",
                         "interface": "vmtapC", "mac": "02:00:00:00:01:0c",
                         "ip": "10.0.0.3"})
    doc["ports"][0]["mac"] = "02:00:00:00:01:bb"            # port-b changed
    doc["remote"] = [r for r in doc["remote"] if r["label"] != 19]  # ECMP -> 1
    changes = p.apply(topology.parse(doc))
    assert changes["port-"] == 1 and changes["port+"] == 1
    assert changes["port~"] == 1 and changes["remote~"] == 1
    red = st["networks"]["red"]["vrf"]
    assert "port-a" not in st["ports"]
    assert lookup(region, red, ip_to_int("10.0.0.1")) is None
    c = st["ports"]["port-c"]
    assert lookup(region, red, ip_to_int("10.0.0.3")) == (c["nexthop"], 32)
    b = st["ports"]["port-b"]
    assert b == {**b_before}                       # same vif, label, nh
    assert bytes(region.nexthops[b["nexthop"]].nh_dmac) == \
        bytes.fromhex("0200000001bb")
    assert region.vifs[b["vif"]].vif_seq == b_vif_seq + 2
    t = region.nexthops[lookup(region, red, ip_to_int("10.0.1.1"))[0]]
    assert t.nh_type == lib.BSDNET_NH_TUNNEL and t.nh_label == 18
    assert st["remote"]["red 10.0.1.0/24"]["ecmp"] == 0
    # Nothing left pointing at freed entries.
    for _, nh in tables.labels.live():
        assert region.nexthops[nh].nh_type != lib.BSDNET_NH_NONE


def test_remove_network_and_fabric(region, tables, topo_doc):
    p = program(tables, topo_doc)
    blue = p.state["networks"]["blue"]["vrf"]
    doc = fabric_topology(networks=[{"name": "red"}],
                          ports=topo_doc["ports"][:1])
    p.apply(topology.parse(doc))
    assert "blue" not in p.state["networks"]
    assert region.vrfs[blue].vrf_flags == 0
    assert lookup(region, blue, ip_to_int("10.0.0.1")) is None
    p.apply(topology.parse({"networks": []}))
    assert p.state["fabric"] == {} and p.state["ports"] == {}
    assert tables.counts() == {"vifs": 0, "nexthops": 0, "labels": 0,
                               "vrfs": 0, "endpoints": 0, "rtbuckets": 0}
    assert region.endpoint_words() == []


def test_port_moves_network(region, tables, topo_doc):
    p = program(tables, topo_doc)
    red = p.state["networks"]["red"]["vrf"]
    blue = p.state["networks"]["blue"]["vrf"]
    doc = copy.deepcopy(topo_doc)
    doc["ports"][0]["network"] = "blue"
    doc["ports"][0]["ip"] = "10.0.0.5"
    p.apply(topology.parse(doc))
    a = p.state["ports"]["port-a"]
    assert a["vrf"] == blue
    assert lookup(region, red, ip_to_int("10.0.0.1")) is None
    assert lookup(region, blue, ip_to_int("10.0.0.5")) == (a["nexthop"], 32)
    assert region.vifs[a["vif"]].vif_vrf == blue


def test_adoption_writes_nothing(region, tables, topo_doc, tmp_path):
    p = program(tables, topo_doc)
    statefile.save(str(tmp_path), p.state)
    before = snapshot(region)
    st = statefile.load(str(tmp_path))
    again = Tables(region)
    again.adopt({n: v["vrf"] for n, v in st["networks"].items()})
    p2 = Programmer(again, st)
    assert not p2.apply(topology.parse(topo_doc))
    assert snapshot(region) == before
    # And the adopted agent keeps going: a new port gets fresh indices.
    doc = copy.deepcopy(topo_doc)
    doc["ports"].append({"id": "port-d", "network": "red",
                         "interface": "vmtapD", "mac": "02:00:00:00:01:0d",
                         "ip": "10.0.0.4"})
    p2.apply(topology.parse(doc))
    used = {v["vif"] for v in p.state["ports"].values()} | {
        p.state["fabric"]["vif"]}
    assert st["ports"]["port-d"]["vif"] not in used


def test_adoption_repairs_entries_lost_from_the_table(region, tables,
                                                      topo_doc, tmp_path):
    p = program(tables, topo_doc)
    statefile.save(str(tmp_path), p.state)
    a = p.state["ports"]["port-a"]
    # Someone wiped port-a's nexthop and label while no agent ran.
    tables.nexthops.write(a["nexthop"], Nexthop())
    tables.labels._store(a["label"], 0)
    st = statefile.load(str(tmp_path))
    again = Tables(region)
    again.adopt({n: v["vrf"] for n, v in st["networks"].items()})
    p2 = Programmer(again, st)
    p2.reserve()
    # A new port must not get the indices port-a still owns.
    doc = copy.deepcopy(topo_doc)
    doc["ports"].append({"id": "port-d", "network": "red",
                         "interface": "vmtapD", "mac": "02:00:00:00:01:0d",
                         "ip": "10.0.0.4"})
    assert p2.apply(topology.parse(doc))["port~"] == 1
    d = st["ports"]["port-d"]
    assert d["nexthop"] != a["nexthop"] and d["label"] != a["label"]
    assert region.nexthops[a["nexthop"]].nh_type == lib.BSDNET_NH_ENCAP
    assert region.labels[a["label"]].lbl_nh == a["nexthop"]


@pytest.mark.parametrize("bad, msg", [
    ({"networks": [{"name": "a"}, {"name": "a"}]}, "twice"),
    ({"networks": [], "ports": [{"id": "p", "network": "x", "interface": "t",
                                 "mac": "02:00:00:00:00:01", "ip": "1.2.3.4"}]},
     "unknown network"),
    ({"networks": [{"name": "a"}], "remote": [
        {"network": "a", "prefix": "10.0.0.1/24", "node": "1.1.1.1",
         "node_mac": "02:00:00:00:00:01", "label": 5}]}, "bad prefix"),
    ({"fabric": {"interface": "f", "address": "1.2.3.4", "mac": "zz"}},
     "bad MAC"),
])
def test_topology_validation(bad, msg):
    with pytest.raises(topology.TopologyError, match=msg):
        topology.parse(bad)


def test_state_file_roundtrip(tmp_path):
    st = statefile.empty_state(42)
    st["ports"]["p"] = {"vif": 3, "label": 17, "nexthop": 5, "vrf": 1}
    statefile.save(str(tmp_path), st)
    assert statefile.load(str(tmp_path)) == st
    assert [f.name for f in tmp_path.iterdir()] == ["state.json"]
    (tmp_path / "state.json").write_text("{not json")
    assert statefile.load(str(tmp_path)) is None


def test_ecmp_grows_and_shrinks(region, tables):
    def doc(labels):
        return fabric_topology(remote=[
            {"network": "red", "prefix": "10.9.0.0/16", "node": f"192.0.2.{lab}",
             "node_mac": "02:00:00:00:00:09", "label": lab} for lab in labels])

    p = program(tables, doc([20]))
    red = p.state["networks"]["red"]["vrf"]
    addr = ip_to_int("10.9.1.1")
    assert region.nexthops[lookup(region, red, addr)[0]].nh_type == \
        lib.BSDNET_NH_TUNNEL
    for labels in ([20, 21, 22], [20, 22], [23]):
        p.apply(topology.parse(doc(labels)))
        nh = region.nexthops[lookup(region, red, addr)[0]]
        if len(labels) > 1:
            assert nh.nh_type == lib.BSDNET_NH_ECMP
            members = [region.nexthops[nh.nh_members[i]]
                       for i in range(nh.nh_nmembers)]
        else:
            members = [nh]
        assert sorted(m.nh_label for m in members) == labels
        st = p.state["remote"]["red 10.9.0.0/16"]
        assert len(st["nexthops"]) == len(labels)
    # Only the ports' two ENCAP nexthops and this one tunnel are left.
    assert len(tables.nexthops.pool.used) == 3


def test_port_gateway_is_the_source_of_icmp_errors(region, tables, topo_doc):
    doc = copy.deepcopy(topo_doc)
    doc["ports"][0]["gateway"] = "10.0.0.254"
    st = program(tables, doc).state
    assert region.vifs[st["ports"]["port-a"]["vif"]].vif_gw == \
        ip_to_int("10.0.0.254")
    assert region.vifs[st["ports"]["port-b"]["vif"]].vif_gw == 0
    doc["ports"][0]["gateway"] = "not-an-address"
    with pytest.raises(topology.TopologyError, match="bad IPv4"):
        topology.parse(doc)


ANY = lib.BSDNET_EP_VRF_ANY


def endpoints(region):
    """The endpoint table as {(node, VRF)}, read back from the region."""
    return {(int_to_ip(a), v) for a, v in EndpointTable(region).live()}


def test_endpoints_are_the_remote_routes_nodes(region, tables, topo_doc):
    p = program(tables, topo_doc)
    red = p.state["networks"]["red"]["vrf"]
    blue = p.state["networks"]["blue"]["vrf"]
    assert endpoints(region) == {("192.0.2.2", red), ("192.0.2.2", ANY),
                                 ("192.0.2.3", red), ("192.0.2.3", ANY)}
    # What the datapath will ask: each node into red, nobody into blue.
    eps = region.endpoints
    known = lib.bsdnet_agent_ep_known
    assert known(eps, ip_to_int("192.0.2.3"), red)
    assert not known(eps, ip_to_int("192.0.2.3"), blue)
    assert not known(eps, ip_to_int("192.0.2.9"), red)


def test_endpoints_follow_routes_added_and_removed(region, tables, topo_doc):
    p = program(tables, topo_doc)
    red = p.state["networks"]["red"]["vrf"]
    blue = p.state["networks"]["blue"]["vrf"]
    doc = copy.deepcopy(topo_doc)
    # 192.0.2.3 leaves (ECMP shrinks), 192.0.2.4 arrives in blue, and
    # 192.0.2.2 gets a blue route too.
    doc["remote"] = [r for r in doc["remote"] if r["node"] != "192.0.2.3"]
    doc["remote"] += [
        {"network": "blue", "prefix": "10.0.5.0/24", "node": "192.0.2.4",
         "node_mac": "02:00:00:00:00:04", "label": 30},
        {"network": "blue", "prefix": "10.0.6.1/32", "node": "192.0.2.2",
         "node_mac": "02:00:00:00:00:02", "label": 31}]
    changes = p.apply(topology.parse(doc))
    assert changes["endpoint+"] == 3 and changes["endpoint-"] == 2
    assert endpoints(region) == {
        ("192.0.2.2", red), ("192.0.2.2", blue), ("192.0.2.2", ANY),
        ("192.0.2.4", blue), ("192.0.2.4", ANY)}
    # 192.0.2.2 leaves red only: still a node, in blue.
    doc["remote"] = [r for r in doc["remote"] if r["network"] != "red"]
    p.apply(topology.parse(doc))
    assert endpoints(region) == {
        ("192.0.2.2", blue), ("192.0.2.2", ANY),
        ("192.0.2.4", blue), ("192.0.2.4", ANY)}
    # A network that goes takes its endpoints with it.
    doc = fabric_topology(networks=[{"name": "red"}], remote=[],
                          ports=topo_doc["ports"][:1])
    p.apply(topology.parse(doc))
    assert endpoints(region) == set()


def test_endpoints_adopted_after_restart(region, tables, topo_doc, tmp_path):
    p = program(tables, topo_doc)
    statefile.save(str(tmp_path), p.state)
    before = endpoints(region)
    st = statefile.load(str(tmp_path))
    again = Tables(region)
    again.adopt({n: v["vrf"] for n, v in st["networks"].items()})
    assert {(int_to_ip(a), v) for a, v in again.endpoints.have} == before
    p2 = Programmer(again, st)
    assert not p2.apply(topology.parse(topo_doc))
    # The adopted agent removes what it did not write itself.
    doc = copy.deepcopy(topo_doc)
    doc["remote"] = [r for r in doc["remote"] if r["node"] != "192.0.2.2"]
    p2.apply(topology.parse(doc))
    red = st["networks"]["red"]["vrf"]
    assert endpoints(region) == {("192.0.2.3", red), ("192.0.2.3", ANY)}


def test_endpoint_table_full_is_a_table_error(region, tables):
    # Every word taken by someone else: nothing fits, and apply says so
    # after programming the routes.
    eps = region.endpoints
    for b in range(lib.BSDNET_EP_BUCKETS):
        for w in range(lib.BSDNET_EP_WAYS):
            eps[b].epb_ent[w] = (0x0a000000 + b) << 32 | w << 16 | 1
    with pytest.raises(TableError, match="endpoint table full"):
        program(tables, fabric_topology())
