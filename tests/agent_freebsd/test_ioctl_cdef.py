"""The ioctl header reduced in Python (what the agent does at run time)
declares the same structs as the C preprocessor's reading of it (what
bsdnet/agent/abi_build.py does for bsdnet_abi.h at build time)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from cffi import FFI

from bsdnet.agent import transport_ioctl as tio


def test_same_layout_as_the_preprocessor(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to preprocess with")
    # FreeBSD's includes do not exist here and declare nothing the structs
    # use: empty stand-ins, as -DBSDNET_ABI_CFFI hides bsdnet_abi.h's.
    (tmp_path / "sys").mkdir()
    for h in ("types.h", "ioccom.h"):
        (tmp_path / "sys" / h).write_text("")
    out = subprocess.run([cc, "-E", "-P", "-nostdinc", "-I", str(tmp_path),
                          tio.HEADER], check=True, capture_output=True,
                         text=True).stdout
    out = re.sub(r"_Static_assert\s*\(.*?\)\s*;", "", out, flags=re.S)
    ref = FFI()
    ref.cdef(out)
    ours = tio.ioctl_ffi()
    structs = ours.list_types()[1]
    assert sorted(structs) == sorted(ref.list_types()[1])
    assert structs, "no struct read from the header"
    for s in structs:
        a, b = ours.typeof(f"struct {s}"), ref.typeof(f"struct {s}")
        assert ours.sizeof(a) == ref.sizeof(b)
        assert [(n, f.offset, ours.sizeof(f.type)) for n, f in a.fields] == \
            [(n, f.offset, ref.sizeof(f.type)) for n, f in b.fields]
    assert dict(ours.typeof("enum bsdnet_ioc_attach_flags").relements) == \
        dict(ref.typeof("enum bsdnet_ioc_attach_flags").relements)
