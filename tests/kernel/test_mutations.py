"""The harness catches what the review found: each fix, undone in a copy
of the module, makes a scenario stop with the fault's own message.

A mutation is (file, the fixed text, the faulty text).  When the fixed
text is no longer in the file, the test fails and says so: the fix was
rewritten and the mutation must follow it, so this stays a test that
can fail.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import khbuild
from .test_kernel import run


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    fixed: str
    faulty: str
    scenario: str
    expect: str


MUTATIONS = [
    # Finding 1: pfil_add_hook() without a current vnet.
    Mutation("vnet-add-hook", "bsdnet_kern_port.c",
             "\tCURVNET_SET(sc->sc_vnet);\n"
             "\tsc->sc_hook = pfil_add_hook(&ha);\n",
             "\tsc->sc_hook = pfil_add_hook(&ha);\n"
             "\tCURVNET_SET(sc->sc_vnet);\n",
             "lifecycle",
             "panic: pfil_add_hook: curvnet is NULL"),
    # Finding 3: a rename's departure event detached the port.
    Mutation("rename-detaches", "bsdnet_kern_port.c",
             "\tif ((if_getflags(ifp) & IFF_RENAMING) != 0)\n\t\treturn;\n",
             "", "if_renamed", "FAIL if_renamed"),
    # Finding 4: only IFT_ETHER accepted.
    Mutation("ether-only", "bsdnet_kern_port.c",
             "\treturn (vif_type == BSDNET_VIF_FABRIC && (if_type == "
             "IFT_L2VLAN ||\n",
             "\treturn (vif_type == BSDNET_VIF_FABRIC && false && (if_type "
             "== IFT_L2VLAN ||\n",
             "fabric_types", "FAIL fabric_types"),
    # Finding 2: attach located the vif table with the header's offset.
    Mutation("header-offset", "bsdnet_kern_port.c",
             "\tbsdnet_store_rel(&sc->sc_region->r_vifs[vif].vif_os_index, "
             "idx);\n",
             "\tstruct bsdnet_region_hdr *rh = bsdnet_kern_region_base(sc);\n"
             "\tbsdnet_store_rel(&((struct bsdnet_vif *)((uint8_t *)rh +\n"
             "\t    rh->rh_off_vifs) + vif)->vif_os_index, idx);\n",
             "header_overwrite", "SEGV on unknown address"),
    # Finding 8: a failed make_dev_s() left the trap mutex and knlist.
    Mutation("make-dev-leak", "bsdnet_kern_dev.c",
             "\t\tknlist_destroy(&sc->sc_rsel.si_note);\n"
             "\t\tmtx_destroy(&sc->sc_trapmtx);\n", "",
             "load_failure", "\"bsdnet_trapq\" initialized at"),
    # ... and MOD_UNLOAD after the failed MOD_LOAD took a destroyed sx.
    Mutation("unload-after-failed-load", "bsdnet_kern_mod.c",
             "\tcase MOD_UNLOAD:\n\t\tif (!sc->sc_loaded)\n"
             "\t\t\treturn (0);\n",
             "\tcase MOD_UNLOAD:\n",
             "load_failure", "is not initialized or was destroyed"),
    # Finding 7: every frame without 64 bytes in front was copied.
    Mutation("copy-for-headroom", "bsdnet_kern_os.c",
             "\tif (m->m_len >= need && M_WRITABLE(m))\n",
             "\tif (m->m_len >= need && M_LEADINGSPACE(m) >= BSDNET_HEADROOM)"
             "\n", "forward", "kh_stat(\"copies\") == 0"),
    # ... and a shared cluster must be copied, never written.
    Mutation("write-shared", "bsdnet_kern_os.c",
             "\tif (m->m_len >= need && M_WRITABLE(m))\n",
             "\tif (m->m_len >= need)\n", "shared_cluster",
             "kh_if_rx_shared(me.tap"),
]


def mutate(src: Path, dst: Path, m: Mutation) -> list[Path]:
    """Copies of the module's sources with m applied to m.file."""
    out = []
    for f in khbuild.MODULE_SOURCES:
        target = dst / f.parent.name / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        text = f.read_text()
        if f.name == m.file:
            assert text.count(m.fixed) == 1, (
                f"{m.name}: the fixed text is no longer in {m.file} once;"
                " update the mutation to the fix as it is now")
            text = text.replace(m.fixed, m.faulty)
        target.write_text(text)
        out.append(target)
    return out


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_harness_catches(m: Mutation, kernel_sys_tree: Path,
                         khbuild_dir: Path, tmp_path: Path) -> None:
    sources = mutate(khbuild.KMOD, tmp_path / "kmod", m)
    try:
        exe = khbuild.build(tmp_path / "build", kernel_sys_tree, sources,
                            objdir=khbuild_dir / "obj")
    finally:
        shutil.rmtree(tmp_path / "kmod", ignore_errors=True)
    res = run(exe, m.scenario)
    assert res.returncode != 0 and f"PASS {m.scenario}" not in res.stdout
    assert m.expect in res.stdout + res.stderr, res.stdout[-4000:]
