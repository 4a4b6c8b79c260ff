"""Builds the collaborators a BhyveDriver needs from configuration.

The network driver comes from ``bsdnet.driver.net.get_driver()`` (the
ifconfig driver on FreeBSD, pyroute2 on Linux) when that package provides
it; this is the one injection point to change if its interface differs
from ``bsdnet.driver.vif.base.NetDriver``.
"""

from __future__ import annotations

import logging
from typing import Any

from bsdnet.agent.apiclient import PortApiClient
from bsdnet.driver.compute.config import DriverConfig
from bsdnet.driver.vif import VifDispatcher, get_vif_driver
from bsdnet.driver.vif.base import NetDriver, VifDriver

LOG = logging.getLogger(__name__)


class MissingNetDriver:
    """Stands in until a network driver is available; fails at first use, with the reason."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("no network driver: bsdnet.driver.net.get_driver() is not available; "
                           "pass one to BhyveDriver through make_vif_driver(net=...)")


def default_net_driver(conf: Any = None) -> NetDriver:
    """bsdnet's network driver (ifconfig / pyroute2) behind the VIF drivers' interface.

    ``conf``: the network driver's own settings (dict or oslo.config group:
    backend, state_dir, ...); None takes its defaults."""
    try:
        from bsdnet.driver import net as netpkg
        get_driver = getattr(netpkg, "get_driver")
    except (ImportError, AttributeError):
        LOG.warning("bsdnet.driver.net.get_driver() not found: VIF plugging will fail until one is wired")
        return MissingNetDriver()  # type: ignore[return-value]
    from bsdnet.driver.vif.netadapter import NetworkDriverAdapter
    return NetworkDriverAdapter(get_driver(conf))


def make_vif_driver(config: DriverConfig, net: NetDriver | None = None, uplink: str | None = None) -> VifDriver:
    """Both VIF drivers behind a dispatcher on ``vif['type']``; ``[bhyve] vif_driver``
    is the one for VIFs that carry no type (the CLI's)."""
    net = net if net is not None else default_net_driver()
    drivers = {
        "vrouter": get_vif_driver("vrouter", net=net, api=PortApiClient(config.port_api_url)),
        "bridge": get_vif_driver("bridge", net=net, uplink=uplink or config.bridge_uplink or None,
                                 dhcp=config.bridge_dhcp,
                                 agent=PortApiClient(config.port_api_url)
                                 if config.bridge_ports_to_agent else None),
    }
    return VifDispatcher(drivers, default=config.vif_driver)
