"""What bsdnet was asked for, kept on disk so a restart (or the CLI, which
runs once per command) knows the networks and ports it should have.  The
interfaces themselves are the truth for what exists; this is the truth for
what is wanted."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from bsdnet.common.files import write_atomic

from .model import Network, Port


class StateStore:
    """Networks and ports as small JSON files, or in memory when path is None."""

    def __init__(self, path: str | os.PathLike | None, readonly: bool = False):
        self.path = Path(path) if path else None
        self._nets: dict[str, Network] = {}
        self._ports: dict[str, Port] = {}
        self.readonly = readonly
        if self.path:
            # Directories are made on the first write, so merely building a
            # driver (the compute driver does at start) touches nothing.
            for f in sorted((self.path / "networks").glob("*.json")):
                n = Network.from_dict(json.loads(f.read_text()))
                self._nets[n.id] = n
            for f in sorted((self.path / "ports").glob("*.json")):
                p = Port.from_dict(json.loads(f.read_text()))
                self._ports[p.id] = p

    def _write(self, sub: str, ident: str, data: dict) -> None:
        if not self.path or self.readonly:
            return
        d = self.path / sub
        d.mkdir(parents=True, exist_ok=True)
        write_atomic(d / f"{ident}.json", json.dumps(data, indent=1, sort_keys=True))

    def _remove(self, sub: str, ident: str) -> None:
        if self.path and not self.readonly:
            (self.path / sub / f"{ident}.json").unlink(missing_ok=True)

    def networks(self) -> list[Network]:
        return list(self._nets.values())

    def network(self, ident: str) -> Network | None:
        return self._nets.get(ident)

    def put_network(self, net: Network) -> None:
        if self._nets.get(net.id) == net:
            return                       # unchanged: no write (reconcile)
        self._nets[net.id] = copy.deepcopy(net)   # later edits by the caller are not ours
        self._write("networks", net.id, net.to_dict())

    def drop_network(self, ident: str) -> None:
        self._nets.pop(ident, None)
        self._remove("networks", ident)

    def ports(self, network_id: str | None = None) -> list[Port]:
        return [p for p in self._ports.values()
                if network_id is None or p.network_id == network_id]

    def port(self, ident: str) -> Port | None:
        return self._ports.get(ident)

    def put_port(self, port: Port) -> None:
        if self._ports.get(port.id) == port:
            return
        self._ports[port.id] = copy.deepcopy(port)
        self._write("ports", port.id, port.to_dict())

    def drop_port(self, ident: str) -> None:
        self._ports.pop(ident, None)
        self._remove("ports", ident)
