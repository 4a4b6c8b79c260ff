"""bsdnet-net: the dry run prints FreeBSD argv on any host; the real run
works on Linux in a namespace."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from bsdnet.cmd import net as net_cli

from .netdrv_env import FIXTURES


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    rc = net_cli.main(list(argv), out=out)
    return rc, out.getvalue()


def test_dry_run_prints_the_exact_freebsd_argv(tmp_path):
    rc, out = run("--dry-run", "--state-dir", str(tmp_path / "none"),
                  "--ifconfig-output", str(FIXTURES / "host-two-nics.txt"),
                  "ensure-network", "--id", "pub", "--uplink", "em0", "--move-address")
    assert rc == 0
    lines = out.splitlines()
    assert ("/sbin/ifconfig bridge create group bsdnet description "
            "'bsdnet kind=bridge net=pub' name bnbpub up") in lines
    order = [lines.index(x) for x in (
        "/sbin/ifconfig em0 inet 192.0.2.10 -alias",
        "/sbin/ifconfig bnbpub addm em0",
        "/sbin/ifconfig bnbpub inet 192.0.2.10/24 alias")]
    assert order == sorted(order), "address leaves the member before addm (member_ifaddrs=0)"
    assert not (tmp_path / "none").exists(), "a dry run writes nothing"


def test_dry_run_vlan_and_dhcp_on_an_assumed_uplink(tmp_path):
    rc, out = run("--dry-run", "--state-dir", str(tmp_path), "--assume", "ixl0:9000",
                  "ensure-network", "--id", "t42", "--uplink", "ixl0", "--vlan", "42",
                  "--mtu", "9000", "--cidr", "10.42.0.0/24", "--bridge-address",
                  "10.42.0.1/24", "--dhcp")
    assert rc == 0
    assert ("/sbin/ifconfig vlan create vlan 42 vlandev ixl0 group bsdnet description "
            "'bsdnet kind=vlan net=t42' name ixl0.42 up") in out.splitlines()
    assert "/sbin/ifconfig bnbt42 addm ixl0.42" in out.splitlines()
    assert "--interface=bnbt42" in out.splitlines()[-1]


def test_dry_run_ipv6_subnet_gets_ra_from_dnsmasq(tmp_path):
    rc, out = run("--dry-run", "--state-dir", str(tmp_path), "--assume", "ixl0",
                  "ensure-network", "--id", "t6", "--uplink", "ixl0", "--cidr",
                  "10.6.0.0/24", "--bridge-address", "10.6.0.1/24", "--dhcp",
                  "--cidr6", "2001:db8:6::/64", "--bridge-address6", "2001:db8:6::1/64",
                  "--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "slaac")
    assert rc == 0, out
    assert "/sbin/ifconfig bnbt6 inet6 2001:db8:6::1/64 alias" in out.splitlines()
    dnsmasq = out.splitlines()[-1]
    assert "--dhcp-range=set:t6-v6,2001:db8:6::,ra-only,64,86400s" in dnsmasq
    assert "--enable-ra" in dnsmasq


def test_dry_run_plug_uses_known_networks(tmp_path):
    state = tmp_path / "state"
    # A dry run remembers nothing, so plug refuses: the network is unknown.
    run("--dry-run", "--state-dir", str(state), "ensure-network", "--id", "n1",
        "--uplink", "em1")
    rc, _ = run("--dry-run", "--state-dir", str(state), "plug", "--port", "p1",
                "--network", "n1", "--mac", "52:54:00:00:00:01")
    assert rc == 1
    # Networks the host's state directory knows are rebuilt silently first,
    # so only the plug's own commands are printed.
    from bsdnet.driver.net import Network
    from bsdnet.driver.net.state import StateStore
    StateStore(state).put_network(Network(id="n1", uplink="em1"))
    rc, out = run("--dry-run", "--state-dir", str(state), "plug", "--port", "p1",
                  "--network", "n1", "--mac", "52:54:00:00:00:01")
    assert rc == 0
    assert not any("bridge create" in line for line in out.splitlines())
    assert ("/sbin/ifconfig tap create group bsdnet description "
            "'bsdnet kind=tap made=bsdnet net=n1 port=p1' name tapp1 mtu 1500 "
            "ether fe:54:00:00:00:01 up") in out.splitlines()
    assert "/sbin/ifconfig bnbn1 addm tapp1" in out.splitlines()


@pytest.mark.parametrize("argv, message", [
    (["plug", "--port", "p;reboot", "--network", "n1", "--mac", "52:54:00:00:00:01"],
     "port id"),
    (["ensure-network", "--id", "n1", "--uplink", "em0", "--bridge", "x" * 16], "15"),
])
def test_hostile_names_exit_1_with_a_clear_error(tmp_path, capsys, argv, message):
    rc, out = run("--dry-run", "--state-dir", str(tmp_path), *argv)
    assert rc == 1 and out == ""
    assert message in capsys.readouterr().err


def test_real_run_on_linux_in_a_namespace(linux_ns, tmp_path):
    base = [sys.executable, "-m", "bsdnet.cmd.net", "--backend", "linux",
            "--netns", linux_ns.ns, "--state-dir", str(tmp_path), "--no-dhcp"]

    def cli(*argv):
        p = subprocess.run(base + list(argv), capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout

    assert json.loads(cli("ensure-network", "--id", "n1", "--uplink", linux_ns.uplink))[
        "bridge"] == "bnbn1"
    assert json.loads(cli("plug", "--port", "p1", "--network", "n1", "--mac",
                          "52:54:00:00:00:01"))["tap"] == "tapp1"
    rows = {r["name"]: r for r in json.loads(cli("list", "--json"))}
    assert rows["tapp1"]["bridge"] == "bnbn1" and rows["tapp1"]["in_use"] is False
    assert set(rows["bnbn1"]["members"]) == {linux_ns.uplink, "tapp1"}
    cli("unplug", "--port", "p1")
    cli("delete-network", "--id", "n1")
    assert json.loads(cli("list", "--json")) == []
