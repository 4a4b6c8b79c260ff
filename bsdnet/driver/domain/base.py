"""Base class and helpers for the domain model: one class per XML element.

As in Nova's ``nova/virt/libvirt/config.py``, each class has ``format_dom``
(model to element) and ``parse_dom`` (element to model) side by side, so a
reader checks both directions in one place.  Optional attributes are kept as
``None`` when absent, so ``format(parse(x))`` writes back what was read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, ClassVar, TypeVar

from bsdnet.driver.domain.errors import DomainConfigError

BHYVE_NS = "http://libvirt.org/schemas/domain/bhyve/1.0"
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
ET.register_namespace("bhyve", BHYVE_NS)
ET.register_namespace("nova", NOVA_NS)

T = TypeVar("T", bound="XMLElement")


class XMLElement:
    """One libvirt XML element family."""

    root_name: ClassVar[str] = ""

    def format_dom(self) -> ET.Element:
        raise NotImplementedError

    @classmethod
    def parse_dom(cls: type[T], el: ET.Element) -> T:
        raise NotImplementedError

    def to_xml(self) -> str:
        el = self.format_dom()
        ET.indent(el, space="  ")
        return ET.tostring(el, encoding="unicode") + "\n"

    @classmethod
    def from_xml(cls: type[T], text: str | bytes) -> T:
        return cls.parse_dom(parse_xml(text))


def parse_xml(text: str | bytes) -> ET.Element:
    """Parse untrusted XML: no DTD, so no entity expansion games."""
    probe = text if isinstance(text, str) else text.decode("utf-8", "replace")
    if "<!DOCTYPE" in probe or "<!ENTITY" in probe:
        raise DomainConfigError("domain XML must not carry a DTD")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise DomainConfigError(f"malformed XML: {exc}") from exc


def sub(parent: ET.Element, tag: str, attrs: dict[str, Any] | None = None, text: Any = None) -> ET.Element:
    """Append a child, dropping attributes whose value is None."""
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in (attrs or {}).items() if v is not None})
    if text is not None:
        el.text = str(text)
    return el


def attrs(**kw: Any) -> dict[str, str]:
    return {k: str(v) for k, v in kw.items() if v is not None}


def get_int(el: ET.Element | None, name: str, base: int = 10) -> int | None:
    if el is None or el.get(name) is None:
        return None
    raw = el.get(name, "")
    try:
        return int(raw, 0 if raw.lower().startswith("0x") else base)
    except ValueError as exc:
        raise DomainConfigError(f"<{el.tag} {name}={raw!r}> is not an integer") from exc


def text_int(el: ET.Element | None) -> int | None:
    if el is None or el.text is None:
        return None
    try:
        return int(el.text.strip())
    except ValueError as exc:
        raise DomainConfigError(f"<{el.tag}> holds {el.text!r}, not an integer") from exc


def text_of(el: ET.Element | None) -> str | None:
    return None if el is None or el.text is None else el.text.strip()


def yesno(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def parse_yesno(value: str | None) -> bool | None:
    if value is None:
        return None
    if value in ("yes", "on"):
        return True
    if value in ("no", "off"):
        return False
    raise DomainConfigError(f"expected yes/no, got {value!r}")
