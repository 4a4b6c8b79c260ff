"""bsdnet-vrctl: tables and JSON read back from a programmed region."""
import json

import pytest

from bsdnet.agent import state as statefile
from bsdnet.agent import topology
from bsdnet.cmd import vrctl
from bsdnet.shm.abi import ffi, lib
from bsdnet.agent.flows import FlowManager
from bsdnet.agent.program import Programmer

from .helpers import fabric_topology


@pytest.fixture
def programmed(region, tables):
    p = Programmer(tables, statefile.empty_state(region.instance))
    p.apply(topology.parse(fabric_topology()))
    return p.state


def run(capsys, region, *args):
    rc = vrctl.main(["--shm", region.path, *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_vif_text(capsys, region, programmed):
    rc, out, _ = run(capsys, region, "vif")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["VIF", "TYPE", "NAME", "VRF"]
    assert any("FABRIC" in ln and "fab0" in ln and "192.0.2.1" in ln
               for ln in lines)
    row = next(ln for ln in lines if "vmtapA" in ln).split()
    assert row[1] == "VIRTUAL" and "P" in row[8] and "U" in row[8]


def test_vif_json(capsys, region, programmed):
    rc, out, _ = run(capsys, region, "--json", "vif")
    data = json.loads(out)
    a = programmed["ports"]["port-a"]
    row = next(d for d in data if d["vif"] == a["vif"])
    assert row["name"] == "vmtapA" and row["mac"] == "02:00:00:00:01:0a"
    assert row["policy"] and row["nh"] == a["nexthop"]


def test_nh_and_mpls(capsys, region, programmed):
    _, out, _ = run(capsys, region, "--json", "nh")
    nhs = json.loads(out)
    types = sorted(d["type"] for d in nhs)
    assert types == ["ECMP", "ENCAP", "ENCAP", "TUNNEL", "TUNNEL", "TUNNEL"]
    ecmp = next(d for d in nhs if d["type"] == "ECMP")
    assert len(ecmp["members"]) == 2
    tun = [d for d in nhs if d["type"] == "TUNNEL"]
    assert {d["label"] for d in tun} == {17, 18, 19}
    _, out, _ = run(capsys, region, "nh")
    assert "192.0.2.1 -> 192.0.2.2 label 17" in out
    _, out, _ = run(capsys, region, "--json", "mpls")
    assert {(d["label"], d["nh"]) for d in json.loads(out)} == {
        (p["label"], p["nexthop"]) for p in programmed["ports"].values()}


def test_rt_walks_prefixes(capsys, region, programmed):
    red = programmed["networks"]["red"]["vrf"]
    _, out, _ = run(capsys, region, "--json", "rt", "--vrf", str(red))
    got = {(d["prefix"], d["nh_type"]) for d in json.loads(out)}
    assert got == {("10.0.0.1/32", "ENCAP"), ("10.0.0.2/32", "TUNNEL"),
                   ("10.0.1.0/24", "ECMP")}
    _, out, _ = run(capsys, region, "rt")
    assert out.count("10.0.0.1/32") == 2           # red and blue
    rc, _, err = run(capsys, region, "rt", "--vrf", "9999")
    assert rc == 1 and "out of range" in err


def claim(region, proto: int, sport: int, dport: int):
    """A HOLD entry for 10.0.0.1 -> 10.0.0.2 in VRF 1, as the datapath
    claims one: (flow table, index, generation)."""
    ft = FlowManager(region, None).ft
    k = ffi.new("struct bsdnet_flow_key *", {
        "fk_vrf": 1, "fk_proto": proto, "fk_src": 0x0a000001,
        "fk_dst": 0x0a000002, "fk_sport": sport, "fk_dport": dport})
    g = ffi.new("uint32_t *")
    return ft, lib.bsdnet_flow_claim(ft, k, 2, 0, g), g[0]


def test_flow_listing(capsys, region, programmed):
    ft, idx, gen = claim(region, 6, 1234, 80)
    _, out, _ = run(capsys, region, "--json", "flow")
    assert json.loads(out) == []
    _, out, _ = run(capsys, region, "--json", "flow", "--all")
    (hold,) = json.loads(out)
    assert hold["state"] == "HOLD" and hold["flow"] == idx
    r = ffi.new("uint32_t *")
    lib.bsdnet_agent_flow_setup(ft, region.hdr, region.base, idx, gen, 1, 0, 0, 0, r)
    _, out, _ = run(capsys, region, "--json", "flow")
    flows = {d["flow"]: d for d in json.loads(out)}
    assert flows[idx]["rflow"] == r[0] and flows[idx]["action"] == "FORWARD"
    assert flows[r[0]]["reverse"] and flows[r[0]]["sport"] == 80
    _, out, _ = run(capsys, region, "flow")
    assert "10.0.0.1:1234" in out and "10.0.0.2:80" in out


def test_flow_counts_are_of_their_generation(capsys, region, programmed):
    """Counts the datapath kept for an earlier generation of an entry are
    not shown for the flow that holds it now."""
    ft, idx, gen = claim(region, 17, 53, 53)
    assert lib.bsdnet_flow_publish(ft, idx, gen, lib.BSDNET_FA_FORWARD, 0,
                                   lib.BSDNET_FLOW_NONE & 0xffffffff)
    fe = region.flows[idx]
    fe.fe_packets, fe.fe_bytes = 7, 700      # as the datapath counts them
    fe.fe_count_gen = gen

    def shown():
        _, out, _ = run(capsys, region, "--json", "flow")
        d = {f["flow"]: f for f in json.loads(out)}[idx]
        return d["packets"], d["bytes"]

    assert shown() == (7, 700)
    fe.fe_count_gen = gen - 1 & 0xffffff     # counted in another generation
    assert shown() == (0, 0)


def test_dropstats(capsys, region):
    region.stats.st_drops[lib.BSDNET_DROP_NO_ROUTE] = 7
    _, out, _ = run(capsys, region, "dropstats")
    assert out.split() == ["REASON", "COUNT", "NO_ROUTE", "7"]
    _, out, _ = run(capsys, region, "--json", "dropstats", "--all")
    data = json.loads(out)
    assert len(data) == lib.BSDNET_DROP_MAX - 1
    assert {"reason": "HOLD_EXPIRED", "count": 0} in data
    assert {"reason": "MTU_EXCEEDED_NO_DF", "count": 0} in data
    assert {"reason": "UNKNOWN_ENDPOINT", "count": 0} in data
    assert {"reason": "ENDPOINT_VRF", "count": 0} in data


def test_endpoints(capsys, region, programmed, tmp_path):
    red = programmed["networks"]["red"]["vrf"]
    statefile.save(str(tmp_path), programmed)
    _, out, _ = run(capsys, region, "--state-dir", str(tmp_path), "--json",
                    "endpoint")
    assert json.loads(out) == [
        {"endpoint": ip, "vrfs": [red], "networks": ["red"],
         "enforced": True} for ip in ("192.0.2.2", "192.0.2.3")]
    region.set_check_endpoints(False)
    _, out, _ = run(capsys, region, "--state-dir", str(tmp_path / "none"),
                    "endpoint")
    assert out.split() == ["ENDPOINT", "VRFS", "NETWORKS", "ENFORCED",
                           "192.0.2.2", str(red), "?", "no",
                           "192.0.2.3", str(red), "?", "no"]


def test_stats(capsys, region, programmed):
    region.stats.st_traps = 3
    region.stats.st_icmp_too_big, region.stats.st_mss_clamped = 4, 5
    region.stats.st_icmp_rate_limited = 6
    _, out, _ = run(capsys, region, "--json", "stats")
    data = json.loads(out)
    assert data["traps"] == 3 and data["instance"] == region.instance
    assert (data["icmp_too_big"], data["mss_clamped"],
            data["icmp_rate_limited"]) == (4, 5, 6)
    assert data["mss_clamp"] is True and data["icmp_rate"] == 1000
    region.set_path_mtu(mss_clamp=False, icmp_rate=10)
    data = json.loads(run(capsys, region, "--json", "stats")[1])
    assert data["mss_clamp"] is False and data["icmp_rate"] == 10
    assert data["geometry"]["nvifs"] == 64
    _, out, _ = run(capsys, region, "stats")
    assert "router_mac" in out and "00:00:5e:00:01:00" in out


def test_missing_region_and_usage(capsys, tmp_path):
    assert vrctl.main(["--shm", str(tmp_path / "none"), "vif"]) == 1
    assert "no such region" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        vrctl.main(["--shm", "x", "bogus"])
    assert e.value.code == 2


def test_help_describes_every_command(capsys):
    with pytest.raises(SystemExit):
        vrctl.main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("vif", "nh", "mpls", "rt", "flow", "dropstats", "stats",
                "endpoint",
                "exit status", "--json"):
        assert cmd in out
