"""The whole agent (in this process) with transport = device against the
stand-in module: tables created and programmed, the fabric and each VM
tap attached once it exists, ports removed detached, traps decided and
released, attachments left in place when the agent stops."""
import json

import pytest

from bsdnet.agent import daemon
from bsdnet.agent.transport_device import DeviceTransport
from bsdnet.cmd import agent as agent_cmd
from bsdnet.shm.abi import lib

from .fakedev import SMALL, KernelFlows

ROUTER_MAC = lib.BSDNET_IOC_F_ROUTER_MAC


def topology(ports=("vmtapA", "vmtapB")):
    return {
        "fabric": {"interface": "fab0", "address": "192.0.2.1",
                   "mac": "02:00:00:00:00:01", "mtu": 1500},
        "networks": [{"name": "red"}],
        "ports": [{"id": f"port-{n}", "network": "red", "interface": n,
                   "mac": f"02:00:00:00:01:{i:02x}", "ip": f"10.0.0.{i}"}
                  for i, n in enumerate(ports, 1)],
        "remote": [],
    }


@pytest.fixture
def agent(tmp_path, fake):
    topo = tmp_path / "topology.json"
    topo.write_text(json.dumps(topology()))
    geometry = ",".join(f"{k}:{v}" for k, v in SMALL.items())
    conf = agent_cmd.build_conf([
        "--datapath-transport", "device", "--datapath-device_create",
        "--datapath-device_geometry", geometry,
        "--datapath-region_wait", "0",
        "--agent-state_dir", str(tmp_path / "state"),
        "--agent-topology_file", str(topo),
        "--agent-api_socket", str(tmp_path / "api.sock"),
        "--agent-nowatch_host"])
    a = daemon.Agent(conf)
    # The configured transport, with the stand-in's system calls.
    assert isinstance(a.transport, DeviceTransport)
    a.transport = DeviceTransport(conf.datapath.device, create=True,
                                  sizes=SMALL, ops=fake)
    fake.interfaces = {"fab0": 3, "vmtapA": 7}      # vmtapB: VM not up yet
    a.topo_path = topo
    yield a
    a.stop()
    if a.region is not None:
        a.region.close()


def vif_of(agent, pid):
    return agent.programmer.state["ports"][pid]["vif"]


def test_agent_attaches_serves_and_detaches(fake, agent):
    agent.start()
    fab = agent.programmer.state["fabric"]["vif"]
    a, b = vif_of(agent, "port-vmtapA"), vif_of(agent, "port-vmtapB")
    assert fake.ports == {fab: ("fab0", 0), a: ("vmtapA", ROUTER_MAC)}
    # The channel is the device: VIF_SYNC went there.
    assert (lib.BSDNET_CTL_VIF_SYNC, 0, 0, 0, b"") in fake.control()

    # The VM's tap appears: the next reconcile (a host event's) binds it.
    fake.interfaces["vmtapB"] = 8
    agent._apply(agent._topology)
    assert fake.ports[b] == ("vmtapB", ROUTER_MAC)

    # A trap from the module is decided and released through the device.
    kf = KernelFlows(fake.region)
    idx, g = kf.claim(1234, vif=a, vrf=agent.programmer.state[
        "networks"]["red"]["vrf"])
    fake.trap(idx, g, vif=a)
    assert agent.flows.serve() == 1
    assert (lib.BSDNET_CTL_RELEASE, 0, idx, g, b"") in fake.control()

    # The port goes from the topology: its tap is detached by name.
    agent.topo_path.write_text(json.dumps(topology(ports=("vmtapA",))))
    agent._apply(agent._read_topology())
    assert ("detach", b, "vmtapB", 0) in fake.calls
    assert b not in fake.ports

    # Stopping leaves the module forwarding: nothing detached.
    fake.calls.clear()
    agent.stop()
    assert fake.calls == []
    assert set(fake.ports) == {fab, a}


def test_agent_without_module_says_so(fake, agent):
    fake.loaded = False
    with pytest.raises(daemon.RegionError, match="kldload"):
        agent.start()


def test_misspelt_table_size_stops_the_agent(tmp_path, caplog):
    caplog.set_level("ERROR")
    rc = agent_cmd.main(["--datapath-transport", "device",
                      "--datapath-device_geometry", "nvfis:64",
                      "--agent-state_dir", str(tmp_path / "state")])
    assert rc == 1
    assert any("unknown geometry sizes" in r.message
               for r in caplog.records)


def test_port_detached_before_its_vif_is_cleared(fake, agent):
    """A port that goes is detached in the kernel while its vif entry is
    still whole: no frame meets a half-removed port."""
    agent.start()
    a = vif_of(agent, "port-vmtapA")
    assert a in fake.ports
    agent.topo_path.write_text(json.dumps(topology(ports=("vmtapB",))))
    agent._apply(agent._read_topology())
    assert a not in fake.ports
    assert fake.detached_with_type[a] == lib.BSDNET_VIF_VIRTUAL
    assert agent.region.vifs[a].vif_type != lib.BSDNET_VIF_VIRTUAL
