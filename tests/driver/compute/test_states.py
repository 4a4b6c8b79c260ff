"""Pause, suspend, soft delete, NMI and the guest password, on test:///default
(which has them all) and against a libvirt without them (as libvirt's bhyve
driver is: no pause, no managed save, no NMI)."""

from __future__ import annotations

import os
import stat

import pytest

from bsdnet.driver.compute.driver import PAUSED, RUNNING, SHUTDOWN
from bsdnet.driver.compute.errors import InstanceNotRunning
from tests.driver.helpers import BhyveLikeConn, make_instance, make_vif

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}


@pytest.fixture
def guest(driver):
    inst = make_instance()
    vif = make_vif()
    driver.spawn(None, inst, IMAGE, network_info=[vif])
    yield inst, vif
    driver.destroy(None, inst, [vif])


def state(driver, inst) -> int:
    return driver.get_info(inst).state


def test_pause_unpause(driver, guest) -> None:
    inst, _ = guest
    driver.unpause(inst)  # not paused: nothing to do
    assert state(driver, inst) == RUNNING
    driver.pause(inst)
    assert state(driver, inst) == PAUSED
    driver.unpause(inst)
    assert state(driver, inst) == RUNNING


def test_suspend_resume_through_managed_save(driver, guest, fake_net) -> None:
    inst, vif = guest
    driver.resume(None, inst, [vif])  # running: nothing to do
    driver.suspend(None, inst)
    dom = driver.conn.lookupByUUIDString(inst.uuid)
    assert state(driver, inst) == SHUTDOWN and dom.hasManagedSaveImage(0)
    fake_net.calls.clear()
    driver.resume(None, inst, [vif])
    assert state(driver, inst) == RUNNING and not dom.hasManagedSaveImage(0)
    assert ("plug_port", vif["id"], vif["devname"], vif["address"], "10.0.0.5") in fake_net.calls  # lease again
    driver.suspend(None, inst)
    # destroy removes a suspended guest with its saved memory (see the fixture)


def test_soft_delete_and_restore_keep_disks_and_ports(driver, guest, fake_net) -> None:
    inst, vif = guest
    driver.soft_delete(inst)
    assert state(driver, inst) == SHUTDOWN
    assert os.path.exists(os.path.join(driver.config.instances_path, inst.uuid, "disk"))
    assert ("unplug_port", vif["id"]) not in fake_net.calls
    driver.restore(inst)  # no network_info here: the recorded VIFs are plugged
    assert state(driver, inst) == RUNNING
    assert fake_net.ports[vif["id"]].mac == vif["address"]
    driver.restore(inst)
    assert state(driver, inst) == RUNNING


def test_nmi_and_password_through_libvirt(driver, guest) -> None:
    inst, _ = guest
    driver.trigger_crash_dump(inst)
    driver.set_admin_password(inst, "s3cret")
    driver.power_off(inst)
    with pytest.raises(InstanceNotRunning):
        driver.trigger_crash_dump(inst)
    with pytest.raises(InstanceNotRunning):
        driver.pause(inst)


def test_what_bhyve_lacks_is_not_implemented(driver, guest, tmp_path) -> None:
    inst, vif = guest
    driver._conn = BhyveLikeConn(driver.conn)
    for call in (lambda: driver.pause(inst), lambda: driver.suspend(None, inst),
                 lambda: driver.set_admin_password(inst, "x")):
        with pytest.raises(NotImplementedError, match="bhyve driver cannot do it"):
            call()
    assert state(driver, inst) == RUNNING
    # NMI: bhyvectl(8) injects one where libvirt cannot.
    log = tmp_path / "bhyvectl.args"
    standin = tmp_path / "bhyvectl"
    standin.write_text(f"#!/bin/sh\n[ \"$#\" = 2 ] && [ \"$2\" = --inject-nmi ] || exit 64\n"
                       f"echo \"$@\" > {log}\n")
    standin.chmod(standin.stat().st_mode | stat.S_IXUSR)
    driver.bhyvectl = str(standin)
    driver.trigger_crash_dump(inst)
    assert log.read_text().split() == [f"--vm={driver.conn.lookupByUUIDString(inst.uuid).name()}", "--inject-nmi"]
    driver.bhyvectl = str(tmp_path / "absent")
    with pytest.raises(NotImplementedError, match="absent"):
        driver.trigger_crash_dump(inst)
