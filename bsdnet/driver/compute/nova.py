"""The BhyveDriver behind Nova's ComputeDriver base class.

Nova's ``load_compute_driver`` imports ``compute_driver`` from inside the
``nova.virt`` package only.  ``install_nova_alias()`` makes this module
``nova.virt.bsdnet``, so ``compute_driver = bsdnet.BhyveComputeDriver`` loads
it; a packaged nova-compute gets the same from a one-line shim module
``nova/virt/bsdnet.py`` (``from bsdnet.driver.compute.nova import *``),
which ``bsdnet-compute install-nova-shim`` writes (see nova_shim.py).

The adapter only converts: Nova's exceptions, InstanceInfo and console
objects, Nova's image fetcher, ``instances_path`` and ``[vnc]`` addresses.
Options are in the ``[bhyve]`` group (see ``config.py``).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from bsdnet.driver.compute import config as bconfig
from bsdnet.driver.compute import driver as bdriver
from bsdnet.driver.compute import errors
from bsdnet.driver.domain import DomainConfigError
from bsdnet.driver.vif.base import UnsupportedVif, VifPlugError
from bsdnet.driver.compute.host import TRAITS
from bsdnet.driver.compute.instance import image_field
from bsdnet.driver.compute.migrate import ResizeError
from bsdnet.driver.compute.volumes import VolumeAttachRunning
from bsdnet.driver.compute.wiring import default_net_driver, make_vif_driver

try:
    import nova.conf
    from nova import exception
    from nova.console import type as ctype
    from nova.virt import driver as nova_driver
    from nova.virt import hardware
    from nova.compute import power_state
    from nova.objects import diagnostics as diagnostics_obj
    from nova.virt import images as nova_images
    from oslo_utils import timeutils
    HAVE_NOVA = True
except ImportError:
    HAVE_NOVA = False


NOVA_DRIVER_NAME = "bsdnet.BhyveComputeDriver"
# What the nova.virt.bsdnet shim's `import *` takes.
__all__ = ["BhyveComputeDriver"]


def install_nova_alias() -> None:
    """Make this module importable as ``nova.virt.bsdnet`` (what compute_driver names)."""
    import sys
    import nova.virt
    sys.modules["nova.virt.bsdnet"] = sys.modules[__name__]
    nova.virt.bsdnet = sys.modules[__name__]  # type: ignore[attr-defined]


def to_nova(exc: BaseException, image_id: str | None = None) -> BaseException | None:
    """Nova's exception for one of the driver's, or None to let it through.

    Chosen for what Nova's compute manager does with them at build time:
    InvalidInput and ImageUnacceptable abort the build (no host could run
    it), ComputeResourcesUnavailable reschedules to another host, anything
    else (InstanceDeployFailure, NovaException) reschedules too."""
    if isinstance(exc, errors.InstanceNotFound):
        return exception.InstanceNotFound(instance_id=exc.instance_id)
    if isinstance(exc, errors.InstanceNotRunning):
        return exception.InstanceNotRunning(instance_id=exc.instance_id)
    if isinstance(exc, ResizeError):
        # Rolled back: the instance stays as it was (Nova's libvirt driver does the same).
        return exception.InstanceFaultRollback(inner_exception=exception.ResizeError(reason=str(exc)))
    if isinstance(exc, VolumeAttachRunning):
        return exception.InstanceInvalidState(message=str(exc))
    if isinstance(exc, errors.GuestConfigError):
        return exception.InvalidInput(reason=str(exc))
    if isinstance(exc, errors.HostLimitExceeded):
        return exception.ComputeResourcesUnavailable(reason=str(exc))
    if isinstance(exc, errors.ConsoleUnavailable):
        return exception.ConsoleTypeUnavailable(console_type=exc.console_type)
    if isinstance(exc, UnsupportedVif):
        return exception.NovaException(message=str(exc))
    if isinstance(exc, VifPlugError):
        return exception.VirtualInterfaceCreateException(message=str(exc))
    if isinstance(exc, (errors.ImageError, DomainConfigError)):
        if image_id is not None:
            return exception.ImageUnacceptable(image_id=image_id, reason=str(exc))
        return exception.InvalidInput(reason=str(exc))
    if isinstance(exc, (errors.SpawnError, errors.ConfigDriveError)):
        return exception.InstanceDeployFailure(reason=str(exc))
    if isinstance(exc, errors.ComputeError):
        return exception.NovaException(message=str(exc))
    return None


def _translate(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (errors.ComputeError, DomainConfigError, VifPlugError) as exc:
            nova_exc = to_nova(exc)
            if nova_exc is None:
                raise
            raise nova_exc from exc
    return wrapper


if HAVE_NOVA:
    CONF = nova.conf.CONF

    def _nova_fetch(context: Any, image_id: str, target: str) -> None:
        nova_images.fetch(context, image_id, target)

    def _nova_upload(context: Any, instance: Any, image_id: str, path: str, disk_format: str) -> None:
        """The snapshot's data and format into the image Nova made for it
        (the metadata Nova's libvirt driver writes)."""
        from nova.image import glance
        api = glance.API()
        props = {"image_location": "snapshot", "image_state": "available", "owner_id": instance.project_id}
        if getattr(instance, "os_type", None):
            props["os_type"] = instance.os_type
        metadata = {"status": "active", "name": api.get(context, image_id)["name"], "disk_format": disk_format,
                    "container_format": "bare", "properties": props}
        with open(path, "rb") as f:
            api.update(context, image_id, metadata, f)

    class NovaLiveConfig:
        """The driver's configuration with Nova's own options read from
        CONF each time they are used, as Nova's drivers read them (an
        operator's or a test's change applies to the next guest started)."""

        def __init__(self, base: bconfig.DriverConfig) -> None:
            self.__dict__["_base"] = base

        def __getattr__(self, name: str) -> Any:
            return getattr(self._base, name)

        def __setattr__(self, name: str, value: Any) -> None:
            setattr(self._base, name, value)

        @property
        def host_ip(self) -> str:
            return str(CONF.my_ip or self._base.host_ip)

        @property
        def vnc_enabled(self) -> bool:
            return bool(CONF.vnc.enabled)

        @property
        def vnc_listen(self) -> str:
            return str(CONF.vnc.server_listen or self._base.vnc_listen)

        @property
        def snapshot_image_format(self) -> str:
            return str(CONF.libvirt.snapshot_image_format or self._base.snapshot_image_format)

        @property
        def remove_unused_base_images(self) -> bool:
            return bool(CONF.image_cache.remove_unused_base_images)

        @property
        def remove_unused_original_minimum_age_seconds(self) -> int:
            return int(CONF.image_cache.remove_unused_original_minimum_age_seconds)

        @property
        def serial_tcp(self) -> bool:
            return bool(CONF.serial_console.enabled)

        @property
        def serial_port_range(self) -> str:
            return str(CONF.serial_console.port_range)

        @property
        def serial_listen(self) -> str:
            # Where Nova's serial proxy reaches this host (Nova's libvirt binds there too).
            return str(CONF.serial_console.proxyclient_address)

    class BhyveComputeDriver(nova_driver.ComputeDriver):
        """Nova compute driver for bhyve (FreeBSD) through libvirt."""

        capabilities = dict(nova_driver.ComputeDriver.capabilities, **bdriver.BhyveDriver.capabilities)

        def __init__(self, virtapi: Any, read_only: bool = False) -> None:
            super().__init__(virtapi)
            cfg = bconfig.from_conf(CONF)
            # Nova's own instances_path wins unless [bhyve] names another.
            if cfg.instances_path == bconfig.DriverConfig.instances_path:
                cfg.instances_path = CONF.instances_path
                cfg.image_cache_path = os.path.join(CONF.instances_path, "_base_bhyve")
            self.impl = bdriver.BhyveDriver(virtapi, config=NovaLiveConfig(cfg),  # type: ignore[arg-type]
                                            vif_driver=make_vif_driver(cfg, default_net_driver()),
                                            fetcher=_nova_fetch, uploader=_nova_upload)

        # -- straight delegation, with Nova's exception types --------------
        def init_host(self, host: str) -> None:
            self.impl.init_host(host)

        def cleanup_host(self, host: str) -> None:
            self.impl.cleanup_host(host)

        def list_instances(self) -> list[str]:
            return self.impl.list_instances()

        def list_instance_uuids(self) -> list[str]:
            return self.impl.list_instance_uuids()

        def instance_exists(self, instance: Any) -> bool:
            return self.impl.instance_exists(instance)

        @_translate
        def get_info(self, instance: Any, use_cache: bool = True) -> Any:
            return hardware.InstanceInfo(state=self.impl.get_info(instance).state)

        def spawn(self, context: Any, instance: Any, image_meta: Any, injected_files: Any,
                  admin_password: Any, allocations: Any, network_info: Any = None,
                  block_device_info: Any = None, power_on: bool = True, accel_info: Any = None) -> None:
            try:
                self.impl.spawn(context, instance, image_meta, injected_files, admin_password, allocations,
                                network_info=network_info, block_device_info=block_device_info,
                                power_on=power_on, accel_info=accel_info)
            except (errors.ComputeError, DomainConfigError, VifPlugError) as exc:
                image_id = image_field(image_meta, "id") or getattr(instance, "image_ref", None) or ""
                nova_exc = to_nova(exc, str(image_id))
                if nova_exc is None:
                    raise
                raise nova_exc from exc

        def destroy(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                    destroy_disks: bool = True, destroy_secrets: bool = True) -> None:
            self.impl.destroy(context, instance, network_info, block_device_info, destroy_disks)

        def cleanup(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                    destroy_disks: bool = True, migrate_data: Any = None, destroy_vifs: bool = True,
                    destroy_secrets: bool = True) -> None:
            self.impl.cleanup(context, instance, network_info, block_device_info, destroy_disks,
                              migrate_data, destroy_vifs)

        @_translate
        def reboot(self, context: Any, instance: Any, network_info: Any, reboot_type: str,
                   block_device_info: Any = None, bad_volumes_callback: Any = None,
                   accel_info: Any = None, share_info: Any = None) -> None:
            self.impl.reboot(context, instance, network_info, reboot_type, block_device_info)

        @_translate
        def power_off(self, instance: Any, timeout: int = 0, retry_interval: int = 0) -> None:
            self.impl.power_off(instance, timeout, retry_interval)

        @_translate
        def power_on(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
                     accel_info: Any = None, share_info: Any = None) -> None:
            self.impl.power_on(context, instance, network_info, block_device_info)

        @_translate
        def get_console_output(self, context: Any, instance: Any) -> str:
            return self.impl.get_console_output(context, instance).decode("utf-8", "replace")

        @_translate
        def get_vnc_console(self, context: Any, instance: Any) -> Any:
            c = self.impl.get_vnc_console(context, instance)
            # The address the noVNC proxy reaches this host at, as Nova's libvirt driver reports.
            return ctype.ConsoleVNC(host=str(CONF.vnc.server_proxyclient_address or c.host), port=c.port)

        @_translate
        def get_serial_console(self, context: Any, instance: Any) -> Any:
            c = self.impl.get_serial_console(context, instance)
            return ctype.ConsoleSerial(host=c.host, port=c.port)

        def get_host_uptime(self) -> str:
            return self.impl.get_host_uptime()

        def get_host_cpu_stats(self) -> dict[str, int]:
            return self.impl.get_host_cpu_stats()

        @_translate
        def resume_state_on_host_boot(self, context: Any, instance: Any, network_info: Any,
                                      share_info: Any = None, block_device_info: Any = None) -> None:
            self.impl.resume_state_on_host_boot(context, instance, network_info, share_info, block_device_info)

        def poll_rebooting_instances(self, timeout: int, instances: Any) -> None:
            self.impl.poll_rebooting_instances(timeout, instances)

        def get_host_ip_addr(self) -> str:
            return self.impl.get_host_ip_addr()

        def plug_vifs(self, instance: Any, network_info: Any) -> None:
            self.impl.plug_vifs(instance, network_info)

        def unplug_vifs(self, instance: Any, network_info: Any) -> None:
            self.impl.unplug_vifs(instance, network_info)

        @_translate
        def attach_interface(self, context: Any, instance: Any, image_meta: Any, vif: Any) -> None:
            self.impl.attach_interface(context, instance, image_meta, vif)

        @_translate
        def detach_interface(self, context: Any, instance: Any, vif: Any) -> None:
            self.impl.detach_interface(context, instance, vif)

        def get_available_resource(self, nodename: str) -> dict[str, Any]:
            return self.impl.get_available_resource(nodename)

        def get_available_nodes(self, refresh: bool = False) -> list[str]:
            return self.impl.get_available_nodes(refresh)

        def get_nodenames_by_uuid(self, refresh: bool = False) -> dict[str, str]:
            return {}

        def update_provider_tree(self, provider_tree: Any, nodename: str, allocations: Any = None) -> None:
            inv = self.impl.get_inventory(nodename)
            ratios = self._get_allocation_ratios(provider_tree.data(nodename).inventory)
            for rc, ratio in ratios.items():
                if rc in inv and ratio is not None:
                    inv[rc]["allocation_ratio"] = ratio
            provider_tree.update_inventory(nodename, inv)
            provider_tree.add_traits(nodename, *TRAITS)

        @_translate
        def get_instance_diagnostics(self, instance: Any) -> Any:
            s = self.impl.guest_stats(instance)
            launched = getattr(instance, "launched_at", None)
            uptime = s.uptime if s.uptime is not None else (
                int(timeutils.delta_seconds(timeutils.normalize_time(launched), timeutils.utcnow()))
                if launched else 0)
            diags = diagnostics_obj.Diagnostics(
                state=power_state.STATE_MAP[bdriver.power_state_of(s.state)], driver="libvirt",
                hypervisor="bhyve", hypervisor_os="freebsd", uptime=uptime, config_drive=s.config_drive)
            diags.memory_details = diagnostics_obj.MemoryDiagnostics(
                maximum=s.memory_max_kib // 1024, used=s.memory_used_kib // 1024)
            for vcpu, ns in s.vcpu_times_ns:
                diags.add_cpu(id=vcpu, time=ns)
            for d in s.disks:
                diags.add_disk(read_bytes=d.read_bytes, read_requests=d.read_requests, write_bytes=d.write_bytes,
                               write_requests=d.write_requests, errors_count=d.errors)
            for n in s.nics:
                counters = {k: getattr(n, k) for k in ("rx_octets", "rx_errors", "rx_drop", "rx_packets",
                                                       "tx_octets", "tx_errors", "tx_drop", "tx_packets")
                            if getattr(n, k) is not None}
                diags.add_nic(mac_address=n.mac, **counters)
            return diags

        def get_volume_connector(self, instance: Any) -> dict[str, Any]:
            connector = self.impl.get_volume_connector(instance)
            connector["ip"] = CONF.my_block_storage_ip or connector["ip"]
            return connector

    def _delegate(name: str) -> Any:
        """A ComputeDriver method that is the BhyveDriver's own, with Nova's
        exceptions (the driver's signatures are Nova's)."""
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return getattr(self.impl, name)(*args, **kwargs)
        method.__name__ = method.__qualname__ = name
        method.__doc__ = getattr(bdriver.BhyveDriver, name).__doc__
        return _translate(method)

    # Methods passed through as they are.
    DELEGATED = ("pause", "unpause", "suspend", "resume", "soft_delete", "restore", "trigger_crash_dump",
                 "set_admin_password", "get_diagnostics", "block_stats", "get_instance_disk_info",
                 "get_device_name_for_instance", "manage_image_cache", "snapshot", "rescue", "unrescue",
                 "attach_volume", "detach_volume", "swap_volume", "migrate_disk_and_power_off",
                 "finish_migration", "confirm_migration", "finish_revert_migration",
                 "check_instance_shared_storage_local", "check_instance_shared_storage_remote",
                 "check_instance_shared_storage_cleanup")
    for _name in DELEGATED:
        setattr(BhyveComputeDriver, _name, _delegate(_name))
else:
    class BhyveComputeDriver:  # type: ignore[no-redef]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError("Nova is not installed; use bsdnet.driver.compute.driver.BhyveDriver directly")
