"""The parser's layout tables against FreeBSD's own headers, for every architecture."""
from __future__ import annotations

import pytest

from bsdnet.routesock import cassert, layout

from .elfimages import ARCHES, zig_cc


@pytest.mark.parametrize("arch", sorted(layout.LAYOUTS))
def test_layout_tables_match_freebsd_headers(arch, tmp_path):
    src = tmp_path / f"asserts-{arch}.c"
    src.write_text(cassert.generate(layout.LAYOUTS[arch]))
    res = zig_cc(ARCHES[arch], src, tmp_path / "a.o")
    assert res.returncode == 0, res.stderr


def test_generated_file_covers_every_table_entry():
    text = cassert.generate(layout.LAYOUTS["amd64"])
    for lay in layout.LAYOUTS["amd64"].all():
        assert f"sizeof(struct {lay.c_struct}) == {lay.size}" in text
        for member, (off, size) in lay.offsets().items():
            assert f"offsetof(struct {lay.c_struct}, {member}) == {off}" in text
            assert f"->{member}) == {size}" in text
    for name, value in layout.CONSTANTS.items():
        assert f"_Static_assert({name} == {value:#x}" in text
    assert "sizeof(long) == 8" in text


@pytest.mark.parametrize("mutate", [
    ("RTM_IFANNOUNCE == 0x11", "RTM_IFANNOUNCE == 0x12"),
    ("offsetof(struct rt_msghdr, rtm_index) == 4", "offsetof(struct rt_msghdr, rtm_index) == 6"),
    ("sizeof(struct ifa_msghdr) == 20", "sizeof(struct ifa_msghdr) == 24"),
])
def test_a_wrong_table_entry_fails_the_build(mutate, tmp_path):
    text = cassert.generate(layout.LAYOUTS["amd64"])
    assert mutate[0] in text
    src = tmp_path / "bad.c"
    src.write_text(text.replace(mutate[0], mutate[1]))
    res = zig_cc("x86_64-freebsd", src, tmp_path / "bad.o")
    assert res.returncode != 0
    assert "static assertion failed" in res.stderr


def test_pyroute2_style_amd64_offsets():
    # The offsets the issue says pyroute2's BSD code gets wrong on amd64.
    rt = layout.RT_MSGHDR.offsets()
    assert rt["rtm_rmx.rmx_mtu"] == (48, 8)
    assert layout.RT_MSGHDR.size == 152
    assert layout.IF_MSGHDR.offsets()["ifm_data.ifi_mtu"] == (24, 4)
