"""A small client of Neutron's REST API (v2.0, JSON), for the sandbox and
the tests: what a person would do with `openstack network ...`.

Without Keystone (the development server's noauth) requests carry no
identity and act as admin, naming the project in the body; with one, give
a token (OS_TOKEN) and it goes in X-Auth-Token.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class NeutronError(RuntimeError):
    def __init__(self, status: int, method: str, path: str, detail: str):
        super().__init__(f"Neutron {method} {path}: HTTP {status}: {detail}")
        self.status = status


class Neutron:
    def __init__(self, url: str, token: str | None = None,
                 timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/v2.0{path}", data=data,
                                     method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("X-Auth-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                detail = json.loads(raw)["NeutronError"]["message"]
            except (ValueError, KeyError, TypeError):
                detail = raw[:300].decode(errors="replace")
            raise NeutronError(e.code, method, path, detail) from None
        return json.loads(raw) if raw else None

    # -- resources -------------------------------------------------------------
    def create(self, kind: str, **attrs: Any) -> dict[str, Any]:
        return self.call("POST", f"/{kind}s", {kind: attrs})[kind]

    def show(self, kind: str, oid: str) -> dict[str, Any]:
        return self.call("GET", f"/{kind}s/{oid}")[kind]

    def update(self, kind: str, oid: str, **attrs: Any) -> dict[str, Any]:
        return self.call("PUT", f"/{kind}s/{oid}", {kind: attrs})[kind]

    def delete(self, kind: str, oid: str) -> None:
        self.call("DELETE", f"/{kind}s/{oid}")

    def find(self, kind: str, **filters: Any) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode(filters)
        return self.call("GET", f"/{kind}s" + (f"?{q}" if q else ""))[
            f"{kind}s"]

    def add_rule(self, group: str, **attrs: Any) -> dict[str, Any]:
        return self.create("security_group_rule", security_group_id=group,
                           **attrs)

    def alive(self, host: str, agent_type: str) -> bool:
        return any(a["alive"] for a in self.find("agent", host=host)
                   if a["agent_type"] == agent_type)

    def wait(self, what: str, check: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            v = check()
            if v:
                return v
            if time.monotonic() >= deadline:
                raise TimeoutError(f"gave up after {timeout:g}s waiting for "
                                   f"{what}")
            time.sleep(0.2)
