"""Names and ownership marks."""

import pytest

from bsdnet.driver.net import InvalidName, bridge_name, tap_name, vlan_name
from bsdnet.driver.net.names import check_id, check_ifname, check_mac, make_mark, parse_mark

UUID = "3f2a9c1e-7b44-4d0e-9a51-0c6f1e2b8d90"


def test_tap_name_is_novas_devname():
    assert tap_name(UUID) == "tap3f2a9c1e-7b"        # ('tap' + id)[:14]
    assert tap_name("p1") == "tapp1"


def test_bridge_name_is_the_one_ml2_gives_nova():
    # One rule on every node and in neutron-server's binding (issue 18).
    from bsdnet.driver.vif.bridge import bridge_for
    assert bridge_name(UUID) == "bnb" + UUID.replace("-", "")[:12]
    assert bridge_for({"network": {"id": UUID}}) == bridge_name(UUID)
    assert bridge_name("pub") == "bnbpub"


def test_long_ids_that_share_a_prefix_get_two_bridges():
    a, b = bridge_name("production-east-1"), bridge_name("production-east-2")
    assert len(a) == len(b) == 15 and a != b


def test_vlan_name_prefers_freebsd_style():
    assert vlan_name("em0", 100) == "em0.100"
    long = vlan_name("mlxen0longname", 4094)
    assert len(long) <= 15 and long.endswith(".4094")


@pytest.mark.parametrize("name", ["", "a" * 16, "-x", "1abc", "a b", "tap;ls", "x$(id)",
                                  "br/0", "ünï", "em0\n"])
def test_bad_interface_names(name):
    with pytest.raises(InvalidName):
        check_ifname(name)


def test_marks_round_trip_and_foreign_descriptions_are_not_ours():
    m = make_mark("tap", port="p1", net="n1", made="bsdnet")
    assert parse_mark(m) == {"kind": "tap", "port": "p1", "net": "n1", "made": "bsdnet"}
    for foreign in (None, "", "vm-public", "bsdnetwork kind=tap", "bsdnet no kind here"):
        assert parse_mark(foreign) is None


@pytest.mark.parametrize("fields, message", [
    (dict(dhcp=True), "DHCP needs"),
    (dict(dhcp=True, cidr="10.0.0.0/24", bridge_address="10.1.0.1/24"), "outside"),
    (dict(vlan=0), "1-4094"),
    (dict(mtu=70000), "MTU"),
    (dict(routes=[("10.0.0.0/33", "10.0.0.1")]), "net1"),
])
def test_network_specs_are_checked(fields, message):
    from bsdnet.driver.net import Network
    with pytest.raises(InvalidName, match=message):
        Network(id="net1", uplink="em0", **fields).validate()


@pytest.mark.parametrize("check,bad", [(check_id, "net1\n"), (check_mac, "fa:16:3e:00:00:01\n")])
def test_trailing_newline_is_refused(check, bad):
    with pytest.raises(InvalidName):
        check(bad)
