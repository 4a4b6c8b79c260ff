"""The device transport: the FreeBSD kernel module through /dev/bsdnet.

What goes where (kmod/freebsd/bsdnet_kern_dev.c is the other side):

  region    open(2) O_RDWR, BSDNET_IOC_GEOMETRY (BSDNET_IOC_CREATE first
            when there are no tables and the agent is told to make them),
            mmap(2) of the size the kernel reports at offset 0, then the
            Region's own checks (magic, version, layout);
  traps     read(2): one struct bsdnet_trap_hdr + frame per call, taken
            while the device is readable, up to a batch;
  control   write(2): one struct bsdnet_ctl_hdr (+ frame) per call;
  ports     BSDNET_IOC_ATTACH / _DETACH, reconciled with the vif table
            (DevicePorts): the kernel, unlike the userspace datapaths,
            does not scan the table for interfaces.

Only DeviceOps touches the OS (open, ioctl, mmap, if_nametoindex), so
tests run all of this on Linux against a stand-in device.  One
descriptor serves the channel and the ioctls; the region keeps a
duplicate of it for its mapping's lifetime.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import mmap
import os
import select
import socket
from collections.abc import Mapping
from typing import Any

from bsdnet.shm import ioctl as tio
from bsdnet.shm.abi import ffi, lib
from .flows import BATCH, SLOT, WAIT_S, TrapChannel
from bsdnet.shm.region import Region, RegionError, geometry
from .transport import Transport

LOG = logging.getLogger(__name__)

DEFAULT_DEVICE = "/dev/bsdnet"
CTL_HDR = ffi.sizeof("struct bsdnet_ctl_hdr")

# The vif table's view of the ioctl's geometry (ig_nvifs <-> g_nvifs).
GEOMETRY_FIELDS = ("nvifs", "nnexthops", "nlabels", "nvrfs", "nrtbuckets",
                   "nflowbuckets", "novfbuckets", "maxhold")


class DeviceOps:
    """The system calls that differ between a real device and a
    stand-in.  Each raises OSError as the system call would."""

    def open(self, path: str, flags: int) -> int:
        return os.open(path, flags)

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        # A mutable buffer: the kernel's answer is copied back into it.
        fcntl.ioctl(fd, request, arg, True)

    def mmap(self, fd: int, size: int, readonly: bool = False) -> mmap.mmap:
        prot = mmap.PROT_READ | (0 if readonly else mmap.PROT_WRITE)
        return mmap.mmap(fd, size, mmap.MAP_SHARED, prot, offset=0)

    def nametoindex(self, name: str) -> int:
        """The interface's index, 0 if there is none of that name."""
        try:
            return socket.if_nametoindex(name)
        except OSError:
            return 0


class Device:
    """An open /dev/bsdnet: ioctls by name, with checked argument sizes."""

    def __init__(self, path: str, ops: DeviceOps) -> None:
        self.path = path
        self.ops = ops
        try:
            self.fd = ops.open(path, os.O_RDWR | os.O_NONBLOCK |
                               os.O_CLOEXEC)
        except FileNotFoundError:
            raise RegionError(f"{path}: no such device (is the module "
                              "loaded? kldload bsdnet)") from None
        except PermissionError:
            raise RegionError(f"{path}: permission denied (the device is "
                              "root's, mode 0600)") from None
        except OSError as e:
            raise RegionError(f"{path}: {e.strerror}") from None

    def ioctl(self, name: str, arg: Any = None) -> None:
        """Issue BSDNET_IOC_<name> with arg (a cffi struct pointer of the
        request's size, or None for _IO); OUT fields are copied back."""
        req = tio.request(name)
        buf = bytearray(0 if arg is None else ffi.buffer(arg))
        if len(buf) != req.size:
            raise TypeError(f"{name} takes {req.size} bytes, not {len(buf)}")
        self.ops.ioctl(self.fd, req.number, buf)
        if req.direction & tio.IOC_OUT:
            ffi.memmove(arg, bytes(buf), len(buf))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def check_sizes(sizes: Mapping[str, Any]) -> dict[str, int]:
    """The configured table sizes as counts, or RegionError."""
    unknown = set(sizes) - set(GEOMETRY_FIELDS)
    if unknown:
        raise RegionError(f"unknown geometry sizes {sorted(unknown)} "
                          f"(known: {', '.join(GEOMETRY_FIELDS)})")
    try:
        return {k: int(v) for k, v in sizes.items()}
    except ValueError as e:
        raise RegionError(f"geometry sizes must be counts: {e}") from None


def ioc_geometry(sizes: Mapping[str, Any]) -> Any:
    """A struct bsdnet_ioc_geometry: bsdnet_abi.h's defaults, overridden by
    sizes (nvifs=..., as region.geometry() takes them)."""
    g = geometry(**check_sizes(sizes))
    return tio.new("bsdnet_ioc_geometry",
                   **{"ig_" + k: getattr(g, "g_" + k)
                      for k in GEOMETRY_FIELDS})


def map_region(dev: Device, create: bool, sizes: Mapping[str, int],
               readonly: bool = False) -> Region:
    """GEOMETRY (CREATE first if allowed and needed), mmap, validate
    (read-only for tools that only look)."""
    ig = tio.new("bsdnet_ioc_geometry")
    try:
        dev.ioctl("BSDNET_IOC_GEOMETRY", ig)
    except OSError as e:
        if e.errno != errno.ENXIO:
            raise RegionError(f"{dev.path}: geometry: {e.strerror}") \
                from None
        if not create:
            raise RegionError(f"{dev.path}: the module has no tables yet "
                              "(bsdnetctl create, or [datapath] "
                              "device_create = true)") from None
        ig = _create(dev, sizes)
    size = int(ig.ig_size)
    if size < ffi.sizeof("struct bsdnet_region_hdr"):
        raise RegionError(f"{dev.path}: the module reports a region of "
                          f"{size} bytes, smaller than its header")
    try:
        mm = dev.ops.mmap(dev.fd, size, readonly)
    except OSError as e:
        raise RegionError(f"{dev.path}: mmap of {size} bytes: "
                          f"{e.strerror}") from None
    fd = os.dup(dev.fd)
    try:
        region = Region(dev.path, mm, fd, readonly)
    except BaseException:
        mm.close()
        os.close(fd)
        raise
    instance = region.instance
    if instance != int(ig.ig_instance):
        region.close()
        raise RegionError(f"{dev.path}: instance {instance:#x} in "
                          f"the header, {int(ig.ig_instance):#x} from the "
                          "module (tables replaced while mapping)")
    return region


def open_device_region(path: str = DEFAULT_DEVICE,
                       ops: DeviceOps | None = None) -> Region:
    """The kernel module's tables, mapped read-only (bsdnet-vrctl).  The
    descriptor goes with the region (Region.close)."""
    dev = Device(path, ops or DeviceOps())
    try:
        return map_region(dev, False, {}, readonly=True)
    finally:
        dev.close()


def _create(dev: Device, sizes: Mapping[str, int]) -> Any:
    ig = ioc_geometry(sizes)
    try:
        dev.ioctl("BSDNET_IOC_CREATE", ig)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise RegionError(f"{dev.path}: creating the tables "
                              f"({dict(sizes) or 'defaults'}): "
                              f"{e.strerror}") from None
        # Someone (bsdnetctl, rc.d) was quicker: use theirs.
        ig = tio.new("bsdnet_ioc_geometry")
        dev.ioctl("BSDNET_IOC_GEOMETRY", ig)
        return ig
    LOG.info("%s: created tables of %d bytes", dev.path, int(ig.ig_size))
    return ig


class DeviceTrapChannel(TrapChannel):
    """TrapChannel over /dev/bsdnet: the same batches, pending RELEASEs and
    retries (inherited), with read(2)/write(2) on the device instead of
    recvmmsg/sendmmsg on sockets."""

    def __init__(self, dev: Device) -> None:
        # Not TrapChannel.__init__: there is no socket to bind.
        self.dev = dev
        self.trap_path = self.control_path = dev.path
        self._init_batch()
        mv = memoryview(ffi.buffer(self.buf))
        self._slots = [mv[i * SLOT:(i + 1) * SLOT] for i in range(BATCH)]
        # One byte past a slot: a read that fills it was cut.
        self._spill = bytearray(1)
        self._ctl = ffi.new("struct bsdnet_ctl_hdr *")
        self._ctlbuf = ffi.buffer(self._ctl)
        self._poll = select.poll()
        self._poll.register(dev.fd, select.POLLIN)
        self._timeout_ms = int(WAIT_S * 1000)

    def fileno(self) -> int:
        return self.dev.fd

    def set_timeout(self, seconds: float) -> None:
        self._timeout_ms = int(seconds * 1000)

    def recv_batch(self, wait: bool = False) -> int:
        """Up to BATCH traps, one read(2) each, while the device has them;
        with wait, first sleep up to the timeout for one."""
        if wait:
            try:
                if not self._poll.poll(self._timeout_ms):
                    return 0
            except InterruptedError:
                return 0
        n = 0
        while n < BATCH:
            try:
                got = os.readv(self.dev.fd, [self._slots[n], self._spill])
            except (BlockingIOError, InterruptedError):
                break
            if got == 0:
                break
            # As recv_batch in C says of a cut datagram: slot size + 1.
            self.lens[n] = SLOT + 1 if got > SLOT else got
            n += 1
        return n

    def _write(self, data) -> None:
        os.write(self.dev.fd, data)

    def _send(self, flows, gens, n: int) -> int:
        ch = self._ctl
        ch.ch_type = lib.BSDNET_CTL_RELEASE
        ch.ch_vif = ch.ch_len = 0
        for i in range(n):
            ch.ch_flow, ch.ch_gen = flows[i], gens[i]
            try:
                self._write(self._ctlbuf)
            except BlockingIOError:
                return i                # pending: retried by flush()
            except OSError as e:
                # Not taken (no tables: ENXIO): the HOLD entry expires in
                # the kernel, as with a datapath that went away.
                self.send_errors += 1
                if self.send_errors == 1 or self.send_errors % 1000 == 0:
                    LOG.warning("RELEASE to %s failed (%d times): %s",
                                self.dev.path, self.send_errors, e.strerror)
        return n

    def send_ctl(self, ctl_type: int, vif: int = 0) -> bool:
        ch = ffi.new("struct bsdnet_ctl_hdr *")
        ch.ch_type, ch.ch_vif = ctl_type, vif
        try:
            self._write(ffi.buffer(ch))
        except OSError as e:
            LOG.debug("control message %d to %s: %s", ctl_type,
                      self.dev.path, e)
            return False
        return True

    def xmit(self, vif: int, frame: bytes) -> bool:
        ch = ffi.new("struct bsdnet_ctl_hdr *")
        ch.ch_type, ch.ch_vif, ch.ch_len = lib.BSDNET_CTL_XMIT, vif, len(frame)
        try:
            self._write(bytes(ffi.buffer(ch)) + frame)
        except OSError as e:
            LOG.debug("XMIT on vif %d: %s", vif, e)
            return False
        return True

    def close(self) -> None:
        # The descriptor is the transport's (ioctls use it too).
        try:
            self._poll.unregister(self.dev.fd)
        except (KeyError, ValueError):
            pass


class DevicePorts:
    """Interfaces bound to vifs, kept as the vif table says: a VIRTUAL or
    FABRIC entry with a name wants its interface attached (VM taps with
    the router-MAC flag, see kmod/README), anything else wants none.
    The same rule as the userspace datapaths' vif scan (bsdnetd_vif.c); the
    kernel's vif_os_index says what is bound now."""

    def __init__(self, dev: Device) -> None:
        self.dev = dev
        self.router_mac_flag = lib.BSDNET_IOC_F_ROUTER_MAC
        # vif -> interface name this agent attached or adopted.
        self.bound: dict[int, str] = {}
        # (vif, name, errno) already logged, so a missing tap is said once.
        self._said: set[tuple[int, str, int]] = set()

    def wanted(self, region: Region) -> dict[int, tuple[str, int]]:
        """vif -> (interface name, attach flags) from the vif table."""
        out: dict[int, tuple[str, int]] = {}
        kinds = {lib.BSDNET_VIF_VIRTUAL: self.router_mac_flag,
                 lib.BSDNET_VIF_FABRIC: 0}
        c = ffi.new("struct bsdnet_vif *")
        for i in range(1, len(region.vifs)):
            v = region.vifs[i]
            if v.vif_type not in kinds:
                continue
            if lib.bsdnet_agent_vif_read(ffi.addressof(region.vifs, i), c):
                continue        # being written: the next sync
            if c.vif_type in kinds and c.vif_name[0] != b"\0":
                name = ffi.string(c.vif_name,
                                  lib.BSDNET_IFNAMSIZ).decode(errors="replace")
                out[i] = (name, kinds[c.vif_type])
        return out

    def sync(self, region: Region) -> dict[str, int]:
        """Attach and detach until the kernel matches the table.  Returns
        counts of what was done (attached, detached, failed)."""
        want = self.wanted(region)
        done = {"attached": 0, "detached": 0, "failed": 0}
        for i in range(1, len(region.vifs)):
            ifindex = lib.bsdnet_agent_load_acq32(
                ffi.addressof(region.vifs[i], "vif_os_index"))
            w = want.get(i)
            if ifindex == 0:
                self.bound.pop(i, None)
                if w is not None and self._attach(i, *w):
                    done["attached"] += 1
                elif w is not None:
                    done["failed"] += 1
                continue
            if w is not None and self._is_bound(i, w[0], ifindex):
                continue
            # Bound to something the table no longer names (port gone,
            # entry reused, agent restarted after a change): unbind.
            if self._detach(i, self.bound.get(i, "")):
                done["detached"] += 1
                if w is not None:
                    if self._attach(i, *w):
                        done["attached"] += 1
                    else:
                        done["failed"] += 1
            else:
                done["failed"] += 1
        return done

    def unbind(self, vif: int) -> None:
        """Detach the vif's interface now, ahead of its entry's removal
        (the kernel would otherwise hand frames to a cleared vif until the
        next sync).  A refusal is logged and left to that sync."""
        if vif in self.bound:
            self._detach(vif, self.bound[vif])

    def _is_bound(self, vif: int, name: str, ifindex: int) -> bool:
        if self.bound.get(vif) == name:
            return True
        # Not attached by this process (a previous agent did): adopt it if
        # the kernel holds the interface of that name.
        if self.dev.ops.nametoindex(name) == ifindex:
            self.bound[vif] = name
            return True
        return False

    def _attach(self, vif: int, name: str, flags: int) -> bool:
        ia = self._arg(vif, name, flags)
        try:
            self.dev.ioctl("BSDNET_IOC_ATTACH", ia)
        except OSError as e:
            self._log_once(vif, name, e, "attach")
            return False
        self.bound[vif] = name
        self._said = {s for s in self._said if s[0] != vif}
        LOG.info("attached %s to vif %d%s", name, vif,
                 " (router MAC)" if flags & self.router_mac_flag else "")
        return True

    def _detach(self, vif: int, name: str) -> bool:
        try:
            self.dev.ioctl("BSDNET_IOC_DETACH", self._arg(vif, name, 0))
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ESRCH):
                self._log_once(vif, name, e, "detach")
                return False
            # Already gone (the interface was destroyed), or bound to
            # another name than we thought: unbind whatever it is.
            if e.errno == errno.ESRCH:
                return self._detach(vif, "")
        self.bound.pop(vif, None)
        LOG.info("detached vif %d%s", vif, f" ({name})" if name else "")
        return True

    def _arg(self, vif: int, name: str, flags: int) -> Any:
        # Names come from vif_name (BSDNET_IFNAMSIZ, NUL-terminated), so
        # they fit; an empty one (DETACH) means whatever is bound.
        raw = name.encode()[:15]
        ia = tio.new("bsdnet_ioc_attach", ia_vif=vif, ia_flags=flags)
        ia.ia_ifname = raw
        return ia

    def _log_once(self, vif: int, name: str, e: OSError, what: str) -> None:
        key = (vif, name, e.errno or 0)
        if key in self._said:
            return
        self._said.add(key)
        # A tap that is not there yet is normal (the VM is starting).
        level = logging.INFO if e.errno == errno.ENOENT else logging.WARNING
        LOG.log(level, "%s %s to vif %d: %s (retried on the next change)",
                what, name or "?", vif, e.strerror)


class DeviceTransport(Transport):
    """The kernel module through its character device."""

    def __init__(self, path: str = DEFAULT_DEVICE, create: bool = False,
                 sizes: Mapping[str, int] | None = None,
                 ops: DeviceOps | None = None) -> None:
        self.path = path
        self.create = create
        self.sizes = dict(sizes or {})
        self.ops = ops or DeviceOps()
        self.dev: Device | None = None
        self.ports: DevicePorts | None = None
        check_sizes(self.sizes)         # a typo fails at start, not later

    def where(self) -> str:
        return self.path

    def _device(self) -> Device:
        if self.dev is None:
            self.dev = Device(self.path, self.ops)
            self.ports = DevicePorts(self.dev)
        return self.dev

    def open_region(self) -> Region:
        return map_region(self._device(), self.create, self.sizes)

    def open_channel(self) -> DeviceTrapChannel:
        return DeviceTrapChannel(self._device())

    def sync_ports(self, region: Region) -> None:
        self._device()
        assert self.ports is not None
        done = self.ports.sync(region)
        if done["attached"] or done["detached"]:
            LOG.debug("ports: %s", done)

    def unbind_vif(self, vif: int) -> None:
        if self.ports is not None:
            self.ports.unbind(vif)

    def stats(self) -> dict[str, int]:
        """The module's own counters (BSDNET_IOC_STATS), without is_."""
        st = tio.new("bsdnet_ioc_stats")
        self._device().ioctl("BSDNET_IOC_STATS", st)
        return {name[3:]: int(getattr(st, name))
                for name, _ in ffi.typeof("struct bsdnet_ioc_stats").fields}

    def close(self) -> None:
        if self.dev is not None:
            self.dev.close()
            self.dev = None
            self.ports = None
