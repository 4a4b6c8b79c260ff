"""Run a node's datapath and agent inside its namespace, and stop them.

Each process is recorded in <rundir>/<role>.pid; stopping checks that the
pid still runs the command we started before signalling it.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

LOG = logging.getLogger(__name__)


def tool(name: str) -> str:
    """Path of one of bsdnet's console scripts, beside this interpreter."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{name} not found beside {sys.executable}: is bsdnet installed?")
    return path


def start(namespace: str, rundir: str, role: str, argv: list[str]) -> int:
    """Start argv in namespace, logging to <rundir>/<role>.log."""
    os.makedirs(rundir, mode=0o700, exist_ok=True)
    log = open(os.path.join(rundir, f"{role}.log"), "ab")
    proc = subprocess.Popen(["ip", "netns", "exec", namespace, *argv],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True)
    log.close()
    with open(os.path.join(rundir, f"{role}.pid"), "w") as f:
        f.write(f"{proc.pid}\n")
    LOG.info("%s started in %s as pid %d", role, namespace, proc.pid)
    return proc.pid


def pid_of(rundir: str, role: str) -> int | None:
    """The pid recorded for role if that process is still alive."""
    try:
        with open(os.path.join(rundir, f"{role}.pid")) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return None
    if f"bsdnet-{role}".encode() not in cmd:
        return None   # the pid was reused by something else
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                _reap(pid)
                return None
    except OSError:
        return None
    return pid


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def signal_role(rundir: str, role: str, sig: int) -> int | None:
    pid = pid_of(rundir, role)
    if pid is not None:
        os.kill(pid, sig)
        if sig == signal.SIGKILL:
            _wait_gone(pid, 5.0)
    return pid


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not os.path.exists(f"/proc/{pid}") or _is_zombie(pid):
            _reap(pid)
            return True
        time.sleep(0.05)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def stop(rundir: str, role: str, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    pid = pid_of(rundir, role)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        LOG.warning("%s (pid %d) ignored SIGTERM; killing it", role, pid)
        os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, timeout)
    LOG.info("%s (pid %d) stopped", role, pid)
