"""Configuration: [bhyve] options, the committed sample in step with them."""

from __future__ import annotations

import os
from pathlib import Path

from oslo_config import cfg

from bsdnet.driver.compute import config as bconfig

ROOT = str(Path(__file__).resolve().parents[3])


def test_sample_in_step() -> None:
    with open(os.path.join(ROOT, "etc", "bsdnet-compute.conf.sample")) as f:
        assert f.read() == bconfig.sample_text()


def test_from_conf_reads_file(tmp_path) -> None:
    f = tmp_path / "c.conf"
    f.write_text("[bhyve]\nconnection_uri = bhyve:///system\ncpu_allocation_ratio = 2.5\nvif_driver = bridge\n")
    conf = cfg.ConfigOpts()
    conf(args=["--config-file", str(f)], project="bsdnet")
    c = bconfig.from_conf(conf)
    assert (c.connection_uri, c.cpu_allocation_ratio, c.vif_driver) == ("bhyve:///system", 2.5, "bridge")
    assert c.instances_path == bconfig.DriverConfig().instances_path


def test_default_uri_by_platform(monkeypatch) -> None:
    monkeypatch.setattr(bconfig.sys, "platform", "freebsd14")
    assert bconfig.default_uri() == "bhyve:///system"
    monkeypatch.setattr(bconfig.sys, "platform", "linux")
    assert bconfig.default_uri() == "test:///default"


def test_host_problems_named_on_freebsd(tmp_path) -> None:
    from bsdnet.driver.compute.host import host_problems
    cfg = bconfig.DriverConfig(uefi_firmware=str(tmp_path / "none.fd"), grub_bhyve=str(tmp_path / "grub"))
    (tmp_path / "grub").write_text("")
    problems = host_problems(cfg, kld_loaded=lambda m: m != "nmdm", platform_name="freebsd14")
    assert problems == ["kernel module nmdm not loaded (kldload nmdm)",
                        f"UEFI firmware {tmp_path / 'none.fd'} missing: guests that need it will not boot"]
    assert host_problems(cfg, kld_loaded=lambda m: False, platform_name="linux") == []
