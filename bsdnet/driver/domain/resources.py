"""Memory and CPU: ``<memory>``, ``<memoryBacking>``, ``<vcpu>``, ``<cpu>``, ``<cputune>``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from bsdnet.driver.domain.base import XMLElement, get_int, sub
from bsdnet.driver.domain.errors import DomainConfigError

_UNIT_KIB = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024,
             "m": 1024, "mib": 1024, "mb": 1000 * 1000 / 1024,
             "g": 1024 ** 2, "gib": 1024 ** 2, "gb": 1000 ** 3 / 1024}


def memory_to_kib(el: ET.Element) -> int:
    unit = (el.get("unit") or "KiB").lower()
    if unit not in _UNIT_KIB:
        raise DomainConfigError(f"memory unit {unit!r} not understood")
    try:
        return int(int((el.text or "0").strip()) * _UNIT_KIB[unit])
    except ValueError as exc:
        raise DomainConfigError(f"<{el.tag}> holds {el.text!r}") from exc


@dataclass
class CpuTopology(XMLElement):
    """``<cpu><topology sockets cores threads/></cpu>`` -> bhyve ``-c cpus=,sockets=,...``."""

    sockets: int
    cores: int
    threads: int
    root_name = "cpu"

    def format_dom(self) -> ET.Element:
        el = ET.Element("cpu")
        sub(el, "topology", {"sockets": self.sockets, "cores": self.cores, "threads": self.threads})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "CpuTopology":
        top = el.find("topology")
        if top is None:
            raise DomainConfigError("<cpu> without <topology> says nothing bhyve uses")
        return cls(sockets=get_int(top, "sockets") or 1, cores=get_int(top, "cores") or 1,
                   threads=get_int(top, "threads") or 1)

    @property
    def vcpus(self) -> int:
        return self.sockets * self.cores * self.threads


@dataclass
class VcpuPin:
    vcpu: int
    cpuset: str


@dataclass
class CpuTune(XMLElement):
    """``<cputune><vcpupin vcpu cpuset/></cputune>`` -> bhyve ``-p vcpu:hostcpu``."""

    pins: list[VcpuPin] = field(default_factory=list)
    root_name = "cputune"

    def format_dom(self) -> ET.Element:
        el = ET.Element("cputune")
        for pin in self.pins:
            sub(el, "vcpupin", {"vcpu": pin.vcpu, "cpuset": pin.cpuset})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "CpuTune":
        return cls(pins=[VcpuPin(get_int(p, "vcpu") or 0, p.get("cpuset", ""))
                         for p in el.findall("vcpupin")])
