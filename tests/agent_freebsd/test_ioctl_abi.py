"""The ioctl numbers and struct layouts the agent computes in Python,
against FreeBSD's <sys/ioccom.h> and kmod/freebsd/bsdnet_ioctl.h compiled
by ziglang for amd64 and arm64."""
from __future__ import annotations

import pytest

from bsdnet.agent import transport_ioctl as tio
from bsdnet.shm.region import RegionError

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
    f = tio.ioctl_ffi()
    for r in tio.requests().values():
        assert f"_Static_assert({r.name} == {r.number:#x}UL" in text
        if r.struct:
            t = f.typeof(f"struct {r.struct}")
            for name, fld in t.fields:
                assert (f"offsetof(struct {r.struct}, {name}) == "
                        f"{fld.offset}") in text
    # Every request of the header is there: create to stats.
    assert set(tio.requests()) == {
        "BSDNET_IOC_CREATE", "BSDNET_IOC_GEOMETRY", "BSDNET_IOC_DESTROY",
        "BSDNET_IOC_ATTACH", "BSDNET_IOC_DETACH", "BSDNET_IOC_STATS"}


def test_encoding_is_freebsds():
    # _IOWR('B', 1, 48 bytes): in and out, length 48 at bit 16.
    assert tio.ioc(tio.IOC_INOUT, "B", 1, 48) == 0xc0304201
    assert tio.iocparm_len(0xc0304201) == 48
    # _IO carries no length; IOCPARM_MASK keeps 13 bits.
    assert tio.ioc(tio.IOC_VOID, "B", 3, 0) == 0x20004203
    assert tio.ioc(tio.IOC_IN, "B", 4, 1 << 13) == 0x80004204


def test_cdef_comes_from_the_header(tmp_path):
    # A field added to the header shows in the layout: nothing restated.
    text = tio.header_text().replace("uint32_t\tia_flags;",
                                     "uint32_t\tia_flags;\n\tuint64_t\tia_x;")
    assert text != tio.header_text()
    h = tmp_path / "bsdnet_ioctl.h"
    h.write_text(text)
    assert tio.ioctl_ffi(str(h)).sizeof("struct bsdnet_ioc_attach") == 32
    assert tio.requests(str(h))["BSDNET_IOC_ATTACH"].number == 0x80204204
    with pytest.raises(RegionError, match="not found"):
        tio.header_text(str(tmp_path / "none.h"))
