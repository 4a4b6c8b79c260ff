"""The ports skeletons stay in step with the package they install."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY_PORT = os.path.join(ROOT, "port", "net", "py-bsdnet")
KMOD_PORT = os.path.join(ROOT, "port", "net", "bsdnet-kmod")
RC_SCRIPTS = ("bsdnet_agent", "bsdnet_datapath")
# pyproject dependency -> FreeBSD port origin
PORT_OF = {"cffi": "devel/py-cffi", "pyroute2": "net/py-pyroute2", "psutil": "sysutils/py-psutil",
           "oslo.config": "devel/py-oslo.config", "libvirt-python": "devel/py-libvirt",
           "prometheus-client": "net-mgmt/py-prometheus-client"}


def _vars(path: str) -> dict[str, str]:
    text = open(path).read().replace("\\\n", " ")
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^([A-Z_]+)[+?!]?=\s*(.*)$", text, re.M)}


def _pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("port", [PY_PORT, KMOD_PORT])
def test_makefile_has_what_a_port_needs(port):
    v = _vars(os.path.join(port, "Makefile"))
    for name in ("PORTNAME", "PORTVERSION", "CATEGORIES", "MAINTAINER", "COMMENT", "WWW",
                 "LICENSE"):
        assert v.get(name), f"{name} missing in {port}/Makefile"
    assert v["PORTVERSION"] == _pyproject()["project"]["version"]
    assert len(v["COMMENT"]) <= 70 and not v["COMMENT"].endswith(".")
    assert os.path.getsize(os.path.join(port, "pkg-descr")) > 100


def test_every_runtime_dependency_is_a_run_depends():
    run = _vars(os.path.join(PY_PORT, "Makefile"))["RUN_DEPENDS"]
    for dep in _pyproject()["project"]["dependencies"]:
        name, minimum = re.match(r"([A-Za-z0-9_.\-]+)>=([0-9.]+)", dep).groups()
        origin = PORT_OF.get(name)
        assert origin, f"no FreeBSD port known for dependency {name}"
        assert f">={minimum}:{origin}@" in run, f"{name}>={minimum} not in RUN_DEPENDS"


def test_rc_scripts_are_declared_and_present():
    v = _vars(os.path.join(PY_PORT, "Makefile"))
    assert v["USE_RC_SUBR"].split() == list(RC_SCRIPTS)
    for name in RC_SCRIPTS:
        assert os.path.exists(os.path.join(PY_PORT, "files", f"{name}.in"))


@pytest.mark.parametrize("name", RC_SCRIPTS)
def test_rc_script_is_valid_sh_with_rcorder_headers(name, tmp_path):
    text = open(os.path.join(PY_PORT, "files", f"{name}.in")).read()
    for header in ("# PROVIDE: " + name, "# REQUIRE:", "# KEYWORD: shutdown"):
        assert header in text
    assert f"name={name}\n" in text and f"rcvar={name}_enable\n" in text
    assert "load_rc_config $name" in text and 'run_rc_command "$1"' in text
    assert f': ${{{name}_enable:="NO"}}' in text
    sh = shutil.which("dash") or shutil.which("sh")
    script = tmp_path / name
    script.write_text(text.replace("%%PREFIX%%", "/usr/local")
                      .replace("%%PYTHON_CMD%%", "/usr/local/bin/python3.11"))
    r = subprocess.run([sh, "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_sample_configs_the_port_installs_exist():
    mk = open(os.path.join(PY_PORT, "Makefile")).read()
    for path in re.findall(r"\$\{WRKSRC\}/(\S+\.sample)", mk):
        assert os.path.exists(os.path.join(ROOT, path)), path


def test_kmod_port_builds_what_kmod_has():
    mk = open(os.path.join(KMOD_PORT, "Makefile")).read()
    for d in re.findall(r"-C \$\{WRKSRC\}/(\S+)", mk):
        assert os.path.exists(os.path.join(ROOT, d, "Makefile")), d
    assert "bsdnet.ko" in _vars(os.path.join(KMOD_PORT, "Makefile"))["PLIST_FILES"]
    assert "KMOD=\tbsdnet" in open(os.path.join(ROOT, "kmod", "freebsd", "Makefile")).read()


def test_sdist_manifest_carries_the_c_sources():
    m = open(os.path.join(ROOT, "MANIFEST.in")).read()
    assert "graft kmod" in m and "graft etc" in m


def _requirement(reqs: list[str], name: str) -> str:
    for r in reqs:
        m = re.match(rf"{re.escape(name)}(>=[0-9.]+)?", r)
        if m and r[len(name):len(name) + 1] in ("", ">", "<", "="):
            return m.group(1) or ">0"
    raise AssertionError(f"{name} not in {reqs}")


def test_build_requirements_agree_with_pyproject():
    """pyproject.toml's build-system and the port's BUILD_DEPENDS ask for
    the same setuptools, wheel and cffi (a port built with an older
    setuptools fails on the SPDX license field)."""
    build = _pyproject()["build-system"]["requires"]
    deps = _vars(os.path.join(PY_PORT, "Makefile"))["BUILD_DEPENDS"]
    for name, origin in (("setuptools", "devel/py-setuptools"),
                         ("wheel", "devel/py-wheel"), ("cffi", "devel/py-cffi")):
        want = _requirement(build, name)
        assert f"{name}{want}:{origin}@" in deps, (name, want, deps)


# What bsd.port.mk's SUB_LIST always has (USE_RC_SUBR and SUB_FILES).
DEFAULT_SUB = {"PREFIX", "LOCALBASE", "DATADIR", "DOCSDIR", "EXAMPLESDIR",
               "WWWDIR", "ETCDIR"}


def test_every_placeholder_is_substituted():
    subs = set(re.findall(r"(\w+)=", _vars(os.path.join(PY_PORT, "Makefile"))
                          .get("SUB_LIST", "")))
    files = os.path.join(PY_PORT, "files")
    for f in os.listdir(files):
        for var in re.findall(r"%%(\w+)%%", open(os.path.join(files, f)).read()):
            assert var in DEFAULT_SUB | subs, f"%%{var}%% of {f} not in SUB_LIST"


@pytest.mark.parametrize("name", RC_SCRIPTS)
def test_rc_script_takes_args_not_flags(name):
    """rc.subr puts ${name}_flags before command_args: with daemon(8) as
    the command they would be daemon's flags, not the program's."""
    text = open(os.path.join(PY_PORT, "files", f"{name}.in")).read()
    assert f"{name}_flags" not in text
    assert f"${{{name}_args}}" in text


def test_kmod_port_categories_and_make():
    v = _vars(os.path.join(KMOD_PORT, "Makefile"))
    cats = v["CATEGORIES"].split()
    assert len(cats) == len(set(cats))
    # USES=kmod adds kld to CATEGORIES itself.
    assert "kmod" in v["USES"].split() and "kld" not in cats
    mk = open(os.path.join(KMOD_PORT, "Makefile")).read().replace("\\\n", " ")
    builds = re.findall(r"^\t(.*-C \$\{WRKSRC\}.*)$", mk, re.M)
    assert builds
    for line in builds:
        assert line.split()[:3] == ["${SETENV}", "${MAKE_ENV}", "${MAKE_CMD}"]


def test_readme_matches_the_code():
    text = open(os.path.join(ROOT, "port", "README.md")).read()
    assert "not written yet" not in text
    assert "transport = device" in text
    for name in RC_SCRIPTS:
        assert f"{name}_args" in text
    assert "transport_device.py" in text and os.path.exists(
        os.path.join(ROOT, "bsdnet", "agent", "transport_device.py"))


def test_setup_builds_the_linux_daemon_only_on_linux():
    """setup.py compiles kmod/linux (AF_PACKET, epoll) on Linux only, so
    `pip install` works on FreeBSD, where the port builds the datapath."""
    import runpy
    ns = runpy.run_path(os.path.join(ROOT, "setup.py"), run_name="setup_test")
    linux = ns["datapath_sources"]("linux")
    assert any("/kmod/linux/" in s for s in linux)
    assert ns["datapath_sources"]("freebsd14") == []
