"""The ports plugged on this node in Neutron mode, kept across restarts
(one JSON file per plug under <state_dir>/neutron/plugs), so that a
restarted agent knows which devices to ask Neutron about."""
from __future__ import annotations

import json
import logging
import os
import threading

from bsdnet.agent import portstore as ps
from bsdnet.common.files import write_atomic

from .translate import Plug

LOG = logging.getLogger(__name__)


class PlugStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._plugs: dict[str, Plug] = {}
        self._lock = threading.Lock()
        os.makedirs(path, mode=0o750, exist_ok=True)

    def load(self) -> None:
        """Read every plug back; CorruptStateError on the first bad one."""
        plugs = {}
        for name in sorted(os.listdir(self.path)):
            f = os.path.join(self.path, name)
            if name.startswith(".tmp-"):
                os.unlink(f)
                continue
            if not name.endswith(".json"):
                continue
            try:
                with open(f, "rb") as fh:
                    doc = json.loads(fh.read().decode("utf-8"))
                plug = Plug.from_json(doc.get("object")
                                      if isinstance(doc, dict) else None)
            except (OSError, ValueError) as e:
                raise ps.CorruptStateError(f, f"not a plug: {e}") from None
            if name != f"{plug.id}.json":
                raise ps.CorruptStateError(f, f"holds plug {plug.id}")
            plugs[plug.id] = plug
        with self._lock:
            self._plugs = plugs
        LOG.info("%d plugged ports in %s", len(plugs), self.path)

    def get(self, pid: str) -> Plug | None:
        return self._plugs.get(pid)

    def all(self) -> list[Plug]:
        with self._lock:
            return list(self._plugs.values())

    def by_tap(self, name: str) -> Plug | None:
        with self._lock:
            return next((p for p in self._plugs.values()
                         if p.system_name == name), None)

    def put(self, plug: Plug) -> None:
        with self._lock:
            if self._plugs.get(plug.id) == plug:
                return
            write_atomic(os.path.join(self.path, f"{plug.id}.json"),
                         json.dumps({"kind": "plug", "object": plug.to_json()},
                                    sort_keys=True) + "\n")
            self._plugs[plug.id] = plug

    def remove(self, pid: str) -> Plug | None:
        with self._lock:
            plug = self._plugs.pop(pid, None)
            if plug is not None:
                try:
                    os.unlink(os.path.join(self.path, f"{pid}.json"))
                except FileNotFoundError:
                    pass
            return plug
