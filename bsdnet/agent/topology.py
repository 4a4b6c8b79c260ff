"""The topology file (JSON, written by the sandbox or a port API), parsed
and checked into plain dicts before anything is programmed."""
from __future__ import annotations

import ipaddress
import json
from typing import Any


class TopologyError(Exception):
    pass


def _mac(v: Any, where: str) -> str:
    if not isinstance(v, str) or len(v.split(":")) != 6:
        raise TopologyError(f"{where}: bad MAC {v!r}")
    try:
        bytes(int(x, 16) for x in v.split(":"))
    except ValueError:
        raise TopologyError(f"{where}: bad MAC {v!r}") from None
    return v.lower()


def _ip(v: Any, where: str) -> str:
    try:
        return str(ipaddress.IPv4Address(v))
    except (ValueError, TypeError):
        raise TopologyError(f"{where}: bad IPv4 address {v!r}") from None


def parse(doc: dict[str, Any]) -> dict[str, Any]:
    """Validate a topology document; returns a normalised copy."""
    if not isinstance(doc, dict):
        raise TopologyError("topology is not a JSON object")
    out: dict[str, Any] = {"fabric": None, "networks": [], "ports": [],
                           "remote": []}
    fab = doc.get("fabric")
    if fab:
        out["fabric"] = {
            "interface": str(fab["interface"]),
            "address": _ip(fab["address"], "fabric"),
            "mac": _mac(fab["mac"], "fabric"),
            "mtu": int(fab.get("mtu", 1500))}
    names = []
    for n in doc.get("networks", []):
        name = str(n["name"])
        if name in names:
            raise TopologyError(f"network {name!r} listed twice")
        names.append(name)
    out["networks"] = names
    seen = set()
    for p in doc.get("ports", []):
        pid = str(p["id"])
        where = f"port {pid}"
        if pid in seen:
            raise TopologyError(f"{where} listed twice")
        seen.add(pid)
        if p["network"] not in names:
            raise TopologyError(f"{where}: unknown network {p['network']!r}")
        out["ports"].append({
            "id": pid, "network": p["network"],
            "interface": str(p["interface"]),
            "mac": _mac(p["mac"], where), "ip": _ip(p["ip"], where),
            "policy": bool(p.get("policy", False)),
            "mtu": int(p.get("mtu", 1500)),
            "gateway": _ip(p["gateway"], where) if p.get("gateway") else ""})
    for r in doc.get("remote", []):
        where = f"remote {r.get('prefix')}"
        if r["network"] not in names:
            raise TopologyError(f"{where}: unknown network {r['network']!r}")
        try:
            prefix = str(ipaddress.IPv4Network(r["prefix"], strict=True))
        except ValueError:
            raise TopologyError(f"{where}: bad prefix") from None
        label = int(r["label"])
        if not 0 <= label < (1 << 20):
            raise TopologyError(f"{where}: label {label} out of range")
        out["remote"].append({
            "network": r["network"], "prefix": prefix,
            "node": _ip(r["node"], where),
            "node_mac": _mac(r["node_mac"], where), "label": label})
    return out


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise TopologyError(f"{path}: {e}") from None
    try:
        return parse(doc)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, TopologyError):
            raise
        raise TopologyError(f"{path}: missing or bad field: {e}") from None
