"""bsdnet-vrctl reads the kernel module's tables through /dev/bsdnet
(GEOMETRY, then a read-only mmap), the stand-in module answering as the
module does."""
import json

import pytest

from bsdnet.cmd import vrctl
from bsdnet.shm.abi import lib
from bsdnet.shm.tables import Tables, Vif


@pytest.fixture
def bound(fake, transport, region):
    t = Tables(region, grace=0.0)
    f = t.vifs.add(Vif(type=lib.BSDNET_VIF_FABRIC, flags=lib.BSDNET_VIF_F_UP,
                       mtu=1500, mac=b"\x02\0\0\0\0\x01", name="vtnet0"))
    transport.sync_ports(region)
    return f


def test_vif_through_the_device(capsys, fake, bound):
    rc = vrctl.main(["--device", "/dev/bsdnet", "--json", "vif"], ops=fake)
    out = capsys.readouterr()
    assert rc == 0, out.err
    rows = {r["vif"]: r for r in json.loads(out.out)}
    assert rows[bound]["name"] == "vtnet0"
    assert rows[bound]["os_index"] == 3          # attached by the module
    # Read-only: the mapping vrctl made cannot write the tables.
    with pytest.raises(TypeError):
        fake.maps[-1][0] = 0


def test_device_without_module(capsys, fake):
    fake.loaded = False
    assert vrctl.main(["--device", "/dev/bsdnet", "--json", "vif"],
                      ops=fake) == 1
    assert "is the module loaded? kldload bsdnet" in capsys.readouterr().err


def test_device_without_tables(capsys, fake):
    assert vrctl.main(["--device", "/dev/bsdnet", "stats"], ops=fake) == 1
    assert "no tables yet" in capsys.readouterr().err


def test_shm_and_device_exclusive(capsys):
    with pytest.raises(SystemExit) as e:
        vrctl.main(["--shm", "x", "--device", "/dev/bsdnet", "vif"])
    assert e.value.code == 2


def test_default_is_the_device_where_it_exists(capsys, fake, bound,
                                               monkeypatch):
    monkeypatch.setattr(vrctl.os.path, "exists",
                        lambda p: p == "/dev/bsdnet")
    assert vrctl.main(["--json", "vif"], ops=fake) == 0
    assert any(r["name"] == "vtnet0"
               for r in json.loads(capsys.readouterr().out))
