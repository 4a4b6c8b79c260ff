"""Flow install through the datapath's own flow-table code, and trap
handling end to end over real unix datagram sockets (no datapath: the test
claims HOLD entries as the datapath would)."""
import os
import socket
import struct

import pytest

from bsdnet.agent.flows import Decision, FlowManager, TrapChannel, \
    parse_frame
from bsdnet.shm.abi import ffi, lib

from .helpers import NONE, FakeDatapath, key

HOLD, ACTIVE, FREE = (lib.BSDNET_FLOW_HOLD, lib.BSDNET_FLOW_ACTIVE,
                      lib.BSDNET_FLOW_FREE)
def state(fe):
    return fe.fe_state & lib.BSDNET_FLOW_STATE_MASK


def gen(fe):
    return fe.fe_state >> lib.BSDNET_FLOW_GEN_SHIFT


@pytest.fixture
def dp(region, sockdir):
    d = FakeDatapath(region, os.path.join(sockdir, "dp.sock"))
    yield d
    d.close()


@pytest.fixture
def channel(sockdir):
    ch = TrapChannel(os.path.join(sockdir, "agent.sock"),
                     os.path.join(sockdir, "dp.sock"))
    yield ch
    ch.close()


# ---- the flow table itself ------------------------------------------------

def test_claim_publish_free_generations(region, dp):
    k = key()
    idx, g = dp.claim(k)
    fe = region.flows[idx]
    assert state(fe) == HOLD and gen(fe) == g
    assert lib.bsdnet_flow_lookup(dp.ft, k, ffi.NULL) == idx
    # Publish with a wrong generation fails; the right one works.
    assert not lib.bsdnet_flow_publish(dp.ft, idx, g + 1, 1, 0, NONE)
    assert lib.bsdnet_flow_publish(dp.ft, idx, g, lib.BSDNET_FA_FORWARD, 0,
                                   NONE)
    assert state(fe) == ACTIVE
    assert not lib.bsdnet_flow_free(dp.ft, idx, g + 1, ffi.NULL)
    assert lib.bsdnet_flow_free(dp.ft, idx, g, ffi.NULL)
    assert state(fe) == FREE and gen(fe) == g + 1
    assert lib.bsdnet_flow_lookup(dp.ft, k, ffi.NULL) == NONE
    # A stale publish after the entry was recycled is refused.
    assert not lib.bsdnet_flow_publish(dp.ft, idx, g, 1, 0, NONE)


def test_agent_and_datapath_hash_alike(region, dp):
    fm = FlowManager(region, None)
    k = key()
    assert lib.bsdnet_flow_hash(fm.ft, k) == lib.bsdnet_flow_hash(dp.ft, k)
    assert fm.ft.ft_nentries == region.nflows


def test_setup_writes_reverse_and_counts_hold(region, dp):
    fm = FlowManager(region, None)
    idx, g = dp.claim(key(proto=17, sport=5000, dport=53))
    r = ffi.new("uint32_t *")
    rc = lib.bsdnet_agent_flow_setup(fm.ft, region.hdr, region.base, idx, g,
                                     lib.BSDNET_FA_FORWARD, 0, 3, 5, r)
    assert rc == lib.BSDNET_AGENT_FLOW_OK
    fwd, rev = region.flows[idx], region.flows[r[0]]
    assert state(fwd) == ACTIVE and state(rev) == ACTIVE
    assert fwd.fe_rflow == r[0] and rev.fe_rflow == idx
    assert (rev.fe_key.fk_src, rev.fe_key.fk_dst) == (fwd.fe_key.fk_dst,
                                                      fwd.fe_key.fk_src)
    assert (rev.fe_key.fk_sport, rev.fe_key.fk_dport) == (53, 5000)
    assert rev.fe_src_vif == 3
    assert rev.fe_flags & lib.BSDNET_FE_F_REVERSE
    assert region.stats.st_holds == 0
    # One flow charged to its source vif and VRF (the datapath's quotas).
    assert region.vifstats[2].vs_flows == 1
    assert region.vrfs[1].vrf_nflows == 1
    assert region.vifstats[3].vs_flows == 0
    # Twice is stale: the entry is not HOLD(g) any more.
    rc = lib.bsdnet_agent_flow_setup(fm.ft, region.hdr, region.base, idx, g,
                                     lib.BSDNET_FA_FORWARD, 0, 3, 5, r)
    assert rc == lib.BSDNET_AGENT_FLOW_STALE
    assert region.stats.st_holds == 0
    rc = lib.bsdnet_agent_flow_setup(fm.ft, region.hdr, region.base, region.nflows, 0,
                                     1, 0, 0, 0, r)
    assert rc == lib.BSDNET_AGENT_FLOW_BAD_INDEX


def test_icmp_reverse_keeps_identifier(region, dp):
    fm = FlowManager(region, None)
    idx, g = dp.claim(key(proto=1, sport=77, dport=0))
    r = ffi.new("uint32_t *")
    lib.bsdnet_agent_flow_setup(fm.ft, region.hdr, region.base, idx, g, 1, 0, 0, 0, r)
    rev = region.flows[r[0]].fe_key
    assert (rev.fk_sport, rev.fk_dport) == (77, 0)


# ---- traps end to end ---------------------------------------------------

def test_trap_to_release_end_to_end(region, dp, channel):
    fm = FlowManager(region, channel)
    k = key()
    idx, g = dp.claim(k)
    assert region.stats.st_holds == 1
    dp.trap(channel.trap_path, idx, g)
    assert fm.poll() == 1
    fwd = region.flows[idx]
    assert state(fwd) == ACTIVE and fwd.fe_action == lib.BSDNET_FA_FORWARD
    ridx = fwd.fe_rflow
    rev = region.flows[ridx]
    assert state(rev) == ACTIVE and rev.fe_rflow == idx
    rk = key(src="10.0.0.2", dst="10.0.0.1", sport=80, dport=1234)
    assert lib.bsdnet_flow_lookup(dp.ft, rk, ffi.NULL) == ridx
    assert region.stats.st_holds == 0
    assert dp.control() == (lib.BSDNET_CTL_RELEASE, idx, g)
    assert fm.counters["installed"] == 1


def test_batch_of_traps(region, dp, channel):
    fm = FlowManager(region, channel)
    claimed = [dp.claim(key(sport=1000 + i)) for i in range(40)]
    # Chunks of 8: a unix datagram queue holds net.unix.max_dgram_qlen
    # (10 by default) messages.
    # RELEASEs the datapath's queue cannot take yet wait in
    # channel.pending and go out on flush().
    handled = 0
    released = set()
    for c in range(0, 40, 8):
        for idx, g in claimed[c:c + 8]:
            dp.trap(channel.trap_path, idx, g)
        handled += fm.poll()
        while len(released) < handled:
            channel.flush()
            released.add(dp.control()[1:])
    assert handled == 40
    assert region.stats.st_holds == 0
    assert not channel.pending
    assert released == set(claimed)
    assert all(state(region.flows[i]) == ACTIVE for i, _ in claimed)


def test_stale_trap_is_not_released(region, dp, channel):
    fm = FlowManager(region, channel)
    idx, g = dp.claim(key())
    # The datapath expired the HOLD before the agent got to it.
    assert lib.bsdnet_flow_free(dp.ft, idx, g, ffi.NULL)
    dp.trap(channel.trap_path, idx, g)
    fm.poll()
    assert fm.counters["stale"] == 1
    assert state(region.flows[idx]) == FREE
    dp.sock.settimeout(0.2)
    with pytest.raises(socket.timeout):
        dp.control()


def test_malformed_traps_are_counted(region, dp, channel):
    fm = FlowManager(region, channel)
    dp.sock.sendto(b"short", channel.trap_path)
    dp.trap(channel.trap_path, region.nflows + 5, 0)       # bad index
    th = ffi.new("struct bsdnet_trap_hdr *")
    th.th_version = 99
    dp.sock.sendto(bytes(ffi.buffer(th)), channel.trap_path)
    fm.poll()
    assert fm.counters["bad_trap"] == 3
    assert fm.counters["installed"] == 0


def test_policy_drop(region, dp, channel):
    seen = []

    def deny(k, trap):
        seen.append((k, trap.vif))
        return Decision(lib.BSDNET_FA_DROP, lib.BSDNET_DROP_FLOW_ACTION_DROP)

    fm = FlowManager(region, channel, policy=deny)
    idx, g = dp.claim(key(dport=22))
    dp.trap(channel.trap_path, idx, g, vif=2)
    fm.poll()
    fe = region.flows[idx]
    assert state(fe) == ACTIVE and fe.fe_action == lib.BSDNET_FA_DROP
    assert fe.fe_drop_reason == lib.BSDNET_DROP_FLOW_ACTION_DROP
    assert fe.fe_rflow == NONE                 # no reverse for a drop
    assert seen[0][0].dport == 22 and seen[0][1] == 2
    assert dp.control() == (lib.BSDNET_CTL_RELEASE, idx, g)


@pytest.mark.parametrize("verdict, action", [
    (True, lib.BSDNET_FA_FORWARD), (False, lib.BSDNET_FA_DROP)])
def test_policy_verdict_with_allow(region, dp, channel, verdict, action):
    from collections import namedtuple
    Verdict = namedtuple("Verdict", "allow rule_id")   # secgroups' shape
    fm = FlowManager(region, channel,
                     policy=lambda k, t: Verdict(verdict, "rule-1"))
    idx, g = dp.claim(key())
    dp.trap(channel.trap_path, idx, g)
    fm.poll()
    assert region.flows[idx].fe_action == action
    assert (region.flows[idx].fe_rflow != NONE) == verdict


def test_policy_exception_drops(region, dp, channel):
    def broken(k, trap):
        raise RuntimeError("boom")

    fm = FlowManager(region, channel, policy=broken)
    idx, g = dp.claim(key())
    dp.trap(channel.trap_path, idx, g)
    fm.poll()
    assert region.flows[idx].fe_action == lib.BSDNET_FA_DROP


def test_trap_handlers_and_xmit(region, dp, channel):
    fm = FlowManager(region, channel)
    got = []
    fm.handlers[lib.BSDNET_TRAP_DHCP] = got.append
    dp.trap(channel.trap_path, NONE, 0, reason=lib.BSDNET_TRAP_DHCP,
            frame=b"dhcp-frame", vif=4, vrf=2)
    fm.poll()
    (t,) = got
    assert (t.reason, t.vif, t.vrf, t.frame) == (lib.BSDNET_TRAP_DHCP, 4, 2,
                                                  b"dhcp-frame")
    # The reply goes back through the datapath as an XMIT control message.
    assert channel.xmit(4, b"reply")
    data = dp.sock.recv(256)
    ch = ffi.new("struct bsdnet_ctl_hdr *")
    ffi.memmove(ch, data, ffi.sizeof(ch[0]))
    assert (ch.ch_type, ch.ch_vif, ch.ch_len) == (lib.BSDNET_CTL_XMIT, 4, 5)
    assert data[ffi.sizeof(ch[0]):] == b"reply"


def test_channel_replaces_stale_socket_not_files(sockdir):
    path = os.path.join(sockdir, "agent.sock")
    TrapChannel(path, os.path.join(sockdir, "dp.sock")).sock.close()
    ch = TrapChannel(path, os.path.join(sockdir, "dp.sock"))   # stale: ok
    ch.close()
    with open(path, "w") as f:
        f.write("not a socket")
    with pytest.raises(OSError):
        TrapChannel(path, os.path.join(sockdir, "dp.sock"))
    assert open(path).read() == "not a socket"


def test_dhcp_trap_counted(region, dp, channel):
    fm = FlowManager(region, channel)
    frame = (b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x08\x00" +
             bytes.fromhex("4500014800000000401100000000000" "0ffffffff") +
             struct.pack("!HH", 68, 67) + b"\0" * 300)
    dp.trap(channel.trap_path, NONE, 0, reason=lib.BSDNET_TRAP_DHCP,
            frame=frame)
    fm.poll()
    assert fm.counters["dhcp"] == 1
    p = parse_frame(frame)
    assert p["src_mac"] == "02:00:00:00:00:01"
    assert (p["sport"], p["dport"]) == (68, 67)


def test_reverse_vif_from_route(region, tables, dp, channel):
    from bsdnet.shm.tables import Nexthop, Vif
    red = tables.vrfs.alloc("red")
    fab = tables.vifs.add(Vif(type=lib.BSDNET_VIF_FABRIC, name="fab0"))
    vm = tables.vifs.add(Vif(type=lib.BSDNET_VIF_VIRTUAL, vrf=red,
                             name="vmtap0"))
    nh = tables.nexthops.add(Nexthop(type=lib.BSDNET_NH_ENCAP, vif=vm))
    tables.vrfs.add_route(red, "10.0.0.1/32", nh)
    fm = FlowManager(region, channel, fabric_vif=fab)
    idx, g = dp.claim(key(vrf=red, src="10.0.0.1", dst="10.0.0.9"))
    dp.trap(channel.trap_path, idx, g)
    idx2, g2 = dp.claim(key(vrf=red, src="10.0.0.9", dst="10.0.0.1",
                            sport=5, dport=6))
    dp.trap(channel.trap_path, idx2, g2)
    fm.poll()
    # Reverse of a flow from the local VM arrives on the VM's vif; reverse
    # of a flow from elsewhere arrives on the fabric.
    assert region.flows[region.flows[idx].fe_rflow].fe_src_vif == vm
    assert region.flows[region.flows[idx2].fe_rflow].fe_src_vif == fab


def test_reverse_already_held_is_left_to_its_own_trap(region, dp):
    fm = FlowManager(region, None)
    idx, g = dp.claim(key())
    ridx, rg = dp.claim(key(src="10.0.0.2", dst="10.0.0.1", sport=80,
                            dport=1234))
    r = ffi.new("uint32_t *")
    assert lib.bsdnet_agent_flow_setup(fm.ft, region.hdr, region.base, idx, g, 1, 0, 0,
                                       0, r) == 0
    assert r[0] == NONE
    assert state(region.flows[ridx]) == HOLD


# ---- aging ----------------------------------------------------------------

def _install(region, dp, fm, **kw):
    idx, g = dp.claim(key(**kw))
    r = ffi.new("uint32_t *")
    assert lib.bsdnet_agent_flow_setup(fm.ft, region.hdr, region.base, idx, g, 1, 0, 0,
                                       0, r) == 0
    return idx, r[0]


def test_aging_frees_idle_pairs_only(region, dp):
    fm = FlowManager(region, None)
    idle = _install(region, dp, fm, sport=1)
    busy = _install(region, dp, fm, sport=2)
    half = _install(region, dp, fm, sport=3)
    assert fm.age(60, now_s=1000) == 0          # baseline
    region.flows[busy[0]].fe_packets += 5
    region.flows[half[1]].fe_last_used = 999    # reverse direction in use
    assert fm.age(60, now_s=1030) == 0          # not idle long enough yet
    assert fm.age(60, now_s=1061) == 2
    assert state(region.flows[idle[0]]) == FREE
    assert state(region.flows[idle[1]]) == FREE
    for i in busy + half:
        assert state(region.flows[i]) == ACTIVE
    assert region.vrfs[1].vrf_nflows == 2
    assert fm.age(60, now_s=1100) == 4
    assert fm.counters["aged"] == 6
    assert region.vrfs[1].vrf_nflows == 0
    assert region.vifstats[2].vs_flows == 0


def test_aging_leaves_hold_entries(region, dp):
    fm = FlowManager(region, None)
    idx, g = dp.claim(key())
    fm.age(1, now_s=0)
    assert fm.age(1, now_s=100) == 0
    assert state(region.flows[idx]) == HOLD


def test_aging_by_kind_of_flow(region, dp):
    from bsdnet.agent.flows import AgeTimeouts
    fm = FlowManager(region, None)
    tmo = AgeTimeouts(tcp=100, tcp_closed=5, udp=50, icmp=20, other=30,
                      drop=2)
    tcp = _install(region, dp, fm, sport=1)
    rst = _install(region, dp, fm, sport=2)
    fin1 = _install(region, dp, fm, sport=3)     # FIN one way: still open
    fin2 = _install(region, dp, fm, sport=4)     # FIN both ways: closed
    udp = _install(region, dp, fm, proto=17, sport=5)
    icmp = _install(region, dp, fm, proto=1, sport=6, dport=0)
    region.flows[rst[1]].fe_flags |= lib.BSDNET_FE_F_TCP_RST
    region.flows[fin1[0]].fe_flags |= lib.BSDNET_FE_F_TCP_FIN
    region.flows[fin2[0]].fe_flags |= lib.BSDNET_FE_F_TCP_FIN
    region.flows[fin2[1]].fe_flags |= lib.BSDNET_FE_F_TCP_FIN
    drop = dp.claim(key(sport=7))
    r = ffi.new("uint32_t *")
    assert lib.bsdnet_agent_flow_setup(
        fm.ft, region.hdr, region.base, drop[0], drop[1], lib.BSDNET_FA_DROP,
        lib.BSDNET_DROP_FLOW_ACTION_DROP, 0, 0, r) == 0
    fm.age(tmo, now_s=1000)                      # baseline

    def alive(pair):
        return all(state(region.flows[i]) == ACTIVE for i in pair)

    fm.age(tmo, now_s=1003)
    assert not alive(drop[:1])
    assert alive(rst) and alive(fin2)
    fm.age(tmo, now_s=1006)
    assert not alive(rst) and not alive(fin2) and alive(fin1)
    fm.age(tmo, now_s=1021)
    assert not alive(icmp) and alive(udp)
    fm.age(tmo, now_s=1051)
    assert not alive(udp) and alive(tcp) and alive(fin1)
    fm.age(tmo, now_s=1101)
    assert not alive(tcp) and not alive(fin1)


def test_verdict_cache_ignores_source_port_not_icmp():
    from bsdnet.agent.flows import ALLOW, DENY, FlowKey, Trap, VerdictCache
    calls = []

    def policy(k, t):
        calls.append(k)
        return k.dport == 80
    c = VerdictCache(policy)
    t = Trap(1, 5, 1, 0, 0, 0, b"")
    assert c(FlowKey(1, 6, 1, 2, 1000, 80), t) == ALLOW
    assert c(FlowKey(1, 6, 1, 2, 1001, 80), t) == ALLOW     # cached
    assert c(FlowKey(1, 6, 1, 2, 1001, 22), t) == DENY
    assert c(FlowKey(1, 6, 1, 2, 1000, 80), t._replace(vif=6)) == ALLOW
    assert len(calls) == 3
    c(FlowKey(1, 1, 1, 2, 7, 0), t)
    c(FlowKey(1, 1, 1, 2, 7, 0), t)                          # ICMP: asked
    assert len(calls) == 5
    c.clear()
    c(FlowKey(1, 6, 1, 2, 1000, 80), t)
    assert len(calls) == 6
