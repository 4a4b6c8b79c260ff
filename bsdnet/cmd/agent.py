"""bsdnet-agent: program the datapath's tables and decide trapped flows
(the Agent is bsdnet/agent/daemon.py)."""
from __future__ import annotations

import logging
import sys

from oslo_config import cfg

from bsdnet.agent import opts, topology
from bsdnet.agent import portstore as ps
from bsdnet.agent.daemon import Agent
from bsdnet.shm.region import RegionError

LOG = logging.getLogger("bsdnet.agent")


def build_conf(argv: list[str] | None) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf(args=argv, project="bsdnet", prog="bsdnet-agent",
         default_config_files=[],
         description="The bsdnet agent: programs the datapath's shared "
                     "tables from the port API and a topology file, or "
                     "from Neutron as its L2 agent ([neutron] enabled), "
                     "sets up flows through security groups, answers "
                     "DHCP.")
    return conf


def main(argv: list[str] | None = None) -> int:
    conf = build_conf(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    control = None
    if conf.neutron.enabled:
        # Neutron mode: its L2 agent feeds the store (the agent package
        # does not import the control plane; this command joins them).
        from bsdnet.neutron.agent import NeutronAgent
        control = NeutronAgent
    try:
        agent = Agent(conf, control=control)
    except RegionError as e:        # e.g. device_geometry misspelt
        LOG.error("cannot start: %s", e)
        return 1
    agent.install_signals()
    try:
        agent.start()
    except (RegionError, topology.TopologyError, ps.CorruptStateError,
            OSError, ValueError) as e:
        agent.stop()
        if agent._stop:
            LOG.info("stopped before serving")
            return 0
        LOG.error("cannot start: %s", e)
        return 1
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
