"""The userspace datapath daemon (kmod/linux) seen from Python.

process:  DatapathConfig / DatapathProcess, start-wait-stop of one daemon
          (tests, benchmarks); binary_path(), where the package has it.
control:  the trap channel's wire formats and a control-message client.

Its command, bsdnet-datapath, is bsdnet/cmd/datapath.py.
"""
