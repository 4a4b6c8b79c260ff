"""bsdnet-port-control: register VM ports with the local bsdnet agent.

A drop-in for OpenContrail's vrouter-port-control: same options, same JSON
to the agent's port API (its unix socket by default), so Nova's vrouter
VIF driver works unchanged when the command is installed under either
name.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from typing import Any, Sequence

from bsdnet.agent import apiclient
from bsdnet.agent.apiclient import PortApiError
from bsdnet.agent.portstore import Port

DEFAULT_AGENT = apiclient.DEFAULT_URL
PORT_TYPES = {"NovaVMPort": 0, "NameSpacePort": 1, "ESXiPort": 2}

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

DESCRIPTION = """\
Tell the bsdnet agent on this node about a VM's network port, or take it
away, through the agent's port API on localhost.

Operations (--oper):
  add      register a port: the agent writes its vif, allocates its MPLS
           label, installs its /32 route and answers its DHCP.  Adding a
           port that exists with the same values changes nothing; with
           other values it replaces the port.
  delete   remove the port named by --uuid.  A port the agent does not
           know is reported and not treated as an error, so that an
           unplug can be repeated.
  show     print the port named by --uuid as JSON.
  list     print every port (a table; --json for JSON).

The agent validates every field and applies a port completely or not at
all; a refusal is printed with the agent's reason."""

EPILOG = """\
examples:
  bsdnet-port-control --oper add \\
      --uuid 753a65ef-918a-4193-9266-dc23ed8a5982 \\
      --instance_uuid 63bd1a8a-ba6a-4547-af8d-653dd8ff397e \\
      --vn_uuid 38ced7ff-fdfc-4f17-9547-17ff4fb45da9 \\
      --vm_project_uuid cb33cc2c-6fb8-4072-a112-77547c60d2b7 \\
      --ip_address 10.1.0.5 --mac 02:75:3a:65:ef:91 \\
      --tap_name tap753a65ef-91 --vm_name vm1
  bsdnet-port-control --oper delete --uuid 753a65ef-918a-4193-9266-dc23ed8a5982
  bsdnet-port-control --oper list

exit status:
  0  done (including delete of a port the agent does not know)
  1  the agent refused the request (its reason is printed)
  2  bad command line
  3  the agent could not be reached

environment:
  BSDNET_AGENT_URL         default for --agent (otherwise
                           unix:///var/run/bsdnet/port-api.sock)
  BSDNET_AGENT_TOKEN_FILE  default for --token-file

Compatibility: the options are those of vrouter-port-control; --vif_type,
--vhostuser_socket, --vhostuser_mode and --no_persist are accepted and
ignored (bsdnet has no vhost-user ports, and the agent persists ports
itself in its state directory)."""


def _uuid(v: str) -> str:
    try:
        return str(uuid.UUID(v))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a UUID") from None


def _port_type(v: str) -> int:
    if v in PORT_TYPES:
        return PORT_TYPES[v]
    if v in ("0", "1", "2"):
        return int(v)
    raise argparse.ArgumentTypeError(
        f"{v!r}: use one of {', '.join(PORT_TYPES)}")


def _vlan(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{v!r} is not a number") from None
    if n != -1 and not 0 <= n <= 4094:
        raise argparse.ArgumentTypeError(f"{n}: use -1 (none) or 0..4094")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bsdnet-port-control", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--oper", required=True,
                   choices=("add", "delete", "show", "list"),
                   help="what to do (see above)")
    g = p.add_argument_group("the port (add; --uuid also for delete, show)")
    g.add_argument("--uuid", type=_uuid, metavar="UUID",
                   help="Neutron port id (required except for list)")
    g.add_argument("--instance_uuid", type=_uuid, metavar="UUID",
                   help="Nova instance id (required for add)")
    g.add_argument("--vn_uuid", type=_uuid, metavar="UUID",
                   help="virtual network id; the network must be known to "
                   "the agent (required for add)")
    g.add_argument("--vm_project_uuid", default="", metavar="UUID",
                   help="project of the instance (dashes optional)")
    g.add_argument("--ip_address", default="0.0.0.0", metavar="A.B.C.D",
                   help="fixed IPv4 address; 0.0.0.0 (default) for none")
    g.add_argument("--ipv6_address", default="", metavar="ADDR",
                   help="fixed IPv6 address, if any")
    g.add_argument("--vm_name", default="", metavar="NAME",
                   help="instance display name (DHCP host name)")
    g.add_argument("--mac", metavar="XX:XX:XX:XX:XX:XX",
                   help="the VM's MAC address (required for add)")
    g.add_argument("--tap_name", metavar="IFNAME",
                   help="host interface of the port, at most 15 "
                   "characters of [A-Za-z0-9_.-] (required for add)")
    g.add_argument("--port_type", type=_port_type, default=0,
                   metavar="TYPE", help="NovaVMPort (default), "
                   "NameSpacePort or ESXiPort")
    g.add_argument("--tx_vlan_id", type=_vlan, default=-1, metavar="N",
                   help="transmit VLAN (ESXi ports), -1 for none")
    g.add_argument("--rx_vlan_id", type=_vlan, default=-1, metavar="N",
                   help="receive VLAN (ESXi ports), -1 for none")
    o = p.add_argument_group("connection and output")
    o.add_argument("--agent", metavar="URL",
                   default=os.environ.get("BSDNET_AGENT_URL", DEFAULT_AGENT),
                   help="the agent's port API: its unix socket "
                   "(unix:///path or the path) or, where the agent serves "
                   "TCP, http://127.0.0.1:PORT (default %(default)s)")
    o.add_argument("--token-file", metavar="FILE",
                   default=os.environ.get("BSDNET_AGENT_TOKEN_FILE"),
                   help="file with the agent's token, for the port API on "
                   "TCP (the agent's [agent] api_token_file)")
    o.add_argument("--timeout", type=float, default=10.0, metavar="SEC",
                   help="seconds to wait for the agent (default 10)")
    o.add_argument("--json", action="store_true",
                   help="print what the agent answered as JSON")
    for compat in ("--vif_type", "--vhostuser_socket", "--vhostuser_mode"):
        o.add_argument(compat, help=argparse.SUPPRESS)
    o.add_argument("--no_persist", action="store_true",
                   help=argparse.SUPPRESS)
    return p


def port_of(a: argparse.Namespace) -> Port:
    """The port vrouter-port-control sends for --oper add (the agent
    checks every field)."""
    return Port(id=a.uuid, instance_id=a.instance_uuid, vn_id=a.vn_uuid,
                mac_address=a.mac, system_name=a.tap_name,
                ip_address=a.ip_address,
                ip6_address="" if a.ipv6_address in ("None", None)
                else a.ipv6_address,
                display_name=a.vm_name, vm_project_id=a.vm_project_uuid,
                type=a.port_type, rx_vlan_id=a.rx_vlan_id,
                tx_vlan_id=a.tx_vlan_id)


def _table(ports: list[dict[str, Any]]) -> str:
    cols = ("id", "system-name", "ip-address", "mac-address", "vn-id",
            "display-name")
    rows = [cols] + [tuple(str(p.get(c, "")) for c in cols) for p in ports]
    w = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    return "\n".join("  ".join(v.ljust(w[i]) for i, v in enumerate(r))
                     .rstrip() for r in rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    need = {"add": ("uuid", "instance_uuid", "vn_uuid", "mac", "tap_name"),
            "delete": ("uuid",), "show": ("uuid",), "list": ()}[a.oper]
    missing = [f"--{n}" for n in need if getattr(a, n) is None]
    if missing:
        parser.error(f"--oper {a.oper} needs {', '.join(missing)}")
    try:
        token = apiclient.read_token(a.token_file)
    except OSError as e:
        parser.error(f"--token-file: {e}")
    api = apiclient.PortApiClient(a.agent, a.timeout, token)

    try:
        if a.oper == "add":
            out = api.add_port(port_of(a))
            msg = f"port {a.uuid} added"
        elif a.oper == "delete":
            out = api.delete_port(a.uuid)
            msg = (f"port {a.uuid} not known to the agent" if out is None
                   else f"port {a.uuid} deleted")
        elif a.oper == "show":
            out = api.call("GET", f"/port/{a.uuid}")
            msg = json.dumps(out, indent=1)
        else:
            out = api.call("GET", "/ports")
            msg = _table(out)
    except PortApiError as e:
        if e.status is None:
            print(f"bsdnet-port-control: cannot reach the agent at {a.agent}: "
                  f"{e.__cause__}", file=sys.stderr)
            return EXIT_UNREACHABLE
        print(f"bsdnet-port-control: agent refused ({e.status}): {e.reason}",
              file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(out, indent=1) if a.json else msg)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
