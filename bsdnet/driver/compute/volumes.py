"""Cinder volumes: connecting them to this host, and the domain's disks for them.

A mixin of BhyveDriver, and the connectors it uses:

  local  (``driver_volume_type`` 'local': os-brick's name for a block
         device already on this host, a ZFS volume for instance)
         data['device_path'] is the disk.
  iscsi  FreeBSD's initiator, iscsictl(8) and iscsid(8): a session is
         added for the target (CHAP when Cinder gives credentials), waited
         for, and the LUN's da(4) device read from ``iscsictl --libxo json
         -L -v``.  The session is removed at disconnect unless another
         guest still uses one of its devices.

bhyve has no device hot-plug: volumes are attached to and detached from
stopped guests (the persistent definition; a running guest is refused with
that reason), and are part of the guest when it spawns (boot from volume:
the volume with boot index 0 is the root disk).  A volume's disk carries
the volume id as its serial, which is how the driver tells it from a local
disk.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from bsdnet.driver.compute.errors import ComputeError
from bsdnet.driver.domain import Disk
from bsdnet.driver.domain import validate as v
from bsdnet.driver.domain.disk import DISK_PREFIX

LOG = logging.getLogger(__name__)
_IQN_RE = re.compile(r"\A(iqn\.[0-9]{4}-[0-9]{2}\.[A-Za-z0-9.-]+(:[A-Za-z0-9.:_-]+)?|eui\.[0-9A-Fa-f]{16}|"
                     r"naa\.[0-9A-Fa-f]{1,32})\Z")
_CHAP_RE = re.compile(r"\A[\x21-\x7e]{1,255}\Z")  # printable, no blanks (iscsictl's argv, iscsi.conf)
_SERIAL_RE = re.compile(r"\A[A-Za-z0-9-]{1,64}\Z")


class VolumeError(ComputeError):
    """A volume could not be connected, attached or detached."""


class VolumeAttachRunning(VolumeError):
    """The guest runs, and bhyve cannot add or remove its devices while it does."""


def _portal(text: str) -> str:
    """'10.0.0.1:3260', '[fd00::1]:3260' or 'host:3260', checked."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([0-9.]+|[A-Za-z0-9.-]+):(\d{1,5})", str(text))
    if not m:
        raise VolumeError(f"iSCSI portal {text!r} is not host:port")
    host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    if m.group(1):
        ipaddress.IPv6Address(host)
    if not 0 < int(port) < 65536 or host.startswith("-"):
        raise VolumeError(f"iSCSI portal {text!r} is not host:port")
    return str(text)


@dataclass(frozen=True)
class IscsiTarget:
    portal: str
    iqn: str
    lun: int
    user: str | None = None
    secret: str | None = None

    @classmethod
    def from_connection(cls, data: dict[str, Any]) -> "IscsiTarget":
        iqn = str(data.get("target_iqn") or "")
        if not _IQN_RE.match(iqn):
            raise VolumeError(f"iSCSI target name {iqn!r} is not an iqn./eui./naa. name")
        lun = data.get("target_lun", 0)
        if not isinstance(lun, int) or not 0 <= lun < 2 ** 14:
            raise VolumeError(f"iSCSI LUN {lun!r} is not a LUN number")
        user = secret = None
        if str(data.get("auth_method") or "").upper() == "CHAP":
            user, secret = data.get("auth_username"), data.get("auth_password")
            if not (isinstance(user, str) and _CHAP_RE.match(user) and isinstance(secret, str)
                    and _CHAP_RE.match(secret)):
                raise VolumeError("CHAP user and secret must be printable and without blanks")
        return cls(_portal(data.get("target_portal")), iqn, lun, user, secret)


class Iscsictl:
    """FreeBSD's iscsictl(8); ``dev_dir`` is where its da(4) devices appear."""

    def __init__(self, binary: str = "iscsictl", dev_dir: str = "/dev", wait: int = 30) -> None:
        self.binary = binary
        self.dev_dir = dev_dir
        self.wait = wait

    def available(self) -> bool:
        try:
            subprocess.run([self.binary, "-L"], capture_output=True, check=False)
            return True
        except FileNotFoundError:
            return False

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        try:
            r = subprocess.run([self.binary, *args], capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise VolumeError(f"{self.binary} not found: iSCSI volumes need FreeBSD's initiator") from exc
        if check and r.returncode != 0:
            # args[0] only: the rest may hold a CHAP secret.
            raise VolumeError(f"iscsictl {args[0]}: {r.stderr.strip() or r.returncode}")
        return r

    def sessions(self) -> list[dict[str, Any]]:
        out = self._run("--libxo", "json", "-L", "-v").stdout
        return list(json.loads(out or "{}").get("iscsictl", {}).get("session", []))

    def _session(self, t: IscsiTarget) -> dict[str, Any] | None:
        for s in self.sessions():
            if s.get("target", {}).get("name") == t.iqn and s.get("target", {}).get("portal") == t.portal:
                return s
        return None

    def connect(self, t: IscsiTarget) -> str:
        if self._session(t) is None:
            args = ["-A", "-p", t.portal, "-t", t.iqn]
            if t.user is not None:
                args += ["-u", t.user, "-s", t.secret or ""]
            self._run(*args)
        if self._run("-L", "-w", str(self.wait), check=False).returncode != 0:
            reason = (self._session(t) or {}).get("failureReason") or "not connected"
            self.disconnect(t)
            raise VolumeError(f"iSCSI session to {t.iqn} at {t.portal} did not come up: {reason}")
        session = self._session(t) or {}
        for lun in session.get("devices", {}).get("lun", []):
            if int(lun.get("lun", -1)) == t.lun:
                return os.path.join(self.dev_dir, lun["device"])
        raise VolumeError(f"iSCSI target {t.iqn}: no device for LUN {t.lun} "
                          f"(the session has {session.get('devices', {}).get('lun', [])})")

    def devices(self, t: IscsiTarget) -> list[str]:
        session = self._session(t) or {}
        return [os.path.join(self.dev_dir, lun["device"]) for lun in session.get("devices", {}).get("lun", [])]

    def disconnect(self, t: IscsiTarget) -> None:
        if self._session(t) is not None:
            self._run("-R", "-p", t.portal, "-t", t.iqn)

    def initiator_name(self) -> str:
        """iscsictl's default, which iscsid uses unless iscsi.conf names another."""
        return f"iqn.1994-09.org.freebsd:{socket.gethostname()}"


class VolumeMixin:
    def _connection(self, connection_info: dict[str, Any]) -> tuple[str, Any]:
        kind = str(connection_info.get("driver_volume_type") or "")
        data = connection_info.get("data") or {}
        if kind == "local":
            path = v.check_path(str(data.get("device_path") or ""))
            return kind, path
        if kind == "iscsi":
            return kind, IscsiTarget.from_connection(data)
        raise VolumeError(f"volume connection type {kind!r}: this host attaches 'local' and 'iscsi' volumes")

    def connect_volume(self, connection_info: dict[str, Any]) -> str:
        """The host device of the volume, connecting it if needed."""
        kind, what = self._connection(connection_info)
        if kind == "local":
            if not os.path.exists(what):
                raise VolumeError(f"local volume {what} does not exist on this host")
            return what
        return self.iscsi.connect(what)  # type: ignore[attr-defined]

    def disconnect_volume(self, connection_info: dict[str, Any], keep: set[str] = frozenset()) -> None:
        """Undo connect_volume, unless a device of the session is in ``keep``."""
        kind, what = self._connection(connection_info)
        if kind != "iscsi":
            return
        if set(self.iscsi.devices(what)) & keep:  # type: ignore[attr-defined]
            LOG.info("iSCSI session to %s stays: another guest uses it", what.iqn)
            return
        self.iscsi.disconnect(what)  # type: ignore[attr-defined]

    def _devices_in_use(self, except_uuid: str) -> set[str]:
        used = set()
        for dom in self._our_domains():  # type: ignore[attr-defined]
            if dom.UUIDString() != except_uuid:
                used |= {d.source for d in self._model(dom, inactive=True).disks if d.source}  # type: ignore[attr-defined]
        return used

    @staticmethod
    def _volume_disk(path: str, mountpoint: str, serial: str, bus: str | None) -> Disk:
        target = str(mountpoint or "").removeprefix("/dev/")
        by_prefix = next((b for b, p in DISK_PREFIX.items() if target.startswith(p) and b != "scsi"), None)
        bus = bus or by_prefix
        if bus is None or not target.isalnum():
            raise VolumeError(f"device name {mountpoint!r}: expected /dev/vdX, /dev/sdX or /dev/nvmeNn1")
        if not _SERIAL_RE.match(serial):
            raise VolumeError(f"volume id {serial!r} cannot be a disk serial")
        return Disk(source=path, type="block", target_dev=target, target_bus=bus, serial=serial)

    @staticmethod
    def _serial(connection_info: dict[str, Any]) -> str:
        return str(connection_info.get("serial") or (connection_info.get("data") or {}).get("volume_id") or "")

    def _stopped(self, instance: Any, what: str) -> Any:
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        if dom.isActive():
            raise VolumeAttachRunning(f"cannot {what} while instance {instance.uuid} runs: bhyve has no device "
                                      "hot-plug; stop the instance, then try again")
        return dom

    def attach_volume(self, context: Any, connection_info: dict[str, Any], instance: Any, mountpoint: str,
                      disk_bus: str | None = None, device_type: str | None = None, encryption: Any = None) -> None:
        if encryption:
            raise VolumeError("encrypted volumes are not supported by the bhyve driver")
        with self._lock:  # type: ignore[attr-defined]
            dom = self._stopped(instance, "attach a volume")
            model = self._model(dom, inactive=True)  # type: ignore[attr-defined]
            serial = self._serial(connection_info)
            if any(d.serial == serial for d in model.disks):
                raise VolumeError(f"volume {serial} is attached to {instance.uuid} already")
            path = self.connect_volume(connection_info)
            try:
                disk = self._volume_disk(path, mountpoint, serial, disk_bus)
                if any(d.target_dev == disk.target_dev for d in model.disks):
                    raise VolumeError(f"instance {instance.uuid} has a {disk.target_dev} already")
                model.devices.append(disk)
                self._redefine(dom, model)  # type: ignore[attr-defined]
            except BaseException:
                self.disconnect_volume(connection_info, self._devices_in_use(instance.uuid))
                raise
        LOG.info("volume %s attached to %s as %s (%s)", serial, instance.uuid, disk.target_dev, path)

    def detach_volume(self, context: Any, connection_info: dict[str, Any], instance: Any, mountpoint: str,
                      encryption: Any = None) -> None:
        with self._lock:  # type: ignore[attr-defined]
            dom = self._stopped(instance, "detach a volume")
            model = self._model(dom, inactive=True)  # type: ignore[attr-defined]
            serial = self._serial(connection_info)
            target = str(mountpoint or "").removeprefix("/dev/")
            keep = [d for d in model.devices if not (isinstance(d, Disk) and d.serial and
                                                     (d.serial == serial or (not serial and d.target_dev == target)))]
            if len(keep) == len(model.devices):
                raise VolumeError(f"volume {serial or target} is not attached to {instance.uuid}")
            model.devices = keep
            self._redefine(dom, model)  # type: ignore[attr-defined]
            self.disconnect_volume(connection_info, self._devices_in_use(instance.uuid))
        LOG.info("volume %s detached from %s", serial or target, instance.uuid)

    def swap_volume(self, context: Any, old_connection_info: dict[str, Any], new_connection_info: dict[str, Any],
                    instance: Any, mountpoint: str, resize_to: int) -> None:
        """A stopped guest's volume replaced by another (Cinder's migration):
        the new one takes the old one's place and device name."""
        with self._lock:  # type: ignore[attr-defined]
            dom = self._stopped(instance, "swap a volume")
            model = self._model(dom, inactive=True)  # type: ignore[attr-defined]
            old = next((d for d in model.disks if d.serial and d.serial == self._serial(old_connection_info)), None)
            if old is None:
                raise VolumeError(f"instance {instance.uuid} has no volume {self._serial(old_connection_info)}")
            path = self.connect_volume(new_connection_info)
            old_source, old.source = old.source, path
            old.serial = self._serial(new_connection_info) or old.serial
            try:
                self._redefine(dom, model)  # type: ignore[attr-defined]
            except BaseException:
                self.disconnect_volume(new_connection_info, self._devices_in_use(instance.uuid) | {old_source})
                raise
            self.disconnect_volume(old_connection_info, self._devices_in_use(instance.uuid))

    # -- at spawn, power on, destroy -------------------------------------
    def connect_block_devices(self, block_device_info: Any) -> list[tuple[dict[str, Any], Disk]]:
        """Connect every volume of ``block_device_info``; (bdm, its disk), boot volume first."""
        out = []
        bdms = sorted(block_device_mappings(block_device_info),
                      key=lambda b: (b.get("boot_index") is None or b.get("boot_index") < 0, b.get("boot_index") or 0))
        try:
            for bdm in bdms:
                ci = bdm["connection_info"]
                path = self.connect_volume(ci)
                out.append((bdm, self._volume_disk(path, bdm.get("mount_device") or "", self._serial(ci),
                                                   bdm.get("disk_bus"))))
        except BaseException:
            for bdm, _disk in out:
                self.disconnect_volume(bdm["connection_info"])
            raise
        return out

    def disconnect_block_devices(self, instance: Any, block_device_info: Any) -> None:
        keep = self._devices_in_use(instance.uuid)
        for bdm in block_device_mappings(block_device_info):
            try:
                self.disconnect_volume(bdm["connection_info"], keep)
            except ComputeError:
                LOG.exception("could not disconnect a volume of %s", instance.uuid)

    def get_volume_connector(self, instance: Any) -> dict[str, Any]:
        """What Cinder needs to export a volume to this host.  The iSCSI
        initiator name only where this host can log in to targets."""
        host = self._host()  # type: ignore[attr-defined]
        connector = {"ip": self.config.host_ip, "host": host.nodename(),  # type: ignore[attr-defined]
                     "platform": os.uname().machine, "os_type": sys.platform, "multipath": False}
        if self.iscsi.available():  # type: ignore[attr-defined]
            connector["initiator"] = self.iscsi.initiator_name()  # type: ignore[attr-defined]
        return connector


def block_device_mappings(block_device_info: Any) -> list[dict[str, Any]]:
    """The volume mappings of Nova's block_device_info (a dict, or None)."""
    if not block_device_info or not hasattr(block_device_info, "get"):
        return []
    return [b for b in block_device_info.get("block_device_mapping") or [] if b.get("connection_info")]
