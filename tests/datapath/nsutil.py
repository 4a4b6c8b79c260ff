"""Network namespace plumbing for the datapath tests: argv lists only."""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def suffix() -> str:
    """A random suffix: tests of other engineers run in parallel."""
    return secrets.token_hex(3)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True,
                          text=True)


def ip(*args: str, ns: str | None = None,
       check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(*(["ip"] + (["-n", ns] if ns else []) + list(args)),
               check=check)


def nsexec(ns: str, *argv: str,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", ns, *argv, check=check)


def ifindex(ns: str, name: str) -> int:
    """The ifindex of name in ns, 0 if it does not exist."""
    r = ip("-j", "link", "show", "dev", name, ns=ns, check=False)
    if r.returncode != 0:
        return 0
    return int(json.loads(r.stdout)[0]["ifindex"])


def link_mac(ns: str, name: str) -> str:
    r = ip("-j", "link", "show", "dev", name, ns=ns)
    return json.loads(r.stdout)[0]["address"]


@contextlib.contextmanager
def netns(ns: str) -> Iterator[None]:
    """Run the body in namespace ns (this thread); sockets created inside
    stay in it."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)


def packet_socket(ns: str, name: str) -> socket.socket:
    """An AF_PACKET socket bound to name in ns (for sending and capture)."""
    with netns(ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                          socket.htons(0x0003))
        s.bind((name, 0))
    return s


class Namespaces:
    """Namespaces and links made by one test, all removed at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, prefix: str) -> str:
        ns = f"{prefix}{suffix()}"
        ip("netns", "add", ns)
        self.names.append(ns)
        ip("link", "set", "lo", "up", ns=ns)
        return ns

    def veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str,
             up: bool = True) -> None:
        """A veth pair with ends in two namespaces (or the same one)."""
        ip("link", "add", name_a, "netns", ns_a, "type", "veth", "peer",
           "name", name_b, "netns", ns_b)
        if up:
            ip("link", "set", name_a, "up", ns=ns_a)
            ip("link", "set", name_b, "up", ns=ns_b)

    def cleanup(self) -> None:
        for ns in reversed(self.names):
            ip("netns", "del", ns, check=False)
        self.names.clear()


def tcp_transfer(src_ns: str, dst_ns: str, dst_ip: str, port: int,
                 payload: bytes, syn: list[bytes] | None = None,
                 timeout: float = 60) -> None:
    """payload over TCP from a socket in src_ns to a listener on dst_ip in
    dst_ns, with the stock Linux stack; checks it arrives intact.  With
    syn, the frames seen on dst_ns's eth0 while the connection opens are
    appended to it."""
    cap = packet_socket(dst_ns, "eth0") if syn is not None else None
    with netns(dst_ns):
        srv = socket.socket()
        srv.bind((dst_ip, port))
        srv.listen(1)
    with netns(src_ns):
        cli = socket.socket()
    srv.settimeout(timeout)
    cli.settimeout(timeout)
    got = bytearray()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(timeout)
                while chunk := conn.recv(65536):
                    got.extend(chunk)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        cli.connect((dst_ip, port))
        if cap is not None and syn is not None:
            cap.settimeout(0.5)
            try:
                while True:
                    syn.append(cap.recv(65535))
            except TimeoutError:
                pass
        cli.sendall(payload)
        cli.shutdown(socket.SHUT_WR)
        t.join(2 * timeout)
    finally:
        cli.close()
        srv.close()
        if cap is not None:
            cap.close()
    assert not errors
    assert len(got) == len(payload)
    assert bytes(got) == payload
