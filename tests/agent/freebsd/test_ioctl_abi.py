"""The ioctl numbers and struct layouts of bsdnet.shm._abi (built on this
host), against FreeBSD's <sys/ioccom.h> and kmod/freebsd/bsdnet_ioctl.h
compiled by ziglang for amd64 and arm64."""
from __future__ import annotations

import pytest

from bsdnet.shm import ioctl as tio
from bsdnet.shm.abi import ffi

from routesock.elfimages import have_zig

from .ioctl_asserts import TARGETS, generate, zig_cc


@pytest.fixture
def zig():
    if not have_zig():
        pytest.skip("ziglang is not installed")


@pytest.mark.parametrize("target", TARGETS)
def test_python_tables_match_freebsd_headers(zig, target, tmp_path):
    src = tmp_path / "ioctl_asserts.c"
    src.write_text(generate())
    res = zig_cc(target, src, tmp_path / "a.o")
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("mutate", [
    ("BSDNET_IOC_ATTACH == 0x80184204UL", "BSDNET_IOC_ATTACH == 0xc0184204UL"),
    ("offsetof(struct bsdnet_ioc_attach, ia_vif) == 16",
     "offsetof(struct bsdnet_ioc_attach, ia_vif) == 20"),
    ("sizeof(struct bsdnet_ioc_stats) == 64",
     "sizeof(struct bsdnet_ioc_stats) == 60"),
])
def test_a_wrong_entry_fails_the_build(zig, mutate, tmp_path):
    text = generate()
    assert mutate[0] in text
    src = tmp_path / "bad.c"
    src.write_text(text.replace(mutate[0], mutate[1]))
    res = zig_cc("x86_64-freebsd", src, tmp_path / "bad.o")
    assert res.returncode != 0
    assert "static assert" in res.stderr


def test_generated_file_covers_every_request_and_field():
    text = generate()
    for r in tio.requests().values():
        assert f"_Static_assert({r.name} == {r.number:#x}UL" in text
    for s in tio.structs():
        for name, fld in ffi.typeof(f"struct {s}").fields:
            assert f"offsetof(struct {s}, {name}) == {fld.offset}" in text
    # Every request of the header is there: create to stats.
    assert set(tio.requests()) == {
        "BSDNET_IOC_CREATE", "BSDNET_IOC_GEOMETRY", "BSDNET_IOC_DESTROY",
        "BSDNET_IOC_ATTACH", "BSDNET_IOC_DETACH", "BSDNET_IOC_STATS"}
    assert tio.structs() == ["bsdnet_ioc_attach", "bsdnet_ioc_geometry",
                             "bsdnet_ioc_stats"]


def test_encoding_is_freebsds():
    # _IOWR('B', 1, 48 bytes): in and out, length 48 at bit 16, whatever
    # the host's own <sys/ioctl.h> would make of it.
    create = tio.request("BSDNET_IOC_CREATE")
    assert create.number == 0xc0304201
    assert (create.direction, create.size) == (tio.IOC_INOUT, 48)
    # _IO carries no length.
    assert tio.request("BSDNET_IOC_DESTROY").number == 0x20004203
    assert tio.iocparm_len(0x80184204) == 24
