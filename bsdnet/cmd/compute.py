"""bsdnet-compute: the bhyve compute driver from the command line.

  xml      render the domain XML for a guest given as flags or a JSON spec
           (no libvirt needed)
  inspect  parse a domain XML file and print the model as JSON
  spawn    boot a guest from a JSON spec through the configured libvirt URI
  list     guests and their power state
  destroy  stop a guest and remove it with its files
  console  print a guest's console log
  install-nova-shim
           write nova/virt/bsdnet.py so that Nova's
           `compute_driver = bsdnet.BhyveComputeDriver` loads this driver
           (--check: exit 0 if installed, 1 if not; --remove; --target DIR)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import uuid as _uuid
import xml.etree.ElementTree as ET
from typing import Any

from bsdnet.driver.domain import Domain, DomainConfigError, Interface

LOG = logging.getLogger("bsdnet-compute")
STATES = {0: "nostate", 1: "running", 3: "paused", 4: "shutdown", 6: "crashed", 7: "suspended"}


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"kind": type(obj).__name__}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name in ("extra", "extra_devices"):
                value = [ET.tostring(e, encoding="unicode") for e in value]
            out[f.name] = _jsonable(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    return obj


def _version(text: str | None) -> int | None:
    if not text:
        return None
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return parts[0] * 1_000_000 + parts[1] * 1000 + parts[2]


def _spec_from_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.spec:
        with open(args.spec) as f:
            return json.load(f)
    props = dict(p.split("=", 1) for p in args.image_prop)
    disks = [{"path": d.split(":")[0], "bus": (d.split(":") + [None])[1]} for d in args.disk]
    disks += [{"path": c, "device": "cdrom"} for c in args.cdrom]
    nics = []
    for n in args.nic:
        fields = n.split(",")
        nics.append({"mac": fields[0], "bridge": fields[1] if len(fields) > 1 else None,
                     "tap": fields[2] if len(fields) > 2 else None,
                     "model": fields[3] if len(fields) > 3 else None})
    return {"name": args.name, "uuid": args.uuid, "flavor": {"memory_mb": args.memory, "vcpus": args.vcpus},
            "image_properties": props, "disks": disks, "nics": nics, "console": args.console,
            "vnc": args.vnc}


def build_from_spec(spec: dict[str, Any], libvirt_version: int | None) -> Domain:
    from bsdnet.driver.compute.config import DriverConfig
    from bsdnet.driver.compute.guest import DiskSpec, GuestSpec, build_domain, nmdm_pair
    cfg = DriverConfig()
    uuid = spec.get("uuid") or str(_uuid.uuid4())
    flavor = spec.get("flavor") or {}
    gs = GuestSpec(
        name=spec["name"], uuid=uuid, memory_mb=int(flavor.get("memory_mb", 512)),
        vcpus=int(flavor.get("vcpus", 1)), image_props=spec.get("image_properties") or {},
        disks=[DiskSpec(d["path"], device=d.get("device", "disk"), bus=d.get("bus")) for d in spec.get("disks", [])],
        nics=[Interface(mac=n.get("mac"), source_bridge=n.get("bridge"), target_dev=n.get("tap"),
                        model=n.get("model")) for n in spec.get("nics", [])],
        console=nmdm_pair(uuid)[0] if spec.get("console", True) else None, vnc=spec.get("vnc", True),
        nvram_path=spec.get("nvram"), uefi_firmware=spec.get("uefi_firmware", cfg.uefi_firmware),
        uefi_vars_template=cfg.uefi_vars_template, grub_bhyve=cfg.grub_bhyve, vnc_listen=cfg.vnc_listen)
    return build_domain(gs, libvirt_version)


def cmd_xml(args: argparse.Namespace) -> int:
    spec = _spec_from_args(args)
    if not spec.get("name"):
        raise DomainConfigError("a guest needs --name (or \"name\" in the spec)")
    sys.stdout.write(build_from_spec(spec, _version(args.libvirt_version or spec.get("libvirt_version"))).to_xml())
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    with open(args.file, "rb") as f:
        dom = Domain.from_xml(f.read(), strict=args.strict)
    json.dump(_jsonable(dom), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _driver(args: argparse.Namespace) -> Any:
    from oslo_config import cfg as ocfg

    from bsdnet.driver.compute import images
    from bsdnet.driver.compute.config import from_conf
    from bsdnet.driver.compute.driver import BhyveDriver
    from bsdnet.driver.compute.wiring import make_vif_driver
    conf = ocfg.ConfigOpts()
    conf(args=[a for f in args.config_file for a in ("--config-file", f)], project="bsdnet")
    config = from_conf(conf)
    if args.uri:
        config.connection_uri = args.uri
    fetcher = images.local_fetcher(args.image_dir) if getattr(args, "image_dir", None) else None
    drv = BhyveDriver(config=config, vif_driver=make_vif_driver(config), fetcher=fetcher)
    drv.init_host("cli")
    return drv


def _instance(drv: Any, ref: str) -> Any:
    from bsdnet.driver.compute.instance import InstanceSpec
    for dom in drv._our_domains():
        if ref in (dom.name(), dom.UUIDString()):
            return InstanceSpec(uuid=dom.UUIDString(), name=dom.name())
    raise SystemExit(f"bsdnet-compute: no guest {ref!r}")


def cmd_spawn(args: argparse.Namespace) -> int:
    from bsdnet.driver.compute.instance import Flavor, InstanceSpec
    with open(args.spec) as f:
        spec = json.load(f)
    flavor = Flavor(**spec.get("flavor", {}))
    inst = InstanceSpec(uuid=spec.get("uuid") or str(_uuid.uuid4()), name=spec["name"], flavor=flavor,
                        display_name=spec.get("display_name"), config_drive=spec.get("config_drive", False),
                        user_data=spec.get("user_data"), key_data=spec.get("key_data"),
                        metadata=spec.get("metadata", {}), image_ref=(spec.get("image") or {}).get("id"))
    drv = _driver(args)
    drv.spawn(None, inst, spec.get("image") or {}, network_info=spec.get("network_info", []),
              power_on=not args.no_start)
    print(inst.uuid)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    drv = _driver(args)
    for dom in drv._our_domains():
        state = drv.get_info(_instance(drv, dom.UUIDString())).state
        print(f"{dom.UUIDString()}  {dom.name():<32} {STATES.get(state, state)}")
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    drv = _driver(args)
    inst = _instance(drv, args.guest)
    # The ports spawn plugged (and their per-port bridges) go with the guest.
    drv.destroy(None, inst, network_info=drv.recorded_network_info(inst))
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    drv = _driver(args)
    sys.stdout.buffer.write(drv.get_console_output(None, _instance(drv, args.guest)))
    return 0


def cmd_install_nova_shim(args: argparse.Namespace) -> int:
    from bsdnet.driver.compute import nova_shim
    try:
        if args.check:
            state, path = nova_shim.status(args.target)
            print(f"{path}: {state}")
            return 0 if state == nova_shim.INSTALLED else 1
        if args.remove:
            changed, path = nova_shim.remove(args.target, force=args.force)
            print(f"{path}: {'removed' if changed else 'not there'}")
            return 0
        changed, path = nova_shim.install(args.target, force=args.force)
    except nova_shim.ShimError as exc:
        print(f"bsdnet-compute: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: {'installed' if changed else 'already installed'}; "
          f"set [DEFAULT] compute_driver = {nova_shim.DRIVER_NAME} in nova.conf")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bsdnet-compute", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    x = sub.add_parser("xml", help="render domain XML (no libvirt)")
    x.add_argument("--spec", help="JSON spec: name, uuid, flavor, image_properties, disks, nics, console, vnc")
    x.add_argument("--name")
    x.add_argument("--uuid")
    x.add_argument("--memory", type=int, default=512, help="MiB")
    x.add_argument("--vcpus", type=int, default=1)
    x.add_argument("--image-prop", action="append", default=[], metavar="KEY=VALUE",
                   help="image property, e.g. os_distro=freebsd, hw_disk_bus=nvme")
    x.add_argument("--disk", action="append", default=[], metavar="PATH[:BUS]")
    x.add_argument("--cdrom", action="append", default=[], metavar="PATH")
    x.add_argument("--nic", action="append", default=[], metavar="MAC,BRIDGE[,TAP[,MODEL]]")
    x.add_argument("--no-console", dest="console", action="store_false")
    x.add_argument("--no-vnc", dest="vnc", action="store_false")
    x.add_argument("--libvirt-version", help="refuse what this libvirt's bhyve driver lacks, e.g. 9.0")
    x.set_defaults(func=cmd_xml)

    i = sub.add_parser("inspect", help="parse domain XML, print the model as JSON")
    i.add_argument("file")
    i.add_argument("--strict", action="store_true", help="refuse elements outside the bhyve model")
    i.set_defaults(func=cmd_inspect)

    for name, func, hlp in (("spawn", cmd_spawn, "boot a guest from a JSON spec"),
                            ("list", cmd_list, "list guests"),
                            ("destroy", cmd_destroy, "stop and remove a guest"),
                            ("console", cmd_console, "print a guest's console log")):
        c = sub.add_parser(name, help=hlp)
        c.add_argument("--config-file", action="append", default=[], help="oslo.config file ([bhyve] group)")
        c.add_argument("--uri", help="libvirt URI (overrides [bhyve] connection_uri)")
        if name == "spawn":
            c.add_argument("spec", help="JSON: name, flavor, image{id,properties}, network_info, config_drive")
            c.add_argument("--image-dir", help="take images from DIR/<image id> instead of the cache")
            c.add_argument("--no-start", action="store_true", help="define only")
        elif name in ("destroy", "console"):
            c.add_argument("guest", help="name or UUID")
        c.set_defaults(func=func)

    n = sub.add_parser("install-nova-shim", help="let Nova load compute_driver = bsdnet.BhyveComputeDriver",
                       description="Nova imports compute_driver from its nova.virt package only: write "
                                   "nova/virt/bsdnet.py (one import of bsdnet.driver.compute.nova) into the "
                                   "Nova this Python imports, or into --target.")
    n.add_argument("--target", metavar="DIR", help="the nova/virt directory (default: this Python's Nova)")
    act = n.add_mutually_exclusive_group()
    act.add_argument("--check", action="store_true", help="exit 0 if the shim is installed and current, else 1")
    act.add_argument("--remove", action="store_true", help="remove the shim (only bsdnet's)")
    n.add_argument("--force", action="store_true", help="replace or remove a different file of that name")
    n.set_defaults(func=cmd_install_nova_shim)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (DomainConfigError, OSError, ValueError) as exc:
        print(f"bsdnet-compute: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
