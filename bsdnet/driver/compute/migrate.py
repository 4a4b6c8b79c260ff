"""Resize and cold migration (Nova's migrate_disk_and_power_off,
finish_migration, confirm_migration, finish_revert_migration).

A mixin of BhyveDriver.  The steps, as Nova's compute manager calls them:

  source  migrate_disk_and_power_off: refuse a disk that would shrink, stop
          the guest, keep its disks and definition aside (<uuid>_resize:
          the instance directory, and the ZFS dataset with it); for another
          host, copy them there over ssh ([bhyve] migration_ssh): files
          through dd conv=sparse, ZFS volumes as zfs send | zfs recv.
  dest    finish_migration: the disks (same host: new ones from the kept
          copy, ZFS clones of a snapshot of it; another host: the ones that
          arrived), grown to the new flavor (swap made anew), the guest
          defined with the new flavor's memory and vCPUs, started.
  source  confirm_migration: the kept copy goes (and, when the guest moved
          to another host, its definition and ports here).
  source  finish_revert_migration: the kept copy becomes the instance's
          again, its kept definition is defined and started.

The remote side runs as the same user with the same [bhyve] paths; only
names this driver checked (instance paths, dataset names) reach its shell.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import subprocess
import tempfile
from typing import Any

import libvirt

from bsdnet.driver.compute import configdrive, images, plan
from bsdnet.driver.compute.config import instance_dir
from bsdnet.driver.compute.errors import ComputeError
from bsdnet.driver.compute.guest import DiskSpec
from bsdnet.driver.compute.instance import flavor_value, image_props
from bsdnet.driver.compute.storage import EPHEMERAL, GiB, ROOT, SWAP
from bsdnet.driver.domain import validate as v

LOG = logging.getLogger(__name__)
RESIZE = "_resize"
BLOCK = 4096  # dd's block size when writing a region at an offset
KEPT_XML = "domain.resize.xml"  # the definition as it was, in the kept directory


class ResizeError(ComputeError):
    """The resize or migration cannot be done; nothing was changed."""


class Remote:
    """Commands on another host through ssh(1).  ssh hands the remote shell
    one string: every argument is quoted (shlex.quote)."""

    def __init__(self, ssh: str, host: str) -> None:
        if not host or host.startswith("-") or any(c.isspace() for c in host):
            raise ResizeError(f"destination host {host!r} is not a host name or address")
        self.ssh, self.host = ssh, host

    def _argv(self, argv: list[str]) -> list[str]:
        return [self.ssh, "-o", "BatchMode=yes", self.host, shlex.join(argv)]

    def run(self, argv: list[str]) -> None:
        try:
            subprocess.run(self._argv(argv), check=True, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise ResizeError(f"{self.ssh} not found: cannot reach {self.host}") from exc
        except subprocess.CalledProcessError as exc:
            raise ResizeError(f"on {self.host}: {shlex.join(argv)}: {exc.stderr.strip() or exc.returncode}") from exc

    def pipe(self, local: list[str], remote: list[str]) -> None:
        """local's output into remote's input."""
        try:
            producer = subprocess.Popen(local, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError as exc:
            raise ResizeError(f"{local[0]} not found") from exc
        r = subprocess.run(self._argv(remote), stdin=producer.stdout, capture_output=True)
        producer.stdout.close()  # type: ignore[union-attr]
        err = producer.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
        if producer.wait() != 0:
            raise ResizeError(f"{shlex.join(local)}: {err.strip() or producer.returncode}")
        if r.returncode != 0:
            raise ResizeError(f"on {self.host}: {shlex.join(remote)}: "
                              f"{r.stderr.decode(errors='replace').strip() or r.returncode}")

    def _send_region(self, f: Any, start: int, end: int, remote_path: str) -> None:
        argv = ["dd", f"of={remote_path}", f"bs={BLOCK}", f"seek={start // BLOCK}", "conv=notrunc,sparse"]
        proc = subprocess.Popen(self._argv(argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        f.seek(start)
        try:
            left = end - start
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                proc.stdin.write(chunk)  # type: ignore[union-attr]
                left -= len(chunk)
        except BrokenPipeError:
            pass
        finally:
            proc.stdin.close()  # type: ignore[union-attr]
        if proc.wait() != 0:
            raise ResizeError(f"on {self.host}: writing {remote_path}: "
                              f"{proc.stderr.read().decode(errors='replace').strip()}")  # type: ignore[union-attr]

    def write_file(self, local_path: str, remote_path: str) -> None:
        """A file copied with its holes: only its data regions cross (dd
        conv=sparse seeks over zero blocks on the other side too), then the
        length is set.  A 40 GiB disk holding 1 GiB sends about 1 GiB."""
        remote_path = v.check_path(remote_path)
        with open(local_path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.run(["dd", f"of={remote_path}", "count=0"])  # create it empty
            for start, end in _merged(images.data_extents(f.fileno(), size)):
                self._send_region(f, start - start % BLOCK, end, remote_path)
        self.run(["truncate", "-s", str(size), remote_path])


def _merged(extents: list[tuple[int, int]], gap: int = 64 << 20) -> list[tuple[int, int]]:
    """Neighbouring data regions as one (fewer ssh round trips; the zeros
    between them become holes again on the other side)."""
    out: list[tuple[int, int]] = []
    for start, end in extents:
        if out and start - out[-1][1] < gap:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


class MigrationMixin:
    def _this_host(self, dest: str) -> bool:
        names = {self.config.host_ip, socket.gethostname(), socket.getfqdn(), "localhost", "127.0.0.1"}  # type: ignore[attr-defined]
        return dest in names

    def _kept_dir(self, uuid: str) -> str:
        return instance_dir(self.config, v.check_uuid(uuid)) + RESIZE  # type: ignore[attr-defined]

    def _check_sizes(self, instance: Any, flavor: Any) -> None:
        storage = self.storage  # type: ignore[attr-defined]
        for name, want_gb in ((ROOT, getattr(flavor, "root_gb", 0)), (EPHEMERAL, getattr(flavor, "ephemeral_gb", 0))):
            path = storage.existing(instance.uuid, name)
            if path is None:
                continue
            have = storage.sizes(path)[0]
            if want_gb is not None and want_gb * GiB < have and (want_gb or name == EPHEMERAL):
                raise ResizeError(f"resize of {instance.uuid}: {name} would shrink from {have // GiB} GiB "
                                  f"to {want_gb} GiB; disks only grow")

    # -- source -----------------------------------------------------------
    def migrate_disk_and_power_off(self, context: Any, instance: Any, dest: str, flavor: Any, network_info: Any,
                                   block_device_info: Any = None, timeout: int = 0, retry_interval: int = 0) -> str:
        uuid = v.check_uuid(instance.uuid)
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        if os.path.exists(self._kept_dir(uuid)):
            raise ResizeError(f"instance {uuid} has a resize in progress ({self._kept_dir(uuid)} exists)")
        self._check_sizes(instance, flavor)
        remote = None if self._this_host(dest) else Remote(self.config.migration_ssh, dest)  # type: ignore[attr-defined]
        if remote is not None:
            remote.run(["true"])  # reachable, before the guest is stopped
        disk_info = self.get_instance_disk_info(instance)  # type: ignore[attr-defined]
        self.power_off(instance, timeout, retry_interval)  # type: ignore[attr-defined]
        kept_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        self.storage.move_aside(uuid, RESIZE)  # type: ignore[attr-defined]
        with open(os.path.join(self._kept_dir(uuid), KEPT_XML), "w") as f:
            f.write(kept_xml)
        if remote is not None:
            try:
                self.storage.send(uuid, RESIZE, remote)  # type: ignore[attr-defined]
            except BaseException:
                LOG.exception("copying %s to %s failed; keeping it here", uuid, dest)
                self.storage.take_back(uuid, RESIZE)  # type: ignore[attr-defined]
                raise
        LOG.info("%s stopped and its disks kept aside for %s to %s", uuid,
                 "a resize" if remote is None else "a migration", dest)
        return disk_info

    def confirm_migration(self, context: Any, migration: Any, instance: Any, network_info: Any) -> None:
        uuid = v.check_uuid(instance.uuid)
        if getattr(migration, "source_compute", None) != getattr(migration, "dest_compute", None):
            # Called on the source: the guest lives on the other host now,
            # its definition and ports here go.
            self._stop_console(uuid)  # type: ignore[attr-defined]
            self.unplug_vifs(instance, network_info)  # type: ignore[attr-defined]
            try:
                self._undefine(self._lookup(instance))  # type: ignore[attr-defined]
            except ComputeError:
                pass
            self._remove_disks(uuid, instance_dir(self.config, uuid))  # type: ignore[attr-defined]
        self.storage.drop_aside(uuid, RESIZE)  # type: ignore[attr-defined]
        LOG.info("resize or migration of %s confirmed; the kept copy is gone", uuid)

    def finish_revert_migration(self, context: Any, instance: Any, network_info: Any, migration: Any = None,
                                block_device_info: Any = None, power_on: bool = True, share_info: Any = None) -> None:
        uuid = v.check_uuid(instance.uuid)
        kept = os.path.join(self._kept_dir(uuid), KEPT_XML)
        if not os.path.exists(kept):
            raise ResizeError(f"revert of {uuid}: no kept copy ({kept})")
        try:
            dom = self._lookup(instance)  # type: ignore[attr-defined]
            if dom.isActive():
                dom.destroy()
        except ComputeError:
            pass
        self._stop_console(uuid)  # type: ignore[attr-defined]
        self.storage.take_back(uuid, RESIZE)  # type: ignore[attr-defined]
        path = os.path.join(instance_dir(self.config, uuid), KEPT_XML)  # type: ignore[attr-defined]
        with open(path) as f:
            dom = self.conn.defineXMLFlags(f.read(), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)  # type: ignore[attr-defined]
        os.unlink(path)
        self._record_vifs(uuid, network_info)  # type: ignore[attr-defined]
        if power_on:
            self.plug_vifs(instance, network_info)  # type: ignore[attr-defined]
            self.connect_block_devices(block_device_info)  # type: ignore[attr-defined]
            dom.create()
            self._started(dom, instance, network_info)  # type: ignore[attr-defined]
        LOG.info("resize or migration of %s reverted", uuid)

    # -- destination ------------------------------------------------------
    def finish_migration(self, context: Any, migration: Any, instance: Any, disk_info: Any, network_info: Any,
                         image_meta: Any, resize_instance: bool, allocations: Any = None,
                         block_device_info: Any = None, power_on: bool = True, share_info: Any = None) -> None:
        uuid = v.check_uuid(instance.uuid)
        network_info = list(network_info or [])
        props = image_props(image_meta)
        memory_mb, vcpus, _top = plan.guest_size(instance, props)
        self._check_host_limits(memory_mb, vcpus)  # type: ignore[attr-defined]
        storage = self.storage  # type: ignore[attr-defined]
        idir = instance_dir(self.config, uuid)  # type: ignore[attr-defined]
        here = os.path.isdir(self._kept_dir(uuid))
        os.makedirs(idir, exist_ok=True)
        volumes = self.connect_block_devices(block_device_info)  # type: ignore[attr-defined]
        disks: list[DiskSpec] = [plan.volume_spec(b, d) for b, d in volumes if b.get("boot_index") == 0]
        for name in (ROOT, EPHEMERAL, SWAP):
            if name == ROOT and disks:
                continue
            path = storage.copy_from_aside(uuid, RESIZE, name) if here and storage.existing(uuid, name, RESIZE) \
                else storage.existing(uuid, name)
            want = {ROOT: int(flavor_value(instance, "root_gb", 0) or 0) * GiB,
                    EPHEMERAL: int(flavor_value(instance, "ephemeral_gb", 0) or 0) * GiB,
                    SWAP: int(flavor_value(instance, "swap", 0) or 0) * 2 ** 20}[name]
            if name == SWAP or (path is None and name == EPHEMERAL):
                # Swap holds nothing worth keeping: made anew at the new size (or dropped).
                if path is not None:
                    storage.delete_disk(uuid, name)
                path = storage.blank_disk(uuid, name, want) if want else None
            elif path is not None and want:
                storage.grow(path, want)
            if path is not None:
                disks.append(DiskSpec(path, type=storage.disk_type))
        if not disks:
            raise ResizeError(f"finish migration of {uuid}: no root disk arrived")
        if here:
            for extra in ("nvram.fd", "console.json"):
                src = os.path.join(self._kept_dir(uuid), extra)
                if os.path.exists(src) and not os.path.exists(os.path.join(idir, extra)):
                    with open(src, "rb") as fin, open(os.path.join(idir, extra), "wb") as fout:
                        fout.write(fin.read())
        disks += [plan.volume_spec(b, d) for b, d in volumes if b.get("boot_index") != 0]
        if getattr(instance, "config_drive", False):
            disks.append(DiskSpec(configdrive.make_config_drive(os.path.join(idir, "disk.config"), instance,
                                                                network_info, self.config.xorriso),  # type: ignore[attr-defined]
                                  device="cdrom"))
        spec = plan.guest_spec(self.config, self._vif_driver(), instance, image_meta,  # type: ignore[attr-defined]
                               network_info, disks)
        dom = self._define(spec, idir)  # type: ignore[attr-defined]
        self._record_vifs(uuid, network_info)  # type: ignore[attr-defined]
        self.plug_vifs(instance, network_info)  # type: ignore[attr-defined]
        if power_on:
            dom.create()
            self._started(dom, instance, network_info)  # type: ignore[attr-defined]
        LOG.info("%s now runs with %d MiB and %d vCPUs", uuid, memory_mb, vcpus)

    # -- shared storage check (Nova asks before destroying a reverted copy) -
    def check_instance_shared_storage_local(self, context: Any, instance: Any) -> dict[str, str] | None:
        idir = instance_dir(self.config, v.check_uuid(instance.uuid))  # type: ignore[attr-defined]
        if not os.path.isdir(idir):
            return None
        fd, path = tempfile.mkstemp(dir=idir, prefix=".shared-check-")
        os.close(fd)
        return {"filename": path}

    def check_instance_shared_storage_remote(self, context: Any, data: dict[str, str]) -> bool:
        return os.path.exists(data["filename"])

    def check_instance_shared_storage_cleanup(self, context: Any, data: dict[str, str]) -> None:
        if os.path.exists(data["filename"]):
            os.unlink(data["filename"])
