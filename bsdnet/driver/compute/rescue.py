"""Rescue: boot a rescue image with the instance's own root disk attached
second, so a broken guest can be repaired; unrescue puts it back.

A mixin of BhyveDriver.  The guest's definition is kept in the instance
directory (unrescue.xml) while it is rescued; the rescue disk is made by
the image backend from the rescue image (Nova's image, else the
instance's own), and a config drive carrying the rescue password when the
instance has one.  Unrescue stops the rescue guest, defines the kept
definition again, removes the rescue disk and starts the guest.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import libvirt

from bsdnet.common.files import write_atomic
from bsdnet.driver.compute import configdrive, plan
from bsdnet.driver.compute.config import instance_dir
from bsdnet.driver.compute.errors import ComputeError
from bsdnet.driver.compute.guest import DiskSpec
from bsdnet.driver.compute.instance import image_field
from bsdnet.driver.compute.storage import RESCUE
from bsdnet.driver.domain import validate as v

LOG = logging.getLogger(__name__)
UNRESCUE = "unrescue.xml"


class RescueMixin:
    def _unrescue_file(self, uuid: str) -> str:
        return os.path.join(instance_dir(self.config, v.check_uuid(uuid)), UNRESCUE)  # type: ignore[attr-defined]

    def rescue(self, context: Any, instance: Any, network_info: Any, image_meta: Any, rescue_password: Any,
               block_device_info: Any = None, share_info: Any = None) -> None:
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        uuid = v.check_uuid(instance.uuid)
        kept = self._unrescue_file(uuid)
        if os.path.exists(kept):
            raise ComputeError(f"instance {uuid} is rescued already; unrescue it first")
        idir = instance_dir(self.config, uuid)  # type: ignore[attr-defined]
        original = self._model(dom, inactive=True)  # type: ignore[attr-defined]
        root = next((d for d in original.disks if not d.is_cdrom), None)
        if root is None:
            raise ComputeError(f"instance {uuid} has no disk to rescue")
        image_id = image_field(image_meta, "id") or getattr(instance, "image_ref", None)
        if not image_id:
            raise ComputeError(f"rescue of {uuid}: no rescue image and the instance has no image")
        write_atomic(kept, dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), mode=0o644)
        if dom.isActive():
            dom.destroy()
        self._stop_console(uuid)  # type: ignore[attr-defined]
        storage = self.storage  # type: ignore[attr-defined]
        try:
            disks = [DiskSpec(storage.root_disk(uuid, str(image_id), image_field(image_meta, "disk_format"), 0,
                                                context, name=RESCUE), type=storage.disk_type),
                     DiskSpec(root.source, type=root.type)]
            if getattr(instance, "config_drive", False):
                extra = {"admin_pass": rescue_password} if rescue_password else {}
                disks.append(DiskSpec(configdrive.make_config_drive(
                    os.path.join(idir, "disk.config.rescue"), instance, network_info or [],
                    self.config.xorriso, extra), device="cdrom"))  # type: ignore[attr-defined]
            spec = plan.guest_spec(self.config, self._vif_driver(), instance, image_meta,  # type: ignore[attr-defined]
                                   network_info or [], disks)
            dom = self._define(spec, idir)  # type: ignore[attr-defined]
            self.plug_vifs(instance, network_info)  # type: ignore[attr-defined]
            dom.create()
            self._started(dom, instance, network_info)  # type: ignore[attr-defined]
        except BaseException:
            LOG.exception("rescue of %s failed; putting the instance back", uuid)
            self._put_back(instance, start=False)
            raise
        LOG.info("rescued %s: booted image %s with its root disk second", uuid, image_id)

    def _put_back(self, instance: Any, start: bool) -> None:
        uuid = v.check_uuid(instance.uuid)
        kept = self._unrescue_file(uuid)
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        if dom.isActive():
            dom.destroy()
        self._stop_console(uuid)  # type: ignore[attr-defined]
        with open(kept) as f:
            dom = self.conn.defineXMLFlags(f.read(), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)  # type: ignore[attr-defined]
        self.storage.delete_disk(uuid, RESCUE)  # type: ignore[attr-defined]
        for name in (kept, os.path.join(os.path.dirname(kept), "disk.config.rescue")):
            if os.path.exists(name):
                os.unlink(name)
        if start:
            vifs = self.recorded_network_info(instance)  # type: ignore[attr-defined]
            self.plug_vifs(instance, vifs)  # type: ignore[attr-defined]
            dom.create()
            self._started(dom, instance, vifs)  # type: ignore[attr-defined]

    def unrescue(self, context: Any, instance: Any) -> None:
        if not os.path.exists(self._unrescue_file(instance.uuid)):
            LOG.info("unrescue: %s is not rescued; nothing to do", instance.uuid)
            return
        self._put_back(instance, start=True)
        LOG.info("unrescued %s", instance.uuid)
