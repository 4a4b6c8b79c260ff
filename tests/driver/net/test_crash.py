"""Crash anywhere, retry, end in the same place.

The scenario runs against the in-process FreeBSD stand-in with a runner
that "crashes" (raises) at the k-th command that changes something, either
before or after the command takes effect.  A new driver over the same state
directory then retries the whole scenario, as nova-compute would after a
restart.  For every k the host must end exactly as a run without a crash.
"""

from __future__ import annotations


from bsdnet.driver.net import Network, Port, get_driver
from bsdnet.driver.net.fbsd_sim import FreeBSDHost
from bsdnet.driver.net.freebsd import FreeBSDBackend
from bsdnet.driver.net.runner import SimRunner

from .netdrv_env import fixture_text


class Crash(Exception):
    pass


def _mutates(argv: list[str]) -> bool:
    if argv[0] == "ifconfig":
        return len(argv) > 2 and argv[1] != "-g"
    if argv[0] == "route":
        return "get" not in argv
    return False           # sysctl -n, netstat -rn: reads


class CrashingRunner(SimRunner):
    def __init__(self, host: FreeBSDHost, at: int | None, after: bool):
        super().__init__(host)
        self.at, self.after, self.count = at, after, 0

    def __call__(self, argv):
        if _mutates(argv):
            self.count += 1
            if self.count == self.at:
                if self.after:
                    self.host.run(argv)
                raise Crash(" ".join(argv))
        return super().__call__(argv)


def scenario(drv) -> None:
    drv.ensure_network(Network(id="pub", uplink="em0", move_address=True, stp=True))
    drv.plug_port(Port(id="a1", network_id="pub", mac="52:54:00:00:00:a1"))
    drv.plug_port(Port(id="a2", network_id="pub", mac="52:54:00:00:00:a2"))
    drv.ensure_network(Network(id="v7", uplink="em1", vlan=7, mtu=1500))
    drv.plug_port(Port(id="b1", network_id="v7", mac="52:54:00:00:00:b1"))
    drv.unplug_port("a2")


def fresh_host() -> FreeBSDHost:
    host = FreeBSDHost.from_ifconfig(fixture_text("host-two-nics.txt"))
    host.default_route = ("192.0.2.1", "em0")
    host.routes["10.20.0.0/16"] = ("192.0.2.254", "em0")
    return host


def outcome(host: FreeBSDHost) -> dict:
    return {"routes": dict(host.routes), "ifaces": {
        n: (s.kind, sorted(s.flags), s.mtu, s.inet, s.inet6, s.description,
            sorted(s.groups), s.members, s.member_stp, s.master, s.vlan_tag, s.vlan_parent)
        for n, s in sorted(host.ifaces.items())}}


def run(tmp_path, at, after):
    host = fresh_host()
    conf = {"state_dir": str(tmp_path / "state"), "dhcp": False}
    runner = CrashingRunner(host, at, after)
    try:
        scenario(get_driver(conf, backend=FreeBSDBackend(runner)))
        crashed = False
    except Crash:
        crashed = True
    # After the "restart": a new driver, the same host and state directory.
    drv = get_driver(conf, backend=FreeBSDBackend(SimRunner(host)))
    scenario(drv)
    drv.cleanup()
    return crashed, runner.count, outcome(host)


def test_every_crash_point_recovers(tmp_path):
    _, total, want = run(tmp_path / "clean", None, False)
    assert total > 20
    for after in (False, True):
        for k in range(1, total + 1):
            crashed, _, got = run(tmp_path / f"k{k}{after}", k, after)
            assert crashed
            assert got == want, f"crash {'after' if after else 'before'} command {k}"
