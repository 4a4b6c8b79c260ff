"""bsdnet-net: the network driver for operators.

    bsdnet-net ensure-network --id net1 --uplink em0 [--vlan 100] [--mtu 9000]
                              [--cidr 10.0.0.0/24 --gateway 10.0.0.1
                               --bridge-address 10.0.0.2/24 --dhcp] [--move-address]
    bsdnet-net plug --port P --network net1 --mac 52:54:00:aa:bb:cc [--ip 10.0.0.5]
    bsdnet-net unplug --port P
    bsdnet-net delete-network --id net1
    bsdnet-net list [--json]
    bsdnet-net cleanup

--dry-run prints the exact argv the FreeBSD backend would run, on any host,
without running anything: reads are answered by a stand-in seeded with
--ifconfig-output (saved `ifconfig -a` output of the real host) or with the
interfaces named by --assume.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from bsdnet.driver.net import NetDriverError, Network, Port, get_driver
from bsdnet.driver.net.model import IPV6_MODES
from bsdnet.driver.net.state import StateStore


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bsdnet-net", description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("auto", "freebsd", "linux"), default="auto")
    p.add_argument("--state-dir", default="/var/db/bsdnet/net")
    p.add_argument("--no-dhcp", action="store_true", help="never start dnsmasq")
    p.add_argument("--dnsmasq", help="path of dnsmasq")
    p.add_argument("--netns", help="Linux: work inside this network namespace")
    p.add_argument("--dry-run", action="store_true",
                   help="print the FreeBSD argv instead of running anything")
    p.add_argument("--ifconfig-output", help="dry run: `ifconfig -a` output of the host")
    p.add_argument("--assume", action="append", default=[], metavar="IF[:MTU]",
                   help="dry run: an interface that exists (repeatable)")
    p.add_argument("--member-ifaddrs", choices=("0", "1"), default="0",
                   help="dry run: net.link.bridge.member_ifaddrs (FreeBSD 15: 0)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    e = sub.add_parser("ensure-network", help="make or check a flat/VLAN network")
    e.add_argument("--id", required=True)
    e.add_argument("--uplink", required=True)
    e.add_argument("--vlan", type=int)
    e.add_argument("--mtu", type=int)
    e.add_argument("--bridge")
    e.add_argument("--cidr")
    e.add_argument("--gateway")
    e.add_argument("--bridge-address")
    e.add_argument("--dns", action="append", default=[])
    e.add_argument("--route", action="append", default=[], metavar="CIDR,VIA")
    e.add_argument("--dhcp", action="store_true")
    e.add_argument("--move-address", action="store_true")
    e.add_argument("--stp", action="store_true")
    e.add_argument("--cidr6", help="IPv6 subnet: RAs and DHCPv6 from the network's dnsmasq")
    e.add_argument("--bridge-address6")
    e.add_argument("--ipv6-ra-mode", choices=IPV6_MODES)
    e.add_argument("--ipv6-address-mode", choices=IPV6_MODES)

    d = sub.add_parser("delete-network", help="remove a network (no ports left)")
    d.add_argument("--id", required=True)

    pl = sub.add_parser("plug", help="put a port's tap on its network's bridge")
    pl.add_argument("--port", required=True)
    pl.add_argument("--network", required=True)
    pl.add_argument("--mac", required=True)
    pl.add_argument("--ip")
    pl.add_argument("--ip6", help="fixed address for DHCPv6 (dhcpv6-stateful)")
    pl.add_argument("--hostname")
    pl.add_argument("--tap")
    pl.add_argument("--mtu", type=int)
    pl.add_argument("--adopt", action="store_true",
                    help="the tap exists already (made by libvirt): mark it, do not create")

    u = sub.add_parser("unplug", help="take a port off its bridge")
    u.add_argument("--port", required=True)

    ls = sub.add_parser("list", help="interfaces bsdnet owns")
    ls.add_argument("--json", action="store_true")

    sub.add_parser("cleanup", help="remove bsdnet interfaces nobody wants or uses")
    return p


def _network(a: argparse.Namespace) -> Network:
    routes = []
    for r in a.route:
        dst, _, via = r.partition(",")
        routes.append((dst, via))
    return Network(id=a.id, uplink=a.uplink, vlan=a.vlan, mtu=a.mtu, bridge=a.bridge,
                   cidr=a.cidr, gateway=a.gateway, bridge_address=a.bridge_address,
                   dns=a.dns, routes=routes, dhcp=a.dhcp, move_address=a.move_address,
                   stp=a.stp, cidr6=a.cidr6, bridge_address6=a.bridge_address6,
                   ipv6_ra_mode=a.ipv6_ra_mode, ipv6_address_mode=a.ipv6_address_mode)


def _dry_run_driver(a: argparse.Namespace):
    from bsdnet.driver.net.fbsd_sim import FreeBSDHost
    from bsdnet.driver.net.freebsd import FreeBSDBackend
    from bsdnet.driver.net.model import IfState
    from bsdnet.driver.net.network import NetworkDriver
    from bsdnet.driver.net.runner import DryRunRunner

    sysctls = {"net.link.bridge.member_ifaddrs": a.member_ifaddrs}
    if a.ifconfig_output:
        with open(a.ifconfig_output) as fh:
            host = FreeBSDHost.from_ifconfig(fh.read(), sysctls=sysctls)
    else:
        host = FreeBSDHost(sysctls=sysctls)
    assumed = list(a.assume)
    if a.cmd == "ensure-network":
        assumed.append(a.uplink)
    for spec in assumed:
        name, _, mtu = spec.partition(":")
        if name not in host.ifaces:
            host.ifaces[name] = IfState(
                name=name, kind="ether", mtu=int(mtu or 1500),
                flags=["UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST"],
                ether="02:00:00:00:00:01")
    lines: list[str] = []
    muted = [True]
    runner = DryRunRunner(host, lambda s: None if muted[0] else lines.append(s))
    store = StateStore(None)
    # Read-only: what the real host's bsdnet already knows; nothing is written.
    real = StateStore(a.state_dir, readonly=True) if a.state_dir else None
    drv = NetworkDriver(FreeBSDBackend(runner), store, None)
    if real:
        for n in real.networks():
            for ifn in (n.uplink,):
                host.ifaces.setdefault(ifn, IfState(
                    name=ifn, kind="ether", mtu=1500, ether="02:00:00:00:00:01",
                    flags=["UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST"]))
            drv.ensure_network(n)      # rebuild the host's state, silently
        for p in real.ports():
            drv.plug_port(p)
    muted[0] = False
    return drv, lines


def _run(a: argparse.Namespace, drv, out) -> Any:
    if a.cmd == "ensure-network":
        return drv.ensure_network(_network(a))
    if a.cmd == "delete-network":
        drv.delete_network(a.id)
        return {"deleted": a.id}
    if a.cmd == "plug":
        return drv.plug_port(Port(id=a.port, network_id=a.network, mac=a.mac, ip=a.ip, ip6=a.ip6,
                                  hostname=a.hostname, tap=a.tap, mtu=a.mtu),
                             create=not a.adopt)
    if a.cmd == "unplug":
        drv.unplug_port(a.port)
        return {"unplugged": a.port}
    if a.cmd == "list":
        rows = drv.list()
        if a.json:
            return rows
        for r in rows:
            extra = r["port"] or ",".join(r["members"])
            print(f"{r['name']:<16} {r['kind']:<7} net={r['network'] or '-':<12} "
                  f"mtu={r['mtu']:<5} {'up' if r['up'] else 'down':<4} {extra}", file=out)
        return None
    if a.cmd == "cleanup":
        return {"removed": drv.cleanup()}
    raise AssertionError(a.cmd)


def main(argv: list[str] | None = None, out=None) -> int:
    out = out or sys.stdout
    a = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if a.dry_run:
            drv, lines = _dry_run_driver(a)
            result = _run(a, drv, out)
            for line in lines:
                print(line, file=out)
            if a.cmd == "ensure-network" and a.dhcp and not a.no_dhcp:
                from bsdnet.driver.net.dnsmasq import DnsmasqManager
                import shlex
                mgr = DnsmasqManager(f"{a.state_dir}/dhcp")
                print("# then: " + shlex.join(mgr.argv(_network(a), result["bridge"])),
                      file=out)
            return 0
        if a.netns:
            from pyroute2 import netns
            netns.pushns(a.netns)
        conf = {"backend": a.backend, "state_dir": a.state_dir,
                "dhcp": not a.no_dhcp, "dnsmasq": a.dnsmasq}
        drv = get_driver(conf)
        try:
            result = _run(a, drv, out)
        finally:
            drv.backend.close()
        if result is not None:
            print(json.dumps(result, indent=1 if a.cmd == "list" else None), file=out)
        return 0
    except NetDriverError as exc:
        print(f"bsdnet-net: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
