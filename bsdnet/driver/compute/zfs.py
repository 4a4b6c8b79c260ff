"""The zfs(8) and zpool(8) commands the ZFS image backend runs, as argv lists.

Every dataset name is checked before it reaches the command (ZFS's own
rules: components of letters, digits, '_', '-', ':', '.', joined by '/',
at most 255 characters in all, a pool name starting with a letter), so a
Glance id or a Nova UUID can never become an option or another dataset.
Output is always asked for in scripted form (-H, tab separated; -p, exact
numbers).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

from bsdnet.driver.compute.errors import ComputeError

NAME_MAX = 255  # ZFS_MAX_DATASET_NAME_LEN is 256 with the NUL
_COMPONENT = r"[A-Za-z0-9_:.-]+"
_NAME_RE = re.compile(rf"\A[A-Za-z]{_COMPONENT[:-1]}*(/{_COMPONENT})*(@{_COMPONENT})?\Z")
ZVOL_DIR = "/dev/zvol"  # where FreeBSD (and ZFS on Linux) put volume devices


class ZfsError(ComputeError):
    """A zfs or zpool command failed; the message is its own."""


def check_dataset(name: str) -> str:
    """Return ``name`` if it is a dataset (or snapshot) name zfs accepts, else raise."""
    if not isinstance(name, str) or len(name) > NAME_MAX or not _NAME_RE.match(name):
        raise ZfsError(f"not a usable ZFS dataset name: {name!r}")
    parts = name.replace("@", "/").split("/")
    if any(p in (".", "..") or p.startswith("-") for p in parts):
        raise ZfsError(f"not a usable ZFS dataset name: {name!r}")
    return name


def _props(props: dict[str, str] | None) -> list[str]:
    out = []
    for key, value in sorted((props or {}).items()):
        if not re.fullmatch(r"[a-z][a-z0-9_:.]*", key) or not re.fullmatch(r"[A-Za-z0-9_:./=-]+", str(value)):
            raise ZfsError(f"ZFS property {key}={value!r} refused")
        out += ["-o", f"{key}={value}"]
    return out


class Zfs:
    """zfs/zpool through argv lists; ``zfs`` and ``zpool`` name the binaries."""

    def __init__(self, zfs: str = "zfs", zpool: str = "zpool") -> None:
        self.zfs = zfs
        self.zpool = zpool

    def _run(self, argv: Sequence[str]) -> str:
        try:
            r = subprocess.run(list(argv), check=True, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise ZfsError(f"{argv[0]} not found: the ZFS image backend needs ZFS") from exc
        except subprocess.CalledProcessError as exc:
            raise ZfsError(f"{' '.join(argv)}: {exc.stderr.strip() or exc.returncode}") from exc
        return r.stdout

    # -- queries ----------------------------------------------------------
    def exists(self, name: str) -> bool:
        try:
            self._run([self.zfs, "list", "-H", "-o", "name", "-t", "all", check_dataset(name)])
            return True
        except ZfsError as exc:
            if "does not exist" in str(exc):
                return False
            raise

    def get(self, name: str, *props: str) -> dict[str, str]:
        out = self._run([self.zfs, "get", "-H", "-p", "-o", "property,value", ",".join(props),
                         check_dataset(name)])
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def children(self, name: str, kind: str = "volume") -> list[str]:
        """Datasets of ``kind`` under ``name`` (not ``name`` itself)."""
        out = self._run([self.zfs, "list", "-H", "-o", "name", "-t", kind, "-r", check_dataset(name)])
        return [n for n in out.splitlines() if n and n != name]

    def pool_health(self, pool: str) -> str:
        out = self._run([self.zpool, "list", "-H", "-o", "health", check_dataset(pool)])
        return out.strip()

    # -- changes ----------------------------------------------------------
    def create_volume(self, name: str, size: int, sparse: bool = False, props: dict[str, str] | None = None) -> None:
        argv = [self.zfs, "create"] + (["-s"] if sparse else []) + _props(props)
        self._run(argv + ["-V", str(int(size)), check_dataset(name)])

    def create_filesystem(self, name: str, props: dict[str, str] | None = None, parents: bool = False) -> None:
        argv = [self.zfs, "create"] + (["-p"] if parents else []) + _props(props)
        self._run(argv + [check_dataset(name)])

    def snapshot(self, snap: str) -> None:
        self._run([self.zfs, "snapshot", check_dataset(snap)])

    def clone(self, snap: str, name: str, props: dict[str, str] | None = None) -> None:
        self._run([self.zfs, "clone"] + _props(props) + [check_dataset(snap), check_dataset(name)])

    def promote(self, name: str) -> None:
        self._run([self.zfs, "promote", check_dataset(name)])

    def rename(self, old: str, new: str) -> None:
        self._run([self.zfs, "rename", check_dataset(old), check_dataset(new)])

    def set(self, name: str, prop: str, value: str) -> None:
        self._run([self.zfs, "set", *_props({prop: value})[1:], check_dataset(name)])

    def destroy(self, name: str, recursive: bool = False) -> None:
        self._run([self.zfs, "destroy"] + (["-r"] if recursive else []) + [check_dataset(name)])
