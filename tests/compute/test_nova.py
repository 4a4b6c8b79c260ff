"""Nova: the driver loads as ``compute_driver`` and Nova's own generic virt
driver tests run against it (see nova_cases.py).  Skipped where Nova is not
importable."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Nova's generic tests the driver must pass (the rest are features bhyve or
# this driver does not have, which the suite reports as NotImplementedError).
MUST_PASS = {
    "test_load_compute_driver", "test_init_host", "test_list_instances", "test_list_instance_uuids",
    "test_spawn", "test_reboot", "test_power_off", "test_power_on_running", "test_power_on_powered_off",
    "test_destroy_instance", "test_destroy_instance_nonexistent", "test_get_info",
    "test_get_info_for_unknown_instance", "test_get_console_output", "test_get_host_ip_addr",
    "test_get_available_resource", "test_get_available_nodes", "test_get_volume_connector",
    "test_get_vnc_console", "test_get_serial_console", "test_get_host_uptime", "test_get_host_cpu_stats",
    "test_resume_state_on_host_boot", "test_poll_rebooting_instances",
}


def _nova_importable() -> str | None:
    r = subprocess.run([sys.executable, "-c", "import nova.conf, nova.test, "
                        "nova.tests.unit.virt.test_virt_drivers"], capture_output=True, text=True, cwd=ROOT)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


@pytest.fixture(scope="module")
def nova_run(tmp_path_factory):
    why = _nova_importable()
    if why is not None:
        pytest.skip(f"Nova not importable ({why}): pip install nova wsgi-intercept to run its driver tests")
    report = tmp_path_factory.mktemp("nova") / "not_implemented.json"
    env = dict(os.environ, BSDNET_NOVA_REPORT=str(report))
    r = subprocess.run([sys.executable, "-W", "ignore", "-m", "unittest", "-v", "tests.compute.nova_cases"],
                       capture_output=True, text=True, cwd=ROOT, timeout=900, env=env)
    results = {}
    for m in re.finditer(r"^(?:[\w.]+\.)?(test_\w+)(?: \([\w.]+\))? \.\.\. (ok|FAIL|ERROR|skipped.*)$",
                         r.stderr, re.M):
        results[m.group(1)] = m.group(2).split()[0]
    not_impl = json.loads(report.read_text()) if report.exists() else []
    return results, not_impl, r.stderr


def test_nova_generic_driver_tests(nova_run) -> None:
    results, not_impl, log = nova_run
    assert results, log[-3000:]
    failed = sorted(k for k, v in results.items() if v in ("FAIL", "ERROR"))
    vacuous = {test for test, _method in not_impl}
    really_ok = sorted(k for k, v in results.items() if v == "ok" and k not in vacuous)
    print(f"\nNova _VirtDriverTestCase: {len(results)} run, {len(really_ok)} pass on driver code, "
          f"{len(vacuous)} pass by NotImplementedError {sorted(not_impl)}, "
          f"{sum(v == 'skipped' for v in results.values())} skipped, failed {failed}")
    assert not failed, log[-6000:]
    missing = MUST_PASS - set(really_ok)
    assert not missing, f"must pass on driver code: {sorted(missing)}\n{log[-6000:]}"
