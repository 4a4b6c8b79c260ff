"""bsdnet-routesock decode and monitor."""
from __future__ import annotations

import io
import json
import select
import subprocess
import sys

import pytest

from bsdnet.cmd import routesock as cli

from .conftest import ip, suffix


def run(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    rc = cli.main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_decode_file_text_and_json(fbsd, tmp_path, capsys):
    arch, imgs = fbsd
    f = tmp_path / "capture.bin"
    f.write_bytes(imgs["rtm_add"] + imgs["newaddr"] + imgs["arrival"])
    rc, out, _ = run(["decode", "--arch", arch, str(f)], capsys)
    lines = out.splitlines()
    assert rc == 0 and len(lines) == 3
    assert lines[0].startswith("RTM_ADD: ") and "gateway 192.0.2.1" in lines[0]
    assert "<UP,GATEWAY,DONE,STATIC>" in lines[0]
    assert "ifp link#2 vtnet0 02:00:5e:10:20:30" in lines[1]
    rc, out, _ = run(["decode", "--json", str(f)], capsys)
    objs = [json.loads(x) for x in out.splitlines()]
    assert objs[2] == {"message": "RTM_IFANNOUNCE", "type": 17, "index": 7, "name": "tap7", "what": 0}


def test_decode_sysctl_dump_from_stdin_as_events(fbsd, capsys, monkeypatch):
    arch, imgs = fbsd
    rc, out, _ = run(["decode", "--events", "--dump", "--json", "-"], capsys,
                     stdin=imgs["iflist"] + imgs["rtdump"], monkeypatch=monkeypatch)
    evs = [json.loads(x) for x in out.splitlines()]
    assert rc == 0
    assert [e["event"] for e in evs].count("link-added") == 2
    dflt = [e for e in evs if e["event"] == "route-added" and e["route"]["dst"] == "0.0.0.0/0"]
    assert dflt[0]["route"]["gateway"] == "10.0.0.1" and dflt[0]["ifname"] == "vtnet0"


def test_decode_garbage_fails_cleanly(tmp_path, capsys):
    f = tmp_path / "bad.bin"
    f.write_bytes(b"\x30\x00\x05\x01" + bytes(10))
    rc, out, err = run(["decode", str(f)], capsys)
    assert rc == 1 and out == "" and "bad.bin" in err


@pytest.mark.root
def test_monitor_prints_events_from_a_namespace(netns):
    argv = [sys.executable, "-m", "bsdnet.cmd.routesock", "monitor", "--json", "--netns", netns]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def line():
            r, _, _ = select.select([proc.stdout], [], [], 20)
            assert r, "monitor printed nothing"
            return json.loads(proc.stdout.readline())
        first = line()          # the dump: the namespace's loopback
        assert first["event"] == "link-added" and first["link"]["name"] == "lo"
        tap = f"rm{suffix()}"
        ip(netns, "tuntap", "add", "dev", tap, "mode", "tap")
        for _ in range(10):
            ev = line()
            if ev["event"] == "link-added" and ev["link"]["name"] == tap:
                break
        else:
            raise AssertionError("no link-added for the tap")
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
