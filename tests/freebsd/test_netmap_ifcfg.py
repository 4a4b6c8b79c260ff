"""bsdnet-netmap's interface set-up (kmod/netmap/nmd_ifcfg.c), run on Linux.

A VM's tap must be promiscuous under netmap (the tap drops unicast to
other MACs before netmap sees it, and VMs send to the router MAC), and
put back as it was; on the fabric the Linux build says how to turn the
offloads off (FreeBSD's SIOCSIFCAP path is compiled by test_netmap_link).
"""
from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from . import xcompile

IFF_PROMISC = 0x100
DRIVER = r"""
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "nmd.h"
void bsdnetd_log(int level, const char *fmt, ...)
{ va_list ap; (void)level; va_start(ap, fmt); vprintf(fmt, ap);
  va_end(ap); printf("\n"); }
int main(int argc, char **argv)
{
	struct nmd_ifsave s;
	int type = strcmp(argv[2], "fabric") == 0 ? BSDNET_VIF_FABRIC :
	    BSDNET_VIF_VIRTUAL;
	(void)argc;
	if (nmd_ifcfg_enter(argv[1], (uint16_t)type, &s) != 0) {
		perror("enter");
		return (1);
	}
	printf("entered\n");
	fflush(stdout);
	getchar();		/* the test looks at the interface now */
	nmd_ifcfg_leave(argv[1], &s);
	printf("left\n");
	return (0);
}
"""


@pytest.fixture(scope="module")
def ifcfg_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("creating a tap needs root")
    d = tmp_path_factory.mktemp("nmifcfg")
    (d / "driver.c").write_text(DRIVER)
    exe = d / "ifcfg"
    res = subprocess.run(
        ["cc", *xcompile.CFLAGS["CSTD"], "-D_GNU_SOURCE", *xcompile.WARN,
         "-I", str(xcompile.NETMAP), "-I", str(xcompile.DAEMON),
         "-I", str(xcompile.CORE), "-I", str(xcompile.INCLUDE),
         "-o", str(exe), str(d / "driver.c"),
         str(xcompile.NETMAP / "nmd_ifcfg.c")],
        capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return exe


@pytest.fixture
def tap() -> str:
    name = f"nmt{secrets.token_hex(3)}"
    subprocess.run(["ip", "tuntap", "add", "dev", name, "mode", "tap"],
                   check=True)
    yield name
    subprocess.run(["ip", "link", "del", name], check=False)


def _flags(name: str) -> int:
    return int(Path(f"/sys/class/net/{name}/flags").read_text(), 16)


@pytest.mark.root
def test_vm_tap_promiscuous_while_attached(ifcfg_exe: Path, tap: str) -> None:
    assert not _flags(tap) & IFF_PROMISC
    p = subprocess.Popen([str(ifcfg_exe), tap, "virtual"], text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdout.readline().strip() == "entered"
    assert _flags(tap) & IFF_PROMISC
    out, _ = p.communicate("\n", timeout=30)
    assert p.returncode == 0 and "left" in out
    assert not _flags(tap) & IFF_PROMISC


@pytest.mark.root
def test_promiscuous_tap_stays_so(ifcfg_exe: Path, tap: str) -> None:
    """A tap the operator made promiscuous is left promiscuous."""
    subprocess.run(["ip", "link", "set", tap, "promisc", "on"], check=True)
    p = subprocess.run([str(ifcfg_exe), tap, "virtual"], input="\n",
                       text=True, capture_output=True, timeout=30)
    assert p.returncode == 0
    assert _flags(tap) & IFF_PROMISC


@pytest.mark.root
def test_fabric_offloads_named(ifcfg_exe: Path, tap: str) -> None:
    p = subprocess.run([str(ifcfg_exe), tap, "fabric"], input="\n",
                       text=True, capture_output=True, timeout=30)
    assert p.returncode == 0
    assert f"ethtool -K {tap} tx off tso off" in p.stdout
    assert not _flags(tap) & IFF_PROMISC
