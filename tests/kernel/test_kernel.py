"""The kernel harness: bsdnet.ko's code run under a stand-in FreeBSD kernel
that asserts FreeBSD's rules (see README), under ASan and UBSan.

Each scenario is one run of khtest; it passes when it prints "PASS name"
and exits 0.  Each test of test_mutations.py puts a reviewed fault back
into a copy of the module and checks that the harness stops on it.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


SCENARIOS = ["lifecycle", "forward", "if_destroyed", "if_renamed",
             "if_vnet_moved", "fabric_types", "load_failure", "agent_gone",
             "jailed", "garbage", "header_overwrite", "shared_cluster",
             "bridge_member", "traps", "unload_in_flight"]
TIMEOUT = 300


def sanitizer_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:" \
        "detect_stack_use_after_return=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


def run(exe: Path, scenario: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), scenario], capture_output=True,
                          text=True, timeout=TIMEOUT, check=False,
                          env=sanitizer_env())


def verdict(res: subprocess.CompletedProcess, scenario: str) -> str:
    out = res.stdout[-8000:] + "\n--- stderr ---\n" + res.stderr[-8000:]
    return f"khtest {scenario}: exit {res.returncode}\n{out}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(khtest: Path, scenario: str) -> None:
    res = run(khtest, scenario)
    assert res.returncode == 0 and f"PASS {scenario}" in res.stdout, \
        verdict(res, scenario)


SELFTESTS = {
    "lor": "witness: lock order reversal",
    "sleep_with_mutex": "malloc(M_WAITOK) may sleep with non-sleepable",
    "sx_under_mutex": "sx_xlock may sleep with non-sleepable",
    "recurse": "recursed on non-recursive",
    "wait_in_epoch": "epoch_wait_preempt() called in the middle of an "
                     "epoch section",
    "sleep_in_epoch": "may sleep inside a network epoch section",
    "epoch_left_open": "returning inside 1 network epoch section",
    "mbuf_double_free": "mbuf freed twice",
    "transmit_twice": "was already handed to if_transmit(st0)",
    "pfil_contract": "returned PFIL_CONSUMED but left *mp set",
    "vnet_unset": "ifunit_ref: curvnet is NULL",
    "vm_object_unref": "has no references",
    "lock_leaked": "returning with 1 lock(s) held",
}


@pytest.mark.parametrize("case", sorted(SELFTESTS))
def test_stand_in_rule_fires(khtest: Path, case: str) -> None:
    """Each rule of the stand-in, broken on purpose, panics."""
    res = run(khtest, f"selftest:{case}")
    assert res.returncode == 3, verdict(res, case)      # KH_EXIT_PANIC
    assert SELFTESTS[case] in res.stdout, verdict(res, case)


def test_epoch_call_waits_for_a_grace_period(khtest: Path) -> None:
    res = run(khtest, "selftest:epoch_call_deferred")
    assert res.returncode == 0, verdict(res, "epoch_call_deferred")
    assert "selftest epoch_call_deferred: ok" in res.stdout


def test_scenarios_listed(khtest: Path) -> None:
    """Every scenario compiled into khtest is run by this file."""
    res = subprocess.run([str(khtest)], capture_output=True, text=True,
                         check=False, env=sanitizer_env())
    assert res.returncode == 2
    listed = res.stderr.split("scenarios:", 1)[1].split()
    assert sorted(listed) == sorted(SCENARIOS)


def test_build_renames_libc_clashes(khtest: Path) -> None:
    """malloc(9), free(9), printf(9)... are kept apart from libc's."""
    syms = (khtest.parent / "kernel-symbols.txt").read_text().split()
    for name in ("malloc", "free", "printf", "log"):
        assert name in syms


REPO = Path(__file__).resolve().parents[2]


def test_readmes_say_what_runs() -> None:
    """tests/kernel/README.md lists every scenario, and kmod/README's
    "What has been run where" says what ran where (keep both true)."""
    own = (REPO / "tests/kernel/README.md").read_text()
    for name in SCENARIOS:
        assert f"| `{name}` |" in own, name
    kmod = (REPO / "kmod/README").read_text()
    section = kmod.split("What has been run where", 1)[1]
    for line in ("Run on a real FreeBSD kernel:",
                 "Run in the kernel harness (tests/kernel; CI)",
                 "Compiled only (tests/freebsd; CI)",
                 "Not run anywhere (needs a FreeBSD host)"):
        assert line in section, line
