"""``<features>`` (ACPI, APIC, unknown-MSR policy) and ``<clock>``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from bsdnet.driver.domain.base import XMLElement
from bsdnet.driver.domain.errors import DomainConfigError


@dataclass
class Features(XMLElement):
    """bhyve reads ``msrs unknown='ignore'`` as ``-w`` (ignore unimplemented MSRs,
    needed by some Linux and Windows guests); acpi/apic are accepted for
    compatibility (bhyve always provides them on recent FreeBSD)."""

    acpi: bool = False
    apic: bool = False
    msrs_unknown: str | None = None  # 'ignore' or 'fail'
    root_name = "features"

    def format_dom(self) -> ET.Element:
        el = ET.Element("features")
        if self.acpi:
            ET.SubElement(el, "acpi")
        if self.apic:
            ET.SubElement(el, "apic")
        if self.msrs_unknown is not None:
            ET.SubElement(el, "msrs", {"unknown": self.msrs_unknown})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Features":
        feat = cls()
        for child in el:
            if child.tag == "acpi":
                feat.acpi = True
            elif child.tag == "apic":
                feat.apic = True
            elif child.tag == "msrs":
                feat.msrs_unknown = child.get("unknown")
            else:
                raise DomainConfigError(f"feature <{child.tag}> is not one bhyve has")
        return feat


@dataclass
class Clock(XMLElement):
    """``<clock offset='utc'|'localtime'>``: bhyve's RTC keeps UTC (``-u``) or local time (Windows)."""

    offset: str = "utc"
    root_name = "clock"

    def format_dom(self) -> ET.Element:
        if self.offset not in ("utc", "localtime"):
            raise DomainConfigError(f"clock offset {self.offset!r}: bhyve has utc or localtime")
        return ET.Element("clock", {"offset": self.offset})

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Clock":
        return cls(offset=el.get("offset", "utc"))
