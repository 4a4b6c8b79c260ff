"""A stand-in of FreeBSD's iscsictl(8) and the initiator behind it, for the
iSCSI volume tests.

    iscsictl_standin.py --root DIR [--libxo json] -A -p PORTAL -t TARGET [-u USER -s SECRET]
                                                  -R [-p PORTAL] [-t TARGET]
                                                  -L [-v] [-w TIMEOUT]

Written from usr.bin/iscsictl (iscsictl.c, periphs.c) and the kernel's
session ioctls: the same option rules and messages (one of -A/-M/-R/-L,
-t with -p, -u with -s, -v and -w not with -A...), a second session to the
same target and portal refused (ISCSISADD: EBUSY), removing a missing one
refused (ISCSISREMOVE: ENOENT), sessions listed with their LUNs' da(4)
devices, as text or as libxo JSON.  The targets live in DIR/targets.json
({portal: {target: {"luns": {lun: backing file}, "chap": [user, secret]}}});
a session to an unknown portal or target, or with the wrong CHAP secret,
stays Disconnected with the kernel's reason, and -w reports failure at once
(time cannot change a stand-in target).  A connected LUN's device is
DIR/dev/daN, a link to its backing file.
"""

from __future__ import annotations

import fcntl
import getopt
import json
import os
import sys

MAX_NAME_LEN = 223


class Fail(Exception):
    pass


def _load(root: str, name: str, default):
    path = os.path.join(root, name)
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def _save(root: str, name: str, data) -> None:
    tmp = os.path.join(root, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, os.path.join(root, name))


def _libxo(argv: list[str]) -> tuple[str, list[str]]:
    """xo_parse_args: '--libxo FMT' / '--libxo=FMT' anywhere, taken out."""
    fmt, out, it = "text", [], iter(argv)
    for a in it:
        if a == "--libxo":
            fmt = next(it, "text")
        elif a.startswith("--libxo="):
            fmt = a.split("=", 1)[1]
        else:
            out.append(a)
    return fmt, out


def add(root: str, sessions: list, portal: str, target: str, user: str | None, secret: str | None) -> None:
    if len(target) >= MAX_NAME_LEN:
        raise Fail(f'invalid target name "{target}"')
    for s in sessions:
        if s["target"] == target and s["portal"] == portal:
            raise Fail("ISCSISADD: Device busy")
    targets = _load(root, "targets.json", {})
    known = targets.get(portal, {}).get(target)
    s = {"id": max([x["id"] for x in sessions] + [0]) + 1, "target": target, "portal": portal,
         "user": user or "", "secret": secret or "", "connected": False, "reason": "", "devices": []}
    if portal not in targets:
        s["reason"] = "Connection refused"
    elif known is None:
        s["reason"] = "Not found"  # the target answered the login: no such target name
    elif known.get("chap") and [user, secret] != known["chap"]:
        s["reason"] = "Authentication failed"
    else:
        s["connected"] = True
        used = {int(d["device"][2:]) for x in sessions for d in x["devices"]}
        devdir = os.path.join(root, "dev")
        os.makedirs(devdir, exist_ok=True)
        for lun, backing in sorted(known["luns"].items(), key=lambda kv: int(kv[0])):
            unit = next(i for i in range(1024) if i not in used)
            used.add(unit)
            os.symlink(backing, os.path.join(devdir, f"da{unit}"))
            s["devices"].append({"lun": int(lun), "device": f"da{unit}"})
    sessions.append(s)


def remove(root: str, sessions: list, portal: str | None, target: str | None) -> None:
    keep, gone = [], []
    for s in sessions:
        match = (portal is None or s["portal"] == portal) and (target is None or s["target"] == target)
        (gone if match else keep).append(s)
    if not gone:
        raise Fail("ISCSISREMOVE: No such file or directory")
    for s in gone:
        for d in s["devices"]:
            os.unlink(os.path.join(root, "dev", d["device"]))
    sessions[:] = keep


def listing(sessions: list, verbose: bool, fmt: str) -> str:
    rows = []
    for s in sessions:
        devices = {"lun": [{"lun": d["lun"], "device": d["device"]} for d in s["devices"]],
                   "scbus": s["id"] if s["devices"] else -1, "bus": 0, "target": 0 if s["devices"] else -1}
        state = "Connected" if s["connected"] else "Disconnected"
        if verbose:
            rows.append({"sessionId": s["id"],
                         "initiator": {"name": "iqn.1994-09.org.freebsd:standin", "portal": "", "alias": ""},
                         "target": {"name": s["target"], "portal": s["portal"], "alias": ""},
                         "auth": {"user": s["user"], "secret": s["secret"], "mutualUser": "", "mutualSecret": ""},
                         "type": "Normal", "enable": "Yes", "state": state, "failureReason": s["reason"],
                         "devices": devices})
        else:
            row = {"name": s["target"], "portal": s["portal"], "state": s["reason"] or state}
            if s["connected"]:
                row["devices"] = devices
            rows.append(row)
    if fmt == "json":
        return json.dumps({"iscsictl": {"session": rows} if rows else {}})
    if verbose:
        return "".join(f"Session ID:               {r['sessionId']}\nTarget name:              {r['target']['name']}\n"
                       f"Session state:            {r['state']}\nDevice nodes:             "
                       f"{' '.join(d['device'] for d in r['devices']['lun'])}\n\n" for r in rows)
    out = f"{'Target name':<36} {'Target portal':<16} State\n"
    for r in rows:
        dev = " ".join(d["device"] for d in r.get("devices", {}).get("lun", []))
        out += f"{r['name']:<36} {r['portal']:<16} {r['state']}{': ' + dev if dev else ''}\n"
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--root":
        print("usage: iscsictl_standin.py --root DIR ARGS...", file=sys.stderr)
        return 2
    root = argv[1]
    fmt, args = _libxo(argv[2:])
    try:
        opts, rest = getopt.getopt(args, "AMRLac:d:e:i:n:p:rt:u:s:vw:")
    except getopt.GetoptError:
        print("usage: iscsictl -A -p portal -t target [-u user -s secret] [-w timeout] [-e on | off]",
              file=sys.stderr)
        return 1
    o: dict[str, str] = {}
    for k, val in opts:
        o[k[1]] = val
    try:
        if rest:
            raise Fail("usage: extra arguments")
        modes = [m for m in "AMRL" if m in o] or ["L"]
        if len(modes) > 1:
            raise Fail("at most one of -A, -M, -R, or -L may be specified")
        mode = modes[0]
        if mode in "AM" and ("M" in o or "a" in o or "n" in o or "d" in o):
            raise Fail("this stand-in handles static sessions (-A -p -t) only")
        lock = open(os.path.join(root, "lock"), "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
        sessions = _load(root, "sessions.json", [])
        if mode == "A":
            if "t" not in o and "p" not in o:
                raise Fail("must specify -a, -n or -t/-p")
            if "t" in o and "p" not in o:
                raise Fail("-t must always be used with -p")
            if "p" in o and "t" not in o:
                raise Fail("-p must always be used with -t")
            if "u" in o and "s" not in o:
                raise Fail("-u must always be used with -s")
            if "s" in o and "u" not in o:
                raise Fail("-s must always be used with -u")
            if "v" in o:
                raise Fail("-v cannot be used with -A")
            add(root, sessions, o["p"], o["t"], o.get("u"), o.get("s"))
        elif mode == "R":
            if "p" not in o and "t" not in o:
                raise Fail("must specify either -a, -n, -t, or -p")
            for flag, what in (("u", "-u"), ("s", "-s"), ("v", "-v"), ("w", "-w")):
                if flag in o:
                    raise Fail(f"{what} cannot be used with -R")
            remove(root, sessions, o.get("p"), o.get("t"))
        else:
            for flag in "ptus":
                if flag in o:
                    raise Fail(f"-{flag} cannot be used with -L")
            sys.stdout.write(listing(sessions, "v" in o, fmt))
        _save(root, "sessions.json", sessions)
        if "w" in o and not all(s["connected"] for s in sessions):
            return 1
    except Fail as exc:
        print(f"iscsictl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
