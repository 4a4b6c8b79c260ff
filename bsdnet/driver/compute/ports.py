"""TCP ports the driver hands out: a guest's VNC framebuffer and its serial relay.

Nova's libvirt driver allocates serial console ports itself, from
``[serial_console] port_range``; the VNC port is allocated the same way
here (rather than libvirt's autoport) so a guest keeps its port across
restarts and the domain definition says which it is.  A port is free when
no domain or relay already has it and nothing on the host listens on it.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from bsdnet.driver.compute.errors import ComputeError


class NoFreePort(ComputeError):
    pass


def parse_range(text: str) -> tuple[int, int]:
    """'10000:20000' -> (10000, 20000), checked."""
    try:
        lo_text, hi_text = str(text).split(":")
        lo, hi = int(lo_text), int(hi_text)
    except ValueError:
        raise ValueError(f"port range {text!r} must be 'min:max'") from None
    if not 1 <= lo <= hi <= 65535:
        raise ValueError(f"port range {text!r} must lie within 1..65535, min first")
    return lo, hi


def bindable(address: str, port: int) -> bool:
    """Whether nothing on this host already holds (address, port)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def allocate(port_range: tuple[int, int], taken: Iterable[int], address: str) -> int:
    """The lowest port of the range that is neither taken nor bound on the host."""
    used = set(taken)
    lo, hi = port_range
    for port in range(lo, hi + 1):
        if port not in used and bindable(address, port):
            return port
    raise NoFreePort(f"no free TCP port in {lo}:{hi} on {address} ({len(used)} held by guests)")
