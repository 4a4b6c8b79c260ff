"""devstack-freebsd's FreeBSD bring-up (lib/freebsd.sh), run on Linux
against stand-ins of the FreeBSD commands that keep their rules
(fbsd_world.py): a node comes up in kmod and netmap mode and goes down,
and a wrong order, a typo or a missing step fails as it would on
FreeBSD."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bsdnet.driver.net.fbsd_sim import FreeBSDHost
from bsdnet.driver.net.model import IfState

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = REPO / "devstack-freebsd" / "lib" / "freebsd.sh"
COMMANDS = ("uname", "id", "sleep", "pkg", "fetch", "tar", "make", "install",
            "kldxref", "kldload", "kldstat", "kldunload", "sysrc", "ifconfig",
            "sysctl", "route", "service", "daemon", "kill", "pwait",
            "bsdnetctl", "bsdnet-vrctl", "python3.11")
SH = shutil.which("dash") or "/bin/sh"


class Node:
    def __init__(self, tmp: Path, kernel_sources: bool = True) -> None:
        self.root = tmp / "root"
        self.bin = tmp / "bin"
        self.state = tmp / "world.json"
        for d in ("etc", "tmp", "boot/modules", "usr/local/sbin",
                  "usr/local/bin", "usr/local/etc/rc.d"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy(HERE / "rc.subr", self.root / "etc/rc.subr")
        if kernel_sources:
            kmk = self.root / "usr/src/sys/conf/kmod.mk"
            kmk.parent.mkdir(parents=True)
            kmk.write_text("# kmod.mk\n")
        host = FreeBSDHost([IfState("vtnet0", ["UP", "BROADCAST", "RUNNING"],
                                    1500, "02:00:00:00:00:05",
                                    ["10.0.0.5/24"]),
                            IfState("lo0", ["UP", "LOOPBACK"], 16384,
                                    inet=["127.0.0.1/8"], kind="lo")])
        host.routes["0.0.0.0/0"] = ("10.0.0.1", "vtnet0")
        self.state.write_text(json.dumps({
            "root": str(self.root), "bin": str(self.bin),
            "host": json.loads(host.to_json()), "pkgs": [], "built": [],
            "kld": ["kernel", "if_tuntap"], "procs": [],
            "nextpid": 4194400, "tables": False, "ports": {}, "log": []}))
        self.bin.mkdir()
        for c in COMMANDS:
            w = self.bin / c
            w.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S '
                         f'"{HERE / "fbsd_world.py"}" "{self.state}" {c} '
                         '"$@"\n')
            w.chmod(0o755)

    def run(self, verb: str, script: Path = SCRIPT, **env: str
            ) -> subprocess.CompletedProcess:
        e = dict(os.environ, PATH=f"{self.bin}:/usr/bin:/bin",
                 BSDNET_ROOT=str(self.root), BSDNET_CHECK_WAIT="2", **env)
        return subprocess.run([SH, str(script), verb], env=e,
                              capture_output=True, text=True, timeout=300,
                              check=False)

    @property
    def world(self) -> dict:
        return json.loads(self.state.read_text())

    def rc_conf(self, name: str = "etc/rc.conf") -> str:
        return (self.root / name).read_text()

    def argv(self, prog: str) -> list[str]:
        return next(p["argv"] for p in self.world["procs"]
                    if prog in p["argv"][0])


def out(res: subprocess.CompletedProcess) -> str:
    return f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def test_kmod_node_comes_up(node: Node) -> None:
    res = node.run("up")
    assert res.returncode == 0, out(res)
    assert "self-check passed: kmod datapath up, fabric vtnet0 (10.0.0.5)" \
        in res.stdout
    w = node.world
    assert {"python311", "py311-pip", "py311-cffi", "py311-pyroute2",
            "py311-oslo.config", "py311-libvirt", "py311-prometheus-client"} <= set(w["pkgs"])
    assert {"bsdnet", "vmm", "nmdm", "if_bridge"} <= set(w["kld"])
    assert w["tables"] and w["ports"] == {"1": "vtnet0"}
    rc = node.rc_conf()
    for line in ('bsdnet_datapath_enable="YES"', 'bsdnet_agent_enable="YES"',
                 'bsdnet_datapath_mode="kmod"',
                 'bsdnet_datapath_fabric="vtnet0"',
                 'kld_list="vmm nmdm if_bridge"'):
        assert line in rc
    assert 'net.link.tap.up_on_open="1"' in node.rc_conf("etc/sysctl.conf")
    conf = (node.root / "usr/local/etc/bsdnet/bsdnet-agent.conf").read_text()
    assert "transport = device" in conf and "interface = vtnet0" in conf
    argv = node.argv("bsdnet-agent")
    assert argv[1:3] == ["--config-file",
                         f"{node.root}/usr/local/etc/bsdnet/bsdnet-agent.conf"]
    # rc.d scripts as the port installs them: placeholders substituted.
    for s in ("bsdnet_agent", "bsdnet_datapath"):
        assert "%%" not in (node.root / "usr/local/etc/rc.d" / s).read_text()


def test_agent_args_reach_the_agent_not_daemon(node: Node) -> None:
    assert node.run("up").returncode == 0
    subprocess.run([str(node.bin / "sysrc"), "bsdnet_agent_args=--debug"],
                   check=True, capture_output=True)
    subprocess.run([str(node.bin / "service"), "bsdnet_agent", "stop"],
                   check=True, capture_output=True)
    res = subprocess.run([str(node.bin / "service"), "bsdnet_agent",
                          "start"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert node.argv("bsdnet-agent")[-1] == "--debug"


def test_again_is_harmless(node: Node) -> None:
    assert node.run("up").returncode == 0
    res = node.run("up")
    assert res.returncode == 0, out(res)
    assert "keeping" in res.stdout


def test_node_goes_down(node: Node) -> None:
    assert node.run("up").returncode == 0
    res = node.run("down")
    assert res.returncode == 0, out(res)
    w = node.world
    assert "bsdnet" not in w["kld"] and not w["ports"] and not w["procs"]
    assert 'bsdnet_agent_enable="NO"' in node.rc_conf()


def test_netmap_node(node: Node) -> None:
    res = node.run("up", BSDNET_MODE="netmap")
    assert res.returncode == 0, out(res)
    assert "bsdnet" not in node.world["kld"]
    assert node.argv("bsdnet-netmap")[1:3] == ["--shm", "bsdnet"]
    conf = (node.root / "usr/local/etc/bsdnet/bsdnet-agent.conf").read_text()
    assert "transport = shm" in conf


def test_kernel_sources_fetched_when_missing(tmp_path: Path) -> None:
    n = Node(tmp_path, kernel_sources=False)
    res = n.run("up")
    assert res.returncode == 0, out(res)
    assert ["fetch", "-o", f"{n.root}/tmp/src.txz",
            "https://download.freebsd.org/releases/amd64/14.2-RELEASE/"
            "src.txz"] in n.world["log"]


def test_bad_fabric_named(node: Node) -> None:
    res = node.run("up", BSDNET_FABRIC="vtnet9")
    assert res.returncode != 0 and "no interface vtnet9" in res.stderr
    res = node.run("up", BSDNET_FABRIC="vtnet0;reboot")
    assert res.returncode != 0 and "not an interface name" in res.stderr


# A step broken as an edit could break it: each must fail the bring-up.
BROKEN = {
    "agent-before-datapath": (
        "\tif ! service bsdnet_datapath status >/dev/null 2>&1; then\n"
        "\t\tservice bsdnet_datapath start\n\tfi\n"
        "\tif service bsdnet_agent status >/dev/null 2>&1; then\n"
        "\t\tservice bsdnet_agent stop\n\tfi\n"
        "\tservice bsdnet_agent start\n",
        "\tservice bsdnet_agent start\n"
        "\tservice bsdnet_datapath start\n",
        "FAIL: the agent attached no interface"),
    "knob-typo": (
        "bsdnet_agent_enable=YES", "bsdnet_agent_enabel=YES",
        "FAIL: bsdnet_agent not running"),
    "no-rc-scripts": (
        "\tinstall_rc_scripts\n", "",
        "bsdnet_datapath does not exist in /etc/rc.d"),
    "package-typo": (
        "${PYPKG}pip", "${PYPKG}pipp",
        "No packages available to install matching 'py311-pipp'"),
    "install-before-build": (
        '\t\tmake -C "$REPO/kmod/freebsd" SYSDIR="$ROOT/usr/src/sys"\n'
        '\t\tmake -C "$REPO/kmod/freebsd" SYSDIR="$ROOT/usr/src/sys" '
        'install\n',
        '\t\tmake -C "$REPO/kmod/freebsd" SYSDIR="$ROOT/usr/src/sys" '
        'install\n',
        "install of kmod/freebsd before it was built"),
    "no-packages": (
        "\tinstall_packages\n", "", "No module named pip"),
    "wrong-transport": (
        "[ \"$MODE\" = kmod ] && transport=device", ":",
        "FAIL: the agent attached no interface"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_bring_up_fails(case: str, tmp_path: Path) -> None:
    fixed, broken, says = BROKEN[case]
    text = SCRIPT.read_text()
    assert text.count(fixed) == 1, f"{case}: the script changed; update it"
    copy = tmp_path / "repo" / "devstack-freebsd" / "lib" / "freebsd.sh"
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(fixed, broken))
    for name in ("kmod", "port", "etc", "pyproject.toml", "setup.py"):
        os.symlink(REPO / name, tmp_path / "repo" / name)
    n = Node(tmp_path)
    # The copy's REPO is tmp/repo: make and pip know the real one.
    res = n.run("up", script=copy)
    assert res.returncode != 0, out(res)
    assert says in res.stdout + res.stderr, out(res)


@pytest.mark.parametrize("script", ["stack.sh", "unstack.sh",
                                    "lib/freebsd.sh"])
def test_scripts_are_posix_sh(script: str) -> None:
    """Stock FreeBSD has no bash: /bin/sh (dash parses POSIX sh only)."""
    path = REPO / "devstack-freebsd" / script
    assert path.read_text().startswith("#!/bin/sh\n")
    res = subprocess.run([SH, "-n", str(path)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
