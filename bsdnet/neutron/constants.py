"""What the mechanism driver and the agent must agree on.

Importable without Neutron: the agent reads it before it decides whether it
runs in Neutron mode at all.
"""
from __future__ import annotations

AGENT_TYPE = "bsdnet agent"
AGENT_BINARY = "bsdnet-agent"

VIF_TYPE_VROUTER = "vrouter"     # overlay ports: os-vif plugin "vrouter"
VIF_TYPE_BRIDGE = "bridge"       # flat and VLAN ports: the network driver

OVERLAY_TYPES = ("vxlan",)       # Neutron allocates the VNI, bsdnet a label
BRIDGED_TYPES = ("flat", "vlan")

# Keys of the agent's `configurations` (openstack network agent show).
CONF_TUNNELING_IP = "tunneling_ip"
CONF_TUNNEL_TYPES = "tunnel_types"
CONF_L2POP = "l2_population"
CONF_BRIDGE_MAPPINGS = "bridge_mappings"
CONF_LABEL_BASE = "mpls_label_base"
CONF_LABEL_COUNT = "mpls_label_count"
CONF_ENCAPSULATIONS = "encapsulations"

# Every network of the overlay has one MPLS label, the same on every node:
# label_base + VNI.  A label in [label_base, label_base + label_count)
# selects a network's VRF; the inner destination then selects the VM.
DEFAULT_LABEL_BASE = 1024


def network_label(vni: int, base: int, count: int) -> int | None:
    """The MPLS label of the overlay network with this VNI, or None when
    the VNI does not fit the label window [base, base + count)."""
    if not 0 < vni < count:
        return None
    return base + vni
