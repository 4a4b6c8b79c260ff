"""The shared-memory ABI as Python sees it: the cffi module built from
kmod/include (abi, abi_build), the region (region), its tables (tables,
mtrie), and the C helpers the agent needs where Python has no memory
model (abi_helpers.c)."""
