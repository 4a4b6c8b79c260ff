"""bsdnet-agent's configuration options (oslo.config).

list_opts() is the oslo.config.opts entry point (bsdnet.agent) that
oslo-config-generator reads to write etc/bsdnet-agent.conf.sample.
"""
from __future__ import annotations

import sys

from oslo_config import cfg

from bsdnet.neutron import opts as neutron_opts

datapath_opts = [
    cfg.StrOpt("transport", default="shm", choices=[
                   ("shm", "the userspace datapaths (Linux, netmap): "
                           "region in POSIX shared memory, traps and "
                           "control over unix datagram sockets"),
                   ("device", "the FreeBSD kernel module: region, traps, "
                              "control and interface attachment through "
                              "its character device")],
               help="How the agent reaches the datapath.  With shm, "
                    "shm_name, trap_socket and control_socket apply; with "
                    "device, the device_* options."),
    cfg.StrOpt("device", default="/dev/bsdnet",
               help="The kernel module's character device (transport = "
                    "device)."),
    cfg.BoolOpt("device_create", default=False,
                help="When the module has no tables yet, create them "
                     "(BSDNET_IOC_CREATE) with device_geometry instead of "
                     "waiting for bsdnetctl create (transport = device)."),
    cfg.DictOpt("device_geometry", default=None,
                help="Table sizes for device_create, as name:count pairs "
                     "among nvifs, nnexthops, nlabels, nvrfs, nrtbuckets, "
                     "nflowbuckets, novfbuckets, maxhold; sizes not given "
                     "take bsdnet_abi.h's defaults (4096 vifs, 512K "
                     "flows)."),
    cfg.StrOpt("shm_name", default="bsdnet",
               help="Name of the shared-memory region the datapath created "
                    "(/dev/shm/<name> on Linux), or a path to it."),
    cfg.StrOpt("control_socket", default="/var/run/bsdnet/datapath.sock",
               help="The datapath's control socket (its --trap-socket): "
                    "where the agent sends RELEASE and other control "
                    "messages."),
    cfg.StrOpt("trap_socket", default="/var/run/bsdnet/agent.sock",
               help="Unix datagram socket the agent binds to receive traps "
                    "(the datapath's --agent-socket)."),
    cfg.FloatOpt("region_wait", default=30.0, min=0,
                 help="Seconds to wait for the datapath to create the "
                      "region (or, with transport = device, for the "
                      "module and its tables) before giving up."),
]

STATE_DIR = ("/var/db/bsdnet" if sys.platform.startswith("freebsd")
             else "/var/lib/bsdnet")

agent_opts = [
    cfg.StrOpt("state_dir", default=STATE_DIR,
               sample_default="/var/lib/bsdnet (Linux), /var/db/bsdnet "
                              "(FreeBSD)",
               help="Directory of what must outlive the agent: state.json "
                    "(what it programmed, read back to adopt live tables "
                    "after a restart) and the port API's ports, networks, "
                    "routes and security groups."),
    cfg.StrOpt("topology_file", default="/etc/bsdnet/topology.json",
               help="JSON file describing fabric, networks, ports and "
                    "remote prefixes; re-read on SIGHUP."),
    cfg.StrOpt("pid_file", default="",
               help="Write the agent's pid here (empty: do not)."),
    cfg.IntOpt("flow_idle_timeout", default=180, min=1,
               help="Seconds without a packet after which a TCP flow (both "
                    "directions) is removed."),
    cfg.IntOpt("udp_idle_timeout", default=60, min=1,
               help="Idle timeout of UDP flows, in seconds."),
    cfg.IntOpt("icmp_idle_timeout", default=30, min=1,
               help="Idle timeout of ICMP flows, in seconds."),
    cfg.IntOpt("other_idle_timeout", default=60, min=1,
               help="Idle timeout of flows of other IP protocols."),
    cfg.IntOpt("tcp_closed_timeout", default=5, min=1,
               help="Idle timeout of a TCP flow once RST was seen, or FIN "
                    "in both directions."),
    cfg.IntOpt("drop_flow_timeout", default=5, min=1,
               help="Idle timeout of flows a security group denied: short, "
                    "so a rule added later takes effect on the next try."),
    cfg.IntOpt("vif_flow_quota", default=0, min=0,
               help="Most flows one port may start (0: no limit); new "
                    "flows over it are dropped and counted as "
                    "FLOW_QUOTA."),
    cfg.IntOpt("vrf_flow_quota", default=0, min=0,
               help="Most flows in one virtual network (0: no limit)."),
    cfg.BoolOpt("mss_clamp", default=True,
                help="Lower the MSS option of TCP SYNs that VMs send into "
                     "the overlay to what fits it (fabric MTU - 28 - 40), "
                     "so TCP works even where ICMP \"fragmentation "
                     "needed\" does not reach the sender; counted as "
                     "mss_clamped."),
    cfg.IntOpt("icmp_error_rate", default=1000, min=1, max=1000000,
               help="Most ICMP \"fragmentation needed\" messages the "
                    "datapath sends VMs per second (those not sent are "
                    "counted as icmp_rate_limited)."),
    cfg.StrOpt("api_socket", default="/var/run/bsdnet/port-api.sock",
               help="Unix socket of the port API (what Nova's os-vif "
                    "plugin and bsdnet-port-control use), mode 0660.  The "
                    "address is also written to state_dir/api-url."),
    cfg.StrOpt("api_socket_group", default="",
               help="Group owning the port API socket: its members may "
                    "plug ports (empty: the agent's own group)."),
    cfg.BoolOpt("api_tcp", default=False,
                help="Also serve the port API on TCP api_host:api_port, "
                     "for vrouter-port-control compatibility.  Requests "
                     "must carry the token of api_token_file in an "
                     "X-Auth-Token header."),
    cfg.HostAddressOpt("api_host", default="127.0.0.1",
                       help="Loopback address of the port API on TCP "
                            "(api_tcp); other addresses are refused."),
    cfg.PortOpt("api_port", default=9091,
                help="TCP port of the port API (api_tcp; 0: any free "
                     "port, the address taken is written to "
                     "state_dir/api-url)."),
    cfg.HostAddressOpt("metrics_host", default="127.0.0.1",
                       help="Address the Prometheus metrics are served on "
                            "(http://HOST:PORT/metrics)."),
    cfg.PortOpt("metrics_port", default=9192,
                help="TCP port of the Prometheus metrics: the datapath's "
                     "counters by vif, VRF and drop reason, flow table "
                     "occupancy, the agent's flow setups, DHCP and trap "
                     "queue, port API and (Neutron mode) RPC latencies, "
                     "resyncs.  0: not served."),
    cfg.StrOpt("api_token_file", default="",
               help="File holding the port API's TCP token (api_tcp); "
                    "made with a random token, mode 0600, if it does not "
                    "exist.  Empty: state_dir/api-token."),
    cfg.IntOpt("dhcp_lease_time", default=86400, min=60,
               help="Lease time the DHCP server gives VMs, in seconds."),
    cfg.BoolOpt("watch_host", default=True,
                help="Follow the host's interfaces (routing socket or "
                     "rtnetlink): port taps appearing and going, their "
                     "link state, the fabric address (tunnel source), the "
                     "default route and the fabric's neighbour (ARP) "
                     "entries (the tunnel next hop's MAC)."),
]

fabric_opts = [
    cfg.StrOpt("interface", default="",
               help="Fabric (uplink) interface; the topology file's "
                    "fabric.interface overrides it."),
    cfg.StrOpt("address", default="",
               help="This node's fabric IPv4 address (tunnel source)."),
    cfg.StrOpt("mac", default="",
               help="MAC address of the fabric interface."),
    cfg.DictOpt("neighbors", default=None,
                help="Fabric MAC of other nodes, as address:MAC pairs "
                     "(192.0.2.2:02:00:00:00:00:02,...), for routes added "
                     "through the port API.  Overrides what the host "
                     "resolved (fabrics without ARP)."),
    cfg.StrOpt("nexthop_mac", default="",
               help="MAC tunnelled frames go to when the node is not in "
                    "neighbors (the fabric router on a routed fabric).  "
                    "Empty: with watch_host, a node on the fabric "
                    "interface's subnet gets its neighbour (ARP) entry's "
                    "MAC and any other node the default route's "
                    "gateway's, following their changes; a route whose "
                    "MAC is not known yet waits for it.  Set, it "
                    "overrides the gateway's MAC (and is the fallback for "
                    "on-link nodes not resolved)."),
    cfg.BoolOpt("check_endpoints", default=True,
                help="Take MPLS over GRE only from known tunnel endpoints: "
                     "the nodes of the remote routes programmed, each into "
                     "the networks it has routes in.  Anything else is "
                     "dropped (drop reasons UNKNOWN_ENDPOINT, "
                     "ENDPOINT_VRF).  False accepts any outer source, as "
                     "before: only for a fabric whose nodes send from "
                     "addresses other than the ones their routes name."),
]

GROUPS = (("datapath", datapath_opts), ("agent", agent_opts),
          ("fabric", fabric_opts), ("neutron", neutron_opts.neutron_opts))


def register(conf: cfg.ConfigOpts) -> None:
    """Register every option, also on the command line
    (--datapath-shm_name NAME, --agent-state_dir DIR, ...)."""
    for group, opts in GROUPS:
        conf.register_cli_opts(opts, group=group)


def list_opts():
    return [(group, opts) for group, opts in GROUPS]
