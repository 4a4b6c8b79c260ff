"""The shared-memory ABI as Python sees it: cffi's ffi/lib and name lookups.

Everything here is derived from the compiled module (bsdnet.shm._abi, built from
kmod/include/bsdnet_abi.h); no constant is restated.  layout_fingerprint()
hashes the layout so tests can pin it against BSDNET_ABI_VERSION.
"""
from __future__ import annotations

import functools
import hashlib
from typing import Any

from bsdnet.shm._abi import ffi, lib

__all__ = ["ffi", "lib", "enum_names", "enum_value", "drop_reason_names",
           "nh_type_name", "vif_type_name", "layout_fingerprint",
           "ABI_STRUCTS"]

# Declarations that live in the cffi module but not in shared memory (the
# agent's own, and /dev/bsdnet's ioctls: see ioctl.py): they must not move
# the fingerprint.
_LOCAL_STRUCTS = frozenset({"bsdnet_flowtab"})
_LOCAL_STRUCT_PREFIX = "bsdnet_ioc_"
_LOCAL_PREFIXES = ("BSDNET_AGENT_", "BSDNET_IOC_")


@functools.cache
def enum_names(enum: str) -> dict[int, str]:
    """Map value -> name for `enum bsdnet_<enum>` (e.g. "drop", "nh_type")."""
    return dict(ffi.typeof(f"enum bsdnet_{enum}").elements)


def enum_value(enum: str, name: str) -> int:
    """Value of enumerator `name` in `enum bsdnet_<enum>`."""
    for value, n in enum_names(enum).items():
        if n == name:
            return value
    raise KeyError(name)


def _short(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


@functools.cache
def drop_reason_names() -> list[str]:
    """Drop reason names by counter slot, without the BSDNET_DROP_ prefix."""
    names = enum_names("drop")
    return [_short(names.get(i, f"SLOT_{i}"), "BSDNET_DROP_")
            for i in range(lib.BSDNET_DROP_MAX)]


def nh_type_name(value: int) -> str:
    return _short(enum_names("nh_type").get(value, f"TYPE_{value}"),
                  "BSDNET_NH_")


def vif_type_name(value: int) -> str:
    return _short(enum_names("vif_type").get(value, f"TYPE_{value}"),
                  "BSDNET_VIF_")


@functools.cache
def abi_structs() -> tuple[str, ...]:
    """Names of the shared structs (without "struct ")."""
    _typedefs, structs, _unions = ffi.list_types()
    return tuple(sorted(s for s in structs if s not in _LOCAL_STRUCTS
                        and not s.startswith(_LOCAL_STRUCT_PREFIX)))


ABI_STRUCTS = abi_structs()


def _type_desc(t: Any) -> str:
    if t.kind == "array":
        return f"{_type_desc(t.item)}[{t.length}]"
    return t.cname


@functools.cache
def layout_fingerprint() -> str:
    """SHA-256 over every struct's size and fields and every enum value."""
    h = hashlib.sha256()
    for s in ABI_STRUCTS:
        t = ffi.typeof(f"struct {s}")
        h.update(f"struct {s} {ffi.sizeof(t)}\n".encode())
        for name, f in t.fields:
            h.update(f"  {name} {f.offset} {ffi.sizeof(f.type)} "
                     f"{_type_desc(f.type)} {f.bitsize}\n".encode())
    consts = sorted(n for n in dir(lib)
                    if n.startswith("BSDNET_")
                    and not n.startswith(_LOCAL_PREFIXES)
                    and isinstance(getattr(lib, n), int))
    for n in consts:
        h.update(f"{n}={getattr(lib, n)}\n".encode())
    return h.hexdigest()
