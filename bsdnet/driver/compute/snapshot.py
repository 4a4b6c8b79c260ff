"""Snapshots: the root disk uploaded as a new image.

A mixin of BhyveDriver.  The root disk is read at one instant:

  * ZFS backend: a ZFS snapshot of the volume, running guest or not (crash
    consistent, no pause);
  * files: a stopped or paused guest's file as it is; a running one is
    paused for the copy (libvirt's pause) and resumed after, and where the
    connection cannot pause (libvirt's bhyve driver) the snapshot is
    refused with the way out (stop the guest, or use images_type=zfs).

The copy is converted (qemu-img, to ``snapshot_image_format``) into a
temporary file and handed to the uploader: Nova's image API under Nova.
``update_task_state`` reports progress as Nova's task states.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import libvirt

from bsdnet.driver.compute import images
from bsdnet.driver.compute.errors import ComputeError, InstanceNotFound, InstanceNotRunning

LOG = logging.getLogger(__name__)
# Nova's task states (nova.compute.task_states), the progress steps of a snapshot.
IMAGE_PENDING_UPLOAD = "image_pending_upload"
IMAGE_UPLOADING = "image_uploading"
# upload(context, instance, image_id, path, disk_format): stores the file as the image's data.
Uploader = Callable[[Any, Any, str, str, str], None]


class SnapshotMixin:
    uploader: Uploader | None = None

    def _root_disk(self, instance: Any) -> Any:
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        for d in self._model(dom, inactive=True).disks:  # type: ignore[attr-defined]
            if not d.is_cdrom and not d.serial:
                return dom, d
        raise ComputeError(f"instance {instance.uuid} has no local root disk (volume-backed: snapshot the volume)")

    @contextlib.contextmanager
    def _frozen_root(self, instance: Any) -> Iterator[str]:
        """The root disk's path, unchanging while the block runs."""
        dom, disk = self._root_disk(instance)
        storage = self.storage  # type: ignore[attr-defined]
        running = dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        if not running or storage.can_copy_live():
            with storage.consistent_copy(instance.uuid, disk.source, live=running) as path:
                yield path
            return
        try:
            dom.suspend()
        except libvirt.libvirtError as exc:
            raise ComputeError(f"snapshot of running instance {instance.uuid}: it cannot be paused here "
                               f"({exc.get_error_message()}); stop it first, or use images_type = zfs, "
                               "whose snapshots need no pause") from exc
        try:
            with storage.consistent_copy(instance.uuid, disk.source, live=False) as path:
                yield path
        finally:
            dom.resume()

    def snapshot(self, context: Any, instance: Any, image_id: str, update_task_state: Callable[..., None]) -> None:
        if self.uploader is None:
            raise ComputeError("no image service to upload snapshots to (BhyveDriver.uploader)")
        try:
            self._lookup(instance)  # type: ignore[attr-defined]
        except InstanceNotFound as exc:
            raise InstanceNotRunning(instance.uuid, "snapshot it (it has no domain)") from exc
        fmt = self.config.snapshot_image_format  # type: ignore[attr-defined]
        update_task_state(task_state=IMAGE_PENDING_UPLOAD)
        with tempfile.TemporaryDirectory(dir=self.config.instances_path, prefix=".snapshot-") as tmp:  # type: ignore[attr-defined]
            out = os.path.join(tmp, "image")
            with self._frozen_root(instance) as source:
                images.qemu_convert(source, out, "raw", fmt, self.config.qemu_img)  # type: ignore[attr-defined]
            update_task_state(task_state=IMAGE_UPLOADING, expected_state=IMAGE_PENDING_UPLOAD)
            self.uploader(context, instance, image_id, out, fmt)
        LOG.info("snapshot of %s uploaded as image %s (%s)", instance.uuid, image_id, fmt)
