"""A live two-node sandbox for the overlay tests (root only)."""
from __future__ import annotations

import mmap
import os
import random
import shutil
import string

import pytest


def _can_build_sandbox() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("ip", "ethtool", "ping"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    here = os.path.dirname(__import__("sys").executable)
    for tool in ("bsdnet-datapath", "bsdnet-agent"):
        if not os.access(os.path.join(here, tool), os.X_OK):
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    why = _can_build_sandbox()
    if why:
        pytest.skip(why)
    from bsdnet.sandbox import orchestrate
    from bsdnet.sandbox.plan import make_plan
    prefix = "t" + "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
    rundir = str(tmp_path_factory.mktemp("sandbox"))
    plan = make_plan(prefix, nodes=2, vms_per_node=2, networks=2, rundir=rundir)
    try:
        orchestrate.up(plan, rundir)
        yield Sandbox(plan, rundir)
    finally:
        orchestrate.down(prefix, rundir)


class Sandbox:
    def __init__(self, plan, rundir):
        self.plan = plan
        self.rundir = rundir

    def vm(self, name):
        return next(v for v in self.plan.vms if v.name == name)

    def node(self, name):
        return self.plan.node(name)

    def stats(self, node) -> "Stats":
        return Stats(f"/dev/shm/{self.node(node).shm}")


class Stats:
    """Drop counters read straight out of a node's shared region."""

    def __init__(self, path):
        from bsdnet.shm.abi import ffi, lib
        self.ffi, self.lib = ffi, lib
        with open(path, "rb") as f:
            self.map = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        buf = ffi.from_buffer(self.map)
        self.hdr = ffi.cast("struct bsdnet_region_hdr *", buf)
        self.st = ffi.cast("struct bsdnet_stats *",
                           ffi.cast("uint8_t *", buf) + self.hdr.rh_off_stats)

    def drop(self, reason: str) -> int:
        return int(self.st.st_drops[getattr(self.lib, "BSDNET_DROP_" + reason)])

    def drops(self) -> dict[str, int]:
        names = self.ffi.typeof("enum bsdnet_drop").elements
        return {names[i][len("BSDNET_DROP_"):]: int(self.st.st_drops[i])
                for i in names if 0 < i < self.lib.BSDNET_DROP_MAX}
