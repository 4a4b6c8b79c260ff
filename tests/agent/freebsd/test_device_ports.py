"""Interfaces bound to vifs with BSDNET_IOC_ATTACH / _DETACH, as the vif
table says: names, vif indices and the router-MAC flag the module gets,
and what happens when a tap is missing, goes, or the agent restarts."""
import pytest

from bsdnet.agent.transport_device import DeviceTransport
from bsdnet.shm.abi import lib
from bsdnet.shm.tables import Tables, Vif

ROUTER_MAC = lib.BSDNET_IOC_F_ROUTER_MAC


def fabric(name="vtnet0"):
    return Vif(type=lib.BSDNET_VIF_FABRIC, flags=lib.BSDNET_VIF_F_UP,
               mtu=1500, mac=b"\x02\0\0\0\0\x01", name=name)


def vm(name):
    return Vif(type=lib.BSDNET_VIF_VIRTUAL, flags=lib.BSDNET_VIF_F_UP,
               vrf=1, mtu=1500, mac=b"\x02\0\0\0\1\x0a", name=name)


@pytest.fixture
def tables(region):
    return Tables(region, grace=0.0)


def os_index(region, vif):
    return region.vifs[vif].vif_os_index


def test_fabric_and_taps_attached_with_their_flags(fake, transport, region,
                                                   tables):
    f = tables.vifs.add(fabric())
    a = tables.vifs.add(vm("tap0"))
    transport.sync_ports(region)
    assert fake.calls == [("attach", f, "vtnet0", 0),
                          ("attach", a, "tap0", ROUTER_MAC)]
    assert fake.ports == {f: ("vtnet0", 0), a: ("tap0", ROUTER_MAC)}
    # The module says what it bound in the agent's mapping.
    assert (os_index(region, f), os_index(region, a)) == (3, 7)
    fake.calls.clear()
    transport.sync_ports(region)
    assert fake.calls == []             # nothing to do: no ioctl


def test_port_removed_is_detached_by_name(fake, transport, region, tables):
    tables.vifs.add(fabric())
    a = tables.vifs.add(vm("tap0"))
    transport.sync_ports(region)
    fake.calls.clear()
    tables.vifs.delete(a)
    transport.sync_ports(region)
    assert fake.calls == [("detach", a, "tap0", 0)]
    assert a not in fake.ports and os_index(region, a) == 0


def test_missing_tap_is_retried_until_it_exists(fake, transport, region,
                                                tables, caplog):
    a = tables.vifs.add(vm("tap9"))
    caplog.set_level("INFO")
    transport.sync_ports(region)
    transport.sync_ports(region)
    assert fake.calls == [("attach", a, "tap9", ROUTER_MAC)] * 2
    assert fake.ports == {}
    # Said once, not on every retry.
    assert sum("tap9" in r.message for r in caplog.records) == 1
    fake.interfaces["tap9"] = 12        # the VM started
    transport.sync_ports(region)
    assert fake.ports == {a: ("tap9", ROUTER_MAC)}
    assert os_index(region, a) == 12


def test_tap_destroyed_and_recreated(fake, transport, region, tables):
    a = tables.vifs.add(vm("tap0"))
    transport.sync_ports(region)
    fake.interface_gone("tap0")         # the module detached it itself
    assert os_index(region, a) == 0
    fake.calls.clear()
    transport.sync_ports(region)
    assert fake.calls == [("attach", a, "tap0", ROUTER_MAC)]
    assert fake.ports == {}
    fake.interfaces["tap0"] = 20
    transport.sync_ports(region)
    assert fake.ports == {a: ("tap0", ROUTER_MAC)}
    assert os_index(region, a) == 20


def test_vif_renamed_is_rebound(fake, transport, region, tables):
    a = tables.vifs.add(vm("tap0"))
    transport.sync_ports(region)
    fake.calls.clear()
    tables.vifs.write(a, vm("tap1"))
    transport.sync_ports(region)
    assert fake.calls == [("detach", a, "tap0", 0),
                          ("attach", a, "tap1", ROUTER_MAC)]
    assert fake.ports == {a: ("tap1", ROUTER_MAC)}


def test_entries_without_a_name_or_type_are_not_attached(fake, transport,
                                                         region, tables):
    tables.vifs.add(vm(""))
    tables.vifs.add(Vif(type=lib.BSDNET_VIF_NONE, name="tap0"))
    transport.sync_ports(region)
    assert fake.calls == []


def test_restarted_agent_adopts_what_is_bound(fake, transport, region,
                                              tables):
    f = tables.vifs.add(fabric())
    a = tables.vifs.add(vm("tap0"))
    transport.sync_ports(region)
    fake.calls.clear()
    again = DeviceTransport("/dev/bsdnet", ops=fake)   # a new agent
    try:
        r2 = again.open_region()
        again.sync_ports(r2)
        assert fake.calls == []
        assert fake.ports == {f: ("vtnet0", 0), a: ("tap0", ROUTER_MAC)}
        r2.close()
    finally:
        again.close()


def test_restarted_agent_unbinds_what_the_table_dropped(fake, transport,
                                                        region, tables):
    tables.vifs.add(fabric())
    a = tables.vifs.add(vm("tap0"))
    b = tables.vifs.add(vm("tap1"))
    transport.sync_ports(region)
    fake.calls.clear()
    tables.vifs.delete(b)               # port deleted while no agent ran
    fake.interfaces["tap0"] = 30        # and tap0 is another one now
    fake.ports[a] = ("tap0", ROUTER_MAC)
    again = DeviceTransport("/dev/bsdnet", ops=fake)
    try:
        r2 = again.open_region()
        again.sync_ports(r2)
        r2.close()
    finally:
        again.close()
    assert ("detach", b, "", 0) in fake.calls
    # tap0's index is not what the module holds: unbound and bound again.
    assert [c for c in fake.calls if c[1] == a] == [
        ("detach", a, "", 0), ("attach", a, "tap0", ROUTER_MAC)]
    assert os_index(region, a) == 30 and b not in fake.ports


def test_refusals_do_not_stop_the_others(fake, transport, region, tables):
    a = tables.vifs.add(vm("tap0"))
    b = tables.vifs.add(vm("tap1"))
    fake.ports[a] = ("vtnet0", 0)       # someone bound the slot: EEXIST...
    # ...but the table's index says nothing is bound (os_index 0), so the
    # agent tries, is refused, and goes on with the next vif.
    transport.sync_ports(region)
    assert fake.calls == [("attach", a, "tap0", ROUTER_MAC),
                          ("attach", b, "tap1", ROUTER_MAC)]
    assert fake.ports[b] == ("tap1", ROUTER_MAC)


def test_no_tables_any_more_is_reported(fake, transport, region, tables,
                                        caplog):
    tables.vifs.add(vm("tap0"))
    keep, fake.region = fake.region, None   # ENXIO from every ioctl
    try:
        caplog.set_level("WARNING")
        transport.sync_ports(region)
        assert fake.ports == {}
        assert any("tap0" in r.message for r in caplog.records)
    finally:
        fake.region = keep


def test_interface_bound_elsewhere_is_refused_and_said(fake, transport,
                                                       region, tables,
                                                       caplog):
    a = tables.vifs.add(vm("tap0"))
    fake.ports[40] = ("tap0", ROUTER_MAC)   # bound to another vif: EBUSY
    caplog.set_level("WARNING")
    transport.sync_ports(region)
    assert fake.calls == [("attach", a, "tap0", ROUTER_MAC)]
    assert a not in fake.ports
    assert any("tap0" in r.message and "busy" in r.message.lower()
               for r in caplog.records)


def test_module_counters(fake, transport, region, tables):
    tables.vifs.add(fabric())
    transport.sync_ports(region)
    st = transport.stats()
    assert st["nports"] == 1 and st["mapped"] == 1
    assert set(st) >= {"rx_pkts", "tx_pkts", "traps", "trap_drops",
                       "ctl_msgs"}
