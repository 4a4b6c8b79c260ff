"""What a guest uses (diagnostics, block stats), its disks (disk info) and
the name its next disk gets.

A mixin of BhyveDriver.  libvirt answers what its driver can: bhyve's gives
the domain's memory and total CPU time, not per-vCPU, block or interface
counters; those come from libvirt where it has them (test:///default does)
and otherwise from the host: the tap's counters (psutil; the tap's
transmit is the guest's receive) and the bhyve process (its start time).
What neither knows is left out rather than reported as zero.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import libvirt
import psutil

from bsdnet.driver.compute.guest import choose_guest
from bsdnet.driver.compute.instance import image_props
from bsdnet.driver.domain import Disk
from bsdnet.driver.domain.disk import DISK_PREFIX

LOG = logging.getLogger(__name__)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class NicStats:
    mac: str
    tap: str | None
    rx_octets: int | None = None
    rx_packets: int | None = None
    rx_errors: int | None = None
    rx_drop: int | None = None
    tx_octets: int | None = None
    tx_packets: int | None = None
    tx_errors: int | None = None
    tx_drop: int | None = None


@dataclass
class DiskStats:
    dev: str
    read_requests: int
    read_bytes: int
    write_requests: int
    write_bytes: int
    errors: int


@dataclass
class GuestStats:
    state: int  # libvirt's virDomainState
    memory_max_kib: int
    memory_used_kib: int
    cpu_time_ns: int
    vcpu_times_ns: list[tuple[int, int]] = field(default_factory=list)  # (vcpu, ns), where libvirt has them
    uptime: int | None = None  # seconds, from the bhyve process
    config_drive: bool = False
    disks: list[DiskStats] = field(default_factory=list)
    nics: list[NicStats] = field(default_factory=list)


def bhyve_process(name: str) -> psutil.Process | None:
    """The bhyve(8) process of VM ``name`` (its title is 'bhyve: NAME')."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if proc.info.get("name") == "bhyve" and cmd and cmd[-1] == name:
            return proc
        if cmd and cmd[0] == f"bhyve: {name}":
            return proc
    return None


def _tap_counters(tap: str) -> NicStats | None:
    c = psutil.net_io_counters(pernic=True).get(tap)
    if c is None:
        return None
    # The host's transmit on the tap is what the guest receives.
    return NicStats(mac="", tap=tap, rx_octets=c.bytes_sent, rx_packets=c.packets_sent, rx_errors=c.errout,
                    rx_drop=c.dropout, tx_octets=c.bytes_recv, tx_packets=c.packets_recv, tx_errors=c.errin,
                    tx_drop=c.dropin)


class DiagnosticsMixin:
    def guest_stats(self, instance: Any) -> GuestStats:
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        model = self._model(dom)  # type: ignore[attr-defined]
        state, max_kib, used_kib, _nvcpu, cpu_ns = dom.info()
        stats = GuestStats(state=state, memory_max_kib=max_kib, memory_used_kib=used_kib, cpu_time_ns=cpu_ns,
                           config_drive=any(d.is_cdrom for d in model.disks))
        running = dom.isActive()
        if running:
            try:
                stats.vcpu_times_ns = [(v[0], v[2]) for v in dom.vcpus()[0]]
            except libvirt.libvirtError:
                pass
            proc = bhyve_process(dom.name())
            if proc is not None:
                stats.uptime = int(time.time() - proc.create_time())
        for d in model.disks:
            if d.is_cdrom or not running:
                continue
            try:
                rd_req, rd_bytes, wr_req, wr_bytes, errs = dom.blockStats(d.target_dev)
            except libvirt.libvirtError:
                continue
            stats.disks.append(DiskStats(d.target_dev, rd_req, rd_bytes, wr_req, wr_bytes, errs))
        for nic in model.interfaces:
            stats.nics.append(self._nic_stats(dom, nic.mac or "", nic.target_dev if running else None))
        return stats

    @staticmethod
    def _nic_stats(dom: Any, mac: str, tap: str | None) -> NicStats:
        if tap is None:
            return NicStats(mac=mac, tap=None)
        try:
            rx, rxp, rxe, rxd, tx, txp, txe, txd = dom.interfaceStats(tap)
            return NicStats(mac, tap, rx, rxp, rxe, rxd, tx, txp, txe, txd)
        except libvirt.libvirtError:
            pass
        host = _tap_counters(tap)
        if host is None:
            return NicStats(mac=mac, tap=tap)
        host.mac = mac
        return host

    def get_diagnostics(self, instance: Any) -> dict[str, Any]:
        """The flat dict of Nova's older diagnostics API (libvirt's keys)."""
        s = self.guest_stats(instance)
        out: dict[str, Any] = {"memory": s.memory_max_kib, "memory-actual": s.memory_used_kib,
                               "cpu_time": s.cpu_time_ns}
        for vcpu, ns in s.vcpu_times_ns:
            out[f"cpu{vcpu}_time"] = ns
        for d in s.disks:
            out.update({f"{d.dev}_read_req": d.read_requests, f"{d.dev}_read": d.read_bytes,
                        f"{d.dev}_write_req": d.write_requests, f"{d.dev}_write": d.write_bytes,
                        f"{d.dev}_errors": d.errors})
        for n in s.nics:
            if n.tap is None or n.rx_octets is None:
                continue
            out.update({f"{n.tap}_rx": n.rx_octets, f"{n.tap}_rx_packets": n.rx_packets,
                        f"{n.tap}_rx_errors": n.rx_errors, f"{n.tap}_rx_drop": n.rx_drop,
                        f"{n.tap}_tx": n.tx_octets, f"{n.tap}_tx_packets": n.tx_packets,
                        f"{n.tap}_tx_errors": n.tx_errors, f"{n.tap}_tx_drop": n.tx_drop})
        return out

    def block_stats(self, instance: Any, disk_id: str) -> tuple[int, int, int, int, int] | None:
        """[rd_req, rd_bytes, wr_req, wr_bytes, errs] of one disk, named by
        its target ('vdb', as Nova's volume usage asks), source path or
        serial (a volume id); None when there is no such disk or libvirt
        cannot count (Nova's libvirt driver answers None too)."""
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        for d in self._model(dom).disks:  # type: ignore[attr-defined]
            if disk_id in (d.target_dev, d.source, d.serial):
                try:
                    return tuple(dom.blockStats(d.target_dev))  # type: ignore[return-value]
                except libvirt.libvirtError as exc:
                    LOG.info("block stats of %s %s: %s", instance.uuid, disk_id, exc)
                    return None
        LOG.info("block stats: instance %s has no disk %r", instance.uuid, disk_id)
        return None

    # -- disks ------------------------------------------------------------
    def get_instance_disk_info(self, instance: Any, block_device_info: Any = None) -> str:
        """JSON list of the instance's local disks (not the config drive, not
        Cinder's volumes, which the driver attaches with their id as serial):
        type, path, virtual and allocated size, over-commit."""
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        out = []
        for d in self._model(dom, inactive=True).disks:  # type: ignore[attr-defined]
            if d.is_cdrom or d.source is None or d.serial:
                continue
            virt, used = self._disk_sizes(d)
            out.append({"type": "raw", "path": d.source, "virt_disk_size": virt, "backing_file": "",
                        "disk_size": used, "over_committed_disk_size": max(virt - used, 0)})
        return json.dumps(out)

    def _disk_sizes(self, d: Disk) -> tuple[int, int]:
        """(virtual, allocated) bytes: a file's length and blocks; a zvol's
        through the image backend."""
        if d.type == "block":
            return self.storage.sizes(d.source)  # type: ignore[attr-defined]
        st = os.stat(d.source)
        return st.st_size, st.st_blocks * 512

    # -- device names -----------------------------------------------------
    def get_device_name_for_instance(self, instance: Any, bdms: Any, block_device_obj: Any) -> str:
        """The next free /dev name on the bus the disk will use (the image's
        hw_disk_bus, else the guest's profile), past every disk the domain
        has and every name Nova already gave out."""
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        bus = getattr(block_device_obj, "disk_bus", None) or \
            choose_guest(image_props(getattr(instance, "image_meta", None))).disk_bus
        used = {d.target_dev for d in self._model(dom, inactive=True).disks}  # type: ignore[attr-defined]
        for bdm in bdms or []:
            name = bdm.get("device_name") if hasattr(bdm, "get") else getattr(bdm, "device_name", None)
            if name:
                used.add(name.removeprefix("/dev/"))
        return "/dev/" + next_disk_name(bus, used)


def next_disk_name(bus: str, used: set[str]) -> str:
    """vdb, sdc, nvme1n1...: the first of the bus's names not in ``used``."""
    prefix = DISK_PREFIX.get(bus, "vd")
    for i in range(len(LETTERS) if prefix != "nvme" else 32):
        name = f"nvme{i}n1" if prefix == "nvme" else prefix + LETTERS[i]
        if name not in used:
            return name
    raise ValueError(f"no free {bus} disk name: {sorted(used)}")
