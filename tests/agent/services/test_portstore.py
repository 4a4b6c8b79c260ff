"""The port/network model's validation and its persistence: atomic files,
reload after a restart, clear errors on corrupt state, rollback."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from bsdnet.agent import portstore as ps
from bsdnet.agent import secgroups as sg

from .conftest import sample_network, sample_port

NET = "38ced7ff-fdfc-4f17-9547-17ff4fb45da9"


def port_json(**over) -> dict:
    d = {"id": "753a65ef-918a-4193-9266-dc23ed8a5982",
         "instance-id": "63bd1a8a-ba6a-4547-af8d-653dd8ff397e",
         "display-name": "vm1", "ip-address": "10.1.0.5",
         "ip6-address": "", "rx-vlan-id": -1, "tx-vlan-id": -1,
         "vn-id": NET, "vm-project-id": "", "type": 0,
         "mac-address": "02:75:3a:65:ef:91", "system-name": "tap-1234"}
    d.update(over)
    return d


def test_vrouter_port_json_accepted():
    p = ps.Port.from_json(port_json(author="/usr/bin/vrouter-port-control",
                                    time="2026-01-01 00:00:00"))
    assert p.system_name == "tap-1234" and p.ip_address == "10.1.0.5"
    assert ps.Port.from_json(p.to_json()) == p
    # The ESXi example of the vRouter docs: "None" for no IPv6.
    p = ps.Port.from_json(port_json(**{"ip6-address": "None", "type": 2,
                                       "rx-vlan-id": 1999,
                                       "tx-vlan-id": 2000,
                                       "system-name": str(uuid.uuid4())}))
    assert p.ip6_address == "" and p.rx_vlan_id == 1999
    # Keystone-style project id without dashes is normalised.
    p = ps.Port.from_json(port_json(**{"vm-project-id": "cb33cc2c6fb84072"
                                       "a11277547c60d2b7"}))
    assert p.vm_project_id == "cb33cc2c-6fb8-4072-a112-77547c60d2b7"
    assert not ps.Port.from_json(port_json(**{"ip-address": "0.0.0.0"})
                                 ).has_ip


@pytest.mark.parametrize("over, why", [
    ({"id": "not-a-uuid"}, "id must be a UUID"),
    ({"instance-id": 5}, "instance-id must be a UUID"),
    ({"mac-address": "02:75:3a:65:ef"}, "MAC"),
    ({"mac-address": "01:00:5e:00:00:01"}, "multicast"),
    ({"mac-address": "00:00:00:00:00:00"}, "zeroes"),
    ({"ip-address": "10.1.0.256"}, "not an IPv4"),
    ({"ip-address": 167837957}, "IPv4 address string"),
    ({"ip6-address": "10.0.0.1"}, "IPv6"),
    ({"system-name": "tap0123456789abc"}, "longer than 15"),
    ({"system-name": "tap 1"}, "may only hold"),
    ({"system-name": "tap/1"}, "may only hold"),
    ({"system-name": ""}, "non-empty"),
    ({"type": 7}, "type 7 out of range"),
    ({"type": True}, "integer"),
    ({"rx-vlan-id": 4095}, "out of range"),
    ({"display-name": "x" * 256}, "at most 255"),
    ({"display-name": "a\nb"}, "control"),
    ({"security-groups": "web"}, "list"),
    ({"security-groups": ["web", "web"]}, "duplicates"),
    ({"surprise": 1}, "unknown port fields"),
])
def test_port_validation(over, why):
    with pytest.raises(ps.ValidationError, match=why):
        ps.Port.from_json(port_json(**over))


def test_port_required_fields():
    for k in ("id", "instance-id", "vn-id", "mac-address", "system-name"):
        d = port_json()
        del d[k]
        with pytest.raises(ps.ValidationError, match=k):
            ps.Port.from_json(d)
    with pytest.raises(ps.ValidationError, match="object"):
        ps.Port.from_json([1, 2])


@pytest.mark.parametrize("over, why", [
    ({"subnets": [{"cidr": "10.1.0.0/33"}]}, "cidr"),
    ({"subnets": [{"cidr": "10.1.0.1/24"}]}, "host bits"),
    ({"subnets": [{"cidr": "10.1.0.0/31"}]}, "no room"),
    ({"subnets": [{"cidr": "10.1.0.0/24", "gateway": "10.2.0.1"}]},
     "not a host address"),
    ({"subnets": [{"cidr": "10.1.0.0/24", "gateway": "10.1.0.255"}]},
     "not a host address"),
    ({"subnets": [{"cidr": "10.1.0.0/24"}, {"cidr": "10.1.0.128/25"}]},
     "overlap"),
    ({"subnets": [{"cidr": "10.1.0.0/24", "dns-servers": ["x"]}]}, "IPv4"),
    ({"subnets": [{"cidr": "10.1.0.0/24", "host-routes": [
        {"destination": "10.9.0.0/16"}]}]}, "nexthop"),
    ({"mtu": 100}, "mtu"),
    ({"mtu": "1500"}, "integer"),
    ({"dns-domain": "bad domain"}, "not a domain"),
    ({"id": "x"}, "UUID"),
])
def test_network_validation(over, why):
    d = {"id": NET, "subnets": [{"cidr": "10.1.0.0/24"}]}
    d.update(over)
    with pytest.raises(ps.ValidationError, match=why):
        ps.Network.from_json(d)


def test_network_roundtrip_and_subnet_lookup():
    n = sample_network()
    assert ps.Network.from_json(n.to_json()) == n
    assert n.subnet_of("10.1.0.77").cidr == "10.1.0.0/24"
    assert n.subnet_of("10.2.0.77") is None


def test_route_validation():
    r = ps.Route.from_json({"network": NET, "prefix": "10.2.0.5/32",
                            "paths": [{"node": "192.0.2.2", "label": 17},
                                      {"node": "192.0.2.1", "label": 16}]})
    assert [p.node for p in r.paths] == ["192.0.2.1", "192.0.2.2"]
    assert ps.Route.from_json(r.to_json()) == r
    for bad, why in (({"paths": []}, "at least one"),
                     ({"paths": [{"node": "192.0.2.1", "label": 15}]},
                      "label"),
                     ({"paths": [{"node": "192.0.2.1",
                                  "label": 1 << 20}]}, "label"),
                     ({"prefix": "10.2.0.5"}, "prefix")):
        d = {"network": NET, "prefix": "10.2.0.5/32",
             "paths": [{"node": "192.0.2.1", "label": 16}], **bad}
        with pytest.raises(ps.ValidationError, match=why):
            ps.Route.from_json(d)


def test_binding_for_security_groups():
    net = sample_network()
    p = ps.Port.from_json(port_json(**{
        "vn-id": net.id, "security-groups": ["web"],
        "allowed-address-pairs": [{"ip-address": "10.1.0.200"}]}))
    b = p.binding()
    assert b == sg.PortBinding(p.id, (0x0a010005, 0x0a0100c8), ("web",))


def test_allowed_pair_with_a_mac_of_its_own_is_refused():
    net = sample_network()
    own = port_json(**{"vn-id": net.id})["mac-address"]
    p = ps.Port.from_json(port_json(**{
        "vn-id": net.id,
        "allowed-address-pairs": [{"ip-address": "10.1.0.200", "mac-address": own.upper()}]}))
    assert p.allowed_address_pairs[0].mac == own.lower()
    with pytest.raises(ps.ValidationError, match="other than the port's own"):
        ps.Port.from_json(port_json(**{
            "vn-id": net.id,
            "allowed-address-pairs": [{"ip-address": "10.1.0.200",
                                       "mac-address": "02:00:00:00:99:99"}]}))


# -- persistence -------------------------------------------------------------

@pytest.fixture
def store(tmp_path) -> ps.PortStore:
    s = ps.PortStore(str(tmp_path / "state"))
    s.load()
    return s


def fill(store: ps.PortStore) -> tuple:
    net = sample_network()
    port = sample_port(net, "10.1.0.5")
    route = ps.Route(net.id, "10.9.0.0/24", (ps.RoutePath("192.0.2.1", 20),
                                             ps.RoutePath("192.0.2.2", 21)))
    group = sg.neutron_default_group("dflt")
    for o in (net, port, route, group):
        store.commit(ps.kind_of(o), o.id, o)
    return net, port, route, group


def test_everything_comes_back_after_restart(store, tmp_path):
    objs = fill(store)
    again = ps.PortStore(store.state_dir)
    again.load()
    for o in objs:
        assert again.get(ps.kind_of(o), o.id) == o
    assert len(list(again)) == 4


def test_delete_removes_file(store):
    net, port, route, group = fill(store)
    store.commit("port", port.id, None)
    again = ps.PortStore(store.state_dir)
    again.load()
    assert again.find("port", port.id) is None
    with pytest.raises(ps.NotFoundError):
        again.get("port", port.id)
    with pytest.raises(ps.NotFoundError):
        store.commit("port", port.id, None)


def test_files_are_whole_json_with_format(store):
    net, *_ = fill(store)
    path = os.path.join(store.state_dir, "network", net.id + ".json")
    doc = json.load(open(path))
    assert doc["format"] == ps.FORMAT and doc["kind"] == "network"
    assert doc["object"] == net.to_json()
    leftovers = [n for k in ps.KINDS
                 for n in os.listdir(os.path.join(store.state_dir, k))
                 if not n.endswith(".json") or n.startswith(".tmp-")]
    assert leftovers == []


def test_unfinished_write_is_ignored_and_removed(store):
    net, *_ = fill(store)
    tmp = os.path.join(store.state_dir, "network", ".tmp-abc.json")
    open(tmp, "w").write('{"half')
    again = ps.PortStore(store.state_dir)
    again.load()
    assert again.get("network", net.id) == net
    assert not os.path.exists(tmp)


@pytest.mark.parametrize("content, why", [
    (b'{"format": 1, "kind": "port", "object": {', "unreadable"),
    (b"\xff\xfe", "unreadable"),
    (b'[]', "not a bsdnet port record"),
    (b'{"format": 1, "kind": "network", "object": {}}',
     "not a bsdnet port record"),
    (b'{"format": 99, "kind": "port", "object": {}}', "format 99"),
    (b'{"format": 1, "kind": "port", "object": {"id": "x"}}',
     "invalid port"),
])
def test_corrupt_file_named_in_error(store, content, why):
    net, port, *_ = fill(store)
    path = os.path.join(store.state_dir, "port", port.id + ".json")
    open(path, "wb").write(content)
    again = ps.PortStore(store.state_dir)
    with pytest.raises(ps.CorruptStateError, match=why) as e:
        again.load()
    assert e.value.path == path


def test_file_under_the_wrong_name(store):
    net, port, *_ = fill(store)
    d = os.path.join(store.state_dir, "port")
    os.rename(os.path.join(d, port.id + ".json"),
              os.path.join(d, str(uuid.uuid4()) + ".json"))
    with pytest.raises(ps.CorruptStateError, match="belongs in"):
        ps.PortStore(store.state_dir).load()


def test_apply_failure_rolls_back_create_and_replace(store):
    net = sample_network()
    store.commit("network", net.id, net)

    def boom(change):
        raise RuntimeError("datapath said no")

    port = sample_port(net, "10.1.0.5")
    with pytest.raises(RuntimeError):
        store.commit("port", port.id, port, boom)
    assert store.find("port", port.id) is None
    assert not os.path.exists(os.path.join(store.state_dir, "port",
                                           port.id + ".json"))
    net2 = ps.Network.from_json({**net.to_json(), "mtu": 9000})
    with pytest.raises(RuntimeError):
        store.commit("network", net.id, net2, boom)
    again = ps.PortStore(store.state_dir)
    again.load()
    assert again.get("network", net.id) == store.get("network", net.id) \
        == net
    with pytest.raises(RuntimeError):
        store.commit("network", net.id, None, boom)
    assert store.get("network", net.id) == net


def test_apply_sees_the_change(store):
    seen = []
    net = sample_network()
    store.commit("network", net.id, net, seen.append)
    net2 = ps.Network.from_json({**net.to_json(), "mtu": 9000})
    store.commit("network", net.id, net2, seen.append)
    store.commit("network", net.id, None, seen.append)
    assert seen == [ps.Change("network", None, net),
                    ps.Change("network", net, net2),
                    ps.Change("network", net2, None)]


def test_dangling_references_reported_not_fatal(store, caplog):
    net, port, route, group = fill(store)
    os.unlink(os.path.join(store.state_dir, "network", net.id + ".json"))
    again = ps.PortStore(store.state_dir)
    with caplog.at_level("WARNING"):
        again.load()
    assert again.get("port", port.id) == port
    problems = again.check()
    assert f"port {port.id}: network {net.id} missing" in problems
    assert f"route {route.id}: network {net.id} missing" in problems
    assert "missing" in caplog.text
    assert store.check() == []


def test_index_follows_store_changes(store):
    net = sample_network()
    store.commit("network", net.id, net)
    index = sg.GroupsIndex()
    sync = []

    def apply(change):
        sync.append(ps.update_index(index, change))

    web = sg.SecurityGroup.from_json({"id": "web", "rules": [
        {"id": "in80", "direction": "ingress", "protocol": "tcp",
         "port_range_min": 80, "port_range_max": 80}]})
    store.commit("security-group", "web", web, apply)
    p = sample_port(net, "10.1.0.5", **{"security-groups": ["web"]})
    store.commit("port", p.id, p, apply)
    k = sg.FlowKey(6, 0x01020304, 0x0a010005, 999, 80)
    assert sg.decide(k, sg.INGRESS, p.id, index).allow
    closed = sg.SecurityGroup.from_json({"id": "web"})
    store.commit("security-group", "web", closed, apply)
    assert sync[-1] == {p.id}
    assert not sg.decide(k, sg.INGRESS, p.id, index).allow
    # After a restart the index is rebuilt from the store alone.
    again = ps.PortStore(store.state_dir)
    again.load()
    rebuilt = ps.index_from(again)
    assert not sg.decide(k, sg.INGRESS, p.id, rebuilt).allow
    assert rebuilt.ports[p.id] == p.binding()
    store.commit("port", p.id, None, apply)
    assert p.id not in index.ports
