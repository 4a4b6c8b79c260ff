"""The VNC console: ``<graphics type='vnc'>`` (bhyve's fbuf device), ``<video>``
(the GOP framebuffer model) and ``<input type='tablet'>`` on an XHCI controller,
which gives an absolute pointer so the VNC mouse tracks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from bsdnet.driver.domain.address import Address, parse_address
from bsdnet.driver.domain.base import XMLElement, get_int, parse_yesno, sub, yesno


@dataclass
class Graphics(XMLElement):
    type: str = "vnc"
    port: int | None = None  # -1 with autoport
    autoport: bool | None = None
    listen: str | None = "127.0.0.1"
    passwd: str | None = None
    wait: bool | None = None  # bhyve waits for a VNC client before booting
    root_name = "graphics"

    def format_dom(self) -> ET.Element:
        el = ET.Element("graphics", {"type": self.type})
        for name, value in (("port", self.port), ("autoport", yesno(self.autoport)),
                            ("passwd", self.passwd), ("wait", yesno(self.wait))):
            if value is not None:
                el.set(name, str(value))
        if self.listen is not None:
            sub(el, "listen", {"type": "address", "address": self.listen})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Graphics":
        listen = el.find("listen")
        return cls(type=el.get("type", "vnc"), port=get_int(el, "port"),
                   autoport=parse_yesno(el.get("autoport")),
                   listen=(listen.get("address") if listen is not None else el.get("listen")),
                   passwd=el.get("passwd"), wait=parse_yesno(el.get("wait")))


@dataclass
class Video(XMLElement):
    model: str = "gop"
    heads: int | None = None
    primary: bool | None = None
    width: int | None = None
    height: int | None = None
    vgaconf: str | None = None  # on | off | io
    root_name = "video"

    def format_dom(self) -> ET.Element:
        el = ET.Element("video")
        if self.vgaconf is not None:
            sub(el, "driver", {"vgaconf": self.vgaconf})
        model = sub(el, "model", {"type": self.model, "heads": self.heads, "primary": yesno(self.primary)})
        if self.width is not None and self.height is not None:
            sub(model, "resolution", {"x": self.width, "y": self.height})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Video":
        model, drv = el.find("model"), el.find("driver")
        res = model.find("resolution") if model is not None else None
        return cls(model=model.get("type", "gop") if model is not None else "gop",
                   heads=get_int(model, "heads"),
                   primary=parse_yesno(model.get("primary")) if model is not None else None,
                   width=get_int(res, "x"), height=get_int(res, "y"),
                   vgaconf=drv.get("vgaconf") if drv is not None else None)


@dataclass
class Input(XMLElement):
    type: str = "tablet"
    bus: str = "usb"
    root_name = "input"

    def format_dom(self) -> ET.Element:
        return ET.Element("input", {"type": self.type, "bus": self.bus})

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Input":
        return cls(type=el.get("type", "tablet"), bus=el.get("bus", "usb"))


@dataclass
class Controller(XMLElement):
    """``<controller>``: 'isa' is bhyve's LPC bridge (slot 31 for Windows),
    'usb' model 'nec-xhci' carries the tablet, 'sata' is an AHCI controller."""

    type: str
    index: int | None = None
    model: str | None = None
    address: Address | None = None
    root_name = "controller"

    def format_dom(self) -> ET.Element:
        el = ET.Element("controller", {"type": self.type})
        if self.index is not None:
            el.set("index", str(self.index))
        if self.model is not None:
            el.set("model", self.model)
        if self.address is not None:
            el.append(self.address.format_dom())
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Controller":
        return cls(type=el.get("type", ""), index=get_int(el, "index"), model=el.get("model"),
                   address=parse_address(el.find("address")))
