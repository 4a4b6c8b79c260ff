"""Starting and supervising the datapath processes.

launcher: the `bsdnet-datapath` console script (execs the C daemon).
process:  DatapathConfig / DatapathProcess, start-wait-stop of one daemon.
control:  the trap channel's wire formats and a control-message client.
"""
