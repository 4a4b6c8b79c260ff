"""Client of the bsdnet agent's port API (the one vRouter's vrouter-port-control
speaks): ``POST /port`` with the port as JSON, ``DELETE /port/<id>``."""

from __future__ import annotations

import logging
import uuid as _uuid
from dataclasses import dataclass
from typing import Any

from bsdnet.agent import apiclient

LOG = logging.getLogger(__name__)
PORT_TYPE_VM = 0  # vRouter: 0 VM interface, 1 namespace port, 2 ESXi port


class PortApiError(Exception):
    pass


@dataclass
class PortRequest:
    id: str
    instance_id: str
    mac_address: str
    system_name: str  # the tap's name on the host
    vn_id: str
    display_name: str = ""
    ip_address: str = "0.0.0.0"
    ip6_address: str = ""
    vm_project_id: str = ""
    rx_vlan_id: int = -1
    tx_vlan_id: int = -1
    type: int = PORT_TYPE_VM

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "instance-id": self.instance_id, "ip-address": self.ip_address,
                "ip6-address": self.ip6_address, "vn-id": self.vn_id,
                "display-name": self.display_name, "vm-project-id": self.vm_project_id,
                "mac-address": self.mac_address, "system-name": self.system_name,
                "type": self.type, "rx-vlan-id": self.rx_vlan_id, "tx-vlan-id": self.tx_vlan_id}


class PortApiClient:
    def __init__(self, url: str = apiclient.DEFAULT_URL, timeout: float = 10.0,
                 token: str | None = None) -> None:
        self.url = apiclient.check_url(url)
        self.timeout = timeout
        self.token = token

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        try:
            status, doc = apiclient.request(self.url, method, path, body, self.token, self.timeout)
        except (OSError, ValueError) as exc:
            raise PortApiError(f"{method} {path}: agent unreachable at {self.url}: {exc}") from exc
        if status >= 300 and not (method == "DELETE" and status == 404):
            detail = doc.get("error", doc) if isinstance(doc, dict) else doc
            raise PortApiError(f"{method} {path}: HTTP {status}: {detail}")
        return status

    def add_port(self, req: PortRequest) -> None:
        LOG.info("registering port %s (%s) with the agent", req.id, req.system_name)
        self._call("POST", "/port", req.to_json())

    def delete_port(self, port_id: str) -> None:
        # Only a UUID goes into the path: it must not steer the request.
        self._call("DELETE", f"/port/{_uuid.UUID(port_id)}")
