"""bsdnet-agent's configuration options (oslo.config).

list_opts() is the oslo.config.opts entry point (bsdnet.agent) that
oslo-config-generator reads to write etc/bsdnet-agent.conf.sample.
"""
from __future__ import annotations

from oslo_config import cfg

datapath_opts = [
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
                      "region before giving up."),
]

agent_opts = [
    cfg.StrOpt("state_dir", default="/var/lib/bsdnet",
               help="Directory of state.json: what the agent programmed, "
                    "read back to adopt live tables after a restart."),
    cfg.StrOpt("topology_file", default="/etc/bsdnet/topology.json",
               help="JSON file describing fabric, networks, ports and "
                    "remote prefixes; re-read on SIGHUP."),
    cfg.StrOpt("pid_file", default="",
               help="Write the agent's pid here (empty: do not)."),
    cfg.IntOpt("flow_idle_timeout", default=180, min=1,
               help="Seconds without a packet after which a flow (both "
                    "directions) is removed."),
]

fabric_opts = [
    cfg.StrOpt("interface", default="",
               help="Fabric (uplink) interface; the topology file's "
                    "fabric.interface overrides it."),
    cfg.StrOpt("address", default="",
               help="This node's fabric IPv4 address (tunnel source)."),
    cfg.StrOpt("mac", default="",
               help="MAC address of the fabric interface."),
]

GROUPS = (("datapath", datapath_opts), ("agent", agent_opts),
          ("fabric", fabric_opts))


def register(conf: cfg.ConfigOpts) -> None:
    """Register every option, also on the command line
    (--datapath-shm_name NAME, --agent-state_dir DIR, ...)."""
    for group, opts in GROUPS:
        conf.register_cli_opts(opts, group=group)


def list_opts():
    return [(group, opts) for group, opts in GROUPS]
