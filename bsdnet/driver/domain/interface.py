"""``<interface>``: what libvirt's bhyve driver accepts is type bridge, network
and user (slirp); never 'ethernet'.  libvirt creates the tap itself and names
it after ``<target dev>``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from bsdnet.driver.domain.address import Address, parse_address
from bsdnet.driver.domain.base import XMLElement, sub


@dataclass
class Interface(XMLElement):
    type: str = "bridge"  # 'bridge' | 'network' | 'user'
    mac: str | None = None
    model: str | None = None  # virtio | e1000; None: the guest profile chooses
    source_bridge: str | None = None
    source_network: str | None = None
    target_dev: str | None = None
    mtu: int | None = None
    address: Address | None = None
    root_name = "interface"

    def format_dom(self) -> ET.Element:
        el = ET.Element("interface", {"type": self.type})
        if self.mac is not None:
            sub(el, "mac", {"address": self.mac})
        if self.source_bridge is not None:
            sub(el, "source", {"bridge": self.source_bridge})
        elif self.source_network is not None:
            sub(el, "source", {"network": self.source_network})
        if self.target_dev is not None:
            sub(el, "target", {"dev": self.target_dev})
        if self.model is not None:
            sub(el, "model", {"type": self.model})
        if self.mtu is not None:
            sub(el, "mtu", {"size": self.mtu})
        if self.address is not None:
            el.append(self.address.format_dom())
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Interface":
        mac, src, tgt, model, mtu = (el.find(t) for t in ("mac", "source", "target", "model", "mtu"))
        return cls(type=el.get("type", "bridge"),
                   mac=mac.get("address") if mac is not None else None,
                   model=model.get("type") if model is not None else None,
                   source_bridge=src.get("bridge") if src is not None else None,
                   source_network=src.get("network") if src is not None else None,
                   target_dev=tgt.get("dev") if tgt is not None else None,
                   mtu=int(mtu.get("size", "0")) if mtu is not None else None,
                   address=parse_address(el.find("address")))
