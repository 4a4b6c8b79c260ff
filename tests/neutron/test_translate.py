"""What Neutron sends, as bsdnet's model; bad input is refused or left out
with a reason, never taken in half-checked.  No services needed."""
from __future__ import annotations

import logging
import uuid

import pytest

from bsdnet.agent import portstore as ps
from bsdnet.neutron import constants as c
from bsdnet.neutron import translate as tr

NET = str(uuid.uuid4())
PORT = str(uuid.uuid4())
PLUG = tr.Plug(id=PORT, system_name="tapabc", instance_id=str(uuid.uuid4()),
               mac_address="fa:16:3e:00:00:01", network_id=NET)
INFO = {"id": NET, "mtu": 1450, "subnets": [
    {"id": "s1", "ip_version": 4, "cidr": "10.1.0.0/24", "gateway_ip": "10.1.0.1",
     "dns_nameservers": ["10.1.0.2", "2001:db8::1"], "enable_dhcp": True,
     "host_routes": [{"destination": "172.16.0.0/16", "nexthop": "10.1.0.254"}]},
    {"id": "s6", "ip_version": 6, "cidr": "2001:db8::/64", "gateway_ip": "2001:db8::1"}]}


def details(**over):
    return {"device": PORT, "port_id": PORT, "network_id": NET, "mac_address": PLUG.mac_address,
            "admin_state_up": True, "network_type": "vxlan", "segmentation_id": 42,
            "physical_network": None, "mtu": 1450,
            "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.1.0.5"},
                          {"subnet_id": "s6", "ip_address": "2001:db8::5"}],
            "allowed_address_pairs": [], "port_security_enabled": True, **over}


def test_label_window():
    assert c.network_label(42, 1024, 4096) == 1066
    assert c.network_label(4095, 1024, 4096) == 5119
    for vni in (0, 4096, 5000, -1):
        assert c.network_label(vni, 1024, 4096) is None


def test_overlay_port_and_network():
    b = tr.binding_from(details())
    assert b.overlay and b.segmentation_id == 42
    net = tr.network_from(b, INFO, 1066)
    assert net.label == 1066 and net.mtu == 1450
    (sub,) = net.subnets        # the IPv6 subnet is not carried
    assert (sub.cidr, sub.gateway, sub.dns_servers) == ("10.1.0.0/24", "10.1.0.1", ("10.1.0.2",))
    assert sub.host_routes == (ps.HostRoute("172.16.0.0/16", "10.1.0.254"),)
    port = tr.port_from(PLUG, details(), {"security_groups": ["g1", "g2"]}, net)
    assert (port.ip_address, port.system_name, port.vn_id) == ("10.1.0.5", "tapabc", NET)
    assert port.security_groups == ("g1", "g2") and port.port_security


def test_pairs_prefixes_other_macs_and_port_security(caplog):
    caplog.set_level(logging.WARNING)
    d = details(allowed_address_pairs=[
        {"ip_address": "10.1.0.50", "mac_address": PLUG.mac_address},
        {"ip_address": "10.1.0.64/28", "mac_address": PLUG.mac_address},
        {"ip_address": "10.1.0.99", "mac_address": "fa:16:3e:99:99:99"},
        {"ip_address": "2001:db8::99", "mac_address": PLUG.mac_address}],
        fixed_ips=[{"ip_address": "10.1.0.5"}, {"ip_address": "10.1.0.6"}])
    port = tr.port_from(PLUG, d, {"security_groups": []})
    assert [p.ip for p in port.allowed_address_pairs] == ["10.1.0.6", "10.1.0.50",
                                                          "10.1.0.64/28"]
    assert port.security_groups == (tr.NO_GROUPS,)      # no group: nothing passes
    assert "10.1.0.99" in caplog.text and "a vif has one MAC" in caplog.text
    off = tr.port_from(PLUG, details(port_security_enabled=False), {"security_groups": ["g"]})
    assert not off.port_security and off.security_groups == ()


@pytest.mark.parametrize("over, why", [
    ({"network_type": "gre"}, "segment type"),
    ({"network_type": None}, "segment type"),
    ({"segmentation_id": "42"}, "segmentation id"),
    ({"segmentation_id": 1 << 24}, "segmentation id"),
    ({"port_id": "../../etc/passwd"}, "UUID"),
    ({"mtu": 70000}, "mtu"),
])
def test_bad_details_refused(over, why):
    with pytest.raises(tr.Refused, match=why):
        tr.binding_from(details(**over))


def test_port_outside_its_subnets_or_with_another_mac_refused():
    net = tr.network_from(tr.binding_from(details()), INFO, 1066)
    with pytest.raises(tr.Refused, match="in no subnet"):
        tr.port_from(PLUG, details(fixed_ips=[{"ip_address": "192.0.2.7"}]), {}, net)
    with pytest.raises(tr.Refused, match="is the gateway"):
        tr.port_from(PLUG, details(fixed_ips=[{"ip_address": "10.1.0.1"}]), {}, net)
    with pytest.raises(tr.Refused, match="MAC"):
        tr.port_from(PLUG, details(mac_address="fa:16:3e:00:00:02"), {}, net)
    with pytest.raises(tr.Refused, match="pair"):
        tr.port_from(PLUG, details(allowed_address_pairs=[{"ip_address": "not-an-ip"}]), {})


def test_bad_subnet_left_out_network_kept(caplog):
    info = {"subnets": INFO["subnets"] + [{"id": "bad", "ip_version": 4, "cidr": "10.9.0.0/31"},
                                         "garbage"]}
    net = tr.network_from(tr.binding_from(details()), info, 1066)
    assert [s.cidr for s in net.subnets] == ["10.1.0.0/24"]
    assert "subnet bad left out" in caplog.text


def test_security_group_rules_bad_ones_left_out(caplog):
    sg = {"security_groups": {
        "web": [{"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                 "port_range_min": 80, "port_range_max": 80,
                 "source_ip_prefix": "10.0.0.0/8", "stateful": True},
                {"direction": "ingress", "ethertype": "IPv4", "protocol": "300"},
                {"direction": "sideways", "ethertype": "IPv4"},
                {"direction": "egress", "ethertype": "IPv4", "dest_ip_prefix": "nope"},
                "not a rule",
                {"direction": "ingress", "ethertype": "IPv4", "remote_group_id": "web"},
                {"direction": "ingress", "ethertype": "IPv4",
                 "remote_address_group_id": "ag1"}]},
        "sg_member_ips": {"web": {"IPv4": [["10.0.0.5", None], ["10.0.0.64/26", "x"],
                                           ["bogus", None]], "IPv6": [["2001:db8::1", None]]},
                          "ag1": {"IPv4": [["192.0.2.0/24", None]]}}}
    groups = tr.groups_from(sg)
    web = groups["web"]
    assert len(web.rules) == 3
    assert web.rules[0].remote_ip_prefix == "10.0.0.0/8" and web.rules[0].protocol == 6
    assert {r.remote_group_id for r in web.rules[1:]} == {"web", "ag1"}
    assert web.members == ("10.0.0.5", "10.0.0.64/26")
    assert groups["ag1"].members == ("192.0.2.0/24",) and groups["ag1"].rules == ()
    assert groups[tr.NO_GROUPS].rules == ()
    assert caplog.text.count("left out") >= 5
    # rule names are stable across updates (the RPC sends no rule ids)
    assert tr.groups_from(sg)["web"] == web


def test_fdb_entries_as_routes_garbage_left_out():
    fdb = {NET: {"segment_id": 42, "network_type": "vxlan", "ports": {
        "192.0.2.2": [["00:00:00:00:00:00", "0.0.0.0"], ["fa:16:3e:00:00:09", "10.1.0.9"],
                      ["fa:16:3e:00:00:0a", "2001:db8::a"], ["x"], "junk", None],
        "192.0.2.1": [["fa:16:3e:00:00:01", "10.1.0.5"]],        # this node's own
        "not-an-ip": [["fa:16:3e:00:00:0b", "10.1.0.11"]]}},
        str(uuid.uuid4()): {"network_type": "vxlan", "ports": {
            "192.0.2.3": [["fa:16:3e:00:00:0c", "10.1.0.12"]]}},    # not carried here
        "junk": "junk"}
    assert tr.fdb_paths(fdb, "192.0.2.1", [NET]) == [tr.FdbPath(NET, "10.1.0.9/32",
                                                                "192.0.2.2")]
    assert tr.fdb_paths("garbage", "192.0.2.1", [NET]) == []
    flat = {NET: {**fdb[NET], "network_type": "flat"}}
    assert tr.fdb_paths(flat, "192.0.2.1", [NET]) == []
    gone, new = tr.fdb_changes({"chg_ip": {NET: {"192.0.2.2": {
        "before": [["fa:16:3e:00:00:09", "10.1.0.9"]],
        "after": [["fa:16:3e:00:00:09", "10.1.0.19"]]}}}}, "192.0.2.1", [NET])
    assert [p.prefix for p in gone] == ["10.1.0.9/32"] and \
        [p.prefix for p in new] == ["10.1.0.19/32"]
    assert tr.fdb_changes({"chg_ip": "junk"}, "192.0.2.1", [NET]) == ([], [])


def test_plug_from_request_checks_like_the_port_api():
    body = {"id": PORT, "instance-id": str(uuid.uuid4()), "vn-id": NET,
            "mac-address": "fa:16:3e:00:00:01", "system-name": "tap0123456789ab"}
    assert tr.Plug.from_request(body).system_name == "tap0123456789ab"
    for bad in ({"system-name": "tap0123456789abc"}, {"system-name": "tap;rm -rf"},
                {"mac-address": "ff:ff:ff:ff:ff:ff"}, {"id": "1"}):
        with pytest.raises(ps.ValidationError):
            tr.Plug.from_request({**body, **bad})
    p = tr.Plug.from_request(body)
    assert tr.Plug.from_json(p.to_json()) == p
