"""Spawn planning: from a Nova instance, image and ports to the files on
disk and the GuestSpec the domain is built from.  No libvirt here."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from bsdnet.driver.compute import configdrive, partitions
from bsdnet.driver.compute.config import DriverConfig, instance_dir
from bsdnet.driver.compute.errors import GuestConfigError, SpawnError
from bsdnet.driver.compute.guest import DiskSpec, GuestSpec, choose_guest, nmdm_pair
from bsdnet.driver.compute.instance import domain_name, extra_specs, flavor_value, image_field, image_props
from bsdnet.driver.compute.storage import EPHEMERAL, SWAP, GiB, Storage
from bsdnet.driver.domain import NovaMetadata, NovaPort, grub_device_map
from bsdnet.driver.domain import validate as v
from bsdnet.driver.vif.base import VifDriver

LOG = logging.getLogger(__name__)

def volume_spec(bdm: dict[str, Any], disk: Any) -> DiskSpec:
    """A connected Cinder volume as one of the guest's disks; ``boot`` when
    Nova boots from it (boot index 0)."""
    return DiskSpec(disk.source, type="block", bus=disk.target_bus, serial=disk.serial,
                    boot=bdm.get("boot_index") == 0)


def _count(value: Any, what: str) -> int:
    """A positive integer from a flavor or image value (strings in extra specs)."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise GuestConfigError(f"{what} is {value!r}: it must be a whole number of at least 1")
    return int(text)


def topology(instance: Any, props: dict[str, Any], vcpus: int) -> tuple[int, int, int] | None:
    """(sockets, cores, threads) from flavor extra specs or image properties.

    A missing count is filled from the others (sockets 1 when only threads
    are given); the product must be the flavor's vCPUs."""
    specs = extra_specs(instance)
    given = {}
    for k in ("sockets", "cores", "threads"):
        for what, raw in ((f"hw:cpu_{k}", specs.get(f"hw:cpu_{k}")), (f"hw_cpu_{k}", props.get(f"hw_cpu_{k}"))):
            if raw not in (None, ""):
                given[k] = _count(raw, what)
                break
    if not given:
        return None
    threads = given.get("threads", 1)
    if "sockets" in given and "cores" in given:
        sockets, cores = given["sockets"], given["cores"]
    elif "cores" in given:
        cores = given["cores"]
        sockets = max(1, vcpus // (cores * threads))
    else:
        sockets = given.get("sockets", 1)
        cores = max(1, vcpus // (sockets * threads))
    if sockets * cores * threads != vcpus:
        raise GuestConfigError(f"CPU topology {sockets} sockets x {cores} cores x {threads} threads is "
                               f"{sockets * cores * threads} vCPUs; the flavor has {vcpus}")
    return sockets, cores, threads


def guest_size(instance: Any, props: dict[str, Any]) -> tuple[int, int, tuple[int, int, int] | None]:
    """(memory MiB, vCPUs, topology) of the flavor, checked (GuestConfigError)."""
    memory_mb = _count(flavor_value(instance, "memory_mb"), "flavor memory_mb")
    vcpus = _count(flavor_value(instance, "vcpus", 1), "flavor vcpus")
    return memory_mb, vcpus, topology(instance, props, vcpus)


def nova_metadata(instance: Any, network_info: Sequence[Any], root_volume: str | None = None) -> NovaMetadata:
    """Nova's <nova:instance> metadata for the domain."""
    ports = []
    for vif in network_info or []:
        ips = [("fixed", ip["address"], 6 if ":" in ip["address"] else 4)
               for subnet in (vif.get("network") or {}).get("subnets") or []
               for ip in subnet.get("ips") or []]
        ports.append(NovaPort(str(vif["id"]), ips))
    return NovaMetadata(
        name=getattr(instance, "display_name", None) or instance.name,
        package="bsdnet", creation_time=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        flavor_name=getattr(getattr(instance, "flavor", None), "name", None) or "custom",
        memory_mb=flavor_value(instance, "memory_mb"), disk_gb=flavor_value(instance, "root_gb", 0),
        swap_mb=flavor_value(instance, "swap", 0) or 0, ephemeral_gb=flavor_value(instance, "ephemeral_gb", 0),
        vcpus=flavor_value(instance, "vcpus"),
        user_uuid=getattr(instance, "user_id", None), user_name="",
        project_uuid=getattr(instance, "project_id", None), project_name="",
        root_type="volume" if root_volume else "image",
        root_uuid=root_volume or getattr(instance, "image_ref", None) or "", ports=ports)


def guest_spec(config: DriverConfig, vif_driver: VifDriver, instance: Any, image_meta: Any,
               network_info: Sequence[Any], disks: list[DiskSpec]) -> GuestSpec:
    """Everything build_domain needs, from the instance, image and ports."""
    props = image_props(image_meta)
    memory_mb, vcpus, top = guest_size(instance, props)
    specs = extra_specs(instance)
    nics = [vif_driver.interface(instance, vif) for vif in network_info or []]
    uuid = v.check_uuid(instance.uuid)
    idir = instance_dir(config, uuid)
    return GuestSpec(
        name=domain_name(instance), title=instance.name, uuid=uuid, memory_mb=memory_mb,
        vcpus=vcpus, image_props=props, disks=disks, nics=nics, console=nmdm_pair(uuid)[0],
        vnc=config.vnc_enabled, nvram_path=os.path.join(idir, "nvram.fd"), topology=top,
        wired=str(specs.get("bhyve:wired_memory", "")).lower() in ("1", "true", "yes"),
        metadata=nova_metadata(instance, network_info, disks[0].serial if disks and disks[0].boot else None),
        uefi_firmware=config.uefi_firmware, uefi_vars_template=config.uefi_vars_template,
        grub_bhyve=config.grub_bhyve, vnc_listen=config.vnc_listen, **grub_boot(props, disks, idir))


def grub_boot(props: dict[str, Any], disks: list[DiskSpec], idir: str) -> dict[str, Any]:
    """For a grub-bhyve guest: the root disk's boot partition and a
    device.map (in ``idir``) naming that disk hd0.  Empty otherwise."""
    if choose_guest(props).boot != "grub" or not disks or disks[0].device != "disk":
        return {}
    root = partitions.grub_root(disks[0].path)
    if root is None:
        LOG.warning("no partition table recognised on %s: grub-bhyve gets libvirt's default --root hd0,msdos1",
                    disks[0].path)
        return {}
    device_map = os.path.join(idir, "device.map")
    with open(device_map, "w") as f:
        f.write(grub_device_map([("disk", disks[0].path)]))
    return {"grub_root": root, "grub_device_map": device_map}


def prepare_disks(config: DriverConfig, storage: Storage, context: Any, instance: Any,
                  image_meta: Any, network_info: Sequence[Any], idir: str, injected_files: Any = None,
                  admin_password: Any = None, volumes: Sequence[DiskSpec] = ()) -> list[DiskSpec]:
    """Root disk (the boot volume, else from the image), ephemeral and swap
    disks (in the image backend), the other volumes, config drive (a file
    in ``idir``): in that order, as Nova numbers their device names."""
    disks = [d for d in volumes if d.boot][:1]
    uuid = v.check_uuid(instance.uuid)
    if not disks:
        image_id = image_field(image_meta, "id") or getattr(instance, "image_ref", None)
        if not image_id:
            raise SpawnError("nothing to boot from: no image and no volume with boot index 0")
        root = storage.root_disk(uuid, str(image_id), image_field(image_meta, "disk_format"),
                                 int(flavor_value(instance, "root_gb", 0) or 0), context)
        disks.append(DiskSpec(root, type=storage.disk_type))
    eph = int(flavor_value(instance, "ephemeral_gb", 0) or 0)
    if eph:
        disks.append(DiskSpec(storage.blank_disk(uuid, EPHEMERAL, eph * GiB), type=storage.disk_type))
    swap_mb = int(flavor_value(instance, "swap", 0) or 0)
    if swap_mb:
        disks.append(DiskSpec(storage.blank_disk(uuid, SWAP, swap_mb * 2 ** 20), type=storage.disk_type))
    disks += [d for d in volumes if d not in disks]
    if getattr(instance, "config_drive", False):
        extra = {"admin_pass": admin_password} if admin_password else {}
        iso = configdrive.make_config_drive(os.path.join(idir, "disk.config"), instance,
                                            network_info or [], config.xorriso, extra,
                                            files=list(injected_files or []))
        disks.append(DiskSpec(iso, device="cdrom"))
    return disks
