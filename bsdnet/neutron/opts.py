"""The agent's [neutron] options (oslo.config).

RabbitMQ is reached through oslo.messaging's own options: [DEFAULT]
transport_url (rabbit://user:password@host:5672/vhost, as neutron-server's),
rpc_response_timeout and the [oslo_messaging_rabbit] group.
"""
from __future__ import annotations

import socket

from oslo_config import cfg

from . import constants as c

neutron_opts = [
    cfg.BoolOpt("enabled", default=False,
                help="Neutron mode: networks, subnets, security groups and "
                     "remote ports come from Neutron over its agent RPC "
                     "([DEFAULT] transport_url), not from the port API, "
                     "which then only plugs what Neutron bound to this "
                     "host (read-only for everything else)."),
    cfg.StrOpt("host", default=socket.gethostname(),
               sample_default="this host's name",
               help="The name Neutron knows this node by: ports bound to "
                    "it have binding:host_id = host (Nova's [DEFAULT] host "
                    "on the same node)."),
    cfg.FloatOpt("report_interval", default=30.0, min=1.0,
                 help="Seconds between state reports to Neutron.  Neutron "
                      "takes the agent for dead after its agent_down_time "
                      "(75 s by default): keep this well under half of "
                      "that."),
    cfg.DictOpt("bridge_mappings", default={},
                help="physical_network:interface pairs: the flat and VLAN "
                     "networks this node carries, through the network "
                     "driver's bridges, and the uplink of each.  Reported "
                     "to Neutron; its bsdnet mechanism driver binds such "
                     "ports here only for these physical networks."),
    cfg.IntOpt("mpls_label_base", default=c.DEFAULT_LABEL_BASE, min=16,
               help="The overlay network with VNI v has MPLS label "
                    "mpls_label_base + v on every node; labels under it "
                    "name ports.  Every node of a cloud must use the same "
                    "value and table size: the label window (VNIs 1 to "
                    "labels - mpls_label_base - 1) is reported to Neutron, "
                    "whose mechanism driver refuses VNIs outside it."),
    cfg.FloatOpt("plug_timeout", default=10.0, min=0.0,
                 help="Seconds a plug through the port API waits for "
                      "Neutron's port details.  If Neutron does not answer "
                      "in time the plug is kept and applied when it does; "
                      "if Neutron says the port is not bound to this host "
                      "the plug is refused."),
    cfg.FloatOpt("resync_interval", default=300.0, min=0.0,
                 help="Seconds between full resyncs with Neutron (device "
                      "details, subnets, security groups, l2population "
                      "entries), which also pick up subnet changes Neutron "
                      "does not announce to L2 agents (0: only at start "
                      "and after a lost connection)."),
    cfg.FloatOpt("retry_interval", default=2.0, min=0.1,
                 help="Seconds before retrying after a failed RPC call "
                      "(doubling up to 30 s while Neutron or RabbitMQ "
                      "stays unreachable)."),
]


def register(conf: cfg.ConfigOpts) -> None:
    conf.register_cli_opts(neutron_opts, group="neutron")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("neutron", neutron_opts)]
