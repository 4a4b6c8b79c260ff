"""bsdnet-routesock: watch host events, or decode saved routing-socket bytes.

    bsdnet-routesock monitor [--json] [--netns NS] [--no-dump] [--count N]
    bsdnet-routesock decode FILE|- [--json] [--arch amd64|arm64] [--events [--dump]]

``monitor`` uses the PF_ROUTE socket on FreeBSD and rtnetlink on Linux and
prints one event per line, like route(8) monitor.  ``decode`` reads raw
routing-socket bytes (a capture of socket reads, or a NET_RT_IFLIST /
NET_RT_DUMP sysctl dump saved to a file) and prints the messages, or with
--events what the listener would make of them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from typing import Any, Iterable, Iterator

from bsdnet.routesock.events import Event, format_event
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.messages import (RTAX_NAMES, IfInfoMsg, Message, ParseError, RouteMsg, SaEmpty, SaInet,
                                       SaInet6, SaLink, SaOther)
from bsdnet.routesock.parser import Decoder
from bsdnet.routesock.tracker import Tracker

_RTM_NAMES = {v: k for k, v in C.items() if k.startswith("RTM_") and k != "RTM_VERSION"}
_RTF_NAMES = [(v, k[4:]) for k, v in C.items() if k.startswith("RTF_")]
_IFF_NAMES = [(v, k[4:]) for k, v in C.items() if k.startswith("IFF_")]


def _bits(value: int, names: list[tuple[int, str]]) -> str:
    return ",".join(n for bit, n in names if value & bit)


def _sa_text(sa: Any) -> str:
    if isinstance(sa, SaInet):
        return sa.addr
    if isinstance(sa, SaInet6):
        return f"{sa.addr}%{sa.scope_id}" if sa.scope_id else sa.addr
    if isinstance(sa, SaLink):
        mac = ":".join(f"{b:02x}" for b in sa.lladdr)
        return f"link#{sa.index}" + (f" {sa.name}" if sa.name else "") + (f" {mac}" if mac else "")
    if isinstance(sa, SaEmpty):
        return "(empty)"
    if isinstance(sa, SaOther):
        return f"(family {sa.family}) {sa.data.hex()}"
    return repr(sa)


def format_message(m: Message) -> str:
    """One line per message, in the spirit of route(8) monitor."""
    name = _RTM_NAMES.get(m.type, f"type {m.type:#x}")
    fields = []
    for f in dataclasses.fields(m):
        if f.name in ("type", "addrs"):
            continue
        v = getattr(m, f.name)
        if f.name == "flags" and isinstance(m, RouteMsg):
            v = f"<{_bits(v, _RTF_NAMES)}>"
        elif f.name == "flags" and isinstance(m, IfInfoMsg):
            v = f"<{_bits(v, _IFF_NAMES)}>"
        elif f.name == "flags":
            v = f"{v:#x}"
        fields.append(f"{f.name} {v}")
    for slot, sa in sorted(getattr(m, "addrs", {}).items()):
        fields.append(f"{RTAX_NAMES[slot]} {_sa_text(sa)}")
    return f"{name}: " + ", ".join(fields)


def message_dict(m: Message) -> dict[str, Any]:
    d: dict[str, Any] = {"message": _RTM_NAMES.get(m.type, m.type)}
    for f in dataclasses.fields(m):
        v = getattr(m, f.name)
        if f.name == "addrs":
            v = {RTAX_NAMES[k]: _sa_dict(sa) for k, sa in sorted(v.items())}
        d[f.name] = v
    return d


def _sa_dict(sa: Any) -> dict[str, Any]:
    d = {"family": type(sa).__name__}
    for f in dataclasses.fields(sa):
        v = getattr(sa, f.name)
        d[f.name] = v.hex() if isinstance(v, bytes) else v
    return d


def _emit(lines: Iterable[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def cmd_decode(args: argparse.Namespace) -> int:
    data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()
    try:
        msgs = Decoder(args.arch).decode(data)
    except ParseError as e:
        print(f"bsdnet-routesock: {args.file}: {e}", file=sys.stderr)
        return 1
    if args.events:
        t = Tracker()
        events = t.load_dump(msgs, msgs) if args.dump else t.feed_all(msgs) + t.flush()
        _emit(json.dumps(e.to_dict()) if args.json else format_event(e) for e in events)
    else:
        _emit(json.dumps(message_dict(m)) if args.json else format_message(m) for m in msgs)
    return 0


def _open_listener(args: argparse.Namespace) -> Any:
    from bsdnet.routesock import open_listener
    return open_listener(args.netns, neighbours=args.neighbours)


def _events(listener: Any, dump: bool) -> Iterator[Event]:
    first = listener.start()
    if dump:
        yield from first
    while True:
        yield from listener.poll(None)


def cmd_monitor(args: argparse.Namespace) -> int:
    listener = _open_listener(args)
    n = 0
    try:
        for ev in _events(listener, not args.no_dump):
            _emit([json.dumps(ev.to_dict()) if args.json else format_event(ev)])
            n += 1
            if args.count and n >= args.count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bsdnet-routesock", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("monitor", help="print host events as they happen")
    m.add_argument("--json", action="store_true", help="one JSON object per line")
    m.add_argument("--netns", help="Linux: watch this network namespace")
    m.add_argument("--no-dump", action="store_true", help="skip the initial state")
    m.add_argument("--count", type=int, default=0, help="exit after N events")
    m.add_argument("--neighbours", action="store_true",
                   help="also IPv4 neighbour (ARP) entries: the initial table, then "
                        "the changes the kernel announces")
    m.set_defaults(func=cmd_monitor)
    d = sub.add_parser("decode", help="decode routing-socket bytes or a sysctl dump")
    d.add_argument("file", help="file name, or - for standard input")
    d.add_argument("--json", action="store_true")
    d.add_argument("--arch", choices=["amd64", "arm64"], default="amd64")
    d.add_argument("--events", action="store_true", help="print events, not messages")
    d.add_argument("--dump", action="store_true", help="with --events: the file is a sysctl dump")
    d.set_defaults(func=cmd_decode)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, as route(8) would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
