"""The port API's server: what Nova's VIF drivers and bsdnet-port-control
speak to the agent (the client is apiclient.py).

Resources (JSON bodies; every success is 200 with the object, as vRouter's
agent answers; errors are 4xx/5xx with {"error": reason}):

  POST   /port                      add or replace a port (vRouter's JSON)
  GET    /port/<id>                 one port
  GET    /ports                     all ports
  DELETE /port/<id>                 remove a port (404 if unknown)
  PUT    /port/<id>/security-groups {"security-groups": [ids]}: attach
  POST   /network                   add or replace a network and subnets
  GET    /network/<id>, /networks
  DELETE /network/<id>              409 while ports or routes use it
  POST   /route                     {"network","prefix","node","label"}:
                                    add one path; several paths = ECMP
  GET    /route/<network>/<prefix>, /routes
  DELETE /route/<network>/<prefix>[?node=A&label=L]   one path or all
  POST   /security-group            add or replace {"id","name","rules"}
  GET    /security-group/<id>, /security-groups
  DELETE /security-group/<id>       409 while ports or rules refer to it
  GET    /plugs                     Neutron mode: the plugged ports and
                                    what Neutron said of each

Transactions, listening sockets and the Neutron mode: ARCHITECTURE.md.
apply(change) runs in the HTTP thread with the store's lock held; it
raises only when the change cannot be applied at all (a datapath that is
down queues the change and returns).
"""
from __future__ import annotations

import functools
import grp
import hmac
import ipaddress
import json
import logging
import os
import socket
import socketserver
import stat
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from . import portstore as ps
from .apiclient import DEFAULT_SOCKET, TOKEN_HEADER
from .portstore import (ApplyFn, Change, ConflictError, Network,
                        NotFoundError, Port, Route, RoutePath,
                        ValidationError)

LOG = logging.getLogger(__name__)

DEFAULT_PORT = 9091            # TCP, when opted in
MAX_BODY = 1 << 20
ECMP_MAX = 8            # BSDNET_ECMP_MAX: members of one ECMP nexthop


class ApplyError(Exception):
    """The apply callback failed; the store was rolled back."""


_depth = threading.local()


def _saved(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A change of the API: once it returns (and has let go of the store's
    lock), write what it changed to disk.  Nested calls write once."""
    @functools.wraps(fn)
    def wrapper(self: "PortApi", *args: Any, **kw: Any) -> Any:
        _depth.n = getattr(_depth, "n", 0) + 1
        try:
            out = fn(self, *args, **kw)
        finally:
            _depth.n -= 1
        if _depth.n == 0:
            try:
                self.store.flush()
            except ps.StoreWriteError as e:
                raise ApplyError(f"applied but not saved: {e}") from e
        return out
    return wrapper


class ForbiddenError(Exception):
    """Not this API's to change (Neutron owns it): 403."""


class PortApi:
    """Validation, references and transactions of the port API.

    With neutron (the agent's Neutron mode), ports are plugged through it
    (only what Neutron bound to this host is programmed) and networks,
    routes and security groups are read-only: they are Neutron's.
    """

    def __init__(self, store: ps.PortStore,
                 apply: ApplyFn | None = None, neutron: Any = None) -> None:
        self.store = store
        self.apply = apply
        self.neutron = neutron

    def _neutrons(self, what: str) -> None:
        if self.neutron is not None:
            raise ForbiddenError(f"{what} come from Neutron on this node "
                                 f"([neutron] enabled): change them there")

    # -- helpers -----------------------------------------------------------
    def _commit(self, kind: str, oid: str, new: ps.Obj | None) -> Change:
        """Apply under the store's lock; the file is written by the
        outermost @_saved call, once the lock is let go."""
        try:
            return self.store.commit(kind, oid, new, self.apply,
                                     persist=False)
        except (ValidationError, ConflictError, NotFoundError):
            raise
        except Exception as e:
            raise ApplyError(f"{kind} {oid} not applied, nothing changed: "
                             f"{type(e).__name__}: {e}") from e

    # -- ports -------------------------------------------------------------
    @_saved
    def add_port(self, body: Any) -> Port | dict[str, Any]:
        if self.neutron is not None:
            return self.neutron.plug(body)
        port = Port.from_json(body)
        with self.store.lock:
            self._check_port(port)
            if self.store.find("port", port.id) == port:
                return port
            self._commit("port", port.id, port)
        LOG.info("port %s (%s, %s) on network %s added", port.id,
                 port.system_name, port.ip_address, port.vn_id)
        return port

    def _check_port(self, port: Port) -> None:
        net = self.store.find("network", port.vn_id)
        if net is None:
            raise ConflictError(f"network {port.vn_id} does not exist")
        assert isinstance(net, Network)
        self._check_port_in(port, net)
        for other in self.store.list("port"):
            assert isinstance(other, Port)
            if other.id == port.id:
                continue
            if other.system_name == port.system_name and port.type != 2:
                raise ConflictError(f"interface {port.system_name} belongs "
                                    f"to port {other.id}")
            if other.vn_id != port.vn_id:
                continue
            if port.has_ip and other.ip_address == port.ip_address:
                raise ConflictError(f"{port.ip_address} belongs to port "
                                    f"{other.id} in this network")
            if other.mac_address == port.mac_address:
                raise ConflictError(f"{port.mac_address} belongs to port "
                                    f"{other.id} in this network")
        for g in port.security_groups:
            if self.store.find("security-group", g) is None:
                raise ConflictError(f"security group {g} does not exist")

    @staticmethod
    def _check_port_in(port: Port, net: Network) -> None:
        if not port.has_ip:
            return
        sub = net.subnet_of(port.ip_address)
        if sub is None:
            raise ConflictError(f"{port.ip_address} is in no subnet of "
                                f"network {net.id}")
        a = ipaddress.IPv4Address(port.ip_address)
        n = sub.network
        if a in (n.network_address, n.broadcast_address):
            raise ConflictError(f"{a} is not a host address of {n}")
        if sub.gateway and port.ip_address == sub.gateway:
            raise ConflictError(f"{a} is the gateway of {n}")

    @_saved
    def delete_port(self, pid: str) -> Port | dict[str, Any]:
        if self.neutron is not None:
            return self.neutron.unplug(pid)
        pid = ps.v_uuid(pid, "port id")
        with self.store.lock:
            old = self.store.get("port", pid)
            self._commit("port", pid, None)
        LOG.info("port %s deleted", pid)
        assert isinstance(old, Port)
        return old

    @_saved
    def set_port_groups(self, pid: str, body: Any) -> Port:
        self._neutrons("security groups")
        pid = ps.v_uuid(pid, "port id")
        if not isinstance(body, dict) or set(body) != {"security-groups"}:
            raise ValidationError('body must be {"security-groups": [...]}')
        with self.store.lock:
            old = self.store.get("port", pid)
            assert isinstance(old, Port)
            new = Port.from_json({**old.to_json(),
                                  "security-groups": body["security-groups"]})
            return self.add_port(new.to_json())

    # -- networks ----------------------------------------------------------
    @_saved
    def add_network(self, body: Any) -> Network:
        self._neutrons("networks")
        net = Network.from_json(body)
        with self.store.lock:
            if self.store.find("network", net.id) == net:
                return net
            for p in self.store.list("port"):
                assert isinstance(p, Port)
                if p.vn_id == net.id:
                    try:
                        self._check_port_in(p, net)
                    except ConflictError as e:
                        raise ConflictError(f"port {p.id} would be "
                                            f"stranded: {e}") from None
            self._commit("network", net.id, net)
        LOG.info("network %s (%s) set", net.id, net.name)
        return net

    @_saved
    def delete_network(self, nid: str) -> Network:
        self._neutrons("networks")
        nid = ps.v_uuid(nid, "network id")
        with self.store.lock:
            old = self.store.get("network", nid)
            users = [p.id for p in self.store.list("port")
                     if isinstance(p, Port) and p.vn_id == nid]
            if users:
                raise ConflictError(f"network {nid} has ports: "
                                    f"{', '.join(sorted(users)[:5])}")
            routes = [r.id for r in self.store.list("route")
                      if isinstance(r, Route) and r.network == nid]
            if routes:
                raise ConflictError(f"network {nid} has routes: "
                                    f"{', '.join(sorted(routes)[:5])}")
            self._commit("network", nid, None)
        assert isinstance(old, Network)
        return old

    # -- routes ------------------------------------------------------------
    @_saved
    def add_route(self, body: Any) -> Route:
        self._neutrons("routes")
        d = ps._obj(body, "route")
        ps._unknown(d, {"network", "prefix", "node", "label"}, "route")
        net_id = ps.v_uuid(d.get("network"), "network")
        prefix = str(ps.v_ipv4_net(d.get("prefix"), "prefix"))
        path = Route.path_from_json(d)
        with self.store.lock:
            if self.store.find("network", net_id) is None:
                raise ConflictError(f"network {net_id} does not exist")
            rid = f"{net_id}:{prefix}"
            old = self.store.find("route", rid)
            paths = set(old.paths) if isinstance(old, Route) else set()
            if path in paths:
                assert isinstance(old, Route)
                return old
            if any(p.node == path.node for p in paths):
                # One node, one label per prefix: a new label replaces.
                paths = {p for p in paths if p.node != path.node}
            if len(paths) >= ECMP_MAX:
                raise ConflictError(f"{prefix} already has {ECMP_MAX} "
                                    f"paths (ECMP limit)")
            new = Route(net_id, prefix, tuple(sorted(paths | {path})))
            self._commit("route", rid, new)
        return new

    @_saved
    def delete_route(self, net_id: str, prefix: str,
                     query: dict[str, list[str]]) -> Route | None:
        """Remove one path (node= and label= given) or the whole prefix.
        Returns what is left, or None."""
        self._neutrons("routes")
        net_id = ps.v_uuid(net_id, "network")
        prefix = str(ps.v_ipv4_net(prefix, "prefix"))
        extra = set(query) - {"node", "label"}
        if extra:
            raise ValidationError(f"unknown query parameters {sorted(extra)}")
        rid = f"{net_id}:{prefix}"
        with self.store.lock:
            old = self.store.get("route", rid)
            assert isinstance(old, Route)
            if not query:
                self._commit("route", rid, None)
                return None
            node = ps.v_ipv4(query.get("node", [""])[-1], "node")
            paths = [p for p in old.paths if p.node != node]
            if "label" in query:
                lab = query["label"][-1]
                if not lab.isdigit():
                    raise ValidationError("label must be a number")
                paths = [p for p in old.paths
                         if p != RoutePath(node, int(lab))]
            if len(paths) == len(old.paths):
                raise NotFoundError(f"route {rid} has no such path")
            new = replace(old, paths=tuple(paths)) if paths else None
            self._commit("route", rid, new)
            return new

    # -- security groups ---------------------------------------------------
    @_saved
    def add_group(self, body: Any) -> ps.SecurityGroup:
        self._neutrons("security groups")
        g = ps.group_from_json(body)
        with self.store.lock:
            for r in g.rules:
                rg = r.remote_group_id
                if rg is not None and rg != g.id and \
                        self.store.find("security-group", rg) is None:
                    raise ConflictError(f"rule {r.id}: remote group {rg} "
                                        f"does not exist")
            if self.store.find("security-group", g.id) == g:
                return g
            self._commit("security-group", g.id, g)
        LOG.info("security group %s set (%d rules)", g.id, len(g.rules))
        return g

    @_saved
    def delete_group(self, gid: str) -> ps.SecurityGroup:
        self._neutrons("security groups")
        gid = ps.v_group_id(gid, "security-group id")
        with self.store.lock:
            old = self.store.get("security-group", gid)
            users = [p.id for p in self.store.list("port")
                     if isinstance(p, Port) and gid in p.security_groups]
            if users:
                raise ConflictError(f"security group {gid} is attached to "
                                    f"ports: {', '.join(sorted(users)[:5])}")
            refs = [o.id for o in self.store.list("security-group")
                    if isinstance(o, ps.SecurityGroup) and o.id != gid and
                    any(r.remote_group_id == gid for r in o.rules)]
            if refs:
                raise ConflictError(f"security group {gid} is the remote "
                                    f"group of rules in {sorted(refs)}")
            self._commit("security-group", gid, None)
        assert isinstance(old, ps.SecurityGroup)
        return old


# -- HTTP -------------------------------------------------------------------

Json = Any


class _Routes:
    """Method + path pattern -> PortApi call."""

    def __init__(self, api: PortApi) -> None:
        self.api = api

    def dispatch(self, method: str, parts: list[str],
                 query: dict[str, list[str]], body: Json) -> Json:
        a, s = self.api, self.api.store
        n = len(parts)
        head = parts[0] if parts else ""
        if query and not (method == "DELETE" and head == "route"):
            raise ValidationError("query parameters are not accepted here")

        def one(kind: str, oid: str) -> Json:
            return s.get(kind, oid).to_json()

        def every(kind: str) -> Json:
            return [o.to_json() for o in
                    sorted(s.list(kind), key=lambda o: o.id)]

        table: dict[tuple[str, str, int], Callable[[], Json]] = {
            ("POST", "port", 1): lambda: _doc(a.add_port(body)),
            ("GET", "port", 2): lambda: one("port", parts[1].lower()),
            ("DELETE", "port", 2): lambda: _doc(a.delete_port(parts[1])),
            ("GET", "plugs", 1): lambda: a.neutron.plugged() if a.neutron
            else _nf(),
            ("PUT", "port", 3): lambda: a.set_port_groups(parts[1], body)
            .to_json() if parts[2] == "security-groups" else _nf(),
            ("GET", "ports", 1): lambda: every("port"),
            ("POST", "network", 1): lambda: a.add_network(body).to_json(),
            ("GET", "network", 2): lambda: one("network", parts[1].lower()),
            ("DELETE", "network", 2): lambda: a.delete_network(parts[1])
            .to_json(),
            ("GET", "networks", 1): lambda: every("network"),
            ("POST", "route", 1): lambda: a.add_route(body).to_json(),
            ("GET", "routes", 1): lambda: every("route"),
            ("POST", "security-group", 1): lambda: a.add_group(body)
            .to_json(),
            ("GET", "security-group", 2): lambda: one("security-group",
                                                      parts[1]),
            ("DELETE", "security-group", 2): lambda: a.delete_group(
                parts[1]).to_json(),
            ("GET", "security-groups", 1): lambda: every("security-group"),
        }
        if head == "route" and n == 4:
            # /route/<network>/<a.b.c.d>/<len>: the prefix holds a slash.
            prefix = f"{parts[2]}/{parts[3]}"
            if method == "GET":
                return one("route", f"{parts[1].lower()}:{prefix}")
            if method == "DELETE":
                left = a.delete_route(parts[1], prefix, query)
                return left.to_json() if left else {}
        fn = table.get((method, head, n))
        if fn is not None:
            return fn()
        allowed = sorted({m for (m, h, k) in table if h == head and k == n})
        if head == "route" and n == 4:
            allowed = ["DELETE", "GET"]
        if allowed:
            raise _MethodNotAllowed(allowed)
        return _nf()


def _doc(x: Any) -> Json:
    return x if isinstance(x, dict) else x.to_json()


def _nf() -> Json:
    raise NotFoundError("no such resource")


class _MethodNotAllowed(Exception):
    def __init__(self, allowed: list[str]) -> None:
        super().__init__(f"method not allowed; use {', '.join(allowed)}")
        self.allowed = allowed


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive: cheaper port adds
    server_version = "bsdnet-agent"
    routes: _Routes                      # set on the subclass per server

    token: str | None = None            # TCP only: the shared token
    # (method, path, status, seconds) of each request answered: metrics.
    observe: Callable[[str, str, int, float], None] | None = None
    status = 0

    def setup(self) -> None:
        super().setup()
        if self.request.family != socket.AF_UNIX:
            # Headers and body leave in two writes: without this, Nagle and
            # the client's delayed ACK add 40 ms to every keep-alive
            # request.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                    1)

    def address_string(self) -> str:
        return "unix" if self.request.family == socket.AF_UNIX else \
            super().address_string()

    def log_message(self, fmt: str, *args: Any) -> None:
        LOG.debug("%s %s", self.address_string(), fmt % args)

    def _send(self, status: int, doc: Json,
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(doc, indent=1).encode() + b"\n"
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, reason: str,
               headers: dict[str, str] | None = None) -> None:
        if status >= 500:
            LOG.error("%s %s: %s", self.command, self.path, reason)
        else:
            LOG.info("%s %s refused (%d): %s", self.command, self.path,
                     status, reason)
        self._send(status, {"error": reason, "status": status}, headers)

    def _body(self) -> Json:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise _HttpError(411, "send a Content-Length, not chunks")
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise _HttpError(400, "bad Content-Length") from None
        if n < 0:
            raise _HttpError(400, "bad Content-Length")
        if n > MAX_BODY:
            self.close_connection = True
            raise _HttpError(413, f"body over {MAX_BODY} bytes")
        raw = self.rfile.read(n) if n else b""
        if self.command in ("POST", "PUT"):
            if not raw:
                raise _HttpError(400, "a JSON body is required")
            try:
                return json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise _HttpError(400, f"body is not JSON: {e}") from None
        return None

    def _handle(self) -> None:
        t0 = time.monotonic()
        self._serve()
        if self.observe is not None:
            self.observe(self.command, self.path, self.status,
                         time.monotonic() - t0)

    def _serve(self) -> None:
        try:
            if self.token is not None and not hmac.compare_digest(
                    self.headers.get(TOKEN_HEADER, "").encode(),
                    self.token.encode()):
                self.close_connection = True
                raise _HttpError(401, f"the port API on TCP needs the "
                                 f"agent's token in {TOKEN_HEADER}")
            body = self._body()
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            query = parse_qs(url.query, keep_blank_values=True)
            doc = self.routes.dispatch(self.command, parts, query, body)
        except _HttpError as e:
            self._error(e.status, e.reason)
        except ValidationError as e:
            self._error(400, str(e))
        except NotFoundError as e:
            self._error(404, str(e))
        except _MethodNotAllowed as e:
            self._error(405, str(e), {"Allow": ", ".join(e.allowed)})
        except ForbiddenError as e:
            self._error(403, str(e))
        except ConflictError as e:
            self._error(409, str(e))
        except ApplyError as e:
            self._error(500, str(e))
        except Exception as e:          # a bug: say so, keep serving
            LOG.exception("%s %s failed", self.command, self.path)
            self._error(500, f"internal error: {type(e).__name__}")
        else:
            self._send(200, doc)

    # Every method goes through dispatch so that the unsupported ones get
    # a JSON 405 with Allow, not http.server's HTML 501.
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


class _HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128    # Nova plugs many VIFs at once on boot


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 128


def _unix_server(path: str, group: str | None,
                 handler: type) -> _UnixServer:
    """Bind the socket at path, mode 0660, owned by group (if given): who
    may write to it may plug ports, as with Open vSwitch's db socket."""
    gid = -1
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise ValueError(f"api_socket_group {group!r}: no such "
                             f"group") from None
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)         # left by an agent that died
    except FileNotFoundError:
        pass
    old = os.umask(0o117)           # no window with a wider mode
    try:
        srv = _UnixServer(path, handler)
    finally:
        os.umask(old)
    os.chown(path, -1, gid)
    os.chmod(path, 0o660)
    return srv


class PortApiServer:
    """The port API, served from background threads: on a unix socket
    (the default) and, opted in, on TCP with a shared token (only on a
    loopback address: vrouter-port-control compatibility)."""

    def __init__(self, api: PortApi, socket_path: str | None = None,
                 group: str | None = None,
                 tcp: tuple[str, int] | None = None,
                 token: str | None = None,
                 observe: Callable[[str, str, int, float], None] | None = None
                 ) -> None:
        if not socket_path and tcp is None:
            raise ValueError("the port API needs a socket path or TCP")
        routes = _Routes(api)
        seen = staticmethod(observe) if observe is not None else None
        self.servers: list[socketserver.BaseServer] = []
        self.socket_path = socket_path
        if socket_path:
            handler = type("PortApiUnixHandler", (_RequestHandler,),
                           {"routes": routes, "observe": seen})
            self.servers.append(_unix_server(socket_path, group, handler))
        self.tcp: _Server | None = None
        if tcp is not None:
            if not ipaddress.ip_address(tcp[0]).is_loopback:
                raise ValueError(f"the port API listens on TCP on a "
                                 f"loopback address only, not {tcp[0]}")
            if not token:
                raise ValueError("the port API on TCP needs a token")
            handler = type("PortApiTcpHandler", (_RequestHandler,),
                           {"routes": routes, "token": token,
                            "observe": seen})
            try:
                self.tcp = _Server(tcp, handler)
            except BaseException:
                self.stop()
                raise
            self.servers.append(self.tcp)
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        """The TCP address (host, port) taken, when serving TCP."""
        assert self.tcp is not None
        host, port = self.tcp.server_address[:2]
        return str(host), int(port)

    @property
    def urls(self) -> list[str]:
        out = [f"unix://{self.socket_path}"] if self.socket_path else []
        if self.tcp is not None:
            out.append("http://%s:%d" % self.address)
        return out

    @property
    def url(self) -> str:
        return self.urls[0]

    def start(self, poll_interval: float = 0.5) -> None:
        """Serve from threads; stop() takes up to poll_interval."""
        for srv in self.servers:
            t = threading.Thread(target=srv.serve_forever,
                                 args=(poll_interval,), name="portapi",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        LOG.info("port API listening on %s", ", ".join(self.urls))

    def stop(self) -> None:
        for srv in self.servers:
            if self._threads:
                srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if self.socket_path:
            try:
                os.unlink(self.socket_path)
            except FileNotFoundError:
                pass


def main(argv: list[str] | None = None) -> int:
    """Serve the API alone, applying nothing: for trying clients out and
    for the sandbox before the daemon runs it."""
    import argparse
    import signal

    ap = argparse.ArgumentParser(
        prog="python -m bsdnet.agent.portapi",
        description="Serve the bsdnet port API over a state directory, "
        "without a datapath (changes are stored, not applied).")
    ap.add_argument("--state-dir", required=True,
                    help="where ports, networks, routes and groups live")
    ap.add_argument("--socket", default=DEFAULT_SOCKET,
                    help="unix socket to serve on (default %(default)s)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")
    store = ps.PortStore(a.state_dir)
    try:
        store.load()
    except ps.CorruptStateError as e:
        LOG.error("cannot start: %s", e)
        return 1
    server = PortApiServer(PortApi(store), socket_path=a.socket)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(server.url, flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
