"""Pause, suspend, soft delete, NMI and the guest's password: what libvirt's
bhyve driver may or may not be able to do.

A mixin of BhyveDriver.  Each operation asks libvirt; where the connection's
driver has no such call (VIR_ERR_NO_SUPPORT: libvirt's bhyve driver has no
pause, no managed save, no NMI injection), the operation raises
NotImplementedError saying so, which Nova reports to the user, rather than
pretending.  The crash dump NMI falls back to bhyvectl(8), which can inject
one.  Soft delete stops the guest (its disks stay), which is what Nova's
compute manager does itself for drivers without it.
"""

from __future__ import annotations

import logging
import subprocess
from typing import Any

import libvirt

from bsdnet.driver.compute.errors import ComputeError, InstanceNotRunning

LOG = logging.getLogger(__name__)
_UNSUPPORTED = {libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
                libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED}


def _call(what: str, fn: Any, *args: Any) -> Any:
    """fn(*args); a libvirt without the call becomes NotImplementedError."""
    try:
        return fn(*args)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in _UNSUPPORTED:
            raise NotImplementedError(f"{what}: this libvirt's bhyve driver cannot do it "
                                      f"({exc.get_error_message()})") from exc
        raise


class GuestStateMixin:
    bhyvectl = "bhyvectl"

    def _running(self, instance: Any, what: str) -> Any:
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        if not dom.isActive():
            raise InstanceNotRunning(instance.uuid, what)
        return dom

    # -- pause ------------------------------------------------------------
    def pause(self, instance: Any) -> None:
        dom = self._running(instance, "pause")
        _call("pause", dom.suspend)
        LOG.info("paused %s", instance.uuid)

    def unpause(self, instance: Any) -> None:
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        if dom.state()[0] != libvirt.VIR_DOMAIN_PAUSED:
            LOG.info("unpause: %s is not paused; nothing to do", instance.uuid)
            return
        _call("unpause", dom.resume)

    # -- suspend (to disk) ------------------------------------------------
    def suspend(self, context: Any, instance: Any) -> None:
        """The guest's memory saved to disk and the guest stopped (libvirt's managed save)."""
        dom = self._running(instance, "suspend")
        _call("suspend", dom.managedSave, 0)
        self._stop_console(instance.uuid)  # type: ignore[attr-defined]
        LOG.info("suspended %s to disk", instance.uuid)

    def resume(self, context: Any, instance: Any, network_info: Any, block_device_info: Any = None,
               share_info: Any = None) -> None:
        """Start a suspended guest from its saved memory (libvirt restores a
        managed save on start); a running one is left as it is."""
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        if dom.isActive():
            LOG.info("resume: %s is running; nothing to do", instance.uuid)
            return
        self.power_on(context, instance, network_info, block_device_info)  # type: ignore[attr-defined]

    # -- soft delete ------------------------------------------------------
    def soft_delete(self, instance: Any) -> None:
        """Stop the guest and keep everything else, for restore()."""
        self.power_off(instance)  # type: ignore[attr-defined]
        LOG.info("soft-deleted %s: stopped, disks and ports kept", instance.uuid)

    def restore(self, instance: Any) -> None:
        """Start a soft-deleted guest again, with the ports it had."""
        self.power_on(None, instance, self.recorded_network_info(instance))  # type: ignore[attr-defined]

    # -- NMI --------------------------------------------------------------
    def trigger_crash_dump(self, instance: Any) -> None:
        """An NMI to the guest (its kernel dumps core if configured to)."""
        dom = self._running(instance, "inject an NMI")
        try:
            _call("NMI", dom.injectNMI, 0)
            return
        except NotImplementedError:
            pass
        # libvirt's bhyve driver has no NMI call; bhyvectl(8) injects one.
        argv = [self.bhyvectl, f"--vm={dom.name()}", "--inject-nmi"]
        try:
            subprocess.run(argv, check=True, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise NotImplementedError(f"NMI: libvirt cannot inject one and {self.bhyvectl} is absent") from exc
        except subprocess.CalledProcessError as exc:
            raise ComputeError(f"{' '.join(argv)}: {exc.stderr.strip()}") from exc

    # -- guest agent ------------------------------------------------------
    def set_admin_password(self, instance: Any, new_pass: str) -> None:
        """Through the QEMU guest agent, which libvirt's bhyve driver speaks
        on recent releases (a guest without the agent cannot have it)."""
        dom = self._running(instance, "set its password")
        props = getattr(getattr(instance, "image_meta", None), "properties", None)
        user = props.get("os_admin_user") if props is not None and hasattr(props, "get") else None
        if not user:
            user = "Administrator" if getattr(instance, "os_type", None) == "windows" else "root"
        try:
            _call("set the admin password", dom.setUserPassword, user, new_pass, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_AGENT_UNRESPONSIVE:
                raise NotImplementedError("set the admin password: the guest agent does not answer") from exc
            raise
