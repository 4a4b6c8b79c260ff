"""The Linux sandbox: compute nodes and VMs as network namespaces.

plan.py decides names and addresses, netns.py builds and removes the
namespaces and links, procs.py runs each node's datapath and agent,
orchestrate.py strings them together for `bsdnet-sandbox`.
"""
