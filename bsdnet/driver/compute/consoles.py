"""The driver's consoles: the logged serial port (with its TCP relay for
Nova's serial proxy) and the VNC framebuffer, with the TCP ports each gets.

A mixin of BhyveDriver: it uses ``self.conn``, ``self.config``,
``self._lookup`` and ``self._model``.

  serial  every running guest's nmdm B end is held by a ConsoleRelay
          (console.py) that logs it; with ``serial_tcp`` the relay also
          listens on a port from ``serial_port_range``, recorded in the
          instance directory (console.json) so the guest keeps it.
  vnc     UEFI guests get a framebuffer on a port from ``vnc_port_range``,
          written into the domain (not libvirt's autoport): the port is in
          the definition and stays the guest's across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import libvirt

from bsdnet.driver.compute import console, ports
from bsdnet.driver.compute.config import instance_dir
from bsdnet.driver.compute.errors import ConsoleUnavailable

LOG = logging.getLogger(__name__)


@dataclass
class VncConsole:
    host: str
    port: int


@dataclass
class SerialConsole:
    host: str
    port: int


class ConsoleMixin:
    config: Any
    consoles: dict[str, console.ConsoleRelay]

    # -- ports ------------------------------------------------------------
    def _vnc_ports_taken(self) -> set[int]:
        """Framebuffer ports of every domain libvirt knows, ours or not, as
        defined and as running (autoport guests get theirs at start)."""
        taken = set()
        for dom in self.conn.listAllDomains():  # type: ignore[attr-defined]
            for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE):
                for g in ET.fromstring(dom.XMLDesc(flags)).iterfind("devices/graphics"):
                    if (g.get("port") or "").lstrip("-").isdigit() and int(g.get("port")) > 0:
                        taken.add(int(g.get("port")))
        return taken

    def _new_vnc_port(self) -> int:
        return ports.allocate(ports.parse_range(self.config.vnc_port_range), self._vnc_ports_taken(),
                              self.config.vnc_listen)

    def _console_record(self, uuid: str) -> str:
        return os.path.join(instance_dir(self.config, uuid), "console.json")

    def _serial_port(self, uuid: str) -> int:
        """The guest's relay port: the one it had, else a free one (recorded)."""
        path = self._console_record(uuid)
        try:
            with open(path) as f:
                return int(json.load(f)["serial_port"])
        except (FileNotFoundError, KeyError, ValueError):
            pass
        taken = set()
        for other in os.listdir(self.config.instances_path):
            try:
                with open(os.path.join(self.config.instances_path, other, "console.json")) as f:
                    taken.add(int(json.load(f)["serial_port"]))
            except (OSError, KeyError, ValueError):
                continue
        port = ports.allocate(ports.parse_range(self.config.serial_port_range), taken, self.config.serial_listen)
        with open(path, "w") as f:
            json.dump({"serial_port": port}, f)
        return port

    # -- serial -----------------------------------------------------------
    def _start_console(self, uuid: str) -> None:
        if uuid in self.consoles:
            return
        device = self.console_device(uuid)  # type: ignore[attr-defined]
        if not os.path.exists(device):
            LOG.debug("console device %s absent (no nmdm here): not logging", device)
            return
        listen = None
        try:
            if self.config.serial_tcp:
                listen = (self.config.serial_listen, self._serial_port(uuid))
            relay = console.ConsoleRelay(device, os.path.join(instance_dir(self.config, uuid), "console.log"),
                                         self.config.console_log_max_bytes, listen)
            relay.start()
        except (OSError, ports.NoFreePort) as exc:
            # A guest without a console log is still a guest: do not fail it for this.
            LOG.warning("cannot log or serve the console of %s from %s: %s", uuid, device, exc)
            return
        self.consoles[uuid] = relay

    def _stop_console(self, uuid: str) -> None:
        relay = self.consoles.pop(uuid, None)
        if relay is not None:
            relay.stop()

    def get_console_output(self, context: Any, instance: Any) -> bytes:
        self._lookup(instance)  # type: ignore[attr-defined]
        path = os.path.join(instance_dir(self.config, instance.uuid), "console.log")
        return console.read_log(path, self.config.console_log_max_bytes)

    def get_serial_console(self, context: Any, instance: Any) -> SerialConsole:
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        relay = self.consoles.get(instance.uuid)
        if not dom.isActive():
            raise ConsoleUnavailable("serial", f"instance {instance.uuid} is not running")
        if relay is None or relay.address is None:
            why = "[bhyve] serial_tcp is off" if not self.config.serial_tcp else "its console device is not open"
            raise ConsoleUnavailable("serial", f"instance {instance.uuid} has no TCP serial console: {why}; "
                                               "get_console_output has its log")
        host, port = relay.address
        return SerialConsole(host=host, port=port)

    # -- vnc --------------------------------------------------------------
    def get_vnc_console(self, context: Any, instance: Any) -> VncConsole:
        dom = self._lookup(instance)  # type: ignore[attr-defined]
        if dom.isActive():
            for g in self._model(dom).graphics:  # type: ignore[attr-defined]
                if g.type == "vnc" and g.port is not None and g.port > 0:
                    return VncConsole(host=g.listen or self.config.vnc_listen, port=g.port)
        raise ConsoleUnavailable("vnc", f"instance {instance.uuid} has no running VNC framebuffer")
