"""The port API over real HTTP on its unix socket (and TCP with a token)."""
from __future__ import annotations

import json
import socket
import threading
import uuid
from typing import Any, Iterator

import pytest

from bsdnet.agent import apiclient, portapi, portstore as ps

NET = "38ced7ff-fdfc-4f17-9547-17ff4fb45da9"
NET2 = "48ced7ff-fdfc-4f17-9547-17ff4fb45da9"
PORT = "753a65ef-918a-4193-9266-dc23ed8a5982"


class Client:
    def __init__(self, server: portapi.PortApiServer, url: str = "",
                 token: str = "") -> None:
        self.url = url or server.url
        self.token = token

    def raw(self, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, Any, dict]:
        c = apiclient.connection(self.url, 10)
        headers = dict(headers or {})
        if self.token:
            headers[apiclient.TOKEN_HEADER] = self.token
        try:
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            return r.status, json.loads(data) if data else None, \
                dict(r.getheaders())
        finally:
            c.close()

    def __call__(self, method: str, path: str, doc: Any = None
                 ) -> tuple[int, Any]:
        body = None if doc is None else json.dumps(doc).encode()
        st, out, _ = self.raw(method, path, body,
                              {"Content-Type": "application/json"})
        return st, out


class Recorder:
    """Stands in for the daemon's apply callback; can be told to fail."""

    def __init__(self) -> None:
        self.changes: list[ps.Change] = []
        self.fail = False

    def __call__(self, change: ps.Change) -> None:
        if self.fail:
            raise RuntimeError("datapath unavailable")
        self.changes.append(change)


@pytest.fixture
def env(tmp_path) -> Iterator[tuple[Client, Recorder, ps.PortStore]]:
    store = ps.PortStore(str(tmp_path / "state"))
    store.load()
    rec = Recorder()
    server = portapi.PortApiServer(portapi.PortApi(store, rec),
                                   str(tmp_path / "api.sock"))
    server.start(poll_interval=0.02)
    try:
        yield Client(server), rec, store
    finally:
        server.stop()


def network(nid: str = NET, **over) -> dict:
    d = {"id": nid, "name": "blue", "mtu": 1450, "dns-domain": "x.org",
         "subnets": [{"cidr": "10.1.0.0/24", "gateway": "10.1.0.1",
                      "dns-servers": ["10.1.0.2"],
                      "host-routes": [{"destination": "10.8.0.0/16",
                                       "nexthop": "10.1.0.254"}]}]}
    d.update(over)
    return d


def port(pid: str = PORT, **over) -> dict:
    d = {"id": pid, "instance-id": "63bd1a8a-ba6a-4547-af8d-653dd8ff397e",
         "display-name": "vm1", "ip-address": "10.1.0.5",
         "ip6-address": "", "rx-vlan-id": -1, "tx-vlan-id": -1,
         "vn-id": NET, "vm-project-id": "", "type": 0,
         "mac-address": "02:75:3a:65:ef:91", "system-name": "tap-1234"}
    d.update(over)
    return d


def test_port_lifecycle(env):
    c, rec, store = env
    assert c("POST", "/network", network())[0] == 200
    st, out = c("POST", "/port", port())
    assert st == 200 and out["id"] == PORT and out["ip-address"] == \
        "10.1.0.5"
    assert c("GET", f"/port/{PORT}") == (200, out)
    assert c("GET", f"/port/{PORT.upper()}") == (200, out)
    assert c("GET", "/ports") == (200, [out])
    st, gone = c("DELETE", f"/port/{PORT}")
    assert st == 200 and gone == out
    assert c("GET", f"/port/{PORT}")[0] == 404
    assert c("DELETE", f"/port/{PORT}")[0] == 404
    assert c("GET", "/ports") == (200, [])
    kinds = [(ch.kind, ch.old is None, ch.new is None) for ch in rec.changes]
    assert kinds == [("network", True, False), ("port", True, False),
                     ("port", False, True)]


def test_same_port_twice_changes_nothing_replace_applies(env):
    c, rec, _ = env
    c("POST", "/network", network())
    c("POST", "/port", port())
    n = len(rec.changes)
    assert c("POST", "/port", port())[0] == 200
    assert len(rec.changes) == n
    st, out = c("POST", "/port", port(**{"display-name": "renamed"}))
    assert st == 200 and out["display-name"] == "renamed"
    assert rec.changes[-1].old.display_name == "vm1"


@pytest.mark.parametrize("over, why", [
    ({"id": "nope"}, "id must be a UUID"),
    ({"mac-address": "zz:75:3a:65:ef:91"}, "MAC"),
    ({"ip-address": "300.1.0.5"}, "IPv4"),
    ({"system-name": "a-very-long-ifname"}, "IFNAMSIZ"),
    ({"system-name": "tap;rm"}, "may only hold"),
    ({"tx-vlan-id": 5000}, "tx-vlan-id"),
    ({"extra": True}, "unknown port fields"),
])
def test_bad_port_400_with_reason(env, over, why):
    c, rec, store = env
    c("POST", "/network", network())
    st, out = c("POST", "/port", port(**over))
    assert st == 400 and why in out["error"]
    assert store.list("port") == [] and len(rec.changes) == 1


@pytest.mark.parametrize("over, why", [
    ({"vn-id": NET2}, "does not exist"),
    ({"ip-address": "10.2.0.5"}, "no subnet"),
    ({"ip-address": "10.1.0.1"}, "gateway"),
    ({"ip-address": "10.1.0.255"}, "not a host address"),
    ({"security-groups": ["missing"]}, "security group missing"),
])
def test_port_conflicts_409(env, over, why):
    c, _, store = env
    c("POST", "/network", network())
    st, out = c("POST", "/port", port(**over))
    assert st == 409 and why in out["error"], out
    assert store.list("port") == []


def test_duplicate_address_mac_tap_409(env):
    c, _, _ = env
    c("POST", "/network", network())
    c("POST", "/port", port())
    other = str(uuid.uuid4())
    for over, why in (({"mac-address": "02:00:00:00:00:09",
                        "system-name": "tap-9"}, "10.1.0.5 belongs"),
                      ({"ip-address": "10.1.0.9", "system-name": "tap-9"},
                       "02:75:3a:65:ef:91 belongs"),
                      ({"ip-address": "10.1.0.9",
                        "mac-address": "02:00:00:00:00:09"},
                       "interface tap-1234 belongs")):
        st, out = c("POST", "/port", port(other, **over))
        assert st == 409 and why in out["error"], out
    # Two ports without an address are fine.
    assert c("POST", "/port", port(other, **{
        "ip-address": "0.0.0.0", "mac-address": "02:00:00:00:00:09",
        "system-name": "tap-9"}))[0] == 200


def test_apply_failure_500_and_nothing_stays(env, tmp_path):
    c, rec, store = env
    c("POST", "/network", network())
    rec.fail = True
    st, out = c("POST", "/port", port())
    assert st == 500 and "datapath unavailable" in out["error"]
    assert "nothing changed" in out["error"]
    assert c("GET", f"/port/{PORT}")[0] == 404
    again = ps.PortStore(store.state_dir)
    again.load()
    assert again.list("port") == []
    rec.fail = False
    assert c("POST", "/port", port())[0] == 200
    rec.fail = True
    assert c("DELETE", f"/port/{PORT}")[0] == 500
    assert c("GET", f"/port/{PORT}")[0] == 200


def test_network_api(env):
    c, _, _ = env
    st, out = c("POST", "/network", network())
    assert st == 200 and out["mtu"] == 1450
    assert c("GET", f"/network/{NET}") == (200, out)
    assert c("GET", "/networks") == (200, [out])
    assert c("POST", "/network", network(mtu=20))[0] == 400
    c("POST", "/port", port())
    # Shrinking the subnet away from a port is refused.
    st, o = c("POST", "/network", network(subnets=[{"cidr":
                                                     "10.7.0.0/24"}]))
    assert st == 409 and "stranded" in o["error"]
    st, o = c("DELETE", f"/network/{NET}")
    assert st == 409 and "has ports" in o["error"]
    c("DELETE", f"/port/{PORT}")
    assert c("DELETE", f"/network/{NET}")[0] == 200
    assert c("GET", f"/network/{NET}")[0] == 404


def test_routes_ecmp(env):
    c, _, _ = env
    assert c("POST", "/route", {"network": NET, "prefix": "10.1.0.9/32",
                                "node": "192.0.2.2", "label": 20})[0] == 409
    c("POST", "/network", network())
    st, r = c("POST", "/route", {"network": NET, "prefix": "10.1.0.9/32",
                                 "node": "192.0.2.2", "label": 20})
    assert st == 200 and r["paths"] == [{"node": "192.0.2.2", "label": 20}]
    st, r = c("POST", "/route", {"network": NET, "prefix": "10.1.0.9/32",
                                 "node": "192.0.2.3", "label": 31})
    assert [p["node"] for p in r["paths"]] == ["192.0.2.2", "192.0.2.3"]
    # The same node with a new label replaces its path.
    st, r = c("POST", "/route", {"network": NET, "prefix": "10.1.0.9/32",
                                 "node": "192.0.2.3", "label": 32})
    assert r["paths"][1] == {"node": "192.0.2.3", "label": 32}
    assert c("GET", f"/route/{NET}/10.1.0.9/32") == (200, r)
    assert c("GET", "/routes") == (200, [r])
    st, o = c("DELETE", f"/network/{NET}")
    assert st == 409 and "has routes" in o["error"]
    st, left = c("DELETE", f"/route/{NET}/10.1.0.9/32?node=192.0.2.2"
                           f"&label=20")
    assert st == 200 and left["paths"] == [{"node": "192.0.2.3",
                                            "label": 32}]
    assert c("DELETE", f"/route/{NET}/10.1.0.9/32?node=192.0.2.9")[0] == 404
    assert c("DELETE", f"/route/{NET}/10.1.0.9/32") == (200, {})
    assert c("GET", f"/route/{NET}/10.1.0.9/32")[0] == 404
    for bad in ({"network": NET, "prefix": "10.1.0.9", "node": "192.0.2.2",
                 "label": 20},
                {"network": NET, "prefix": "10.1.0.9/32", "node": "x",
                 "label": 20},
                {"network": NET, "prefix": "10.1.0.9/32",
                 "node": "192.0.2.2", "label": 3}):
        assert c("POST", "/route", bad)[0] == 400


def test_route_ecmp_limit(env):
    c, _, _ = env
    c("POST", "/network", network())
    for i in range(portapi.ECMP_MAX):
        assert c("POST", "/route", {"network": NET, "prefix": "10.9.0.0/16",
                                    "node": f"192.0.2.{i + 1}",
                                    "label": 100 + i})[0] == 200
    st, o = c("POST", "/route", {"network": NET, "prefix": "10.9.0.0/16",
                                 "node": "192.0.2.99", "label": 99})
    assert st == 409 and "ECMP" in o["error"]


def test_security_groups_and_attach(env):
    c, rec, _ = env
    c("POST", "/network", network())
    c("POST", "/port", port())
    web = {"id": "web", "name": "web", "rules": [
        {"id": "r1", "direction": "ingress", "protocol": "tcp",
         "port_range_min": 80, "port_range_max": 80,
         "remote_group_id": "web"}]}
    st, g = c("POST", "/security-group", web)
    assert st == 200 and g["rules"][0]["protocol"] == 6
    assert c("GET", "/security-group/web") == (200, g)
    assert c("GET", "/security-groups") == (200, [g])
    st, o = c("POST", "/security-group", {"id": "db", "rules": [
        {"direction": "ingress", "remote_group_id": "nope"}]})
    assert st == 409 and "remote group nope" in o["error"]
    st, o = c("POST", "/security-group", {"id": "db", "rules": [
        {"direction": "up"}]})
    assert st == 400 and "direction" in o["error"]
    st, p = c("PUT", f"/port/{PORT}/security-groups",
              {"security-groups": ["web"]})
    assert st == 200 and p["security-groups"] == ["web"]
    assert rec.changes[-1].new.binding().groups == ("web",)
    assert c("PUT", f"/port/{PORT}/security-groups",
             {"security-groups": ["zzz"]})[0] == 409
    assert c("PUT", f"/port/{PORT}/security-groups", {"groups": []}
             )[0] == 400
    st, o = c("DELETE", "/security-group/web")
    assert st == 409 and "attached" in o["error"]
    c("PUT", f"/port/{PORT}/security-groups", {"security-groups": []})
    assert c("DELETE", "/security-group/web")[0] == 200


def test_group_referenced_as_remote_cannot_go(env):
    c, _, _ = env
    c("POST", "/security-group", {"id": "app"})
    c("POST", "/security-group", {"id": "db", "rules": [
        {"direction": "ingress", "remote_group_id": "app"}]})
    st, o = c("DELETE", "/security-group/app")
    assert st == 409 and "remote group" in o["error"]


def test_http_errors(env):
    c, _, _ = env
    st, o, _ = c.raw("POST", "/port", b"{not json",
                     {"Content-Type": "application/json"})
    assert st == 400 and "not JSON" in o["error"]
    st, o, _ = c.raw("POST", "/port", b"")
    assert st == 400 and "body is required" in o["error"]
    st, o, h = c.raw("PATCH", "/port")
    assert st == 405 and h["Allow"] == "POST"
    st, o, h = c.raw("DELETE", "/ports")
    assert st == 405 and h["Allow"] == "GET"
    st, o, _ = c.raw("GET", "/nothing/here")
    assert st == 404
    st, o, _ = c.raw("GET", "/ports?x=1")
    assert st == 400
    # Announce an oversized body: refused before it is read.
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(c.url[len("unix://"):])
        s.sendall(b"POST /port HTTP/1.1\r\nHost: x\r\nContent-Length: "
                  + str(portapi.MAX_BODY + 1).encode() + b"\r\n\r\n{}")
        assert s.recv(4096).startswith(b"HTTP/1.1 413 ")
    st, o, _ = c.raw("POST", "/port", b"[]")
    assert st == 400 and "object" in o["error"]


def test_restart_brings_everything_back(env, tmp_path):
    c, _, store = env
    c("POST", "/network", network())
    c("POST", "/port", port())
    c("POST", "/route", {"network": NET, "prefix": "10.1.0.9/32",
                         "node": "192.0.2.2", "label": 20})
    c("POST", "/security-group", {"id": "web"})
    again = ps.PortStore(store.state_dir)
    again.load()
    server = portapi.PortApiServer(portapi.PortApi(again),
                                   str(tmp_path / "again.sock"))
    server.start(poll_interval=0.02)
    try:
        c2 = Client(server)
        for path in ("/ports", "/networks", "/routes", "/security-groups"):
            assert c2("GET", path) == c("GET", path)
            assert len(c2("GET", path)[1]) == 1
    finally:
        server.stop()


def test_concurrent_adds_are_serialised(env):
    c, rec, store = env
    c("POST", "/network", network(subnets=[{"cidr": "10.1.0.0/20"}]))
    results: list[int] = []

    def add(i: int) -> None:
        pid = str(uuid.UUID(int=i + 1))
        st, _ = c("POST", "/port", port(pid, **{
            "ip-address": f"10.1.{i // 200}.{i % 200 + 2}",
            "mac-address": f"02:00:00:00:{i // 256:02x}:{i % 256:02x}",
            "system-name": f"tap{i}"}))
        results.append(st)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 40 and len(store.list("port")) == 40


def test_socket_mode_and_group(tmp_path):
    import grp
    import os
    import stat
    path = tmp_path / "run" / "api.sock"
    group = grp.getgrgid(os.getgid()).gr_name
    server = portapi.PortApiServer(portapi.PortApi(ps.PortStore(
        str(tmp_path / "s"))), str(path), group=group)
    server.start(poll_interval=0.02)
    try:
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
        assert Client(server)("GET", "/ports") == (200, [])
    finally:
        server.stop()
    assert not path.exists()
    with pytest.raises(ValueError, match="no such group"):
        portapi.PortApiServer(portapi.PortApi(ps.PortStore(
            str(tmp_path / "s"))), str(path), group="no-such-group-here")


def test_tcp_needs_the_token_and_loopback(tmp_path):
    api = portapi.PortApi(ps.PortStore(str(tmp_path / "s")))
    server = portapi.PortApiServer(api, tcp=("127.0.0.1", 0), token="s3cret")
    server.start(poll_interval=0.02)
    try:
        url = server.url
        assert url.startswith("http://127.0.0.1:")
        st, o = Client(server)("GET", "/ports")
        assert st == 401 and apiclient.TOKEN_HEADER in o["error"]
        assert Client(server, token="wrong")("GET", "/ports")[0] == 401
        assert Client(server, token="s3cret")("GET", "/ports") == (200, [])
    finally:
        server.stop()
    with pytest.raises(ValueError, match="loopback"):
        portapi.PortApiServer(api, tcp=("0.0.0.0", 0), token="x")
    with pytest.raises(ValueError, match="token"):
        portapi.PortApiServer(api, tcp=("127.0.0.1", 0))
