"""Open, validate and create the shared-memory region.

A region is a POSIX shared-memory object whose first page is struct
bsdnet_region_hdr.  Named ones are opened with shm_open("/NAME"), as the
datapaths create them: on Linux that is /dev/shm/NAME, but FreeBSD keeps
POSIX shm out of the file system, so a name is never turned into a path
to open.  A path (anything with a slash past the first) is opened as a
file.  The datapath creates and formats
it; the agent maps it and checks everything before touching a table.
Region.create() formats one for tests and benchmarks with the same C code
(bsdnet_region_format) the datapath uses.
"""
from __future__ import annotations

import mmap
import os
import secrets
import sys
import time
from collections.abc import Mapping
from typing import Any

from .abi import ffi, lib

try:
    import _posixshmem  # CPython's shm_open(3), as multiprocessing uses
except ImportError:     # pragma: no cover - a platform without POSIX shm
    _posixshmem = None

SHM_DIR = "/dev/shm"

# Header fields that bsdnet_layout() computes: they must match exactly.
# Read off the header itself, so a table added to the ABI is checked too.
_LAYOUT_FIELDS = ("rh_size",) + tuple(
    name for name, _ in ffi.typeof("struct bsdnet_region_hdr").fields
    if name.startswith("rh_off_"))
_GEOMETRY = (("g_nvifs", "rh_nvifs"), ("g_nnexthops", "rh_nnexthops"),
             ("g_nlabels", "rh_nlabels"), ("g_nvrfs", "rh_nvrfs"),
             ("g_nrtbuckets", "rh_nrtbuckets"),
             ("g_nflowbuckets", "rh_nflowbuckets"),
             ("g_novfbuckets", "rh_novfbuckets"), ("g_maxhold", "rh_maxhold"))


class RegionError(Exception):
    """The region is missing, not ours, or does not match its header."""


def _is_path(shm_name: str) -> bool:
    return os.sep in shm_name.lstrip("/")


def region_path(shm_name: str) -> str:
    """Where a region shows for messages and tools: a path as is; a name
    as Linux shows it (/dev/shm/NAME), or shm:/NAME where POSIX shm has
    no path (FreeBSD)."""
    if _is_path(shm_name):
        return shm_name
    if sys.platform.startswith("linux"):
        return os.path.join(SHM_DIR, shm_name.lstrip("/"))
    return "shm:/" + shm_name.lstrip("/")


def open_shm(shm_name: str, flags: int, mode: int = 0o600) -> int:
    """A descriptor for the region: shm_open("/NAME") for a name, open(2)
    for a path.  Raises OSError as they do."""
    if _is_path(shm_name):
        return os.open(shm_name, flags, mode)
    if _posixshmem is None:
        return os.open(region_path(shm_name), flags, mode)
    return _posixshmem.shm_open("/" + shm_name.lstrip("/"), flags, mode)


def geometry(**sizes: int) -> Any:
    """A struct bsdnet_geometry: the defaults, overridden by e.g. nvifs=16."""
    g = ffi.new("struct bsdnet_geometry *")
    lib.bsdnet_geometry_default(g)
    for k, v in sizes.items():
        setattr(g, k if k.startswith("g_") else "g_" + k, v)
    return g


def small_geometry() -> Any:
    """A geometry small enough for tests (well under a megabyte of flows)."""
    return geometry(nvifs=64, nnexthops=256, nlabels=64, nvrfs=16,
                    nrtbuckets=64, nflowbuckets=256, novfbuckets=64,
                    maxhold=128)


class Region:
    """A mapped, validated region with bounds-checked table views."""

    def __init__(self, path: str, mm: mmap.mmap, fd: int,
                 readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._mm: mmap.mmap | None = mm
        self._fd = fd
        self._buf = ffi.from_buffer(mm)
        self.base = ffi.cast("uint8_t *", self._buf)
        self.hdr = ffi.cast("struct bsdnet_region_hdr *", self.base)
        try:
            self._validate()
        except BaseException:
            ffi.release(self._buf)   # so the caller can unmap
            raise
        h = self.hdr
        self.vifs = self._array("struct bsdnet_vif", h.rh_off_vifs, h.rh_nvifs)
        self.vifstats = self._array("struct bsdnet_vif_stats",
                                    h.rh_off_vifstats, h.rh_nvifs)
        self.nexthops = self._array("struct bsdnet_nh", h.rh_off_nexthops,
                                    h.rh_nnexthops)
        self.labels = self._array("struct bsdnet_label", h.rh_off_labels,
                                  h.rh_nlabels)
        self.vrfs = self._array("struct bsdnet_vrf", h.rh_off_vrfs, h.rh_nvrfs)
        self.rtbuckets = self._array("struct bsdnet_rtbucket",
                                     h.rh_off_rtbuckets, h.rh_nrtbuckets)
        self.nflows = ((h.rh_nflowbuckets + h.rh_novfbuckets) *
                       lib.BSDNET_FLOW_WAYS)
        self.flows = self._array("struct bsdnet_flow", h.rh_off_flows,
                                 self.nflows)
        self.stats = ffi.cast("struct bsdnet_stats *",
                              self.base + h.rh_off_stats)
        self.endpoints = self._array("struct bsdnet_ep_bucket",
                                     h.rh_off_endpoints,
                                     lib.BSDNET_EP_BUCKETS)

    # ---- opening ----------------------------------------------------------

    @classmethod
    def open(cls, shm_name: str, readonly: bool = False) -> "Region":
        """Map an existing region (read-write, or read-only for tools that
        only look) and validate it."""
        path = region_path(shm_name)
        try:
            fd = open_shm(shm_name, os.O_RDONLY if readonly else os.O_RDWR)
        except FileNotFoundError:
            raise RegionError(f"{path}: no such region (is the datapath "
                              "running?)") from None
        try:
            size = os.fstat(fd).st_size
            if size < ffi.sizeof("struct bsdnet_region_hdr"):
                raise RegionError(f"{path}: truncated: {size} bytes, smaller "
                                  "than the region header")
            prot = mmap.PROT_READ | (0 if readonly else mmap.PROT_WRITE)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, prot)
        except BaseException:
            os.close(fd)
            raise
        try:
            return cls(path, mm, fd, readonly)
        except BaseException:
            mm.close()
            os.close(fd)
            raise

    @classmethod
    def create(cls, path_or_name: str, geom: Any = None) -> "Region":
        """Create and format a region file (tests, benchmarks): random hash
        key and instance, as a datapath would."""
        g = geom if geom is not None else small_geometry()
        if isinstance(g, Mapping):
            g = geometry(**g)
        sizep = ffi.new("uint64_t *")
        err = lib.bsdnet_layout(g, sizep, ffi.NULL)
        if err != lib.BSDNET_OK:
            raise RegionError(f"bad geometry (error {err})")
        size = sizep[0]
        path = region_path(path_or_name)
        fd = open_shm(path_or_name, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED,
                           mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        key = ffi.new("uint64_t[2]",
                      [secrets.randbits(64), secrets.randbits(64)])
        buf = ffi.from_buffer(mm)
        err = lib.bsdnet_region_format(buf, size, g, key, secrets.randbits(64))
        ffi.release(buf)
        if err != lib.BSDNET_OK:
            mm.close()
            os.close(fd)
            raise RegionError(f"bsdnet_region_format failed ({err})")
        return cls(path, mm, fd)

    def _validate(self) -> None:
        h = self.hdr
        magic = lib.bsdnet_agent_load_acq32(ffi.addressof(h, "rh_magic"))
        if magic != lib.BSDNET_MAGIC:
            raise RegionError(f"{self.path}: bad magic {magic:#x} (not a "
                              "bsdnet region, or not formatted yet)")
        if h.rh_abi_version != lib.BSDNET_ABI_VERSION:
            raise RegionError(f"{self.path}: ABI version {h.rh_abi_version}, "
                              f"this agent speaks {lib.BSDNET_ABI_VERSION}")
        assert self._mm is not None, "validate() of a closed region"
        if h.rh_size > len(self._mm):
            raise RegionError(f"{self.path}: truncated: header says "
                              f"{h.rh_size} bytes, file has {len(self._mm)}")
        g = ffi.new("struct bsdnet_geometry *")
        for gf, hf in _GEOMETRY:
            setattr(g, gf, getattr(h, hf))
        want = ffi.new("struct bsdnet_region_hdr *")
        if lib.bsdnet_layout(g, ffi.NULL, want) != lib.BSDNET_OK:
            raise RegionError(f"{self.path}: geometry out of range")
        for f in _LAYOUT_FIELDS:
            if getattr(h, f) != getattr(want, f):
                raise RegionError(f"{self.path}: {f} is {getattr(h, f)}, "
                                  f"the layout says {getattr(want, f)}")

    def _array(self, ctype: str, off: int, n: int) -> Any:
        # A cffi array (not a pointer) so every index is bounds checked.
        return ffi.cast(f"{ctype}(*)[{n}]", self.base + off)[0]

    def flow_states(self) -> memoryview:
        """fe_state of every flow entry, as a sequence of ints (a strided
        view: a plain scan of 512K entries in Python would take seconds).
        Racy snapshot, for display and counting only."""
        words = ffi.sizeof("struct bsdnet_flow") // 4
        off = ffi.offsetof("struct bsdnet_flow", "fe_state") // 4
        mv = memoryview(ffi.buffer(self.flows)).cast("I")
        return mv[off::words]

    # ---- header -----------------------------------------------------------

    @property
    def instance(self) -> int:
        return int(self.hdr.rh_instance)

    @property
    def router_mac(self) -> bytes:
        return bytes(ffi.buffer(self.hdr.rh_router_mac))

    def heartbeat(self, pid: int | None = None) -> None:
        """Say the agent is alive: pid and a seconds clock."""
        if self.readonly:
            raise RegionError("region mapped read-only")
        h = self.hdr
        lib.bsdnet_agent_store_rel32(ffi.addressof(h, "rh_agent_pid"),
                                     os.getpid() if pid is None else pid)
        lib.bsdnet_agent_store_rel32(ffi.addressof(h, "rh_agent_heartbeat"),
                                     int(time.monotonic()) & 0xffffffff)

    def _dp_flag(self, flag: int, on: bool) -> None:
        """Set or clear one bit of rh_dp_flags (the agent is its only
        writer, so a load and a store will do)."""
        if self.readonly:
            raise RegionError("region mapped read-only")
        word = ffi.addressof(self.hdr, "rh_dp_flags")
        flags = lib.bsdnet_agent_load_acq32(word)
        lib.bsdnet_agent_store_rel32(word, flags | flag if on else
                                     flags & ~flag)

    def set_path_mtu(self, mss_clamp: bool, icmp_rate: int) -> None:
        """The datapath's path MTU knobs: TCP MSS clamping on or off, and
        the ICMP "fragmentation needed" rate limit (per second)."""
        self._dp_flag(lib.BSDNET_DPF_NO_MSS_CLAMP, not mss_clamp)
        lib.bsdnet_agent_store_rel32(ffi.addressof(self.hdr, "rh_icmp_rate"),
                                     icmp_rate)

    @property
    def check_endpoints(self) -> bool:
        """Does the datapath take tunnels from known endpoints only?"""
        return not self.hdr.rh_dp_flags & lib.BSDNET_DPF_ANY_SOURCE

    def set_check_endpoints(self, enforce: bool) -> None:
        self._dp_flag(lib.BSDNET_DPF_ANY_SOURCE, not enforce)

    def dp_heartbeat(self) -> tuple[int, int]:
        """(datapath pid, its heartbeat counter)."""
        h = self.hdr
        load = lib.bsdnet_agent_load_acq32
        return (load(ffi.addressof(h, "rh_dp_pid")),
                load(ffi.addressof(h, "rh_dp_heartbeat")))

    def endpoint_words(self) -> list[int]:
        """Every word of the endpoint table that is in use (racy snapshot:
        vrctl and adoption; the agent is the only writer)."""
        mv = memoryview(ffi.buffer(self.endpoints)).cast("Q")
        return [w for w in mv if w]

    def geometry(self) -> dict[str, int]:
        return {gf[2:]: int(getattr(self.hdr, hf)) for gf, hf in _GEOMETRY}

    def close(self) -> None:
        """Unmap.  Views taken from this region must not be used after."""
        if self._mm is None:
            return
        ffi.release(self._buf)
        try:
            self._mm.close()
        except BufferError:
            # A view still exported (a cffi object alive somewhere): the
            # mapping goes when the last reference does.
            pass
        os.close(self._fd)
        self._mm = None

    def __enter__(self) -> "Region":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
