"""Character devices: ``<serial>``, ``<console>`` (nmdm(4) null-modem pairs,
TCP) and ``<channel>`` (virtio-console, e.g. the guest agent socket).

bhyve's serial ports are on the LPC bridge (com1..com4); libvirt gives an
nmdm serial its master end (``/dev/nmdmNA``) and the host reads the slave
(``/dev/nmdmNB``), which is what the console logger opens.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from bsdnet.driver.domain.base import XMLElement, get_int, sub

CHARDEV_TAGS = ("serial", "console", "channel")


@dataclass
class CharDevice(XMLElement):
    kind: str = "serial"  # element name: serial | console | channel
    type: str = "nmdm"  # nmdm | tcp | unix
    master: str | None = None
    slave: str | None = None
    mode: str | None = None  # tcp/unix: bind | connect
    host: str | None = None
    service: str | None = None
    path: str | None = None
    protocol: str | None = None  # tcp: raw | telnet
    target_type: str | None = None  # channel: virtio
    target_name: str | None = None
    target_port: int | None = None
    root_name = "serial"

    def format_dom(self) -> ET.Element:
        el = ET.Element(self.kind, {"type": self.type})
        src = {"master": self.master, "slave": self.slave, "mode": self.mode,
               "host": self.host, "service": self.service, "path": self.path}
        if any(v is not None for v in src.values()):
            sub(el, "source", src)
        if self.protocol is not None:
            sub(el, "protocol", {"type": self.protocol})
        if self.target_type is not None or self.target_name is not None or self.target_port is not None:
            sub(el, "target", {"type": self.target_type, "name": self.target_name, "port": self.target_port})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "CharDevice":
        src, proto, tgt = el.find("source"), el.find("protocol"), el.find("target")

        def s(name: str) -> str | None:
            return src.get(name) if src is not None else None

        return cls(kind=el.tag, type=el.get("type", "pty"), master=s("master"), slave=s("slave"),
                   mode=s("mode"), host=s("host"), service=s("service"), path=s("path"),
                   protocol=proto.get("type") if proto is not None else None,
                   target_type=tgt.get("type") if tgt is not None else None,
                   target_name=tgt.get("name") if tgt is not None else None,
                   target_port=get_int(tgt, "port"))
