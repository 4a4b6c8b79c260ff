"""Every libvirt bhyve test case parses into the model, renders back without
losing anything, and what the model renders is accepted by libvirt's schema
(or refused up front by the version gate, where this libvirt is too old)."""

from __future__ import annotations

import glob
import os
import subprocess
import shutil
import xml.etree.ElementTree as ET

import pytest

from bsdnet.driver.domain import Domain, UnsupportedConfig
from bsdnet.driver.domain.check import check_bhyve, check_strings
from tests.driver.helpers import CORPUS, libvirt

FILES = sorted(glob.glob(os.path.join(CORPUS, "*.xml")))
if not FILES:
    pytest.skip(f"libvirt bhyve corpus not found at {CORPUS}", allow_module_level=True)

LIBVIRT_VERSION = libvirt.getVersion()


def normal(el: ET.Element) -> tuple:
    """An order-free view of an element: what it says, not how it is laid out."""
    attrs = dict(el.attrib)
    if el.tag in ("memory", "currentMemory") and attrs.get("unit", "KiB") == "KiB":
        attrs.pop("unit", None)
    text = (el.text or "").strip()
    return (el.tag, tuple(sorted(attrs.items())), text, tuple(sorted(normal(c) for c in el)))


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.basename(p)[len("bhyvexml2argv-"):-4])
def test_corpus_round_trip(path: str) -> None:
    text = open(path).read()
    dom = Domain.from_xml(text, strict=True)
    assert not dom.extra and not dom.extra_devices
    rendered = dom.to_xml()
    assert normal(ET.fromstring(rendered)) == normal(ET.fromstring(text))
    assert Domain.from_xml(rendered, strict=True) == dom
    check_strings(dom)
    check_bhyve(dom)  # newest libvirt: everything in its own test suite is expressible


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.basename(p)[len("bhyvexml2argv-"):-4])
def test_corpus_rendered_xml_validates_or_is_gated(path: str, conn, tmp_path) -> None:
    dom = Domain.from_xml(open(path).read(), strict=True)
    rendered = dom.to_xml()
    try:
        check_bhyve(dom, LIBVIRT_VERSION)
    except UnsupportedConfig:
        # Gated: this libvirt's bhyve driver predates the feature.  The
        # installed schema must then not be the only thing saying so, i.e.
        # the gate is never looser than the schema.
        return
    d = conn.defineXMLFlags(rendered, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    try:
        assert d.name() == dom.name
    finally:
        d.undefine()
    if shutil.which("virt-xml-validate"):
        f = tmp_path / "d.xml"
        f.write_text(rendered)
        r = subprocess.run(["virt-xml-validate", str(f), "domain"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_schema_rejections_are_all_gated(tmp_path) -> None:
    """Where the installed schema refuses a corpus file, the version gate refuses it too."""
    if not shutil.which("virt-xml-validate"):
        pytest.skip("virt-xml-validate not installed (libvirt-clients)")
    refused = []
    for path in FILES:
        r = subprocess.run(["virt-xml-validate", path, "domain"], capture_output=True)
        if r.returncode != 0:
            refused.append(path)
            with pytest.raises(UnsupportedConfig):
                check_bhyve(Domain.from_xml(open(path).read()), LIBVIRT_VERSION)
    if LIBVIRT_VERSION < 11_000_000:
        assert refused, "expected this old schema to refuse the newest bhyve features"
