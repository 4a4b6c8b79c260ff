"""One table of the shared ABI's sizes and offsets, and the C that pins it.

The table (abi_table.json beside this file) lists, for every struct of
kmod/include/bsdnet_abi.h and kmod/freebsd/bsdnet_ioctl.h, its size and each
field's offset and size.  It is generated once on the build machine:

    .venv/bin/python tests/freebsd/abi_table.py --write

and checked in.  static_asserts() turns it into C _Static_asserts; the tests
compile them for FreeBSD amd64/arm64 and Linux amd64/arm64, so an agent built
on one side reads tables made on the other.  Moving a field without
regenerating the table (and bumping BSDNET_ABI_VERSION) fails them.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import xcompile  # type: ignore[no-redef]
else:
    from . import xcompile

LOG = logging.getLogger(__name__)

TABLE = Path(__file__).resolve().parent / "abi_table.json"
ABI_HEADER = xcompile.INCLUDE / "bsdnet_abi.h"
IOCTL_HEADER = xcompile.FREEBSD / "bsdnet_ioctl.h"

_STRUCT = re.compile(r"^struct\s+(\w+)\s*\{(.*?)^\};", re.S | re.M)
_FIELD = re.compile(
    r"^\s*(?:struct\s+\w+|u?int(?:8|16|32|64)_t|char)\s+(\w+)\s*(\[[^\]]+\])?\s*;",
    re.M)
_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def parse_structs(text: str) -> dict[str, list[str]]:
    """Struct name -> field names, in order, from a header's text.

    The ABI rules (fixed-width types, no pointers, no bitfields) keep the
    declarations regular enough for this; anything else is not ABI."""
    text = _COMMENT.sub("", text)
    out: dict[str, list[str]] = {}
    for m in _STRUCT.finditer(text):
        fields = [f.group(1) for f in _FIELD.finditer(m.group(2))]
        if fields:
            out[m.group(1)] = fields
    return out


def header_structs() -> dict[str, dict[str, list[str]]]:
    """Header name -> its structs, for the headers the table covers."""
    return {
        "bsdnet_abi.h": parse_structs(ABI_HEADER.read_text()),
        "bsdnet_ioctl.h": parse_structs(IOCTL_HEADER.read_text()),
    }


def _probe_source(structs: dict[str, dict[str, list[str]]]) -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>",
             '#include "bsdnet_abi.h"', '#include "bsdnet_ioctl.h"',
             "int main(void) {"]
    for header, table in structs.items():
        for name, fields in table.items():
            lines.append(f'printf("S {header} {name} %zu\\n", '
                         f"sizeof(struct {name}));")
            for f in fields:
                lines.append(
                    f'printf("F {name} {f} %zu %zu\\n", '
                    f"offsetof(struct {name}, {f}), "
                    f"sizeof(((struct {name} *)0)->{f}));")
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


def measure() -> dict:
    """Sizes and offsets as this machine's compiler lays them out: a probe
    program printing sizeof/offsetof for every field, built and run here."""
    structs = header_structs()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "sys").mkdir()
        # Linux has no <sys/ioccom.h>; the _IO* macros do not affect
        # layout, so a stand-in that includes Linux's is enough here.
        (d / "sys" / "ioccom.h").write_text("#include <sys/ioctl.h>\n")
        src = d / "probe.c"
        src.write_text(_probe_source(structs))
        exe = d / "probe"
        argv = xcompile.zig_cc() + [
            "-std=gnu11", "-O0", "-fno-sanitize=all", "-I", str(d),
            "-I", str(xcompile.INCLUDE), "-I", str(xcompile.FREEBSD),
            str(src), "-o", str(exe)]
        res = xcompile.run(argv)
        if not res.ok:
            raise RuntimeError(res.output)
        out = subprocess.run([str(exe)], capture_output=True, text=True,
                             check=True).stdout
    table: dict = {"headers": {}, "structs": {}}
    for line in out.splitlines():
        parts = line.split()
        if parts[0] == "S":
            _, header, name, size = parts
            table["headers"].setdefault(header, []).append(name)
            table["structs"][name] = {"size": int(size), "fields": []}
        else:
            _, name, field, off, size = parts
            table["structs"][name]["fields"].append(
                {"name": field, "offset": int(off), "size": int(size)})
    return table


def load() -> dict:
    return json.loads(TABLE.read_text())


def static_asserts(table: dict, headers: list[str]) -> str:
    """C source pinning every size and offset of the table's structs that
    belong to `headers`."""
    lines = ["#include <stddef.h>"]
    lines += [f'#include "{h}"' for h in headers]
    for header in headers:
        for name in table["headers"][header]:
            s = table["structs"][name]
            lines.append(f"_Static_assert(sizeof(struct {name}) == "
                         f'{s["size"]}, "size of {name}");')
            for f in s["fields"]:
                lines.append(
                    f"_Static_assert(offsetof(struct {name}, {f['name']}) "
                    f"== {f['offset']}, \"offset of {name}.{f['name']}\");")
                lines.append(
                    f"_Static_assert(sizeof(((struct {name} *)0)->"
                    f"{f['name']}) == {f['size']}, "
                    f"\"size of {name}.{f['name']}\");")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true",
                    help=f"measure and write {TABLE.name}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    table = measure()
    text = json.dumps(table, indent=1, sort_keys=True) + "\n"
    if args.write:
        TABLE.write_text(text)
        LOG.info("wrote %s (%d structs)", TABLE, len(table["structs"]))
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
