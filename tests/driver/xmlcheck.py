"""Every domain XML the driver writes is checked against libvirt's own
schema with virt-xml-validate (libvirt-clients), on top of the
VIR_DOMAIN_DEFINE_VALIDATE the driver asks libvirt for."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

VALIDATOR = shutil.which("virt-xml-validate")


def assert_valid_domain(xml: str) -> None:
    """Raise AssertionError (with the validator's words and the XML) unless it validates.
    Without virt-xml-validate only libvirt's define-time validation remains."""
    if VALIDATOR is None:
        return
    fd, path = tempfile.mkstemp(suffix=".xml", prefix="bsdnet-dom-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(xml)
        r = subprocess.run([VALIDATOR, path, "domain"], capture_output=True, text=True)
    finally:
        os.unlink(path)
    assert r.returncode == 0, f"virt-xml-validate: {r.stderr.strip()}\n{xml}"


class ValidatingConn:
    """A libvirt connection whose defineXML* check the XML with
    virt-xml-validate first; ``defined`` counts what was checked."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.defined = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def defineXMLFlags(self, xml: str, flags: int = 0) -> Any:  # noqa: N802 - libvirt's name
        assert_valid_domain(xml)
        self.defined += 1
        return self.real.defineXMLFlags(xml, flags)

    def defineXML(self, xml: str) -> Any:  # noqa: N802
        assert_valid_domain(xml)
        self.defined += 1
        return self.real.defineXML(xml)
