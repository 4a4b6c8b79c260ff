"""Netlink helpers shared by the Linux twin's tests (here and in
tests/agent/fabric): messages built with pyroute2's classes, and waiting
for an event from a live listener."""
from __future__ import annotations


def nl(cls, mtype, fields, attrs) -> bytes:
    """One netlink message of pyroute2 class cls, type mtype, as bytes."""
    m = cls()
    m["header"]["type"] = mtype
    for k, v in fields.items():
        m[k] = v
    m["attrs"] = attrs
    m.encode()
    return bytes(m.data)


def collect(lst, want, tries=20):
    """Poll until an event satisfying ``want`` shows up; return all events seen."""
    seen = []
    for _ in range(tries):
        seen += lst.poll(0.5)
        if any(want(e) for e in seen):
            return seen
    raise AssertionError(f"no matching event among {seen}")
