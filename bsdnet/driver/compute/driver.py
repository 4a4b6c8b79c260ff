"""BhyveDriver: Nova's ComputeDriver methods for bhyve guests through libvirt.

It runs without Nova (the command line and the tests use it directly); the
adapter in ``nova.py`` puts the same class behind Nova's base class.

Roadmap:
  spawn       image -> raw root disk (images.py), config drive (configdrive.py),
              VIFs plugged (vif/), domain built and checked (guest.py),
              defined with VIR_DOMAIN_DEFINE_VALIDATE, started, console logged
              (console.py); any failure removes everything spawn made.
  destroy     stop the guest, then cleanup: unplug VIFs, undefine, remove files.
  power/reboot  libvirt create/shutdown/destroy; soft falls back to hard.
  interfaces  bhyve has no hot-plug: attach/detach edit the persistent
              definition, taken at the next boot.
  resources   host.py (psutil), placement inventory with allocation ratios.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import libvirt
import psutil

from bsdnet.driver.compute import configdrive, console, images
from bsdnet.driver.compute.config import DriverConfig, instance_dir
from bsdnet.driver.compute.errors import ComputeError, InstanceNotFound, SpawnError
from bsdnet.driver.compute.guest import DiskSpec, GuestSpec, build_domain, choose_guest, nmdm_pair
from bsdnet.driver.compute.host import HostResources
from bsdnet.driver.compute.instance import extra_specs, flavor_value, image_field, image_props
from bsdnet.driver.domain import Domain, Interface, NovaMetadata, NovaPort
from bsdnet.driver.domain import validate as v
from bsdnet.driver.domain.check import check_bhyve, check_strings
from bsdnet.driver.domain.errors import DomainConfigError, UnsupportedConfig
from bsdnet.driver.vif.base import VifDriver

LOG = logging.getLogger(__name__)

# nova.compute.power_state values (kept here so Nova is not needed).
NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0x00, 0x01, 0x03, 0x04, 0x06, 0x07
_STATE = {
    libvirt.VIR_DOMAIN_NOSTATE: NOSTATE, libvirt.VIR_DOMAIN_RUNNING: RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: RUNNING, libvirt.VIR_DOMAIN_PAUSED: PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: SHUTDOWN, libvirt.VIR_DOMAIN_SHUTOFF: SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: CRASHED, libvirt.VIR_DOMAIN_PMSUSPENDED: SUSPENDED,
}


@dataclass
class InstanceInfo:
    state: int
    internal_id: int | None = None


@dataclass
class VncConsole:
    host: str
    port: int


@dataclass
class SerialConsole:
    host: str
    port: int


class ConsoleUnavailable(ComputeError):
    pass


class BhyveDriver:
    """The compute driver.  ``connect`` and ``console_device`` are injection
    points for tests (a libvirt opener; the host end of a guest's console)."""

    capabilities = {
        "has_imagecache": True, "supports_evacuate": False, "supports_migrate_to_same_host": False,
        "supports_attach_interface": True, "supports_device_tagging": False,
        "supports_multiattach": False, "supports_trusted_certs": False,
        "supports_pcpus": False, "supports_accelerators": False,
    }

    def __init__(self, virtapi: Any = None, config: DriverConfig | None = None,
                 vif_driver: VifDriver | None = None,
                 fetcher: images.Fetcher | None = None,
                 connect: Callable[[str], Any] = libvirt.open) -> None:
        self.virtapi = virtapi
        self.config = config or DriverConfig()
        self.vif_driver = vif_driver
        self._connect = connect
        self._conn: Any = None
        self._lock = threading.RLock()
        self.image_cache = images.ImageCache(self.config.image_cache_path,
                                             fetcher or images.local_fetcher(self.config.image_cache_path),
                                             self.config.qemu_img)
        self.consoles: dict[str, console.ConsoleLogger] = {}
        self.console_device: Callable[[str], str] = lambda uuid: nmdm_pair(uuid)[1]
        self.poll_interval = 0.5

    # -- connection -----------------------------------------------------
    @property
    def conn(self) -> Any:
        with self._lock:
            if self._conn is None or not self._conn.isAlive():
                self._conn = self._connect(self.config.connection_uri)
            return self._conn

    @property
    def libvirt_version(self) -> int:
        return self.conn.getLibVersion()

    def init_host(self, host: str) -> None:
        os.makedirs(self.config.instances_path, exist_ok=True)
        os.makedirs(self.config.image_cache_path, exist_ok=True)
        LOG.info("bhyve driver on %s: libvirt %s, %s", host, self.libvirt_version, self.config.connection_uri)
        for dom in self._our_domains():
            if dom.isActive():
                self._start_console(dom.UUIDString())

    def cleanup_host(self, host: str) -> None:
        for uuid in list(self.consoles):
            self._stop_console(uuid)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- lookup ---------------------------------------------------------
    def _our_domains(self) -> list[Any]:
        # test:///default also holds its own 'test' domain: list bhyve domains only.
        out = []
        for dom in self.conn.listAllDomains():
            if "<domain type='bhyve'" in dom.XMLDesc(0):
                out.append(dom)
        return out

    def _lookup(self, instance: Any) -> Any:
        try:
            return self.conn.lookupByUUIDString(instance.uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise InstanceNotFound(instance.uuid) from exc
            raise

    def _model(self, dom: Any, inactive: bool = False) -> Domain:
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        return Domain.from_xml(dom.XMLDesc(flags))

    def get_info(self, instance: Any, use_cache: bool = True) -> InstanceInfo:
        dom = self._lookup(instance)
        state, _reason = dom.state()
        return InstanceInfo(state=_STATE.get(state, NOSTATE), internal_id=dom.ID())

    def list_instances(self) -> list[str]:
        return [d.name() for d in self._our_domains()]

    def list_instance_uuids(self) -> list[str]:
        return [d.UUIDString() for d in self._our_domains()]

    def instance_exists(self, instance: Any) -> bool:
        try:
            self._lookup(instance)
            return True
        except InstanceNotFound:
            return False

    # -- spawn ----------------------------------------------------------
    def _vif_driver(self) -> VifDriver:
        if self.vif_driver is None:
            raise ComputeError("no VIF driver configured (BhyveDriver(vif_driver=...))")
        return self.vif_driver

    def _topology(self, instance: Any, props: dict[str, Any], vcpus: int) -> tuple[int, int, int] | None:
        specs = extra_specs(instance)
        raw = {k: specs.get(f"hw:cpu_{k}") or props.get(f"hw_cpu_{k}") for k in ("sockets", "cores", "threads")}
        if not any(raw.values()):
            return None
        sockets = int(raw["sockets"] or 0)
        threads = int(raw["threads"] or 1)
        cores = int(raw["cores"] or 0) or max(1, vcpus // ((sockets or 1) * threads))
        sockets = sockets or max(1, vcpus // (cores * threads))
        return sockets, cores, threads

    def _metadata(self, instance: Any, network_info: Sequence[Any]) -> NovaMetadata:
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
            root_type="image", root_uuid=getattr(instance, "image_ref", None) or "", ports=ports)

    def guest_spec(self, instance: Any, image_meta: Any, network_info: Sequence[Any],
                   disks: list[DiskSpec]) -> GuestSpec:
        props = image_props(image_meta)
        vcpus = int(flavor_value(instance, "vcpus", 1))
        specs = extra_specs(instance)
        nics = [self._vif_driver().interface(instance, vif) for vif in network_info or []]
        uuid = v.check_uuid(instance.uuid)
        idir = instance_dir(self.config, uuid)
        return GuestSpec(
            name=v.check_name(instance.name), uuid=uuid, memory_mb=int(flavor_value(instance, "memory_mb")),
            vcpus=vcpus, image_props=props, disks=disks, nics=nics, console=nmdm_pair(uuid)[0],
            vnc=True, nvram_path=os.path.join(idir, "nvram.fd"), topology=self._topology(instance, props, vcpus),
            wired=str(specs.get("bhyve:wired_memory", "")).lower() in ("1", "true", "yes"),
            metadata=self._metadata(instance, network_info),
            uefi_firmware=self.config.uefi_firmware, uefi_vars_template=self.config.uefi_vars_template,
            grub_bhyve=self.config.grub_bhyve, vnc_listen=self.config.vnc_listen)

    def _prepare_disks(self, context: Any, instance: Any, image_meta: Any, network_info: Sequence[Any],
                       idir: str, injected_files: Any = None, admin_password: Any = None) -> list[DiskSpec]:
        disks = []
        image_id = image_field(image_meta, "id") or getattr(instance, "image_ref", None)
        if not image_id:
            raise SpawnError("no image to boot from (volume-backed instances are not supported by bhyve yet)")
        root = self.image_cache.create_root_disk(str(image_id), os.path.join(idir, "disk"),
                                                 int(flavor_value(instance, "root_gb", 0) or 0),
                                                 image_field(image_meta, "disk_format"), context)
        disks.append(DiskSpec(root))
        eph = int(flavor_value(instance, "ephemeral_gb", 0) or 0)
        if eph:
            disks.append(DiskSpec(images.create_blank_disk(os.path.join(idir, "disk.eph0"), eph)))
        swap_mb = int(flavor_value(instance, "swap", 0) or 0)
        if swap_mb:
            path = os.path.join(idir, "disk.swap")
            with open(path, "wb") as f:
                f.truncate(swap_mb * 2 ** 20)
            disks.append(DiskSpec(path))
        if getattr(instance, "config_drive", False):
            extra = {"admin_pass": admin_password} if admin_password else {}
            iso = configdrive.make_config_drive(os.path.join(idir, "disk.config"), instance,
                                                network_info or [], self.config.xorriso, extra,
                                                files=list(injected_files or []))
            disks.append(DiskSpec(iso, device="cdrom"))
        return disks

    @staticmethod
    def _refuse_volumes(block_device_info: Any) -> None:
        bdms = (block_device_info or {}).get("block_device_mapping") if hasattr(block_device_info, "get") else None
        if bdms:
            raise UnsupportedConfig("Cinder volumes are not supported by the bhyve driver yet "
                                    "(boot from image; no hot-plug either)")

    def spawn(self, context: Any, instance: Any, image_meta: Any, injected_files: Any = None,
              admin_password: Any = None, allocations: Any = None, network_info: Any = None,
              block_device_info: Any = None, power_on: bool = True, accel_info: Any = None) -> None:
        network_info = list(network_info or [])
        uuid = v.check_uuid(instance.uuid)
        v.check_name(instance.name)
        self._refuse_volumes(block_device_info)
        # Refuse an unbootable guest or an unpluggable port before any work.
        choose_guest(image_props(image_meta))
        for vif in network_info:
            self._vif_driver().interface(instance, vif)
        idir = instance_dir(self.config, uuid)
        if self.instance_exists(instance):
            raise SpawnError(f"instance {uuid} already has a domain")
        os.makedirs(idir, exist_ok=False)
        plugged: list[Any] = []
        dom = None
        try:
            disks = self._prepare_disks(context, instance, image_meta, network_info, idir,
                                        injected_files, admin_password)
            spec = self.guest_spec(instance, image_meta, network_info, disks)
            model = build_domain(spec, self.libvirt_version)
            xml = model.to_xml()
            with open(os.path.join(idir, "domain.xml"), "w") as f:
                f.write(xml)
            for vif in network_info:
                self._vif_driver().plug(instance, vif)
                plugged.append(vif)
            dom = self.conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
            if power_on:
                dom.create()
                self._start_console(uuid)
        except BaseException:
            LOG.exception("spawn of %s failed; removing what it made", uuid)
            self._undo_spawn(instance, dom, plugged, idir)
            raise
        LOG.info("spawned %s (%s)", instance.name, uuid)

    def _undo_spawn(self, instance: Any, dom: Any, plugged: list[Any], idir: str) -> None:
        self._stop_console(instance.uuid)
        if dom is not None:
            try:
                if dom.isActive():
                    dom.destroy()
                self._undefine(dom)
            except libvirt.libvirtError:
                LOG.exception("could not remove domain of %s", instance.uuid)
        for vif in reversed(plugged):
            try:
                self._vif_driver().unplug(instance, vif)
            except Exception:  # noqa: BLE001 - best effort, keep undoing
                LOG.exception("could not unplug %s", vif.get("id"))
        shutil.rmtree(idir, ignore_errors=True)

    @staticmethod
    def _undefine(dom: Any) -> None:
        try:
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        except libvirt.libvirtError:
            dom.undefine()

    # -- console --------------------------------------------------------
    def _start_console(self, uuid: str) -> None:
        if uuid in self.consoles:
            return
        device = self.console_device(uuid)
        if not os.path.exists(device):
            LOG.debug("console device %s absent (no nmdm here): not logging", device)
            return
        logger = console.ConsoleLogger(device, os.path.join(instance_dir(self.config, uuid), "console.log"),
                                       self.config.console_log_max_bytes)
        try:
            logger.start()
        except OSError as exc:
            # A guest without a console log is still a guest: do not fail it for this.
            logger.stop()
            LOG.warning("cannot log console of %s from %s: %s", uuid, device, exc)
            return
        self.consoles[uuid] = logger

    def _stop_console(self, uuid: str) -> None:
        logger = self.consoles.pop(uuid, None)
        if logger is not None:
            logger.stop()

    def get_console_output(self, context: Any, instance: Any) -> bytes:
        self._lookup(instance)
        path = os.path.join(instance_dir(self.config, instance.uuid), "console.log")
        return console.read_log(path, self.config.console_log_max_bytes)

    def get_vnc_console(self, context: Any, instance: Any) -> VncConsole:
        model = self._model(self._lookup(instance))
        for g in model.graphics:
            if g.type == "vnc" and g.port is not None and g.port > 0:
                return VncConsole(host=g.listen or self.config.vnc_listen, port=g.port)
        raise ConsoleUnavailable(f"instance {instance.uuid} has no running VNC framebuffer")

    def get_serial_console(self, context: Any, instance: Any) -> SerialConsole:
        model = self._model(self._lookup(instance))
        for c in model.chardevs:
            if c.kind == "serial" and c.type == "tcp" and c.service:
                return SerialConsole(host=c.host or self.config.host_ip, port=int(c.service))
        raise ConsoleUnavailable(f"instance {instance.uuid}: the serial port is an nmdm device, not TCP; "
                                 "use get_console_output, or cu -l on the nmdm B side")

    # -- teardown -------------------------------------------------------
    def destroy(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                destroy_disks: bool = True, destroy_secrets: bool = True) -> None:
        try:
            dom = self._lookup(instance)
            if dom.isActive():
                dom.destroy()
        except InstanceNotFound:
            LOG.info("destroy: %s has no domain", instance.uuid)
        self.cleanup(context, instance, network_info, block_device_info, destroy_disks)

    def cleanup(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                destroy_disks: bool = True, migrate_data: Any = None, destroy_vifs: bool = True,
                destroy_secrets: bool = True) -> None:
        self._stop_console(instance.uuid)
        if destroy_vifs:
            self.unplug_vifs(instance, network_info)
        try:
            self._undefine(self._lookup(instance))
        except InstanceNotFound:
            pass
        if destroy_disks:
            shutil.rmtree(instance_dir(self.config, v.check_uuid(instance.uuid)), ignore_errors=True)

    # -- power ----------------------------------------------------------
    def _wait_shutoff(self, dom: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while dom.isActive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_interval)
        return True

    def power_off(self, instance: Any, timeout: int = 0, retry_interval: int = 0) -> None:
        dom = self._lookup(instance)
        if not dom.isActive():
            return
        if timeout:
            try:
                dom.shutdown()  # ACPI power button
            except libvirt.libvirtError:
                LOG.warning("ACPI shutdown of %s refused; stopping it", instance.uuid)
            if self._wait_shutoff(dom, timeout):
                self._stop_console(instance.uuid)
                return
        dom.destroy()
        self._stop_console(instance.uuid)

    def power_on(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                 accel_info: Any = None) -> None:
        dom = self._lookup(instance)
        self.plug_vifs(instance, network_info)
        if not dom.isActive():
            dom.create()
        self._start_console(instance.uuid)

    def reboot(self, context: Any, instance: Any, network_info: Any, reboot_type: str,
               block_device_info: Any = None, bad_volumes_callback: Any = None, accel_info: Any = None,
               share_info: Any = None) -> None:
        dom = self._lookup(instance)
        if reboot_type.upper() == "SOFT" and dom.isActive():
            try:
                dom.shutdown()
                if self._wait_shutoff(dom, self.config.soft_reboot_timeout):
                    self._stop_console(instance.uuid)
                    dom.create()
                    self._start_console(instance.uuid)
                    return
            except libvirt.libvirtError:
                pass
            LOG.warning("soft reboot of %s did not finish; rebooting hard", instance.uuid)
        if dom.isActive():
            dom.destroy()
        self._stop_console(instance.uuid)
        self.plug_vifs(instance, network_info)
        dom.create()
        self._start_console(instance.uuid)

    # -- networking -----------------------------------------------------
    def plug_vifs(self, instance: Any, network_info: Any) -> None:
        for vif in network_info or []:
            self._vif_driver().plug(instance, vif)

    def unplug_vifs(self, instance: Any, network_info: Any) -> None:
        for vif in network_info or []:
            try:
                self._vif_driver().unplug(instance, vif)
            except Exception:  # noqa: BLE001 - unplug is best effort
                LOG.exception("unplug of %s failed", vif.get("id"))

    def _redefine(self, dom: Any, model: Domain) -> None:
        check_strings(model)
        check_bhyve(model, self.libvirt_version)
        self.conn.defineXMLFlags(model.to_xml(), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)

    def attach_interface(self, context: Any, instance: Any, image_meta: Any, vif: Any) -> None:
        """bhyve cannot hot-plug: the NIC joins the persistent definition and
        the guest sees it after its next boot."""
        with self._lock:
            dom = self._lookup(instance)
            model = self._model(dom, inactive=True)
            nic = self._vif_driver().interface(instance, vif)
            if any((i.mac or "").lower() == nic.mac for i in model.interfaces):
                raise ComputeError(f"instance {instance.uuid} already has a NIC with MAC {nic.mac}")
            nic.model = choose_guest(image_props(image_meta)).nic_model
            self._vif_driver().plug(instance, vif)
            model.devices.append(nic)
            try:
                self._redefine(dom, model)
            except (libvirt.libvirtError, DomainConfigError):
                self._vif_driver().unplug(instance, vif)
                raise
        LOG.warning("bhyve has no device hot-plug: NIC %s of %s is defined and appears at next boot",
                    nic.mac, instance.uuid)

    def detach_interface(self, context: Any, instance: Any, vif: Any) -> None:
        """Removed from the persistent definition; a running guest keeps the
        device until it is next booted (its port is unplugged now)."""
        with self._lock:
            dom = self._lookup(instance)
            model = self._model(dom, inactive=True)
            mac = v.check_mac(vif["address"])
            before = len(model.devices)
            model.devices = [d for d in model.devices
                             if not (isinstance(d, Interface) and (d.mac or "").lower() == mac)]
            if len(model.devices) == before:
                raise ComputeError(f"instance {instance.uuid} has no NIC with MAC {mac}")
            self._redefine(dom, model)
            self._vif_driver().unplug(instance, vif)
        LOG.warning("bhyve has no device hot-plug: NIC %s leaves %s's definition; "
                    "the running guest loses it at next boot", mac, instance.uuid)

    # -- host -----------------------------------------------------------
    def _host(self) -> HostResources:
        try:
            version = self.conn.getVersion()
        except libvirt.libvirtError:
            version = 0
        return HostResources(self.config, version)

    def get_available_resource(self, nodename: str | None = None) -> dict[str, Any]:
        vcpus_used = 0
        for dom in self._our_domains():
            if dom.isActive():
                vcpus_used += dom.info()[3]
        return self._host().available_resource(vcpus_used=vcpus_used)

    def get_available_nodes(self, refresh: bool = False) -> list[str]:
        return [self._host().nodename()]

    def get_inventory(self, nodename: str) -> dict[str, dict[str, Any]]:
        return self._host().inventory()

    # Placement traits (os-traits names) the scheduler matches image properties
    # against: what choose_guest() and check_bhyve() accept.
    TRAITS = (
        "COMPUTE_FIRMWARE_UEFI", "COMPUTE_FIRMWARE_BIOS", "COMPUTE_GRAPHICS_MODEL_GOP",
        "COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_E1000",
        "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_SATA",
        "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_VMDK",
        "COMPUTE_IMAGE_TYPE_VDI", "COMPUTE_IMAGE_TYPE_VHD", "COMPUTE_IMAGE_TYPE_VHDX",
    )

    def update_provider_tree(self, provider_tree: Any, nodename: str, allocations: Any = None) -> None:
        provider_tree.update_inventory(nodename, self._host().inventory())
        if hasattr(provider_tree, "add_traits"):
            provider_tree.add_traits(nodename, *self.TRAITS)

    def get_host_uptime(self) -> str:
        """What uptime(1) says, as Nova's libvirt driver reports it."""
        up = int(time.time() - psutil.boot_time())
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        return f"{time.strftime('%H:%M:%S')} up {up // 86400} days, {up % 86400 // 3600:2d}:{up % 3600 // 60:02d}, load average: {load}"

    def get_host_cpu_stats(self) -> dict[str, int]:
        """Cumulative host CPU times in nanoseconds and the clock in MHz (virNodeGetCPUStats' keys)."""
        t = psutil.cpu_times()
        ns = 1_000_000_000
        return {"kernel": int(t.system * ns), "idle": int(t.idle * ns), "user": int(t.user * ns),
                "iowait": int(getattr(t, "iowait", 0.0) * ns), "frequency": int(self.conn.getInfo()[3])}

    def resume_state_on_host_boot(self, context: Any, instance: Any, network_info: Any,
                                  share_info: Any = None, block_device_info: Any = None) -> None:
        """After a host reboot: plug the VIFs again and start the guest if it is down."""
        self.power_on(context, instance, network_info, block_device_info)

    def poll_rebooting_instances(self, timeout: int, instances: Any) -> None:
        """Nothing to do: reboot() finishes (or falls back to hard) before it returns."""

    def get_host_ip_addr(self) -> str:
        return self.config.host_ip

    @staticmethod
    def iscsi_initiator() -> str:
        """The host's iSCSI initiator name: open-iscsi's file on Linux, else
        the name FreeBSD's iscsictl(8) uses by default."""
        try:
            with open("/etc/iscsi/initiatorname.iscsi") as f:
                for line in f:
                    if line.startswith("InitiatorName="):
                        return line.split("=", 1)[1].strip()
        except OSError:
            pass
        return f"iqn.1994-09.org.freebsd:{socket.gethostname()}"

    def get_volume_connector(self, instance: Any) -> dict[str, Any]:
        """What Cinder needs to export a volume to this host (bhyve attaches
        volumes at spawn only: there is no hot-plug)."""
        return {"ip": self.config.host_ip, "host": socket.gethostname(), "initiator": self.iscsi_initiator(),
                "platform": os.uname().machine, "os_type": sys.platform, "multipath": False}
