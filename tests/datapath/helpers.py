"""Writing datapath tables from tests through the agent's table layer,
and waiting (with generous upper bounds) for the daemon to react."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from bsdnet.shm.abi import ffi, lib
from bsdnet.shm.region import Region
from bsdnet.shm.tables import Tables

T = TypeVar("T")

# Upper bound on waiting for the daemon (its tick is 100 ms); a slow
# machine only makes the wait longer, never a failure.
WAIT = 30.0


def wait_for(fn: Callable[[], T], what: str, timeout: float = WAIT,
             log: Callable[[], str] | None = None, pause: float = 0.02) -> T:
    """fn()'s first true value, polled every pause until timeout; log() (a
    process's log, say) goes into the failure message."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" +
                                 (f"\n--- log ---\n{log()}" if log else ""))
        time.sleep(pause)


def open_tables(shm: str) -> tuple[Region, Tables]:
    r = Region.open(shm)
    return r, Tables(r)


def os_index(region: Region, vif: int) -> int:
    return lib.bsdnet_agent_load_acq32(
        ffi.addressof(region.vifs[vif], "vif_os_index"))


def write_raw_vif(region: Region, vif: int, vtype: int,
                  name: bytes) -> None:
    """Write an entry the table layer would refuse (corrupt on purpose)."""
    c = ffi.new("struct bsdnet_vif *")
    c.vif_type = vtype
    ffi.memmove(c.vif_name, name, min(len(name), lib.BSDNET_IFNAMSIZ))
    lib.bsdnet_agent_vif_write(ffi.addressof(region.vifs, vif), c)
