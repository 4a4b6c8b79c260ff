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
    images_type: str = "files"
    zfs_dataset: str = "zroot/bsdnet"
    zfs: str = "zfs"
    zpool: str = "zpool"
    remove_unused_base_images: bool = True
    remove_unused_original_minimum_age_seconds: int = 86400
    uefi_firmware: str = boot.UEFI_FIRMWARE
    uefi_vars_template: str = boot.UEFI_VARS_TEMPLATE
    grub_bhyve: str = boot.GRUB_BHYVE
    vif_driver: str = "vrouter"  # 'vrouter' or 'bridge'
    port_api_url: str = "unix:///var/run/bsdnet/port-api.sock"
    bridge_uplink: str = ""  # bridge VIF driver: interface VLANs are made on
    bridge_dhcp: bool = True
    bridge_ports_to_agent: bool = False
    vnc_listen: str = "127.0.0.1"
    vnc_enabled: bool = True
    vnc_port_range: str = "5900:6923"
    serial_tcp: bool = False
    serial_listen: str = "127.0.0.1"
    serial_port_range: str = "10000:20000"
    host_ip: str = "127.0.0.1"
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    reserved_host_disk_mb: int = 0
    reserved_host_cpus: int = 0
    console_log_max_bytes: int = 1 << 20
    soft_reboot_timeout: int = 120
    snapshot_image_format: str = "qcow2"
    qemu_img: str = "qemu-img"
    iscsictl: str = "iscsictl"
    migration_ssh: str = "ssh"
    xorriso: str = "xorriso"


_HELP = {
    "connection_uri": "libvirt URI: bhyve:///system on FreeBSD, test:///default for the sandbox and tests",
    "instances_path": "directory holding one directory per instance (disk, config drive, console log)",
    "image_cache_path": "raw images converted from Glance, one per image id",
    "images_type": "where local disks live: 'files' (raw files in the instance directory) or 'zfs' "
                   "(volumes under zfs_dataset, root disks cloned from a snapshot of the image)",
    "zfs_dataset": "images_type=zfs: the dataset everything goes under (created if missing; its pool must exist)",
    "zfs": "zfs(8) binary",
    "zpool": "zpool(8) binary",
    "remove_unused_base_images": "let the image cache remove images no instance on this host uses",
    "remove_unused_original_minimum_age_seconds": "an unused image is removed once unused this long",
    "uefi_firmware": "bhyve UEFI firmware (sysutils/edk2, BHYVE_UEFI.fd)",
    "uefi_vars_template": "UEFI variable store copied per guest for its NVRAM",
    "grub_bhyve": "grub-bhyve binary (sysutils/grub2-bhyve) for Linux guests without UEFI",
    "vif_driver": "VIF driver for VIFs without a binding type: 'vrouter' (bsdnet overlay) or 'bridge'",
    "port_api_url": "the bsdnet agent's port API, unix:///path (its socket) or http://127.0.0.1:PORT "
                    "(vrouter VIF driver)",
    "bridge_uplink": "physical interface VLAN networks are tagged on (bridge VIF driver); "
                     "empty: bridged networks are host-only",
    "bridge_dhcp": "serve DHCP from this host's bridges (dnsmasq, for subnets naming a dhcp_server); "
                   "false where Neutron's DHCP ports serve them, so two servers never answer for one address",
    "bridge_ports_to_agent": "also plug bridged (flat, VLAN) ports through the agent's port API: with Neutron, "
                             "the agent then reports them up and Neutron marks them ACTIVE",
    "vnc_listen": "address bhyve's VNC framebuffer listens on",
    "vnc_enabled": "give guests that boot by UEFI a VNC framebuffer (bhyve's fbuf needs UEFI)",
    "vnc_port_range": "min:max TCP ports handed out to VNC framebuffers, one per guest, kept across restarts",
    "serial_tcp": "serve each guest's serial console on a TCP port (for Nova's serial proxy; "
                  "the console is logged either way)",
    "serial_listen": "address the serial console relays listen on",
    "serial_port_range": "min:max TCP ports handed out to serial console relays",
    "host_ip": "this node's address, as get_host_ip_addr reports it",
    "cpu_allocation_ratio": "vCPU overcommit in the placement inventory",
    "ram_allocation_ratio": "memory overcommit in the placement inventory",
    "disk_allocation_ratio": "disk overcommit in the placement inventory",
    "reserved_host_memory_mb": "memory kept back for the host",
    "reserved_host_disk_mb": "disk kept back for the host",
    "reserved_host_cpus": "host CPUs kept back",
    "console_log_max_bytes": "console log size kept per instance (older output is dropped)",
    "snapshot_image_format": "format snapshots are uploaded in: qcow2 (compact) or raw",
    "soft_reboot_timeout": "seconds a guest gets to shut down on a soft reboot before a hard one",
    "qemu_img": "qemu-img binary used to convert images to raw",
    "iscsictl": "iscsictl(8), FreeBSD's iSCSI initiator control, for iSCSI volumes",
    "migration_ssh": "ssh(1) that reaches other compute hosts, as this user without a password "
                     "(keys), to copy disks on cold migration; their [bhyve] paths must be this host's",
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


def sample_text() -> str:
    """etc/bsdnet-compute.conf.sample (a test keeps the committed copy in step)."""
    lines = ["# bsdnet compute driver (bhyve through libvirt).", "# Generated by",
             "#   python -c 'from bsdnet.driver.compute.config import sample_text; print(sample_text(), end=\"\")'",
             "", f"[{GROUP}]", ""]
    for opt in list_opts()[0][1]:
        default = opt.default
        if opt.name == "connection_uri":
            default = "bhyve:///system"  # the FreeBSD value; test:///default elsewhere
        lines += [f"# {opt.help} ({type(opt).__name__[:-3].lower() or 'string'} value)", f"#{opt.name} = {default}", ""]
    return "\n".join(lines)
