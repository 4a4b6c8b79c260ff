"""The ML2 mechanism driver ``bsdnet`` (entry point group
``neutron.ml2.mechanism_drivers``): loaded by neutron-server, never by the
agent.

An agent-based driver like Neutron's own: a port binds on a host whose
bsdnet agent is alive, to the first segment that agent can carry:

- ``vxlan`` (Neutron's type driver allocates the VNI): ``vif_type``
  ``vrouter``, for Nova's os-vif plugin of that name.  The VNI must fit
  the agent's MPLS label window (its ``mpls_label_base`` and
  ``mpls_label_count``), since the label of an overlay network is
  label_base + VNI on every node.
- ``flat`` and ``vlan`` on a physical network the agent maps to an
  interface (``bridge_mappings``): ``vif_type`` ``bridge``, with the
  bridge's name and the VLAN in ``binding:vif_details``, for the network
  driver.

Anything else (another segment type, an unmapped physical network, a VNI
outside the window, a dead agent) is refused, so that ML2 tries the next
driver; the reason goes to the log at debug level, as Neutron's drivers do.
"""
from __future__ import annotations

import logging
from typing import Any

from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api

from neutron.plugins.ml2.drivers import mech_agent

from bsdnet.common import names

from . import constants as c

LOG = logging.getLogger(__name__)


def label_window(agent: dict[str, Any]) -> tuple[int, int]:
    conf = agent.get("configurations") or {}
    try:
        return int(conf.get(c.CONF_LABEL_BASE, 0)), int(conf.get(c.CONF_LABEL_COUNT, 0))
    except (TypeError, ValueError):
        return 0, 0


class BsdnetMechanismDriver(mech_agent.SimpleAgentMechanismDriverBase):
    """Binds ports to bsdnet agents: overlay as vrouter, flat and VLAN as bridge."""

    def __init__(self) -> None:
        super().__init__(c.AGENT_TYPE, c.VIF_TYPE_VROUTER,
                         {portbindings.CAP_PORT_FILTER: True},
                         supported_vnic_types=[portbindings.VNIC_NORMAL])

    def get_allowed_network_types(self, agent: dict[str, Any] | None = None) -> list[str]:
        types = list(c.BRIDGED_TYPES)
        conf = (agent or {}).get("configurations") or {}
        if agent is None:
            types += list(c.OVERLAY_TYPES)
        else:
            types += [t for t in c.OVERLAY_TYPES if t in (conf.get(c.CONF_TUNNEL_TYPES) or [])]
        return types

    def get_mappings(self, agent: dict[str, Any]) -> dict[str, str]:
        return (agent.get("configurations") or {}).get(c.CONF_BRIDGE_MAPPINGS) or {}

    def check_segment_for_agent(self, segment: dict[str, Any], agent: dict[str, Any]) -> bool:
        if not super().check_segment_for_agent(segment, agent):
            return False
        if segment[api.NETWORK_TYPE] in c.OVERLAY_TYPES:
            base, count = label_window(agent)
            vni = segment[api.SEGMENTATION_ID]
            if c.network_label(int(vni or 0), base, count) is None:
                LOG.debug("segment %s: VNI %s does not fit the MPLS label window of the bsdnet "
                          "agent on %s (base %d, %d labels)", segment[api.ID], vni,
                          agent.get("host"), base, count)
                return False
        return True

    def get_vif_type(self, context: Any, agent: dict[str, Any], segment: dict[str, Any]) -> str:
        if segment[api.NETWORK_TYPE] in c.OVERLAY_TYPES:
            return c.VIF_TYPE_VROUTER
        return c.VIF_TYPE_BRIDGE

    def get_vif_details(self, context: Any, agent: dict[str, Any],
                        segment: dict[str, Any]) -> dict[str, Any]:
        if segment[api.NETWORK_TYPE] in c.OVERLAY_TYPES:
            return self.vif_details
        details = {portbindings.VIF_DETAILS_CONNECTIVITY: self.connectivity,
                   # Security groups of bridged ports are not enforced yet.
                   portbindings.CAP_PORT_FILTER: False,
                   portbindings.VIF_DETAILS_BRIDGE_NAME: names.bridge_name(segment["network_id"]),
                   "physical_network": segment[api.PHYSICAL_NETWORK]}
        if segment[api.NETWORK_TYPE] == "vlan":
            details[portbindings.VIF_DETAILS_VLAN] = str(segment[api.SEGMENTATION_ID])
        return details
