"""Start, watch and stop one bsdnet-datapath process.

Used by the tests, the benchmark and the sandbox: a node's datapath is
started (optionally inside the node's network namespace, through
`ip netns exec`, which execs in place so the pid is the daemon's), waited
for until its trap socket is bound and its pid is in the region header,
and stopped with SIGTERM (clean) or SIGKILL (crash).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bsdnet.shm.region import Region, RegionError

LOG = logging.getLogger(__name__)

BINARY_NAME = "bsdnet-datapath"


def binary_path() -> Path:
    """Where the packaged daemon lives (setup.py builds it; it may not
    have been)."""
    return Path(__file__).resolve().parent.parent / "_bin" / BINARY_NAME

# Geometry options of the daemon, by the names bsdnet_geometry uses.
_GEOMETRY_OPTS = {
    "nvifs": "--vifs", "nnexthops": "--nexthops", "nlabels": "--labels",
    "nvrfs": "--vrfs", "nrtbuckets": "--rt-buckets",
    "nflowbuckets": "--flow-buckets", "novfbuckets": "--overflow-buckets",
    "maxhold": "--max-hold",
}


class DatapathError(Exception):
    """The datapath did not start, or did not stop as asked."""


@dataclass
class DatapathConfig:
    """What one datapath process is started with."""
    shm: str
    trap_socket: str | None = None
    agent_socket: str | None = None
    pidfile: str | None = None
    netns: str | None = None
    geometry: dict[str, int] = field(default_factory=dict)
    log_level: str = "info"
    reformat: bool = False
    extra_args: list[str] = field(default_factory=list)

    def argv(self, binary: str | None = None) -> list[str]:
        """The command line, `ip netns exec` prefix included."""
        cmd = [binary or str(binary_path()), "--shm", self.shm,
               "--log-level", self.log_level]
        if self.trap_socket:
            cmd += ["--trap-socket", self.trap_socket]
        if self.agent_socket:
            cmd += ["--agent-socket", self.agent_socket]
        if self.pidfile:
            cmd += ["--pidfile", self.pidfile]
        for name, value in self.geometry.items():
            key = name if name in _GEOMETRY_OPTS else "n" + name
            if key not in _GEOMETRY_OPTS:
                raise ValueError(f"unknown geometry field {name!r}")
            cmd += [_GEOMETRY_OPTS[key], str(int(value))]
        if self.reformat:
            cmd.append("--reformat")
        cmd += self.extra_args
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        return cmd


class DatapathProcess:
    """One running daemon.  stderr goes to `log_path` (or is inherited)."""

    def __init__(self, config: DatapathConfig,
                 log_path: str | None = None) -> None:
        self.config = config
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise DatapathError("not started")
        return self.proc.pid

    def start(self, timeout: float = 10.0) -> "DatapathProcess":
        """Start the daemon and wait until it is serving."""
        if not os.access(binary_path(), os.X_OK):
            raise DatapathError(f"{binary_path()} is not built")
        argv = self.config.argv()
        LOG.info("starting datapath: %s", argv)
        if self.log_path:
            self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        try:
            self.wait_ready(timeout)
        except DatapathError:
            # Never leave a half-started daemon behind.
            if self.alive():
                self.kill()
            elif self._log is not None:
                self._log.close()
                self._log = None
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Ready = the trap socket exists (if asked for) and the region
        header names our pid, which the daemon stores last."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise DatapathError(
                    f"datapath exited with {self.proc.returncode} while "
                    f"starting{self._log_tail()}")
            ok = (self.config.trap_socket is None or
                  Path(self.config.trap_socket).exists())
            if ok:
                try:
                    region = Region.open(self.config.shm)
                except RegionError:
                    ok = False
                else:
                    try:
                        ok = region.dp_heartbeat()[0] == self.pid
                    finally:
                        region.close()
            if ok:
                return
            if time.monotonic() > deadline:
                raise DatapathError(f"datapath not ready after {timeout}s"
                                    f"{self._log_tail()}")
            time.sleep(0.02)

    def _log_tail(self) -> str:
        if not self.log_path:
            return ""
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        return ":\n" + "\n".join(text.splitlines()[-10:])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self, timeout: float = 10.0) -> int:
        """SIGKILL (a crash, as far as the region is concerned)."""
        return self._signal(signal.SIGKILL, timeout)

    def _signal(self, sig: int, timeout: float) -> int:
        if self.proc is None:
            raise DatapathError("not started")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise DatapathError(f"datapath ignored signal {sig}")
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def __enter__(self) -> "DatapathProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            try:
                self.stop()
            except DatapathError:
                LOG.warning("datapath %s had to be killed", self.pid)
