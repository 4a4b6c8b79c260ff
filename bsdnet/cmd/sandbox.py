"""bsdnet-sandbox: a multi-node bsdnet overlay in Linux network namespaces."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from bsdnet.sandbox import orchestrate
from bsdnet.sandbox.netns import ns_exec
from bsdnet.sandbox.neutronapi import NeutronError
from bsdnet.sandbox.plan import PlanError, make_plan

DESCRIPTION = """\
Build, inspect and remove a bsdnet sandbox on one Linux host.

Each compute node is a network namespace with its own bsdnet-datapath (the
C forwarding core over AF_PACKET, tables in POSIX shared memory) and its own
bsdnet-agent. The nodes share a fabric: a Linux bridge in a namespace of its
own, reached through a veth named fab0 in each node. Each VM is a namespace
whose eth0 is a veth into its node. VMs are spread over virtual networks
that all reuse 10.0.0.0/24: VMs of the same network reach each other across
the fabric as MPLS over GRE; VMs of different networks never do.

With --neutron the nodes are driven by a real Neutron instead: each agent
runs as Neutron's L2 agent (RabbitMQ reached over a management network,
198.51.100.0/24, whose host end is a bridge in the root namespace); the
networks, subnets (one project, its default security group) and ports are
made through Neutron's API, each port bound to its node and plugged through
the node's port API as Nova's os-vif plugin would, and each VM gets its
address from a stock DHCP client. scripts/neutron-dev.sh starts such a
Neutron on this machine; `scripts/neutron-dev.sh env` prints its URLs.

Needs root. Everything made is named after --prefix, so `down` removes it,
also after an `up` that failed halfway.
"""

EPILOG = """\
commands:
  up        build the sandbox, program the overlay, and check that the
            first VM of each network pings its peers on other nodes
  status    print the topology: each node's namespace, fabric interface and
            address, datapath and agent pids; each VM's namespace,
            interface, IP, MAC, network and the MPLS label its node
            allocated (--json for one JSON document)
  exec      run a command inside a VM or node namespace, e.g.
              bsdnet-sandbox exec n1-vm1 -- ping -c 3 10.0.0.2
  vm add    (--neutron sandboxes) attach a new VM namespace to an existing
            Neutron port, as Nova would: bind the port to --node, plug it
            through the node's port API, get its address by DHCP, e.g.
              bsdnet-sandbox vm add web1 --node n2 --port PORT_ID
  vm del    unplug a VM's port (as Nova would) and remove its namespace
  down      stop the processes and remove namespaces, shared memory, run
            files and (--neutron) the ports, subnets and networks `up` made

files:
  RUNDIR/PREFIX/sandbox.json      the saved plan, read by status and exec
  RUNDIR/PREFIX/nN/*.log          datapath and agent logs of node nN
  /dev/shm/PREFIX-nN              node nN's shared tables (bsdnet-vrctl --shm)

exit status: 0 on success, 1 on a sandbox error, 2 on bad usage.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bsdnet-sandbox", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prefix", default="bsx",
                   help="name prefix of everything made (1-6 characters; default %(default)s)")
    p.add_argument("--rundir", default="/run/bsdnet-sandbox",
                   help="where plans, logs and sockets live (default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what is done")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="build the sandbox and check it forwards")
    up.add_argument("--nodes", type=int, default=2, help="compute nodes (default %(default)s)")
    up.add_argument("--vms-per-node", type=int, default=2,
                    help="VMs on each node (default %(default)s)")
    up.add_argument("--networks", type=int, default=2,
                    help="virtual networks the VMs are spread over (default %(default)s)")
    up.add_argument("--ready-timeout", type=float, default=30.0,
                    help="seconds to wait for the first ping across (default %(default)s)")
    up.add_argument("--neutron", action="store_true",
                    help="drive the nodes from a real Neutron (see above)")
    up.add_argument("--neutron-url", default=os.environ.get("NEUTRON_URL", "http://127.0.0.1:9696"),
                    help="Neutron's API (default $NEUTRON_URL or %(default)s)")
    up.add_argument("--transport-url", default=os.environ.get("TRANSPORT_URL"),
                    help="RabbitMQ as Neutron's agents reach it, rabbit://user:pass@host:port/vhost "
                         "(default $TRANSPORT_URL)")
    st = sub.add_parser("status", help="print the topology")
    st.add_argument("--json", action="store_true", help="one JSON document")
    ex = sub.add_parser("exec", help="run a command in a VM's or node's namespace")
    ex.add_argument("target", help="a VM (n1-vm1) or node (n1) name")
    ex.add_argument("argv", nargs=argparse.REMAINDER, help="-- command and arguments")
    vm = sub.add_parser("vm", help="add or remove a VM on a Neutron port (--neutron sandboxes)")
    vsub = vm.add_subparsers(dest="vm_command", required=True, metavar="add|del")
    va = vsub.add_parser("add", help="a VM namespace on an existing Neutron port")
    va.add_argument("name", help="the VM's name (its namespace is PREFIX-NAME)")
    va.add_argument("--node", required=True, help="the node it runs on (n1, n2, ...)")
    va.add_argument("--port", required=True, metavar="PORT_ID", help="the Neutron port")
    vd = vsub.add_parser("del", help="unplug a VM and remove it")
    vd.add_argument("name")
    sub.add_parser("down", help="remove the sandbox")
    return p


def _print_status(st: dict) -> None:
    print(f"sandbox {st['prefix']}: fabric bridge {st['fabric']['bridge']} "
          f"in namespace {st['fabric']['namespace']}")
    print(f"{'NODE':<6}{'NAMESPACE':<16}{'FABRIC':<8}{'ADDRESS':<14}{'MAC':<19}"
          f"{'DATAPATH':<10}AGENT")
    for n in st["nodes"]:
        print(f"{n['name']:<6}{n['namespace']:<16}{n['fabric_interface']:<8}"
              f"{n['fabric_address']:<14}{n['fabric_mac']:<19}"
              f"{str(n['datapath_pid'] or 'down'):<10}{n['agent_pid'] or 'down'}")
    print(f"{'VM':<10}{'NODE':<6}{'NAMESPACE':<18}{'IF':<6}{'TAP':<10}{'IP':<13}"
          f"{'MAC':<19}{'NETWORK':<9}LABEL")
    for v in st["vms"]:
        print(f"{v['name']:<10}{v['node']:<6}{v['namespace']:<18}{v['interface']:<6}"
              f"{v['host_interface']:<10}{v['ip']:<13}{v['mac']:<19}{v['network']:<9}"
              f"{v['mpls_label']}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command in ("up", "down", "exec", "vm") and os.geteuid() != 0:
        print("bsdnet-sandbox: must run as root (network namespaces)", file=sys.stderr)
        return 1
    try:
        if args.command == "up":
            neutron = None
            if args.neutron:
                if not args.transport_url:
                    print("bsdnet-sandbox: --neutron needs --transport-url (or $TRANSPORT_URL)",
                          file=sys.stderr)
                    return 2
                neutron = {"url": args.neutron_url, "transport_url": args.transport_url}
            plan = make_plan(args.prefix, args.nodes, args.vms_per_node, args.networks,
                             rundir=args.rundir, neutron=neutron)
            orchestrate.up(plan, args.rundir, ready_timeout=args.ready_timeout)
            _print_status(orchestrate.status(args.prefix, args.rundir))
        elif args.command == "status":
            st = orchestrate.status(args.prefix, args.rundir)
            if args.json:
                json.dump(st, sys.stdout, indent=2)
                print()
            else:
                _print_status(st)
        elif args.command == "exec":
            argv_ = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not argv_:
                print("bsdnet-sandbox exec: no command given", file=sys.stderr)
                return 2
            st = orchestrate.status(args.prefix, args.rundir)
            names = {v["name"]: v["namespace"] for v in st["vms"]}
            names.update({n["name"]: n["namespace"] for n in st["nodes"]})
            if args.target not in names:
                print(f"bsdnet-sandbox exec: no VM or node {args.target!r} "
                      f"(have: {', '.join(sorted(names))})", file=sys.stderr)
                return 2
            return ns_exec(names[args.target], argv_, check=False,
                           capture_output=False).returncode
        elif args.command == "vm":
            from bsdnet.sandbox import neutron
            plan = orchestrate.load(args.prefix, args.rundir)
            if args.vm_command == "add":
                v = neutron.add_vm(plan, args.rundir, args.name, args.node, args.port)
                print(f"{v.name} on {v.node}: {v.ip}/{v.prefixlen} on port {v.port_id}")
            else:
                v = neutron.del_vm(plan, args.rundir, args.name)
                print(f"{v.name} removed (port {v.port_id} unplugged)")
        elif args.command == "down":
            gone = orchestrate.down(args.prefix, args.rundir)
            print(f"sandbox {args.prefix} removed ({len(gone)} namespaces)")
    except (PlanError, orchestrate.SandboxError, NeutronError, TimeoutError,
            ValueError) as exc:
        print(f"bsdnet-sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
