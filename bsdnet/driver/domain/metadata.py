"""Nova's instance metadata, in Nova's own namespace and layout
(``LibvirtConfigGuestMetaNovaInstance``), so tools that read it from libvirt
domains (``virsh dumpxml``, telemetry agents) find what they expect."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from bsdnet.driver.domain.base import NOVA_NS, XMLElement, sub, text_int, text_of

N = f"{{{NOVA_NS}}}"


@dataclass
class NovaPort:
    uuid: str
    ips: list[tuple[str, str, int]] = field(default_factory=list)  # (type, address, version)


@dataclass
class NovaMetadata(XMLElement):
    name: str | None = None
    package: str | None = None
    creation_time: str | None = None
    flavor_name: str | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None
    swap_mb: int | None = None
    ephemeral_gb: int | None = None
    vcpus: int | None = None
    user_uuid: str | None = None
    user_name: str | None = None
    project_uuid: str | None = None
    project_name: str | None = None
    root_type: str | None = None
    root_uuid: str | None = None
    ports: list[NovaPort] = field(default_factory=list)
    root_name = f"{N}instance"

    def format_dom(self) -> ET.Element:
        el = ET.Element(self.root_name)
        if self.package is not None:
            sub(el, f"{N}package", {"version": self.package})
        if self.name is not None:
            sub(el, f"{N}name", text=self.name)
        if self.creation_time is not None:
            sub(el, f"{N}creationTime", text=self.creation_time)
        if self.flavor_name is not None:
            fl = sub(el, f"{N}flavor", {"name": self.flavor_name})
            for tag, val in (("memory", self.memory_mb), ("disk", self.disk_gb), ("swap", self.swap_mb),
                             ("ephemeral", self.ephemeral_gb), ("vcpus", self.vcpus)):
                if val is not None:
                    sub(fl, f"{N}{tag}", text=val)
        if self.user_uuid is not None or self.project_uuid is not None:
            owner = sub(el, f"{N}owner")
            if self.user_uuid is not None:
                sub(owner, f"{N}user", {"uuid": self.user_uuid}, self.user_name or "")
            if self.project_uuid is not None:
                sub(owner, f"{N}project", {"uuid": self.project_uuid}, self.project_name or "")
        if self.root_type is not None:
            sub(el, f"{N}root", {"type": self.root_type, "uuid": self.root_uuid})
        if self.ports:
            ports = sub(el, f"{N}ports")
            for port in self.ports:
                p = sub(ports, f"{N}port", {"uuid": port.uuid})
                for kind, addr, ver in port.ips:
                    sub(p, f"{N}ip", {"type": kind, "address": addr, "ipVersion": ver})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "NovaMetadata":
        md = cls(name=text_of(el.find(f"{N}name")), creation_time=text_of(el.find(f"{N}creationTime")))
        pkg = el.find(f"{N}package")
        md.package = pkg.get("version") if pkg is not None else None
        fl = el.find(f"{N}flavor")
        if fl is not None:
            md.flavor_name = fl.get("name")
            md.memory_mb = text_int(fl.find(f"{N}memory"))
            md.disk_gb = text_int(fl.find(f"{N}disk"))
            md.swap_mb = text_int(fl.find(f"{N}swap"))
            md.ephemeral_gb = text_int(fl.find(f"{N}ephemeral"))
            md.vcpus = text_int(fl.find(f"{N}vcpus"))
        user, proj = el.find(f"{N}owner/{N}user"), el.find(f"{N}owner/{N}project")
        if user is not None:
            md.user_uuid, md.user_name = user.get("uuid"), user.text or ""
        if proj is not None:
            md.project_uuid, md.project_name = proj.get("uuid"), proj.text or ""
        root = el.find(f"{N}root")
        if root is not None:
            md.root_type, md.root_uuid = root.get("type"), root.get("uuid")
        for p in el.findall(f"{N}ports/{N}port"):
            md.ports.append(NovaPort(p.get("uuid", ""), [(ip.get("type", "fixed"), ip.get("address", ""),
                                                          int(ip.get("ipVersion", "4")))
                                                         for ip in p.findall(f"{N}ip")]))
        return md
