"""The driver's whole lifecycle against libvirt's test:///default, including
the failure paths: nothing is left behind when spawn fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from bsdnet.driver.compute.driver import RUNNING, SHUTDOWN
from bsdnet.driver.compute.errors import ComputeError, ConsoleUnavailable, ImageError, InstanceNotFound
from bsdnet.driver.compute.images import qemu_img_info
from bsdnet.driver.domain import Domain, UnsupportedConfig
from tests.driver.helpers import libvirt, make_instance, make_vif

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}


def state(driver, inst) -> int:
    return driver.get_info(inst).state


def test_spawn_lifecycle_destroy(driver, fake_net) -> None:
    inst = make_instance()
    vifs = [make_vif(), make_vif(vlan=100)]
    driver.spawn(None, inst, IMAGE, network_info=vifs)
    try:
        assert driver.instance_exists(inst)
        assert inst.name in driver.list_instances()
        assert inst.uuid in driver.list_instance_uuids()
        assert "test" not in driver.list_instances()  # the test driver's own domain is not ours
        assert state(driver, inst) == RUNNING
        dom = Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(0))
        idir = os.path.join(driver.config.instances_path, inst.uuid)
        assert dom.disks[0].source == os.path.join(idir, "disk")
        assert [i.mac for i in dom.interfaces] == [v["address"] for v in vifs]
        assert [i.target_dev for i in dom.interfaces] == [v["devname"] for v in vifs]
        assert dom.metadata.flavor_name == "m1.tiny" and dom.metadata.root_uuid is not None
        assert [p.uuid for p in dom.metadata.ports] == [v["id"] for v in vifs]
        # the bridge VIF driver asked for both bridges and the VLAN interface
        assert ("ensure_network", vifs[1]["network"]["id"], "bnb" + vifs[1]["network"]["id"].replace("-", "")[:12],
                "em0", 100, 1500) in fake_net.calls

        driver.reboot(None, inst, vifs, "SOFT")
        assert state(driver, inst) == RUNNING
        driver.reboot(None, inst, vifs, "HARD")
        assert state(driver, inst) == RUNNING
        driver.power_off(inst, timeout=5)
        assert state(driver, inst) == SHUTDOWN
        driver.power_on(None, inst, vifs)
        assert state(driver, inst) == RUNNING
        driver.power_off(inst)
        assert state(driver, inst) == SHUTDOWN
        driver.power_on(None, inst, vifs)
        assert driver.get_console_output(None, inst) == b""  # no nmdm on Linux: nothing logged, no error
        with pytest.raises(ConsoleUnavailable):
            driver.get_serial_console(None, inst)
    finally:
        driver.destroy(None, inst, vifs)
    assert not driver.instance_exists(inst)
    assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))
    with pytest.raises(InstanceNotFound):
        driver.get_info(inst)
    driver.destroy(None, inst, vifs)  # idempotent


def test_qcow2_converted_and_cached(driver) -> None:
    inst = make_instance()
    image = {"id": "img-qcow2", "properties": {"os_type": "linux"}}
    driver.spawn(None, inst, image, network_info=[], power_on=False)
    try:
        assert state(driver, inst) == SHUTDOWN
        cached = driver.image_cache.cached_path("img-qcow2")
        assert qemu_img_info(cached)["format"] == "raw"
        disk = os.path.join(driver.config.instances_path, inst.uuid, "disk")
        with open(disk, "rb") as f:
            assert f.read(9) == b"\xeb\x3c\x90BSDNET"
    finally:
        driver.destroy(None, inst, [])


def test_root_disk_grows_to_flavor(driver) -> None:
    inst = make_instance()
    inst.flavor.root_gb = 1
    inst.flavor.ephemeral_gb = 1
    driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    try:
        idir = os.path.join(driver.config.instances_path, inst.uuid)
        assert os.path.getsize(os.path.join(idir, "disk")) == 1024 ** 3
        dom = Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(0))
        assert [d.source for d in dom.disks] == [os.path.join(idir, "disk"), os.path.join(idir, "disk.eph0")]
    finally:
        driver.destroy(None, inst, [])


def _extract(iso: str, dest) -> None:
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", str(dest)],
                   check=True, capture_output=True)


def test_config_drive(driver, tmp_path) -> None:
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso not installed")
    inst = make_instance(config_drive=True, user_data="I2Nsb3VkLWNvbmZpZwo=", key_data="ssh-ed25519 AAAA k",
                         metadata={"role": "web"})
    vif = make_vif(ip="10.0.0.9")
    driver.spawn(None, inst, IMAGE, injected_files=[("/etc/motd", b"hello\n")], admin_password="s3cret",
                 network_info=[vif])
    try:
        iso = os.path.join(driver.config.instances_path, inst.uuid, "disk.config")
        dom = Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(0))
        cd = [d for d in dom.disks if d.is_cdrom]
        assert cd and cd[0].source == iso and cd[0].target_bus == "sata"
        info = subprocess.run(["xorriso", "-indev", iso, "-pvd_info"], capture_output=True, text=True)
        assert "config-2" in info.stdout + info.stderr
        _extract(iso, tmp_path / "cd")
        latest = tmp_path / "cd" / "openstack" / "latest"
        md = json.loads((latest / "meta_data.json").read_text())
        assert md["uuid"] == inst.uuid and md["meta"] == {"role": "web"}
        assert list(md["public_keys"].values()) == ["ssh-ed25519 AAAA k"]
        nd = json.loads((latest / "network_data.json").read_text())
        assert nd["links"][0]["ethernet_mac_address"] == vif["address"]
        assert nd["networks"][0]["ip_address"] == "10.0.0.9"
        assert nd["networks"][0]["routes"][0]["gateway"] == "10.0.0.1"
        assert (latest / "user_data").read_bytes() == b"#cloud-config\n"
        assert md["admin_pass"] == "s3cret"
        assert md["files"] == [{"path": "/etc/motd", "content_path": "/content/0000"}]
        assert (tmp_path / "cd" / "openstack" / "content" / "0000").read_bytes() == b"hello\n"
    finally:
        driver.destroy(None, inst, [vif])


def test_image_missing_leaves_nothing(driver, fake_net) -> None:
    inst = make_instance()
    vif = make_vif()
    with pytest.raises(ImageError):
        driver.spawn(None, inst, {"id": "no-such-image", "properties": {}}, network_info=[vif])
    assert not driver.instance_exists(inst)
    assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))
    assert not fake_net.calls  # failed before any VIF was plugged


def test_unsupported_guest_refused_before_any_work(driver) -> None:
    inst = make_instance()
    with pytest.raises(UnsupportedConfig, match="hw_disk_bus"):
        driver.spawn(None, inst, {"id": "img-raw", "properties": {"hw_disk_bus": "ide"}}, network_info=[])
    assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))


class FailingConn:
    """Wraps a libvirt connection and fails one call, the way a daemon would mid-spawn."""

    def __init__(self, real, fail: str) -> None:
        self.real, self.fail = real, fail

    def __getattr__(self, name):
        return getattr(self.real, name)

    def defineXMLFlags(self, xml, flags):  # noqa: N802
        if self.fail == "define":
            raise libvirt.libvirtError("injected: define failed")
        return FailingDom(self.real.defineXMLFlags(xml, flags), self.fail)


class FailingDom:
    def __init__(self, real, fail: str) -> None:
        self.real, self.fail = real, fail

    def __getattr__(self, name):
        return getattr(self.real, name)

    def create(self):
        if self.fail == "create":
            raise libvirt.libvirtError("injected: bhyve failed to start")
        return self.real.create()


@pytest.mark.parametrize("fail", ["define", "create"])
def test_libvirt_error_mid_spawn_leaves_nothing(driver, fake_net, fail) -> None:
    real = driver.conn
    driver._conn = FailingConn(real, fail)
    inst = make_instance()
    vif = make_vif()
    try:
        with pytest.raises(libvirt.libvirtError, match="injected"):
            driver.spawn(None, inst, IMAGE, network_info=[vif])
    finally:
        driver._conn = real
    assert not driver.instance_exists(inst)
    assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))
    # plugged, then unplugged again (bridge driver: unplug leaves the shared bridge)
    assert any(c[0] == "ensure_network" for c in fake_net.calls)


def test_volume_of_unknown_type_refused_at_spawn(driver) -> None:
    inst = make_instance()
    bdi = {"block_device_mapping": [{"connection_info": {"driver_volume_type": "rbd", "data": {}},
                                     "mount_device": "/dev/vdb"}]}
    with pytest.raises(ComputeError, match="'rbd'"):
        driver.spawn(None, inst, IMAGE, network_info=[], block_device_info=bdi)
    assert not driver.instance_exists(inst)
    assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))


def test_spawn_twice_refused(driver) -> None:
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    try:
        with pytest.raises(ComputeError, match="already"):
            driver.spawn(None, inst, IMAGE, network_info=[])
        assert driver.instance_exists(inst)  # the first one is untouched
    finally:
        driver.destroy(None, inst, [])


def test_attach_detach_change_persistent_definition(driver, caplog) -> None:
    inst = make_instance()
    image = {"id": "img-raw", "properties": {"os_type": "windows"}}
    driver.spawn(None, inst, image, network_info=[])
    try:
        vif = make_vif()
        driver.attach_interface(None, inst, image, vif)
        assert "hot-plug" in caplog.text
        dom = driver.conn.lookupByUUIDString(inst.uuid)
        persistent = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        assert [(i.mac, i.model) for i in persistent.interfaces] == [(vif["address"], "e1000")]
        assert [p.uuid for p in persistent.metadata.ports] == [vif["id"]]
        assert [x["id"] for x in driver.recorded_network_info(inst)] == [vif["id"]]  # for bsdnet-compute destroy
        with pytest.raises(ComputeError, match="already"):
            driver.attach_interface(None, inst, image, vif)
        driver.detach_interface(None, inst, vif)
        persistent = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        assert persistent.interfaces == [] and persistent.metadata.ports == []
        assert driver.recorded_network_info(inst) == []
        with pytest.raises(ComputeError, match="no NIC"):
            driver.detach_interface(None, inst, vif)
    finally:
        driver.destroy(None, inst, [])


class FakeProviderTree:
    def __init__(self) -> None:
        self.inv = {}
        self.traits = set()

    def update_inventory(self, name, inventory):
        self.inv[name] = inventory

    def add_traits(self, name, *traits):
        self.traits.update(traits)


def test_host_resources(driver) -> None:
    res = driver.get_available_resource("node")
    assert res["hypervisor_type"] == "bhyve" and res["vcpus"] >= 1 and res["memory_mb"] > 0
    assert json.loads(res["cpu_info"])["arch"]
    nodes = driver.get_available_nodes()
    assert len(nodes) == 1
    driver.config.cpu_allocation_ratio = 8.0
    tree = FakeProviderTree()
    driver.update_provider_tree(tree, nodes[0])
    inv = tree.inv[nodes[0]]
    assert inv["VCPU"]["allocation_ratio"] == 8.0 and inv["VCPU"]["total"] == res["vcpus"]
    assert inv["MEMORY_MB"]["reserved"] == driver.config.reserved_host_memory_mb
    assert {"COMPUTE_NET_VIF_MODEL_E1000", "COMPUTE_FIRMWARE_UEFI"} <= tree.traits
    try:
        import os_traits
    except ImportError:
        pass
    else:  # every trait advertised is one placement knows
        assert tree.traits <= set(os_traits.get_traits())
    assert driver.get_host_ip_addr() == driver.config.host_ip
    assert driver.get_volume_connector(None)["ip"] == driver.config.host_ip


def test_vnc_ports_allocated_kept_and_never_shared(driver) -> None:
    import socket
    driver.config.vnc_port_range = "36100:36199"
    image = {"id": "img-raw", "properties": {"os_type": "linux"}}
    squatter = socket.socket()
    squatter.bind((driver.config.vnc_listen, 36100))  # something else on the host has the first port
    squatter.listen(1)
    a, b, bios = make_instance(), make_instance(), make_instance()
    try:
        driver.spawn(None, a, image, network_info=[])
        driver.spawn(None, b, image, network_info=[])
        va, vb = driver.get_vnc_console(None, a), driver.get_vnc_console(None, b)
        assert (va.host, va.port, vb.port) == (driver.config.vnc_listen, 36101, 36102)
        persistent = Domain.from_xml(driver.conn.lookupByUUIDString(a.uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        assert (persistent.graphics[0].port, persistent.graphics[0].autoport) == (36101, False)
        driver.power_off(a)
        with pytest.raises(ConsoleUnavailable, match="no running VNC"):
            driver.get_vnc_console(None, a)
        driver.power_on(None, a, [])
        assert driver.get_vnc_console(None, a).port == 36101  # kept across restarts
        # bhyveload guests have no framebuffer (bhyve's fbuf needs UEFI)
        driver.spawn(None, bios, IMAGE, network_info=[])
        with pytest.raises(ConsoleUnavailable):
            driver.get_vnc_console(None, bios)
    finally:
        squatter.close()
        for inst in (a, b, bios):
            driver.destroy(None, inst, [])


def test_host_uptime_cpu_stats_and_resume(driver) -> None:
    assert " up " in driver.get_host_uptime()
    stats = driver.get_host_cpu_stats()
    assert set(stats) == {"kernel", "idle", "user", "iowait", "frequency"} and stats["idle"] > 0
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    try:
        driver.resume_state_on_host_boot(None, inst, [])
        assert state(driver, inst) == RUNNING
    finally:
        driver.destroy(None, inst, [])


@pytest.mark.parametrize("make,claimed,reason", [
    (["create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw"], None, "backing file"),
    ("vmdk-extent-on-host-file", None, "VMDK"),
    (["create", "-f", "qcow2"], "raw", "claims 'raw'"),
])
def test_hostile_images_refused(driver, image_dir, make, claimed, reason) -> None:
    """Images that would make qemu-img read host files never reach a guest disk."""
    path = image_dir / "img-evil"
    if make == "vmdk-extent-on-host-file":
        # A VMDK descriptor whose data "extent" is a host file (CVE-2022-47951's shape).
        path.write_text('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                        'createType="monolithicFlat"\n\nRW 1 FLAT "/etc/hostname" 0\n\n'
                        'ddb.virtualHWVersion = "4"\nddb.adapterType = "ide"\n')
    else:
        subprocess.run(["qemu-img", *make, str(path), "1M"], check=True, capture_output=True)
    inst = make_instance()
    with pytest.raises(ImageError, match=reason):
        driver.spawn(None, inst, {"id": "img-evil", "disk_format": claimed, "properties": {}}, network_info=[])
    assert not os.path.exists(driver.image_cache.cached_path("img-evil"))
    assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))


@pytest.mark.parametrize("qfmt,claimed", [("vpc", "vhd"), ("vmdk", "vmdk"), ("vdi", None)])
def test_other_formats_converted(driver, image_dir, qfmt, claimed) -> None:
    src = image_dir / f"img-{qfmt}"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", qfmt, str(image_dir / "img-raw"), str(src)],
                   check=True, capture_output=True)
    raw = driver.image_cache.get_raw(f"img-{qfmt}", claimed)
    assert qemu_img_info(raw)["format"] == "raw"
    with open(raw, "rb") as f:
        assert f.read(9) == b"\xeb\x3c\x90BSDNET"
