"""The instance as the driver reads it: a Nova ``Instance`` object, or the
small ``InstanceSpec`` the command line and tests build.  Accessors read
flavor values from ``instance.flavor`` when there is one (Nova), else from
the instance itself."""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bsdnet.driver.domain import DomainConfigError
from bsdnet.driver.domain import validate as v


@dataclass
class Flavor:
    name: str = "custom"
    memory_mb: int = 512
    vcpus: int = 1
    root_gb: int = 0
    ephemeral_gb: int = 0
    swap: int = 0
    extra_specs: dict[str, str] = field(default_factory=dict)


@dataclass
class InstanceSpec:
    uuid: str
    name: str
    flavor: Flavor = field(default_factory=Flavor)
    display_name: str | None = None
    hostname: str | None = None
    image_ref: str | None = None
    config_drive: bool = False
    user_data: str | bytes | None = None
    key_data: str | None = None
    key_name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    project_id: str | None = None
    user_id: str | None = None
    launch_index: int = 0


def flavor_value(instance: Any, name: str, default: Any = None) -> Any:
    flavor = getattr(instance, "flavor", None)
    if flavor is not None and getattr(flavor, name, None) is not None:
        return getattr(flavor, name)
    return getattr(instance, name, default)


def extra_specs(instance: Any) -> Mapping[str, str]:
    flavor = getattr(instance, "flavor", None)
    return dict(getattr(flavor, "extra_specs", None) or {})


def image_props(image_meta: Any) -> dict[str, Any]:
    """Image properties from a Nova ImageMeta object or a Glance-style dict."""
    if image_meta is None:
        return {}
    if isinstance(image_meta, Mapping):
        return dict(image_meta.get("properties") or {})
    props = getattr(image_meta, "properties", None)
    if props is None:
        return {}
    out = {}
    for key in ("hw_firmware_type", "os_type", "os_distro", "hw_disk_bus", "hw_vif_model",
                "hw_cdrom_bus", "hw_cpu_sockets", "hw_cpu_cores", "hw_cpu_threads"):
        value = props.get(key) if hasattr(props, "get") else getattr(props, key, None)
        if value is not None:
            out[key] = str(value)
    return out


def image_field(image_meta: Any, name: str) -> Any:
    if image_meta is None:
        return None
    if isinstance(image_meta, Mapping):
        return image_meta.get(name)
    try:
        return getattr(image_meta, name, None)
    except NotImplementedError:  # unset Nova object field
        return None


def domain_name(instance: Any) -> str:
    """The libvirt/vmm(4) name of the instance's domain.

    Nova's name when it fits vmm's 31 characters and alphabet; otherwise
    (``instance_name_template = instance-%(uuid)s`` gives 45) a short name
    made from the UUID, the same on every call: 'i-' and 29 of its hex
    digits.  Nova's own name is kept as the domain's <title>."""
    try:
        return v.check_name(instance.name)
    except DomainConfigError:
        return "i-" + _uuid.UUID(v.check_uuid(instance.uuid)).hex[:v.VM_NAME_MAX - 2]
