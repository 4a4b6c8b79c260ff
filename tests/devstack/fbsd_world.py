#!/usr/bin/env python3
"""A FreeBSD host for devstack-freebsd/lib/freebsd.sh, on Linux.

    fbsd_world.py STATE.json COMMAND ARGS...

One executable stands in for the FreeBSD commands the bring-up and the
rc.d scripts run (the test puts a wrapper per name first on PATH); the
host's state lives in STATE.json and its files under a root directory.
Each command keeps the rules of the real one, so a typo or a wrong order
in the script fails as it would on FreeBSD:

  pkg      install needs -y (no terminal) and names the repository has;
  make     -C a directory of this repository with a Makefile; bsdnet.ko
           needs SYSDIR/conf/kmod.mk (kernel sources); install after build;
  install  only files that exist or were built, into the root;
  kldload  modules of the kernel or of /boot/modules; a loaded one fails
           without -n; kldstat -m / kldunload (EBUSY with ports attached);
  sysrc    rc.conf variables by valid names; -n of an unknown one fails;
  sysctl, ifconfig, route
           bsdnet.driver.net.fbsd_sim's FreeBSDHost;
  service  runs the installed rc.d script (a stand-in rc.subr, this root
           for its absolute paths); an absent script fails, a disabled
           one is not started (rc.subr says "Cannot 'start'");
  daemon   daemon(8)'s options only (rc_flags in the wrong place fail);
           the program must be installed; it "runs" as the real one
           would: bsdnet-agent with transport = device finds /dev/bsdnet
           only with bsdnet.ko loaded and attaches the fabric it is told;
  bsdnetctl, bsdnet-vrctl
           the module's tables and ports, /dev/bsdnet only when loaded;
  python3.11
           -m pip install needs pip and the build requirements installed
           (--no-build-isolation); -c runs the real interpreter.
"""
from __future__ import annotations

import configparser
import fcntl
import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from bsdnet.driver.net.fbsd_sim import FreeBSDHost  # noqa: E402

KERNEL_MODULES = {"vmm", "nmdm", "if_bridge", "if_epair", "if_tuntap",
                  "pf", "netmap", "kernel"}
REPOSITORY = {"python311", "py311-pip", "py311-cffi", "py311-setuptools",
              "py311-wheel", "py311-pyroute2", "py311-psutil",
              "py311-oslo.config", "py311-libvirt", "py311-prometheus-client",
              "libvirt"}
PIP_NEEDS = {"py311-pip", "py311-setuptools", "py311-wheel", "py311-cffi"}
FIRST_PID = 4194400         # above Linux's pid_max: never a real process
SRC_URL = re.compile(r"^https://download\.freebsd\.org/releases/amd64/"
                     r"14\.2-RELEASE/src\.txz$")
VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EX_OSERR = 71


class Fail(Exception):
    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.code = code


class World:
    def __init__(self, state: Path) -> None:
        self.path = state
        self.s = json.loads(state.read_text())
        self.root = Path(self.s["root"])
        self.bin = Path(self.s["bin"])
        self.host = FreeBSDHost.from_json(json.dumps(self.s["host"]))
        self.out: list[str] = []

    def save(self) -> None:
        self.s["host"] = json.loads(self.host.to_json())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.s, indent=1))
        os.replace(tmp, self.path)

    def say(self, text: str) -> None:
        self.out.append(text if text.endswith("\n") else text + "\n")

    def under_root(self, p: str) -> Path:
        path = Path(p)
        if str(path).startswith(str(self.root)):
            return path
        return self.root / str(path).lstrip("/")

    def stub(self, dst: Path, name: str) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(f'#!/bin/sh\nexec "{self.bin}/{name}" "$@"\n')
        dst.chmod(0o555)

    # ---- uname, id, sleep -------------------------------------------------
    def uname(self, args: list[str]) -> int:
        vals = {"-s": "FreeBSD", "-r": "14.2-RELEASE", "-m": "amd64"}
        self.say(" ".join(vals[a] for a in args) if args else "FreeBSD")
        return 0

    def id(self, args: list[str]) -> int:
        if args != ["-u"]:
            raise Fail("id: the stand-in knows only -u")
        self.say("0")
        return 0

    def sleep(self, args: list[str]) -> int:
        return 0

    # ---- pkg ----------------------------------------------------------------
    def pkg(self, args: list[str]) -> int:
        if args[:1] == ["info"] and args[1:2] == ["-e"]:
            return 0 if args[2] in self.s["pkgs"] else 1
        if args[:1] != ["install"]:
            raise Fail(f"pkg: the stand-in knows install and info -e: {args}")
        names = [a for a in args[1:] if not a.startswith("-")]
        if "-y" not in args:
            raise Fail("Proceed with this action? [y/N]: pkg: no terminal "
                       "(stdin is not a tty): use -y")
        bad = [n for n in names if n not in REPOSITORY]
        if bad:
            raise Fail(f"pkg: No packages available to install matching "
                       f"'{bad[0]}' have been found in the repositories")
        for n in names:
            if n not in self.s["pkgs"]:
                self.s["pkgs"].append(n)
        return 0

    # ---- fetch, tar: the kernel sources --------------------------------------
    def fetch(self, args: list[str]) -> int:
        if len(args) != 3 or args[0] != "-o" or not SRC_URL.match(args[2]):
            raise Fail(f"fetch: {' '.join(args)}: Not Found")
        dst = self.under_root(args[1])
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text("src.txz\n")
        return 0

    def tar(self, args: list[str]) -> int:
        if len(args) != 4 or args[0] != "-C" or args[2] != "-xf":
            raise Fail(f"tar: the stand-in knows -C DIR -xf FILE: {args}")
        src = self.under_root(args[3])
        if not src.exists() or src.read_text() != "src.txz\n":
            raise Fail(f"tar: Error opening archive: Failed to open "
                       f"'{args[3]}'")
        kmk = self.under_root(args[1]) / "usr/src/sys/conf/kmod.mk"
        kmk.parent.mkdir(parents=True, exist_ok=True)
        kmk.write_text("# kmod.mk\n")
        return 0

    # ---- make, install, kldxref -----------------------------------------------
    def make(self, args: list[str]) -> int:
        if len(args) < 2 or args[0] != "-C":
            raise Fail("make: the stand-in knows make -C DIR [VAR=x] [target]")
        d = Path(args[1]).resolve()
        if not (d / "Makefile").exists() or not str(d).startswith(str(REPO)):
            raise Fail(f"make: chdir {d}: No such file or directory", 2)
        vars_ = dict(a.split("=", 1) for a in args[2:] if "=" in a)
        targets = [a for a in args[2:] if "=" not in a]
        rel = str(d.relative_to(REPO))
        if rel == "kmod/freebsd":
            sysdir = vars_.get("SYSDIR", "/usr/src/sys")
            if not (self.under_root(sysdir) / "conf/kmod.mk").exists():
                raise Fail('make: "/usr/share/mk/bsd.kmod.mk" line 12: '
                           "Unable to locate the kernel source tree. Set "
                           "SYSDIR to override.", 2)
        if targets == ["install"]:
            if rel not in self.s["built"]:
                raise Fail(f"make: install of {rel} before it was built", 2)
            if rel == "kmod/freebsd":
                ko = self.root / "boot/modules/bsdnet.ko"
                ko.parent.mkdir(parents=True, exist_ok=True)
                ko.write_text("bsdnet.ko\n")
            return 0
        if targets:
            raise Fail(f"make: don't know how to make {targets[0]}. Stop", 2)
        if rel not in self.s["built"]:
            self.s["built"].append(rel)
        return 0

    def install(self, args: list[str]) -> int:
        mode_next, srcs, makedirs = False, [], False
        for a in args:
            if mode_next:
                mode_next = False
            elif a == "-m":
                mode_next = True
            elif a == "-d":
                makedirs = True
            else:
                srcs.append(a)
        if makedirs:
            for d in srcs:
                self.under_root(d).mkdir(parents=True, exist_ok=True)
            return 0
        *files, dst = srcs
        dstdir = self.under_root(dst)
        for f in files:
            real = Path(f).resolve()
            built = str(real.parent.relative_to(REPO)) \
                if str(real).startswith(str(REPO)) else None
            if built not in self.s["built"]:
                raise Fail(f"install: {f}: No such file or directory",
                           EX_OSERR)
            self.stub(dstdir / Path(f).name, Path(f).name)
        return 0

    def kldxref(self, args: list[str]) -> int:
        return 0

    # ---- kernel modules ---------------------------------------------------------
    def _module_exists(self, name: str) -> bool:
        return name in KERNEL_MODULES or \
            (self.root / "boot/modules" / f"{name}.ko").exists()

    def kldload(self, args: list[str]) -> int:
        quiet = "-n" in args
        for name in [a for a in args if a != "-n"]:
            if name in self.s["kld"]:
                if quiet:
                    continue
                raise Fail(f"kldload: can't load {name}: module already "
                           "loaded or in kernel")
            if not self._module_exists(name):
                raise Fail(f"kldload: can't load {name}: No such file or "
                           "directory")
            self.s["kld"].append(name)
        return 0

    def kldstat(self, args: list[str]) -> int:
        name = args[args.index("-m") + 1] if "-m" in args else None
        if name is None:
            self.say("\n".join(self.s["kld"]))
            return 0
        if name in self.s["kld"]:
            if "-q" not in args:
                self.say(f"Id Refs Name\n 1 1 {name}")
            return 0
        if "-q" not in args:
            raise Fail(f"kldstat: can't find module {name}: No such file "
                       "or directory")
        return 1

    def kldunload(self, args: list[str]) -> int:
        name = args[-1]
        if name not in self.s["kld"]:
            raise Fail(f"kldunload: can't find file {name}")
        if name == "bsdnet" and (self.s["ports"] or self._running("bsdnet")):
            raise Fail("kldunload: can't unload file: Device busy")
        self.s["kld"].remove(name)
        self.s["tables"] = False
        return 0

    # ---- sysrc ------------------------------------------------------------------
    def _rcfile(self, path: str | None) -> Path:
        return self.under_root(path or "/etc/rc.conf")

    def _rcread(self, f: Path) -> dict[str, str]:
        out = {}
        if f.exists():
            for line in f.read_text().splitlines():
                m = re.match(r'^([A-Za-z_][A-Za-z0-9_.]*)="?(.*?)"?$', line)
                if m:
                    out[m.group(1)] = m.group(2)
        return out

    def _rcwrite(self, f: Path, v: dict[str, str]) -> None:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("".join(f'{k}="{x}"\n' for k, x in v.items()))

    def sysrc(self, args: list[str]) -> int:
        path, only_value, delete = None, False, False
        while args and args[0].startswith("-"):
            opt = args.pop(0)
            if opt == "-f":
                path = args.pop(0)
            elif opt == "-n":
                only_value = True
            elif opt == "-x":
                delete = True
            else:
                raise Fail(f"sysrc: unknown option {opt}")
        f = self._rcfile(path)
        v = self._rcread(f)
        name_re = VAR if path is None else re.compile(r"^[A-Za-z_][\w.]*$")
        for a in args:
            m = re.match(r"^([^=+]+)(\+?=)(.*)$", a)
            name = m.group(1) if m else a
            if not name_re.match(name):
                raise Fail(f"sysrc: {name}: not a valid variable name")
            if delete:
                v.pop(name, None)
            elif m is None:
                if name not in v:
                    raise Fail(f"sysrc: unknown variable '{name}'")
                self.say(v[name] if only_value else f"{name}: {v[name]}")
            elif m.group(2) == "+=":
                words = v.get(name, "").split()
                words += [w for w in m.group(3).split() if w not in words]
                v[name] = " ".join(words)
                self.say(f"{name}: -> {v[name]}")
            else:
                old = v.get(name, "")
                v[name] = m.group(3)
                self.say(f"{name}: {old} -> {v[name]}")
        self._rcwrite(f, v)
        return 0

    # ---- ifconfig, sysctl, route -------------------------------------------------
    def _hostcmd(self, tool: str, args: list[str]) -> int:
        rc, out, err = self.host.run([tool] + args)
        if out:
            self.say(out)
        if err:
            raise Fail(err.rstrip())
        return rc

    # ---- service and daemon(8) ------------------------------------------------------
    def service(self, args: list[str]) -> int:
        if len(args) != 2:
            raise Fail("usage: service NAME start|stop|status|one...")
        name, verb = args
        script = self.root / "usr/local/etc/rc.d" / name
        if not os.access(script, os.X_OK):
            raise Fail(f"{name} does not exist in /etc/rc.d or the local "
                       "startup directories (/usr/local/etc/rc.d), or is "
                       "not executable")
        text = script.read_text() \
            .replace("/etc/rc.subr", str(self.root / "etc/rc.subr")) \
            .replace("/usr/local/", f"{self.root}/usr/local/") \
            .replace("/usr/sbin/daemon", f"{self.bin}/daemon") \
            .replace("/var/run/", f"{self.root}/var/run/") \
            .replace("/var/db/", f"{self.root}/var/db/")
        env = dict(os.environ, KH_ROOT=str(self.root), KH_BIN=str(self.bin))
        res = subprocess.run(["sh", "-c", text, name, verb], env=env,
                             capture_output=True, text=True, check=False)
        self.say(res.stdout)
        if res.stderr:
            sys.stderr.write(res.stderr)
        return res.returncode

    def _running(self, what: str) -> bool:
        return any(what in " ".join(p["argv"]) for p in self.s["procs"])

    def daemon(self, args: list[str]) -> int:
        pidfile = None
        while args and args[0].startswith("-"):
            opt = args.pop(0)
            if opt in ("-p", "-T", "-P", "-u", "-t", "-o", "-m", "-R", "-l",
                       "-s"):
                val = args.pop(0)
                if opt == "-p":
                    pidfile = val
            elif opt not in ("-f", "-S", "-r", "-c", "-H"):
                raise Fail(f"daemon: illegal option -- {opt.lstrip('-')}\n"
                           "usage: daemon [-cfHrS] [-p child_pidfile] ...")
        if not args or not os.access(args[0], os.X_OK):
            return 0           # the child's exec fails: nothing runs
        if not self._start(args):
            return 0           # it started and died
        pid = self.s["nextpid"]
        self.s["nextpid"] += 1
        self.s["procs"].append({"pid": pid, "argv": args})
        if pidfile:
            p = self.under_root(pidfile)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"{pid}\n")
        return 0

    def _start(self, argv: list[str]) -> bool:
        """What the program does as it starts; False if it dies."""
        prog = Path(argv[0]).name
        if prog == "bsdnet-netmap":
            self.s["shm"] = True
            return True
        if prog != "bsdnet-agent":
            return True
        conf = configparser.ConfigParser()
        conf.read(argv[argv.index("--config-file") + 1])
        transport = conf.get("datapath", "transport", fallback="shm")
        fabric = conf.get("fabric", "interface", fallback="")
        if transport == "device":
            if "bsdnet" not in self.s["kld"]:
                return False               # no /dev/bsdnet: it exits
            if not self.s["tables"]:
                if not conf.getboolean("datapath", "device_create",
                                       fallback=False):
                    return False
                self.s["tables"] = True
            if fabric in self.host.ifaces:
                self.s["ports"] = {"1": fabric}
        elif not self.s.get("shm"):
            return False                   # no region: it waits, then exits
        return True

    def kill(self, args: list[str]) -> int:
        pid = int(args[-1])
        procs = [p for p in self.s["procs"] if p["pid"] == pid]
        if not procs:
            raise Fail(f"kill: {pid}: No such process")
        if args[0] != "-0":
            self.s["procs"].remove(procs[0])
        return 0

    def pwait(self, args: list[str]) -> int:
        return 0

    # ---- the module's tools ------------------------------------------------------------
    def bsdnetctl(self, args: list[str]) -> int:
        if "bsdnet" not in self.s["kld"]:
            raise Fail("bsdnetctl: /dev/bsdnet: No such file or directory",
                       EX_OSERR)
        cmd = args[0] if args else ""
        if cmd == "create":
            if self.s["tables"]:
                raise Fail("bsdnetctl: BSDNET_IOC_CREATE: File exists",
                           EX_OSERR)
            self.s["tables"] = True
        elif cmd in ("geometry", "stats", "destroy", "detach"):
            if not self.s["tables"]:
                raise Fail(f"bsdnetctl: {cmd}: Device not configured",
                           EX_OSERR)
            if cmd == "geometry":
                self.say("size 73400320 instance 0x1\nvifs 4096 ...")
            elif cmd == "stats":
                self.say(f"rx 0 tx 0 tx_errors 0 traps 0 trap_drops 0 "
                         f"copies 0 ctl 0 ports {len(self.s['ports'])} "
                         "mapped 0")
            elif cmd == "destroy":
                if self.s["ports"]:
                    raise Fail("bsdnetctl: BSDNET_IOC_DESTROY: Device busy",
                               EX_OSERR)
                self.s["tables"] = False
            else:
                vif = args[1]
                if vif not in self.s["ports"] or \
                        (len(args) > 2 and self.s["ports"][vif] != args[2]):
                    raise Fail(f"bsdnetctl: detach vif {vif}: No such file "
                               "or directory", EX_OSERR)
                del self.s["ports"][vif]
        else:
            raise Fail("usage: bsdnetctl create | geometry | stats | ...",
                       64)
        return 0

    def bsdnet_vrctl(self, args: list[str]) -> int:
        if args != ["--device", "/dev/bsdnet", "--json", "vif"]:
            raise Fail(f"bsdnet-vrctl: the stand-in knows --device "
                       f"/dev/bsdnet --json vif: {args}", 2)
        if "bsdnet" not in self.s["kld"]:
            raise Fail("bsdnet-vrctl: /dev/bsdnet: no such device")
        self.say(json.dumps([{"vif": int(v), "name": n, "os_index": 3}
                             for v, n in self.s["ports"].items()]))
        return 0

    def python3_11(self, args: list[str]) -> int:
        if args[:1] == ["-c"]:
            return subprocess.run([sys.executable] + args,
                                  check=False).returncode
        if args[:3] != ["-m", "pip", "install"]:
            raise Fail(f"python3.11: the stand-in knows -c and -m pip "
                       f"install: {args}")
        if "py311-pip" not in self.s["pkgs"]:
            raise Fail("/usr/local/bin/python3.11: No module named pip")
        if "--no-build-isolation" in args:
            missing = PIP_NEEDS - set(self.s["pkgs"])
            if missing:
                raise Fail("ERROR: Could not find a version that "
                           f"satisfies the requirement {sorted(missing)[0]}")
        if not (Path(args[-1]) / "pyproject.toml").exists():
            raise Fail(f"ERROR: Directory '{args[-1]}' is not installable. "
                       "Neither 'setup.py' nor 'pyproject.toml' found.")
        for script in ("bsdnet-agent", "bsdnet-vrctl", "bsdnet-net"):
            self.stub(self.root / "usr/local/bin" / script, script)
        return 0


def main() -> int:
    state, cmd, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if cmd == "python3.11" and args[:1] == ["-c"]:
        # The real interpreter, not under the lock: it may sit in a
        # pipeline with the world's own commands.
        return subprocess.run([sys.executable] + args, check=False).returncode
    if cmd == "service":
        # Not under the lock: the script's commands take it themselves.
        w = World(state)
        try:
            rc = w.service(list(args))
        except Fail as e:
            sys.stderr.write(f"{e}\n")
            rc = e.code
        sys.stdout.write("".join(w.out))
        return rc
    with open(str(state) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        w = World(state)
        w.s["log"].append([cmd] + args)
        try:
            if cmd in ("ifconfig", "sysctl", "route"):
                rc = w._hostcmd(cmd, args)
            else:
                rc = getattr(w, cmd.replace("-", "_").replace(".", "_"))(
                    list(args))
        except Fail as e:
            sys.stderr.write(f"{e}\n")
            rc = e.code
        w.save()
    sys.stdout.write("".join(w.out))
    return rc


if __name__ == "__main__":
    sys.exit(main())
