"""kmod/cflags.mk as Python lists, for the builds driven from Python.

Load it by path (setup.py runs before bsdnet is importable):

    CFLAGS = runpy.run_path("kmod/cflags.py")["CFLAGS"]
    CFLAGS["CSTD"] + CFLAGS["CWARN"]    # ["-std=c11", "-Wall", ...]
"""
import re
from pathlib import Path

_LINE = re.compile(r"^BSDNET_([A-Z0-9_]+)=\s*(.*)$")


def read(path: Path) -> dict[str, list[str]]:
    """NAME -> words of each BSDNET_NAME= line of path."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        m = _LINE.match(line)
        if m:
            out[m.group(1)] = m.group(2).split()
    return out


CFLAGS = read(Path(__file__).with_name("cflags.mk"))
