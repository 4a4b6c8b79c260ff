"""A stand-in of zfs(8) and zpool(8) for the ZFS image backend's tests.

    zfs_standin.py --root DIR zfs ARGS...      (or zpool ARGS...)
    zfs_standin.py --root DIR init POOL SIZE   (a pool with its root dataset)

It keeps pools, datasets, snapshots and clones in DIR/state.json and
enforces the rules of the subcommands the driver uses, as OpenZFS's man
pages (zfs-create, zfs-destroy, zfs-clone, zfs-promote, zfs-rename,
zfsprops) and its messages state them: dataset name syntax and length,
parents that must exist, a volume's size rounded up to volblocksize and a
volsize that must be a multiple of it, properties that apply to one kind of
dataset only, a clone made only from an existing snapshot, promote moving
the origin snapshot to the clone, destroy refusing a dataset with children
(without -r) or with dependent clones (without -R), rename within a pool.
A volume's device is a sparse file DIR/dev/zvol/NAME (absent with
volmode=none); a snapshot keeps a copy of its volume's bytes, which its
clones start from.  Unknown options and subcommands are refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys

NAME_MAX = 255
COMPONENT = r"[A-Za-z0-9_:.-]+"
NAME_RE = re.compile(rf"\A{COMPONENT}(/{COMPONENT})*(@{COMPONENT})?\Z")
VOLBLOCKSIZE = 16384  # OpenZFS 2.2's default
VOLMODES = ("default", "geom", "dev", "none")
FS_ONLY = {"mountpoint", "canmount"}
VOL_ONLY = {"volmode", "volsize", "volblocksize"}
NATIVE = FS_ONLY | VOL_ONLY | {"compression", "refreservation", "snapdev"}


class ZfsFail(Exception):
    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.code = code


def _copy(src: str, dst: str) -> None:
    """Block for block, holes kept (a volume's unwritten blocks take no space)."""
    subprocess.run(["cp", "--sparse=always", src, dst], check=True)


def size_of(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMGTP]?)B?", text.upper())
    if not m:
        raise ZfsFail(f"bad numeric value '{text}'", 2)
    return int(m.group(1)) * 1024 ** " KMGTP".index(m.group(2) or " ")


class Store:
    def __init__(self, root: str) -> None:
        self.root = root
        self.path = os.path.join(root, "state.json")
        self._lock = open(os.path.join(root, "lock"), "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        with open(self.path) as f:
            st = json.load(f)
        self.pools: dict = st["pools"]
        self.ds: dict = st["datasets"]

    def save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"pools": self.pools, "datasets": self.ds}, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    # -- names and files ------------------------------------------------
    def check_name(self, name: str, what: str = "dataset") -> str:
        if len(name) > NAME_MAX:
            raise ZfsFail(f"cannot open '{name}': name is too long")
        if not NAME_RE.match(name) or any(p in (".", "..") for p in re.split("[/@]", name)):
            raise ZfsFail(f"cannot open '{name}': invalid character in {what} name")
        if name.split("/")[0].split("@")[0] not in self.pools:
            raise ZfsFail(f"cannot open '{name}': dataset does not exist")
        return name

    def need(self, name: str) -> dict:
        self.check_name(name)
        if name not in self.ds:
            raise ZfsFail(f"cannot open '{name}': dataset does not exist")
        return self.ds[name]

    def dev(self, name: str) -> str:
        return os.path.join(self.root, "dev", "zvol", name)

    def snapfile(self, snap: str) -> str:
        return os.path.join(self.root, "snap", snap.replace("/", "%"))

    def make_dev(self, name: str) -> None:
        d = self.ds[name]
        if d["props"].get("volmode", "default") == "none":
            return
        path = self.dev(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "ab") as f:
            f.truncate(int(d["props"]["volsize"]))

    def descendants(self, name: str) -> list[str]:
        """Datasets and snapshots below ``name`` (snapshots of it included)."""
        return sorted(n for n in self.ds if n.startswith(name + "/") or n.startswith(name + "@"))

    def clones_of(self, snap: str) -> list[str]:
        return sorted(n for n, d in self.ds.items() if d.get("origin") == snap)

    def used(self, name: str) -> int:
        d = self.ds[name]
        if d["type"] == "volume":
            path = self.dev(name)
            own = os.stat(path).st_blocks * 512 if os.path.exists(path) else 0
            if d["props"].get("refreservation"):
                own = max(own, int(d["props"]["refreservation"]))
            return own
        return sum(self.used(n) for n in self.descendants(name) if self.ds[n]["type"] == "volume")


def _props(args: list[str]) -> tuple[dict[str, str], list[str]]:
    props: dict[str, str] = {}
    rest = []
    it = iter(args)
    for a in it:
        if a == "-o":
            kv = next(it, None)
            if kv is None or "=" not in kv:
                raise ZfsFail("missing property=value argument", 2)
            k, v = kv.split("=", 1)
            if k in props:
                raise ZfsFail(f"property '{k}' specified multiple times", 2)
            props[k] = v
        else:
            rest.append(a)
    return props, rest


def _flags(args: list[str], allowed: str) -> tuple[set[str], list[str]]:
    flags, rest = set(), []
    for a in args:
        if a.startswith("-") and len(a) > 1 and not rest:
            for ch in a[1:]:
                if ch not in allowed:
                    raise ZfsFail(f"invalid option '{ch}'", 2)
                flags.add(ch)
        else:
            rest.append(a)
    return flags, rest


def _check_props(props: dict[str, str], kind: str) -> None:
    for k, v in props.items():
        if ":" in k:
            if k != k.lower():
                raise ZfsFail(f"invalid property '{k}'")
            continue
        if k not in NATIVE:
            raise ZfsFail(f"invalid property '{k}'")
        if (kind == "volume" and k in FS_ONLY) or (kind == "filesystem" and k in VOL_ONLY):
            raise ZfsFail(f"property '{k}' does not apply to datasets of this type")
        if k == "volmode" and v not in VOLMODES:
            raise ZfsFail(f"'volmode' must be one of '{' | '.join(VOLMODES)}'")
        if k == "volsize" and size_of(v) % VOLBLOCKSIZE:
            raise ZfsFail(f"'volsize' must be a multiple of volume block size ({VOLBLOCKSIZE // 1024}K)")


def _parent(st: Store, name: str, create_parents: bool) -> None:
    parent = name.rsplit("/", 1)[0]
    if "/" not in name:
        raise ZfsFail(f"cannot create '{name}': missing dataset name")
    if parent not in st.ds:
        if not create_parents:
            raise ZfsFail(f"cannot create '{name}': parent does not exist")
        _parent(st, parent, True)
        st.ds[parent] = {"type": "filesystem", "props": {}, "origin": None}
    elif st.ds[parent]["type"] != "filesystem":
        raise ZfsFail(f"cannot create '{name}': parent is not a filesystem")


def zfs_create(st: Store, args: list[str]) -> str:
    props, args = _props(args)
    size = None
    if "-V" in args:
        i = args.index("-V")
        if i + 1 >= len(args):
            raise ZfsFail("missing size argument", 2)
        size = size_of(args[i + 1])
        del args[i:i + 2]
    flags, rest = _flags(args, "ps")
    if len(rest) != 1:
        raise ZfsFail("missing dataset argument" if not rest else "too many arguments", 2)
    name = st.check_name(rest[0])
    if "@" in name:
        raise ZfsFail(f"cannot create '{name}': snapshot delimiter '@' is not expected here")
    kind = "volume" if size is not None else "filesystem"
    if "s" in flags and kind != "volume":
        raise ZfsFail("'-s' can only be used when creating a volume", 2)
    _check_props(props, kind)
    if name in st.ds:
        if "p" in flags:
            return ""
        raise ZfsFail(f"cannot create '{name}': dataset already exists")
    _parent(st, name, "p" in flags)
    if size is not None:
        size = -(-size // VOLBLOCKSIZE) * VOLBLOCKSIZE  # rounded up, as zfs-create says
        if size == 0:
            raise ZfsFail(f"cannot create '{name}': volume size cannot be zero")
        props["volsize"] = str(size)
        if "s" not in flags:
            props.setdefault("refreservation", str(size))
    st.ds[name] = {"type": kind, "props": props, "origin": None}
    if kind == "volume":
        st.make_dev(name)
    return ""


def zfs_snapshot(st: Store, args: list[str]) -> str:
    _flags_, rest = _flags(args, "")
    if len(rest) != 1 or "@" not in rest[0]:
        raise ZfsFail("missing snapshot argument" if not rest else f"cannot create snapshot '{rest[0]}'", 2)
    snap = st.check_name(rest[0], "snapshot")
    base = snap.split("@")[0]
    d = st.need(base)
    if snap in st.ds:
        raise ZfsFail(f"cannot create snapshot '{snap}': dataset already exists")
    st.ds[snap] = {"type": "snapshot", "props": {"volsize": d["props"].get("volsize")}, "origin": None}
    if d["type"] == "volume" and os.path.exists(st.dev(base)):
        os.makedirs(os.path.dirname(st.snapfile(snap)), exist_ok=True)
        _copy(st.dev(base), st.snapfile(snap))
    return ""


def zfs_clone(st: Store, args: list[str]) -> str:
    props, args = _props(args)
    flags, rest = _flags(args, "p")
    if len(rest) != 2:
        raise ZfsFail("missing source or target dataset", 2)
    snap, name = st.check_name(rest[0], "snapshot"), st.check_name(rest[1])
    if "@" not in snap:
        raise ZfsFail(f"cannot open '{snap}': operation only applies to snapshots")
    st.need(snap)
    if name.split("/")[0] != snap.split("/")[0]:
        raise ZfsFail(f"cannot create '{name}': source and target pools differ")
    if name in st.ds:
        raise ZfsFail(f"cannot create '{name}': dataset already exists")
    base = st.ds[snap.split("@")[0]]
    _check_props(props, base["type"])
    _parent(st, name, "p" in flags)
    st.ds[name] = {"type": base["type"], "props": dict(props, volsize=st.ds[snap]["props"]["volsize"])
                   if base["type"] == "volume" else props, "origin": snap}
    if base["type"] == "volume" and st.ds[name]["props"].get("volmode", "default") != "none":
        os.makedirs(os.path.dirname(st.dev(name)), exist_ok=True)
        if os.path.exists(st.snapfile(snap)):
            _copy(st.snapfile(snap), st.dev(name))
        st.make_dev(name)
    return ""


def zfs_promote(st: Store, args: list[str]) -> str:
    _f, rest = _flags(args, "")
    if len(rest) != 1:
        raise ZfsFail("wrong number of arguments", 2)
    name = rest[0]
    d = st.need(name)
    origin = d.get("origin")
    if not origin:
        raise ZfsFail(f"cannot promote '{name}': not a cloned filesystem")
    old, snapname = origin.split("@")
    moved = f"{name}@{snapname}"
    if moved in st.ds:
        raise ZfsFail(f"cannot promote '{name}': conflicting snapshot '{snapname}' from parent '{old}'")
    st.ds[moved] = st.ds.pop(origin)
    if os.path.exists(st.snapfile(origin)):
        os.replace(st.snapfile(origin), st.snapfile(moved))
    for n, other in st.ds.items():
        if other.get("origin") == origin:
            other["origin"] = moved
    # The clone takes the old dataset's place in the chain: its origin is
    # what the old one's was, and the old one becomes a clone of it.
    d["origin"] = st.ds[old].get("origin")
    st.ds[old]["origin"] = moved
    return ""


def zfs_rename(st: Store, args: list[str]) -> str:
    _f, rest = _flags(args, "")
    if len(rest) != 2:
        raise ZfsFail("wrong number of arguments", 2)
    old, new = st.check_name(rest[0]), st.check_name(rest[1])
    st.need(old)
    if old.split("/")[0] != new.split("/")[0]:
        raise ZfsFail(f"cannot rename to '{new}': datasets must be within same pool")
    if new in st.ds:
        raise ZfsFail(f"cannot rename to '{new}': dataset already exists")
    if ("@" in old) != ("@" in new):
        raise ZfsFail(f"cannot rename to '{new}': snapshots must be part of same dataset")
    if "@" not in new:
        _parent(st, new, False)
    for n in [old, *st.descendants(old)]:
        to = new + n[len(old):]
        st.ds[to] = st.ds.pop(n)
        for path in (st.dev, st.snapfile):
            if os.path.exists(path(n)):
                os.makedirs(os.path.dirname(path(to)), exist_ok=True)
                os.replace(path(n), path(to))
        for other in st.ds.values():
            if other.get("origin") == n:
                other["origin"] = to
    return ""


def zfs_set(st: Store, args: list[str]) -> str:
    if len(args) != 2 or "=" not in args[0]:
        raise ZfsFail("missing property=value or dataset argument", 2)
    k, v = args[0].split("=", 1)
    d = st.need(st.check_name(args[1]))
    _check_props({k: v}, d["type"])
    if k == "volsize":
        v = str(size_of(v))
    d["props"][k] = v
    if k == "volsize" and os.path.exists(st.dev(args[1])):
        os.truncate(st.dev(args[1]), int(v))
    return ""


def zfs_destroy(st: Store, args: list[str]) -> str:
    flags, rest = _flags(args, "rR")
    if len(rest) != 1:
        raise ZfsFail("wrong number of arguments", 2)
    name = rest[0]
    d = st.need(name)
    doomed = [name] + (st.descendants(name) if flags & {"r", "R"} else [])
    kind = d["type"]
    if not flags & {"r", "R"} and st.descendants(name):
        raise ZfsFail(f"cannot destroy '{name}': {kind} has children\n"
                      f"use '-r' to destroy the following datasets:\n" + "\n".join(st.descendants(name)))
    dependents = sorted({c for s in doomed for c in st.clones_of(s) if c not in doomed})
    if dependents and "R" not in flags:
        raise ZfsFail(f"cannot destroy '{name}': {kind} has dependent clones\n"
                      f"use '-R' to destroy the following datasets:\n" + "\n".join(dependents))
    for dep in dependents:
        zfs_destroy(st, ["-R", dep])
    for n in reversed(doomed):
        if n in st.ds:
            del st.ds[n]
        for path in (st.dev(n), st.snapfile(n)):
            if os.path.isfile(path):
                os.unlink(path)
            elif os.path.isdir(path):  # the /dev/zvol directory of a filesystem
                os.rmdir(path)
    return ""


def zfs_list(st: Store, args: list[str]) -> str:
    fields, types, rest, recurse = ["name"], {"filesystem", "volume"}, [], False
    it = iter(args)
    for a in it:
        if a == "-H":
            continue
        if a == "-r":
            recurse = True
        elif a == "-o":
            fields = next(it).split(",")
        elif a == "-t":
            types = set(next(it).split(","))
            types = {"filesystem", "volume", "snapshot"} if "all" in types else types
        elif a.startswith("-"):
            raise ZfsFail(f"invalid option '{a}'", 2)
        else:
            rest.append(a)
    names = sorted(st.ds)
    if rest:
        d = st.need(rest[0])
        names = [rest[0]] + (st.descendants(rest[0]) if recurse else [])
        if not recurse and d["type"] not in types:
            types = types | {d["type"]}
    rows = []
    for n in names:
        if st.ds[n]["type"] in types:
            rows.append("\t".join(_value(st, n, f) for f in fields))
    return "".join(r + "\n" for r in rows)


def _value(st: Store, name: str, prop: str) -> str:
    d = st.ds[name]
    if prop == "name":
        return name
    if prop == "type":
        return d["type"]
    if prop == "origin":
        return d.get("origin") or "-"
    if prop == "clones":
        return ",".join(st.clones_of(name)) or "-" if d["type"] == "snapshot" else "-"
    if prop in ("used", "referenced"):
        return str(st.used(name)) if d["type"] != "snapshot" else "0"
    if prop == "available":
        pool = st.pools[name.split("/")[0].split("@")[0]]
        return str(pool["size"] - sum(st.used(n) for n in st.ds if st.ds[n]["type"] == "volume"))
    if prop == "volsize":
        return d["props"].get("volsize", "-")
    return d["props"].get(prop, "-")


def zfs_get(st: Store, args: list[str]) -> str:
    fields, rest, it = ["name", "property", "value", "source"], [], iter(args)
    for a in it:
        if a in ("-H", "-p"):
            continue
        if a == "-o":
            fields = next(it).split(",")
        elif a.startswith("-"):
            raise ZfsFail(f"invalid option '{a}'", 2)
        else:
            rest.append(a)
    if len(rest) != 2:
        raise ZfsFail("missing property or dataset argument", 2)
    st.need(rest[1])
    rows = []
    for prop in rest[0].split(","):
        if ":" not in prop and prop not in NATIVE | {"used", "referenced", "available", "origin", "clones", "type"}:
            raise ZfsFail(f"bad property list: invalid property '{prop}'", 2)
        row = {"name": rest[1], "property": prop, "value": _value(st, rest[1], prop), "source": "local"}
        rows.append("\t".join(row[f] for f in fields))
    return "".join(r + "\n" for r in rows)


def zpool_list(st: Store, args: list[str]) -> str:
    fields, rest, it = ["name", "size", "free", "health"], [], iter(args)
    for a in it:
        if a in ("-H", "-p"):
            continue
        if a == "-o":
            fields = next(it).split(",")
        else:
            rest.append(a)
    pools = rest or sorted(st.pools)
    out = []
    for p in pools:
        if p not in st.pools:
            raise ZfsFail(f"cannot open '{p}': no such pool")
        row = {"name": p, "size": str(st.pools[p]["size"]), "health": st.pools[p].get("health", "ONLINE"),
               "free": _value(st, p, "available")}
        out.append("\t".join(row[f] for f in fields))
    return "".join(r + "\n" for r in out)


def zfs_send(st: Store, args: list[str]) -> str:
    """A full stream of one volume snapshot (this stand-in's own format:
    a JSON line, then the bytes)."""
    _f, rest = _flags(args, "")
    if len(rest) != 1 or "@" not in rest[0]:
        raise ZfsFail("missing snapshot argument" if not rest else f"'{rest[0]}' is not a snapshot", 2)
    snap = rest[0]
    d = st.need(snap)
    if st.ds[snap.split("@")[0]]["type"] != "volume":
        raise ZfsFail("this stand-in sends volume snapshots only")
    header = json.dumps({"snapshot": snap.split("@")[1], "volsize": d["props"]["volsize"]}) + "\n"
    sys.stdout.buffer.write(header.encode())
    if os.path.exists(st.snapfile(snap)):
        with open(st.snapfile(snap), "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return ""


def zfs_recv(st: Store, args: list[str]) -> str:
    props, args = _props(args)
    flags, rest = _flags(args, "F")
    if len(rest) != 1:
        raise ZfsFail("missing snapshot argument", 2)
    name = st.check_name(rest[0])
    if name in st.ds and "F" not in flags:
        raise ZfsFail(f"cannot receive new filesystem stream: destination '{name}' exists\n"
                      "must specify -F to overwrite it")
    parent = name.rsplit("/", 1)[0]
    if parent not in st.ds:
        raise ZfsFail(f"cannot receive new filesystem stream: destination '{parent}' does not exist")
    header = sys.stdin.buffer.readline()
    if not header:
        raise ZfsFail("cannot receive: failed to read from stream")
    meta = json.loads(header)
    _check_props(props, "volume")
    st.ds[name] = {"type": "volume", "props": dict(props, volsize=meta["volsize"]), "origin": None}
    os.makedirs(os.path.dirname(st.dev(name)), exist_ok=True)
    with open(st.dev(name), "wb") as f:
        shutil.copyfileobj(sys.stdin.buffer, f)
    st.make_dev(name)
    snap = f"{name}@{meta['snapshot']}"
    st.ds[snap] = {"type": "snapshot", "props": {"volsize": meta["volsize"]}, "origin": None}
    return ""


ZFS = {"create": zfs_create, "send": zfs_send, "recv": zfs_recv, "receive": zfs_recv, "snapshot": zfs_snapshot,
       "clone": zfs_clone, "promote": zfs_promote, "rename": zfs_rename, "set": zfs_set, "destroy": zfs_destroy,
       "list": zfs_list, "get": zfs_get}


def init(root: str, pool: str, size: int) -> None:
    """A fresh stand-in host with one pool."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "state.json"), "w") as f:
        json.dump({"pools": {pool: {"size": size, "health": "ONLINE"}},
                   "datasets": {pool: {"type": "filesystem", "props": {}, "origin": None}}}, f)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "--root":
        print("usage: zfs_standin.py --root DIR zfs|zpool|init ARGS...", file=sys.stderr)
        return 2
    root, cmd, args = argv[1], argv[2], argv[3:]
    if cmd == "init":
        init(root, args[0], size_of(args[1]))
        return 0
    st = Store(root)
    try:
        if cmd == "zfs" and args and args[0] in ZFS:
            out = ZFS[args[0]](st, args[1:])
        elif cmd == "zpool" and args[:1] == ["list"]:
            out = zpool_list(st, args[1:])
        else:
            raise ZfsFail(f"unrecognized command '{' '.join(args[:1])}'", 2)
    except ZfsFail as exc:
        print(exc, file=sys.stderr)
        return exc.code
    st.save()
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
