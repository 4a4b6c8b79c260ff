"""What spawn refuses before it makes anything (flavor sizes, CPU topology,
the host's limits), long Nova names mapped to short domain names, and a
leftover instance directory."""

from __future__ import annotations

import os

import pytest

from bsdnet.driver.compute.errors import GuestConfigError, HostLimitExceeded
from bsdnet.driver.compute.host import host_guest_limits
from bsdnet.driver.compute.instance import Flavor, domain_name
from bsdnet.driver.domain import Domain
from tests.driver.helpers import make_instance, make_vif

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}


def _refused(driver, fake_net, inst, image=IMAGE, match: str = "") -> None:
    with pytest.raises(GuestConfigError, match=match):
        driver.spawn(None, inst, image, network_info=[make_vif()])
    assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))
    assert not driver.instance_exists(inst)
    assert not fake_net.calls


@pytest.mark.parametrize("field,value", [("memory_mb", -256), ("memory_mb", 0), ("vcpus", 0),
                                         ("vcpus", -1), ("memory_mb", "lots"),
                                         ("vcpus", "\u0663")])  # '٣' is a digit to str.isdigit
def test_bad_flavor_sizes_refused(driver, fake_net, field, value) -> None:
    inst = make_instance()
    setattr(inst.flavor, field, value)
    _refused(driver, fake_net, inst, match=f"flavor {field} is")


@pytest.mark.parametrize("specs,match", [
    ({"hw:cpu_threads": "0"}, "hw:cpu_threads is '0'"),
    ({"hw:cpu_sockets": "two"}, "hw:cpu_sockets is 'two'"),
    ({"hw:cpu_cores": "-2"}, "hw:cpu_cores"),
    ({"hw:cpu_sockets": "2\n"}, "hw:cpu_sockets is '2\\\\n'"),
    ({"hw:cpu_sockets": "3"}, "3 sockets x 1 cores x 1 threads is 3 vCPUs; the flavor has 2"),
])
def test_bad_topology_refused(driver, fake_net, specs, match) -> None:
    inst = make_instance(flavor=Flavor(name="t", memory_mb=256, vcpus=2, extra_specs=specs))
    _refused(driver, fake_net, inst, match=match)


def test_topology_from_image_checked_too(driver, fake_net) -> None:
    inst = make_instance(flavor=Flavor(name="t", memory_mb=256, vcpus=2))
    image = {"id": "img-raw", "properties": {"os_distro": "freebsd", "hw_cpu_threads": "0"}}
    _refused(driver, fake_net, inst, image, match="hw_cpu_threads is '0'")


def test_good_topology_reaches_the_domain(driver) -> None:
    inst = make_instance(flavor=Flavor(name="t", memory_mb=256, vcpus=4, extra_specs={"hw:cpu_threads": "2"}))
    driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    try:
        top = Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(0)).topology
        assert (top.sockets, top.cores, top.threads) == (1, 2, 2)
    finally:
        driver.destroy(None, inst, [])


def test_host_limits(driver, fake_net) -> None:
    mem, cpus = host_guest_limits(driver.conn)
    assert (mem, cpus) == (3072, 16)  # what test:///default's node has
    for flavor in (Flavor(memory_mb=2 ** 40, vcpus=1), Flavor(memory_mb=256, vcpus=4096),
                   Flavor(memory_mb=mem + 1, vcpus=1), Flavor(memory_mb=256, vcpus=cpus + 1)):
        inst = make_instance(flavor=flavor)
        with pytest.raises(HostLimitExceeded, match="this host"):
            driver.spawn(None, inst, IMAGE, network_info=[make_vif()])
        assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))
    assert not fake_net.calls


def test_vmm_maxcpu_is_the_limit_on_freebsd(conn) -> None:
    assert host_guest_limits(conn, "freebsd14", lambda name: 64 if name == "hw.vmm.maxcpu" else None) == (3072, 64)
    # the sysctl unreadable (vmm not loaded): the node's CPUs
    assert host_guest_limits(conn, "freebsd14", lambda name: None) == (3072, 16)


def test_long_nova_name_gets_a_short_stable_domain_name(driver) -> None:
    inst = make_instance()
    inst.name = f"instance-{inst.uuid}"  # instance_name_template = instance-%(uuid)s: 45 characters
    short = domain_name(inst)
    assert short == "i-" + inst.uuid.replace("-", "")[:29] and len(short) == 31
    assert domain_name(inst) == short
    driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    try:
        dom = driver.conn.lookupByUUIDString(inst.uuid)
        assert dom.name() == short
        assert Domain.from_xml(dom.XMLDesc(0)).title == inst.name
        assert inst.name in driver.list_instances()  # Nova's name, as Nova lists them
        driver.power_on(None, inst, [])
        assert driver.get_info(inst).state == 1
    finally:
        driver.destroy(None, inst, [])
    assert not driver.instance_exists(inst)


def test_names_that_fit_are_kept() -> None:
    inst = make_instance()
    inst.name = "instance-0000002a"
    assert domain_name(inst) == "instance-0000002a"
    inst.name = "web server"  # not vmm's alphabet
    assert domain_name(inst).startswith("i-")


def test_leftover_instance_directory_does_not_block_spawn(driver) -> None:
    inst = make_instance()
    idir = os.path.join(driver.config.instances_path, inst.uuid)
    os.makedirs(idir)
    with open(os.path.join(idir, "disk"), "wb") as f:
        f.write(b"stale")
    driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    try:
        with open(os.path.join(idir, "disk"), "rb") as f:
            assert f.read(9) == b"\xeb\x3c\x90BSDNET"  # the image, not the leftover
    finally:
        driver.destroy(None, inst, [])
