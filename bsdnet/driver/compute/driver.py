"""BhyveDriver: Nova's ComputeDriver methods for bhyve guests through libvirt.

It runs without Nova (the command line and the tests use it directly); the
adapter in ``nova.py`` puts the same class behind Nova's base class.

Roadmap:
  spawn       checks first (guest type, flavor sizes, host limits, ports),
              volumes connected (volumes.py), root disk from the image or
              the boot volume and ephemeral/swap through the image backend
              (storage.py: files or ZFS), config drive (configdrive.py),
              VIFs plugged (vif/), domain built and checked (guest.py),
              defined with VIR_DOMAIN_DEFINE_VALIDATE, started, taps attached
              (VifDriver.attach_tap: libvirt made them as the guest started;
              the bridge driver registers each port's DHCP lease), console
              relayed and logged (consoles.py); any failure removes
              everything spawn made.
  destroy     stop the guest, then cleanup: unplug VIFs (ports and leases
              go), disconnect volumes, undefine, remove disks and files.
  power/reboot  libvirt create/shutdown/destroy; soft falls back to hard;
              every start attaches the new taps, or stops the guest again.
  interfaces  bhyve has no hot-plug: attach/detach edit the persistent
              definition, taken at the next boot (a port's lease comes with
              its tap then; detach unplugs the port at once).
  planning    plan.py: disks, config drive and the GuestSpec, before libvirt.
  resources   host.py (psutil), placement inventory with allocation ratios.
  the rest, one mixin per concern: states.py (pause, suspend, soft delete,
              NMI, password), diagnostics.py, snapshot.py, rescue.py,
              volumes.py, migrate.py (resize, cold migration).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import libvirt

from bsdnet.common.files import write_atomic
from bsdnet.driver.compute import console, images, plan
from bsdnet.driver.compute.config import DriverConfig, instance_dir
from bsdnet.driver.compute.consoles import ConsoleMixin
from bsdnet.driver.compute.diagnostics import DiagnosticsMixin
from bsdnet.driver.compute.errors import ComputeError, HostLimitExceeded, InstanceNotFound, SpawnError
from bsdnet.driver.compute.guest import GuestSpec, build_domain, choose_guest, nmdm_pair
from bsdnet.driver.compute.host import TRAITS, HostResources, host_guest_limits, host_problems
from bsdnet.driver.compute.instance import image_props
from bsdnet.driver.compute.migrate import MigrationMixin
from bsdnet.driver.compute.rescue import RescueMixin
from bsdnet.driver.compute.snapshot import SnapshotMixin, Uploader
from bsdnet.driver.compute.states import GuestStateMixin
from bsdnet.driver.compute.storage import Storage, ZfsStorage, make_storage
from bsdnet.driver.compute.volumes import Iscsictl, VolumeMixin
from bsdnet.driver.domain import Domain, Interface
from bsdnet.driver.domain import validate as v
from bsdnet.driver.domain.check import check_bhyve, check_strings
from bsdnet.driver.domain.errors import DomainConfigError
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


def power_state_of(libvirt_state: int) -> int:
    """Nova's power_state for a libvirt domain state."""
    return _STATE.get(libvirt_state, NOSTATE)


@dataclass
class InstanceInfo:
    state: int
    internal_id: int | None = None


class BhyveDriver(ConsoleMixin, GuestStateMixin, DiagnosticsMixin, SnapshotMixin, RescueMixin, VolumeMixin,
                  MigrationMixin):
    """The compute driver.  ``connect`` and ``console_device`` are injection
    points for tests (a libvirt opener; the host end of a guest's console)."""

    capabilities = {
        "has_imagecache": True, "supports_evacuate": False, "supports_migrate_to_same_host": True,
        "supports_attach_interface": True, "supports_device_tagging": False,
        "supports_multiattach": False, "supports_trusted_certs": False,
        "supports_pcpus": False, "supports_accelerators": False,
    }

    def __init__(self, virtapi: Any = None, config: DriverConfig | None = None,
                 vif_driver: VifDriver | None = None,
                 fetcher: images.Fetcher | None = None,
                 connect: Callable[[str], Any] = libvirt.open, uploader: Uploader | None = None) -> None:
        self.virtapi = virtapi
        self.config = config or DriverConfig()
        self.vif_driver = vif_driver
        self.uploader = uploader
        self._connect = connect
        self._conn: Any = None
        self._lock = threading.RLock()
        self.image_cache = images.ImageCache(self.config.image_cache_path,
                                             fetcher or images.local_fetcher(self.config.image_cache_path),
                                             self.config.qemu_img)
        self.storage: Storage = make_storage(self.config, self.image_cache)
        self.iscsi = Iscsictl(self.config.iscsictl)
        self.consoles: dict[str, console.ConsoleRelay] = {}
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
        if isinstance(self.storage, ZfsStorage):
            self.storage.ensure_layout()
        LOG.info("bhyve driver on %s: libvirt %s, %s", host, self.libvirt_version, self.config.connection_uri)
        for problem in host_problems(self.config):
            LOG.warning("host %s: %s", host, problem)
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
        return InstanceInfo(state=power_state_of(state), internal_id=dom.ID())

    def list_instances(self) -> list[str]:
        """Nova's instance names (a shortened domain name keeps Nova's in <title>)."""
        return [self._model(d).title or d.name() for d in self._our_domains()]

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

    def spawn(self, context: Any, instance: Any, image_meta: Any, injected_files: Any = None,
              admin_password: Any = None, allocations: Any = None, network_info: Any = None,
              block_device_info: Any = None, power_on: bool = True, accel_info: Any = None) -> None:
        network_info = list(network_info or [])
        uuid = v.check_uuid(instance.uuid)
        # Refuse an unbootable or oversized guest, or an unpluggable port,
        # before any work.
        props = image_props(image_meta)
        choose_guest(props)
        memory_mb, vcpus, _top = plan.guest_size(instance, props)
        self._check_host_limits(memory_mb, vcpus)
        for vif in network_info:
            self._vif_driver().interface(instance, vif)
        idir = instance_dir(self.config, uuid)
        if self.instance_exists(instance):
            raise SpawnError(f"instance {uuid} already has a domain")
        if os.path.lexists(idir):
            # No domain, so nothing uses it: what a failed spawn or a crash
            # left behind.  Nova's libvirt driver reuses such a directory.
            LOG.warning("spawn of %s: removing leftover instance directory %s (no domain uses it)", uuid, idir)
        # Disks an earlier spawn left (a ZFS volume outlives the directory) go too.
        self._remove_disks(uuid, idir)
        os.makedirs(idir)
        plugged: list[Any] = []
        dom = None
        volumes: list[Any] = []
        try:
            volumes = self.connect_block_devices(block_device_info)
            disks = plan.prepare_disks(self.config, self.storage, context, instance, image_meta,
                                       network_info, idir, injected_files, admin_password,
                                       [plan.volume_spec(bdm, disk) for bdm, disk in volumes])
            spec = plan.guest_spec(self.config, self._vif_driver(), instance, image_meta, network_info, disks)
            self._record_vifs(uuid, network_info)
            for vif in network_info:
                self._vif_driver().plug(instance, vif)
                plugged.append(vif)
            dom = self._define(spec, idir)
            if power_on:
                dom.create()
                self._attach_taps(instance, network_info)
                self._start_console(uuid)
        except BaseException:
            LOG.exception("spawn of %s failed; removing what it made", uuid)
            self._undo_spawn(instance, dom, plugged, idir)
            self.disconnect_block_devices(instance, {"block_device_mapping": [b for b, _d in volumes]})
            raise
        LOG.info("spawned %s (%s)", instance.name, uuid)

    def _define(self, spec: GuestSpec, idir: str) -> Any:
        """Build, check and define the domain (kept as domain.xml too).  The
        VNC port is chosen under the lock, so two spawns never share one."""
        with self._lock:
            if spec.vnc and choose_guest(spec.image_props).boot == "uefi":
                spec.vnc_port = self._new_vnc_port()
            xml = build_domain(spec, self.libvirt_version).to_xml()
            with open(os.path.join(idir, "domain.xml"), "w") as f:
                f.write(xml)
            return self.conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)

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
        self._remove_disks(instance.uuid, idir)

    def _remove_disks(self, uuid: str, idir: str) -> None:
        try:
            self.storage.destroy(uuid)
        except ComputeError:
            LOG.exception("could not remove the disks of %s", uuid)
        shutil.rmtree(idir, ignore_errors=True)

    @staticmethod
    def _undefine(dom: Any) -> None:
        """Undefine with the guest's NVRAM and any suspended memory image
        (each flag only where this libvirt has it)."""
        nvram, saved = libvirt.VIR_DOMAIN_UNDEFINE_NVRAM, libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        for flags in (nvram | saved, saved, nvram):
            try:
                dom.undefineFlags(flags)
                return
            except libvirt.libvirtError:
                continue
        dom.undefine()

    def _check_host_limits(self, memory_mb: int, vcpus: int) -> None:
        """One guest can have at most the host's memory and, by default
        (vmm(4)'s hw.vmm.maxcpu), one vCPU per host CPU."""
        mem_limit, cpu_limit = host_guest_limits(self.conn)
        if memory_mb > mem_limit:
            raise HostLimitExceeded(f"{memory_mb} MiB of memory asked; this host has {mem_limit} MiB")
        if vcpus > cpu_limit:
            raise HostLimitExceeded(f"{vcpus} vCPUs asked; one guest on this host can have {cpu_limit}")

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
        self.disconnect_block_devices(instance, block_device_info)
        try:
            self._undefine(self._lookup(instance))
        except InstanceNotFound:
            pass
        if destroy_disks:
            self._remove_disks(instance.uuid, instance_dir(self.config, v.check_uuid(instance.uuid)))

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
            # Volumes again (an iSCSI session does not outlive a host reboot).
            self.connect_block_devices(block_device_info)
            dom.create()
        self._started(dom, instance, network_info)

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
                    self._started(dom, instance, network_info)
                    return
            except libvirt.libvirtError:
                pass
            LOG.warning("soft reboot of %s did not finish; rebooting hard", instance.uuid)
        if dom.isActive():
            dom.destroy()
        self._stop_console(instance.uuid)
        self.plug_vifs(instance, network_info)
        self.connect_block_devices(block_device_info)
        dom.create()
        self._started(dom, instance, network_info)

    # -- networking -----------------------------------------------------
    def _vifs_file(self, uuid: str) -> str:
        return os.path.join(instance_dir(self.config, v.check_uuid(uuid)), "network_info.json")

    def _record_vifs(self, uuid: str, network_info: Any) -> None:
        """Keep the instance's VIFs beside its disk, so that a caller without
        Nova's network_info (bsdnet-compute destroy) can unplug them."""
        write_atomic(self._vifs_file(uuid), json.dumps([dict(vif) for vif in network_info or []]),
                     mode=0o644)

    def recorded_network_info(self, instance: Any) -> list[dict[str, Any]]:
        """The VIFs spawn and interface attach/detach last recorded ([] if none)."""
        try:
            with open(self._vifs_file(instance.uuid)) as f:
                return json.load(f)
        except FileNotFoundError:
            return []

    def plug_vifs(self, instance: Any, network_info: Any) -> None:
        for vif in network_info or []:
            self._vif_driver().plug(instance, vif)

    def _attach_taps(self, instance: Any, network_info: Any) -> None:
        """libvirt made the guest's taps as it started it: let the VIF
        drivers finish (the bridge driver registers each port's lease)."""
        for vif in network_info or []:
            self._vif_driver().attach_tap(instance, vif)

    def _started(self, dom: Any, instance: Any, network_info: Any) -> None:
        """After create(): attach the taps, then log the console.  A guest
        whose ports cannot be registered is stopped again rather than left
        running without its addresses; the error says which port and why."""
        try:
            self._attach_taps(instance, network_info)
        except BaseException:
            LOG.exception("ports of %s could not be attached; stopping it", instance.uuid)
            try:
                if dom.isActive():
                    dom.destroy()
            except libvirt.libvirtError:
                LOG.exception("could not stop %s", instance.uuid)
            raise
        self._start_console(instance.uuid)

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
            before = self._model(dom, inactive=True)
            self._vif_driver().plug(instance, vif)
            model.devices.append(nic)
            if model.metadata is not None:
                model.metadata.ports.append(plan.nova_metadata(instance, [vif]).ports[0])
            try:
                self._redefine(dom, model)
            except (libvirt.libvirtError, DomainConfigError):
                self._vif_driver().unplug(instance, vif)
                raise
            vifs = self.recorded_network_info(instance)
            self._record_vifs(instance.uuid, [*[x for x in vifs if x.get("id") != vif["id"]], vif])
            if dom.isActive() and any((i.mac or "").lower() == nic.mac for i in self._model(dom).interfaces):
                # The running guest has the NIC, so its tap exists: register
                # the port now.  bhyve cannot hot-plug, so there the NIC (and
                # its tap) come at the next boot, where power_on/reboot do it.
                try:
                    self._vif_driver().attach_tap(instance, vif)
                except BaseException:
                    self._vif_driver().unplug(instance, vif)
                    self._redefine(dom, before)
                    raise
        if dom.isActive():
            LOG.warning("bhyve has no device hot-plug: NIC %s is in %s's definition and its port is plugged; "
                        "the guest sees it after its next boot through Nova (reboot, or stop and start)",
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
            if model.metadata is not None:
                model.metadata.ports = [p for p in model.metadata.ports if p.uuid != str(vif["id"])]
            self._redefine(dom, model)
            self._vif_driver().unplug(instance, vif)
            self._record_vifs(instance.uuid, [x for x in self.recorded_network_info(instance)
                                              if x.get("id") != vif["id"]])
        if dom.isActive():
            LOG.warning("bhyve has no device hot-plug: NIC %s left %s's definition and its port is unplugged "
                        "now; the running guest keeps a dead NIC until its next boot through Nova", mac,
                        instance.uuid)

    # -- host -----------------------------------------------------------
    def _host(self) -> HostResources:
        try:
            version = self.conn.getVersion()
        except libvirt.libvirtError:
            version = 0
        return HostResources(self.config, version, self.storage.capacity())

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

    def update_provider_tree(self, provider_tree: Any, nodename: str, allocations: Any = None) -> None:
        provider_tree.update_inventory(nodename, self._host().inventory())
        if hasattr(provider_tree, "add_traits"):
            provider_tree.add_traits(nodename, *TRAITS)

    def resume_state_on_host_boot(self, context: Any, instance: Any, network_info: Any,
                                  share_info: Any = None, block_device_info: Any = None) -> None:
        """After a host reboot: plug the VIFs again and start the guest if it is down."""
        self.power_on(context, instance, network_info, block_device_info)

    def poll_rebooting_instances(self, timeout: int, instances: Any) -> None:
        """Nothing to do: reboot() finishes (or falls back to hard) before it returns."""

    def manage_image_cache(self, context: Any, all_instances: Any) -> None:
        """Remove cached images no instance of this host uses and nobody
        used for remove_unused_original_minimum_age_seconds (Nova's
        remove_unused_base_images semantics; ZFS: an image volume whose
        snapshot still has clones is in use whatever Nova says)."""
        if not self.config.remove_unused_base_images:
            return
        in_use = {str(i.image_ref) for i in all_instances or [] if getattr(i, "image_ref", None)}
        removed = self.storage.prune_images(in_use, self.config.remove_unused_original_minimum_age_seconds)
        LOG.info("image cache: %d kept in use, %d removed", len(in_use), len(removed))

    def get_host_ip_addr(self) -> str:
        return self.config.host_ip

    def get_host_uptime(self) -> str:
        return self._host().uptime()

    def get_host_cpu_stats(self) -> dict[str, int]:
        return self._host().cpu_stats(int(self.conn.getInfo()[3]))

