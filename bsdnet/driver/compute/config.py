"""Driver configuration: oslo.config options in group [bhyve], read into a
plain dataclass so the driver and its tests need no global CONF."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields

from oslo_config import cfg

from bsdnet.driver.domain import boot

GROUP = "bhyve"


def default_uri() -> str:
    """bhyve on FreeBSD; libvirt's in-process test driver anywhere else."""
    return "bhyve:///system" if sys.platform.startswith("freebsd") else "test:///default"


@dataclass
class DriverConfig:
    connection_uri: str = default_uri()
    instances_path: str = "/var/lib/bsdnet/instances"
    image_cache_path: str = "/var/lib/bsdnet/images"
    uefi_firmware: str = boot.UEFI_FIRMWARE
    uefi_vars_template: str = boot.UEFI_VARS_TEMPLATE
    grub_bhyve: str = boot.GRUB_BHYVE
    vif_driver: str = "vrouter"  # 'vrouter' or 'bridge'
    port_api_url: str = "http://127.0.0.1:9091"
    bridge_uplink: str = ""  # bridge VIF driver: interface VLANs are made on
    vnc_listen: str = "127.0.0.1"
    host_ip: str = "127.0.0.1"
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    reserved_host_disk_mb: int = 0
    reserved_host_cpus: int = 0
    console_log_max_bytes: int = 1 << 20
    qemu_img: str = "qemu-img"
    xorriso: str = "xorriso"


_HELP = {
    "connection_uri": "libvirt URI: bhyve:///system on FreeBSD, test:///default for the sandbox and tests",
    "instances_path": "directory holding one directory per instance (disk, config drive, console log)",
    "image_cache_path": "raw images converted from Glance, one per image id",
    "uefi_firmware": "bhyve UEFI firmware (sysutils/edk2, BHYVE_UEFI.fd)",
    "uefi_vars_template": "UEFI variable store copied per guest for its NVRAM",
    "grub_bhyve": "grub-bhyve binary (sysutils/grub2-bhyve) for Linux guests without UEFI",
    "vif_driver": "how VIFs are plugged: 'vrouter' (bsdnet overlay) or 'bridge'",
    "port_api_url": "the bsdnet agent's port API (vrouter VIF driver)",
    "bridge_uplink": "physical interface VLAN networks are tagged on (bridge VIF driver)",
    "vnc_listen": "address bhyve's VNC framebuffer listens on",
    "host_ip": "this node's address, as get_host_ip_addr reports it",
    "cpu_allocation_ratio": "vCPU overcommit in the placement inventory",
    "ram_allocation_ratio": "memory overcommit in the placement inventory",
    "disk_allocation_ratio": "disk overcommit in the placement inventory",
    "reserved_host_memory_mb": "memory kept back for the host",
    "reserved_host_disk_mb": "disk kept back for the host",
    "reserved_host_cpus": "host CPUs kept back",
    "console_log_max_bytes": "console log size kept per instance (older output is dropped)",
    "qemu_img": "qemu-img binary used to convert images to raw",
    "xorriso": "xorriso binary used to build config drives",
}


def _opt(name: str, default: object) -> cfg.Opt:
    kind = {bool: cfg.BoolOpt, int: cfg.IntOpt, float: cfg.FloatOpt}.get(type(default), cfg.StrOpt)
    return kind(name, default=default, help=_HELP[name])


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """For oslo-config-generator."""
    base = DriverConfig()
    return [(GROUP, [_opt(f.name, getattr(base, f.name)) for f in fields(DriverConfig)])]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(list_opts()[0][1], group=GROUP)


def from_conf(conf: cfg.ConfigOpts) -> DriverConfig:
    register_opts(conf)
    group = getattr(conf, GROUP)
    return DriverConfig(**{f.name: getattr(group, f.name) for f in fields(DriverConfig)})


def instance_dir(config: DriverConfig, uuid: str) -> str:
    return os.path.join(config.instances_path, uuid)
