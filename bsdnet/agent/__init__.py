"""The agent: programs the datapath through the shared tables."""
