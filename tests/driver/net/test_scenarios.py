"""The same network scenarios on the FreeBSD backend (through the ifconfig
stand-in, by fork/exec) and on the Linux backend (real interfaces in a
network namespace)."""

from __future__ import annotations

import subprocess

import pytest

from bsdnet.driver.net import (InvalidName, MtuMismatch, Network, NotOwned, Port,
                               get_driver)
from bsdnet.driver.net.names import OWNER_GROUP, make_mark, parse_mark, tap_name

NET = "net1"


def flat(env, **kw) -> Network:
    return Network(id=NET, uplink=env.uplink, move_address=True, **kw)


def port(n: int, **kw) -> Port:
    return Port(id=f"port-{n}", network_id=NET, mac=f"52:54:00:00:00:{n:02x}", **kw)


def get(env, name):
    return env.driver.backend.get(name)


def snapshot(env) -> dict:
    """Everything observable about the interfaces (for idempotence checks)."""
    be = env.driver.backend
    out = {}
    for n in be.list_names():
        st = be.get(n)
        out[n] = (st.mtu, sorted(st.flags), st.inet, st.description, st.groups,
                  st.members, st.master)
    return out, be.default_route()


def make_foreign_bridge(env, name):
    be = env.driver.backend
    if env.kind == "freebsd":
        be.ifconfig("bridge", "create", "name", name)
    else:
        be.ipr.link("add", ifname=name, kind="bridge")


def make_foreign_tap(env, name):
    be = env.driver.backend
    if env.kind == "freebsd":
        be.ifconfig("tap", "create", "name", name)
    else:
        import fcntl
        import os
        import struct
        from bsdnet.driver.net.linux import IFF_NO_PI, IFF_TAP, TUNSETIFF, TUNSETPERSIST
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
        os.close(fd)


def test_flat_network_end_to_end(env):
    drv = env.driver
    info = drv.ensure_network(flat(env))
    br = info["bridge"]
    bst = get(env, br)
    assert bst.up and OWNER_GROUP in bst.groups
    assert env.uplink in bst.members
    # The uplink's address and the default route moved to the bridge.
    assert "192.0.2.10/24" in bst.inet
    assert get(env, env.uplink).inet == []
    assert drv.backend.default_route() == (env.gateway, br)
    routes = {("0.0.0.0/0", env.gateway), ("10.20.0.0/16", "192.0.2.254")}
    assert set(drv.backend.gateway_routes(br)) == routes

    taps = [drv.plug_port(port(i))["tap"] for i in (1, 2)]
    for i, t in enumerate(taps, start=1):
        st = get(env, t)
        assert st.up, "bsdnet brings taps up itself"
        assert st.master == br and st.mtu == bst.mtu
        assert st.ether == f"fe:54:00:00:00:{i:02x}"
        assert OWNER_GROUP in st.groups

    # Idempotent: repeating everything changes nothing.
    before = snapshot(env)
    drv.ensure_network(flat(env))
    drv.plug_port(port(1))
    drv.plug_port(port(2))
    assert snapshot(env) == before

    drv.unplug_port("port-1")
    assert get(env, taps[0]) is None
    drv.unplug_port("port-1")              # again: nothing to do, no error
    drv.unplug_port("port-2")
    drv.delete_network(NET)
    assert get(env, br) is None
    assert get(env, env.uplink).inet == ["192.0.2.10/24"]
    assert drv.backend.default_route() == (env.gateway, env.uplink)
    assert set(drv.backend.gateway_routes(env.uplink)) == routes


def give_uplink_ipv6(env) -> None:
    """2001:db8::10/64 on the uplink, ::/0 via the router's link-local
    address and 2001:db8:20::/48 via a global one."""
    if env.kind == "freebsd":
        def edit(h):
            h.ifaces[env.uplink].inet6.append("2001:db8::10/64")
            h.routes["::/0"] = (f"fe80::1%{env.uplink}", env.uplink)
            h.routes["2001:db8:20::/48"] = ("2001:db8::254", env.uplink)
        env.edit_host(edit)
        return
    ns = env.ns.ns
    for argv in (["addr", "add", "2001:db8::10/64", "dev", env.uplink, "nodad"],
                 ["route", "add", "default", "via", "fe80::1", "dev", env.uplink],
                 ["route", "add", "2001:db8:20::/48", "via", "2001:db8::254"]):
        subprocess.run(["ip", "-n", ns, "-6", *argv], check=True, capture_output=True)


def test_ipv6_gateway_routes_follow_the_uplink(env):
    give_uplink_ipv6(env)
    drv = env.driver
    up = env.uplink
    before = {("::/0", f"fe80::1%{up}"), ("2001:db8:20::/48", "2001:db8::254")}
    assert before <= set(drv.backend.gateway_routes(up))
    br = drv.ensure_network(flat(env))["bridge"]
    bst = get(env, br)
    assert "2001:db8::10/64" in bst.inet6
    routes = set(drv.backend.gateway_routes(br))
    assert {("::/0", f"fe80::1%{br}"), ("2001:db8:20::/48", "2001:db8::254")} <= routes
    assert ("0.0.0.0/0", env.gateway) in routes
    assert not [r for r in drv.backend.gateway_routes(up) if ":" in r[0]]
    mark = parse_mark(bst.description)
    assert f"::/0>fe80::1%{up}" in mark["routes"].split(",")
    assert "2001:db8:20::/48>2001:db8::254" in mark["routes"].split(",")
    # Again: nothing moves twice, nothing is lost.
    drv.ensure_network(flat(env))
    assert set(drv.backend.gateway_routes(br)) == routes

    drv.delete_network(NET)
    assert get(env, br) is None
    assert "2001:db8::10/64" in get(env, up).inet6
    assert before <= set(drv.backend.gateway_routes(up))
    assert ("0.0.0.0/0", env.gateway) in drv.backend.gateway_routes(up)


def test_mtu_set_end_to_end_and_mismatch_refused(env):
    drv = env.driver
    br = drv.ensure_network(flat(env, mtu=1400))["bridge"]
    assert get(env, br).mtu == 1400 and get(env, env.uplink).mtu == 1400
    t = drv.plug_port(port(1))["tap"]
    assert get(env, t).mtu == 1400
    with pytest.raises(MtuMismatch, match="one MTU"):
        drv.plug_port(port(2, mtu=9000))
    assert get(env, tap_name("port-2")) is None
    drv.unplug_port("port-1")
    drv.delete_network(NET)
    assert get(env, env.uplink).mtu == 1500, "the uplink gets its own MTU back"


def test_repairs_after_crash_halfway(env):
    """A crash after the uplink lost its address but before the bridge got
    it: the next ensure_network finishes the move."""
    drv, be = env.driver, env.driver.backend
    br = drv.bridge_of(flat(env))
    be.create_bridge(br, make_mark("bridge", net=NET, moved="192.0.2.10/24",
                                   routes=f"0.0.0.0/0>{env.gateway}",
                                   **{"from": env.uplink}), OWNER_GROUP)
    be.del_address(env.uplink, "192.0.2.10/24")
    drv.ensure_network(flat(env))
    bst = get(env, br)
    assert "192.0.2.10/24" in bst.inet and env.uplink in bst.members
    assert be.default_route() == (env.gateway, br)
    # A tap made but never added to the bridge is picked up by the retry.
    t = tap_name("port-1")
    be.create_tap(t, make_mark("tap", port="port-1", net=NET, made="bsdnet"),
                  OWNER_GROUP, None, None)
    drv.plug_port(port(1))
    assert get(env, t).master == br


@pytest.mark.parametrize("bad", [
    dict(id="p;rm -rf /"), dict(tap="tap$(reboot)"), dict(tap="a" * 16),
    dict(tap="-bridge"), dict(mac="01:00:5e:00:00:01"), dict(hostname="a b"),
])
def test_hostile_port_names_refused(env, bad):
    drv = env.driver
    drv.ensure_network(flat(env))
    before = snapshot(env)
    fields = dict(id="port-1", network_id=NET, mac="52:54:00:00:00:01")
    fields.update(bad)
    with pytest.raises(InvalidName):
        drv.plug_port(Port(**fields))
    assert snapshot(env) == before


@pytest.mark.parametrize("bad", [dict(id="n" * 65), dict(bridge="bridge-name-too-long"),
                                 dict(id="net`id`"), dict(uplink="em0; halt")])
def test_hostile_network_names_refused(env, bad):
    before = snapshot(env)
    fields = dict(id=NET, uplink=env.uplink)
    fields.update(bad)
    with pytest.raises(InvalidName):
        env.driver.ensure_network(Network(**fields))
    assert snapshot(env) == before


def test_existing_name_not_ours_is_refused_and_untouched(env):
    drv = env.driver
    br = drv.bridge_of(flat(env))
    make_foreign_bridge(env, br)
    before = snapshot(env)
    with pytest.raises(NotOwned, match="not made by bsdnet"):
        drv.ensure_network(flat(env))
    assert snapshot(env) == before
    # Same for a port whose tap name is taken by someone else's tap.
    drv.ensure_network(flat(env, bridge="bnbother"))
    make_foreign_tap(env, tap_name("port-1"))
    with pytest.raises(NotOwned):
        drv.plug_port(port(1))
    assert get(env, tap_name("port-1")).master is None
    drv.cleanup()
    assert get(env, br) is not None and get(env, tap_name("port-1")) is not None


def test_adopts_a_tap_made_by_libvirt(env):
    drv = env.driver
    br = drv.ensure_network(flat(env))["bridge"]
    t = tap_name("port-1")
    make_foreign_tap(env, t)                 # libvirt's bhyve driver made it
    drv.plug_port(port(1), create=False)
    st = get(env, t)
    assert st.master == br and st.up and OWNER_GROUP in st.groups
    drv.unplug_port("port-1")
    st = get(env, t)
    assert st is not None and st.master is None   # libvirt removes its own tap
    # Adoption is for taps only: never the uplink (or any NIC or bridge).
    with pytest.raises(NotOwned, match="refusing to adopt"):
        drv.plug_port(port(2, tap=env.uplink), create=False)
    with pytest.raises(NotOwned):
        drv.plug_port(port(3, tap=br), create=False)
    assert parse_mark(get(env, env.uplink).description) is None


def test_cleanup_removes_only_unwanted_and_unused(env):
    drv, be = env.driver, env.driver.backend
    br = drv.ensure_network(flat(env))["bridge"]
    keep = drv.plug_port(port(1))["tap"]
    # Stale: ours, but no port wants them.  One is held open by a VM.
    be.create_tap("tapstale1", make_mark("tap", port="gone-1", net=NET, made="bsdnet"),
                  OWNER_GROUP, None, None)
    be.create_tap("tapstale2", make_mark("tap", port="gone-2", net=NET, made="bsdnet"),
                  OWNER_GROUP, None, None)
    env.open_tap("tapstale2")
    make_foreign_tap(env, "tapforeign")
    removed = drv.cleanup()
    assert removed == ["tapstale1"]
    assert get(env, "tapstale1") is None
    for n in (keep, "tapstale2", "tapforeign", br):
        assert get(env, n) is not None
    # A network nobody wants any more: the bridge goes and the uplink gets
    # its address back.
    drv.unplug_port("port-1")
    drv.store.drop_network(NET)
    assert br in drv.cleanup()
    assert get(env, br) is None and get(env, env.uplink).inet == ["192.0.2.10/24"]


def test_reconcile_after_restart(env):
    drv = env.driver
    drv.ensure_network(flat(env))
    for i in range(1, 6):
        drv.plug_port(port(i))
    drv.backend.destroy(tap_name("port-3"))          # lost while we were down
    drv.backend.create_tap("tapleftover", make_mark("tap", port="old", net=NET),
                           OWNER_GROUP, None, None)
    # A new driver over the same state directory, as after a restart.
    again = get_driver({"state_dir": str(drv.store.path), "dhcp": False},
                       backend=drv.backend)
    res = again.reconcile()
    assert res["ports"] == 5 and res["removed"] == ["tapleftover"]
    assert get(env, tap_name("port-3")).master == drv.bridge_of(flat(env))


def test_vlan_network(env):
    ok, reason = env.driver.backend.vlan_support()
    if not ok:
        pytest.skip(reason)
    drv = env.driver
    net = Network(id="net2", uplink=env.uplink, vlan=100, mtu=1400)
    info = drv.ensure_network(net)
    v = get(env, info["uplink"])
    assert (v.vlan_tag, v.vlan_parent, v.mtu) == (100, env.uplink, 1400)
    assert v.master == info["bridge"]
    drv.plug_port(Port(id="p1", network_id="net2", mac="52:54:00:00:01:01"))
    drv.unplug_port("p1")
    drv.delete_network("net2")
    assert get(env, info["uplink"]) is None and get(env, info["bridge"]) is None


def test_epair_is_marked_and_cleaned_up_with_its_network(env):
    be = env.driver.backend
    a, b = be.create_epair("bnep", make_mark("epair", net="gone"), OWNER_GROUP)
    assert (a, b) == ("bnepa", "bnepb")
    for n in (a, b):
        st = get(env, n)
        assert st.up and OWNER_GROUP in st.groups and st.kind == "epair"
    removed = env.driver.cleanup()
    assert {a, b} & set(removed)          # one end goes, taking its peer
    assert get(env, a) is None and get(env, b) is None
