"""Stand-in for dnsmasq where the bridge it would bind to is not real (the
FreeBSD stand-in's): takes dnsmasq's argv, daemonizes as dnsmasq does,
writes --pid-file, counts SIGHUPs (host file re-reads) in 'hups' next to it,
and exits on SIGTERM.  The network driver's DnsmasqManager runs it exactly as
it runs dnsmasq; the host file it 'reads' is the manager's own."""

import os
import signal
import sys

opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
pidfile = opts["pid-file"]
hups_file = os.path.join(os.path.dirname(pidfile), "hups")

if os.fork():
    sys.exit(0)  # the parent returns, as dnsmasq's does once it has daemonized
os.setsid()
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
hups = 0


def on_hup(_sig: int, _frame: object) -> None:
    global hups
    hups += 1
    tmp = hups_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(hups))
    os.replace(tmp, hups_file)


signal.signal(signal.SIGHUP, on_hup)
signal.signal(signal.SIGTERM, lambda _s, _f: os._exit(0))
with open(pidfile + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\n")
os.replace(pidfile + ".tmp", pidfile)
while True:
    signal.pause()
