"""The sandbox plan: names fit IFNAMSIZ, networks reuse one subnet."""
import pytest

from bsdnet.sandbox.plan import PlanError, make_plan


def test_default_plan_two_nodes_two_networks_reusing_addresses():
    plan = make_plan()
    assert [n.name for n in plan.nodes] == ["n1", "n2"]
    assert len(plan.vms) == 4
    by = {(v.network, v.node): v.ip for v in plan.vms}
    # the same addresses in both networks: isolation must come from the VRF
    assert by[("red", "n1")] == by[("blue", "n1")] == "10.0.0.1"
    assert by[("red", "n2")] == by[("blue", "n2")] == "10.0.0.2"
    assert len({v.mac for v in plan.vms}) == 4
    assert len({n.fabric_address for n in plan.nodes}) == 2


def test_names_fit_ifnamsiz_at_the_limits():
    plan = make_plan("abcdef", nodes=50, vms_per_node=40, networks=8)
    for v in plan.vms:
        assert len(v.host_interface) <= 15
    for n in plan.nodes:
        assert len(n.fabric_peer) <= 15


@pytest.mark.parametrize("kw", [dict(prefix="Bad"), dict(prefix="x;rm"), dict(prefix="toolong1"),
                                dict(nodes=0), dict(vms_per_node=51), dict(networks=9),
                                dict(nodes=50, vms_per_node=50, networks=8)])
def test_bad_requests_are_refused(kw):
    with pytest.raises(PlanError):
        make_plan(**kw)


def test_plan_round_trips_through_json_dict():
    from bsdnet.sandbox.plan import Plan
    plan = make_plan("rt", nodes=3, vms_per_node=1)
    assert Plan.from_dict(plan.to_dict()) == plan
