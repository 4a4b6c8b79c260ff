"""os-vif plugin ``vrouter``: a stock Nova whose Neutron ports are bound with
``vif_type 'vrouter'`` (which Nova's ``os_vif_util`` hands to the os-vif
plugin of that name, as a ``VIFGeneric``) reaches bsdnet's agent without patches.

Registered by entry point (group ``os_vif``, name ``vrouter``).  Plugging
registers the port with the agent's port API; the agent attaches the tap
when it appears.  Options live in ``[os_vif_vrouter]``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from oslo_config import cfg

from bsdnet.agent.apiclient import PortApiClient, read_token
from bsdnet.agent.portstore import Port
from bsdnet.common import names
from bsdnet.driver.domain import DomainConfigError
from bsdnet.driver.domain import validate as v

try:
    from os_vif import objects as osv_objects
    from os_vif import plugin as osv_plugin
    from os_vif.objects import host_info as osv_host_info
    HAVE_OS_VIF = True
except ImportError:  # os-vif is optional: only Nova deployments need this
    HAVE_OS_VIF = False

PLUGIN_NAME = "vrouter"
CONFIG_OPTS = [
    cfg.StrOpt("port_api_url", default="unix:///var/run/bsdnet/port-api.sock",
               help="bsdnet agent port API: its unix socket (unix:///path), or http://127.0.0.1:PORT "
                    "where the agent serves TCP (api_tcp)"),
    cfg.StrOpt("token_file", default="",
               help="file with the agent's token, for the port API on TCP (the agent's api_token_file)"),
    cfg.FloatOpt("timeout", default=10.0, help="seconds to wait for the agent"),
]


def _ips(vif: Any) -> tuple[str, str]:
    v4, v6 = "0.0.0.0", ""
    network = getattr(vif, "network", None)
    subnets = getattr(getattr(network, "subnets", None), "objects", None) or []
    for subnet in subnets:
        for ip in getattr(getattr(subnet, "ips", None), "objects", None) or []:
            addr = ipaddress.ip_address(str(ip.address))
            if addr.version == 4 and v4 == "0.0.0.0":
                v4 = str(addr)
            elif addr.version == 6 and not v6:
                v6 = str(addr)
    return v4, v6


def request_from_osvif(vif: Any, instance_info: Any) -> Port:
    """The port API's port for an os-vif VIF object and InstanceInfo."""
    v4, v6 = _ips(vif)
    tap = getattr(vif, "vif_name", None) or names.tap_name(str(vif.id), error=DomainConfigError)
    return Port(id=v.check_uuid(str(vif.id)), instance_id=v.check_uuid(str(instance_info.uuid)),
                mac_address=v.check_mac(str(vif.address)), system_name=v.check_ifname(tap),
                vn_id=v.check_uuid(str(vif.network.id)), ip_address=v4, ip6_address=v6,
                display_name=v.check_text(str(getattr(instance_info, "name", "") or ""), "name", 255),
                vm_project_id=str(getattr(instance_info, "project_id", None) or ""))


if HAVE_OS_VIF:
    class VrouterPlugin(osv_plugin.PluginBase):
        """os-vif plugin for bsdnet's overlay (VIFGeneric ports)."""

        CONFIG_OPTS = CONFIG_OPTS

        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.api = PortApiClient(config.port_api_url, timeout=config.timeout,
                                     token=read_token(config.token_file))

        def describe(self) -> Any:
            return osv_host_info.HostPluginInfo(
                plugin_name=PLUGIN_NAME,
                vif_info=[osv_host_info.HostVIFInfo(
                    vif_object_name=osv_objects.vif.VIFGeneric.__name__,
                    min_version="1.0", max_version="1.0")])

        def plug(self, vif: Any, instance_info: Any) -> None:
            self.api.add_port(request_from_osvif(vif, instance_info))

        def unplug(self, vif: Any, instance_info: Any) -> None:
            self.api.delete_port(str(vif.id))
else:
    class VrouterPlugin:  # type: ignore[no-redef]
        """Placeholder: install os-vif to use the plugin."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError("os-vif is not installed: pip install os-vif")

        @classmethod
        def load(cls, plugin_name: str) -> "VrouterPlugin":
            raise ImportError("os-vif is not installed: pip install os-vif")
