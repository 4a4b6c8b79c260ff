"""A stand-in for /dev/bsdnet that keeps the module's rules.

FakeModule is a DeviceOps: the agent's device transport calls its open,
ioctl and mmap where it would call the system's.  What it answers is
kmod/freebsd/bsdnet_kern_dev.c's and bsdnet_kern_port.c's behaviour, error
for error:

  open    ENOENT without the module, EACCES for non-root; each open is a
          SOCK_SEQPACKET socketpair, which keeps read(2)/write(2) one
          message each, as the device does;
  ioctl   the request number must be one the header defines and carry
          the size of its struct; CREATE/GEOMETRY/DESTROY/ATTACH/DETACH/
          STATS answer as the module does (EEXIST, ENXIO, EINVAL, EBUSY,
          ENOENT, ESRCH), ENOTTY for anything else;
  mmap    offset 0, at most the region's size: a file formatted by the
          datapath's own bsdnet_region_format().

The kernel side of the trap channel is trap() and control().
"""
from __future__ import annotations

import errno
import mmap
import os
import secrets
import socket

from bsdnet.agent.transport_device import DeviceOps
from bsdnet.shm import ioctl as tio
from bsdnet.shm.abi import ffi, lib
from bsdnet.shm.region import Region
from bsdnet.shm.tables import ip_to_int

SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)   # Linux, root
# Small tables (well under a megabyte), as region.small_geometry().
SMALL = {"nvifs": 64, "nnexthops": 256, "nlabels": 64, "nvrfs": 16,
         "nrtbuckets": 64, "nflowbuckets": 256, "novfbuckets": 64,
         "maxhold": 128}
INTERFACES = {"vtnet0": 3, "tap0": 7, "tap1": 8}
# The argument each request takes, as bsdnet_fb_dev.c copies it in.
ARGS = {"BSDNET_IOC_CREATE": "bsdnet_ioc_geometry",
        "BSDNET_IOC_GEOMETRY": "bsdnet_ioc_geometry",
        "BSDNET_IOC_DESTROY": None,
        "BSDNET_IOC_ATTACH": "bsdnet_ioc_attach",
        "BSDNET_IOC_DETACH": "bsdnet_ioc_attach",
        "BSDNET_IOC_STATS": "bsdnet_ioc_stats"}
GEOM = ("nvifs", "nnexthops", "nlabels", "nvrfs", "nrtbuckets",
        "nflowbuckets", "novfbuckets", "maxhold")


def oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class FakeModule(DeviceOps):
    def __init__(self, tmpdir, interfaces: dict[str, int] | None = None):
        self.tmpdir = tmpdir
        self.loaded = True          # /dev/bsdnet exists
        self.root = True            # the caller may open it
        self.interfaces = dict(interfaces or {})   # name -> ifindex
        self.region: Region | None = None          # the kernel's view
        self.size = 0
        self.instance = 0
        self.ports: dict[int, tuple[str, int]] = {}   # vif -> name, flags
        self.calls: list[tuple[str, int, str, int]] = []  # ATTACH/DETACH
        self.detached_with_type: dict[int, int] = {}
        self.maps: list[mmap.mmap] = []
        self.kernel: dict[int, socket.socket] = {}    # agent fd -> our end
        self._byname = {r.number: r for r in tio.requests().values()}
        self.ffi = ffi

    # ---- DeviceOps ------------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        if not self.loaded:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT),
                                    path)
        if not self.root:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES),
                                  path)
        assert flags & os.O_ACCMODE == os.O_RDWR
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        a.setblocking(not flags & os.O_NONBLOCK)
        b.setblocking(False)
        # Room for a burst of traps (the module queues trapq_max of them).
        try:
            b.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20)
        except OSError:
            b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        fd = a.detach()
        self.kernel[fd] = b
        return fd

    def ioctl(self, fd: int, request: int, arg: bytearray) -> None:
        if fd not in self.kernel:
            raise oserror(errno.EBADF)
        req = self._byname.get(request)
        if req is None:
            raise oserror(errno.ENOTTY)
        # The kernel copies IOCPARM_LEN(cmd) bytes: the argument must be
        # exactly the struct the request says.
        assert len(arg) == tio.iocparm_len(request) == req.size, (
            req.name, len(arg))
        p = None
        struct = ARGS[req.name]
        if struct:
            p = self.ffi.new(f"struct {struct} *")
            self.ffi.memmove(p, bytes(arg), len(arg))
        getattr(self, "_" + req.name[len("BSDNET_IOC_"):].lower())(p)
        if req.direction & tio.IOC_OUT:
            arg[:] = bytes(self.ffi.buffer(p))

    def mmap(self, fd: int, size: int, readonly: bool = False) -> mmap.mmap:
        if fd not in self.kernel:
            raise oserror(errno.EBADF)
        if self.region is None:
            raise oserror(errno.ENXIO)
        if size == 0 or size > self.size:
            raise oserror(errno.EINVAL)
        prot = mmap.PROT_READ | (0 if readonly else mmap.PROT_WRITE)
        with open(self.region.path, "r+b") as f:
            m = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, prot)
        self.maps.append(m)
        return m

    def nametoindex(self, name: str) -> int:
        return self.interfaces.get(name, 0)

    # ---- ioctls ---------------------------------------------------------

    def _create(self, ig) -> None:
        if self.region is not None:
            raise oserror(errno.EEXIST)
        g = ffi.new("struct bsdnet_geometry *")
        for k in GEOM:
            setattr(g, "g_" + k, getattr(ig, "ig_" + k))
        sizep = ffi.new("uint64_t *")
        if lib.bsdnet_layout(g, sizep, ffi.NULL) != lib.BSDNET_OK:
            raise oserror(errno.EINVAL)
        path = os.path.join(self.tmpdir, "kernel-region")
        with open(path, "w+b") as f:
            f.truncate(sizep[0])
            m = mmap.mmap(f.fileno(), sizep[0])
        key = ffi.new("uint64_t[2]", [secrets.randbits(64)] * 2)
        self.instance = secrets.randbits(64)
        buf = ffi.from_buffer(m)
        assert lib.bsdnet_region_format(buf, sizep[0], g, key,
                                        self.instance) == lib.BSDNET_OK
        ffi.release(buf)
        m.close()
        self.size = sizep[0]
        self.region = Region.open(path)
        self._geometry(ig)

    def _geometry(self, ig) -> None:
        if self.region is None:
            raise oserror(errno.ENXIO)
        for k, v in self.region.geometry().items():
            setattr(ig, "ig_" + k, v)
        ig.ig_size = self.size
        ig.ig_instance = self.instance

    def _destroy(self, _p) -> None:
        if self.region is None:
            raise oserror(errno.ENXIO)
        if self.ports or any(not m.closed for m in self.maps):
            raise oserror(errno.EBUSY)
        self.region.close()
        self.region = None

    def _attach(self, ia) -> None:
        name = bytes(self.ffi.buffer(ia.ia_ifname))
        self.calls.append(("attach", ia.ia_vif, name.rstrip(b"\0").decode(),
                           ia.ia_flags))
        if self.region is None:
            raise oserror(errno.ENXIO)
        if b"\0" not in name or name[0] == 0:
            raise oserror(errno.EINVAL)
        if ia.ia_flags & ~lib.BSDNET_IOC_F_ROUTER_MAC:
            raise oserror(errno.EINVAL)
        if ia.ia_vif >= len(self.region.vifs):
            raise oserror(errno.EINVAL)
        if ia.ia_vif in self.ports:
            raise oserror(errno.EEXIST)
        if self.region.vifs[ia.ia_vif].vif_type not in (
                lib.BSDNET_VIF_VIRTUAL, lib.BSDNET_VIF_FABRIC):
            raise oserror(errno.EINVAL)
        ifname = name.split(b"\0")[0].decode()
        if ifname not in self.interfaces:
            raise oserror(errno.ENOENT)
        if any(n == ifname for n, _ in self.ports.values()):
            raise oserror(errno.EBUSY)
        self.ports[ia.ia_vif] = (ifname, ia.ia_flags)
        self._set_index(ia.ia_vif, self.interfaces[ifname])

    def _detach(self, ia) -> None:
        name = bytes(self.ffi.buffer(ia.ia_ifname)).split(b"\0")[0].decode()
        self.calls.append(("detach", ia.ia_vif, name, ia.ia_flags))
        if self.region is None:
            raise oserror(errno.ENXIO)
        if ia.ia_vif >= len(self.region.vifs):
            raise oserror(errno.EINVAL)
        if ia.ia_vif not in self.ports:
            raise oserror(errno.ENOENT)
        if name and name != self.ports[ia.ia_vif][0]:
            raise oserror(errno.ESRCH)
        del self.ports[ia.ia_vif]
        self._set_index(ia.ia_vif, 0)
        # What the table said of the vif at that moment (the agent must
        # detach before it clears the entry).
        self.detached_with_type[ia.ia_vif] = \
            int(self.region.vifs[ia.ia_vif].vif_type)

    def _stats(self, st) -> None:
        st.is_nports = len(self.ports)
        st.is_mapped = int(any(not m.closed for m in self.maps))

    # ---- the kernel's side ------------------------------------------------

    def _set_index(self, vif: int, idx: int) -> None:
        lib.bsdnet_agent_store_rel32(
            ffi.addressof(self.region.vifs[vif], "vif_os_index"), idx)

    def interface_gone(self, name: str) -> None:
        """The tap is destroyed: the module detaches it by itself."""
        del self.interfaces[name]
        for vif, (n, _) in list(self.ports.items()):
            if n == name:
                del self.ports[vif]
                self._set_index(vif, 0)

    def _end(self) -> socket.socket:
        # The trap queue is the module's; the last opener reads it.
        return self.kernel[max(self.kernel)]

    def trap(self, idx: int, gen: int, reason=lib.BSDNET_TRAP_FLOW_MISS,
             frame: bytes = b"\0" * 60, vif: int = 2, vrf: int = 1) -> None:
        th = ffi.new("struct bsdnet_trap_hdr *")
        th.th_version = lib.BSDNET_TRAP_VERSION
        th.th_reason, th.th_vif, th.th_vrf = reason, vif, vrf
        th.th_flow, th.th_gen, th.th_len = idx, gen, len(frame)
        self._end().send(bytes(ffi.buffer(th)) + frame)

    def control(self) -> list[tuple[int, int, int, int, bytes]]:
        """Every control message written so far: (type, vif, flow, gen,
        payload), checked as bsdnet_kern_write() checks them."""
        out = []
        hl = ffi.sizeof("struct bsdnet_ctl_hdr")
        for s in self.kernel.values():
            while True:
                try:
                    data = s.recv(65536)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                assert len(data) >= hl, "short control message"
                ch = ffi.new("struct bsdnet_ctl_hdr *")
                ffi.memmove(ch, data, hl)
                payload = data[hl:]
                if ch.ch_type == lib.BSDNET_CTL_XMIT:
                    assert ch.ch_len == len(payload)
                else:
                    assert payload == b"", "payload on a RELEASE/VIF_SYNC"
                out.append((ch.ch_type, ch.ch_vif, ch.ch_flow, ch.ch_gen,
                            payload))
        return out

    def close(self) -> None:
        for s in self.kernel.values():
            s.close()
        for m in self.maps:
            try:
                m.close()
            except BufferError:
                pass
        if self.region is not None:
            self.region.close()


class KernelFlows:
    """What the module's core does on a miss: claim HOLD in the region."""

    def __init__(self, region):
        self.region = region
        self.ft = ffi.new("struct bsdnet_flowtab *")
        lib.bsdnet_flowtab_bind(self.ft, region.hdr, region.base)

    def claim(self, sport, vif=2, vrf=1):
        k = ffi.new("struct bsdnet_flow_key *")
        k.fk_vrf, k.fk_proto = vrf, 6
        k.fk_src, k.fk_dst = ip_to_int("10.0.0.1"), ip_to_int("10.0.0.2")
        k.fk_sport, k.fk_dport = sport, 80
        g = ffi.new("uint32_t *")
        idx = lib.bsdnet_flow_claim(self.ft, k, vif, 1000, g)
        assert idx != lib.BSDNET_FLOW_NONE & 0xffffffff
        return idx, g[0]
