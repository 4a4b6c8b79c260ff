"""A stand-in of ssh(1) that reaches 'other hosts' which are this machine
with some directories of their own, for the cold-migration tests.

    ssh_standin.py --hosts FILE [ssh options] [user@]HOST COMMAND...

FILE maps each known host to bind mounts: {"host2": [[its_dir, seen_as], ...]}.
As ssh does, it takes its options (-o opt, -p port, -l user, -i file and
the flag options), then the destination, then joins the remaining words
with spaces into one command for the remote user's shell; an unknown host
fails as ssh's resolver does (exit 255).  The command runs under sh -c in a
private mount namespace (unshare(1), root only) where each seen_as
directory is the host's own its_dir.
"""

from __future__ import annotations

import json
import os
import sys

ARG_OPTIONS = set("BbcDEeFIiJLlmOoPpQRSWw")
FLAG_OPTIONS = set("46AaCfGgKkMNnqsTtVvXxYy")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--hosts":
        print("usage: ssh_standin.py --hosts FILE [options] host command", file=sys.stderr)
        return 255
    with open(argv[1]) as f:
        hosts = json.load(f)
    args = argv[2:]
    i = 0
    while i < len(args) and args[i].startswith("-") and len(args[i]) > 1:
        opt = args[i][1]
        if opt in ARG_OPTIONS:
            i += 1 if len(args[i]) > 2 else 2
        elif all(c in FLAG_OPTIONS for c in args[i][1:]):
            i += 1
        else:
            print(f"ssh: illegal option -- {opt}", file=sys.stderr)
            return 255
    if i >= len(args):
        print("usage: ssh [options] destination [command]", file=sys.stderr)
        return 255
    host = args[i].rsplit("@", 1)[-1]
    command = " ".join(args[i + 1:])
    if host not in hosts:
        print(f"ssh: Could not resolve hostname {host}: Name or service not known", file=sys.stderr)
        return 255
    if not command:
        print("ssh_standin: an interactive session is not stood in for", file=sys.stderr)
        return 255
    mounts = " && ".join(f'mount --bind "${i * 2 + 2}" "${i * 2 + 3}"' for i in range(len(hosts[host])))
    flat = [p for pair in hosts[host] for p in pair]
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                          f'{mounts} && exec sh -c "$1"', "sh", command, *flat])
    return 255


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
