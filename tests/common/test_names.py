"""One rule per name, whichever layer checks it."""
from __future__ import annotations

import pytest

from bsdnet.agent import portstore as ps
from bsdnet.common import names
from bsdnet.driver.compute.configdrive import network_data
from bsdnet.driver.domain import DomainConfigError
from bsdnet.driver.domain import validate as domain_v
from bsdnet.driver.net import InvalidName as NetInvalidName
from bsdnet.driver.net import names as net_names
from bsdnet.driver.vif.base import tap_name as vif_tap_name
from bsdnet.routesock.layout import CONSTANTS
from bsdnet.shm.abi import lib

UUID = "3f2a9c1e-7b44-4d0e-9a51-0c6f1e2b8d90"

# Each layer's checks, raising its own error type.
IFNAME = [(names.check_ifname, names.InvalidName),
          (domain_v.check_ifname, DomainConfigError),
          (net_names.check_ifname, NetInvalidName),
          (lambda n: ps.v_ifname(n, "system-name"), ps.ValidationError)]
MAC = [(names.check_mac, names.InvalidName),
       (domain_v.check_mac, DomainConfigError),
       (net_names.check_mac, NetInvalidName),
       (lambda m: ps.v_mac(m, "mac-address"), ps.ValidationError)]
UUIDS = [(names.check_uuid, names.InvalidName),
         (domain_v.check_uuid, DomainConfigError),
         (lambda u: ps.v_uuid(u, "id"), ps.ValidationError)]


def test_ifnamsiz_is_freebsds_and_the_abis():
    assert names.IFNAMSIZ == CONSTANTS["IFNAMSIZ"] == lib.BSDNET_IFNAMSIZ == 16


def test_tap_name_is_novas_everywhere():
    want = "tap3f2a9c1e-7b"                 # "tap" + the port id's first 11
    assert names.tap_name(UUID) == want
    assert net_names.tap_name(UUID) == want
    assert vif_tap_name({"id": UUID}) == want
    assert network_data([{"id": UUID, "address": "fa:16:3e:00:00:01"}])["links"][0]["id"] == want
    # Nova's devname wins where it is given.
    assert vif_tap_name({"id": UUID, "devname": "tapother"}) == "tapother"


@pytest.mark.parametrize("check, error", IFNAME)
@pytest.mark.parametrize("good", ["tap3f2a9c1e-7b", "em0", "vlan0.100", "a" * 15])
def test_interface_names_accepted_alike(check, error, good):
    assert check(good) == good


@pytest.mark.parametrize("check, error", IFNAME)
@pytest.mark.parametrize("bad", ["", "a" * 16, "-x", "1abc", ".x", "a b", "tap;ls",
                                 "br/0", "ünï", "em0\n", None])
def test_interface_names_refused_alike(check, error, bad):
    with pytest.raises(error):
        check(bad)


@pytest.mark.parametrize("check, error", MAC)
def test_macs_normalised_alike(check, error):
    assert check("FA:16:3E:00:00:01") == "fa:16:3e:00:00:01"
    assert check("fa-16-3e-00-00-01") == "fa:16:3e:00:00:01"


@pytest.mark.parametrize("check, error", MAC)
@pytest.mark.parametrize("bad", ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00",
                                 "fa:16:3e:00:00", "fa:16:3e:00:00:01\n", " fa:16:3e:00:00:01",
                                 "zz:16:3e:00:00:01", 0])
def test_macs_refused_alike(check, error, bad):
    with pytest.raises(error):
        check(bad)


@pytest.mark.parametrize("check, error", UUIDS)
def test_uuids_normalised_alike(check, error):
    assert check(UUID.upper()) == UUID
    assert check(UUID.replace("-", "")) == UUID      # Keystone's form


@pytest.mark.parametrize("check, error", UUIDS)
@pytest.mark.parametrize("bad", ["not-a-uuid", UUID + "\n", "{" + UUID + "}", UUID[:-1], 5])
def test_uuids_refused_alike(check, error, bad):
    with pytest.raises(error):
        check(bad)


def test_ids_and_tap_names_of_bad_ids_refused():
    assert names.check_id("port-1") == "port-1"
    for bad in ("", "-p", "_p", "p 1", "p/1", "p1\n", "x" * 65):
        with pytest.raises(names.InvalidName):
            names.check_id(bad)
        with pytest.raises(names.InvalidName):
            names.tap_name(bad)
