"""The Python side of the datapath package: launcher, command line of a
supervised daemon, trap-channel formats.  Only the exec test needs the
built daemon."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from bsdnet.shm.abi import ffi, lib
from bsdnet.cmd import datapath as launcher
from bsdnet.datapath import control
from bsdnet.datapath.control import ctl_message, parse_trap
from bsdnet.datapath.process import DatapathConfig

from .helpers import wait_for


def test_launcher_explains_missing_binary(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(launcher, "binary_path",
                        lambda: tmp_path / "bsdnet-datapath")
    assert launcher.main(["--help"]) == 127
    err = capsys.readouterr().err
    assert str(tmp_path / "bsdnet-datapath") in err
    assert "build_ext --inplace" in err


@pytest.mark.root
def test_launcher_points_freebsd_at_its_datapath(monkeypatch, capsys,
                                                 tmp_path):
    """setup.py builds no Linux daemon on FreeBSD: the script says where
    FreeBSD's datapath is instead of how to build Linux's."""
    monkeypatch.setattr(launcher, "binary_path",
                        lambda: tmp_path / "bsdnet-datapath")
    monkeypatch.setattr(launcher.sys, "platform", "freebsd14")
    assert launcher.main([]) == 127
    err = capsys.readouterr().err
    assert "bsdnet.ko or bsdnet-netmap" in err
    assert "service bsdnet_datapath start" in err


def test_launcher_execs_daemon_in_place(shm_name, sockdir):
    """Same argv and same pid: the pid file holds the launcher's pid."""
    pidfile = sockdir / "dp.pid"
    p = subprocess.Popen(
        [sys.executable, "-m", "bsdnet.cmd.datapath", "--shm",
         shm_name, "--pidfile", str(pidfile), "--vifs", "8",
         "--flow-buckets", "64", "--overflow-buckets", "16",
         "--max-hold", "16"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(),
                 "pid file")
        assert int(pidfile.read_text()) == p.pid
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0
        assert not pidfile.exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_config_argv():
    cfg = DatapathConfig(shm="bsdnet-x", trap_socket="/run/t.sock",
                         agent_socket="/run/a.sock", pidfile="/run/p",
                         netns="node1", geometry={"vifs": 8, "nflowbuckets": 64},
                         reformat=True, extra_args=["--no-tx-batch"])
    argv = cfg.argv(binary="/bin/dp")
    assert argv[:5] == ["ip", "netns", "exec", "node1", "/bin/dp"]
    joined = " ".join(argv)
    for part in ("--shm bsdnet-x", "--trap-socket /run/t.sock",
                 "--agent-socket /run/a.sock", "--pidfile /run/p",
                 "--vifs 8", "--flow-buckets 64", "--reformat",
                 "--no-tx-batch"):
        assert part in joined
    with pytest.raises(ValueError):
        DatapathConfig(shm="x", geometry={"bogus": 1}).argv("/bin/dp")


def test_wire_formats_match_abi():
    assert control.CTL_HDR.size == ffi.sizeof("struct bsdnet_ctl_hdr")
    assert control.TRAP_HDR.size == ffi.sizeof("struct bsdnet_trap_hdr")
    assert control.CTL_RELEASE == lib.BSDNET_CTL_RELEASE
    assert control.CTL_XMIT == lib.BSDNET_CTL_XMIT
    assert control.CTL_VIF_SYNC == lib.BSDNET_CTL_VIF_SYNC
    h = ffi.new("struct bsdnet_ctl_hdr *")
    h.ch_type, h.ch_vif, h.ch_flow, h.ch_gen, h.ch_len = 2, 7, 9, 11, 3
    assert bytes(ffi.buffer(h)) + b"abc" == ctl_message(
        2, vif=7, flow=9, gen=11, payload=b"abc")
    t = ffi.new("struct bsdnet_trap_hdr *")
    t.th_version, t.th_reason, t.th_vif, t.th_vrf = 1, 1, 3, 4
    t.th_flow, t.th_gen, t.th_len, t.th_nh = 5, 6, 2, 7
    trap = parse_trap(bytes(ffi.buffer(t)) + b"xy")
    assert (trap.vif, trap.vrf, trap.flow, trap.gen, trap.nh) == (3, 4, 5, 6, 7)
    assert trap.frame == b"xy"
    with pytest.raises(ValueError):
        parse_trap(bytes(ffi.buffer(t)) + b"xyz")     # length disagrees
    with pytest.raises(ValueError):
        parse_trap(b"\x01\x00")
