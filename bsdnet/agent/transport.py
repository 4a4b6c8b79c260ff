"""How the agent reaches its datapath: the seam between daemon and OS.

Two transports, chosen by [datapath] transport:

  shm     the userspace datapaths (Linux AF_PACKET, netmap): the region is
          a POSIX shm file, traps and control messages are unix
          datagrams, and the datapath attaches interfaces itself by
          scanning the vif table;
  device  the FreeBSD kernel module: everything goes through /dev/bsdnet
          (transport_device.py), and the agent binds interfaces to vifs
          with ioctls, because the kernel does not scan the table.

The daemon asks a transport for three things: the region, the trap
channel, and sync_ports(region) after the vif table changed.
"""
from __future__ import annotations

import abc
import logging
import os
from typing import Any

from .flows import TrapChannel
from bsdnet.shm.region import Region, region_path

LOG = logging.getLogger(__name__)

SHM = "shm"
DEVICE = "device"
CHOICES = (SHM, DEVICE)


class Transport(abc.ABC):
    """What the daemon needs from a datapath, whatever it runs on."""

    @abc.abstractmethod
    def where(self) -> str:
        """Where the region is, for log messages."""

    @abc.abstractmethod
    def open_region(self) -> Region:
        """Map and validate the region.  RegionError if it is not there
        (yet): the daemon retries for region_wait seconds."""

    @abc.abstractmethod
    def open_channel(self) -> TrapChannel:
        """The trap channel: recv_batch, release, send_ctl, xmit, close."""

    def region_id(self, region: Region) -> tuple[int, int] | None:
        """What identifies the tables now behind the region's name: a
        change means the datapath made new ones (the daemon reprograms
        them).  None while they are going or coming."""
        return (0, region.instance)

    def sync_ports(self, region: Region) -> None:
        """Bind interfaces to vifs as the vif table now says.  Called
        after every change of the tables and on each heartbeat (a tap
        that was missing is retried).  Optional: a datapath that scans
        the vif table itself needs nothing."""

    def unbind_vif(self, vif: int) -> None:
        """The vif's entry is about to be cleared: let go of its interface
        first, so no frame meets a port half removed.  Optional, as
        sync_ports."""

    def close(self) -> None:
        """Let go of what the transport holds (not the region's mapping,
        not the channel: the daemon closes those)."""


class ShmTransport(Transport):
    """POSIX shared memory and unix datagram sockets (unchanged
    behaviour of the agent before the seam)."""

    def __init__(self, shm_name: str, trap_socket: str,
                 control_socket: str) -> None:
        self.shm_name = shm_name
        self.trap_socket = trap_socket
        self.control_socket = control_socket

    def where(self) -> str:
        return region_path(self.shm_name)

    def open_region(self) -> Region:
        return Region.open(self.shm_name)

    def open_channel(self) -> TrapChannel:
        return TrapChannel(self.trap_socket, self.control_socket)

    def region_id(self, region: Region) -> tuple[int, int] | None:
        # A restarted datapath makes a new file, or reformats the old one
        # with a new instance.
        try:
            return (os.stat(region.path).st_ino, region.instance)
        except FileNotFoundError:
            return None


def from_conf(conf: Any) -> Transport:
    """The transport [datapath] configures."""
    d = conf.datapath
    if d.transport == DEVICE:
        # Imported here: the device transport reads the module's ioctl
        # header, which the shm transport has no use for.
        from .transport_device import DeviceTransport
        return DeviceTransport(d.device, create=d.device_create,
                               sizes=d.device_geometry or {})
    return ShmTransport(d.shm_name, d.trap_socket, d.control_socket)
