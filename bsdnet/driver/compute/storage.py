"""Where an instance's local disks live: the image backend.

``[bhyve] images_type`` chooses:

  files  raw files in the instance directory: the root disk a copy of the
         cached raw image (grown to the flavor's size), ephemeral and swap
         sparse files.  Snapshots of a running guest pause it while the
         disk is read.
  zfs    ZFS volumes under ``[bhyve] zfs_dataset`` (say zroot/bsdnet):
           DATASET/images/<image>        the Glance image, written once,
           DATASET/images/<image>@base   ...and snapshotted
           DATASET/instances/<uuid>/disk a clone of that snapshot (no copy),
                                         its volsize grown to the flavor's
           DATASET/instances/<uuid>/eph0, /swap  sparse volumes
         all with volmode=dev (no GEOM tasting of guests' partitions); the
         guest sees /dev/zvol/<name>.  Destroy removes the instance's
         dataset; an image's volume stays until the image cache prunes it
         (zfs refuses to remove it while a clone needs its snapshot).
         A snapshot of a running guest is a ZFS snapshot: no pause.

Both answer the same calls; the driver never looks at which it has.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

from bsdnet.driver.compute.config import DriverConfig, instance_dir
from bsdnet.driver.compute.errors import ComputeError
from bsdnet.driver.compute.images import ImageCache, sparse_copy
from bsdnet.driver.compute.zfs import ZVOL_DIR, Zfs, ZfsError, check_dataset

LOG = logging.getLogger(__name__)
GiB = 1024 ** 3
# Disk names: the file in the instance directory, or the volume in the instance's dataset.
ROOT, EPHEMERAL, SWAP, RESCUE = "disk", "disk.eph0", "disk.swap", "disk.rescue"


class Storage:
    """The interface; see the module docstring for what each backend does."""

    kind = ""
    disk_type = "file"  # the domain's <disk type=...>

    def root_disk(self, uuid: str, image_id: str, disk_format: str | None, size_gb: int, context: Any,
                  name: str = ROOT) -> str:
        raise NotImplementedError

    def blank_disk(self, uuid: str, name: str, size: int) -> str:
        raise NotImplementedError

    def delete_disk(self, uuid: str, name: str) -> None:
        raise NotImplementedError

    def destroy(self, uuid: str) -> None:
        """Every local disk of the instance (absent is fine)."""
        raise NotImplementedError

    def sizes(self, path: str) -> tuple[int, int]:
        """(virtual, allocated) bytes of a disk."""
        raise NotImplementedError

    def grow(self, path: str, size: int) -> None:
        """Grow a disk to ``size`` bytes (never shrinks)."""
        raise NotImplementedError

    def consistent_copy(self, uuid: str, path: str, live: bool) -> contextlib.AbstractContextManager[str]:
        """A path holding the disk's bytes as of now, readable while the guest
        runs when ``live`` (False: the caller has paused or stopped it)."""
        raise NotImplementedError

    def can_copy_live(self) -> bool:
        return False

    def move_aside(self, uuid: str, suffix: str) -> None:
        """Keep the instance's disks under a second name (resize, rescue)."""
        raise NotImplementedError

    def take_back(self, uuid: str, suffix: str) -> None:
        """Undo move_aside: the disks under the second name become the instance's again."""
        raise NotImplementedError

    def drop_aside(self, uuid: str, suffix: str) -> None:
        """Remove the disks move_aside kept."""
        raise NotImplementedError

    def copy_from_aside(self, uuid: str, suffix: str, name: str) -> str:
        """The instance's disk ``name`` as a new disk from the kept one."""
        raise NotImplementedError

    def existing(self, uuid: str, name: str, suffix: str = "") -> str | None:
        """The path of disk ``name`` when the instance (or its kept copy) has it."""
        raise NotImplementedError

    def send(self, uuid: str, suffix: str, remote: Any) -> None:
        """Copy the kept disks (and the instance directory's files) to the
        same places on another host, through ``remote`` (migrate.Remote)."""
        raise NotImplementedError

    def prune_images(self, in_use: set[str], max_age: float) -> list[str]:
        """Remove cached images no instance uses, unused for ``max_age`` seconds."""
        raise NotImplementedError

    def capacity(self) -> tuple[int, int] | None:
        """(total, free) bytes where disks go, or None: the instances path's file system."""
        return None


class FileStorage(Storage):
    kind = "files"

    def __init__(self, config: DriverConfig, cache: ImageCache) -> None:
        self.config = config
        self.cache = cache

    def _path(self, uuid: str, name: str, suffix: str = "") -> str:
        return os.path.join(instance_dir(self.config, uuid) + suffix, name)

    def root_disk(self, uuid: str, image_id: str, disk_format: str | None, size_gb: int, context: Any,
                  name: str = ROOT) -> str:
        return self.cache.create_root_disk(image_id, self._path(uuid, name), size_gb, disk_format, context)

    def blank_disk(self, uuid: str, name: str, size: int) -> str:
        path = self._path(uuid, name)
        with open(path, "wb") as f:
            f.truncate(size)
        return path

    def delete_disk(self, uuid: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(uuid, name))

    def destroy(self, uuid: str) -> None:
        """The disks are in the instance directory, which goes with the instance."""

    def sizes(self, path: str) -> tuple[int, int]:
        st = os.stat(path)
        return st.st_size, st.st_blocks * 512

    def grow(self, path: str, size: int) -> None:
        if os.path.getsize(path) < size:
            os.truncate(path, size)  # sparse: raw files grow without writing zeros

    @contextlib.contextmanager
    def consistent_copy(self, uuid: str, path: str, live: bool) -> Iterator[str]:
        if live:
            raise ComputeError("files cannot be copied consistently while the guest writes them")
        yield path

    def move_aside(self, uuid: str, suffix: str) -> None:
        """The whole instance directory (disks, NVRAM, config drive) moves."""
        os.rename(instance_dir(self.config, uuid), instance_dir(self.config, uuid) + suffix)
        os.makedirs(instance_dir(self.config, uuid))

    def take_back(self, uuid: str, suffix: str) -> None:
        shutil.rmtree(instance_dir(self.config, uuid), ignore_errors=True)
        os.rename(instance_dir(self.config, uuid) + suffix, instance_dir(self.config, uuid))

    def drop_aside(self, uuid: str, suffix: str) -> None:
        shutil.rmtree(instance_dir(self.config, uuid) + suffix, ignore_errors=True)

    def copy_from_aside(self, uuid: str, suffix: str, name: str) -> str:
        src, dst = self._path(uuid, name, suffix), self._path(uuid, name)
        sparse_copy(src, dst)
        return dst

    def existing(self, uuid: str, name: str, suffix: str = "") -> str | None:
        path = self._path(uuid, name, suffix)
        return path if os.path.exists(path) else None

    def send(self, uuid: str, suffix: str, remote: Any) -> None:
        aside = instance_dir(self.config, uuid) + suffix
        remote.run(["mkdir", "-p", instance_dir(self.config, uuid)])
        for entry in sorted(os.scandir(aside), key=lambda e: e.name):
            if entry.is_file():
                remote.write_file(entry.path, self._path(uuid, entry.name))

    def prune_images(self, in_use: set[str], max_age: float) -> list[str]:
        return self.cache.prune({self.cache.cached_path(i) for i in in_use}, max_age)


class ZfsStorage(Storage):
    kind = "zfs"
    disk_type = "block"
    PROPS = {"volmode": "dev"}
    BASE = "base"
    MOVED = "moved"  # the snapshot a resized instance's new disks are cloned from
    LAST_USED = "bsdnet:last_used"  # user property: seconds since the epoch, updated at each clone

    def __init__(self, config: DriverConfig, cache: ImageCache, zfs: Zfs | None = None,
                 dev_dir: str = ZVOL_DIR) -> None:
        self.config = config
        self.cache = cache
        self.zfs = zfs or Zfs(config.zfs, config.zpool)
        self.dataset = check_dataset(config.zfs_dataset)
        self.dev_dir = dev_dir
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- names ------------------------------------------------------------
    def image_volume(self, image_id: str) -> str:
        # Hashed: a Glance id must not steer the dataset name.
        return f"{self.dataset}/images/{hashlib.sha256(image_id.encode()).hexdigest()[:40]}"

    def instance_dataset(self, uuid: str, suffix: str = "") -> str:
        return check_dataset(f"{self.dataset}/instances/{uuid}{suffix.replace('_', '-')}")

    def volume(self, uuid: str, name: str, suffix: str = "") -> str:
        return f"{self.instance_dataset(uuid, suffix)}/{name.replace('disk.', '').replace('.', '-')}"

    def device(self, volume: str) -> str:
        return os.path.join(self.dev_dir, volume)

    def volume_of(self, path: str) -> str:
        if not path.startswith(self.dev_dir + "/"):
            raise ComputeError(f"{path} is not a volume of {self.dev_dir}")
        return check_dataset(path[len(self.dev_dir) + 1:])

    # -- set up -----------------------------------------------------------
    def ensure_layout(self) -> None:
        pool = self.dataset.split("/")[0]
        health = self.zfs.pool_health(pool)
        if health != "ONLINE":
            LOG.warning("ZFS pool %s is %s", pool, health)
        for ds in (self.dataset, f"{self.dataset}/images", f"{self.dataset}/instances"):
            if not self.zfs.exists(ds):
                self.zfs.create_filesystem(ds, {"mountpoint": "none"}, parents=True)

    def _image_lock(self, vol: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(vol, threading.Lock())

    def image_snapshot(self, image_id: str, disk_format: str | None, context: Any) -> str:
        """The image's @base snapshot, made on first use: fetched and
        converted to raw (through the file cache), written into a volume of
        its size, snapshotted; the raw file is then dropped."""
        vol = self.image_volume(image_id)
        snap = f"{vol}@{self.BASE}"
        with self._image_lock(vol):
            if self.zfs.exists(snap):
                return snap
            if self.zfs.exists(vol):
                # A write that did not finish (no snapshot yet): start again.
                self.zfs.destroy(vol, recursive=True)
            raw = self.cache.get_raw(image_id, disk_format, context)
            try:
                self.zfs.create_volume(vol, os.path.getsize(raw), sparse=True, props=self.PROPS)
                sparse_copy(raw, self.device(vol))
                self.zfs.snapshot(snap)
            except BaseException:
                with contextlib.suppress(ZfsError):
                    self.zfs.destroy(vol, recursive=True)
                raise
            finally:
                os.unlink(raw)
            LOG.info("image %s is now %s", image_id, snap)
        return snap

    def _instance_parent(self, uuid: str) -> str:
        parent = self.instance_dataset(uuid)
        if not self.zfs.exists(parent):
            self.zfs.create_filesystem(parent, {"mountpoint": "none"})
        return parent

    # -- disks ------------------------------------------------------------
    def root_disk(self, uuid: str, image_id: str, disk_format: str | None, size_gb: int, context: Any,
                  name: str = ROOT) -> str:
        snap = self.image_snapshot(image_id, disk_format, context)
        self._instance_parent(uuid)
        vol = self.volume(uuid, name)
        self.zfs.clone(snap, vol, self.PROPS)
        self.zfs.set(snap.split("@")[0], self.LAST_USED, str(int(time.time())))
        if size_gb:
            self.grow(self.device(vol), size_gb * GiB)
        return self.device(vol)

    def blank_disk(self, uuid: str, name: str, size: int) -> str:
        self._instance_parent(uuid)
        vol = self.volume(uuid, name)
        self.zfs.create_volume(vol, size, sparse=True, props=self.PROPS)
        return self.device(vol)

    def delete_disk(self, uuid: str, name: str) -> None:
        vol = self.volume(uuid, name)
        if self.zfs.exists(vol):
            self.zfs.destroy(vol, recursive=True)

    def destroy(self, uuid: str) -> None:
        """The instance's dataset; a copy kept for a resize goes with drop_aside."""
        ds = self.instance_dataset(uuid)
        if self.zfs.exists(ds):
            self.zfs.destroy(ds, recursive=True)

    def _drop_snapshots(self, dataset: str, tag: str) -> None:
        for vol in self.zfs.children(dataset):
            if self.zfs.exists(f"{vol}@{tag}"):
                self.zfs.destroy(f"{vol}@{tag}")

    def sizes(self, path: str) -> tuple[int, int]:
        p = self.zfs.get(self.volume_of(path), "volsize", "used")
        return int(p["volsize"]), int(p["used"])

    def grow(self, path: str, size: int) -> None:
        vol = self.volume_of(path)
        text = self.zfs.get(vol, "volblocksize").get("volblocksize", "")
        block = int(text) if text.isdigit() else 16384
        size = -(-size // block) * block  # volsize must be a multiple of volblocksize
        if int(self.zfs.get(vol, "volsize")["volsize"]) < size:
            self.zfs.set(vol, "volsize", str(size))

    def can_copy_live(self) -> bool:
        return True

    @contextlib.contextmanager
    def consistent_copy(self, uuid: str, path: str, live: bool) -> Iterator[str]:
        """A ZFS snapshot (crash consistent, taken in an instant) cloned
        to a readable volume; both go afterwards."""
        vol = self.volume_of(path)
        tag = f"copy-{int(time.time() * 1000)}"
        snap, clone = f"{vol}@{tag}", f"{vol}-{tag}"
        self.zfs.snapshot(snap)
        try:
            self.zfs.clone(snap, clone, self.PROPS)
            try:
                yield self.device(clone)
            finally:
                self.zfs.destroy(clone)
        finally:
            self.zfs.destroy(snap)

    def move_aside(self, uuid: str, suffix: str) -> None:
        os.rename(instance_dir(self.config, uuid), instance_dir(self.config, uuid) + suffix)
        os.makedirs(instance_dir(self.config, uuid))
        self.zfs.rename(self.instance_dataset(uuid), self.instance_dataset(uuid, suffix))

    def take_back(self, uuid: str, suffix: str) -> None:
        if self.zfs.exists(self.instance_dataset(uuid)):
            self.zfs.destroy(self.instance_dataset(uuid), recursive=True)
        self.zfs.rename(self.instance_dataset(uuid, suffix), self.instance_dataset(uuid))
        self._drop_snapshots(self.instance_dataset(uuid), self.MOVED)
        shutil.rmtree(instance_dir(self.config, uuid), ignore_errors=True)
        os.rename(instance_dir(self.config, uuid) + suffix, instance_dir(self.config, uuid))

    def drop_aside(self, uuid: str, suffix: str) -> None:
        aside, main = self.instance_dataset(uuid, suffix), self.instance_dataset(uuid)
        here = self.zfs.exists(main)  # not after a migration to another host
        if self.zfs.exists(aside):
            # The new disks are clones of the kept ones' snapshots: promote
            # them, so the kept volumes have no dependants and can go.
            for vol in self.zfs.children(main) if here else []:
                if self.zfs.get(vol, "origin").get("origin", "-").startswith(aside + "/"):
                    self.zfs.promote(vol)
            self.zfs.destroy(aside, recursive=True)
            if here:
                self._drop_snapshots(main, self.MOVED)
        shutil.rmtree(instance_dir(self.config, uuid) + suffix, ignore_errors=True)

    def existing(self, uuid: str, name: str, suffix: str = "") -> str | None:
        vol = self.volume(uuid, name, suffix)
        return self.device(vol) if self.zfs.exists(vol) else None

    def send(self, uuid: str, suffix: str, remote: Any) -> None:
        """Each kept volume as a full stream (zfs send | ssh zfs recv): the
        other host gets whole volumes, no clones of images it may lack."""
        aside = self.instance_dataset(uuid, suffix)
        target = self.instance_dataset(uuid)
        remote.run([self.config.zfs, "create", "-p", "-o", "mountpoint=none", target])
        for vol in self.zfs.children(aside):
            snap = f"{vol}@{self.MOVED}"
            if not self.zfs.exists(snap):
                self.zfs.snapshot(snap)
            dest = target + vol[len(aside):]
            remote.pipe([self.config.zfs, "send", snap], [self.config.zfs, "recv", "-o", "volmode=dev", dest])
        remote.run(["mkdir", "-p", instance_dir(self.config, uuid)])
        folder = instance_dir(self.config, uuid) + suffix
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file():
                remote.write_file(entry.path, os.path.join(instance_dir(self.config, uuid), entry.name))

    def copy_from_aside(self, uuid: str, suffix: str, name: str) -> str:
        src = self.volume(uuid, name, suffix)
        snap = f"{src}@{self.MOVED}"
        if not self.zfs.exists(snap):
            self.zfs.snapshot(snap)
        self._instance_parent(uuid)
        vol = self.volume(uuid, name)
        self.zfs.clone(snap, vol, self.PROPS)
        return self.device(vol)

    def prune_images(self, in_use: set[str], max_age: float) -> list[str]:
        removed = []
        now = time.time()
        for vol in self.zfs.children(f"{self.dataset}/images"):
            p = self.zfs.get(f"{vol}@{self.BASE}", "clones") if self.zfs.exists(f"{vol}@{self.BASE}") else {}
            clones = [c for c in p.get("clones", "-").split(",") if c not in ("", "-")]
            if clones or vol in {self.image_volume(i) for i in in_use}:
                continue
            last = self.zfs.get(vol, self.LAST_USED).get(self.LAST_USED, "-")
            if last.isdigit() and now - int(last) < max_age:
                continue
            self.zfs.destroy(vol, recursive=True)
            removed.append(vol)
            LOG.info("image cache: removed %s (unused)", vol)
        return removed

    def capacity(self) -> tuple[int, int] | None:
        p = self.zfs.get(self.dataset, "used", "available")
        used, free = int(p["used"]), int(p["available"])
        return used + free, free


def make_storage(config: DriverConfig, cache: ImageCache) -> Storage:
    if config.images_type == "files":
        return FileStorage(config, cache)
    if config.images_type == "zfs":
        return ZfsStorage(config, cache)
    raise ComputeError(f"[bhyve] images_type {config.images_type!r}: 'files' or 'zfs'")
