"""Compute driver (bhyve through libvirt) and network driver (ifconfig)."""
