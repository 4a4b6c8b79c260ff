"""bsdnet-port-control against a real port API server."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Iterator

import pytest

from bsdnet.agent import portapi, portstore as ps
from bsdnet.cmd import port_control

NET = "38ced7ff-fdfc-4f17-9547-17ff4fb45da9"
PORT = "753a65ef-918a-4193-9266-dc23ed8a5982"
INST = "63bd1a8a-ba6a-4547-af8d-653dd8ff397e"


@pytest.fixture
def agent(tmp_path) -> Iterator[tuple[str, ps.PortStore]]:
    store = ps.PortStore(str(tmp_path / "state"))
    store.load()
    api = portapi.PortApi(store)
    api.add_network({"id": NET, "subnets": [{"cidr": "10.1.0.0/24",
                                             "gateway": "10.1.0.1"}]})
    server = portapi.PortApiServer(api, str(tmp_path / "api.sock"))
    server.start(poll_interval=0.02)
    try:
        yield server.url, store
    finally:
        server.stop()


# What Nova's vrouter VIF driver runs (nova/virt/libvirt/vif.py).
NOVA_ADD = ["--oper=add", f"--uuid={PORT}", f"--instance_uuid={INST}",
            f"--vn_uuid={NET}",
            "--vm_project_uuid=cb33cc2c6fb84072a11277547c60d2b7",
            "--ip_address=10.1.0.5", "--ipv6_address=None",
            "--vm_name=vm1", "--mac=02:75:3a:65:ef:91",
            "--tap_name=tap753a65ef-91", "--port_type=NovaVMPort",
            "--tx_vlan_id=-1", "--rx_vlan_id=-1"]


def test_nova_style_add_show_list_delete(agent, capsys):
    url, store = agent
    assert port_control.main(NOVA_ADD + ["--agent", url]) == 0
    p = store.get("port", PORT)
    assert p.system_name == "tap753a65ef-91" and p.ip6_address == ""
    assert p.vm_project_id == "cb33cc2c-6fb8-4072-a112-77547c60d2b7"
    assert f"port {PORT} added" in capsys.readouterr().out
    assert port_control.main(["--oper", "show", "--uuid", PORT,
                              "--agent", url]) == 0
    assert json.loads(capsys.readouterr().out) == p.to_json()
    assert port_control.main(["--oper", "list", "--agent", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["id", "system-name", "ip-address"]
    assert out[1].split()[:3] == [PORT, "tap753a65ef-91", "10.1.0.5"]
    assert port_control.main(["--oper", "list", "--json", "--agent",
                              url]) == 0
    assert json.loads(capsys.readouterr().out) == [p.to_json()]
    assert port_control.main(["--oper", "delete", "--uuid", PORT,
                              "--agent", url]) == 0
    assert store.find("port", PORT) is None
    # Unplugging twice is not an error.
    assert port_control.main(["--oper", "delete", "--uuid", PORT,
                              "--agent", url]) == 0
    assert "not known" in capsys.readouterr().out


def test_compat_options_accepted(agent):
    url, store = agent
    assert port_control.main(NOVA_ADD + ["--vif_type=Vrouter",
                                         "--vhostuser_socket=/x",
                                         "--no_persist", "--agent",
                                         url]) == 0
    assert store.find("port", PORT) is not None


def test_refusal_prints_reason_exit_1(agent, capsys):
    url, store = agent
    bad = [a if not a.startswith("--tap_name") else
           "--tap_name=tap-name-way-too-long" for a in NOVA_ADD]
    assert port_control.main(bad + ["--agent", url]) == 1
    err = capsys.readouterr().err
    assert "refused (400)" in err and "IFNAMSIZ" in err
    assert store.list("port") == []
    assert port_control.main(["--oper", "show", "--uuid", PORT,
                              "--agent", url]) == 1


@pytest.mark.parametrize("argv, why", [
    (["--oper", "add", "--uuid", PORT], "needs --instance_uuid"),
    (["--oper", "show"], "needs --uuid"),
    (["--oper", "add", "--uuid", "xyz"], "not a UUID"),
    (["--oper", "frob"], "invalid choice"),
    (NOVA_ADD[:-1] + ["--rx_vlan_id=5000"], "0..4094"),
    (NOVA_ADD[:10] + ["--port_type=Other"], "NovaVMPort"),
])
def test_usage_errors_exit_2(argv, why, capsys):
    with pytest.raises(SystemExit) as e:
        port_control.main(argv)
    assert e.value.code == 2 and why in capsys.readouterr().err


def test_unreachable_agent_exit_3(capsys, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d" % s.getsockname()[1]
        # Bound, not listening: connections are refused.
        assert port_control.main(["--oper", "list", "--agent", url]) == 3
    assert port_control.main(["--oper", "list", "--agent",
                              str(tmp_path / "none.sock")]) == 3
    assert "cannot reach the agent" in capsys.readouterr().err


def test_token_file_for_tcp(tmp_path, capsys):
    api = portapi.PortApi(ps.PortStore(str(tmp_path / "s")))
    server = portapi.PortApiServer(api, tcp=("127.0.0.1", 0), token="tok")
    server.start(poll_interval=0.02)
    try:
        tok = tmp_path / "token"
        tok.write_text("tok\n")
        args = ["--oper", "list", "--agent", server.url]
        assert port_control.main(args) == 1
        assert "401" in capsys.readouterr().err
        assert port_control.main(args + ["--token-file", str(tok)]) == 0
    finally:
        server.stop()


def test_runs_as_a_command(agent):
    url, _ = agent
    r = subprocess.run([sys.executable, "-m", "bsdnet.cmd.port_control",
                        *NOVA_ADD], capture_output=True, text=True,
                       timeout=60, env={"BSDNET_AGENT_URL": url,
                                        "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "bsdnet.cmd.port_control",
                        "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0
    for section in ("--oper", "examples:", "exit status:", "environment:",
                    "BSDNET_AGENT_URL"):
        assert section in r.stdout


def test_standalone_api_server(tmp_path):
    # python -m bsdnet.agent.portapi: the API without a daemon.
    sock = str(tmp_path / "api.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bsdnet.agent.portapi", "--state-dir",
         str(tmp_path / "s"), "--socket", sock],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url == "unix://" + sock, proc.stderr.read()
        assert port_control.main(["--oper", "list", "--agent", url]) == 0
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    # A corrupt state directory stops it with the file named.
    bad = tmp_path / "s" / "port" / "x.json"
    bad.write_text("{")
    r = subprocess.run([sys.executable, "-m", "bsdnet.agent.portapi",
                        "--state-dir", str(tmp_path / "s"), "--socket", sock],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and str(bad) in r.stderr
