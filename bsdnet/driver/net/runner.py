"""The one narrow place where the FreeBSD backend runs programs.

Commands are argv lists, never a shell.  A Runner maps a tool name
('ifconfig', 'sysctl', 'route', 'netstat') to the argv prefix that runs it, so tests
can point it at the stand-in and `--dry-run` can print instead.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import sys
from typing import Callable, Protocol

from .fbsd_sim import FreeBSDHost

LOG = logging.getLogger(__name__)

FREEBSD_TOOLS = {"ifconfig": ["/sbin/ifconfig"], "sysctl": ["/sbin/sysctl"],
                 "route": ["/sbin/route"], "netstat": ["/usr/bin/netstat"]}


class Runner(Protocol):
    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        """Run argv (argv[0] is the tool name); (status, stdout, stderr)."""


class SubprocessRunner:
    """Runs the real tools (or any stand-in given by `tools`)."""

    def __init__(self, tools: dict[str, list[str]] | None = None, timeout: float = 60.0):
        self.tools = dict(FREEBSD_TOOLS)
        self.tools.update(tools or {})
        self.timeout = timeout

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        full = self.tools[argv[0]] + argv[1:]
        LOG.debug("run %s", shlex.join(full))
        proc = subprocess.run(full, capture_output=True, text=True,
                              timeout=self.timeout, check=False)
        return proc.returncode, proc.stdout, proc.stderr


class SimRunner:
    """Runs commands against an in-process FreeBSDHost stand-in."""

    def __init__(self, host: FreeBSDHost):
        self.host = host

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        return self.host.run(argv)


class DryRunRunner(SimRunner):
    """Prints each argv the backend would run, then answers it from a
    stand-in seeded with the host's interfaces, so later reads see the
    effect of earlier commands and the printed plan is coherent."""

    def __init__(self, host: FreeBSDHost, emit: Callable[[str], None] | None = None):
        super().__init__(host)
        self.emit = emit or (lambda line: print(line, file=sys.stdout))
        self.argvs: list[list[str]] = []

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        full = FREEBSD_TOOLS[argv[0]] + argv[1:]
        self.argvs.append(full)
        self.emit(shlex.join(full))
        return super().__call__(argv)
