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
            value = o.sample_default if o.sample_default is not None \
                else o.default
            default = "" if value is None else str(value)
            if isinstance(value, bool):
                default = default.lower()   # how the generator writes it
            if isinstance(value, dict):
                default = ",".join(f"{k}:{v}" for k, v in value.items())
            assert f"#{o.name} = {default}".rstrip() in body[group], (
                f"{group}.{o.name} missing or stale: regenerate with "
                "oslo-config-generator --config-file "
                "etc/bsdnet-agent-config-generator.conf")
