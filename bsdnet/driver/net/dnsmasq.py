"""DHCP for flat and VLAN networks: one dnsmasq per network.

Each instance is bound to its bridge, serves static leases only (a host
file of MAC,IP[,name]), and hands out the MTU, router and routes as DHCP
options.  The argv follows Neutron's DHCP agent, which ran dnsmasq the same
way for years.  Ports changing rewrites the host file and sends SIGHUP,
which makes dnsmasq re-read --dhcp-hostsfile and --dhcp-optsfile.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from bsdnet.common.files import write_atomic

from .errors import NetDriverError
from .model import Network, Port

LOG = logging.getLogger(__name__)

DEFAULT_DNSMASQ = "/usr/local/sbin/dnsmasq" if os.uname().sysname == "FreeBSD" \
    else "/usr/sbin/dnsmasq"


class DnsmasqManager:
    """Starts, reloads and stops one dnsmasq per network."""

    def __init__(self, state_dir: str | os.PathLike, dnsmasq: str = DEFAULT_DNSMASQ,
                 lease_time: str = "86400s"):
        self.root = Path(state_dir)
        self.dnsmasq = dnsmasq
        self.lease_time = lease_time

    # ----- files
    def netdir(self, network_id: str) -> Path:
        d = self.root / network_id
        d.mkdir(parents=True, exist_ok=True)
        # dnsmasq drops to 'nobody' and re-reads the host file on SIGHUP.
        for p in (self.root, d):
            os.chmod(p, 0o755)
        for p in self.root.resolve().parents:
            if not os.stat(p).st_mode & 0o001:
                LOG.warning("dnsmasq runs as nobody and cannot re-read its host file "
                            "below %s (mode %o): ports plugged after it started will get "
                            "no lease; keep the state directory elsewhere", p,
                            os.stat(p).st_mode & 0o777)
                break
        return d

    @staticmethod
    def host_lines(ports: list[Port]) -> str:
        lines = []
        for p in sorted(ports, key=lambda p: p.mac):
            if not p.ip and not p.ip6:
                continue
            fields = [p.mac] + ([p.ip] if p.ip else []) + \
                ([f"[{p.ip6}]"] if p.ip6 else []) + ([p.hostname] if p.hostname else [])
            lines.append(",".join(fields))
        return "".join(f"{line}\n" for line in lines)

    @staticmethod
    def opt_lines(net: Network, mtu: int | None) -> str:
        opts = []
        if mtu:
            opts.append(f"option:mtu,{mtu}")
        if net.gateway:
            opts.append(f"option:router,{net.gateway}")
        if net.dns:
            opts.append("option:dns-server," + ",".join(net.dns))
        if net.routes:
            # RFC 3442: a client given option 121 ignores option 3, so the
            # default route goes into 121 as well.
            routes = [f"{dst},{via}" for dst, via in net.routes]
            if net.gateway:
                routes.append(f"0.0.0.0/0,{net.gateway}")
            opts.append("option:classless-static-route," + ",".join(routes))
        return "".join(f"{o}\n" for o in opts)

    @staticmethod
    def _write_if_changed(path: Path, text: str) -> bool:
        if path.exists() and path.read_text() == text:
            return False
        # Not durable: made again from the driver's state when it differs.
        write_atomic(path, text, mode=0o644, durable=False)
        return True

    def argv(self, net: Network, bridge: str) -> list[str]:
        d = self.root / net.id
        cidr = ipaddress.ip_network(net.cidr)
        return [
            self.dnsmasq, "--conf-file=/dev/null", "--no-hosts", "--no-resolv",
            "--port=0",                      # DHCP only, no DNS service
            f"--pid-file={d / 'dnsmasq.pid'}",
            f"--dhcp-hostsfile={d / 'hosts'}",
            f"--dhcp-optsfile={d / 'opts'}",
            f"--dhcp-leasefile={d / 'leases'}",
            "--bind-interfaces", f"--interface={bridge}", "--except-interface=lo",
            f"--dhcp-range=set:{net.id},{cidr.network_address},static,"
            f"{cidr.netmask},{self.lease_time}",
            f"--dhcp-lease-max={min(cidr.num_addresses, 65536)}",
            *self.argv6(net),
            # Not --dhcp-authoritative: every host of a network runs its
            # own dnsmasq on the same segment, each knowing only its own
            # ports; an authoritative one NAKs the other hosts' clients.
            "--dhcp-no-override",
        ]

    def argv6(self, net: Network) -> list[str]:
        """RA and DHCPv6 for the network's IPv6 subnet, as Neutron's modes say.

        dnsmasq's range modes: ra-only is an RA with the autonomous flag
        (SLAAC) and no DHCPv6; ra-stateless adds the O flag and answers
        information requests; a static range sets the M flag and leases the
        host file's [addresses].  With no ra_mode another router advertises
        and only DHCPv6 (if any) is ours."""
        if not net.cidr6:
            return []
        mode = net.ipv6_ra_mode or net.ipv6_address_mode
        if mode is None or (net.ipv6_ra_mode is None and mode == "slaac"):
            return []
        cidr6 = ipaddress.IPv6Network(net.cidr6)
        kind = {"slaac": "ra-only", "dhcpv6-stateless": "ra-stateless",
                "dhcpv6-stateful": "static"}[mode]
        out = [f"--dhcp-range=set:{net.id}-v6,{cidr6.network_address},{kind},"
               f"{cidr6.prefixlen},{self.lease_time}"]
        if net.ipv6_ra_mode:
            out.append("--enable-ra")
        return out

    # ----- process
    def pid(self, network_id: str) -> int | None:
        """The running dnsmasq of a network, checked by its command line so a
        recycled pid is never signalled."""
        pidfile = self.root / network_id / "dnsmasq.pid"
        try:
            pid = int(pidfile.read_text().strip())
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return self._pid_bsd(pidfile)
        if any(str(pidfile).encode() in c for c in cmd):
            return pid
        return None

    @staticmethod
    def _pid_bsd(pidfile: Path) -> int | None:
        # No /proc on FreeBSD: trust the pid file if the process exists.
        if Path("/proc/self").exists():
            return None
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def ensure(self, net: Network, bridge: str, ports: list[Port],
               mtu: int | None = None) -> int:
        """Start dnsmasq for the network, or reload it if files changed."""
        d = self.netdir(net.id)
        changed = self._write_if_changed(d / "hosts", self.host_lines(ports))
        changed |= self._write_if_changed(d / "opts", self.opt_lines(net, mtu or net.mtu))
        pid = self.pid(net.id)
        if pid is not None:
            if changed:
                os.kill(pid, signal.SIGHUP)
            return pid
        argv = self.argv(net, bridge)
        LOG.info("starting %s", " ".join(argv))
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise NetDriverError(f"dnsmasq for network {net.id} failed to start: "
                                 f"{proc.stderr.strip()}")
        for _ in range(500):     # dnsmasq writes its pid file as it daemonizes
            pid = self.pid(net.id)
            if pid is not None:
                return pid
            time.sleep(0.02)
        raise NetDriverError(f"dnsmasq for network {net.id} started but wrote no pid file")

    def update_hosts(self, net: Network, ports: list[Port]) -> bool:
        """Rewrite the host file and SIGHUP dnsmasq; True if it changed."""
        d = self.netdir(net.id)
        changed = self._write_if_changed(d / "hosts", self.host_lines(ports))
        pid = self.pid(net.id)
        if changed and pid is not None:
            os.kill(pid, signal.SIGHUP)
        return changed

    def stop(self, network_id: str) -> None:
        """Stop the network's dnsmasq and forget its files (absent is fine)."""
        pid = self.pid(network_id)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            for _ in range(250):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)
        d = self.root / network_id
        if d.is_dir():
            for f in d.iterdir():
                f.unlink(missing_ok=True)
            d.rmdir()

    def networks(self) -> list[str]:
        """Networks that have (or had) a dnsmasq: their state directories."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())
