"""The import rules of ARCHITECTURE.md, enforced: each package of bsdnet
imports only the layers below it (and the agent only the [neutron]
options of the control plane)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Package -> what of bsdnet it may import, besides itself: a package or a
# module, and everything under it.  ARCHITECTURE.md draws the same table.
ALLOWED: dict[str, set[str]] = {
    "bsdnet.common": set(),
    "bsdnet.shm": {"bsdnet.common"},
    "bsdnet.routesock": {"bsdnet.common"},
    "bsdnet.datapath": {"bsdnet.common", "bsdnet.shm"},
    # The [neutron] options are registered with the agent's own (one
    # configuration file); the Neutron mode itself is given to the Agent
    # by bsdnet-agent (bsdnet/cmd/agent.py).
    "bsdnet.agent": {"bsdnet.common", "bsdnet.shm", "bsdnet.routesock", "bsdnet.neutron.opts"},
    # Drivers reach the agent only through its port API: client and schema.
    "bsdnet.driver": {"bsdnet.common", "bsdnet.agent.apiclient", "bsdnet.agent.portstore"},
    "bsdnet.neutron": {"bsdnet.common", "bsdnet.shm", "bsdnet.routesock", "bsdnet.agent"},
    # The sandbox runs the commands as processes, by name.
    "bsdnet.sandbox": {"bsdnet.common", "bsdnet.shm", "bsdnet.routesock", "bsdnet.datapath", "bsdnet.agent",
                       "bsdnet.neutron", "bsdnet.driver"},
    "bsdnet.cmd": {"bsdnet.common", "bsdnet.shm", "bsdnet.routesock", "bsdnet.datapath", "bsdnet.agent",
                   "bsdnet.neutron", "bsdnet.driver", "bsdnet.sandbox"},
}
# Modules no other package may import, whatever the table says.
PRIVATE = {"bsdnet.shm._abi": "bsdnet.shm"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) of every bsdnet import in path, at any depth (a lazy
    import counts), relative ones resolved; `from P import m` names
    P.m when m is a module."""
    mod = module_name(path, root)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                is_module = (root / Path(*sub.split("."))).with_suffix(".py").exists() or \
                    (root / Path(*sub.split("."))).is_dir()
                out.append((node.lineno, sub if is_module else base))
    return sorted((line, m) for line, m in out if m == "bsdnet" or m.startswith("bsdnet."))


def _exists(root: Path, module: str) -> bool:
    path = root / Path(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists() or \
        module == "bsdnet.shm._abi"     # built by setup.py


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path, allowed: dict[str, set[str]]) -> list[str]:
    out = []
    for path in sorted((root / "bsdnet").rglob("*.py")):
        mod = module_name(path, root)
        if mod == "bsdnet":
            continue
        pkg = ".".join(mod.split(".")[:2])
        if pkg not in allowed:
            out.append(f"{mod}: its package {pkg} has no rule (add it to ALLOWED and ARCHITECTURE.md)")
            continue
        for line, target in imports(path, root):
            where = f"{path.relative_to(root)}:{line}: {mod} imports {target}"
            owner = next((o for p, o in PRIVATE.items() if _under(target, p)), None)
            if not _exists(root, target):
                out.append(f"{where}, which does not exist")
            elif owner is not None and not _under(mod, owner):
                out.append(f"{where} (private to {owner})")
            elif not _under(target, pkg) and not any(_under(target, a) for a in allowed[pkg]):
                out.append(where)
    return out


def test_every_import_follows_the_layers():
    assert violations(ROOT, ALLOWED) == []


def test_architecture_md_names_every_package():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for pkg in ALLOWED:
        assert f"`{pkg}`" in text, pkg


def test_a_layer_violation_is_reported(tmp_path):
    # The checker itself can fail: a driver importing the agent's daemon,
    # lazily, and the shared-memory module's private cffi module.
    pkg = tmp_path / "bsdnet"
    for d in ("driver", "agent", "shm"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "agent" / "daemon.py").write_text("")
    (pkg / "agent" / "portstore.py").write_text("")
    (pkg / "shm" / "_abi.py").write_text("")
    (pkg / "driver" / "x.py").write_text(
        "from bsdnet.agent import portstore\n"
        "def f():\n    from bsdnet.agent import daemon\n"
        "from bsdnet.shm._abi import ffi\n"
        "from bsdnet.driver.gone import thing\n")
    found = violations(tmp_path, ALLOWED)
    assert found == ["bsdnet/driver/x.py:3: bsdnet.driver.x imports bsdnet.agent.daemon",
                     "bsdnet/driver/x.py:4: bsdnet.driver.x imports bsdnet.shm._abi (private to bsdnet.shm)",
                     "bsdnet/driver/x.py:5: bsdnet.driver.x imports bsdnet.driver.gone, which does not exist"]
