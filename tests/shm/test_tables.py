"""Vif, nexthop, label and VRF writers."""
import pytest

from bsdnet.shm.abi import lib
from bsdnet.shm.tables import IndexPool, Nexthop, TableError, Tables, Vif, \
    ip_to_int, mac_to_bytes

MAC = mac_to_bytes("02:00:00:00:00:01")


def vm_vif(**kw):
    base = dict(type=lib.BSDNET_VIF_VIRTUAL, flags=lib.BSDNET_VIF_F_POLICY,
                vrf=1, ip=ip_to_int("10.0.0.1"), mtu=1500, mac=MAC,
                name="vmtap0")
    base.update(kw)
    return Vif(**base)


def test_vif_add_read_back(tables, region):
    idx = tables.vifs.add(vm_vif())
    assert idx == 1                          # 0 is never handed out
    v = tables.vifs.read(idx)
    assert v.same(vm_vif())
    assert v.name == "vmtap0" and v.mac == MAC
    raw = region.vifs[idx]
    assert raw.vif_type == lib.BSDNET_VIF_VIRTUAL
    assert raw.vif_seq % 2 == 0 and raw.vif_seq > 0


def test_vif_write_bumps_seq_by_two_and_keeps_os_index(tables, region):
    idx = tables.vifs.add(vm_vif())
    region.vifs[idx].vif_os_index = 7        # as the datapath would
    s0 = region.vifs[idx].vif_seq
    assert tables.vifs.update(idx, vm_vif(mtu=9000))
    assert region.vifs[idx].vif_seq == s0 + 2
    assert region.vifs[idx].vif_mtu == 9000
    assert region.vifs[idx].vif_os_index == 7


def test_vif_update_unchanged_writes_nothing(tables, region):
    idx = tables.vifs.add(vm_vif())
    s0 = region.vifs[idx].vif_seq
    assert not tables.vifs.update(idx, vm_vif())
    assert region.vifs[idx].vif_seq == s0


def test_vif_recovers_from_odd_seq(tables, region):
    # A writer killed mid-write leaves the sequence odd: the next write
    # must still end even.
    idx = tables.vifs.add(vm_vif())
    region.vifs[idx].vif_seq += 1
    with pytest.raises(TableError, match="stuck odd"):
        tables.vifs.read(idx)
    tables.vifs.write(idx, vm_vif())
    assert region.vifs[idx].vif_seq % 2 == 0
    assert tables.vifs.read(idx).same(vm_vif())


def test_vif_delete_frees_index(tables, region):
    a = tables.vifs.add(vm_vif())
    tables.vifs.add(vm_vif(name="vmtap1"))
    tables.vifs.delete(a)
    assert region.vifs[a].vif_type == lib.BSDNET_VIF_NONE
    assert tables.vifs.add(vm_vif(name="vmtap2")) == a


def test_vif_name_too_long(tables):
    with pytest.raises(TableError, match="too long"):
        tables.vifs.add(vm_vif(name="x" * 16))


def test_nexthop_types(tables, region):
    fab = tables.vifs.add(Vif(type=lib.BSDNET_VIF_FABRIC, name="fab0"))
    vm = tables.vifs.add(vm_vif())
    enc = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_ENCAP, vrf=1, vif=vm,
                                      dmac=MAC, smac=region.router_mac))
    t1 = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_TUNNEL, vrf=1, vif=fab,
                                     tun_src=1, tun_dst=2, label=17))
    t2 = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_TUNNEL, vrf=1, vif=fab,
                                     tun_src=1, tun_dst=3, label=18))
    ecmp = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_ECMP, vrf=1,
                                       members=(t1, t2, enc)))
    disc = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_DISCARD))
    rcv = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_RECEIVE))
    vrf = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_VRF, vrf=2))
    assert enc == 1
    e = region.nexthops[ecmp]
    assert e.nh_type == lib.BSDNET_NH_ECMP and e.nh_nmembers == 3
    assert [e.nh_members[i] for i in range(3)] == [t1, t2, enc]
    assert region.nexthops[t2].nh_label == 18
    assert region.nexthops[disc].nh_type == lib.BSDNET_NH_DISCARD
    assert region.nexthops[rcv].nh_type == lib.BSDNET_NH_RECEIVE
    assert region.nexthops[vrf].nh_vrf == 2
    assert tables.nexthops.read(ecmp).members == (t1, t2, enc)
    assert region.nexthops[ecmp].nh_seq % 2 == 0


def test_nexthop_validation(tables):
    fab = tables.vifs.add(Vif(type=lib.BSDNET_VIF_FABRIC, name="fab0"))
    disc = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_DISCARD))
    with pytest.raises(TableError, match="not ENCAP or TUNNEL"):
        tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_ECMP, members=(disc,)))
    with pytest.raises(TableError, match="ECMP needs"):
        tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_ECMP,
                                    members=tuple(range(1, 10))))
    with pytest.raises(TableError, match="20 bits"):
        tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_TUNNEL, vif=fab,
                                    label=1 << 20))
    with pytest.raises(TableError, match="vif"):
        tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_ENCAP, vif=0))
    with pytest.raises(TableError, match="type"):
        tables.nexthops.add(Nexthop(type=0))
    # Failed adds leave no index taken.
    assert tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_DISCARD)) == disc + 1


def test_nexthop_delete_and_update(tables, region):
    n = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_DISCARD))
    s0 = region.nexthops[n].nh_seq
    assert not tables.nexthops.update(n, Nexthop(type=lib.BSDNET_NH_DISCARD))
    assert tables.nexthops.update(n, Nexthop(type=lib.BSDNET_NH_RECEIVE))
    assert region.nexthops[n].nh_seq == s0 + 2
    tables.nexthops.delete(n)
    assert region.nexthops[n].nh_type == lib.BSDNET_NH_NONE


def test_labels_from_label_min(tables, region):
    a = tables.labels.alloc(5)
    b = tables.labels.alloc(6)
    assert (a, b) == (lib.BSDNET_LABEL_MIN, lib.BSDNET_LABEL_MIN + 1)
    assert region.labels[a].lbl_nh == 5
    tables.labels.free(a)
    assert region.labels[a].lbl_nh == 0
    assert tables.labels.alloc(7) == a       # lowest free first
    assert tables.labels.set(b, 9) and not tables.labels.set(b, 9)


def test_labels_exhausted(tables, region):
    for _ in range(len(region.labels) - lib.BSDNET_LABEL_MIN):
        tables.labels.alloc(1)
    with pytest.raises(TableError, match="label table full"):
        tables.labels.alloc(1)


def test_vrf_by_name(tables, region):
    red = tables.vrfs.alloc("red")
    blue = tables.vrfs.alloc("blue")
    assert (red, blue) == (1, 2)
    assert tables.vrfs.alloc("red") == red
    assert region.vrfs[red].vrf_flags == 1
    tables.vrfs.add_route(red, "10.0.0.0/24", 3)
    tables.vrfs.free("red")
    assert region.vrfs[red].vrf_flags == 0
    assert all(w == 0 for w in region.vrfs[red].vrf_root)
    assert tables.vrfs.alloc("green") == red


def test_adopt_rebuilds_allocators(tables, region):
    v = tables.vifs.add(vm_vif())
    n = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_DISCARD))
    lab = tables.labels.alloc(n)
    red = tables.vrfs.alloc("red")
    tables.vrfs.add_route(red, "10.1.2.3/32", n)
    again = Tables(region)
    again.adopt({"red": red})
    assert again.vifs.add(vm_vif(name="b")) == v + 1
    assert again.nexthops.add(Nexthop(type=lib.BSDNET_NH_DISCARD)) == n + 1
    assert again.labels.alloc(n) == lab + 1
    assert again.vrfs.alloc("red") == red
    assert list(again.vrfs.routes[red].routes()) == [
        (ip_to_int("10.1.2.3"), 32, n)]
    assert again.vrfs.buckets.in_use() == tables.vrfs.buckets.in_use() == 3


def test_index_pool():
    p = IndexPool(1, 4, "thing")
    assert [p.alloc(), p.alloc(), p.alloc()] == [1, 2, 3]
    with pytest.raises(TableError, match="thing table full"):
        p.alloc()
    p.free(2)
    assert p.alloc() == 2


def test_vif_write_leaves_os_index_to_the_datapath(tables, region):
    idx = tables.vifs.add(vm_vif())
    region.vifs[idx].vif_os_index = 7        # the datapath attached it
    tables.vifs.write(idx, Vif(type=lib.BSDNET_VIF_VIRTUAL, name="x",
                               os_index=99))
    assert region.vifs[idx].vif_os_index == 7
    assert tables.vifs.read(idx).name == "x"
