"""The `bsdnet-datapath` console script: exec the packaged C daemon.

The daemon is built by setup.py into bsdnet/_bin/bsdnet-datapath.  This
wrapper only finds it and replaces itself with it (same argv, same pid, so
signals and pid files behave as if the binary had been started directly).
"""
from __future__ import annotations

import os
import sys

from bsdnet.datapath.process import binary_path


def main(argv: list[str] | None = None) -> int:
    """Exec the daemon with our arguments; 127 with a clear message if it
    is not there."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = binary_path()
    if not os.access(path, os.X_OK) and not sys.platform.startswith("linux"):
        sys.stderr.write(
            "bsdnet-datapath: the userspace datapath is Linux's.  On "
            f"{sys.platform} the datapath is bsdnet.ko or bsdnet-netmap "
            "(port net/bsdnet-kmod; rc.d: service bsdnet_datapath start).\n")
        return 127
    if not os.access(path, os.X_OK):
        sys.stderr.write(
            f"bsdnet-datapath: the datapath executable {path} is missing "
            "or not executable.\nIt is built with the package; from a "
            "source tree run:\n  .venv/bin/python setup.py -q build_ext "
            "--inplace\n")
        return 127
    os.execv(path, [str(path)] + args)
    return 127  # not reached: execv replaces this process or raises


if __name__ == "__main__":
    sys.exit(main())
