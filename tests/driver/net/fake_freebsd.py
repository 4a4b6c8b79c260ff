#!/usr/bin/env python3
"""Executable stand-in for FreeBSD's ifconfig, sysctl and route.

    fake_freebsd.py STATE.json ifconfig bridge create ...

State lives in STATE.json between calls (a lock file serialises callers),
so the FreeBSD backend is exercised through real fork/exec and argv, the
way it runs on a FreeBSD host.  The rules and the output format are
bsdnet.driver.net.fbsd_sim's.
"""

import fcntl
import os
import sys

# Run with `python -S` (no site: five times faster to start, and the tests
# call this hundreds of times); find the package from the source tree.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

from bsdnet.driver.net.fbsd_sim import FreeBSDHost


def main() -> int:
    state, argv = sys.argv[1], sys.argv[2:]
    with open(state + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(state) as fh:
            host = FreeBSDHost.from_json(fh.read())
        rc, out, err = host.run(argv)
        tmp = state + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(host.to_json())
        os.replace(tmp, state)
    sys.stdout.write(out)
    sys.stderr.write(err)
    return rc


if __name__ == "__main__":
    sys.exit(main())
