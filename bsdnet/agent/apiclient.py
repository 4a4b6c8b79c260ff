"""Talking to the agent's port API: over its unix socket (the default,
``unix:///var/run/bsdnet/port-api.sock`` or just the socket's path) or,
where the operator opted in, over TCP on 127.0.0.1 with the shared token
(``http://127.0.0.1:9091``).  One request per connection.

The one client: the VIF drivers (Nova's and os-vif's), bsdnet-port-control
and the sandbox.  Ports travel as portstore.Port, the one schema of the
port API's JSON.
"""
from __future__ import annotations

import http.client
import json
import logging
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit

from .portstore import Port

LOG = logging.getLogger(__name__)

DEFAULT_SOCKET = "/var/run/bsdnet/port-api.sock"
DEFAULT_URL = "unix://" + DEFAULT_SOCKET
TOKEN_HEADER = "X-Auth-Token"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        self.sock = s


def check_url(url: str) -> str:
    """A port API address as given: unix://PATH, an absolute socket path,
    or http://HOST:PORT; ValueError otherwise."""
    if url.startswith("/"):
        return "unix://" + url
    u = urlsplit(url)
    if u.scheme == "unix" and u.path.startswith("/") and not u.netloc:
        return url
    if u.scheme == "http" and u.hostname:
        return url
    raise ValueError(f"port API address must be unix:///path/to.sock, a "
                     f"socket path or http://host:port, not {url!r}")


def connection(url: str, timeout: float) -> http.client.HTTPConnection:
    u = urlsplit(check_url(url))
    if u.scheme == "unix":
        return _UnixConnection(u.path, timeout)
    return http.client.HTTPConnection(u.hostname or "127.0.0.1",
                                      u.port or 9091, timeout=timeout)


def request(url: str, method: str, path: str, body: Any = None,
            token: str | None = None, timeout: float = 10.0
            ) -> tuple[int, Any]:
    """(status, decoded JSON answer) of one request; OSError when the
    agent cannot be reached, ValueError when it answers no JSON."""
    conn = connection(url, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        if token:
            headers[TOKEN_HEADER] = token
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except http.client.HTTPException as e:
        raise OSError(f"bad answer from the agent: {e}") from e
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw or b"null")
    except ValueError:
        raise ValueError(f"the agent answered {resp.status} without JSON: "
                         f"{raw[:200]!r}") from None


def read_token(path: str | None) -> str | None:
    """The shared token in path (the agent's [agent] api_token_file), or
    None without a path; OSError if it cannot be read."""
    if not path:
        return None
    with open(path, encoding="ascii") as f:
        return f.read().strip()


class PortApiError(Exception):
    """The agent refused a request (status: its HTTP status, reason: its
    words) or could not be reached (status None)."""

    def __init__(self, message: str, status: int | None = None,
                 reason: str = "") -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


class PortApiClient:
    """Requests to one agent's port API; PortApiError unless it succeeds."""

    def __init__(self, url: str = DEFAULT_URL, timeout: float = 10.0,
                 token: str | None = None) -> None:
        self.url = check_url(url)
        self.timeout = timeout
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """The decoded answer of one request."""
        try:
            status, doc = request(self.url, method, path, body, self.token,
                                  self.timeout)
        except (OSError, ValueError) as e:
            raise PortApiError(f"{method} {path}: agent unreachable at "
                               f"{self.url}: {e}") from e
        if status >= 300:
            reason = str(doc.get("error", status) if isinstance(doc, dict)
                         else doc)
            raise PortApiError(f"{method} {path}: HTTP {status}: {reason}",
                               status, reason)
        return doc

    def add_port(self, port: Port) -> Any:
        LOG.info("registering port %s (%s) with the agent", port.id,
                 port.system_name)
        return self.call("POST", "/port", port.to_json())

    def delete_port(self, port_id: str) -> Any:
        """The agent's answer, or None if it did not know the port (an
        unplug may be repeated)."""
        # Only a UUID goes into the path: it must not steer the request.
        try:
            return self.call("DELETE", f"/port/{uuid.UUID(port_id)}")
        except PortApiError as e:
            if e.status != 404:
                raise
            return None
