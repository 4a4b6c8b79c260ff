"""Config drive: an ISO 9660 image labelled ``config-2`` with the OpenStack
metadata layout cloud-init and bsd-cloudinit read:

    openstack/latest/meta_data.json
    openstack/latest/network_data.json
    openstack/latest/user_data          (when the instance has user data)
    openstack/latest/vendor_data.json
    openstack/content/NNNN              (injected files, listed in meta_data)

Built with ``xorriso -as mkisofs`` (Rock Ridge and Joliet, as Nova's
genisoimage call does) so it works where genisoimage is not installed.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from bsdnet.common import names
from bsdnet.driver.compute.errors import ConfigDriveError

LABEL = "config-2"
VERSION_DIRS = ("latest", "2018-08-27")


def network_data(network_info: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Nova's ``network_data.json`` (links, networks, services) from VIF dicts."""
    links, networks, services = [], [], []
    for vif in network_info:
        link_id = vif.get("devname") or names.tap_name(str(vif["id"]), error=ConfigDriveError)
        net = vif.get("network") or {}
        links.append({"id": link_id, "vif_id": vif["id"], "type": "phy",
                      "mtu": (net.get("meta") or {}).get("mtu"),
                      "ethernet_mac_address": vif["address"]})
        for subnet in net.get("subnets") or []:
            cidr = ipaddress.ip_network(subnet["cidr"], strict=False)
            v6 = cidr.version == 6
            for ip in subnet.get("ips") or []:
                entry: dict[str, Any] = {
                    "id": f"network{len(networks)}", "link": link_id,
                    "type": "ipv6" if v6 else "ipv4", "ip_address": ip["address"],
                    "netmask": str(cidr.netmask), "network_id": net.get("id"), "routes": []}
                gw = (subnet.get("gateway") or {}).get("address")
                if gw:
                    entry["routes"].append({"network": "::" if v6 else "0.0.0.0",
                                            "netmask": "::" if v6 else "0.0.0.0", "gateway": gw})
                for route in subnet.get("routes") or []:
                    rnet = ipaddress.ip_network(route["cidr"], strict=False)
                    entry["routes"].append({"network": str(rnet.network_address),
                                            "netmask": str(rnet.netmask),
                                            "gateway": route["gateway"]["address"]})
                entry["services"] = [{"type": "dns", "address": d["address"]}
                                     for d in subnet.get("dns") or []]
                networks.append(entry)
            for d in subnet.get("dns") or []:
                svc = {"type": "dns", "address": d["address"]}
                if svc not in services:
                    services.append(svc)
    return {"links": links, "networks": networks, "services": services}


def meta_data(instance: Any, public_keys: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``meta_data.json`` for an instance (Nova object or InstanceSpec)."""
    keys = dict(public_keys or {})
    if not keys and getattr(instance, "key_data", None):
        keys = {getattr(instance, "key_name", None) or "key": instance.key_data}
    return {
        "uuid": instance.uuid,
        "name": getattr(instance, "display_name", None) or instance.name,
        "hostname": getattr(instance, "hostname", None) or instance.name,
        "launch_index": getattr(instance, "launch_index", 0) or 0,
        "availability_zone": getattr(instance, "availability_zone", None) or "nova",
        "project_id": getattr(instance, "project_id", None),
        "public_keys": keys,
        "keys": [{"name": n, "type": "ssh", "data": k} for n, k in keys.items()],
        "meta": dict(getattr(instance, "metadata", None) or {}),
        "devices": [],
    }


def _user_data(instance: Any) -> bytes | None:
    ud = getattr(instance, "user_data", None)
    if not ud:
        return None
    if isinstance(ud, bytes):
        return ud
    try:  # Nova stores user data base64 encoded
        return base64.b64decode(ud, validate=True)
    except ValueError:
        return ud.encode()


def write_tree(root: str, instance: Any, network_info: Sequence[Mapping[str, Any]],
               extra_md: Mapping[str, Any] | None = None,
               files: Sequence[tuple[str, bytes | str]] = ()) -> None:
    md = meta_data(instance)
    md.update(extra_md or {})
    # Injected files go under openstack/content/, named by index, as Nova lays them out.
    content = os.path.join(root, "openstack", "content")
    md["files"] = []
    for i, (path, data) in enumerate(files):
        os.makedirs(content, exist_ok=True)
        name = f"{i:04x}"
        with open(os.path.join(content, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        md["files"].append({"path": path, "content_path": f"/content/{name}"})
    nd = network_data(network_info)
    ud = _user_data(instance)
    for version in VERSION_DIRS:
        d = os.path.join(root, "openstack", version)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "meta_data.json"), "w") as f:
            json.dump(md, f)
        with open(os.path.join(d, "network_data.json"), "w") as f:
            json.dump(nd, f)
        with open(os.path.join(d, "vendor_data.json"), "w") as f:
            json.dump({}, f)
        if ud is not None:
            with open(os.path.join(d, "user_data"), "wb") as f:
                f.write(ud)


def make_config_drive(path: str, instance: Any, network_info: Sequence[Mapping[str, Any]],
                      xorriso: str = "xorriso", extra_md: Mapping[str, Any] | None = None,
                      files: Sequence[tuple[str, bytes | str]] = ()) -> str:
    """Build the ISO at ``path`` and return it."""
    with tempfile.TemporaryDirectory(prefix="bsdnet-cd-") as tree:
        write_tree(tree, instance, network_info, extra_md, files)
        argv = [xorriso, "-as", "mkisofs", "-o", path, "-V", LABEL, "-J", "-r",
                "-l", "-allow-lowercase", "-quiet", tree]
        try:
            subprocess.run(argv, check=True, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise ConfigDriveError(f"{xorriso} not found: install xorriso") from exc
        except subprocess.CalledProcessError as exc:
            raise ConfigDriveError(f"xorriso failed: {exc.stderr.strip()}") from exc
    return path
