"""Fixtures of the driver tests: libvirt's in-process test driver, a fake
network driver, tiny images, a stand-in for the agent's port API, and the
zfs and iscsictl stand-ins (helpers.py has what they are made of)."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading

import pytest

from bsdnet.driver.compute.config import DriverConfig
from bsdnet.driver.compute.driver import BhyveDriver
from bsdnet.driver.vif.bridge import BridgeVifDriver
from tests.driver.helpers import FakeNet, IscsiHost, PortApiHandler, ZfsHost, libvirt, remove_test_domains
from tests.driver.xmlcheck import ValidatingConn


@pytest.fixture
def conn():
    c = libvirt.open("test:///default")
    yield c
    c.close()


@pytest.fixture
def image_dir(tmp_path):
    """A raw and a qcow2 image, named by image id."""
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img not installed (qemu-utils)")
    d = tmp_path / "glance"
    d.mkdir()
    raw = d / "img-raw"
    raw.write_bytes(b"\xeb\x3c\x90BSDNET" + b"\0" * (1024 * 1024 - 9))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(d / "img-qcow2")],
                   check=True, capture_output=True)
    return d


@pytest.fixture
def fake_net():
    return FakeNet()


@pytest.fixture
def driver(tmp_path, image_dir, fake_net):
    from bsdnet.driver.compute import images
    cfg = DriverConfig(connection_uri="test:///default", instances_path=str(tmp_path / "instances"),
                       image_cache_path=str(tmp_path / "cache"),
                       uefi_firmware="/usr/local/share/uefi-firmware/BHYVE_UEFI.fd")
    drv = BhyveDriver(config=cfg, vif_driver=BridgeVifDriver(fake_net, uplink="em0"),
                      fetcher=images.local_fetcher(str(image_dir)),
                      connect=lambda uri: ValidatingConn(libvirt.open(uri)))
    drv.poll_interval = 0.01
    drv.init_host("testhost")
    yield drv
    # Whatever a test left behind goes, even when it failed half way.
    remove_test_domains(drv)
    drv.cleanup_host("testhost")


@pytest.fixture
def port_api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PortApiHandler)
    server.requests = []  # type: ignore[attr-defined]
    server.ports = {}  # type: ignore[attr-defined]
    server.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def zfs_host(tmp_path):
    return ZfsHost(tmp_path / "zfs")


@pytest.fixture
def zfs_driver(tmp_path, image_dir, fake_net, zfs_host):
    """The driver with images_type = zfs on the stand-in."""
    from bsdnet.driver.compute import images
    cfg = DriverConfig(connection_uri="test:///default", instances_path=str(tmp_path / "instances"),
                       image_cache_path=str(tmp_path / "cache"), images_type="zfs", zfs_dataset="tank/bsdnet",
                       zfs=zfs_host.bins["zfs"], zpool=zfs_host.bins["zpool"])
    drv = BhyveDriver(config=cfg, vif_driver=BridgeVifDriver(fake_net, uplink="em0"),
                      fetcher=images.local_fetcher(str(image_dir)),
                      connect=lambda uri: ValidatingConn(libvirt.open(uri)))
    drv.storage.dev_dir = zfs_host.dev_dir
    drv.poll_interval = 0.01
    drv.init_host("testhost")
    yield drv
    remove_test_domains(drv)
    drv.cleanup_host("testhost")


@pytest.fixture
def iscsi_host(tmp_path, driver):
    """A stand-in initiator wired into ``driver``."""
    from bsdnet.driver.compute.volumes import Iscsictl
    host = IscsiHost(tmp_path / "iscsi")
    driver.iscsi = Iscsictl(host.bin, dev_dir=host.dev_dir, wait=1)
    return host
