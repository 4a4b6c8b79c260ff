"""The shared ABI lays out identically for FreeBSD and Linux, amd64 and
arm64: _Static_asserts generated from one table (abi_table.json) must hold
when the headers are compiled for each target."""
from __future__ import annotations

from pathlib import Path

import pytest

from . import abi_table, xcompile

# ziglang targets: both sides of the agent/datapath boundary.
ABI_TARGETS = ["x86_64-freebsd", "aarch64-freebsd", "x86_64-linux-gnu",
               "aarch64-linux-gnu"]
FREEBSD_TARGETS = [t for t in ABI_TARGETS if "freebsd" in t]


def _compile_asserts(source: str, target: str, tmp_path: Path
                     ) -> xcompile.Result:
    src = tmp_path / "abi_asserts.c"
    src.write_text(source)
    argv = xcompile.zig_cc() + xcompile.userland_cflags(target) + [
        "-I", str(xcompile.INCLUDE), "-I", str(xcompile.FREEBSD),
        "-c", str(src), "-o", str(tmp_path / "abi_asserts.o")]
    return xcompile.run(argv)


def test_table_covers_every_field() -> None:
    """A field added to a header without regenerating the table (and so
    without anyone re-checking the layout) fails here."""
    table = abi_table.load()
    for header, structs in abi_table.header_structs().items():
        assert sorted(table["headers"][header]) == sorted(structs), header
        for name, fields in structs.items():
            assert [f["name"] for f in table["structs"][name]["fields"]] \
                == fields, name


def test_table_matches_abi_header_pins() -> None:
    """The sizes bsdnet_abi.h pins itself agree with the table."""
    sizes = {n: s["size"] for n, s in abi_table.load()["structs"].items()}
    assert sizes["bsdnet_region_hdr"] == 4096
    assert sizes["bsdnet_flow"] == 64
    assert sizes["bsdnet_trap_hdr"] == 24
    assert sizes["bsdnet_ctl_hdr"] == 16


@pytest.mark.parametrize("target", ABI_TARGETS)
def test_abi_header_layout(target: str, zig: None, tmp_path: Path) -> None:
    source = abi_table.static_asserts(abi_table.load(), ["bsdnet_abi.h"])
    res = _compile_asserts(source, target, tmp_path)
    assert res.ok, res.output


@pytest.mark.parametrize("target", FREEBSD_TARGETS)
def test_ioctl_header_layout(target: str, zig: None, tmp_path: Path) -> None:
    """/dev/bsdnet's ioctl structs: FreeBSD only (<sys/ioccom.h>)."""
    source = abi_table.static_asserts(abi_table.load(), ["bsdnet_ioctl.h"])
    res = _compile_asserts(source, target, tmp_path)
    assert res.ok, res.output


def test_asserts_can_fail(zig: None, tmp_path: Path) -> None:
    """A table that disagrees with the header must not compile."""
    table = abi_table.load()
    table["structs"]["bsdnet_flow"]["fields"][0]["offset"] += 4
    source = abi_table.static_asserts(table, ["bsdnet_abi.h"])
    res = _compile_asserts(source, "x86_64-freebsd", tmp_path)
    assert not res.ok
    assert "offset of bsdnet_flow.fe_state" in res.output
