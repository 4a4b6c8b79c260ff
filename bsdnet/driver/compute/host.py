"""Host resources for Nova's resource tracker and placement, through psutil."""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
from typing import Any

import subprocess
from collections.abc import Callable

import psutil

from bsdnet.driver.compute.config import DriverConfig

HYPERVISOR_TYPE = "bhyve"

# Placement traits (os-traits names) the scheduler matches image properties
# against: what choose_guest() and check_bhyve() accept.
TRAITS = (
    "COMPUTE_FIRMWARE_UEFI", "COMPUTE_FIRMWARE_BIOS", "COMPUTE_GRAPHICS_MODEL_GOP",
    "COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_E1000",
    "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_SATA",
    "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_VMDK",
    "COMPUTE_IMAGE_TYPE_VDI", "COMPUTE_IMAGE_TYPE_VHD", "COMPUTE_IMAGE_TYPE_VHDX",
)


def cpu_info() -> dict[str, Any]:
    """Nova's cpu_info: arch, model, vendor, topology, features."""
    model = platform.processor() or ""
    vendor = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                if key.strip() == "vendor_id" and not vendor:
                    vendor = value.strip()
    except OSError:
        pass  # FreeBSD without linprocfs: platform.processor() is hw.model
    # Logical CPUs only: bhyve schedules vCPUs on them, and Nova reads the
    # topology for information (physical counts need sysfs walks on Linux).
    return {"arch": platform.machine(), "model": model, "vendor": vendor,
            "topology": {"sockets": 1, "cores": psutil.cpu_count() or 1, "threads": 1},
            "features": []}


# Kernel modules a bhyve host needs: vmm (the hypervisor), nmdm (serial
# consoles), if_bridge and if_tap (guest NICs).
KMODS = ("vmm", "nmdm", "if_bridge", "if_tap")


def _kldstat(module: str) -> bool:
    return subprocess.run(["kldstat", "-q", "-m", module], check=False).returncode == 0


def host_problems(config: DriverConfig, kld_loaded: Callable[[str], bool] = _kldstat,
                  platform_name: str = sys.platform) -> list[str]:
    """What would make guests fail to start on this host, said up front at init_host."""
    problems = []
    if platform_name.startswith("freebsd"):
        problems += [f"kernel module {m} not loaded (kldload {m})" for m in KMODS if not kld_loaded(m)]
        for what, path in (("UEFI firmware", config.uefi_firmware), ("grub-bhyve", config.grub_bhyve)):
            if not os.path.exists(path):
                problems.append(f"{what} {path} missing: guests that need it will not boot")
    return problems


def _sysctl_int(name: str) -> int | None:
    try:
        out = subprocess.run(["sysctl", "-n", name], check=True, capture_output=True, text=True).stdout
        return int(out.strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


def host_guest_limits(conn: Any, platform_name: str = sys.platform,
                      sysctl: Callable[[str], int | None] = _sysctl_int) -> tuple[int, int]:
    """(memory MiB, vCPUs) one guest may have on the host libvirt runs guests on.

    Memory: the node's.  vCPUs: the node's CPUs, which is vmm(4)'s default
    hw.vmm.maxcpu; on FreeBSD the tunable itself when it reads."""
    info = conn.getInfo()  # [model, memory MiB, cpus, MHz, nodes, sockets, cores, threads]
    mem, cpus = int(info[1]), int(info[2])
    if platform_name.startswith("freebsd"):
        cpus = sysctl("hw.vmm.maxcpu") or cpus
    return mem, cpus


class HostResources:
    """``capacity``: (total, free) bytes where disks go, when that is not the
    instances path's file system (the ZFS image backend's dataset)."""

    def __init__(self, config: DriverConfig, hypervisor_version: int = 0,
                 capacity: tuple[int, int] | None = None) -> None:
        self.config = config
        self.hypervisor_version = hypervisor_version
        self.capacity = capacity

    def nodename(self) -> str:
        return socket.gethostname()

    def _disk(self) -> tuple[int, int, int]:
        """(total, used, free) bytes."""
        if self.capacity is not None:
            total, free = self.capacity
            return total, total - free, free
        path = self.config.instances_path
        while not os.path.exists(path):
            path = os.path.dirname(path) or "/"
        usage = psutil.disk_usage(path)
        return usage.total, usage.used, usage.free

    def available_resource(self, vcpus_used: int = 0, memory_mb_used: int | None = None) -> dict[str, Any]:
        """The dict Nova's ComputeDriver.get_available_resource returns."""
        mem = psutil.virtual_memory()
        disk_total, disk_used, disk_free = self._disk()
        return {
            "vcpus": psutil.cpu_count() or 1,
            "memory_mb": mem.total // 2 ** 20,
            "local_gb": disk_total // 2 ** 30,
            "vcpus_used": vcpus_used,
            "memory_mb_used": (mem.total - mem.available) // 2 ** 20 if memory_mb_used is None else memory_mb_used,
            "local_gb_used": disk_used // 2 ** 30,
            "hypervisor_type": HYPERVISOR_TYPE,
            "hypervisor_version": self.hypervisor_version,
            "hypervisor_hostname": self.nodename(),
            "cpu_info": json.dumps(cpu_info()),
            "disk_available_least": disk_free // 2 ** 30,
            "supported_instances": [["x86_64", HYPERVISOR_TYPE, "hvm"]],
            "numa_topology": None,
            "pci_passthrough_devices": "[]",
        }

    def inventory(self) -> dict[str, dict[str, Any]]:
        """Placement inventory (VCPU, MEMORY_MB, DISK_GB) with allocation ratios."""
        res = self.available_resource()
        cfg = self.config
        return {
            "VCPU": {"total": res["vcpus"], "min_unit": 1, "max_unit": res["vcpus"], "step_size": 1,
                     "allocation_ratio": cfg.cpu_allocation_ratio, "reserved": cfg.reserved_host_cpus},
            "MEMORY_MB": {"total": res["memory_mb"], "min_unit": 1, "max_unit": res["memory_mb"],
                          "step_size": 1, "allocation_ratio": cfg.ram_allocation_ratio,
                          "reserved": cfg.reserved_host_memory_mb},
            "DISK_GB": {"total": res["local_gb"], "min_unit": 1, "max_unit": res["local_gb"],
                        "step_size": 1, "allocation_ratio": cfg.disk_allocation_ratio,
                        "reserved": -(-cfg.reserved_host_disk_mb // 1024)},
        }

    def uptime(self) -> str:
        """What uptime(1) says, as Nova's libvirt driver reports it."""
        up = int(time.time() - psutil.boot_time())
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        return (f"{time.strftime('%H:%M:%S')} up {up // 86400} days, "
                f"{up % 86400 // 3600:2d}:{up % 3600 // 60:02d}, load average: {load}")

    @staticmethod
    def cpu_stats(mhz: int) -> dict[str, int]:
        """Cumulative host CPU times in nanoseconds and the clock in MHz (virNodeGetCPUStats' keys)."""
        t = psutil.cpu_times()
        ns = 1_000_000_000
        return {"kernel": int(t.system * ns), "idle": int(t.idle * ns), "user": int(t.user * ns),
                "iowait": int(getattr(t, "iowait", 0.0) * ns), "frequency": mhz}
