"""bsdnet and Neutron: the ML2 mechanism driver (server side) and the
agent's Neutron mode (RPC over oslo.messaging, resync, l2population)."""
