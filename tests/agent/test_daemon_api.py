"""bsdnet-agent with its port API: API objects programmed with the
topology file's, persisted and restored, security groups deciding flows
and re-deciding live ones, DHCP answered, quotas written, a port added
before the datapath's region exists.  The region is a file made by the
test (no datapath)."""
import json
import signal
import uuid

from bsdnet.agent import apiclient, dhcp
from bsdnet.shm.abi import lib
from bsdnet.shm.mtrie import lookup
from bsdnet.shm.region import Region, small_geometry
from bsdnet.shm.tables import ip_to_int

from .helpers import AgentProc, FakeDatapath, fabric_topology, key, wait_for

NET = str(uuid.uuid4())


def call(agent, method, path, body=None):
    url = agent.state_dir.joinpath("api-url").read_text().split()[0]
    return apiclient.request(url, method, path, body, timeout=30)


def vrctl_json(agent, cmd):
    import contextlib
    import io
    from bsdnet.cmd import vrctl
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert vrctl.main(["--shm", agent.region.path, "--state-dir",
                           str(agent.state_dir), "--json", cmd]) == 0
    return json.loads(out.getvalue())


def network(**over):
    return {"id": NET, "name": "n", "mtu": 1400, "subnets": [
        {"cidr": "10.5.0.0/24", "gateway": "10.5.0.1"}], **over}


def port(n=1, groups=(), **over):
    return {"id": f"00000000-0000-4000-8000-{n:012d}",
            "instance-id": str(uuid.uuid4()), "vn-id": NET,
            "ip-address": f"10.5.0.{10 + n}",
            "mac-address": f"02:55:00:00:00:{n:02x}",
            "system-name": f"tapapi{n}", "security-groups": list(groups),
            **over}


def serve(agent, *extra):
    agent.write_topology(fabric_topology())
    agent.start("--agent-vif_flow_quota", "7", "--agent-vrf_flow_quota",
                "70", "--agent-nowatch_host", *extra).wait_serving()


def test_api_port_programmed_persisted_and_restored(agent):
    serve(agent)
    assert call(agent, "POST", "/network", network())[0] == 200
    assert call(agent, "POST", "/port", port(1))[0] == 200
    st = agent.state()
    p = st["ports"][port(1)["id"]]
    vrf = st["networks"][NET]["vrf"]
    assert lookup(agent.region, vrf, ip_to_int("10.5.0.11")) == (
        p["nexthop"], 32)
    v = agent.region.vifs[p["vif"]]
    assert v.vif_flags & lib.BSDNET_VIF_F_POLICY
    assert v.vif_ip == ip_to_int("10.5.0.11") and v.vif_mtu == 1400
    assert v.vif_flow_quota == 7
    # ICMP errors the datapath sends the VM come from its gateway
    assert v.vif_gw == ip_to_int("10.5.0.1")
    # path MTU defaults: MSS clamping on, 1000 ICMP errors a second
    assert not agent.region.hdr.rh_dp_flags & lib.BSDNET_DPF_NO_MSS_CLAMP
    assert agent.region.hdr.rh_icmp_rate == 1000
    assert agent.region.vrfs[vrf].vrf_flow_quota == 70
    # the topology file's ports are still there, with the quota too
    a = st["ports"]["port-a"]
    assert agent.region.vifs[a["vif"]].vif_flow_quota == 7
    # refused: unknown network, nothing half-applied
    bad = port(2, **{"vn-id": str(uuid.uuid4())})
    assert call(agent, "POST", "/port", bad)[0] == 409
    assert port(2)["id"] not in agent.state()["ports"]
    # SIGKILL and restart: the store comes back, nothing changes
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait()
    agent.logf.close()
    serve(agent)
    agent.wait_serving(n=2)
    assert agent.state() == st
    assert call(agent, "GET", f"/port/{port(1)['id']}")[1]["ip-address"] \
        == "10.5.0.11"
    assert call(agent, "DELETE", f"/port/{port(1)['id']}")[0] == 200
    assert port(1)["id"] not in agent.state()["ports"]
    assert lookup(agent.region, vrf, ip_to_int("10.5.0.11")) is None
    assert call(agent, "DELETE", f"/network/{NET}")[0] == 200
    assert NET not in agent.state()["networks"]


def test_security_groups_decide_and_redecide(agent):
    dp = FakeDatapath(agent.region, agent.ctl)
    try:
        serve(agent)
        call(agent, "POST", "/network", network())
        srv = {"id": "srv", "rules": [
            {"id": "eg", "direction": "egress"},
            {"id": "web", "direction": "ingress", "protocol": "tcp",
             "port_range_min": 80, "port_range_max": 80}]}
        assert call(agent, "POST", "/security-group", srv)[0] == 200
        call(agent, "POST", "/port", port(1))
        call(agent, "POST", "/port", port(2, ["srv"]))
        st = agent.state()
        vrf = st["networks"][NET]["vrf"]
        vif1 = st["ports"][port(1)["id"]]["vif"]

        def trap(dport):
            idx, g = dp.claim(key(vrf=vrf, src="10.5.0.11",
                                  dst="10.5.0.12", dport=dport), vif=vif1)
            dp.trap(agent.trap, idx, g, vif=vif1, vrf=vrf)
            while dp.control()[0] != lib.BSDNET_CTL_RELEASE:
                pass
            return idx

        web, ssh = trap(80), trap(22)
        flows = agent.region.flows
        assert flows[web].fe_action == lib.BSDNET_FA_FORWARD
        assert flows[ssh].fe_action == lib.BSDNET_FA_DROP
        seen = {d["flow"]: d for d in vrctl_json(agent, "sg")}
        assert seen[web]["verdict"] == "allow" and seen[web]["rule"] == "web"
        assert seen[ssh]["verdict"] == "deny" and seen[ssh]["rule"] is None
        assert seen[web]["dst_port"] == port(2)["id"]
        pts = {d["id"]: d for d in vrctl_json(agent, "port")}
        assert pts[port(2)["id"]]["groups"] == ["srv"]
        assert pts[port(1)["id"]]["flows"] == 2      # charged to its vif
        assert pts["port-a"]["source"] == "topology"
        nets = {d["network"]: d for d in vrctl_json(agent, "network")}
        assert nets[NET]["subnets"][0]["cidr"] == "10.5.0.0/24"
        assert nets[NET]["ports"] == 2 and nets["red"]["ports"] == 1
        # rule removed: the live web flow and its reverse flip to DROP
        srv["rules"] = srv["rules"][:1]
        call(agent, "POST", "/security-group", srv)
        assert flows[web].fe_action == lib.BSDNET_FA_DROP
        assert flows[flows[web].fe_rflow].fe_action == lib.BSDNET_FA_DROP
        # ssh allowed now: its drop flow is freed, to be set up afresh
        srv["rules"].append({"id": "ssh", "direction": "ingress",
                             "protocol": "tcp", "port_range_min": 22,
                             "port_range_max": 22})
        call(agent, "POST", "/security-group", srv)
        assert flows[ssh].fe_state & 0xff == lib.BSDNET_FLOW_FREE
    finally:
        dp.close()


def test_dhcp_trap_answered_with_xmit(agent):
    dp = FakeDatapath(agent.region, agent.ctl)
    try:
        serve(agent)
        call(agent, "POST", "/network", network())
        call(agent, "POST", "/port", port(1))
        vif = agent.state()["ports"][port(1)["id"]]["vif"]
        mac = bytes.fromhex("025500000001")
        bootp = (bytes([1, 1, 6, 0]) + b"\x12\x34\x56\x78" + bytes(20) +
                 mac + bytes(10) + bytes(192) + dhcp.MAGIC +
                 bytes([53, 1, dhcp.DISCOVER, 255]))
        frame = dhcp.build_frame(b"\xff" * 6, mac, bytes(4), b"\xff" * 4,
                                 bootp, None, sport=68, dport=67)
        dp.trap(agent.trap, 0xffffffff, 0, reason=lib.BSDNET_TRAP_DHCP,
                frame=frame, vif=vif)
        while True:
            data = dp.sock.recv(4096)
            if data[:2] == lib.BSDNET_CTL_XMIT.to_bytes(2, "little"):
                break
        assert int.from_bytes(data[2:4], "little") == vif
        frame = data[16:]
        bootp = frame[42:]
        assert bootp[0] == dhcp.BOOTREPLY
        assert bootp[16:20] == bytes([10, 5, 0, 11])        # yiaddr
        assert dhcp.parse_options(bootp[240:])[53] == bytes([dhcp.OFFER])
    finally:
        dp.close()


def test_port_added_before_the_region_exists(tmp_path, sockdir):
    path = str(tmp_path / "later")
    a = AgentProc(tmp_path, sockdir, path)
    a.write_topology(fabric_topology())
    a.start("--agent-nowatch_host")
    try:
        wait_for(lambda: (a.state_dir / "api-url").exists(), "the API")
        assert call(a, "POST", "/network", network())[0] == 200
        assert call(a, "POST", "/port", port(3))[0] == 200
        region = Region.create(path, small_geometry())
        try:
            a.wait_serving()
            st = a.state()
            assert port(3)["id"] in st["ports"]
            vrf = st["networks"][NET]["vrf"]
            assert lookup(region, vrf, ip_to_int("10.5.0.13")) is not None
        finally:
            region.close()
    finally:
        a.stop()


def test_allowed_address_pairs_checked_by_the_agent(agent):
    dp = FakeDatapath(agent.region, agent.ctl)
    try:
        serve(agent)
        call(agent, "POST", "/network", network())
        pair = port(4, **{"allowed-address-pairs": [
            {"ip-address": "10.5.0.200"}]})
        assert call(agent, "POST", "/port", pair)[0] == 200
        st = agent.state()
        p = st["ports"][pair["id"]]
        vrf = st["networks"][NET]["vrf"]
        # the datapath's single-address check is off for this vif...
        assert agent.region.vifs[p["vif"]].vif_ip == 0
        # ...the pair's address is routed to the port...
        assert lookup(agent.region, vrf, ip_to_int("10.5.0.200")) == (
            p["nexthop"], 32)
        assert p["extra"] == ["10.5.0.200/32"]

        def trap(src, sport):
            idx, g = dp.claim(key(vrf=vrf, src=src, dst="10.5.0.1",
                                  sport=sport), vif=p["vif"])
            dp.trap(agent.trap, idx, g, vif=p["vif"], vrf=vrf)
            while dp.control()[0] != lib.BSDNET_CTL_RELEASE:
                pass
            return agent.region.flows[idx]

        # ...and the agent checks the source of each new flow.
        for src in ("10.5.0.14", "10.5.0.200"):
            assert trap(src, 1).fe_action == lib.BSDNET_FA_FORWARD
        bad = trap("10.5.0.99", 2)
        assert bad.fe_action == lib.BSDNET_FA_DROP
        assert bad.fe_drop_reason == lib.BSDNET_DROP_SPOOFED_IP
        # pairs removed: the route goes, the datapath checks again
        del pair["allowed-address-pairs"]
        assert call(agent, "POST", "/port", pair)[0] == 200
        assert lookup(agent.region, vrf, ip_to_int("10.5.0.200")) is None
        assert agent.region.vifs[p["vif"]].vif_ip == ip_to_int("10.5.0.14")
    finally:
        dp.close()


def test_routes_through_the_api_with_ecmp(agent):
    serve(agent, "--fabric-neighbors",
          "192.0.2.2:02:00:00:00:00:02,192.0.2.3:02:00:00:00:00:03")
    call(agent, "POST", "/network", network())
    for node, label in (("192.0.2.2", 30), ("192.0.2.3", 31)):
        assert call(agent, "POST", "/route", {
            "network": NET, "prefix": "10.5.9.0/24", "node": node,
            "label": label})[0] == 200
    st = agent.state()
    vrf = st["networks"][NET]["vrf"]
    nh = agent.region.nexthops[lookup(agent.region, vrf,
                                      ip_to_int("10.5.9.7"))[0]]
    assert nh.nh_type == lib.BSDNET_NH_ECMP and nh.nh_nmembers == 2
    tunnels = [agent.region.nexthops[m] for m in nh.nh_members[0:2]]
    assert sorted(t.nh_label for t in tunnels) == [30, 31]
    assert {bytes(t.nh_dmac).hex() for t in tunnels} == {
        "020000000002", "020000000003"}
    # one path removed: a plain tunnel again
    assert call(agent, "DELETE",
                f"/route/{NET}/10.5.9.0/24?node=192.0.2.3")[0] == 200
    t = agent.region.nexthops[lookup(agent.region, vrf,
                                     ip_to_int("10.5.9.7"))[0]]
    assert t.nh_type == lib.BSDNET_NH_TUNNEL and t.nh_label == 30
    assert call(agent, "DELETE", f"/route/{NET}/10.5.9.0/24")[0] == 200
    assert lookup(agent.region, vrf, ip_to_int("10.5.9.7")) is None


def test_path_mtu_options_reach_the_datapath(agent):
    serve(agent, "--agent-nomss_clamp", "--agent-icmp_error_rate", "25")
    assert agent.region.hdr.rh_dp_flags & lib.BSDNET_DPF_NO_MSS_CLAMP
    assert agent.region.hdr.rh_icmp_rate == 25
    # a port of a subnet without a gateway: no ICMP source of its own
    net = network(subnets=[{"cidr": "10.5.0.0/24"}])
    assert call(agent, "POST", "/network", net)[0] == 200
    assert call(agent, "POST", "/port", port(1))[0] == 200
    p = agent.state()["ports"][port(1)["id"]]
    assert agent.region.vifs[p["vif"]].vif_gw == 0
