"""Device addresses: PCI slots (bhyve's -s slot:function) and drive addresses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from bsdnet.driver.domain.base import XMLElement, get_int
from bsdnet.driver.domain.errors import DomainConfigError


@dataclass
class PciAddress(XMLElement):
    """``<address type='pci'>``; bhyve has one bus and 32 slots."""

    slot: int
    function: int = 0
    bus: int = 0
    domain: int = 0
    with_type: bool = True  # a hostdev <source><address> has no type attribute
    root_name = "address"

    def format_dom(self) -> ET.Element:
        el = ET.Element("address")
        if self.with_type:
            el.set("type", "pci")
        el.set("domain", f"0x{self.domain:04x}")
        el.set("bus", f"0x{self.bus:02x}")
        el.set("slot", f"0x{self.slot:02x}")
        el.set("function", f"0x{self.function:x}")
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "PciAddress":
        return cls(slot=get_int(el, "slot") or 0, function=get_int(el, "function") or 0,
                   bus=get_int(el, "bus") or 0, domain=get_int(el, "domain") or 0,
                   with_type=el.get("type") is not None)


@dataclass
class DriveAddress(XMLElement):
    """``<address type='drive'>``: a port on an AHCI controller."""

    controller: int = 0
    bus: int = 0
    target: int = 0
    unit: int = 0
    root_name = "address"

    def format_dom(self) -> ET.Element:
        return ET.Element("address", {"type": "drive", "controller": str(self.controller),
                                      "bus": str(self.bus), "target": str(self.target),
                                      "unit": str(self.unit)})

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "DriveAddress":
        return cls(controller=get_int(el, "controller") or 0, bus=get_int(el, "bus") or 0,
                   target=get_int(el, "target") or 0, unit=get_int(el, "unit") or 0)


Address = PciAddress | DriveAddress


def parse_address(el: ET.Element | None) -> Address | None:
    if el is None:
        return None
    kind = el.get("type")
    if kind == "pci":
        return PciAddress.parse_dom(el)
    if kind == "drive":
        return DriveAddress.parse_dom(el)
    raise DomainConfigError(f"address type {kind!r} has no meaning for bhyve")
