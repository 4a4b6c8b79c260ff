"""bsdnet: FreeBSD compute-node networking for OpenStack."""
