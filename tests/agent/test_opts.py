"""The committed etc/bsdnet-agent.conf.sample names every option."""
import os
import re

from bsdnet.agent import opts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
SAMPLE = os.path.join(ROOT, "etc", "bsdnet-agent.conf.sample")


def test_sample_lists_every_option():
    text = open(SAMPLE, encoding="utf-8").read()
    sections = re.split(r"^\[(\w+)\]$", text, flags=re.M)
    body = dict(zip(sections[1::2], sections[2::2]))
    for group, options in opts.list_opts():
        assert group in body, f"[{group}] missing: regenerate the sample"
        for o in options:
            default = "" if o.default is None else str(o.default)
            if isinstance(o.default, bool):
                default = default.lower()   # how the generator writes it
            assert f"#{o.name} = {default}".rstrip() in body[group], (
                f"{group}.{o.name} missing or stale: regenerate with "
                "oslo-config-generator --namespace bsdnet.agent")
