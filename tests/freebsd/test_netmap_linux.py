"""bsdnet-netmap built for Linux and run here, without netmap.

The netmap API headers (net/netmap.h, net/netmap_user.h) are one file in
FreeBSD and in the out-of-tree Linux module, so the daemon is built for
Linux against ziglang's copies: that checks "the same daemon builds where
a Linux host has netmap".  Run on this machine (no /dev/netmap), it must
still do everything but move packets: create the region under --shm,
answer on its sockets, tick (heartbeat), keep retrying a vif whose port
cannot open, and stop cleanly on SIGTERM.
"""
from __future__ import annotations

import json
import mmap
import os
import secrets
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import xcompile

GEOMETRY = ["--vifs", "16", "--nexthops", "16", "--labels", "32",
            "--vrfs", "4", "--rt-buckets", "16", "--flow-buckets", "64",
            "--overflow-buckets", "16", "--max-hold", "64",
            "--hold-slots", "16"]
# Waiting for the daemon to do something, not timing it: generous.
PATIENCE_S = 60.0


def _field(name: str, struct_name: str) -> tuple[int, int]:
    table = json.loads((Path(__file__).parent / "abi_table.json").read_text())
    for f in table["structs"][struct_name]["fields"]:
        if f["name"] == name:
            return f["offset"], f["size"]
    raise KeyError(name)


def _u32(buf: mmap.mmap, off: int) -> int:
    return struct.unpack_from("<I", buf, off)[0]


@pytest.fixture(scope="module")
def daemon_exe(tmp_path_factory: pytest.TempPathFactory, zig: None) -> Path:
    if os.uname().machine != "x86_64":
        pytest.skip("the Linux build is run on x86_64 hosts only")
    if not xcompile.core_defines("bsdnet_dp_input"):
        pytest.skip("the core has not landed bsdnet_dp_input")
    d = tmp_path_factory.mktemp("nmlinux")
    inc = d / "include" / "net"
    inc.mkdir(parents=True)
    zig_net = xcompile.zig_include_root() / "generic-freebsd" / "net"
    for h in ("netmap.h", "netmap_user.h", "netmap_legacy.h"):
        os.symlink(zig_net / h, inc / h)
    exe = d / "bsdnet-netmap"
    srcs = sorted(xcompile.NETMAP.glob("nmd_*.c"))
    srcs += xcompile.daemon_sources() + xcompile.core_sources()
    argv = xcompile.zig_cc() + xcompile.userland_cflags("x86_64-linux-gnu")
    argv += ["-D_GNU_SOURCE", "-I", str(d / "include"),
             "-I", str(xcompile.NETMAP), "-I", str(xcompile.DAEMON),
             "-I", str(xcompile.CORE), "-I", str(xcompile.INCLUDE),
             "-o", str(exe)] + [str(p) for p in srcs]
    res = xcompile.run(argv)
    assert res.ok, res.output
    return exe


@pytest.fixture
def shm_name() -> Iterator[str]:
    name = f"bsdnet-nmtest-{secrets.token_hex(4)}"
    yield name
    try:
        os.unlink(f"/dev/shm/{name}")
    except FileNotFoundError:
        pass


def _wait_for(pred, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail(f"bsdnet-netmap never {what}")
        time.sleep(0.05)


def test_runs_without_netmap(daemon_exe: Path, shm_name: str,
                             tmp_path: Path) -> None:
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm")
    if Path("/dev/netmap").exists():
        pytest.skip("this host has netmap: the no-netmap path is not taken")
    sock = tmp_path / "dp.sock"
    log = tmp_path / "stderr.log"
    with log.open("w") as errf:
        proc = subprocess.Popen(
            [str(daemon_exe), "--shm", shm_name, "--trap-socket", str(sock),
             "--log-level", "debug"] + GEOMETRY,
            stdout=subprocess.DEVNULL, stderr=errf)
    try:
        shm = Path(f"/dev/shm/{shm_name}")
        _wait_for(lambda: shm.exists() and sock.exists(),
                  "created its region and socket")
        fd = os.open(shm, os.O_RDWR)
        try:
            buf = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        with buf:
            magic_off, _ = _field("rh_magic", "bsdnet_region_hdr")
            _wait_for(lambda: _u32(buf, magic_off) == 0x424E4554,
                      "published its region")
            pid_off, _ = _field("rh_dp_pid", "bsdnet_region_hdr")
            assert _u32(buf, pid_off) == proc.pid
            hb_off, _ = _field("rh_dp_heartbeat", "bsdnet_region_hdr")
            _wait_for(lambda: _u32(buf, hb_off) != 0, "ticked")

            # A VIRTUAL vif naming an interface that exists: the port
            # cannot open (no /dev/netmap) and is retried, never attached.
            voff = struct.unpack_from(
                "<Q", buf, _field("rh_off_vifs", "bsdnet_region_hdr")[0])[0]
            vif = voff + 1 * 96
            seq_off = _field("vif_seq", "bsdnet_vif")[0]
            struct.pack_into("<I", buf, vif + seq_off, 1)
            struct.pack_into("<H", buf, vif + _field("vif_type",
                                                     "bsdnet_vif")[0], 1)
            name_off = _field("vif_name", "bsdnet_vif")[0]
            buf[vif + name_off:vif + name_off + 3] = b"lo\0"
            struct.pack_into("<I", buf, vif + seq_off, 2)
            _wait_for(lambda: "vif 1: cannot attach lo" in log.read_text(),
                      "tried to open the vif's port")
            os_index_off = _field("vif_os_index", "bsdnet_vif")[0]
            assert _u32(buf, vif + os_index_off) == 0
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=PATIENCE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = log.read_text()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping" in err
    assert "will retry" in err
    assert "attached to lo" not in err
    # Its own name on every line, never the Linux daemon's.
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("bsdnet-netmap: ") for ln in lines)


def test_manual_is_its_own(daemon_exe: Path) -> None:
    """--help describes bsdnet-netmap, not the AF_PACKET daemon whose
    region, trap channel and options it shares."""
    p = subprocess.run([str(daemon_exe), "--help"], capture_output=True,
                       text=True, timeout=PATIENCE_S)
    assert p.returncode == 0
    assert p.stdout.startswith("NAME\n     bsdnet-netmap - ")
    for word in ("netmap(4)", "--shm", "--trap-socket", "--agent-socket",
                 "--nice", "--flow-buckets", "SIGTERM"):
        assert word in p.stdout
    for word in ("bsdnet-datapath", "AF_PACKET", "--steal", "--no-tx-batch"):
        assert word not in p.stdout
    p = subprocess.run([str(daemon_exe), "--shm", "x", "--steal", "off"],
                       capture_output=True, text=True, timeout=PATIENCE_S)
    assert p.returncode == 2
    assert "Try 'bsdnet-netmap --help'." in p.stderr
