"""bsdnet-agent as a process: start, SIGHUP reconcile, SIGTERM, and
adoption after SIGKILL.  The region is a file made by the test (no
datapath); waits are bounded polls, never timing assertions."""
import os
import signal
import subprocess
import sys
import time

from bsdnet.shm.abi import ffi, lib
from bsdnet.shm.mtrie import lookup
from bsdnet.shm.region import Region, small_geometry
from bsdnet.shm.tables import ip_to_int

from .helpers import WAIT, AgentProc, fabric_topology, wait_for

def tables_bytes(region):
    h = region.hdr
    return bytes(ffi.buffer(region.base + h.rh_off_vifs,
                            h.rh_off_flows - h.rh_off_vifs))


def test_start_programs_and_writes_state(agent):
    agent.write_topology(fabric_topology())
    agent.start().wait_serving()
    st = agent.state()
    assert st["instance"] == agent.region.instance
    assert set(st["networks"]) == {"red", "blue"}
    a = st["ports"]["port-a"]
    assert set(a) >= {"vif", "label", "nexthop", "vrf"}
    assert st["fabric"]["vif"] == 1
    assert lookup(agent.region, a["vrf"], ip_to_int("10.0.0.1")) == (
        a["nexthop"], 32)
    assert int(agent.pid_file.read_text()) == agent.proc.pid
    wait_for(lambda: agent.region.hdr.rh_agent_pid == agent.proc.pid,
             "heartbeat")
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=WAIT) == 0
    assert not agent.pid_file.exists()
    assert not os.path.exists(agent.trap)


def test_sighup_reconciles(agent):
    agent.write_topology(fabric_topology())
    agent.start().wait_serving()
    st0 = agent.state()
    b = st0["ports"]["port-b"]
    b_seq = agent.region.vifs[b["vif"]].vif_seq
    doc = fabric_topology()
    doc["ports"] = [doc["ports"][1], {
        "id": "port-c", "network": "red", "interface": "vmtapC",
        "mac": "02:00:00:00:01:0c", "ip": "10.0.0.3", "policy": True}]
    doc["remote"][0]["label"] = 99
    agent.write_topology(doc)
    agent.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "port-c" in agent.state()["ports"], "reconcile")
    st = agent.state()
    red = st["networks"]["red"]["vrf"]
    assert "port-a" not in st["ports"]
    assert st["ports"]["port-b"] == b                    # untouched
    assert agent.region.vifs[b["vif"]].vif_seq == b_seq  # not rewritten
    t = lookup(agent.region, red, ip_to_int("10.0.0.2"))[0]
    assert agent.region.nexthops[t].nh_label == 99
    assert lookup(agent.region, red, ip_to_int("10.0.0.1")) is None
    # A broken topology on SIGHUP keeps the running one.
    agent.topo.write_text("{broken")
    agent.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "topology not applied" in agent.log_text(), "error log")
    assert agent.proc.poll() is None
    assert agent.state() == st


def test_running_agent_decides_trapped_flows(agent):
    from .helpers import FakeDatapath, key
    agent.write_topology(fabric_topology())
    dp = FakeDatapath(agent.region, agent.ctl)
    try:
        agent.start().wait_serving()
        # Programming the vifs is announced to the datapath.
        assert dp.control()[0] == lib.BSDNET_CTL_VIF_SYNC
        red = agent.state()["networks"]["red"]["vrf"]
        claimed = [dp.claim(key(vrf=red, sport=2000 + i)) for i in range(5)]
        for idx, g in claimed:
            dp.trap(agent.trap, idx, g)
        released = {dp.control()[1:] for _ in claimed}
        assert released == set(claimed)
        for idx, _ in claimed:
            fe = agent.region.flows[idx]
            assert fe.fe_state & 0xff == lib.BSDNET_FLOW_ACTIVE
            rev = agent.region.flows[fe.fe_rflow]
            # The forward source 10.0.0.1 is port-a's: its reverse
            # arrives on port-a's vif.
            assert rev.fe_src_vif == agent.state()["ports"]["port-a"]["vif"]
        assert agent.region.stats.st_holds == 0
    finally:
        dp.close()


def test_restart_after_sigkill_adopts(agent):
    agent.write_topology(fabric_topology())
    agent.start().wait_serving()
    st = agent.state()
    # A flow the datapath is using must survive the agent's restart.
    ft = ffi.new("struct bsdnet_flowtab *")
    lib.bsdnet_flowtab_bind(ft, agent.region.hdr, agent.region.base)
    k = ffi.new("struct bsdnet_flow_key *", {"fk_vrf": 1, "fk_proto": 6,
                                             "fk_src": 1, "fk_dst": 2})
    g = ffi.new("uint32_t *")
    idx = lib.bsdnet_flow_claim(ft, k, 2, 0, g)
    assert lib.bsdnet_flow_publish(ft, idx, g[0], 1, 0, idx)
    agent.proc.send_signal(signal.SIGKILL)
    agent.proc.wait(timeout=WAIT)
    before = tables_bytes(agent.region)
    agent.logf.close()
    agent.start().wait_serving(n=2)
    assert "adopting live tables" in agent.log_text()
    assert agent.log_text().rstrip().count("no change") >= 1
    assert agent.state() == st                       # same labels, vifs
    assert tables_bytes(agent.region) == before      # nothing rewritten
    fe = agent.region.flows[idx]
    assert fe.fe_state & 0xff == lib.BSDNET_FLOW_ACTIVE


def test_new_region_instance_programs_from_scratch(agent, tmp_path):
    agent.write_topology(fabric_topology())
    agent.start().wait_serving()
    old = agent.state()["instance"]
    agent.proc.send_signal(signal.SIGTERM)
    agent.proc.wait(timeout=WAIT)
    agent.logf.close()
    # The datapath restarted and made new tables.
    agent.region.close()
    agent.region = Region.create(agent.region_path, small_geometry())
    agent.start().wait_serving(n=2)
    st = agent.state()
    assert st["instance"] == agent.region.instance != old
    a = st["ports"]["port-a"]
    assert agent.region.vifs[a["vif"]].vif_type == lib.BSDNET_VIF_VIRTUAL


def test_region_replaced_under_running_agent(agent, tmp_path):
    agent.write_topology(fabric_topology())
    agent.start().wait_serving()
    old = agent.state()
    # The datapath made new tables: a new file renamed over the old one.
    fresh = Region.create(str(tmp_path / "region.new"), small_geometry())
    os.rename(fresh.path, agent.region_path)
    wait_for(lambda: agent.state()["instance"] == fresh.instance,
             "reprogramming of the new region")
    st = agent.state()
    assert set(st["ports"]) == set(old["ports"])
    a = st["ports"]["port-a"]
    assert fresh.vifs[a["vif"]].vif_type == lib.BSDNET_VIF_VIRTUAL
    assert lookup(fresh, a["vrf"], ip_to_int("10.0.0.1")) == (
        a["nexthop"], 32)
    assert "was replaced" in agent.log_text()
    assert agent.proc.poll() is None
    fresh.close()


def test_table_full_is_partial_not_fatal(agent):
    doc = fabric_topology()
    # More ports than the small geometry has labels.
    doc["ports"] = [{"id": f"p{i}", "network": "red",
                     "interface": f"vt{i}", "mac": "02:00:00:00:02:%02x" % i,
                     "ip": f"10.0.2.{i}"} for i in range(1, 60)]
    agent.write_topology(doc)
    agent.start().wait_serving()
    assert "only partly applied" in agent.log_text()
    st = agent.state()
    assert 0 < len(st["ports"]) < 59
    for p in st["ports"].values():
        assert agent.region.labels[p["label"]].lbl_nh == p["nexthop"]
    # No orphans: every virtual vif in the table belongs to a port.
    vifs = {i for i in range(len(agent.region.vifs))
            if agent.region.vifs[i].vif_type == lib.BSDNET_VIF_VIRTUAL}
    assert vifs == {p["vif"] for p in st["ports"].values()}


def test_remote_without_fabric_is_refused(agent):
    doc = fabric_topology()
    del doc["fabric"]
    agent.write_topology(doc)
    agent.start()
    assert agent.proc.wait(timeout=WAIT) == 1
    assert "need a fabric" in agent.log_text()


def test_config_file(agent, tmp_path):
    agent.write_topology(fabric_topology())
    conf = tmp_path / "agent.conf"
    conf.write_text(f"""[datapath]
shm_name = {agent.region_path}
trap_socket = {agent.trap}
control_socket = {agent.ctl}
[agent]
state_dir = {agent.state_dir}
topology_file = {agent.topo}
flow_idle_timeout = 30
""")
    log = open(agent.log, "ab")
    p = subprocess.Popen([sys.executable, "-m", "bsdnet.cmd.agent",
                          "--config-file", str(conf)], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "serving traps" in agent.log_text() or
                 p.poll() is not None, "agent start")
        assert agent.state()["instance"] == agent.region.instance
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=WAIT) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


def test_help_lists_options():
    out = subprocess.run([sys.executable, "-m", "bsdnet.cmd.agent",
                          "--help"], capture_output=True, text=True).stdout
    for opt in ("--config-file", "--datapath-shm_name",
                "--datapath-control_socket", "--datapath-trap_socket",
                "--agent-state_dir", "--agent-topology_file",
                "--agent-pid_file", "--agent-flow_idle_timeout",
                "--fabric-interface", "--fabric-address", "--fabric-mac"):
        assert opt in out


def test_waits_for_region_then_gives_up(tmp_path, sockdir):
    a = AgentProc(tmp_path, sockdir, str(tmp_path / "never"))
    a.write_topology(fabric_topology())
    a.start("--datapath-region_wait", "0.3")
    try:
        assert a.proc.wait(timeout=WAIT) == 1
    finally:
        a.stop()
    log = a.log_text()
    assert "waiting up to" in log and "gave up" in log


def test_sigterm_while_waiting_for_region(tmp_path, sockdir):
    a = AgentProc(tmp_path, sockdir, str(tmp_path / "never"))
    a.write_topology(fabric_topology())
    a.start()
    try:
        wait_for(lambda: "waiting up to" in a.log_text(), "waiting log")
        a.proc.send_signal(signal.SIGHUP)       # must not kill it
        time.sleep(0.2)
        assert a.proc.poll() is None
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(timeout=WAIT) == 0
    finally:
        a.stop()


def test_region_appears_while_waiting(tmp_path, sockdir):
    path = str(tmp_path / "late")
    a = AgentProc(tmp_path, sockdir, path)
    a.write_topology(fabric_topology())
    a.start()
    try:
        wait_for(lambda: "waiting up to" in a.log_text(), "waiting log")
        r = Region.create(path, small_geometry())
        a.wait_serving()
        assert a.state()["instance"] == r.instance
        r.close()
    finally:
        a.stop()
