"""Talking to the agent's port API: over its unix socket (the default,
``unix:///var/run/bsdnet/port-api.sock`` or just the socket's path) or,
where the operator opted in, over TCP on 127.0.0.1 with the shared token
(``http://127.0.0.1:9091``).  One request per connection."""
from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

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
